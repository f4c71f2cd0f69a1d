"""A pure-Python SquashFS 4.0 reader and extractor, for both byte orders.

unblob extracts SquashFS by running ``sasquatch``, which neither Debian nor PyPI
ship; this module replaces it for version 4.0 images.

Supported
    * little-endian images (magic ``hsqs``, what ``mksquashfs`` writes) and the
      non-standard big-endian variant (magic ``sqsh``) that sasquatch reads: every
      multi-byte field of every on-disk structure byte-swapped.  Two flavours of the
      big-endian variant exist: the plain one (2-byte metadata block headers are
      swapped too) and AVM's (``mkfs_time == bytes_used``; the metadata block headers
      stay little-endian).  The reader tries the likely flavour first and falls back
      to the other one if the first inode-table block does not decode;
    * gzip (zlib), lzma (legacy "lzma alone"), lzo, xz, lz4 and zstd compression;
    * every inode type (basic and extended), fragments, sparse blocks, hard links;
      extended attributes are ignored (extended inodes are parsed past them).

Safety (the images are hostile)
    * names that are empty, ``.``, ``..`` or contain ``/`` or NUL are skipped and
      reported (:class:`unblob.report.PathTraversalProblem`);
    * nothing is written outside ``outdir`` and no symlink is ever followed while
      writing: every directory on the way is either created here or checked with
      ``lstat``; files are opened with ``O_CREAT | O_EXCL | O_NOFOLLOW``;
    * symlinks are created with their target verbatim; device nodes, fifos and
      sockets are not created but reported
      (:class:`unblob.report.SpecialFileExtractionProblem`);
    * every read is bounded (metadata blocks at 8 KiB, data blocks at the block size,
      table sizes by the image), directory loops and shared directory listings are
      detected, and the walk depth is capped: a corrupt image raises
      :class:`SquashfsError` (one line) or, when only a part is unreadable, that part
      is reported and the rest extracted;
    * the caps of :mod:`spyproof.unpack.limits` stop the extraction with
      :class:`SquashfsLimitExceeded` (a :class:`~spyproof.unpack.limits.LimitExceeded`)
      once the tree written so far has been left consistent (directory modes and times
      applied).  ``cap`` is the ``Limits`` field without ``max_`` (``file_bytes``,
      ``total_bytes``, ``files``, ``ratio``: the engine's ``limit.*`` codes).  Sizes are
      known before any byte is written, so a file that would cross a byte cap is written
      up to the cap (truncated) and the extraction stops there; ``files`` counts every
      entry met (directories, links and the special files that are only reported).

Data is streamed block by block; file data is decompressed and written by a small
thread pool (zlib, lzma, lzo, lz4 and zstd all release the GIL).
"""

from __future__ import annotations

import contextlib
import lzma
import os
import stat
import struct
import threading
import zlib
from collections import OrderedDict, deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import lz4.block
import lzallright
import zstandard
from unblob.report import (
    ExtractionProblem,
    LinkExtractionProblem,
    PathTraversalProblem,
    Report,
    SpecialFileExtractionProblem,
)

from spyproof.unpack import limits as _limits
from spyproof.unpack.limits import LimitExceeded, Limits

__all__ = [
    "ExtractStats",
    "SquashEntry",
    "SquashfsError",
    "SquashfsImage",
    "SquashfsLimitExceeded",
    "Superblock",
    "extract_squashfs",
    "iter_entries",
]

# --------------------------------------------------------------------------- constants

MAGIC_LE = b"hsqs"
MAGIC_BE = b"sqsh"
SUPERBLOCK_SIZE = 96
METADATA_SIZE = 8192
META_UNCOMPRESSED = 0x8000
BLOCK_UNCOMPRESSED = 1 << 24
INVALID_FRAGMENT = 0xFFFFFFFF
MAX_DIR_HEADER_COUNT = 256  # entries per directory header (the kernel's limit)
MAX_SYMLINK_TARGET = 65536
MAX_DEPTH = 512  # directory nesting the walk follows
META_CACHE_BLOCKS = 2048  # decompressed metadata blocks kept (16 MiB at most)
FRAGMENT_CACHE_BLOCKS = 8
XZ_MEMLIMIT = 256 * 1024 * 1024  # refuses absurd dictionaries in hostile streams
ZSTD_MAX_WINDOW = 1 << 27

COMPRESSORS = {1: "gzip", 2: "lzma", 3: "lzo", 4: "xz", 5: "lz4", 6: "zstd"}

# inode types (basic; extended = basic + 7)
DIR, FILE, SYMLINK, BLKDEV, CHRDEV, FIFO, SOCKET = range(1, 8)
KIND = {
    DIR: "dir",
    FILE: "file",
    SYMLINK: "symlink",
    BLKDEV: "blockdev",
    CHRDEV: "chardev",
    FIFO: "fifo",
    SOCKET: "socket",
}
S_IFMT_OF = {
    DIR: stat.S_IFDIR,
    FILE: stat.S_IFREG,
    SYMLINK: stat.S_IFLNK,
    BLKDEV: stat.S_IFBLK,
    CHRDEV: stat.S_IFCHR,
    FIFO: stat.S_IFIFO,
    SOCKET: stat.S_IFSOCK,
}

_IS_ROOT = hasattr(os, "geteuid") and os.geteuid() == 0


class SquashfsError(Exception):
    """The image is not a readable SquashFS 4.0 image (one-line message)."""

    def __init__(self, message: str):
        super().__init__(" ".join(str(message).split()))
        self.reports: list[Report] = []


class SquashfsLimitExceeded(LimitExceeded):
    """A cap stopped the extraction; carries what was done and reported so far."""

    def __init__(self, cap: str, detail: str, stats: ExtractStats, reports: list[Report]):
        super().__init__(cap, detail)
        self.stats = stats
        self.reports = reports


@dataclass
class ExtractStats:
    files: int = 0
    dirs: int = 0
    symlinks: int = 0
    hardlinks: int = 0
    specials: int = 0
    bytes: int = 0


@dataclass(frozen=True, slots=True)
class SquashEntry:
    """One entry of the image, as :func:`iter_entries` lists it.

    ``path`` is POSIX and relative to the image root (``"."`` for the root itself);
    ``mode`` is a full ``st_mode`` (type and permission bits); ``size`` is the file
    size for regular files and the target length for symlinks; ``uid``/``gid`` are
    None when the id table cannot be read; ``rdev`` is a host ``dev_t`` (use
    ``os.major``/``os.minor``) for device nodes, else 0.
    """

    path: str
    kind: str
    mode: int
    uid: int | None
    gid: int | None
    size: int
    mtime: int
    link_target: str | None
    inode: int
    nlink: int = 1
    rdev: int = 0


@dataclass(frozen=True, slots=True)
class Superblock:
    big_endian: bool
    inode_count: int
    mkfs_time: int
    block_size: int
    fragment_count: int
    compressor: int
    block_log: int
    flags: int
    id_count: int
    major: int
    minor: int
    root_inode: int
    bytes_used: int
    id_table_start: int
    xattr_id_table_start: int
    inode_table_start: int
    directory_table_start: int
    fragment_table_start: int
    export_table_start: int

    @property
    def compression(self) -> str:
        return COMPRESSORS.get(self.compressor, f"unknown({self.compressor})")


@dataclass(slots=True)
class Inode:
    type: int  # basic type, 1..7
    mode: int  # permission bits (0o7777)
    uid_idx: int
    gid_idx: int
    mtime: int
    number: int
    key: tuple[int, int]  # normalised (block position, offset): the inode's identity
    nlink: int = 1
    file_size: int = 0
    blocks_start: int = 0
    fragment: int = INVALID_FRAGMENT
    fragment_offset: int = 0
    nblocks: int = 0  # data blocks (the tail may live in a fragment)
    block_list_at: tuple[int, int] = (0, 0)  # where the block size list starts
    block_sizes: tuple[int, ...] = ()  # loaded on demand, see load_block_list
    dir_block: int = 0
    dir_offset: int = 0
    target: bytes = b""
    rdev: int = 0

    @property
    def st_mode(self) -> int:
        return S_IFMT_OF[self.type] | self.mode


# ------------------------------------------------------------------------ decompression


def _make_decompressor(compressor: int) -> Callable[[bytes, int], bytes]:
    """A function (data, max_out) -> bytes that raises SquashfsError on any failure."""
    if compressor == 1:

        def gzip(data: bytes, max_out: int) -> bytes:
            d = zlib.decompressobj()
            out = d.decompress(data, max_out)
            if not d.eof:  # output full before the trailer was seen, or truncated
                if d.decompress(d.unconsumed_tail, 1):
                    raise SquashfsError(f"block inflates beyond {max_out} bytes")
                if not d.eof:
                    raise SquashfsError("truncated gzip stream")
            return out

        return _guard(gzip, zlib.error)
    if compressor in (2, 4):
        fmt = lzma.FORMAT_ALONE if compressor == 2 else lzma.FORMAT_XZ

        def xz(data: bytes, max_out: int) -> bytes:
            d = lzma.LZMADecompressor(format=fmt, memlimit=XZ_MEMLIMIT)
            out = d.decompress(data, max_length=max_out)
            if not d.eof:  # output full before the stream end was seen, or truncated
                if d.decompress(b"", max_length=1):
                    raise SquashfsError(f"block inflates beyond {max_out} bytes")
                if not d.eof:
                    raise SquashfsError("truncated lzma/xz stream")
            return out

        return _guard(xz, lzma.LZMAError)
    if compressor == 3:

        def lzo(data: bytes, max_out: int) -> bytes:
            out = lzallright.LZOCompressor.decompress(data, output_size_hint=max_out)
            if len(out) > max_out:
                raise SquashfsError(f"lzo block inflates beyond {max_out} bytes")
            return out

        return _guard(lzo, lzallright.LZOError)
    if compressor == 5:

        def lz4_(data: bytes, max_out: int) -> bytes:
            return lz4.block.decompress(data, uncompressed_size=max_out)

        return _guard(lz4_, lz4.block.LZ4BlockError)
    if compressor == 6:
        local = threading.local()

        def zstd(data: bytes, max_out: int) -> bytes:
            dctx = getattr(local, "dctx", None)
            if dctx is None:
                dctx = local.dctx = zstandard.ZstdDecompressor(max_window_size=ZSTD_MAX_WINDOW)
            declared = zstandard.frame_content_size(data)
            if declared > max_out:
                raise SquashfsError(f"zstd block declares {declared} bytes (max {max_out})")
            return dctx.decompress(data, max_output_size=max_out)

        return _guard(zstd, zstandard.ZstdError)
    raise SquashfsError(f"unsupported compressor id {compressor}")


def _guard(fn: Callable[[bytes, int], bytes], *errors: type[BaseException]):
    name = fn.__name__.rstrip("_")
    catch = (*errors, ValueError, MemoryError, OverflowError)

    def wrapped(data: bytes, max_out: int) -> bytes:
        try:
            return fn(data, max_out)
        except SquashfsError:
            raise
        except catch as exc:
            raise SquashfsError(f"{name} decompression failed: {exc}") from None

    return wrapped


# ------------------------------------------------------------------------------ reader


class SquashfsImage:
    """Random access to one SquashFS 4.0 image (metadata reads are not thread-safe;
    :meth:`read_file_blocks` is)."""

    def __init__(self, path: Path | str):
        self.path = Path(path)
        self._fd = os.open(self.path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
        try:
            self.size = os.fstat(self._fd).st_size
            self.sb = self._read_superblock()
            self._init_tables()
        except BaseException:
            os.close(self._fd)
            raise

    # -- plumbing -------------------------------------------------------------------

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def __enter__(self) -> SquashfsImage:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _pread(self, pos: int, n: int, what: str) -> bytes:
        if pos < 0 or n < 0 or pos + n > self.size:
            raise SquashfsError(
                f"truncated image: {what} at {pos:#x}+{n} lies beyond the end ({self.size:#x})"
            )
        data = os.pread(self._fd, n, pos)
        if len(data) != n:
            raise SquashfsError(f"short read of {what} at {pos:#x}")
        return data

    def _read_superblock(self) -> Superblock:
        raw = self._pread(0, SUPERBLOCK_SIZE, "superblock")
        magic = raw[:4]
        if magic == MAGIC_LE:
            e = "<"
        elif magic == MAGIC_BE:
            e = ">"
        else:
            raise SquashfsError(f"not a SquashFS image (magic {magic!r})")
        f = struct.unpack(e + "4I6H8Q", raw[4:])
        sb = Superblock(e == ">", *f)
        if sb.major != 4:
            raise SquashfsError(f"SquashFS version {sb.major}.{sb.minor} is not supported")
        if sb.compressor not in COMPRESSORS:
            raise SquashfsError(f"unknown compressor id {sb.compressor}")
        bs = sb.block_size
        if bs < 4096 or bs > 1 << 20 or bs & (bs - 1) or (1 << sb.block_log) != bs:
            raise SquashfsError(f"bad block size {bs} (block_log {sb.block_log})")
        for name in ("inode_table_start", "directory_table_start"):
            if getattr(sb, name) >= self.size:
                raise SquashfsError(
                    f"truncated image: {name.replace('_', ' ')} at {getattr(sb, name):#x} "
                    f"lies beyond the end of the file ({self.size:#x} of "
                    f"{sb.bytes_used:#x} bytes)"
                )
        if not SUPERBLOCK_SIZE <= sb.inode_table_start < sb.directory_table_start:
            raise SquashfsError("inode table does not precede the directory table")
        return sb

    def _init_tables(self) -> None:
        sb = self.sb
        e = ">" if sb.big_endian else "<"
        self._e = e
        self._u16 = struct.Struct(e + "H").unpack_from
        self._u32 = struct.Struct(e + "I").unpack_from
        self._u64 = struct.Struct(e + "Q").unpack_from
        self._inode_hdr = struct.Struct(e + "HHHHII").unpack_from
        self._dir_hdr = struct.Struct(e + "III").unpack_from
        self._dir_ent = struct.Struct(e + "HhHH").unpack_from
        self._decompress = _make_decompressor(sb.compressor)
        self._meta_cache: OrderedDict[int, tuple[bytes, int]] = OrderedDict()
        self._frag_cache: OrderedDict[tuple[int, int], bytes] = OrderedDict()
        self._frag_lock = threading.Lock()
        self._frag_pending: dict[tuple[int, int], Future] = {}
        self._ids: dict[int, int] = {}
        self._set_header_order(not sb.big_endian)
        if sb.big_endian:
            # AVM's flavour keeps the metadata block headers little-endian and stores
            # bytes_used in mkfs_time; try the likely flavour first, then the other
            order = [True, False] if sb.mkfs_time == sb.bytes_used else [False, True]
            errors = []
            for le_header in order:
                self._set_header_order(le_header)
                try:
                    self._read_meta_block(sb.inode_table_start, sb.directory_table_start)
                    break
                except SquashfsError as exc:
                    errors.append(str(exc))
            else:
                raise SquashfsError(
                    "cannot read the first inode table block in either header byte order: "
                    + "; ".join(errors)
                )

    def _set_header_order(self, little_endian: bool) -> None:
        self.meta_header_little_endian = little_endian
        self._hdr_fmt = struct.Struct("<H" if little_endian else ">H").unpack_from
        self._meta_cache.clear()

    # -- metadata -------------------------------------------------------------------

    def _read_meta_block(self, pos: int, end: int) -> tuple[bytes, int]:
        """(decompressed data, position of the next block) of the block at ``pos``."""
        if pos + 2 > end:
            raise SquashfsError(f"metadata block at {pos:#x} lies outside its table")
        hit = self._meta_cache.get(pos)
        if hit is not None:
            self._meta_cache.move_to_end(pos)
            return hit
        (hdr,) = self._hdr_fmt(self._pread(pos, 2, "metadata block header"), 0)
        size = hdr & 0x7FFF
        if size == 0 or size > METADATA_SIZE:
            raise SquashfsError(f"corrupt metadata block header at {pos:#x} (size {size})")
        raw = self._pread(pos + 2, size, "metadata block")
        if hdr & META_UNCOMPRESSED:
            data = raw
        else:
            try:
                data = self._decompress(raw, METADATA_SIZE)
            except SquashfsError as exc:
                raise SquashfsError(f"metadata block at {pos:#x}: {exc}") from None
            if not data:
                raise SquashfsError(f"empty metadata block at {pos:#x}")
        result = (data, pos + 2 + size)
        self._meta_cache[pos] = result
        if len(self._meta_cache) > META_CACHE_BLOCKS:
            self._meta_cache.popitem(last=False)
        return result

    def _normalise(self, pos: int, off: int, end: int) -> tuple[int, int]:
        data, nxt = self._read_meta_block(pos, end)
        if off < len(data):
            return pos, off
        if off == len(data):  # points at the very end of a block: the next one starts
            return nxt, 0
        raise SquashfsError(f"offset {off} beyond metadata block at {pos:#x} ({len(data)} bytes)")

    def _meta_read(self, pos: int, off: int, n: int, end: int) -> tuple[bytes, int, int]:
        """Read ``n`` bytes of a metadata stream; returns (data, next pos, next off)."""
        parts = []
        while n > 0:
            data, nxt = self._read_meta_block(pos, end)
            if off >= len(data):
                if off > len(data):
                    raise SquashfsError(f"offset {off} beyond metadata block at {pos:#x}")
                pos, off = nxt, 0
                continue
            chunk = data[off : off + n]
            parts.append(chunk)
            n -= len(chunk)
            off += len(chunk)
            if off >= len(data):
                pos, off = nxt, 0
        return (parts[0] if len(parts) == 1 else b"".join(parts)), pos, off

    # -- tables ----------------------------------------------------------------------

    def _table_lookup(self, start: int, index: int, entry: int, what: str) -> bytes:
        """Entry ``index`` (``entry`` bytes) of an indexed table (id, fragment)."""
        byte = index * entry
        ptr_pos = start + 8 * (byte // METADATA_SIZE)
        (block,) = self._u64(self._pread(ptr_pos, 8, f"{what} table index"), 0)
        if block >= self.size:
            raise SquashfsError(f"{what} table block at {block:#x} beyond end of image")
        data, _, _ = self._meta_read(block, byte % METADATA_SIZE, entry, self.size)
        return data

    def lookup_id(self, index: int) -> int:
        hit = self._ids.get(index)
        if hit is not None:
            return hit
        if index >= self.sb.id_count:
            raise SquashfsError(f"id index {index} beyond id table ({self.sb.id_count} ids)")
        (value,) = self._u32(self._table_lookup(self.sb.id_table_start, index, 4, "id"), 0)
        self._ids[index] = value
        return value

    def fragment_entry(self, index: int) -> tuple[int, int]:
        """(start, on-disk size word) of fragment ``index``."""
        if index >= self.sb.fragment_count:
            raise SquashfsError(
                f"fragment index {index} beyond fragment table ({self.sb.fragment_count})"
            )
        raw = self._table_lookup(self.sb.fragment_table_start, index, 16, "fragment")
        return self._u64(raw, 0)[0], self._u32(raw, 8)[0]

    # -- inodes ----------------------------------------------------------------------

    def read_inode(self, ref: int) -> Inode:
        sb = self.sb
        if ref >> 48:
            raise SquashfsError(f"bad inode reference {ref:#x}")
        pos = sb.inode_table_start + (ref >> 16)
        end = sb.directory_table_start
        if pos >= end:
            raise SquashfsError(f"inode reference {ref:#x} points outside the inode table")
        pos, off = self._normalise(pos, ref & 0xFFFF, end)
        key = (pos, off)
        raw, pos, off = self._meta_read(pos, off, 16, end)
        itype, mode, uid_idx, gid_idx, mtime, number = self._inode_hdr(raw, 0)
        basic = itype - 7 if itype > 7 else itype
        if not 1 <= itype <= 14:
            raise SquashfsError(f"unknown inode type {itype} at inode {ref:#x}")
        ino = Inode(basic, mode & 0o7777, uid_idx, gid_idx, mtime, number, key)
        e = self._e
        if itype == 1:
            raw, _, _ = self._meta_read(pos, off, 16, end)
            block, ino.nlink, size, ino.dir_offset, _parent = struct.unpack(e + "IIHHI", raw)
            ino.dir_block, ino.file_size = block, size
        elif itype == 8:
            raw, _, _ = self._meta_read(pos, off, 24, end)
            ino.nlink, size, block, _parent, _icount, ino.dir_offset, _xattr = struct.unpack(
                e + "IIIIHHI", raw
            )
            ino.dir_block, ino.file_size = block, size
        elif itype in (2, 9):
            if itype == 2:
                raw, pos, off = self._meta_read(pos, off, 16, end)
                start, frag, frag_off, size = struct.unpack(e + "4I", raw)
            else:
                raw, pos, off = self._meta_read(pos, off, 40, end)
                start, size, _sparse, ino.nlink, frag, frag_off, _xattr = struct.unpack(
                    e + "QQQIIII", raw
                )
            bs = sb.block_size
            nblocks = size // bs if frag != INVALID_FRAGMENT else -(-size // bs)
            # each on-disk metadata block (>= 3 bytes) holds at most 8 KiB of list
            if nblocks * 4 > ((end - sb.inode_table_start) // 3 + 1) * METADATA_SIZE:
                raise SquashfsError(f"inode {number}: file size {size} is implausible")
            ino.nblocks, ino.block_list_at = nblocks, (pos, off)
            ino.file_size, ino.blocks_start = size, start
            ino.fragment, ino.fragment_offset = frag, frag_off
        elif itype in (3, 10):
            raw, pos, off = self._meta_read(pos, off, 8, end)
            ino.nlink, tsize = struct.unpack(e + "II", raw)
            if tsize > MAX_SYMLINK_TARGET:
                raise SquashfsError(f"inode {number}: symlink target of {tsize} bytes")
            if tsize:
                ino.target, _, _ = self._meta_read(pos, off, tsize, end)
            ino.file_size = tsize
        elif basic in (BLKDEV, CHRDEV):
            raw, _, _ = self._meta_read(pos, off, 8, end)
            ino.nlink, ino.rdev = struct.unpack(e + "II", raw)
        else:  # fifo, socket
            raw, _, _ = self._meta_read(pos, off, 4, end)
            (ino.nlink,) = struct.unpack(e + "I", raw)
        return ino

    def root_inode(self) -> Inode:
        try:
            root = self.read_inode(self.sb.root_inode)
        except SquashfsError as exc:
            raise SquashfsError(f"cannot read the root inode: {exc}") from None
        if root.type != DIR:
            raise SquashfsError(f"root inode is a {KIND[root.type]}, not a directory")
        return root

    # -- directories -----------------------------------------------------------------

    def listing_key(self, inode: Inode) -> tuple[int, int] | None:
        """Normalised location of a directory's listing (None when it is empty)."""
        if inode.file_size <= 3:
            return None
        pos = self.sb.directory_table_start + inode.dir_block
        return self._normalise(pos, inode.dir_offset, self.size)

    def iter_dir(self, inode: Inode) -> Iterator[tuple[bytes, int, int]]:
        """(name, inode reference, entry type) of each entry of a directory."""
        remaining = inode.file_size - 3
        if remaining <= 0:
            return
        end = self.size
        pos = self.sb.directory_table_start + inode.dir_block
        off = inode.dir_offset
        read = self._meta_read
        while remaining > 0:
            if remaining < 12:
                raise SquashfsError(f"directory inode {inode.number}: truncated listing")
            raw, pos, off = read(pos, off, 12, end)
            count, start, _base = self._dir_hdr(raw, 0)
            remaining -= 12
            if count >= MAX_DIR_HEADER_COUNT:
                raise SquashfsError(f"directory inode {inode.number}: header count {count + 1}")
            if start >> 32 or start + self.sb.inode_table_start >= self.sb.directory_table_start:
                raise SquashfsError(
                    f"directory inode {inode.number}: entry block {start:#x} outside inode table"
                )
            for _ in range(count + 1):
                if remaining < 8:
                    raise SquashfsError(f"directory inode {inode.number}: truncated entry")
                raw, pos, off = read(pos, off, 8, end)
                ioff, _delta, etype, nsize = self._dir_ent(raw, 0)
                nsize += 1
                remaining -= 8 + nsize
                if remaining < 0:
                    raise SquashfsError(f"directory inode {inode.number}: entry overruns listing")
                name, pos, off = read(pos, off, nsize, end)
                yield name, (start << 16) | ioff, etype

    # -- file data -------------------------------------------------------------------

    def _read_fragment(self, start: int, word: int) -> bytes:
        """A decompressed fragment block; cached, and decompressed once even when
        several workers ask for it at the same time."""
        key = (start, word)
        with self._frag_lock:
            hit = self._frag_cache.get(key)
            if hit is not None:
                self._frag_cache.move_to_end(key)
                return hit
            waiting = self._frag_pending.get(key)
            if waiting is None:
                waiting = self._frag_pending[key] = Future()
                owner = True
            else:
                owner = False
        if not owner:
            return waiting.result()
        try:
            size = word & ~BLOCK_UNCOMPRESSED
            if size > self.sb.block_size or size == 0:
                raise SquashfsError(f"fragment block at {start:#x} has bad size {size}")
            raw = self._pread(start, size, "fragment block")
            if word & BLOCK_UNCOMPRESSED:
                data = raw
            else:
                try:
                    data = self._decompress(raw, self.sb.block_size)
                except SquashfsError as exc:
                    raise SquashfsError(f"fragment block at {start:#x}: {exc}") from None
        except BaseException as exc:
            with self._frag_lock:
                del self._frag_pending[key]
            waiting.set_exception(exc)
            raise
        with self._frag_lock:
            self._frag_cache[key] = data
            while len(self._frag_cache) > FRAGMENT_CACHE_BLOCKS:
                self._frag_cache.popitem(last=False)
            del self._frag_pending[key]
        waiting.set_result(data)
        return data

    def load_block_list(self, inode: Inode, limit: int | None = None) -> None:
        """Read the block sizes needed for the first ``limit`` bytes (all by default):
        the list of a huge sparse file is only read as far as it is extracted."""
        count = inode.nblocks
        if limit is not None:
            count = min(count, -(-limit // self.sb.block_size))
        if count <= len(inode.block_sizes):
            return
        pos, off = inode.block_list_at
        raw, _, _ = self._meta_read(pos, off, count * 4, self.sb.directory_table_start)
        inode.block_sizes = struct.unpack(f"{self._e}{count}I", raw)

    def read_file_blocks(
        self, inode: Inode, fragment: tuple[int, int] | None, limit: int | None = None
    ) -> Iterator[tuple[int, bytes | None, int]]:
        """(file offset, data or None for a sparse hole, length) for each piece of a
        file, in order, stopping at ``limit`` bytes.  Thread-safe once
        :meth:`load_block_list` has been called for ``limit`` (the caller's job)."""
        bs = self.sb.block_size
        size = inode.file_size
        want = size if limit is None else min(size, limit)
        pos = inode.blocks_start
        offset = 0
        decompress = self._decompress
        if len(inode.block_sizes) < min(inode.nblocks, -(-want // bs)):
            raise SquashfsError("block list not loaded")  # a caller bug, not the image's
        for word in inode.block_sizes:
            if offset >= want:
                return
            expected = min(bs, size - offset)
            csize = word & ~BLOCK_UNCOMPRESSED
            if csize > bs:
                raise SquashfsError(f"data block at {pos:#x} has bad size {csize}")
            take = min(expected, want - offset)
            if csize == 0:  # sparse block
                yield offset, None, take
            else:
                raw = self._pread(pos, csize, "data block")
                if word & BLOCK_UNCOMPRESSED:
                    data = raw
                else:
                    try:
                        data = decompress(raw, bs)
                    except SquashfsError as exc:
                        raise SquashfsError(f"data block at {pos:#x}: {exc}") from None
                if len(data) != expected:
                    raise SquashfsError(
                        f"data block at {pos:#x} holds {len(data)} bytes, expected {expected}"
                    )
                yield offset, data if take == expected else data[:take], take
                pos += csize
            offset += expected
        if fragment is not None and offset < want:
            tail = size - offset
            block = self._read_fragment(*fragment)
            start = inode.fragment_offset
            if start + tail > len(block):
                raise SquashfsError(
                    f"fragment tail {start}+{tail} beyond fragment block of {len(block)} bytes"
                )
            take = min(tail, want - offset)
            yield offset, block[start : start + take], take

    def file_fragment(self, inode: Inode) -> tuple[int, int] | None:
        if inode.fragment == INVALID_FRAGMENT or inode.file_size % self.sb.block_size == 0:
            return None
        return self.fragment_entry(inode.fragment)

    # -- walking ---------------------------------------------------------------------

    def walk(self, problems: list[Report]) -> Iterator[tuple[bytes, Inode]]:
        """Depth-first, parents first: (relative path, inode) for the root (``b"."``)
        and every entry.  Bad names, loops and unreadable parts are appended to
        ``problems`` and skipped; only an unreadable root raises."""
        root = self.root_inode()
        yield b".", root
        seen_dirs = {root.key}
        seen_listings: set[tuple[int, int]] = set()
        stack: list[tuple[bytes, Iterator[tuple[bytes, int, int]]]] = []

        def push(prefix: bytes, inode: Inode) -> None:
            try:
                lkey = self.listing_key(inode)
            except SquashfsError as exc:
                if not prefix:
                    raise SquashfsError(f"cannot read the root directory: {exc}") from None
                problems.append(_problem(prefix, f"Unreadable directory listing: {exc}"))
                return
            if lkey is None:
                return
            if lkey in seen_listings:
                problems.append(
                    _problem(prefix, "Directory listing shared with another directory (loop)")
                )
                return
            seen_listings.add(lkey)
            stack.append((prefix, self.iter_dir(inode)))

        push(b"", root)
        while stack:
            prefix, entries = stack[-1]
            try:
                name, ref, _etype = next(entries)
            except StopIteration:
                stack.pop()
                continue
            except SquashfsError as exc:
                problems.append(
                    _problem(prefix or b".", f"Corrupt directory listing: {exc}", "Rest skipped.")
                )
                stack.pop()
                continue
            rel = prefix + b"/" + name if prefix else name
            if not name or name in (b".", b"..") or b"/" in name or b"\0" in name:
                problems.append(
                    PathTraversalProblem(
                        problem=f"Unsafe entry name {name!r} in directory "
                        f"{_text(prefix or b'.')!r}",
                        resolution="Skipped.",
                        path=_text(rel),
                        extraction_path=_text(prefix or b"."),
                    )
                )
                continue
            try:
                inode = self.read_inode(ref)
            except SquashfsError as exc:
                problems.append(_problem(rel, f"Unreadable inode: {exc}"))
                continue
            if inode.type == DIR:
                if inode.key in seen_dirs:
                    problems.append(_problem(rel, "Directory seen twice (loop or hard link)"))
                    continue
                seen_dirs.add(inode.key)
                yield rel, inode
                if len(stack) >= MAX_DEPTH:
                    problems.append(
                        _problem(
                            rel, f"Directory nesting deeper than {MAX_DEPTH}", "Contents skipped."
                        )
                    )
                    continue
                push(rel, inode)
            else:
                yield rel, inode


def _text(raw: bytes) -> str:
    return os.fsdecode(raw)


def _problem(rel: bytes, problem: str, resolution: str = "Skipped.") -> ExtractionProblem:
    return ExtractionProblem(problem=problem, resolution=resolution, path=_text(rel))


def _decode_dev(rdev: int) -> int:
    major = (rdev >> 8) & 0xFFF
    minor = (rdev & 0xFF) | ((rdev >> 12) & 0xFFF00)
    return os.makedev(major, minor)


# ----------------------------------------------------------------------------- listing


def iter_entries(image: Path | str, problems: list[Report] | None = None) -> Iterator[SquashEntry]:
    """Every entry of ``image`` (root first, as ``"."``) without extracting anything.

    Skipped entries (unsafe names, loops, unreadable parts) are appended to
    ``problems`` when given.  Raises :class:`SquashfsError` if the image cannot be
    read at all.
    """
    sink: list[Report] = problems if problems is not None else []
    with SquashfsImage(image) as img:

        def ident(index: int) -> int | None:
            try:
                return img.lookup_id(index)
            except SquashfsError:
                return None

        for rel, ino in img.walk(sink):
            yield SquashEntry(
                path=_text(rel),
                kind=KIND[ino.type],
                mode=ino.st_mode,
                uid=ident(ino.uid_idx),
                gid=ident(ino.gid_idx),
                size=ino.file_size if ino.type in (FILE, SYMLINK) else 0,
                mtime=ino.mtime,
                link_target=_text(ino.target) if ino.type == SYMLINK else None,
                inode=ino.number,
                nlink=ino.nlink,
                rdev=_decode_dev(ino.rdev) if ino.type in (BLKDEV, CHRDEV) else 0,
            )


# -------------------------------------------------------------------------- extraction

_O_NEW_FILE = (
    os.O_WRONLY
    | os.O_CREAT
    | os.O_EXCL
    | getattr(os, "O_NOFOLLOW", 0)
    | getattr(os, "O_CLOEXEC", 0)
)


class _Stop(Exception):
    def __init__(self, cap: str, detail: str):
        self.cap, self.detail = cap, detail


@dataclass(slots=True)
class _FileJob:
    rel: bytes
    path: bytes
    inode: Inode
    fragment: tuple[int, int] | None
    limit: int  # bytes to write (< file size only when a cap truncates the file)


class _Extractor:
    def __init__(self, img: SquashfsImage, outdir: Path, limits: Limits, workers: int):
        self.img = img
        self.out = os.fsencode(os.path.abspath(outdir))
        self.limits = limits
        self.workers = workers
        self.reports: list[Report] = []
        self.stats = ExtractStats()
        self.entries = 0
        self.committed = 0  # bytes promised to files so far (their declared sizes)
        ratio_cap = int(limits.max_ratio * max(img.size, 1))
        if ratio_cap < limits.max_total_bytes:
            self.byte_cap, self.byte_cap_name = ratio_cap, "ratio"
        else:
            self.byte_cap, self.byte_cap_name = limits.max_total_bytes, "total_bytes"
        self.dirs: list[tuple[bytes, Inode]] = []  # created, in creation order
        self.failed_dirs: set[bytes] = set()
        self.first_path: dict[tuple[int, int], tuple[bytes, bytes]] = {}  # key -> (rel, path)
        self.failed_keys: set[tuple[int, int]] = set()
        self.links: list[tuple[bytes, bytes, Inode]] = []  # deferred hard links
        self.id_problem_reported = False

    # -- helpers ---------------------------------------------------------------------

    def _ids(self, inode: Inode) -> tuple[int, int] | None:
        try:
            return self.img.lookup_id(inode.uid_idx), self.img.lookup_id(inode.gid_idx)
        except SquashfsError as exc:
            if not self.id_problem_reported:
                self.id_problem_reported = True
                self.reports.append(
                    ExtractionProblem(
                        problem=f"Unreadable id table: {exc}",
                        resolution="Ownership not applied.",
                    )
                )
            return None

    def _count_entry(self, rel: bytes) -> None:
        self.entries += 1
        if self.entries > self.limits.max_files:
            raise _Stop(
                "files",
                f"more than {self.limits.max_files} entries; stopped at {_text(rel)!r}",
            )

    def _parent_ok(self, rel: bytes) -> bool:
        parent = rel.rpartition(b"/")[0]
        return not parent or parent not in self.failed_dirs

    # -- entry kinds -----------------------------------------------------------------

    def _mkdir(self, rel: bytes, path: bytes, inode: Inode) -> None:
        try:
            os.mkdir(path, 0o700)
        except FileExistsError:
            st = os.lstat(path)
            if not stat.S_ISDIR(st.st_mode):
                self.failed_dirs.add(rel)
                self.reports.append(
                    LinkExtractionProblem(
                        problem="Directory name already taken by a non-directory (duplicate entry)",
                        resolution="Directory and its contents skipped.",
                        path=_text(rel),
                        link_path=_text(rel),
                    )
                )
                return
            # a duplicate directory entry: merge into the existing directory
        except OSError as exc:
            self.failed_dirs.add(rel)
            self.reports.append(
                _problem(rel, f"Cannot create directory: {exc.strerror}", "Contents skipped.")
            )
            return
        self.dirs.append((path, inode))
        self.stats.dirs += 1

    def _symlink(self, rel: bytes, path: bytes, inode: Inode) -> bool:
        try:
            os.symlink(inode.target, path)
        except (OSError, ValueError) as exc:
            self.reports.append(
                LinkExtractionProblem(
                    problem=f"Cannot create symlink: {getattr(exc, 'strerror', None) or exc}",
                    resolution="Skipped.",
                    path=_text(rel),
                    link_path=_text(inode.target),
                )
            )
            return False
        ids = self._ids(inode) if _IS_ROOT else None
        with contextlib.suppress(OSError):
            if ids is not None:
                os.lchown(path, *ids)
            os.utime(path, (inode.mtime, inode.mtime), follow_symlinks=False)
        self.stats.symlinks += 1
        return True

    def _special(self, rel: bytes, inode: Inode) -> None:
        self.stats.specials += 1
        device = _decode_dev(inode.rdev) if inode.type in (BLKDEV, CHRDEV) else 0
        self.reports.append(
            SpecialFileExtractionProblem(
                problem=f"Special file ({KIND[inode.type]}) is not created",
                resolution="Skipped.",
                path=_text(rel),
                mode=inode.st_mode,
                device=device,
            )
        )

    def _plan_file(self, rel: bytes, path: bytes, inode: Inode) -> tuple[_FileJob, _Stop | None]:
        size = inode.file_size
        fragment = self.img.file_fragment(inode)
        limit, stop = size, None
        if size > self.limits.max_file_bytes:
            limit = self.limits.max_file_bytes
            stop = _Stop(
                "file_bytes",
                f"{_text(rel)!r} is {size} bytes (cap {self.limits.max_file_bytes}); "
                f"truncated to {limit}",
            )
        room = self.byte_cap - self.committed
        if limit > room:
            limit = max(room, 0)
            stop = _Stop(
                self.byte_cap_name,
                f"extracted bytes would exceed {self.byte_cap} at {_text(rel)!r} "
                f"({size} bytes, image {self.img.size} bytes); truncated to {limit}",
            )
        self.img.load_block_list(inode, limit)
        self.committed += limit
        return _FileJob(rel, path, inode, fragment, limit), stop

    def _write_file(self, job: _FileJob) -> tuple[int, Report | None]:
        """Worker: write one regular file; returns (bytes written, problem)."""
        inode = job.inode
        try:
            fd = os.open(job.path, _O_NEW_FILE, 0o600)
        except OSError as exc:
            return 0, _problem(job.rel, f"Cannot create file: {exc.strerror}")
        written = 0
        try:
            for offset, data, length in self.img.read_file_blocks(inode, job.fragment, job.limit):
                if data is not None:
                    view = memoryview(data)
                    pos = offset
                    while view:
                        n = os.pwrite(fd, view, pos)
                        view, pos = view[n:], pos + n
                written = offset + length
            final = min(inode.file_size, job.limit)
            if written != final:
                raise SquashfsError(f"file data ends at {written} of {final} bytes")
            os.ftruncate(fd, final)  # materialises trailing sparse blocks
            if _IS_ROOT:
                ids = self._worker_ids(inode)
                if ids is not None:
                    os.fchown(fd, *ids)
            os.fchmod(fd, inode.mode)
            os.utime(fd, (inode.mtime, inode.mtime))
        except (SquashfsError, OSError) as exc:
            os.close(fd)
            with contextlib.suppress(OSError):
                os.unlink(job.path)
            text = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            return 0, _problem(job.rel, f"Unreadable file data: {text}", "File not extracted.")
        os.close(fd)
        return final, None

    def _worker_ids(self, inode: Inode) -> tuple[int, int] | None:
        ids = self.img._ids  # filled by the main thread before the job was queued
        uid, gid = ids.get(inode.uid_idx), ids.get(inode.gid_idx)
        return None if uid is None or gid is None else (uid, gid)

    def _link(self, rel: bytes, path: bytes, inode: Inode) -> None:
        first_rel, first_path = self.first_path[inode.key]
        if inode.key in self.failed_keys:
            self.reports.append(
                LinkExtractionProblem(
                    problem="Hard link to an entry that was not extracted",
                    resolution="Skipped.",
                    path=_text(rel),
                    link_path=_text(first_rel),
                )
            )
            return
        if not _inside(self.out, first_path):  # cannot happen: paths are built here
            self.reports.append(_problem(rel, "Hard link target outside the output"))
            return
        try:
            os.link(first_path, path, follow_symlinks=False)
        except OSError as exc:
            if inode.type == FILE and self._copy(first_path, path):
                self.reports.append(
                    LinkExtractionProblem(
                        problem=f"Cannot create hard link: {exc.strerror}",
                        resolution="Copied instead.",
                        path=_text(rel),
                        link_path=_text(first_rel),
                    )
                )
                self.stats.files += 1
                self.stats.bytes += inode.file_size
                return
            self.reports.append(
                LinkExtractionProblem(
                    problem=f"Cannot create hard link: {exc.strerror}",
                    resolution="Skipped.",
                    path=_text(rel),
                    link_path=_text(first_rel),
                )
            )
            return
        self.stats.hardlinks += 1

    @staticmethod
    def _copy(src: bytes, dst: bytes) -> bool:
        try:
            sfd = os.open(src, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
        except OSError:
            return False
        try:
            st = os.fstat(sfd)
            dfd = os.open(dst, _O_NEW_FILE, 0o600)
            try:
                while chunk := os.read(sfd, 1 << 20):
                    os.write(dfd, chunk)
                with contextlib.suppress(OSError):
                    if _IS_ROOT:
                        os.fchown(dfd, st.st_uid, st.st_gid)
                    os.fchmod(dfd, stat.S_IMODE(st.st_mode))
                    os.utime(dfd, ns=(st.st_atime_ns, st.st_mtime_ns))
            finally:
                os.close(dfd)
        except OSError:
            return False
        finally:
            os.close(sfd)
        return True

    def _finish_dir(self, path: bytes, inode: Inode) -> None:
        ids = self._ids(inode) if _IS_ROOT else None
        try:
            if ids is not None:
                os.chown(path, *ids, follow_symlinks=False)
            os.chmod(path, inode.mode)
            os.utime(path, (inode.mtime, inode.mtime))
        except OSError as exc:
            self.reports.append(
                ExtractionProblem(
                    problem=f"Cannot apply directory metadata: {exc.strerror}",
                    resolution="Left as created.",
                    path=os.fsdecode(path),
                )
            )

    # -- driver ----------------------------------------------------------------------

    def run(self) -> tuple[ExtractStats, list[Report]]:
        out = self.out
        os.makedirs(out, exist_ok=True)
        if not stat.S_ISDIR(os.lstat(out).st_mode):
            raise SquashfsError(f"output {os.fsdecode(out)!r} is not a directory")
        pool = ThreadPoolExecutor(self.workers) if self.workers > 1 else None
        pending: deque[tuple[Future, _FileJob]] = deque()
        max_pending = 4 * self.workers
        stop: _Stop | None = None
        fatal: SquashfsError | None = None

        def record(job: _FileJob, written: int, problem: Report | None) -> None:
            if problem is not None:
                self.reports.append(problem)
                self.failed_keys.add(job.inode.key)
            else:
                self.stats.files += 1
                self.stats.bytes += written

        def settle(block: bool) -> None:
            while pending and (block or len(pending) >= max_pending):
                fut, job = pending.popleft()
                record(job, *fut.result())

        root_inode: Inode | None = None
        try:
            for rel, inode in self.img.walk(self.reports):
                if rel == b".":
                    root_inode = inode
                    continue
                if not self._parent_ok(rel):
                    if inode.type == DIR:
                        self.failed_dirs.add(rel)
                    continue
                self._count_entry(rel)
                path = out + b"/" + rel
                kind = inode.type
                if kind == DIR:
                    self._mkdir(rel, path, inode)
                elif kind in (FILE, SYMLINK) and inode.key in self.first_path:
                    self.links.append((rel, path, inode))
                elif kind == FILE:
                    self.first_path[inode.key] = (rel, path)
                    if _IS_ROOT:
                        self._ids(inode)  # warm the id cache for the worker
                    try:
                        job, job_stop = self._plan_file(rel, path, inode)
                    except SquashfsError as exc:
                        self.failed_keys.add(inode.key)
                        self.reports.append(_problem(rel, f"Unreadable file metadata: {exc}"))
                        continue
                    if pool is None or not inode.nblocks:
                        # small files (a fragment tail only) are cheapest written here:
                        # the per-file Python work would only contend for the GIL
                        record(job, *self._write_file(job))
                    else:  # files with data blocks: decompression runs in parallel
                        pending.append((pool.submit(self._write_file, job), job))
                        settle(block=False)
                    if job_stop is not None:
                        raise job_stop
                elif kind == SYMLINK:
                    self.first_path[inode.key] = (rel, path)
                    if not self._symlink(rel, path, inode):
                        self.failed_keys.add(inode.key)
                else:
                    self._special(rel, inode)
        except _Stop as exc:
            stop = exc
        except SquashfsError as exc:
            fatal = exc
        finally:
            try:
                settle(block=True)
            finally:
                if pool is not None:
                    pool.shutdown(wait=True)
            for rel, path, inode in self.links:
                self._link(rel, path, inode)
            for path, inode in reversed(self.dirs):
                self._finish_dir(path, inode)
            if root_inode is not None:
                self._finish_dir(out, root_inode)
        if fatal is not None:
            fatal.reports = self.reports
            raise fatal
        if stop is not None:
            raise SquashfsLimitExceeded(stop.cap, stop.detail, self.stats, self.reports)
        return self.stats, self.reports


def _inside(root: bytes, path: bytes) -> bool:
    return os.path.commonpath([root, os.path.normpath(path)]) == root


def extract_squashfs(
    image: Path,
    outdir: Path,
    limits: Limits | None = None,
    *,
    workers: int | None = None,
) -> tuple[ExtractStats, list[Report]]:
    """Extract a SquashFS 4.0 image into ``outdir`` (created if missing).

    Returns the counts and the non-fatal problems (unblob reports).  Raises
    :class:`SquashfsError` when the image cannot be read (nothing usable, or the
    root directory is unreadable) and :class:`SquashfsLimitExceeded` when a cap from
    ``limits`` (default: :func:`spyproof.unpack.limits.current`) stopped the
    extraction; in both cases what was written stays and is consistent.
    """
    limits = limits if limits is not None else _limits.current()
    if workers is None:
        workers = min(2, os.cpu_count() or 1)
    try:
        with SquashfsImage(image) as img:
            return _Extractor(img, Path(outdir), limits, workers).run()
    except (struct.error, IndexError, KeyError, OverflowError) as exc:  # defensive
        raise SquashfsError(f"corrupt image: {type(exc).__name__}: {exc}") from None
