"""Metadata manifests for the archives and filesystems unblob extracts.

unblob's extractors (and what unblob does after them) lose the metadata spyproof reports:
the cpio extractor does not apply file modes, ``fix_permission`` ORs 0o644/0o775 into
every file and directory, ``fix_symlink`` rewrites absolute link targets and deletes ones
that point outside, device nodes and fifos are not created, 7-Zip drops setuid bits and
owners, debugfs' ``rdump`` drops setuid bits, owners, device nodes and hard links.

:class:`ManifestingExtractor` wraps an unblob extractor: after the wrapped extractor ran,
it lists the metadata from the archive itself (not from the extracted files) and writes
it as the manifest of the extraction directory (``spyproof.inventory.manifest``). The
inventory prefers the manifest to what the disk shows.

Listers, one per format, each take the carved chunk and return a :class:`Listing`. They
never raise on malformed input: they return the entries read up to the damage and say
what stopped them. They stream (read headers, skip data), so memory does not grow with
the size of the archive's files:

* tar (``TarUstarHandler``, ``TarUnixHandler``): :func:`list_tar`, Python ``tarfile``
  with unblob's own header class, so names are parsed exactly as unblob extracts them.
* cpio (newc, crc, odc, binary LE/BE): :func:`list_cpio`, a small header parser.
* zip: :func:`list_zip`, Python ``zipfile`` (central directory; Unix modes when the
  entry was made on Unix, owners from the Info-ZIP ``ux``/``UX`` extra fields).
* ext2/3/4: :func:`list_ext`, e2fsprogs' ``debugfs`` (the tool unblob extracts with):
  ``ls -p`` per directory level, ``stat`` for device numbers, ``rdump`` of the symlink
  inodes alone to read their targets byte-exact.
* UBIFS: :func:`list_ubifs`, ubi_reader's index walk (the library unblob's UBIFS
  extractor runs); only inode and directory-entry nodes are used, no file data is read.

JFFS2 is not covered: jefferson's only API (``scan_fs``) decompresses every data node of
the image into memory, so it cannot be used for a streaming listing.

:func:`with_manifests` swaps the handlers of those formats in a handler tuple for
subclasses whose extractor is wrapped.
"""

from __future__ import annotations

import ast
import contextlib
import io
import os
import posixpath
import re
import shutil
import stat
import struct
import subprocess
import tarfile
import tempfile
import zipfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from structlog import get_logger
from unblob.file_utils import make_lost_and_found_path
from unblob.handlers.archive import cpio as _unblob_cpio
from unblob.handlers.archive import tar as _unblob_tar
from unblob.handlers.archive import zip as _unblob_zip
from unblob.handlers.archive._safe_tarfile import open_safe_tarfile
from unblob.handlers.filesystem import extfs as _unblob_extfs
from unblob.handlers.filesystem import ubi as _unblob_ubi
from unblob.models import ExtractError, Extractor, ExtractResult, Handlers
from unblob.report import ExtractionProblem, PathTraversalProblem, Report

from spyproof.inventory.manifest import ManifestEntry, write_manifest
from spyproof.models import EntryKind
from spyproof.unpack import limits

logger = get_logger()

# A symlink target longer than PATH_MAX cannot be created by any extractor; reading at
# most this much of a link's data keeps a hostile "symlink" member from costing memory.
MAX_LINK_TARGET = 4096
# unblob's cpio parser refuses longer names (MAX_LINUX_PATH_LENGTH).
MAX_CPIO_NAME = 0x1000
DEBUGFS_TIMEOUT = 60 * 60
# Directory levels listed by list_ext; real trees are far shallower.
MAX_EXT_DEPTH = 1024


@dataclass
class Listing:
    """A lister's answer: the entries it could read, and what stopped it (if anything)."""

    entries: list[ManifestEntry] = field(default_factory=list)
    problem: str | None = None


Lister = Callable[[Path], Listing]


# --- helpers ---------------------------------------------------------------------------


def _mode(mode: int) -> str:
    return f"{stat.S_IMODE(mode):04o}"


_KINDS_BY_IFMT = {
    stat.S_IFREG: EntryKind.file,
    stat.S_IFDIR: EntryKind.directory,
    stat.S_IFLNK: EntryKind.symlink,
    stat.S_IFCHR: EntryKind.char_device,
    stat.S_IFBLK: EntryKind.block_device,
    stat.S_IFIFO: EntryKind.fifo,
    stat.S_IFSOCK: EntryKind.socket,
}


def _kind_of(mode: int) -> EntryKind | None:
    return _KINDS_BY_IFMT.get(stat.S_IFMT(mode))


def _device_note(major: int, minor: int) -> str:
    return f"device {major},{minor}"


def _split_dev(dev: int) -> tuple[int, int]:
    """major, minor of a dev_t in the Linux/glibc encoding (old 16-bit values included)."""
    major = ((dev >> 8) & 0xFFF) | ((dev >> 32) & ~0xFFF)
    minor = (dev & 0xFF) | ((dev >> 12) & ~0xFF)
    return major, minor


def _join_notes(*notes: str | None) -> str | None:
    kept = [n for n in notes if n]
    return "; ".join(kept) if kept else None


def _link_text(data: bytes) -> str:
    """A symlink target as the kernel would store it: up to the first NUL."""
    return os.fsdecode(data.split(b"\0", 1)[0])


def unblob_fs_path(name: str) -> tuple[str | None, str | None]:
    """Where unblob's FileSystem (cpio) and SafeTarFile (tar) put archive member ``name``.

    Returns (path relative to the extraction directory, note). Leading slashes are
    dropped and ``.``/``..`` resolved lexically; a name that would leave the extraction
    directory gets the path unblob's FileSystem redirects it to (``.unblob-lost+found``)
    and a note with the original name. ``(None, None)`` for the extraction root itself.
    """
    stripped = name.lstrip("/")
    norm = posixpath.normpath(stripped) if stripped else "."
    if norm == ".":
        return None, None
    if norm == ".." or norm.startswith("../"):
        lost = make_lost_and_found_path(Path(name)).as_posix()
        return lost, f"archive name: {name!r} (path traversal)"
    return norm, None


def sevenzip_path(name: str) -> str | None:
    """Where 7-Zip (unblob's zip extractor) puts ``name``: it drops empty, ``.`` and
    ``..`` components (verified with 7-Zip 26.02)."""
    parts = [p for p in name.split("/") if p not in ("", ".", "..")]
    return "/".join(parts) or None


_MISSING_NOTE = {
    EntryKind.file: "file",
    EntryKind.directory: "directory",
    EntryKind.symlink: "symlink",
    EntryKind.hardlink: "hard link",
    EntryKind.char_device: "device node",
    EntryKind.block_device: "device node",
    EntryKind.fifo: "fifo",
    EntryKind.socket: "socket",
}


class _DiskProbe:
    """Does ``rel`` exist under root, without following symlinks on the way?"""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._dirs: dict[str, bool] = {"": root.is_dir() and not root.is_symlink()}

    def _is_dir(self, rel: str) -> bool:
        if rel not in self._dirs:
            parent = posixpath.dirname(rel)
            ok = self._is_dir(parent)
            if ok:
                try:
                    ok = stat.S_ISDIR(os.lstat(self.root / rel).st_mode)
                except (OSError, ValueError):
                    ok = False
            self._dirs[rel] = ok
        return self._dirs[rel]

    def exists(self, rel: str) -> bool:
        if not self._is_dir(posixpath.dirname(rel)):
            return False
        try:
            os.lstat(self.root / rel)
        except (OSError, ValueError):
            return False
        return True


def annotate_missing(outdir: Path, entries: Iterable[ManifestEntry]) -> list[ManifestEntry]:
    """Mark the entries the extractor did not create (device nodes, fifos, skipped links,
    skipped traversal names) so the inventory can say why they are not on disk."""
    probe = _DiskProbe(outdir)
    out = []
    for entry in entries:
        if not probe.exists(entry.path):
            entry.note = _join_notes(entry.note, f"not created: {_MISSING_NOTE[entry.kind]}")
        out.append(entry)
    return out


class _Collector:
    """Entries by extraction path: a later member with the same path replaces the
    earlier one, as it does on disk. Holds at most ``limits.max_files`` paths, so a
    hostile archive of millions of empty members cannot exhaust memory."""

    def __init__(self) -> None:
        self.by_path: dict[str, ManifestEntry] = {}
        self.cap = max(1, limits.current().max_files)
        self.dropped = 0

    def add(self, entry: ManifestEntry) -> None:
        if entry.path not in self.by_path and len(self.by_path) >= self.cap:
            self.dropped += 1
            return
        self.by_path.pop(entry.path, None)
        self.by_path[entry.path] = entry

    def listing(self, problem: str | None = None) -> Listing:
        if self.dropped and problem is None:
            problem = f"more than {self.cap} entries; {self.dropped} not listed"
        return Listing(entries=list(self.by_path.values()), problem=problem)


# --- the extractor wrapper -------------------------------------------------------------


class ManifestingExtractor(Extractor):
    """Runs ``inner``, then writes the manifest of ``outdir`` from ``lister(inpath)``.

    A failing lister never fails the extraction: its exception becomes an unblob
    ``ExtractionProblem`` report. Attributes other extractors' handlers read from their
    extractor (the cpio handlers use ``EXTRACTOR.PARSER``) are forwarded to ``inner``.
    """

    def __init__(self, inner: Extractor, lister: Lister) -> None:
        self._inner = inner
        self._lister = lister

    @property
    def inner(self) -> Extractor:
        return self._inner

    @property
    def lister(self) -> Lister:
        return self._lister

    def __getattr__(self, name: str):
        if name.startswith("_"):  # keeps copy/pickle from recursing before __init__
            raise AttributeError(name)
        return getattr(self._inner, name)

    def get_dependencies(self) -> list[str]:
        return self._inner.get_dependencies()

    def extract(self, inpath: Path, outdir: Path) -> ExtractResult | None:
        try:
            result = self._inner.extract(inpath, outdir)
        except ExtractError as exc:
            problems = self.write_manifest(inpath, outdir)
            if not problems:
                raise
            raise ExtractError(*exc.reports, *problems) from exc
        except Exception:
            self.write_manifest(inpath, outdir)
            raise
        problems = self.write_manifest(inpath, outdir)
        if not problems:
            return result
        reports: list[Report] = list(result.reports) if result is not None else []
        return ExtractResult(reports=[*reports, *problems])

    def write_manifest(self, inpath: Path, outdir: Path) -> list[Report]:
        """List ``inpath`` and write the manifest of ``outdir``; the problems met."""
        try:
            listing = self._lister(inpath)
            entries = annotate_missing(outdir, listing.entries)
        except Exception as exc:  # a lister bug must not cost the extraction
            logger.warning("metadata listing failed", path=inpath, exc_info=True)
            return [
                ExtractionProblem(
                    problem=f"Metadata could not be listed: {type(exc).__name__}: {exc}",
                    resolution="Inventory uses the metadata of the extracted files.",
                )
            ]
        problems: list[Report] = []
        if self._lister is list_zip:
            # 7-Zip drops '..' and '/' from member names without saying so.
            problems.extend(_silent_traversals(entries))
        if listing.problem:
            problems.append(
                ExtractionProblem(
                    problem=f"Metadata listing incomplete: {listing.problem}",
                    resolution="Entries after that point use the metadata of the extracted files.",
                )
            )
        if entries:
            try:
                write_manifest(outdir, entries)
            except Exception as exc:
                problems.append(
                    ExtractionProblem(
                        problem=f"Metadata manifest could not be written: {exc}",
                        resolution="Inventory uses the metadata of the extracted files.",
                    )
                )
        return problems


def _silent_traversals(entries: Iterable[ManifestEntry]) -> list[Report]:
    out: list[Report] = []
    for e in entries:
        match = re.match(r"archive name: (.*)$", e.note or "")
        if not match:
            continue
        try:
            original = ast.literal_eval(match.group(1))
        except (ValueError, SyntaxError):
            continue
        if original.startswith("/") or ".." in original.split("/"):
            out.append(PathTraversalProblem(
                path=original, extraction_path=e.path,
                problem="Potential path traversal in archive member name",
                resolution="Redirected inside the extraction directory."))
    return out


# --- tar -------------------------------------------------------------------------------


def _tar_entry(member: tarfile.TarInfo, seen: _Collector) -> ManifestEntry | None:
    rel, note = unblob_fs_path(member.name)
    if rel is None:
        return None
    link_target = None
    size = 0
    if member.isreg():
        kind = EntryKind.file
        size = member.size
    elif member.isdir():
        kind = EntryKind.directory
    elif member.issym():
        kind = EntryKind.symlink
        link_target = member.linkname
        size = len(os.fsencode(member.linkname))
    elif member.islnk():
        kind = EntryKind.hardlink
        link_target = member.linkname
        target_rel, _ = unblob_fs_path(member.linkname)
        first = seen.by_path.get(target_rel) if target_rel else None
        size = first.size if first is not None else member.size
    elif member.ischr() or member.isblk():
        kind = EntryKind.char_device if member.ischr() else EntryKind.block_device
        note = _join_notes(_device_note(member.devmajor, member.devminor), note)
    elif member.isfifo():
        kind = EntryKind.fifo
    else:
        return None
    return ManifestEntry(
        path=rel,
        kind=kind,
        mode=_mode(member.mode),
        uid=member.uid,
        gid=member.gid,
        size=size,
        link_target=link_target,
        note=note,
    )


def list_tar(path: Path) -> Listing:
    """Members of a tar archive, parsed with unblob's own tar header class."""
    seen = _Collector()
    try:
        archive = open_safe_tarfile(name=str(path), mode="r")
    except Exception as exc:
        return Listing(problem=f"not a readable tar archive: {exc}")
    problem = None
    with contextlib.closing(archive):
        while True:
            try:
                member = archive.next()
            except Exception as exc:
                problem = f"tar header unreadable at offset {archive.offset}: {exc}"
                break
            if member is None:
                break
            archive.members.clear()  # keep memory flat; nothing here looks members up
            entry = _tar_entry(member, seen)
            if entry is not None:
                seen.add(entry)
    return seen.listing(problem)


# --- cpio ------------------------------------------------------------------------------

CPIO_TRAILER = "TRAILER!!!"
_NEWC_MAGICS = (b"070701", b"070702")
_ODC_MAGIC = b"070707"
_BIN_MAGIC_LE = b"\xc7\x71"
_BIN_MAGIC_BE = b"\x71\xc7"
_NEWC_SIZE = 110
_ODC_SIZE = 76
_BIN_SIZE = 26


@dataclass
class CpioHeader:
    """One cpio member header, whatever the format."""

    name: str
    mode: int
    uid: int
    gid: int
    nlink: int
    size: int
    dev: tuple[int, int]
    ino: int
    rdev: tuple[int, int]
    data_offset: int
    next_offset: int


class CpioFormatError(ValueError):
    pass


def _pad(value: int, align: int) -> int:
    return (value + align - 1) // align * align


def _read_exact(fh, size: int, what: str) -> bytes:
    data = fh.read(size)
    if len(data) != size:
        raise CpioFormatError(f"truncated {what}")
    return data


def _number(field_bytes: bytes, base: int) -> int:
    try:
        return int(field_bytes.decode("ascii"), base)
    except (UnicodeDecodeError, ValueError):
        raise CpioFormatError(f"bad header number {field_bytes!r}") from None


def _read_cpio_name(fh, namesize: int) -> str:
    if namesize <= 0 or namesize > MAX_CPIO_NAME:
        raise CpioFormatError(f"bad name size {namesize}")
    raw = _read_exact(fh, namesize, "name")
    if not raw.endswith(b"\0"):
        raise CpioFormatError("name not NUL-terminated")
    return os.fsdecode(raw.split(b"\0", 1)[0])


def read_cpio_header(fh, offset: int) -> CpioHeader:
    """Parse the member header at ``offset`` (newc, crc, odc or binary LE/BE)."""
    fh.seek(offset)
    magic = fh.read(6)
    if magic in _NEWC_MAGICS:
        raw = _read_exact(fh, _NEWC_SIZE - 6, "newc header")
        (ino, mode, uid, gid, nlink, _mtime, size, dev_maj, dev_min, rdev_maj, rdev_min,
         namesize, _check) = (_number(raw[i:i + 8], 16) for i in range(0, 104, 8))  # fmt: skip
        name = _read_cpio_name(fh, namesize)
        data_offset = offset + _pad(_NEWC_SIZE + namesize, 4)
        return CpioHeader(
            name,
            mode,
            uid,
            gid,
            nlink,
            size,
            (dev_maj, dev_min),
            ino,
            (rdev_maj, rdev_min),
            data_offset,
            data_offset + _pad(size, 4),
        )
    if magic == _ODC_MAGIC:
        raw = _read_exact(fh, _ODC_SIZE - 6, "odc header")
        widths = (6, 6, 6, 6, 6, 6, 6, 11, 6, 11)
        values, pos = [], 0
        for width in widths:
            values.append(_number(raw[pos : pos + width], 8))
            pos += width
        dev, ino, mode, uid, gid, nlink, rdev, _mtime, namesize, size = values
        name = _read_cpio_name(fh, namesize)
        data_offset = offset + _ODC_SIZE + namesize
        return CpioHeader(
            name,
            mode,
            uid,
            gid,
            nlink,
            size,
            _split_dev(dev),
            ino,
            _split_dev(rdev),
            data_offset,
            data_offset + size,
        )
    if magic[:2] in (_BIN_MAGIC_LE, _BIN_MAGIC_BE):
        order = "<" if magic[:2] == _BIN_MAGIC_LE else ">"
        fh.seek(offset)
        raw = _read_exact(fh, _BIN_SIZE, "binary header")
        (_magic, dev, ino, mode, uid, gid, nlink, rdev, _mt_hi, _mt_lo, namesize, size_hi,
         size_lo) = struct.unpack(order + "13H", raw)  # fmt: skip
        size = size_hi << 16 | size_lo
        name = _read_cpio_name(fh, namesize)
        data_offset = offset + _BIN_SIZE + _pad(namesize, 2)
        return CpioHeader(
            name,
            mode,
            uid,
            gid,
            nlink,
            size,
            _split_dev(dev),
            ino,
            _split_dev(rdev),
            data_offset,
            data_offset + _pad(size, 2),
        )
    raise CpioFormatError(f"no cpio header magic ({magic!r})")


def list_cpio(path: Path) -> Listing:
    """Members of a cpio archive up to ``TRAILER!!!``.

    Hard links: regular-file members sharing (dev, ino) with nlink > 1; the first name
    is the file, later names are hard links to it (newc writers put the data on the
    last name, so the group's size is the largest member size).
    """
    seen = _Collector()
    first_names: dict[tuple, tuple[str, str]] = {}  # (dev, ino) -> (raw name, path)
    problem = None
    try:
        fh = open(path, "rb")  # noqa: SIM115 - closed below, also on error
    except OSError as exc:
        return Listing(problem=f"cannot read: {exc}")
    with fh:
        file_size = os.fstat(fh.fileno()).st_size
        offset = 0
        while True:
            try:
                header = read_cpio_header(fh, offset)
            except CpioFormatError as exc:
                problem = f"cpio header unreadable at offset {offset}: {exc}"
                break
            except OSError as exc:
                problem = f"read error at offset {offset}: {exc}"
                break
            if header.name == CPIO_TRAILER:
                break
            # Unknown file types (contiguous files, garbage) are skipped, as unblob does.
            kind = _kind_of(header.mode)
            truncated = header.data_offset + header.size > file_size
            rel, note = unblob_fs_path(header.name)
            if rel is not None and kind is not None:
                entry = ManifestEntry(
                    path=rel,
                    kind=kind,
                    mode=_mode(header.mode),
                    uid=header.uid,
                    gid=header.gid,
                    note=note,
                )
                if kind is EntryKind.file:
                    entry.size = header.size
                    key = (header.dev, header.ino)
                    linked = header.nlink > 1 and header.ino != 0
                    if linked and key in first_names:
                        first_raw, first_rel = first_names[key]
                        entry.kind = EntryKind.hardlink
                        entry.link_target = first_raw
                        first = seen.by_path.get(first_rel)
                        if first is not None:
                            first.size = max(first.size, header.size)
                    elif linked:
                        first_names[key] = (header.name, rel)
                elif kind is EntryKind.symlink:
                    fh.seek(header.data_offset)
                    entry.link_target = _link_text(fh.read(min(header.size, MAX_LINK_TARGET)))
                    entry.size = header.size
                elif kind in (EntryKind.char_device, EntryKind.block_device):
                    entry.note = _join_notes(_device_note(*header.rdev), note)
                seen.add(entry)
            if truncated:
                problem = f"cpio member {header.name!r} is truncated"
                break
            offset = header.next_offset
    # Every name of a hard-link group has the group's size.
    for entry in seen.by_path.values():
        if entry.kind is EntryKind.hardlink and entry.link_target is not None:
            first_rel, _ = unblob_fs_path(entry.link_target)
            first = seen.by_path.get(first_rel) if first_rel else None
            if first is not None:
                entry.size = first.size
    return seen.listing(problem)


# --- zip -------------------------------------------------------------------------------

_ZIP_UNIX = 3
_EXTRA_INFOZIP_UNIX_NEW = 0x7875  # "ux": version, uid size, uid, gid size, gid
_EXTRA_INFOZIP_UNIX_OLD = 0x5855  # "UX": atime, mtime[, uid, gid] (16-bit)
_LOCAL_HEADER = struct.Struct("<4s2B4HL2L2H")


def _zip_owner(extra: bytes) -> tuple[int, int] | None:
    pos = 0
    while pos + 4 <= len(extra):
        tag, size = struct.unpack_from("<HH", extra, pos)
        body = extra[pos + 4 : pos + 4 + size]
        pos += 4 + size
        if tag == _EXTRA_INFOZIP_UNIX_NEW and len(body) >= 3 and body[0] == 1:
            uid_size = body[1]
            uid_end = 2 + uid_size
            if len(body) < uid_end + 1:
                continue
            gid_size = body[uid_end]
            gid_raw = body[uid_end + 1 : uid_end + 1 + gid_size]
            if len(gid_raw) != gid_size:
                continue
            return (int.from_bytes(body[2:uid_end], "little"), int.from_bytes(gid_raw, "little"))
        if tag == _EXTRA_INFOZIP_UNIX_OLD and len(body) >= 12:
            uid, gid = struct.unpack_from("<HH", body, 8)
            return uid, gid
    return None


def _zip_local_extra(fh, info: zipfile.ZipInfo) -> bytes:
    fh.seek(info.header_offset)
    raw = fh.read(_LOCAL_HEADER.size)
    if len(raw) != _LOCAL_HEADER.size or raw[:4] != b"PK\x03\x04":
        return b""
    name_len, extra_len = struct.unpack_from("<HH", raw, 26)
    fh.seek(info.header_offset + _LOCAL_HEADER.size + name_len)
    return fh.read(extra_len)


def list_zip(path: Path) -> Listing:
    """Members of a zip archive with a Unix mode (``create_system == 3``); members made
    elsewhere carry no Unix metadata and are left to the disk."""
    seen = _Collector()
    problem = None
    try:
        archive = zipfile.ZipFile(path)
    except Exception as exc:
        return Listing(problem=f"not a readable zip archive: {exc}")
    with archive, open(path, "rb") as raw:
        for info in archive.infolist():
            unix_mode = info.external_attr >> 16
            if info.create_system != _ZIP_UNIX or unix_mode == 0:
                continue
            rel = sevenzip_path(info.filename)
            if rel is None:
                continue
            kind = _kind_of(unix_mode)
            if stat.S_IFMT(unix_mode) == 0:  # some writers store permission bits only
                kind = EntryKind.directory if info.is_dir() else EntryKind.file
            if kind is None:
                continue
            owner = _zip_owner(info.extra)
            if owner is None:
                try:
                    owner = _zip_owner(_zip_local_extra(raw, info))
                except OSError:
                    owner = None
            uid, gid = owner if owner is not None else (0, 0)
            entry = ManifestEntry(
                path=rel, kind=kind, mode=_mode(unix_mode), uid=uid, gid=gid, size=info.file_size
            )
            if rel != info.filename.strip("/"):
                entry.note = f"archive name: {info.filename!r}"
            if kind is EntryKind.directory:
                entry.size = 0
            elif kind is EntryKind.symlink:
                try:
                    with archive.open(info) as member:
                        entry.link_target = _link_text(member.read(MAX_LINK_TARGET))
                except Exception as exc:
                    problem = problem or f"symlink {info.filename!r} unreadable: {exc}"
            seen.add(entry)
    return seen.listing(problem)


# --- ext2/3/4 (debugfs) ----------------------------------------------------------------

_LS_P_LINE = re.compile(r"/(\d+)/([0-7]+)/(-?\d+)/(-?\d+)/(.*)/(\d*)/", re.S)
_LS_P_START = re.compile(r"/\d+/[0-7]+/-?\d+/-?\d+/")
_DEVICE_LINE = re.compile(r"Device major/minor number: (\d+):(\d+)")


def _debugfs(image: Path, commands: list[str]) -> tuple[list[tuple[str, list[str]]], str]:
    """Run ``commands`` in one read-only debugfs session; per command its output lines
    (split on the ``debugfs: <command>`` echo that ``-f`` prints), and stderr."""
    proc = subprocess.run(
        ["debugfs", "-c", "-f", "-", str(image)],
        input="".join(c + "\n" for c in commands).encode(),
        capture_output=True,
        timeout=DEBUGFS_TIMEOUT,
        check=False,
    )
    out: list[tuple[str, list[str]]] = []
    pending = list(commands)
    for line in os.fsdecode(proc.stdout).split("\n"):
        if pending and line == "debugfs: " + pending[0]:
            out.append((pending.pop(0), []))
        elif out:
            out[-1][1].append(line)
    return out, os.fsdecode(proc.stderr)


def _parse_ls_p(lines: list[str]) -> list[tuple[int, int, int, int, str, int]]:
    """``ls -p`` lines: (inode, mode, uid, gid, name, size); names with newlines rejoined."""
    rows = []
    buffer = None
    for line in lines:
        candidate = line if buffer is None else buffer + "\n" + line
        match = _LS_P_LINE.fullmatch(candidate)
        if match:
            ino, mode, uid, gid, name, size = match.groups()
            rows.append(
                (int(ino), int(mode, 8), int(uid), int(gid), name, int(size) if size else 0)
            )
            buffer = None
        elif _LS_P_START.match(candidate):
            buffer = candidate
        else:
            buffer = None
    return rows


def _quote_debugfs(text: str) -> str:
    return '"' + text.replace('"', '""') + '"'


def list_ext(path: Path) -> Listing:
    """Entries of an ext2/3/4 image, read with e2fsprogs' debugfs (read-only, ``-c``)."""
    if shutil.which("debugfs") is None:
        return Listing(problem="debugfs (e2fsprogs) is not installed")
    seen = _Collector()
    problem = None
    inode_paths: dict[int, str] = {}
    symlinks: dict[int, list[ManifestEntry]] = {}
    devices: dict[int, list[ManifestEntry]] = {}
    visited = {2}
    level = [(2, "")]  # (directory inode, its path); inode 2 is the root
    depth = 0
    try:
        while level:
            depth += 1
            if depth > MAX_EXT_DEPTH:
                problem = f"directory tree deeper than {MAX_EXT_DEPTH} levels"
                break
            dirs = dict(level)
            results, stderr = _debugfs(path, [f"ls -p <{ino}>" for ino, _ in level])
            listed = [(int(cmd[len("ls -p <") : -1]), _parse_ls_p(lines)) for cmd, lines in results]
            if depth == 1 and not any(rows for _, rows in listed):
                reason = stderr.strip().splitlines()[-1:] or ["no output"]
                return Listing(problem=f"debugfs could not list the root: {reason[0]}")
            next_level = []
            for dir_ino, rows in listed:
                dir_rel = dirs[dir_ino]
                if not rows:  # even an empty directory lists "." and ".."
                    problem = problem or f"directory {dir_rel!r} unreadable: " + (
                        " ".join(stderr.strip().splitlines()[-1:]) or "no output"
                    )
                for ino, mode, uid, gid, name, size in rows:
                    if name in (".", "..") or not name or "/" in name:
                        continue
                    rel = f"{dir_rel}/{name}" if dir_rel else name
                    kind = _kind_of(mode)
                    if kind is None:
                        continue
                    entry = ManifestEntry(
                        path=rel, kind=kind, mode=_mode(mode), uid=uid, gid=gid, size=size
                    )
                    if kind is EntryKind.directory:
                        entry.size = 0
                        if ino not in visited:
                            visited.add(ino)
                            next_level.append((ino, rel))
                    elif kind is EntryKind.file:
                        if ino in inode_paths:
                            entry.kind = EntryKind.hardlink
                            entry.link_target = inode_paths[ino]
                        else:
                            inode_paths[ino] = rel
                    elif kind is EntryKind.symlink:
                        symlinks.setdefault(ino, []).append(entry)
                    elif kind in (EntryKind.char_device, EntryKind.block_device):
                        devices.setdefault(ino, []).append(entry)
                    seen.add(entry)
            level = next_level
        if devices:
            results, _ = _debugfs(path, [f"stat <{ino}>" for ino in devices])
            for command, lines in results:
                ino = int(command[len("stat <") : -1])
                for line in lines:
                    if match := _DEVICE_LINE.search(line):
                        for entry in devices.get(ino, []):
                            entry.note = _device_note(int(match[1]), int(match[2]))
        if symlinks:
            with tempfile.TemporaryDirectory(prefix="spyproof-ext-links-") as tmp:
                # rdump of the link inode alone writes the link, named "<ino>", as
                # debugfs reads it (fast, slow and inline targets alike).
                _debugfs(path, [f"rdump <{ino}> {_quote_debugfs(tmp)}" for ino in symlinks])
                for ino, entries in symlinks.items():
                    try:
                        target = os.fsdecode(os.readlink(os.path.join(tmp, f"<{ino}>")))
                    except OSError:
                        problem = problem or f"symlink target of inode {ino} unreadable"
                        continue
                    for entry in entries:
                        entry.link_target = target
    except (OSError, subprocess.SubprocessError) as exc:
        problem = f"debugfs failed: {exc}"
    return seen.listing(problem)


# --- UBIFS (ubi_reader) ----------------------------------------------------------------

_UBIFS_ITYPE_DIR = 1


def list_ubifs(path: Path) -> Listing:
    """Entries of a bare UBIFS image through ubi_reader's index walk.

    ubi_reader reports damage by printing, and a fatal one by ``sys.exit``: both are
    captured here. Only inode and directory-entry nodes are used (the index keeps data
    nodes as offsets, not data).
    """
    from ubireader import settings as ubi_settings
    from ubireader.ubi_io import ubi_file
    from ubireader.ubifs import ubifs as open_ubifs
    from ubireader.ubifs import walk
    from ubireader.utils import guess_leb_size

    seen = _Collector()
    chatter = io.StringIO()
    saved = ubi_settings.warn_only_block_read_errors
    ubi_settings.warn_only_block_read_errors = True
    inodes: dict = {}
    problem = None
    try:
        with contextlib.redirect_stdout(chatter):
            leb_size = guess_leb_size(str(path))
            if not leb_size:
                return Listing(problem="no UBIFS superblock found")
            volume = open_ubifs(ubi_file(str(path), leb_size, 0, None))
            walk.index(
                volume, volume.master_node.root_lnum, volume.master_node.root_offs, inodes, []
            )
    except SystemExit:
        said = chatter.getvalue().strip().splitlines()
        problem = f"ubi_reader gave up: {said[-1] if said else 'no reason given'}"
    except Exception as exc:
        problem = f"ubi_reader: {type(exc).__name__}: {exc}"
    finally:
        ubi_settings.warn_only_block_read_errors = saved
    if 1 not in inodes:
        said = chatter.getvalue().strip().splitlines()
        return Listing(problem=problem or (said[-1] if said else "no root inode"))

    hardlinks: dict[int, str] = {}
    visited = {1}
    stack = [(1, "")]
    while stack:
        dir_inum, dir_rel = stack.pop()
        for dent in inodes.get(dir_inum, {}).get("dent", []):
            name = os.fsdecode(bytes(dent.raw_name))
            node = inodes.get(dent.inum, {}).get("ino")
            if name in ("", ".", "..") or "/" in name or node is None:
                continue
            rel = f"{dir_rel}/{name}" if dir_rel else name
            kind = _kind_of(node.mode)
            if kind is None:
                continue
            entry = ManifestEntry(
                path=rel,
                kind=kind,
                mode=_mode(node.mode),
                uid=node.uid,
                gid=node.gid,
                size=node.size,
            )
            if kind is EntryKind.directory:
                entry.size = 0
                if dent.inum not in visited:
                    visited.add(dent.inum)
                    stack.append((dent.inum, rel))
            elif kind is EntryKind.file and node.nlink > 1:
                if dent.inum in hardlinks:
                    entry.kind = EntryKind.hardlink
                    entry.link_target = hardlinks[dent.inum]
                else:
                    hardlinks[dent.inum] = rel
            elif kind is EntryKind.symlink:
                entry.link_target = _link_text(bytes(node.data[:MAX_LINK_TARGET]))
            elif kind in (EntryKind.char_device, EntryKind.block_device):
                data = bytes(node.data)
                if len(data) in (4, 8):
                    dev = int.from_bytes(data, "little")
                    entry.note = _device_note(*_split_dev(dev))
            seen.add(entry)
    return seen.listing(problem)


# --- handler set -----------------------------------------------------------------------

LISTERS: dict[type, Lister] = {
    _unblob_tar.TarUstarHandler: list_tar,
    _unblob_tar.TarUnixHandler: list_tar,
    _unblob_cpio.BinaryHandler: list_cpio,
    _unblob_cpio.PortableOldASCIIHandler: list_cpio,
    _unblob_cpio.PortableASCIIHandler: list_cpio,
    _unblob_cpio.PortableASCIIWithCRCHandler: list_cpio,
    _unblob_zip.ZIPHandler: list_zip,
    _unblob_extfs.EXTHandler: list_ext,
    _unblob_ubi.UBIFSHandler: list_ubifs,
}

_MANIFESTING: dict[type, type] = {}


def manifesting_handler(handler: type) -> type:
    """``handler`` with its extractor wrapped in a ManifestingExtractor (same NAME,
    PATTERNS, calculate_chunk). The class is registered in this module under a unique
    name, so it pickles by reference like unblob's own handlers."""
    if handler in _MANIFESTING:
        return _MANIFESTING[handler]
    name = f"Manifesting{handler.__name__}"
    suffix = 1
    while name in globals():
        suffix += 1
        name = f"Manifesting{handler.__name__}{suffix}"
    subclass = type(
        name,
        (handler,),
        {
            "EXTRACTOR": ManifestingExtractor(handler.EXTRACTOR, LISTERS[handler]),
            "__module__": __name__,
            "__qualname__": name,
            "__doc__": f"{handler.__doc__ or handler.__name__}\n\n"
            "Writes a metadata manifest of its extraction directory "
            "(spyproof.unpack.handlers.metadata).",
        },
    )
    globals()[name] = subclass
    _MANIFESTING[handler] = subclass
    return subclass


def with_manifests(handlers: Iterable[type]) -> Handlers:
    """``handlers`` with the tar, cpio, zip, ext and UBIFS handlers replaced by
    manifest-writing subclasses, in the same order."""
    return tuple(manifesting_handler(h) if h in LISTERS else h for h in handlers)


__all__ = [
    "LISTERS",
    "Lister",
    "Listing",
    "ManifestingExtractor",
    "annotate_missing",
    "list_cpio",
    "list_ext",
    "list_tar",
    "list_ubifs",
    "list_zip",
    "manifesting_handler",
    "sevenzip_path",
    "unblob_fs_path",
    "with_manifests",
]
