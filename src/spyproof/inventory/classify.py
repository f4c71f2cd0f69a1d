"""Content typing of one extracted regular file: spyproof's own small `file(1)`.

`classify(path, size, head)` looks at the first bytes (the caller has read them already while
hashing) and only reopens the file when it must: ELF parsing, and inspection of small files
that might be certificates or keys. It never follows symlinks itself (the caller passes only
regular files) and never raises.

Order of the checks: empty, ELF, `#!` scripts, Lua bytecode, archives and filesystem images,
known binary media, PEM / DER / PKCS#12 / Dropbear keys and certificates, SSH public keys,
then text (config or plain) and finally data.
"""

from __future__ import annotations

import base64
import json
import re
import struct
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from spyproof.inventory.elf import ELF_MAGIC, describe, elf_info
from spyproof.models import ElfInfo, FileType

#: Only files up to this size are reread to look for PEM blocks past the first 4096 bytes.
MAX_PEM_READ = 1024 * 1024
#: Only files up to this size are tried as DER certificates / keys and PKCS#12.
MAX_DER_SIZE = 64 * 1024


@dataclass
class Classification:
    """What a file contains, as far as spyproof's checks care."""

    file_type: FileType
    description: str
    interpreter: str | None = None
    elf: ElfInfo | None = None


def classify(path: Path, size: int, head: bytes) -> Classification:
    """Type one regular file from its first bytes (`head`, up to 4096) and, if needed, its path."""
    try:
        return _classify(Path(path), size, head)
    except Exception as exc:  # never let one odd file stop the inventory
        return Classification(FileType.data, f"data (classification failed: {type(exc).__name__})")


def _classify(path: Path, size: int, head: bytes) -> Classification:
    if not head:
        if size == 0:
            return Classification(FileType.empty, "empty")
        return Classification(FileType.data, "data (unreadable)")
    truncated = len(head) < size

    if head.startswith(ELF_MAGIC):
        result = elf_info(path, size, head)
        if result.info.elf_class == 0:  # not even the ELF identification is usable
            return Classification(FileType.data, describe(result))
        return Classification(FileType.elf, describe(result), elf=result.info)

    if head.startswith(b"#!"):
        script = _script(head)
        if script is not None:
            return script

    if head.startswith(b"\x1bLua"):
        version = head[4] if len(head) > 4 else 0
        desc = "Lua bytecode"
        if 0x50 <= version <= 0x5F:
            desc += f" {version >> 4}.{version & 0xF}"
        return Classification(FileType.data, desc)

    archive = _archive(head, size)
    if archive is not None:
        return Classification(FileType.archive, archive)

    media = _media(head)
    if media is not None:
        return Classification(FileType.data, media)

    pem = _pem(path, size, head, truncated)
    if pem is not None:
        return pem

    if head[0] == 0x30 and size <= MAX_DER_SIZE:
        der = _der(path, size, head)
        if der is not None:
            return der

    if head.startswith(b"\0\0\0") and size <= MAX_DER_SIZE:
        dropbear = _ssh_binary_key(path, size, head)
        if dropbear is not None:
            return dropbear

    if head.startswith((b"\xff\xfe", b"\xfe\xff")) and b"\0" in head[:64]:
        return Classification(FileType.text, "UTF-16 text")

    text = _decode_text(head, truncated)
    if text is None:
        return Classification(FileType.data, "data")
    lines = text.splitlines()
    if truncated and lines and not text.endswith(("\n", "\r")):
        lines.pop()  # the last line is cut off by the 4096-byte head

    pub = _ssh_public_keys(lines)
    if pub is not None:
        return Classification(FileType.public_key, pub)

    kind = _text_kind(text, lines, truncated)
    if kind is not None:
        return Classification(*kind)
    return Classification(FileType.text, "ASCII text" if text.isascii() else "UTF-8 text")


# --------------------------------------------------------------------------------------------
# scripts

_SCRIPT_NAMES = {
    "sh": "POSIX shell script",
    "ash": "POSIX shell script",
    "dash": "POSIX shell script",
    "hush": "POSIX shell script",
    "bash": "Bash script",
    "ksh": "Korn shell script",
    "mksh": "Korn shell script",
    "zsh": "Zsh script",
    "csh": "C shell script",
    "tcsh": "C shell script",
    "python": "Python script",
    "pypy": "Python script",
    "perl": "Perl script",
    "ruby": "Ruby script",
    "php": "PHP script",
    "php-cgi": "PHP script",
    "lua": "Lua script",
    "luajit": "Lua script",
    "ucode": "ucode script",
    "node": "Node.js script",
    "nodejs": "Node.js script",
    "tclsh": "Tcl script",
    "wish": "Tcl script",
    "expect": "Expect script",
    "awk": "awk script",
    "gawk": "awk script",
    "mawk": "awk script",
    "sed": "sed script",
    "make": "Makefile script",
}
_VERSION_SUFFIX = re.compile(r"[\d.]+$")


def _language(name: str) -> str:
    base = name.rsplit("/", 1)[-1]
    desc = _SCRIPT_NAMES.get(base) or _SCRIPT_NAMES.get(_VERSION_SUFFIX.sub("", base))
    return desc or f"{base} script"


def _script(head: bytes) -> Classification | None:
    line = head[2:].split(b"\n", 1)[0].rstrip(b"\r")
    text = line.decode("utf-8", "backslashreplace").strip()
    if not text or text.startswith("[") or not text.isprintable():
        return None  # `#![...]` is a Rust attribute, not a shebang
    parts = text.split()
    interp, args = parts[0], parts[1:]
    base = interp.rsplit("/", 1)[-1]
    if base == "env":
        prog = None
        skip_next = False
        for arg in args:
            if skip_next:
                skip_next = False
                continue
            if arg in ("-u", "--unset", "-C", "--chdir"):
                skip_next = True
                continue
            if arg.startswith("-") or ("=" in arg and not arg.startswith("/")):
                continue
            prog = arg
            break
        if prog is None:
            return Classification(FileType.script, "script (env without a program)", interp)
        return Classification(FileType.script, f"{_language(prog)} (via {interp})", prog)
    if base == "busybox" and args:
        return Classification(FileType.script, f"{_language(args[0])} (via {interp})", interp)
    return Classification(FileType.script, _language(interp), interp)


# --------------------------------------------------------------------------------------------
# archives, compressed streams and filesystem images

_UIMAGE_TYPES = {
    1: "standalone",
    2: "kernel",
    3: "ramdisk",
    4: "multi-file",
    5: "firmware",
    6: "script",
    7: "filesystem",
    8: "flat device tree",
}
_UIMAGE_ARCHES = {
    2: "ARM",
    3: "x86",
    5: "MIPS",
    6: "MIPS64",
    7: "PowerPC",
    9: "SuperH",
    14: "AVR32",
    19: "ARC",
    20: "x86_64",
    22: "ARM64",
    26: "RISC-V",
}
_UIMAGE_COMP = {0: "uncompressed", 1: "gzip", 2: "bzip2", 3: "lzma", 4: "lzo", 5: "lz4", 6: "zstd"}
_JFFS2_NODE_TYPES = {0xE001, 0xE002, 0x2003, 0x2004, 0x2006, 0xE008, 0xE009}
_S_IFMT = 0o170000
_FILE_MODES = {0o100000, 0o040000, 0o120000, 0o020000, 0o060000, 0o010000, 0o140000}

# (magic, description) pairs checked at offset 0, longest first where they share a prefix.
_SIMPLE_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"\xfd7zXZ\x00", "xz compressed data"),
    (b"7z\xbc\xaf\x27\x1c", "7-zip archive"),
    (b"Rar!\x1a\x07\x01\x00", "RAR archive v5"),
    (b"Rar!\x1a\x07\x00", "RAR archive v4"),
    (b"\x28\xb5\x2f\xfd", "zstd compressed data"),
    (b"\x04\x22\x4d\x18", "LZ4 compressed data (frame)"),
    (b"\x02\x21\x4c\x18", "LZ4 compressed data (legacy)"),
    (b"\x89LZO\x00\r\n\x1a\n", "lzop compressed data"),
    (b"LZIP", "lzip compressed data"),
    (b"PK\x03\x04", "zip archive"),
    (b"PK\x05\x06", "zip archive (empty)"),
    (b"PK\x07\x08", "zip archive (spanned)"),
    (b"UBI#", "UBI image"),
    (b"\x31\x18\x10\x06", "UBIFS image"),
    (b"-rom1fs-", "romfs filesystem"),
    (b"\x45\x3d\xcd\x28", "cramfs filesystem, little endian"),
    (b"\x28\xcd\x3d\x45", "cramfs filesystem, big endian"),
    (b"070701", "cpio archive (newc)"),
    (b"070702", "cpio archive (newc with CRC)"),
    (b"070707", "cpio archive (odc)"),
)


def _archive(head: bytes, size: int) -> str | None:
    for magic, desc in _SIMPLE_MAGIC:
        if head.startswith(magic):
            return desc
    b0 = head[:4]
    if head.startswith(b"\x1f\x8b\x08"):
        return "gzip compressed data"
    if head.startswith(b"\x1f\x9d"):
        return "compress'd data (.Z)"
    if head.startswith(b"BZh") and len(head) > 3 and 0x31 <= head[3] <= 0x39:
        return "bzip2 compressed data"
    if b0 in (b"hsqs", b"shsq"):
        return _squashfs(head, "<", b0.decode())
    if b0 in (b"sqsh", b"qshs"):
        return _squashfs(head, ">", b0.decode())
    if b0 == b"\x27\x05\x19\x56" and len(head) >= 64:
        return _uimage(head)
    if head.startswith(b"!<arch>\n"):
        member = head[8:24]
        if member.startswith(b"debian-binary"):
            return "Debian/ipk package (ar archive)"
        if member.startswith((b"/ ", b"/SYM64/")):
            return "ar archive (static library)"
        return "ar archive"
    if len(head) >= 262 and head[257:262] == b"ustar":
        return "tar archive (POSIX)" if head[257:263] == b"ustar\0" else "tar archive (GNU)"
    if _v7_tar(head, size):
        return "tar archive (v7)"
    if _lzma_alone(head):
        return "LZMA compressed data (lzma-alone)"
    jffs2 = _jffs2(head)
    if jffs2:
        return jffs2
    cpio = _cpio_binary(head)
    if cpio:
        return cpio
    return _ext(head)


def _squashfs(head: bytes, endian: str, magic: str) -> str:
    order = "little" if endian == "<" else "big"
    desc = f"squashfs filesystem, {order} endian"
    if magic in ("shsq", "qshs"):
        desc += f" (non-standard magic {magic})"
    if len(head) >= 32:
        major, minor = struct.unpack_from(endian + "HH", head, 28)
        if major < 10:
            desc += f", version {major}.{minor}"
    return desc


def _uimage(head: bytes) -> str:
    img_type, arch, comp = head[30], head[29], head[31]
    name = head[32:64].split(b"\0", 1)[0].decode("latin-1").strip()
    parts = ["uImage (U-Boot legacy image)"]
    parts.append(_UIMAGE_TYPES.get(img_type, f"type {img_type}"))
    parts.append(_UIMAGE_ARCHES.get(arch, f"arch {arch}"))
    parts.append(_UIMAGE_COMP.get(comp, f"compression {comp}"))
    if name and name.isprintable():
        parts.append(f"'{name}'")
    return ", ".join(parts)


def _v7_tar(head: bytes, size: int) -> bool:
    """A pre-POSIX tar header has no magic: check the name and the header checksum."""
    if len(head) < 512 or size % 512 or not head[0] or head[0] < 0x20:
        return False
    field = head[148:156].replace(b"\0", b" ").strip()
    if not field or any(c not in b"01234567" for c in field):
        return False
    stored = int(field, 8)
    computed = sum(head[:148]) + 8 * 0x20 + sum(head[156:512])
    return stored == computed


def _lzma_alone(head: bytes) -> bool:
    """lzma-alone: props byte 0x5D, a plausible dictionary size and uncompressed size, then 0."""
    if len(head) < 14 or head[0] != 0x5D:
        return False
    dict_size = struct.unpack_from("<I", head, 1)[0]
    if not (1 << 12) <= dict_size <= (1 << 30):
        return False
    low = dict_size & -dict_size  # lowest set bit: dict is 2^n or 2^n + 2^(n-1)
    if dict_size not in (low, low * 3):
        return False
    unpacked = struct.unpack_from("<Q", head, 5)[0]
    if unpacked != 0xFFFFFFFFFFFFFFFF and unpacked > (1 << 40):
        return False
    return head[13] == 0  # the range coder's first output byte is always 0


def _jffs2(head: bytes) -> str | None:
    if len(head) < 12:
        return None
    for endian, magic, order in (("<", b"\x85\x19", "little"), (">", b"\x19\x85", "big")):
        if head.startswith(magic):
            node_type, totlen = struct.unpack_from(endian + "HI", head, 2)
            if node_type in _JFFS2_NODE_TYPES and 12 <= totlen < (1 << 24):
                return f"JFFS2 filesystem, {order} endian"
    return None


def _cpio_binary(head: bytes) -> str | None:
    if len(head) < 28:
        return None
    for endian, magic in (("<", b"\xc7\x71"), (">", b"\x71\xc7")):
        if head.startswith(magic):
            mode = struct.unpack_from(endian + "H", head, 6)[0]
            namesize = struct.unpack_from(endian + "H", head, 20)[0]
            name = head[26 : 26 + namesize]
            if (
                mode & _S_IFMT in _FILE_MODES
                and 1 <= namesize <= 1024
                and name.endswith(b"\0")
                and name[:-1].isascii()
            ):
                return "cpio archive (old binary)"
    return None


def _ext(head: bytes) -> str | None:
    if len(head) < 1024 + 104 or head[1080:1082] != b"\x53\xef":
        return None
    inodes, blocks = struct.unpack_from("<II", head, 1024)
    log_block = struct.unpack_from("<I", head, 1024 + 24)[0]
    state = struct.unpack_from("<H", head, 1024 + 58)[0]
    rev = struct.unpack_from("<I", head, 1024 + 76)[0]
    if not inodes or not blocks or log_block > 6 or rev > 1 or not 1 <= state <= 7:
        return None
    compat, incompat = struct.unpack_from("<II", head, 1024 + 92)
    if incompat & (0x40 | 0x80 | 0x200):  # extents, 64bit, flex_bg
        return "ext4 filesystem image"
    if compat & 0x4:  # has_journal
        return "ext3 filesystem image"
    return "ext2 filesystem image"


# --------------------------------------------------------------------------------------------
# binary media and other well-known data


def _media(head: bytes) -> str | None:
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "PNG image"
    if head.startswith(b"\xff\xd8\xff"):
        return "JPEG image"
    if head.startswith((b"GIF87a", b"GIF89a")):
        return "GIF image"
    if head.startswith(b"SQLite format 3\0"):
        return "SQLite 3 database"
    if head.startswith(b"%PDF-"):
        return "PDF document"
    if head.startswith(b"\xd0\x0d\xfe\xed"):
        return "device tree blob"
    if head.startswith((b"\xde\x12\x04\x95", b"\x95\x04\x12\xde")):
        return "GNU gettext message catalog"
    if head.startswith(b"\xfe\xed\xfe\xed"):
        return "Java KeyStore"
    if head.startswith(b"\x00\x00\x01\x00") and len(head) >= 22:
        count = struct.unpack_from("<H", head, 4)[0]
        if 1 <= count <= 256 and head[9] == 0 and head[10:12] in (b"\x00\x00", b"\x01\x00"):
            return "ICO image"
    return None


# --------------------------------------------------------------------------------------------
# certificates and keys

_PEM_BEGIN = re.compile(rb"-----BEGIN ([A-Z0-9 #]{1,40})-----")
_SSH2_PUBLIC = b"---- BEGIN SSH2 PUBLIC KEY ----"
_PUTTY_KEY = re.compile(rb"^PuTTY-User-Key-File-\d+: ", re.MULTILINE)

_PRIVATE_LABELS = {
    "RSA PRIVATE KEY": "PEM RSA private key",
    "EC PRIVATE KEY": "PEM EC private key",
    "DSA PRIVATE KEY": "PEM DSA private key",
    "PRIVATE KEY": "PEM private key (PKCS#8)",
    "ENCRYPTED PRIVATE KEY": "PEM encrypted private key (PKCS#8)",
    "OPENSSH PRIVATE KEY": "OpenSSH private key",
    "ANY PRIVATE KEY": "PEM private key",
    "PGP PRIVATE KEY BLOCK": "PGP private key block",
}
_CERT_LABELS = {"CERTIFICATE", "X509 CERTIFICATE", "TRUSTED CERTIFICATE"}
_PUBLIC_LABELS = {
    "PUBLIC KEY": "PEM public key",
    "RSA PUBLIC KEY": "PEM RSA public key",
    "PGP PUBLIC KEY BLOCK": "PGP public key block",
}


def _pem(path: Path, size: int, head: bytes, truncated: bool) -> Classification | None:
    if b"-----BEGIN " not in head and b"---- BEGIN SSH2" not in head:
        if _PUTTY_KEY.search(head):
            return Classification(FileType.private_key, "PuTTY private key")
        return None
    data = head
    if truncated and size <= MAX_PEM_READ:
        data = _read(path, MAX_PEM_READ) or head
    labels = [m.group(1).decode() for m in _PEM_BEGIN.finditer(data)]
    counts = Counter(labels)
    certs = sum(counts[label] for label in _CERT_LABELS)
    cert_note = f"{certs} certificate{'s' if certs != 1 else ''}"

    private = [label for label in labels if label in _PRIVATE_LABELS or "PRIVATE KEY" in label]
    if private:
        label = private[0]
        desc = _PRIVATE_LABELS.get(label, f"PEM {label.lower()}")
        enc = _pem_key_encryption(data, label)
        if enc:
            desc += f" ({enc})"
        if len(private) > 1:
            desc += f", {len(private)} keys"
        if certs:
            desc += f" + {cert_note}"
        return Classification(FileType.private_key, desc)
    if certs:
        desc = "PEM certificate" if certs == 1 else f"PEM certificate bundle ({cert_note})"
        return Classification(FileType.certificate, desc)
    public = [label for label in labels if label in _PUBLIC_LABELS or "PUBLIC KEY" in label]
    if public:
        return Classification(
            FileType.public_key, _PUBLIC_LABELS.get(public[0], f"PEM {public[0].lower()}")
        )
    if _SSH2_PUBLIC in data:
        return Classification(FileType.public_key, "SSH2 (RFC 4716) public key")
    if "PKCS7" in counts or "CMS" in counts:
        return Classification(FileType.certificate, "PEM PKCS#7 (certificate bundle)")
    if labels:
        return Classification(FileType.text, f"PEM {labels[0].lower()}")
    return None


def _pem_key_encryption(data: bytes, label: str) -> str | None:
    """Whether the first PEM key block is encrypted ("encrypted" / "unencrypted"), if knowable."""
    if label == "ENCRYPTED PRIVATE KEY":
        return None  # already in the description
    start = data.find(f"-----BEGIN {label}-----".encode())
    end = data.find(f"-----END {label}-----".encode(), start)
    block = data[start : end if end > 0 else start + 4096]
    if label == "OPENSSH PRIVATE KEY":
        body = b"".join(block.splitlines()[1:4])
        try:
            raw = base64.b64decode(body[: len(body) // 4 * 4])
        except ValueError:
            return None
        if raw.startswith(b"openssh-key-v1\0") and len(raw) >= 19:
            n = struct.unpack_from(">I", raw, 15)[0]
            cipher = raw[19 : 19 + n]
            return "unencrypted" if cipher == b"none" else "encrypted"
        return None
    if label in ("RSA PRIVATE KEY", "EC PRIVATE KEY", "DSA PRIVATE KEY"):
        return "encrypted" if b"Proc-Type: 4,ENCRYPTED" in block else "unencrypted"
    if label == "PRIVATE KEY":
        return "unencrypted"
    return None


def _read(path: Path, limit: int) -> bytes | None:
    try:
        with open(path, "rb") as f:
            return f.read(limit)
    except OSError:
        return None


# PKCS#12 PFX: SEQUENCE { INTEGER 3, SEQUENCE { OID pkcs7-data | pkcs7-signedData, ... } }
_OID_PKCS7 = b"\x06\x09\x2a\x86\x48\x86\xf7\x0d\x01\x07"


def _der_len(buf: bytes, pos: int) -> tuple[int, int] | None:
    """(length, offset of contents) of the DER/BER length at `pos`; -1 length if indefinite."""
    if pos >= len(buf):
        return None
    first = buf[pos]
    if first < 0x80:
        return first, pos + 1
    if first == 0x80:
        return -1, pos + 1
    n = first & 0x7F
    if n > 4 or pos + 1 + n > len(buf):
        return None
    return int.from_bytes(buf[pos + 1 : pos + 1 + n], "big"), pos + 1 + n


def _looks_pkcs12(data: bytes) -> bool:
    outer = _der_len(data, 1)
    if outer is None:
        return False
    pos = outer[1]
    if data[pos : pos + 3] != b"\x02\x01\x03" or data[pos + 3 : pos + 4] != b"\x30":
        return False
    inner = _der_len(data, pos + 4)
    if inner is None:
        return False
    oid = data[inner[1] : inner[1] + len(_OID_PKCS7) + 1]
    return oid[:-1] == _OID_PKCS7 and oid[-1:] in (b"\x01", b"\x02")


def _der(path: Path, size: int, head: bytes) -> Classification | None:
    if len(head) < 8 or head[1] not in (0x80, 0x81, 0x82, 0x83):
        return None
    data = head if len(head) >= size else _read(path, MAX_DER_SIZE + 1)
    if not data or len(data) > MAX_DER_SIZE:
        return None
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.serialization import pkcs12

    if _looks_pkcs12(data):
        try:
            key, cert, extra = pkcs12.load_key_and_certificates(data, None)
        except ValueError as exc:
            if "password" in str(exc).lower():
                return Classification(FileType.private_key, "PKCS#12 (password-protected)")
            return Classification(FileType.private_key, "PKCS#12 (unreadable)")
        except Exception:
            return Classification(FileType.private_key, "PKCS#12 (unreadable)")
        if key is not None:
            return Classification(FileType.private_key, "PKCS#12 (no password)")
        n = len(extra) + (cert is not None)
        return Classification(FileType.certificate, f"PKCS#12 (no password, {n} certificates)")

    if head[1] != 0x82:
        return None
    attempts: tuple[tuple[Callable[[], object], FileType, str], ...] = (
        (lambda: x509.load_der_x509_certificate(data), FileType.certificate, "DER certificate"),
        (
            lambda: serialization.load_der_private_key(
                data, None, unsafe_skip_rsa_key_validation=True
            ),
            FileType.private_key,
            "DER private key",
        ),
        (lambda: serialization.load_der_public_key(data), FileType.public_key, "DER public key"),
    )
    for load, ftype, desc in attempts:
        try:
            load()
        except TypeError:  # load_der_private_key: "Password was not given but ..."
            if ftype is FileType.private_key:
                return Classification(ftype, "DER private key (encrypted)")
        except Exception:
            continue
        else:
            return Classification(ftype, desc)
    return None


_SSH_KEY_TYPES = {
    b"ssh-rsa": (2, 5),  # public: e, n; Dropbear private: e, n, d, p, q
    b"ssh-dss": (4, 5),  # public: p, q, g, y; private: + x
    b"ssh-ed25519": (1, 1),  # public: 32-byte key; Dropbear private: 64 bytes (seed + public)
    b"ecdsa-sha2-nistp256": (2, 3),  # public: curve, Q; private: + d
    b"ecdsa-sha2-nistp384": (2, 3),
    b"ecdsa-sha2-nistp521": (2, 3),
}


def _ssh_binary_key(path: Path, size: int, head: bytes) -> Classification | None:
    """Dropbear private keys (binary SSH wire format, e.g. /etc/dropbear/dropbear_rsa_host_key)
    and binary SSH public key blobs."""
    if len(head) < 11:
        return None
    n = struct.unpack_from(">I", head, 0)[0]
    key_type = head[4 : 4 + n]
    if key_type not in _SSH_KEY_TYPES:
        return None
    data = head if len(head) >= size else _read(path, MAX_DER_SIZE + 1)
    if not data or len(data) > MAX_DER_SIZE:
        return None
    fields: list[bytes] = []
    pos = 4 + n
    while pos < len(data):
        if pos + 4 > len(data):
            return None
        flen = struct.unpack_from(">I", data, pos)[0]
        if pos + 4 + flen > len(data):
            return None
        fields.append(data[pos + 4 : pos + 4 + flen])
        pos += 4 + flen
    public_count, private_count = _SSH_KEY_TYPES[key_type]
    name = key_type.decode()
    if key_type == b"ssh-ed25519" and len(fields) == 1:
        if len(fields[0]) == 64:
            return Classification(FileType.private_key, f"Dropbear private key ({name})")
        if len(fields[0]) == 32:
            return Classification(FileType.public_key, f"SSH public key blob ({name})")
        return None
    if len(fields) == private_count:
        return Classification(FileType.private_key, f"Dropbear private key ({name})")
    if len(fields) == public_count:
        return Classification(FileType.public_key, f"SSH public key blob ({name})")
    return None


_SSH_PUBKEY_LINE = re.compile(
    r"(?:^|\s)(ssh-(?:rsa|dss|ed25519|ed448)|ecdsa-sha2-nistp(?:256|384|521)"
    r"|sk-(?:ssh-ed25519|ecdsa-sha2-nistp256)@openssh\.com)\s+AAAA[0-9A-Za-z+/]{16,}={0,2}(?:\s|$)"
)


def _ssh_public_keys(lines: list[str]) -> str | None:
    """OpenSSH public keys, one per line (id_*.pub, authorized_keys, known_hosts)."""
    content = [ln.strip() for ln in lines if ln.strip() and not ln.lstrip().startswith("#")]
    if not content:
        return None
    matches = [_SSH_PUBKEY_LINE.search(ln) for ln in content]
    if not all(matches):
        return None
    if len(content) == 1:
        m = matches[0]
        assert m is not None
        if m.start(1) == 0:
            return f"OpenSSH public key ({m.group(1)})"
        return f"SSH public key with options or host ({m.group(1)})"
    return f"SSH public keys ({len(content)} keys)"


# --------------------------------------------------------------------------------------------
# text and config

# Control characters that do not occur in text (everything below 0x20 but \t \n \v \f \r ESC).
_TEXT_CONTROL = bytes(c for c in range(32) if c not in (9, 10, 11, 12, 13, 27)) + b"\x7f"
_NON_CONTROL = bytes(c for c in range(256) if c not in _TEXT_CONTROL)


def _decode_text(head: bytes, truncated: bool) -> str | None:
    if b"\0" in head:
        return None
    controls = len(head.translate(None, _NON_CONTROL))
    if controls > len(head) // 100:
        return None
    try:
        return head.decode("utf-8")
    except UnicodeDecodeError as exc:
        if truncated and exc.reason == "unexpected end of data" and exc.start >= len(head) - 3:
            return head[: exc.start].decode("utf-8", "strict")
        return None


_COMMENT_PREFIXES = ("#", ";", "//", "<!--")
_UCI_SECTION = re.compile(r"^config\s+[\w-]+(\s+('[^']*'|\"[^\"]*\"|[\w-]+))?\s*$")
_UCI_OPTION = re.compile(r"^(option|list)\s+[\w-]+(\s+.*)?$")
_UCI_PACKAGE = re.compile(r"^package\s+\S+\s*$")
_INI_SECTION = re.compile(r"^\[[^\[\]=]+\]$")
_KV_EQ = re.compile(r"^(export\s+)?[A-Za-z_][\w.\-/:\[\]@]*\s*[+?:]?=")
_KV_SPACE = re.compile(r"^[\w./@:-][\w./@:+-]*(\s+\S+){1,7}\s*;?$")
_BLOCK = re.compile(r"^([\w.\-\"' ]+\s*)?[{}]\s*;?$|.*\{\s*$")
_YAML = re.compile(r"^(- )?[\w.\-\"']+:(\s|$)|^- \S|^---\s*$")
_COLON_RECORD = re.compile(r"^[^\s:]*:[^:]*:")
_CODE_WORDS = {
    "if",
    "then",
    "else",
    "elif",
    "fi",
    "for",
    "while",
    "do",
    "done",
    "case",
    "esac",
    "echo",
    "return",
    "local",
    "function",
    "def",
    "import",
    "from",
    "print",
    "printf",
    "class",
    "use",
    "sub",
    "my",
    "our",
    "require",
    "var",
    "let",
    "const",
    "func",
    "fn",
    "void",
    "int",
    "static",
    "struct",
    "typedef",
}
_TRAILING_COMMENT = re.compile(r"\s+#.*$")
_YAML_NESTED = re.compile(r"^\s+([\w.\-\"']+:(\s|$)|- \S)")
_XML_START = re.compile(r"^<[A-Za-z_][\w:.\-]*[\s>/]")


def _text_kind(text: str, lines: list[str], truncated: bool) -> tuple[FileType, str] | None:
    body = text.lstrip("\ufeff \t\r\n")
    if body[:1] in ("{", "[") and _looks_json(body, truncated):
        return FileType.config, "JSON"
    if body.startswith("<"):
        low = body[:512].lower()
        if low.startswith(("<!doctype html", "<html")):
            return FileType.text, "HTML document"
        if "<svg" in low:
            return FileType.text, "SVG image"
        if body.startswith("<?xml") or (_XML_START.match(body) and ("</" in body or "/>" in body)):
            return FileType.config, "XML document"

    content: list[str] = []
    comments = 0
    for raw in lines:
        line = raw.strip()
        if not line:
            continue
        if line.startswith(_COMMENT_PREFIXES):
            comments += 1
        else:
            content.append(_TRAILING_COMMENT.sub("", line))
    if not content:
        return (FileType.config, "config (comments only)") if comments else None

    n = len(content)
    uci_sections = sum(1 for ln in content if _UCI_SECTION.match(ln))
    uci_other = sum(1 for ln in content if _UCI_OPTION.match(ln) or _UCI_PACKAGE.match(ln))
    if uci_sections and uci_sections + uci_other >= 0.8 * n:
        return FileType.config, "OpenWrt UCI config"

    records = [
        ln.count(":") + 1
        for ln in content
        if _COLON_RECORD.match(ln) and ": " not in ln and '"' not in ln and ln[-1] not in ";{}"
    ]
    if len(records) >= 0.8 * n:
        fields, count = Counter(records).most_common(1)[0]
        if count >= 0.8 * n:
            name = {7: "passwd-style", 9: "shadow-style", 4: "group-style"}.get(fields, "colon")
            if fields == 4 and not all(ln.split(":")[2].isdigit() for ln in content):
                name = "colon"
            if name == "colon":
                return FileType.config, "colon-separated records"
            return FileType.config, f"{name} records"

    sections = sum(1 for ln in content if _INI_SECTION.match(ln))
    kv_eq = sum(1 for ln in content if _KV_EQ.match(ln))
    if sections and sections + kv_eq >= 0.8 * n:
        return FileType.config, "INI config"

    code = sum(1 for ln in content if ln.split(None, 1)[0].rstrip(";") in _CODE_WORDS or "(" in ln)
    if code >= 0.2 * n:
        return None

    yaml = sum(1 for ln in content if _YAML.match(ln))
    if yaml >= 0.8 * n and (n >= 2 or content[0] == "---"):
        if content[0] == "---" or any(_YAML_NESTED.match(ln) for ln in lines):
            return FileType.config, "YAML"
        return FileType.config, "key: value config"

    blocks = sum(1 for ln in content if _BLOCK.match(ln))
    kv_space = sum(1 for ln in content if _KV_SPACE.match(ln) and not _KV_EQ.match(ln))
    if kv_eq and kv_eq >= 0.5 * n and kv_eq + kv_space + blocks + sections >= 0.8 * n:
        return FileType.config, "key=value config"
    sentences = sum(1 for ln in content if ln.endswith((".", "!", "?")) and " " in ln)
    if (n >= 2 or comments) and kv_space + blocks + kv_eq >= 0.8 * n and sentences < 0.3 * n:
        return FileType.config, "key value config"
    return None


def _looks_json(body: str, truncated: bool) -> bool:
    if not truncated:
        try:
            json.loads(body)
        except ValueError:
            return False
        return True
    return bool(re.match(r"^(\{\s*(\"|\})|\[\s*(\{|\[|\"|-?\d|true|false|null|\]))", body))
