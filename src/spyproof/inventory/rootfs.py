"""Find the root filesystem among the extracted trees.

A root filesystem is a directory holding `etc/` and at least one of `bin/`, `sbin/` or
`usr/`. Extractors sometimes put it below their output directory (UBI volumes, ext images
with lost+found, archives with a top folder), so the search looks a few levels down.
"""

from __future__ import annotations

import os
from pathlib import Path

MAX_DEPTH = 3
_EXEC_DIRS = ("bin", "sbin", "usr")


def looks_like_rootfs(directory: Path) -> bool:
    def is_dir(name: str) -> bool:
        p = directory / name
        return p.is_dir() and not p.is_symlink()

    return is_dir("etc") and any(is_dir(d) for d in _EXEC_DIRS)


def find_rootfs_dirs(tree_root: Path, boundaries: set[Path]) -> list[str]:
    """Relative paths ('' for the tree root itself) of rootfs-looking directories."""
    found: list[str] = []
    queue: list[tuple[Path, str, int]] = [(tree_root, "", 0)]
    while queue:
        current, rel, depth = queue.pop(0)
        if looks_like_rootfs(current):
            found.append(rel)
            continue  # a rootfs's own subdirectories are not separate root filesystems
        if depth >= MAX_DEPTH:
            continue
        try:
            names = sorted(os.listdir(current))
        except OSError:
            continue
        for name in names:
            child = current / name
            if child in boundaries or child.is_symlink() or not child.is_dir():
                continue
            queue.append((child, f"{rel}/{name}" if rel else name, depth + 1))
    return found
