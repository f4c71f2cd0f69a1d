"""The HTML report: every section on the real demo scan, hostile text escaped and inert,
nothing loaded from outside, deterministic bytes, a 1,000-finding page that filters and
collapses, and the page opened in headless Chromium (Debian's chromium) with no console
message and a screenshot taken."""

from __future__ import annotations

import json
import re
import shutil
import struct
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import pytest

from spyproof.models import (
    ClauseVerdict,
    Component,
    Evidence,
    Finding,
    Report,
    StaleDeclaration,
    Vulnerability,
)
from spyproof.report import html as html_report
from spyproof.report.html import (
    HEX_CAP,
    NO_AGREEMENT,
    TEXT_CAP,
    excerpt,
    hexdump,
    render_html,
    safe_url,
    visible,
    write_html,
)

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))
from html_bench import synthetic_report  # noqa: E402

AGREEMENT = REPO / "examples" / "agreement-acme-cpe5g.toml"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


# --- fixtures ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def demo_report(tmp_path_factory) -> Report:
    """The bundled sample firmware, scanned against the example agreement (clauses fail)."""
    work = tmp_path_factory.mktemp("html-demo")
    image = work / "acme-cpe5g-5.2.1.bin"
    subprocess.run([str(REPO / "examples/sample-firmware/build.sh"), str(image)], check=True,
                   capture_output=True, timeout=300)
    out = work / "out"
    proc = subprocess.run([sys.executable, "-m", "spyproof.cli", "-q", "scan", str(image),
                           "--out", str(out), "--agreement", str(AGREEMENT)],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode in (0, 1), proc.stderr
    return Report.model_validate_json((out / "report.json").read_text())


@pytest.fixture(scope="module")
def demo_html(demo_report) -> str:
    return render_html(demo_report)


@pytest.fixture(scope="module")
def big_report() -> Report:
    return synthetic_report(1000)


HOSTILE = '</pre><script>console.error("INJECTED")</script><img src=x onerror=alert(1)>'


@pytest.fixture(scope="module")
def hostile_report() -> Report:
    """Every string a firmware or a feed controls, set to markup that would run if it
    were not escaped."""
    base = synthetic_report(20)
    ev = Evidence(tree=base.rootfs or "", path="etc/\u202eevil" + HOSTILE, sha256="ab" * 32,
                  line=3, text=HOSTILE + "\x00\x1b[2J", rule="r<script>",
                  hex=b"<script>alert(1)</script>".hex())
    bad = Finding(id="x/y/<script>", check="endpoints", rule="<b>rule</b>", severity="critical",
                  title="Title " + HOSTILE, explanation="Why " + HOSTILE, clause="NS-3",
                  evidence=[ev], details={"value": HOSTILE, "x": "</script><script>alert(2)"},
                  source="javascript:alert(1)", status="declared",
                  declared_by='endpoints[0]"><script>alert(3)</script>')
    comp = Component(name="lib<script>alert(4)</script>", version="1<b>", method="fingerprint",
                     confidence=0.5, purl="pkg:generic/x@1")
    vuln = base.vulnerabilities[0].model_copy(update={
        "summary": HOSTILE, "references": ["javascript:alert(5)", "data:text/html,<script>"],
        "id": "CVE-<script>"})
    verdicts = [v.model_copy(update={"reason": HOSTILE, "findings": [bad.id, "missing<i>"]})
                if v.verdict == "fail" else v for v in base.verdicts]
    return base.model_copy(update={
        "findings": [bad, *base.findings], "components": [comp, *base.components],
        "vulnerabilities": [vuln, *base.vulnerabilities[1:]], "verdicts": verdicts,
        "image": base.image.model_copy(update={"name": "fw<script>alert(6)</script>.bin"}),
        "stale_declarations": [StaleDeclaration(kind="endpoint", entry="e<script>",
                                                declared=HOSTILE, reason=HOSTILE)]})


# --- headless Chromium ------------------------------------------------------------------------


def chromium_exe() -> str:
    exe = shutil.which("chromium")
    if exe is None:
        pytest.fail("chromium is not installed: run `make deps` (installs Debian's chromium)")
    return exe


def open_in_chromium(page: Path, work: Path, screenshot: Path | None = None,
                     height: int = 2000) -> tuple[str, list[str]]:
    """Load the page from disk in headless Chromium: the DOM after the scripts ran, and
    every console message (errors, uncaught exceptions, CSP violations all land there)."""
    work.mkdir(parents=True, exist_ok=True)
    cmd = [chromium_exe(), "--headless=new", "--no-sandbox", "--disable-gpu",
           "--disable-dev-shm-usage", "--no-first-run", "--no-default-browser-check",
           "--enable-logging=stderr", "--v=0", f"--user-data-dir={work / 'profile'}",
           f"--window-size=1280,{height}", "--dump-dom"]
    if screenshot is not None:
        cmd.append(f"--screenshot={screenshot}")
    env = {"PATH": "/usr/bin:/bin", "HOME": str(work / "home"), "LANG": "C.UTF-8"}
    proc = subprocess.run([*cmd, page.as_uri()], capture_output=True, timeout=120, env=env)
    stderr = proc.stderr.decode("utf-8", "replace")
    assert proc.returncode == 0, stderr[-2000:]
    console = [line for line in stderr.splitlines() if ":CONSOLE" in line]
    return proc.stdout.decode("utf-8", "replace"), console


def png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == PNG_MAGIC
    return struct.unpack(">II", data[16:24])


def test_console_detector_sees_errors(tmp_path):
    """The console check can fail: a page with a script error, a logged error and a
    blocked image is reported."""
    page = tmp_path / "broken.html"
    page.write_text('<!DOCTYPE html><meta charset="utf-8"><meta http-equiv="Content-Security-'
                    'Policy" content="default-src \'none\'; script-src \'unsafe-inline\'">'
                    '<script>console.error("boom"); undefinedThing();</script>'
                    '<img src="http://example.invalid/x.png">')
    _, console = open_in_chromium(page, tmp_path / "chromium")
    text = "\n".join(console)
    assert "boom" in text and "Uncaught ReferenceError" in text and "Content Security" in text


def test_demo_page_in_chromium_no_console_errors_and_screenshot(demo_html, tmp_path):
    page = tmp_path / "report.html"
    page.write_text(demo_html, encoding="utf-8")
    shot = tmp_path / "report.png"
    dom, console = open_in_chromium(page, tmp_path / "chromium", screenshot=shot)
    print(f"\nscreenshot of the demo report: {shot}")
    assert console == []
    assert 'data-report-ready="1"' in dom  # the inline script ran under the page's CSP
    assert png_size(shot) == (1280, 2000)
    assert shot.stat().st_size > 30_000  # a blank page is ~10 kB


def test_hostile_page_in_chromium_runs_nothing_injected(hostile_report, tmp_path):
    page = tmp_path / "hostile.html"
    page.write_text(render_html(hostile_report), encoding="utf-8")
    dom, console = open_in_chromium(page, tmp_path / "chromium")
    assert console == []  # no INJECTED, no alert, no CSP violation from an injected script
    assert 'data-report-ready="1"' in dom
    assert "<img src=" not in dom.lower()


def test_1000_findings_filter_and_collapse_in_chromium(big_report, tmp_path):
    """The script's filters and collapse, driven in the browser on the 1,000-finding page.
    (A test-only script is appended, so this copy drops the page's CSP; the CSP itself is
    exercised on the demo and hostile pages.)"""
    html = render_html(big_report)
    html = re.sub(r'<meta http-equiv="Content-Security-Policy"[^>]*>', "", html, count=1)
    probe = """<script>
(function () {
  var q = function (s) { return document.querySelectorAll(s).length; };
  var cards = "#findings-list > details.finding";
  var out = {cards: q(cards), open_at_load: q(cards + "[open]")};
  var sev = document.getElementById("f-sev");
  sev.value = "critical"; sev.dispatchEvent(new Event("change"));
  out.critical = q(cards + ":not([hidden])");
  var check = document.getElementById("f-check");
  check.value = "endpoints"; check.dispatchEvent(new Event("change"));
  out.critical_endpoints = q(cards + ":not([hidden])");
  sev.value = ""; sev.dispatchEvent(new Event("change"));
  check.value = ""; check.dispatchEvent(new Event("change"));
  var text = document.getElementById("f-text");
  text.value = " FINDING_ID "; text.dispatchEvent(new Event("input"));
  out.text = q(cards + ":not([hidden])");
  out.shown = document.getElementById("f-shown").textContent;
  text.value = ""; text.dispatchEvent(new Event("input"));
  document.querySelector('button[data-expand="findings-list"]').click();
  out.open_after_expand = q(cards + "[open]");
  document.querySelector('button[data-collapse="findings-list"]').click();
  out.open_after_collapse = q(cards + "[open]");
  out.controls_hidden = q(".js-only[hidden]");
  document.documentElement.setAttribute("data-probe", JSON.stringify(out));
}());
</script></body>"""
    page = tmp_path / "big.html"
    probe = probe.replace("FINDING_ID", big_report.findings[77].id.upper())  # any case
    page.write_text(html.replace("</body>", probe, 1), encoding="utf-8")
    dom, console = open_in_chromium(page, tmp_path / "chromium")
    assert console == []
    found = re.search(r'data-probe="([^"]*)"', dom)
    assert found, "the probe did not run"
    probe_out = json.loads(found.group(1).replace("&quot;", '"'))
    findings = big_report.findings
    assert probe_out["cards"] == 1000
    assert probe_out["open_at_load"] == 0  # long lists start collapsed
    assert probe_out["critical"] == sum(f.severity == "critical" for f in findings) > 0
    assert probe_out["critical_endpoints"] == sum(
        f.severity == "critical" and f.check == "endpoints" for f in findings)
    assert probe_out["text"] == 1 and probe_out["shown"] == "showing 1 of 1000"
    assert probe_out["open_after_expand"] == 1000 and probe_out["open_after_collapse"] == 0
    assert probe_out["controls_hidden"] == 0


# --- what the page says -------------------------------------------------------------------------


def test_demo_header_and_clause_table(demo_report, demo_html):
    h = demo_html
    assert demo_report.image.sha256 in h and demo_report.generated_at in h
    assert f"spyproof {demo_report.tool.version}" in h
    assert demo_report.verdict == "fail" and '<span class="verdict v-fail">FAIL</span>' in h
    assert "Sample vulnerability feed only" in h  # the demo uses the bundled sample feed
    table = h.split('<table class="clauses">', 1)[1].split("</table>", 1)[0]
    for v in demo_report.verdicts:
        row = table.split(f"<strong>{v.id}</strong>", 1)[1].split("</tr>", 1)[0]
        assert f'v-{v.verdict}">{v.verdict.upper()}' in row, v.id
    # the verdict table comes before the evidence, the evidence before the charts
    assert h.index('id="verdicts"') < h.index('id="evidence"') < h.index('id="charts"')


def test_demo_evidence_for_each_failing_clause(demo_report, demo_html):
    evidence = demo_html.split('<section id="evidence">', 1)[1].split("</section>", 1)[0]
    failing = [v for v in demo_report.verdicts if v.verdict == "fail"]
    assert failing
    by_id = {f.id: f for f in demo_report.findings}
    for v in failing:
        assert f"{v.id} · " in evidence
        for fid in v.findings:
            f = by_id[fid]
            assert f"<code>{fid}</code>" in evidence
            ev = f.evidence[0]
            assert ev.sha256 in evidence and ev.path in evidence
        for key in v.vulnerabilities:
            assert key.split("@", 1)[0] in evidence
    passing = [v.id for v in demo_report.verdicts if v.verdict != "fail"]
    assert not any(f"{cid} · " in evidence for cid in passing)
    # a finding card: severity, title, explanation, location, rule, source link, excerpt
    shell = next(f for f in demo_report.findings if f.rule == "serial-shell")
    at = evidence.index(f"<code>{shell.id}</code>")
    start = evidence.rfind('<details class="card finding"', 0, at)
    end = evidence.find('<details class="card', at)
    card = evidence[start:end if end > 0 else None]
    assert "sev-critical" in card and "etc/inittab:" in card
    assert '<a href="https://git.busybox.net/' in card
    assert '<pre class="excerpt text" aria-label="text excerpt">::askfirst:/bin/ash' in card


def test_demo_charts_sbom_vulns_endpoints_checks(demo_report, demo_html):
    h = demo_html
    charts = h.split('<section id="charts">', 1)[1].split("</section>", 1)[0]
    assert charts.count("<svg") == 3
    assert "Findings by severity" in charts and "Findings by check" in charts
    for c in demo_report.checks:
        assert f'class="label">{c.id}</text>' in charts
    crit = sum(f.severity == "critical" for f in demo_report.findings)
    assert f"<title>critical: {crit}</title>" in charts
    sbom = h.split('id="components-table"', 1)[1].split("</table>", 1)[0]
    for c in demo_report.components:
        assert f"<strong>{c.name}</strong>" in sbom and c.purl in sbom
    assert "1 KEV</span>" in sbom  # glibc carries CVE-2023-4911
    vulns = h.split('id="vulns-table"', 1)[1].split("</table>", 1)[0]
    assert vulns.count("<tr") == len(demo_report.vulnerabilities) + 1
    assert '<a href="https://nvd.nist.gov/vuln/detail/CVE-2023-4911"' in vulns
    endpoints = h.split('id="endpoints-table"', 1)[1].split("</table>", 1)[0]
    declared = [f for f in demo_report.findings
                if f.check == "endpoints" and f.status == "declared"]
    undeclared = [f for f in demo_report.findings if f.check == "endpoints"
                  and f.status == "open" and isinstance(f.details.get("value"), str)]
    assert declared and undeclared
    assert endpoints.count('class="is-declared"') == len(declared)
    assert endpoints.count('class="is-undeclared"') == len(undeclared)
    assert "telemetry.acme-cpe-cloud.net" in endpoints
    checks = h.split('<section id="checks">', 1)[1].split("</section>", 1)[0]
    for c in demo_report.checks:
        assert f"<code>{c.id}</code>" in checks
    problems = h.split('<section id="problems">', 1)[1].split("</section>", 1)[0]
    for s in demo_report.stale_declarations:
        assert s.entry in problems


def test_no_agreement_every_clause_inconclusive(demo_report):
    report = demo_report.model_copy(update={"verdicts": [], "verdict": None, "agreement": None,
                                            "stale_declarations": []})
    h = render_html(report)
    assert NO_AGREEMENT in h
    table = h.split('<table class="clauses">', 1)[1].split("</table>", 1)[0]
    assert table.count('<span class="verdict v-inconclusive">') == 7
    assert "v-fail" not in table and "v-pass" not in table
    assert '<span class="verdict v-inconclusive">INCONCLUSIVE</span>' in h.split("</header>")[0]
    # the evidence still reaches the reader, grouped by the clause it informs
    assert "Evidence by clause" in h and "CVE-2023-4911" in h.split('id="charts"')[0]


def test_hand_built_verdicts_declared_and_missing_evidence(demo_report):
    f = demo_report.findings[0]
    declared = f.model_copy(update={"id": f.id + "-declared", "status": "declared",
                                    "declared_by": "accounts[0] (line 9)"})
    verdicts = [ClauseVerdict(id="NS-2", title="No default credentials", wording="Words.",
                              verdict="fail", reason="One is open.", checks=["accounts"],
                              findings=[f.id, "gone/finding/1"], declared=[declared.id],
                              vulnerabilities=["CVE-0000-0000@nowhere"]),
                ClauseVerdict(id="NS-4", title="No backdoors", wording="Words.",
                              verdict="pass", reason="Nothing breaks it.")]
    report = demo_report.model_copy(update={"verdicts": verdicts, "verdict": "fail",
                                            "findings": [f, declared]})
    h = render_html(report)
    evidence = h.split('<section id="evidence">', 1)[1].split("</section>", 1)[0]
    assert "Declared by the agreement (kept, not counted)" in evidence
    assert "accounts[0] (line 9)" in evidence
    assert "<code>gone/finding/1</code>" in evidence and "CVE-0000-0000@nowhere" in evidence
    assert "NS-4 · " not in evidence


# --- safety and self-containment ---------------------------------------------------------------


class _Refs(HTMLParser):
    """Every attribute that can make a browser fetch something, and every script/style."""

    def __init__(self) -> None:
        super().__init__()
        self.fetching: list[tuple[str, str, str]] = []
        self.links: list[str] = []
        self.scripts = 0
        self.csp: str | None = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "script":
            self.scripts += 1
        if tag == "meta" and a.get("http-equiv") == "Content-Security-Policy":
            self.csp = a.get("content")
        if tag == "a" and "href" in a:
            self.links.append(a["href"] or "")
        for name in ("src", "srcset", "data", "poster", "background", "action", "formaction",
                     "xlink:href", "ping"):
            if name in a:
                self.fetching.append((tag, name, a[name] or ""))
        if tag != "a" and "href" in a:
            self.fetching.append((tag, "href", a["href"] or ""))


def external_problems(html: str) -> list[str]:
    refs = _Refs()
    refs.feed(html)
    problems = [f"{t} {n}={v}" for t, n, v in refs.fetching]
    problems += [f"link {u}" for u in refs.links
                 if not (u.startswith("#") or re.fullmatch(r"https?://\S+", u))]
    problems += [m.group() for m in re.finditer(r"@import|url\(", html, re.I)]
    if refs.scripts != 1:
        problems.append(f"{refs.scripts} script elements")
    if not refs.csp or "default-src 'none'" not in refs.csp or "unsafe" in refs.csp:
        problems.append(f"csp {refs.csp}")
    return problems


def test_demo_page_loads_nothing_from_outside(demo_html):
    assert external_problems(demo_html) == []
    assert "<svg" in demo_html and 'xmlns="http://www.w3.org/2000/svg"' in demo_html


def test_external_check_can_fail():
    page = '<meta http-equiv="Content-Security-Policy" content="default-src \'none\'">' \
           '<script></script><link href="https://cdn.example/x.css"><img src="a.png">' \
           '<a href="javascript:x()">x</a><style>@import "y.css"</style>'
    assert len(external_problems(page)) == 4


def test_hostile_text_is_escaped(hostile_report):
    h = render_html(hostile_report)
    assert external_problems(h) == []  # still one script (ours), no injected src/href
    lower = h.lower()
    assert lower.count("<script") == 1 and "<img" not in lower and "<b>" not in lower
    assert "&lt;script&gt;console.error(&#34;INJECTED&#34;)&lt;/script&gt;" in h
    assert 'href="javascript:' not in lower and 'href="data:' not in lower
    assert "javascript:alert(1)" in h  # shown as text, not as a link
    assert "\u202e" not in h and "\\u202e" in h  # bidi override made visible
    assert "\x00" not in h and "\\x00\\x1b[2J" in h
    assert "3c 73 63 72 69 70 74 3e" in h  # the hex excerpt shows the bytes of <script>


def test_without_script_everything_is_open(big_report):
    h = render_html(big_report)
    cards = re.findall(r'<details class="card (?:finding|vuln)"( open)?', h)
    assert cards and all(cards)
    assert all(m for m in re.findall(r'<details class="clause-evidence"( open)?', h))
    for m in re.finditer(r'<div class="controls js-only[^"]*"([^>]*)>', h):
        assert " hidden" in m.group(1)  # controls appear only when the script runs


def test_1000_findings_page_has_filter_and_collapse_controls(big_report):
    h = render_html(big_report)
    assert h.count('<details class="card finding" open id="finding-') == 1000
    for control in ('id="f-text"', 'id="f-sev"', 'id="f-check"', 'id="f-clause"',
                    'id="f-status"', 'data-expand="findings-list"',
                    'data-collapse="findings-list"'):
        assert control in h, control
    for check in {f.check for f in big_report.findings}:
        assert f'<option value="{check}">' in h
    # failing clauses show their worst findings as cards and the rest one line each
    assert "more finding(s) for NS-6" in h
    assert external_problems(h) == []


def test_render_is_deterministic(demo_report):
    one = render_html(demo_report)
    again = render_html(Report.model_validate_json(demo_report.model_dump_json()))
    assert one == again


def test_write_html_is_atomic(demo_report, tmp_path):
    target = tmp_path / "report.html"
    write_html(demo_report, target)
    assert target.read_text(encoding="utf-8") == render_html(demo_report)
    assert [p.name for p in tmp_path.iterdir()] == ["report.html"]


# --- helpers --------------------------------------------------------------------------------------


@pytest.mark.parametrize(("url", "ok"), [
    ("https://nvd.nist.gov/vuln/detail/CVE-2023-4911", True),
    ("http://example.org/a?b=c", True),
    ("javascript:alert(1)", False), ("JaVaScRiPt:alert(1)", False),
    ("data:text/html,<script>", False), ("file:///etc/passwd", False),
    ("/relative/path", False), ("https://", False), ("https://a.example/\u202ex", False),
    ("https://a.example/ x", False), (None, False), ("", False),
])
def test_safe_url(url, ok):
    assert safe_url(url) == (url if ok else None)


def test_visible_escapes_controls_and_bidi():
    assert visible("a\tb\nc") == "a\tb\nc"
    assert visible("a\x00b\x1bc\x7f") == "a\\x00b\\x1bc\\x7f"
    assert visible("x\u202ey\u2066z") == "x\\u202ey\\u2066z"
    assert visible("grüße ✓") == "grüße ✓"


def test_hexdump_lines():
    assert hexdump(b"ABC\x00" * 5, 0x10) == (
        "00000010  41 42 43 00 41 42 43 00 41 42 43 00 41 42 43 00  ABC.ABC.ABC.ABC.\n"
        "00000020  41 42 43 00                                      ABC.")


def test_excerpts_are_capped_and_noted():
    long = Evidence(tree="t", path="p", text="x" * (TEXT_CAP + 5),
                    hex="00" * (HEX_CAP + 3), offset=0)
    text, hexed = excerpt(long)
    assert len(text.body) == TEXT_CAP and f"of {TEXT_CAP + 5} characters" in text.note
    assert hexed.kind == "hex" and hexed.body.count("\n") == HEX_CAP // 16 - 1
    assert f"first {HEX_CAP} of {HEX_CAP + 3} bytes" in hexed.note
    (bad,) = excerpt(Evidence(tree="t", path="p", hex="zz"))
    assert bad.kind == "text" and "not valid hex" in bad.note
    (none,) = excerpt(Evidence(tree="t", path="p"))
    assert none.kind == "none"


def test_assets_pinned_by_csp():
    """The policy names the sha256 of exactly the inline style and script it ships."""
    assets = html_report._assets()
    assert html_report._csp_hash(str(assets["css"])) in assets["csp"]
    assert html_report._csp_hash(str(assets["js"])) in assets["csp"]
    assert "connect-src" not in assets["csp"] and "default-src 'none'" in assets["csp"]


def test_vulnerability_without_component_match_still_listed():
    report = synthetic_report(5)
    lone = Vulnerability(id="GHSA-aaaa-bbbb-cccc", records=["osv:GHSA-aaaa-bbbb-cccc"],
                         component="pkg:generic/unknown@1", component_name="unknown",
                         matched=[])
    h = render_html(report.model_copy(update={"vulnerabilities": [lone]}))
    assert '<a href="https://osv.dev/vulnerability/GHSA-aaaa-bbbb-cccc"' in h


def test_empty_report_renders():
    """A scan that found nothing (no checks, no components) still makes a readable page."""
    report = synthetic_report(0).model_copy(update={
        "components": [], "vulnerabilities": [], "checks": [], "verdicts": [], "verdict": None,
        "agreement": None, "knowledge_base": None, "warnings": [], "stale_declarations": []})
    h = render_html(report)
    assert "No findings." in h and "No components identified." in h
    assert "No evidence checks ran." in h and NO_AGREEMENT in h
    assert external_problems(h) == []
