"""Durable file replacement: a reader (or a crash) sees the old file or the new one."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_bytes_atomic(path: Path, data: bytes, *, sync_dir: bool = False) -> None:
    """Write a temporary file beside ``path``, fsync it, rename it over ``path``; with
    ``sync_dir`` also fsync the directory so the rename itself survives a power cut (what
    a log needs). The file gets the mode a plain ``open`` would give (0644 under the usual
    umask), not mkstemp's 0600: reports and logs are meant to be shared."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, 0o666 & ~_umask())
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    if sync_dir:
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
