"""in-toto Statement v1 for a firmware image: who released it, and how it was evaluated.

Two predicates (documented in docs/provenance-predicates.md, JSON Schemas generated from
the models below): a *release* statement a vendor signs (what the image is: version,
source, SBOM, agreement, and a Merkle root over its file inventory), and an *evaluation*
statement an evaluator signs (what spyproof found: verdict per clause, in the spirit of
SLSA's Verification Summary Attestation). Both name the image by its sha256 and sha512.

Statements travel as DSSE envelopes (payloadType application/vnd.in-toto+json), their
payload the statement as canonical JSON (sorted keys, no whitespace).
"""

from __future__ import annotations

import hashlib
import json
from typing import Any, Literal

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from spyproof.models import EntryKind, Report, Verdict
from spyproof.provenance.dsse import EnvelopeError, TrustedKeys, sign_envelope, verify_envelope
from spyproof.provenance.merkle import root_from_entries

STATEMENT_TYPE = "https://in-toto.io/Statement/v1"
PAYLOAD_TYPE = "application/vnd.in-toto+json"
RELEASE_PREDICATE = "https://spyproof.dev/release/v1"
EVALUATION_PREDICATE = "https://spyproof.dev/evaluation/v1"
INVENTORY_LEAF = "<sha256>  <path>\\n"  # the canonical inventory line, as documented

_SHA256 = r"^[0-9a-f]{64}$"
_DIGEST_REF = r"^(sha256:[0-9a-f]{64}|sha512:[0-9a-f]{128}|gitCommit:([0-9a-f]{40}|[0-9a-f]{64}))$"


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class DigestSet(_Model):
    sha256: str = Field(pattern=_SHA256)
    sha512: str = Field(pattern=r"^[0-9a-f]{128}$")


class Subject(_Model):
    """The image the statement is about."""

    name: str = Field(description="File name of the image as scanned.")
    digest: DigestSet


class InventoryRoot(_Model):
    """RFC 6962 Merkle tree head over the image's regular files, so that one file can
    later be proven part of the release with an inclusion proof."""

    algorithm: Literal["rfc6962-sha256"] = "rfc6962-sha256"
    leaf: Literal["<sha256>  <path>\\n"] = Field(
        default=INVENTORY_LEAF, description="Leaf data per regular file: its hex sha256, two "
        "spaces, its POSIX path relative to its extracted tree's root, a newline (sha256sum "
        "format), UTF-8; leaves sorted by path bytes, then sha256. Leaf hash = "
        "SHA-256(0x00 || line).")
    root: str = Field(pattern=_SHA256, description="Hex Merkle tree hash (RFC 6962 MTH).")
    size: int = Field(ge=0, description="Number of leaves (regular files with a digest).")
    unhashed: int = Field(default=0, ge=0, description="Regular files the scan could not "
                          "hash, hence outside the tree (0 for a complete scan).")


class ReleasePredicate(_Model):
    """What the vendor releases: https://spyproof.dev/release/v1."""

    vendor: str = Field(min_length=1)
    product: str = Field(min_length=1)
    version: str = Field(min_length=1)
    source_digest: str | None = Field(default=None, pattern=_DIGEST_REF, description="The "
                                      "source the image was built from: sha256:<hex> of a "
                                      "source archive or gitCommit:<hex> of a commit.")
    sbom_digest: str | None = Field(default=None, pattern=_DIGEST_REF,
                                    description="sha256:<hex> of the SBOM published with it.")
    agreement_digest: str | None = Field(default=None, pattern=_DIGEST_REF, description=""
                                         "sha256:<hex> of the no-spy agreement it is sold "
                                         "under.")
    inventory: InventoryRoot


class ClauseResult(_Model):
    id: str = Field(description="Clause id, e.g. NS-1.")
    verdict: Verdict
    reason: str


class KnowledgeBaseRef(_Model):
    digest: str = Field(description="spyproof's knowledge-base digest (report.json "
                        "knowledge_base.digest).")
    sample_only: bool = Field(description="Only the bundled demonstration feed was used.")


class EvaluationPredicate(_Model):
    """What an evaluator found: https://spyproof.dev/evaluation/v1 (SLSA VSA in spirit)."""

    evaluator: str = Field(min_length=1, description="Who evaluated (a URI or key name).")
    time_evaluated: str = Field(description="report.json generated_at (UTC, ISO 8601).")
    spyproof_version: str
    knowledge_base: KnowledgeBaseRef | None = Field(default=None, description="Null when "
                                                    "no vulnerability knowledge base was used.")
    report_digest: str = Field(pattern=r"^sha256:[0-9a-f]{64}$",
                               description="sha256:<hex> of the report.json bytes.")
    report_schema_version: str
    agreement_digest: str | None = Field(default=None, pattern=_DIGEST_REF, description=""
                                         "sha256:<hex> of the agreement judged against.")
    complete: bool = Field(description="False when the scan was partial (caps, errors).")
    verdict: Verdict = Field(description="Overall: fail if any clause fails, pass if all "
                             "pass, else inconclusive.")
    clauses: list[ClauseResult]


class ReleaseStatement(_Model):
    type: Literal["https://in-toto.io/Statement/v1"] = Field(STATEMENT_TYPE, alias="_type")
    subject: list[Subject] = Field(min_length=1, max_length=1)
    predicateType: Literal["https://spyproof.dev/release/v1"] = RELEASE_PREDICATE
    predicate: ReleasePredicate


class EvaluationStatement(_Model):
    type: Literal["https://in-toto.io/Statement/v1"] = Field(STATEMENT_TYPE, alias="_type")
    subject: list[Subject] = Field(min_length=1, max_length=1)
    predicateType: Literal["https://spyproof.dev/evaluation/v1"] = EVALUATION_PREDICATE
    predicate: EvaluationPredicate


STATEMENT_MODELS: dict[str, type[_Model]] = {
    RELEASE_PREDICATE: ReleaseStatement,
    EVALUATION_PREDICATE: EvaluationStatement,
}


def statement_schema(predicate_type: str) -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of a whole statement with that predicate."""
    schema = STATEMENT_MODELS[predicate_type].model_json_schema(by_alias=True,
                                                                mode="serialization")
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = predicate_type + "/statement.schema.json"
    return schema


def inventory_leaves(report: Report) -> tuple[list[bytes], int]:
    """The canonical inventory lines of the image's regular files, sorted, and the count of
    regular files without a digest (left out)."""
    pairs: list[tuple[bytes, str]] = []
    unhashed = 0
    for entry in report.files:
        if entry.kind != EntryKind.file:
            continue
        if not entry.sha256:
            unhashed += 1
            continue
        pairs.append((entry.path.encode("utf-8", "surrogateescape"), entry.sha256))
    pairs.sort()
    return [b"%s  %s\n" % (digest.encode("ascii"), path) for path, digest in pairs], unhashed


def inventory_root(report: Report) -> InventoryRoot:
    lines, unhashed = inventory_leaves(report)
    return InventoryRoot(root=root_from_entries(lines).hex(), size=len(lines),
                         unhashed=unhashed)


def release_statement(report: Report, *, vendor: str, product: str, version: str,
                      source_digest: str | None = None, sbom_digest: str | None = None,
                      agreement_digest: str | None = None) -> dict[str, Any]:
    """A release statement for the scanned image. Digests are ``sha256:<hex>`` (a bare
    64-hex value is taken as sha256) or ``gitCommit:<hex>`` for the source."""
    predicate = ReleasePredicate(
        vendor=vendor, product=product, version=version,
        source_digest=_digest_ref(source_digest), sbom_digest=_digest_ref(sbom_digest),
        agreement_digest=_digest_ref(agreement_digest), inventory=inventory_root(report))
    return _dump(ReleaseStatement(subject=[_subject(report)], predicate=predicate))


def evaluation_statement(report: Report, report_bytes: bytes, *,
                         evaluator: str) -> dict[str, Any]:
    """An evaluation statement for the report; ``report_bytes`` are report.json as written
    (their sha256 names the report) and must hold the same report."""
    if Report.model_validate_json(report_bytes) != report:
        raise ValueError("report_bytes do not hold the report given")
    kb = report.knowledge_base
    predicate = EvaluationPredicate(
        evaluator=evaluator,
        time_evaluated=report.generated_at,
        spyproof_version=report.tool.version,
        knowledge_base=KnowledgeBaseRef(digest=kb.digest, sample_only=kb.sample_only)
        if kb else None,
        report_digest="sha256:" + hashlib.sha256(report_bytes).hexdigest(),
        report_schema_version=report.schema_version,
        agreement_digest="sha256:" + report.agreement.sha256 if report.agreement else None,
        complete=report.complete,
        verdict=report.verdict or Verdict.inconclusive,
        clauses=[ClauseResult(id=v.id, verdict=v.verdict, reason=v.reason)
                 for v in report.verdicts])
    return _dump(EvaluationStatement(subject=[_subject(report)], predicate=predicate))


def statement_bytes(statement: dict[str, Any]) -> bytes:
    """Canonical JSON of a statement: the DSSE payload, the same for the same statement."""
    return json.dumps(statement, sort_keys=True, separators=(",", ":"),
                      ensure_ascii=False).encode("utf-8")


def sign_statement(statement: dict[str, Any], key: Ed25519PrivateKey, *,
                   keyid: str | None = None) -> dict[str, Any]:
    """The statement in a DSSE envelope signed by ``key``."""
    _check_statement(statement)
    return sign_envelope(statement_bytes(statement), PAYLOAD_TYPE, key, keyid=keyid)


def verify_statement(envelope: Any, keys: TrustedKeys) -> dict[str, Any]:
    """The statement inside ``envelope`` once a trusted key's signature verifies and it is
    a well-formed Statement v1 (spyproof predicates are validated against their models)."""
    payload = verify_envelope(envelope, keys, PAYLOAD_TYPE)
    try:
        statement = json.loads(payload)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise EnvelopeError(f"payload is not JSON: {exc}") from exc
    _check_statement(statement)
    return statement


def _check_statement(statement: Any) -> None:
    if not isinstance(statement, dict) or statement.get("_type") != STATEMENT_TYPE:
        raise EnvelopeError(f"not an in-toto Statement v1 (_type must be {STATEMENT_TYPE})")
    subjects = statement.get("subject")
    if not isinstance(subjects, list) or not subjects or not all(
            isinstance(s, dict) and isinstance(s.get("digest"), dict) and s["digest"]
            for s in subjects):
        raise EnvelopeError("statement.subject must be a non-empty list of {name, digest}")
    predicate_type = statement.get("predicateType")
    if not isinstance(predicate_type, str) or not predicate_type:
        raise EnvelopeError("statement.predicateType is missing")
    model = STATEMENT_MODELS.get(predicate_type)
    if model is not None:
        try:
            model.model_validate(statement)
        except ValidationError as exc:
            raise EnvelopeError(f"{predicate_type} statement is invalid: {exc}") from exc


def _subject(report: Report) -> Subject:
    return Subject(name=report.image.name,
                   digest=DigestSet(sha256=report.image.sha256, sha512=report.image.sha512))


def _digest_ref(value: str | None) -> str | None:
    if value is not None and len(value) == 64 and ":" not in value:
        return "sha256:" + value.lower()
    return value


def _dump(model: BaseModel) -> dict[str, Any]:
    return model.model_dump(mode="json", by_alias=True)
