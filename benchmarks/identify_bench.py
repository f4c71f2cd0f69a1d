"""Identification benchmark (issue 3): spyproof vs cve-bin-tool 3.4, same corpus, same run.

Corpus: one router image per architecture (arm64, armel, mips64el) built by corpus.py from
real Debian 12 packages of the products spyproof fingerprints, stripped of package metadata
(no dpkg database: identification must come from binary content). Ground truth: each
package's upstream version (epoch, Debian revision and repack suffixes removed).

cve-bin-tool runs offline (see cbt_offline.py) on the already-extracted tree; spyproof scans
the firmware image itself (unpack + inventory + identify). Run:

    .venv/bin/python benchmarks/identify_bench.py
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import corpus  # noqa: E402

from spyproof.identify.products import products  # noqa: E402

WORK = HERE / "_work"
ARCHES = ["arm64", "armel", "mips64el"]
CBT_VENV = WORK / "cbt-venv"
CBT_HOME = WORK / "cbt-home"

# Debian package -> canonical product whose version the package's upstream version is.
PACKAGES = {
    "busybox": "busybox", "dropbear-bin": "dropbear", "openssh-client": "openssh",
    "libssl3": "openssl", "curl": "curl", "libcurl4": "libcurl", "zlib1g": "zlib",
    "libsqlite3-0": "sqlite", "lighttpd": "lighttpd", "nginx-core": "nginx",
    "dnsmasq-base": "dnsmasq", "hostapd": "hostapd", "wpasupplicant": "wpa_supplicant",
    "iptables": "iptables", "nftables": "nftables", "libxml2": "libxml2",
    "libexpat1": "expat", "openvpn": "openvpn", "strongswan-charon": "strongswan",
    "liblzma5": "xz", "libjson-c5": "json-c", "libpcap0.8": "libpcap", "tcpdump": "tcpdump",
    "libmbedcrypto7": "mbedtls", "libwolfssl35": "wolfssl", "libgnutls30": "gnutls",
    "libsnmp40": "net-snmp", "miniupnpd": "miniupnpd", "samba-libs": "samba", "ppp": "pppd",
    "libc6": "glibc", "musl": "musl", "libssh2-1": "libssh2", "libpcre2-8-0": "pcre2",
    "libpng16-16": "libpng", "lua5.3": "lua", "bash": "bash", "libgcrypt20": "libgcrypt",
    "libevent-2.1-7": "libevent", "libnl-3-200": "libnl", "libc-ares2": "c-ares",
    "avahi-daemon": "avahi", "mosquitto": "mosquitto", "vsftpd": "vsftpd",
}


def upstream(version: str) -> str:
    v = version.split(":", 1)[-1]
    if "-" in v:
        v = v.rsplit("-", 1)[0]
    v = re.sub(r"[+~.](dfsg|ds|debian|really.*|repack)\d*.*$", "", v)
    # libevent's upstream tags are "release-2.1.12-stable"; NVD and OSV say 2.1.12.
    return re.sub(r"-stable$", "", v)


def cbt_ready() -> Path:
    py = CBT_VENV / "bin" / "python"
    if not py.exists():
        subprocess.run([sys.executable, "-m", "venv", str(CBT_VENV)], check=True)
        subprocess.run([str(CBT_VENV / "bin" / "pip"), "install", "-q", "cve-bin-tool==3.4"],
                       check=True)
    db = CBT_HOME / ".cache" / "cve-bin-tool" / "cve.db"
    if not db.exists():
        db.parent.mkdir(parents=True, exist_ok=True)
        env = dict(os.environ, HOME=str(CBT_HOME))
        subprocess.run([str(py), "-c", "from cve_bin_tool.cvedb import CVEDB; "
                        "CVEDB().init_database()"], check=True, env=env)
        con = sqlite3.connect(db)
        con.execute("insert into cve_severity values ('CVE-0000-0000','LOW','placeholder',"
                    "0,3,NULL,'NVD','2000-01-01')")
        con.commit()
        con.close()
    return py


def build_image(arch: str) -> tuple[Path, Path, dict[str, str]]:
    image = WORK / f"ident-{arch}.bin"
    root = WORK / f"ident-{arch}-rootfs"
    debs = corpus.download(list(PACKAGES), arch, WORK / f"debs-{arch}")
    truth: dict[str, str] = {}
    for deb in debs:
        pkg, version = corpus.deb_version(deb)
        if pkg in PACKAGES:
            truth[PACKAGES[pkg]] = upstream(version)
    if not image.exists():
        corpus.make_rootfs(debs, root)
        corpus.pack_router_image(root, image, arch="arm" if arch.startswith("arm") else "mips")
    return image, root, truth


_CPE_TO_NAME = {p.cpe_product: n for n, p in products().items()}


def run_cbt(py: Path, root: Path) -> tuple[float, dict[str, set[str]]]:
    sbom = WORK / f"cbt-{root.name}.cdx.json"
    env = dict(os.environ, HOME=str(CBT_HOME))
    t0 = time.perf_counter()
    subprocess.run([str(py), str(HERE / "cbt_offline.py"), "--offline", "-u", "never",
                    "--disable-version-check", "--sbom-output", str(sbom), "--sbom-type",
                    "cyclonedx", "--sbom-format", "json", "-f", "json", "-o",
                    str(WORK / "cbt.json"), str(root)], env=env, capture_output=True)
    elapsed = time.perf_counter() - t0
    found: dict[str, set[str]] = {}
    for c in json.loads(sbom.read_text()).get("components", []):
        name = _CPE_TO_NAME.get(c["name"], c["name"])
        if c.get("version"):
            found.setdefault(name, set()).add(c["version"])
    return elapsed, found


def run_spyproof(image: Path) -> tuple[float, dict[str, set[str]], dict]:
    out = WORK / f"scan-{image.stem}"
    shutil.rmtree(out, ignore_errors=True)
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "spyproof.cli", "-q", "scan", str(image), "--out",
                    str(out)], capture_output=True)
    elapsed = time.perf_counter() - t0
    report = json.loads((out / "report.json").read_text())
    found: dict[str, set[str]] = {}
    for c in report["components"]:
        if c.get("version"):
            found.setdefault(c["name"], set()).add(c["version"])
    return elapsed, found, report


def score(truth: dict[str, str], found: dict[str, set[str]]) -> dict:
    exact, wrong, missed = [], [], []
    for name, version in sorted(truth.items()):
        got = found.get(name, set())
        if version in got:
            exact.append(name)
        elif got:
            wrong.append(f"{name}: {version} vs {sorted(got)}")
        else:
            missed.append(name)
    n = len(truth)
    return {"products": n, "exact": len(exact), "wrong": wrong, "missed": missed,
            "exact_pct": round(100 * len(exact) / n, 1) if n else 0.0}


def main() -> int:
    WORK.mkdir(exist_ok=True)
    py = cbt_ready()
    results = {}
    for arch in ARCHES:
        image, root, truth = build_image(arch)
        unpack_t0 = time.perf_counter()
        subprocess.run([sys.executable, "-m", "spyproof.cli", "-q", "scan", str(image), "--out",
                        str(WORK / "unpack-only"), "--force", "--no-identify"],
                       capture_output=True)
        unpack_s = time.perf_counter() - unpack_t0
        sp_s, sp_found, report = run_spyproof(image)
        cbt_s, cbt_found = run_cbt(py, root)
        results[arch] = {
            "image_bytes": image.stat().st_size,
            "spyproof": {"seconds": round(sp_s, 2), "unpack_inventory_seconds": round(unpack_s, 2),
                         **score(truth, sp_found),
                         "unclaimed_elf": len(report.get("unclaimed_elf", []))},
            "cve_bin_tool": {"seconds": round(cbt_s, 2), **score(truth, cbt_found)},
            "time_ratio": round(sp_s / cbt_s, 3) if cbt_s else None,
        }
        print(json.dumps({arch: results[arch]}, indent=2), flush=True)
    (WORK / "identify-results.json").write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
