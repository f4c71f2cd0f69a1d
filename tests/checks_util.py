"""Helpers for check tests: inventory a directory the way a scan does, run checks on it.

``tree_context(root)`` inventories ``root`` (real hashing, classification and ELF parsing)
as the image's root filesystem and returns the ``CheckContext`` a scan would build;
``run(check_id, ctx)`` runs one registered check through the real runner (per-file pass
and image-wide step) and returns its findings and its run record.
"""

from __future__ import annotations

from pathlib import Path

from spyproof.checks.base import CheckContext
from spyproof.checks.registry import all_checks
from spyproof.checks.runner import run_checks
from spyproof.inventory.walk import inventory_tree
from spyproof.models import CheckRun, Component, Finding

TREE = "rootfs"


def tree_context(root: Path, components: list[Component] | None = None) -> CheckContext:
    files = list(inventory_tree(TREE, root, set(), workers=1))
    return CheckContext(files, {TREE: root}, TREE, components or [])


def run(check_id: str, ctx: CheckContext, *, workers: int = 1) -> tuple[list[Finding],
                                                                         CheckRun]:
    findings, runs = run_checks(ctx, [all_checks()[check_id]], workers=workers)
    return findings, runs[0]


def write(root: Path, rel: str, content: str | bytes, mode: int | None = None) -> Path:
    """Create a file inside a test tree (parents too) and return its path."""
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, str):
        path.write_text(content)
    else:
        path.write_bytes(content)
    if mode is not None:
        path.chmod(mode)
    return path
