"""SquashFS 4.0 handlers for unblob that extract with spyproof's own reader.

unblob's ``SquashFSv4LEHandler``/``SquashFSv4BEHandler`` run ``sasquatch``, which
neither Debian nor PyPI ship.  These subclasses keep unblob's names, patterns and
``calculate_chunk`` and swap in an extractor backed by
:func:`spyproof.unpack.squashfs_reader.extract_squashfs` (pure Python, both byte
orders, all six compressors).

Failures reach unblob as :class:`unblob.models.ExtractError`:

* a corrupt image -> :class:`SquashfsErrorReport` (``text`` starts with
  ``squashfs.corrupt:``), plus the problems met before the failure;
* a cap of :mod:`spyproof.unpack.limits` -> :class:`LimitReport` (``text`` starts
  with ``limit.``; ``cap`` and ``detail`` keep the breach), plus the problems met
  before it.  What was extracted before either stays on disk.
"""

from __future__ import annotations

import os
import stat
import struct
from pathlib import Path

from unblob.file_utils import SeekError
from unblob.handlers.filesystem.squashfs import SquashFSv4BEHandler, SquashFSv4LEHandler
from unblob.models import ExtractError, Extractor, ExtractResult, ValidChunk
from unblob.report import ErrorReport, Severity, register_report_types

from spyproof.inventory.manifest import ManifestEntry, write_manifest
from spyproof.models import EntryKind
from spyproof.unpack.limits import LimitExceeded
from spyproof.unpack.squashfs_reader import SquashfsError, extract_squashfs, iter_entries

__all__ = [
    "LimitReport",
    "SQUASHFS_HANDLERS",
    "SpyproofSquashFSExtractor",
    "SquashFSv4BEReaderHandler",
    "SquashFSv4LEReaderHandler",
    "SquashfsErrorReport",
]


class LimitReport(ErrorReport):
    """An extraction cap was reached; the output is partial."""

    severity: Severity = Severity.WARNING
    cap: str
    detail: str
    text: str = ""

    def model_post_init(self, _context) -> None:
        if not self.text:
            self.text = f"limit.{self.cap}: {self.detail}"


class SquashfsErrorReport(ErrorReport):
    """The image could not be read (or stopped being readable part-way)."""

    severity: Severity = Severity.ERROR
    message: str
    text: str = ""

    def model_post_init(self, _context) -> None:
        if not self.text:
            self.text = f"squashfs.corrupt: {self.message}"


register_report_types([LimitReport, SquashfsErrorReport])


class SpyproofSquashFSExtractor(Extractor):
    """Extracts SquashFS 4.0 (either byte order) without external tools."""

    def get_dependencies(self) -> list[str]:
        return []

    def extract(self, inpath: Path, outdir: Path) -> ExtractResult | None:
        inpath, outdir = Path(inpath), Path(outdir)
        truncated = _truncation(inpath)
        try:
            _stats, reports = extract_squashfs(inpath, outdir)
        except LimitExceeded as exc:
            _write_manifest(inpath, outdir)
            partial = list(getattr(exc, "reports", []))
            raise ExtractError(*partial, LimitReport(cap=exc.cap, detail=exc.detail)) from exc
        except SquashfsError as exc:
            _write_manifest(inpath, outdir)
            extra = [SquashfsErrorReport(message=truncated)] if truncated else []
            raise ExtractError(*exc.reports, *extra,
                               SquashfsErrorReport(message=str(exc))) from exc
        _write_manifest(inpath, outdir)
        if truncated:
            raise ExtractError(*reports, SquashfsErrorReport(message=truncated))
        return ExtractResult(reports=reports)


def _truncation(image: Path) -> str | None:
    """A one-line note when the superblock claims more bytes than the image holds."""
    try:
        with image.open("rb") as fh:
            head = fh.read(96)
        size = image.stat().st_size
    except OSError:
        return None
    if len(head) < 48:
        return None
    order = "<" if head[:4] == b"hsqs" else ">"
    (bytes_used,) = struct.unpack_from(order + "Q", head, 40)
    if bytes_used > size:
        return (f"image truncated: the superblock says {bytes_used} bytes, "
                f"only {size} are present; files past the cut are missing")
    return None


def _write_manifest(image: Path, outdir: Path) -> None:
    """Record modes, owners, link targets and special files as the image stores them."""
    if not outdir.is_dir():
        return
    entries: list[ManifestEntry] = []
    try:
        for e in iter_entries(image):
            if e.path in (".", ""):
                continue
            kind = _kind(e.mode)
            note = None
            if kind in (EntryKind.char_device, EntryKind.block_device):
                note = f"device {os.major(e.rdev)},{os.minor(e.rdev)}"
            entries.append(ManifestEntry(
                path=e.path, kind=kind, mode=f"{stat.S_IMODE(e.mode):04o}",
                uid=e.uid if e.uid is not None else 0, gid=e.gid if e.gid is not None else 0,
                size=e.size if kind is EntryKind.file else 0,
                link_target=e.link_target if kind is EntryKind.symlink else None, note=note))
    except SquashfsError:
        pass  # whatever was listed before the damage is still recorded
    write_manifest(outdir, entries)


def _kind(mode: int) -> EntryKind:
    for test, kind in ((stat.S_ISREG, EntryKind.file), (stat.S_ISDIR, EntryKind.directory),
                       (stat.S_ISLNK, EntryKind.symlink), (stat.S_ISCHR, EntryKind.char_device),
                       (stat.S_ISBLK, EntryKind.block_device), (stat.S_ISFIFO, EntryKind.fifo)):
        if test(mode):
            return kind
    return EntryKind.socket


class _TruncationTolerant:
    """unblob drops a squashfs whose superblock points past the end of the file; a
    truncated image is still worth extracting as far as it goes (and saying so)."""

    def calculate_chunk(self, file, start_offset):  # noqa: ANN001, ANN201 - unblob's API
        try:
            return super().calculate_chunk(file, start_offset)
        except SeekError:
            pass
        file.seek(start_offset)
        head = file.read(96)
        if not _plausible_superblock(head):
            return None
        return ValidChunk(start_offset=start_offset, end_offset=file.size())


def _plausible_superblock(head: bytes) -> bool:
    if len(head) < 96 or head[:4] not in (b"hsqs", b"sqsh"):
        return False
    o = "<" if head[:4] == b"hsqs" else ">"
    block_size, = struct.unpack_from(o + "I", head, 12)
    compression, block_log, _flags, _no_ids, major, minor = struct.unpack_from(
        o + "HHHHHH", head, 20)
    if (major, minor) != (4, 0) or not 1 <= compression <= 6:
        return False
    if block_size != 1 << block_log or not 4096 <= block_size <= 1 << 20:
        return False
    bytes_used, id_table, _xattr, inode_table, dir_table = struct.unpack_from(
        o + "QQQQQ", head, 40)
    return 96 <= inode_table < dir_table <= id_table < bytes_used


class SquashFSv4LEReaderHandler(_TruncationTolerant, SquashFSv4LEHandler):
    EXTRACTOR = SpyproofSquashFSExtractor()


class SquashFSv4BEReaderHandler(_TruncationTolerant, SquashFSv4BEHandler):
    EXTRACTOR = SpyproofSquashFSExtractor()


SQUASHFS_HANDLERS = (SquashFSv4LEReaderHandler, SquashFSv4BEReaderHandler)
