"""ELF hardening facts in the inventory (``ElfInfo.hardening``), from both parsers.

Fixtures are small C programs built with gcc in every hardening variant, the real mipsel
Debian binaries of the sample firmware, and hand-made big-endian ELFs without section
headers. Every fact is checked three ways: against what the test expects, against an
independent reading of ``readelf`` output (checksec's own method), and between the LIEF
path and the struct (fast) path, which must agree.
"""

from __future__ import annotations

import random
import re
import shutil
import struct
import subprocess
from pathlib import Path

import pytest

from spyproof.inventory import elf as elf_mod
from spyproof.inventory.elf import elf_info, elf_info_fast
from spyproof.models import ElfHardening, ElfInfo
from test_classify import make_elf

SAMPLE = Path(__file__).resolve().parents[1] / "examples" / "sample-firmware" / "rootfs"
SAMPLE_ELFS = ("bin/busybox", "lib/ld.so.1", "lib/libc.so.6", "lib/libm.so.6",
               "lib/libresolv.so.2", "lib/libz.so.1.2.13", "usr/bin/dbclient",
               "usr/bin/dropbearkey", "usr/lib/libcrypto.so.3", "usr/lib/libssl.so.3",
               "usr/sbin/dnsmasq", "usr/sbin/dropbear")

PROGRAM = r"""
#include <stdio.h>
#include <string.h>
int main(int argc, char **argv) {
    char buf[32];
    strcpy(buf, argc > 1 ? argv[1] : "x");
    printf("%s\n", buf);
    return 0;
}
"""
LIBRARY = r"""
#include <string.h>
int lib_copy(char *dst, const char *src) { char tmp[64]; strcpy(tmp, src);
    strcpy(dst, tmp); return (int)strlen(dst); }
"""
HARDENED = ["-O2", "-D_FORTIFY_SOURCE=2", "-fstack-protector-strong", "-fPIE", "-pie",
            "-Wl,-z,relro,-z,now"]
PLAIN = ["-O0", "-U_FORTIFY_SOURCE", "-fno-stack-protector", "-no-pie", "-Wl,-z,norelro"]

# name -> (source, gcc flags)
VARIANTS: dict[str, tuple[str, list[str]]] = {
    "hardened": (PROGRAM, HARDENED),
    "plain": (PROGRAM, PLAIN),
    "execstack": (PROGRAM, [*HARDENED, "-z", "execstack"]),
    "partial": (PROGRAM, ["-O2", "-fstack-protector-strong", "-fPIE", "-pie",
                          "-Wl,-z,relro,-z,lazy"]),
    "rpath": (PROGRAM, [*HARDENED, "-Wl,--disable-new-dtags,-rpath,/opt/lib:/tmp/x"]),
    "runpath": (PROGRAM, [*HARDENED, "-Wl,--enable-new-dtags,-rpath,/opt/lib"]),
    "stripped": (PROGRAM, [*HARDENED, "-s"]),
    "sysv-hash": (PROGRAM, [*HARDENED, "-Wl,--hash-style=sysv"]),
    "library": (LIBRARY, ["-O2", "-D_FORTIFY_SOURCE=2", "-fstack-protector-strong", "-fPIC",
                          "-shared", "-Wl,-soname,libdemo.so.1,-z,relro,-z,now"]),
    "static": (PROGRAM, ["-O2", "-static"]),
}


def _compile(out: Path, source: str, flags: list[str]) -> Path:
    src = out.with_suffix(".c")
    src.write_text(source)
    subprocess.run(["gcc", *flags, "-w", "-o", str(out), str(src)], check=True,
                   capture_output=True)
    return out


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    if shutil.which("gcc") is None:
        pytest.skip("gcc not installed")
    base = tmp_path_factory.mktemp("hardening")
    out = {}
    for name, (source, flags) in VARIANTS.items():
        try:
            out[name] = _compile(base / name, source, flags)
        except subprocess.CalledProcessError as exc:
            if name == "static":  # no static libc on this host
                continue
            raise AssertionError(exc.stderr) from exc
    return out


def lief_info(path: Path) -> ElfInfo:
    with open(path, "rb") as f:
        head = f.read(4096)
    return elf_info(path, path.stat().st_size, head).info


def both(path: Path) -> ElfHardening | None:
    """The hardening facts; fails unless the LIEF and the struct paths agree."""
    full = lief_info(path).hardening
    fast = elf_info_fast(path).hardening
    assert fast == full, f"{path.name}: fast {fast} != LIEF {full}"
    return full


def readelf_oracle(path: Path) -> dict:
    """checksec's method: grep readelf's output (independent of both parsers)."""
    def out(*args: str) -> str:
        return subprocess.run(["readelf", *args, str(path)], capture_output=True,
                              text=True).stdout

    header, segments, dynamic = out("-hW"), out("-lW"), out("-dW")
    symbols = out("--dyn-syms", "-W")
    stack = [ln.split() for ln in segments.splitlines() if ln.strip().startswith("GNU_STACK")]
    nx = bool(stack) and "E" not in "".join(stack[0][6:-1])
    bind_now = bool(re.search(r"\(BIND_NOW\)|\(FLAGS\)\s.*\bBIND_NOW\b|"
                              r"\(FLAGS_1\)\s+Flags:.*\bNOW\b", dynamic))
    relro = ("full" if bind_now else "partial") if "GNU_RELRO" in segments else "none"
    etype = re.search(r"Type:\s+(\w+)", header).group(1)
    pie = None
    if etype == "EXEC":
        pie = False
    elif etype == "DYN" and (re.search(r"\(FLAGS_1\)\s+Flags:.*\bPIE\b", dynamic) or
                             ("INTERP" in segments and "(SONAME)" not in dynamic)):
        pie = True
    rows = [ln.split() for ln in symbols.splitlines() if re.match(r"\s*\d+:", ln)]
    names = [(r[7].split("@")[0], r[6]) for r in rows if len(r) >= 8]
    known = len(rows) > 1
    canary = fortify = None
    if known:
        canary = any(n in ("__stack_chk_fail", "__stack_chk_guard", "__stack_chk_fail_local")
                     for n, _ in names)
        fortify = sorted({n for n, ndx in names if ndx == "UND" and re.fullmatch(r"__\w+_chk", n)})
    rpath = re.search(r"\(RPATH\)\s+Library rpath: \[(.*)\]", dynamic)
    runpath = re.search(r"\(RUNPATH\)\s+Library runpath: \[(.*)\]", dynamic)
    return {"nx": nx, "pie": pie, "relro": relro, "bind_now": bind_now, "canary": canary,
            "fortify": fortify, "rpath": rpath and rpath.group(1),
            "runpath": runpath and runpath.group(1)}


def need_readelf() -> None:
    if shutil.which("readelf") is None:
        pytest.skip("readelf not installed")


# ---------------------------------------------------------------------------------------------
# gcc-built variants


EXPECTED = {
    "hardened": dict(nx=True, pie=True, relro="full", bind_now=True, canary=True,
                     rpath=None, runpath=None),
    "plain": dict(nx=True, pie=False, relro="none", bind_now=False, canary=False,
                  fortify=[], rpath=None, runpath=None),
    "execstack": dict(nx=False, pie=True, relro="full", canary=True),
    "partial": dict(nx=True, pie=True, relro="partial", bind_now=False, canary=True),
    "rpath": dict(rpath="/opt/lib:/tmp/x", runpath=None, relro="full"),
    "runpath": dict(rpath=None, runpath="/opt/lib"),
    "stripped": dict(nx=True, pie=True, relro="full", canary=True),
    "sysv-hash": dict(nx=True, pie=True, relro="full", canary=True),
    "library": dict(pie=None, relro="full", canary=True),
    "static": dict(pie=False, canary=None, fortify=None, relro="partial"),
}


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_gcc_variants(built: dict[str, Path], variant: str) -> None:
    if variant not in built:
        pytest.skip(f"{variant} could not be built here")
    path = built[variant]
    h = both(path)
    assert h is not None
    got = h.model_dump(mode="json")
    for key, want in EXPECTED[variant].items():
        assert got[key] == want, (variant, key, got)
    if variant in ("hardened", "execstack", "stripped", "sysv-hash", "rpath", "runpath"):
        assert h.fortify == ["__strcpy_chk"]
    if variant == "library":  # gcc may turn strcpy + strlen into stpcpy
        assert h.fortify and set(h.fortify) <= {"__strcpy_chk", "__stpcpy_chk"}
    if shutil.which("readelf"):
        assert got == readelf_oracle(path), variant


def test_stripped_keeps_hardening_but_loses_symtab(built: dict[str, Path]) -> None:
    stripped, full = lief_info(built["stripped"]), lief_info(built["hardened"])
    assert stripped.stripped and not full.stripped
    assert stripped.hardening == full.hardening


def _sstrip(data: bytes) -> bytes:
    """Drop the section header table reference, as OpenWrt's sstrip does."""
    out = bytearray(data)
    assert out[4] == 2 and out[5] == 1  # 64-bit little-endian (the host's gcc)
    struct.pack_into("<Q", out, 0x28, 0)  # e_shoff
    struct.pack_into("<HHH", out, 0x3A, 0, 0, 0)  # e_shentsize, e_shnum, e_shstrndx
    return bytes(out)


@pytest.mark.parametrize("variant", ["hardened", "sysv-hash", "library", "plain"])
def test_without_section_headers(built: dict[str, Path], tmp_path: Path, variant: str) -> None:
    """The struct path finds the dynamic symbols from DT_GNU_HASH or DT_HASH alone."""
    path = tmp_path / variant
    path.write_bytes(_sstrip(built[variant].read_bytes()))
    h = both(path)
    assert h == lief_info(built[variant]).hardening  # nothing lost with the sections
    assert h.canary is (variant != "plain")


# ---------------------------------------------------------------------------------------------
# real firmware binaries (mipsel Debian) and hand-made cross-architecture ELFs


@pytest.mark.parametrize("rel", SAMPLE_ELFS)
def test_sample_firmware_binaries(rel: str) -> None:
    path = SAMPLE / rel
    h = both(path)
    assert h is not None
    if shutil.which("readelf"):
        assert h.model_dump(mode="json") == readelf_oracle(path), rel


def test_sample_firmware_facts() -> None:
    """What `readelf -lWd` shows for the Debian mipsel build: PIE executables with full
    RELRO, canaries and FORTIFY, but an RWE PT_GNU_STACK (MIPS toolchain default)."""
    dropbear = both(SAMPLE / "usr/sbin/dropbear")
    assert (dropbear.nx, dropbear.pie, dropbear.relro, dropbear.bind_now, dropbear.canary) \
        == (False, True, "full", True, True)
    assert "__snprintf_chk" in dropbear.fortify
    libz = both(SAMPLE / "lib/libz.so.1.2.13")
    assert (libz.pie, libz.relro, libz.canary) == (None, "partial", True)
    assert libz.fortify == ["__snprintf_chk", "__vsnprintf_chk"]
    libc = both(SAMPLE / "lib/libc.so.6")
    assert libc.pie is None  # runnable (PT_INTERP) but a library: it has a DT_SONAME
    assert libc.canary and libc.fortify == []  # defines __stack_chk_fail, imports no _chk


@pytest.mark.parametrize(("elf_class", "little", "machine"),
                         [(32, False, 8), (32, True, 40), (64, False, 21), (64, True, 183)])
def test_handmade_cross_arch(tmp_path: Path, elf_class: int, little: bool,
                             machine: int) -> None:
    data = make_elf(elf_class, little, machine,
                    imported=(b"strcpy", b"__stack_chk_fail", b"__memcpy_chk"),
                    exported=(b"demo_func", b"__not_a_chk_fn"))
    path = tmp_path / "libdemo.so.1"
    path.write_bytes(data)
    h = both(path)
    assert h is not None
    # no PT_GNU_STACK, no PT_GNU_RELRO, a DT_SONAME: a shared library with nothing but SSP
    assert (h.nx, h.pie, h.relro, h.canary, h.fortify) == (
        False, None, "none", True, ["__memcpy_chk"])


def test_handmade_pie_without_df_1_pie(tmp_path: Path) -> None:
    """An ET_DYN with PT_INTERP and no DT_SONAME is a PIE even without DF_1_PIE (old ld)."""
    path = tmp_path / "prog"
    path.write_bytes(make_elf(32, False, 8, soname=None, imported=(b"printf",)))
    h = both(path)
    assert h.pie is True and h.canary is False and h.fortify == []


def test_kernel_modules_and_objects_have_no_hardening(tmp_path: Path) -> None:
    path = tmp_path / "mod.ko"
    path.write_bytes(make_elf(32, True, 40, e_type=1, interp=None, soname=None))
    assert lief_info(path).hardening is None
    assert elf_info_fast(path).hardening is None


# ---------------------------------------------------------------------------------------------
# bad input: never a crash, problems noted


def test_truncated_elf(built: dict[str, Path], tmp_path: Path) -> None:
    data = built["hardened"].read_bytes()
    for cut in (64, 100, 700, 3000, len(data) // 2, len(data) - 100):
        path = tmp_path / f"cut{cut}"
        path.write_bytes(data[:cut])
        info = lief_info(path)
        fast = elf_info_fast(path)
        assert info.parse_error, cut
        assert fast.parse_error, cut
        for h in (info.hardening, fast.hardening):
            if h is not None:
                ElfHardening.model_validate(h.model_dump())


def test_garbage_program_headers(built: dict[str, Path], tmp_path: Path) -> None:
    data = bytearray(built["hardened"].read_bytes())
    phoff, phnum = struct.unpack_from("<Q", data, 0x20)[0], struct.unpack_from("<H", data, 0x38)[0]
    rng = random.Random(7)
    for i in range(25):
        bad = bytearray(data)
        bad[phoff:phoff + phnum * 56] = bytes(rng.randrange(256) for _ in range(phnum * 56))
        path = tmp_path / f"ph{i}"
        path.write_bytes(bytes(bad))
        info = lief_info(path)  # must not raise
        fast = elf_info_fast(path)
        assert info.elf_class == 64 and fast.elf_class == 64
    # program headers pointing past the end of the file
    bad = bytearray(data)
    struct.pack_into("<Q", bad, 0x20, len(data) + 4096)
    path = tmp_path / "ph-beyond"
    path.write_bytes(bytes(bad))
    info = lief_info(path)
    assert info.parse_error and "truncated" in info.parse_error
    assert info.hardening is None or info.hardening.nx is None


def test_hostile_gnu_hash(built: dict[str, Path], tmp_path: Path) -> None:
    """A GNU hash table claiming billions of buckets: the struct path ignores it and counts
    the dynamic symbols from the relocations instead."""
    data = bytearray(_sstrip(built["hardened"].read_bytes()))
    at = data.find(struct.pack("<q", 0x6FFFFEF5))  # DT_GNU_HASH in the dynamic section
    assert at > 0
    vaddr = struct.unpack_from("<Q", data, at + 8)[0]
    # PIE, first PT_LOAD maps offset 0 at address 0: the address is the file offset
    struct.pack_into("<I", data, vaddr, 0xFFFFFFF0)
    path = tmp_path / "hostile"
    path.write_bytes(bytes(data))
    fast = elf_info_fast(path)
    assert fast.hardening == lief_info(built["hardened"]).hardening


def test_random_corruption_never_raises(built: dict[str, Path], tmp_path: Path) -> None:
    data = built["sysv-hash"].read_bytes()
    rng = random.Random(2024)
    for i in range(30):
        bad = bytearray(data)
        for _ in range(40):
            pos = rng.randrange(16, rng.choice([512, 4096, len(bad)]))
            bad[pos] = rng.randrange(256)
        path = tmp_path / f"r{i}"
        path.write_bytes(bytes(bad))
        lief_info(path)
        elf_info_fast(path)


def test_lief_failure_falls_back_with_the_same_facts(built: dict[str, Path],
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    expected = lief_info(built["hardened"]).hardening

    def boom(*args: object) -> None:
        raise RuntimeError("simulated")

    monkeypatch.setattr(elf_mod, "_lief_elf_info", boom)
    info = lief_info(built["hardened"])
    assert info.parse_error and "LIEF failed" in info.parse_error
    assert info.hardening == expected


def _retag(data: bytes, tag: int, value: int, new_tag: int) -> bytes:
    """Change one dynamic entry's tag (64-bit little-endian), e.g. into a harmless DT_DEBUG."""
    old = struct.pack("<qQ", tag, value)
    assert data.count(old) == 1
    return data.replace(old, struct.pack("<qQ", new_tag, value))


def test_bind_now_from_any_of_the_three_flags(built: dict[str, Path], tmp_path: Path) -> None:
    """DF_1_NOW alone makes RELRO full (glibc's loader honours it; checksec's grep does
    not); without any of DT_BIND_NOW, DF_BIND_NOW and DF_1_NOW it is partial."""
    dt_debug, dt_flags, dt_flags_1 = 21, 30, 0x6FFFFFFB
    data = built["hardened"].read_bytes()
    only_flags_1 = _retag(data, dt_flags, 0x8, dt_debug)
    path = tmp_path / "flags1"
    path.write_bytes(only_flags_1)
    h = both(path)
    assert (h.relro, h.bind_now, h.pie) == ("full", True, True)
    neither = _retag(only_flags_1, dt_flags_1, 0x08000001, dt_debug)
    path = tmp_path / "lazy"
    path.write_bytes(neither)
    h = both(path)
    assert (h.relro, h.bind_now) == ("partial", False)
    assert h.pie is True  # PT_INTERP and no DT_SONAME, even without DF_1_PIE
