"""The no-spy agreement: template, validation with line numbers, declarations, a verdict
per built-in clause (pass, fail, declared), and the scan gate."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from spyproof.agreement import AgreementError, apply_agreement, load_agreement
from spyproof.agreement.load import locate
from spyproof.agreement.template import render_template
from spyproof.checks.base import make_finding
from spyproof.checks.registry import all_checks
from spyproof.models import (
    CheckRun,
    Cvss,
    Evidence,
    ImageInfo,
    KevEntry,
    KnowledgeBaseInfo,
    Report,
    ToolInfo,
    Vulnerability,
)

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "examples" / "agreement-acme-cpe5g.toml"


def spyproof(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "spyproof.cli", *args], capture_output=True,
                          text=True, timeout=600)


def write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "agreement.toml"
    p.write_text(text)
    return p


BASE = render_template("Acme Networks", "CPE-5G")


def agreement(tmp_path: Path, extra: str = "") -> object:
    return load_agreement(write(tmp_path, BASE.replace("[policy]", extra + "\n[policy]", 1)))


# ------------------------------------------------------------------ template and errors

def test_template_is_valid_and_has_the_seven_clauses(tmp_path):
    loaded = load_agreement(write(tmp_path, BASE))
    assert [c.id for c in loaded.agreement.clauses] == [f"NS-{i}" for i in range(1, 8)]
    assert loaded.agreement.agreement.vendor == "Acme Networks"
    assert len(loaded.sha256) == 64


def test_example_agreement_is_valid():
    loaded = load_agreement(EXAMPLE)
    assert loaded.agreement.endpoints and loaded.agreement.remote_access


def problems(tmp_path: Path, text: str) -> list[tuple[int | None, str, str]]:
    with pytest.raises(AgreementError) as err:
        load_agreement(write(tmp_path, text))
    return [(p.line, p.key, p.message) for p in err.value.problems]


def line_of(text: str, needle: str) -> int:
    """First non-comment line containing ``needle`` (the template comments out examples)."""
    return next(i for i, ln in enumerate(text.splitlines(), 1)
                if needle in ln and not ln.lstrip().startswith("#"))


@pytest.mark.parametrize(("old", "new", "key", "message"), [
    ('fail_severity = "high"', 'fail_severty = "high"', "policy.fail_severty", "unknown key"),
    ("max_age_days = 90", 'max_age_days = "ninety"', "policy.max_age_days", "integer"),
    ('id = "NS-4"', 'id = "NS-9"', "clauses[3].id", "unknown clause NS-9"),
    ('checks = ["known-backdoors"]', 'checks = ["known-backdors"]', "clauses[3].checks[0]",
     "unknown check 'known-backdors'"),
    ('fail_severity = "high"', 'fail_severity = "severe"', "policy.fail_severity",
     "Input should be"),
])
def test_each_problem_names_its_line_and_key(tmp_path, old, new, key, message):
    text = BASE.replace(old, new, 1)
    got = problems(tmp_path, text)
    assert len(got) == 1, got
    line, k, msg = got[0]
    assert k == key and message in msg
    assert line == line_of(text, new)


def test_bad_cidr_and_missing_host_name_their_entries(tmp_path):
    text = BASE.replace("[policy]", '[[endpoints]]\ncidr = "10.0.0.300/8"\n\n'
                        '[[endpoints]]\nports = [443]\n\n[policy]', 1)
    got = problems(tmp_path, text)
    assert [(k, line) for line, k, _ in got] == [
        ("endpoints[0].cidr", line_of(text, "10.0.0.300")),
        ("endpoints[1]", line_of(text, "ports = [443]") - 1)]
    assert "not an IP address or CIDR" in got[0][2]
    assert "exactly one of host or cidr" in got[1][2]


def test_all_problems_are_reported_at_once(tmp_path):
    text = (BASE.replace('fail_severity = "high"', 'fail_severty = "high"')
            .replace('vendor = "Acme Networks"', "vendor = 7"))
    got = problems(tmp_path, text)
    assert {k for _, k, _ in got} == {"agreement.vendor", "policy.fail_severty"}


def test_toml_syntax_error_has_its_line(tmp_path):
    text = BASE.replace('no_kev = true', 'no_kev = tru e')
    [(line, _, msg)] = problems(tmp_path, text)
    assert line == line_of(text, "no_kev") and "TOML syntax" in msg


def test_not_text_is_one_problem(tmp_path):
    p = tmp_path / "a.toml"
    p.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(AgreementError, match="not UTF-8"):
        load_agreement(p)


def test_locate_finds_keys_in_arrays_of_tables():
    text = "[a]\nx = 1\n\n[[e]]\nh = 1\n\n[[e]]\nh = 2\nc = 3\n"
    assert locate(text, ("a", "x")) == 2
    assert locate(text, ("e", 1, "c")) == 9
    assert locate(text, ("e", 1)) == 7
    assert locate(text, ("e", 0, "zz")) == 4


def test_cli_check_and_scan_refuse_a_bad_agreement(tmp_path):
    bad = write(tmp_path, BASE.replace('fail_severity = "high"', 'fail_severty = "high"'))
    proc = spyproof("agreement", "check", str(bad))
    assert proc.returncode == 2
    assert f"{bad}:{line_of(bad.read_text(), 'fail_severty')}: policy.fail_severty: " \
           "unknown key" in proc.stderr
    image = tmp_path / "x.bin"
    image.write_bytes(b"\0" * 1024)
    scan = spyproof("scan", str(image), "--out", str(tmp_path / "o"), "--agreement", str(bad))
    assert scan.returncode == 2 and "fail_severty" in scan.stderr
    assert not (tmp_path / "o").exists()


def test_cli_init_then_check(tmp_path):
    proc = spyproof("agreement", "init", "--vendor", "V", "--product", "P")
    assert proc.returncode == 0
    path = write(tmp_path, proc.stdout)
    ok = spyproof("agreement", "check", str(path))
    assert ok.returncode == 0 and "valid agreement for V P" in ok.stdout


# ------------------------------------------------------------------ verdicts per clause

def ev(path: str, line: int = 1) -> list[Evidence]:
    return [Evidence(tree="rootfs", path=path, sha256="ab" * 32, line=line, text="x",
                     rule="r")]


def report(findings=(), vulns=(), sample=False, ran=None, kb=True) -> Report:
    ran = sorted(all_checks()) if ran is None else ran
    return Report(
        tool=ToolInfo(version="test"), generated_at="2026-11-29T00:00:00Z",
        image=ImageInfo(name="fw.bin", size=1, sha256="0" * 64, sha512="0" * 128), limits={},
        findings=list(findings), vulnerabilities=list(vulns),
        checks=[CheckRun(id=c, title=c, examined=1, findings=0) for c in ran],
        knowledge_base=KnowledgeBaseInfo(location="kb", schema_version=1, digest="d",
                                         sample_only=sample) if kb else None)


def remote(service="telnetd", port=23, interface="all", severity="critical", pw=False,
           shell=True):
    return make_finding("remote-access", f"{service}-rule", severity, f"{service} runs",
                        "why", ev("etc/init.d/rcS", 7), clause="NS-1",
                        details={"service": service, "protocol": service, "port": port,
                                 "ports": [port], "interface": interface,
                                 "authentication": {"password_auth": pw,
                                                    "shell_without_login": shell}})


def account(rule="default-password", name="root", severity="critical", clause="NS-2"):
    return make_finding("accounts", rule, severity, "t", "why", ev("etc/shadow"),
                        clause=clause, details={"account": name})


def endpoint(host="telemetry.vendor.example", cls="telemetry", severity="medium",
             scope="public", port=443):
    return make_finding("endpoints", f"{cls}-rule", severity, "t", "why", ev("usr/bin/agent"),
                        clause="NS-3", details={"host": host, "class": cls, "scope": scope,
                                                "port": port, "scheme": "https"})


def backdoor():
    return make_finding("known-backdoors", "dlink-xmlset-useragent", "critical", "t", "why",
                        ev("bin/webs"), clause="NS-4")


def vuln(kev=False, score=7.5, published="2026-11-01", counts=True):
    return Vulnerability(
        id="CVE-2023-4911", records=["osv:CVE-2023-4911"], component="pkg:generic/glibc@2.36",
        component_name="glibc", component_version="2.36", matched=[], published=published,
        cvss=[Cvss(version="3.1", vector="CVSS:3.1/AV:L", score=score, source="nvd:x")],
        kev=KevEntry(date_added="2023-11-21") if kev else None, counts=counts)


def verdict_of(rep: Report, loaded, clause: str):
    judged = apply_agreement(rep, loaded)
    return next(v for v in judged.verdicts if v.id == clause), judged


DECL_SSH = ('[[remote_access]]\nservice = "telnetd"\nport = 23\ninterface = "all"\n'
            'authentication = "none"\n')


@pytest.mark.parametrize(("case", "findings", "extra", "expected", "n_declared"), [
    ("pass", [remote(severity="low")], "", "pass", 0),
    ("fail", [remote()], "", "fail", 0),
    ("declared", [remote()], DECL_SSH, "pass", 1),
    ("fail-other-port", [remote(port=2323)], DECL_SSH, "fail", 0),
    ("uid0-fail", [account("uid0-account", "admin", "high", "NS-1")], "", "fail", 0),
    ("uid0-declared", [account("uid0-account", "admin", "high", "NS-1")],
     '[[accounts]]\nname = "admin"\nuid0 = true\n', "pass", 1),
])
def test_ns1(tmp_path, case, findings, extra, expected, n_declared):
    v, _ = verdict_of(report(findings), agreement(tmp_path, extra), "NS-1")
    assert v.verdict == expected, v.reason
    assert len(v.declared) == n_declared


@pytest.mark.parametrize(("case", "findings", "extra", "expected", "n_declared"), [
    ("pass", [account("login-account", severity="low")], "", "pass", 0),
    ("fail", [account()], "", "fail", 0),
    # a declared account never declares its default password
    ("declared-account-keeps-password", [account()], '[[accounts]]\nname = "root"\n',
     "fail", 0),
    ("declared", [account("login-account", severity="high")], '[[accounts]]\nname = "root"\n',
     "pass", 1),
])
def test_ns2(tmp_path, case, findings, extra, expected, n_declared):
    v, _ = verdict_of(report(findings), agreement(tmp_path, extra), "NS-2")
    assert v.verdict == expected, v.reason
    assert len(v.declared) == n_declared


@pytest.mark.parametrize(("case", "findings", "extra", "expected"), [
    ("pass-time-only", [endpoint("0.pool.ntp.org", "time", "info")], "", "pass"),
    ("pass-private", [endpoint("192.168.1.1", "unknown", "info", "private")], "", "pass"),
    ("fail-undeclared-even-low", [endpoint(severity="low")], "", "fail"),
    ("declared-wildcard", [endpoint()], '[[endpoints]]\nhost = "*.vendor.example"\n', "pass"),
    ("declared-cidr", [endpoint("203.0.113.7", "unknown", "low")],
     '[[endpoints]]\ncidr = "203.0.113.0/24"\n', "pass"),
    ("wrong-port", [endpoint()], '[[endpoints]]\nhost = "*.vendor.example"\nports = [80]\n',
     "fail"),
    ("wildcard-not-apex", [endpoint("vendor.example")],
     '[[endpoints]]\nhost = "*.vendor.example"\n', "fail"),
])
def test_ns3(tmp_path, case, findings, extra, expected):
    v, _ = verdict_of(report(findings), agreement(tmp_path, extra), "NS-3")
    assert v.verdict == expected, v.reason


def test_ns4_backdoors_cannot_be_declared(tmp_path):
    assert verdict_of(report([]), agreement(tmp_path), "NS-4")[0].verdict == "pass"
    v, _ = verdict_of(report([backdoor()]), agreement(
        tmp_path, '[[remote_access]]\nservice = "webs"\n'), "NS-4")
    assert v.verdict == "fail" and v.declared == []


@pytest.mark.parametrize(("case", "vulns", "sample", "expected"), [
    ("pass", [vuln()], False, "pass"),
    ("fail-kev", [vuln(kev=True)], False, "fail"),
    ("fail-overdue-critical", [vuln(score=9.8, published="2025-01-01")], False, "fail"),
    ("pass-recent-critical", [vuln(score=9.8, published="2026-11-20")], False, "pass"),
    ("vex-not-affected", [vuln(kev=True, counts=False)], False, "pass"),
    ("sample-only", [vuln()], True, "inconclusive"),
])
def test_ns5(tmp_path, case, vulns, sample, expected):
    v, _ = verdict_of(report(vulns=vulns, sample=sample), agreement(tmp_path), "NS-5")
    assert v.verdict == expected, v.reason


def test_ns5_without_vulnerability_stage_is_inconclusive(tmp_path):
    v, _ = verdict_of(report(kb=False), agreement(tmp_path), "NS-5")
    assert v.verdict == "inconclusive" and "no vulnerability matching" in v.reason


def summary(pie: float) -> object:
    return make_finding("engineering", "summary", "info", "t", "why", [], clause="NS-6",
                        details={"hardening": {"pie": {"percent": pie}}})


def unsafe(i: int) -> object:
    return make_finding("engineering", "unsafe-calls", "low", "t", "why", ev(f"bin/p{i}"),
                        clause="NS-6")


@pytest.mark.parametrize(("case", "findings", "policy", "expected"), [
    ("pass", [summary(95.0)], "required_hardening = { pie = 90.0 }", "pass"),
    ("fail-hardening", [summary(40.0)], "required_hardening = { pie = 90.0 }", "fail"),
    ("fail-budget", [unsafe(1), unsafe(2)], "unsafe_call_budget = 1", "fail"),
    ("pass-budget", [unsafe(1)], "unsafe_call_budget = 1", "pass"),
])
def test_ns6(tmp_path, case, findings, policy, expected):
    loaded = load_agreement(write(tmp_path, BASE.replace("[policy]", f"[policy]\n{policy}", 1)))
    v, _ = verdict_of(report(findings), loaded, "NS-6")
    assert v.verdict == expected, v.reason


def test_ns7_is_inconclusive_until_provenance(tmp_path):
    v, _ = verdict_of(report([]), agreement(tmp_path), "NS-7")
    assert v.verdict == "inconclusive" and "provenance" in v.reason


def test_no_agreement_every_clause_inconclusive():
    judged = apply_agreement(report([remote()]), None)
    assert [v.verdict for v in judged.verdicts] == ["inconclusive"] * 7
    assert all(v.reason == "inconclusive: no agreement" for v in judged.verdicts)
    assert judged.verdict == "inconclusive"


def test_check_left_out_is_inconclusive(tmp_path):
    v, _ = verdict_of(report([], ran=["accounts"]), agreement(tmp_path), "NS-1")
    assert v.verdict == "inconclusive" and "remote-access" in v.reason


def test_stale_declaration_and_overall(tmp_path):
    loaded = agreement(tmp_path, '[[endpoints]]\nhost = "updates.vendor.example"\n')
    judged = apply_agreement(report([backdoor()]), loaded)
    assert judged.verdict == "fail"
    [stale] = judged.stale_declarations
    assert stale.entry == "endpoints[0]" and stale.line == line_of(
        write(tmp_path, BASE.replace("[policy]", '[[endpoints]]\nhost = "updates.vendor.'
                                     'example"\n\n[policy]', 1)).read_text(), "[[endpoints]]")
    assert judged.agreement is not None and judged.agreement.sha256 == loaded.sha256


# ------------------------------------------------------------------ end to end (make demo)

@pytest.fixture(scope="module")
def demo_out(tmp_path_factory) -> tuple[subprocess.CompletedProcess, Path]:
    work = tmp_path_factory.mktemp("demo-ag")
    image = work / "demo.bin"
    subprocess.run([str(REPO / "examples/sample-firmware/build.sh"), str(image)], check=True,
                   capture_output=True)
    out = work / "out"
    proc = spyproof("-q", "scan", str(image), "--out", str(out), "--agreement", str(EXAMPLE))
    return proc, out


def test_demo_has_failing_and_passing_clauses(demo_out):
    proc, out = demo_out
    assert proc.returncode == 1, proc.stderr  # a clause fails
    rep = json.loads((out / "report.json").read_text())
    verdicts = {v["id"]: v["verdict"] for v in rep["verdicts"]}
    assert verdicts["NS-1"] == "fail" and verdicts["NS-4"] == "pass"
    assert verdicts["NS-3"] == "pass"  # the telemetry host is declared
    assert rep["verdict"] == "fail"
    declared = [f for f in rep["findings"] if f["status"] == "declared"]
    assert declared and all(f["declared_by"].startswith("endpoints[") for f in declared)
    assert [s["entry"] for s in rep["stale_declarations"]] == ["remote_access[0]"]
    md = (out / "summary.md").read_text()
    assert "overall verdict" in md and "| NS-1 No undisclosed remote access | ❌ fail" in md


def test_fail_on_ignores_declared_findings(tmp_path):
    from spyproof.scan import gate_fails

    loaded = agreement(tmp_path, DECL_SSH)
    judged = apply_agreement(report([remote()]), loaded)
    assert judged.findings[0].status == "declared"
    assert not gate_fails(judged, "high")
    assert gate_fails(apply_agreement(report([remote()]), None), "high")
