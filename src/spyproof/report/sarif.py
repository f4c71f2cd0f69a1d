"""SARIF 2.1.0 rendering of a report (``findings.sarif``), for GitHub code scanning and
other SARIF viewers.

One run. Every (check, rule) that fired and every vulnerability id is a rule with help
text; every finding and every vulnerability is a result located at paths inside the
image: root-filesystem files relative to ``IMAGEROOT``, files of other extracted trees as
``<tree id>/<path>`` relative to ``EXTRACTED`` (both declared in ``originalUriBaseIds``),
and a result with no file evidence at the image itself (GitHub rejects results without a
location). Findings the agreement declares and vulnerabilities a VEX statement takes out
of the decision stay in, as suppressed results. Deterministic: the same report gives the
same bytes, and the only timestamp is the report's ``generated_at``.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

from spyproof.agreement.clauses import BUILTIN
from spyproof.models import (
    Evidence,
    Finding,
    Report,
    Severity,
    VexAnalysis,
    Vulnerability,
)
from spyproof.report.cdx_vulns import vuln_source
from spyproof.report.writer import write_text_atomic

SARIF_VERSION = "2.1.0"
SARIF_SCHEMA = ("https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/"
                "sarif-schema-2.1.0.json")
INFORMATION_URI = "https://github.com/spyproof/spyproof"
ROOT_BASE = "IMAGEROOT"  # the root filesystem inside the image
TREES_BASE = "EXTRACTED"  # the directory the image was extracted into (tree ids are under it)
VULN_CLAUSE = "NS-5"

LEVEL = {"critical": "error", "high": "error", "medium": "warning", "low": "note",
         "info": "note"}
# GitHub reads rules' properties.security-severity: >= 9.0 critical, 7.0-8.9 high,
# 4.0-6.9 medium, 0.1-3.9 low.
SECURITY_SEVERITY = {"critical": 9.5, "high": 8.0, "medium": 5.5, "low": 3.0, "info": 0.0}
_RANK = {s.value: i for i, s in enumerate(Severity)}  # critical first
# Kept literal in URIs; ':' is always encoded so a first segment never reads as a scheme.
_URI_SAFE = "/!$&'()*+,;=@"
_SEMVER = re.compile(r"\d+\.\d+\.\d+(?:-[0-9A-Za-z.-]+)?(?:\+[0-9A-Za-z.-]+)?")
_URL_CHARS = re.compile(r"[A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=%]+")
_MD_SPECIAL = re.compile(r"([\\`*_\[\]<>#|~])")
_MAX_MESSAGE_EVIDENCE = 3


def to_sarif(report: Report) -> str:
    """SARIF 2.1.0 JSON text (one run, sorted keys, trailing newline)."""
    ctx = _Context(report)
    rules, rule_index = _rules(report, ctx)
    results = [_finding_result(f, rule_index, ctx) for f in report.findings]
    results += [_vuln_result(v, rule_index, ctx) for v in report.vulnerabilities]
    driver = {
        "name": report.tool.name,
        "fullName": f"{report.tool.name} {report.tool.version}",
        "version": report.tool.version,
        "semanticVersion": (report.tool.version if _SEMVER.fullmatch(report.tool.version)
                            else None),
        "informationUri": INFORMATION_URI,
        "shortDescription": {"text": "Evidence checks of firmware against no-spy "
                             "commitments."},
        "rules": rules,
    }
    run = {
        "tool": {"driver": driver},
        "invocations": [_invocation(report)],
        "originalUriBaseIds": ctx.uri_bases(),
        "artifacts": ctx.artifacts,
        "columnKind": "unicodeCodePoints",
        "results": results,
        "properties": _run_properties(report),
    }
    doc = {"$schema": SARIF_SCHEMA, "version": SARIF_VERSION, "runs": [run]}
    return json.dumps(_clean(doc), indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def write_sarif(report: Report, path: Path) -> None:
    write_text_atomic(path, to_sarif(report))


# --- locations -------------------------------------------------------------------------


class _Context:
    """Where each file of the report lives as a SARIF URI, and the artifacts referenced."""

    def __init__(self, report: Report) -> None:
        self.report = report
        self.files = {(f.tree, f.path): f for f in report.files}
        image = report.image
        self.artifacts: list[dict[str, Any]] = [{
            "location": {"uri": _encode(image.name) or "image",
                         "description": {"text": "The firmware image that was scanned."}},
            "hashes": {"sha-256": image.sha256, "sha-512": image.sha512},
            "length": image.size,
            "roles": ["analysisTarget"],
        }]
        self._index: dict[tuple[str, str], int] = {}
        self.check_titles = {c.id: c.title for c in report.checks}
        self.clause_titles = {cid: c.title for cid, c in BUILTIN.items()}
        self.clause_titles.update({v.id: v.title for v in report.verdicts})

    def uri(self, tree: str, path: str) -> tuple[str, str]:
        """(uriBaseId, percent-encoded URI) of a file inside the image."""
        path = path.lstrip("/")
        if tree == self.report.rootfs:
            return ROOT_BASE, _encode(path) or "./"
        return TREES_BASE, _encode(f"{tree.strip('/')}/{path}")

    def display(self, e: Evidence) -> str:
        """The path as a person reads it: root-filesystem relative, else tree-qualified."""
        path = e.path.lstrip("/")
        return path if e.tree == self.report.rootfs else f"{e.tree}/{path}"

    def uri_bases(self) -> dict[str, Any]:
        bases: dict[str, Any] = {TREES_BASE: {"description": {
            "text": "The directory the image was extracted into; extracted tree ids are "
                    "paths relative to it."}}}
        if self.report.rootfs is not None:
            bases[ROOT_BASE] = {
                "uri": _encode(self.report.rootfs.strip("/")) + "/",
                "uriBaseId": TREES_BASE,
                "description": {"text": "The root filesystem of the image: paths inside the "
                                "image are relative to it."},
            }
        return bases

    def artifact(self, e: Evidence) -> tuple[str, str, int]:
        base, uri = self.uri(e.tree, e.path)
        key = (base, uri)
        if key not in self._index:
            entry = self.files.get((e.tree, e.path))
            sha256 = e.sha256 or (entry.sha256 if entry else None)
            self._index[key] = len(self.artifacts)
            self.artifacts.append({
                "location": {"uri": uri, "uriBaseId": base},
                "hashes": {"sha-256": sha256} if sha256 else None,
                "length": entry.size if entry else None,
            })
        return base, uri, self._index[key]

    def location(self, e: Evidence, loc_id: int | None = None) -> dict[str, Any]:
        base, uri, index = self.artifact(e)
        region = _region(e)
        return {
            "id": loc_id,
            "physicalLocation": {
                "artifactLocation": {"uri": uri, "uriBaseId": base, "index": index},
                "region": region,
            },
            # Without a region the matched text has no snippet to live in.
            "message": {"text": e.text} if e.text and not region else None,
            "properties": {"evidence": e.model_dump(exclude_none=True)},
        }

    def image_location(self) -> dict[str, Any]:
        return {
            "physicalLocation": {"artifactLocation": {
                "uri": self.artifacts[0]["location"]["uri"], "index": 0}},
            "message": {"text": "The image as a whole (no single file)."},
        }

    def locations(self, evidence: list[Evidence]) -> dict[str, Any]:
        """The first evidence is the result's location; further evidence is related."""
        if not evidence:
            return {"locations": [self.image_location()]}
        return {
            "locations": [self.location(evidence[0])],
            "relatedLocations": [self.location(e, i) for i, e in
                                 enumerate(evidence[1:], start=1)] or None,
        }

    def where(self, evidence: list[Evidence]) -> str:
        """'Evidence: etc/shadow:1, bin/busybox at byte 973216 (+2 more).' for a message."""
        if not evidence:
            return ""
        shown = []
        for e in evidence[:_MAX_MESSAGE_EVIDENCE]:
            if e.line is not None:
                shown.append(f"{self.display(e)}:{e.line}")
            elif e.offset is not None:
                shown.append(f"{self.display(e)} at byte {e.offset}")
            else:
                shown.append(self.display(e))
        more = len(evidence) - len(shown)
        return "Evidence: " + ", ".join(shown) + (f" (+{more} more)." if more else ".")


def _encode(path: str) -> str:
    """Percent-encode a POSIX path as a URI reference: non-ASCII as UTF-8, and names that
    are not valid UTF-8 (surrogate-escaped) as their original bytes."""
    try:
        raw = path.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        raw = path.encode("utf-8", "surrogatepass")
    return quote(raw, safe=_URI_SAFE)


def _region(e: Evidence) -> dict[str, Any] | None:
    """A line when the line is known, else the bytes at the offset. SARIF requires a
    region's text and byte properties to cover the same bytes, and a match's offset is
    not the start of its line, so a known line wins; the offset stays in the location's
    evidence properties. The byte length is known only from the matched bytes (hex)."""
    matched = _hex_bytes(e.hex)
    region: dict[str, Any] = {}
    if e.line is not None and e.line >= 1:
        region["startLine"] = e.line
    elif e.offset is not None and e.offset >= 0:
        region["byteOffset"] = e.offset
        if matched is not None:
            region["byteLength"] = len(matched)
    else:
        return None
    if e.text:
        region["snippet"] = {"text": e.text}
    elif matched is not None and "byteOffset" in region:
        region["snippet"] = {"binary": base64.b64encode(matched).decode("ascii")}
    return region


def _hex_bytes(value: str | None) -> bytes | None:
    if not value:
        return None
    try:
        return bytes.fromhex(value)
    except ValueError:
        return None


# --- rules -----------------------------------------------------------------------------


def _rules(report: Report, ctx: _Context) -> tuple[list[dict[str, Any]], dict[str, int]]:
    by_rule: dict[str, list[Finding]] = {}
    for f in report.findings:
        by_rule.setdefault(_finding_rule_id(f), []).append(f)
    by_vuln: dict[str, list[Vulnerability]] = {}
    for v in report.vulnerabilities:
        by_vuln.setdefault(_vuln_rule_id(v), []).append(v)
    rules = [_finding_rule(rid, by_rule[rid], ctx) for rid in sorted(by_rule)]
    rules += [_vuln_rule(rid, by_vuln[rid], ctx) for rid in sorted(by_vuln)]
    return rules, {r["id"]: i for i, r in enumerate(rules)}


def _finding_rule_id(f: Finding) -> str:
    return f"{f.check}/{f.rule}"


def _vuln_rule_id(v: Vulnerability) -> str:
    return f"vuln/{v.id}"


def _finding_rule(rid: str, findings: list[Finding], ctx: _Context) -> dict[str, Any]:
    """One rule per (check, rule). The report has no rule-level text, so it comes from the
    findings: a title they share, else the rule's name; the first finding's explanation
    (the runner sorts the most severe first); the highest severity among them."""
    first = findings[0]
    check_title = ctx.check_titles.get(first.check, first.check)
    words = first.rule.replace("-", " ").replace("_", " ").strip().capitalize()
    titles = {f.title for f in findings}
    short = first.title if len(titles) == 1 else f"{words} ({check_title})"
    severity = _most_severe(f.severity for f in findings)
    clauses = sorted({f.clause for f in findings if f.clause})
    sources = _unique(f.source for f in findings if f.source)
    help_uri = next((u for u in map(_url, sources) if u), None)

    clause_lines = [f"{c}: {ctx.clause_titles.get(c, c)}" for c in clauses]
    text = [first.explanation, ""]
    text += [f"Clause {line}" for line in clause_lines]
    text.append(f"Check: {first.check} ({check_title}); rule: {first.rule}")
    text.append(f"Severity: {severity}" + (" (highest of its findings)"
                                           if len({f.severity for f in findings}) > 1 else ""))
    text += [f"Source: {s}" for s in sources]
    md = [f"**{_md(short)}**", "", _md(first.explanation), ""]
    md += [f"- **Clause** {_md(line)}" for line in clause_lines]
    md.append(f"- **Check:** `{first.check}` ({_md(check_title)}), rule `{first.rule}`")
    md.append(f"- **Severity:** {severity}")
    md += [f"- **Source:** {_md_link(s)}" for s in sources]
    return {
        "id": rid,
        "name": _pascal(first.check) + _pascal(first.rule),
        "shortDescription": {"text": short},
        "fullDescription": {"text": first.explanation},
        "help": {"text": "\n".join(text), "markdown": "\n".join(md)},
        "helpUri": help_uri,
        "defaultConfiguration": {"level": LEVEL[severity]},
        "properties": {
            "tags": _unique(["security", first.check, *clauses]),
            "security-severity": f"{SECURITY_SEVERITY[severity]:.1f}",
            "severity": severity,
            "check": first.check,
            "clauses": clauses,
        },
    }


def _vuln_rule(rid: str, vulns: list[Vulnerability], ctx: _Context) -> dict[str, Any]:
    first = vulns[0]
    severity = _most_severe(_vuln_severity(v) for v in vulns)
    score = _security_severity(vulns, severity)
    summary = next((v.summary for v in vulns if v.summary), None)
    short = f"{first.id}: {summary}" if summary else f"Known vulnerability {first.id}"
    affected = _unique(f"{v.component_name} {v.component_version or '(version unknown)'}"
                       for v in vulns)
    kev = next((v.kev for v in vulns if v.kev), None)
    epss = next((v.epss for v in vulns if v.epss), None)
    cvss = _unique(f"CVSS {c.version} {c.score if c.score is not None else '?'} "
                   f"{c.vector} ({c.source})" for v in vulns for c in v.cvss)
    fixed = _unique(x for v in vulns for x in v.fixed)
    aliases = _unique(a for v in vulns for a in v.aliases)
    references = _unique(r for v in vulns for r in v.references)
    help_uri = _url(str(vuln_source(first.id).url))
    clause = f"{VULN_CLAUSE}: {ctx.clause_titles.get(VULN_CLAUSE, VULN_CLAUSE)}"

    full = (_sentence(summary) + " " if summary else "") + f"Affects {', '.join(affected)}."
    facts = [f"Severity: {severity or 'unknown'}"] + cvss
    if kev:
        facts.append(f"Known exploited: in CISA KEV since {kev.date_added}"
                     + (", used in ransomware campaigns" if kev.ransomware else ""))
    if epss:
        facts.append(f"EPSS {epss.score:.4f} (percentile {epss.percentile:.2f}, {epss.date})")
    facts.append("Fixed in: " + (", ".join(fixed) if fixed else "no fixed version published"))
    if aliases:
        facts.append("Aliases: " + ", ".join(aliases))
    facts.append(f"Clause {clause}")
    text = [full, "", *facts, *[f"Reference: {r}" for r in references]]
    md = [f"**{_md(short)}**", "", _md(full), "", *[f"- {_md(x)}" for x in facts]]
    md += [f"- Reference: {_md_link(r)}" for r in references]
    tags = ["security", "vulnerability", VULN_CLAUSE] + (["known-exploited"] if kev else [])
    return {
        "id": rid,
        "name": first.id,
        "shortDescription": {"text": short},
        "fullDescription": {"text": full},
        "help": {"text": "\n".join(text), "markdown": "\n".join(md)},
        "helpUri": help_uri,
        "defaultConfiguration": {"level": LEVEL[severity] if severity else "warning"},
        "properties": {
            "tags": tags,
            "security-severity": score,
            "severity": severity,
            "clauses": [VULN_CLAUSE],
        },
    }


def _security_severity(vulns: list[Vulnerability], severity: str | None) -> str | None:
    """The highest CVSS base score; the qualitative severity's value without one."""
    scores = [c.score for v in vulns for c in v.cvss if c.score is not None]
    if scores:
        return f"{max(scores):.1f}"
    return f"{SECURITY_SEVERITY[severity]:.1f}" if severity else None


def _vuln_severity(v: Vulnerability) -> str | None:
    """The report's severity on spyproof's scale (feeds say moderate, none, unknown …)."""
    name = (v.severity or "").lower()
    name = {"moderate": "medium", "none": "info", "negligible": "info"}.get(name, name)
    return name if name in LEVEL else None


# --- results ---------------------------------------------------------------------------


def _finding_result(f: Finding, rule_index: dict[str, int], ctx: _Context) -> dict[str, Any]:
    rid = _finding_rule_id(f)
    facts = f"Severity {f.severity}" + (f", clause {f.clause}" if f.clause else "") + "."
    parts = [_sentence(f.title), _sentence(f.explanation), facts, ctx.where(f.evidence)]
    if f.status == "declared":
        parts.append(f"Declared by the agreement ({f.declared_by or 'no entry named'}): "
                     "kept, not counted.")
    primary = f.evidence[0] if f.evidence else None
    return {
        "ruleId": rid,
        "ruleIndex": rule_index[rid],
        "level": LEVEL[f.severity],
        "message": {"text": " ".join(p for p in parts if p)},
        **ctx.locations(f.evidence),
        "partialFingerprints": _fingerprints(f.id),
        "suppressions": ([_suppression("Declared by the agreement"
                                       + (f": {f.declared_by}" if f.declared_by else ""))]
                         if f.status == "declared" else None),
        "properties": {
            "findingId": f.id,
            "check": f.check,
            "rule": f.rule,
            "severity": f.severity,
            "clause": f.clause,
            "status": f.status,
            "declaredBy": f.declared_by,
            "source": f.source,
            "sha256": primary.sha256 if primary else None,
            "details": _Data(f.details) if f.details else None,
        },
    }


def _vuln_result(v: Vulnerability, rule_index: dict[str, int], ctx: _Context
                 ) -> dict[str, Any]:
    rid = _vuln_rule_id(v)
    severity = _vuln_severity(v)
    scores = [c.score for c in v.cvss if c.score is not None]
    name = f"{v.component_name} {v.component_version}" if v.component_version \
        else v.component_name
    parts = [f"{v.id} in {name}" + (f": {_sentence(v.summary)}" if v.summary else ".")]
    parts.append(f"Severity {severity or 'unknown'}"
                 + (f" (CVSS {max(scores):.1f})" if scores else "") + f", clause {VULN_CLAUSE}.")
    if v.kev:
        parts.append(f"Known exploited (CISA KEV since {v.kev.date_added}).")
    parts.append(f"Fixed in {', '.join(v.fixed)}." if v.fixed else "No fixed version published.")
    if v.analysis:
        parts.append(f"VEX: {_vex_text(v.analysis)}.")
    parts.append(ctx.where(v.evidence))
    primary = v.evidence[0] if v.evidence else None
    key = f"{rid}@{v.component}"
    return {
        "ruleId": rid,
        "ruleIndex": rule_index[rid],
        "level": LEVEL[severity] if severity else "warning",
        "message": {"text": " ".join(p for p in parts if p)},
        **ctx.locations(v.evidence),
        "partialFingerprints": _fingerprints(key),
        "suppressions": ([_suppression(f"VEX {_vex_text(v.analysis)}" if v.analysis else
                                       "Excluded from pass/fail decisions")]
                         if not v.counts else None),
        "properties": {
            "vulnerabilityId": v.id,
            "aliases": v.aliases or None,
            "severity": severity,
            "clause": VULN_CLAUSE,
            "component": v.component,
            "componentName": v.component_name,
            "componentVersion": v.component_version,
            "records": v.records,
            "cvss": [c.model_dump(exclude_none=True) for c in v.cvss] or None,
            "kev": v.kev.model_dump(exclude_none=True) if v.kev else None,
            "epss": v.epss.model_dump() if v.epss else None,
            "matched": [m.model_dump(exclude_none=True) for m in v.matched],
            "fixed": v.fixed or None,
            "vex": v.analysis.model_dump(exclude_none=True) if v.analysis else None,
            "counts": v.counts,
            "sampleFeed": v.sample,
            "sha256": primary.sha256 if primary else None,
        },
    }


def _vex_text(a: VexAnalysis) -> str:
    text = a.state + (f" ({a.justification})" if a.justification else "")
    if a.detail:
        text += f": {a.detail.rstrip('.')}"
    return text + f" [{a.source}]"


def _suppression(justification: str) -> dict[str, Any]:
    return {"kind": "external", "status": "accepted", "justification": justification}


def _fingerprints(key: str) -> dict[str, str]:
    """Stable across runs (finding ids are digests of check, rule and where); GitHub keeps a
    primaryLocationLineHash it is given instead of hashing a source file it does not have."""
    digest = hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()[:16]
    return {"primaryLocationLineHash": f"{digest}:1", "spyproofId/v1": key}


# --- run -------------------------------------------------------------------------------


def _invocation(report: Report) -> dict[str, Any]:
    notes = [{"level": "warning", "message": {"text": w.message},
              "properties": {"code": w.code, "path": w.path}} for w in report.warnings]
    notes += [{"level": "note", "message": {"text": f"{c.id}: skipped {s}"},
               "properties": {"check": c.id}} for c in report.checks for s in c.skipped]
    return {
        "executionSuccessful": report.complete,
        "endTimeUtc": _timestamp(report.generated_at),
        "toolExecutionNotifications": notes or None,
    }


def _run_properties(report: Report) -> dict[str, Any]:
    image = report.image
    agreement = report.agreement
    kb = report.knowledge_base
    return {
        "reportSchemaVersion": report.schema_version,
        "generatedAt": report.generated_at,
        "complete": report.complete,
        "image": {"name": image.name, "size": image.size, "sha256": image.sha256,
                  "sha512": image.sha512},
        "rootfs": report.rootfs,
        "verdict": report.verdict,
        "verdicts": {v.id: {"title": v.title, "verdict": v.verdict, "reason": v.reason,
                            "checks": v.checks, "findings": v.findings,
                            "declared": v.declared, "vulnerabilities": v.vulnerabilities}
                     for v in report.verdicts},
        "agreement": ({"path": agreement.path, "sha256": agreement.sha256,
                       "vendor": agreement.vendor, "product": agreement.product}
                      if agreement else None),
        "knowledgeBase": ({"location": kb.location, "digest": kb.digest,
                           "sampleOnly": kb.sample_only} if kb else None),
        "checks": [c.model_dump() for c in report.checks],
    }


def _timestamp(value: str) -> str | None:
    """The report's timestamp as RFC 3339 UTC, or None when it does not parse."""
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    if parsed.tzinfo is None or parsed.utcoffset() is None:
        return None
    return value if value.endswith("Z") else \
        parsed.astimezone(UTC).isoformat().replace("+00:00", "Z")


# --- text helpers ----------------------------------------------------------------------


class _Data(dict):
    """Check-specific facts kept as the report states them, null members included."""


def _clean(value: Any, keep_none: bool = False) -> Any:
    """Drop None members of SARIF objects (absent, not null), and make every string
    encodable as UTF-8 (a lone surrogate from undecodable input becomes U+FFFD)."""
    if isinstance(value, dict):
        keep_none = keep_none or isinstance(value, _Data)
        return {_clean(k): _clean(v, keep_none) for k, v in value.items()
                if keep_none or v is not None}
    if isinstance(value, list):
        return [_clean(v, keep_none) for v in value]
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return value.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    return value


def _most_severe(values: Iterable[str | None]) -> Any:
    known = [v for v in values if v in _RANK]
    return min(known, key=_RANK.__getitem__) if known else None


def _unique(values: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(values))


def _url(value: str) -> str | None:
    """An absolute http(s) URL usable as a SARIF helpUri (format uri), else None."""
    if not _URL_CHARS.fullmatch(value):
        return None
    parts = urlsplit(value)
    return value if parts.scheme in ("http", "https") and parts.netloc else None


def _pascal(name: str) -> str:
    return "".join(w[:1].upper() + w[1:] for w in re.split(r"[^0-9A-Za-z]+", name) if w)


def _sentence(text: str) -> str:
    text = text.strip()
    return text if not text or text[-1] in ".!?" else text + "."


def _md(text: str) -> str:
    return _MD_SPECIAL.sub(r"\\\1", text)


def _md_link(value: str) -> str:
    return f"<{value}>" if _url(value) else _md(value)
