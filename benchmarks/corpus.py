"""Benchmark firmware built from real Debian 12 binary packages of a non-x86 architecture.

The packages are fetched with `apt-get download` (the foreign architecture is added with
`dpkg --add-architecture` when missing), unpacked without their package metadata, and packed
the way router firmware is: a uImage kernel, 0xFF padding to an erase block, and a squashfs
(xz) root filesystem. Documentation, man pages and locales are left out, as firmware does.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

# Typical userland of a router/CPE image; about 40 MB unpacked on mipsel.
ROUTER_PACKAGES = [
    "busybox", "dropbear-bin", "dnsmasq-base", "libc6", "zlib1g", "libssl3", "libstdc++6",
    "libsqlite3-0", "libcurl4", "curl", "openssh-client", "iptables", "libxml2", "libgcc-s1",
    "libnl-3-200", "hostapd", "wpasupplicant", "libpcap0.8", "tcpdump", "libexpat1",
    "libjson-c5", "liblzma5", "openvpn", "lighttpd", "nginx-core", "ppp",
]
_DROP = ("usr/share/doc", "usr/share/man", "usr/share/info", "usr/share/locale",
         "usr/share/lintian", "usr/share/bug")
ERASE_BLOCK = 64 * 1024


def _run(cmd: list[str], **kw) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, check=True, capture_output=True, **kw)


def ensure_arch(arch: str) -> None:
    have = _run(["dpkg", "--print-foreign-architectures"]).stdout.decode().split()
    if arch not in have and arch != _run(["dpkg", "--print-architecture"]).stdout.decode().strip():
        _run(["dpkg", "--add-architecture", arch])
        _run(["apt-get", "update", "-qq"])


def download(packages: list[str], arch: str, dest: Path) -> list[Path]:
    """apt-get download each package; a package missing for this arch is skipped."""
    dest.mkdir(parents=True, exist_ok=True)
    ensure_arch(arch)
    got: list[Path] = []
    for pkg in packages:
        existing = sorted(dest.glob(f"{pkg}_*_{arch}.deb")) + sorted(dest.glob(f"{pkg}_*_all.deb"))
        if existing:
            got.append(existing[0])
            continue
        res = subprocess.run(["apt-get", "download", f"{pkg}:{arch}"], cwd=dest,
                             capture_output=True)
        if res.returncode == 0:
            found = sorted(dest.glob(f"{pkg}_*.deb"))
            if found:
                got.append(found[0])
    return got


def deb_version(deb: Path) -> tuple[str, str]:
    out = _run(["dpkg-deb", "-f", str(deb), "Package", "Version"]).stdout.decode()
    fields = dict(line.split(": ", 1) for line in out.strip().splitlines())
    return fields["Package"], fields["Version"]


def make_rootfs(debs: list[Path], root: Path) -> Path:
    if root.exists():
        shutil.rmtree(root)
    root.mkdir(parents=True)
    for deb in debs:
        _run(["dpkg-deb", "-x", str(deb), str(root)])
    for rel in _DROP:
        shutil.rmtree(root / rel, ignore_errors=True)
    for d in ("etc", "bin", "tmp", "dev", "proc", "sys"):
        (root / d).mkdir(exist_ok=True)
    return root


def pack_router_image(root: Path, out: Path, arch: str = "mips") -> Path:
    """uImage kernel placeholder + padding + squashfs-xz rootfs, like an OpenWrt image."""
    work = out.with_suffix(".parts")
    work.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, SOURCE_DATE_EPOCH="1735689600")
    kernel = work / "kernel.gz"
    import gzip
    import random

    kernel.write_bytes(gzip.compress(random.Random(7).randbytes(2 * 1024 * 1024), mtime=0))
    uimage = work / "uImage"
    _run(["mkimage", "-A", arch, "-O", "linux", "-T", "kernel", "-C", "gzip", "-a",
          "0x80000000", "-e", "0x80000000", "-n", "bench kernel placeholder", "-d",
          str(kernel), str(uimage)], env=env)
    sqfs = work / "rootfs.sqfs"
    sqfs.unlink(missing_ok=True)
    _run(["mksquashfs", str(root), str(sqfs), "-comp", "xz", "-all-root", "-noappend",
          "-quiet", "-no-progress"], env=env)
    head = uimage.read_bytes()
    pad = (-len(head)) % ERASE_BLOCK
    with out.open("wb") as fh:
        fh.write(head)
        fh.write(b"\xff" * pad)
        with sqfs.open("rb") as src:
            shutil.copyfileobj(src, fh)
    return out
