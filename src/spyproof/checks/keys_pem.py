"""PEM blocks anywhere in a file's bytes: in key files, in configs, and as string literals
compiled into binaries (where a private key is the same on every device and cannot be
rotated without new firmware).

Blocks are found with one bounded pattern and parsed with ``cryptography``; the body may
be wrapped in C or script string syntax (``"…\\n"``), which is undone first. A block whose
END line is missing or whose body does not decode is still reported, as damaged.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
import struct
import warnings
from collections.abc import Iterator
from dataclasses import dataclass

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization

from spyproof.checks.keys_certs import cert_facts, load_der_certificate
from spyproof.checks.keys_material import key_facts, private_key_facts, ssh_fingerprint, ssh_strings
from spyproof.checks.keys_records import FoundCert, FoundKey

_BEGIN = re.compile(rb"-----BEGIN ([A-Z0-9][A-Z0-9 #]{0,38}[A-Z0-9])-----")
#: The largest body looked at (an RSA-16384 key is about 12 KiB of PEM).
MAX_BLOCK = 64 * 1024
#: At most this many blocks per file (a certificate bundle has a few hundred).
MAX_BLOCKS = 2000

_CERT_LABELS = {b"CERTIFICATE", b"X509 CERTIFICATE", b"TRUSTED CERTIFICATE"}
_KEY_FORMATS = {
    b"RSA PRIVATE KEY": "PEM PKCS#1 RSA",
    b"EC PRIVATE KEY": "PEM SEC1 EC",
    b"DSA PRIVATE KEY": "PEM DSA",
    b"PRIVATE KEY": "PEM PKCS#8",
    b"ENCRYPTED PRIVATE KEY": "PEM PKCS#8",
    b"OPENSSH PRIVATE KEY": "OpenSSH",
    b"PGP PRIVATE KEY BLOCK": "PGP",
}
_ESCAPES = re.compile(rb"\\[nrt]")
_STRING_JOINS = re.compile(rb"[\"']\s{0,16}\+?\s{0,16}[\"']")
_NOT_BASE64 = re.compile(rb"[^A-Za-z0-9+/=]")
# What follows the BEGIN line of a real (if cut) block: optional RFC 1421 headers, then at
# least one line's worth of base64, possibly inside C string syntax.
_BODY_START = re.compile(
    rb"(?:[\s\"',;]|\\[nr]){0,8}(?:[A-Za-z-]{1,20}: ?[^\r\n]{1,100}(?:[\s\"',;]|\\[nr]){1,8}){0,3}"
    rb"(?:[\s\"',;]|\\[nr]){0,8}[A-Za-z0-9+/]{40}")


@dataclass
class PemBlock:
    offset: int
    end: int  # one past the END line, or the end of what was looked at when it is missing
    label: bytes
    headers: list[bytes]  # RFC 1421 header lines (Proc-Type, DEK-Info)
    der: bytes | None  # the decoded body, None when it does not decode
    problem: str | None

    @property
    def header_line(self) -> str:
        return f"-----BEGIN {self.label.decode()}-----"


def _decode_body(raw: bytes) -> tuple[list[bytes], bytes | None]:
    raw = _STRING_JOINS.sub(b"\n", _ESCAPES.sub(b"\n", raw))
    headers: list[bytes] = []
    body: list[bytes] = []
    for line in raw.splitlines():
        line = line.strip().strip(b"\"',;")
        if not line:
            continue
        if b":" in line and not body:
            headers.append(line)
            continue
        body.append(line)
    text = b"".join(body)
    if not text or _NOT_BASE64.search(text):
        return headers, None
    try:
        return headers, base64.b64decode(text + b"=" * (-len(text) % 4), validate=True)
    except (binascii.Error, ValueError):
        return headers, None


def pem_blocks(data: bytes) -> Iterator[PemBlock]:
    """Every PEM block in ``data``, complete or not, in order."""
    for n, m in enumerate(_BEGIN.finditer(data)):
        if n >= MAX_BLOCKS:
            return
        label = m.group(1)
        window_end = min(len(data), m.end() + MAX_BLOCK)
        footer = b"-----END " + label + b"-----"
        stop = data.find(footer, m.end(), window_end)
        next_begin = data.find(b"-----BEGIN ", m.end(), window_end)
        if stop < 0 or (0 <= next_begin < stop):
            if not _BODY_START.match(data, m.end()):
                continue  # a header alone: a format string in a program, not a key
            cut = next_begin if next_begin >= 0 else window_end
            why = "no END line (truncated or damaged)"
            yield PemBlock(m.start(), cut, label, [], None, why)
            continue
        body = data[m.end():stop]
        if b"\0" in body and not _BODY_START.match(data, m.end()):
            continue  # BEGIN and END constants with program data between: not a key
        headers, der = _decode_body(body)
        problem = None if der else "body is not valid base64"
        yield PemBlock(m.start(), stop + len(footer), label, headers, der, problem)


def _canonical(block: PemBlock) -> bytes:
    assert block.der is not None
    body = base64.encodebytes(block.der).replace(b"\n", b"")
    lines = [body[i:i + 64] for i in range(0, len(body), 64)]
    head = b"".join(h + b"\n" for h in block.headers)
    if head:
        head += b"\n"
    return (b"-----BEGIN " + block.label + b"-----\n" + head + b"\n".join(lines)
            + b"\n-----END " + block.label + b"-----\n")


def _openssh(block: PemBlock, key: FoundKey) -> None:
    """OpenSSH keys carry their public half in clear, so even an encrypted one has a
    fingerprint (PROTOCOL.key in OpenSSH's source)."""
    raw = block.der or b""
    magic = b"openssh-key-v1\0"
    if not raw.startswith(magic):
        key.problem = "not an openssh-key-v1 blob"
        return
    pos = len(magic)
    fields: list[bytes] = []
    for _ in range(3):  # cipher name, kdf name, kdf options
        if pos + 4 > len(raw):
            key.problem = "truncated openssh-key-v1 header"
            return
        n = struct.unpack_from(">I", raw, pos)[0]
        fields.append(raw[pos + 4: pos + 4 + n])
        pos += 4 + n
    if pos + 8 > len(raw):
        key.problem = "truncated openssh-key-v1 header"
        return
    count = struct.unpack_from(">I", raw, pos)[0]
    n = struct.unpack_from(">I", raw, pos + 4)[0]
    blob = raw[pos + 8: pos + 8 + n]
    cipher = fields[0].decode("ascii", "replace")
    key.encrypted = cipher != "none"
    key.extra.update(cipher=cipher, kdf=fields[1].decode("ascii", "replace"), keys=count)
    parts = ssh_strings(blob)
    if parts:
        key_type = parts[0].decode("ascii", "replace")
        try:
            pub = serialization.load_ssh_public_key(
                key_type.encode() + b" " + base64.b64encode(blob))
            key.facts = key_facts(pub)
        except Exception:  # e.g. security-key types: fingerprint the blob only
            key.facts = {"algorithm": key_type}
        key.facts["ssh_fingerprint"] = ssh_fingerprint(blob)
    if not key.encrypted:
        try:
            serialization.load_ssh_private_key(_canonical(block), None)
        except Exception as exc:
            key.problem = f"private part does not load: {type(exc).__name__}"


def _private(block: PemBlock) -> FoundKey:
    label = block.label
    fmt = _KEY_FORMATS.get(label, f"PEM {label.decode()}")
    ident = hashlib.sha256(block.der if block.der is not None else label).hexdigest()
    encrypted: bool | None = None
    if label == b"ENCRYPTED PRIVATE KEY" or any(b"ENCRYPTED" in h for h in block.headers):
        encrypted = True
    key = FoundKey(offset=block.offset, end=block.end, format=fmt, header=block.header_line,
                   encrypted=encrypted, block_sha256=ident, problem=block.problem)
    if block.der is None:
        return key
    if label == b"OPENSSH PRIVATE KEY":
        _openssh(block, key)
        return key
    if label == b"PGP PRIVATE KEY BLOCK":
        key.encrypted = None  # OpenPGP secret keys may or may not be protected
        key.facts = {"algorithm": "OpenPGP"}
        return key
    if encrypted:
        return key
    try:
        loaded = serialization.load_pem_private_key(_canonical(block), None,
                                                    unsafe_skip_rsa_key_validation=True)
    except TypeError:  # "Password was not given but private key is encrypted"
        key.encrypted = True
        return key
    except UnsupportedAlgorithm:
        # a well-formed key of an algorithm cryptography lacks (GOST, SM2 …): still a key
        key.encrypted = False
        oid = pkcs8_algorithm(block.der)
        key.facts = {"algorithm": f"unsupported ({oid})" if oid else "unsupported"}
        return key
    except Exception as exc:
        key.problem = f"does not load as a private key: {type(exc).__name__}"
        return key
    key.encrypted = False
    with warnings.catch_warnings():  # e.g. "SSH DSA key support is deprecated"
        warnings.simplefilter("ignore")
        key.facts = private_key_facts(loaded)
    return key


def _oid_text(raw: bytes) -> str:
    first, rest = divmod(raw[0], 40) if raw else (0, 0)
    parts, value = [min(first, 2), rest + max(0, first - 2) * 40], 0
    for byte in raw[1:]:
        value = (value << 7) | (byte & 0x7F)
        if not byte & 0x80:
            parts.append(value)
            value = 0
    return ".".join(map(str, parts))


def pkcs8_algorithm(der: bytes) -> str | None:
    """The algorithm OID of a PKCS#8 PrivateKeyInfo (RFC 5208), or None."""
    m = re.match(rb"\x30(?:[\x00-\x7f]|\x81.|\x82..)\x02\x01[\x00\x01]"
                 rb"\x30(?:[\x00-\x7f]|\x81.)\x06([\x01-\x7f])", der, re.DOTALL)
    if not m:
        return None
    n = m.group(1)[0]
    return _oid_text(der[m.end():m.end() + n])


def _certificate(block: PemBlock) -> FoundCert | str:
    if block.der is None:
        return block.problem or "undecodable"
    try:
        cert = load_der_certificate(block.der)
    except Exception as exc:
        return f"does not load as a certificate: {type(exc).__name__}"
    return FoundCert(offset=block.offset, end=block.end, format="PEM", facts=cert_facts(cert))


def read_pem(data: bytes) -> tuple[list[FoundKey], list[FoundCert], list[str]]:
    """Private keys and certificates in PEM form, plus notes on blocks that did not load."""
    keys: list[FoundKey] = []
    certs: list[FoundCert] = []
    notes: list[str] = []
    for block in pem_blocks(data):
        if b"PRIVATE KEY" in block.label:
            keys.append(_private(block))
        elif block.label in _CERT_LABELS:
            got = _certificate(block)
            if isinstance(got, str):
                notes.append(f"certificate at offset {block.offset} not read: {got}")
            else:
                certs.append(got)
    return keys, certs, notes
