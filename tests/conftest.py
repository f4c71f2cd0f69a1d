"""Shared pytest setup: puts tests/ on sys.path and builds image fixtures once a session.

Each fixture builds one image with the real tool (see ``fixtures/builders.py``) into
``tmp_path_factory``; a missing tool skips the tests that need it.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

import pytest

TESTS_DIR = Path(__file__).resolve().parent
if str(TESTS_DIR) not in sys.path:
    sys.path.insert(0, str(TESTS_DIR))

from fixtures import builders  # noqa: E402


def build(factory: Callable[..., Path], *args, **kwargs) -> Path:
    """Run a builder; skip the test when the tool it needs is not installed."""
    try:
        return factory(*args, **kwargs)
    except builders.ToolMissing as exc:
        pytest.skip(str(exc))


@pytest.fixture(scope="session", autouse=True)
def isolated_user_data(tmp_path_factory):
    """No test reads or writes the user's knowledge base: the data directory is a fresh
    temporary one and ``$SPYPROOF_DB`` is unset (subprocesses inherit both)."""
    import os

    saved = {k: os.environ.get(k) for k in ("XDG_DATA_HOME", "SPYPROOF_DB")}
    os.environ["XDG_DATA_HOME"] = str(tmp_path_factory.mktemp("xdg-data"))
    os.environ.pop("SPYPROOF_DB", None)
    yield
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


@pytest.fixture(scope="session")
def fixtures_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("fixtures")


@pytest.fixture(scope="session")
def rootfs(fixtures_dir) -> Path:
    return build(builders.make_rootfs, fixtures_dir / "rootfs")


@pytest.fixture(scope="session")
def kernel_blob(fixtures_dir) -> Path:
    return build(builders.make_kernel_blob, fixtures_dir / "vmlinux")


# --- ordinary images -------------------------------------------------------------------


@pytest.fixture(scope="session")
def squashfs_image(rootfs, fixtures_dir) -> Path:
    """SquashFS 4.0 LE, xz (the OpenWrt default)."""
    return build(builders.make_squashfs, rootfs, fixtures_dir / "rootfs-xz.squashfs", "xz")


@pytest.fixture(scope="session")
def squashfs_gzip_image(rootfs, fixtures_dir) -> Path:
    return build(builders.make_squashfs, rootfs, fixtures_dir / "rootfs-gzip.squashfs", "gzip")


@pytest.fixture(scope="session")
def cpio_newc(rootfs, fixtures_dir) -> Path:
    return build(builders.make_cpio, rootfs, fixtures_dir / "rootfs-newc.cpio", "newc")


@pytest.fixture(scope="session")
def cpio_odc(rootfs, fixtures_dir) -> Path:
    return build(builders.make_cpio, rootfs, fixtures_dir / "rootfs-odc.cpio", "odc")


@pytest.fixture(scope="session")
def tar_image(rootfs, fixtures_dir) -> Path:
    return build(builders.make_tar, rootfs, fixtures_dir / "rootfs.tar")


@pytest.fixture(scope="session")
def tar_gz_image(rootfs, fixtures_dir) -> Path:
    return build(builders.make_tar, rootfs, fixtures_dir / "rootfs.tar.gz", "gz")


@pytest.fixture(scope="session")
def zip_image(rootfs, fixtures_dir) -> Path:
    return build(builders.make_zip, rootfs, fixtures_dir / "rootfs.zip")


@pytest.fixture(scope="session")
def jffs2_le_image(rootfs, fixtures_dir) -> Path:
    return build(builders.make_jffs2, rootfs, fixtures_dir / "rootfs-le.jffs2", "little")


@pytest.fixture(scope="session")
def jffs2_be_image(rootfs, fixtures_dir) -> Path:
    return build(builders.make_jffs2, rootfs, fixtures_dir / "rootfs-be.jffs2", "big")


@pytest.fixture(scope="session")
def ubi_image(rootfs, fixtures_dir) -> Path:
    return build(builders.make_ubi, rootfs, fixtures_dir / "rootfs.ubi")


@pytest.fixture(scope="session")
def ext4_image(rootfs, fixtures_dir) -> Path:
    return build(builders.make_ext, rootfs, fixtures_dir / "rootfs.ext4", "ext4")


@pytest.fixture(scope="session")
def uimage_kernel(kernel_blob, fixtures_dir) -> Path:
    """mkimage -A mips -O linux -T kernel -C gzip (kernel gzip -9'd first)."""
    return build(
        builders.make_uimage, kernel_blob, fixtures_dir / "kernel-gzip.uimage", "kernel", "gzip"
    )


@pytest.fixture(scope="session")
def uimage_filesystem(squashfs_image, fixtures_dir) -> Path:
    """mkimage -T filesystem -C none around the xz squashfs."""
    return build(
        builders.make_uimage,
        squashfs_image,
        fixtures_dir / "rootfs.uimage",
        "filesystem",
        "none",
        name="rootfs",
    )


@pytest.fixture(scope="session")
def uimage_multi(kernel_blob, squashfs_image, fixtures_dir) -> Path:
    """mkimage -T multi -C gzip -d kernel.gz:rootfs.squashfs."""
    return build(
        builders.make_uimage_multi,
        [kernel_blob, squashfs_image],
        fixtures_dir / "multi.uimage",
        "gzip",
    )


@pytest.fixture(scope="session")
def trx_image(kernel_blob, squashfs_image, fixtures_dir) -> Path:
    """TRX v1 (Python-written) with a gzip kernel and the squashfs rootfs."""
    kernel_gz = build(builders.make_compressed, kernel_blob, fixtures_dir / "trx-kernel.gz", "gzip")
    return build(builders.make_trx, [kernel_gz, squashfs_image], fixtures_dir / "image.trx")


@pytest.fixture(scope="session")
def router_image(rootfs, fixtures_dir) -> Path:
    """uImage kernel + 0xFF padding to 64 KiB + xz squashfs (squashfs at 0x10000)."""
    return build(builders.make_router_image, rootfs, fixtures_dir / "router-sysupgrade.bin")


# --- hostile inputs --------------------------------------------------------------------


@pytest.fixture(scope="session")
def tar_traversal(fixtures_dir) -> Path:
    return build(builders.make_tar_traversal, fixtures_dir / "hostile" / "traversal.tar")


@pytest.fixture(scope="session")
def zip_traversal(fixtures_dir) -> Path:
    return build(builders.make_zip_traversal, fixtures_dir / "hostile" / "traversal.zip")


@pytest.fixture(scope="session")
def cpio_absolute(fixtures_dir) -> Path:
    return build(builders.make_cpio_absolute, fixtures_dir / "hostile" / "absolute.cpio")


@pytest.fixture(scope="session")
def tar_symlink_escape(fixtures_dir) -> Path:
    return build(builders.make_tar_symlink_escape, fixtures_dir / "hostile" / "symlink.tar")


@pytest.fixture(scope="session")
def tar_hardlink_escape(fixtures_dir) -> Path:
    return build(builders.make_tar_hardlink_escape, fixtures_dir / "hostile" / "hardlink.tar")


@pytest.fixture(scope="session")
def tar_special_files(fixtures_dir) -> Path:
    return build(builders.make_tar_special_files, fixtures_dir / "hostile" / "special.tar")


@pytest.fixture(scope="session")
def zip_bomb(fixtures_dir) -> Path:
    """1 GiB of zeros in a ~1 MB zip."""
    return build(builders.make_zip_bomb, fixtures_dir / "hostile" / "bomb.zip")


@pytest.fixture(scope="session")
def gzip_bomb(fixtures_dir) -> Path:
    """1 GiB of zeros in a ~1 MB gzip."""
    return build(builders.make_gzip_bomb, fixtures_dir / "hostile" / "bomb.gz")


@pytest.fixture(scope="session")
def nested_gzip(fixtures_dir) -> Path:
    """30 levels of gzip."""
    return build(builders.make_nested_gzip, fixtures_dir / "hostile" / "nested.gz")


@pytest.fixture(scope="session")
def nested_tar(fixtures_dir) -> Path:
    """20 levels of tar in tar."""
    return build(builders.make_nested_tar, fixtures_dir / "hostile" / "nested.tar")


@pytest.fixture(scope="session")
def truncated_squashfs(rootfs, fixtures_dir) -> Path:
    return build(
        builders.make_truncated_squashfs, rootfs, fixtures_dir / "hostile" / "truncated.squashfs"
    )


@pytest.fixture(scope="session")
def garbage_file(fixtures_dir) -> Path:
    return build(builders.make_garbage, fixtures_dir / "hostile" / "garbage.bin")


@pytest.fixture(scope="session")
def empty_file(fixtures_dir) -> Path:
    return build(builders.make_empty, fixtures_dir / "hostile" / "empty.bin")
