"""``spyproof equiv A B``: binary equivalence, end to end with real tools.

The same C program is compiled twice (gcc -g, in build directories of different lengths,
with different SOURCE_DATE_EPOCH), packed into root filesystems with gzip, tar, cpio and
zip members, then into SquashFS (mksquashfs -mkfs-time) and uImage (mkimage with
SOURCE_DATE_EPOCH) at different times. The two images must come out equivalent, with the
normalisations listed; one flipped byte of .text must come out different, at its offset.
"""

from __future__ import annotations

import json
import os
import shutil
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import pytest

from fixtures import equiv_builders as eb

REPO = Path(__file__).resolve().parents[1]
E1, E2 = 1_700_000_000, 1_700_086_400  # two build times, a day apart


def spyproof(*args: str | Path, cwd: Path, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "spyproof.cli", *map(str, args)], cwd=cwd,
                          capture_output=True, text=True, timeout=300,
                          env={**os.environ, **(env or {})})


def load(out: Path) -> dict:
    return json.loads((out / "report.json").read_text())


def entry(report: dict, path: str) -> dict:
    return next(f for f in report["files"] if f["path"] == path)


HELLO = "image_extract/filesystem_extract/bin/hello"


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> dict:
    eb.require_tools()
    w = tmp_path_factory.mktemp("equiv")
    eb.compile_c("hello.c", w / "build-one", w / "bin-a" / "hello", epoch=E1)
    eb.compile_c("hello.c", w / "a-much-longer-build-dir", w / "bin-b" / "hello", epoch=E2)
    offset = eb.patch_text(w / "bin-b" / "hello", w / "bin-p" / "hello")
    eb.compile_c("hello.c", w / "map-one", w / "bin-m1" / "hello", epoch=E1, prefix_map=True)
    eb.compile_c("hello.c", w / "map-two-longer", w / "bin-m2" / "hello", epoch=E2,
                 prefix_map=True)
    eb.compile_c("where.c", w / "build-one", w / "where-a", epoch=E1, absolute=True)
    eb.compile_c("where.c", w / "a-much-longer-build-dir", w / "where-b", epoch=E1,
                 absolute=True)
    for name, epoch in (("a", E1), ("b", E2), ("p", E2), ("m1", E1)):
        eb.make_rootfs(w / f"root-{name}", w / f"bin-{name}" / "hello", epoch=epoch)
    eb.make_image(w / "root-a", w / "a.bin", epoch=E1)
    eb.make_image(w / "root-b", w / "b.bin", epoch=E2)
    eb.make_image(w / "root-p", w / "p.bin", epoch=E2)
    # -ffile-prefix-map makes the two builds one binary (asserted below), so one tree
    # serves both images: only the images' own times differ
    eb.make_image(w / "root-m1", w / "m1.bin", epoch=E1, files_epoch=E1)
    eb.make_image(w / "root-m1", w / "m2.bin", epoch=E2, files_epoch=E1)
    return {"w": w, "text_offset": offset}


@pytest.fixture(scope="module")
def equivalent(built) -> tuple[subprocess.CompletedProcess, dict]:
    w = built["w"]
    proc = spyproof("equiv", "a.bin", "b.bin", "--out", "out-ab", cwd=w)
    return proc, load(w / "out-ab")


# --- rebuilt elsewhere, later: equivalent ---------------------------------------------------


def test_rebuilt_image_is_equivalent_with_each_normalisation_listed(equivalent):
    proc, r = equivalent
    assert proc.returncode == 0, proc.stderr
    assert r["verdict"] == "equivalent" and r["complete"] is True
    assert r["a"]["formats"] == ["uimage@0"] and r["a"]["sha256"] != r["b"]["sha256"]
    kinds = {n["kind"] for n in r["normalisations"]}
    assert {"uimage.ih_time", "uimage.payload_crc", "squashfs.mkfs_time", "elf.build_id",
            "elf.debug_sections", "elf.build_path", "gzip.mtime", "tar.mtime", "cpio.mtime",
            "zip.mtime"} <= kinds
    uimage = next(n for n in r["normalisations"] if n["kind"] == "uimage.ih_time")
    assert str(E1) in uimage["detail"] and str(E2) in uimage["detail"]
    assert "header CRC" in uimage["detail"] and uimage["where"].startswith("image:")
    sq = next(n for n in r["normalisations"] if n["kind"] == "squashfs.mkfs_time")
    assert sq["where"].startswith("image_extract/filesystem:")
    assert r["summary"]["different"] == r["summary"]["only_in_a"] == 0
    assert r["summary"]["equivalent"] >= 7 and r["summary"]["identical"] >= 8
    assert entry(r, "image")["status"] == "equivalent"
    assert entry(r, "image_extract/filesystem")["format"] == "squashfs_v4_le"
    assert entry(r, "image_extract/filesystem_extract/etc/motd")["status"] == "identical"
    assert entry(r, "image_extract/filesystem_extract/etc/payload.tar_extract/b.conf")[
        "status"] == "identical"
    assert "EQUIVALENT" in proc.stdout


def test_rebuilt_elf_keeps_every_loaded_byte(equivalent, built):
    _, r = equivalent
    hello = entry(r, HELLO)
    assert hello["status"] == "equivalent" and hello["reasons"] == []
    elf = hello["elf"]
    assert elf["executable_sections_identical"] and elf["allocated_sections_identical"]
    assert elf["segments_identical"]
    by_name = {s["name"]: s for s in elf["sections"]}
    assert by_name[".note.gnu.build-id"]["normalisation"] == "elf.build_id"
    assert by_name[".debug_line_str"]["normalisation"] == "elf.debug_sections"
    assert ".text" not in by_name and ".rodata" not in by_name
    assert all(s["status"] == "normalised" for s in elf["sections"])
    path = next(n for n in hello["normalisations"] if n["kind"] == "elf.build_path")
    assert str(built["w"] / "build-one") in path["detail"]
    assert str(built["w"] / "a-much-longer-build-dir") in path["detail"]


def test_report_is_deterministic(equivalent, built):
    w = built["w"]
    proc = spyproof("-q", "equiv", "a.bin", "b.bin", "--out", "out-ab2", cwd=w)
    assert proc.returncode == 0 and proc.stdout == ""
    first, second = load(w / "out-ab"), load(w / "out-ab2")
    assert first.pop("generated_at") and second.pop("generated_at")
    assert first == second
    text = (w / "out-ab" / "report.json").read_text()
    assert "spyproof-equiv-" not in text and "/extract/" not in text  # no temp paths
    assert first["schema_version"] == "1.0.0" and first["tool"]["name"] == "spyproof"
    import jsonschema

    schema = json.loads((REPO / "docs" / "schema" / "equiv.schema.json").read_text())
    jsonschema.validate(load(w / "out-ab"), schema)


def test_html_view(equivalent, built):
    html = (built["w"] / "out-ab" / "report.html").read_text()
    assert "Content-Security-Policy" in html and "<script" not in html
    assert "http://" not in html and "https://" not in html
    assert "equivalent" in html and "uimage.ih_time" in html and "elf.build_id" in html
    assert HELLO in html


def test_prefix_map_builds_differ_only_in_image_timestamps(built):
    w = built["w"]
    assert (w / "bin-m1" / "hello").read_bytes() == (w / "bin-m2" / "hello").read_bytes()
    proc = spyproof("equiv", "m1.bin", "m2.bin", "--out", "out-m", cwd=w)
    assert proc.returncode == 0, proc.stderr
    r = load(w / "out-m")
    assert r["verdict"] == "equivalent"
    assert entry(r, HELLO)["status"] == "identical"
    # The SquashFS differs in mkfs_time alone: proven on its bytes, not by its members.
    sq = entry(r, "image_extract/filesystem")
    assert {n["kind"] for n in sq["normalisations"]} == {"squashfs.mkfs_time"}
    assert {n["kind"] for n in r["normalisations"]} == {
        "uimage.ih_time", "uimage.payload_crc", "squashfs.mkfs_time", "container.members"}


# --- one byte of .text: different, pinpointed -----------------------------------------------


def test_patched_text_is_different_at_its_offset(built, tmp_path):
    w = built["w"]
    fake = tmp_path / "fakebin"
    fake.mkdir()
    script = fake / "diffoscope"
    script.write_text("#!/bin/sh\n"
                      "if [ \"$1\" = --version ]; then echo 'diffoscope 0-test'; exit 0; fi\n"
                      "(cd \"$7\" && find . -type f) > \"$2\"; echo text > \"$4\"; exit 1\n")
    script.chmod(0o755)
    proc = spyproof("equiv", "b.bin", "p.bin", "--out", "out-bp", cwd=w,
                    env={"PATH": f"{fake}{os.pathsep}{os.environ['PATH']}"})
    assert proc.returncode == 1, proc.stderr
    r = load(w / "out-bp")
    assert r["verdict"] == "different"
    hello = entry(r, HELLO)
    assert hello["status"] == "different"
    elf = hello["elf"]
    assert elf["executable_sections_identical"] is False
    assert elf["allocated_sections_identical"] is False
    differing = [s for s in elf["sections"] if s["status"] == "different"]
    assert [s["name"] for s in differing] == [".text"]
    text = differing[0]
    offset, _size = eb.text_offset(w / "bin-b" / "hello")
    assert text["first_difference_file_offset_a"] == built["text_offset"]
    assert text["first_difference_in_section"] == built["text_offset"] - offset
    assert text["differing_bytes"] == 1 and text["executable"] is True
    assert any(f"file offset {built['text_offset']}" in x for x in hello["reasons"])
    # the containers around it are different because a member is
    assert entry(r, "image")["status"] == "different"
    assert any(HELLO in x for x in entry(r, "image_extract/filesystem")["reasons"])
    assert r["summary"]["different"] == 3
    html = (w / "out-bp" / "report.html").read_text()
    assert HELLO in html and ".text" in html
    assert r["diffoscope"]["status"] == "ran"
    assert r["diffoscope"]["outputs"] == ["diffoscope.html", "diffoscope.txt"]
    # only the differing file is handed to diffoscope, under its logical path
    assert (w / "out-bp" / "diffoscope.html").read_text() == f"./{HELLO}\n"


def test_diffoscope_absent_is_recorded_not_an_error(built, tmp_path):
    w = built["w"]
    shutil.copyfile(w / "where-a", tmp_path / "where-a")
    proc = spyproof("equiv", w / "where-a", w / "bin-a" / "hello", "--out", tmp_path / "o",
                    cwd=tmp_path, env={"PATH": "/usr/bin:/bin"})
    assert proc.returncode == 1, proc.stderr
    r = load(tmp_path / "o")
    assert r["diffoscope"]["status"] == "not installed"
    assert r["a"]["kind"] == "file" and entry(r, "image")["elf"] is not None


def test_build_path_in_rodata_is_not_normalised(built, tmp_path):
    w = built["w"]
    proc = spyproof("equiv", w / "where-a", w / "where-b", "--out", tmp_path / "o",
                    cwd=tmp_path)
    assert proc.returncode == 1, proc.stderr
    r = load(tmp_path / "o")
    f = entry(r, "image")
    rodata = next(s for s in f["elf"]["sections"] if s["name"] == ".rodata")
    assert rodata["status"] == "different" and rodata["allocated"] is True
    assert "build-one" in (rodata["note"] or "") and "program-visible" in rodata["note"]
    assert f["elf"]["allocated_sections_identical"] is False


def test_elf_bytes_outside_every_table_and_unparsable_elf(built, tmp_path):
    from spyproof.equiv.elf import compare_elf

    hello = built["w"] / "bin-a" / "hello"
    data = hello.read_bytes()
    (tmp_path / "appended").write_bytes(data + b"hidden payload")  # not loaded, but there
    result = compare_elf(hello, tmp_path / "appended", "x")
    assert result is not None and result.reasons
    assert result.comparison.sections[-1].first_difference_file_offset_b == len(data)
    garbage = b"\x7fELF" + bytes(range(256)) * 8
    (tmp_path / "g1").write_bytes(garbage)
    (tmp_path / "g2").write_bytes(garbage[:-1] + b"!")
    result = compare_elf(tmp_path / "g1", tmp_path / "g2", "x")
    assert result is None or any("nothing to compare" in x for x in result.reasons)


# --- identical, directories, metadata -------------------------------------------------------


def test_identical_inputs(built, tmp_path):
    w = built["w"]
    shutil.copyfile(w / "a.bin", tmp_path / "copy.bin")
    proc = spyproof("equiv", w / "a.bin", tmp_path / "copy.bin", "--out", tmp_path / "o",
                    cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    r = load(tmp_path / "o")
    assert r["verdict"] == "identical" and r["normalisations"] == []
    assert r["summary"]["identical"] == 1 and entry(r, "image")["sha256_a"] == r["a"]["sha256"]


def _tree(root: Path, hello: Path, motd_gz: Path) -> Path:
    (root / "bin").mkdir(parents=True)
    (root / "etc").mkdir()
    shutil.copyfile(hello, root / "bin" / "hello")
    (root / "bin" / "hello").chmod(0o755)
    os.symlink("hello", root / "bin" / "sh")
    (root / "etc" / "motd").write_text("hi\n")
    shutil.copyfile(motd_gz, root / "etc" / "motd.gz")
    return root


def test_directories_equivalent(built, tmp_path):
    w = built["w"]
    a = _tree(tmp_path / "A", w / "bin-a" / "hello", w / "root-a" / "etc" / "motd.gz")
    b = _tree(tmp_path / "B", w / "bin-b" / "hello", w / "root-b" / "etc" / "motd.gz")
    proc = spyproof("equiv", a, b, "--out", tmp_path / "o", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    r = load(tmp_path / "o")
    assert r["a"]["kind"] == "directory" and r["verdict"] == "equivalent"
    assert entry(r, "bin/hello")["status"] == "equivalent"
    gz = entry(r, "etc/motd.gz")
    assert gz["status"] == "equivalent" and gz["format"] == "gzip"
    assert [n["kind"] for n in gz["normalisations"]] == ["gzip.mtime"]


def test_directories_mode_symlink_and_one_sided_paths(built, tmp_path):
    w = built["w"]
    hello = w / "bin-a" / "hello"
    gz = w / "root-a" / "etc" / "motd.gz"
    a = _tree(tmp_path / "A", hello, gz)
    b = _tree(tmp_path / "B", hello, gz)
    (b / "bin" / "hello").chmod(0o4755)
    (b / "bin" / "sh").unlink()
    os.symlink("busybox", b / "bin" / "sh")
    (b / "etc" / "motd").unlink()
    (b / "etc" / "extra").write_text("new\n")
    proc = spyproof("equiv", a, b, "--out", tmp_path / "o", cwd=tmp_path)
    assert proc.returncode == 1, proc.stderr
    r = load(tmp_path / "o")
    mode = entry(r, "bin/hello")
    assert mode["status"] == "different" and mode["sha256_a"] == mode["sha256_b"]
    assert mode["reasons"] == ["mode 0755 vs 4755 (setuid set in B)"]
    assert entry(r, "bin/sh")["reasons"] == ["symlink target 'hello' vs 'busybox'"]
    assert entry(r, "etc/motd")["status"] == "only_in_a"
    assert entry(r, "etc/extra")["status"] == "only_in_b"
    assert entry(r, "etc/motd.gz")["status"] == "identical"
    assert r["summary"] == {"identical": 3, "equivalent": 0, "different": 2, "only_in_a": 1,
                            "only_in_b": 1}
    html = (tmp_path / "o" / "report.html").read_text()
    assert html.index("bin/hello") < html.index("Equivalent after normalisation")


# --- bad input ----------------------------------------------------------------------------


def _one_line_error(proc: subprocess.CompletedProcess) -> str:
    assert proc.returncode == 2, (proc.stdout, proc.stderr)
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:"), proc.stderr
    return lines[0]


def test_bad_inputs_exit_2_with_one_line(built, tmp_path):
    w = built["w"]
    line = _one_line_error(spyproof("equiv", "nope.bin", w / "a.bin", "--out", "o",
                                    cwd=tmp_path))
    assert "nope.bin: no such file" in line
    line = _one_line_error(spyproof("equiv", w / "root-a", w / "a.bin", "--out", "o",
                                    cwd=tmp_path))
    assert "directory" in line
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_text("x")
    line = _one_line_error(spyproof("equiv", w / "a.bin", w / "a.bin", "--out", "full",
                                    cwd=tmp_path))
    assert "--force" in line
    assert spyproof("equiv", w / "a.bin", w / "a.bin", "--out", "full", "--force",
                    cwd=tmp_path).returncode == 0
    _one_line_error(spyproof("equiv", w / "a.bin", cwd=tmp_path))
    assert not (tmp_path / "o").exists()


def test_truncated_image_is_a_partial_comparison(built, tmp_path):
    w = built["w"]
    data = (w / "p.bin").read_bytes()
    (tmp_path / "cut.bin").write_bytes(data[: len(data) * 3 // 4])
    proc = spyproof("-q", "equiv", w / "b.bin", "cut.bin", "--out", "o", cwd=tmp_path)
    line = _one_line_error(proc)
    assert "cut.bin" in line and "partial comparison" in line
    r = load(tmp_path / "o")
    assert r["complete"] is False and r["verdict"] == "different"
    assert any(x["side"] == "b" for x in r["warnings"])


# --- the pieces, on crafted input -----------------------------------------------------------


def _uimage(payload: bytes, time: int, name: bytes = b"rootfs", load: int = 0) -> bytes:
    head = struct.pack(">7I4B32s", 0x27051956, 0, time, len(payload), load, load,
                       zlib.crc32(payload), 5, 2, 7, 0, name)
    return struct.pack(">7I4B32s", 0x27051956, zlib.crc32(head), time, len(payload), load,
                       load, zlib.crc32(payload), 5, 2, 7, 0, name) + payload


def test_uimage_header_fields_that_matter():
    from spyproof.equiv.normalise import compare_uimage

    a, b = _uimage(b"x" * 100, E1), _uimage(b"x" * 100, E2)
    check = compare_uimage(a, b, "fw")
    assert check.byte_equivalent and not check.differences
    assert [n.kind for n in check.normalisations] == ["uimage.ih_time"]
    assert not compare_uimage(a, _uimage(b"x" * 100, E2, load=0x80000000), "fw").byte_equivalent
    assert "load address" in compare_uimage(a, _uimage(b"x" * 100, E1, load=0x8000), "fw"
                                            ).differences[0]
    broken = bytearray(b)
    broken[4] ^= 1  # header CRC no longer valid: U-Boot refuses it
    assert any("header CRC invalid in B" in d
               for d in compare_uimage(a, bytes(broken), "fw").differences)


def test_gzip_and_squashfs_headers():
    from spyproof.equiv.normalise import compare_gzip, compare_squashfs

    g1 = b"\x1f\x8b\x08\x08" + struct.pack("<I", E1) + b"\x02\x03name\x00DATA"
    g2 = b"\x1f\x8b\x08\x08" + struct.pack("<I", E2) + b"\x00\x0bname\x00DATA"
    check = compare_gzip(g1, g2, "x.gz")
    assert check.byte_equivalent and {n.kind for n in check.normalisations} == {
        "gzip.mtime", "gzip.xfl_os"}
    renamed = compare_gzip(g1, g1.replace(b"name", b"nome"), "x.gz")
    assert renamed.differences and not renamed.byte_equivalent
    sb = bytearray(96)
    sb[0:4] = b"hsqs"
    struct.pack_into("<5I6H8Q", sb, 0, 0x73717368, 3, E1, 131072, 1, 1, 17, 0, 1, 4, 0,
                     *([0] * 3), 2 ** 64 - 1, *([0] * 4))
    other = bytearray(sb)
    struct.pack_into("<I", other, 8, E2)
    assert compare_squashfs(bytes(sb), bytes(other), "fs").byte_equivalent
    struct.pack_into("<I", other, 12, 65536)  # block size
    assert "block_size" in compare_squashfs(bytes(sb), bytes(other), "fs").differences[0]


def test_build_path_pairs():
    from spyproof.equiv.elf import build_path_pairs

    a = {"/build/one/src", "/build/one/src/main.c", "/usr/include/stdio.h"}
    b = {"/build/two-longer/src", "/build/two-longer/src/main.c", "/usr/include/stdio.h"}
    assert build_path_pairs(a, b) == [("/build/one", "/build/two-longer", 2)]
    assert build_path_pairs(a, a) == []


def test_carved_chunks_are_named_by_format_and_rank():
    from spyproof.equiv.sides import _Namer
    from spyproof.models import FormatChunk
    from spyproof.unpack.engine import UnpackResult

    result = UnpackResult(formats=[
        FormatChunk(container="fw.bin", format="uimage", start_offset=0, end_offset=4160,
                    depth=0, extracted_to="fw.bin_extract/0-4160.uimage_extract"),
        FormatChunk(container="fw.bin", format="padding", start_offset=4160,
                    end_offset=9160, depth=0),
        FormatChunk(container="fw.bin", format="squashfs_v4_le", start_offset=9160,
                    end_offset=13256, depth=0,
                    extracted_to="fw.bin_extract/9160-13256.squashfs_v4_le_extract")])
    namer = _Namer("fw.bin", result)
    assert namer.logical("fw.bin_extract/9160-13256.squashfs_v4_le_extract/bin/sh") == (
        "image_extract/squashfs_v4_le.0_extract/bin/sh")
    assert namer.logical("fw.bin_extract/4160-9160.padding") == "image_extract/padding.0"
    assert namer.logical("fw.bin_extract/0-4160.uimage_extract/x") == (
        "image_extract/uimage.0_extract/x")


def test_published_schema_matches_the_model():
    from spyproof.equiv.schema import render_schema

    committed = (REPO / "docs" / "schema" / "equiv.schema.json").read_text()
    assert committed == render_schema(), "run: python -m spyproof.equiv.schema docs/schema"
    import jsonschema

    jsonschema.Draft202012Validator.check_schema(json.loads(committed))
