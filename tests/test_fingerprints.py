"""Content fingerprints: every pattern against excerpts of real binaries (tests/data/fingerprints).

Positives: each excerpt (cut from a Debian 12 / PyPI binary, or written from the upstream
source where no binary exists; see SOURCES.md) yields exactly its product and upstream version.
Negatives: each excerpt yields no other product, and the host's own binaries yield no product
that their Debian package does not ship, nor a version other than the package's upstream one.
"""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass
from pathlib import Path

import pytest

from spyproof.identify import fingerprints as fpmod
from spyproof.identify.fingerprints import (
    Engine,
    FingerprintDataError,
    FingerprintStats,
    duplicates,
    elf_dynamic,
    identify_by_fingerprint,
    load_fingerprints,
    match_file,
    parse_fingerprint,
    unclaimed_elf,
)
from spyproof.identify.products import products
from spyproof.models import Component, ElfInfo, Evidence, FileEntry

DATA = Path(__file__).parent / "data" / "fingerprints"
ELF_STUB = b"\x7fELF\x01\x01\x01" + b"\x00" * 57


@dataclass(frozen=True)
class Excerpt:
    name: str
    product: str
    expected: str
    package: str
    arch: str
    ranges: str
    patterns: tuple[str, ...]

    @property
    def version(self) -> str | None:
        return None if self.expected == "(none)" else self.expected

    def buffer(self) -> bytes:
        """The excerpt put back where it was: each range at its offset, zeros elsewhere."""
        data = (DATA / self.name).read_bytes()
        if self.ranges.startswith("0x"):
            parts = [(int(a, 16), int(n)) for a, n in
                     (r.split("+") for r in self.ranges.split())]
            assert sum(n for _a, n in parts) == len(data), self.name
            buf = bytearray(max(a + n for a, n in parts))
            pos = 0
            for a, n in parts:
                buf[a:a + n] = data[pos:pos + n]
                pos += n
            return bytes(buf)
        return (ELF_STUB + data) if "synthetic" in self.ranges else data


def _excerpts() -> list[Excerpt]:
    rows = []
    for line in (DATA / "SOURCES.md").read_text().splitlines():
        if not line.startswith("| `"):
            continue
        cells = [c.strip() for c in re.split(r"(?<!\\)\|", line)[1:-1]]
        rows.append(Excerpt(name=cells[0].strip("`"), product=cells[1], expected=cells[2],
                            package=cells[3], arch=cells[5], ranges=cells[8],
                            patterns=tuple(p for p in cells[10].split(",") if p
                                           and not p.startswith("("))))
    return rows


EXCERPTS = _excerpts()


@pytest.fixture(scope="module")
def engine() -> Engine:
    return fpmod.default_engine()


# --- the data ---------------------------------------------------------------------------


def test_data_is_valid_and_covers_at_least_40_products():
    fps = load_fingerprints()
    assert len(fps) >= 40
    required = {"busybox", "dropbear", "openssh", "openssl", "curl", "libcurl", "zlib", "sqlite",
                "lighttpd", "nginx", "uhttpd", "goahead", "boa", "mini_httpd", "dnsmasq",
                "hostapd", "wpa_supplicant", "iptables", "nftables", "libxml2", "expat",
                "openvpn", "strongswan", "xz", "json-c", "libpcap", "tcpdump", "mbedtls",
                "wolfssl", "gnutls", "net-snmp", "miniupnpd", "samba", "pppd", "glibc", "musl",
                "linux_kernel", "u-boot"}
    assert required <= {fp.product for fp in fps}
    for fp in fps:
        assert fp.product in products()
        assert fp.source.startswith(("https://", "http://"))
        assert fp.file == f"{fp.product}.yaml"


def test_every_file_is_versioned_and_every_excerpt_is_listed():
    for path in (Path(fpmod.__file__).parent.parent / "data" / "fingerprints").glob("*.yaml"):
        assert path.read_text().count("\nversion: 1\n") == 1, path
    listed = {e.name for e in EXCERPTS}
    on_disk = {p.name for p in DATA.glob("*.bin")}
    assert listed == on_disk


@pytest.mark.parametrize("text,needle", [
    ("product: busybox\nsource: https://x\npatterns: []\n", "version: 1"),
    ("version: 1\nproduct: nosuchthing\nsource: https://x\npatterns: [{id: a, regex: 'x(1)', "
     "confidence: 1}]\n", "not a canonical name"),
    ("version: 1\nproduct: busybox\nsource: https://x\npatterns:\n  - id: bb-bad\n"
     "    regex: 'BusyBox v(\\d+'\n    confidence: 0.9\n", "bb-bad: regex does not compile"),
    ("version: 1\nproduct: busybox\nsource: https://x\npatterns:\n  - id: bb-groups\n"
     "    regex: 'BusyBox v\\d+'\n    confidence: 0.9\n", "bb-groups: regex must have exactly 1"),
    ("version: 1\nproduct: busybox\nsource: https://x\npatterns:\n  - id: bb-unbounded\n"
     "    regex: 'BusyBox v(\\d+)'\n    confidence: 0.9\n", "bb-unbounded: regex must be bounded"),
    ("version: 1\nproduct: busybox\nsource: https://x\npatterns:\n  - id: bb-conf\n"
     "    regex: 'BusyBox v(\\d{1,3})'\n    confidence: 2\n", "bb-conf: confidence"),
    ("version: 1\nproduct: busybox\nsource: https://x\npatterns:\n  - id: bb-key\n"
     "    regex: 'BusyBox v(\\d{1,3})'\n    confidence: 0.5\n    colour: red\n", "unknown keys"),
])
def test_a_broken_data_file_is_a_clear_error(text, needle):
    with pytest.raises(FingerprintDataError) as exc:
        parse_fingerprint(text, "broken.yaml")
    assert "broken.yaml" in str(exc.value)
    assert needle in str(exc.value)


def test_duplicate_pattern_ids_across_files_are_refused(tmp_path):
    body = ("version: 1\nproduct: {p}\nsource: https://x\npatterns:\n  - id: same-id\n"
            "    regex: 'abcdef(\\d{{1,3}})'\n    confidence: 0.5\n")
    (tmp_path / "busybox.yaml").write_text(body.format(p="busybox"))
    (tmp_path / "dropbear.yaml").write_text(body.format(p="dropbear"))
    with pytest.raises(FingerprintDataError, match="same-id"):
        load_fingerprints(tmp_path)


# --- positives and negatives on the excerpts ----------------------------------------------


@pytest.mark.parametrize("ex", EXCERPTS, ids=[e.name for e in EXCERPTS])
def test_excerpt_yields_exactly_its_own_product_and_version(engine, ex):
    found = engine.match_buffer(ex.buffer())
    if ex.product == "-":  # a real negative
        assert found == []
        return
    assert {(m.product, m.version) for m in found} == {(ex.product, ex.version)}
    assert {m.pattern_id for m in found} == set(ex.patterns)
    for m in found:
        assert m.text and m.offset >= 0


def test_every_pattern_has_a_positive_from_an_excerpt(engine):
    covered = {p for e in EXCERPTS if e.product != "-" for p in e.patterns}
    assert {p.id for p in engine.patterns} == covered


def test_every_product_has_a_positive_from_a_real_binary_or_a_cited_source():
    real = {e.product for e in EXCERPTS if e.ranges.startswith("0x")}
    from_source = {e.product for e in EXCERPTS if not e.ranges.startswith("0x")}
    assert {fp.product for fp in load_fingerprints()} == (real | from_source) - {"-"}
    assert from_source - real == {"uhttpd", "goahead", "boa", "thttpd"}


def test_versions_are_upstream_not_distribution_revisions(engine):
    by_name = {e.name: e for e in EXCERPTS}
    expect = {"glibc-2.36-mips64el.bin": "2.36", "glibc-2.36-arm64.bin": "2.36",
              "openssh-9.2p1-arm64.bin": "9.2p1", "samba-4.17.12-arm64.bin": "4.17.12",
              "haproxy-2.6.12-arm64.bin": "2.6.12", "u-boot-2023.01-arm64.bin": "2023.01",
              "linux_kernel-6.1.176-armel.bin": "6.1.176",
              "libxml2-2.9.14-mips64el.bin": "2.9.14", "busybox-1.35.0-armel.bin": "1.35.0",
              "zlib-1.2.13-mips64el.bin": "1.2.13", "openssl-1.0.2q-x86_64.bin": "1.0.2q"}
    for name, version in expect.items():
        assert {m.version for m in engine.match_buffer(by_name[name].buffer())} == {version}
    for e in EXCERPTS:
        for m in engine.match_buffer(e.buffer()):
            assert m.version is None or not re.search(r"deb|dfsg|ubuntu|Debian|-\d+$",
                                                      m.version), (e.name, m.version)


def test_distribution_kernel_abi_names_are_not_versions(engine):
    # Debian's release names an ABI: 6.1.0-50-marvell is 6.1.176, never 6.1.0.
    banner = (b"Linux version 6.1.0-50-marvell (debian-kernel@lists.debian.org) (gcc-12 (Debian "
              b"12.2.0-14+deb12u1) 12.2.0, GNU ld (GNU Binutils for Debian) 2.40) #1 Debian "
              b"6.1.176-1 (2026-07-02)\n\x00")
    assert {m.version for m in engine.match_buffer(banner)} == {"6.1.176"}
    ubuntu = b"Linux version 5.15.0-91-generic (buildd@lcy02) (gcc (Ubuntu 11.4.0) 11.4.0) #101\x00"
    assert engine.match_buffer(ubuntu) == []
    rc = b"Linux version 6.8.0-rc3 (a@b) (gcc 13) #1 SMP\x00"
    assert engine.match_buffer(rc) == []


def test_patterns_for_elf_files_ignore_other_files(engine):
    ex = next(e for e in EXCERPTS if e.name == "busybox-1.35.0-armel.bin")
    buf = bytearray(ex.buffer())
    buf[:4] = b"\x00\x00\x00\x00"  # no longer an ELF file
    assert engine.match_buffer(bytes(buf)) == []


def test_hyperscan_and_pure_python_scans_agree(engine):
    slow = Engine(load_fingerprints(), use_hyperscan=False)
    assert engine.uses_hyperscan and not slow.uses_hyperscan
    for e in EXCERPTS:
        buf = e.buffer()
        key = [(m.product, m.version, m.pattern_id, m.offset) for m in engine.match_buffer(buf)]
        assert key == [(m.product, m.version, m.pattern_id, m.offset)
                       for m in slow.match_buffer(buf)], e.name


def test_unique_patterns_refuse_two_candidate_versions(engine):
    ex = next(e for e in EXCERPTS if e.name == "json-c-0.16-arm64.bin")
    buf = bytearray(ex.buffer())
    buf += b"\x000.17\x00"  # a second bare candidate: no answer beats a guess
    assert engine.match_buffer(bytes(buf)) == []


def test_elf_dynamic_reads_soname_and_needed_from_an_excerpt():
    ex = next(e for e in EXCERPTS if e.name == "json-c-0.16-arm64.bin")
    assert elf_dynamic(ex.buffer())[0] == "libjson-c.so.5"
    assert elf_dynamic(b"not an elf") == (None, [])
    assert elf_dynamic(b"\x7fELF\x02\x01" + b"\xff" * 10) == (None, [])


# --- match_file and identify_by_fingerprint ------------------------------------------------


def _write(tmp_path: Path, rel: str, data: bytes) -> Path:
    p = tmp_path / rel
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_bytes(data)
    return p


def _entry(rel: str, data: bytes, *, file_type: str = "elf", soname: str | None = None,
           needed: list[str] | None = None) -> FileEntry:
    elf = None
    if file_type == "elf":
        elf = ElfInfo(elf_class=32, endianness="little", machine="ARM", elf_type="DYN",
                      soname=soname, needed=needed or [])
    return FileEntry(tree="rootfs", path=rel, kind="file", size=len(data), mode="0755",
                     sha256=hashlib.sha256(data).hexdigest(), file_type=file_type, elf=elf)


def _buf(name: str) -> bytes:
    return next(e for e in EXCERPTS if e.name == name).buffer()


def test_match_file_reads_small_and_large_files(tmp_path):
    big = _write(tmp_path, "big", _buf("openssl-3.0.20-armel.bin"))
    small = _write(tmp_path, "small", ELF_STUB + b"\x00SSH-2.0-dropbear_2022.83\x00")
    assert big.stat().st_size > 4096
    assert [(m.product, m.version) for m in match_file(big)] == [("openssl", "3.0.20")]
    assert [(m.product, m.version) for m in match_file(small)] == [("dropbear", "2022.83")]
    assert match_file(_write(tmp_path, "empty", b"")) == []


def test_identify_builds_one_component_per_product_version_with_all_evidence(tmp_path):
    crypto = _buf("openssl-3.0.20-armel.bin")
    glibc = _buf("glibc-2.36-mips64el.bin")
    files = [
        (_entry("usr/lib/libcrypto.so.3", crypto, soname="libcrypto.so.3"),
         _write(tmp_path, "usr/lib/libcrypto.so.3", crypto)),
        (_entry("opt/lib/libcrypto.so.3", crypto, soname="libcrypto.so.3"),
         _write(tmp_path, "opt/lib/libcrypto.so.3", crypto)),
        (_entry("lib/libc.so.6", glibc, soname="libc.so.6"),
         _write(tmp_path, "lib/libc.so.6", glibc)),
    ]
    comps = identify_by_fingerprint(files)
    assert [(c.name, c.version) for c in comps] == [("glibc", "2.36"), ("openssl", "3.0.20")]
    ossl = comps[1]
    assert ossl.method == "fingerprint"
    assert ossl.files == ["rootfs/opt/lib/libcrypto.so.3", "rootfs/usr/lib/libcrypto.so.3"]
    assert [e.path for e in ossl.evidence] == ["opt/lib/libcrypto.so.3", "usr/lib/libcrypto.so.3"]
    assert all(e.offset and e.text.startswith("OpenSSL 3.0.20") and e.sha256
               for e in ossl.evidence)
    assert ossl.static_in == []
    assert ossl.purl == "pkg:generic/openssl@3.0.20"
    assert ossl.cpe == "cpe:2.3:a:openssl:openssl:3.0.20:*:*:*:*:*:*:*"
    assert comps[0].cpe == "cpe:2.3:a:gnu:glibc:2.36:*:*:*:*:*:*:*"


def test_static_copies_and_header_strings(tmp_path):
    crypto = _buf("openssl-1.1.1g-x86_64.bin")
    header = _buf("openssl-3.0.16-mipsel-header-in-hostapd.bin")
    files = [
        # OpenSSL inside a web server that does not link libssl: a static copy
        (_entry("usr/sbin/httpd", crypto), _write(tmp_path, "usr/sbin/httpd", crypto)),
        # hostapd linked to libssl.so.3 only carries the headers' version text: dropped
        (_entry("usr/sbin/hostapd", header, needed=["libssl.so.3", "libcrypto.so.3", "libc.so.6"]),
         _write(tmp_path, "usr/sbin/hostapd", header)),
    ]
    stats = FingerprintStats()
    comps = identify_by_fingerprint(files, stats=stats)
    assert [(c.name, c.version, c.static_in) for c in comps] == [
        ("openssl", "1.1.1g", ["rootfs/usr/sbin/httpd"])]
    assert stats.header_only == 1 and stats.files_scanned == 2
    # the program patterns of a product are not header strings: xz needs liblzma, yet is xz
    xz = _buf("xz-5.4.1-arm64.bin")
    comps = identify_by_fingerprint([(_entry("usr/bin/xz", xz, needed=["liblzma.so.5"]),
                                      _write(tmp_path, "usr/bin/xz", xz))])
    assert [(c.name, c.version, c.static_in) for c in comps] == [("xz", "5.4.1", [])]


def test_which_files_are_scanned(tmp_path):
    kernel = _buf("linux_kernel-6.1.176-armel.bin")
    script = b"#!/bin/sh\necho 'BusyBox v1.2.3 (x)'\nSSH-2.0-dropbear_2019.78\x00\n"
    files = [
        (_entry("boot/vmlinux", kernel, file_type="data"), _write(tmp_path, "vmlinux", kernel)),
        (_entry("etc/init.d/x", script, file_type="script"), _write(tmp_path, "x", script)),
        (_entry("usr/bin/gone", b"\x7fELF"), tmp_path / "does-not-exist"),
    ]
    stats = FingerprintStats()
    comps = identify_by_fingerprint(files, stats=stats)
    assert [(c.name, c.version) for c in comps] == [("linux_kernel", "6.1.176")]
    assert comps[0].cpe.startswith("cpe:2.3:o:linux:linux_kernel:6.1.176:")
    assert stats.skipped_unreadable == 1 and stats.files_scanned == 1


def test_presence_only_components_have_no_version(tmp_path):
    data = ELF_STUB + (DATA / "uhttpd-none-source.bin").read_bytes()
    comps = identify_by_fingerprint([(_entry("usr/sbin/uhttpd", data),
                                      _write(tmp_path, "uhttpd", data))])
    assert [(c.name, c.version, c.purl) for c in comps] == [("uhttpd", None, "pkg:generic/uhttpd")]


def _comp(name, version, files, static=(), method="fingerprint"):
    return Component(name=name, version=version, method=method, confidence=0.9,
                     evidence=[Evidence(tree=f.split("/", 1)[0], path=f.split("/", 1)[1])
                               for f in files], files=list(files), static_in=list(static))


def test_duplicates_count_copies_and_versions():
    comps = [
        _comp("openssl", "3.0.20", ["rootfs/usr/lib/libcrypto.so.3", "rootfs/usr/lib/libssl.so.3"]),
        _comp("openssl", "1.1.1g", ["rootfs/usr/sbin/httpd"], static=["rootfs/usr/sbin/httpd"]),
        _comp("zlib", "1.2.13", ["rootfs/lib/libz.so.1"]),
        _comp("zlib", "1.2.13", ["rootfs/lib/libz.so.1"], method="package-db"),
        _comp("busybox", "1.35.0", ["rootfs/bin/busybox"]),
    ]
    groups = duplicates(comps)
    assert [(g.name, g.versions, g.copies) for g in groups] == [
        ("openssl", ["1.1.1g", "3.0.20"], 2)]
    assert groups[0].files == ["rootfs/usr/lib/libcrypto.so.3", "rootfs/usr/lib/libssl.so.3",
                               "rootfs/usr/sbin/httpd"]


def test_unclaimed_elf_lists_the_gaps():
    entries = [_entry("bin/busybox", b""), _entry("usr/lib/libfoo.so", b""),
               _entry("usr/lib/libbar.so", b""), _entry("etc/passwd", b"", file_type="text"),
               _entry("usr/sbin/pkgd", b"")]
    comps = [_comp("busybox", "1.35.0", ["rootfs/bin/busybox"]),
             Component(name="pkg", version="1", method="package-db", confidence=1.0,
                       files=["rootfs/usr/sbin/pkgd"])]
    assert unclaimed_elf(entries, comps) == ["rootfs/usr/lib/libbar.so", "rootfs/usr/lib/libfoo.so"]
    assert unclaimed_elf(entries, comps, claimed={"rootfs/usr/lib/libfoo.so"}) == [
        "rootfs/usr/lib/libbar.so"]


# --- negatives on real, unrelated binaries: the host's own packages --------------------------

# Debian source packages that legitimately ship (or statically carry) each product.
SHIPPED_BY = {
    "glibc": {"glibc"}, "openssl": {"openssl"}, "zlib": {"zlib"}, "sqlite": {"sqlite3"},
    "curl": {"curl"}, "libcurl": {"curl"}, "expat": {"expat"}, "xz": {"xz-utils"},
    "libxml2": {"libxml2"}, "pcre2": {"pcre2"}, "pcre": {"pcre3"}, "bash": {"bash"},
    "libpng": {"libpng1.6"}, "gnutls": {"gnutls28"}, "libgcrypt": {"libgcrypt20"},
    "dbus": {"dbus"}, "busybox": {"busybox"}, "openssh": {"openssh"}, "json-c": {"json-c"},
    "libssh2": {"libssh2"}, "libssh": {"libssh"}, "libevent": {"libevent"},
    "avahi": {"avahi"}, "lua": {"lua5.1", "lua5.2", "lua5.3", "lua5.4"},
    "c-ares": {"c-ares"}, "libpcap": {"libpcap"}, "tcpdump": {"tcpdump"},
    "net-snmp": {"net-snmp"}, "samba": {"samba"}, "mbedtls": {"mbedtls"},
    "wolfssl": {"wolfssl"}, "nginx": {"nginx"}, "lighttpd": {"lighttpd"},
    "dnsmasq": {"dnsmasq"}, "iptables": {"iptables"}, "nftables": {"nftables"},
    "dropbear": {"dropbear"},
}
# Packages that bundle a product of their own (not Debian's), so its version is theirs.
BUNDLES = {"nodejs": {"openssl", "zlib"}}


def _dpkg_owners() -> dict[str, tuple[str, str, str]]:
    """path -> (package, source package, version), from the local dpkg database."""
    status = Path("/var/lib/dpkg/status").read_text(errors="replace")
    meta: dict[str, tuple[str, str]] = {}
    for block in status.split("\n\n"):
        f = dict(re.findall(r"^(Package|Source|Version): (.+)$", block, re.M))
        if "Package" in f:
            src = f.get("Source", f["Package"]).split(" ")[0]
            meta[f["Package"]] = (src, f.get("Version", ""))
    owners = {}
    for lst in Path("/var/lib/dpkg/info").glob("*.list"):
        pkg = lst.stem.split(":")[0]
        if pkg not in meta:
            continue
        for line in lst.read_text(errors="replace").splitlines():
            owners[line] = (pkg, *meta[pkg])
            if line.startswith(("/lib/", "/bin/", "/sbin/")):  # merged /usr
                owners["/usr" + line] = (pkg, *meta[pkg])
    return owners


def _upstream(debian_version: str) -> str:
    v = debian_version.split(":", 1)[-1]
    v = v.rsplit("-", 1)[0] if "-" in v else v
    v = v.removesuffix("-stable")  # libevent: "2.1.12-stable" is release 2.1.12
    return re.split(r"[+~]|\.dfsg", v)[0]


@pytest.mark.skipif(not Path("/var/lib/dpkg/status").exists(), reason="needs a dpkg system")
def test_host_binaries_yield_only_their_own_products_and_versions(engine):
    owners = _dpkg_owners()
    checked = 0
    budget = 600 * 1024 * 1024
    for d in ("/usr/bin", "/usr/sbin", "/usr/lib/x86_64-linux-gnu", "/usr/lib/aarch64-linux-gnu"):
        if not os.path.isdir(d):
            continue
        for name in sorted(os.listdir(d)):
            path = os.path.join(d, name)
            if path not in owners or os.path.islink(path) or not os.path.isfile(path):
                continue
            size = os.path.getsize(path)
            if size > budget:
                continue
            budget -= size
            checked += 1
            pkg, src, version = owners[path]
            head = Path(path).read_bytes()
            needed = elf_dynamic(head)[1]
            for m in engine.match_buffer(head):
                lib = engine.library.get(m.product, ())
                if (lib and not engine.by_id[m.pattern_id].program
                        and any(rx.search(n) for rx in lib for n in needed)):
                    continue  # the headers' version text; identify drops it
                if m.product in BUNDLES.get(src, ()):
                    continue
                assert src in SHIPPED_BY.get(m.product, set()), (path, pkg, m)
                assert m.version == _upstream(version), (path, pkg, version, m)
    assert checked > 50
