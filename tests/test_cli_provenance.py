"""``spyproof key generate`` and ``spyproof note sign|verify``: exit codes and files, with
the C2SP specification's own example note as a foreign artefact."""

from __future__ import annotations

import json
import stat
import subprocess
import sys
from pathlib import Path

DATA = Path(__file__).resolve().parent / "data" / "provenance" / "signed-note"


def spyproof(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "spyproof.cli", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=120)


def test_generate_sign_verify_round_trip(tmp_path):
    assert spyproof("key", "generate", "vendor.example/acme", "-o", "vendor",
                    cwd=tmp_path).returncode == 0
    key = tmp_path / "vendor.key"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert key.read_text().startswith("PRIVATE+KEY+vendor.example/acme+")
    (tmp_path / "n.txt").write_text("release 5.2.1\n")
    assert spyproof("note", "sign", "n.txt", "--key", "vendor.key", "-o", "n.signed",
                    cwd=tmp_path).returncode == 0
    ok = spyproof("note", "verify", "n.signed", "--key", "vendor.vkey", cwd=tmp_path)
    assert ok.returncode == 0 and "verified by vendor.example/acme" in ok.stdout


def test_wrong_key_and_tampered_note_exit_1(tmp_path):
    for name in ("a", "b"):
        spyproof("key", "generate", name, "-o", name, cwd=tmp_path)
    (tmp_path / "n.txt").write_text("hello\n")
    spyproof("note", "sign", "n.txt", "--key", "a.key", "-o", "n.signed", cwd=tmp_path)
    assert spyproof("note", "verify", "n.signed", "--key", "b.vkey",
                    cwd=tmp_path).returncode == 1
    signed = tmp_path / "n.signed"
    signed.write_text(signed.read_text().replace("hello", "hellp"))
    bad = spyproof("note", "verify", "n.signed", "--key", "a.vkey", cwd=tmp_path)
    assert bad.returncode == 1 and "does not verify" in bad.stderr


def test_c2sp_example_note_verifies_and_bad_key_is_usage_error(tmp_path):
    ex = json.loads((DATA / "c2sp-example.json").read_text())
    (tmp_path / "ex.note").write_text(ex["note"])
    ok = spyproof("note", "verify", "ex.note", "--key", ex["verifier_key"], cwd=tmp_path)
    assert ok.returncode == 0, ok.stderr
    bad = spyproof("note", "verify", "ex.note", "--key", "example.com/foo+zz+AAAA",
                   cwd=tmp_path)
    assert bad.returncode == 2 and "Traceback" not in bad.stderr


def test_private_key_is_never_overwritten(tmp_path):
    assert spyproof("key", "generate", "x", "-o", "k", cwd=tmp_path).returncode == 0
    before = (tmp_path / "k.key").read_text()
    again = spyproof("key", "generate", "x", "-o", "k", cwd=tmp_path)
    assert again.returncode == 2 and "refusing to overwrite" in again.stderr
    assert (tmp_path / "k.key").read_text() == before
