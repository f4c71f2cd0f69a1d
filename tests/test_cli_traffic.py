"""``spyproof traffic`` and ``spyproof flows`` end to end: real captures (Zeek's wikipedia
trace, Suricata's DoH-over-HTTP/2 trace), an agreement, a firmware report, bad input."""

from __future__ import annotations

import csv
import io
import json
import shutil
import subprocess
from pathlib import Path

import pytest

from cli_util import one_line_error, spyproof

REPO = Path(__file__).resolve().parents[1]
DATA = REPO / "tests" / "data" / "traffic"
WIKI = DATA / "wikipedia.pcap"
CLIENT = "141.142.220.118"  # the browser in Zeek's wikipedia trace

AGREEMENT = """\
schema_version = "1"

[agreement]
vendor = "Wiki Browser Co"
product = "Kiosk"

[[endpoints]]
host = "*.wikimedia.org"
ports = [80]
protocol = "http"
purpose = "content"
"""


@pytest.fixture(scope="module")
def agreement(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("agreement") / "agreement.toml"
    path.write_text(AGREEMENT)
    return path


def test_flows_json_and_csv_give_zeeks_34_connections(tmp_path):
    proc = spyproof("flows", str(WIKI), "--format", "json", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    rows = json.loads(proc.stdout)
    assert len(rows) == 34
    assert sum(r["proto"] == "tcp" for r in rows) == 10
    http = [r for r in rows if r["http_host"] == "www.wikipedia.org"]
    assert http and http[0]["orig_h"] == CLIENT and http[0]["community_id"].startswith("1:")
    out = tmp_path / "flows.csv"
    assert spyproof("flows", str(WIKI), "-o", str(out), cwd=tmp_path).returncode == 0
    table = list(csv.DictReader(io.StringIO(out.read_text())))
    assert [r["uid"] for r in table] == [r["uid"] for r in rows]


def test_undeclared_destination_fails_ns3_with_packet_evidence(tmp_path, agreement):
    proc = spyproof("traffic", str(WIKI), "--device", CLIENT, "--agreement", str(agreement),
                    "--out", "out", cwd=tmp_path)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    ns3 = {v["id"]: v for v in report["verdicts"]}["NS-3"]
    assert ns3["verdict"] == "fail"
    undeclared = [f for f in report["findings"] if f["check"] == "traffic"
                  and f["severity"] == "high"]
    assert undeclared and all(f["clause"] == "NS-3" for f in undeclared)
    assert any("www.wikipedia.org" in json.dumps(f) for f in undeclared)
    assert not any("upload.wikimedia.org" in f["title"] for f in undeclared)  # declared
    ev = undeclared[0]["evidence"][0]
    assert ev["path"].endswith("wikipedia.pcap") and len(ev["sha256"]) == 64
    assert ev["packet"] >= 1 and ev["time"].startswith("2011-03-18T") and ev["rule"]
    assert ev["offset"] >= 24  # after the pcap file header
    traffic = report["traffic"]
    assert traffic["flows"] == 34 and traffic["inputs"][0]["kind"] == "pcap"
    assert {c["id"] for c in report["checks"]} == {"traffic"}
    sarif = json.loads((tmp_path / "out" / "findings.sarif").read_text())
    assert any(r["ruleId"].startswith("traffic") or "traffic" in json.dumps(r)
               for r in sarif["runs"][0]["results"])
    assert "www.wikipedia.org" in (tmp_path / "out" / "report.html").read_text()


def test_same_input_same_report(tmp_path, agreement):
    for name in ("a", "b"):
        spyproof("-q", "traffic", str(WIKI), "--device", CLIENT, "--agreement",
                 str(agreement), "--out", name, cwd=tmp_path)
    a = json.loads((tmp_path / "a" / "report.json").read_text())
    b = json.loads((tmp_path / "b" / "report.json").read_text())
    a.pop("generated_at"), b.pop("generated_at")
    assert a == b


def test_doh_over_http2_is_found(tmp_path):
    capture = DATA / "app" / "dns-over-http2.pcap"  # Suricata's DoH over cleartext HTTP/2
    proc = spyproof("traffic", str(capture), "--device", "10.200.30.140", "--out", "out",
                    cwd=tmp_path)
    assert proc.returncode in (0, 1), proc.stderr
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    doh = [f for f in report["findings"] if f["check"] == "traffic"
           and f["rule"] == "dns-over-https"]
    assert doh, [f["rule"] for f in report["findings"]]
    text = json.dumps(doh)
    assert "www.gstatic.com" in text and "nav-edge.smartscreen.microsoft.com" in text
    assert "8.8.4.4" in text


def test_with_a_firmware_report_the_findings_join_one_report(tmp_path, agreement):
    subprocess.run([str(REPO / "examples/sample-firmware/build.sh"), str(tmp_path / "fw.bin")],
                   check=True, capture_output=True)
    assert spyproof("-q", "scan", "fw.bin", "--out", "scan", cwd=tmp_path).returncode == 0
    proc = spyproof("traffic", str(WIKI), "--device", CLIENT, "--scan", "scan/report.json",
                    "--agreement", str(agreement), "--out", "both", cwd=tmp_path)
    assert proc.returncode == 1, proc.stderr
    report = json.loads((tmp_path / "both" / "report.json").read_text())
    checks = {c["id"] for c in report["checks"]}
    assert "traffic" in checks and "endpoints" in checks
    assert report["files"] and report["traffic"]["flows"] == 34
    facts = report["traffic"]["facts"]
    assert "crosscheck" in json.dumps(facts).lower() or "firmware" in json.dumps(facts).lower()


def test_zeek_logs_are_an_input_too(tmp_path, agreement):
    proc = spyproof("traffic", str(DATA / "zeek" / "wikipedia"), "--device", CLIENT,
                    "--agreement", str(agreement), "--out", "out", cwd=tmp_path)
    assert proc.returncode == 1, proc.stderr
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    assert {i["kind"] for i in report["traffic"]["inputs"]} == {"zeek"}
    assert any("www.wikipedia.org" in json.dumps(f) for f in report["findings"])


def test_bad_inputs_one_line_exit_2(tmp_path):
    junk = tmp_path / "notes.txt"
    junk.write_text("this is not a capture\n")
    assert "notes.txt" in one_line_error(
        spyproof("flows", str(junk), cwd=tmp_path), 2)
    one_line_error(spyproof("flows", str(tmp_path / "missing.pcap"), cwd=tmp_path), 2)
    one_line_error(spyproof("traffic", str(WIKI), "--device", "not-an-ip", "--out", "o",
                            cwd=tmp_path), 2)
    one_line_error(spyproof("flows", str(WIKI), "--format", "xml", cwd=tmp_path), 2)
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_text("x")
    one_line_error(spyproof("traffic", str(WIKI), "--device", CLIENT, "--out", "full",
                            cwd=tmp_path), 2)


def test_truncated_capture_keeps_what_is_sound_and_says_so(tmp_path):
    cut = tmp_path / "cut.pcap"
    shutil.copy(DATA / "wikipedia-truncated.pcap", cut)
    proc = spyproof("traffic", str(cut), "--device", CLIENT, "--out", "out", cwd=tmp_path)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "cut.pcap" in proc.stderr
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    assert report["complete"] is False
    assert report["traffic"]["inputs"][0]["problems"]
    assert 0 < report["traffic"]["inputs"][0]["packets"] < 136


def test_community_id_seed_reproduces_suricatas_value(tmp_path):
    capture = DATA / "community-id-ipv4.pcap"
    seeded = json.loads(spyproof("flows", str(capture), "--format", "json",
                                 "--community-id-seed", "7", cwd=tmp_path).stdout)
    default = json.loads(spyproof("flows", str(capture), "--format", "json",
                                  cwd=tmp_path).stdout)
    # suricata-verify's expected value (its test.yaml) is seed 7; seed 0 is the spec's
    # default, which Zeek and Wireshark use
    assert seeded[0]["community_id"] == "1:IwiTNfuO7aCaamMijl+7/X9uLx0="
    assert default[0]["community_id"] == "1:0rRFlkfZsYZ0l7PqLoMEAxHMqrI="
    assert seeded[0]["sni"] == "ipv4.google.com"
