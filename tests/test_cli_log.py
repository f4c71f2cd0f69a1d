"""The whole provenance chain from the shell, on the sample firmware: vendor release,
lab evaluation, log, witness, offline proof, operator verification and clause NS-7."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from cli_util import ok, one_line_error, spyproof

REPO = Path(__file__).resolve().parents[1]
TESSERA = REPO / "tests" / "data" / "provenance" / "tlog-tiles"
AGREEMENT = REPO / "examples" / "agreement-acme-cpe5g.toml"


@pytest.fixture(scope="module")
def chain(tmp_path_factory) -> Path:
    """fw.bin released by the vendor, evaluated by the lab (no agreement: no failing
    clause), both logged, the checkpoint cosigned by one witness; policy.txt trusts all."""
    work = tmp_path_factory.mktemp("chain")
    subprocess.run([str(REPO / "examples/sample-firmware/build.sh"), str(work / "fw.bin")],
                   check=True, capture_output=True)
    for args in (("vendor.example/acme", "-o", "vendor"), ("lab.example", "-o", "lab"),
                 ("lab.example/spyproof-log", "-o", "log"),
                 ("witness1.example", "--kind", "cosignature", "-o", "w1"),
                 ("witness2.example", "--kind", "cosignature", "-o", "w2")):
        ok(spyproof("-q", "key", "generate", *args, cwd=work))
    ok(spyproof("-q", "attest", "release", "fw.bin", "--key", "vendor.key", "--version",
                "5.2.1", "-o", "release.dsse.json", cwd=work))
    ok(spyproof("-q", "scan", "fw.bin", "--out", "out", cwd=work))
    ok(spyproof("-q", "attest", "evaluation", "out/report.json", "--key", "lab.key", "-o",
                "evaluation.dsse.json", cwd=work))
    ok(spyproof("-q", "log", "init", "log", "--origin", "lab.example/spyproof-log", "--key",
                "log.key", cwd=work))
    added = ok(spyproof("log", "add", "log", "release.dsse.json", "evaluation.dsse.json",
                        cwd=work))
    assert added.stdout.startswith("0\trelease.dsse.json\n1\tevaluation.dsse.json\n")
    assert "lab.example/spyproof-log\n2\n" in added.stdout
    ok(spyproof("-q", "witness", "cosign", "log", "--key", "w1.key", "--state", "w1.state",
                "--log-key", "log.vkey", cwd=work))
    vk = {name: (work / f"{name}.vkey").read_text().strip()
          for name in ("log", "w1", "w2", "vendor", "lab")}
    (work / "policy.txt").write_text(
        f"log {vk['log']}\nwitness w1 {vk['w1']}\nquorum w1\n"
        f"vendor {vk['vendor']}\nevaluator {vk['lab']}\n")
    (work / "policy-w2.txt").write_text(
        f"log {vk['log']}\nwitness w2 {vk['w2']}\nquorum w2\nvendor {vk['vendor']}\n"
        f"evaluator {vk['lab']}\n")
    return work


def test_operator_verifies_a_released_logged_evaluated_image(chain):
    proc = ok(spyproof("verify", "fw.bin", "--log", "log", "--trust", "policy.txt",
                       "--state", "op.state", cwd=chain))
    assert "VERIFIED" in proc.stdout and "NOT VERIFIED" not in proc.stdout
    data = json.loads(ok(spyproof("verify", "fw.bin", "--log", "log", "--trust", "policy.txt",
                                  "--no-state", "--json", cwd=chain)).stdout)
    assert data["passed"] is True and data["witnesses"] == ["witness1.example"]
    assert [c["name"] for c in data["checks"]] == ["checkpoint", "release", "evaluation"]
    assert data["releases"][0]["index"] == 0 and data["evaluations"][0]["index"] == 1
    assert data["releases"][0]["predicate"]["version"] == "5.2.1"


def test_operator_rejects_another_image_and_an_unmet_quorum(chain):
    other = chain / "other.bin"
    other.write_bytes((chain / "fw.bin").read_bytes() + b"\0")
    proc = spyproof("verify", "other.bin", "--log", "log", "--trust", "policy.txt",
                    "--no-state", "--json", cwd=chain)
    assert proc.returncode == 1
    checks = {c["name"]: c for c in json.loads(proc.stdout)["checks"]}
    assert not checks["release"]["passed"] and not checks["evaluation"]["passed"]
    line = one_line_error(spyproof("verify", "fw.bin", "--log", "log", "--trust",
                                   "policy-w2.txt", "--no-state", cwd=chain), 1)
    assert "quorum" in line


def test_failing_evaluation_makes_verification_fail(chain, tmp_path):
    work = tmp_path
    for name in ("fw.bin", "vendor.key", "lab.key", "log.key", "release.dsse.json",
                 "policy.txt", "w1.key", "log.vkey"):
        (work / name).write_bytes((chain / name).read_bytes())
    scan = spyproof("-q", "scan", "fw.bin", "--out", "out", "--agreement", str(AGREEMENT),
                    cwd=work)
    assert scan.returncode == 1, scan.stderr
    ok(spyproof("-q", "attest", "evaluation", "out/report.json", "--key", "lab.key", "-o",
                "failing.dsse.json", cwd=work))
    ok(spyproof("-q", "log", "init", "log", "--origin", "lab.example/spyproof-log", "--key",
                "log.key", cwd=work))
    ok(spyproof("-q", "log", "add", "log", "release.dsse.json", "failing.dsse.json",
                cwd=work))
    ok(spyproof("-q", "witness", "cosign", "log", "--key", "w1.key", "--state", "w.state",
                "--log-key", "log.vkey", cwd=work))
    proc = spyproof("verify", "fw.bin", "--log", "log", "--trust", "policy.txt",
                    "--no-state", "--json", cwd=work)
    assert proc.returncode == 1
    evaluation = {c["name"]: c for c in json.loads(proc.stdout)["checks"]}["evaluation"]
    assert not evaluation["passed"] and "NS-1" in evaluation["detail"]


def test_scan_with_log_and_trust_decides_ns7(chain):
    ok_scan = spyproof("-q", "scan", "fw.bin", "--out", "ns7", "--agreement", str(AGREEMENT),
                       "--log", "log", "--trust", "policy.txt", cwd=chain)
    assert ok_scan.returncode == 1  # NS-1 and others still fail on the sample
    report = json.loads((chain / "ns7" / "report.json").read_text())
    ns7 = {v["id"]: v for v in report["verdicts"]}["NS-7"]
    assert ns7["verdict"] == "pass" and "entry 0 of lab.example/spyproof-log" in ns7["reason"]
    assert report["provenance"]["release_index"] == 0
    other = chain / "other7.bin"
    other.write_bytes((chain / "fw.bin").read_bytes() + b"\0")
    spyproof("-q", "scan", "other7.bin", "--out", "ns7b", "--agreement", str(AGREEMENT),
             "--log", "log", "--trust", "policy.txt", cwd=chain)
    report = json.loads((chain / "ns7b" / "report.json").read_text())
    ns7 = {v["id"]: v for v in report["verdicts"]}["NS-7"]
    assert ns7["verdict"] == "fail" and "no release statement" in ns7["reason"]
    line = one_line_error(spyproof("-q", "scan", "fw.bin", "--out", "ns7c", "--log", "log",
                                   cwd=chain), 2)
    assert "--trust" in line


def test_offline_proof_verifies_with_the_trust_policy(chain):
    ok(spyproof("-q", "log", "prove", "log", "evaluation.dsse.json", "-o", "eval.tlog-proof",
                cwd=chain))
    text = (chain / "eval.tlog-proof").read_text()
    assert text.startswith("c2sp.org/tlog-proof@v1\nindex 1\n")
    ok(spyproof("log", "verify-proof", "evaluation.dsse.json", "eval.tlog-proof", "--trust",
                "policy.txt", cwd=chain))
    ok(spyproof("log", "verify-proof", "evaluation.dsse.json", "eval.tlog-proof", "--key",
                "log.vkey", "--origin", "lab.example/spyproof-log", cwd=chain))
    one_line_error(spyproof("log", "verify-proof", "release.dsse.json", "eval.tlog-proof",
                            "--key", "log.vkey", cwd=chain), 1)
    one_line_error(spyproof("log", "verify-proof", "evaluation.dsse.json", "eval.tlog-proof",
                            "--trust", "policy-w2.txt", cwd=chain), 1)


def test_adding_the_same_statement_again_is_reported_not_duplicated(chain, tmp_path):
    proc = ok(spyproof("log", "add", "log", "release.dsse.json", "--json", cwd=chain))
    data = json.loads(proc.stdout)
    assert data["size"] == 2 and data["entries"][0] == {"file": "release.dsse.json",
                                                        "index": 0, "new": False}
    junk = tmp_path / "junk.txt"
    junk.write_text("not a statement")
    assert "DSSE" in one_line_error(spyproof("log", "add", "log", str(junk), cwd=chain), 2)


def test_log_verify_reads_tesseras_log_as_a_foreign_log(tmp_path):
    keys = json.loads((TESSERA / "keys.json").read_text())
    proc = ok(spyproof("log", "verify", str(TESSERA / "log"), "--key", keys["log_public_key"],
                       "--state", str(tmp_path / "s.json"), cwd=tmp_path))
    assert "size 15" in proc.stdout and "15 entries" in proc.stdout
    from spyproof.provenance.keys import generate_key

    impostor = generate_key(keys["origin"])[1]  # same name, another key
    wrong = spyproof("log", "verify", str(TESSERA / "log"), "--key", impostor, "--no-state",
                     cwd=tmp_path)
    assert "signature" in one_line_error(wrong, 1)
    malformed = spyproof("log", "verify", str(TESSERA / "log"), "--key",
                         keys["log_public_key"].replace("+33d7b496+", "+33d7b497+"),
                         "--no-state", cwd=tmp_path)
    assert "--key" in one_line_error(malformed, 2)


def test_witness_without_a_pinned_or_given_key_refuses(chain):
    ok(spyproof("-q", "key", "generate", "w9.example", "--kind", "cosignature", "-o", "w9",
                cwd=chain))
    line = one_line_error(spyproof("witness", "cosign", "log", "--key", "w9.key", "--state",
                                   "w9.state", cwd=chain), 1)
    assert "--log-key" in line and not (chain / "w9.state").exists()
