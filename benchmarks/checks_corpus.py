"""Labelled corpus for the evidence checks (issue 5): clean router images and planted copies.

Clean images: the router userland of ``corpus.ROUTER_PACKAGES`` (real Debian 12 packages)
for three architectures (armel, mipsel, arm64), with BusyBox applet links and the
configuration a careful vendor ships: root locked, a serial getty that asks for a login,
dnsmasq on the LAN, Dropbear with keys only on the LAN address (host keys made on first
boot), lighttpd bound to the LAN. Packed like router firmware by ``corpus.pack_router_image``
(uImage + padding + squashfs-xz).

Planted images: one case of ``planted_cases.yaml`` per image, applied to a copy of the
clean root filesystem (hard links, so only touched files are new). Keys are generated with
the real tools (dropbearkey, openssl, ssh-keygen), hashes with ``openssl passwd``, binaries
cross-compiled with Debian's cross gcc for the image's architecture.

Everything is cached under ``benchmarks/_work/checks/``; an image is rebuilt when its case
or the clean configuration changes. Run alone to build the corpus:

    .venv/bin/python benchmarks/checks_corpus.py
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import yaml

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import corpus  # noqa: E402

WORK = HERE / "_work"
CHECKS_WORK = WORK / "checks"
MATERIAL = CHECKS_WORK / "material"  # generated keys, compiled binaries (cached)
CASES_FILE = HERE / "planted_cases.yaml"
BASE_ARCHES = ("armel", "mipsel", "arm64")
MKIMAGE_ARCH = {"armel": "arm", "mipsel": "mips", "arm64": "arm64"}
CROSS_GCC = {"armel": "arm-linux-gnueabi", "mipsel": "mipsel-linux-gnu",
             "arm64": "aarch64-linux-gnu"}
CORPUS_VERSION = "1"  # bump to rebuild every image

# Applets of Debian's busybox 1.35 build (its applet table) and where firmware links them.
_SBIN = {"init", "getty", "ifconfig", "route", "halt", "reboot", "poweroff", "syslogd",
         "klogd", "insmod", "rmmod", "modprobe", "lsmod", "depmod", "mdev", "udhcpc",
         "switch_root", "pivot_root", "sysctl", "start-stop-daemon", "watchdog", "hwclock",
         "swapon", "swapoff", "ip", "losetup", "mkswap", "fdisk", "nameif", "vconfig",
         "arp", "blkid", "findfs", "fstrim", "mke2fs", "mkdosfs", "run-init", "devmem",
         "ifup", "ifdown", "logread", "acpid", "adjtimex", "blockdev", "freeramdisk",
         "ipneigh", "partprobe", "uevent"}
_USR_SBIN = {"brctl", "httpd", "udhcpd", "dumpleases", "nologin", "rdate"}
_USR_BIN = {"awk", "basename", "bc", "bunzip2", "bzcat", "bzip2", "cal", "clear", "cmp",
            "crc32", "cut", "dc", "diff", "dirname", "dos2unix", "du", "env", "expand",
            "expr", "factor", "fallocate", "find", "fold", "free", "ftpget", "ftpput",
            "head", "hexdump", "hostid", "id", "ipcalc", "killall", "last", "less", "logger",
            "logname", "lzcat", "lzma", "lzop", "md5sum", "mkfifo", "mkpasswd", "nl", "nproc",
            "nslookup", "od", "paste", "patch", "printf", "readlink", "realpath", "reset",
            "rev", "seq", "sha1sum", "sha256sum", "sha3sum", "sha512sum", "shred", "shuf",
            "sort", "ssl_client", "strings", "tac", "tail", "tee", "telnet", "test", "tftp",
            "time", "timeout", "top", "tr", "traceroute", "traceroute6", "truncate", "ts",
            "tty", "uniq", "unix2dos", "unlzma", "unxz", "unzip", "uptime", "uudecode",
            "uuencode", "w", "watch", "wc", "wget", "which", "who", "whoami", "xargs", "xxd",
            "xz", "xzcat", "yes"}

# -- the clean configuration --------------------------------------------------------------

CLEAN_FILES: dict[str, str] = {
    "etc/passwd": (
        "root:x:0:0:root:/root:/bin/ash\n"
        "daemon:*:1:1:daemon:/var:/bin/false\n"
        "ftp:*:55:55:ftp:/home/ftp:/bin/false\n"
        "network:*:101:101:network:/var:/bin/false\n"
        "dnsmasq:x:453:453:dnsmasq:/var/run/dnsmasq:/bin/false\n"
        "nobody:*:65534:65534:nobody:/var:/bin/false\n"),
    # root is locked until the owner sets a password in the first-run wizard
    "etc/shadow": (
        "root:!:20089:0:99999:7:::\n"
        "daemon:*:0:0:99999:7:::\n"
        "ftp:*:0:0:99999:7:::\n"
        "network:*:0:0:99999:7:::\n"
        "dnsmasq:!:0:0:99999:7:::\n"
        "nobody:*:0:0:99999:7:::\n"),
    "etc/group": (
        "root:x:0:\ndaemon:x:1:\nadm:x:4:\nftp:x:55:\nnetwork:x:101:\ndnsmasq:x:453:\n"
        "nogroup:x:65534:\n"),
    "etc/inittab": (
        "::sysinit:/etc/init.d/rcS\n"
        "ttyS0::respawn:/sbin/getty -L ttyS0 115200 vt100\n"
        "::ctrlaltdel:/sbin/reboot\n"
        "::shutdown:/bin/umount -a -r\n"),
    "etc/init.d/rcS": (
        "#!/bin/sh\n"
        "# Boot: file systems, LAN bridge, then the LAN-side services.\n"
        "mount -t proc proc /proc\n"
        "mount -t sysfs sysfs /sys\n"
        "mount -t tmpfs -o size=16m tmpfs /tmp\n"
        "mkdir -p /var/run /var/log /tmp/lighttpd\n"
        "hostname -F /etc/hostname\n"
        "ifconfig lo 127.0.0.1 up\n"
        "ip link add name br-lan type bridge\n"
        "ip link set eth0 master br-lan\n"
        "ip addr add 192.168.1.1/24 dev br-lan\n"
        "ip link set eth0 up\n"
        "ip link set br-lan up\n"
        "udhcpc -b -i eth1 -p /var/run/udhcpc.pid -s /usr/share/udhcpc/default.script\n"
        "syslogd -C64\n"
        "klogd\n"
        "/usr/sbin/dnsmasq -C /etc/dnsmasq.conf\n"
        "# SSH on the LAN address only, public keys only (-s: no password logins at all,\n"
        "# -g: none for root); host keys are made on first boot (-R)\n"
        "/usr/sbin/dropbear -s -g -R -p 192.168.1.1:22 -P /var/run/dropbear.pid\n"
        "/usr/sbin/lighttpd -f /etc/lighttpd/lighttpd.conf\n"),
    "etc/dnsmasq.conf": (
        "# LAN DHCP and DNS cache\n"
        "interface=br-lan\n"
        "bind-interfaces\n"
        "domain-needed\n"
        "bogus-priv\n"
        "local=/lan/\n"
        "domain=lan\n"
        "expand-hosts\n"
        "dhcp-range=192.168.1.100,192.168.1.249,255.255.255.0,12h\n"
        "dhcp-leasefile=/tmp/dhcp.leases\n"
        "resolv-file=/tmp/resolv.conf.auto\n"),
    "etc/lighttpd/lighttpd.conf": (
        "# Web interface, LAN only\n"
        "server.modules = (\"mod_access\", \"mod_cgi\")\n"
        "server.document-root = \"/www\"\n"
        "server.bind = \"192.168.1.1\"\n"
        "server.port = 80\n"
        "server.username = \"nobody\"\n"
        "server.groupname = \"nogroup\"\n"
        "server.pid-file = \"/var/run/lighttpd.pid\"\n"
        "server.errorlog = \"/tmp/lighttpd/error.log\"\n"
        "index-file.names = (\"index.html\")\n"
        "cgi.assign = (\".cgi\" => \"\")\n"
        "mimetype.assign = (\".html\" => \"text/html\", \".css\" => \"text/css\",\n"
        "                   \".js\" => \"application/javascript\")\n"),
    "www/index.html": (
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>NW-R1800</title>"
        "</head>\n<body><h1>NW-R1800</h1><p>Sign in to set up your router.</p>"
        "<form method=\"post\" action=\"/cgi-bin/login.cgi\"><input type=\"password\" "
        "name=\"pw\"><button>Sign in</button></form></body></html>\n"),
    "etc/hostname": "NW-R1800\n",
    "etc/hosts": "127.0.0.1 localhost\n192.168.1.1 router.lan router\n",
    "etc/version": "NW-R1800 firmware 1.4.2 build 20250101\n",
    "etc/banner": "NW-R1800 - Northwind Networks\n",
    "etc/profile": (
        "export PATH=/usr/sbin:/usr/bin:/sbin:/bin\n"
        "export PS1='\\u@\\h:\\w\\$ '\n"),
    "etc/shells": "/bin/sh\n/bin/ash\n",
}
CLEAN_MODES = {"etc/init.d/rcS": 0o755, "etc/shadow": 0o600}
CLEAN_SYMLINKS = {"etc/resolv.conf": "/tmp/resolv.conf"}
CLEAN_DIRS = ("root", "www/cgi-bin", "etc/dropbear", "home/ftp", "mnt", "overlay")


@dataclass
class Image:
    """One image of the corpus and what it should (not) contain."""

    id: str
    arch: str
    path: Path
    case: dict | None = None  # None: a clean image
    touched: list[str] = field(default_factory=list)  # image paths the plant wrote
    notes: list[str] = field(default_factory=list)

    @property
    def clean(self) -> bool:
        return self.case is None


def _run(cmd: list[str], **kw) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, check=True, capture_output=True, **kw)


def load_cases(path: Path = CASES_FILE) -> list[dict]:
    data = yaml.safe_load(path.read_text())
    if data.get("version") != 1:
        raise ValueError(f"{path}: unsupported version {data.get('version')!r}")
    cases = data["cases"]
    ids = [c["id"] for c in cases]
    if len(ids) != len(set(ids)):
        raise ValueError(f"{path}: duplicate case ids")
    for c in cases:
        for key in ("id", "base", "check", "min_severity", "path", "planted", "source",
                    "plant"):
            if key not in c:
                raise ValueError(f"{path}: case {c.get('id')}: missing {key}")
        if c["base"] not in BASE_ARCHES:
            raise ValueError(f"{path}: case {c['id']}: unknown base {c['base']}")
    return cases


def expected_paths(case: dict) -> list[str]:
    p = case["path"]
    return [p] if isinstance(p, str) else list(p)


# -- the clean root filesystem ------------------------------------------------------------

def _busybox_applets(busybox: Path) -> list[str]:
    """Applet names from BusyBox's own table (a NUL-separated list that starts with '[')."""
    data = busybox.read_bytes()
    start = data.find(b"\x00[\x00[[\x00")
    if start < 0:
        return []
    names = []
    for raw in data[start + 1:start + 16384].split(b"\x00"):
        if not raw:
            break
        names.append(raw.decode("ascii", "replace"))
    return [n for n in names if re.fullmatch(r"[a-z0-9_.-]+", n)]


def _applet_dir(name: str) -> str:
    if name in _SBIN:
        return "sbin"
    if name in _USR_SBIN:
        return "usr/sbin"
    if name in _USR_BIN:
        return "usr/bin"
    return "bin"


def _write(root: Path, rel: str, text: str | bytes, mode: int | None = None) -> None:
    """Write a file, replacing (never writing through) a hard link or symlink."""
    dest = root / rel
    dest.parent.mkdir(parents=True, exist_ok=True)
    if dest.is_symlink() or dest.exists():
        dest.unlink()
    if isinstance(text, str):
        dest.write_text(text)
    else:
        dest.write_bytes(text)
    if mode is not None:
        dest.chmod(mode)


def _symlink(root: Path, rel: str, target: str) -> None:
    dest = root / rel
    dest.parent.mkdir(parents=True, exist_ok=True)
    if dest.is_symlink() or dest.is_file():
        dest.unlink()
    elif dest.is_dir():
        shutil.rmtree(dest)
    dest.symlink_to(target)


def _clean_digest() -> str:
    blob = json.dumps([CORPUS_VERSION, CLEAN_FILES, CLEAN_MODES, CLEAN_SYMLINKS, CLEAN_DIRS,
                       corpus.ROUTER_PACKAGES], sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def build_clean_rootfs(arch: str) -> Path:
    """The vendor's clean root filesystem for one architecture (cached)."""
    root = CHECKS_WORK / f"rootfs-{arch}"
    stamp = CHECKS_WORK / f"rootfs-{arch}.stamp"
    digest = _clean_digest()
    if root.is_dir() and stamp.exists() and stamp.read_text() == digest:
        return root
    debs = corpus.download(corpus.ROUTER_PACKAGES, arch, WORK / f"debs-{arch}")
    corpus.make_rootfs(debs, root)
    # Debian's samples that no router ships (PPP secrets templates, systemd units,
    # maintainer scripts' helpers) stay: the checks must cope with them.
    for name in _busybox_applets(root / "bin/busybox"):
        if name in ("[", "[["):
            continue
        where = _applet_dir(name)
        dest = root / where / name
        if dest.exists() or dest.is_symlink():
            continue  # a real program of that name ships already
        depth = where.count("/") + 1
        _symlink(root, f"{where}/{name}", "../" * depth + "bin/busybox")
    for d in CLEAN_DIRS:
        (root / d).mkdir(parents=True, exist_ok=True)
    for rel, text in CLEAN_FILES.items():
        _write(root, rel, text, CLEAN_MODES.get(rel, 0o644))
    for rel, target in CLEAN_SYMLINKS.items():
        _symlink(root, rel, target)
    stamp.write_text(digest)
    return root


# -- planting -----------------------------------------------------------------------------

def _material(name: str) -> Path:
    MATERIAL.mkdir(parents=True, exist_ok=True)
    return MATERIAL / name


def _md5crypt(password: str) -> str:
    salt = hashlib.sha256(password.encode()).hexdigest()[:8]
    return _run(["openssl", "passwd", "-1", "-salt", salt, password]).stdout.decode().strip()


def _ssh_public(comment: str) -> str:
    key = _material(f"ssh-rsa-{re.sub(r'[^A-Za-z0-9]+', '_', comment)}")
    if not key.exists():
        _run(["ssh-keygen", "-q", "-t", "rsa", "-b", "3072", "-N", "", "-C", comment, "-f",
              str(key)])
    return Path(f"{key}.pub").read_text().strip()


def _aws_pair(case_id: str) -> tuple[str, str]:
    """An AWS-format access key pair (random, cached; never a real credential)."""
    store = _material(f"aws-{case_id}.json")
    if not store.exists():
        alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
        rnd = os.urandom(16)
        key_id = "AKIA" + "".join(alphabet[b % 32] for b in rnd)
        secret = base64.b64encode(os.urandom(30)).decode()
        store.write_text(json.dumps({"id": key_id, "secret": secret}))
    pair = json.loads(store.read_text())
    return pair["id"], pair["secret"]


def expand(text: str, case_id: str) -> str:
    """Fill the {{…}} placeholders of a case's text."""

    def one(m: re.Match) -> str:
        kind, _, arg = m.group(1).partition(":")
        if kind == "md5crypt":
            return _md5crypt(arg)
        if kind == "ssh-rsa-public":
            return _ssh_public(arg)
        if kind == "aws-access-key-id":
            return _aws_pair(case_id)[0]
        if kind == "aws-secret-access-key":
            return _aws_pair(case_id)[1]
        raise ValueError(f"case {case_id}: unknown placeholder {m.group(0)}")

    return re.sub(r"\{\{([^{}]+)\}\}", one, text)


def _generate(spec: dict, case_id: str) -> bytes:
    kind = spec["kind"]
    if kind == "dropbear-rsa-host-key":
        out = _material(f"{case_id}-dropbear_rsa_host_key")
        if not out.exists():
            _run(["dropbearkey", "-t", "rsa", "-s", "2048", "-f", str(out)])
        return out.read_bytes()
    if kind == "tls-key-and-cert":
        key, cert = _material(f"{case_id}.key"), _material(f"{case_id}.crt")
        if not (key.exists() and cert.exists()):
            _run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout",
                  str(key), "-out", str(cert), "-days", "7300", "-subj", spec["subject"]])
        return key.read_bytes() + cert.read_bytes()
    raise ValueError(f"case {case_id}: unknown generate kind {kind}")


def _compile(spec: dict, arch: str, case_id: str) -> bytes:
    """Cross-compile a case's C source for ``arch`` (cached by source and flags)."""
    triplet = CROSS_GCC[arch]
    digest = hashlib.sha256(f"{spec['source']}|{spec.get('cflags', '')}|{arch}".encode()
                            ).hexdigest()[:12]
    out = _material(f"{case_id}-{arch}-{digest}.elf")
    if not out.exists():
        gcc = shutil.which(f"{triplet}-gcc")
        if gcc is None:
            raise FileNotFoundError(f"{triplet}-gcc not installed (apt-get install "
                                    f"gcc-{triplet})")
        src = out.with_suffix(".c")
        src.write_text(spec["source"])
        _run([gcc, *spec.get("cflags", "").split(), "-o", str(out), str(src)])
        _run([f"{triplet}-strip", str(out)])
    return out.read_bytes()


def plant(root: Path, case: dict, arch: str) -> list[str]:
    """Apply a case's operations to ``root``; the image paths it wrote."""
    ops = case["plant"]
    touched: list[str] = []
    cid = case["id"]
    for rel, target in (ops.get("symlink") or {}).items():
        _symlink(root, rel, target)
        touched.append(rel)
    for spec in ops.get("generate") or []:
        _write(root, spec["path"], _generate(spec, cid), 0o600)
        touched.append(spec["path"])
    for spec in ops.get("compile") or []:
        _write(root, spec["path"], _compile(spec, arch, cid), 0o755)
        touched.append(spec["path"])
    for rel, text in (ops.get("write") or {}).items():
        _write(root, rel, expand(text, cid), 0o644)
        touched.append(rel)
    for rel, (old, new) in (ops.get("replace") or {}).items():
        cur = (root / rel).read_text()
        if old not in cur:
            raise ValueError(f"case {cid}: {rel} has no {old!r}")
        mode = (root / rel).stat().st_mode & 0o7777
        _write(root, rel, cur.replace(old, expand(new, cid), 1), mode)
        touched.append(rel)
    for rel, text in (ops.get("append") or {}).items():
        cur = (root / rel).read_text()
        mode = (root / rel).stat().st_mode & 0o7777
        _write(root, rel, cur + expand(text, cid), mode)
        touched.append(rel)
    for rel, mode in (ops.get("mode") or {}).items():
        (root / rel).chmod(int(mode, 8))
    return sorted(set(touched))


# -- images -------------------------------------------------------------------------------

def _pack(root: Path, image: Path, arch: str) -> None:
    corpus.pack_router_image(root, image, arch=MKIMAGE_ARCH[arch])
    shutil.rmtree(image.with_suffix(".parts"), ignore_errors=True)


def _fresh(image: Path, digest: str) -> bool:
    stamp = image.with_suffix(".json")
    if not image.exists() or not stamp.exists():
        return False
    return json.loads(stamp.read_text()).get("digest") == digest


def clean_image(arch: str) -> Image:
    image = CHECKS_WORK / f"checks-clean-{arch}.bin"
    root = build_clean_rootfs(arch)
    digest = _clean_digest()
    if not _fresh(image, digest):
        _pack(root, image, arch)
        image.with_suffix(".json").write_text(json.dumps({"digest": digest, "touched": []}))
    return Image(id=f"clean-{arch}", arch=arch, path=image)


def planted_image(case: dict) -> Image:
    arch = case["base"]
    image = CHECKS_WORK / f"checks-{case['id']}.bin"
    digest = hashlib.sha256(json.dumps([_clean_digest(), case], sort_keys=True).encode()
                            ).hexdigest()[:16]
    img = Image(id=case["id"], arch=arch, path=image, case=case)
    if _fresh(image, digest):
        img.touched = json.loads(image.with_suffix(".json").read_text())["touched"]
        return img
    base = build_clean_rootfs(arch)
    root = CHECKS_WORK / f"rootfs-case-{case['id']}"
    shutil.rmtree(root, ignore_errors=True)
    _run(["cp", "-al", str(base), str(root)])  # hard links: the plant replaces, never edits
    try:
        img.touched = plant(root, case, arch)
        _pack(root, image, arch)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    image.with_suffix(".json").write_text(json.dumps({"digest": digest,
                                                      "touched": img.touched}))
    return img


def build_corpus(only: list[str] | None = None) -> list[Image]:
    """Every clean image, then every planted one (``only``: these case ids)."""
    CHECKS_WORK.mkdir(parents=True, exist_ok=True)
    images = [clean_image(arch) for arch in BASE_ARCHES]
    for case in load_cases():
        if only and case["id"] not in only:
            continue
        try:
            images.append(planted_image(case))
        except (FileNotFoundError, subprocess.CalledProcessError) as exc:
            err = getattr(exc, "stderr", None)
            why = err.decode(errors="replace").strip() if err else str(exc)
            images.append(Image(id=case["id"], arch=case["base"], path=Path(), case=case,
                                notes=[f"not built: {why}"]))
    return images


def main() -> int:
    for img in build_corpus(sys.argv[1:] or None):
        size = img.path.stat().st_size if img.path.is_file() else 0
        print(f"{img.id:24} {img.arch:7} {size / 1e6:6.1f} MB  {' '.join(img.touched)}"
              f"{' ' + '; '.join(img.notes) if img.notes else ''}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
