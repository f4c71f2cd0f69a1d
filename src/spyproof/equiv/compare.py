"""Pair the paths of two sides and give each pair a verdict.

* Paths are paired by logical path (``spyproof.equiv.sides``); a path on one side only is
  ``only_in_a`` / ``only_in_b``.
* Metadata that changes behaviour is compared for every pair: kind, mode (setuid, setgid,
  sticky and permission bits), owner and group, symlink and hard-link targets, device
  numbers. Any difference there makes the pair different.
* Regular files: the same sha256 is ``identical``; two ELF files go to the section-level
  comparison (``spyproof.equiv.elf``); other files differ at their first differing byte.
* Containers (files that were unpacked) are decided last, deepest first: their header
  fields are compared (``spyproof.equiv.normalise``) and their members, already decided,
  are summed up. A container is equivalent when its header differs only in normalised
  fields and every member is identical or equivalent.
"""

from __future__ import annotations

import contextlib
import mmap
import os
from collections.abc import Iterator
from pathlib import Path

from spyproof.equiv.bytesdiff import file_first_difference
from spyproof.equiv.elf import compare_elf, is_elf
from spyproof.equiv.model import FileComparison, Normalisation, PairStatus
from spyproof.equiv.normalise import compare_container, equal_masked
from spyproof.equiv.sides import Entry, Side

_RANK = {PairStatus.identical: 0, PairStatus.equivalent: 1, PairStatus.different: 2,
         PairStatus.only_in_a: 2, PairStatus.only_in_b: 2}


def _special_bits(mode: int) -> list[str]:
    return [name for bit, name in ((0o4000, "setuid"), (0o2000, "setgid"), (0o1000, "sticky"))
            if mode & bit]


def _mode_reason(ma: str, mb: str) -> str:
    try:
        a, b = int(ma, 8), int(mb, 8)
    except ValueError:
        return f"mode {ma} vs {mb}"
    added = [x for x in _special_bits(b) if x not in _special_bits(a)]
    removed = [x for x in _special_bits(a) if x not in _special_bits(b)]
    extra = [f"{x} set in B" for x in added] + [f"{x} set in A" for x in removed]
    return f"mode {ma} vs {mb}" + (f" ({', '.join(extra)})" if extra else "")


def metadata_reasons(ea: Entry, eb: Entry) -> list[str]:
    """Behaviour-relevant metadata differences of a pair, one line each."""
    if ea.kind != eb.kind:
        return [f"kind {ea.kind} vs {eb.kind}"]
    reasons = []
    if ea.mode is not None and eb.mode is not None and ea.mode != eb.mode:
        reasons.append(_mode_reason(ea.mode, eb.mode))
    if ea.uid is not None and eb.uid is not None and (ea.uid, ea.gid) != (eb.uid, eb.gid):
        reasons.append(f"owner {ea.uid}:{ea.gid} vs {eb.uid}:{eb.gid}")
    if ea.kind in ("symlink", "hardlink") and ea.link_target != eb.link_target:
        reasons.append(f"{ea.kind} target {ea.link_target!r} vs {eb.link_target!r}")
    if ea.device != eb.device:
        reasons.append(f"device numbers {ea.device} vs {eb.device}")
    return reasons


def _base(path: str, ea: Entry | None, eb: Entry | None) -> FileComparison:
    ref = ea or eb
    assert ref is not None
    kind = ref.kind if ea is None or eb is None or ea.kind == eb.kind else f"{ea.kind}/{eb.kind}"
    status = (PairStatus.only_in_b if ea is None else PairStatus.only_in_a if eb is None
              else PairStatus.identical)
    return FileComparison(path=path, tree=ref.tree, kind=kind, status=status,
                          size_a=ea.size if ea and ea.kind == "file" else None,
                          size_b=eb.size if eb and eb.kind == "file" else None,
                          sha256_a=ea.sha256 if ea else None, sha256_b=eb.sha256 if eb else None)


def _compare_content(fc: FileComparison, ea: Entry, eb: Entry) -> None:
    """Two regular files whose bytes differ (and that are not containers)."""
    assert ea.host is not None and eb.host is not None
    try:
        fc.first_difference = file_first_difference(ea.host, eb.host)
    except OSError as exc:
        fc.status = PairStatus.different
        fc.reasons.append(f"cannot read: {exc.strerror}")
        return
    if is_elf(ea.host) and is_elf(eb.host):
        result = compare_elf(ea.host, eb.host, fc.path)
        if result is not None:
            fc.elf = result.comparison
            fc.normalisations.extend(result.normalisations)
            fc.reasons.extend(result.reasons)
            fc.status = PairStatus.different if result.reasons else PairStatus.equivalent
            return
    if _header_only(fc, ea, eb):
        return
    fc.status = PairStatus.different
    fc.reasons.append(f"content differs from byte {fc.first_difference} "
                      f"({ea.size} vs {eb.size} bytes)")


def sniff(head: bytes) -> str | None:
    """The container formats whose timestamps can be normalised without unpacking."""
    if head[:2] == b"\x1f\x8b":
        return "gzip"
    if head[:4] == b"\x27\x05\x19\x56":
        return "uimage"
    if head[:4] == b"hsqs" and head[28:30] == b"\x04\x00":
        return "squashfs_v4_le"
    if head[:4] == b"sqsh" and head[28:30] == b"\x00\x04":
        return "squashfs_v4_be"
    return None


def _header_only(fc: FileComparison, ea: Entry, eb: Entry) -> bool:
    """A container that was not unpacked (an input directory holds it as a file): equivalent
    when its bytes are identical once the header's timestamps are normalised."""
    assert ea.host is not None and eb.host is not None
    try:
        with mapped(ea.host) as data_a, mapped(eb.host) as data_b:
            fmt = sniff(bytes(data_a[:96]))
            if fmt is None or fmt != sniff(bytes(data_b[:96])):
                return False
            check = compare_container(fmt, data_a, data_b, fc.path)
    except (OSError, ValueError):
        return False
    if check.differences or not check.byte_equivalent:
        return False
    fc.format = fmt
    fc.status = PairStatus.equivalent
    fc.normalisations.extend(check.normalisations)
    return True


@contextlib.contextmanager
def mapped(path: Path) -> Iterator[memoryview]:
    """The file memory-mapped read-only: headers are parsed and bytes compared without
    copying a whole image into memory."""
    with path.open("rb") as fh:
        if os.fstat(fh.fileno()).st_size == 0:
            yield memoryview(b"")
            return
        mm = mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ)
        view = memoryview(mm)
        try:
            yield view
        finally:
            view.release()
            with contextlib.suppress(BufferError):  # a slice still alive: the GC closes it
                mm.close()


def _members(files: dict[str, FileComparison], trees: set[str]) -> list[FileComparison]:
    return [f for f in files.values() if f.tree in trees]


def _member_summary(members: list[FileComparison]) -> tuple[PairStatus, str | None]:
    worst = max((f.status for f in members), key=lambda s: _RANK[PairStatus(s)],
                default=PairStatus.identical)
    bad = [f for f in members if _RANK[PairStatus(f.status)] == 2]
    if not bad:
        return PairStatus(worst), None
    counts = {s: sum(1 for f in bad if f.status == s) for s in
              ("different", "only_in_a", "only_in_b")}
    text = ", ".join(f"{n} {s.replace('_', ' ')}" for s, n in counts.items() if n)
    return PairStatus.different, f"members differ: {text} (first: {bad[0].path})"


def _resolve_container(fc: FileComparison, a: Side, b: Side,
                       files: dict[str, FileComparison]) -> None:
    path = fc.path
    ca, cb = a.containers.get(path, []), b.containers.get(path, [])
    fc.format = "+".join(c.format for c in ca) or "+".join(c.format for c in cb)
    if [c.format for c in ca] != [c.format for c in cb]:
        fc.status = PairStatus.different
        fc.reasons.append("container layout differs: "
                          f"{', '.join(f'{c.format}@{c.start}' for c in ca) or 'none'} vs "
                          f"{', '.join(f'{c.format}@{c.start}' for c in cb) or 'none'}")
        return
    trees: set[str] = set()
    needs_members = False
    for chunk_a, chunk_b in zip(ca, cb, strict=True):
        where = path if len(ca) == 1 else f"{path} [{chunk_a.format} at {chunk_a.start}]"
        if bool(chunk_a.tree) != bool(chunk_b.tree):
            fc.reasons.append(f"{where}: extracted on one side only")
            continue
        if chunk_a.tree:
            trees.add(chunk_a.tree)
        if chunk_b.tree:
            trees.add(chunk_b.tree)
        if chunk_a.tree is None:
            continue  # carved: its bytes are a file of the carve directory, compared there
        with mapped(a.hosts[path]) as view_a, mapped(b.hosts[path]) as view_b:
            data_a = view_a[chunk_a.start:chunk_a.end]
            data_b = view_b[chunk_b.start:chunk_b.end]
            if equal_masked(data_a, data_b, []):
                continue
            check = compare_container(chunk_a.format, data_a, data_b, where)
            data_a.release()
            data_b.release()
        fc.normalisations.extend(check.normalisations)
        fc.reasons.extend(check.differences)
        if not check.byte_equivalent:
            needs_members = True
    # The carve directory (chunks found inside a larger container) is a tree of its own.
    carve = f"{path}_extract"
    if any(c.tree and c.tree != carve for c in ca):
        trees.add(carve)
    status, summary = _member_summary(_members(files, trees))
    if summary:
        fc.reasons.append(summary)
    if fc.reasons:
        fc.status = PairStatus.different
        return
    fc.status = PairStatus.equivalent
    if needs_members:
        fc.normalisations.append(Normalisation(
            kind="container.members", where=path,
            detail=f"{fc.format}: the container's bytes differ beyond the normalised header "
                   f"fields; every member is identical or equivalent "
                   f"({'all identical' if status == PairStatus.identical else 'see members'})"))


def compare_sides(a: Side, b: Side) -> list[FileComparison]:
    """Every logical path of either side with its verdict, sorted by path."""
    files: dict[str, FileComparison] = {}
    pending: list[FileComparison] = []
    for path in sorted(set(a.entries) | set(b.entries)):
        ea, eb = a.entries.get(path), b.entries.get(path)
        fc = _base(path, ea, eb)
        files[path] = fc
        if ea is None or eb is None:
            continue
        fc.reasons = metadata_reasons(ea, eb)
        if fc.reasons:
            fc.status = PairStatus.different
        if ea.kind != "file" or eb.kind != "file" or ea.sha256 == eb.sha256:
            continue
        if path in a.containers or path in b.containers:
            pending.append(fc)
            continue
        _compare_content(fc, ea, eb)
        if fc.reasons:
            fc.status = PairStatus.different
    # Deepest containers first: a nested container lives under its parent's tree.
    for fc in sorted(pending, key=lambda f: (-f.path.count("/"), f.path)):
        meta = list(fc.reasons)
        fc.reasons = []
        _resolve_container(fc, a, b, files)
        if meta:
            fc.reasons = meta + fc.reasons
            fc.status = PairStatus.different
    for fc in files.values():
        fc.normalisations.sort(key=lambda n: (n.kind, n.where, n.detail))
    return [files[p] for p in sorted(files)]
