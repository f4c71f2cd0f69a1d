"""The HTML report: one self-contained page that a person who is not a firmware expert can
read, from disk, with no network.

Python prepares a plain view of the report (sorted, counted, excerpts formatted, URLs
vetted, chart geometry computed); the Jinja2 template only lays it out, with autoescape on,
because every string that came out of the firmware is hostile input. The page carries its
CSS and its small vanilla script inline, pinned by a Content-Security-Policy with their
hashes: nothing else runs and nothing is fetched, even if escaping ever failed. Charts are
inline SVG drawn here, not by a script. Same report in, same bytes out.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from jinja2 import Environment, FileSystemLoader, StrictUndefined, Template
from markupsafe import Markup

from spyproof.agreement.clauses import BUILTIN
from spyproof.models import ClauseVerdict, Evidence, Finding, Report, Vulnerability
from spyproof.report.cyclonedx import component_refs
from spyproof.report.writer import write_text_atomic

TEMPLATES = Path(__file__).parent / "templates"
SEVERITIES = ("critical", "high", "medium", "low", "info")
_SEV_RANK = {s: i for i, s in enumerate(SEVERITIES)}
TEXT_CAP = 2000  # characters of matched text shown per piece of evidence
HEX_CAP = 256  # bytes of matched data shown as a hex dump
COLLAPSE_OVER = 12  # with the script on, lists longer than this start collapsed
CLAUSE_CARDS = 50  # full cards per clause section; the rest are one line each, linked to
# their card under "All findings" (a 1,000-finding page stays light enough to load fast)
NO_AGREEMENT = "no agreement: every clause inconclusive"

# C0/C1 controls (but tab and newline) and the bidirectional overrides a hostile file could
# use to make the excerpt read differently from the bytes (CVE-2021-42574, "Trojan Source").
_INVISIBLE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200b-\u200f\u202a-\u202e"
                        r"\u2066-\u2069\ufeff]")


def render_html(report: Report) -> str:
    """The report as one HTML document (a str; deterministic for a given report)."""
    return _template().render(**_view(report), **_assets())


def write_html(report: Report, path: Path) -> None:
    write_text_atomic(path, render_html(report))


# --- template and its inline assets ---------------------------------------------------------


@lru_cache(maxsize=1)
def _environment() -> Environment:
    env = Environment(loader=FileSystemLoader(str(TEMPLATES)), autoescape=True,
                      undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True,
                      keep_trailing_newline=True)
    env.globals.update(visible=visible, severities=SEVERITIES)
    return env


@lru_cache(maxsize=1)
def _template() -> Template:
    return _environment().get_template("report.html.j2")


def _csp_hash(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode() + "'"


@lru_cache(maxsize=1)
def _assets() -> dict[str, Any]:
    """The stylesheet and the script, inlined verbatim (they are ours, not report data),
    and a policy that lets exactly these two run and nothing load."""
    css = (TEMPLATES / "report.css").read_text(encoding="utf-8")
    js = (TEMPLATES / "report.js").read_text(encoding="utf-8")
    for name, text, end in (("report.css", css, "</style"), ("report.js", js, "</script")):
        if end in text.lower():
            raise ValueError(f"{name} must not contain {end}")
    csp = (f"default-src 'none'; style-src {_csp_hash(css)}; script-src {_csp_hash(js)}; "
           "img-src data:; base-uri 'none'; form-action 'none'")
    return {"css": Markup(css), "js": Markup(js), "csp": csp}


# --- small formatting helpers ---------------------------------------------------------------


def visible(text: str) -> str:
    """Control and bidi-override characters as escapes, so the excerpt shows every byte."""
    return _INVISIBLE.sub(lambda m: f"\\u{ord(m.group()):04x}" if ord(m.group()) > 0xff
                          else f"\\x{ord(m.group()):02x}", text)


def safe_url(url: str | None) -> str | None:
    """The URL when it is a plain http(s) link; anything else (javascript:, data:, file:,
    relative) is shown as text, never made a link."""
    if not url or _INVISIBLE.search(url) or any(c.isspace() for c in url):
        return None
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    return url if parts.scheme in ("http", "https") and parts.netloc else None


def hexdump(data: bytes, base: int) -> str:
    """xxd-style lines: offset in the file, 16 bytes in hex, the printable ASCII."""
    lines = []
    for i in range(0, len(data), 16):
        chunk = data[i:i + 16]
        hexes = " ".join(f"{b:02x}" for b in chunk)
        text = "".join(chr(b) if 0x20 <= b < 0x7f else "." for b in chunk)
        lines.append(f"{base + i:08x}  {hexes:<47}  {text}")
    return "\n".join(lines)


def location(ev: Evidence, rootfs: str | None) -> str:
    where = ev.path if ev.tree == rootfs else f"{ev.tree}: {ev.path}"
    if ev.line is not None:
        where += f":{ev.line}"
    if ev.offset is not None:
        where += f" @ offset {ev.offset} (0x{ev.offset:x})"
    return visible(where)


@dataclass
class Excerpt:
    kind: str  # text, hex or none
    body: str = ""
    note: str = ""


def excerpt(ev: Evidence) -> list[Excerpt]:
    out: list[Excerpt] = []
    if ev.text is not None:
        text, note = ev.text, ""
        if len(text) > TEXT_CAP:
            text, note = text[:TEXT_CAP], f"first {TEXT_CAP} of {len(ev.text)} characters"
        shown = visible(text)
        if shown != text:
            note = "; ".join(n for n in (note, "control characters shown as escapes") if n)
        out.append(Excerpt("text", shown, note))
    if ev.hex:
        try:
            data = bytes.fromhex(ev.hex)
        except ValueError:
            out.append(Excerpt("text", visible(ev.hex[:TEXT_CAP]), "hex field is not valid hex"))
        else:
            note = f"first {HEX_CAP} of {len(data)} bytes" if len(data) > HEX_CAP else ""
            out.append(Excerpt("hex", hexdump(data[:HEX_CAP], ev.offset or 0), note))
    if not out:
        out.append(Excerpt("none"))
    return out


def _json(value: Any) -> str:
    return visible(json.dumps(value, indent=1, ensure_ascii=False, default=str))


# --- the view ---------------------------------------------------------------------------------


@dataclass
class EvidenceView:
    where: str
    sha256: str | None
    rule: str | None
    excerpts: list[Excerpt]


@dataclass
class FindingView:
    n: int
    f: Finding
    anchor: str
    title: str
    explanation: str
    where: str
    source_url: str | None
    evidence: list[EvidenceView]
    details: str
    declared: bool


@dataclass
class VulnView:
    v: Vulnerability
    key: str
    url: str | None
    cvss: str
    cvss_vector: str
    epss: str
    vex: str
    references: list[tuple[str, str | None]]
    evidence: list[EvidenceView]


@dataclass
class ClauseRow:
    n: int
    id: str
    title: str
    wording: str
    verdict: str
    reason: str
    checks: list[str]
    findings: list[FindingView] = field(default_factory=list)
    declared: list[FindingView] = field(default_factory=list)
    vulnerabilities: list[VulnView] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)  # ids the verdict names, not in report
    detailed: bool = False  # has an evidence section below the table

    @property
    def anchor(self) -> str:
        return f"clause-{self.n}"


def _evidence_views(evs: list[Evidence], rootfs: str | None) -> list[EvidenceView]:
    return [EvidenceView(location(e, rootfs), e.sha256, e.rule, excerpt(e)) for e in evs]


def _finding_view(n: int, f: Finding, rootfs: str | None) -> FindingView:
    first = f.evidence[0] if f.evidence else None
    return FindingView(n=n, f=f, anchor=f"finding-{n}", title=visible(f.title),
                       explanation=visible(f.explanation),
                       where=location(first, rootfs) if first else "",
                       source_url=safe_url(f.source),
                       evidence=_evidence_views(f.evidence, rootfs),
                       details=_json(f.details) if f.details else "",
                       declared=f.status == "declared")


def _best_cvss(v: Vulnerability) -> tuple[str, str]:
    scored = [c for c in v.cvss if c.score is not None]
    if not scored:
        return ("", v.cvss[0].vector if v.cvss else "")
    best = max(scored, key=lambda c: (c.score, c.version))
    return (f"{best.score:.1f} (v{best.version})", best.vector)


def _vuln_url(v: Vulnerability) -> str | None:
    if re.fullmatch(r"CVE-\d{4}-\d{4,}", v.id):
        return f"https://nvd.nist.gov/vuln/detail/{v.id}"
    if re.fullmatch(r"(GHSA|OSV|PYSEC|GO|RUSTSEC)-[A-Za-z0-9-]+", v.id):
        return f"https://osv.dev/vulnerability/{v.id}"
    return next((u for u in map(safe_url, v.references) if u), None)


def _vex_text(v: Vulnerability) -> str:
    if v.analysis is None:
        return ""
    a = v.analysis
    text = a.state + (f" ({a.justification})" if a.justification else "")
    return text if v.counts else text + ", not counted"


def _vuln_view(v: Vulnerability, rootfs: str | None) -> VulnView:
    cvss, vector = _best_cvss(v)
    epss = (f"{v.epss.score * 100:.1f}% (percentile {v.epss.percentile * 100:.0f})"
            if v.epss else "")
    return VulnView(v=v, key=f"{v.id}@{v.component}", url=_vuln_url(v), cvss=cvss,
                    cvss_vector=vector, epss=epss, vex=_vex_text(v),
                    references=[(r, safe_url(r)) for r in v.references],
                    evidence=_evidence_views(v.evidence, rootfs))


def _clauses(report: Report, by_id: dict[str, FindingView],
             vulns: dict[str, VulnView]) -> list[ClauseRow]:
    if report.verdicts:
        return [_clause_row(i, cv, by_id, vulns) for i, cv in enumerate(report.verdicts)]
    # No agreement: the built-in clauses, each inconclusive, with the findings informing it.
    informing: dict[str, list[FindingView]] = defaultdict(list)
    for fv in by_id.values():
        if fv.f.clause and not fv.declared:
            informing[fv.f.clause].append(fv)
    exploited = [vv for vv in vulns.values() if vv.v.kev is not None and vv.v.counts]
    ids = list(BUILTIN) + sorted(set(informing) - set(BUILTIN))
    rows = []
    for i, cid in enumerate(ids):
        b = BUILTIN.get(cid)
        found = sorted(informing.get(cid, []), key=lambda fv: fv.n)
        kev = exploited if b and "vulnerabilities" in b.checks else []
        inform = [f"{len(found)} open finding(s)"] * bool(found) + [
            f"{len(kev)} known exploited vulnerability(ies)"] * bool(kev)
        rows.append(ClauseRow(
            n=i, id=cid, title=b.title if b else cid, wording=b.wording if b else "",
            verdict="inconclusive",
            reason="No agreement was given, so no clause can pass or fail"
                   + (f"; {' and '.join(inform)} inform it." if inform else "."),
            checks=list(b.checks) if b else [], findings=found, vulnerabilities=kev))
    return rows


def _clause_row(i: int, cv: ClauseVerdict, by_id: dict[str, FindingView],
                vulns: dict[str, VulnView]) -> ClauseRow:
    row = ClauseRow(n=i, id=cv.id, title=visible(cv.title), wording=visible(cv.wording),
                    verdict=str(cv.verdict), reason=visible(cv.reason), checks=cv.checks)
    for ids, found, known in ((cv.findings, row.findings, by_id),
                              (cv.declared, row.declared, by_id),
                              (cv.vulnerabilities, row.vulnerabilities, vulns)):
        for key in ids:
            if key in known:
                found.append(known[key])
            else:
                row.missing.append(key)
    row.findings.sort(key=lambda fv: fv.n)  # most severe first, as everywhere on the page
    row.declared.sort(key=lambda fv: fv.n)
    return row


@dataclass
class Bar:
    label: str
    full_label: str
    total: int
    y: float
    segments: list[tuple[str, float, float, int]]  # severity, x, width, count


@dataclass
class Chart:
    title: str
    width: int
    height: int
    label_width: int
    bars: list[Bar]
    legend: bool


def _chart(title: str, rows: list[tuple[str, Counter]], legend: bool) -> Chart:
    """Horizontal bars, one per row, split by severity; geometry only, text escaped later."""
    label_w, bar_w, row_h, top = 150, 250, 26, 8 + (24 if legend else 0)
    peak = max((sum(c.values()) for _, c in rows), default=0) or 1
    bars = []
    for i, (label, counts) in enumerate(rows):
        x, segs = float(label_w), []
        for sev in SEVERITIES:
            if counts.get(sev):
                w = round(bar_w * counts[sev] / peak, 1)
                segs.append((sev, round(x, 1), max(w, 1.0), counts[sev]))
                x += w
        short = label if len(label) <= 22 else label[:21] + "…"
        bars.append(Bar(short, label, sum(counts.values()), top + i * row_h, segs))
    return Chart(title, label_w + bar_w + 50, top + len(rows) * row_h + 8, label_w, bars,
                 legend)


def _charts(report: Report) -> list[Chart]:
    by_sev = Counter(str(f.severity) for f in report.findings)
    per_check: dict[str, Counter] = {c.id: Counter() for c in report.checks}
    for f in report.findings:
        per_check.setdefault(f.check, Counter())[str(f.severity)] += 1
    check_rows = sorted(per_check.items(), key=lambda kv: (-sum(kv[1].values()), kv[0]))
    vuln_sev = Counter((v.severity or "info") if v.severity in _SEV_RANK else "info"
                       for v in report.vulnerabilities)
    charts = [
        _chart("Findings by severity", [(s, Counter({s: by_sev[s]})) for s in SEVERITIES],
               False),
        _chart("Findings by check", check_rows, True),
    ]
    if report.vulnerabilities:
        charts.append(_chart("Vulnerabilities by severity",
                             [(s, Counter({s: vuln_sev[s]})) for s in SEVERITIES], False))
    return charts


@dataclass
class ComponentRow:
    name: str
    version: str
    purl: str
    method: str
    confidence: str
    files: int
    vulns: int
    counted: int
    kev: int
    where: str


def _components(report: Report, vulns: list[VulnView]) -> list[ComponentRow]:
    by_ref: dict[str, list[Vulnerability]] = defaultdict(list)
    for vv in vulns:
        by_ref[vv.v.component].append(vv.v)
    rows = []
    for c, ref in component_refs(report.components):
        vs = by_ref.get(ref, [])
        first = c.evidence[0] if c.evidence else None
        rows.append(ComponentRow(
            name=visible(c.name), version=visible(c.version or ""), purl=visible(c.purl or ""),
            method=c.method, confidence=f"{c.confidence:.2f}", files=len(c.files),
            vulns=len(vs), counted=sum(v.counts for v in vs),
            kev=sum(1 for v in vs if v.kev is not None),
            where=location(first, report.rootfs) if first else ""))
    return rows


@dataclass
class EndpointRow:
    finding: FindingView
    value: str
    kind: str
    cls: str
    scope: str
    port: str
    flags: str


def _endpoints(findings: list[FindingView]) -> list[EndpointRow]:
    """One row per endpoint finding (the inventory summary has no single value), the
    undeclared public ones first."""
    rows = []
    for fv in findings:
        d = fv.f.details
        if fv.f.check != "endpoints" or not isinstance(d.get("value"), str):
            continue
        rows.append(EndpointRow(fv, visible(d["value"]), str(d.get("kind") or ""),
                                str(d.get("class") or ""), str(d.get("scope") or ""),
                                "" if d.get("port") is None else str(d.get("port")),
                                ", ".join(map(str, d.get("flags") or []))))
    rows.sort(key=lambda r: (r.finding.declared, r.scope != "public",
                             _SEV_RANK.get(str(r.finding.f.severity), 9), r.value, r.finding.n))
    return rows


def _overall(report: Report) -> str:
    if report.verdict:
        return str(report.verdict)
    if report.verdicts:
        vs = {str(v.verdict) for v in report.verdicts}
        return "fail" if "fail" in vs else "pass" if vs == {"pass"} else "inconclusive"
    return "inconclusive"


def _view(report: Report) -> dict[str, Any]:
    rootfs = report.rootfs
    ordered = sorted(enumerate(report.findings),
                     key=lambda p: (_SEV_RANK.get(str(p[1].severity), 9), p[0]))
    findings = [_finding_view(n, f, rootfs) for n, (_, f) in enumerate(ordered)]
    by_id: dict[str, FindingView] = {}
    for fv in findings:
        by_id.setdefault(fv.f.id, fv)
    vulns = [_vuln_view(v, rootfs) for v in sorted(
        report.vulnerabilities,
        key=lambda v: (v.kev is None, _SEV_RANK.get(v.severity or "info", 9), v.id,
                       v.component))]
    clauses = _clauses(report, by_id, {vv.key: vv for vv in vulns})
    for c in clauses:
        c.detailed = (c.verdict == "fail" if report.verdicts
                      else bool(c.findings or c.vulnerabilities))
    detailed = [c for c in clauses if c.detailed]
    sev_counts = Counter(str(f.severity) for f in report.findings)
    kb = report.knowledge_base
    return {
        "r": report,
        "overall": _overall(report),
        "no_agreement": not report.verdicts,
        "no_agreement_text": NO_AGREEMENT,
        "clauses": clauses,
        "detailed": detailed,
        "verdict_counts": Counter(c.verdict for c in clauses),
        "findings": findings,
        "sev_counts": [(s, sev_counts[s]) for s in SEVERITIES],
        "open_count": sum(1 for f in findings if not f.declared),
        "checks_seen": sorted({f.f.check for f in findings} | {c.id for c in report.checks}),
        "clauses_seen": sorted({f.f.clause for f in findings if f.f.clause}),
        "charts": _charts(report),
        "components": _components(report, vulns),
        "vulns": vulns,
        "kev_count": sum(1 for v in report.vulnerabilities if v.kev is not None),
        "endpoints": _endpoints(findings),
        "sample_only": bool(kb and kb.sample_only),
        "formats": ", ".join(f"{c.format}@{c.start_offset}" for c in report.image.formats
                             if c.depth <= 1),
        "collapse_over": COLLAPSE_OVER,
        "clause_cards": CLAUSE_CARDS,
    }
