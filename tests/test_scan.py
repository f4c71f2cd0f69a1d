"""End-to-end scans: every supported format, through the real unpack engine and inventory.

Each image is built by the real tool (see fixtures/builders.py); the assertions compare the
inventory with the root filesystem the image was built from.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from conftest import build
from fixtures import builders
from spyproof.scan import ScanOptions, run_scan
from spyproof.unpack.limits import Limits


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def scan(image: Path, tmp_path: Path, **limits) -> tuple:
    out = tmp_path / "out"
    work = tmp_path / "work"
    work.mkdir(parents=True, exist_ok=True)
    outcome = run_scan(image, out, ScanOptions(limits=Limits(**limits), work_dir=work))
    return outcome, outcome.report


def rootfs_files(report) -> dict[str, object]:
    assert report.rootfs, f"no root filesystem found; trees: {[t.id for t in report.trees]}"
    return {f.path: f for f in report.files if f.tree == report.rootfs}


def assert_router_rootfs(report, rootfs: Path, *, modes: bool = True) -> None:
    files = rootfs_files(report)
    passwd = files["etc/passwd"]
    assert passwd.kind == "file"
    assert passwd.sha256 == sha256(rootfs / "etc/passwd")
    assert passwd.file_type == "config"
    busybox = files["bin/busybox"]
    assert busybox.file_type == "elf"
    assert busybox.elf is not None and busybox.elf.elf_class in (32, 64)
    assert busybox.sha256 == sha256(rootfs / "bin/busybox")
    assert files["bin/sh"].kind == "symlink"
    assert files["bin/sh"].link_target == "busybox"
    if modes:
        assert files["etc/init.d/rcS"].mode == "0755"
    # The archive nested in the root fs is a tree of its own, not part of the root fs.
    assert "usr/share/nested.tar.gz" in files
    assert not any("_extract" in p for p in files)


FORMAT_FIXTURES = [
    "squashfs_image", "squashfs_gzip_image", "cpio_newc", "cpio_odc", "tar_image",
    "tar_gz_image", "zip_image", "jffs2_le_image", "jffs2_be_image", "ubi_image",
    "ext4_image", "router_image",
]


@pytest.mark.parametrize("fixture", FORMAT_FIXTURES)
def test_each_format_yields_the_root_filesystem(fixture, request, rootfs, tmp_path):
    image = request.getfixturevalue(fixture)
    outcome, report = scan(image, tmp_path)
    assert outcome.exit_code == 0, outcome.problems
    assert report.complete
    # zip does not keep Unix modes reliably through every extractor; the rest must.
    assert_router_rootfs(report, rootfs, modes=fixture != "zip_image")
    assert (tmp_path / "out" / "report.json").is_file()


@pytest.mark.parametrize("comp", ["xz", "bz2", "zst"])
def test_compressed_tarballs(comp, rootfs, fixtures_dir, tmp_path):
    image = build(builders.make_tar, rootfs, fixtures_dir / f"rootfs.tar.{comp}", comp)
    outcome, report = scan(image, tmp_path)
    assert outcome.exit_code == 0, outcome.problems
    assert_router_rootfs(report, rootfs)


@pytest.mark.parametrize("fmt", ["gzip", "xz", "lzma", "lz4", "zstd"])
def test_single_file_compression_around_a_tar(fmt, rootfs, fixtures_dir, tmp_path):
    tar = build(builders.make_tar, rootfs, fixtures_dir / "plain-for-compress.tar")
    image = build(builders.make_compressed, tar, fixtures_dir / f"rootfs.tar.{fmt}", fmt)
    outcome, report = scan(image, tmp_path)
    assert outcome.exit_code == 0, outcome.problems
    chain = [f.format for f in report.image.formats if f.depth <= 1]
    assert chain[0].startswith(fmt) and "tar" in chain
    assert_router_rootfs(report, rootfs)


def test_router_image_format_chain_and_trees(router_image, rootfs, tmp_path):
    outcome, report = scan(router_image, tmp_path)
    top = [(f.format, f.start_offset) for f in report.image.formats if f.depth == 0]
    assert ("uimage", 0) in top
    assert ("squashfs_v4_le", builders.ROUTER_ERASE_BLOCK) in top
    uimage = next(f for f in report.image.formats if f.format == "uimage")
    assert uimage.details["type"] == "kernel" and uimage.details["data_crc_ok"] is True
    kinds = {t.format for t in report.trees}
    assert {"uimage", "squashfs_v4_le"} <= kinds
    # every extracted tree is reported, including the archive nested in the root fs
    assert any(t.format in ("gzip", "tar") and t.depth >= 1 for t in report.trees)
    assert sum(t.is_rootfs for t in report.trees) == 1
    assert report.image.sha256 == sha256(router_image)


def test_trx_image(trx_image, tmp_path):
    outcome, report = scan(trx_image, tmp_path)
    assert any(f.format.startswith("trx") for f in report.image.formats)
    assert report.trees


def test_uimage_multi(uimage_multi, tmp_path):
    outcome, report = scan(uimage_multi, tmp_path)
    uimage = next(f for f in report.image.formats if f.format == "uimage")
    assert uimage.details["type"] == "multi"
    assert len(uimage.details["image_sizes"]) >= 2


def test_same_image_same_report(router_image, tmp_path):
    a, _ = scan(router_image, tmp_path / "a")
    b, _ = scan(router_image, tmp_path / "b")
    ja = json.loads(a.report_path.read_text())
    jb = json.loads(b.report_path.read_text())
    ja.pop("generated_at")
    jb.pop("generated_at")
    assert ja == jb
    text = a.report_path.read_text()
    assert str(tmp_path) not in text  # no host paths leak into the report


def test_squashfs_metadata_comes_from_the_filesystem(tmp_path):
    """Modes, owners and device nodes as mksquashfs stored them, not as extraction left them."""
    root = tmp_path / "root"
    for d in ("etc", "bin", "dev"):
        (root / d).mkdir(parents=True)
    (root / "etc/shadow").write_text("root::0:0:99999:7:::\n")
    (root / "bin/tool").write_bytes(b"#!/bin/sh\necho hi\n")
    image = tmp_path / "meta.squashfs"
    builders.require("mksquashfs")
    builders._run(["mksquashfs", root, image, "-noappend", "-quiet", "-no-progress",
                   "-p", "etc/shadow m 600 0 42", "-p", "bin/tool m 4755 0 0",
                   "-p", "dev/console c 600 0 0 5 1", "-p", "dev/initctl f 600 0 0 cat"])
    outcome, report = scan(image, tmp_path)
    files = rootfs_files(report)
    assert files["etc/shadow"].mode == "0600" and files["etc/shadow"].gid == 42
    assert files["bin/tool"].mode == "4755"
    assert files["dev/console"].kind == "char_device"


# --- hostile input --------------------------------------------------------------------


def _no_escape(tmp_path: Path) -> None:
    """Nothing may appear next to the work and output directories."""
    names = {p.name for p in tmp_path.iterdir()}
    assert names <= {"out", "work"}, names


def test_tar_traversal_stays_inside(tar_traversal, tmp_path):
    outcome, report = scan(tar_traversal, tmp_path)
    _no_escape(tmp_path)
    assert not Path("/etc/evil").exists()
    codes = {w.code for w in report.warnings}
    assert "path.traversal" in codes
    names = {f.path.rsplit("/", 1)[-1] for f in report.files}
    assert "ok.txt" in names


def test_zip_traversal_stays_inside(zip_traversal, tmp_path):
    outcome, report = scan(zip_traversal, tmp_path)
    _no_escape(tmp_path)
    assert "path.traversal" in {w.code for w in report.warnings}


def test_cpio_absolute_stays_inside(cpio_absolute, tmp_path):
    outcome, report = scan(cpio_absolute, tmp_path)
    _no_escape(tmp_path)
    assert {"ok.txt"} <= {f.path.rsplit("/", 1)[-1] for f in report.files}


def test_symlink_escape_is_not_followed(tmp_path, fixtures_dir):
    target = tmp_path / "victim"
    target.mkdir()
    image = build(builders.make_tar_symlink_escape, fixtures_dir / "symlink-escape.tar",
                  str(target))
    outcome, report = scan(image, tmp_path)
    assert list(target.iterdir()) == []
    assert {"path.symlink_removed", "path.traversal", "path.link"} & {
        w.code for w in report.warnings}


def test_hardlink_to_host_file_is_not_created(tar_hardlink_escape, tmp_path):
    outcome, report = scan(tar_hardlink_escape, tmp_path)
    for f in report.files:
        if f.path.endswith(("passwd_link", "shadow_link")):
            assert f.sha256 != sha256(Path("/etc/passwd"))
    _no_escape(tmp_path)


def test_device_nodes_are_recorded_not_created(tar_special_files, tmp_path):
    outcome, report = scan(tar_special_files, tmp_path)
    work = tmp_path / "work"
    assert not any(builders.is_special(p) for p in work.rglob("*"))
    assert "path.special_file" in {w.code for w in report.warnings}


def test_zip_bomb_stops_at_total_bytes_cap(zip_bomb, tmp_path):
    outcome, report = scan(zip_bomb, tmp_path, max_total_bytes=64 * 1024**2, max_ratio=1e9)
    assert outcome.exit_code == 2
    assert not report.complete
    assert "limit.total_bytes" in {w.code for w in report.warnings}
    assert (tmp_path / "out" / "report.json").is_file()


def test_gzip_bomb_stops_at_ratio_cap(gzip_bomb, tmp_path):
    outcome, report = scan(gzip_bomb, tmp_path, max_ratio=50)
    assert outcome.exit_code == 2
    assert "limit.ratio" in {w.code for w in report.warnings}


def test_gzip_bomb_stops_at_file_size_cap(gzip_bomb, tmp_path):
    outcome, report = scan(gzip_bomb, tmp_path, max_file_bytes=8 * 1024**2, max_ratio=1e9)
    assert outcome.exit_code == 2
    assert "limit.file_bytes" in {w.code for w in report.warnings}


def test_nesting_bomb_stops_at_depth_cap(nested_gzip, tmp_path):
    outcome, report = scan(nested_gzip, tmp_path, max_depth=5)
    assert outcome.exit_code == 2
    assert "limit.depth" in {w.code for w in report.warnings}
    assert max(f.depth for f in report.image.formats) <= 5


def test_file_count_cap(tar_image, tmp_path):
    outcome, report = scan(tar_image, tmp_path, max_files=5)
    assert outcome.exit_code == 2
    assert "limit.files" in {w.code for w in report.warnings}


def test_truncated_squashfs_gives_partial_report(truncated_squashfs, tmp_path):
    outcome, report = scan(truncated_squashfs, tmp_path)
    assert outcome.exit_code == 2
    assert not report.complete
    assert len(outcome.problems[0].splitlines()) == 1
    assert str(truncated_squashfs) in outcome.problems[0]


@pytest.mark.parametrize("fstype", ["ext2", "ext3"])
def test_ext2_ext3(fstype, rootfs, fixtures_dir, tmp_path):
    image = build(builders.make_ext, rootfs, fixtures_dir / f"rootfs.{fstype}", fstype)
    outcome, report = scan(image, tmp_path)
    assert outcome.exit_code == 0, outcome.problems
    assert any(f.format == "extfs" for f in report.image.formats)
    assert_router_rootfs(report, rootfs)


def test_big_endian_squashfs(rootfs, fixtures_dir, tmp_path):
    """Big-endian SquashFS 4.0 (no packaged tool writes it: converted from mksquashfs output,
    see tests/squashfs_be.py) scans to the same root filesystem."""
    import squashfs_be

    le = build(builders.make_squashfs, rootfs, fixtures_dir / "for-be.squashfs", "gzip")
    be = tmp_path / "rootfs-be.squashfs"
    be.write_bytes(squashfs_be.le_to_be(le.read_bytes()))
    outcome, report = scan(be, tmp_path)
    assert outcome.exit_code == 0, outcome.problems
    assert any(f.format == "squashfs_v4_be" for f in report.image.formats)
    assert_router_rootfs(report, rootfs)
