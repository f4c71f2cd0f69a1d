"""JA4 TLS client fingerprint (FoxIO's JA4 specification, technical_details/JA4.md).

Why JA4 and not JA3: JA4 sorts ciphers and extensions, so the browsers' extension-order
randomisation does not change it, and it is what Suricata 8 and Zeek's JA4 package log.
Layout: ``{q|t|d}{version}{d|i}{ciphers:02}{extensions:02}{alpn}_{cipher hash}_{ext hash}``.
"""

from __future__ import annotations

import hashlib

from .tls import EXT_ALPN, EXT_SNI, ClientHello, is_grease

VERSIONS = {
    0x0304: "13",
    0x0303: "12",
    0x0302: "11",
    0x0301: "10",
    0x0300: "s3",
    0x0002: "s2",
    0xFEFF: "d1",
    0xFEFD: "d2",
    0xFEFC: "d3",
}
EMPTY_HASH = "000000000000"


def _hash(text: str) -> str:
    return hashlib.sha256(text.encode("ascii")).hexdigest()[:12]


def _alnum(byte: int) -> bool:
    return 0x30 <= byte <= 0x39 or 0x41 <= byte <= 0x5A or 0x61 <= byte <= 0x7A


def alpn_chars(alpn: list[bytes]) -> str:
    """First and last character of the first ALPN value ("00" when there is none)."""
    if not alpn or not alpn[0]:
        return "00"
    first = alpn[0]
    if _alnum(first[0]) and _alnum(first[-1]):
        return chr(first[0]) + chr(first[-1])
    hexed = first.hex()
    return hexed[0] + hexed[-1]


def version_code(hello: ClientHello) -> str:
    versions = [v for v in hello.supported_versions if not is_grease(v)]
    version = max(versions) if versions else hello.legacy_version
    return VERSIONS.get(version, "00")


def ja4_parts(hello: ClientHello, transport: str = "t") -> tuple[str, str, str]:
    """The raw (sorted, unhashed) JA4 sections a, b and c — the ``ja4_r`` form."""
    ciphers = [c for c in hello.ciphers if not is_grease(c)]
    extensions = [e for e in hello.extensions if not is_grease(e)]
    a = (
        f"{transport}{version_code(hello)}{'d' if EXT_SNI in extensions else 'i'}"
        f"{min(len(ciphers), 99):02d}{min(len(extensions), 99):02d}{alpn_chars(hello.alpn)}"
    )
    b = ",".join(f"{c:04x}" for c in sorted(ciphers))
    c = ",".join(f"{e:04x}" for e in sorted(extensions) if e not in (EXT_SNI, EXT_ALPN))
    sigalgs = [s for s in hello.signature_algorithms if not is_grease(s)]
    if c and sigalgs:
        c += "_" + ",".join(f"{s:04x}" for s in sigalgs)
    return a, b, c


def ja4(hello: ClientHello, transport: str = "t") -> str:
    """``transport``: "t" TLS over TCP, "q" QUIC, "d" DTLS."""
    a, b, c = ja4_parts(hello, transport)
    return f"{a}_{_hash(b) if b else EMPTY_HASH}_{_hash(c) if c else EMPTY_HASH}"
