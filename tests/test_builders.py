"""The fixture images are real: the tool that reads each format recognises it."""

from __future__ import annotations

import gzip
import io
import shutil
import struct
import subprocess
import tarfile
import zipfile
from pathlib import Path

import pytest
from unblob.file_utils import File
from unblob.handlers.archive.netgear.trx import NetgearTRXv1Handler

from conftest import build
from fixtures import builders

VENV_BIN = Path(__file__).resolve().parents[1] / ".venv" / "bin"


def tool(name: str) -> str:
    """Path of a tool on PATH or in the venv; skip the test without it."""
    found = shutil.which(name) or shutil.which(name, path=str(VENV_BIN))
    if found is None:
        pytest.skip(f"{name} not installed")
    return found


def run(*cmd, check: bool = True, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(c) for c in cmd], capture_output=True, text=True, check=check, **kwargs
    )


def magic(path: Path) -> str:
    return run(tool("file"), "-b", path).stdout.strip()


# --- the rootfs --------------------------------------------------------------------


def test_rootfs_layout(rootfs):
    assert (rootfs / "bin/busybox").read_bytes()[:4] == b"\x7fELF"
    assert (rootfs / "usr/sbin/dropbear").read_bytes()[:4] == b"\x7fELF"
    assert (rootfs / "bin/sh").readlink() == Path("busybox")
    assert (rootfs / "var").readlink() == Path("/tmp")
    libs = list((rootfs / "lib").iterdir())
    assert libs and libs[0].read_bytes()[:4] == b"\x7fELF"
    assert "shared object" in magic(libs[0])
    shadow = (rootfs / "etc/shadow").read_text()
    assert shadow.startswith("root:$1$5pyPr00f$")
    assert "telnetd" in (rootfs / "etc/init.d/rcS").read_text()
    assert (rootfs / "usr/bin/telemetry.sh").read_text().startswith("#!/bin/sh")
    assert "option ipaddr '192.168.1.1'" in (rootfs / "etc/config/network").read_text()
    cert = run(
        tool("openssl"), "x509", "-noout", "-subject", "-in", rootfs / "etc/ssl/certs/router.pem"
    )
    assert "router.lan" in cert.stdout
    with tarfile.open(rootfs / "usr/share/nested.tar.gz") as nested:
        assert "./etc/nested.conf" in nested.getnames()


def test_shadow_hash_is_real_md5_crypt(rootfs):
    hash_ = (rootfs / "etc/shadow").read_text().split(":")[1]
    again = run(tool("openssl"), "passwd", "-1", "-salt", "5pyPr00f", builders.ROOT_PASSWORD)
    assert again.stdout.strip() == hash_


# --- filesystems and archives --------------------------------------------------------


@pytest.mark.parametrize("comp", builders.SQUASHFS_COMPRESSORS)
def test_squashfs(rootfs, tmp_path, comp):
    image = build(builders.make_squashfs, rootfs, tmp_path / f"{comp}.sqfs", comp)
    info = run(tool("unsquashfs"), "-s", image).stdout
    assert "Filesystem is exportable" in info or "Found a valid SQUASHFS 4:0" in info
    assert f"Compression {comp}" in info
    listing = run(tool("unsquashfs"), "-lls", "-d", "", image).stdout
    assert "/etc/passwd" in listing
    assert "/var -> /tmp" in listing
    assert image.read_bytes()[:4] == b"hsqs"  # little endian


@pytest.mark.parametrize(("fmt", "description"), [("newc", "SVR4"), ("odc", "odc")])
def test_cpio(cpio_newc, cpio_odc, fmt, description):
    image = {"newc": cpio_newc, "odc": cpio_odc}[fmt]
    assert description in magic(image)
    names = run(tool("cpio"), "-it", "--quiet", stdin=image.open("rb")).stdout.split()
    # GNU cpio drops the leading "./" of the names ``find .`` gave it
    assert "etc/passwd" in names and "bin/busybox" in names and "var" in names


@pytest.mark.parametrize("comp", builders.TAR_COMPRESSIONS)
def test_tar(rootfs, tmp_path, comp):
    image = build(builders.make_tar, rootfs, tmp_path / f"rootfs.tar.{comp}", comp)
    names = run(tool("tar"), "-tf", image).stdout.split()
    assert "./etc/shadow" in names and "./usr/share/nested.tar.gz" in names
    listing = run(tool("tar"), "-tvf", image).stdout
    assert "./var -> /tmp" in listing


def test_zip(zip_image):
    listing = run(tool("unzip"), "-l", zip_image).stdout
    assert "etc/passwd" in listing
    run(tool("unzip"), "-tq", zip_image)
    with zipfile.ZipFile(zip_image) as archive:
        var = archive.getinfo("var")
        assert (var.external_attr >> 16) & 0o170000 == 0o120000  # stored as a symlink
        assert archive.read("var") == b"/tmp"


@pytest.mark.parametrize("fmt", builders.SINGLE_FILE_COMPRESSIONS)
def test_single_file_compression(kernel_blob, tmp_path, fmt):
    image = build(builders.make_compressed, kernel_blob, tmp_path / f"vmlinux.{fmt}", fmt)
    decompress = {
        "gzip": ["gzip", "-dc"],
        "xz": ["xz", "-dc"],
        "lzma": ["lzma", "-dc"],
        "lz4": ["lz4", "-dc"],
        "zstd": ["zstd", "-dc"],
        "bzip2": ["bzip2", "-dc"],
        "lzo": ["lzop", "-dc"],
    }[fmt]
    out = subprocess.run(
        [tool(decompress[0]), *decompress[1:], str(image)], capture_output=True, check=True
    )
    assert out.stdout == kernel_blob.read_bytes()


@pytest.mark.parametrize(("endian", "magic_bytes"), [("le", b"\x85\x19"), ("be", b"\x19\x85")])
def test_jffs2(jffs2_le_image, jffs2_be_image, rootfs, tmp_path, endian, magic_bytes):
    image = {"le": jffs2_le_image, "be": jffs2_be_image}[endian]
    assert image.read_bytes()[:2] == magic_bytes
    run(tool("jefferson"), "-d", tmp_path / "out", image)
    extracted = next((tmp_path / "out").rglob("passwd"))
    assert extracted.read_bytes() == (rootfs / "etc/passwd").read_bytes()


def test_ubi(ubi_image, rootfs, tmp_path):
    info = run(tool("ubireader_display_info"), ubi_image).stdout
    assert "Min I/O: 2048" in info and "LEB Size: 126976" in info
    assert "Volume Name:rootfs" in info
    run(tool("ubireader_extract_files"), "-k", "-o", tmp_path / "out", ubi_image)
    extracted = next((tmp_path / "out").rglob("passwd"))
    assert extracted.read_bytes() == (rootfs / "etc/passwd").read_bytes()
    assert ubi_image.read_bytes()[:4] == b"UBI#"


@pytest.mark.parametrize("fstype", ["ext2", "ext3", "ext4"])
def test_ext(rootfs, tmp_path, fstype):
    image = build(builders.make_ext, rootfs, tmp_path / f"rootfs.{fstype}", fstype)
    assert f"{fstype} filesystem data" in magic(image)
    cat = run(tool("debugfs"), "-R", "cat /etc/passwd", image)
    assert cat.stdout == (rootfs / "etc/passwd").read_text()
    listing = run(tool("debugfs"), "-R", "ls -l /bin", image).stdout
    assert "busybox" in listing


# --- U-Boot, TRX, router image ------------------------------------------------------


def mkimage_list(image: Path) -> str:
    return run(tool("mkimage"), "-l", image).stdout


def test_uimage_kernel(uimage_kernel):
    listing = mkimage_list(uimage_kernel)
    assert "MIPS Linux Kernel Image (gzip compressed)" in listing
    assert "Load Address: 80000000" in listing


def test_uimage_filesystem(uimage_filesystem, squashfs_image):
    listing = mkimage_list(uimage_filesystem)
    assert "Filesystem Image (uncompressed)" in listing
    assert uimage_filesystem.read_bytes()[64:] == squashfs_image.read_bytes()


def test_uimage_multi(uimage_multi, squashfs_image):
    listing = mkimage_list(uimage_multi)
    assert "Multi-File Image (gzip compressed)" in listing
    assert f"Image 1: {squashfs_image.stat().st_size} Bytes" in listing


def test_trx(trx_image, squashfs_image):
    data = trx_image.read_bytes()
    magic_, length, _crc, _flags, version, *offsets = struct.unpack_from("<4sIIHH3I", data)
    assert (magic_, length, version) == (b"HDR0", len(data), 1)
    assert data[offsets[1] : offsets[1] + squashfs_image.stat().st_size] == (
        squashfs_image.read_bytes()
    )
    assert data[offsets[0] : offsets[0] + 2] == b"\x1f\x8b"
    # unblob's TRX handler checks magic, version and the CRC the way firmware tools do.
    with File.from_path(trx_image) as file:
        chunk = NetgearTRXv1Handler().calculate_chunk(file, 0)
    assert chunk is not None and (chunk.start_offset, chunk.end_offset) == (0, len(data))


def test_router_image(router_image, tmp_path):
    data = router_image.read_bytes()
    (tmp_path / "head.uimage").write_bytes(data[: builders.ROUTER_ERASE_BLOCK])
    assert data[:4] == b"\x27\x05\x19\x56"
    size = struct.unpack_from(">I", data, 12)[0]
    assert 64 + size < builders.ROUTER_ERASE_BLOCK
    assert set(data[64 + size : builders.ROUTER_ERASE_BLOCK]) == {0xFF}
    assert data[builders.ROUTER_ERASE_BLOCK : builders.ROUTER_ERASE_BLOCK + 4] == b"hsqs"
    (tmp_path / "kernel.uimage").write_bytes(data[: 64 + size])
    assert "Linux Kernel Image (gzip compressed)" in mkimage_list(tmp_path / "kernel.uimage")
    info = run(tool("unsquashfs"), "-s", "-o", str(builders.ROUTER_ERASE_BLOCK), router_image)
    assert "Compression xz" in info.stdout


# --- hostile inputs ------------------------------------------------------------------


def test_tar_traversal(tar_traversal):
    with tarfile.open(tar_traversal) as archive:
        assert archive.getnames() == ["ok.txt", "../../evil", "/etc/evil"]
    # GNU tar itself warns about (and strips) these names
    assert "Removing leading `../../'" in run(tool("tar"), "-tvf", tar_traversal).stderr


def test_zip_traversal(zip_traversal):
    listing = run(tool("unzip"), "-l", zip_traversal).stdout
    for name in ("../../evil.txt", "../evil2.txt", "/etc/evil"):
        assert name in listing


def test_cpio_absolute(cpio_absolute):
    names = run(tool("cpio"), "-it", "--quiet", stdin=cpio_absolute.open("rb")).stdout.split()
    assert "ok.txt" in names and "../evil" in names
    assert any(name.startswith("/") and name.endswith("/etc/evil") for name in names)


def test_tar_symlink_escape(tar_symlink_escape):
    listing = run(tool("tar"), "-tvf", tar_symlink_escape).stdout
    assert "link -> /tmp" in listing and "link/pwned" in listing
    assert "rel/pwned2" in listing


def test_tar_hardlink_escape(tar_hardlink_escape):
    listing = run(tool("tar"), "-tvf", tar_hardlink_escape).stdout
    assert "passwd_link link to etc/passwd" in listing  # GNU tar strips the "/" on listing
    with tarfile.open(tar_hardlink_escape) as archive:
        assert archive.getmember("passwd_link").islnk()
        assert archive.getmember("passwd_link").linkname == "/etc/passwd"
        assert archive.getmember("shadow_link").linkname == "../../../../etc/shadow"


def test_tar_special_files(tar_special_files):
    lines = run(tool("tar"), "-tvf", tar_special_files).stdout.splitlines()
    kinds = {line.split()[-1]: line[0] for line in lines}
    assert kinds["dev/console"] == "c" and kinds["dev/mtdblock0"] == "b"
    assert kinds["dev/initctl"] == "p" and kinds["etc/ok"] == "-"


def test_zip_bomb_listing(zip_bomb):
    assert zip_bomb.stat().st_size < 2 * 1024 * 1024
    with zipfile.ZipFile(zip_bomb) as archive:
        (info,) = archive.infolist()
    assert info.file_size == 1 << 30 and info.compress_type == zipfile.ZIP_DEFLATED
    assert "1073741824" in run(tool("unzip"), "-l", zip_bomb).stdout


def test_gzip_bomb_listing(gzip_bomb):
    assert gzip_bomb.stat().st_size < 2 * 1024 * 1024
    description = magic(gzip_bomb)  # `gzip -l` would inflate the whole stream
    assert "gzip compressed data" in description and "1073741824" in description
    assert struct.unpack("<I", gzip_bomb.read_bytes()[-4:])[0] == (1 << 30) & 0xFFFFFFFF


def test_small_bombs_are_valid_streams(tmp_path):
    """The precomputed-segment trick gives valid deflate: test it fully on small bombs."""
    size = 3 * (1 << 20) + 12345
    zip_path = builders.make_zip_bomb(tmp_path / "small.zip", size)
    run(tool("unzip"), "-tq", zip_path)
    with zipfile.ZipFile(zip_path) as archive:
        assert archive.read("zeros.bin") == bytes(size)
    gz_path = builders.make_gzip_bomb(tmp_path / "small.gz", size)
    run(tool("gzip"), "-t", gz_path)
    assert gzip.decompress(gz_path.read_bytes()) == bytes(size)


def test_nested_gzip(nested_gzip):
    assert "gzip compressed data" in magic(nested_gzip)
    data, levels = nested_gzip.read_bytes(), 0
    while data[:2] == b"\x1f\x8b":
        data, levels = gzip.decompress(data), levels + 1
    assert levels == 30 and b"bottom" in data


def test_nested_tar(nested_tar):
    data, levels = nested_tar.read_bytes(), 0
    while True:
        with tarfile.open(fileobj=io.BytesIO(data)) as archive:
            (member,) = archive.getmembers()
            data = archive.extractfile(member).read()
        levels += 1
        if not member.name.endswith(".tar"):
            break
    assert levels == 20 and b"bottom" in data


def test_truncated_squashfs(truncated_squashfs):
    assert truncated_squashfs.read_bytes()[:4] == b"hsqs"
    assert run(tool("unsquashfs"), "-l", truncated_squashfs, check=False).returncode != 0


def test_garbage_and_empty(garbage_file, empty_file):
    assert magic(garbage_file) == "data"
    assert magic(empty_file) == "empty"
