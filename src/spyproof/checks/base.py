"""What a check is, and what it gets to look at.

A check is a plugin (see ``registry.py``) with two halves:

* ``scan_file`` runs on one file's content at a time, in worker processes over both
  cores, for every file the check ``wants`` (decided from inventory facts: path, type,
  size). It returns findings and notes; it must not keep state between files.
* ``finish`` runs once in the parent with every per-file finding and a ``CheckContext``
  over the whole image (inventory, components, vulnerabilities, and safe reads of any
  file), for image-wide work: parse ``/etc/passwd`` with its ``shadow``, follow init
  scripts, summarise hardening across ELF files.

Either half may be left out. Findings are built with :func:`make_finding`, which gives
each a stable id, so the same input always yields the same findings.
"""

from __future__ import annotations

import hashlib
import os
import posixpath
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar

from spyproof.models import (
    Component,
    EntryKind,
    Evidence,
    FileEntry,
    Finding,
    Severity,
    Vulnerability,
)

SEVERITY_ORDER = {Severity.critical: 0, Severity.high: 1, Severity.medium: 2,
                  Severity.low: 3, Severity.info: 4}
MAX_LINK_HOPS = 40
DEFAULT_MAX_BYTES = 16 * 1024 * 1024
REGULAR = (EntryKind.file, EntryKind.hardlink)


@dataclass(frozen=True)
class CheckInfo:
    """How a check presents itself in ``spyproof checks list`` and in reports."""

    id: str
    title: str
    clause: str | None  # the no-spy clause it informs: NS-1 … NS-7
    description: str  # what it finds and why that matters
    looks_at: str  # which files or facts it reads
    data_files: tuple[str, ...] = ()  # paths under src/spyproof/data/


@dataclass
class Outcome:
    """Findings plus notes on what was skipped and why (never silently dropped)."""

    findings: list[Finding] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    examined: int = 0

    def extend(self, other: Outcome) -> None:
        self.findings.extend(other.findings)
        self.notes.extend(other.notes)
        self.examined += other.examined


@dataclass(frozen=True)
class FileView:
    """One file's content as ``scan_file`` sees it (at most the check's ``max_bytes``)."""

    entry: FileEntry
    data: bytes
    truncated: bool  # the file is larger than what was read

    @property
    def path(self) -> str:
        return self.entry.path

    def evidence(self, rule: str, *, offset: int | None = None, line: int | None = None,
                 text: str | None = None, hex: str | None = None) -> Evidence:
        return Evidence(tree=self.entry.tree, path=self.entry.path, sha256=self.entry.sha256,
                        offset=offset, line=line, text=text, hex=hex, rule=rule)


class Check:
    """Base class: override ``info`` and at least one of ``wants``/``scan_file`` and
    ``finish``."""

    info: ClassVar[CheckInfo]
    max_bytes: ClassVar[int] = DEFAULT_MAX_BYTES

    def wants(self, entry: FileEntry) -> bool:
        """Whether ``scan_file`` should see this file (inventory facts only, no I/O)."""
        return False

    def scan_file(self, view: FileView) -> Outcome:
        return Outcome()

    def finish(self, ctx: CheckContext, per_file: Outcome) -> Outcome:
        """Image-wide work; by default the per-file results are the check's results."""
        return per_file


def make_finding(check: str, rule: str, severity: Severity | str, title: str,
                 explanation: str, evidence: list[Evidence], *, clause: str | None = None,
                 details: dict[str, Any] | None = None, source: str | None = None
                 ) -> Finding:
    """A finding with a stable id derived from the check, the rule and where it is."""
    where = "|".join(f"{e.tree}:{e.path}:{e.offset}:{e.line}:{e.text or e.hex or ''}"
                     for e in evidence)
    digest = hashlib.sha256(f"{check}|{rule}|{where}".encode("utf-8", "surrogatepass")
                            ).hexdigest()[:12]
    return Finding(id=f"{check}/{rule}/{digest}", check=check, rule=rule,
                   severity=Severity(severity), title=title, explanation=explanation,
                   clause=clause, evidence=evidence, details=details or {}, source=source)


def mask_secret(secret: str, keep: int = 2) -> str:
    """Enough of a secret to recognise it, never enough to use it."""
    if len(secret) <= keep * 2:
        return "*" * len(secret)
    return f"{secret[:keep]}{'*' * min(8, len(secret) - keep)}…({len(secret)} chars)"


def at_or_above(severity: Severity | str, limit: Severity | str) -> bool:
    """Whether ``severity`` is ``limit`` or worse (the --fail-on and clause threshold)."""
    return SEVERITY_ORDER[Severity(severity)] <= SEVERITY_ORDER[Severity(limit)]


def finding_sort_key(f: Finding) -> tuple:
    first = f.evidence[0] if f.evidence else None
    return (SEVERITY_ORDER[Severity(f.severity)], f.check, f.rule,
            first.tree if first else "", first.path if first else "",
            (first.offset if first and first.offset is not None else -1),
            (first.line if first and first.line is not None else -1), f.id)


class CheckContext:
    """The whole image as ``finish`` sees it: inventory, components, vulnerabilities and
    reads that never leave the extracted tree (symlinks are resolved inside the image,
    never on the host)."""

    def __init__(self, files: list[FileEntry], tree_paths: dict[str, Path],
                 rootfs: str | None, components: list[Component] | None = None,
                 vulnerabilities: list[Vulnerability] | None = None,
                 now: datetime | None = None) -> None:
        self.files = files
        # the scan's clock (the report's generated_at): certificate expiry and other
        # time-relative facts are judged against it, so a report is reproducible
        self.now = now or datetime.now(UTC)
        self.tree_paths = tree_paths
        self.rootfs = rootfs
        self.components = components or []
        self.vulnerabilities = vulnerabilities or []
        self._by_path = {(f.tree, f.path): f for f in files}

    # -- finding files ---------------------------------------------------------------

    def trees(self) -> list[str]:
        """Tree ids, the root filesystem first."""
        ids = sorted(self.tree_paths)
        if self.rootfs in self.tree_paths:
            ids.remove(self.rootfs)
            ids.insert(0, self.rootfs)
        return ids

    def entry(self, tree: str, path: str) -> FileEntry | None:
        return self._by_path.get((tree, path.lstrip("/")))

    def resolve(self, tree: str, path: str) -> FileEntry | None:
        """The entry ``path`` names inside ``tree``, following symlinks (and symlinked
        directories) the way the device would, within the tree only. None for a dangling
        link, a loop or a path that leaves the tree."""
        parts = [p for p in path.strip("/").split("/") if p not in ("", ".")]
        done: list[str] = []
        hops = 0
        while parts:
            part = parts.pop(0)
            if part == "..":
                if done:
                    done.pop()
                continue
            cur = "/".join([*done, part])
            e = self._by_path.get((tree, cur))
            if e is None:
                return None
            if e.kind == EntryKind.symlink and e.link_target is not None:
                hops += 1
                if hops > MAX_LINK_HOPS:
                    return None
                target = e.link_target
                base = [] if target.startswith("/") else done
                parts = [p for p in target.split("/") if p not in ("", ".")] + parts
                done = list(base)
                continue
            done.append(part)
        if not done:
            return None
        return self._by_path.get((tree, "/".join(done)))

    def find(self, *paths: str, tree: str | None = None) -> Iterator[FileEntry]:
        """Regular files at these image paths (root filesystem first, then other trees),
        symlinks resolved inside the image."""
        for t in ([tree] if tree else self.trees()):
            for p in paths:
                e = self.resolve(t, p)
                if e is not None and e.kind in REGULAR:
                    yield e

    def glob(self, pattern: str, tree: str | None = None) -> list[FileEntry]:
        """Regular files whose path matches a shell pattern (``etc/init.d/*``)."""
        import fnmatch

        pat = pattern.lstrip("/")
        return [f for f in self.files if f.kind in REGULAR and (tree is None or f.tree == tree)
                and fnmatch.fnmatchcase(f.path, pat)]

    # -- reading ---------------------------------------------------------------------

    def host_path(self, entry: FileEntry) -> Path:
        """Where the entry's bytes are on this machine (inside its tree; checked)."""
        root = self.tree_paths[entry.tree]
        rel = posixpath.normpath(entry.path)
        if rel.startswith("../") or rel == ".." or rel.startswith("/"):
            raise OSError(f"{entry.path}: path leaves its tree")
        return root / rel

    def read(self, entry: FileEntry, max_bytes: int = DEFAULT_MAX_BYTES) -> tuple[bytes, bool]:
        """Up to ``max_bytes`` of a regular file, never through a symlink on the host."""
        return read_capped(self.host_path(entry), max_bytes)

    def read_text(self, entry: FileEntry, max_bytes: int = DEFAULT_MAX_BYTES
                  ) -> tuple[str, bool]:
        """Text of a file (invalid UTF-8 replaced, NUL bytes kept), and whether cut short."""
        data, truncated = self.read(entry, max_bytes)
        return data.decode("utf-8", errors="replace"), truncated


def read_capped(path: Path | str, max_bytes: int) -> tuple[bytes, bool]:
    """Read at most ``max_bytes``; refuse symlinks and non-regular files."""
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
    fd = os.open(path, flags)
    try:
        st = os.fstat(fd)
        import stat as _stat

        if not _stat.S_ISREG(st.st_mode):
            raise OSError(f"{path}: not a regular file")
        chunks: list[bytes] = []
        left = max_bytes
        while left > 0:
            block = os.read(fd, min(left, 1 << 20))
            if not block:
                break
            chunks.append(block)
            left -= len(block)
        data = b"".join(chunks)
        truncated = st.st_size > len(data)
        return data, truncated
    finally:
        os.close(fd)


def iter_lines(text: str) -> Iterable[tuple[int, str]]:
    """(1-based line number, line) pairs."""
    return enumerate(text.splitlines(), start=1)
