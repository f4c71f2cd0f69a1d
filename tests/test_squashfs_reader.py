"""Tests for spyproof's pure-Python SquashFS 4.0 reader and its unblob handlers.

Every image is built with the real ``mksquashfs`` and every extraction is compared
with the real ``unsquashfs`` (tree, contents, modes, owners, times, link targets).
Big-endian images come from ``tests/squashfs_be.py`` (no packaged tool writes them).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import os
import random
import re
import shutil
import stat
import struct
import subprocess
import sys
import time
from pathlib import Path

import pytest
from unblob.file_utils import File
from unblob.handlers.filesystem.squashfs import SquashFSv4BEHandler, SquashFSv4LEHandler
from unblob.models import ExtractError, ValidChunk
from unblob.report import (
    LinkExtractionProblem,
    PathTraversalProblem,
    SpecialFileExtractionProblem,
)

from spyproof.unpack import limits as limits_mod
from spyproof.unpack.handlers.squashfs import (
    SQUASHFS_HANDLERS,
    LimitReport,
    SquashfsErrorReport,
)
from spyproof.unpack.limits import LimitExceeded, Limits
from spyproof.unpack.squashfs_reader import (
    SquashfsError,
    SquashfsImage,
    extract_squashfs,
    iter_entries,
)

sys.path.insert(0, str(Path(__file__).resolve().parent))
import squashfs_be  # noqa: E402

pytestmark = pytest.mark.skipif(
    not (shutil.which("mksquashfs") and shutil.which("unsquashfs")),
    reason="squashfs-tools (mksquashfs/unsquashfs) not installed",
)

IS_ROOT = os.geteuid() == 0
COMPRESSORS = ["gzip", "lzma", "lzo", "lz4", "xz", "zstd"]
VARIANTS = {
    "default": ["-tailends"],
    "noF": ["-tailends", "-noF"],
    "noI": ["-tailends", "-noI"],
    "no-fragments": ["-no-fragments"],
    "always-fragments": ["-always-use-fragments"],
    "noD-4K": ["-tailends", "-noD", "-b", "4K"],
    "noI-noF": ["-tailends", "-noI", "-noF"],
}
PSEUDO = [
    "dev d 755 0 0",
    "dev/console c 600 0 0 5 1",
    "dev/sda1 b 660 0 6 8 1",
    "dev/initctl i 600 0 0 f",
    "dev/log i 666 0 0 s",
    "home d 755 0 0",
    "home/user d 750 1000 1000",
    "home/user/.profile f 640 1000 1000 echo export PS1",
    "etc/shadow m 640 0 42",
]
BLOCK = 128 * 1024
BIG_SIZE = 2 * BLOCK + 5000  # two full blocks plus a fragment tail


# ------------------------------------------------------------------------------ helpers


def mksquashfs(src: Path, dest: Path, *opts: str, pseudo=PSEUDO) -> Path:
    cmd = ["mksquashfs", str(src), str(dest), "-noappend", "-quiet", "-no-progress", *opts]
    for p in pseudo:
        cmd += ["-p", p]
    subprocess.run(cmd, check=True, capture_output=True)
    return dest


def unsquashfs(image: Path, dest: Path) -> Path:
    subprocess.run(
        ["unsquashfs", "-n", "-no-exit-code", "-d", str(dest), str(image)],
        check=True,
        capture_output=True,
    )
    return dest


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def snapshot(root: Path, *, specials: bool = False) -> dict[str, tuple]:
    """path -> (mode string, uid, gid, mtime, size, sha256 / link target / rdev)."""
    out: dict[str, tuple] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in sorted(dirnames + filenames):
            p = Path(dirpath, name)
            st = p.lstat()
            rel = p.relative_to(root).as_posix()
            mode = st.st_mode
            if stat.S_ISREG(mode):
                detail, size = sha256(p), st.st_size
            elif stat.S_ISLNK(mode):
                detail, size = os.readlink(p), None
            elif stat.S_ISDIR(mode):
                detail, size = None, None
            elif specials:
                detail, size = st.st_rdev, None
            else:
                continue
            mtime = None if stat.S_ISLNK(mode) else int(st.st_mtime)
            out[rel] = (stat.filemode(mode), st.st_uid, st.st_gid, mtime, size, detail)
    return out


LLN = re.compile(
    r"^(?P<mode>\S{10}) (?P<uid>\d+)/(?P<gid>\d+)\s+(?:(?P<major>\d+),\s*(?P<minor>\d+)|"
    r"(?P<size>\d+)) (?P<when>\d{4}-\d\d-\d\d \d\d:\d\d) squashfs-root(?P<path>/.*?)?"
    r"(?: -> (?P<target>.*))?$"
)


def unsquashfs_listing(image: Path) -> dict[str, tuple]:
    text = subprocess.run(
        ["unsquashfs", "-lln", "-UTC", str(image)], check=True, capture_output=True, text=True
    ).stdout
    out = {}
    for line in text.splitlines():
        m = LLN.match(line)
        if not m:
            continue
        path = (m["path"] or "/")[1:] or "."
        dev = (int(m["major"]), int(m["minor"])) if m["major"] else None
        size = int(m["size"]) if m["size"] and m["mode"][0] in "-l" else None
        out[path] = (m["mode"], int(m["uid"]), int(m["gid"]), size, dev, m["target"], m["when"])
    return out


def our_listing(image: Path) -> dict[str, tuple]:
    out = {}
    for e in iter_entries(image):
        dev = (os.major(e.rdev), os.minor(e.rdev)) if e.kind in ("chardev", "blockdev") else None
        size = e.size if e.kind in ("file", "symlink") else None
        when = dt.datetime.fromtimestamp(e.mtime, dt.UTC).strftime("%Y-%m-%d %H:%M")
        out[e.path] = (stat.filemode(e.mode), e.uid, e.gid, size, dev, e.link_target, when)
    return out


def make_rootfs(root: Path, *, many: int = 600, xattr: bool = True) -> Path:
    rng = random.Random(20240601)
    (root / "etc/config/deep/er/still").mkdir(parents=True)
    (root / "bin").mkdir()
    (root / "emptydir").mkdir()
    (root / "ro").mkdir()
    (root / "many").mkdir()
    (root / "etc/passwd").write_text("root:x:0:0:root:/root:/bin/sh\n")
    (root / "etc/shadow").write_text("root:*:19000:0:99999:7:::\n")
    (root / "etc/config/deep/er/still/leaf.conf").write_text("option leaf 1\n")
    (root / "bin/busybox").write_bytes(rng.randbytes(200_000))
    (root / "bin/busybox").chmod(0o4755)
    (root / "big.bin").write_bytes(rng.randbytes(BIG_SIZE))
    with (root / "sparse.img").open("wb") as f:  # holes, one data block, zero tail
        f.seek(4 * BLOCK)
        f.write(rng.randbytes(4096))
        f.truncate(8 * BLOCK)
    (root / "empty").write_bytes(b"")
    (root / "ro/inner.txt").write_text("inside a read-only directory\n")
    (root / "usr/share").mkdir(parents=True)
    text = "".join(f"line {i}: the quick brown fox jumps over the lazy dog\n" for i in range(6000))
    (root / "usr/share/text.txt").write_text(text)  # compressible, > 2 blocks
    (root / "ro").chmod(0o555)
    for i in range(many):  # > 8 KiB of listing: several headers, an extended dir inode
        (root / f"many/entry_with_a_longish_name_{i:04d}").write_text(f"{i}\n")
    os.symlink("/etc/passwd", root / "link_abs")
    os.symlink("etc/passwd", root / "link_rel")
    os.symlink("../../../../etc/passwd", root / "etc/config/link_evil")
    os.link(root / "etc/passwd", root / "hardlink")
    if xattr:  # gives etc/shadow an extended inode with an xattr index to skip
        with contextlib.suppress(OSError):
            os.setxattr(root / "etc/shadow", "user.comment", b"evidence")
    for i, p in enumerate(sorted(root.rglob("*"))):
        if not p.is_symlink():
            os.utime(p, (1_600_000_000 + i * 3601, 1_600_000_000 + i * 3601))
    return root


# ----------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="session")
def sqfs_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("squashfs_reader")


@pytest.fixture(scope="session")
def src_root(sqfs_dir) -> Path:
    return make_rootfs(sqfs_dir / "rootfs")


@pytest.fixture(scope="session")
def build_image(sqfs_dir, src_root):
    cache: dict[tuple, Path] = {}

    def build(comp: str, variant: str = "default", *extra: str) -> Path:
        key = (comp, variant, extra)
        if key not in cache:
            name = "-".join([comp, variant, *extra]).replace("/", "_")
            cache[key] = mksquashfs(
                src_root, sqfs_dir / f"{name}.sqfs", "-comp", comp, *VARIANTS[variant], *extra
            )
        return cache[key]

    return build


@pytest.fixture(scope="session")
def reference(sqfs_dir):
    cache: dict[Path, dict] = {}

    def ref(image: Path) -> dict[str, tuple]:
        if image not in cache:
            cache[image] = snapshot(unsquashfs(image, sqfs_dir / f"{image.name}.ref"))
        return cache[image]

    return ref


@pytest.fixture(scope="session")
def gzip_image(build_image) -> Path:
    return build_image("gzip")


# ------------------------------------------------------------------ equality with tools


@pytest.mark.parametrize("variant", list(VARIANTS))
@pytest.mark.parametrize("comp", COMPRESSORS)
def test_extraction_matches_unsquashfs(comp, variant, build_image, reference, tmp_path):
    image = build_image(comp, variant)
    out = tmp_path / "out"
    stats, reports = extract_squashfs(image, out, Limits())
    ours = snapshot(out)
    assert ours == reference(image)
    # spot checks that would catch a reader and a tool agreeing on nonsense
    assert ours["big.bin"][4] == BIG_SIZE
    assert ours["sparse.img"][4] == 8 * BLOCK
    assert ours["empty"][4] == 0
    assert ours["bin/busybox"][0] == "-rwsr-xr-x"
    assert ours["ro"][0] == "dr-xr-xr-x"
    assert ours["etc/config/link_evil"][5] == "../../../../etc/passwd"
    assert ours["link_abs"][5] == "/etc/passwd"
    assert (out / "many/entry_with_a_longish_name_0599").read_text() == "599\n"
    data = (out / "sparse.img").read_bytes()
    assert data[: 4 * BLOCK] == bytes(4 * BLOCK) and data[4 * BLOCK + 4096 :] == bytes(
        4 * BLOCK - 4096
    )
    if IS_ROOT:
        assert ours["home/user/.profile"][1:3] == (1000, 1000)
        assert ours["etc/shadow"][1:3] == (0, 42)
    # hard link kept as a hard link
    assert (out / "hardlink").stat().st_ino == (out / "etc/passwd").stat().st_ino
    assert stats.hardlinks == 1
    assert stats.symlinks == 3
    assert stats.specials == 4
    assert stats.files == len([v for v in ours.values() if v[0][0] == "-"]) - 1
    specials = {r.path: r for r in reports if isinstance(r, SpecialFileExtractionProblem)}
    assert set(specials) == {"dev/console", "dev/sda1", "dev/initctl", "dev/log"}
    assert specials["dev/console"].device == os.makedev(5, 1)
    assert stat.S_ISCHR(specials["dev/console"].mode)
    assert stat.S_ISFIFO(specials["dev/initctl"].mode)
    assert not (out / "dev/console").exists() and not (out / "dev/log").exists()
    assert len(reports) == 4
    root = next(iter(iter_entries(image)))
    assert (out.stat().st_mode, int(out.stat().st_mtime)) == (root.mode, root.mtime)


@pytest.mark.parametrize("comp", ["gzip", "xz", "lz4"])
def test_listing_matches_unsquashfs(comp, build_image):
    image = build_image(comp)
    ours = our_listing(image)
    theirs = unsquashfs_listing(image)
    assert len(theirs) > 600
    assert ours == theirs
    assert ours["dev/sda1"][0] == "brw-rw----" and ours["dev/sda1"][4] == (8, 1)
    assert ours["dev/log"][0].startswith("s") and ours["dev/initctl"][0].startswith("p")


def test_xattrs_are_skipped(gzip_image, src_root, reference, tmp_path):
    try:
        os.getxattr(src_root / "etc/shadow", "user.comment")
    except OSError:
        pytest.skip("no user xattrs on this filesystem")
    xattr_table = struct.unpack_from("<Q", gzip_image.read_bytes(), 56)[0]
    assert xattr_table != 0xFFFFFFFFFFFFFFFF
    out = tmp_path / "out"
    extract_squashfs(gzip_image, out, Limits())
    assert (out / "etc/shadow").read_text().startswith("root:*:")
    assert snapshot(out)["etc/shadow"] == reference(gzip_image)["etc/shadow"]


def test_iter_entries_fields(gzip_image):
    entries = {e.path: e for e in iter_entries(gzip_image)}
    root = entries["."]
    assert root.kind == "dir"
    big = entries["big.bin"]
    assert (big.kind, big.size, stat.S_IMODE(big.mode)) == ("file", BIG_SIZE, 0o644)
    assert entries["hardlink"].inode == entries["etc/passwd"].inode
    assert entries["hardlink"].nlink == 2
    assert entries["link_rel"].link_target == "etc/passwd"
    assert entries["dev/console"].kind == "chardev"
    assert entries["home/user"].uid == 1000
    assert entries["etc/shadow"].gid == 42
    assert len({e.inode for e in entries.values()}) == len(entries) - 1  # one hard link


def test_big_block_size_and_block_boundaries(src_root, sqfs_dir, reference, tmp_path):
    image = mksquashfs(src_root, sqfs_dir / "xz-1M.sqfs", "-comp", "xz", "-b", "1M")
    out = tmp_path / "out"
    extract_squashfs(image, out, Limits())
    assert snapshot(out) == reference(image)


def test_single_worker_gives_same_tree(gzip_image, reference, tmp_path):
    extract_squashfs(gzip_image, tmp_path / "o", Limits(), workers=1)
    assert snapshot(tmp_path / "o") == reference(gzip_image)


# ---------------------------------------------------------------------------- big-endian


@pytest.fixture(scope="session")
def be_sources(src_root, sqfs_dir):
    """LE images without xattrs (the converter refuses them), per (comp, variant)."""
    cache: dict[tuple, Path] = {}

    def get(comp: str, variant: str) -> Path:
        if (comp, variant) not in cache:
            cache[comp, variant] = mksquashfs(
                src_root,
                sqfs_dir / f"be-src-{comp}-{variant}.sqfs",
                "-comp",
                comp,
                "-no-xattrs",
                *VARIANTS[variant],
            )
        return cache[comp, variant]

    return get


BE_CASES = [
    ("gzip", "default", False),
    ("gzip", "default", True),
    ("xz", "default", False),
    ("xz", "default", True),
    ("gzip", "no-fragments", False),
    ("xz", "noD-4K", True),
    *[(c, "noI-noF", False) for c in COMPRESSORS],
]


@pytest.mark.parametrize(("comp", "variant", "avm"), BE_CASES)
def test_big_endian_image(comp, variant, avm, be_sources, reference, tmp_path):
    le_path = be_sources(comp, variant)
    le = le_path.read_bytes()
    be = squashfs_be.le_to_be(le, avm=avm)
    assert be[:4] == b"sqsh" and be != le
    be_path = tmp_path / "image.be.sqfs"
    be_path.write_bytes(be)

    # (0) the converter is faithful: back to LE, the real tool sees the original
    back = tmp_path / "image.back.sqfs"
    back.write_bytes(squashfs_be.convert(be, big_endian=False))
    assert unsquashfs_listing(back) == unsquashfs_listing(le_path)

    # (a) unblob recognises it (and our handler keeps unblob's chunk calculation)
    for handler in (SquashFSv4BEHandler(), SQUASHFS_HANDLERS[1]()):
        with File.from_bytes(be) as f:
            chunk = handler.calculate_chunk(f, 0)
        assert isinstance(chunk, ValidChunk)
        assert (chunk.start_offset, chunk.end_offset) == (0, len(be))

    # (b) our reader extracts exactly the LE tree
    with SquashfsImage(be_path) as img:
        assert img.sb.big_endian
        assert img.meta_header_little_endian is avm
    out = tmp_path / "out"
    stats, reports = extract_squashfs(be_path, out, Limits())
    assert snapshot(out) == reference(le_path)
    assert stats.hardlinks == 1 and stats.specials == 4
    assert list(iter_entries(be_path)) == list(iter_entries(le_path))


def test_big_endian_header_flavour_fallback(be_sources, reference, tmp_path):
    """An AVM-style image whose mkfs_time does not give it away is still read."""
    le_path = be_sources("gzip", "default")
    be = bytearray(squashfs_be.le_to_be(le_path.read_bytes(), avm=True))
    struct.pack_into(">I", be, 8, 12345)  # mkfs_time no longer equals bytes_used
    path = tmp_path / "avm.sqfs"
    path.write_bytes(be)
    extract_squashfs(path, tmp_path / "out", Limits())
    assert snapshot(tmp_path / "out") == reference(le_path)


# -------------------------------------------------------------------- hostile images


def test_truncated_image(gzip_image, tmp_path):
    data = gzip_image.read_bytes()
    cut = tmp_path / "cut.sqfs"
    cut.write_bytes(data[: int(len(data) * 0.6)])
    with pytest.raises(SquashfsError, match="truncated image") as info:
        extract_squashfs(cut, tmp_path / "out", Limits())
    assert "\n" not in str(info.value)
    with pytest.raises(SquashfsError, match="truncated image"):
        list(iter_entries(cut))


def test_truncated_after_directory_table(gzip_image, reference, tmp_path):
    """Cut where the fragment index starts: inode and directory tables survive, so
    files stored in whole blocks are extracted and the fragment-tail ones reported."""
    data = gzip_image.read_bytes()
    frag_index = struct.unpack_from("<Q", data, 80)[0]
    cut = tmp_path / "cut.sqfs"
    cut.write_bytes(data[:frag_index])
    out = tmp_path / "out"
    _stats, reports = extract_squashfs(cut, out, Limits())
    ours, expected = snapshot(out), reference(gzip_image)
    assert ours["sparse.img"][5] == expected["sparse.img"][5]  # 8 whole blocks
    assert (out / "empty").read_bytes() == b""
    assert not (out / "etc/passwd").exists()  # its bytes live in a fragment
    assert any(r.path == "etc/passwd" and "fragment" in r.problem for r in reports)
    if IS_ROOT:
        assert any("id table" in r.problem for r in reports)
    for path, entry in ours.items():  # whatever was written is right
        if entry[0][0] == "-":
            assert entry[5] == expected[path][5]


def _dir_table(image: bytes) -> tuple[int, int]:
    sb = struct.unpack("<4I6H8Q", image[4:96])
    dir_start, frag_start = sb[15], sb[16]
    (frag_block,) = struct.unpack_from("<Q", image, frag_start)
    return dir_start, frag_block


def _corrupt_inode_block(image: Path, tmp_path: Path, rel_block: int) -> Path:
    data = bytearray(image.read_bytes())
    pos = struct.unpack_from("<Q", data, 64)[0] + rel_block
    (hdr,) = struct.unpack_from("<H", data, pos)
    assert not hdr & 0x8000  # a compressed block
    size = hdr & 0x7FFF
    for i in range(size // 3, size // 3 + 24):
        data[pos + 2 + i] ^= 0x5A
    bad = tmp_path / f"bad-{rel_block}.sqfs"
    bad.write_bytes(data)
    return bad


def test_corrupt_root_metadata_block(gzip_image, tmp_path):
    root_ref = struct.unpack_from("<Q", gzip_image.read_bytes(), 32)[0]
    bad = _corrupt_inode_block(gzip_image, tmp_path, root_ref >> 16)
    with pytest.raises(SquashfsError, match="root inode.*metadata block") as info:
        extract_squashfs(bad, tmp_path / "out", Limits())
    assert "\n" not in str(info.value)
    with pytest.raises(SquashfsError):
        list(iter_entries(bad))


def test_corrupt_inner_metadata_block(gzip_image, reference, tmp_path):
    """The first inode block is unreadable: its entries are reported, the rest extracted."""
    root_ref = struct.unpack_from("<Q", gzip_image.read_bytes(), 32)[0]
    assert root_ref >> 16 > 0
    bad = _corrupt_inode_block(gzip_image, tmp_path, 0)
    out = tmp_path / "out"
    _stats, reports = extract_squashfs(bad, out, Limits())
    unreadable = {r.path for r in reports if "Unreadable inode" in r.problem}
    assert unreadable
    ours = snapshot(out)
    expected = reference(gzip_image)
    assert ours
    assert all(ours[k] == expected[k] for k in ours)
    missing = set(expected) - set(ours)
    assert all(any(m == u or m.startswith(u + "/") for u in unreadable) for m in missing)


def test_corrupt_data_block_is_reported_and_rest_extracted(gzip_image, reference, tmp_path):
    with SquashfsImage(gzip_image) as img:
        root = img.root_inode()
        usr = img.read_inode(next(r for n, r, _ in img.iter_dir(root) if n == b"usr"))
        share = img.read_inode(next(r for n, r, _ in img.iter_dir(usr) if n == b"share"))
        ino = img.read_inode(next(r for n, r, _ in img.iter_dir(share) if n == b"text.txt"))
    data = bytearray(gzip_image.read_bytes())
    start = ino.blocks_start
    data[start + 100 : start + 200] = bytes(100)
    bad = tmp_path / "bad.sqfs"
    bad.write_bytes(data)
    out = tmp_path / "out"
    _stats, reports = extract_squashfs(bad, out, Limits())
    assert not (out / "usr/share/text.txt").exists()
    problems = [r for r in reports if r.path == "usr/share/text.txt"]
    assert len(problems) == 1 and "data block" in problems[0].problem
    expected = dict(reference(gzip_image))
    del expected["usr/share/text.txt"]
    ours = snapshot(out)
    assert ours == expected


@pytest.fixture(scope="session")
def plain_image(sqfs_dir):
    """Uncompressed tables (-noI), names chosen to be patched in place."""
    root = sqfs_dir / "plain-root"
    (root / "zq").mkdir(parents=True)
    (root / "zq/inner").write_text("would land outside\n")
    (root / "xy").write_text("slash\n")
    (root / "nu").write_text("nul\n")
    (root / "keep.txt").write_text("kept\n")
    (root / "lp").mkdir()
    (root / "lp/child").write_text("child\n")
    return mksquashfs(root, sqfs_dir / "plain.sqfs", "-noI", "-no-xattrs", pseudo=())


def _patch_name(data: bytearray, old: bytes, new: bytes) -> int:
    dir_start, dir_end = _dir_table(bytes(data))
    idx = bytes(data).find(old, dir_start, dir_end)
    assert idx > 0 and bytes(data).find(old, idx + 1, dir_end) == -1
    data[idx : idx + len(new)] = new
    return idx


def test_dotdot_slash_and_nul_names_are_refused(plain_image, tmp_path):
    data = bytearray(plain_image.read_bytes())
    _patch_name(data, b"zq", b"..")
    _patch_name(data, b"xy", b"a/")
    _patch_name(data, b"nu", b"n\0")
    bad = tmp_path / "nested/dots.sqfs"
    bad.parent.mkdir()
    bad.write_bytes(data)
    out = tmp_path / "nested/out"
    stats, reports = extract_squashfs(bad, out, Limits())
    traversal = [r for r in reports if isinstance(r, PathTraversalProblem)]
    assert sorted(r.path for r in traversal) == ["..", "a/", "n\0"]
    assert sorted(p.name for p in out.iterdir()) == ["keep.txt", "lp"]
    assert (out / "keep.txt").read_text() == "kept\n"
    assert not (tmp_path / "nested/inner").exists() and not (tmp_path / "inner").exists()
    assert not (out / "a").exists()
    assert stats.files == 2
    problems: list = []
    listed = [e.path for e in iter_entries(bad, problems)]
    assert listed == [".", "keep.txt", "lp", "lp/child"]
    assert len(problems) == 3


def test_directory_loop_terminates(plain_image, tmp_path):
    data = bytearray(plain_image.read_bytes())
    root_ref = struct.unpack_from("<Q", data, 32)[0]
    assert root_ref >> 16 == 0  # everything in the first (only) inode block
    idx = _patch_name(data, b"lp", b"lp")
    entry = idx - 8  # offset u16, inode delta s16, type u16, name size u16, name
    struct.pack_into("<H", data, entry, root_ref & 0xFFFF)
    bad = tmp_path / "loop.sqfs"
    bad.write_bytes(data)
    t0 = time.monotonic()
    stats, reports = extract_squashfs(bad, tmp_path / "out", Limits())
    assert time.monotonic() - t0 < 10
    assert any("loop" in r.problem and r.path == "lp" for r in reports)
    assert not (tmp_path / "out/lp").exists()
    assert [e.path for e in iter_entries(bad)][-1] == "zq/inner"


def test_duplicate_name_cannot_redirect_writes(sqfs_dir, tmp_path):
    """A symlink 'ab' -> outside, then a directory also named 'ab' (patched): the
    directory's files must not be written through the symlink."""
    escape = tmp_path / "escape"
    escape.mkdir()
    root = tmp_path / "dup-root"
    (root / "ac").mkdir(parents=True)
    (root / "ac/payload").write_text("pwned\n")
    os.symlink(str(escape), root / "ab")
    image = mksquashfs(root, tmp_path / "dup.sqfs", "-noI", "-no-xattrs", pseudo=())
    data = bytearray(image.read_bytes())
    _patch_name(data, b"ac", b"ab")
    bad = tmp_path / "dup-bad.sqfs"
    bad.write_bytes(data)
    out = tmp_path / "out"
    _stats, reports = extract_squashfs(bad, out, Limits())
    assert list(escape.iterdir()) == []
    assert os.readlink(out / "ab") == str(escape)
    assert any(isinstance(r, LinkExtractionProblem) and r.path == "ab" for r in reports)


def test_existing_symlink_in_outdir_is_not_followed(gzip_image, tmp_path):
    escape = tmp_path / "escape"
    escape.mkdir()
    out = tmp_path / "out"
    out.mkdir()
    os.symlink(str(escape), out / "etc")
    _stats, reports = extract_squashfs(gzip_image, out, Limits())
    assert list(escape.iterdir()) == []
    assert any(r.path == "etc" for r in reports)
    assert (out / "bin/busybox").stat().st_size == 200_000


@pytest.fixture(scope="session")
def bomb_image(sqfs_dir):
    root = sqfs_dir / "bomb-root"
    root.mkdir()
    (root / "a.txt").write_text("first\n")
    with (root / "zeros.bin").open("wb") as f:
        f.truncate(200 * 1024 * 1024)
    return mksquashfs(root, sqfs_dir / "bomb.sqfs", "-comp", "xz", pseudo=())


def test_ratio_bomb_stops(bomb_image, tmp_path):
    size = bomb_image.stat().st_size
    assert size < 64 * 1024
    out = tmp_path / "out"
    t0 = time.monotonic()
    with pytest.raises(LimitExceeded) as info:
        extract_squashfs(bomb_image, out, Limits(max_ratio=10))
    assert time.monotonic() - t0 < 30
    assert info.value.cap == "ratio"
    assert "zeros.bin" in info.value.detail
    assert (out / "a.txt").read_text() == "first\n"
    written = (out / "a.txt").stat().st_size + (out / "zeros.bin").stat().st_size
    assert written == 10 * size
    assert info.value.stats.files == 2


def test_limits_default_to_environment(bomb_image, tmp_path, monkeypatch):
    monkeypatch.setenv(limits_mod.ENV_VAR, Limits(max_total_bytes=1000).to_env())
    with pytest.raises(LimitExceeded) as info:
        extract_squashfs(bomb_image, tmp_path / "out")
    assert info.value.cap == "total_bytes"
    assert (tmp_path / "out/zeros.bin").stat().st_size == 1000 - 6


def test_max_files_cap(gzip_image, reference, tmp_path):
    out = tmp_path / "out"
    with pytest.raises(LimitExceeded) as info:
        extract_squashfs(gzip_image, out, Limits(max_files=7))
    assert info.value.cap == "files"
    # walk order: big.bin bin bin/busybox dev dev/console dev/initctl dev/log | dev/sda1
    ours = snapshot(out)
    assert sorted(ours) == ["big.bin", "bin", "bin/busybox", "dev"]
    specials = [r.path for r in info.value.reports if isinstance(r, SpecialFileExtractionProblem)]
    assert specials == ["dev/console", "dev/initctl", "dev/log"]
    # the tree was left consistent: contents, modes and times as unsquashfs has them
    expected = reference(gzip_image)
    assert ours == {k: expected[k] for k in ours}


def test_max_file_bytes_cap(gzip_image, tmp_path):
    out = tmp_path / "out"
    with pytest.raises(LimitExceeded) as info:
        extract_squashfs(gzip_image, out, Limits(max_file_bytes=150_000))
    assert info.value.cap == "file_bytes"
    assert "big.bin" in info.value.detail  # the first file of the walk, 267144 bytes
    data = (out / "big.bin").read_bytes()
    assert data == (gzip_image.parent / "rootfs/big.bin").read_bytes()[:150_000]
    assert list(out.iterdir()) == [out / "big.bin"]


def test_not_squashfs_and_bad_superblock(gzip_image, tmp_path):
    junk = tmp_path / "junk"
    junk.write_bytes(b"\x7fELF" + bytes(200))
    with pytest.raises(SquashfsError, match="not a SquashFS"):
        extract_squashfs(junk, tmp_path / "o1", Limits())
    data = bytearray(gzip_image.read_bytes())
    struct.pack_into("<H", data, 20, 99)  # compressor id
    bad = tmp_path / "bad"
    bad.write_bytes(data)
    with pytest.raises(SquashfsError, match="compressor"):
        extract_squashfs(bad, tmp_path / "o2", Limits())


@pytest.fixture(scope="session")
def small_images(plain_image, sqfs_dir) -> dict[str, Path]:
    root = sqfs_dir / "plain-root"
    return {
        "plain": plain_image,
        "gzip": mksquashfs(root, sqfs_dir / "small-gzip.sqfs", "-comp", "gzip", pseudo=PSEUDO),
        "xz-be": _write(
            sqfs_dir / "small-xz-be.sqfs",
            squashfs_be.le_to_be(
                mksquashfs(
                    root, sqfs_dir / "small-xz.sqfs", "-comp", "xz", "-no-xattrs", pseudo=()
                ).read_bytes()
            ),
        ),
    }


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


@pytest.mark.parametrize("seed_image", ["plain", "gzip", "xz-be"])
def test_fuzzed_images_fail_cleanly(seed_image, small_images, tmp_path):
    """Random byte flips in the superblock and tables: SquashfsError or a result, and
    nothing ever written outside the output directory."""
    base = small_images[seed_image].read_bytes()
    inode_start = struct.unpack_from("<Q" if base[:4] == b"hsqs" else ">Q", base, 64)[0]
    rng = random.Random(7)
    outcomes = {"ok": 0, "error": 0}
    for i in range(150):
        data = bytearray(base)
        for _ in range(rng.randint(1, 8)):
            pos = rng.choice([rng.randrange(0, 96), rng.randrange(inode_start, len(base))])
            data[pos] = rng.randrange(256)
        path = tmp_path / f"f{i}.sqfs"
        path.write_bytes(data)
        try:
            extract_squashfs(path, tmp_path / f"o{i}", Limits(max_total_bytes=50_000_000))
            list(iter_entries(path))
            outcomes["ok"] += 1
        except (SquashfsError, LimitExceeded):
            outcomes["error"] += 1
        shutil.rmtree(tmp_path / f"o{i}", ignore_errors=True)
        path.unlink()
        assert sorted(p.name for p in tmp_path.iterdir()) == []
    assert outcomes["ok"] + outcomes["error"] == 150
    assert outcomes["error"] > 0


# ------------------------------------------------------------------ unblob integration


def test_handlers_replace_unblobs():
    le, be = SQUASHFS_HANDLERS
    assert issubclass(le, SquashFSv4LEHandler) and issubclass(be, SquashFSv4BEHandler)
    assert (le.NAME, be.NAME) == (SquashFSv4LEHandler.NAME, SquashFSv4BEHandler.NAME)
    assert le.PATTERNS is SquashFSv4LEHandler.PATTERNS
    assert be.PATTERNS is SquashFSv4BEHandler.PATTERNS
    assert le.get_dependencies() == [] and be.get_dependencies() == []


def test_handler_extracts_and_translates_errors(gzip_image, bomb_image, tmp_path, monkeypatch):
    handler = SQUASHFS_HANDLERS[0]()
    result = handler.extract(gzip_image, tmp_path / "ok")
    assert len(result.reports) == 4
    assert (tmp_path / "ok/etc/passwd").read_text().startswith("root:")

    monkeypatch.setenv(limits_mod.ENV_VAR, Limits(max_ratio=5).to_env())
    with pytest.raises(ExtractError) as info:
        handler.extract(bomb_image, tmp_path / "bomb")
    limit = [r for r in info.value.reports if isinstance(r, LimitReport)]
    assert len(limit) == 1 and limit[0].text.startswith("limit.ratio: ")
    assert limit[0].cap == "ratio"
    assert LimitReport.model_validate(limit[0].model_dump()).text == limit[0].text

    cut = tmp_path / "cut.sqfs"
    cut.write_bytes(gzip_image.read_bytes()[:4096])
    with pytest.raises(ExtractError) as info:
        handler.extract(cut, tmp_path / "cut")
    truncated, err = info.value.reports
    assert isinstance(err, SquashfsErrorReport) and err.text.startswith("squashfs.corrupt:")
    assert "image truncated" in truncated.text


def _all_reports(result) -> list:
    out = []
    for task_result in result.results:
        for r in task_result.reports:
            out.append(r)
            out.extend(getattr(r, "extraction_reports", []))
    return out


@pytest.mark.parametrize("endian", ["le", "be"])
def test_unblob_processes_embedded_image(endian, be_sources, tmp_path):
    from unblob.processing import ExtractionConfig, process_file

    le_path = be_sources("xz", "default")
    image = le_path.read_bytes()
    if endian == "be":
        image = squashfs_be.le_to_be(image)
    blob = tmp_path / "firmware.bin"
    blob.write_bytes(b"\xa5" * 1000 + image + b"\x5a" * 3000)
    config = ExtractionConfig(
        extract_root=tmp_path / "x",
        randomness_depth=0,
        handlers=SQUASHFS_HANDLERS,
        process_num=1,
    )
    result = process_file(config, blob)
    reports = _all_reports(result)
    chunks = [
        r
        for r in reports
        if type(r).__name__ == "ChunkReport" and r.handler_name.startswith("squashfs")
    ]
    assert [c.handler_name for c in chunks] == [f"squashfs_v4_{endian}"]
    assert chunks[0].start_offset == 1000
    (passwd,) = (tmp_path / "x").rglob("etc/passwd")
    assert passwd.read_text().startswith("root:")
    assert len(list((tmp_path / "x").rglob("entry_with_a_longish_name_*"))) == 600
