"""Running the CLI as a user does, and the one-line-error contract every verb keeps."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def spyproof(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "spyproof.cli", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=600)


def one_line_error(proc: subprocess.CompletedProcess, code: int) -> str:
    """The exit code is ``code``, stderr has exactly one ``error:`` line and no traceback;
    returns that line."""
    assert proc.returncode == code, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert len(lines) == 1, proc.stderr
    return lines[0]


def ok(proc: subprocess.CompletedProcess) -> subprocess.CompletedProcess:
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc
