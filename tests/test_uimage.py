"""The U-Boot legacy image handler on mkimage output."""

from __future__ import annotations

import binascii
import json
import struct
from pathlib import Path

import pytest
from unblob.file_utils import File, InvalidInputFormat
from unblob.processing import ExtractionConfig, process_file
from unblob.report import ChunkReport, ExtractionProblem

from conftest import build
from fixtures import builders
from spyproof.unpack import limits
from spyproof.unpack.handlers import SPYPROOF_DIR_HANDLERS, SPYPROOF_HANDLERS
from spyproof.unpack.handlers.uimage import UImageHandler, header_path

ALL_COMPRESSIONS = ("none", "gzip", "bzip2", "lzma", "lzo", "lz4", "zstd")


def chunk_of(image: Path):
    with File.from_path(image) as file:
        return UImageHandler().calculate_chunk(file, 0)


def extract(image: Path, outdir: Path):
    """Chunk detection, then extraction, as unblob does for a whole-file chunk."""
    chunk = chunk_of(image)
    assert (chunk.start_offset, chunk.end_offset) == (0, image.stat().st_size)
    result = UImageHandler().extract(image, outdir)
    header = json.loads(header_path(outdir).read_text())
    return result.reports, header


def problems(reports) -> list[str]:
    return [r.problem for r in reports if isinstance(r, ExtractionProblem)]


def corrupt(image: Path, out: Path, offset: int) -> Path:
    data = bytearray(image.read_bytes())
    data[offset] ^= 0xFF
    out.write_bytes(bytes(data))
    return out


def unblob_config(extract_root: Path) -> ExtractionConfig:
    return ExtractionConfig(
        extract_root=extract_root,
        randomness_depth=0,
        handlers=SPYPROOF_HANDLERS,
        dir_handlers=SPYPROOF_DIR_HANDLERS,
        process_num=1,
        verbose=0,
    )


def chunks_of(result, path: Path) -> list[ChunkReport]:
    """The chunk reports of the task that processed ``path`` (results come unordered)."""
    (task_result,) = [r for r in result.results if r.task.path == path]
    return sorted(task_result.filter_reports(ChunkReport), key=lambda c: c.start_offset)


def test_handler_is_registered():
    names = [handler.NAME for handler in SPYPROOF_HANDLERS]
    assert names.count("uimage") == 1
    assert UImageHandler in SPYPROOF_HANDLERS
    squashfs_v4 = [n for n in names if n.startswith("squashfs_v4")]
    assert len(squashfs_v4) == len(set(squashfs_v4))


@pytest.mark.parametrize("comp", ALL_COMPRESSIONS)
def test_kernel(kernel_blob, tmp_path, comp):
    image = build(builders.make_uimage, kernel_blob, tmp_path / "k.uimage", "kernel", comp)
    reports, header = extract(image, tmp_path / "out")
    assert reports == []
    assert (tmp_path / "out" / "kernel").read_bytes() == kernel_blob.read_bytes()
    assert {p.name for p in (tmp_path / "out").iterdir()} == {"kernel"}
    assert header["name"] == "MIPS OpenWrt Linux-4.14.221"
    assert (header["os"], header["arch"], header["type"]) == ("linux", "mips", "kernel")
    assert header["comp"] == comp
    assert header["load"] == header["entry"] == 0x80000000
    assert header["data_size"] == image.stat().st_size - 64
    assert header["data_crc_ok"] is True and header["header_crc_ok"] is True
    raw = image.read_bytes()
    assert header["header_crc"] == struct.unpack_from(">I", raw, 4)[0]
    assert header["data_crc"] == binascii.crc32(raw[64:])
    assert header["time"] == struct.unpack_from(">I", raw, 8)[0]
    assert header["files"][0]["decompressed"] is (comp != "none")


def test_kernel_lz4_legacy_format(kernel_blob, tmp_path):
    """Linux's Image.lz4 is the legacy LZ4 format (``lz4 -l``), labelled lz4 by mkimage."""
    legacy = build(builders.make_compressed, kernel_blob, tmp_path / "k.lz4", "lz4-legacy")
    image = build(
        builders.make_uimage, legacy, tmp_path / "k.uimage", "kernel", "lz4", precompressed=True
    )
    reports, _header = extract(image, tmp_path / "out")
    assert reports == []
    assert (tmp_path / "out" / "kernel").read_bytes() == kernel_blob.read_bytes()


def test_filesystem(uimage_filesystem, squashfs_image, tmp_path):
    reports, header = extract(uimage_filesystem, tmp_path / "out")
    assert reports == []
    assert (tmp_path / "out" / "filesystem").read_bytes() == squashfs_image.read_bytes()
    assert (header["type"], header["comp"], header["name"]) == ("filesystem", "none", "rootfs")


def test_ramdisk_gzip(cpio_newc, tmp_path):
    image = build(builders.make_uimage, cpio_newc, tmp_path / "rd.uimage", "ramdisk", "gzip")
    reports, header = extract(image, tmp_path / "out")
    assert reports == []
    assert (tmp_path / "out" / "ramdisk").read_bytes() == cpio_newc.read_bytes()
    assert header["type"] == "ramdisk"


def test_multi(uimage_multi, kernel_blob, squashfs_image, tmp_path):
    reports, header = extract(uimage_multi, tmp_path / "out")
    assert reports == []
    out = tmp_path / "out"
    assert {p.name for p in out.iterdir()} == {"multi-0", "multi-1"}
    assert (out / "multi-0").read_bytes() == kernel_blob.read_bytes()  # gunzipped kernel
    assert (out / "multi-1").read_bytes() == squashfs_image.read_bytes()
    assert header["type"] == "multi" and header["comp"] == "gzip"
    assert header["image_sizes"][1] == squashfs_image.stat().st_size
    assert [f["decompressed"] for f in header["files"]] == [True, False]


def test_multi_three_parts_unaligned(tmp_path):
    """Sizes not multiple of 4: every image but the last is padded in the payload."""
    parts = []
    for index, size in enumerate((5, 9, 3)):
        parts.append(tmp_path / f"part{index}")
        parts[-1].write_bytes(bytes([index + 1]) * size)
    image = build(builders.make_uimage_multi, parts, tmp_path / "m.uimage", "none")
    reports, header = extract(image, tmp_path / "out")
    assert reports == []
    assert header["image_sizes"] == [5, 9, 3]
    for index, part in enumerate(parts):
        assert (tmp_path / "out" / f"multi-{index}").read_bytes() == part.read_bytes()


def test_script(tmp_path):
    script = tmp_path / "boot.cmd"
    script.write_text("setenv bootargs console=ttyS0,115200\nbootm 0x9f050000\n")
    image = build(builders.make_uimage, script, tmp_path / "boot.scr", "script", "none")
    reports, header = extract(image, tmp_path / "out")
    assert reports == []
    assert (tmp_path / "out" / "script").read_bytes() == script.read_bytes()
    assert header["type"] == "script"


def test_bad_header_crc_is_rejected(uimage_kernel, tmp_path):
    broken = corrupt(uimage_kernel, tmp_path / "bad.uimage", 40)  # a byte of ih_name
    with pytest.raises(InvalidInputFormat, match="header CRC"):
        chunk_of(broken)


def test_truncated_payload_is_rejected(uimage_kernel, tmp_path):
    cut = tmp_path / "cut.uimage"
    cut.write_bytes(uimage_kernel.read_bytes()[:-10])
    with pytest.raises(InvalidInputFormat, match="past the end"):
        chunk_of(cut)


def test_data_crc_mismatch_is_reported(kernel_blob, tmp_path):
    image = build(builders.make_uimage, kernel_blob, tmp_path / "k.uimage", "kernel", "none")
    broken = corrupt(image, tmp_path / "bad.uimage", 64 + 5000)
    reports, header = extract(broken, tmp_path / "out")
    assert len(reports) == 1 and "data CRC mismatch" in problems(reports)[0]
    assert header["data_crc_ok"] is False
    assert header["data_crc_computed"] != header["data_crc"]
    assert (tmp_path / "out" / "kernel").read_bytes() == broken.read_bytes()[64:]


def test_undecompressable_payload_is_written_raw(kernel_blob, tmp_path):
    """Labelled gzip but stored plain: raw payload plus a report, not a failure."""
    image = build(
        builders.make_uimage,
        kernel_blob,
        tmp_path / "k.uimage",
        "kernel",
        "gzip",
        precompressed=True,
    )
    reports, header = extract(image, tmp_path / "out")
    assert any("does not decompress as gzip" in p for p in problems(reports))
    assert (tmp_path / "out" / "kernel").read_bytes() == kernel_blob.read_bytes()
    assert header["files"][0]["decompressed"] is False
    assert header["data_crc_ok"] is True


def test_corrupt_compressed_payload(uimage_kernel, tmp_path):
    broken = corrupt(uimage_kernel, tmp_path / "bad.uimage", 64 + 2000)
    reports, header = extract(broken, tmp_path / "out")
    found = problems(reports)
    assert any("data CRC mismatch" in p for p in found)
    assert any("does not decompress" in p for p in found)
    assert (tmp_path / "out" / "kernel").read_bytes() == broken.read_bytes()[64:]


def test_decompression_respects_file_cap(uimage_kernel, tmp_path, monkeypatch):
    cap = limits.Limits(max_file_bytes=64 * 1024)
    monkeypatch.setenv(limits.ENV_VAR, cap.to_env())
    reports, header = extract(uimage_kernel, tmp_path / "out")
    assert any("exceeds" in p for p in problems(reports))
    assert (tmp_path / "out" / "kernel").stat().st_size == uimage_kernel.stat().st_size - 64
    assert header["files"][0]["decompressed"] is False


def test_unblob_extracts_uimage(uimage_kernel, kernel_blob, tmp_path):
    result = process_file(unblob_config(tmp_path / "x"), uimage_kernel)
    chunks = chunks_of(result, uimage_kernel)
    assert [(c.handler_name, c.start_offset) for c in chunks] == [("uimage", 0)]
    assert chunks[0].extraction_reports == []
    kernels = list((tmp_path / "x").rglob("kernel"))
    assert len(kernels) == 1 and kernels[0].read_bytes() == kernel_blob.read_bytes()


def test_unblob_finds_router_image_layout(router_image, tmp_path):
    result = process_file(unblob_config(tmp_path / "x"), router_image)
    chunks = {c.handler_name: c for c in chunks_of(result, router_image)}
    assert chunks["uimage"].start_offset == 0
    assert chunks["uimage"].extraction_reports == []
    squashfs = [c for name, c in chunks.items() if name.startswith("squashfs")]
    assert len(squashfs) == 1
    assert squashfs[0].start_offset == builders.ROUTER_ERASE_BLOCK
    assert squashfs[0].end_offset == router_image.stat().st_size
    assert chunks["padding"].end_offset == builders.ROUTER_ERASE_BLOCK
    assert list((tmp_path / "x").rglob("*.spyproof-uimage.json"))
