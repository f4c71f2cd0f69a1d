"""Tests for spyproof.inventory.classify and spyproof.inventory.elf, on real files.

ELFs come from the host and from gcc/as; cross-architecture ELFs are built by hand below
(no cross toolchain on the host), certificates and keys from openssl / ssh-keygen, archives
from the real tools. A test whose tool is missing is skipped.
"""

from __future__ import annotations

import contextlib
import os
import random
import shutil
import sqlite3
import struct
import subprocess
from pathlib import Path

import pytest

from spyproof.inventory import elf as elf_mod
from spyproof.inventory.classify import Classification, classify
from spyproof.inventory.elf import MAX_SYMBOLS, elf_info_fast
from spyproof.models import EntryKind, FileEntry, FileType

HEAD = 4096


def run(path: Path) -> Classification:
    size = path.stat().st_size
    with open(path, "rb") as f:
        head = f.read(HEAD)
    c = classify(path, size, head)
    # whatever comes out must fit the report model and serialise to JSON
    FileEntry(
        tree="t",
        path=path.name,
        kind=EntryKind.file,
        mode="0644",
        file_type=c.file_type,
        description=c.description,
        interpreter=c.interpreter,
        elf=c.elf,
    ).model_dump_json()
    return c


def write(path: Path, data: bytes | str) -> Path:
    if isinstance(data, str):
        data = data.encode()
    path.write_bytes(data)
    return path


def need(*tools: str) -> None:
    for tool in tools:
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} not installed")


def sh(*args: str | Path, cwd: Path | None = None, stdin: bytes | None = None) -> None:
    subprocess.run([str(a) for a in args], cwd=cwd, check=True, capture_output=True, input=stdin)


# ---------------------------------------------------------------------------------------------
# ELF: host binaries

LIBC = Path("/lib/x86_64-linux-gnu/libc.so.6")


def test_bin_ls() -> None:
    c = run(Path("/bin/ls"))
    assert c.file_type is FileType.elf
    e = c.elf
    assert e is not None
    assert (e.elf_class, e.endianness, e.machine) == (64, "little", "X86_64")
    assert e.elf_type == "DYN"
    assert e.interpreter == "/lib64/ld-linux-x86-64.so.2"
    assert "libc.so.6" in e.needed
    assert not e.static
    assert {"opendir", "readdir", "malloc"} <= set(e.imported_symbols)
    assert e.imported_symbols == sorted(set(e.imported_symbols))
    assert e.parse_error is None
    assert c.description.startswith("ELF 64-bit LSB X86_64 pie executable, dynamically linked")
    assert c.interpreter is None  # only scripts have one


@pytest.mark.skipif(not LIBC.exists(), reason="no x86_64 glibc")
def test_shared_library_exports() -> None:
    c = run(LIBC)
    e = c.elf
    assert e is not None
    assert e.soname == "libc.so.6"
    assert {"printf", "malloc", "strcpy", "environ"} <= set(e.exported_symbols)
    assert "GLIBC_2.2.5" not in e.exported_symbols  # version markers are not exports
    assert e.exported_symbols == sorted(set(e.exported_symbols))
    assert "shared object" in c.description
    assert e.stripped


SAMPLE_ROOTFS = Path(__file__).resolve().parents[1] / "examples" / "sample-firmware" / "rootfs"


@pytest.mark.skipif(not (SAMPLE_ROOTFS / "bin" / "busybox").exists(), reason="no sample rootfs")
def test_real_mips_binaries_from_sample_firmware() -> None:
    c = run(SAMPLE_ROOTFS / "bin" / "busybox")
    e = c.elf
    assert e is not None
    assert (e.elf_class, e.endianness, e.machine, e.elf_type) == (32, "little", "MIPS", "DYN")
    assert e.interpreter == "/lib/ld.so.1"
    assert e.needed == ["libresolv.so.2", "libc.so.6", "ld.so.1"]  # readelf -d order
    assert {"socket", "execve"} <= set(e.imported_symbols)
    assert c.description == "ELF 32-bit LSB MIPS pie executable, dynamically linked, stripped"
    lib = run(SAMPLE_ROOTFS / "usr" / "lib" / "libcrypto.so.3")
    assert lib.elf is not None
    assert lib.elf.soname == "libcrypto.so.3"
    assert "EVP_EncryptInit_ex" in lib.elf.exported_symbols
    assert len(lib.elf.exported_symbols) > 5000
    assert "shared object" in lib.description


# ---------------------------------------------------------------------------------------------
# ELF: built with gcc / as


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    need("gcc", "strip")
    d = tmp_path_factory.mktemp("elf")
    write(
        d / "prog.c",
        "#include <string.h>\n#include <stdio.h>\n"
        "int main(int c, char **v) { char b[64]; strcpy(b, v[0]); puts(b); return 0; }\n",
    )
    write(
        d / "lib.c",
        "int demo_var = 42;\n"
        "int demo_func(int x) { return x + demo_var; }\n"
        "static int demo_static(int x) { return x; }\n"
        '__attribute__((visibility("hidden"))) int demo_hidden(int x)'
        " { return demo_static(x); }\n",
    )
    sh("gcc", "-O0", "-fno-builtin", "-o", "prog", "prog.c", cwd=d)
    sh("cp", "prog", "prog.stripped", cwd=d)
    sh("strip", "prog.stripped", cwd=d)
    sh("gcc", "-shared", "-fPIC", "-Wl,-soname,libdemo.so.1", "-o", "libdemo.so", "lib.c", cwd=d)
    sh("gcc", "-c", "-o", "lib.o", "lib.c", cwd=d)
    with contextlib.suppress(subprocess.CalledProcessError):  # no static libc: test skips
        sh("gcc", "-static", "-O0", "-fno-builtin", "-o", "prog.static", "prog.c", cwd=d)
    if shutil.which("as") and shutil.which("ld"):
        write(d / "s.s", ".globl _start\n_start:\n movl $1,%eax\n xorl %ebx,%ebx\n int $0x80\n")
        try:
            sh("as", "--32", "-o", "s32.o", "s.s", cwd=d)
            sh("ld", "-m", "elf_i386", "-o", "s32", "s32.o", cwd=d)
        except subprocess.CalledProcessError:
            pass
    return d


def test_compiled_program_imports_strcpy(built: Path) -> None:
    c = run(built / "prog")
    e = c.elf
    assert e is not None
    assert "strcpy" in e.imported_symbols and "puts" in e.imported_symbols
    assert "strcpy" not in e.exported_symbols
    assert e.needed == ["libc.so.6"]
    assert not e.stripped
    assert c.description.endswith("not stripped")


def test_stripped_vs_unstripped(built: Path) -> None:
    plain, stripped = run(built / "prog").elf, run(built / "prog.stripped").elf
    assert plain is not None and stripped is not None
    assert plain.stripped is False
    assert stripped.stripped is True
    # strip keeps the dynamic symbol table
    assert stripped.imported_symbols == plain.imported_symbols
    assert run(built / "prog.stripped").description.endswith(", stripped")


def test_compiled_shared_library(built: Path) -> None:
    c = run(built / "libdemo.so")
    e = c.elf
    assert e is not None
    assert e.soname == "libdemo.so.1"
    assert e.elf_type == "DYN"
    assert e.interpreter is None
    assert {"demo_func", "demo_var"} <= set(e.exported_symbols)
    assert "demo_static" not in e.exported_symbols
    assert "demo_hidden" not in e.exported_symbols
    assert "shared object" in c.description


def test_relocatable_object(built: Path) -> None:
    c = run(built / "lib.o")
    assert c.file_type is FileType.elf
    assert c.elf is not None and c.elf.elf_type == "REL"
    assert "relocatable" in c.description


def test_static_binary(built: Path) -> None:
    path = built / "prog.static"
    if not path.exists():
        pytest.skip("gcc -static failed (no static libc)")
    c = run(path)
    e = c.elf
    assert e is not None
    assert e.static
    assert e.interpreter is None and e.needed == []
    assert "statically linked" in c.description


def test_i386_binary(built: Path) -> None:
    path = built / "s32"
    if not path.exists():
        pytest.skip("no 32-bit assembler/linker")
    c = run(path)
    e = c.elf
    assert e is not None
    assert (e.elf_class, e.machine, e.elf_type) == (32, "I386", "EXEC")
    assert e.static
    assert c.description.startswith("ELF 32-bit LSB I386 executable")


# ---------------------------------------------------------------------------------------------
# ELF: cross-architecture, hand-built (no cross toolchain on the host)


def _sysv_hash(name: bytes) -> int:
    h = 0
    for c in name:
        h = (h << 4) + c
        g = h & 0xF0000000
        if g:
            h ^= g >> 24
        h &= ~g & 0xFFFFFFFF
    return h


def make_elf(
    elf_class: int,
    little: bool,
    machine: int,
    *,
    e_type: int = 3,
    interp: bytes | None = b"/lib/ld-musl.so.1",
    needed: tuple[bytes, ...] = (b"libc.so",),
    soname: bytes | None = b"libdemo.so.1",
    exported: tuple[bytes, ...] = (b"demo_func",),
    imported: tuple[bytes, ...] = (b"strcpy",),
) -> bytes:
    """A minimal ELF without section headers (like an sstrip'ed OpenWrt binary): PT_LOAD,
    PT_INTERP, PT_DYNAMIC with DT_NEEDED / DT_SONAME / DT_HASH, and a .dynsym."""
    e = "<" if little else ">"
    is32 = elf_class == 32
    ehsize, phentsize = (52, 32) if is32 else (64, 56)
    base = 0x10000
    nph = 3 if interp else 2
    start = ehsize + nph * phentsize
    blob = bytearray()

    def place(data: bytes, align: int = 8) -> int:
        while (start + len(blob)) % align:
            blob.append(0)
        at = start + len(blob)
        blob.extend(data)
        return at

    interp_off = place(interp + b"\0") if interp else 0
    strtab = bytearray(b"\0")

    def string(name: bytes) -> int:
        at = len(strtab)
        strtab.extend(name + b"\0")
        return at

    needed_idx = [string(n) for n in needed]
    soname_idx = string(soname) if soname else None
    syms = [(0, 0, 0, 0)]  # (st_name, st_info, st_shndx, st_value)
    syms += [(string(n), 0x12, 1, base + 0x100) for n in exported]  # GLOBAL FUNC
    syms += [(string(n), 0x12, 0, 0) for n in imported]
    strtab_off = place(bytes(strtab))
    if is32:
        table = b"".join(struct.pack(e + "IIIBBH", n, v, 0, i, 0, x) for n, i, x, v in syms)
    else:
        table = b"".join(struct.pack(e + "IBBHQQ", n, i, 0, x, v, 0) for n, i, x, v in syms)
    symtab_off = place(table)
    nsym = len(syms)
    names = [b"", *exported, *imported]
    nbucket = max(1, nsym // 4)
    bucket, chain = [0] * nbucket, [0] * nsym
    for idx in range(1, nsym):  # a real SysV hash table (LIEF sanity-checks chain lengths)
        slot = _sysv_hash(names[idx]) % nbucket
        chain[idx], bucket[slot] = bucket[slot], idx
    hash_off = place(struct.pack(e + f"II{nbucket}I{nsym}I", nbucket, nsym, *bucket, *chain), 4)
    dyn = [(1, i) for i in needed_idx]
    if soname_idx is not None:
        dyn.append((14, soname_idx))
    dyn += [
        (5, base + strtab_off),
        (10, len(strtab)),
        (6, base + symtab_off),
        (11, 16 if is32 else 24),
        (4, base + hash_off),
        (0, 0),
    ]
    dyn_bytes = b"".join(struct.pack(e + ("iI" if is32 else "qQ"), t, v) for t, v in dyn)
    dyn_off = place(dyn_bytes)
    total = start + len(blob)

    def phdr(p_type: int, off: int, size: int, flags: int) -> bytes:
        align = 0x1000 if p_type == 1 else 4
        if is32:
            return struct.pack(
                e + "8I", p_type, off, base + off, base + off, size, size, flags, align
            )
        return struct.pack(
            e + "IIQQQQQQ", p_type, flags, off, base + off, base + off, size, size, align
        )

    phdrs = [phdr(3, interp_off, len(interp) + 1, 4)] if interp else []
    phdrs += [phdr(1, 0, total, 5), phdr(2, dyn_off, len(dyn_bytes), 6)]
    ident = b"\x7fELF" + bytes([1 if is32 else 2, 1 if little else 2, 1, 0]) + bytes(8)
    fmt = e + ("HHIIIIIHHHHHH" if is32 else "HHIQQQIHHHHHH")
    hdr = ident + struct.pack(
        fmt,
        e_type,
        machine,
        1,
        base + 0x100,
        ehsize,
        0,
        0,
        ehsize,
        phentsize,
        nph,
        40 if is32 else 64,
        0,
        0,
    )
    return hdr + b"".join(phdrs) + bytes(blob)


@pytest.mark.parametrize(
    ("elf_class", "little", "e_machine", "machine", "prefix"),
    [
        (32, False, 8, "MIPS", "ELF 32-bit MSB MIPS"),
        (32, True, 8, "MIPS", "ELF 32-bit LSB MIPS"),
        (32, True, 40, "ARM", "ELF 32-bit LSB ARM"),
        (64, True, 183, "AARCH64", "ELF 64-bit LSB AARCH64"),
        (32, False, 20, "PPC", "ELF 32-bit MSB PPC"),
        (64, False, 21, "PPC64", "ELF 64-bit MSB PPC64"),
        (64, True, 243, "RISCV", "ELF 64-bit LSB RISCV"),
    ],
)
def test_cross_arch_handmade(
    tmp_path: Path, elf_class: int, little: bool, e_machine: int, machine: str, prefix: str
) -> None:
    path = write(tmp_path / "libdemo.so.1", make_elf(elf_class, little, e_machine))
    c = run(path)
    assert c.file_type is FileType.elf
    e = c.elf
    assert e is not None
    assert e.parse_error is None
    assert (e.elf_class, e.endianness, e.machine) == (
        elf_class,
        "little" if little else "big",
        machine,
    )
    assert e.interpreter == "/lib/ld-musl.so.1"
    assert e.needed == ["libc.so"]
    assert e.soname == "libdemo.so.1"
    assert e.exported_symbols == ["demo_func"]
    assert e.imported_symbols == ["strcpy"]
    assert e.stripped  # no section headers at all
    assert c.description.startswith(prefix + " shared object")
    fast = elf_info_fast(path)
    assert (fast.machine, fast.needed, fast.soname, fast.interpreter) == (
        machine,
        ["libc.so"],
        "libdemo.so.1",
        "/lib/ld-musl.so.1",
    )
    assert fast.exported_symbols == [] and fast.parse_error is None


def test_non_utf8_names_are_escaped(tmp_path: Path) -> None:
    data = make_elf(
        32,
        True,
        8,
        interp=b"/lib/ld\xff.so",
        needed=(b"libc\xfe.so",),
        exported=(b"ok_fn", b"bad\xff_fn"),
        imported=(b"imp\xc3",),
    )
    e = run(write(tmp_path / "odd.so", data)).elf
    assert e is not None
    assert e.interpreter == "/lib/ld\\xff.so"
    assert e.needed == ["libc\\xfe.so"]
    assert e.exported_symbols == ["bad\\xff_fn", "ok_fn"]
    assert e.imported_symbols == ["imp\\xc3"]
    assert e.parse_error == "2 dynamic symbol names are not UTF-8 (backslash-escaped)"


def test_symbol_lists_are_capped(tmp_path: Path) -> None:
    names = tuple(f"sym{i:06d}".encode() for i in range(MAX_SYMBOLS + 5))
    path = write(tmp_path / "big.so", make_elf(32, True, 40, exported=names, imported=()))
    c = run(path)
    assert c.elf is not None
    assert len(c.elf.exported_symbols) == MAX_SYMBOLS
    assert c.elf.exported_symbols[-1] == f"sym{MAX_SYMBOLS - 1:06d}"
    assert f"exported symbols truncated to {MAX_SYMBOLS}" in c.description


# ---------------------------------------------------------------------------------------------
# ELF: broken input and fallbacks


def test_truncated_elf(tmp_path: Path) -> None:
    data = Path("/bin/ls").read_bytes()
    for cut in (3000, 200, 64):
        path = write(tmp_path / f"ls.{cut}", data[:cut])
        c = run(path)
        assert c.file_type is FileType.elf
        assert c.elf is not None
        assert c.elf.machine == "X86_64"
        assert c.elf.parse_error and "truncated" in c.elf.parse_error
        assert "parse error" in c.description


def test_truncated_elf_header(tmp_path: Path) -> None:
    path = write(tmp_path / "ls.30", Path("/bin/ls").read_bytes()[:30])
    c = run(path)
    assert c.file_type is FileType.data
    assert "corrupt header" in c.description and "truncated" in c.description


def test_random_bytes_after_magic(tmp_path: Path) -> None:
    rng = random.Random(1234)
    for i in range(60):
        ident = bytes([rng.choice([1, 2, 7]), rng.choice([1, 2, 0]), 1])
        body = bytes(rng.randrange(256) for _ in range(rng.randrange(0, 6000)))
        path = write(tmp_path / f"r{i}", b"\x7fELF" + ident + body)
        c = run(path)  # must not raise
        assert c.file_type in (FileType.elf, FileType.data)
        if c.file_type is FileType.elf:
            assert c.elf is not None
        fast = elf_info_fast(path)
        assert fast.elf_class in (0, 32, 64)


def test_corrupted_real_elf_does_not_crash(tmp_path: Path) -> None:
    rng = random.Random(99)
    original = bytearray(Path("/bin/ls").read_bytes())
    for i in range(40):
        data = bytearray(original)
        for _ in range(20):
            pos = rng.randrange(16, rng.choice([64, 1024, len(data)]))
            data[pos] = rng.randrange(256)
        c = run(write(tmp_path / f"c{i}", bytes(data)))
        assert c.file_type in (FileType.elf, FileType.data)


def test_elf_info_fast_matches_lief_on_host() -> None:
    for path in (Path("/bin/ls"), LIBC):
        if not path.exists():
            continue
        full = run(path).elf
        fast = elf_info_fast(path)
        assert full is not None
        for field in (
            "elf_class",
            "endianness",
            "machine",
            "elf_type",
            "interpreter",
            "needed",
            "soname",
            "stripped",
            "static",
        ):
            assert getattr(fast, field) == getattr(full, field), field


def test_fallback_when_lief_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(*args: object) -> None:
        raise RuntimeError("simulated")

    monkeypatch.setattr(elf_mod, "_lief_elf_info", boom)
    c = run(Path("/bin/ls"))
    assert c.file_type is FileType.elf
    e = c.elf
    assert e is not None
    assert e.parse_error and "LIEF failed" in e.parse_error
    assert "libc.so.6" in e.needed  # still read by the struct parser
    assert e.imported_symbols == []


def test_large_files_skip_lief(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(elf_mod, "MAX_LIEF_SIZE", 1024)
    e = run(Path("/bin/ls")).elf
    assert e is not None
    assert "libc.so.6" in e.needed
    assert e.parse_error and "symbols not read" in e.parse_error


# ---------------------------------------------------------------------------------------------
# scripts


@pytest.mark.parametrize(
    ("content", "interpreter", "description"),
    [
        ("#!/bin/sh\necho hi\n", "/bin/sh", "POSIX shell script"),
        ("#! /bin/bash -e\nset -u\n", "/bin/bash", "Bash script"),
        ("#!/usr/bin/lua\nprint(1)\n", "/usr/bin/lua", "Lua script"),
        ("#!/usr/bin/env python3\nprint(1)\n", "python3", "Python script (via /usr/bin/env)"),
        ("#!/usr/bin/env -S perl -w\n1;\n", "perl", "Perl script (via /usr/bin/env)"),
        ("#!/usr/bin/ucode -S\nprint(1);\n", "/usr/bin/ucode", "ucode script"),
        ("#!/bin/busybox ash\n", "/bin/busybox", "POSIX shell script (via /bin/busybox)"),
        ("#!/usr/bin/python3.11\r\npass\r\n", "/usr/bin/python3.11", "Python script"),
    ],
)
def test_scripts(tmp_path: Path, content: str, interpreter: str, description: str) -> None:
    c = run(write(tmp_path / "script", content))
    assert c.file_type is FileType.script
    assert c.interpreter == interpreter
    assert c.description == description


def test_rust_attribute_is_not_a_shebang(tmp_path: Path) -> None:
    c = run(write(tmp_path / "lib.rs", "#![allow(dead_code)]\nfn main() {}\n"))
    assert c.file_type is not FileType.script


def test_lua_bytecode(tmp_path: Path) -> None:
    c = run(write(tmp_path / "x.luac", b"\x1bLuaQ\x00\x01\x04\x04\x04\x08\x00" + bytes(40)))
    assert c.file_type is FileType.data
    assert c.description == "Lua bytecode 5.1"


# ---------------------------------------------------------------------------------------------
# certificates and keys


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Path:
    need("openssl")
    d = tmp_path_factory.mktemp("pki")
    sh(
        "openssl",
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "key.pem",
        "-out",
        "cert.pem",
        "-days",
        "1",
        "-subj",
        "/CN=spyproof-test",
        cwd=d,
    )
    sh("openssl", "x509", "-in", "cert.pem", "-outform", "der", "-out", "cert.der", cwd=d)
    sh(
        "openssl",
        "pkcs12",
        "-export",
        "-in",
        "cert.pem",
        "-inkey",
        "key.pem",
        "-passout",
        "pass:x",
        "-out",
        "pw.p12",
        cwd=d,
    )
    sh(
        "openssl",
        "pkcs12",
        "-export",
        "-in",
        "cert.pem",
        "-inkey",
        "key.pem",
        "-passout",
        "pass:",
        "-out",
        "nopw.p12",
        cwd=d,
    )
    sh("openssl", "pkey", "-in", "key.pem", "-pubout", "-out", "pub.pem", cwd=d)
    sh("openssl", "rsa", "-in", "key.pem", "-traditional", "-out", "rsa.pem", cwd=d)
    sh("openssl", "pkey", "-in", "key.pem", "-outform", "der", "-out", "key.der", cwd=d)
    sh(
        "openssl",
        "pkcs8",
        "-topk8",
        "-in",
        "key.pem",
        "-passout",
        "pass:x",
        "-out",
        "enc.pem",
        cwd=d,
    )
    return d


def test_pem_certificate(pki: Path) -> None:
    c = run(pki / "cert.pem")
    assert (c.file_type, c.description) == (FileType.certificate, "PEM certificate")


def test_pem_bundle_larger_than_head(pki: Path, tmp_path: Path) -> None:
    cert = (pki / "cert.pem").read_bytes()
    path = write(tmp_path / "bundle.crt", b"# CA bundle\n" + cert * 5)
    assert path.stat().st_size > HEAD
    c = run(path)
    assert c.file_type is FileType.certificate
    assert c.description == "PEM certificate bundle (5 certificates)"


def test_pem_private_keys(pki: Path) -> None:
    c = run(pki / "key.pem")
    assert c.file_type is FileType.private_key
    assert c.description == "PEM private key (PKCS#8) (unencrypted)"
    c = run(pki / "rsa.pem")
    assert (c.file_type, c.description) == (
        FileType.private_key,
        "PEM RSA private key (unencrypted)",
    )
    c = run(pki / "enc.pem")
    assert (c.file_type, c.description) == (
        FileType.private_key,
        "PEM encrypted private key (PKCS#8)",
    )


def test_pem_key_and_certificate_together(pki: Path, tmp_path: Path) -> None:
    both = (pki / "cert.pem").read_bytes() + (pki / "rsa.pem").read_bytes()
    c = run(write(tmp_path / "uhttpd.pem", both))
    assert c.file_type is FileType.private_key  # the key is what matters
    assert c.description == "PEM RSA private key (unencrypted) + 1 certificate"


def test_pem_key_inside_other_text(pki: Path, tmp_path: Path) -> None:
    data = b"some: config\nkey: |\n" + (pki / "rsa.pem").read_bytes()
    assert run(write(tmp_path / "blob.yaml", data)).file_type is FileType.private_key


def test_pem_public_key(pki: Path) -> None:
    c = run(pki / "pub.pem")
    assert (c.file_type, c.description) == (FileType.public_key, "PEM public key")


def test_der_certificate(pki: Path) -> None:
    c = run(pki / "cert.der")
    assert (c.file_type, c.description) == (FileType.certificate, "DER certificate")


def test_der_private_key(pki: Path) -> None:
    c = run(pki / "key.der")
    assert (c.file_type, c.description) == (FileType.private_key, "DER private key")


def test_pkcs12(pki: Path) -> None:
    c = run(pki / "pw.p12")
    assert (c.file_type, c.description) == (FileType.private_key, "PKCS#12 (password-protected)")
    c = run(pki / "nopw.p12")
    assert (c.file_type, c.description) == (FileType.private_key, "PKCS#12 (no password)")


def test_openssh_keys(tmp_path: Path) -> None:
    need("ssh-keygen")
    sh("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", tmp_path / "id_ed25519")
    sh("ssh-keygen", "-q", "-t", "ed25519", "-N", "secret", "-f", tmp_path / "id_enc")
    c = run(tmp_path / "id_ed25519")
    assert (c.file_type, c.description) == (
        FileType.private_key,
        "OpenSSH private key (unencrypted)",
    )
    c = run(tmp_path / "id_enc")
    assert (c.file_type, c.description) == (FileType.private_key, "OpenSSH private key (encrypted)")
    c = run(tmp_path / "id_ed25519.pub")
    assert (c.file_type, c.description) == (FileType.public_key, "OpenSSH public key (ssh-ed25519)")
    pub = (tmp_path / "id_ed25519.pub").read_text()
    keys = "# keys\n" + pub + 'command="/bin/true",no-pty ' + pub
    c = run(write(tmp_path / "authorized_keys", keys))
    assert (c.file_type, c.description) == (FileType.public_key, "SSH public keys (2 keys)")


def _ssh_string(data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + data


def test_dropbear_host_keys(tmp_path: Path) -> None:
    ed = _ssh_string(b"ssh-ed25519") + _ssh_string(os.urandom(64))
    c = run(write(tmp_path / "dropbear_ed25519_host_key", ed))
    assert (c.file_type, c.description) == (
        FileType.private_key,
        "Dropbear private key (ssh-ed25519)",
    )
    rsa = _ssh_string(b"ssh-rsa") + b"".join(
        _ssh_string(os.urandom(n)) for n in (3, 257, 256, 128, 128)
    )
    c = run(write(tmp_path / "dropbear_rsa_host_key", rsa))
    assert (c.file_type, c.description) == (FileType.private_key, "Dropbear private key (ssh-rsa)")
    blob = _ssh_string(b"ssh-rsa") + _ssh_string(b"\x01\x00\x01") + _ssh_string(os.urandom(257))
    assert run(write(tmp_path / "pub.blob", blob)).file_type is FileType.public_key


# ---------------------------------------------------------------------------------------------
# archives, compressed data and filesystem images


@pytest.fixture(scope="module")
def payload(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("archives")
    src = d / "src"
    src.mkdir()
    write(src / "hello.txt", "hello world\n" * 200)
    write(src / "etc.conf", "a=1\nb=2\n")
    return d


@pytest.mark.parametrize(
    ("tool", "args", "description"),
    [
        ("gzip", [], "gzip compressed data"),
        ("xz", [], "xz compressed data"),
        ("bzip2", [], "bzip2 compressed data"),
        ("zstd", ["-q"], "zstd compressed data"),
        ("lz4", ["-q"], "LZ4 compressed data (frame)"),
        ("lzma", [], "LZMA compressed data (lzma-alone)"),
        ("lzop", [], "lzop compressed data"),
    ],
)
def test_compressors(payload: Path, tool: str, args: list[str], description: str) -> None:
    need(tool)
    out = payload / f"hello.{tool}"
    with open(payload / "src" / "hello.txt", "rb") as src, open(out, "wb") as dst:
        subprocess.run([tool, *args, "-c"], stdin=src, stdout=dst, check=True)
    c = run(out)
    assert (c.file_type, c.description) == (FileType.archive, description)


def test_tar_formats(payload: Path) -> None:
    need("tar")
    expected = {
        "gnu": "tar archive (GNU)",
        "posix": "tar archive (POSIX)",
        "v7": "tar archive (v7)",
    }
    for fmt, description in expected.items():
        out = payload / f"t.{fmt}.tar"
        sh("tar", f"--format={fmt}", "-cf", out, "-C", payload / "src", ".")
        c = run(out)
        assert (c.file_type, c.description) == (FileType.archive, description), fmt


def test_zip_and_7z(payload: Path) -> None:
    need("zip")
    sh("zip", "-q", "-r", payload / "a.zip", ".", cwd=payload / "src")
    assert run(payload / "a.zip").description == "zip archive"
    if shutil.which("7z"):
        sh("7z", "a", "-bd", payload / "a.7z", payload / "src" / "hello.txt")
        c = run(payload / "a.7z")
        assert (c.file_type, c.description) == (FileType.archive, "7-zip archive")


def test_cpio_formats(payload: Path) -> None:
    need("cpio")
    expected = {
        "newc": "cpio archive (newc)",
        "crc": "cpio archive (newc with CRC)",
        "odc": "cpio archive (odc)",
        "bin": "cpio archive (old binary)",
    }
    for fmt, description in expected.items():
        out = payload / f"a.{fmt}.cpio"
        with open(out, "wb") as f:
            subprocess.run(
                ["cpio", "-o", "--quiet", "-H", fmt],
                cwd=payload / "src",
                input=b"hello.txt\netc.conf\n",
                stdout=f,
                check=True,
            )
        c = run(out)
        assert (c.file_type, c.description) == (FileType.archive, description), fmt


def test_squashfs(payload: Path) -> None:
    need("mksquashfs")
    out = payload / "root.sqfs"
    sh("mksquashfs", payload / "src", out, "-noappend", "-quiet", "-no-progress")
    c = run(out)
    assert c.file_type is FileType.archive
    assert c.description == "squashfs filesystem, little endian, version 4.0"


def test_uimage(payload: Path) -> None:
    need("mkimage")
    kernel = write(payload / "kernel.bin", os.urandom(2048))
    out = payload / "uImage"
    sh(
        "mkimage",
        "-A",
        "mips",
        "-O",
        "linux",
        "-T",
        "kernel",
        "-C",
        "lzma",
        "-a",
        "0x80000000",
        "-e",
        "0x80000000",
        "-n",
        "MIPS OpenWrt Linux-5.15",
        "-d",
        kernel,
        out,
    )
    c = run(out)
    assert c.file_type is FileType.archive
    assert c.description == (
        "uImage (U-Boot legacy image), kernel, MIPS, lzma, 'MIPS OpenWrt Linux-5.15'"
    )


def test_ar_and_ipk(payload: Path) -> None:
    need("ar")
    write(payload / "debian-binary", "2.0\n")
    sh("ar", "rc", payload / "pkg.ipk", payload / "debian-binary", cwd=payload)
    c = run(payload / "pkg.ipk")
    assert (c.file_type, c.description) == (FileType.archive, "Debian/ipk package (ar archive)")
    sh("ar", "rc", payload / "plain.a", payload / "src" / "hello.txt")
    assert run(payload / "plain.a").description.startswith("ar archive")


def test_ext4_image(payload: Path) -> None:
    need("mke2fs")
    out = payload / "fs.ext4"
    sh("dd", "if=/dev/zero", f"of={out}", "bs=1k", "count=2048")
    sh("mke2fs", "-q", "-F", "-t", "ext4", out)
    c = run(out)
    assert (c.file_type, c.description) == (FileType.archive, "ext4 filesystem image")
    out2 = payload / "fs.ext2"
    sh("dd", "if=/dev/zero", f"of={out2}", "bs=1k", "count=2048")
    sh("mke2fs", "-q", "-F", "-t", "ext2", out2)
    assert run(out2).description == "ext2 filesystem image"


def test_jffs2_image(payload: Path) -> None:
    need("mkfs.jffs2")
    little, big = payload / "fs.jffs2", payload / "fs-be.jffs2"
    sh("mkfs.jffs2", "-l", "-r", payload / "src", "-o", little)
    sh("mkfs.jffs2", "-b", "-r", payload / "src", "-o", big)
    assert run(little).description == "JFFS2 filesystem, little endian"
    assert run(big).description == "JFFS2 filesystem, big endian"
    assert run(big).file_type is FileType.archive


def test_ubi_image(payload: Path) -> None:
    need("ubinize")
    vol = write(payload / "vol.bin", os.urandom(4096))
    ini = write(
        payload / "ubi.ini",
        f"[rootfs]\nmode=ubi\nimage={vol}\nvol_id=0\nvol_type=dynamic\nvol_name=rootfs\n"
        "vol_flags=autoresize\n",
    )
    out = payload / "image.ubi"
    sh("ubinize", "-o", out, "-m", "2048", "-p", "128KiB", "-s", "2048", ini)
    c = run(out)
    assert (c.file_type, c.description) == (FileType.archive, "UBI image")


# ---------------------------------------------------------------------------------------------
# config and text


@pytest.mark.parametrize(
    ("name", "content", "description"),
    [
        (
            "network",
            "\nconfig interface 'loopback'\n\toption device 'lo'\n\toption proto 'static'\n\n"
            "config interface 'lan'\n\toption proto 'static'\n\tlist dns '1.1.1.1'\n",
            "OpenWrt UCI config",
        ),
        (
            "smb.conf",
            "; comment\n[global]\nworkgroup = WORKGROUP\n\n[share]\npath=/mnt\n",
            "INI config",
        ),
        ("c.json", '{"a": 1, "b": [1, 2, {"c": null}]}\n', "JSON"),
        ("list.json", '[{"a": 1}]', "JSON"),
        (
            "openwrt_release",
            "DISTRIB_ID='OpenWrt'\nDISTRIB_RELEASE='23.05.2'\nDISTRIB_REVISION='r23630'\n",
            "key=value config",
        ),
        (
            "sshd_config",
            "# sshd\nPort 22\nPermitRootLogin no\nPasswordAuthentication no\n"
            "Subsystem sftp /usr/lib/sftp-server\n",
            "key value config",
        ),
        ("hosts", "127.0.0.1 localhost\n::1 localhost ip6-localhost\n", "key value config"),
        ("c.yaml", "---\nserver:\n  port: 8080\n  hosts:\n    - a\n    - b\n", "YAML"),
        ("settings.xml", '<?xml version="1.0"?>\n<config><a>1</a></config>\n', "XML document"),
        (
            "passwd",
            "root:x:0:0:root:/root:/bin/ash\ndaemon:*:1:1:daemon:/var:/bin/false\n"
            "nobody:*:65534:65534:nobody:/var:/bin/false\n",
            "passwd-style records",
        ),
        (
            "shadow",
            "root:$1$abc$def:19000:0:99999:7:::\ndaemon:*:0:0:99999:7:::\n",
            "shadow-style records",
        ),
        ("group", "root:x:0:\ndaemon:x:1:\nnetwork:x:101:\n", "group-style records"),
        (
            "inittab",
            "::sysinit:/etc/init.d/rcS S boot\n::shutdown:/etc/init.d/rcS K shutdown\n"
            "ttyS0::askfirst:/usr/libexec/login.sh\n",
            "colon-separated records",
        ),
        ("sysctl.conf", "# all commented out\n# net.ipv4.ip_forward=1\n", "config (comments only)"),
    ],
)
def test_config_files(tmp_path: Path, name: str, content: str, description: str) -> None:
    c = run(write(tmp_path / name, content))
    assert (c.file_type, c.description) == (FileType.config, description)


def test_long_config_truncated_in_head(tmp_path: Path) -> None:
    lines = "".join(
        f"config rule 'r{i}'\n\toption name 'Rule {i}'\n\toption target 'ACCEPT'\n"
        for i in range(200)
    )
    path = write(tmp_path / "firewall", lines)
    assert path.stat().st_size > HEAD
    assert run(path).description == "OpenWrt UCI config"


@pytest.mark.parametrize(
    ("content", "description"),
    [
        (
            "This is a README file. It explains things in full sentences.\n"
            "Another line of prose follows here, also rather long.\n",
            "ASCII text",
        ),
        ("Grüße aus München, das ist ein ganz normaler Satz mit Umlauten.\n", "UTF-8 text"),
        ("<!DOCTYPE html>\n<html><body>hi</body></html>\n", "HTML document"),
        ("OpenWrt\n", "ASCII text"),
    ],
)
def test_text_files(tmp_path: Path, content: str, description: str) -> None:
    c = run(write(tmp_path / "t", content))
    assert (c.file_type, c.description) == (FileType.text, description)


def test_shell_without_shebang_is_text(tmp_path: Path) -> None:
    body = 'if [ -f /etc/x ]; then\n\techo "found"\nfi\nfor i in 1 2; do\n\techo $i\ndone\n'
    assert run(write(tmp_path / "functions.sh", body)).file_type is FileType.text


def test_utf8_cut_at_head_boundary(tmp_path: Path) -> None:
    data = ("ä" * 3000).encode()  # 6000 bytes; byte 4096 cuts nothing, 4095 would
    path = write(tmp_path / "u", b"x" + data)
    assert run(path).file_type is FileType.text


# ---------------------------------------------------------------------------------------------
# empty, media and data


def test_empty(tmp_path: Path) -> None:
    c = run(write(tmp_path / "empty", b""))
    assert (c.file_type, c.description) == (FileType.empty, "empty")


def test_random_data(tmp_path: Path) -> None:
    c = run(write(tmp_path / "rnd", b"\x00\x01" + os.urandom(8192)))
    assert (c.file_type, c.description) == (FileType.data, "data")


def test_media_and_databases(tmp_path: Path) -> None:
    png = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(40)
    assert run(write(tmp_path / "a.png", png)).description == "PNG image"
    jpeg = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + bytes(40)
    assert run(write(tmp_path / "a.jpg", jpeg)).description == "JPEG image"
    assert run(write(tmp_path / "a.gif", b"GIF89a" + bytes(40))).description == "GIF image"
    ico = b"\x00\x00\x01\x00\x01\x00\x10\x10\x00\x00\x01\x00\x20\x00" + bytes(40)
    assert run(write(tmp_path / "favicon.ico", ico)).description == "ICO image"
    pdf = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n" + bytes(40)
    assert run(write(tmp_path / "a.pdf", pdf)).description == "PDF document"
    db = tmp_path / "a.db"
    with sqlite3.connect(db) as conn:
        conn.execute("create table t (x)")
    c = run(db)
    assert (c.file_type, c.description) == (FileType.data, "SQLite 3 database")


def test_never_raises_on_unreadable_path(tmp_path: Path) -> None:
    missing = tmp_path / "gone"
    # an ELF head whose file vanished before LIEF could reopen it
    c = classify(missing, 10_000, Path("/bin/ls").read_bytes()[:HEAD])
    assert c.file_type is FileType.elf
    assert c.elf is not None and c.elf.parse_error
    # a DER-looking head whose file vanished
    c = classify(missing, 5000, b"\x30\x82\x13\x86" + bytes(100))
    assert c.file_type is FileType.data
