"""Per-tree metadata manifests written by spyproof's own extractors.

An extractor that knows the true metadata of what it extracted (modes, owners, verbatim
link targets, device nodes it refused to create) writes it next to its output directory,
one JSON object per line. The inventory prefers it to what the disk shows afterwards.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path

from spyproof.models import EntryKind

SIDECAR_MARK = ".spyproof-"
MANIFEST_SUFFIX = SIDECAR_MARK + "manifest.jsonl"


def sidecar_path(tree_root: Path, kind: str) -> Path:
    """Where an extractor leaves facts about tree_root without adding files to the tree."""
    return tree_root.with_name(tree_root.name + SIDECAR_MARK + kind)


def sidecars(tree_root: Path) -> list[Path]:
    return sorted(tree_root.parent.glob(tree_root.name + SIDECAR_MARK + "*"))


@dataclass
class ManifestEntry:
    path: str
    kind: EntryKind
    mode: str
    uid: int
    gid: int
    size: int = 0
    link_target: str | None = None
    note: str | None = None


def manifest_path(tree_root: Path) -> Path:
    return sidecar_path(tree_root, "manifest.jsonl")


def write_manifest(tree_root: Path, entries: Iterable[ManifestEntry]) -> None:
    with manifest_path(tree_root).open("w", encoding="utf-8") as fh:
        for e in entries:
            rec = asdict(e)
            rec["kind"] = EntryKind(e.kind).value
            fh.write(json.dumps(rec, sort_keys=True) + "\n")


def read_manifest(tree_root: Path) -> dict[str, ManifestEntry]:
    """Path -> entry; empty when the extractor wrote none or the file is unreadable."""
    path = manifest_path(tree_root)
    out: dict[str, ManifestEntry] = {}
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError):
        return out
    for line in lines:
        try:
            rec = json.loads(line)
            entry = ManifestEntry(**rec)
            entry.kind = EntryKind(entry.kind)
        except (ValueError, TypeError):
            continue
        out[entry.path] = entry
    return out
