"""Vulnerabilities in a scan, end to end on the bundled sample firmware: the knowledge
base choice (--db, $SPYPROOF_DB, the bundled sample feed and its label), the report, the
CycloneDX SBOM and standalone VEX (schema-valid), VEX input marking without hiding, and
bad --db / --vex input as one line and exit 2 before any unpacking."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from cyclonedx.schema import SchemaVersion
from cyclonedx.validation.json import JsonStrictValidator

REPO = Path(__file__).resolve().parents[1]
DATA = Path(__file__).resolve().parent / "data" / "vulns"


def spyproof(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "spyproof.cli", "-q", *args],
                          capture_output=True, text=True, timeout=600,
                          env={**os.environ, **(env or {})})


def one_error_line(proc: subprocess.CompletedProcess) -> str:
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    return lines[0]


@pytest.fixture(scope="module")
def demo_image(tmp_path_factory) -> Path:
    image = tmp_path_factory.mktemp("demo") / "demo.bin"
    subprocess.run([str(REPO / "examples/sample-firmware/build.sh"), str(image)], check=True,
                   capture_output=True)
    return image


@pytest.fixture(scope="module")
def sample_scan(demo_image, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("scan") / "out"
    proc = spyproof("scan", str(demo_image), "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    return out


def load(out: Path, name: str = "report.json") -> dict:
    return json.loads((out / name).read_text())


def by_id(report: dict) -> dict[tuple[str, str], dict]:
    return {(v["component_name"], v["id"]): v for v in report["vulnerabilities"]}


# --------------------------------------------------------------- the bundled sample feed

def test_sample_feed_is_used_and_labelled(sample_scan):
    report = load(sample_scan)
    kb = report["knowledge_base"]
    assert kb["sample_only"] is True
    assert kb["location"] == "bundled sample feed"
    assert any("bundled sample feed" in n for n in kb["notes"])
    assert report["vulnerabilities"]
    assert all(v["sample"] for v in report["vulnerabilities"])


def test_real_matches_on_the_demo_firmware(sample_scan):
    vulns = by_id(load(sample_scan))
    # Looney Tunables: glibc 2.34–2.38, in CISA KEV since 2023-11-21
    lt = vulns[("glibc", "CVE-2023-4911")]
    assert lt["kev"]["date_added"] == "2023-11-21"
    assert lt["component"] == "pkg:generic/glibc@2.36"
    assert lt["matched"][0]["method"] == "purl"
    assert lt["severity"] == "high" and lt["cvss"][0]["vector"].startswith("CVSS:3.1/")
    # Terrapin: dropbear through 2022.83
    assert ("dropbear", "CVE-2023-48795") in vulns
    # nothing for versions outside the published ranges
    assert ("openssl", "CVE-2014-0160") not in vulns
    assert ("dnsmasq", "CVE-2017-14491") not in vulns


def test_each_vulnerability_carries_its_component_evidence(sample_scan):
    report = load(sample_scan)
    files = {(f["tree"], f["path"]): f for f in report["files"]}
    for v in report["vulnerabilities"]:
        assert v["evidence"], v["id"]
        for ev in v["evidence"]:
            assert ev["sha256"] == files[(ev["tree"], ev["path"])]["sha256"]
            assert ev["rule"] and (ev["offset"] is not None or ev["line"] is not None)
        assert v["records"] and v["references"]


def test_sbom_and_vex_are_valid_cyclonedx_with_vulnerabilities(sample_scan):
    report = load(sample_scan)
    validator = JsonStrictValidator(SchemaVersion.V1_6)
    for name in ("sbom.cdx.json", "vex.cdx.json"):
        text = (sample_scan / name).read_text()
        assert validator.validate_str(text) is None, name
    sbom, vex = load(sample_scan, "sbom.cdx.json"), load(sample_scan, "vex.cdx.json")
    refs = {c["bom-ref"] for c in sbom["components"]}
    assert len(sbom["vulnerabilities"]) == len(report["vulnerabilities"])
    for v in sbom["vulnerabilities"]:
        assert v["affects"][0]["ref"] in refs
        assert v["ratings"] and v["source"]["name"] in ("NVD", "OSV")
    kev = [v for v in sbom["vulnerabilities"] if v["id"] == "CVE-2023-4911"][0]
    assert {"name": "spyproof:kev:date_added", "value": "2023-11-21"} in kev["properties"]
    link = f"urn:cdx:{sbom['serialNumber'].removeprefix('urn:uuid:')}/1#"
    assert vex["vulnerabilities"] and "components" not in vex
    assert all(v["affects"][0]["ref"].startswith(link) for v in vex["vulnerabilities"])


def test_same_input_same_vulnerability_output(demo_image, sample_scan, tmp_path):
    out = tmp_path / "again"
    assert spyproof("scan", str(demo_image), "--out", str(out)).returncode == 0
    a, b = load(sample_scan), load(out)
    assert a["vulnerabilities"] == b["vulnerabilities"]
    assert a["knowledge_base"] == b["knowledge_base"]
    for name in ("vex.cdx.json",):
        x, y = load(sample_scan, name), load(out, name)
        x["metadata"].pop("timestamp"), y["metadata"].pop("timestamp")
        assert x == y


# --------------------------------------------------------------- an imported knowledge base

@pytest.fixture(scope="module")
def test_kb(tmp_path_factory) -> Path:
    from spyproof.vulns import import_path, open_store

    db = tmp_path_factory.mktemp("kb") / "kb.sqlite"
    with open_store(db) as store:
        for p in (DATA / "nvd" / "nvdcve-2.0-sample.json", DATA / "osv",
                  DATA / "kev" / "known_exploited_vulnerabilities.json",
                  DATA / "epss" / "epss_scores-2024-04-01.csv"):
            import_path(store, p)
    return db


def test_db_option_uses_that_knowledge_base_only(demo_image, test_kb, tmp_path):
    out = tmp_path / "o"
    proc = spyproof("scan", str(demo_image), "--out", str(out), "--db", str(test_kb))
    assert proc.returncode == 0, proc.stderr
    report = load(out)
    kb = report["knowledge_base"]
    assert kb["sample_only"] is False and kb["location"].endswith("kb.sqlite")
    assert {s["name"] for s in kb["sources"]} == {"osv", "nvd", "kev", "epss"}
    # the test KB knows Terrapin (NVD: dropbear ≤ 2022.83) and nothing about glibc
    assert sorted(by_id(report)) == [("dropbear", "CVE-2023-48795")]
    v = report["vulnerabilities"][0]
    assert v["sample"] is False and v["matched"][0]["method"] == "cpe"
    assert v["epss"]["date"] == "2024-04-01"


def test_spyproof_db_environment_variable(demo_image, test_kb, tmp_path):
    out = tmp_path / "o"
    proc = spyproof("scan", str(demo_image), "--out", str(out),
                    env={"SPYPROOF_DB": str(test_kb)})
    assert proc.returncode == 0, proc.stderr
    assert load(out)["knowledge_base"]["sample_only"] is False


def test_missing_db_is_one_line_before_unpacking(demo_image, tmp_path):
    proc = spyproof("scan", str(demo_image), "--out", str(tmp_path / "o"), "--db",
                    str(tmp_path / "nope.sqlite"))
    assert proc.returncode == 2
    assert "no knowledge base there" in one_error_line(proc)
    assert not (tmp_path / "o").exists()


def test_no_vulns_option(demo_image, tmp_path):
    out = tmp_path / "o"
    assert spyproof("scan", str(demo_image), "--out", str(out), "--no-vulns").returncode == 0
    report = load(out)
    assert report["vulnerabilities"] == [] and report["knowledge_base"] is None
    assert not (out / "vex.cdx.json").exists()
    assert "vulnerabilities" not in load(out, "sbom.cdx.json")


# --------------------------------------------------------------- VEX input

def test_openvex_not_affected_marks_without_hiding(demo_image, tmp_path):
    vex = tmp_path / "triage.openvex.json"
    vex.write_text(json.dumps({
        "@context": "https://openvex.dev/ns/v0.2.0", "@id": "https://example.org/vex/1",
        "author": "Acme PSIRT", "timestamp": "2026-01-01T00:00:00Z", "version": 1,
        "statements": [
            {"vulnerability": {"name": "CVE-2023-4911"},
             "products": [{"@id": "pkg:generic/glibc@2.36"}],
             "status": "not_affected", "justification": "vulnerable_code_not_in_execute_path",
             "impact_statement": "no setuid binaries in the image"},
            {"vulnerability": {"name": "CVE-2023-48795"},
             "products": [{"@id": "pkg:generic/dropbear"}], "status": "affected",
             "action_statement": "upgrade to 2024.84"}]}))
    out = tmp_path / "o"
    proc = spyproof("scan", str(demo_image), "--out", str(out), "--vex", str(vex))
    assert proc.returncode == 0, proc.stderr
    report = load(out)
    vulns = by_id(report)
    lt = vulns[("glibc", "CVE-2023-4911")]
    assert lt["counts"] is False
    assert lt["analysis"]["state"] == "not_affected"
    assert lt["analysis"]["justification"] == "code_not_reachable"
    assert lt["analysis"]["original_justification"] == "vulnerable_code_not_in_execute_path"
    terrapin = vulns[("dropbear", "CVE-2023-48795")]
    assert terrapin["counts"] is True and terrapin["analysis"]["state"] == "exploitable"
    untouched = vulns[("glibc", "CVE-2023-6246")]
    assert untouched["counts"] is True and untouched["analysis"] is None
    assert report["knowledge_base"]["vex"] == [str(vex)]
    sbom_lt = [v for v in load(out, "sbom.cdx.json")["vulnerabilities"]
               if v["id"] == "CVE-2023-4911"][0]
    assert sbom_lt["analysis"]["state"] == "not_affected"
    assert sbom_lt["analysis"]["justification"] == "code_not_reachable"


def test_own_vex_output_round_trips_as_input(demo_image, sample_scan, tmp_path):
    vex = load(sample_scan, "vex.cdx.json")
    for v in vex["vulnerabilities"]:
        if v["id"] == "CVE-2023-45853":  # zlib minizip: the image has no minizip
            v["analysis"] = {"state": "not_affected", "justification": "code_not_present",
                             "detail": "minizip is not built"}
    triage = tmp_path / "triage.cdx.json"
    triage.write_text(json.dumps(vex))
    out = tmp_path / "o"
    proc = spyproof("scan", str(demo_image), "--out", str(out), "--vex", str(triage))
    assert proc.returncode == 0, proc.stderr
    vulns = by_id(load(out))
    z = vulns[("zlib", "CVE-2023-45853")]
    assert (z["counts"], z["analysis"]["state"]) == (False, "not_affected")
    assert sum(1 for v in vulns.values() if v["analysis"]) == 1


def test_bad_vex_is_one_line_and_exit_2_before_unpacking(demo_image, tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text('{"statements": [')
    proc = spyproof("scan", str(demo_image), "--out", str(tmp_path / "o"), "--vex", str(bad))
    assert proc.returncode == 2
    assert "bad.json" in one_error_line(proc)
    assert not (tmp_path / "o").exists()
