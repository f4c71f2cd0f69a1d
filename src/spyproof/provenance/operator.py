"""``spyproof verify IMAGE``: the operator's question, answered from a log.

Is this exact image (sha256) released by the vendor, logged under a checkpoint that
satisfies my trust policy, and evaluated by a lab with no failing clause? Each of those
is a separate check with its evidence (log index, checkpoint size and root, who signed),
so a "no" says which link of the chain is missing.

Trust comes from one file: a c2sp.org/tlog-policy (log keys, witnesses, quorum) that may
also carry spyproof's own lines ``vendor <vkey>`` and ``evaluator <vkey>``, naming whose
release and evaluation statements count. They are stripped before the tlog-policy part
is parsed, so the rest stays a standard policy.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from spyproof.digests import file_sha256

from . import merkle
from .client import StateFile, open_log
from .dsse import EnvelopeError
from .keys import ED25519, BadKey, VerifierKey, parse_verifier_key
from .note import Policy, parse_policy
from .statements import EVALUATION_PREDICATE, PAYLOAD_TYPE, RELEASE_PREDICATE, verify_statement
from .tiles import check_log

SPYPROOF_ROLES = ("vendor", "evaluator")


class TrustFileError(ValueError):
    pass


@dataclass(frozen=True)
class Trust:
    policy: Policy
    vendors: tuple[VerifierKey, ...]
    evaluators: tuple[VerifierKey, ...]


def parse_trust(text: str) -> Trust:
    """A tlog-policy plus ``vendor``/``evaluator`` key lines (line numbers in errors)."""
    roles: dict[str, list[VerifierKey]] = {r: [] for r in SPYPROOF_ROLES}
    kept = []
    for number, line in enumerate(text.splitlines(), 1):
        words = line.split()
        if words and words[0] in SPYPROOF_ROLES:
            if len(words) != 2:
                raise TrustFileError(f"line {number}: expected '{words[0]} <verifier key>'")
            try:
                key = parse_verifier_key(words[1])
            except BadKey as exc:
                raise TrustFileError(f"line {number}: {exc}") from None
            if key.kind != ED25519:
                raise TrustFileError(f"line {number}: {words[0]} keys are ed25519 keys")
            roles[words[0]].append(key)
            kept.append("")  # keep line numbers of the policy part
        else:
            kept.append(line)
    try:
        policy = parse_policy("\n".join(kept) + "\n")
    except ValueError as exc:
        raise TrustFileError(str(exc)) from None
    return Trust(policy, tuple(roles["vendor"]), tuple(roles["evaluator"]))


@dataclass
class Check:
    name: str
    passed: bool
    detail: str


@dataclass
class Statement:
    index: int
    kind: str  # release | evaluation
    signer: str
    predicate: dict[str, Any]


@dataclass
class OperatorVerdict:
    image: str
    sha256: str
    log: str
    origin: str | None = None
    tree_size: int | None = None
    root_hash: str | None = None
    witnesses: list[str] = field(default_factory=list)
    checks: list[Check] = field(default_factory=list)
    releases: list[Statement] = field(default_factory=list)
    evaluations: list[Statement] = field(default_factory=list)
    ignored: int = 0  # entries about this image not signed by a trusted key

    @property
    def passed(self) -> bool:
        return bool(self.checks) and all(c.passed for c in self.checks)

    def to_json(self) -> dict[str, Any]:
        return {
            "image": self.image, "sha256": self.sha256, "log": self.log,
            "origin": self.origin, "tree_size": self.tree_size, "root_hash": self.root_hash,
            "witnesses": sorted(self.witnesses),
            "passed": self.passed,
            "checks": [vars(c) for c in self.checks],
            "releases": [vars(s) for s in self.releases],
            "evaluations": [vars(s) for s in self.evaluations],
            "untrusted_statements": self.ignored,
        }


def _keys(keys: tuple[VerifierKey, ...]) -> dict[str, Ed25519PublicKey]:
    return {k.vkey: Ed25519PublicKey.from_public_bytes(k.public_key) for k in keys}


def _about(entry: bytes, sha256: str) -> tuple[dict, str] | None:
    """(envelope, predicateType) when the entry is a DSSE in-toto statement about the
    image; None for anything else (a log holds other images' statements too)."""
    try:
        envelope = json.loads(entry)
        if not isinstance(envelope, dict) or envelope.get("payloadType") != PAYLOAD_TYPE:
            return None
        statement = json.loads(base64.b64decode(envelope["payload"], validate=True))
        subjects = statement["subject"]
        if any(s["digest"].get("sha256") == sha256 for s in subjects):
            return envelope, str(statement.get("predicateType"))
    except (ValueError, KeyError, TypeError, AttributeError):
        return None
    return None


def _signed_by(envelope: dict, keys: tuple[VerifierKey, ...]) -> tuple[dict, str] | None:
    for key in keys:
        try:
            return verify_statement(envelope, _keys((key,))), key.name
        except (EnvelopeError, ValueError):
            continue
    return None


def verify_image(image: Path, location: str, trust: Trust, state: StateFile | None,
                 *, extra_vendors: tuple[VerifierKey, ...] = (),
                 extra_evaluators: tuple[VerifierKey, ...] = (),
                 sha256: str | None = None) -> OperatorVerdict:
    """Run the operator's checks; log or trust errors propagate (LogTrustError,
    LogFormatError) for the caller to report as one line. ``sha256`` saves re-hashing an
    image whose digest is already known (the scan has it)."""
    sha256 = sha256 or file_sha256(image)
    verdict = OperatorVerdict(str(image), sha256, location)
    opened = open_log(location, [], trust.policy, state)
    cp = opened.checkpoint
    verdict.origin, verdict.tree_size = cp.origin, cp.size
    verdict.root_hash = cp.root_hash.hex()
    verdict.witnesses = [v.key.name for v in opened.note.cosignatures()]
    verdict.checks.append(Check(
        "checkpoint", True, f"{cp.origin} size {cp.size} signed by the log and cosigned by "
        f"{len(verdict.witnesses)} witness(es): trust policy satisfied"
        + (f"; consistent with size {opened.previous.size} seen before" if opened.previous
           else "")))

    found: list[tuple[int, dict, str]] = []

    def on_entry(index: int, entry: bytes) -> None:
        hit = _about(entry, sha256)
        if hit is not None:
            found.append((index, *hit))

    check_log(fetch=opened.fetch, on_entry=on_entry)  # tiles, root and leaf hashes
    vendors = trust.vendors + extra_vendors
    evaluators = trust.evaluators + extra_evaluators
    for index, envelope, predicate_type in found:
        # Inclusion is implied by the checked tiles; the explicit proof is the evidence.
        proof = merkle.inclusion_proof(index, cp.size, opened.reader.get)
        merkle.verify_inclusion(index, cp.size, opened.reader.get(0, index), proof,
                                cp.root_hash)
        if predicate_type == RELEASE_PREDICATE:
            signed = _signed_by(envelope, vendors)
            if signed:
                verdict.releases.append(Statement(index, "release", signed[1],
                                                  signed[0]["predicate"]))
                continue
        elif predicate_type == EVALUATION_PREDICATE:
            signed = _signed_by(envelope, evaluators)
            if signed:
                verdict.evaluations.append(Statement(index, "evaluation", signed[1],
                                                     signed[0]["predicate"]))
                continue
        verdict.ignored += 1
    _judge(verdict, bool(vendors), bool(evaluators))
    if state is not None:
        state.save()
    return verdict


def _judge(verdict: OperatorVerdict, have_vendors: bool, have_evaluators: bool) -> None:
    if not have_vendors:
        verdict.checks.append(Check("release", False, "no vendor key in the trust file "
                                    "(add a 'vendor <vkey>' line)"))
    elif verdict.releases:
        r = verdict.releases[-1]
        verdict.checks.append(Check(
            "release", True, f"released by {r.signer} as {r.predicate.get('product')} "
            f"{r.predicate.get('version')} (log index {r.index})"))
    else:
        verdict.checks.append(Check("release", False, "no release statement for this image "
                                    "signed by a trusted vendor key is in the log"))
    if not have_evaluators:
        verdict.checks.append(Check("evaluation", False, "no evaluator key in the trust file "
                                    "(add an 'evaluator <vkey>' line)"))
        return
    if not verdict.evaluations:
        verdict.checks.append(Check("evaluation", False, "no evaluation statement for this "
                                    "image signed by a trusted evaluator is in the log"))
        return
    latest = verdict.evaluations[-1]  # the newest evaluation in log order decides
    failing = sorted(c["id"] for c in latest.predicate.get("clauses", [])
                     if c.get("verdict") == "fail")
    overall = latest.predicate.get("verdict")
    if failing or overall == "fail":
        verdict.checks.append(Check(
            "evaluation", False, f"evaluated by {latest.signer} (log index {latest.index}): "
            f"failing clause(s) {', '.join(failing) or '(overall verdict fail)'}"))
    else:
        verdict.checks.append(Check(
            "evaluation", True, f"evaluated by {latest.signer} (log index {latest.index}): "
            f"no failing clause (verdict {overall})"))
