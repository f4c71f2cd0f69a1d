"""The deep, human-readable diff of the differing files, by diffoscope when it is installed.

diffoscope is optional (``pip install spyproof[equiv]`` or Debian's ``diffoscope``). The
files that differ (not the containers around them) are laid out under their logical paths
in two directories of the work dir, and diffoscope compares those once, with a time
limit, writing ``OUT/diffoscope.html`` and ``OUT/diffoscope.txt``. Not installed, timed
out or failed: recorded in the report, never an error of the comparison.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path, PurePosixPath

from spyproof.equiv.model import DiffoscopeRun, FileComparison
from spyproof.equiv.sides import Side

MAX_FILES = 50
MAX_BYTES = 512 * 1024 * 1024


def _place(src: Path, dest: Path) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(src, dest)
    except OSError:
        shutil.copyfile(src, dest)


def _version(exe: str) -> str | None:
    try:
        proc = subprocess.run([exe, "--version"], capture_output=True, text=True, timeout=60,
                              stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return proc.stdout.strip() or None


def run_diffoscope(files: list[FileComparison], a: Side, b: Side, out: Path, work: Path,
                   timeout_s: float) -> DiffoscopeRun:
    exe = shutil.which("diffoscope")
    if exe is None:
        return DiffoscopeRun(status="not installed")
    pairs = [f for f in files if f.status == "different" and f.kind == "file" and not f.format]
    if not pairs:
        return DiffoscopeRun(status="not needed", version=_version(exe))
    root_a, root_b = work / "diffoscope" / "a", work / "diffoscope" / "b"
    total = placed = 0
    for f in pairs[:MAX_FILES]:
        ea, eb = a.entries[f.path], b.entries[f.path]
        if ea.host is None or eb.host is None:
            continue
        total += ea.size + eb.size
        if total > MAX_BYTES:
            break
        rel = PurePosixPath(f.path)
        if rel.is_absolute() or ".." in rel.parts:
            continue
        _place(ea.host, root_a / rel)
        _place(eb.host, root_b / rel)
        placed += 1
    root_a.mkdir(parents=True, exist_ok=True)
    root_b.mkdir(parents=True, exist_ok=True)
    out = out.resolve()  # diffoscope runs in the work dir
    html, text = out / "diffoscope.html", out / "diffoscope.txt"
    cmd = [exe, "--html", str(html), "--text", str(text), "--no-progress",
           "--exclude-directory-metadata=yes", str(root_a), str(root_b)]
    version = _version(exe)
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout_s,
                              stdin=subprocess.DEVNULL, cwd=work)
    except subprocess.TimeoutExpired:
        return DiffoscopeRun(status="timeout", version=version,
                             outputs=_written(out, html, text),
                             detail=f"stopped after {timeout_s:g} s")
    except OSError as exc:
        return DiffoscopeRun(status="failed", version=version, detail=str(exc.strerror))
    if proc.returncode not in (0, 1):
        last = (proc.stderr.strip().splitlines() or [f"exit code {proc.returncode}"])[-1]
        return DiffoscopeRun(status="failed", version=version, outputs=_written(out, html, text),
                             detail=last[:300])
    return DiffoscopeRun(status="ran", version=version, outputs=_written(out, html, text),
                         detail=f"{placed} of {len(pairs)} differing file(s)")


def _written(out: Path, *paths: Path) -> list[str]:
    return [p.relative_to(out).as_posix() for p in paths if p.exists()]
