"""The engineering check (clause NS-6): missing hardening, unsafe calls, the image-wide
summary and duplicated libraries.

Binaries are compiled with gcc in the hardening variants that matter; the sample
firmware's real mipsel Debian binaries are the clean negative for duplicates and the
reference for a hardened-but-executable-stack build. The data file is tested entry by entry
on synthetic inventory entries (a positive and a negative each).
"""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path

import pytest

from checks_util import tree_context, write
from spyproof.checks.base import CheckContext
from spyproof.checks.engineering import CHECK
from spyproof.checks.engineering_data import CatalogError, catalog, parse
from spyproof.checks.runner import run_checks
from spyproof.identify.pipeline import identify
from spyproof.models import (
    CheckRun,
    Component,
    ElfHardening,
    ElfInfo,
    EntryKind,
    Evidence,
    FileEntry,
    FileType,
    Finding,
)

SAMPLE = Path(__file__).resolve().parents[1] / "examples" / "sample-firmware" / "rootfs"
TREE = "rootfs"

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
SERVER = r"""
#include <string.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <unistd.h>
int main(int argc, char **argv) {
    char name[32];
    struct sockaddr_in a = {0};
    int s = socket(AF_INET, SOCK_STREAM, 0);
    strcpy(name, argc > 1 ? argv[1] : "srv");
    a.sin_family = AF_INET;
    bind(s, (struct sockaddr *)&a, sizeof a);
    listen(s, 1);
    int c = accept(s, 0, 0);
    write(c, name, strlen(name));
    return 0;
}
"""
UNSAFE = r"""
#include <stdio.h>
#include <string.h>
char *gets(char *);
int main(int argc, char **argv) {
    char a[32], b[64];
    strcpy(a, argc > 1 ? argv[1] : "x");
    sprintf(b, "%s!", a);
    if (argc > 2) gets(a);
    snprintf(b, sizeof b, "%s?", a);
    puts(b);
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

# path in the tree -> (source, flags, mode)
BINARIES: dict[str, tuple[str, list[str], int]] = {
    "usr/sbin/httpd": (SERVER, PLAIN, 0o755),
    "usr/bin/tool": (PROGRAM, PLAIN, 0o755),
    "usr/bin/suidtool": (PROGRAM, PLAIN, 0o4755),
    "usr/bin/stackexec": (PROGRAM, [*HARDENED, "-z", "execstack"], 0o755),
    "usr/bin/good": (PROGRAM, HARDENED, 0o755),
    "usr/bin/unsafe": (UNSAFE, ["-O0", "-fno-stack-protector", "-fPIE", "-pie",
                                "-Wl,-z,relro,-z,now"], 0o755),
    "usr/bin/rpathed": (PROGRAM, [*HARDENED, "-Wl,--disable-new-dtags,-rpath,/opt/lib:/tmp/x"],
                        0o755),
    "lib/libdemo.so.1": (LIBRARY, ["-O2", "-D_FORTIFY_SOURCE=2", "-fstack-protector-strong",
                                   "-fPIC", "-shared", "-Wl,-soname,libdemo.so.1,-z,relro,-z,now"],
                         0o755),
}


def compile_to(out: Path, source: str, flags: list[str], mode: int = 0o755) -> Path:
    out.parent.mkdir(parents=True, exist_ok=True)
    src = out.parent / (out.name + ".c")
    src.write_text(source)
    subprocess.run(["gcc", *flags, "-w", "-o", str(out), str(src)], check=True,
                   capture_output=True)
    src.unlink()
    out.chmod(mode)
    return out


@pytest.fixture(scope="module")
def gcc_tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if shutil.which("gcc") is None:
        pytest.skip("gcc not installed")
    root = tmp_path_factory.mktemp("eng") / "rootfs"
    for rel, (source, flags, mode) in BINARIES.items():
        compile_to(root / rel, source, flags, mode)
    return root


def engineering(ctx: CheckContext) -> tuple[list[Finding], CheckRun]:
    """The engineering check through the real runner (per-file pass and image-wide step)."""
    findings, runs = run_checks(ctx, [CHECK], workers=1)
    return findings, runs[0]


def by_rule(findings: list[Finding], rule: str) -> dict[str, Finding]:
    out = {}
    for f in findings:
        if f.rule == rule:
            out[f.evidence[0].path if f.evidence else ""] = f
    return out


# ---------------------------------------------------------------------------------------------
# gcc-built binaries


def test_missing_hardening_severities(gcc_tree: Path) -> None:
    findings, run = engineering(tree_context(gcc_tree))
    assert run.examined == len(BINARIES)
    missing = by_rule(findings, "missing-hardening")
    assert set(missing) == set(BINARIES) - {"usr/bin/good", "lib/libdemo.so.1"}

    httpd = missing["usr/sbin/httpd"]
    assert httpd.severity == "medium"
    assert httpd.details["network"] == "imports accept, bind, listen"
    assert httpd.details["missing"] == ["pie", "relro", "canary", "fortify"]
    assert httpd.title == "httpd lacks PIE, RELRO, stack canaries, FORTIFY_SOURCE"
    assert httpd.clause == "NS-6"
    ev = httpd.evidence[0]
    assert ev.tree == TREE and ev.sha256 and ev.rule == "missing-hardening"
    assert ev.text.startswith("NX=yes PIE=no RELRO=none canary=no FORTIFY=no")

    assert missing["usr/bin/tool"].severity == "low"
    assert missing["usr/bin/tool"].details["network"] is None
    suid = missing["usr/bin/suidtool"]
    assert suid.severity == "medium" and suid.details["privileged"] is True
    stack = missing["usr/bin/stackexec"]
    assert stack.severity == "medium" and stack.details["missing"] == ["nx"]
    assert "executable" in stack.explanation
    unsafe = missing["usr/bin/unsafe"]
    assert unsafe.severity == "low" and unsafe.details["missing"] == ["canary", "fortify"]
    rpathed = missing["usr/bin/rpathed"]
    assert rpathed.details["missing"] == ["search-path"]
    assert rpathed.details["unsafe_search_path"] == ["/tmp/x"]
    assert rpathed.details["checksec"]["rpath"] == "/opt/lib:/tmp/x"


def test_unsafe_call_counts(gcc_tree: Path) -> None:
    findings, _ = engineering(tree_context(gcc_tree))
    calls = by_rule(findings, "unsafe-calls")
    # the fortified programs call __strcpy_chk only: nothing unsafe left to count; the
    # library's strcpy became __stpcpy_chk plus a compiler-generated memcpy (info)
    assert set(calls) == {"usr/sbin/httpd", "usr/bin/tool", "usr/bin/suidtool",
                          "usr/bin/unsafe", "lib/libdemo.so.1"}
    assert calls["lib/libdemo.so.1"].details["unsafe"] == ["memcpy"]
    assert calls["lib/libdemo.so.1"].severity == "info"
    f = calls["usr/bin/unsafe"]
    assert f.severity == "low"
    assert f.details["unsafe"] == ["gets", "sprintf", "strcpy"]
    assert f.details["by_family"] == {"input": ["gets"], "format": ["sprintf"],
                                      "string-copy": ["strcpy"]}
    assert f.details["safe_counterparts"] == ["snprintf"]
    assert f.details["counts"] == {"unsafe": 3, "safe": 1, "fortified": 0}
    assert f.title == "unsafe imports 3 unsafe C library functions: gets, sprintf, strcpy"
    assert f.evidence[0].text == "gets sprintf strcpy"
    assert f.source and "huawei" in f.source


def test_image_summary(gcc_tree: Path) -> None:
    findings, _ = engineering(tree_context(gcc_tree))
    [summary] = [f for f in findings if f.rule == "summary"]
    d = summary.details
    assert summary.severity == "info"
    assert (d["elf_files"], d["executables"], d["libraries"]) == (8, 7, 1)
    h = d["hardening"]
    assert h["nx"] == {"yes": 7, "applies": 8, "percent": 87.5}
    assert h["pie"] == {"yes": 4, "applies": 7, "percent": 57.1}
    assert h["relro_full"] == {"yes": 5, "applies": 8, "percent": 62.5}
    assert h["canary"] == {"yes": 4, "applies": 8, "percent": 50.0}
    assert h["rpath"]["yes"] == 1
    assert d["unsafe_calls"]["strcpy"]["binaries"] == 4
    assert d["unsafe_calls"]["strcpy"]["fortified_binaries"] == 3
    assert d["unsafe_calls"]["gets"]["binaries"] == 1
    fam = d["families"]["format"]
    assert (fam["unsafe"], fam["safe"], fam["unsafe_percent"], fam["unsafe_to_safe"]) == (
        1, 1, 50.0, 1.0)
    assert summary.title.startswith("Hardening across 8 ELF files: NX 87.5%, PIE 57.1% of "
                                     "executables, full RELRO 62.5%, canary 50%")


def test_findings_are_deterministic(gcc_tree: Path) -> None:
    first, _ = engineering(tree_context(gcc_tree))
    second, _ = engineering(tree_context(gcc_tree))
    assert [f.model_dump() for f in first] == [f.model_dump() for f in second]
    assert len({f.id for f in first}) == len(first)


def test_relative_and_writable_search_paths(tmp_path: Path) -> None:
    h = ElfHardening(nx=True, pie=True, relro="full", bind_now=True, canary=True,
                     fortify=["__strcpy_chk"], rpath="lib::$ORIGIN/../lib",
                     runpath="/data/plugins")
    files = [exe("usr/bin/a", hardening=h),
             FileEntry(tree=TREE, path="data/plugins", kind=EntryKind.directory, mode="0777")]
    findings, _ = engineering(context(tmp_path, files))
    [f] = by_rule(findings, "missing-hardening").values()
    assert f.details["unsafe_search_path"] == ["lib", "", "/data/plugins"]


# ---------------------------------------------------------------------------------------------
# the data file, entry by entry (synthetic inventory entries: no file is read)


def exe(path: str, *, imports: list[str] | None = None, hardening: ElfHardening | None = None,
        mode: str = "0755", soname: str | None = None, elf_type: str = "DYN",
        sha: str = "ab" * 32) -> FileEntry:
    pie = None if soname else elf_type == "DYN"
    h = hardening or ElfHardening(nx=True, pie=pie, relro="full", bind_now=True, canary=True,
                                  fortify=[])
    return FileEntry(tree=TREE, path=path, kind=EntryKind.file, size=1000, mode=mode,
                     sha256=sha, file_type=FileType.elf,
                     elf=ElfInfo(elf_class=32, endianness="little", machine="MIPS",
                                 elf_type=elf_type, interpreter="/lib/ld.so.1",
                                 needed=["libc.so.6"], soname=soname,
                                 imported_symbols=sorted(imports or []), hardening=h))


def context(root: Path, files: list[FileEntry],
            components: list[Component] | None = None) -> CheckContext:
    return CheckContext(files, {TREE: root}, TREE, components or [])


UNHARDENED = ElfHardening(nx=True, pie=False, relro="none", bind_now=False, canary=False,
                          fortify=[])


def test_catalog_loads() -> None:
    cat = catalog()
    assert len(cat.calls) >= 13 and cat.network_daemons and cat.server_calls
    assert {c.family for c in cat.calls} == {"string-copy", "format", "input", "memory"}
    for c in cat.calls:
        assert c.source.startswith("http") and c.safe_counterparts
    assert all(src.startswith("http") for src in cat.network_daemons.values())


@pytest.mark.parametrize("bad", [
    {"version": 2},
    {"version": 1, "calls": [{"name": "x", "family": "nope", "severity": "low",
                              "source": "s"}]},
    {"version": 1, "calls": [{"name": "x", "family": "memory", "severity": "low"}]},
    {"version": 1, "calls": [{"name": "x", "family": "memory", "severity": "huge",
                              "source": "s"}]},
])
def test_catalog_rejects_malformed_data(bad: dict) -> None:
    with pytest.raises(CatalogError):
        parse(bad)


@pytest.mark.parametrize("call", catalog().calls, ids=lambda c: c.name)
def test_each_unsafe_call_fires_and_counterparts_do_not(tmp_path: Path, call) -> None:
    positive = exe("usr/bin/pos", imports=[call.name, "puts"])
    negative = exe("usr/bin/neg", imports=[*call.safe_counterparts,
                                           *([call.fortified] if call.fortified else [])])
    findings, _ = engineering(context(tmp_path, [positive, negative]))
    calls = by_rule(findings, "unsafe-calls")
    assert set(calls) == {"usr/bin/pos"}
    f = calls["usr/bin/pos"]
    assert f.details["unsafe"] == [call.name]
    assert f.details["by_family"] == {call.family: [call.name]}
    assert f.severity == call.severity
    assert f.details["sources"] == {call.name: call.source}
    [summary] = [f for f in findings if f.rule == "summary"]
    row = summary.details["unsafe_calls"][call.name]
    assert row["binaries"] == 1
    assert row["fortified_binaries"] == (1 if call.fortified else 0)
    assert sum(row["safe_counterparts"].values()) == len(call.safe_counterparts)


@pytest.mark.parametrize("daemon", sorted(catalog().network_daemons))
def test_each_network_daemon_raises_severity(tmp_path: Path, daemon: str) -> None:
    claimed = exe("usr/sbin/d", hardening=UNHARDENED, elf_type="EXEC")
    other = exe("usr/sbin/o", hardening=UNHARDENED, elf_type="EXEC")
    comps = [Component(name=daemon, version="1.0", method="fingerprint", confidence=0.9,
                       evidence=[Evidence(tree=TREE, path="usr/sbin/d")],
                       files=[f"{TREE}/usr/sbin/d"]),
             Component(name="not-a-daemon", version="1.0", method="fingerprint",
                       confidence=0.9, evidence=[Evidence(tree=TREE, path="usr/sbin/o")],
                       files=[f"{TREE}/usr/sbin/o"])]
    findings, _ = engineering(context(tmp_path, [claimed, other], comps))
    missing = by_rule(findings, "missing-hardening")
    assert missing["usr/sbin/d"].severity == "medium"
    assert missing["usr/sbin/d"].details["network"] == f"component {daemon}"
    assert missing["usr/sbin/o"].severity == "low"


@pytest.mark.parametrize("call", sorted(catalog().server_calls))
def test_each_server_call_raises_severity(tmp_path: Path, call: str) -> None:
    server = exe("usr/sbin/s", imports=[call, "socket"], hardening=UNHARDENED, elf_type="EXEC")
    client = exe("usr/bin/c", imports=["socket", "connect"], hardening=UNHARDENED,
                 elf_type="EXEC")
    lib = exe("usr/lib/libnet.so.1", imports=[call], soname="libnet.so.1",
              hardening=UNHARDENED.model_copy(update={"pie": None}))
    findings, _ = engineering(context(tmp_path, [server, client, lib]))
    missing = by_rule(findings, "missing-hardening")
    assert missing["usr/sbin/s"].severity == "medium"
    assert missing["usr/bin/c"].severity == "low"
    assert missing["usr/lib/libnet.so.1"].severity == "low"  # a library is not a server


def test_fortify_is_missing_only_when_fortifiable_calls_are_imported(tmp_path: Path) -> None:
    h = ElfHardening(nx=True, pie=True, relro="full", bind_now=True, canary=True, fortify=[])
    files = [exe("usr/bin/copies", imports=["strcpy"], hardening=h),
             exe("usr/bin/quiet", imports=["puts"], hardening=h)]
    findings, _ = engineering(context(tmp_path, files))
    missing = by_rule(findings, "missing-hardening")
    assert missing["usr/bin/copies"].details["missing"] == ["fortify"]
    assert "usr/bin/quiet" not in missing


def test_static_binaries_are_unknown_not_missing(tmp_path: Path) -> None:
    h = ElfHardening(nx=True, pie=False, relro="partial", bind_now=False, canary=None,
                     fortify=None)
    findings, run = engineering(context(tmp_path, [exe("bin/static", hardening=h,
                                                       elf_type="EXEC")]))
    f = by_rule(findings, "missing-hardening")["bin/static"]
    assert f.details["missing"] == ["pie", "relro"]
    assert f.details["unknown"] == ["canary", "fortify"]
    assert any("statically linked" in n for n in run.skipped)
    [summary] = [f for f in findings if f.rule == "summary"]
    assert summary.details["hardening"]["canary"] == {"yes": 0, "applies": 0, "percent": None}


# ---------------------------------------------------------------------------------------------
# duplicated libraries


def lib(path: str, soname: str, sha: str, tree: str = TREE) -> FileEntry:
    e = exe(path, soname=soname, sha=sha)
    return e.model_copy(update={"tree": tree})


def fingerprint(name: str, version: str, *paths: str, static: tuple[str, ...] = (),
                tree: str = TREE) -> Component:
    return Component(name=name, version=version, method="fingerprint", confidence=0.95,
                     evidence=[Evidence(tree=tree, path=p) for p in (*paths, *static)],
                     files=[f"{tree}/{p}" for p in (*paths, *static)],
                     static_in=[f"{tree}/{p}" for p in static])


def test_stale_duplicated_library(tmp_path: Path) -> None:
    files = [lib("lib/libfoo.so.1", "libfoo.so.1", "11" * 32),
             lib("opt/app/lib/libfoo.so.1", "libfoo.so.1", "22" * 32)]
    comps = [fingerprint("foo", "1.0", "opt/app/lib/libfoo.so.1"),
             fingerprint("foo", "1.1", "lib/libfoo.so.1")]
    findings, _ = engineering(context(tmp_path, files, comps))
    dups = [f for f in findings if "duplicated" in f.rule]
    assert len(dups) == 1  # the soname group is the same copies: not reported twice
    [f] = dups
    assert f.rule == "stale-duplicated-library" and f.severity == "medium"
    assert [e.path for e in f.evidence] == ["lib/libfoo.so.1", "opt/app/lib/libfoo.so.1"]
    assert [e.text for e in f.evidence] == ["foo 1.1", "foo 1.0"]
    assert f.details["versions"] == {"1.1": ["lib/libfoo.so.1"],
                                     "1.0": ["opt/app/lib/libfoo.so.1"]}
    assert f.title == "foo: 2 versions (1.0, 1.1) in 2 copies"


def test_identical_copies_without_components(tmp_path: Path) -> None:
    files = [lib("lib/libbar.so.2", "libbar.so.2", "33" * 32),
             lib("usr/local/lib/libbar.so.2", "libbar.so.2", "33" * 32),
             lib("lib/libother.so.1", "libother.so.1", "44" * 32)]
    findings, _ = engineering(context(tmp_path, files))
    [f] = [f for f in findings if "duplicated" in f.rule]
    assert f.rule == "duplicated-library" and f.severity == "low"
    assert f.details["identical"] is True
    assert f.title == "libbar.so.2: 2 identical copies"
    assert {e.path for e in f.evidence} == {"lib/libbar.so.2", "usr/local/lib/libbar.so.2"}


def test_same_version_in_two_places(tmp_path: Path) -> None:
    files = [lib("lib/libz.so.1", "libz.so.1", "77" * 32),
             lib("opt/lib/libz.so.1", "libz.so.1", "77" * 32)]
    comps = [fingerprint("zlib", "1.2.13", "lib/libz.so.1", "opt/lib/libz.so.1")]
    findings, _ = engineering(context(tmp_path, files, comps))
    [f] = [f for f in findings if "duplicated" in f.rule]
    assert (f.rule, f.severity) == ("duplicated-library", "low")
    assert f.title == "zlib: 2 identical copies of 1.2.13"
    assert f.details["sonames"] == ["libz.so.1"]


def test_static_copy_next_to_the_shared_library(tmp_path: Path) -> None:
    files = [lib("lib/libz.so.1", "libz.so.1", "55" * 32), exe("usr/bin/tool", sha="66" * 32)]
    comps = [fingerprint("zlib", "1.2.13", "lib/libz.so.1", static=("usr/bin/tool",))]
    findings, _ = engineering(context(tmp_path, files, comps))
    [f] = [f for f in findings if "duplicated" in f.rule]
    assert f.rule == "duplicated-library"
    assert f.details["static_in"] == ["usr/bin/tool"]
    assert "statically linked" in next(e.text for e in f.evidence if e.path == "usr/bin/tool")


def test_one_copy_per_tree_is_not_a_duplicate(tmp_path: Path) -> None:
    files = [lib("lib/libfoo.so.1", "libfoo.so.1", "11" * 32),
             lib("lib/libfoo.so.1", "libfoo.so.1", "22" * 32, tree="recovery")]
    ctx = CheckContext(files, {TREE: tmp_path, "recovery": tmp_path}, TREE, [])
    findings, _ = engineering(ctx)
    assert not [f for f in findings if "duplicated" in f.rule]


def test_stale_zlib_found_by_the_identify_pipeline(tmp_path: Path) -> None:
    """Two real zlib builds, one patched to say 1.2.11: identify names both versions."""
    root = tmp_path / "rootfs"
    data = (SAMPLE / "lib/libz.so.1.2.13").read_bytes()
    write(root, "lib/libz.so.1.2.13", data, 0o755)
    write(root, "opt/vendor/lib/libz.so.1", data.replace(b" 1.2.13 ", b" 1.2.11 "), 0o755)
    ctx = tree_context(root)
    ctx.components = identify(ctx.files, ctx.tree_paths).components
    assert sorted(c.version for c in ctx.components if c.name == "zlib") == ["1.2.11", "1.2.13"]
    findings, _ = engineering(ctx)
    [f] = [f for f in findings if "duplicated" in f.rule]
    assert f.rule == "stale-duplicated-library" and f.severity == "medium"
    assert f.details["versions"] == {"1.2.13": ["lib/libz.so.1.2.13"],
                                     "1.2.11": ["opt/vendor/lib/libz.so.1"]}
    assert f.details["sonames"] == ["libz.so.1"]


# ---------------------------------------------------------------------------------------------
# the sample firmware: a real Debian mipsel build


def test_sample_firmware() -> None:
    t0 = time.perf_counter()
    ctx = tree_context(SAMPLE)
    ctx.components = identify(ctx.files, ctx.tree_paths).components
    findings, run = engineering(ctx)
    assert time.perf_counter() - t0 < 20
    assert run.examined == 12 and run.skipped == []
    assert not [f for f in findings if "duplicated" in f.rule]  # one copy of everything
    missing = by_rule(findings, "missing-hardening")
    dropbear = missing["usr/sbin/dropbear"]
    assert dropbear.severity == "medium"  # an RWE PT_GNU_STACK on an executable
    assert dropbear.details["missing"] == ["nx"]
    assert dropbear.details["network"] == "component dropbear"
    assert "MIPS" in dropbear.explanation
    assert missing["lib/libz.so.1.2.13"].severity == "low"
    assert missing["lib/libz.so.1.2.13"].details["missing"] == ["nx", "relro"]
    [summary] = [f for f in findings if f.rule == "summary"]
    h = summary.details["hardening"]
    assert (h["nx"]["percent"], h["pie"]["percent"], h["canary"]["percent"]) == (0.0, 100.0,
                                                                                 100.0)
    assert by_rule(findings, "unsafe-calls")["usr/sbin/dnsmasq"].details["unsafe"] == [
        "memcpy", "memmove", "stpcpy", "strcat", "strcpy"]


# ---------------------------------------------------------------------------------------------
# bad input


def test_broken_elf_files_are_noted_not_fatal(gcc_tree: Path, tmp_path: Path) -> None:
    root = tmp_path / "rootfs"
    good = (gcc_tree / "usr/bin/good").read_bytes()
    write(root, "bin/truncated", good[:700], 0o755)
    write(root, "bin/garbage", b"\x7fELF\x02\x01\x01" + bytes(range(256)) * 8, 0o755)
    write(root, "bin/good", good, 0o755)
    findings, run = engineering(tree_context(root))
    assert any("bin/truncated" in n and "incomplete" in n for n in run.skipped)
    assert run.examined >= 1
    assert any(f.rule == "summary" for f in findings)


def test_entries_without_hardening_facts(tmp_path: Path) -> None:
    old = exe("usr/bin/old").model_copy(deep=True)
    old.elf.hardening = None
    old.elf.parse_error = "LIEF failed"
    weird = exe("usr/bin/weird", mode="", hardening=UNHARDENED, elf_type="EXEC")
    findings, run = engineering(context(tmp_path, [old, weird]))
    assert any("usr/bin/old: no hardening facts" in n for n in run.skipped)
    assert run.examined == 1
    assert by_rule(findings, "missing-hardening")["usr/bin/weird"].severity == "low"


def test_empty_image(tmp_path: Path) -> None:
    findings, run = engineering(context(tmp_path, []))
    assert findings == [] and run.examined == 0
