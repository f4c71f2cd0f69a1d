"""Metadata manifests written beside unblob's extraction directories.

Archives are built with the real tools (GNU tar, cpio, Info-ZIP zip, mke2fs,
mkfs.ubifs), extracted by unblob's ``process_file`` with spyproof's handler set, and the
manifest next to the extraction directory is compared with what was archived. The
listers are also run on their own on garbage and truncated input.
"""

from __future__ import annotations

import os
import pickle
import random
import shutil
import stat
import struct
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from unblob.handlers import BUILTIN_HANDLERS
from unblob.handlers.archive import cpio as unblob_cpio
from unblob.handlers.archive import tar as unblob_tar
from unblob.handlers.archive import zip as unblob_zip
from unblob.handlers.filesystem import extfs as unblob_extfs
from unblob.handlers.filesystem import ubi as unblob_ubi
from unblob.models import ExtractError, Extractor, ExtractResult
from unblob.processing import ExtractionConfig, process_file
from unblob.report import ExtractionProblem

from spyproof.inventory.manifest import ManifestEntry, manifest_path, read_manifest
from spyproof.models import EntryKind
from spyproof.unpack.handlers import SPYPROOF_DIR_HANDLERS, SPYPROOF_HANDLERS
from spyproof.unpack.handlers.metadata import (
    LISTERS,
    Listing,
    ManifestingExtractor,
    list_cpio,
    list_ext,
    list_tar,
    list_ubifs,
    list_zip,
    sevenzip_path,
    unblob_fs_path,
    with_manifests,
)

IS_ROOT = os.geteuid() == 0
needs_root = pytest.mark.skipif(not IS_ROOT, reason="owners and device nodes need root")
VENV_BIN = Path(sys.executable).parent

SCRIPT = "usr/bin/telemetry.sh"
SCRIPT_LINK = "usr/bin/telemetry-link"  # hard link to SCRIPT
OWNED = (1000, 100)


def require(*tools: str) -> None:
    missing = [t for t in tools if shutil.which(t) is None]
    if missing:
        pytest.skip(f"missing tools: {', '.join(missing)}")


def run(cmd, **kwargs) -> None:
    subprocess.run([str(c) for c in cmd], check=True, capture_output=True, **kwargs)


# --- the archived tree -----------------------------------------------------------------


def _file(root: Path, rel: str, data: bytes, mode: int) -> None:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    path.chmod(mode)


@pytest.fixture(scope="module")
def tree(tmp_path_factory) -> Path:
    """bin/busybox 0755, bin/sh -> /bin/busybox, bin/su 4755, usr/bin/telemetry.sh 0755
    with a hard link, etc/shadow 0600, etc/owned 0640 (1000:100 as root), tmp 1777; as
    root also dev/console (char 5,1), dev/mtdblock0 (block 31,0), dev/initctl (fifo)."""
    root = tmp_path_factory.mktemp("meta") / "tree"
    root.mkdir()
    _file(root, "bin/busybox", b"busybox stand-in\n", 0o755)
    (root / "bin/sh").symlink_to("/bin/busybox")
    _file(root, "bin/su", b"setuid stand-in\n", 0o4755)
    _file(root, SCRIPT, b"#!/bin/sh\nwget http://telemetry.example.com/\n", 0o755)
    os.link(root / SCRIPT, root / SCRIPT_LINK)
    _file(root, "etc/shadow", b"root:$1$5pyPr00f$secret:18262:0:99999:7:::\n", 0o600)
    _file(root, "etc/owned", b"owned by uid 1000\n", 0o640)
    (root / "tmp").mkdir()
    (root / "tmp").chmod(0o1777)
    if IS_ROOT:
        os.chown(root / "etc/owned", *OWNED)
        (root / "dev").mkdir()
        os.mknod(root / "dev/console", 0o600 | stat.S_IFCHR, os.makedev(5, 1))
        os.mknod(root / "dev/mtdblock0", 0o640 | stat.S_IFBLK, os.makedev(31, 0))
        os.mkfifo(root / "dev/initctl", 0o600)
    return root


def extract(image: Path, extract_root: Path) -> tuple[Path, list]:
    """unblob's process_file with spyproof's handlers; (extraction dir, all reports)."""
    config = ExtractionConfig(
        extract_root=extract_root,
        randomness_depth=0,
        process_num=1,
        handlers=SPYPROOF_HANDLERS,
        dir_handlers=SPYPROOF_DIR_HANDLERS,
    )
    result = process_file(config, image)
    reports = [report for task in result.results for report in task.reports]
    return extract_root / f"{image.name}_extract", reports


def manifest_of(outdir: Path) -> dict[str, ManifestEntry]:
    assert manifest_path(outdir).is_file(), f"no manifest beside {outdir}"
    return read_manifest(outdir)


def assert_core(manifest: dict[str, ManifestEntry], tree: Path, *, owners: bool = True) -> None:
    """The modes, owners and link targets every format must keep."""
    expected_modes = {
        "bin/busybox": "0755", "bin/su": "4755", SCRIPT: "0755", "etc/shadow": "0600",
        "etc/owned": "0640", "tmp": "1777", "bin": "0755",
    }  # fmt: skip
    for rel, mode in expected_modes.items():
        assert manifest[rel].mode == mode, rel
    assert manifest["tmp"].kind is EntryKind.directory
    assert manifest["bin/su"].kind is EntryKind.file
    assert manifest["bin/su"].size == (tree / "bin/su").stat().st_size
    link = manifest["bin/sh"]
    assert (link.kind, link.link_target) == (EntryKind.symlink, "/bin/busybox")
    if owners:
        st = os.lstat(tree / "etc/owned")
        assert (manifest["etc/owned"].uid, manifest["etc/owned"].gid) == (st.st_uid, st.st_gid)
        assert (manifest["etc/shadow"].uid, manifest["etc/shadow"].gid) == (0, 0) or not IS_ROOT


def assert_hardlink(manifest: dict[str, ManifestEntry], *, verbatim_prefix: str = "") -> None:
    a, b = manifest[SCRIPT], manifest[SCRIPT_LINK]
    kinds = {a.kind, b.kind}
    assert kinds == {EntryKind.file, EntryKind.hardlink}
    link, first = (a, b) if a.kind is EntryKind.hardlink else (b, a)
    assert link.link_target == verbatim_prefix + first.path
    assert link.size == first.size == len(b"#!/bin/sh\nwget http://telemetry.example.com/\n")
    assert link.mode == "0755"


def assert_devices(manifest: dict[str, ManifestEntry]) -> None:
    console, mtd, fifo = manifest["dev/console"], manifest["dev/mtdblock0"], manifest["dev/initctl"]
    assert (console.kind, console.mode, console.uid) == (EntryKind.char_device, "0600", 0)
    assert console.note.startswith("device 5,1")
    assert (mtd.kind, mtd.mode) == (EntryKind.block_device, "0640")
    assert mtd.note.startswith("device 31,0")
    assert (fifo.kind, fifo.mode) == (EntryKind.fifo, "0600")


def assert_paths_match_disk(manifest: dict[str, ManifestEntry], outdir: Path) -> None:
    """Every entry is either on disk at its path or says why it is not."""
    for rel, entry in manifest.items():
        on_disk = os.path.lexists(outdir / rel)
        assert on_disk or "not created" in (entry.note or ""), rel


# --- end to end, one format each ---------------------------------------------------------


def test_tar_manifest(tree, tmp_path):
    require("tar")
    image = tmp_path / "rootfs.tar"
    common = ["--numeric-owner", "--sort=name", "--mtime=@1577836800", "-C", tree]
    run(["tar", *common, "--owner=0", "--group=0", "--exclude=./etc/owned", "-cf", image, "."])
    run(["tar", *common, f"--owner={OWNED[0]}", f"--group={OWNED[1]}", "--mode=0640",
         "-rf", image, "./etc/owned"])  # fmt: skip
    outdir, _ = extract(image, tmp_path / "out")
    manifest = manifest_of(outdir)
    assert_core(manifest, tree, owners=False)
    assert (manifest["etc/owned"].uid, manifest["etc/owned"].gid) == OWNED
    assert (manifest["etc/shadow"].uid, manifest["etc/shadow"].gid) == (0, 0)
    assert_hardlink(manifest, verbatim_prefix="./")
    if IS_ROOT:
        assert_devices(manifest)
    assert_paths_match_disk(manifest, outdir)
    # The disk lost what the manifest keeps: fix_permission and fix_symlink ran.
    assert stat.S_IMODE((outdir / "etc/shadow").stat().st_mode) != 0o600
    assert os.readlink(outdir / "bin/sh") != "/bin/busybox"


@needs_root
@pytest.mark.parametrize("fmt", ["newc", "crc", "odc", "bin"])
def test_cpio_manifest(tree, tmp_path, fmt):
    require("cpio", "find")
    image = tmp_path / f"rootfs-{fmt}.cpio"
    names = subprocess.run(["find", "."], cwd=tree, capture_output=True, check=True).stdout
    with image.open("wb") as out:
        subprocess.run(
            ["cpio", "-o", "-H", fmt, "--quiet"], input=names, stdout=out, cwd=tree, check=True
        )
    outdir, _ = extract(image, tmp_path / "out")
    manifest = manifest_of(outdir)
    assert_core(manifest, tree)
    assert_hardlink(manifest)
    assert_devices(manifest)
    # unblob's cpio extractor does not create fifos at all.
    assert "not created: fifo" in manifest["dev/initctl"].note
    assert_paths_match_disk(manifest, outdir)


def test_zip_manifest(tree, tmp_path):
    require("zip")
    image = tmp_path / "rootfs.zip"
    # Not -X: the Info-ZIP "ux" extra field carries the owners. dev/ stays out: zip
    # would read device nodes as files.
    run(["zip", "-q", "-r", "-y", image, "bin", "etc", "tmp", "usr"], cwd=tree)
    outdir, _ = extract(image, tmp_path / "out")
    manifest = manifest_of(outdir)
    assert_core(manifest, tree)
    assert manifest[SCRIPT_LINK].kind is EntryKind.file  # zip has no hard links
    assert_paths_match_disk(manifest, outdir)


@pytest.mark.parametrize("fstype", ["ext2", "ext4"])
def test_ext_manifest(tree, tmp_path, fstype):
    require("mke2fs", "debugfs")
    image = tmp_path / f"rootfs.{fstype}"
    run(["mke2fs", "-q", "-F", "-t", fstype, "-E", "root_owner=0:0", "-d", tree, image, "4M"])
    outdir, _ = extract(image, tmp_path / "out")
    manifest = manifest_of(outdir)
    assert_core(manifest, tree)
    assert_hardlink(manifest)
    assert manifest["lost+found"].mode == "0700"
    if IS_ROOT:
        assert_devices(manifest)
        # debugfs rdump writes no device nodes or fifos.
        assert "not created: device node" in manifest["dev/console"].note
    assert_paths_match_disk(manifest, outdir)


def test_ext_long_and_odd_symlinks(tmp_path):
    """Fast (in-inode) and slow (block) symlink targets, and names with spaces, quotes
    and a newline, come out byte-exact."""
    require("mke2fs", "debugfs")
    src = tmp_path / "src"
    (src / "d i r").mkdir(parents=True)
    long_target = "/very/" + "long/" * 30 + "target"
    (src / "d i r" / "slow").symlink_to(long_target)
    (src / "d i r" / 'qu"ote').symlink_to('/a "quoted" target')
    (src / "new\nline").write_bytes(b"x")
    image = tmp_path / "odd.ext4"
    run(["mke2fs", "-q", "-F", "-t", "ext4", "-d", src, image, "4M"])
    listing = list_ext(image)
    assert listing.problem is None
    entries = {e.path: e for e in listing.entries}
    assert entries["d i r/slow"].link_target == long_target
    assert entries['d i r/qu"ote'].link_target == '/a "quoted" target'
    assert entries["new\nline"].kind is EntryKind.file


@needs_root
def test_ubifs_manifest(tree, tmp_path, monkeypatch):
    require("mkfs.ubifs")
    if not (VENV_BIN / "ubireader_extract_files").exists() and not shutil.which(
        "ubireader_extract_files"
    ):
        pytest.skip("ubireader_extract_files missing")
    monkeypatch.setenv("PATH", f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}")
    image = tmp_path / "rootfs.ubifs"
    with tempfile.TemporaryDirectory() as staging:  # mkfs.ubifs: output outside -r
        staged = Path(staging) / "v.ubifs"
        run(["mkfs.ubifs", "-r", tree, "-o", staged, "-m", "2048", "-e", "126976",
             "-c", "2048", "-x", "lzo"])  # fmt: skip
        shutil.move(staged, image)
    outdir, _ = extract(image, tmp_path / "out")
    manifest = manifest_of(outdir)
    assert_core(manifest, tree)
    assert_hardlink(manifest)
    assert_devices(manifest)
    assert_paths_match_disk(manifest, outdir)


def test_inventory_prefers_manifest(tree, tmp_path):
    """The inventory of the extracted tar reports the archived modes and link target."""
    require("tar")
    from spyproof.inventory.walk import inventory_tree

    image = tmp_path / "rootfs.tar"
    run(["tar", "--numeric-owner", "--owner=0", "--group=0", "-C", tree, "-cf", image, "."])
    outdir, _ = extract(image, tmp_path / "out")
    entries = {e.path: e for e in inventory_tree("t", outdir, set())}
    assert entries["etc/shadow"].mode == "0600"
    assert entries["bin/su"].mode == "4755"
    assert entries["bin/sh"].link_target == "/bin/busybox"
    if IS_ROOT:
        assert entries["dev/console"].mode == "0600"


# --- hostile archives (fixtures from conftest) -----------------------------------------


def test_tar_traversal_recorded(tar_traversal, tmp_path):
    outdir, _ = extract(tar_traversal, tmp_path / "out")
    manifest = manifest_of(outdir)
    assert manifest["etc/evil"].kind is EntryKind.file  # "/etc/evil": root dropped
    (lost,) = [e for e in manifest.values() if e.path.startswith(".unblob-lost+found/")]
    assert "'../../evil'" in lost.note and "not created: file" in lost.note
    assert_paths_match_disk(manifest, outdir)


def test_cpio_absolute_paths_match_unblob(cpio_absolute, tmp_path):
    """unblob's FileSystem redirects ``../evil`` into .unblob-lost+found: the manifest
    names the same path, and every entry exists on disk."""
    outdir, _ = extract(cpio_absolute, tmp_path / "out")
    manifest = manifest_of(outdir)
    lost = [e for e in manifest.values() if e.path.startswith(".unblob-lost+found/")]
    assert len(lost) == 1 and "'../evil'" in lost[0].note
    assert "ok.txt" in manifest
    for rel in manifest:
        assert os.path.lexists(outdir / rel), rel


def test_zip_traversal_paths_match_7z(zip_traversal, tmp_path):
    outdir, _ = extract(zip_traversal, tmp_path / "out")
    manifest = manifest_of(outdir)
    assert set(manifest) == {"ok.txt", "evil.txt", "evil2.txt", "etc/evil"}
    assert "'../../evil.txt'" in manifest["evil.txt"].note
    for rel in manifest:
        assert os.path.lexists(outdir / rel), rel


def test_tar_special_files(tar_special_files, tmp_path):
    outdir, _ = extract(tar_special_files, tmp_path / "out")
    manifest = manifest_of(outdir)
    assert manifest["dev/console"].kind is EntryKind.char_device
    assert manifest["dev/console"].note.startswith("device 5,1")
    assert manifest["dev/mem"].note.startswith("device 1,1")
    assert manifest["dev/mtdblock0"].kind is EntryKind.block_device
    assert manifest["dev/mtdblock0"].note.startswith("device 31,0")
    assert (manifest["dev/initctl"].kind, manifest["dev/initctl"].mode) == (EntryKind.fifo, "0600")
    if not IS_ROOT:
        assert "not created: device node" in manifest["dev/console"].note
    assert_paths_match_disk(manifest, outdir)


def test_tar_symlink_targets_verbatim(tar_symlink_escape, tmp_path):
    outdir, _ = extract(tar_symlink_escape, tmp_path / "out")
    manifest = manifest_of(outdir)
    assert manifest["link"].link_target == "/tmp"
    assert manifest["rel"].link_target == "../" * 8 + "tmp"
    assert_paths_match_disk(manifest, outdir)


# --- the wrapper and the handler set ---------------------------------------------------


class _Inner(Extractor):
    def __init__(self, fail: bool = False) -> None:
        self.fail = fail

    def extract(self, inpath: Path, outdir: Path) -> ExtractResult | None:
        outdir.mkdir()
        (outdir / "a").write_text("x")
        report = ExtractionProblem(problem="inner", resolution="kept")
        if self.fail:
            raise ExtractError(report)
        return ExtractResult(reports=[report])


def _one_entry(_path: Path) -> Listing:
    return Listing([ManifestEntry("a", EntryKind.file, "0600", 1, 2, 1)], problem="stopped")


def _boom(_path: Path) -> Listing:
    raise RuntimeError("lister bug")


def test_failing_lister_never_fails_extraction(tmp_path):
    outdir = tmp_path / "x_extract"
    result = ManifestingExtractor(_Inner(), _boom).extract(tmp_path / "x", outdir)
    problems = [r.problem for r in result.reports]
    assert problems[0] == "inner"
    assert any("Metadata could not be listed" in p and "lister bug" in p for p in problems)
    assert (outdir / "a").is_file()
    assert not manifest_path(outdir).exists()


def test_partial_listing_is_written_and_reported(tmp_path):
    outdir = tmp_path / "x_extract"
    result = ManifestingExtractor(_Inner(), _one_entry).extract(tmp_path / "x", outdir)
    assert any("incomplete: stopped" in r.problem for r in result.reports)
    assert read_manifest(outdir)["a"].mode == "0600"


def test_manifest_written_when_inner_extractor_fails(tmp_path):
    outdir = tmp_path / "x_extract"
    with pytest.raises(ExtractError) as caught:
        ManifestingExtractor(_Inner(fail=True), _one_entry).extract(tmp_path / "x", outdir)
    assert [r.problem for r in caught.value.reports][0] == "inner"
    assert read_manifest(outdir)["a"].uid == 1


def test_with_manifests_wraps_only_the_listed_handlers():
    wrapped = with_manifests(BUILTIN_HANDLERS)
    assert len(wrapped) == len(BUILTIN_HANDLERS)
    for original, handler in zip(BUILTIN_HANDLERS, wrapped, strict=True):
        if original in LISTERS:
            assert issubclass(handler, original) and handler is not original
            assert handler.NAME == original.NAME and handler.PATTERNS == original.PATTERNS
            assert isinstance(handler.EXTRACTOR, ManifestingExtractor)
            assert handler.EXTRACTOR.inner is original.EXTRACTOR
            assert handler.get_dependencies() == original.get_dependencies()
            assert pickle.loads(pickle.dumps(handler)) is handler
        else:
            assert handler is original
    assert with_manifests(wrapped) == wrapped  # idempotent
    assert with_manifests(BUILTIN_HANDLERS) == wrapped  # same classes each time
    wrapped_originals = {
        unblob_tar.TarUstarHandler, unblob_tar.TarUnixHandler, unblob_cpio.BinaryHandler,
        unblob_cpio.PortableOldASCIIHandler, unblob_cpio.PortableASCIIHandler,
        unblob_cpio.PortableASCIIWithCRCHandler, unblob_zip.ZIPHandler,
        unblob_extfs.EXTHandler, unblob_ubi.UBIFSHandler,
    }  # fmt: skip
    assert set(LISTERS) == wrapped_originals
    for original in wrapped_originals:
        assert original not in SPYPROOF_HANDLERS
        assert any(issubclass(h, original) for h in SPYPROOF_HANDLERS)


def test_wrapped_cpio_handler_still_finds_its_parser():
    handler = with_manifests([unblob_cpio.PortableASCIIHandler])[0]
    assert handler.EXTRACTOR.PARSER is unblob_cpio.PortableASCIIParser


# --- path normalisation ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("./etc/passwd", "etc/passwd"),
        ("/etc/passwd", "etc/passwd"),
        ("//etc//passwd", "etc/passwd"),
        ("a/../b", "b"),
        ("etc/", "etc"),
        (".", None),
        ("./", None),
        ("/", None),
        ("a/..", None),
    ],
)
def test_unblob_fs_path(name, expected):
    assert unblob_fs_path(name) == (expected, None)


def test_unblob_fs_path_traversal_goes_to_lost_and_found():
    path, note = unblob_fs_path("../../evil")
    assert path.startswith(".unblob-lost+found/") and path.endswith("/evil")
    assert "'../../evil'" in note


def test_sevenzip_path():
    assert sevenzip_path("../../evil.txt") == "evil.txt"
    assert sevenzip_path("/etc/evil") == "etc/evil"
    assert sevenzip_path("c/../../d.txt") == "c/d.txt"
    assert sevenzip_path("./") is None


# --- listers on damaged input ----------------------------------------------------------

ALL_LISTERS = [list_tar, list_cpio, list_zip, list_ext, list_ubifs]


@pytest.mark.parametrize("lister", ALL_LISTERS, ids=lambda f: f.__name__)
@pytest.mark.parametrize("content", ["garbage", "empty", "zeros"])
def test_lister_on_garbage(lister, content, tmp_path):
    data = {
        "garbage": random.Random(7).randbytes(64 * 1024),
        "empty": b"",
        "zeros": bytes(8192),
    }[content]
    path = tmp_path / "input.bin"
    path.write_bytes(data)
    listing = lister(path)
    assert listing.entries == []
    assert listing.problem or content == "zeros"  # all-zero tar/cpio: nothing to list


@pytest.mark.parametrize("lister", ALL_LISTERS, ids=lambda f: f.__name__)
def test_lister_on_missing_file(lister, tmp_path):
    listing = lister(tmp_path / "does-not-exist")
    assert listing.entries == [] and listing.problem


def _many_files(root: Path, count: int = 40) -> Path:
    for i in range(count):
        _file(root, f"d{i % 4}/f{i:03d}", bytes([i % 256]) * 700, 0o640)
    return root


def _truncate(image: Path, fraction: float) -> Path:
    data = image.read_bytes()
    cut = image.with_name(image.name + ".cut")
    cut.write_bytes(data[: int(len(data) * fraction)])
    return cut


@pytest.mark.parametrize("fmt", ["newc", "odc", "bin"])
def test_cpio_lister_truncated(tmp_path, fmt):
    require("cpio")
    src = _many_files(tmp_path / "src")
    names = "\n".join(sorted(str(p.relative_to(src)) for p in src.rglob("*"))).encode() + b"\n"
    image = tmp_path / "a.cpio"
    with image.open("wb") as out:
        subprocess.run(
            ["cpio", "-o", "-H", fmt, "--quiet"], input=names, stdout=out, cwd=src, check=True
        )
    full = list_cpio(image)
    assert full.problem is None and len(full.entries) == 44
    cut = list_cpio(_truncate(image, 0.5))
    assert cut.problem
    assert 5 < len(cut.entries) < 44
    # What was read is exactly the start of the full listing.
    assert cut.entries == full.entries[: len(cut.entries)]


def _bin_cpio_be(members: list[tuple[str, int, bytes]]) -> bytes:
    """A big-endian binary cpio archive (no Debian tool writes one on x86)."""
    out = bytearray()
    for ino, (name, mode, data) in enumerate([*members, ("TRAILER!!!", 0, b"")], start=1):
        raw_name = name.encode() + b"\0"
        size = len(data)
        out += struct.pack(">13H", 0o070707, 1, ino, mode, 7, 8, 1, 0x0501, 0, 0,
                           len(raw_name), size >> 16, size & 0xFFFF)  # fmt: skip
        out += raw_name + b"\0" * (len(raw_name) % 2)
        out += data + b"\0" * (size % 2)
    return bytes(out)


def test_cpio_lister_big_endian_binary(tmp_path):
    image = tmp_path / "be.cpio"
    image.write_bytes(
        _bin_cpio_be(
            [
                ("bin", stat.S_IFDIR | 0o755, b""),
                ("bin/su", stat.S_IFREG | 0o4755, b"odd-size"),
                ("bin/sh", stat.S_IFLNK | 0o777, b"/bin/busybox"),
                ("dev/console", stat.S_IFCHR | 0o600, b""),
            ]
        )
    )
    listing = list_cpio(image)
    assert listing.problem is None
    entries = {e.path: e for e in listing.entries}
    assert (entries["bin/su"].mode, entries["bin/su"].uid, entries["bin/su"].gid) == ("4755", 7, 8)
    assert entries["bin/su"].size == len(b"odd-size")
    assert entries["bin/sh"].link_target == "/bin/busybox"
    assert entries["dev/console"].note == "device 5,1"


def test_cpio_lister_garbage_after_members(tmp_path):
    """No trailer: the members before the garbage are returned, with a problem."""
    image = tmp_path / "tail.cpio"
    good = _bin_cpio_be(
        [("etc", stat.S_IFDIR | 0o755, b""), ("etc/x", stat.S_IFREG | 0o600, b"xy")]
    )
    image.write_bytes(good[: -(26 + 12)] + random.Random(1).randbytes(300))
    listing = list_cpio(image)
    assert [e.path for e in listing.entries] == ["etc", "etc/x"]
    assert listing.problem


def test_tar_lister_truncated(tmp_path):
    require("tar")
    src = _many_files(tmp_path / "src")
    image = tmp_path / "a.tar"
    run(["tar", "-C", src, "--sort=name", "-cf", image, "."])
    full = list_tar(image)
    assert full.problem is None and len(full.entries) == 44
    cut = list_tar(_truncate(image, 0.5))
    assert 5 < len(cut.entries) < 44
    assert cut.entries == full.entries[: len(cut.entries)]


def test_zip_lister_truncated(tmp_path):
    require("zip")
    src = _many_files(tmp_path / "src")
    image = tmp_path / "a.zip"
    run(["zip", "-q", "-r", image, "."], cwd=src)
    assert len(list_zip(image).entries) == 44
    cut = list_zip(_truncate(image, 0.7))  # no central directory left
    assert cut.entries == [] and cut.problem


def test_zip_lister_without_unix_attributes(tmp_path):
    """Members written without a Unix mode carry nothing to override the disk with."""
    import zipfile

    image = tmp_path / "dos.zip"
    with zipfile.ZipFile(image, "w") as archive:
        info = zipfile.ZipInfo("readme.txt")
        info.create_system = 0
        archive.writestr(info, b"hello")
        archive.writestr("unix.txt", b"x")  # zipfile: create_system 3, mode 0600
    listing = list_zip(image)
    assert [(e.path, e.mode, e.kind) for e in listing.entries] == [
        ("unix.txt", "0600", EntryKind.file)
    ]


def test_ext_lister_truncated(tmp_path):
    require("mke2fs", "debugfs")
    src = _many_files(tmp_path / "src", count=400)
    image = tmp_path / "a.ext4"
    run(["mke2fs", "-q", "-F", "-t", "ext4", "-d", src, image, "8M"])
    assert len(list_ext(image).entries) == 405  # + lost+found
    cut = list_ext(_truncate(image, 0.05))  # root readable, subdirectories not
    assert cut.problem and "unreadable" in cut.problem
    assert 0 < len(cut.entries) < 405
    head = list_ext(_truncate(image, 0.005))
    assert head.entries == [] and head.problem


def test_ubifs_lister_truncated(tmp_path):
    """The UBIFS index root sits near the end of the image: a cut image lists nothing,
    says why, and raises nothing (ubi_reader itself calls sys.exit on fatal damage)."""
    require("mkfs.ubifs")
    src = _many_files(tmp_path / "src", count=200)
    image = tmp_path / "a.ubifs"
    with tempfile.TemporaryDirectory() as staging:
        staged = Path(staging) / "v.ubifs"
        run(["mkfs.ubifs", "-r", src, "-o", staged, "-m", "2048", "-e", "126976",
             "-c", "2048", "-x", "none"])  # fmt: skip
        shutil.move(staged, image)
    assert len(list_ubifs(image).entries) == 204
    for fraction in (0.02, 0.2, 0.5, 0.9):
        cut = list_ubifs(_truncate(image, fraction))
        assert len(cut.entries) < 204 and cut.problem


def test_listing_is_capped_at_max_files(tmp_path, monkeypatch):
    """A flood of members costs no memory beyond the engine's file cap."""
    import tarfile

    from spyproof.unpack import limits

    monkeypatch.setenv(limits.ENV_VAR, limits.Limits(max_files=10).to_env())
    image = tmp_path / "flood.tar"
    with tarfile.open(image, "w") as archive:
        for i in range(50):
            archive.addfile(tarfile.TarInfo(f"f{i:02d}"))
    listing = list_tar(image)
    assert [e.path for e in listing.entries] == [f"f{i:02d}" for i in range(10)]
    assert "40 not listed" in listing.problem
