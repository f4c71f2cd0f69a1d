"""Digests of whole files, read in 1 MiB blocks: what every piece of evidence cites."""

from __future__ import annotations

import hashlib
from pathlib import Path


def file_digests(path: Path) -> tuple[int, str, str]:
    """(size, sha256 hex, sha512 hex) in one pass."""
    sha256, sha512, size = hashlib.sha256(), hashlib.sha512(), 0
    with Path(path).open("rb") as fh:
        while block := fh.read(1 << 20):
            size += len(block)
            sha256.update(block)
            sha512.update(block)
    return size, sha256.hexdigest(), sha512.hexdigest()


def file_sha256(path: Path) -> str:
    with Path(path).open("rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()
