"""Synthetic vulnerability feeds for the knowledge-base benchmark (issue 4).

Deterministic for a given (seed, nvd, osv): the same arguments always write byte-identical
files. Shapes follow the official formats:

* NVD CVE API 2.0 yearly feeds, ``nvdcve-2.0-<year>.json.gz``: the API's top-level object
  (resultsPerPage, startIndex, totalResults, format "NVD_CVE", version "2.0", timestamp,
  vulnerabilities[{cve: {...}}]) with descriptions (en, and es on newer records), CVSS
  v3.1 / v4.0 / v2 metrics with their full cvssData, weaknesses, configurations and
  references. Configuration shapes, in roughly NVD's proportions: single-product version
  ranges, exact-version lists (up to dozens of cpeMatch entries), "running on" AND
  configurations (a vulnerable application node and a non-vulnerable ``o:`` node),
  firmware + hardware pairs (one AND configuration per device model), several products,
  and extra vulnerable distribution entries (debian_linux, fedora). About 5 % of the
  records are Rejected and a share of the recent ones are still awaiting analysis (no
  configurations), as in today's feed.
* OSV ``all.zip`` per ecosystem (one JSON record per member), Debian ≈ 60 %: DEBIAN-CVE /
  DSA / DLA records with one affected entry per release, Alpine, PyPI (PYSEC, GHSA, MAL),
  npm (GHSA, MAL), Go, Maven, crates.io, Packagist and OSS-Fuzz (GIT ranges with commit
  hashes plus tag lists). Aliases point at the generated CVE ids; ranges use introduced /
  fixed, sometimes last_affected, and explicit version lists where osv.dev enumerates them.

The product vocabulary is ≈ 20,000 CPE vendor:product pairs with a Zipf-Mandelbrot
popularity, including every real pair of ``src/spyproof/data/vuln_products.yaml`` at
popular ranks. :func:`vocabulary` and :func:`components` rebuild the same vocabulary in
another process (the benchmark's matching step draws its SBOM from it).

Run on its own: ``.venv/bin/python benchmarks/synth_feeds.py --nvd 2000 --osv 1000``.
"""

from __future__ import annotations

import argparse
import bisect
import gzip
import itertools
import json
import math
import random
import time
import zipfile
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import cache
from pathlib import Path

import yaml

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
WORK = HERE / "_work" / "vulns"
VULN_PRODUCTS = ROOT / "src" / "spyproof" / "data" / "vuln_products.yaml"

GENERATOR_VERSION = 2  # bump when the output of a given seed changes
N_PAIRS = 20_000
NOW = datetime(2026, 11, 28, 12, 0, 0)

# Published CVEs per year (NVD dashboard, rounded; 2026 extrapolated): the year weights.
YEAR_WEIGHTS = {
    1999: 1_550, 2000: 1_240, 2001: 1_560, 2002: 2_390, 2003: 1_550, 2004: 2_710,
    2005: 4_760, 2006: 7_140, 2007: 6_580, 2008: 7_170, 2009: 5_000, 2010: 5_190,
    2011: 4_820, 2012: 5_800, 2013: 6_700, 2014: 8_880, 2015: 8_560, 2016: 10_460,
    2017: 16_500, 2018: 17_200, 2019: 17_650, 2020: 19_000, 2021: 21_500, 2022: 25_200,
    2023: 29_500, 2024: 40_300, 2025: 47_000, 2026: 44_000,
}

OSV_SHARES = {  # ecosystem -> share of the OSV records
    "Debian": 0.60, "Alpine": 0.07, "PyPI": 0.07, "npm": 0.09, "Go": 0.04,
    "Maven": 0.05, "OSS-Fuzz": 0.03, "crates.io": 0.02, "Packagist": 0.03,
}

# Real "running on" platforms (non-vulnerable o: nodes) and distributions NVD lists as
# vulnerable in a configuration of their own.
PLATFORMS = [
    "cpe:2.3:o:microsoft:windows:-:*:*:*:*:*:*:*",
    "cpe:2.3:o:linux:linux_kernel:-:*:*:*:*:*:*:*",
    "cpe:2.3:o:apple:macos:-:*:*:*:*:*:*:*",
    "cpe:2.3:o:apple:iphone_os:-:*:*:*:*:*:*:*",
    "cpe:2.3:o:google:android:-:*:*:*:*:*:*:*",
    "cpe:2.3:o:freebsd:freebsd:-:*:*:*:*:*:*:*",
    "cpe:2.3:o:oracle:solaris:-:*:*:*:*:*:*:*",
    "cpe:2.3:o:ibm:aix:-:*:*:*:*:*:*:*",
]
DISTROS = [
    ("debian", "debian_linux", ["8.0", "9.0", "10.0", "11.0", "12.0"]),
    ("fedoraproject", "fedora", [str(v) for v in range(30, 42)]),
    ("canonical", "ubuntu_linux", ["16.04", "18.04", "20.04", "22.04", "24.04"]),
    ("redhat", "enterprise_linux", ["7.0", "8.0", "9.0"]),
]

# Realistic version lines of the best-known real products (oldest first).
REAL_VERSIONS = {
    "openssl:openssl": ["0.9.8", *(f"0.9.8{c}" for c in "abcdefghijklmnopqrstuvwxy"),
                        "1.0.1", *(f"1.0.1{c}" for c in "abcdefghijklmnopqrstu"),
                        "1.0.2", *(f"1.0.2{c}" for c in "abcdefghijklmnopqrstu"),
                        "1.1.0", *(f"1.1.0{c}" for c in "abcdefghijkl"),
                        "1.1.1", *(f"1.1.1{c}" for c in "abcdefghijklmnopqrstuvw"),
                        *(f"3.0.{i}" for i in range(16)), *(f"3.1.{i}" for i in range(8)),
                        *(f"3.2.{i}" for i in range(4)), *(f"3.3.{i}" for i in range(3))],
    "busybox:busybox": [f"1.{m}.{p}" for m in range(10, 37) for p in range(0, 4)],
    "dropbear_ssh_project:dropbear_ssh": [f"{y}.{n}" for y in range(2011, 2025)
                                          for n in (50 + (y - 2011) * 2, 51 + (y - 2011) * 2)],
    "openbsd:openssh": [f"{m}.{n}" for m in range(4, 10) for n in range(10)] + ["9.6", "9.7"],
    "haxx:curl": [f"7.{m}.{p}" for m in range(30, 89) for p in range(0, 2)]
    + [f"8.{m}.{p}" for m in range(0, 12) for p in range(0, 2)],
    "haxx:libcurl": [f"7.{m}.{p}" for m in range(30, 89) for p in range(0, 2)]
    + [f"8.{m}.{p}" for m in range(0, 12) for p in range(0, 2)],
    "zlib:zlib": ["1.2.3", "1.2.5", "1.2.7", "1.2.8", "1.2.11", "1.2.12", "1.2.13", "1.3",
                  "1.3.1"],
    "sqlite:sqlite": [f"3.{m}.{p}" for m in range(7, 47) for p in range(0, 3)],
    "thekelleys:dnsmasq": [f"2.{m}" for m in range(40, 91)],
    "linux:linux_kernel": [f"{a}.{b}.{c}" for a, bs in ((2, (6,)), (3, range(0, 20)),
                                                        (4, range(0, 21)), (5, range(0, 20)),
                                                        (6, range(0, 13)))
                           for b in bs for c in range(0, 60, 7)],
    "gnu:glibc": [f"2.{m}" for m in range(10, 41)],
    "xmlsoft:libxml2": [f"2.{m}.{p}" for m in range(6, 14) for p in range(0, 12)],
    "w1.fi:hostapd": ["0.7.3", "1.0", "1.1", "2.0", "2.1", "2.2", "2.3", "2.4", "2.5", "2.6",
                      "2.7", "2.8", "2.9", "2.10", "2.11"],
    "w1.fi:wpa_supplicant": ["0.7.3", "1.0", "1.1", "2.0", "2.1", "2.2", "2.3", "2.4", "2.5",
                             "2.6", "2.7", "2.8", "2.9", "2.10", "2.11"],
    "f5:nginx": [f"1.{m}.{p}" for m in range(20, 28) for p in range(0, 4)],
    "nginx:nginx": [f"1.{m}.{p}" for m in range(0, 20) for p in range(0, 8)],
    "lighttpd:lighttpd": [f"1.4.{p}" for p in range(20, 77)],
}

VULN_KINDS = [
    ("buffer overflow", "CWE-120"), ("heap-based buffer overflow", "CWE-122"),
    ("stack-based buffer overflow", "CWE-121"), ("out-of-bounds read", "CWE-125"),
    ("out-of-bounds write", "CWE-787"), ("use-after-free", "CWE-416"),
    ("NULL pointer dereference", "CWE-476"), ("integer overflow", "CWE-190"),
    ("cross-site scripting (XSS) vulnerability", "CWE-79"),
    ("SQL injection vulnerability", "CWE-89"), ("OS command injection vulnerability", "CWE-78"),
    ("path traversal vulnerability", "CWE-22"), ("cross-site request forgery (CSRF)", "CWE-352"),
    ("improper authentication", "CWE-287"), ("missing authorization", "CWE-862"),
    ("uncontrolled resource consumption", "CWE-400"), ("race condition", "CWE-362"),
    ("improper input validation", "CWE-20"), ("information disclosure", "CWE-200"),
    ("server-side request forgery (SSRF)", "CWE-918"), ("deserialization of untrusted data",
                                                       "CWE-502"),
    ("hard-coded credentials issue", "CWE-798"), ("double free", "CWE-415"),
    ("infinite loop", "CWE-835"), ("improper certificate validation", "CWE-295"),
]
ATTACKERS = ["remote attackers", "remote authenticated users", "local users",
             "unauthenticated remote attackers", "physically proximate attackers",
             "attackers on the adjacent network", "context-dependent attackers"]
IMPACTS = ["execute arbitrary code", "cause a denial of service (crash)",
           "cause a denial of service (memory consumption)",
           "obtain sensitive information from process memory", "bypass authentication",
           "gain privileges", "inject arbitrary web script or HTML",
           "execute arbitrary SQL commands", "read arbitrary files",
           "write arbitrary files", "cause a denial of service (infinite loop)",
           "conduct man-in-the-middle attacks", "escalate privileges to root"]
VECTORS = ["a crafted HTTP request", "a crafted packet", "a long string in the {p} parameter",
           "the {p} parameter to {f}", "a malformed {p} header", "a crafted file",
           "a specially crafted certificate", "crafted input to the {f} function",
           "a crafted URL", "a sequence of crafted requests", "the {p} field of a crafted "
           "message"]
FILLERS = [
    "This issue affects the default configuration.",
    "The vulnerability exists due to insufficient validation of user-supplied input.",
    "Successful exploitation requires the attacker to be authenticated.",
    "The issue was addressed with improved bounds checking.",
    "This vulnerability is due to an incorrect length calculation when processing "
    "the affected field.",
    "NOTE: the vendor disputes the significance of this report because the affected "
    "interface is only reachable by administrators.",
    "An attacker could exploit this vulnerability by sending crafted traffic to an "
    "affected device.",
    "A successful exploit could allow the attacker to cause the affected device to "
    "reload, resulting in a denial of service (DoS) condition.",
    "Users are recommended to upgrade to the fixed version, which fixes the issue.",
    "The exploit has been disclosed to the public and may be used.",
    "This is a different vulnerability than the one previously reported for the same "
    "component.",
]
CNA_SOURCES = ["cve@mitre.org", "secalert@redhat.com", "security@android.com",
               "psirt@cisco.com", "security-advisories@github.com", "cna@vuldb.com",
               "audit@patchstack.com", "security@wordfence.com", "psirt@us.ibm.com",
               "secure@microsoft.com", "security@apache.org", "cve@kernel.org",
               "vultures@jpcert.or.jp", "twcert@cert.org.tw", "psirt@huawei.com",
               "security@huntr.dev", "product-security@apple.com", "secalert_us@oracle.com"]
REF_TAGS = [["Vendor Advisory"], ["Patch"], ["Third Party Advisory"], ["Exploit",
            "Third Party Advisory"], ["Issue Tracking"], ["Mailing List"], ["Release Notes"],
            ["VDB Entry"], ["Patch", "Vendor Advisory"], ["Broken Link"], []]
REF_HOSTS = ["github.com", "lists.debian.org", "www.openwall.com", "bugzilla.redhat.com",
             "security.gentoo.org", "www.securityfocus.com", "exchange.xforce.ibmcloud.com",
             "seclists.org", "www.exploit-db.com", "vuldb.com", "access.redhat.com",
             "ubuntu.com", "security.netapp.com", "lists.fedoraproject.org", "huntr.com",
             "patchstack.com", "wpscan.com", "www.wordfence.com"]

_SYL = ["ab", "ac", "ad", "al", "am", "an", "ar", "as", "ax", "ba", "be", "bi", "bo", "ca",
        "ce", "ci", "co", "cu", "da", "de", "di", "do", "el", "en", "er", "ex", "fa", "fi",
        "fo", "ga", "ge", "go", "ha", "he", "hi", "ho", "ix", "ja", "jo", "ka", "ke", "ki",
        "ko", "la", "le", "li", "lo", "lu", "ma", "me", "mi", "mo", "na", "ne", "ni", "no",
        "nu", "ob", "om", "on", "or", "pa", "pe", "pi", "po", "qu", "ra", "re", "ri", "ro",
        "ru", "sa", "se", "si", "so", "ta", "te", "ti", "to", "tu", "ul", "un", "ur", "va",
        "ve", "vi", "vo", "wa", "we", "xa", "xe", "yo", "za", "ze", "zo"]
_WORDS = ["server", "manager", "portal", "cms", "gateway", "client", "studio", "suite",
          "agent", "connect", "cloud", "router", "viewer", "editor", "framework", "library",
          "toolkit", "engine", "proxy", "monitor", "firewall", "vpn", "dashboard", "shop",
          "forms", "gallery", "booking", "backup", "sync", "media", "pdf", "image", "mail",
          "chat", "print", "office", "lms", "crm", "erp", "wiki", "blog", "store", "api"]
_GHSA = "23456789cfghjmpqrvwx"


# --------------------------------------------------------------------------- vocabulary


@dataclass
class Pair:
    vendor: str
    product: str
    part: str  # a / o (firmware of a device) / h is implied for devices
    kind: str  # app / os / device / wp (WordPress plugin) / real
    scheme: int  # version scheme for synthetic products
    hardware: str | None = None  # device model (h:) for kind == "device"

    @property
    def key(self) -> str:
        return f"{self.vendor}:{self.product}"


@dataclass
class Vocab:
    pairs: list[Pair]
    cum: list[float]
    real: list[Pair]
    eco_names: dict[str, list[str]] = field(default_factory=dict)
    eco_cum: dict[str, list[float]] = field(default_factory=dict)
    real_osv: dict[str, dict[str, str]] = field(default_factory=dict)  # product -> eco -> name
    _devices: dict[str, list[Pair]] = field(default_factory=dict)

    def devices_of(self, vendor: str) -> list[Pair]:
        if not self._devices:
            for p in self.pairs:
                if p.kind == "device":
                    self._devices.setdefault(p.vendor, []).append(p)
        return self._devices.get(vendor, [])

    def pick(self, rng: random.Random) -> Pair:
        return self.pairs[bisect.bisect(self.cum, rng.random() * self.cum[-1])]

    def pick_name(self, rng: random.Random, eco: str) -> str:
        cum = self.eco_cum[eco]
        return self.eco_names[eco][bisect.bisect(cum, rng.random() * cum[-1])]


def _zipf_cum(n: int, s: float = 1.07, q: float = 2.7) -> list[float]:
    return list(itertools.accumulate(1.0 / (k + q) ** s for k in range(1, n + 1)))


def _word(rng: random.Random, lo: int = 2, hi: int = 4) -> str:
    return "".join(rng.choice(_SYL) for _ in range(rng.randint(lo, hi)))


@cache
def vocabulary(seed: int) -> Vocab:
    """The ≈ 20,000 vendor:product pairs (Zipf-ranked) and the OSV package names."""
    rng = random.Random(f"vocab-{seed}")
    spec = yaml.safe_load(VULN_PRODUCTS.read_text())
    real_keys: list[str] = []
    real_osv: dict[str, dict[str, str]] = {}
    for name, p in spec["products"].items():
        for pair in p["cpe"]:
            if pair not in real_keys:
                real_keys.append(pair)
        real_osv[name] = dict(p.get("osv") or {})
    for bad in spec.get("known_bad", []):
        if bad["cpe"] not in real_keys:
            real_keys.append(bad["cpe"])
    real = []
    for key in real_keys:
        vendor, product = key.split(":", 1)
        part = "o" if key in ("linux:linux_kernel", "openbsd:openbsd", "openwrt:openwrt") else "a"
        real.append(Pair(vendor, product, part, "real", 0))
    seen = set(real_keys)
    n_vendors = 7_000
    vendors: list[str] = []
    vseen: set[str] = set()
    while len(vendors) < n_vendors:
        v = _word(rng)
        if rng.random() < 0.15:
            v += rng.choice(["_project", "soft", "tech", "_inc", "labs", "systems"])
        if v not in vseen:
            vseen.add(v)
            vendors.append(v)
    hw_vendors = set(vendors[: n_vendors // 12])  # device makers (routers, cameras, NAS)
    vcum = _zipf_cum(n_vendors, s=0.9, q=5.0)
    synthetic: list[Pair] = []
    while len(synthetic) + len(real) < N_PAIRS:
        vendor = vendors[bisect.bisect(vcum, rng.random() * vcum[-1])]
        r = rng.random()
        if vendor in hw_vendors:
            model = f"{rng.choice(['dir', 'rt', 'wr', 'ax', 'nas', 'ipc', 'gs', 'ex'])}-" \
                    f"{rng.randint(100, 9999)}{rng.choice(['', '', 'n', 'ac', 'ax', 'l'])}"
            pair = Pair(vendor, f"{model}_firmware", "o", "device", rng.randint(1, 4), model)
        elif r < 0.12:
            slug = f"{_word(rng, 2, 3)}-{rng.choice(_WORDS)}"
            pair = Pair(vendor, slug, "a", "wp", rng.randint(1, 4))
        elif r < 0.14:
            pair = Pair(vendor, f"{_word(rng, 2, 3)}_os", "o", "os", rng.randint(1, 4))
        else:
            prod = _word(rng, 2, 3) if rng.random() < 0.5 else f"{vendor}_{rng.choice(_WORDS)}"
            if rng.random() < 0.3:
                prod += f"_{rng.choice(_WORDS)}"
            pair = Pair(vendor, prod, "a", "app", rng.randint(1, 4))
        if pair.key not in seen:
            seen.add(pair.key)
            synthetic.append(pair)
    rng.shuffle(synthetic)
    pairs = list(synthetic)
    for p in real:  # real pairs at popular ranks (openssl, linux_kernel … are in the top few %)
        pairs.insert(rng.randint(0, 600), p)
    vocab = Vocab(pairs, _zipf_cum(len(pairs)), real, real_osv=real_osv)
    _osv_vocab(vocab, rng)
    return vocab


def _osv_vocab(vocab: Vocab, rng: random.Random) -> None:
    def add(eco: str, names: list[str]) -> None:
        uniq = list(dict.fromkeys(names))
        vocab.eco_names[eco] = uniq
        vocab.eco_cum[eco] = _zipf_cum(len(uniq), s=1.0, q=4.0)

    prods = [p.product.replace("_", "-") for p in vocab.pairs if p.kind in ("app", "real")]
    for eco, n in (("Debian", 6_000), ("Alpine", 2_500), ("OSS-Fuzz", 1_200)):
        real = [m[eco] for m in vocab.real_osv.values() if eco in m]
        names = [n_ for n_ in prods[: n * 2] if rng.random() < 0.5][:n]
        mixed = names[:]
        for r in real:
            mixed.insert(rng.randint(0, min(400, len(mixed))), r)
        add(eco, mixed)
    add("PyPI", [f"{_word(rng, 2, 3)}{rng.choice(['', '-py', '-client', '-utils', 'lib'])}"
                 for _ in range(5_000)])
    add("npm", [(f"@{_word(rng, 2, 2)}/" if rng.random() < 0.3 else "")
                + f"{_word(rng, 2, 3)}{rng.choice(['', '-js', '-cli', '-loader', '-plugin'])}"
                for _ in range(8_000)])
    add("Go", [f"github.com/{_word(rng, 2, 3)}/{_word(rng, 2, 3)}" for _ in range(2_500)])
    add("Maven", [f"org.{_word(rng, 2, 3)}.{_word(rng, 2, 3)}:{_word(rng, 2, 3)}-"
                  f"{rng.choice(['core', 'api', 'web', 'client', 'server'])}"
                  for _ in range(3_000)])
    add("crates.io", [f"{_word(rng, 2, 3)}{rng.choice(['', '-rs', '_sys', '-core'])}"
                      for _ in range(1_500)])
    add("Packagist", [f"{_word(rng, 2, 3)}/{_word(rng, 2, 3)}" for _ in range(2_000)])


# --------------------------------------------------------------------------- versions


@cache
def versions_of(key: str, scheme: int, seed: int) -> tuple[str, ...]:
    """The release history (oldest first) of a product: real for known pairs."""
    if key in REAL_VERSIONS:
        return tuple(REAL_VERSIONS[key])
    rng = random.Random(f"ver-{seed}-{key}")
    out: list[str] = []
    if scheme == 0 or scheme == 1:  # semver-ish
        major = rng.randint(0, 3)
        minor = rng.randint(0, 9)
        patch = 0
        for _ in range(rng.randint(6, 60)):
            out.append(f"{major}.{minor}.{patch}")
            r = rng.random()
            if r < 0.6:
                patch += 1
            elif r < 0.9:
                minor, patch = minor + 1, 0
            else:
                major, minor, patch = major + 1, 0, 0
    elif scheme == 2:  # two components
        major, minor = rng.randint(1, 12), rng.randint(0, 5)
        for _ in range(rng.randint(5, 40)):
            out.append(f"{major}.{minor}")
            if rng.random() < 0.8:
                minor += 1
            else:
                major, minor = major + 1, 0
    elif scheme == 3:  # firmware builds: 1.0.0.46_1.0.31 / V2.0.1 Build 230512
        a, b, c, d = 1, rng.randint(0, 3), 0, rng.randint(1, 40)
        for _ in range(rng.randint(4, 30)):
            out.append(f"{a}.{b}.{c}.{d}" + (f"_{a}.0.{d // 2}" if rng.random() < 0.3 else ""))
            d += rng.randint(1, 6)
            if rng.random() < 0.15:
                c, d = c + 1, 1
    else:  # four components (Windows-style products, Java apps)
        a, b, c = rng.randint(1, 20), rng.randint(0, 9), 0
        for _ in range(rng.randint(5, 40)):
            out.append(f"{a}.{b}.{c}.{rng.randint(100, 9999)}")
            c += 1
            if rng.random() < 0.2:
                b, c = b + 1, 0
    return tuple(out)


def _vers(p: Pair, seed: int) -> tuple[str, ...]:
    return versions_of(p.key, p.scheme, seed)


# --------------------------------------------------------------------------- CVSS


_V31 = {
    "AV": {"N": 0.85, "A": 0.62, "L": 0.55, "P": 0.2},
    "AC": {"L": 0.77, "H": 0.44},
    "UI": {"N": 0.85, "R": 0.62},
    "CIA": {"H": 0.56, "L": 0.22, "N": 0.0},
}
_NAMES = {"N": "NETWORK", "A": "ADJACENT_NETWORK", "L": "LOCAL", "P": "PHYSICAL"}
_LVL = {"H": "HIGH", "L": "LOW", "N": "NONE"}


def _roundup(x: float) -> float:
    i = round(x * 100000)
    return i / 100000.0 if i % 10000 == 0 else (math.floor(i / 10000) + 1) / 10.0


def _sev(score: float) -> str:
    if score == 0:
        return "NONE"
    return "LOW" if score < 4 else "MEDIUM" if score < 7 else "HIGH" if score < 9 else "CRITICAL"


def cvss31(rng: random.Random) -> dict:
    av = rng.choices("NALP", (70, 5, 22, 3))[0]
    ac = rng.choices("LH", (85, 15))[0]
    pr = rng.choices("NLH", (60, 30, 10))[0]
    ui = rng.choices("NR", (65, 35))[0]
    s = rng.choices("UC", (85, 15))[0]
    c, i, a = (rng.choices("HLN", (55, 25, 20))[0] for _ in range(3))
    if c == i == a == "N":
        a = "H"
    prv = {"N": 0.85, "L": 0.68 if s == "C" else 0.62, "H": 0.5 if s == "C" else 0.27}[pr]
    iss = 1 - (1 - _V31["CIA"][c]) * (1 - _V31["CIA"][i]) * (1 - _V31["CIA"][a])
    impact = 6.42 * iss if s == "U" else 7.52 * (iss - 0.029) - 3.25 * (iss - 0.02) ** 15
    expl = 8.22 * _V31["AV"][av] * _V31["AC"][ac] * prv * _V31["UI"][ui]
    if impact <= 0:
        base = 0.0
    elif s == "U":
        base = _roundup(min(impact + expl, 10))
    else:
        base = _roundup(min(1.08 * (impact + expl), 10))
    vec = f"CVSS:3.1/AV:{av}/AC:{ac}/PR:{pr}/UI:{ui}/S:{s}/C:{c}/I:{i}/A:{a}"
    return {
        "version": "3.1", "vectorString": vec, "baseScore": base, "baseSeverity": _sev(base),
        "attackVector": _NAMES[av] if av != "A" else "ADJACENT_NETWORK",
        "attackComplexity": {"L": "LOW", "H": "HIGH"}[ac],
        "privilegesRequired": _LVL[pr], "userInteraction": {"N": "NONE", "R": "REQUIRED"}[ui],
        "scope": {"U": "UNCHANGED", "C": "CHANGED"}[s], "confidentialityImpact": _LVL[c],
        "integrityImpact": _LVL[i], "availabilityImpact": _LVL[a],
    }, round(expl, 1), round(max(impact, 0), 1)


def cvss40(rng: random.Random) -> dict:
    av = rng.choices("NALP", (70, 5, 22, 3))[0]
    ac, at = rng.choice("LLLH"), rng.choice("NNNP")
    pr, ui = rng.choice("NNLH"), rng.choice("NNPA")
    vc, vi, va = (rng.choice("HHLN") for _ in range(3))
    sc, si, sa = (rng.choice("NNNL") for _ in range(3))
    vec = (f"CVSS:4.0/AV:{av}/AC:{ac}/AT:{at}/PR:{pr}/UI:{ui}/VC:{vc}/VI:{vi}/VA:{va}"
           f"/SC:{sc}/SI:{si}/SA:{sa}")
    base = round(min(10.0, 1.0 + 2.9 * [vc, vi, va].count("H") + 1.2 * [vc, vi, va].count("L")
                     - (0.8 if av != "N" else 0) - (0.5 if pr != "N" else 0)), 1)
    base = max(base, 1.0)
    return {
        "version": "4.0", "vectorString": vec, "baseScore": base, "baseSeverity": _sev(base),
        "attackVector": _NAMES[av], "attackComplexity": {"L": "LOW", "H": "HIGH"}[ac],
        "attackRequirements": {"N": "NONE", "P": "PRESENT"}[at], "privilegesRequired":
        _LVL[pr], "userInteraction": {"N": "NONE", "P": "PASSIVE", "A": "ACTIVE"}[ui],
        "vulnConfidentialityImpact": _LVL[vc], "vulnIntegrityImpact": _LVL[vi],
        "vulnAvailabilityImpact": _LVL[va], "subConfidentialityImpact": _LVL[sc],
        "subIntegrityImpact": _LVL[si], "subAvailabilityImpact": _LVL[sa],
        "exploitMaturity": "NOT_DEFINED", "Safety": "NOT_DEFINED", "Automatable":
        "NOT_DEFINED", "Recovery": "NOT_DEFINED", "valueDensity": "NOT_DEFINED",
        "vulnerabilityResponseEffort": "NOT_DEFINED", "providerUrgency": "NOT_DEFINED",
    }


def cvss2(rng: random.Random) -> tuple[dict, float, float]:
    av = rng.choices("NAL", (75, 3, 22))[0]
    ac = rng.choices("LMH", (60, 35, 5))[0]
    au = rng.choices("NSM", (75, 24, 1))[0]
    c, i, a = (rng.choices("NPC", (25, 55, 20))[0] for _ in range(3))
    cia = {"N": 0.0, "P": 0.275, "C": 0.660}
    impact = 10.41 * (1 - (1 - cia[c]) * (1 - cia[i]) * (1 - cia[a]))
    expl = 20 * {"N": 1.0, "A": 0.646, "L": 0.395}[av] * {"L": 0.71, "M": 0.61, "H": 0.35}[ac] \
        * {"N": 0.704, "S": 0.56, "M": 0.45}[au]
    f = 0 if impact == 0 else 1.176
    base = round((0.6 * impact + 0.4 * expl - 1.5) * f, 1)
    lv = {"N": "NONE", "P": "PARTIAL", "C": "COMPLETE"}
    return {
        "version": "2.0", "vectorString": f"AV:{av}/AC:{ac}/Au:{au}/C:{c}/I:{i}/A:{a}",
        "baseScore": max(base, 0.0),
        "accessVector": {"N": "NETWORK", "A": "ADJACENT_NETWORK", "L": "LOCAL"}[av],
        "accessComplexity": {"L": "LOW", "M": "MEDIUM", "H": "HIGH"}[ac],
        "authentication": {"N": "NONE", "S": "SINGLE", "M": "MULTIPLE"}[au],
        "confidentialityImpact": lv[c], "integrityImpact": lv[i], "availabilityImpact": lv[a],
    }, round(expl, 1), round(impact, 1)


# --------------------------------------------------------------------------- NVD


def _ts(dt: datetime) -> str:
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}"


def _uuid(rng: random.Random) -> str:
    h = f"{rng.getrandbits(128):032X}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def _cpe(part: str, vendor: str, product: str, version: str = "*", update: str = "*",
         target_sw: str = "*") -> str:
    v = version.replace(":", "\\:")
    return f"cpe:2.3:{part}:{vendor}:{product}:{v}:{update}:*:*:*:{target_sw}:*:*"


def _title(word: str) -> str:
    return " ".join(w.capitalize() for w in word.replace("-", "_").split("_"))


def year_counts(total: int) -> dict[int, int]:
    wsum = sum(YEAR_WEIGHTS.values())
    counts = {y: max(1, round(total * w / wsum)) for y, w in YEAR_WEIGHTS.items()}
    diff = total - sum(counts.values())
    counts[2025] = max(1, counts[2025] + diff)
    return counts


def cve_ids(total: int, seed: int) -> dict[int, list[str]]:
    """Per year, the CVE ids (sorted, with the gaps of reserved-but-unused numbers)."""
    rng = random.Random(f"ids-{seed}")
    out: dict[int, list[str]] = {}
    for year, n in year_counts(total).items():
        num, ids = 0, []
        spread = 1 if year < 2014 else 3
        for _ in range(n):
            num += 1 if rng.random() < 0.7 else rng.randint(1, spread * 4)
            ids.append(f"CVE-{year}-{num:04d}")
        out[year] = ids
    return out


def _node(matches: list[dict], operator: str = "OR") -> dict:
    return {"operator": operator, "negate": False, "cpeMatch": matches}


def _match(rng: random.Random, criteria: str, vulnerable: bool = True, **bounds: str) -> dict:
    m = {"vulnerable": vulnerable, "criteria": criteria}
    m.update(bounds)
    m["matchCriteriaId"] = _uuid(rng)
    return m


def _range_match(rng: random.Random, p: Pair, seed: int, target_sw: str = "*") -> dict:
    vs = _vers(p, seed)
    hi = rng.randrange(1, len(vs)) if len(vs) > 1 else 0
    bounds: dict[str, str] = {}
    if rng.random() < 0.3 and hi > 1:  # NVD writes the start bound first
        lo = rng.randrange(0, hi)
        bounds["versionStartIncluding" if rng.random() < 0.9 else "versionStartExcluding"] = vs[lo]
    if rng.random() < 0.75:
        bounds["versionEndExcluding"] = vs[hi]
    else:
        bounds["versionEndIncluding"] = vs[hi - 1 if hi else 0]
    return _match(rng, _cpe(p.part, p.vendor, p.product, target_sw=target_sw), **bounds)


def _exact_matches(rng: random.Random, p: Pair, seed: int, k: int) -> list[dict]:
    vs = _vers(p, seed)
    k = min(k, len(vs))
    start = rng.randrange(0, len(vs) - k + 1)
    out = []
    for v in vs[start : start + k]:
        out.append(_match(rng, _cpe(p.part, p.vendor, p.product, v)))
        if rng.random() < 0.04:  # a pre-release of that version, as NVD lists them
            out.append(_match(rng, _cpe(p.part, p.vendor, p.product, v,
                                        rng.choice(["beta1", "rc1", "rc2", "alpha"]))))
    return out


def _device_config(rng: random.Random, p: Pair, seed: int) -> dict:
    vs = _vers(p, seed)
    if rng.random() < 0.6:
        fw = _range_match(rng, p, seed)
    else:
        fw = _match(rng, _cpe("o", p.vendor, p.product, rng.choice(vs)))
    hw = _match(rng, _cpe("h", p.vendor, p.hardware or p.product, "-"), vulnerable=False)
    return {"operator": "AND", "nodes": [_node([fw]), _node([hw])]}


def _configurations(rng: random.Random, vocab: Vocab, seed: int) -> tuple[list[dict], Pair]:
    p = vocab.pick(rng)
    r = rng.random()
    configs: list[dict] = []
    if p.kind == "device":  # one AND configuration per model of the same maker
        siblings = vocab.devices_of(p.vendor)
        extra = min(len(siblings), rng.choice((0, 0, 0, 1, 2, 4, 8, 20)))
        models = [p] + [q for q in rng.sample(siblings, extra) if q is not p]
        for m in models:
            configs.append(_device_config(rng, m, seed))
    elif r < 0.46:  # single product, one or a few ranges
        n = rng.choices((1, 2, 3, 5), (70, 18, 8, 4))[0]
        ts = "wordpress" if p.kind == "wp" else "*"
        configs.append({"nodes": [_node([_range_match(rng, p, seed, ts) for _ in range(n)])]})
    elif r < 0.68:  # exact-version lists, sometimes dozens
        k = min(120, int(rng.paretovariate(1.5) * 1.5))
        configs.append({"nodes": [_node(_exact_matches(rng, p, seed, max(1, k)))]})
    elif r < 0.84:  # application running on an OS: AND with a non-vulnerable o: node
        app = [_range_match(rng, p, seed) if rng.random() < 0.6 else
               _match(rng, _cpe(p.part, p.vendor, p.product, rng.choice(_vers(p, seed))))]
        oses = [_match(rng, c, vulnerable=False)
                for c in rng.sample(PLATFORMS, rng.choice((1, 1, 2, 3)))]
        configs.append({"operator": "AND", "nodes": [_node(app), _node(oses)]})
    else:  # several products (same vendor family or bundled components)
        for _ in range(rng.choice((2, 2, 3, 4, 6))):
            q = vocab.pick(rng)
            if q.kind == "device":
                configs.append(_device_config(rng, q, seed))
            else:
                configs.append({"nodes": [_node([_range_match(rng, q, seed)])]})
    if rng.random() < 0.12:  # a distribution listed as vulnerable on its own
        vendor, prod, vers = rng.choice(DISTROS)
        dv = rng.sample(vers, rng.randint(1, min(3, len(vers))))
        configs.append({"nodes": [_node([_match(rng, _cpe("o", vendor, prod, v))
                                         for v in sorted(dv)])]})
    return configs, p


def _description(rng: random.Random, p: Pair, year: int, seed: int) -> str:
    kind, _ = rng.choice(VULN_KINDS)
    prod = _title(p.product.removesuffix("_firmware"))
    vend = _title(p.vendor)
    vs = _vers(p, seed)
    param = rng.choice(["id", "name", "file", "page", "url", "cmd", "user", "token", "path"])
    fn = rng.choice(["parse_header", "handle_request", "process_packet", "do_upload",
                     "read_config", "decode_frame", "auth_check", "setup_wizard"])
    vector = rng.choice(VECTORS).format(p=param, f=fn)
    first = (f"A {kind} in {vend} {prod} before {rng.choice(vs)} allows "
             f"{rng.choice(ATTACKERS)} to {rng.choice(IMPACTS)} via {vector}.")
    if rng.random() < 0.3:
        first = (f"{vend} {prod} {rng.choice(vs)} and earlier is affected by a {kind} in "
                 f"the {fn} function of {param}.c. {first}")
    parts = [first]
    target = rng.choice((150, 250, 350, 450, 600, 900))
    while sum(map(len, parts)) < target:
        parts.append(rng.choice(FILLERS))
    if year >= 2023 and rng.random() < 0.15:
        parts.append(f"The identifier VDB-{rng.randint(200000, 290000)} was assigned to "
                     "this vulnerability.")
    return " ".join(parts)


def _references(rng: random.Random, cve: str, source: str) -> list[dict]:
    n = min(60, int(rng.paretovariate(1.6) * 3) - 1)
    refs = []
    for _ in range(n):
        host = rng.choice(REF_HOSTS)
        path = rng.choice([
            f"/advisories/{cve}", f"/{_word(rng)}/{_word(rng)}/commit/{rng.getrandbits(160):040x}",
            f"/show_bug.cgi?id={rng.randint(100000, 2400000)}", f"/lists/oss-security/"
            f"{rng.randint(2000, 2026)}/q{rng.randint(1, 4)}/{rng.randint(1, 300)}",
            f"/vuln/{rng.randint(10000, 300000)}", f"/security/{cve.lower()}.html",
        ])
        refs.append({"url": f"https://{host}{path}",
                     "source": source if rng.random() < 0.7 else "nvd@nist.gov",
                     "tags": rng.choice(REF_TAGS)})
    return refs


def _nvd_record(rng: random.Random, vocab: Vocab, seed: int, cve: str, year: int) -> dict:
    start = datetime(year, 1, 1)
    days = min(364, (NOW - start).days - 1)
    published = start + timedelta(seconds=rng.randrange(days * 86400))
    span = (NOW - published).total_seconds()
    modified = published + timedelta(seconds=rng.random() * span)
    source = rng.choice(CNA_SOURCES)
    rejected = rng.random() < 0.05
    recent = year >= 2024
    awaiting = not rejected and recent and rng.random() < (0.25 if year == 2026 else 0.12)
    if rejected:
        status = "Rejected"
    elif awaiting:
        status = rng.choice(("Awaiting Analysis", "Received", "Undergoing Analysis"))
    else:
        status = rng.choices(("Analyzed", "Modified", "Deferred"), (60, 35, 5))[0]
    cve_obj: dict = {
        "id": cve, "sourceIdentifier": source, "published": _ts(published),
        "lastModified": _ts(modified), "vulnStatus": status,
    }
    if rejected:
        cve_obj["cveTags"] = []
        cve_obj["descriptions"] = [{"lang": "en", "value": rng.choice((
            "Rejected reason: This CVE ID has been rejected or withdrawn by its CVE "
            "Numbering Authority.",
            "** REJECT ** DO NOT USE THIS CANDIDATE NUMBER. ConsultIDs: none. Reason: This "
            "candidate was withdrawn by its CNA. Further investigation showed that it was "
            "not a security issue. Notes: none."))}]
        cve_obj["metrics"] = {}
        cve_obj["references"] = []
        return {"cve": cve_obj}
    configs, p = _configurations(rng, vocab, seed)
    desc = [{"lang": "en", "value": _description(rng, p, year, seed)}]
    if year >= 2023 and rng.random() < 0.5:
        desc.append({"lang": "es", "value": "Una vulnerabilidad en " + desc[0]["value"][:300]})
    cve_obj["cveTags"] = []
    cve_obj["descriptions"] = desc
    metrics: dict = {}
    if year >= 2016 or rng.random() < 0.3:
        data, ex, im = cvss31(rng)
        entry = {"source": "nvd@nist.gov", "type": "Primary", "cvssData": data,
                 "exploitabilityScore": ex, "impactScore": im}
        metrics["cvssMetricV31"] = [entry] if rng.random() < 0.6 else [
            {**entry, "source": source, "type": "Secondary"}, entry]
    if year >= 2024 and rng.random() < 0.3:
        metrics["cvssMetricV40"] = [{"source": source, "type": "Secondary",
                                     "cvssData": cvss40(rng)}]
    if year <= 2022:
        data2, ex2, im2 = cvss2(rng)
        metrics["cvssMetricV2"] = [{
            "source": "nvd@nist.gov", "type": "Primary", "cvssData": data2,
            "baseSeverity": _sev(data2["baseScore"]).replace("CRITICAL", "HIGH"),
            "exploitabilityScore": ex2, "impactScore": im2, "acInsufInfo": False,
            "obtainAllPrivilege": False, "obtainUserPrivilege": False,
            "obtainOtherPrivilege": False, "userInteractionRequired": rng.random() < 0.2}]
    cve_obj["metrics"] = metrics
    cwe = rng.choice(VULN_KINDS)[1]
    cve_obj["weaknesses"] = [{"source": "nvd@nist.gov" if rng.random() < 0.6 else source,
                              "type": "Primary", "description": [{"lang": "en", "value": cwe}]}]
    if not awaiting:
        cve_obj["configurations"] = configs
    cve_obj["references"] = _references(rng, cve, source)
    return {"cve": cve_obj}


def write_nvd(out: Path, total: int, seed: int) -> list[Path]:
    vocab = vocabulary(seed)
    ids = cve_ids(total, seed)
    files = []
    for year, year_ids in ids.items():
        rng = random.Random(f"nvd-{seed}-{year}")
        path = out / f"nvdcve-2.0-{year}.json.gz"
        tmp = path.with_suffix(".tmp")
        head = {"resultsPerPage": len(year_ids), "startIndex": 0,
                "totalResults": len(year_ids), "format": "NVD_CVE", "version": "2.0",
                "timestamp": _ts(NOW)}
        with gzip.open(tmp, "wt", encoding="utf-8", compresslevel=6) as f:
            f.write(json.dumps(head)[:-1] + ', "vulnerabilities": [\n')
            for n, cve in enumerate(year_ids):
                if n:
                    f.write(",\n")
                f.write(json.dumps(_nvd_record(rng, vocab, seed, cve, year),
                                   ensure_ascii=False))
            f.write("\n]}\n")
        tmp.replace(path)
        files.append(path)
    return files


# --------------------------------------------------------------------------- OSV


def _ghsa(rng: random.Random) -> str:
    return "GHSA-" + "-".join("".join(rng.choice(_GHSA) for _ in range(4)) for _ in range(3))


def _osv_ts(dt: datetime) -> str:
    return dt.strftime("%Y-%m-%dT%H:%M:%SZ") if dt.microsecond % 2 else \
        dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond:06d}Z"


_DEBIAN = {"Debian:11": "deb11u", "Debian:12": "deb12u", "Debian:13": "deb13u"}
_ALPINE = ["v3.16", "v3.17", "v3.18", "v3.19", "v3.20", "v3.21", "v3.22"]


def _upstream_versions(name: str, seed: int) -> tuple[str, ...]:
    return versions_of(f"osv:{name}", 1 + len(name) % 2, seed)


def _pkg_versions(rng: random.Random, name: str, seed: int, k: int) -> list[str]:
    vs = _upstream_versions(name, seed)
    k = min(k, len(vs))
    start = rng.randrange(0, len(vs) - k + 1)
    return list(vs[start : start + k])


def _cve_for(rng: random.Random, cve_pool: list[str], counter: itertools.count) -> str:
    if cve_pool:
        return cve_pool.pop()
    return f"CVE-2026-{900000 + next(counter)}"


def _osv_record(eco: str, n: int, rng: random.Random, vocab: Vocab, seed: int,
                cve_pool: list[str], all_cves: list[str], extra: itertools.count) -> dict:
    name = vocab.pick_name(rng, eco)
    published = datetime(2014, 1, 1) + timedelta(seconds=rng.randrange(int(
        (NOW - datetime(2014, 1, 1)).total_seconds())))
    modified = published + timedelta(seconds=rng.random() * (NOW - published).total_seconds())
    published = published.replace(microsecond=rng.randrange(1, 999999))
    modified = modified.replace(microsecond=rng.randrange(1, 999999))
    rec: dict = {"schema_version": "1.6.0"}
    aliases: list[str] = []
    upstream: list[str] = []
    affected: list[dict] = []
    severity: list[dict] = []
    dbs: dict | None = None
    details = ""
    summary = None
    refs: list[dict] = []
    vs = _upstream_versions(name, seed)
    if eco == "Debian":
        kind = rng.random()
        if kind < 0.8:
            cve = _cve_for(rng, cve_pool, extra)
            rid = f"DEBIAN-{cve}"
            upstream = [cve]
        else:
            rid = f"{'DSA' if kind < 0.9 else 'DLA'}-{1000 + n}-{rng.randint(1, 3)}"
            upstream = rng.sample(all_cves, min(len(all_cves), rng.randint(1, 8)))
            summary = f"{name} - security update"
        details = _osv_details(rng, name)
        releases = rng.sample(sorted(_DEBIAN), rng.choice((1, 2, 2, 3, 3)))
        for rel in sorted(releases):
            hi = rng.randrange(1, len(vs)) if len(vs) > 1 else 0
            rev = rng.randint(1, 9)
            if rng.random() < 0.15:
                events = [{"introduced": "0"}]  # not fixed yet
            else:
                fixed = f"{vs[hi]}-{rev}"
                if rng.random() < 0.5:
                    fixed += f"+{_DEBIAN[rel]}{rng.randint(1, 6)}"
                events = [{"introduced": "0"}, {"fixed": fixed}]
            aff: dict = {"package": {"ecosystem": rel, "name": name,
                                     "purl": f"pkg:deb/debian/{name}?arch=source"},
                         "ranges": [{"type": "ECOSYSTEM", "events": events}]}
            if rng.random() < 0.55:
                aff["versions"] = [f"{v}-{rng.randint(1, 4)}" for v in vs[max(0, hi - rng.randint(
                    2, 40)) : hi]] or [f"{vs[0]}-1"]
            aff["database_specific"] = {"source": "https://storage.googleapis.com/"
                                        f"debian-osv/debian-cve-osv/{rid}.json"}
            affected.append(aff)
        refs = [{"type": "ADVISORY",
                 "url": f"https://security-tracker.debian.org/tracker/{upstream[0]}"}]
    elif eco == "Alpine":
        cve = _cve_for(rng, cve_pool, extra)
        rid = f"ALPINE-{cve}"
        upstream = [cve]
        details = _osv_details(rng, name)
        for rel in sorted(rng.sample(_ALPINE, rng.randint(1, 4))):
            hi = rng.randrange(1, len(vs)) if len(vs) > 1 else 0
            affected.append({"package": {"ecosystem": f"Alpine:{rel}", "name": name,
                                         "purl": f"pkg:apk/alpine/{name}?arch=source"},
                             "ranges": [{"type": "ECOSYSTEM", "events": [
                                 {"introduced": "0"}, {"fixed": f"{vs[hi]}-r{rng.randint(0, 5)}"}
                             ]}]})
        refs = [{"type": "ADVISORY", "url": f"https://security.alpinelinux.org/vuln/{cve}"}]
    elif eco == "OSS-Fuzz":
        rid = f"OSV-{rng.randint(2016, 2026)}-{n + 1}"
        summary = f"{rng.choice(['Heap-buffer-overflow', 'Use-of-uninitialized-value', 'Stack-buffer-overflow', 'Null-dereference READ', 'Index-out-of-bounds'])} in {_word(rng)}_{_word(rng)}"  # noqa: E501
        details = (f"OSS-Fuzz report: https://bugs.chromium.org/p/oss-fuzz/issues/detail?id="
                   f"{rng.randint(10000, 70000)}\n\n```\nCrash type: {summary.split(' in ')[0]}"
                   f"\nCrash state:\n{_word(rng)}\n{_word(rng)}\n{_word(rng)}\n```\n")
        repo = f"https://github.com/{name}/{name}"
        events = [{"introduced": f"{rng.getrandbits(160):040x}"}]
        if rng.random() < 0.85:
            events.append({"fixed": f"{rng.getrandbits(160):040x}"})
        affected.append({"package": {"ecosystem": "OSS-Fuzz", "name": name},
                         "ranges": [{"type": "GIT", "repo": repo, "events": events}],
                         "versions": [f"{name}-{v}" for v in _pkg_versions(
                             rng, name, seed, rng.randint(0, 25))],
                         "ecosystem_specific": {"severity": rng.choice(["HIGH", "MEDIUM",
                                                                        "LOW"])}})
        refs = [{"type": "REPORT", "url": "https://bugs.chromium.org/p/oss-fuzz/issues/detail"
                 f"?id={rng.randint(10000, 70000)}"}]
    else:
        malicious = eco in ("npm", "PyPI") and rng.random() < 0.35
        if malicious:
            rid = f"MAL-{rng.randint(2022, 2026)}-{n + 1}"
            summary = f"Malicious code in {name} ({eco})"
            details = ("\n---\n_-= Per source details. Do not edit below this line.=-_\n\n"
                       f"## Source: ossf-package-analysis\nThe package {name} was found to "
                       "contain malicious code that exfiltrates environment variables.")
            affected.append({"package": {"ecosystem": eco, "name": name},
                             "versions": [f"{rng.randint(0, 9)}.{rng.randint(0, 9)}."
                                          f"{rng.randint(0, 20)}" for _ in range(
                                              rng.randint(1, 4))]})
            dbs = {"malicious-packages-origins": [{"source": "ossf-package-analysis",
                                                    "sha256": f"{rng.getrandbits(256):064x}"}]}
        else:
            cve = rng.choice(all_cves) if all_cves and rng.random() < 0.8 else None
            if eco == "Go":
                rid = f"GO-{rng.randint(2020, 2026)}-{n + 1:04d}"
                aliases = [a for a in (cve, _ghsa(rng)) if a]
            elif eco == "crates.io":
                rid = f"RUSTSEC-{rng.randint(2017, 2026)}-{n + 1:04d}"
                aliases = [a for a in (cve,) if a]
            elif eco == "PyPI" and rng.random() < 0.4:
                rid = f"PYSEC-{rng.randint(2017, 2026)}-{n + 1}"
                aliases = [a for a in (cve, _ghsa(rng)) if a]
            else:
                rid = _ghsa(rng)
                aliases = [a for a in (cve,) if a]
            summary = f"{name} vulnerable to {rng.choice(VULN_KINDS)[0]}"
            details = _osv_details(rng, name)
            sem = "SEMVER" if eco in ("npm", "Go", "crates.io") else "ECOSYSTEM"
            for _ in range(rng.choices((1, 2, 3), (75, 18, 7))[0]):
                hi = rng.randrange(1, len(vs)) if len(vs) > 1 else 0
                lo = rng.randrange(0, hi) if hi and rng.random() < 0.4 else None
                events = [{"introduced": vs[lo] if lo is not None else "0"}]
                if rng.random() < 0.07:
                    events.append({"last_affected": vs[hi - 1 if hi else 0]})
                elif rng.random() < 0.95:
                    events.append({"fixed": vs[hi]})
                aff = {"package": {"ecosystem": eco, "name": name,
                                   "purl": _purl(eco, name)},
                       "ranges": [{"type": sem, "events": events}]}
                if eco in ("PyPI", "Maven", "Packagist") and rng.random() < 0.7:
                    aff["versions"] = list(vs[lo or 0 : hi][:80])
                if eco == "Go":
                    aff["ecosystem_specific"] = {"imports": [{"path": f"{name}/{_word(rng)}",
                                                              "symbols": [_title(_word(rng))
                                                                          .replace(" ", "")]}]}
                affected.append(aff)
            if rng.random() < 0.6:
                severity = [{"type": "CVSS_V3", "score": cvss31(rng)[0]["vectorString"]}]
                if rng.random() < 0.2:
                    severity.append({"type": "CVSS_V4", "score": cvss40(rng)["vectorString"]})
            dbs = {"cwe_ids": [rng.choice(VULN_KINDS)[1]],
                   "severity": rng.choice(["CRITICAL", "HIGH", "MODERATE", "LOW"]),
                   "github_reviewed": rng.random() < 0.7,
                   "github_reviewed_at": _osv_ts(modified), "nvd_published_at": None}
        refs = [{"type": t, "url": f"https://{rng.choice(REF_HOSTS)}/{_word(rng)}/"
                 f"{rng.getrandbits(64):016x}"}
                for t in rng.sample(["ADVISORY", "WEB", "PACKAGE", "FIX", "REPORT"],
                                    rng.randint(1, 5))]
    rec["id"] = rid
    rec["modified"] = _osv_ts(modified)
    rec["published"] = _osv_ts(published)
    if rng.random() < 0.01:
        rec["withdrawn"] = _osv_ts(modified)
    if aliases:
        rec["aliases"] = aliases
    if upstream:
        rec["upstream"] = upstream
    if summary:
        rec["summary"] = summary
    rec["details"] = details
    if severity:
        rec["severity"] = severity
    rec["affected"] = affected
    rec["references"] = refs
    if dbs:
        rec["database_specific"] = dbs
    return rec


def _purl(eco: str, name: str) -> str:
    if eco == "Maven":
        g, a = name.split(":", 1)
        return f"pkg:maven/{g}/{a}"
    typ = {"PyPI": "pypi", "npm": "npm", "Go": "golang", "crates.io": "cargo",
           "Packagist": "composer"}[eco]
    return f"pkg:{typ}/{name.replace('@', '%40')}"


def _osv_details(rng: random.Random, name: str) -> str:
    kind = rng.choice(VULN_KINDS)[0]
    text = (f"A {kind} was found in {name}. {rng.choice(ATTACKERS).capitalize()} could "
            f"{rng.choice(IMPACTS)} via {rng.choice(VECTORS).format(p='input', f='parse')}.")
    while len(text) < rng.choice((120, 250, 400, 700)):
        text += " " + rng.choice(FILLERS)
    return text


def osv_counts(total: int) -> dict[str, int]:
    counts = {e: max(1, round(total * s)) for e, s in OSV_SHARES.items()}
    counts["Debian"] += total - sum(counts.values())
    return counts


def write_osv(out: Path, total: int, seed: int, nvd_total: int) -> list[Path]:
    vocab = vocabulary(seed)
    all_cves = [c for ids in cve_ids(nvd_total, seed).values() for c in ids]
    files = []
    extra = itertools.count(1)
    base = 0  # record numbers (MAL-, OSV-, GO- … ids) are unique across ecosystems
    for eco, count in osv_counts(total).items():
        rng = random.Random(f"osv-{seed}-{eco}")
        pool = all_cves[:]
        rng.shuffle(pool)
        path = out / f"osv-{eco}-all.zip"
        tmp = path.with_suffix(".tmp")
        seen: set[str] = set()
        with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED, compresslevel=6) as zf:
            n = 0
            while n < count:
                rec = _osv_record(eco, base + n, rng, vocab, seed, pool, all_cves, extra)
                if rec["id"] in seen:
                    continue
                seen.add(rec["id"])
                info = zipfile.ZipInfo(f"{rec['id']}.json", date_time=(2026, 11, 28, 0, 0, 0))
                info.compress_type = zipfile.ZIP_DEFLATED
                zf.writestr(info, json.dumps(rec, ensure_ascii=False, indent=None))
                n += 1
        tmp.replace(path)
        files.append(path)
        base += count
    return files


# --------------------------------------------------------------------------- cache


def feed_dir(nvd: int, osv: int, seed: int) -> Path:
    return WORK / f"feeds-s{seed}-nvd{nvd}-osv{osv}"


def generate(nvd: int, osv: int, seed: int, log=print) -> tuple[list[Path], float | None]:
    """The feed files (generated, or reused from the cache); and the generation time."""
    out = feed_dir(nvd, osv, seed)
    manifest = out / "manifest.json"
    want = {"generator": GENERATOR_VERSION, "seed": seed, "nvd": nvd, "osv": osv}
    if manifest.is_file():
        have = json.loads(manifest.read_text())
        files = [out / f for f in have.get("files", [])]
        if {k: have.get(k) for k in want} == want and all(f.is_file() for f in files):
            return files, None
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    log(f"generating {nvd} NVD + {osv} OSV records in {out} ...")
    files = write_nvd(out, nvd, seed)
    log(f"  NVD done in {time.perf_counter() - t0:.0f} s")
    files += write_osv(out, osv, seed, nvd)
    elapsed = time.perf_counter() - t0
    log(f"  OSV done ({elapsed:.0f} s in all)")
    manifest.write_text(json.dumps({**want, "files": [f.name for f in files],
                                    "seconds": round(elapsed, 1)}, indent=2))
    return files, elapsed


# --------------------------------------------------------------------------- SBOM


def components(seed: int, n: int = 1000) -> list[dict]:
    """A firmware-like SBOM: Debian 12 packages, fingerprinted real products, and products
    of the generated vocabulary, with versions from their release histories (so ranges hit).

    Returns keyword dicts for ``spyproof.models.Component``.
    """
    vocab = vocabulary(seed)
    rng = random.Random(f"sbom-{seed}")
    out: list[dict] = []
    spec = yaml.safe_load(VULN_PRODUCTS.read_text())["products"]
    n_real = min(len(spec) * 2, n // 10)
    n_deb = n * 45 // 100
    # fingerprinted real products (pkg:generic + the curated CPE), two versions of some
    names = list(spec)
    for i in range(n_real):
        name = names[i % len(names)]
        vendor, product = spec[name]["cpe"][0].split(":", 1)
        vs = versions_of(f"{vendor}:{product}", 0, seed)
        v = rng.choice(vs[len(vs) // 2 :])
        part = "o" if product == "linux_kernel" else "a"
        out.append({"name": name, "version": v, "purl": f"pkg:generic/{name}@{v}",
                    "cpe": _cpe(part, vendor, product, v), "method": "fingerprint",
                    "confidence": 0.9})
    # Debian 12 packages (source package names of the Debian OSV vocabulary): which packages
    # a system has does not follow how many advisories they have, so half are drawn by
    # advisory popularity (the openssl/curl/glibc kind every system has) and half uniformly
    deb_names = vocab.eco_names["Debian"]
    chosen: set[str] = set()
    while len(chosen) < min(n_deb, len(deb_names)):
        chosen.add(vocab.pick_name(rng, "Debian") if len(chosen) % 2 else rng.choice(deb_names))
    for name in sorted(chosen):
        vs = _upstream_versions(name, seed)
        v = f"{rng.choice(vs)}-{rng.randint(1, 4)}"
        if rng.random() < 0.2:
            v += f"+deb12u{rng.randint(1, 5)}"
        out.append({"name": name, "version": v,
                    "purl": f"pkg:deb/debian/{name}@{v}?arch=arm64&distro=debian-12",
                    "cpe": None, "method": "package-db", "confidence": 1.0,
                    "package": name})
    # generic products of the vocabulary (popular ones more often), fingerprinted
    seen = {c["name"] for c in out}
    while len(out) < n:
        p = vocab.pick(rng)
        if p.kind == "real" or p.product in seen:
            continue
        seen.add(p.product)
        vs = _vers(p, seed)
        v = rng.choice(vs)
        out.append({"name": p.product, "version": v, "purl": f"pkg:generic/{p.product}@{v}",
                    "cpe": _cpe(p.part, p.vendor, p.product, v), "method": "fingerprint",
                    "confidence": 0.9})
    return out[:n]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--nvd", type=int, default=300_000)
    ap.add_argument("--osv", type=int, default=200_000)
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args(argv)
    files, secs = generate(a.nvd, a.osv, a.seed)
    for f in files:
        print(f"{f.stat().st_size:>12,}  {f}")
    print("cached" if secs is None else f"generated in {secs:.1f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
