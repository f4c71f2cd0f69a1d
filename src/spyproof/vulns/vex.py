"""VEX input: vendor statements that decide whether a matched vulnerability needs triage.

Two formats are read, recognised from content (never from the file name):

* CycloneDX 1.4–1.6 ``vulnerabilities[]`` with ``analysis`` (JSON, and XML read with the
  standard library; XML with a DOCTYPE or ENTITY declaration is refused, CycloneDX never
  needs one). A BOM without any ``vulnerabilities[].analysis`` is an SBOM or a VDR, not VEX.
* OpenVEX 0.2.0 ``statements[]``. The pre-0.2 shapes (``vulnerability`` and ``products``
  as plain strings, statement-level ``subcomponents``) are read too, since vexctl wrote them.

Everything is normalised to the CycloneDX vocabulary (:class:`VexStatement`). OpenVEX
statuses: ``not_affected`` → ``not_affected``, ``affected`` → ``exploitable``, ``fixed`` →
``resolved``, ``under_investigation`` → ``in_triage``. OpenVEX justifications follow the
CISA-to-CycloneDX correspondence; where one CISA label covers several CycloneDX ones the
closest is taken: ``vulnerable_code_cannot_be_controlled_by_adversary`` →
``requires_environment`` (the code is there and reachable, but exploiting it needs inputs
or conditions the product's environment does not give an attacker), and
``inline_mitigations_already_exist`` → ``protected_by_mitigating_control``. The original
terms stay in ``original_status`` / ``original_justification``.

A statement that violates its spec (no vulnerability id, unknown status, no usable product
where products were given, …) is skipped and counted (``VexDocument.skipped``) with a
warning; a statement that is only incomplete (OpenVEX ``not_affected`` without justification
or impact statement, an unknown justification, one unusable product among others) is kept
with a warning, because what remains can never suppress more than it says. A file that is
not a VEX document at all raises :class:`VexError`.

CycloneDX ``affects[].ref`` may be a bom-ref or a BOM-Link (``urn:cdx:<serial>/<version>
#<bom-ref>``); a bom-ref that names a component of the same document (or a BOM-Link to the
document's own serial number) also contributes that component's purl. ``affects[].versions``
become :attr:`VexStatement.versions` (exact versions or ``vers:`` ranges, evaluated with
the version schemes of :mod:`spyproof.vulns.ranges`); targets with different version lists
become separate statements with the same ``source``. A target whose versions mix statuses
(``affected`` and ``unaffected``) cannot take one analysis state and is dropped.

Statement timestamps: CycloneDX ``analysis.lastUpdated`` → ``analysis.firstIssued`` →
``metadata.timestamp``; OpenVEX statement ``last_updated`` → statement ``timestamp`` →
document ``timestamp`` (the spec's inheritance; the document's ``last_updated`` dates the
file, not the statements, and is only a fallback when the required ``timestamp`` is absent).
"""

from __future__ import annotations

import functools
import json
import re
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from itertools import pairwise
from pathlib import Path
from typing import Any, NamedTuple
from urllib.parse import unquote

from packageurl import PackageURL

from spyproof.vulns.ranges import UnsupportedScheme, VersionError, parse_version, scheme_for

__all__ = [
    "CDX_JUSTIFICATIONS",
    "CDX_RESPONSES",
    "CDX_STATES",
    "OPENVEX_JUSTIFICATIONS",
    "OPENVEX_STATUSES",
    "VexDocument",
    "VexError",
    "VexStatement",
    "excluded_from_decisions",
    "find_statement",
    "load_vex",
    "load_vex_files",
]

CDX_STATES = frozenset({"resolved", "resolved_with_pedigree", "exploitable", "in_triage",
                        "false_positive", "not_affected"})
CDX_JUSTIFICATIONS = frozenset({
    "code_not_present", "code_not_reachable", "requires_configuration", "requires_dependency",
    "requires_environment", "protected_by_compiler", "protected_at_runtime",
    "protected_at_perimeter", "protected_by_mitigating_control"})
CDX_RESPONSES = frozenset({"can_not_fix", "will_not_fix", "update", "rollback",
                           "workaround_available"})
OPENVEX_STATUSES = {"not_affected": "not_affected", "affected": "exploitable",
                    "fixed": "resolved", "under_investigation": "in_triage"}
OPENVEX_JUSTIFICATIONS = {
    "component_not_present": "code_not_present",
    "vulnerable_code_not_present": "code_not_present",
    "vulnerable_code_not_in_execute_path": "code_not_reachable",
    "vulnerable_code_cannot_be_controlled_by_adversary": "requires_environment",
    "inline_mitigations_already_exist": "protected_by_mitigating_control",
}
_SETTLED_STATES = frozenset({"false_positive", "resolved", "resolved_with_pedigree"})
_CDX_VERSIONS = ((1, 4), (1, 6))  # specVersions checked against their schemas
MAX_WARNINGS = 200  # warnings kept verbatim; ``skipped`` is always exact

_ID_UPPER = re.compile(r"^(CVE|GHSA)-", re.IGNORECASE)
_UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
_BOM_LINK = re.compile(rf"^urn:cdx:(?P<serial>{_UUID})/(?P<version>[1-9][0-9]*)#(?P<ref>.+)$")
_CDX_XML_NS = re.compile(r"^\{http://cyclonedx\.org/schema/bom/(\d+\.\d+)\}bom$")
# purl types whose namespace / name are case-insensitive (purl-spec PURL-TYPES)
_LOWER_NAMESPACE = frozenset({"alpm", "apk", "bitbucket", "composer", "deb", "github",
                              "golang", "hex", "luarocks", "qpkg", "rpm"})
_LOWER_NAME = frozenset({"alpm", "apk", "bitbucket", "bitnami", "composer", "deb", "github",
                         "golang", "hex", "luarocks", "npm", "oci", "pub", "pypi"})


class VexError(Exception):
    """The file is not a VEX document we can read: the message names the file and why."""

    def __init__(self, path: str | Path, problem: str) -> None:
        self.path = str(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}")


class _Skip(ValueError):
    """One statement violates its spec and is skipped."""


@dataclass(frozen=True)
class VexStatement:
    """One vendor assertion in CycloneDX terms, so triage has a single vocabulary."""

    vuln_ids: frozenset[str]  # id + aliases; CVE-/GHSA- ids upper-cased
    products: tuple[str, ...]  # purls, bom-refs, BOM-Links or IRIs; empty = whole scope
    state: str  # CycloneDX analysis state
    justification: str | None  # CycloneDX justification
    original_status: str
    original_justification: str | None
    detail: str | None
    response: tuple[str, ...]
    source: str  # "<path>#/vulnerabilities/3" or "<path>#/statements/2"
    format: str  # "cyclonedx" | "openvex"
    timestamp: str | None
    versions: tuple[str, ...] = ()  # CycloneDX affects[].versions: exact or "vers:" ranges
    impact_statement: str | None = None  # OpenVEX impact_statement (counts as a reason)


@dataclass
class VexDocument:
    """What one file yielded, with the warnings a reviewer needs before trusting it."""

    path: str
    format: str
    statements: list[VexStatement] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    skipped: int = 0  # statements dropped for violating the spec


class _Log:
    """Collects warnings with a cap, so a huge broken file cannot flood a report."""

    def __init__(self, doc: VexDocument) -> None:
        self.doc = doc

    def warn(self, where: str, message: str) -> None:
        if len(self.doc.warnings) < MAX_WARNINGS:
            self.doc.warnings.append(f"{self.doc.path}{where}: {message}")
        elif len(self.doc.warnings) == MAX_WARNINGS:
            self.doc.warnings.append(f"{self.doc.path}: further warnings suppressed")

    def skip(self, where: str, message: str) -> None:
        self.doc.skipped += 1
        self.warn(where, f"statement skipped: {message}")


# --------------------------------------------------------------------------- loading


def load_vex(path: str | Path) -> VexDocument:
    """Read one CycloneDX or OpenVEX file; see the module docstring for what is kept."""
    p = Path(path)
    raw = _parse_file(p)
    fmt = _detect(p, raw)
    doc = VexDocument(path=str(p), format=fmt)
    log = _Log(doc)
    if fmt == "cyclonedx":
        _read_cyclonedx(p, raw, log)
    else:
        _read_openvex(p, raw, log)
    return doc


def load_vex_files(paths: Iterable[str | Path] | str | Path) -> list[VexDocument]:
    """Load several files in order (a directory contributes its .json/.xml files, sorted),
    so that "last in file order" in :func:`find_statement` follows the caller's order."""
    if isinstance(paths, str | Path):
        paths = [paths]
    docs = []
    for path in paths:
        p = Path(path)
        if p.is_dir():
            files = sorted(f for f in p.rglob("*") if f.is_file()
                           and f.suffix.lower() in (".json", ".xml")
                           and not any(part.startswith(".") for part in f.relative_to(p).parts))
            docs.extend(load_vex(f) for f in files)
        else:
            docs.append(load_vex(p))
    return docs


def _parse_file(p: Path) -> dict[str, Any]:
    """Bytes → dict, turning every way a file can be unreadable into one VexError."""
    try:
        data = p.read_bytes()
    except OSError as exc:
        raise VexError(p, f"cannot read file: {exc.strerror or exc}") from None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise VexError(p, "not a VEX document: not UTF-8 text") from None
    if not text.strip():
        raise VexError(p, "not a VEX document: empty file")
    if text.lstrip().startswith("<"):
        return _xml_to_cdx(p, text)
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as exc:
        raise VexError(p, f"bad JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
                       ) from None
    if not isinstance(raw, dict):
        raise VexError(p, "not a VEX document: the top-level JSON value is not an object")
    return raw


def _detect(p: Path, raw: dict[str, Any]) -> str:
    if raw.get("bomFormat") == "CycloneDX":
        return "cyclonedx"
    context = raw.get("@context")
    if isinstance(context, str) and context.startswith("https://openvex.dev/ns"):
        return "openvex"
    doc = raw.get("document")
    if isinstance(doc, dict) and str(doc.get("category", "")).startswith("csaf"):
        raise VexError(p, "unknown format: CSAF documents are not supported, convert to "
                          "OpenVEX or CycloneDX")
    raise VexError(p, "unknown format: neither a CycloneDX BOM nor an OpenVEX document")


def _timestamp(value: Any, where: str, log: _Log) -> str | None:
    if value is None:
        return None
    if isinstance(value, str) and _parse_time(value) is not None:
        return value
    log.warn(where, f"invalid timestamp {value!r} ignored")
    return None


@functools.lru_cache(maxsize=4096)
def _parse_time(value: str) -> datetime | None:
    try:
        t = datetime.fromisoformat(value)
    except ValueError:
        return None
    return t if t.tzinfo else t.replace(tzinfo=UTC)


def _norm_id(value: str) -> str:
    value = value.strip()
    return value.upper() if _ID_UPPER.match(value) else value


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value.strip() else None


# --------------------------------------------------------------------------- CycloneDX


class _CdxContext(NamedTuple):
    where_doc: str
    serial: str | None  # uuid part of serialNumber
    purls: dict[str, str]  # bom-ref -> purl of the components in this document
    timestamp: str | None


def _read_cyclonedx(p: Path, raw: dict[str, Any], log: _Log) -> None:
    _check_spec_version(p, raw.get("specVersion"), log)
    vulns = raw.get("vulnerabilities")
    if not isinstance(vulns, list) or not any(isinstance(v, dict) and "analysis" in v
                                              for v in vulns):
        raise VexError(p, "not a VEX document: CycloneDX BOM without "
                          "vulnerabilities[].analysis (an SBOM or a VDR)")
    metadata = raw.get("metadata") if isinstance(raw.get("metadata"), dict) else {}
    serial = raw.get("serialNumber")
    ctx = _CdxContext(
        where_doc=str(p),
        serial=serial.removeprefix("urn:uuid:").lower() if isinstance(serial, str) else None,
        purls=_component_purls(raw),
        timestamp=_timestamp(metadata.get("timestamp"), "#/metadata/timestamp", log),
    )
    for i, vuln in enumerate(vulns):
        where = f"#/vulnerabilities/{i}"
        try:
            log.doc.statements.extend(_cdx_statements(vuln, where, ctx, log))
        except _Skip as exc:
            log.skip(where, str(exc))


def _check_spec_version(p: Path, spec: Any, log: _Log) -> None:
    m = re.fullmatch(r"(\d+)\.(\d+)", spec) if isinstance(spec, str) else None
    if m is None:
        raise VexError(p, f"not a VEX document: CycloneDX specVersion {spec!r} is invalid")
    version = (int(m[1]), int(m[2]))
    if version < _CDX_VERSIONS[0]:
        raise VexError(p, f"not a VEX document: CycloneDX {spec} has no vulnerabilities")
    if version > _CDX_VERSIONS[1]:
        log.warn("#/specVersion", f"CycloneDX {spec} is newer than 1.6; read as 1.6")


def _component_purls(raw: dict[str, Any]) -> dict[str, str]:
    """bom-ref → purl for every component in the document, nested ones included, so that a
    VEX that points at a bom-ref still matches the scanned component by purl."""
    out: dict[str, str] = {}
    metadata = raw.get("metadata")
    stack = [metadata.get("component")] if isinstance(metadata, dict) else []
    if isinstance(raw.get("components"), list):
        stack.extend(raw["components"])
    while stack:
        comp = stack.pop()
        if not isinstance(comp, dict):
            continue
        ref, purl = comp.get("bom-ref"), comp.get("purl")
        if isinstance(ref, str) and isinstance(purl, str):
            out.setdefault(ref, purl)
        if isinstance(comp.get("components"), list):
            stack.extend(comp["components"])
    return out


def _cdx_statements(vuln: Any, where: str, ctx: _CdxContext, log: _Log) -> list[VexStatement]:
    if not isinstance(vuln, dict):
        raise _Skip("not an object")
    vid = _text(vuln.get("id"))
    if vid is None:
        raise _Skip("no vulnerability id")
    ids = {_norm_id(vid)}
    refs = vuln.get("references")
    for ref in refs if isinstance(refs, list) else []:
        if isinstance(ref, dict) and _text(ref.get("id")):
            ids.add(_norm_id(ref["id"]))
    analysis = vuln.get("analysis")
    if not isinstance(analysis, dict):
        raise _Skip("no analysis")
    state = analysis.get("state")
    if not isinstance(state, str) or state not in CDX_STATES:
        raise _Skip(f"unknown or missing analysis state {state!r}")
    original_just = analysis.get("justification")
    justification = original_just if isinstance(original_just, str) and \
        original_just in CDX_JUSTIFICATIONS else None
    if original_just is not None and justification is None:
        log.warn(where, f"unknown justification {original_just!r} ignored")
    responses = analysis.get("response") or []
    if not isinstance(responses, list):
        responses = [responses]
    valid = tuple(r for r in responses if isinstance(r, str) and r in CDX_RESPONSES)
    for bad in [r for r in responses if r not in valid]:
        log.warn(where, f"unknown response {bad!r} ignored")
    timestamp = (_timestamp(analysis.get("lastUpdated"), where, log)
                 or _timestamp(analysis.get("firstIssued"), where, log) or ctx.timestamp)
    common = dict(
        vuln_ids=frozenset(ids), state=state, justification=justification,
        original_status=state,
        original_justification=original_just if isinstance(original_just, str) else None,
        detail=_text(analysis.get("detail")),
        response=valid,
        source=f"{ctx.where_doc}{where}", format="cyclonedx", timestamp=timestamp)
    groups = _cdx_targets(vuln.get("affects"), where, ctx, log)
    return [VexStatement(products=products, versions=versions, **common)
            for versions, products in groups.items()]


def _cdx_targets(affects: Any, where: str, ctx: _CdxContext,
                 log: _Log) -> dict[tuple[str, ...], tuple[str, ...]]:
    """versions → products; ``{(): ()}`` when the vulnerability names no target."""
    if affects is None or affects == []:
        return {(): ()}
    if not isinstance(affects, list):
        raise _Skip("affects is not a list")
    groups: dict[tuple[str, ...], list[str]] = {}
    for j, target in enumerate(affects):
        here = f"{where}/affects/{j}"
        ref = _text(target.get("ref")) if isinstance(target, dict) else None
        if ref is None:
            log.warn(here, "target without ref dropped")
            continue
        versions = _cdx_versions(target.get("versions"), here, log)
        if versions is None:
            continue
        products = groups.setdefault(versions, [])
        products.extend(_target_products(ref, here, ctx, log))
    if not groups:
        raise _Skip("no usable affects[] target")
    return {v: tuple(dict.fromkeys(ps)) for v, ps in groups.items()}


def _target_products(ref: str, where: str, ctx: _CdxContext, log: _Log) -> list[str]:
    """The ref itself plus the purl of the component it names in this document."""
    local: tuple[str, ...] = (ref,)
    link = _BOM_LINK.match(ref)
    if link:
        local = _bom_link_refs(ref) if link["serial"].lower() == ctx.serial else ()
    purl = next((ctx.purls[r] for r in local if r in ctx.purls), None)
    if purl is None or purl == ref:
        return [ref]
    if _parse_purl(purl) is None:
        log.warn(where, f"invalid purl {purl!r} of component {ref!r} ignored")
        return [ref]
    return [ref, purl]


def _cdx_versions(versions: Any, where: str, log: _Log) -> tuple[str, ...] | None:
    """Version constraints of one target; None drops the target (unreadable or mixed)."""
    if versions is None:
        return ()
    if not isinstance(versions, list) or not versions:
        log.warn(where, "versions is not a non-empty list; target dropped")
        return None
    out, statuses = [], set()
    for entry in versions:
        entry = entry if isinstance(entry, dict) else {}
        statuses.add(str(entry.get("status", "affected")))
        if _text(entry.get("version")):
            out.append(entry["version"])
        elif _text(entry.get("range")) and _vers_ok(entry["range"], where, log):
            out.append(entry["range"])
        else:
            log.warn(where, f"unreadable version entry {entry!r}; target dropped")
            return None
    if len(statuses) > 1:
        log.warn(where, f"versions mix statuses {sorted(map(str, statuses))}; one analysis "
                        "state cannot apply to all of them, target dropped")
        return None
    return tuple(out)


# --------------------------------------------------------------------------- CycloneDX XML


def _xml_to_cdx(p: Path, text: str) -> dict[str, Any]:
    """CycloneDX XML → the JSON shape, limited to what VEX reading needs."""
    if re.search(r"<!(DOCTYPE|ENTITY)", text, re.IGNORECASE):
        raise VexError(p, "refused: XML with a DOCTYPE or ENTITY declaration")
    try:
        root = ET.fromstring(text)
    except ET.ParseError as exc:
        raise VexError(p, f"bad XML: {exc}") from None
    m = _CDX_XML_NS.match(root.tag)
    if m is None:
        raise VexError(p, f"unknown format: XML root {root.tag!r} is not a CycloneDX <bom>")
    ns = root.tag[1:].split("}", 1)[0]

    def q(path: str) -> str:
        return "/".join(f"{{{ns}}}{part}" for part in path.split("/"))

    def text_of(el: ET.Element, path: str) -> str | None:
        child = el.find(q(path))
        return child.text.strip() if child is not None and child.text else None

    def component(el: ET.Element) -> dict[str, Any]:
        return {"bom-ref": el.get("bom-ref"), "purl": text_of(el, "purl"),
                "components": [component(c) for c in el.findall(q("components/component"))]}

    meta = root.find(q("metadata"))
    meta_comp = meta.find(q("component")) if meta is not None else None
    return {
        "bomFormat": "CycloneDX", "specVersion": m[1],
        "serialNumber": root.get("serialNumber"),
        "metadata": _prune({
            "timestamp": text_of(meta, "timestamp") if meta is not None else None,
            "component": component(meta_comp) if meta_comp is not None else None}),
        "components": [component(c) for c in root.findall(q("components/component"))],
        "vulnerabilities": [_xml_vuln(v, q, text_of)
                            for v in root.findall(q("vulnerabilities/vulnerability"))],
    }


def _xml_vuln(el: ET.Element, q, text_of) -> dict[str, Any]:
    vuln: dict[str, Any] = {
        "id": text_of(el, "id"),
        "references": [{"id": text_of(r, "id")} for r in el.findall(q("references/reference"))],
    }
    analysis = el.find(q("analysis"))
    if analysis is not None:
        vuln["analysis"] = _prune({
            **{k: text_of(analysis, k) for k in
               ("state", "justification", "detail", "firstIssued", "lastUpdated")},
            "response": [(r.text or "").strip()
                         for r in analysis.findall(q("responses/response"))] or None})
    targets = el.findall(q("affects/target"))
    if targets:
        vuln["affects"] = [_prune({
            "ref": text_of(t, "ref"),
            "versions": [_prune({k: text_of(v, k) for k in ("version", "range", "status")})
                         for v in t.findall(q("versions/version"))] or None})
            for t in targets]
    return _prune(vuln)


def _prune(d: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in d.items() if v is not None}


# --------------------------------------------------------------------------- OpenVEX


def _read_openvex(p: Path, raw: dict[str, Any], log: _Log) -> None:
    statements = raw.get("statements")
    if not isinstance(statements, list) or not statements:
        raise VexError(p, "not a VEX document: OpenVEX document without statements")
    doc_ts = _timestamp(raw.get("timestamp"), "#/timestamp", log)
    if doc_ts is None:
        log.warn("#/timestamp", "document timestamp missing (required); using last_updated")
        doc_ts = _timestamp(raw.get("last_updated"), "#/last_updated", log)
    for i, stmt in enumerate(statements):
        where = f"#/statements/{i}"
        try:
            log.doc.statements.append(_openvex_statement(stmt, where, str(p), doc_ts, log))
        except _Skip as exc:
            log.skip(where, str(exc))


def _openvex_statement(stmt: Any, where: str, path: str, doc_ts: str | None,
                       log: _Log) -> VexStatement:
    if not isinstance(stmt, dict):
        raise _Skip("not an object")
    ids = _openvex_ids(stmt.get("vulnerability"))
    status = stmt.get("status")
    if not isinstance(status, str) or status not in OPENVEX_STATUSES:
        raise _Skip(f"unknown or missing status {status!r}")
    original_just = stmt.get("justification")
    justification = OPENVEX_JUSTIFICATIONS.get(original_just) if isinstance(
        original_just, str) else None
    if original_just is not None and justification is None:
        log.warn(where, f"unknown justification {original_just!r} ignored")
    impact, notes = _text(stmt.get("impact_statement")), _text(stmt.get("status_notes"))
    action = _text(stmt.get("action_statement"))
    if status == "not_affected" and justification is None and impact is None:
        log.warn(where, "not_affected without justification or impact_statement")
    if status == "affected" and action is None:
        log.warn(where, "affected without action_statement")
    timestamp = (_timestamp(stmt.get("last_updated"), where, log)
                 or _timestamp(stmt.get("timestamp"), where, log) or doc_ts)
    return VexStatement(
        vuln_ids=ids, products=_openvex_products(stmt, where, log),
        state=OPENVEX_STATUSES[status], justification=justification,
        original_status=status,
        original_justification=original_just if isinstance(original_just, str) else None,
        detail="\n".join(t for t in (impact, notes) if t) or None,
        response=(action,) if action else (), source=f"{path}{where}", format="openvex",
        timestamp=timestamp, impact_statement=impact)


def _openvex_ids(vuln: Any) -> frozenset[str]:
    if isinstance(vuln, str):  # pre-0.2.0: the id itself
        vuln = {"name": vuln}
    name = _text(vuln.get("name")) if isinstance(vuln, dict) else None
    if name is None:
        raise _Skip("no vulnerability name")
    ids = {_norm_id(name)}
    if _text(vuln.get("@id")):
        ids.add(vuln["@id"].strip())
    aliases = vuln.get("aliases")
    for alias in aliases if isinstance(aliases, list) else []:
        if _text(alias):
            ids.add(_norm_id(alias))
    return frozenset(ids)


def _openvex_products(stmt: dict[str, Any], where: str, log: _Log) -> tuple[str, ...]:
    """Product and subcomponent identifiers; empty only when the statement names none."""
    products = stmt.get("products") or []
    legacy_subs = stmt.get("subcomponents") or []  # pre-0.2.0, statement level
    if not isinstance(products, list) or not isinstance(legacy_subs, list):
        raise _Skip("products or subcomponents is not a list")
    if not products and not legacy_subs:
        return ()
    found: list[str] = []
    for item in [*products, *legacy_subs]:
        found.extend(_component_ids(item))
        subs = item.get("subcomponents") if isinstance(item, dict) else None
        for sub in subs if isinstance(subs, list) else []:
            found.extend(_component_ids(sub))
    usable = []
    for ident in dict.fromkeys(found):
        if ident.startswith("pkg:") and _parse_purl(ident) is None:
            log.warn(where, f"invalid purl {ident!r} ignored")
        else:
            usable.append(ident)
    if not usable:
        raise _Skip("products given but none has a usable identifier")
    return tuple(usable)


def _component_ids(item: Any) -> list[str]:
    if isinstance(item, str):
        return [item.strip()] if item.strip() else []
    if not isinstance(item, dict):
        return []
    out = [item["@id"].strip()] if _text(item.get("@id")) else []
    identifiers = item.get("identifiers")
    if isinstance(identifiers, dict) and _text(identifiers.get("purl")):
        out.append(identifiers["purl"].strip())
    return out


# --------------------------------------------------------------------------- matching


class _Purl(NamedTuple):
    type: str
    namespace: str
    name: str
    version: str
    qualifiers: dict[str, str]
    subpath: str


@functools.lru_cache(maxsize=8192)
def _parse_purl(value: str) -> _Purl | None:
    """Parse and apply the purl spec's per-type case rules; None when invalid."""
    try:
        p = PackageURL.from_string(value)
    except ValueError:
        return None
    t = p.type.lower()
    ns, name = p.namespace or "", p.name or ""
    if t in _LOWER_NAMESPACE:
        ns = ns.lower()
    if t in _LOWER_NAME:
        name = name.lower()  # (packageurl already folds pypi's "_" to "-")
    quals = p.qualifiers if isinstance(p.qualifiers, dict) else {}
    return _Purl(t, ns, name, p.version or "", {k.lower(): v for k, v in quals.items()},
                 p.subpath or "")


def _purl_matches(stmt: _Purl, comp: _Purl) -> bool:
    return (stmt[:3] == comp[:3]
            and (not stmt.version or stmt.version == comp.version)
            and all(comp.qualifiers.get(k) == v for k, v in stmt.qualifiers.items())
            and (not stmt.subpath or stmt.subpath == comp.subpath))


def _bom_link_refs(value: str) -> tuple[str, ...]:
    """The bom-ref a BOM-Link names: the spec percent-encodes it, but writers that do not
    (a purl bom-ref with ``%2B`` in it) must still match, so both readings count."""
    m = _BOM_LINK.match(value)
    return (m["ref"], unquote(m["ref"])) if m else ()


def _product_rank(product: str, comp: _Purl | None, bom_ref: str | None) -> int | None:
    """3 = one instance (bom-ref, versioned purl), 1 = any version of the package."""
    if bom_ref and (product == bom_ref or bom_ref in _bom_link_refs(product)):
        return 3
    if comp is not None and product.startswith("pkg:"):
        sp = _parse_purl(product)
        if sp is not None and _purl_matches(sp, comp):
            return 3 if sp.version else 1
    return None


def _specificity(stmt: VexStatement, comp: _Purl | None, bom_ref: str | None) -> int | None:
    if not stmt.products:
        return 0
    ranks = [r for r in (_product_rank(p, comp, bom_ref) for p in stmt.products)
             if r is not None]
    if not ranks:
        return None
    if stmt.versions:
        return _versions_rank(stmt.versions, comp)
    return max(ranks)


def _versions_rank(constraints: Sequence[str], comp: _Purl | None) -> int | None:
    """3 for an exact listed version, 2 inside a vers range; a component without a version
    cannot be shown to be inside, so the statement does not apply to it."""
    if comp is None or not comp.version:
        return None
    if comp.version in constraints:
        return 3
    if any(c.startswith("vers:") and _in_vers(comp.version, c) for c in constraints):
        return 2
    return None


def find_statement(statements: Iterable[VexStatement], vuln_id: str,
                   aliases: Iterable[str] = (), purl: str | None = None,
                   bom_ref: str | None = None) -> VexStatement | None:
    """The statement that decides ``vuln_id`` (or an alias) for one component, or None.

    A statement applies when one of its ids equals the id or an alias (case-insensitive)
    and its products are empty (the whole document scope) or one product matches: a purl
    product matches when type, namespace and name are equal (case folded where the purl
    spec says so), its version (if any) is equal and its qualifiers are a subset of the
    component's; a bom-ref product matches ``bom_ref`` exactly or as a BOM-Link fragment.
    Statements with ``versions`` need the component purl's version to be listed or inside
    a ``vers:`` range.

    Several applicable statements: the most specific wins (an exact instance — bom-ref,
    versioned purl or a listed version — over a ``vers:`` range, over a versionless purl,
    over no product at all), then the latest timestamp (none counts as oldest), then the
    last in the order given (file order; :func:`load_vex_files` keeps the caller's order).
    """
    wanted = {i.strip().casefold() for i in (vuln_id, *aliases) if i and i.strip()}
    comp = _parse_purl(purl) if purl else None
    best: VexStatement | None = None
    best_key: tuple[int, datetime, int] | None = None
    for order, stmt in enumerate(statements):
        if not wanted.intersection(i.casefold() for i in stmt.vuln_ids):
            continue
        rank = _specificity(stmt, comp, bom_ref)
        if rank is None:
            continue
        key = (rank, _time_key(stmt.timestamp), order)
        if best_key is None or key > best_key:
            best, best_key = stmt, key
    return best


def _time_key(value: str | None) -> datetime:
    parsed = _parse_time(value) if value else None
    return parsed or datetime.min.replace(tzinfo=UTC)


def excluded_from_decisions(stmt: VexStatement) -> bool:
    """True when the vendor settled the finding with a reason a reviewer can check: a
    justified (or impact-stated) not_affected, a false positive or a resolution. An
    unjustified not_affected stays in triage, as the VEX minimum requirements demand."""
    if stmt.state in _SETTLED_STATES:
        return True
    return stmt.state == "not_affected" and bool(stmt.justification or stmt.impact_statement)


# --------------------------------------------------------------------------- vers ranges


@functools.lru_cache(maxsize=1024)
def _parse_vers(vers: str) -> tuple[str, tuple[tuple[str, str], ...]]:
    """``vers:<scheme>/<constraints>`` per the vers spec; ValueError when malformed."""
    spec = re.sub(r"[ \t]", "", vers)
    uri_scheme, _, specifier = spec.partition(":")
    vscheme, slash, constraints = specifier.partition("/")
    constraints = constraints.strip("|")
    if uri_scheme.lower() != "vers" or not slash or not vscheme or not constraints:
        raise ValueError(f"malformed vers {vers!r}")
    if constraints == "*":
        return vscheme.lower(), (("*", ""),)
    out = []
    for c in filter(None, constraints.split("|")):
        op = next((o for o in (">=", "<=", "!=", "<", ">") if c.startswith(o)), "=")
        version = unquote(c[len(op):] if op != "=" else c)
        if not version:
            raise ValueError(f"empty version in {vers!r}")
        out.append((op, version))
    return vscheme.lower(), tuple(out)


def _vers_ok(vers: str, where: str, log: _Log) -> bool:
    """Well-formed; a scheme spyproof cannot order is kept (it never matches) but named."""
    try:
        vscheme, constraints = _parse_vers(vers)
    except ValueError:
        return False
    if constraints != (("*", ""),):
        try:
            scheme_for(vscheme)
        except UnsupportedScheme:
            log.warn(where, f"version scheme of {vers!r} is not supported; the range "
                            "never matches")
    return True


def _in_vers(version: str, vers: str) -> bool:
    """Containment per the vers spec; False when the scheme or a version is unknown."""
    try:
        vscheme, constraints = _parse_vers(vers)
        if constraints == (("*", ""),):
            return True
        scheme = scheme_for(vscheme)
        v = parse_version(version, scheme)
        cons = sorted(((op, parse_version(x, scheme)) for op, x in constraints),
                      key=lambda c: c[1])
    except (ValueError, UnsupportedScheme, VersionError):
        return False
    for op, x in cons:
        if v == x:  # versions are unique in a vers: its comparator decides
            return op in ("=", "<=", ">=")
    ranges = [(op, x) for op, x in cons if op not in ("=", "!=")]
    if len(ranges) == 1:
        op, x = ranges[0]
        return v < x if op.startswith("<") else v > x
    last = len(ranges) - 2
    for i, ((op1, x1), (op2, x2)) in enumerate(pairwise(ranges)):
        if i == 0 and op1 in ("<", "<=") and v < x1:
            return True
        if i == last and op2 in (">", ">=") and v > x2:
            return True
        if op1 in (">", ">=") and op2 in ("<", "<=") and x1 < v < x2:
            return True
    return False
