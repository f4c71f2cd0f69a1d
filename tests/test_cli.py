"""The command line as a user meets it: exit codes, one-line errors, output directories."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def spyproof(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "spyproof.cli", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=600)


def one_error_line(proc: subprocess.CompletedProcess) -> str:
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    return lines[0]


def test_scan_writes_report_and_summary(squashfs_image, tmp_path):
    proc = spyproof("scan", str(squashfs_image), "--out", str(tmp_path / "o"))
    assert proc.returncode == 0, proc.stderr
    report = json.loads((tmp_path / "o" / "report.json").read_text())
    assert report["schema_version"] and report["image"]["name"] == squashfs_image.name
    assert "report.json" in proc.stdout


def test_default_output_dir_is_named_after_the_image(squashfs_image, tmp_path):
    proc = spyproof("-q", "scan", str(squashfs_image), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / f"{squashfs_image.name}.spyproof" / "report.json").is_file()
    assert proc.stdout == ""  # --quiet


def test_non_empty_output_dir_is_refused_without_force(squashfs_image, tmp_path):
    out = tmp_path / "o"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    proc = spyproof("scan", str(squashfs_image), "--out", str(out))
    assert proc.returncode == 2
    assert "--force" in one_error_line(proc)
    assert not (out / "report.json").exists()
    proc = spyproof("-q", "scan", str(squashfs_image), "--out", str(out), "--force")
    assert proc.returncode == 0 and (out / "report.json").is_file()
    assert (out / "keep.txt").read_text() == "mine"


def test_keep_extracted(squashfs_image, tmp_path):
    proc = spyproof("-q", "scan", str(squashfs_image), "--out", str(tmp_path / "o"),
                    "--keep-extracted")
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "o" / "extracted" / "extract").is_dir()
    assert list((tmp_path / "o" / "extracted").rglob("etc/passwd"))


@pytest.mark.parametrize("make_input, needle", [
    (lambda p: p / "missing.bin", "no such file"),
    (lambda p: p, "is a directory"),
    (lambda p: (os.mkfifo(p / "fifo"), p / "fifo")[1], "not a regular file"),
])
def test_bad_paths_get_one_line_and_exit_2(make_input, needle, tmp_path):
    target = make_input(tmp_path)
    proc = spyproof("scan", str(target), "--out", str(tmp_path / "o"))
    assert proc.returncode == 2
    line = one_error_line(proc)
    assert needle in line and str(target) in line


def test_not_a_firmware_image(garbage_file, tmp_path):
    proc = spyproof("-q", "scan", str(garbage_file), "--out", str(tmp_path / "o"))
    assert proc.returncode == 2
    assert "no known firmware" in one_error_line(proc)
    report = json.loads((tmp_path / "o" / "report.json").read_text())
    assert report["complete"] is False and report["image"]["sha256"]


def test_empty_file(empty_file, tmp_path):
    proc = spyproof("-q", "scan", str(empty_file), "--out", str(tmp_path / "o"))
    assert proc.returncode == 2
    assert str(empty_file) in one_error_line(proc)


def test_usage_error_exit_2(tmp_path):
    proc = spyproof("scan", "--no-such-option")
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr


def test_log_json_errors(tmp_path):
    proc = spyproof("--log-json", "scan", str(tmp_path / "nope.bin"))
    assert proc.returncode == 2
    rec = json.loads(proc.stderr.strip())
    assert rec["level"] == "error" and "nope.bin" in rec["message"]


@pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("mount"), reason="needs root")
def test_full_disk_is_one_line_exit_2(router_image, tmp_path):
    small = tmp_path / "small"
    small.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=600k", "tmpfs", str(small)],
                      capture_output=True).returncode:
        pytest.skip("cannot mount tmpfs here")
    try:
        proc = spyproof("scan", str(router_image), "--out", str(small / "o"),
                        "--work-dir", str(small))
        assert proc.returncode == 2, proc.stderr
        line = one_error_line(proc)
        assert str(router_image) in line
        assert "space" in line or "partial" in line
    finally:
        subprocess.run(["umount", str(small)], check=False)


@pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("runuser"), reason="needs root")
def test_make_deps_prints_apt_line_for_non_root(tmp_path):
    """A non-root user missing a tool is told the exact apt-get line, not a cryptic error."""
    shared = Path(tempfile.mkdtemp(prefix="spyproof-make-"))
    try:
        shared.chmod(0o755)
        shutil.copy(REPO / "Makefile", shared / "Makefile")
        proc = subprocess.run(
            ["runuser", "-u", "nobody", "--", "make", "-s", "-C", str(shared), "deps",
             "DEB_TOOLS=spyproof-no-such-tool:spyproof-fake-pkg", "DEB_LIBS="],
            capture_output=True, text=True)
    finally:
        shutil.rmtree(shared, ignore_errors=True)
    assert proc.returncode != 0
    assert "apt-get install -y spyproof-fake-pkg" in proc.stdout
