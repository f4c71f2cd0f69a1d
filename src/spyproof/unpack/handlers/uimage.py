"""U-Boot legacy image ("uImage") handler for unblob.

unblob 26.6.4 has no handler for the legacy U-Boot image format, which is the
most common wrapper around kernels and root filesystems in router firmware.

Format (``include/image.h`` in U-Boot), all integers big-endian::

    uint32 ih_magic   0x27051956
    uint32 ih_hcrc    CRC32 of the 64-byte header with ih_hcrc zeroed
    uint32 ih_time    creation time (seconds since the epoch)
    uint32 ih_size    payload size
    uint32 ih_load    load address
    uint32 ih_ep      entry point
    uint32 ih_dcrc    CRC32 of the payload
    uint8  ih_os, ih_arch, ih_type, ih_comp
    char   ih_name[32]

The payload follows the header.  MULTI and SCRIPT images start their payload
with a table of big-endian u32 sizes terminated by a 0; each image but the last
is padded to 4 bytes.

The chunk is accepted only if the header CRC matches.  A payload CRC mismatch is
reported but the payload is still extracted: evidence is worth keeping even when
the image is damaged.
"""

from __future__ import annotations

import binascii
import bz2
import contextlib
import datetime as _dt
import json
import lzma
import mmap
import struct
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path

import lz4.block
import lz4.frame
import lzallright
import zstandard
from structlog import get_logger
from unblob.file_utils import Endian, File, InvalidInputFormat
from unblob.models import (
    Extractor,
    ExtractResult,
    HandlerDoc,
    HandlerType,
    HexString,
    Reference,
    StructHandler,
    ValidChunk,
)
from unblob.report import ExtractionProblem, Report

from spyproof.inventory.manifest import sidecar_path
from spyproof.unpack import limits

logger = get_logger()

UIMAGE_MAGIC = 0x27051956
HEADER_SIZE = 64
HEADER_SIDECAR = "uimage.json"


def header_path(outdir: Path) -> Path:
    """The decoded header sits beside the extracted payload, not inside it."""
    return sidecar_path(outdir, HEADER_SIDECAR)

C_DEFINITIONS = r"""
    typedef struct uimage_header {
        uint32 ih_magic;
        uint32 ih_hcrc;
        uint32 ih_time;
        uint32 ih_size;
        uint32 ih_load;
        uint32 ih_ep;
        uint32 ih_dcrc;
        uint8  ih_os;
        uint8  ih_arch;
        uint8  ih_type;
        uint8  ih_comp;
        char   ih_name[32];
    } uimage_header_t;
"""

# Numbering from U-Boot include/image.h (checked against mkimage 2023.01 output).
OS_NAMES = {
    0: "invalid", 1: "openbsd", 2: "netbsd", 3: "freebsd", 4: "4_4bsd", 5: "linux",
    6: "svr4", 7: "esix", 8: "solaris", 9: "irix", 10: "sco", 11: "dell", 12: "ncr",
    13: "lynxos", 14: "vxworks", 15: "psos", 16: "qnx", 17: "u-boot", 18: "rtems",
    19: "artos", 20: "unity", 21: "integrity", 22: "ose", 23: "plan9", 24: "openrtos",
    25: "arm-trusted-firmware", 26: "tee", 27: "opensbi", 28: "efi",
}  # fmt: skip

ARCH_NAMES = {
    0: "invalid", 1: "alpha", 2: "arm", 3: "x86", 4: "ia64", 5: "mips", 6: "mips64",
    7: "powerpc", 8: "s390", 9: "sh", 10: "sparc", 11: "sparc64", 12: "m68k",
    13: "nios", 14: "microblaze", 15: "nios2", 16: "blackfin", 17: "avr32",
    18: "st200", 19: "sandbox", 20: "nds32", 21: "or1k", 22: "arm64", 23: "arc",
    24: "x86_64", 25: "xtensa", 26: "riscv",
}  # fmt: skip

TYPE_STANDALONE = 1
TYPE_KERNEL = 2
TYPE_RAMDISK = 3
TYPE_MULTI = 4
TYPE_FIRMWARE = 5
TYPE_SCRIPT = 6
TYPE_FILESYSTEM = 7
TYPE_KERNEL_NOLOAD = 14

TYPE_NAMES = {
    0: "invalid", 1: "standalone", 2: "kernel", 3: "ramdisk", 4: "multi", 5: "firmware",
    6: "script", 7: "filesystem", 8: "flat_dt", 9: "kwbimage", 10: "imximage",
    11: "ublimage", 12: "omapimage", 13: "aisimage", 14: "kernel_noload",
    15: "pblimage", 16: "mxsimage", 17: "gpimage", 18: "atmelimage",
    19: "socfpgaimage", 20: "x86_setup", 21: "lpc32xximage", 22: "loadable",
}  # fmt: skip

# Payload types whose data U-Boot decompresses (or that hold a compressed rootfs).
DECOMPRESSED_TYPES = frozenset(
    {TYPE_KERNEL, TYPE_KERNEL_NOLOAD, TYPE_RAMDISK, TYPE_FIRMWARE, TYPE_SCRIPT, TYPE_FILESYSTEM}
)

COMP_NONE = 0
COMP_NAMES = {0: "none", 1: "gzip", 2: "bzip2", 3: "lzma", 4: "lzo", 5: "lz4", 6: "zstd"}

# Leading bytes of each compressed format, used to decide whether the later images
# of a MULTI image are compressed too (U-Boot itself only decompresses image 0).
COMP_MAGICS: dict[int, tuple[bytes, ...]] = {
    1: (b"\x1f\x8b",),
    2: (b"BZh",),
    3: (b"\x5d\x00\x00", b"\xfd7zXZ\x00"),
    4: (b"\x89LZO\x00\r\n\x1a\n",),
    5: (b"\x04\x22\x4d\x18", b"\x02\x21\x4c\x18"),
    6: (b"\x28\xb5\x2f\xfd",),
}

READ_SIZE = 1 << 20
OUT_SIZE = 1 << 20
LZOP_MAGIC = b"\x89LZO\x00\r\n\x1a\n"
LZOP_MAX_BLOCK = 64 << 20
LZ4_LEGACY_MAGIC = 0x184C2102
LZ4_LEGACY_BLOCK = 8 << 20


class DecompressionError(Exception):
    """The payload could not be decompressed as its header claims."""


class SizeCapExceeded(DecompressionError):
    """The decompressed payload grew past the per-file cap."""


def decode_name(raw: bytes) -> str:
    return raw.split(b"\x00", 1)[0].decode("utf-8", errors="replace")


def header_crc(raw_header: bytes) -> int:
    """CRC32 of a 64-byte header with the ih_hcrc field zeroed."""
    return binascii.crc32(raw_header[:4] + b"\x00\x00\x00\x00" + raw_header[8:HEADER_SIZE])


def split_size_table(payload: memoryview) -> list[memoryview]:
    """Split a MULTI/SCRIPT payload by its leading, 0-terminated table of u32 sizes."""
    sizes: list[int] = []
    pos = 0
    while True:
        if pos + 4 > len(payload):
            raise InvalidInputFormat("uImage size table runs past the payload")
        (size,) = struct.unpack_from(">I", payload, pos)
        pos += 4
        if size == 0:
            break
        sizes.append(size)
    images = []
    for index, size in enumerate(sizes):
        if pos + size > len(payload):
            raise InvalidInputFormat("uImage sub-image runs past the payload")
        images.append(payload[pos : pos + size])
        pos += size
        if index != len(sizes) - 1:
            pos = (pos + 3) & ~3
    return images


# --- streaming decompressors -------------------------------------------------------
# Each yields output pieces no larger than OUT_SIZE (so a bomb is noticed before it is
# in memory) and raises DecompressionError when the stream is corrupt or truncated.


def _iter_chunks(data: memoryview) -> Iterator[memoryview]:
    for pos in range(0, len(data), READ_SIZE):
        yield data[pos : pos + READ_SIZE]


def _inflate_bounded(decomp, data: memoryview) -> Iterator[bytes]:
    """Drive a zlib/bz2/lzma-style decompressor object with bounded output."""
    is_zlib = hasattr(decomp, "unconsumed_tail")
    for piece in _iter_chunks(data):
        if decomp.eof:
            break
        yield decomp.decompress(piece, OUT_SIZE)
        if is_zlib:
            while decomp.unconsumed_tail and not decomp.eof:
                yield decomp.decompress(decomp.unconsumed_tail, OUT_SIZE)
        else:
            while not decomp.eof and not decomp.needs_input:
                yield decomp.decompress(b"", OUT_SIZE)
    if is_zlib:  # drain output zlib may still hold once the input is exhausted
        while not decomp.eof and (out := decomp.decompress(b"", OUT_SIZE)):
            yield out
    if not decomp.eof:
        raise DecompressionError("compressed stream is truncated")


def _gunzip(data: memoryview) -> Iterator[bytes]:
    try:
        yield from _inflate_bounded(zlib.decompressobj(wbits=47), data)
    except zlib.error as exc:
        raise DecompressionError(f"gzip: {exc}") from exc


def _bunzip2(data: memoryview) -> Iterator[bytes]:
    try:
        yield from _inflate_bounded(bz2.BZ2Decompressor(), data)
    except (OSError, ValueError) as exc:
        raise DecompressionError(f"bzip2: {exc}") from exc


def _unlzma(data: memoryview) -> Iterator[bytes]:
    # U-Boot uses the legacy .lzma ("LZMA alone") container; FORMAT_AUTO also takes .xz.
    try:
        yield from _inflate_bounded(lzma.LZMADecompressor(format=lzma.FORMAT_AUTO), data)
    except lzma.LZMAError as exc:
        raise DecompressionError(f"lzma: {exc}") from exc


def _unlzop(data: memoryview) -> Iterator[bytes]:
    """Decode the lzop container that U-Boot's lzop_decompress() reads (LZO1X blocks)."""
    if bytes(data[:9]) != LZOP_MAGIC:
        raise DecompressionError("lzo: no lzop magic")
    try:
        pos = 9
        version, _lib, _needed = struct.unpack_from(">HHH", data, pos)
        pos += 6 if version >= 0x0940 else 4
        (method,) = struct.unpack_from(">B", data, pos)
        pos += 1
        if version >= 0x0940:
            pos += 1  # level
        (flags,) = struct.unpack_from(">I", data, pos)
        pos += 4
        if flags & 0x800:  # F_H_FILTER
            pos += 4
        pos += 4 + 4  # mode, mtime low
        if version >= 0x0940:
            pos += 4  # mtime high
        (name_len,) = struct.unpack_from(">B", data, pos)
        pos += 1 + name_len + 4  # name, header checksum
        if flags & 0x40:  # F_H_EXTRA_FIELD
            (extra_len,) = struct.unpack_from(">I", data, pos)
            pos += 4 + extra_len + 4
        if method not in (1, 2, 3):
            raise DecompressionError(f"lzo: unsupported method {method}")
        d_checks = bool(flags & 0x1) + bool(flags & 0x100)  # ADLER32_D, CRC32_D
        c_checks = bool(flags & 0x2) + bool(flags & 0x200)  # ADLER32_C, CRC32_C
        while True:
            (dst_len,) = struct.unpack_from(">I", data, pos)
            pos += 4
            if dst_len == 0:
                return
            (src_len,) = struct.unpack_from(">I", data, pos)
            pos += 4
            if dst_len > LZOP_MAX_BLOCK or src_len > dst_len:
                raise DecompressionError("lzo: implausible block sizes")
            pos += 4 * d_checks
            if src_len < dst_len:
                pos += 4 * c_checks
            block = bytes(data[pos : pos + src_len])
            if len(block) != src_len:
                raise DecompressionError("lzo: truncated block")
            pos += src_len
            if src_len == dst_len:
                yield block
            else:
                out = lzallright.LZOCompressor.decompress(block, output_size_hint=dst_len)
                if len(out) != dst_len:
                    raise DecompressionError("lzo: block decompressed to the wrong size")
                yield out
    except struct.error as exc:
        raise DecompressionError("lzo: truncated stream") from exc
    except lzallright.LZOError as exc:
        raise DecompressionError(f"lzo: {exc}") from exc


def _unlz4(data: memoryview) -> Iterator[bytes]:
    """LZ4 frame format (what U-Boot decodes) or the legacy format (Linux Image.lz4)."""
    if len(data) >= 4 and struct.unpack_from("<I", data, 0)[0] == LZ4_LEGACY_MAGIC:
        yield from _unlz4_legacy(data)
        return
    decomp = lz4.frame.LZ4FrameDecompressor()
    try:
        for piece in _iter_chunks(data):
            if decomp.eof:
                break
            yield decomp.decompress(piece, OUT_SIZE)
            while not decomp.eof and not decomp.needs_input:
                yield decomp.decompress(b"", OUT_SIZE)
    except RuntimeError as exc:
        raise DecompressionError(f"lz4: {exc}") from exc
    if not decomp.eof:
        raise DecompressionError("lz4: compressed stream is truncated")


def _unlz4_legacy(data: memoryview) -> Iterator[bytes]:
    pos = 4
    bound = LZ4_LEGACY_BLOCK + LZ4_LEGACY_BLOCK // 255 + 16
    produced = False
    while pos + 4 <= len(data):
        (size,) = struct.unpack_from("<I", data, pos)
        if size == LZ4_LEGACY_MAGIC:
            pos += 4
            continue
        if size == 0 or size > bound or pos + 4 + size > len(data):
            break  # end of stream (e.g. the kernel's appended size word)
        try:
            yield lz4.block.decompress(
                bytes(data[pos + 4 : pos + 4 + size]), uncompressed_size=LZ4_LEGACY_BLOCK
            )
        except lz4.block.LZ4BlockError as exc:
            raise DecompressionError(f"lz4 legacy: {exc}") from exc
        produced = True
        pos += 4 + size
    if not produced:
        raise DecompressionError("lz4 legacy: no block")


def _unzstd(data: memoryview) -> Iterator[bytes]:
    dctx = zstandard.ZstdDecompressor()
    try:
        reader = dctx.stream_reader(data, read_across_frames=False)
        with reader:
            while out := reader.read(OUT_SIZE):
                yield out
    except zstandard.ZstdError as exc:
        raise DecompressionError(f"zstd: {exc}") from exc


DECOMPRESSORS: dict[int, Callable[[memoryview], Iterator[bytes]]] = {
    1: _gunzip,
    2: _bunzip2,
    3: _unlzma,
    4: _unlzop,
    5: _unlz4,
    6: _unzstd,
}


def decompress_to(comp: int, data: memoryview, path: Path, cap: int) -> int:
    """Decompress ``data`` into ``path``; return the size written.

    Raises DecompressionError (the partial file is removed) on corrupt or truncated
    data, on empty output and when the output would exceed ``cap`` bytes.
    """
    decompressor = DECOMPRESSORS.get(comp)
    if decompressor is None:
        raise DecompressionError(f"unknown compression {comp}")
    written = 0
    try:
        with path.open("xb") as out:
            for piece in decompressor(data):
                written += len(piece)
                if written > cap:
                    raise SizeCapExceeded(f"decompressed size exceeds the {cap}-byte file cap")
                out.write(piece)
        if written == 0:
            raise DecompressionError("decompressed to nothing")
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    return written


# --- extractor ---------------------------------------------------------------------


class UImageExtractor(Extractor):
    def extract(self, inpath: Path, outdir: Path) -> ExtractResult:
        with inpath.open("rb") as handle:
            raw_header = handle.read(HEADER_SIZE)
            if len(raw_header) < HEADER_SIZE:
                raise InvalidInputFormat("uImage header truncated")
            if inpath.stat().st_size <= HEADER_SIZE:
                return self._extract(raw_header, memoryview(b""), outdir)
            mapped = mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ)
        try:
            return self._extract(raw_header, memoryview(mapped)[HEADER_SIZE:], outdir)
        finally:
            # A view still referenced from a traceback would make close() raise; the
            # mapping is then released when the last view goes away.
            with contextlib.suppress(BufferError):
                mapped.close()

    def _extract(self, raw_header: bytes, rest: memoryview, outdir: Path) -> ExtractResult:
        fields = struct.unpack(">7I4B32s", raw_header)
        (magic, hcrc, itime, size, load, entry, dcrc, os_id, arch, itype, comp, name) = fields
        if magic != UIMAGE_MAGIC:
            raise InvalidInputFormat("not a uImage")
        reports: list[Report] = []
        payload = rest[:size]
        if len(payload) < size:
            reports.append(
                ExtractionProblem(
                    problem=f"uImage payload truncated: {len(payload)} of {size} bytes",
                    resolution="Extracted the bytes present.",
                )
            )
        computed_dcrc = binascii.crc32(payload)
        if computed_dcrc != dcrc:
            reports.append(
                ExtractionProblem(
                    problem=(
                        f"uImage data CRC mismatch: header 0x{dcrc:08x}, "
                        f"computed 0x{computed_dcrc:08x}"
                    ),
                    resolution="Extracted the payload anyway.",
                )
            )

        type_name = TYPE_NAMES.get(itype, f"type-{itype}")
        cap = limits.current().max_file_bytes
        files: list[dict] = []
        image_sizes: list[int] = []

        if itype in (TYPE_MULTI, TYPE_SCRIPT):
            try:
                images = split_size_table(payload)
            except InvalidInputFormat as exc:
                reports.append(
                    ExtractionProblem(
                        problem=f"uImage {type_name} size table unreadable: {exc}",
                        resolution="Wrote the raw payload.",
                    )
                )
                images = []
                files.append(self._write_raw(outdir, type_name, payload))
            image_sizes = [len(image) for image in images]
            for index, image in enumerate(images):
                if itype == TYPE_MULTI:
                    file_name = f"multi-{index}"
                    # U-Boot decompresses the first image (the kernel); later ones
                    # are decompressed only when they carry the format's magic.
                    strict = index == 0
                else:
                    file_name = "script" if len(images) == 1 else f"script-{index}"
                    strict = True
                files.append(
                    self._write_image(outdir, file_name, image, comp, cap, strict, reports)
                )
        elif itype in DECOMPRESSED_TYPES:
            files.append(self._write_image(outdir, type_name, payload, comp, cap, True, reports))
        else:
            files.append(self._write_raw(outdir, type_name, payload))

        info = {
            "magic": f"0x{magic:08x}",
            "name": decode_name(name),
            "time": itime,
            "time_iso": _dt.datetime.fromtimestamp(itime, _dt.UTC).isoformat(),
            "os": OS_NAMES.get(os_id, f"unknown-{os_id}"),
            "os_id": os_id,
            "arch": ARCH_NAMES.get(arch, f"unknown-{arch}"),
            "arch_id": arch,
            "type": type_name,
            "type_id": itype,
            "comp": COMP_NAMES.get(comp, f"unknown-{comp}"),
            "comp_id": comp,
            "load": load,
            "entry": entry,
            "data_size": size,
            "image_sizes": image_sizes,
            "header_crc": hcrc,
            "header_crc_ok": True,
            "data_crc": dcrc,
            "data_crc_computed": computed_dcrc,
            "data_crc_ok": computed_dcrc == dcrc,
            "files": files,
        }
        header_path(outdir).write_text(json.dumps(info, indent=2, sort_keys=True) + "\n")
        return ExtractResult(reports=reports)

    @staticmethod
    def _write_raw(outdir: Path, file_name: str, data: memoryview) -> dict:
        (outdir / file_name).write_bytes(data)
        return {"name": file_name, "size": len(data), "decompressed": False}

    def _write_image(
        self,
        outdir: Path,
        file_name: str,
        data: memoryview,
        comp: int,
        cap: int,
        strict: bool,
        reports: list[Report],
    ) -> dict:
        if comp == COMP_NONE:
            return self._write_raw(outdir, file_name, data)
        if not strict and not bytes(data[:9]).startswith(COMP_MAGICS.get(comp, ())):
            return self._write_raw(outdir, file_name, data)
        comp_name = COMP_NAMES.get(comp, f"unknown-{comp}")
        path = outdir / file_name
        try:
            size = decompress_to(comp, data, path, cap)
        except DecompressionError as exc:
            reports.append(
                ExtractionProblem(
                    problem=f"uImage {file_name} payload does not decompress as {comp_name}: {exc}",
                    resolution="Wrote the raw payload instead.",
                    path=file_name,
                )
            )
            entry = self._write_raw(outdir, file_name, data)
            entry["decompress_error"] = str(exc)
            return entry
        return {"name": file_name, "size": size, "decompressed": True, "comp": comp_name}


class UImageHandler(StructHandler):
    NAME = "uimage"
    PATTERNS = [HexString("27 05 19 56")]
    C_DEFINITIONS = C_DEFINITIONS
    HEADER_STRUCT = "uimage_header_t"
    EXTRACTOR = UImageExtractor()

    DOC = HandlerDoc(
        name="U-Boot legacy image (uImage)",
        description=(
            "64-byte big-endian header (magic 0x27051956) with header and data CRC32s, "
            "OS/arch/type/compression fields and a 32-byte name, followed by the payload. "
            "The payload is decompressed (gzip, bzip2, lzma, lzo, lz4, zstd) and MULTI "
            "images are split by their size table."
        ),
        handler_type=HandlerType.ARCHIVE,
        vendor="U-Boot",
        references=[
            Reference(
                title="U-Boot include/image.h",
                url="https://github.com/u-boot/u-boot/blob/master/include/image.h",
            )
        ],
        limitations=["FIT images (device-tree based) are a different format, not handled."],
    )

    def calculate_chunk(self, file: File, start_offset: int) -> ValidChunk | None:
        file.seek(start_offset)
        raw_header = file.read(HEADER_SIZE)
        if len(raw_header) < HEADER_SIZE:
            raise InvalidInputFormat("uImage header truncated")
        header = self.parse_header(raw_header, endian=Endian.BIG)
        if header.ih_magic != UIMAGE_MAGIC:
            raise InvalidInputFormat("uImage magic mismatch")
        if header_crc(raw_header) != header.ih_hcrc:
            raise InvalidInputFormat("uImage header CRC mismatch")
        end_offset = start_offset + HEADER_SIZE + header.ih_size
        if end_offset > file.size():
            raise InvalidInputFormat("uImage payload runs past the end of the file")
        return ValidChunk(start_offset=start_offset, end_offset=end_offset)


UIMAGE_HANDLERS = (UImageHandler,)

__all__ = ["UIMAGE_HANDLERS", "UImageExtractor", "UImageHandler", "decompress_to"]
