"""Components from dpkg and opkg databases.

dpkg databases are made by the real tools: tiny .deb files built with ``dpkg-deb`` and
installed with ``dpkg --root`` into a temporary root (no network). opkg is not packaged by
Debian, so its databases are written here byte for byte in the layout OpenWrt's opkg
writes: the status stanza fields and their order follow ``pkg_print_status`` in
opkg-lede's libopkg/pkg.c (Package, Version, Depends, Status, Architecture, Conffiles,
Installed-Time, Auto-Installed), the ``info/<pkg>.control`` fields follow the control
template in OpenWrt's include/package-pack.mk (…, Source, SourceName, License, Section,
SourceDateEpoch, URL, ABIVersion, CPE-ID, Maintainer, Architecture, Installed-Size,
Description) and ``info/<pkg>.list`` holds one absolute path per line
(``pkg_write_filelist``). No registry ships a real OpenWrt root filesystem to test with.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import time
import tracemalloc
from pathlib import Path

import pytest

from spyproof.identify.packagedb import (
    alias_tables,
    identify_from_package_dbs,
    scan_package_dbs,
    upstream_version,
)
from spyproof.identify.products import products
from spyproof.inventory.walk import inventory_tree

TREE = "fw.bin_extract/0-100.squashfs_v4_le_extract"


def inventory(root: Path):
    return list(inventory_tree(TREE, root, set()))


def by_package(components):
    return {c.package: c for c in components}


def line_of(path: Path, text: str) -> int:
    return path.read_text().splitlines().index(text) + 1


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def write(path: Path, data: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(data, bytes):
        path.write_bytes(data)
    else:
        path.write_text(data)
    return path


# --- dpkg, with the real tools ---------------------------------------------------------

needs_dpkg = pytest.mark.skipif(
    not (shutil.which("dpkg") and shutil.which("dpkg-deb")), reason="dpkg not installed")


def build_deb(work: Path, name: str, version: str, arch: str, files: dict[str, str],
              extra: str = "", conffiles: list[str] | None = None) -> Path:
    pkg = work / f"{name}-src"
    for rel, content in files.items():
        write(pkg / rel, content)
    control = (f"Package: {name}\nVersion: {version}\nArchitecture: {arch}\n"
               f"Maintainer: Test <test@example.org>\n{extra}"
               f"Description: test package {name}\n A longer description\n .\n"
               " over several lines.\n")
    write(pkg / "DEBIAN/control", control)
    if conffiles:
        write(pkg / "DEBIAN/conffiles", "".join(f"/{c}\n" for c in conffiles))
    deb = work / f"{name}_{arch}.deb"
    subprocess.run(["dpkg-deb", "--root-owner-group", "--build", str(pkg), str(deb)],
                   check=True, capture_output=True)
    return deb


def dpkg(root: Path, *args: str) -> None:
    subprocess.run(["dpkg", "--force-all", "--force-not-root", f"--root={root}",
                    f"--admindir={root}/var/lib/dpkg", *args], check=True, capture_output=True)


@pytest.fixture(scope="module")
def dpkg_root(tmp_path_factory) -> Path:
    if not (shutil.which("dpkg") and shutil.which("dpkg-deb")):
        pytest.skip("dpkg not installed")
    work = tmp_path_factory.mktemp("debs")
    root = tmp_path_factory.mktemp("dpkgroot")
    admin = root / "var/lib/dpkg"
    for d in ("info", "updates", "triggers"):
        (admin / d).mkdir(parents=True)
    (admin / "status").touch()
    write(root / "usr/lib/os-release", 'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\n'
          'NAME="Debian GNU/Linux"\nVERSION_ID="12"\nVERSION_CODENAME=bookworm\nID=debian\n')
    (root / "etc").mkdir()
    os.symlink("../usr/lib/os-release", root / "etc/os-release")
    debs = [
        build_deb(work, "zlib1g", "1:1.2.13.dfsg-1", "mips64el", {
            "usr/lib/mips64el-linux-gnuabi64/libz.so.1.2.13": "zlib\n"},
            extra="Multi-Arch: same\nSource: zlib\n"),
        build_deb(work, "libssl3", "3.0.11-1~deb12u2", "mips64el", {
            "usr/lib/mips64el-linux-gnuabi64/libssl.so.3": "ssl\n",
            "usr/lib/mips64el-linux-gnuabi64/libcrypto.so.3": "crypto\n"},
            extra="Multi-Arch: same\nSource: openssl\n"),
        build_deb(work, "busybox", "1:1.35.0-4+deb12u1+b1", "mips64el",
                  {"bin/busybox": "bb\n"}, extra="Source: busybox (1:1.35.0-4+deb12u1)\n"),
        build_deb(work, "libxml2", "2.9.14+dfsg-1.3~deb12u1", "mips64el",
                  {"usr/lib/mips64el-linux-gnuabi64/libxml2.so.2.9.14": "xml\n"},
                  extra="Multi-Arch: same\n"),
        build_deb(work, "libssl-dev", "3.0.11-1~deb12u2", "mips64el",
                  {"usr/include/openssl/ssl.h": "/* */\n"}, extra="Source: openssl\n"),
        build_deb(work, "acme-agent", "2.4.1-7", "mips64el",
                  {"usr/bin/acme-agent": "agent\n"}),
        build_deb(work, "curl", "7.88.1+git20230301-10", "mips64el",
                  {"usr/bin/curl": "curl\n"}),
        build_deb(work, "libevent-2.1-7", "2.1.12-stable-8+deb12u1", "mips64el",
                  {"usr/lib/mips64el-linux-gnuabi64/libevent-2.1.so.7": "ev\n"},
                  extra="Multi-Arch: same\nSource: libevent\n"),
        build_deb(work, "oldtool", "1.0-1", "mips64el", {
            "usr/bin/oldtool": "old\n", "etc/oldtool.conf": "x=1\n"},
            conffiles=["etc/oldtool.conf"]),
        build_deb(work, "gonetool", "1.0-1", "mips64el", {"usr/bin/gonetool": "gone\n"}),
    ]
    dpkg(root, "-i", *map(str, debs))
    dpkg(root, "-r", "oldtool")     # leaves "deinstall ok config-files"
    dpkg(root, "--purge", "gonetool")  # leaves no stanza at all
    return root


@needs_dpkg
def test_dpkg_installed_packages(dpkg_root):
    status = dpkg_root / "var/lib/dpkg/status"
    assert "Status: deinstall ok config-files" in status.read_text()
    comps = identify_from_package_dbs(TREE, dpkg_root, inventory(dpkg_root))
    pk = by_package(comps)
    assert set(pk) == {"zlib1g", "libssl3", "busybox", "libxml2", "libssl-dev", "acme-agent",
                       "curl", "libevent-2.1-7"}

    z = pk["zlib1g"]
    assert (z.name, z.version) == ("zlib", "1:1.2.13.dfsg-1")
    assert z.purl == "pkg:deb/debian/zlib1g@1:1.2.13.dfsg-1?arch=mips64el&distro=debian-12"
    assert z.cpe == "cpe:2.3:a:zlib:zlib:1.2.13:*:*:*:*:*:*:*"
    assert z.method == "package-db" and z.confidence == 1.0
    ev = z.evidence[0]
    assert (ev.tree, ev.path) == (TREE, "var/lib/dpkg/status")
    assert ev.sha256 == sha256(status)
    assert ev.text == "Package: zlib1g"
    assert ev.line == line_of(status, "Package: zlib1g")
    assert ev.rule == "packagedb.dpkg-status"
    # Multi-Arch: same packages have "<name>:<arch>.list"; directories are not "owned files".
    assert (dpkg_root / "var/lib/dpkg/info/zlib1g:mips64el.list").exists()
    assert z.files == [f"{TREE}/usr/lib/mips64el-linux-gnuabi64/libz.so.1.2.13"]

    s = pk["libssl3"]
    assert (s.name, s.cpe) == ("openssl", "cpe:2.3:a:openssl:openssl:3.0.11:*:*:*:*:*:*:*")
    assert s.files == [f"{TREE}/usr/lib/mips64el-linux-gnuabi64/libcrypto.so.3",
                       f"{TREE}/usr/lib/mips64el-linux-gnuabi64/libssl.so.3"]
    b = pk["busybox"]
    assert (b.name, b.version) == ("busybox", "1:1.35.0-4+deb12u1+b1")
    assert b.cpe == "cpe:2.3:a:busybox:busybox:1.35.0:*:*:*:*:*:*:*"
    assert b.files == [f"{TREE}/bin/busybox"]  # plain "<name>.list"
    assert pk["libxml2"].cpe == "cpe:2.3:a:xmlsoft:libxml2:2.9.14:*:*:*:*:*:*:*"
    # Not in the alias table, but its source package is a known product.
    assert pk["libssl-dev"].name == "openssl"
    # Unknown packages keep their name and get no CPE; snapshots get no CPE version.
    a = pk["acme-agent"]
    assert (a.name, a.cpe) == ("acme-agent", None)
    assert a.purl == "pkg:deb/debian/acme-agent@2.4.1-7?arch=mips64el&distro=debian-12"
    assert (pk["curl"].name, pk["curl"].cpe) == ("curl", None)
    # The alias's own rule for libevent's "-stable" releases.
    assert pk["libevent-2.1-7"].cpe == "cpe:2.3:a:libevent_project:libevent:2.1.12:*:*:*:*:*:*:*"


@needs_dpkg
def test_dpkg_without_os_release_defaults_to_debian(dpkg_root, tmp_path):
    root = tmp_path / "r"
    shutil.copytree(dpkg_root / "var", root / "var", symlinks=True)
    comps = identify_from_package_dbs(TREE, root, inventory(root))
    assert by_package(comps)["zlib1g"].purl == "pkg:deb/debian/zlib1g@1:1.2.13.dfsg-1?arch=mips64el"


# --- opkg, in OpenWrt's own layout -----------------------------------------------------

OPENWRT_PKGS = [
    # name, version, CPE-ID, SourceName, Source, files
    ("libopenssl3", "3.0.13-1", "cpe:/a:openssl:openssl", "openssl", "package/libs/openssl",
     ["/usr/lib/libssl.so.3", "/usr/lib/libcrypto.so.3"]),
    ("busybox", "1.36.1-1", "cpe:/a:busybox:busybox", "busybox", "package/utils/busybox",
     ["/bin/busybox", "/bin/sh"]),
    ("dropbear", "2022.82-6", "cpe:/a:matt_johnston:dropbear_ssh_server", "dropbear",
     "package/network/services/dropbear", ["/usr/sbin/dropbear", "/etc/config/dropbear"]),
    ("libc", "1.2.4-4", None, "toolchain", "package/libs/toolchain", ["/lib/libc.so"]),
    ("kernel", "5.15.150-1-9c242f353867f49a96054ff8c9f2c460", None, "linux",
     "package/kernel/linux", []),
    ("wpad-basic-mbedtls", "2023-09-08-e5ccbfc6-6", "cpe:/a:w1.fi:hostapd", "hostapd",
     "package/network/services/hostapd", ["/usr/sbin/wpad"]),
    ("libwolfssl5.6.4.e624513f", "5.6.4-stable-1", "cpe:/a:wolfssl:wolfssl", "wolfssl",
     "package/libs/wolfssl", ["/usr/lib/libwolfssl.so.5.6.4.e624513f"]),
    ("dnsmasq-newflavour", "2.90-2", "cpe:/a:thekelleys:dnsmasq", "dnsmasq",
     "package/network/services/dnsmasq", ["/usr/sbin/dnsmasq"]),
    ("acme-cloud", "1.0.3-1", "cpe:/a:acme:cloud_agent", "acme-cloud", "feeds/acme/cloud",
     ["/usr/bin/acme-cloud"]),
    ("uci", "2023-08-10-5781664d-1", None, "uci", "package/system/uci", ["/sbin/uci"]),
]


def openwrt_control(name, version, cpe, source_name, source) -> str:
    lines = [f"Package: {name}", f"Version: {version}", "Depends: libc",
             f"Source: {source}", f"SourceName: {source_name}", "License: GPL-2.0",
             "Section: base", "SourceDateEpoch: 1700000000"]
    if cpe:
        lines.append(f"CPE-ID: {cpe}")
    lines += ["Maintainer: OpenWrt <openwrt-devel@lists.openwrt.org>",
              "Architecture: mipsel_24kc", "Installed-Size: 12345",
              f"Description:  {name} for OpenWrt", " second description line"]
    return "\n".join(lines) + "\n"


def openwrt_status_stanza(name, version, status="install user installed") -> str:
    conffiles = " /etc/config/dropbear 7f3bb1b6c2a8a5f2\n" if name == "dropbear" else ""
    return (f"Package: {name}\nVersion: {version}\nDepends: libc\nStatus: {status}\n"
            f"Architecture: mipsel_24kc\n"
            + (f"Conffiles:\n{conffiles}" if conffiles else "")
            + "Installed-Time: 1700000000\n\n")


def make_openwrt(root: Path, *, with_status: bool = True, base: str = "usr/lib/opkg",
                 os_release: str | None = 'NAME="OpenWrt"\nVERSION="23.05.3"\nID="openwrt"\n'
                                          'ID_LIKE="lede openwrt"\nVERSION_ID="23.05.3"\n'
                 ) -> Path:
    info = root / base / "info"
    info.mkdir(parents=True)
    status = []
    for name, version, cpe, source_name, source, files in OPENWRT_PKGS:
        write(info / f"{name}.control", openwrt_control(name, version, cpe, source_name,
                                                         source))
        write(info / f"{name}.list", "".join(f"{f}\n" for f in files))
        for f in files:
            write(root / f.lstrip("/"), f"{name}\n")
        status.append(openwrt_status_stanza(name, version))
    # A removed package's stanza stays with a not-installed status.
    status.append(openwrt_status_stanza("tcpdump", "4.99.4-1", "deinstall user not-installed"))
    if with_status:
        write(root / base / "status", "".join(status))
    if os_release is not None:
        write(root / "usr/lib/os-release", os_release)
        (root / "etc").mkdir(exist_ok=True)
        os.symlink("../usr/lib/os-release", root / "etc/os-release")
    return root


def test_opkg_openwrt(tmp_path):
    root = make_openwrt(tmp_path / "rootfs")
    status = root / "usr/lib/opkg/status"
    res = scan_package_dbs(TREE, root, inventory(root))
    assert res.warnings == []
    comps = res.components
    pk = {}
    for c in comps:
        pk.setdefault(c.package, []).append(c)
    assert "tcpdump" not in pk
    assert set(pk) == {p[0] for p in OPENWRT_PKGS}

    [ssl] = pk["libopenssl3"]
    assert (ssl.name, ssl.version) == ("openssl", "3.0.13-1")
    assert ssl.purl == ("pkg:opkg/openwrt/libopenssl3@3.0.13-1"
                        "?arch=mipsel_24kc&distro=openwrt-23.05.3")
    assert ssl.cpe == "cpe:2.3:a:openssl:openssl:3.0.13:*:*:*:*:*:*:*"
    assert ssl.files == [f"{TREE}/usr/lib/libcrypto.so.3", f"{TREE}/usr/lib/libssl.so.3"]
    st_ev, ctl_ev = ssl.evidence
    assert (st_ev.path, st_ev.line, st_ev.text) == (
        "usr/lib/opkg/status", line_of(status, "Package: libopenssl3"), "Package: libopenssl3")
    assert st_ev.sha256 == sha256(status)
    assert (ctl_ev.path, ctl_ev.line) == ("usr/lib/opkg/info/libopenssl3.control", 1)

    [bb] = pk["busybox"]
    assert bb.cpe == "cpe:2.3:a:busybox:busybox:1.36.1:*:*:*:*:*:*:*"
    [db] = pk["dropbear"]
    # products.yaml's CPE, not the control file's, for a known product.
    assert db.cpe == "cpe:2.3:a:dropbear_ssh_project:dropbear_ssh:2022.82:*:*:*:*:*:*:*"
    [libc] = pk["libc"]
    assert (libc.name, libc.cpe) == ("musl", "cpe:2.3:a:musl-libc:musl:1.2.4:*:*:*:*:*:*:*")
    [kernel] = pk["kernel"]
    assert kernel.name == "linux_kernel"
    assert kernel.cpe == "cpe:2.3:o:linux:linux_kernel:5.15.150:*:*:*:*:*:*:*"
    assert kernel.files == []
    # wpad is hostapd and wpa_supplicant in one binary; a git snapshot has no CPE version.
    assert sorted(c.name for c in pk["wpad-basic-mbedtls"]) == ["hostapd", "wpa_supplicant"]
    assert all(c.cpe is None for c in pk["wpad-basic-mbedtls"])
    [wolf] = pk["libwolfssl5.6.4.e624513f"]
    assert (wolf.name, wolf.cpe) == ("wolfssl", "cpe:2.3:a:wolfssl:wolfssl:5.6.4:*:*:*:*:*:*:*")
    # Not in the alias table: the control file's CPE-ID names a known product.
    [dns] = pk["dnsmasq-newflavour"]
    assert (dns.name, dns.cpe) == ("dnsmasq", "cpe:2.3:a:thekelleys:dnsmasq:2.90:*:*:*:*:*:*:*")
    # Unknown product: the package name, and the packager's own CPE-ID.
    [acme] = pk["acme-cloud"]
    assert (acme.name, acme.cpe) == ("acme-cloud", "cpe:2.3:a:acme:cloud_agent:1.0.3:*:*:*:*:*:*:*")
    [uci] = pk["uci"]
    assert (uci.name, uci.cpe) == ("uci", None)


def test_opkg_control_files_without_status(tmp_path):
    root = make_openwrt(tmp_path / "rootfs", with_status=False, os_release=None)
    comps = identify_from_package_dbs(TREE, root, inventory(root))
    pk = by_package(comps)
    assert "tcpdump" not in pk
    ssl = pk["libopenssl3"]
    assert ssl.purl == "pkg:opkg/openwrt/libopenssl3@3.0.13-1?arch=mipsel_24kc"
    assert [(e.path, e.line) for e in ssl.evidence] == [
        ("usr/lib/opkg/info/libopenssl3.control", 1)]


def test_opkg_yocto_var_lib(tmp_path):
    root = make_openwrt(tmp_path / "rootfs", base="var/lib/opkg",
                        os_release='ID=poky\nNAME="Poky"\nVERSION_ID=4.0.17\n')
    comps = identify_from_package_dbs(TREE, root, inventory(root))
    ssl = by_package(comps)["libopenssl3"]
    assert ssl.purl == "pkg:opkg/poky/libopenssl3@3.0.13-1?arch=mipsel_24kc&distro=poky-4.0.17"
    assert ssl.evidence[0].path == "var/lib/opkg/status"
    assert ssl.evidence[0].rule == "packagedb.opkg-status"


def test_openwrt_release_file_gives_distro(tmp_path):
    root = make_openwrt(tmp_path / "rootfs", os_release=None)
    write(root / "etc/openwrt_release", "DISTRIB_ID='OpenWrt'\nDISTRIB_RELEASE='19.07.10'\n")
    ssl = by_package(identify_from_package_dbs(TREE, root, inventory(root)))["libopenssl3"]
    assert ssl.purl.endswith("&distro=openwrt-19.07.10")


# --- hostile input ---------------------------------------------------------------------


def opkg_status_root(tmp_path: Path, content: bytes) -> Path:
    root = tmp_path / "rootfs"
    write(root / "usr/lib/opkg/status", content)
    return root


GOOD = b"Package: zlib\nVersion: 1.2.13-1\nStatus: install user installed\nArchitecture: arm\n\n"


def test_garbage_status_file(tmp_path):
    junk = bytes(range(256)) * 64 + os.urandom(4096)
    root = opkg_status_root(tmp_path, junk)
    res = scan_package_dbs(TREE, root, inventory(root))
    assert res.components == []
    assert [w.code for w in res.warnings] == ["packagedb.bad_stanza"]


@pytest.mark.parametrize("bad", [
    b"Package: evil\nVersion: 1.0\x00-1\nStatus: install user installed\n\n",   # NUL byte
    b"Package: ev\xffil\nVersion: 1.0-1\nStatus: install user installed\n\n",   # not UTF-8
    b" continuation first\nPackage: a\nVersion: 1-1\nStatus: install ok installed\n\n",
    b"Package: a\nPackage: b\nVersion: 1-1\nStatus: install ok installed\n\n",  # duplicate
    b"Package: a\nVersion: 1-1\n wrapped version\nStatus: install ok installed\n\n",
    b"Package: a\nno colon here\nVersion: 1-1\nStatus: install ok installed\n\n",
    b"Package: a b\nVersion: 1-1\nStatus: install ok installed\n\n",           # bad name
    b"Package: a\nVersion: 1 1\nStatus: install ok installed\n\n",             # bad version
    b"Version: 1-1\nStatus: install ok installed\n\n",                          # no Package
])
def test_bad_stanza_is_skipped_and_counted(tmp_path, bad):
    root = opkg_status_root(tmp_path, GOOD + bad + GOOD.replace(b"zlib", b"busybox"))
    res = scan_package_dbs(TREE, root, inventory(root))
    assert sorted(c.package for c in res.components) == ["busybox", "zlib"]
    [w] = res.warnings
    assert w.code == "packagedb.bad_stanza" and w.message.startswith("1 malformed")
    assert w.path == f"{TREE}/usr/lib/opkg/status"


def test_truncated_status_drops_the_cut_stanza(tmp_path):
    # The file ends inside "Version: 1.2.13-1": reading "1.2" as the version would be wrong.
    root = opkg_status_root(tmp_path, GOOD.replace(b"zlib", b"busybox")
                            + b"Package: zlib\nStatus: install user installed\nVersion: 1.2")
    res = scan_package_dbs(TREE, root, inventory(root))
    assert [c.package for c in res.components] == ["busybox"]
    assert "truncated" in res.warnings[0].message


def test_truncated_description_keeps_the_stanza(tmp_path):
    root = opkg_status_root(tmp_path, GOOD + b"Package: busybox\nVersion: 1.36.1-1\n"
                            b"Status: install user installed\nDescription: The Swiss Ar")
    res = scan_package_dbs(TREE, root, inventory(root))
    assert [c.package for c in res.components] == ["busybox", "zlib"]
    assert [w.code for w in res.warnings] == ["packagedb.truncated"]


def test_crlf_and_missing_final_blank_line(tmp_path):
    root = opkg_status_root(tmp_path, GOOD.replace(b"\n", b"\r\n").rstrip(b"\r\n") + b"\r\n")
    comps = identify_from_package_dbs(TREE, root, inventory(root))
    assert [(c.package, c.version) for c in comps] == [("zlib", "1.2.13-1")]


def test_huge_status_file_streams(tmp_path):
    """A 20 MiB status file with a 16 MiB line: bounded memory, the rest still parsed."""
    path = tmp_path / "rootfs/usr/lib/opkg/status"
    path.parent.mkdir(parents=True)
    with open(path, "wb") as fh:
        fh.write(b"Package: hog\nVersion: 1-1\nStatus: install ok installed\nDescription: "
                 + b"A" * (16 * 1024 * 1024) + b"\n\n")
        stanza = (b"Package: filler\nVersion: 1-1\nStatus: deinstall ok not-installed\n"
                  b"Description: x\n" + b" continuation line of a long description\n" * 200
                  + b"\n")
        for _ in range((4 * 1024 * 1024) // len(stanza)):
            fh.write(stanza)
        fh.write(GOOD)
    root = tmp_path / "rootfs"
    files = inventory(root)
    t0 = time.perf_counter()
    res = scan_package_dbs(TREE, root, files)
    assert time.perf_counter() - t0 < 20
    assert [c.package for c in res.components] == ["zlib"]
    assert res.warnings[0].message.startswith("1 malformed")  # the over-long line
    tracemalloc.start()
    scan_package_dbs(TREE, root, files)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert peak < 12 * 1024 * 1024  # the longest line alone is 16 MiB


def test_symlinked_database_is_not_followed(tmp_path):
    outside = write(tmp_path / "host-status", GOOD)
    root = tmp_path / "rootfs"
    (root / "usr/lib/opkg").mkdir(parents=True)
    os.symlink(outside, root / "usr/lib/opkg/status")
    os.symlink(tmp_path, root / "var")  # var/lib/... through a symlinked directory
    write(tmp_path / "lib/dpkg/status", GOOD.replace(b"user", b"ok"))
    assert identify_from_package_dbs(TREE, root, inventory(root)) == []


def test_list_file_entries_outside_inventory_are_dropped(tmp_path):
    root = make_openwrt(tmp_path / "rootfs")
    write(root / "usr/lib/opkg/info/busybox.list",
          "/bin/busybox\n/bin/sh\n/bin/missing\n/../etc/passwd\n/usr\n\n/\n"
          "/bin/busybox\t0755\n")
    (root / "usr/share").mkdir(exist_ok=True)
    comps = identify_from_package_dbs(TREE, root, inventory(root))
    bb = by_package(comps)["busybox"]
    assert bb.files == [f"{TREE}/bin/busybox", f"{TREE}/bin/sh"]


def test_list_paths_below_symlinked_directories(tmp_path):
    """Merged /usr: dpkg lists /lib/..., the image has lib -> usr/lib."""
    root = make_openwrt(tmp_path / "rootfs")
    write(root / "usr/lib/libc.so.6", "libc\n")
    os.symlink("usr/lib", root / "lib64")
    os.symlink("/usr/lib", root / "libabs")
    os.symlink("loop", root / "loop")
    write(root / "usr/lib/opkg/info/libc.list",
          "/lib64/libc.so.6\n/libabs/libc.so.6\n/loop/x\n/lib64/../../../etc/shadow\n")
    write(root / "etc/shadow", "root:x:1:0:99999:7:::\n")
    libc = by_package(identify_from_package_dbs(TREE, root, inventory(root)))["libc"]
    assert libc.files == [f"{TREE}/usr/lib/libc.so.6"]


def test_other_trees_are_ignored(tmp_path):
    root = make_openwrt(tmp_path / "rootfs")
    files = inventory(root)
    assert identify_from_package_dbs("another-tree", root, files) == []


def test_no_database(tmp_path):
    (tmp_path / "etc").mkdir()
    assert scan_package_dbs(TREE, tmp_path, inventory(tmp_path)).components == []


# --- versions and data -----------------------------------------------------------------


@pytest.mark.parametrize("version,db,expected", [
    ("1:1.2.13.dfsg-1", "deb", "1.2.13"),
    ("1.1.1w-1", "deb", "1.1.1w"),
    ("3.0.11-1~deb12u2", "deb", "3.0.11"),
    ("1:9.2p1-2+deb12u3", "deb", "9.2p1"),
    ("2.9.14+dfsg-1.3~deb12u1", "deb", "2.9.14"),
    ("5.9.3+dfsg-2+deb12u1", "deb", "5.9.3"),
    ("2:4.17.12+dfsg-0+deb12u1", "deb", "4.17.12"),
    ("1.2.3+ds1-4", "deb", "1.2.3"),
    ("2.4.7+really2.4.5-1", "deb", "2.4.5"),
    ("2022.83-1+deb12u1", "deb", "2022.83"),
    ("1.35.0", "deb", "1.35.0"),                 # native package
    ("7.88.1+git20230301-10", "deb", None),       # snapshot
    ("3.0.0~alpha1-1", "deb", None),              # pre-release
    ("x:1.0-1", "deb", None),                     # bad epoch
    ("1.1.1w-1", "opkg", "1.1.1w"),
    ("3.0.13-r1", "opkg", "3.0.13"),
    ("2.90", "opkg", "2.90"),
    ("2023-09-08-e5ccbfc6-6", "opkg", None),
    ("5.6.4-stable-1", "opkg", None),
])
def test_upstream_version(version, db, expected):
    assert upstream_version(version, db) == expected


def test_alias_table_names_known_products_and_sources():
    tables = alias_tables()
    known = products()
    for table in tables.values():
        aliases = [a for variants in table.packages.values() for a in variants]
        aliases += [a for _, a in table.patterns] + list(table.sources.values())
        for a in aliases:
            assert all(n in known for n in a.names)
            assert a.source.startswith("https://")
    deb, opkg = tables["deb"], tables["opkg"]
    for pkg, product in [("libssl3", "openssl"), ("libssl1.1", "openssl"),
                         ("libcurl4", "libcurl"), ("curl", "curl"), ("zlib1g", "zlib"),
                         ("dropbear-bin", "dropbear"), ("busybox-static", "busybox"),
                         ("libc6", "glibc"), ("dnsmasq-base", "dnsmasq"),
                         ("wpasupplicant", "wpa_supplicant"), ("hostapd", "hostapd")]:
        assert deb.packages[pkg][0].names == (product,)
    for pkg, product in [("libopenssl1.1", "openssl"), ("openssl-util", "openssl"),
                         ("libcurl", "libcurl"), ("zlib", "zlib"), ("dnsmasq-full", "dnsmasq")]:
        assert opkg.packages[pkg][0].names == (product,)
