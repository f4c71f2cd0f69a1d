"""Test helper: rewrite a SquashFS 4.0 image between the little- and big-endian layouts.

Why this exists: no packaged tool writes big-endian SquashFS 4.0.  Debian's
squashfs-tools (and squashfs-tools-ng) write little-endian only; the big-endian v4
variant is a vendor thing (Broadcom SDKs, AVM's Fritz!OS) that only sasquatch reads,
and sasquatch is packaged nowhere.  unblob's own big-endian v4 samples
(``tests/integration/filesystem/squashfs/squashfs_v4_be/``) are Git LFS pointers in
the public index, so no real sample could be obtained.  The big-endian test images are
therefore made from ``mksquashfs`` output by this converter, which is written
independently of the reader under test (it walks the tables sequentially rather than
through inode references) and is itself checked by converting back to little-endian
and comparing with ``unsquashfs``.

What it does: every multi-byte field of every on-disk structure (superblock,
compressor options, inodes including block lists and extended-directory indexes,
directory headers and entries, fragment, export and id tables with their indexes) is
re-packed in the target byte order.  The inode and directory tables are re-split into
the same 8 KiB blocks and re-compressed (blocks stored uncompressed stay uncompressed),
which moves block boundaries; inode references, directory block indexes and table
pointers are remapped accordingly (the inode and directory tables point into each
other, so the layout is iterated to a fixed point).  Data and fragment blocks are
copied verbatim (file contents have no byte order).

Two big-endian flavours: the plain one (sasquatch ``-be``: the 2-byte metadata block
headers are big-endian too) and AVM's (``avm=True``: metadata block headers stay
little-endian and ``mkfs_time`` holds ``bytes_used``).

Limits: images with extended attributes are refused (build with ``-no-xattrs``);
re-compression supports gzip and xz metadata (other compressors only when the tables
are stored uncompressed, i.e. built with ``-noI``).
"""

from __future__ import annotations

import lzma
import struct
import zlib

SB_FIELDS = "4I6H8Q"
NONE64 = 0xFFFFFFFFFFFFFFFF
META = 8192
UNCOMPRESSED = 0x8000
NO_FRAGMENT = 0xFFFFFFFF

__all__ = ["convert", "le_to_be"]


def le_to_be(image: bytes, *, avm: bool = False) -> bytes:
    """A big-endian copy of a little-endian SquashFS 4.0 image."""
    return convert(image, big_endian=True, avm=avm)


def _codec(comp: int):
    if comp == 1:
        return zlib.decompress, lambda data: zlib.compress(data, 9)
    if comp == 4:
        return (
            lambda data: lzma.decompress(data, format=lzma.FORMAT_XZ),
            lambda data: lzma.compress(data, format=lzma.FORMAT_XZ, check=lzma.CHECK_CRC32),
        )

    def unsupported(_data: bytes) -> bytes:
        raise ValueError(f"compressor {comp}: only gzip/xz metadata can be re-compressed")

    return unsupported, unsupported


# compressor options (flag 0x0400): layout per compressor id
COMP_OPTS = {1: "IHH", 3: "II", 4: "II", 5: "II", 6: "I"}


class _Image:
    def __init__(self, image: bytes):
        self.raw = image
        magic = image[:4]
        if magic == b"hsqs":
            self.e = "<"
        elif magic == b"sqsh":
            self.e = ">"
        else:
            raise ValueError(f"not SquashFS 4.0: {magic!r}")
        f = struct.unpack(self.e + SB_FIELDS, image[4:96])
        (
            self.inode_count,
            self.mkfs_time,
            self.block_size,
            self.frag_count,
            self.comp,
            self.block_log,
            self.flags,
            self.id_count,
            self.major,
            self.minor,
            self.root,
            self.bytes_used,
            self.id_start,
            self.xattr_start,
            self.inode_start,
            self.dir_start,
            self.frag_start,
            self.export_start,
        ) = f
        if (self.major, self.minor) != (4, 0):
            raise ValueError("only SquashFS 4.0 is supported")
        if self.xattr_start != NONE64:
            raise ValueError("images with xattrs are not supported; build with -no-xattrs")
        avm = self.e == ">" and self.mkfs_time == self.bytes_used
        self.hdr = "<H" if self.e == "<" or avm else ">H"
        self.decompress, _ = _codec(self.comp)

    def u(self, fmt: str, pos: int):
        return struct.unpack_from(self.e + fmt, self.raw, pos)

    def block(self, pos: int) -> tuple[bytes, int, bool]:
        """(data, next position, stored compressed) of the metadata block at pos."""
        (hdr,) = struct.unpack_from(self.hdr, self.raw, pos)
        size = hdr & 0x7FFF
        payload = self.raw[pos + 2 : pos + 2 + size]
        compressed = not hdr & UNCOMPRESSED
        data = self.decompress(payload) if compressed else payload
        return data, pos + 2 + size, compressed

    def blocks(self, start: int, end: int) -> list[tuple[int, bytes, bool]]:
        out, pos = [], start
        while pos < end:
            data, nxt, compressed = self.block(pos)
            out.append((pos - start, data, compressed))
            pos = nxt
        if pos != end:
            raise ValueError(f"metadata blocks overrun their table ({pos:#x} != {end:#x})")
        return out

    def index(self, start: int, count: int, entry: int) -> list[int]:
        nblocks = -(-count * entry // META)
        return [self.u("Q", start + 8 * i)[0] for i in range(nblocks)]

    def indexed_entries(self, start: int, count: int, entry: int) -> bytes:
        data = b"".join(self.block(ptr)[0] for ptr in self.index(start, count, entry))
        return data[: count * entry]


class _Swapper:
    """Re-packs fields of ``src`` (byte order ``si``) into ``dst`` (byte order ``so``)."""

    def __init__(self, buf: bytes, si: str, so: str):
        self.src, self.dst, self.si, self.so = buf, bytearray(buf), si, so

    def field(self, fmt: str, pos: int, fix=None) -> tuple:
        values = struct.unpack_from(self.si + fmt, self.src, pos)
        new = fix(values) if fix else values
        struct.pack_into(self.so + fmt, self.dst, pos, *new)
        return values


def _swap_inodes(buf: bytes, si: str, so: str, dir_map: dict[int, int], block_size: int) -> bytes:
    s = _Swapper(buf, si, so)
    p = 0
    while p < len(buf):
        itype = s.field("HHHHII", p)[0]
        q = p + 16
        if itype == 1:
            s.field("IIHHI", q, lambda v: (dir_map[v[0]], *v[1:]))
            q += 16
        elif itype == 8:
            icount = s.field("IIIIHHI", q, lambda v: (v[0], v[1], dir_map[v[2]], *v[3:]))[4]
            q += 24
            for _ in range(icount):
                nsize = s.field("III", q, lambda v: (v[0], dir_map[v[1]], v[2]))[2]
                q += 12 + nsize + 1
        elif itype in (2, 9):
            if itype == 2:
                _start, frag, _off, size = s.field("4I", q)
                q += 16
            else:
                _start, size, _sparse, _nlink, frag, _off, _x = s.field("QQQIIII", q)
                q += 40
            n = size // block_size if frag != NO_FRAGMENT else -(-size // block_size)
            if n:
                s.field(f"{n}I", q)
            q += 4 * n
        elif itype in (3, 10):
            tsize = s.field("II", q)[1]
            q += 8 + tsize
            if itype == 10:
                s.field("I", q)
                q += 4
        elif itype in (4, 5):
            s.field("II", q)
            q += 8
        elif itype in (11, 12):
            s.field("III", q)
            q += 12
        elif itype in (6, 7):
            s.field("I", q)
            q += 4
        elif itype in (13, 14):
            s.field("II", q)
            q += 8
        else:
            raise ValueError(f"unknown inode type {itype} at {p}")
        p = q
    return bytes(s.dst)


def _swap_dirs(buf: bytes, si: str, so: str, inode_map: dict[int, int]) -> bytes:
    s = _Swapper(buf, si, so)
    p = 0
    while p < len(buf):
        count = s.field("III", p, lambda v: (v[0], inode_map[v[1]], v[2]))[0]
        p += 12
        for _ in range(count + 1):
            nsize = s.field("HhHH", p)[3]
            p += 8 + nsize + 1
    return bytes(s.dst)


def _pack_blocks(data: bytes, keep_raw: list[bool], compress, hdr: str) -> tuple[bytes, list[int]]:
    """Metadata blocks of 8 KiB; returns (blob, relative start of each block)."""
    out, starts = bytearray(), []
    for i in range(0, len(data), META):
        chunk = data[i : i + META]
        starts.append(len(out))
        raw = keep_raw[i // META] if i // META < len(keep_raw) else False
        packed = None if raw else compress(chunk)
        if packed is None or len(packed) >= len(chunk):
            out += struct.pack(hdr, len(chunk) | UNCOMPRESSED) + chunk
        else:
            out += struct.pack(hdr, len(packed)) + packed
    return bytes(out), starts


def convert(image: bytes, *, big_endian: bool = True, avm: bool = False) -> bytes:
    """Re-write ``image`` (either byte order) in the requested byte order."""
    img = _Image(image)
    si, so = img.e, ">" if big_endian else "<"
    hdr_out = "<H" if (not big_endian or avm) else ">H"
    _, compress = _codec(img.comp)

    # where the directory table ends: the first block of the next table
    next_tables = []
    if img.frag_count:
        next_tables.append(img.index(img.frag_start, img.frag_count, 16)[0])
    if img.export_start != NONE64:
        next_tables.append(img.index(img.export_start, img.inode_count, 8)[0])
    next_tables.append(img.index(img.id_start, img.id_count, 4)[0])
    dir_end = min(next_tables)

    inode_blocks = img.blocks(img.inode_start, img.dir_start)
    dir_blocks = img.blocks(img.dir_start, dir_end)
    inode_buf = b"".join(b[1] for b in inode_blocks)
    dir_buf = b"".join(b[1] for b in dir_blocks)
    for blocks in (inode_blocks, dir_blocks):
        if any(len(b[1]) != META for b in blocks[:-1]):
            raise ValueError("short metadata block inside a table")
    inode_raw = [not b[2] for b in inode_blocks]
    dir_raw = [not b[2] for b in dir_blocks]
    inode_old = [b[0] for b in inode_blocks] + [img.dir_start - img.inode_start]
    dir_old = [b[0] for b in dir_blocks] + [dir_end - img.dir_start]

    dir_map = dict(zip(dir_old, dir_old, strict=True))
    for _ in range(32):
        inode_out = _swap_inodes(inode_buf, si, so, dir_map, img.block_size)
        inode_blob, starts = _pack_blocks(inode_out, inode_raw, compress, hdr_out)
        inode_map = dict(zip(inode_old, [*starts, len(inode_blob)], strict=True))
        dir_out = _swap_dirs(dir_buf, si, so, inode_map)
        dir_blob, starts = _pack_blocks(dir_out, dir_raw, compress, hdr_out)
        new_dir_map = dict(zip(dir_old, [*starts, len(dir_blob)], strict=True))
        if new_dir_map == dir_map:
            break
        dir_map = new_dir_map
    else:
        raise ValueError("inode/directory table layout did not settle")

    out = bytearray(image[: img.inode_start])
    if img.flags & 0x0400:  # compressor options: one uncompressed metadata block at 96
        data, _nxt, compressed = img.block(96)
        if compressed:
            raise ValueError("compressed compressor-options block")
        fmt = COMP_OPTS.get(img.comp)
        if fmt is None or struct.calcsize(fmt) != len(data):
            raise ValueError(f"unexpected compressor options for compressor {img.comp}")
        values = struct.unpack(si + fmt, data)
        out[96:98] = struct.pack(hdr_out, len(data) | UNCOMPRESSED)
        out[98 : 98 + len(data)] = struct.pack(so + fmt, *values)

    def remap_ref(ref: int) -> int:
        return (inode_map[ref >> 16] << 16) | (ref & 0xFFFF)

    def indexed(entries: bytes) -> int:
        """Append entries as metadata blocks plus their index; return the index position."""
        positions = []
        for i in range(0, len(entries), META):
            chunk = entries[i : i + META]
            positions.append(len(out))
            packed = compress(chunk) if img.comp in (1, 4) else chunk
            if len(packed) >= len(chunk):
                out.extend(struct.pack(hdr_out, len(chunk) | UNCOMPRESSED) + chunk)
            else:
                out.extend(struct.pack(hdr_out, len(packed)) + packed)
        start = len(out)
        for pos in positions:
            out.extend(struct.pack(so + "Q", pos))
        return start

    inode_start = len(out)
    out += inode_blob
    dir_start = len(out)
    out += dir_blob

    frag_start = NONE64
    if img.frag_count:
        raw = img.indexed_entries(img.frag_start, img.frag_count, 16)
        frags = b"".join(
            struct.pack(so + "QII", *struct.unpack_from(si + "QII", raw, i))
            for i in range(0, len(raw), 16)
        )
        frag_start = indexed(frags)
    elif img.frag_start != NONE64:
        frag_start = len(out)  # mksquashfs points an empty fragment table at its end

    export_start = NONE64
    if img.export_start != NONE64:
        raw = img.indexed_entries(img.export_start, img.inode_count, 8)
        refs = struct.unpack(f"{si}{img.inode_count}Q", raw)
        export_start = indexed(struct.pack(f"{so}{len(refs)}Q", *map(remap_ref, refs)))

    raw = img.indexed_entries(img.id_start, img.id_count, 4)
    ids = struct.unpack(f"{si}{img.id_count}I", raw)
    id_start = indexed(struct.pack(f"{so}{len(ids)}I", *ids))

    bytes_used = len(out)
    out += b"\0" * (-len(out) % 4096)
    mkfs_time = bytes_used if (big_endian and avm) else img.mkfs_time
    out[0:96] = (b"sqsh" if big_endian else b"hsqs") + struct.pack(
        so + SB_FIELDS,
        img.inode_count,
        mkfs_time,
        img.block_size,
        img.frag_count,
        img.comp,
        img.block_log,
        img.flags,
        img.id_count,
        img.major,
        img.minor,
        remap_ref(img.root),
        bytes_used,
        id_start,
        NONE64,
        inode_start,
        dir_start,
        frag_start,
        export_start,
    )
    return bytes(out)
