"""Container-level comparison: which header fields of two containers differ, and whether
those differences are the behaviour-neutral kind (build timestamps and the CRCs over them).

One comparator per format. Each reads only fixed fields at documented offsets (or uses the
standard library's parser: tarfile, zipfile) and returns

* ``normalisations``: the fields set aside, with both values;
* ``differences``: fields that matter (load address, compression, modes, owners, member
  names…); any one makes the container different;
* ``byte_equivalent``: the two containers are byte-identical once the normalised fields are
  zeroed (and a CRC over them recomputed): equivalence proven on the bytes alone. When it
  is False, equivalence rests on the members, which the tree comparison checks one by one.

A format without a comparator is not normalised at all (``parsed`` False): when its bytes
differ, the container is different, whatever its members, because spyproof cannot show
that what differs in its own structure is harmless. Pure compression streams (xz, lzma,
bzip2, zstd, lz4, lzo, zlib…) have no header fields that change what they decompress to,
so their content alone decides.
"""

from __future__ import annotations

import io
import struct
import tarfile
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from spyproof.equiv.model import Normalisation

# Streams whose only meaning is the bytes they decompress to.
COMPRESSION_STREAMS = frozenset({
    "bzip2", "xz", "lzma", "lzip", "lzo", "lz4_default", "lz4_legacy", "lz4_skippable",
    "zstd", "zlib", "compress"})

MAX_MEMBERS = 200_000


Buffer = bytes | memoryview
GZIP_HEADER_MAX = 64 * 1024  # FEXTRA, FNAME and FCOMMENT are read this far at most
_STEP = 1024 * 1024


def equal_masked(a: Buffer, b: Buffer, masks: list[tuple[int, int]]) -> bool:
    """Whether a and b are equal once the (offset, length) ranges are ignored; compared a
    megabyte at a time, so a memory-mapped image is never copied whole."""
    if len(a) != len(b):
        return False
    cuts = sorted((o, o + n) for o, n in masks)
    pos = 0
    for start, end in [*cuts, (len(a), len(a))]:
        for lo in range(pos, start, _STEP):
            hi = min(lo + _STEP, start)
            if bytes(a[lo:hi]) != bytes(b[lo:hi]):
                return False
        pos = max(pos, end)
    return True


@dataclass
class ContainerCheck:
    parsed: bool = True
    normalisations: list[Normalisation] = field(default_factory=list)
    differences: list[str] = field(default_factory=list)
    byte_equivalent: bool = False


def _when(ts: int) -> str:
    try:
        return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    except (OverflowError, OSError, ValueError):
        return "?"


def _stamp(a: int, b: int) -> str:
    return f"{a} ({_when(a)}) vs {b} ({_when(b)})"


# --- U-Boot legacy image ---------------------------------------------------------------
# U-Boot include/image.h, struct legacy_img_hdr (64 bytes, big-endian):
#   0 ih_magic 0x27051956   4 ih_hcrc (CRC32 of the header with ih_hcrc zeroed)
#   8 ih_time   12 ih_size   16 ih_load   20 ih_ep   24 ih_dcrc (CRC32 of the payload)
#  28 ih_os  29 ih_arch  30 ih_type  31 ih_comp  32 ih_name[32]
UIMAGE_MAGIC = 0x27051956
_UIMAGE = struct.Struct(">7I4B32s")


def _uimage_fields(data: Buffer) -> dict | None:
    if len(data) < 64:
        return None
    (magic, hcrc, time, size, load, ep, dcrc, os_, arch, typ, comp,
     name) = _UIMAGE.unpack_from(data)  # fmt: skip
    if magic != UIMAGE_MAGIC:
        return None
    header = bytearray(data[:64])
    header[4:8] = b"\0\0\0\0"
    payload = memoryview(data)[64:64 + size]
    return {"hcrc": hcrc, "time": time, "size": size, "load": load, "ep": ep, "dcrc": dcrc,
            "os": os_, "arch": arch, "type": typ, "comp": comp,
            "name": name.split(b"\0", 1)[0].decode("latin-1"),
            "hcrc_ok": zlib.crc32(bytes(header)) == hcrc,
            "dcrc_ok": len(payload) == size and zlib.crc32(payload) == dcrc}


def compare_uimage(a: Buffer, b: Buffer, where: str) -> ContainerCheck:
    fa, fb = _uimage_fields(a), _uimage_fields(b)
    check = ContainerCheck()
    if fa is None or fb is None:
        check.differences.append("uImage header unreadable")
        return check
    for key, label in (("load", "load address"), ("ep", "entry point"), ("os", "OS"),
                       ("arch", "architecture"), ("type", "image type"),
                       ("comp", "compression"), ("name", "image name")):
        if fa[key] != fb[key]:
            va, vb = ((hex(fa[key]), hex(fb[key])) if key in ("load", "ep")
                      else (repr(fa[key]), repr(fb[key])))
            check.differences.append(f"uImage {label} (ih_{key}) {va} vs {vb}")
    for side, f in (("A", fa), ("B", fb)):
        if not f["hcrc_ok"]:
            check.differences.append(f"uImage header CRC invalid in {side}: U-Boot refuses it")
        if not f["dcrc_ok"]:
            check.differences.append(f"uImage data CRC invalid in {side}: U-Boot refuses it")
    if fa["time"] != fb["time"]:
        check.normalisations.append(Normalisation(
            kind="uimage.ih_time", where=f"{where}: uImage header offset 8",
            detail=f"ih_time {_stamp(fa['time'], fb['time'])} zeroed; header CRC (ih_hcrc "
                   f"0x{fa['hcrc']:08x} vs 0x{fb['hcrc']:08x}) recomputed"))
    if (fa["size"], fa["dcrc"]) != (fb["size"], fb["dcrc"]) and fa["dcrc_ok"] and fb["dcrc_ok"]:
        check.normalisations.append(Normalisation(
            kind="uimage.payload_crc", where=f"{where}: uImage header offsets 12, 24",
            detail=(f"ih_size {fa['size']} vs {fb['size']}, " if fa["size"] != fb["size"]
                    else "") + f"ih_dcrc 0x{fa['dcrc']:08x} vs 0x{fb['dcrc']:08x}: each "
                   "matches its own payload; the payloads are compared member by member"))
    # ih_hcrc is a function of the other 60 header bytes: with ih_time zeroed on both sides
    # and the rest equal, the recomputed CRCs are equal too, so both are masked.
    check.byte_equivalent = not check.differences and equal_masked(a, b, [(4, 8)])
    return check


# --- SquashFS 4.0 --------------------------------------------------------------------------
# Linux fs/squashfs/squashfs_fs.h, struct squashfs_super_block (96 bytes, in the image's
# byte order; "hsqs" little-endian, "sqsh" big-endian):
#   0 s_magic  4 inodes  8 mkfs_time  12 block_size  16 fragments  20 compression (u16)
#  22 block_log  24 flags  26 no_ids  28 s_major  30 s_minor  32 root_inode (u64)
#  40 bytes_used  48 id_table_start  56 xattr_id_table_start  64 inode_table_start
#  72 directory_table_start  80 fragment_table_start  88 lookup_table_start
_SQUASH_FIELDS = ("magic", "inodes", "mkfs_time", "block_size", "fragments", "compression",
                  "block_log", "flags", "no_ids", "major", "minor", "root_inode",
                  "bytes_used", "id_table", "xattr_table", "inode_table", "directory_table",
                  "fragment_table", "lookup_table")
_SQUASH_SEMANTIC = ("inodes", "block_size", "compression", "block_log", "flags", "no_ids",
                    "major", "minor")
NO_TABLE = 0xFFFFFFFFFFFFFFFF


def _squash_fields(data: Buffer) -> dict | None:
    if len(data) < 96:
        return None
    order = {b"hsqs": "<", b"sqsh": ">"}.get(bytes(data[:4]))
    if order is None:
        return None
    values = struct.unpack_from(order + "5I6H8Q", data)
    return dict(zip(_SQUASH_FIELDS, values, strict=True))


def compare_squashfs(a: Buffer, b: Buffer, where: str) -> ContainerCheck:
    fa, fb = _squash_fields(a), _squash_fields(b)
    check = ContainerCheck()
    if fa is None or fb is None:
        check.differences.append("SquashFS 4.0 superblock unreadable")
        return check
    if fa["magic"] != fb["magic"]:
        check.differences.append("SquashFS byte order differs")
    for key in _SQUASH_SEMANTIC:
        if fa[key] != fb[key]:
            check.differences.append(f"SquashFS superblock {key} {fa[key]} vs {fb[key]}")
    if fa["mkfs_time"] != fb["mkfs_time"]:
        check.normalisations.append(Normalisation(
            kind="squashfs.mkfs_time", where=f"{where}: SquashFS superblock offset 8",
            detail=f"mkfs_time {_stamp(fa['mkfs_time'], fb['mkfs_time'])} zeroed"))
    check.byte_equivalent = not check.differences and equal_masked(a, b, [(8, 4)])
    if not check.byte_equivalent and NO_TABLE not in (fa["xattr_table"], fb["xattr_table"]):
        check.differences.append(
            "SquashFS extended attributes (e.g. file capabilities) are present and the "
            "images differ beyond the superblock: spyproof does not compare xattrs")
    return check


# --- gzip ----------------------------------------------------------------------------------
# RFC 1952 section 2.3: ID1 ID2 CM FLG MTIME(4, little-endian) XFL OS, then FEXTRA (XLEN +
# data), FNAME and FCOMMENT (zero-terminated), FHCRC (CRC16 of the header) as FLG says.
_FTEXT, _FHCRC, _FEXTRA, _FNAME, _FCOMMENT = 1, 2, 4, 8, 16
_GZIP_OS = {0: "FAT", 3: "Unix", 7: "Macintosh", 10: "NTFS", 11: "NTFS", 255: "unknown"}


def _gzip_header(buf: Buffer) -> dict | None:
    if len(buf) < 18 or bytes(buf[:2]) != b"\x1f\x8b":
        return None
    data = bytes(buf[:GZIP_HEADER_MAX])
    flg = data[3]
    pos = 10
    extra = name = comment = b""
    try:
        if flg & _FEXTRA:
            xlen = int.from_bytes(data[pos:pos + 2], "little")
            extra = bytes(data[pos + 2:pos + 2 + xlen])
            pos += 2 + xlen
        if flg & _FNAME:
            end = data.index(b"\0", pos)
            name, pos = bytes(data[pos:end]), end + 1
        if flg & _FCOMMENT:
            end = data.index(b"\0", pos)
            comment, pos = bytes(data[pos:end]), end + 1
    except ValueError:
        return None
    hcrc_at = pos if flg & _FHCRC else None
    if hcrc_at is not None:
        pos += 2
    return {"cm": data[2], "flg": flg, "mtime": int.from_bytes(data[4:8], "little"),
            "xfl": data[8], "os": data[9], "extra": extra, "name": name, "comment": comment,
            "hcrc_at": hcrc_at, "end": pos}


def compare_gzip(a: Buffer, b: Buffer, where: str) -> ContainerCheck:
    ha, hb = _gzip_header(a), _gzip_header(b)
    check = ContainerCheck()
    if ha is None or hb is None:
        check.differences.append("gzip header unreadable")
        return check
    if ha["cm"] != hb["cm"]:
        check.differences.append(f"gzip compression method {ha['cm']} vs {hb['cm']}")
    if (ha["flg"] & ~_FTEXT) != (hb["flg"] & ~_FTEXT):
        check.differences.append(f"gzip header flags 0x{ha['flg']:02x} vs 0x{hb['flg']:02x}")
    for key, label in (("extra", "extra field"), ("name", "file name"),
                       ("comment", "comment")):
        if ha[key] != hb[key]:
            check.differences.append(f"gzip {label} {ha[key]!r} vs {hb[key]!r}")
    if ha["mtime"] != hb["mtime"]:
        check.normalisations.append(Normalisation(
            kind="gzip.mtime", where=f"{where}: gzip header bytes 4-7",
            detail=f"MTIME {_stamp(ha['mtime'], hb['mtime'])} zeroed"))
    if (ha["xfl"], ha["os"]) != (hb["xfl"], hb["os"]):
        check.normalisations.append(Normalisation(
            kind="gzip.xfl_os", where=f"{where}: gzip header bytes 8-9",
            detail=f"XFL {ha['xfl']} vs {hb['xfl']} (compression-level hint), OS "
                   f"{_GZIP_OS.get(ha['os'], ha['os'])} vs {_GZIP_OS.get(hb['os'], hb['os'])} "
                   "zeroed: informational, ignored by decompressors"))

    masks = [(4, 6)] + ([(ha["hcrc_at"], 2)] if ha["hcrc_at"] is not None else [])
    check.byte_equivalent = (not check.differences and ha["hcrc_at"] == hb["hcrc_at"]
                             and equal_masked(a, b, masks))
    return check


# --- tar (stdlib tarfile) ------------------------------------------------------------------
_PAX_TIMES = {"mtime", "atime", "ctime", "LIBARCHIVE.creationtime"}


def _tar_members(data: Buffer) -> list[tarfile.TarInfo]:
    members = []
    with tarfile.open(fileobj=io.BytesIO(bytes(data)), mode="r:") as tar:
        for info in tar:
            members.append(info)
            if len(members) > MAX_MEMBERS:
                raise tarfile.TarError("too many members")
    return members


def _tar_key(m: tarfile.TarInfo) -> tuple:
    pax = tuple(sorted((k, v) for k, v in m.pax_headers.items() if k not in _PAX_TIMES))
    dev = (m.devmajor, m.devminor) if m.ischr() or m.isblk() else None
    return (m.name, m.type, m.mode, m.uid, m.gid, m.uname, m.gname, m.linkname, dev, pax)


_TAR_LABELS = ("name", "type", "mode", "uid", "gid", "owner name", "group name",
               "link target", "device", "pax headers")


def compare_tar(a: Buffer, b: Buffer, where: str) -> ContainerCheck:
    check = ContainerCheck()
    try:
        ma, mb = _tar_members(a), _tar_members(b)
    except (tarfile.TarError, EOFError, ValueError, OSError) as exc:
        check.differences.append(f"tar headers unreadable: {exc}")
        return check
    _member_differences(check, "tar", [_tar_key(m) for m in ma], [_tar_key(m) for m in mb],
                        _TAR_LABELS)
    changed = [(x.name, x.mtime, y.mtime) for x, y in zip(ma, mb, strict=False)
               if x.mtime != y.mtime]
    if changed:
        name, ta, tb = changed[0]
        check.normalisations.append(Normalisation(
            kind="tar.mtime", where=f"{where}: tar member headers",
            detail=f"mtime differs in {len(changed)} of {len(ma)} members (e.g. {name}: "
                   f"{_stamp(int(ta), int(tb))}); header checksums follow"))
    return check


def _member_differences(check: ContainerCheck, fmt: str, keys_a: list[tuple],
                        keys_b: list[tuple], labels: tuple[str, ...]) -> None:
    """Compare two member lists (in archive order) field by field; a few lines at most."""
    names_a, names_b = [k[0] for k in keys_a], [k[0] for k in keys_b]
    if names_a != names_b:
        if sorted(names_a) == sorted(names_b):
            check.differences.append(f"{fmt} member order differs")
        else:
            only_a = sorted(set(names_a) - set(names_b))
            only_b = sorted(set(names_b) - set(names_a))
            if only_a or only_b:
                check.differences.append(
                    f"{fmt} members differ: {len(only_a)} only in A, {len(only_b)} only in B"
                    + (f" (e.g. {(only_a or only_b)[0]})" if only_a or only_b else ""))
            else:
                check.differences.append(f"{fmt} member list differs (repeated names)")
        return
    shown = 0
    for ka, kb in zip(keys_a, keys_b, strict=True):
        if ka == kb:
            continue
        fields = [f"{label} {va!r} vs {vb!r}"
                  for label, va, vb in zip(labels, ka, kb, strict=True) if va != vb]
        shown += 1
        if shown <= 5:
            check.differences.append(f"{fmt} member {ka[0]}: {', '.join(fields)}")
    if shown > 5:
        check.differences.append(f"… {shown - 5} more {fmt} members with differing metadata")


# --- zip (stdlib zipfile) ------------------------------------------------------------------
# APPNOTE.TXT 4.5: extra fields are (id u16, size u16, data). 0x5455 "UT" (extended
# timestamp) and 0x000a (NTFS times) hold only times; 0x5855 "UX" holds atime and mtime,
# then optionally uid and gid (kept).
_ZIP_TIME_ONLY = {0x5455, 0x000A}


def _zip_extra(extra: bytes) -> tuple:
    out, pos = [], 0
    while pos + 4 <= len(extra):
        hid, size = struct.unpack_from("<HH", extra, pos)
        data = extra[pos + 4:pos + 4 + size]
        pos += 4 + size
        if hid in _ZIP_TIME_ONLY:
            continue
        if hid == 0x5855:
            data = data[8:]
        out.append((hid, data))
    return tuple(out)


def _zip_key(i: zipfile.ZipInfo) -> tuple:
    return (i.filename, i.external_attr, i.create_system, i.flag_bits & 0x1, i.comment,
            _zip_extra(i.extra))


_ZIP_LABELS = ("name", "attributes (mode)", "creator system", "encryption", "comment",
               "extra fields")


def compare_zip(a: Buffer, b: Buffer, where: str) -> ContainerCheck:
    check = ContainerCheck()
    try:
        with zipfile.ZipFile(io.BytesIO(bytes(a))) as za, \
                zipfile.ZipFile(io.BytesIO(bytes(b))) as zb:
            ia, ib = za.infolist(), zb.infolist()
            comment_a, comment_b = za.comment, zb.comment
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as exc:
        check.differences.append(f"zip directory unreadable: {exc}")
        return check
    if comment_a != comment_b:
        check.differences.append(f"zip archive comment {comment_a!r} vs {comment_b!r}")
    _member_differences(check, "zip", [_zip_key(i) for i in ia], [_zip_key(i) for i in ib],
                        _ZIP_LABELS)
    changed = [(x.filename, x.date_time, y.date_time) for x, y in zip(ia, ib, strict=False)
               if x.date_time != y.date_time or _zip_times(x) != _zip_times(y)]
    if changed:
        name, ta, tb = changed[0]
        check.normalisations.append(Normalisation(
            kind="zip.mtime", where=f"{where}: zip local and central headers",
            detail=f"modification time differs in {len(changed)} of {len(ia)} members (e.g. "
                   f"{name}: {_dos(ta)} vs {_dos(tb)}), extended-timestamp fields included"))
    return check


def _zip_times(i: zipfile.ZipInfo) -> tuple:
    out, pos = [], 0
    while pos + 4 <= len(i.extra):
        hid, size = struct.unpack_from("<HH", i.extra, pos)
        if hid in _ZIP_TIME_ONLY or hid == 0x5855:
            out.append(i.extra[pos:pos + 4 + size])
        pos += 4 + size
    return tuple(out)


def _dos(t: tuple) -> str:
    return "%04d-%02d-%02dT%02d:%02d:%02d" % t  # noqa: UP031 - six fields


# --- cpio ----------------------------------------------------------------------------------
# newc/crc ("070701"/"070702"): 13 eight-digit hex fields after the magic; c_mtime is the
# sixth (header offset 46). odc ("070707"): six-digit octal fields, c_mtime (11 digits) at
# header offset 48. Binary: two 16-bit halves at offset 16. (cpio(5), libarchive docs.)
def _cpio_mtime(raw: bytes) -> int | None:
    try:
        if raw[:6] in (b"070701", b"070702"):
            return int(raw[46:54], 16)
        if raw[:6] == b"070707":
            return int(raw[48:59], 8)
        if raw[:2] in (b"\xc7\x71", b"\x71\xc7"):
            order = "<" if raw[:2] == b"\xc7\x71" else ">"
            hi, lo = struct.unpack_from(order + "HH", raw, 16)
            return hi << 16 | lo
    except (ValueError, struct.error):
        return None
    return None


def _cpio_members(data: Buffer) -> list[tuple[tuple, int | None, tuple[int, int]]]:
    """[(compared key, mtime, (dev, ino) identity)] up to TRAILER!!!."""
    from spyproof.unpack.handlers.metadata import CpioFormatError, read_cpio_header

    data = bytes(data)
    fh = io.BytesIO(data)
    out = []
    offset = 0
    while len(out) <= MAX_MEMBERS:
        try:
            h = read_cpio_header(fh, offset)
        except CpioFormatError as exc:
            raise ValueError(str(exc)) from None
        if h.name == "TRAILER!!!":
            return out
        rdev = h.rdev if (h.mode & 0o170000) in (0o020000, 0o060000) else None
        key = (h.name, h.mode, h.uid, h.gid, h.nlink, rdev)
        out.append((key, _cpio_mtime(data[offset:offset + 110]), (h.dev, h.ino)))
        if h.next_offset <= offset:
            raise ValueError("cpio header loops")
        offset = h.next_offset
    raise ValueError("too many members")


def _hardlink_groups(members: list) -> list[tuple[str, ...]]:
    groups: dict[tuple, list[str]] = {}
    for key, _mtime, ident in members:
        if key[4] > 1 and (key[1] & 0o170000) == 0o100000:
            groups.setdefault(ident, []).append(key[0])
    return sorted(tuple(sorted(g)) for g in groups.values() if len(g) > 1)


_CPIO_LABELS = ("name", "mode", "uid", "gid", "link count", "device")


def compare_cpio(a: Buffer, b: Buffer, where: str) -> ContainerCheck:
    check = ContainerCheck()
    try:
        ma, mb = _cpio_members(a), _cpio_members(b)
    except (ValueError, OSError, EOFError) as exc:
        check.differences.append(f"cpio headers unreadable: {exc}")
        return check
    _member_differences(check, "cpio", [m[0] for m in ma], [m[0] for m in mb], _CPIO_LABELS)
    if _hardlink_groups(ma) != _hardlink_groups(mb):
        check.differences.append("cpio hard-link groups differ")
    changed = [(x[0][0], x[1], y[1]) for x, y in zip(ma, mb, strict=False) if x[1] != y[1]]
    if changed:
        name, ta, tb = changed[0]
        check.normalisations.append(Normalisation(
            kind="cpio.mtime", where=f"{where}: cpio member headers",
            detail=f"c_mtime differs in {len(changed)} of {len(ma)} members (e.g. {name}: "
                   f"{_stamp(ta or 0, tb or 0)})"))
    idents = [(x[0][0], x[2], y[2]) for x, y in zip(ma, mb, strict=False) if x[2] != y[2]]
    if idents:
        check.normalisations.append(Normalisation(
            kind="cpio.inode", where=f"{where}: cpio member headers",
            detail=f"c_ino/c_dev (the packing host's inode and device numbers) differ in "
                   f"{len(idents)} of {len(ma)} members; only the hard-link grouping they "
                   "encode is kept, and it is the same"))
    return check


Comparator = Callable[[Buffer, Buffer, str], ContainerCheck]

COMPARATORS: dict[str, Comparator] = {
    "uimage": compare_uimage,
    "squashfs_v4_le": compare_squashfs,
    "squashfs_v4_be": compare_squashfs,
    "gzip": compare_gzip,
    "tar": compare_tar,
    "zip": compare_zip,
    "cpio_portable_ascii": compare_cpio,
    "cpio_portable_ascii_crc": compare_cpio,
    "cpio_portable_old_ascii": compare_cpio,
    "cpio_binary": compare_cpio,
}


def compare_container(fmt: str, a: Buffer, b: Buffer, where: str) -> ContainerCheck:
    """The header comparison of one container chunk in A and in B (bytes already known to
    differ)."""
    comparator = COMPARATORS.get(fmt)
    if comparator is not None:
        return comparator(a, b, where)
    if fmt in COMPRESSION_STREAMS:
        return ContainerCheck()
    return ContainerCheck(parsed=False, differences=[
        f"{fmt}: the container's own bytes differ and spyproof has no header comparison for "
        "this format, so the difference cannot be shown to be harmless"])
