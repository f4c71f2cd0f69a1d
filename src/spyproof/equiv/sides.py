"""One side of a comparison: an input turned into logical paths, entries and containers.

An image is unpacked by spyproof's own engine. Every path then gets a *logical* name that
is the same on both sides whatever the inputs are called and wherever a chunk sits:

* the input file itself is ``image``, its extraction directory ``image_extract``;
* a chunk carved out of a container (``4160-9160.padding``, ``9160-13256.squashfs_v4_le``)
  is named by its format and its rank among the container's chunks of that format
  (``padding.0``, ``squashfs_v4_le.0``), so a kernel that grew by a few bytes does not
  break the pairing;
* below that, paths are the POSIX paths inside each extracted tree, as the scan reports
  them (``image_extract/filesystem_extract/bin/busybox``).

A directory input is one tree whose logical paths are its relative paths.
"""

from __future__ import annotations

import re
import stat
from dataclasses import dataclass, field
from pathlib import Path

from spyproof.digests import file_sha256
from spyproof.equiv.model import EquivWarning, InputInfo
from spyproof.inventory.manifest import SIDECAR_MARK, sidecars
from spyproof.models import SPECIAL_KINDS, EntryKind, FileEntry
from spyproof.unpack.engine import EXTRACT_SUFFIX, UnpackResult
from spyproof.unpack.limits import Limits

IMAGE = "image"
_DEVICE = re.compile(r"device (\d+),(\d+)")


class EquivInputError(Exception):
    """Bad input: one line for the user, exit code 2."""


@dataclass
class Entry:
    path: str  # logical
    tree: str  # logical tree key ('' for the input itself and for directory inputs)
    kind: str
    size: int = 0
    mode: str | None = None  # None: not meaningful (a carved chunk, the input file)
    uid: int | None = None
    gid: int | None = None
    sha256: str | None = None
    link_target: str | None = None
    device: str | None = None
    host: Path | None = None  # where to read the bytes


@dataclass
class Chunk:
    format: str
    start: int
    end: int
    tree: str | None  # logical key of the tree it was extracted to


@dataclass
class Side:
    name: str  # "a" or "b"
    info: InputInfo
    entries: dict[str, Entry] = field(default_factory=dict)
    containers: dict[str, list[Chunk]] = field(default_factory=dict)
    hosts: dict[str, Path] = field(default_factory=dict)  # container -> file on disk
    warnings: list[EquivWarning] = field(default_factory=list)


def sha256_file(path: Path) -> tuple[int, str]:
    return path.stat().st_size, file_sha256(path)


def check_input(path: Path) -> str:
    """'file' or 'directory'; raises EquivInputError with one line otherwise."""
    if not path.exists() and not path.is_symlink():
        raise EquivInputError(f"{path}: no such file or directory")
    if path.is_dir():
        try:
            next(iter(path.iterdir()), None)
        except OSError as exc:
            raise EquivInputError(f"{path}: cannot read directory: {exc.strerror}") from None
        return "directory"
    if not path.is_file():
        raise EquivInputError(f"{path}: not a regular file or directory")
    try:
        with path.open("rb") as fh:
            fh.read(1)
    except OSError as exc:
        raise EquivInputError(f"{path}: cannot read: {exc.strerror}") from None
    return "file"


def _device(entry: FileEntry) -> str | None:
    if entry.kind in SPECIAL_KINDS and entry.description:
        m = _DEVICE.search(entry.description)
        if m:
            return f"{m.group(1)},{m.group(2)}"
    return None


def _entry(logical: str, tree: str, e: FileEntry, host: Path, meta: bool) -> Entry:
    kind = e.kind if isinstance(e.kind, str) else EntryKind(e.kind).value
    return Entry(path=logical, tree=tree, kind=kind, size=e.size,
                 mode=e.mode if meta else None, uid=e.uid if meta else None,
                 gid=e.gid if meta else None, sha256=e.sha256, link_target=e.link_target,
                 device=_device(e), host=host)


def directory_side(name: str, root: Path, given: str) -> Side:
    from spyproof.inventory.walk import inventory_tree

    side = Side(name=name, info=InputInfo(path=given, kind="directory"))
    for e in inventory_tree("", root, set()):
        side.entries[e.path] = _entry(e.path, "", e, root / e.path, meta=True)
    return side


class _Namer:
    """Host paths (relative to the work root) -> logical paths."""

    def __init__(self, image_name: str, result: UnpackResult):
        self.image_name = image_name
        self.carved: dict[tuple[str, str], str] = {}
        by_container: dict[str, list] = {}
        for chunk in result.formats:
            by_container.setdefault(chunk.container, []).append(chunk)
        for container, chunks in by_container.items():
            whole = container + EXTRACT_SUFFIX
            if len(chunks) == 1 and chunks[0].extracted_to in (whole, None) and (
                    chunks[0].format != "unknown"):
                continue
            counts: dict[str, int] = {}
            for chunk in sorted(chunks, key=lambda c: (c.start_offset, c.end_offset)):
                n = counts.get(chunk.format, 0)
                counts[chunk.format] = n + 1
                raw = f"{chunk.start_offset}-{chunk.end_offset}.{chunk.format}"
                self.carved[(whole, raw)] = f"{chunk.format}.{n}"

    def logical(self, rel: str) -> str:
        parts = rel.split("/")
        out: list[str] = []
        for i, comp in enumerate(parts):
            base, suffix = comp, ""
            if comp.endswith(EXTRACT_SUFFIX):
                base, suffix = comp[: -len(EXTRACT_SUFFIX)], EXTRACT_SUFFIX
            if i == 0 and base == self.image_name:
                base = IMAGE
            else:
                base = self.carved.get(("/".join(parts[:i]), base), base)
            out.append(base + suffix)
        return "/".join(out)


def image_side(name: str, image: Path, given: str, work: Path, limits: Limits,
               timeout_s: float, result: UnpackResult | None = None) -> Side:
    """Unpack ``image`` under ``work`` (unless ``result`` is given) and list every path."""
    from spyproof.inventory.walk import inventory_tree
    from spyproof.unpack.engine import unpack

    size, digest = sha256_file(image)
    extract_root = work / "extract"
    if result is None:
        result = unpack(image, extract_root, limits, timeout_s=timeout_s)
    extract_root = extract_root.resolve()
    formats = [f"{c.format}@{c.start_offset}" for c in result.formats
               if c.depth == 0 and c.format != "unknown"]
    side = Side(name=name, info=InputInfo(path=given, kind="image" if formats else "file",
                                          size=size, sha256=digest, formats=formats,
                                          complete=result.complete))
    side.entries[IMAGE] = Entry(path=IMAGE, tree="", kind="file", size=size, sha256=digest,
                                host=image)
    for w in result.warnings:
        side.warnings.append(EquivWarning(side=name, code=w.code, message=w.message))
    namer = _Namer(image.resolve().name, result)
    boundaries = set(result.boundaries)
    tree_paths = {t.path.resolve() for t in result.trees}
    for tree in result.trees:
        boundaries.update(sidecars(tree.path))
    for tree in result.trees:
        key = namer.logical(tree.id)
        for e in inventory_tree(tree.id, tree.path, boundaries):
            logical = f"{key}/{e.path}"
            side.entries[logical] = _entry(logical, key, e, tree.path / e.path, meta=True)
    # Carve directories: the chunks nobody extracted (padding, unknown data) are files
    # there, compared by content only (their modes are the extractor's, not the image's).
    for carve in sorted(b for b in result.boundaries if b.resolve() not in tree_paths):
        if not carve.is_dir():
            continue
        key = namer.logical(carve.resolve().relative_to(extract_root).as_posix())
        for child in sorted(carve.iterdir()):
            if child in boundaries or SIDECAR_MARK in child.name:
                continue
            try:
                st = child.lstat()
            except OSError:
                continue
            if not stat.S_ISREG(st.st_mode):
                continue
            csize, cdigest = sha256_file(child)
            logical = namer.logical(child.resolve().relative_to(extract_root).as_posix())
            side.entries[logical] = Entry(path=logical, tree=key, kind="file", size=csize,
                                          sha256=cdigest, host=child)
    for chunk in result.formats:
        container = IMAGE if chunk.container == image.resolve().name else namer.logical(
            chunk.container)
        tree = namer.logical(chunk.extracted_to) if chunk.extracted_to else None
        side.containers.setdefault(container, []).append(
            Chunk(format=chunk.format, start=chunk.start_offset, end=chunk.end_offset,
                  tree=tree))
        side.hosts[container] = image if container == IMAGE else extract_root / chunk.container
    for chunks in side.containers.values():
        chunks.sort(key=lambda c: (c.start, c.end, c.format))
    # A container is something that was unpacked; a lone chunk that produced no tree (an
    # ELF recognised as such, say) leaves the file to be compared as a file.
    side.containers = {k: v for k, v in side.containers.items() if any(c.tree for c in v)}
    return side

