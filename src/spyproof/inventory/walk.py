"""Inventory of one extracted tree: every path with metadata, sha256 and content type.

The walk never follows symlinks, never descends into another tree's extraction directory,
and reads each file once in fixed-size blocks (memory does not grow with file size).
Metadata recorded by an extractor (a manifest) beats what the disk shows, because the
extraction itself may have had to change modes, drop device nodes or rewrite links.
"""

from __future__ import annotations

import contextlib
import hashlib
import multiprocessing
import os
import stat
import sys
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from spyproof.inventory.classify import classify
from spyproof.inventory.manifest import ManifestEntry, read_manifest
from spyproof.models import SPECIAL_KINDS, EntryKind, FileEntry

BLOCK = 1024 * 1024
HEAD = 4096


@dataclass
class _Pending:
    rel: str
    abs_path: str
    st: os.stat_result
    kind: EntryKind
    link_target: str | None = None
    hardlink_of: str | None = None


def _kind(mode: int) -> EntryKind:
    if stat.S_ISREG(mode):
        return EntryKind.file
    if stat.S_ISDIR(mode):
        return EntryKind.directory
    if stat.S_ISLNK(mode):
        return EntryKind.symlink
    if stat.S_ISCHR(mode):
        return EntryKind.char_device
    if stat.S_ISBLK(mode):
        return EntryKind.block_device
    if stat.S_ISFIFO(mode):
        return EntryKind.fifo
    return EntryKind.socket


def hash_and_head(path: str) -> tuple[str, bytes]:
    """sha256 of the whole file and its first HEAD bytes, reading it once."""
    digest = hashlib.sha256()
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0)
    fd = os.open(path, flags)
    with os.fdopen(fd, "rb", buffering=0) as fh:
        head = fh.read(HEAD)
        digest.update(head)
        while True:
            block = fh.read(BLOCK)
            if not block:
                break
            digest.update(block)
    return digest.hexdigest(), head


def _walk(root: Path, boundaries: set[Path]) -> Iterator[_Pending]:
    """Depth-first, name-sorted walk that stays inside root and inside this tree."""
    seen_inodes: dict[tuple[int, int], str] = {}
    stack: list[tuple[str, str]] = [(str(root), "")]
    while stack:
        abs_dir, rel_dir = stack.pop()
        try:
            with os.scandir(abs_dir) as it:
                names = sorted((e.name, e.path) for e in it)
        except OSError:
            continue
        subdirs: list[tuple[str, str]] = []
        for name, abs_path in names:
            rel = f"{rel_dir}/{name}" if rel_dir else name
            if Path(abs_path) in boundaries:
                continue
            try:
                st = os.lstat(abs_path)
            except OSError:
                continue
            kind = _kind(st.st_mode)
            item = _Pending(rel=rel, abs_path=abs_path, st=st, kind=kind)
            if kind is EntryKind.symlink:
                try:
                    item.link_target = os.readlink(abs_path)
                except OSError:
                    item.link_target = None
            elif kind is EntryKind.file and st.st_nlink > 1:
                key = (st.st_dev, st.st_ino)
                if key in seen_inodes:
                    item.kind = EntryKind.hardlink
                    item.hardlink_of = seen_inodes[key]
                    item.link_target = seen_inodes[key]
                else:
                    seen_inodes[key] = rel
            yield item
            if kind is EntryKind.directory:
                subdirs.append((abs_path, rel))
        # Push in reverse so that the pop order is name order.
        stack.extend(reversed(subdirs))


def _entry(tree_id: str, item: _Pending, meta: ManifestEntry | None) -> FileEntry:
    st = item.st
    entry = FileEntry(
        tree=tree_id,
        path=item.rel,
        kind=item.kind,
        size=st.st_size if item.kind in (EntryKind.file, EntryKind.hardlink) else 0,
        mode=f"{stat.S_IMODE(st.st_mode):04o}",
        uid=st.st_uid,
        gid=st.st_gid,
        link_target=item.link_target,
    )
    if meta is not None and meta.kind in SPECIAL_KINDS and item.kind is EntryKind.file:
        # An extractor that could not (or must not) create a device node left a plain
        # file in its place; the image says what it really is.
        entry.kind = EntryKind(meta.kind)
        entry.size = 0
        item.kind = entry.kind
    if meta is not None:
        entry.mode = meta.mode
        entry.uid = meta.uid
        entry.gid = meta.gid
        if meta.link_target is not None:
            entry.link_target = meta.link_target
    return entry


def warm_up() -> None:
    """Parse one ELF now: LIEF's first parse in a process costs most of a second of
    one-time set-up, which the scan pays here, while extraction runs, instead of in
    every inventory worker."""
    exe = os.path.realpath(sys.executable)
    with contextlib.suppress(OSError):
        _describe(exe, os.stat(exe).st_size)


def _describe(abs_path: str, size: int) -> tuple[str | None, object | None, str | None]:
    try:
        digest, head = hash_and_head(abs_path)
    except OSError as exc:
        return None, None, f"unreadable: {exc.strerror}"
    return digest, classify(Path(abs_path), size, head), None


def _describe_many(batch: list[tuple[str, int]]) -> list[tuple]:
    return [_describe(path, size) for path, size in batch]


# Below this many files a process pool costs more than it saves.
_PROCESS_POOL_MIN_FILES = 64
_BATCH = 16


def _describe_all(files: list[_Pending], workers: int) -> list[tuple]:
    """Hash and classify files on all cores. LIEF holds the GIL while it parses, so
    threads would serialise the ELF work; forked processes share the already-imported
    parser and split it."""
    jobs = [(p.abs_path, p.st.st_size) for p in files]
    if workers > 1 and len(jobs) >= _PROCESS_POOL_MIN_FILES:
        try:
            ctx = multiprocessing.get_context("fork")
        except ValueError:
            ctx = None
        if ctx is not None:
            batches = [jobs[i:i + _BATCH] for i in range(0, len(jobs), _BATCH)]
            with ProcessPoolExecutor(max_workers=workers, mp_context=ctx) as pool:
                return [r for chunk in pool.map(_describe_many, batches) for r in chunk]
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        return list(pool.map(lambda j: _describe(*j), jobs))


def inventory_tree(
    tree_id: str, root: Path, boundaries: set[Path], *, workers: int = 2
) -> Iterator[FileEntry]:
    """Yield a FileEntry for every path of the tree, in a stable (name-sorted) order."""
    manifest = read_manifest(root)
    by_rel: dict[str, FileEntry] = {}
    pending = list(_walk(root, boundaries))
    files = [p for p in pending if p.kind is EntryKind.file]
    described = dict(zip((p.rel for p in files), _describe_all(files, workers), strict=True))
    for item in pending:
        entry = _entry(tree_id, item, manifest.pop(item.rel, None))
        if item.kind is EntryKind.file:
            digest, cls, problem = described[item.rel]
            entry.sha256 = digest
            if cls is not None:
                entry.file_type = cls.file_type
                entry.description = cls.description
                entry.interpreter = cls.interpreter
                entry.elf = cls.elf
            else:
                entry.description = problem
            by_rel[item.rel] = entry
        elif item.kind is EntryKind.hardlink and item.hardlink_of in by_rel:
            first = by_rel[item.hardlink_of]
            entry.sha256 = first.sha256
            entry.file_type = first.file_type
            entry.description = first.description
        yield entry
    # Entries the extractor saw but could not (or would not) create: device nodes, fifos,
    # links removed as unsafe. They are part of the image and so part of the inventory.
    for rel, meta in sorted(manifest.items()):
        yield FileEntry(tree=tree_id, path=rel, kind=meta.kind, size=meta.size, mode=meta.mode,
                        uid=meta.uid, gid=meta.gid, link_target=meta.link_target,
                        description=meta.note)
