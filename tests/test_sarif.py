"""findings.sarif: SARIF 2.1.0 that validates against the official OASIS schema (shipped in
tests/data/sarif/), with rules that carry help text and results located at paths inside
the image, so GitHub code scanning and other SARIF viewers show it."""

from __future__ import annotations

import base64
import hashlib
import json
import re
import shutil
import subprocess
import sys
from datetime import datetime
from pathlib import Path
from urllib.parse import unquote, unquote_to_bytes

import pytest
from jsonschema import Draft4Validator, FormatChecker
from jsonschema.validators import validator_for

from spyproof.checks.base import make_finding
from spyproof.models import (
    AgreementInfo,
    CheckRun,
    ClauseVerdict,
    Cvss,
    Evidence,
    ExtractedTree,
    FileEntry,
    Finding,
    ImageInfo,
    KevEntry,
    MatchBasis,
    Report,
    ScanWarning,
    ToolInfo,
    VexAnalysis,
    Vulnerability,
)
from spyproof.report.sarif import to_sarif, write_sarif

REPO = Path(__file__).resolve().parents[1]
SCHEMA = json.loads((Path(__file__).parent / "data/sarif/sarif-schema-2.1.0.json")
                    .read_text(encoding="utf-8"))
ROOTFS = "img.bin_extract/65536-999999.squashfs_v4_le_extract"
KERNEL = "img.bin_extract/0-65536.uimage_extract"
GENERATED_AT = "2026-01-02T03:04:05Z"

# --- validation against the official schema ----------------------------------------------
# jsonschema checks no "uri", "uri-reference" or "date-time" format without optional
# packages, so the schema's format assertions get RFC 3986 / RFC 3339 checkers here.
_URI_REF = re.compile(r"(?:[A-Za-z0-9\-._~!$&'()*+,;=:@/?#\[\]]|%[0-9A-Fa-f]{2})*")
_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*:")
_DATE_TIME = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:\d{2})")
FORMATS = FormatChecker()
FORMATS.checks("uri-reference")(lambda v: not isinstance(v, str) or bool(_URI_REF.fullmatch(v)))
FORMATS.checks("uri")(lambda v: not isinstance(v, str) or bool(
    _SCHEME.match(v) and _URI_REF.fullmatch(v)))
FORMATS.checks("date-time", raises=ValueError)(lambda v: not isinstance(v, str) or bool(
    _DATE_TIME.fullmatch(v) and datetime.fromisoformat(v.replace("Z", "+00:00"))))
VALIDATOR = validator_for(SCHEMA)(SCHEMA, format_checker=FORMATS)


def validate(text: str) -> dict:
    doc = json.loads(text)
    errors = sorted(VALIDATOR.iter_errors(doc), key=lambda e: list(e.absolute_path))
    assert not errors, "\n".join(f"{list(e.absolute_path)}: {e.message}" for e in errors[:10])
    return doc


def run_of(report: Report) -> dict:
    doc = validate(to_sarif(report))
    assert len(doc["runs"]) == 1
    return doc["runs"][0]


# --- building reports by hand ----------------------------------------------------------


def ev(path: str, tree: str = ROOTFS, **kw) -> Evidence:
    return Evidence(tree=tree, path=path, sha256=hashlib.sha256(path.encode(
        "utf-8", "surrogateescape")).hexdigest(), **kw)


def finding(rule: str = "telnetd-shell-without-login", *, check: str = "remote-access",
            severity: str = "critical", evidence: list[Evidence] | None = None,
            title: str | None = None, clause: str | None = "NS-1",
            source: str | None = "https://busybox.net/downloads/BusyBox.html#telnetd",
            explanation: str = "Anyone who reaches the port gets a root shell.",
            details: dict | None = None) -> Finding:
    if evidence is None:
        evidence = [ev("etc/init.d/rcS", line=7, text="/bin/telnetd -l /bin/sh -p 23")]
    return make_finding(check, rule, severity, title or f"{rule} fired", explanation,
                        evidence, clause=clause, details=details, source=source)


def vuln(vid: str = "CVE-2023-4911", *, severity: str | None = "high",
         scores: tuple[float, ...] = (7.8,), evidence: list[Evidence] | None = None,
         **kw) -> Vulnerability:
    if evidence is None:
        evidence = [ev("lib/ld.so.1", offset=173100, text="ld.so (GLIBC 2.36)")]
    return Vulnerability(
        id=vid, records=[f"osv:{vid}"], summary="Buffer overflow in ld.so tunables",
        severity=severity,
        cvss=[Cvss(version="3.1", vector="CVSS:3.1/AV:L/AC:L/PR:L/UI:N/S:U/C:H/I:H/A:H",
                   score=s, source=f"osv:{vid}") for s in scores],
        component="pkg:generic/glibc@2.36", component_name="glibc", component_version="2.36",
        matched=[MatchBasis(method="purl", record=f"osv:{vid}", version="2.36",
                            range="introduced 2.34, fixed 2.39")],
        fixed=["2.39"], evidence=evidence, **kw)


def report(findings=(), vulns=(), *, rootfs: str | None = ROOTFS, **kw) -> Report:
    trees = [ExtractedTree(id=ROOTFS, format="squashfs_v4_le", container="img.bin",
                           start_offset=65536, end_offset=999999, depth=0, is_rootfs=True),
             ExtractedTree(id=KERNEL, format="uimage", container="img.bin", start_offset=0,
                           end_offset=65536, depth=0)]
    return Report(tool=ToolInfo(version="0.1.0"), generated_at=GENERATED_AT,
                  image=ImageInfo(name="img.bin", size=999999, sha256="a" * 64,
                                  sha512="b" * 128),
                  limits={}, rootfs=rootfs, trees=trees, findings=list(findings),
                  vulnerabilities=list(vulns), **kw)


def result_for(run: dict, finding_id: str) -> dict:
    found = [r for r in run["results"] if r["properties"].get("findingId") == finding_id]
    assert len(found) == 1
    return found[0]


def rule_of(run: dict, result: dict) -> dict:
    rule = run["tool"]["driver"]["rules"][result["ruleIndex"]]
    assert rule["id"] == result["ruleId"]
    return rule


def primary(result: dict) -> dict:
    return result["locations"][0]["physicalLocation"]


def rich_report() -> Report:
    """Declared and open findings, VEX-analysed vulnerabilities, every kind of evidence."""
    declared = finding("ssh-root-password-login", severity="medium").model_copy(
        update={"status": "declared", "declared_by": "remote_access[0] (line 12)"})
    return report(
        [finding(), declared,
         finding("unclassified", check="endpoints", severity="info", clause="NS-3",
                 evidence=[ev("bin/busybox", offset=973216, text="192.168.0.20"),
                           ev("etc/config/network", offset=211, line=10,
                              text="option ipaddr '192.168.1.1'")]),
         finding("summary", check="engineering", severity="info", evidence=[],
                 details={"elf_files": 12, "unknown": None}),
         finding("kernel-banner", check="engineering", severity="low",
                 evidence=[ev("vmlinux", tree=KERNEL, offset=16, hex="4c696e75")])],
        [vuln(), vuln("CVE-2023-6246", counts=False, analysis=VexAnalysis(
            state="not_affected", justification="code_not_reachable",
            original_status="not_affected", detail="syslog is not used",
            format="openvex", source="vex.json#/statements/0"))],
        verdicts=[ClauseVerdict(id="NS-1", title="No undisclosed remote access",
                                wording="No undeclared remote access.", verdict="fail",
                                reason="telnetd hands out a root shell.")],
        verdict="fail")


# --- the official schema and the validator can fail ------------------------------------


def test_shipped_schema_is_the_official_one():
    assert SCHEMA["id"] == ("https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/"
                            "schemas/sarif-schema-2.1.0.json")
    assert validator_for(SCHEMA) is Draft4Validator  # what its $schema names
    Draft4Validator.check_schema(SCHEMA)


def test_validation_catches_invalid_sarif():
    doc = json.loads(to_sarif(rich_report()))
    doc["runs"][0]["results"][0]["level"] = "critical"
    assert not VALIDATOR.is_valid(doc)
    doc = json.loads(to_sarif(rich_report()))
    primary(doc["runs"][0]["results"][0])["artifactLocation"]["uri"] = "etc/init.d/rc S"
    assert not VALIDATOR.is_valid(doc)  # the uri-reference format is enforced
    doc = json.loads(to_sarif(rich_report()))
    doc["runs"][0]["invocations"][0]["endTimeUtc"] = "yesterday"
    assert not VALIDATOR.is_valid(doc)


# --- the demo image, scanned once with the CLI -----------------------------------------


@pytest.fixture(scope="module")
def demo_report(tmp_path_factory) -> Report:
    for tool in ("mkimage", "mksquashfs"):
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} is not installed")
    work = tmp_path_factory.mktemp("sarif-demo")
    image = work / "acme-cpe5g.bin"
    subprocess.run([str(REPO / "examples/sample-firmware/build.sh"), str(image)],
                   check=True, capture_output=True)
    out = work / "out"
    proc = subprocess.run([sys.executable, "-m", "spyproof.cli", "-q", "scan", str(image),
                           "--out", str(out)], capture_output=True, text=True)
    assert proc.returncode in (0, 1), proc.stderr  # 1: a gate failed, the report is whole
    return Report.model_validate_json((out / "report.json").read_text(encoding="utf-8"))


def test_demo_report_is_valid_sarif_with_every_finding_and_vulnerability(demo_report):
    assert demo_report.findings and demo_report.vulnerabilities
    run = run_of(demo_report)
    results = run["results"]
    assert [r["properties"]["findingId"] for r in results if "findingId" in r["properties"]] \
        == [f.id for f in demo_report.findings]
    assert [(r["properties"]["vulnerabilityId"], r["properties"]["component"])
            for r in results if "vulnerabilityId" in r["properties"]] \
        == [(v.id, v.component) for v in demo_report.vulnerabilities]
    rules = run["tool"]["driver"]["rules"]
    assert len({r["id"] for r in rules}) == len(rules)
    assert {r["id"] for r in rules} == {f"{f.check}/{f.rule}" for f in demo_report.findings} \
        | {f"vuln/{v.id}" for v in demo_report.vulnerabilities}
    for result in results:
        rule_of(run, result)
        # GitHub rejects an upload with a result that has no location or an empty uri.
        assert result["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]


def test_demo_paths_are_relative_to_the_root_filesystem(demo_report):
    run = run_of(demo_report)
    shadow = next(f for f in demo_report.files if f.path == "etc/shadow")
    artifacts = {(a["location"].get("uriBaseId"), a["location"]["uri"]): a
                 for a in run["artifacts"]}
    assert artifacts[("IMAGEROOT", "etc/shadow")]["hashes"] == {"sha-256": shadow.sha256}
    assert artifacts[("IMAGEROOT", "etc/shadow")]["length"] == shadow.size
    for result in run["results"]:
        for loc in result["locations"] + result.get("relatedLocations", []):
            art = loc["physicalLocation"]["artifactLocation"]
            assert run["artifacts"][art["index"]]["location"]["uri"] == art["uri"]
            assert not art["uri"].startswith(("/", demo_report.rootfs))
    assert run["originalUriBaseIds"]["IMAGEROOT"]["uri"] == demo_report.rootfs + "/"


def test_demo_sarif_is_deterministic_and_written_atomically(demo_report, tmp_path):
    text = to_sarif(demo_report)
    assert text == to_sarif(Report.model_validate_json(demo_report.model_dump_json()))
    target = tmp_path / "findings.sarif"
    write_sarif(demo_report, target)
    assert target.read_text(encoding="utf-8") == text
    assert [p.name for p in tmp_path.iterdir()] == ["findings.sarif"]


# --- reports built by hand -------------------------------------------------------------


def test_empty_report_is_valid_with_no_rules_or_results():
    run = run_of(report())
    assert run["results"] == [] and run["tool"]["driver"]["rules"] == []
    driver = run["tool"]["driver"]
    assert (driver["name"], driver["version"], driver["semanticVersion"]) == \
        ("spyproof", "0.1.0", "0.1.0")
    assert driver["informationUri"].startswith("https://")
    assert run["invocations"] == [{"executionSuccessful": True, "endTimeUtc": GENERATED_AT}]
    assert run["artifacts"][0]["roles"] == ["analysisTarget"]


def test_incomplete_scan_is_an_unsuccessful_invocation_with_its_notes():
    r = report(complete=False,
               warnings=[ScanWarning(code="limit.total_bytes", message="stopped at 1 GiB",
                                     path="squashfs-root")],
               checks=[CheckRun(id="keys-and-credentials", title="Keys", examined=3,
                                findings=0, skipped=["etc/huge.pem: larger than 16 MiB"])])
    inv = run_of(r)["invocations"][0]
    assert inv["executionSuccessful"] is False
    notes = inv["toolExecutionNotifications"]
    assert [(n["level"], n["message"]["text"]) for n in notes] == [
        ("warning", "stopped at 1 GiB"),
        ("note", "keys-and-credentials: skipped etc/huge.pem: larger than 16 MiB")]
    assert notes[0]["properties"] == {"code": "limit.total_bytes", "path": "squashfs-root"}


def test_rich_report_is_valid():
    run = run_of(rich_report())
    assert len(run["results"]) == 7


@pytest.mark.parametrize(("severity", "level", "security_severity"), [
    ("critical", "error", "9.5"), ("high", "error", "8.0"), ("medium", "warning", "5.5"),
    ("low", "note", "3.0"), ("info", "note", "0.0")])
def test_severity_maps_to_level_and_github_security_severity(severity, level,
                                                              security_severity):
    f = finding(severity=severity)
    run = run_of(report([f]))
    result = result_for(run, f.id)
    rule = rule_of(run, result)
    assert result["level"] == level
    assert rule["defaultConfiguration"]["level"] == level
    assert rule["properties"]["security-severity"] == security_severity
    assert result["properties"]["severity"] == severity


def test_one_rule_per_check_and_rule_with_help_text():
    root = finding(title="Same title", evidence=[ev("etc/init.d/rcS", line=7)])
    other = finding(title="Same title", severity="high", evidence=[ev("etc/inittab", line=2)])
    alone = finding("weak-hash", check="accounts", severity="medium", clause="NS-6",
                    title="Account 'root' uses *weak* md5_crypt", source="not a URL")
    run = run_of(report([root, other, alone]))
    rules = run["tool"]["driver"]["rules"]
    assert [r["id"] for r in rules] == ["accounts/weak-hash",
                                        "remote-access/telnetd-shell-without-login"]
    telnet = rules[1]
    assert {result_for(run, f.id)["ruleIndex"] for f in (root, other)} == {1}
    assert telnet["name"] == "RemoteAccessTelnetdShellWithoutLogin"
    assert telnet["shortDescription"] == {"text": "Same title"}
    assert telnet["fullDescription"] == {"text": root.explanation}
    assert telnet["helpUri"] == root.source
    assert telnet["defaultConfiguration"]["level"] == "error"  # the most severe finding
    assert telnet["properties"]["tags"] == ["security", "remote-access", "NS-1"]
    help_text = telnet["help"]["text"]
    for part in (root.explanation, "Clause NS-1: No undisclosed remote access",
                 f"Source: {root.source}", "rule: telnetd-shell-without-login"):
        assert part in help_text
    assert f"<{root.source}>" in telnet["help"]["markdown"]
    weak = rules[0]
    assert "helpUri" not in weak  # a source that is no URL stays in the text only
    assert "Source: not a URL" in weak["help"]["text"]
    assert r"\*weak\* md5\_crypt" in weak["help"]["markdown"]
    assert weak["properties"]["tags"] == ["security", "accounts", "NS-6"]


def test_rule_of_findings_with_different_titles_is_named_after_the_rule():
    a = finding("unsafe-calls", check="engineering", severity="low", title="busybox imports 5",
                evidence=[ev("bin/busybox")])
    b = finding("unsafe-calls", check="engineering", severity="info", title="libz imports 2",
                evidence=[ev("lib/libz.so.1")])
    r = report([a, b], checks=[CheckRun(id="engineering", title="Secure engineering",
                                        examined=2, findings=2)])
    run = run_of(r)
    rule = run["tool"]["driver"]["rules"][0]
    assert rule["shortDescription"] == {"text": "Unsafe calls (Secure engineering)"}
    assert rule["properties"]["security-severity"] == "3.0"
    assert [result_for(run, f.id)["level"] for f in (a, b)] == ["note", "note"]


def test_uris_are_paths_inside_the_image():
    fs = [finding(evidence=[ev("etc/passwd", line=1)]),
          finding("kernel", evidence=[ev("vmlinux", tree=KERNEL, offset=64)]),
          finding("odd", evidence=[ev("etc/a b%c#d?e/f:g;h", line=1)]),
          finding("leading-slash", evidence=[ev("/usr/bin/agent", line=2)])]
    run = run_of(report(fs, files=[FileEntry(tree=ROOTFS, path="etc/passwd", kind="file",
                                             size=321, mode="0644", sha256="c" * 64)]))
    locs = [primary(result_for(run, f.id))["artifactLocation"] for f in fs]
    assert [(a["uriBaseId"], a["uri"]) for a in locs] == [
        ("IMAGEROOT", "etc/passwd"),
        ("EXTRACTED", f"{KERNEL}/vmlinux"),
        ("IMAGEROOT", "etc/a%20b%25c%23d%3Fe/f%3Ag;h"),
        ("IMAGEROOT", "usr/bin/agent")]
    assert unquote(locs[2]["uri"]) == "etc/a b%c#d?e/f:g;h"
    bases = run["originalUriBaseIds"]
    assert bases["IMAGEROOT"] == {"uri": ROOTFS + "/", "uriBaseId": "EXTRACTED",
                                  "description": bases["IMAGEROOT"]["description"]}
    assert "uri" not in bases["EXTRACTED"]
    passwd = run["artifacts"][locs[0]["index"]]
    assert passwd["location"] == {"uri": "etc/passwd", "uriBaseId": "IMAGEROOT"}
    assert passwd["hashes"] == {"sha-256": fs[0].evidence[0].sha256}
    assert passwd["length"] == 321
    assert len(run["artifacts"]) == 1 + len(fs)


def test_without_a_root_filesystem_every_path_is_tree_qualified():
    f = finding(evidence=[ev("etc/passwd", line=1)])
    run = run_of(report([f], rootfs=None))
    assert primary(result_for(run, f.id))["artifactLocation"] == {
        "uri": f"{ROOTFS}/etc/passwd", "uriBaseId": "EXTRACTED", "index": 1}
    assert set(run["originalUriBaseIds"]) == {"EXTRACTED"}


def test_regions_follow_what_the_evidence_knows():
    line = ev("etc/init.d/rcS", line=7, text="telnetd -l /bin/sh")
    binary = ev("bin/busybox", offset=16, hex="7f454c46")
    string = ev("bin/busybox", offset=973216, text="192.168.0.20")
    both = ev("etc/dnsmasq.conf", offset=67, line=3, text="server=8.8.8.8")
    bad = ev("bin/x", offset=5, line=0, hex="zz")
    regions = [primary(result_for(run_of(report([f])), f.id)).get("region")
               for f in (finding(evidence=[e]) for e in (line, binary, string, both, bad))]
    assert regions == [
        {"startLine": 7, "snippet": {"text": "telnetd -l /bin/sh"}},
        {"byteOffset": 16, "byteLength": 4,
         "snippet": {"binary": base64.b64encode(b"\x7fELF").decode()}},
        {"byteOffset": 973216, "snippet": {"text": "192.168.0.20"}},
        {"startLine": 3, "snippet": {"text": "server=8.8.8.8"}},
        {"byteOffset": 5}]


def test_line_wins_over_offset_and_the_offset_is_kept_in_the_evidence():
    f = finding(evidence=[ev("etc/dnsmasq.conf", offset=67, line=3, text="server=8.8.8.8",
                             rule="extract/ipv4")])
    loc = result_for(run_of(report([f])), f.id)["locations"][0]
    assert loc["properties"]["evidence"] == f.evidence[0].model_dump(exclude_none=True)
    assert loc["properties"]["evidence"]["offset"] == 67


def test_finding_without_line_or_offset_keeps_its_text():
    f = finding("unsafe-calls", check="engineering", severity="low",
                evidence=[ev("lib/libc.so.6", text="memcpy strcpy")])
    result = result_for(run_of(report([f])), f.id)
    loc = result["locations"][0]
    assert "region" not in loc["physicalLocation"]
    assert loc["message"] == {"text": "memcpy strcpy"}
    assert result["properties"]["sha256"] == f.evidence[0].sha256
    assert "Evidence: lib/libc.so.6." in result["message"]["text"]


def test_finding_without_evidence_is_located_at_the_image():
    f = finding("summary", check="engineering", severity="info", evidence=[],
                details={"elf_files": 12, "unknown": None})
    run = run_of(report([f]))
    result = result_for(run, f.id)
    assert result["locations"][0]["physicalLocation"] == {
        "artifactLocation": {"uri": "img.bin", "index": 0}}
    assert run["artifacts"][0]["hashes"] == {"sha-256": "a" * 64, "sha-512": "b" * 128}
    assert result["properties"]["details"] == {"elf_files": 12, "unknown": None}


def test_further_evidence_becomes_related_locations():
    f = finding(evidence=[ev("etc/shadow", line=3), ev("etc/passwd", line=3),
                          ev("etc/group", line=1), ev("etc/gshadow", line=1)])
    result = result_for(run_of(report([f])), f.id)
    assert [loc["physicalLocation"]["artifactLocation"]["uri"]
            for loc in result["locations"]] == ["etc/shadow"]
    assert [(loc["id"], loc["physicalLocation"]["artifactLocation"]["uri"])
            for loc in result["relatedLocations"]] == [
        (1, "etc/passwd"), (2, "etc/group"), (3, "etc/gshadow")]
    assert result["message"]["text"].endswith(
        "Evidence: etc/shadow:3, etc/passwd:3, etc/group:1 (+1 more).")


def test_result_message_fingerprints_and_properties():
    f = finding()
    result = result_for(run_of(report([f])), f.id)
    assert result["message"]["text"] == (
        "telnetd-shell-without-login fired. Anyone who reaches the port gets a root shell. "
        "Severity critical, clause NS-1. Evidence: etc/init.d/rcS:7.")
    digest = hashlib.sha256(f.id.encode()).hexdigest()[:16]
    assert result["partialFingerprints"] == {"primaryLocationLineHash": f"{digest}:1",
                                             "spyproofId/v1": f.id}
    assert result["properties"] == {
        "findingId": f.id, "check": f.check, "rule": f.rule, "severity": "critical",
        "clause": "NS-1", "status": "open", "source": f.source,
        "sha256": f.evidence[0].sha256}
    assert "suppressions" not in result


def test_declared_finding_is_an_accepted_external_suppression():
    f = finding().model_copy(update={"status": "declared",
                                     "declared_by": "remote_access[0] (line 12)"})
    result = result_for(run_of(report([f])), f.id)
    assert result["suppressions"] == [{
        "kind": "external", "status": "accepted",
        "justification": "Declared by the agreement: remote_access[0] (line 12)"}]
    assert result["properties"]["declaredBy"] == "remote_access[0] (line 12)"
    assert "Declared by the agreement (remote_access[0] (line 12))" in \
        result["message"]["text"]


def test_vulnerability_result_and_rule():
    v = vuln(scores=(7.8, 8.8), kev=KevEntry(date_added="2023-11-21"),
             references=["https://www.qualys.com/2023/10/03/cve-2023-4911/x.txt"])
    run = run_of(report(vulns=[v]))
    result = run["results"][0]
    rule = rule_of(run, result)
    assert result["ruleId"] == "vuln/CVE-2023-4911" and result["level"] == "error"
    assert primary(result)["region"] == {"byteOffset": 173100,
                                         "snippet": {"text": "ld.so (GLIBC 2.36)"}}
    assert primary(result)["artifactLocation"]["uri"] == "lib/ld.so.1"
    assert result["message"]["text"].startswith(
        "CVE-2023-4911 in glibc 2.36: Buffer overflow in ld.so tunables. Severity high "
        "(CVSS 8.8), clause NS-5. Known exploited (CISA KEV since 2023-11-21).")
    assert result["properties"]["kev"] == {"date_added": "2023-11-21"}
    assert rule["helpUri"] == "https://nvd.nist.gov/vuln/detail/CVE-2023-4911"
    assert rule["properties"]["security-severity"] == "8.8"
    assert rule["properties"]["tags"] == ["security", "vulnerability", "NS-5",
                                          "known-exploited"]
    assert rule["shortDescription"]["text"] == \
        "CVE-2023-4911: Buffer overflow in ld.so tunables"
    for part in ("Affects glibc 2.36.", "Fixed in: 2.39", "CISA KEV since 2023-11-21",
                 "Reference: https://www.qualys.com/2023/10/03/cve-2023-4911/x.txt"):
        assert part in rule["help"]["text"]


def test_vulnerability_severity_without_cvss_and_without_any_severity():
    unscored = vuln("GHSA-aaaa-bbbb-cccc", severity="MODERATE", scores=())
    unknown = vuln("OSV-2024-1", severity=None, scores=(), evidence=[])
    run = run_of(report(vulns=[unscored, unknown]))
    rules = {r["id"]: r for r in run["tool"]["driver"]["rules"]}
    ghsa = rules["vuln/GHSA-aaaa-bbbb-cccc"]
    assert ghsa["properties"]["security-severity"] == "5.5"
    assert ghsa["helpUri"] == "https://osv.dev/vulnerability/GHSA-aaaa-bbbb-cccc"
    assert "security-severity" not in rules["vuln/OSV-2024-1"]["properties"]
    assert [r["level"] for r in run["results"]] == ["warning", "warning"]
    assert run["results"][1]["locations"][0]["physicalLocation"]["artifactLocation"] == \
        {"uri": "img.bin", "index": 0}


def test_vex_analysed_vulnerabilities():
    not_affected = vuln(counts=False, analysis=VexAnalysis(
        state="not_affected", justification="code_not_reachable",
        original_status="not_affected",
        original_justification="vulnerable_code_not_in_execute_path",
        detail="GLIBC_TUNABLES is ignored for setuid programs.", format="openvex",
        source="vex.json#/statements/0"))
    exploitable = vuln("CVE-2023-6246", analysis=VexAnalysis(
        state="exploitable", original_status="affected", format="cyclonedx",
        source="vex.cdx.json#/vulnerabilities/1"))
    run = run_of(report(vulns=[not_affected, exploitable]))
    first, second = run["results"]
    assert first["suppressions"] == [{
        "kind": "external", "status": "accepted",
        "justification": "VEX not_affected (code_not_reachable): GLIBC_TUNABLES is ignored "
                         "for setuid programs [vex.json#/statements/0]"}]
    assert first["properties"]["vex"]["state"] == "not_affected"
    assert first["properties"]["counts"] is False
    assert "suppressions" not in second  # analysed, still counts
    assert second["properties"]["vex"]["state"] == "exploitable"
    assert "VEX: exploitable [vex.cdx.json#/vulnerabilities/1]." in second["message"]["text"]


def test_unicode_and_control_characters_in_matched_text():
    text = "pw=\x00\x07\x1b[31m\u202eevil\u2028 ключ 🔑 \\ \"q\" \udcff"
    name = "etc/ünï côdé/\u202efile\x01"
    undecodable = "bin/bad\udcffname"
    # make_finding cannot digest a lone surrogate, so the finding is built directly, as a
    # report read back from JSON could hold one.
    f = Finding(id="remote-access/odd-bytes/0123456789ab", check="remote-access",
                rule="odd-bytes", severity="high", title="odd bytes", explanation="x",
                evidence=[ev(name, line=2, text=text), ev(undecodable, offset=3, text="x")])
    out = to_sarif(report([f]))
    out.encode("utf-8")  # strict: no lone surrogate reaches the file
    run = validate(out)["runs"][0]
    result = result_for(run, f.id)
    assert primary(result)["region"]["snippet"]["text"] == text.replace("\udcff", "\ufffd")
    uri = primary(result)["artifactLocation"]["uri"]
    assert unquote(uri, errors="strict") == name
    related = result["relatedLocations"][0]["physicalLocation"]["artifactLocation"]["uri"]
    assert unquote_to_bytes(related) == b"bin/bad\xffname"  # the name's own bytes


def test_run_properties_carry_verdicts_and_image_digests():
    r = rich_report().model_copy(update={"agreement": AgreementInfo(
        path="agreement.yaml", sha256="d" * 64, vendor="Acme", product="CPE-5G")})
    props = run_of(r)["properties"]
    assert props["verdict"] == "fail"
    assert props["verdicts"]["NS-1"]["verdict"] == "fail"
    assert props["verdicts"]["NS-1"]["reason"] == "telnetd hands out a root shell."
    assert props["image"] == {"name": "img.bin", "size": 999999, "sha256": "a" * 64,
                              "sha512": "b" * 128}
    assert props["agreement"]["sha256"] == "d" * 64
    assert props["generatedAt"] == GENERATED_AT and props["rootfs"] == ROOTFS


def test_clause_titles_come_from_the_verdicts():
    f = finding()
    r = report([f], verdicts=[ClauseVerdict(id="NS-1", title="Agreed wording of NS-1",
                                            wording="…", verdict="fail", reason="…")])
    rule = run_of(r)["tool"]["driver"]["rules"][0]
    assert "Clause NS-1: Agreed wording of NS-1" in rule["help"]["text"]


def test_same_report_same_bytes_sorted_keys_one_timestamp():
    r = rich_report()
    text = to_sarif(r)
    assert text == to_sarif(r)
    assert text == to_sarif(Report.model_validate_json(r.model_dump_json()))
    assert text == json.dumps(json.loads(text), indent=2, sort_keys=True,
                              ensure_ascii=False) + "\n"
    stamps = set(re.findall(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z?", text))
    assert stamps == {GENERATED_AT}
    later = r.model_copy(update={"generated_at": "2026-01-03T00:00:00Z"})
    assert to_sarif(later) != text
