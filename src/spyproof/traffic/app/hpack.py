"""HPACK (RFC 7541) header decoding, enough to read HTTP/2 request and response headers.

Why our own: the ``hpack`` package is not a dependency, and reading ``:authority``,
``:path`` and ``content-type`` of cleartext HTTP/2 (DNS over HTTP/2 on port 80) needs
the static table, the per-connection dynamic table and the Huffman code — nothing more.
Decoding errors raise ``HpackError``; callers drop the header block and keep going.
"""

from __future__ import annotations

from collections import deque

# RFC 7541 Appendix A: the static table (index 1..61).
STATIC_TABLE: tuple[tuple[str, str], ...] = (
    (":authority", ""),
    (":method", "GET"),
    (":method", "POST"),
    (":path", "/"),
    (":path", "/index.html"),
    (":scheme", "http"),
    (":scheme", "https"),
    (":status", "200"),
    (":status", "204"),
    (":status", "206"),
    (":status", "304"),
    (":status", "400"),
    (":status", "404"),
    (":status", "500"),
    ("accept-charset", ""),
    ("accept-encoding", "gzip, deflate"),
    ("accept-language", ""),
    ("accept-ranges", ""),
    ("accept", ""),
    ("access-control-allow-origin", ""),
    ("age", ""),
    ("allow", ""),
    ("authorization", ""),
    ("cache-control", ""),
    ("content-disposition", ""),
    ("content-encoding", ""),
    ("content-language", ""),
    ("content-length", ""),
    ("content-location", ""),
    ("content-range", ""),
    ("content-type", ""),
    ("cookie", ""),
    ("date", ""),
    ("etag", ""),
    ("expect", ""),
    ("expires", ""),
    ("from", ""),
    ("host", ""),
    ("if-match", ""),
    ("if-modified-since", ""),
    ("if-none-match", ""),
    ("if-range", ""),
    ("if-unmodified-since", ""),
    ("last-modified", ""),
    ("link", ""),
    ("location", ""),
    ("max-forwards", ""),
    ("proxy-authenticate", ""),
    ("proxy-authorization", ""),
    ("range", ""),
    ("referer", ""),
    ("refresh", ""),
    ("retry-after", ""),
    ("server", ""),
    ("set-cookie", ""),
    ("strict-transport-security", ""),
    ("transfer-encoding", ""),
    ("user-agent", ""),
    ("vary", ""),
    ("via", ""),
    ("www-authenticate", ""),
)

# RFC 7541 Appendix B: code length in bits of symbols 0..255 and EOS (256). The code is
# canonical (codes assigned in order of length, then symbol), so lengths determine it.
# fmt: off
_CODE_LENGTHS = bytes([
    13, 23, 28, 28, 28, 28, 28, 28, 28, 24, 30, 28, 28, 30, 28, 28,
    28, 28, 28, 28, 28, 28, 30, 28, 28, 28, 28, 28, 28, 28, 28, 28,
    6, 10, 10, 12, 13, 6, 8, 11, 10, 10, 8, 11, 8, 6, 6, 6,
    5, 5, 5, 6, 6, 6, 6, 6, 6, 6, 7, 8, 15, 6, 12, 10,
    13, 6, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7,
    7, 7, 7, 7, 7, 7, 7, 7, 8, 7, 8, 13, 19, 13, 14, 6,
    15, 5, 6, 5, 6, 5, 6, 6, 6, 5, 7, 7, 6, 6, 6, 5,
    6, 7, 6, 5, 5, 6, 7, 7, 7, 7, 7, 15, 11, 14, 13, 28,
    20, 22, 20, 20, 22, 22, 22, 23, 22, 23, 23, 23, 23, 23, 24, 23,
    24, 24, 22, 23, 24, 23, 23, 23, 23, 21, 22, 23, 22, 23, 23, 24,
    22, 21, 20, 22, 22, 23, 23, 21, 23, 22, 22, 24, 21, 22, 23, 23,
    21, 21, 22, 21, 23, 22, 23, 23, 20, 22, 22, 22, 23, 22, 22, 23,
    26, 26, 20, 19, 22, 23, 22, 25, 26, 26, 26, 27, 27, 26, 24, 25,
    19, 21, 26, 27, 27, 26, 27, 24, 21, 21, 26, 26, 28, 27, 27, 27,
    20, 24, 20, 21, 22, 21, 21, 23, 22, 22, 25, 25, 24, 24, 26, 23,
    26, 27, 26, 26, 27, 27, 27, 27, 27, 28, 27, 27, 27, 27, 27, 26,
    30,  # EOS
])
# fmt: on
EOS = 256
MAX_STRING = 16384  # a header value longer than this is not worth decoding here
MAX_TABLE_SIZE = 65536  # bound on the dynamic table whatever the peer announces


class HpackError(ValueError):
    """The header block is not valid HPACK (or exceeds our bounds)."""


def canonical_codes() -> dict[int, tuple[int, int]]:
    """symbol → (code, length) of the canonical Huffman code with the RFC's lengths."""
    order = sorted(range(len(_CODE_LENGTHS)), key=lambda s: (_CODE_LENGTHS[s], s))
    codes: dict[int, tuple[int, int]] = {}
    code = 0
    prev_len = _CODE_LENGTHS[order[0]]
    for i, sym in enumerate(order):
        length = _CODE_LENGTHS[sym]
        if i:
            code = (code + 1) << (length - prev_len)
        codes[sym] = (code, length)
        prev_len = length
    return codes


# (length, code) → symbol, for bit-by-bit decoding with a per-length lookup.
_DECODE: dict[tuple[int, int], int] = {(ln, c): s for s, (c, ln) in canonical_codes().items()}
_MIN_LEN = min(_CODE_LENGTHS)


def huffman_decode(data: bytes) -> bytes:
    """Decode a Huffman-coded string literal (RFC 7541 §5.2)."""
    out = bytearray()
    code = 0
    length = 0
    for byte in data:
        for shift in range(7, -1, -1):
            code = (code << 1) | ((byte >> shift) & 1)
            length += 1
            if length >= _MIN_LEN:
                sym = _DECODE.get((length, code))
                if sym is not None:
                    if sym == EOS:
                        raise HpackError("EOS symbol inside a string literal")
                    out.append(sym)
                    code = 0
                    length = 0
            if length > 30:
                raise HpackError("invalid Huffman code")
    # Padding: fewer than 8 bits, all ones (the most significant bits of EOS).
    if length > 7 or code != (1 << length) - 1:
        raise HpackError("invalid Huffman padding")
    return bytes(out)


def decode_int(data: bytes, pos: int, prefix_bits: int) -> tuple[int, int]:
    """An HPACK integer with an N-bit prefix starting at data[pos]; → (value, next pos)."""
    if pos >= len(data):
        raise HpackError("truncated integer")
    mask = (1 << prefix_bits) - 1
    value = data[pos] & mask
    pos += 1
    if value < mask:
        return value, pos
    shift = 0
    while True:
        if pos >= len(data) or shift > 28:
            raise HpackError("truncated or oversized integer")
        byte = data[pos]
        pos += 1
        value += (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            return value, pos


def _decode_string(data: bytes, pos: int) -> tuple[str, int]:
    if pos >= len(data):
        raise HpackError("truncated string")
    huffman = bool(data[pos] & 0x80)
    length, pos = decode_int(data, pos, 7)
    if length > MAX_STRING or pos + length > len(data):
        raise HpackError("string length beyond the block")
    raw = data[pos : pos + length]
    if huffman:
        raw = huffman_decode(raw)
    return raw.decode("latin-1"), pos + length


class Decoder:
    """One direction of one HTTP/2 connection: HPACK state lives as long as it does."""

    def __init__(self, max_size: int = 4096) -> None:
        self.dynamic: deque[tuple[str, str]] = deque()
        self.size = 0
        self.max_size = max_size

    def _entry(self, index: int) -> tuple[str, str]:
        if 1 <= index <= len(STATIC_TABLE):
            return STATIC_TABLE[index - 1]
        dyn = index - len(STATIC_TABLE) - 1
        if 0 <= dyn < len(self.dynamic):
            return self.dynamic[dyn]
        raise HpackError(f"index {index} outside the tables")

    def _add(self, name: str, value: str) -> None:
        size = len(name) + len(value) + 32
        self.dynamic.appendleft((name, value))
        self.size += size
        self._evict()

    def _evict(self) -> None:
        while self.size > self.max_size and self.dynamic:
            name, value = self.dynamic.pop()
            self.size -= len(name) + len(value) + 32

    def decode(self, block: bytes) -> list[tuple[str, str]]:
        """A complete header block → header list (names lower-case as HTTP/2 requires)."""
        headers: list[tuple[str, str]] = []
        pos = 0
        while pos < len(block):
            byte = block[pos]
            if byte & 0x80:  # indexed header field
                index, pos = decode_int(block, pos, 7)
                headers.append(self._entry(index))
            elif byte & 0xE0 == 0x20:  # dynamic table size update
                size, pos = decode_int(block, pos, 5)
                self.max_size = min(size, MAX_TABLE_SIZE)
                self._evict()
            else:
                incremental = bool(byte & 0x40)
                index, pos = decode_int(block, pos, 6 if incremental else 4)
                if index:
                    name = self._entry(index)[0]
                else:
                    name, pos = _decode_string(block, pos)
                value, pos = _decode_string(block, pos)
                headers.append((name, value))
                if incremental:
                    self._add(name, value)
        return headers
