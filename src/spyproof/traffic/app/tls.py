"""TLS ClientHello parsing: the facts JA4, SNI and ALPN need (RFC 8446 §4.1.2).

Why only the ClientHello: it is the last cleartext the client sends that names the
destination (SNI) and identifies the client software (JA4). A hello cut short (snaplen,
missing segment) still yields SNI/ALPN when their extensions are complete, but no JA4,
which needs the whole extension list.
"""

from __future__ import annotations

from dataclasses import dataclass, field

HANDSHAKE = 0x16
CLIENT_HELLO = 1
EXT_SNI, EXT_ALPN, EXT_SIGALGS, EXT_VERSIONS = 0x0000, 0x0010, 0x000D, 0x002B
MAX_RECORD = 16384 + 2048
MAX_HELLO = 65536


class TlsError(ValueError):
    """Not a ClientHello we can read."""


@dataclass(slots=True)
class ClientHello:
    legacy_version: int
    ciphers: list[int] = field(default_factory=list)
    extensions: list[int] = field(default_factory=list)  # types, in the order sent
    sni: str | None = None
    alpn: list[bytes] = field(default_factory=list)
    signature_algorithms: list[int] = field(default_factory=list)
    supported_versions: list[int] = field(default_factory=list)
    complete: bool = True  # False: cut short; extension list (and so JA4) incomplete


def is_grease(value: int) -> bool:
    """RFC 8701 GREASE values: 0x0a0a, 0x1a1a … 0xfafa."""
    return (value & 0x0F0F) == 0x0A0A and (value >> 8) == (value & 0xFF)


def text(raw: bytes) -> str:
    """Printable ASCII kept, anything else escaped as \\xHH."""
    return "".join(chr(b) if 0x20 < b < 0x7F and b != 0x5C else f"\\x{b:02x}" for b in raw)


def looks_like_client_hello(data: bytes) -> bool:
    """Record header of a handshake record whose first message is a ClientHello — or a
    prefix of one (a client may send the record header in a segment of its own)."""
    return (
        len(data) >= 1
        and data[0] == HANDSHAKE
        and (len(data) < 2 or data[1] == 3)
        and (len(data) < 3 or data[2] <= 4)
        and (len(data) < 6 or data[5] == CLIENT_HELLO)
    )


def handshake_from_records(data: bytes) -> bytes:
    """Concatenate the handshake bytes of consecutive handshake records (the last one
    possibly cut short), stopping once a whole ClientHello is there."""
    out = bytearray()
    pos = 0
    while pos + 5 <= len(data) and _hello_needed(out) > len(out):
        if data[pos] != HANDSHAKE or data[pos + 1] != 3:
            break
        length = int.from_bytes(data[pos + 3 : pos + 5], "big")
        if length == 0 or length > MAX_RECORD:
            raise TlsError("implausible record length")
        out += data[pos + 5 : pos + 5 + length]
        pos += 5 + length
    return bytes(out)


def _hello_needed(handshake: bytes) -> int:
    if len(handshake) < 4:
        return 4
    return 4 + int.from_bytes(handshake[1:4], "big")


def hello_status(handshake: bytes) -> int:
    """Bytes still missing for the whole ClientHello message (0 when complete)."""
    return max(0, _hello_needed(handshake) - len(handshake))


def parse_client_hello(handshake: bytes) -> ClientHello:
    """Parse a ClientHello handshake message (type, 3-byte length, body).

    A message shorter than its declared length is parsed as far as it goes and marked
    ``complete=False``.
    """
    if len(handshake) < 4 or handshake[0] != CLIENT_HELLO:
        raise TlsError("not a ClientHello")
    length = int.from_bytes(handshake[1:4], "big")
    if length > MAX_HELLO or length < 38:
        raise TlsError("implausible ClientHello length")
    body = handshake[4 : 4 + length]
    complete = len(body) == length
    if len(body) < 35:
        raise TlsError("ClientHello cut before the cipher suites")
    hello = ClientHello(int.from_bytes(body[0:2], "big"), complete=complete)
    if body[0] != 3:
        raise TlsError("not a TLS version")
    pos = 34
    sid_len = body[pos]
    if sid_len > 32:
        raise TlsError("session id too long")
    pos += 1 + sid_len
    if pos + 2 > len(body):
        raise TlsError("ClientHello cut before the cipher suites")
    n = int.from_bytes(body[pos : pos + 2], "big")
    if n % 2 or n == 0:
        raise TlsError("bad cipher suite list")
    pos += 2
    if pos + n > len(body):
        raise TlsError("ClientHello cut in the cipher suites")
    hello.ciphers = [int.from_bytes(body[i : i + 2], "big") for i in range(pos, pos + n, 2)]
    pos += n
    if pos >= len(body):
        raise TlsError("ClientHello cut before the compression methods")
    pos += 1 + body[pos]
    if pos > len(body):
        raise TlsError("ClientHello cut in the compression methods")
    if pos == len(body):  # no extensions at all (old clients), or cut exactly here
        if not complete:
            hello.complete = False
        return hello
    if pos + 2 > len(body):
        hello.complete = False
        return hello
    ext_total = int.from_bytes(body[pos : pos + 2], "big")
    pos += 2
    end = pos + ext_total
    if end > len(body) and complete:
        raise TlsError("extensions overrun the ClientHello")
    while pos + 4 <= min(end, len(body)):
        etype = int.from_bytes(body[pos : pos + 2], "big")
        elen = int.from_bytes(body[pos + 2 : pos + 4], "big")
        data = body[pos + 4 : pos + 4 + elen]
        if len(data) < elen:
            hello.complete = False
            break
        hello.extensions.append(etype)
        _read_extension(hello, etype, data)
        pos += 4 + elen
    else:
        if pos != end:
            if complete:
                raise TlsError("extension list does not add up")
            hello.complete = False
    return hello


def _read_extension(hello: ClientHello, etype: int, data: bytes) -> None:
    if etype == EXT_SNI and len(data) >= 5:
        pos = 2
        while pos + 3 <= len(data):
            ntype = data[pos]
            nlen = int.from_bytes(data[pos + 1 : pos + 3], "big")
            name = data[pos + 3 : pos + 3 + nlen]
            if ntype == 0 and len(name) == nlen and nlen:
                hello.sni = text(name).lower().rstrip(".")
                break
            pos += 3 + nlen
    elif etype == EXT_ALPN and len(data) >= 2:
        pos = 2
        while pos < len(data):
            n = data[pos]
            value = data[pos + 1 : pos + 1 + n]
            if len(value) < n:
                break
            hello.alpn.append(value)
            pos += 1 + n
    elif etype == EXT_SIGALGS and len(data) >= 2:
        n = int.from_bytes(data[0:2], "big")
        raw = data[2 : 2 + n]
        hello.signature_algorithms = [
            int.from_bytes(raw[i : i + 2], "big") for i in range(0, len(raw) - 1, 2)
        ]
    elif etype == EXT_VERSIONS and len(data) >= 1:
        raw = data[1 : 1 + data[0]]
        hello.supported_versions = [
            int.from_bytes(raw[i : i + 2], "big") for i in range(0, len(raw) - 1, 2)
        ]
