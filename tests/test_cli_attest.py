"""``spyproof attest release|evaluation|verify`` end to end on the sample firmware."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def spyproof(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "spyproof.cli", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=600)


@pytest.fixture(scope="module")
def work(tmp_path_factory) -> Path:
    work = tmp_path_factory.mktemp("attest")
    subprocess.run([str(REPO / "examples/sample-firmware/build.sh"), str(work / "fw.bin")],
                   check=True, capture_output=True)
    for name, prefix in (("vendor.example/acme", "vendor"), ("lab.example", "lab")):
        assert spyproof("key", "generate", name, "-o", prefix, cwd=work).returncode == 0
    proc = spyproof("-q", "attest", "release", "fw.bin", "--key", "vendor.key", "--version",
                    "5.2.1", "--source-digest", "gitCommit:" + "ab" * 20, "-o",
                    "release.dsse.json", cwd=work)
    assert proc.returncode == 0, proc.stderr
    return work


def payload(path: Path) -> dict:
    return json.loads(base64.b64decode(json.loads(path.read_text())["payload"]))


def test_release_statement_is_signed_by_the_vendor_key(work):
    env = json.loads((work / "release.dsse.json").read_text())
    assert env["signatures"][0]["keyid"] == (work / "vendor.vkey").read_text().strip()
    st = payload(work / "release.dsse.json")
    import hashlib

    assert st["subject"][0]["digest"]["sha256"] == hashlib.sha256(
        (work / "fw.bin").read_bytes()).hexdigest()
    pred = st["predicate"]
    assert pred["vendor"] == "vendor.example/acme" and pred["version"] == "5.2.1"
    assert pred["inventory"]["size"] > 20 and len(pred["inventory"]["root"]) == 64
    ok = spyproof("attest", "verify", "release.dsse.json", "--key", "vendor.vkey", cwd=work)
    assert ok.returncode == 0 and "release/v1" in ok.stdout


def test_wrong_key_or_tampered_statement_exit_1(work):
    assert spyproof("attest", "verify", "release.dsse.json", "--key", "lab.vkey",
                    cwd=work).returncode == 1
    env = json.loads((work / "release.dsse.json").read_text())
    st = payload(work / "release.dsse.json")
    st["predicate"]["version"] = "9.9.9"
    env["payload"] = base64.b64encode(json.dumps(st).encode()).decode()
    (work / "forged.dsse.json").write_text(json.dumps(env))
    bad = spyproof("attest", "verify", "forged.dsse.json", "--key", "vendor.vkey", cwd=work)
    assert bad.returncode == 1 and "Traceback" not in bad.stderr


def test_evaluation_statement_carries_the_verdicts(work):
    scan = spyproof("-q", "scan", "fw.bin", "--out", "out", "--agreement",
                    str(REPO / "examples/agreement-acme-cpe5g.toml"), cwd=work)
    assert scan.returncode == 1, scan.stderr  # the sample fails clauses
    proc = spyproof("-q", "attest", "evaluation", "out/report.json", "--key", "lab.key",
                    "-o", "evaluation.dsse.json", cwd=work)
    assert proc.returncode == 0, proc.stderr
    pred = payload(work / "evaluation.dsse.json")["predicate"]
    assert pred["evaluator"] == "lab.example"
    assert json.dumps(pred).count("NS-1") >= 1 and "fail" in json.dumps(pred)
    assert spyproof("attest", "verify", "evaluation.dsse.json", "--key", "lab.vkey",
                    cwd=work).returncode == 0


def test_bad_inputs_are_one_line_exit_2(work):
    (work / "junk.json").write_text("{}")
    bad = spyproof("attest", "evaluation", "junk.json", "--key", "lab.key", "-o", "x",
                   cwd=work)
    assert bad.returncode == 2 and "not a spyproof report" in bad.stderr
    cos = spyproof("key", "generate", "w", "--kind", "cosignature", "-o", "w", cwd=work)
    assert cos.returncode == 0
    wrong = spyproof("attest", "release", "fw.bin", "--key", "w.key", "--version", "1",
                     "-o", "r.json", cwd=work)
    assert wrong.returncode == 2 and "cosignature" in wrong.stderr
