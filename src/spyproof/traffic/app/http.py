"""HTTP/1.x heads (request line, Host, Content-Type) and DNS-over-HTTPS (RFC 8484) bodies.

Why: the Host header names the destination of cleartext HTTP, and DoH on a cleartext
port is DNS that a port-53 monitor never sees. Only message heads and small
``application/dns-message`` bodies are read.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass, field
from urllib.parse import parse_qs, urlsplit

METHODS = (
    b"GET",
    b"POST",
    b"HEAD",
    b"PUT",
    b"DELETE",
    b"OPTIONS",
    b"CONNECT",
    b"PATCH",
    b"TRACE",
)
_FIRST_BYTES = frozenset(m[0] for m in METHODS)
DNS_MESSAGE = "application/dns-message"
MAX_HEAD = 16384
MAX_BODY = 65535


@dataclass(slots=True)
class Head:
    """A request or response head: start line parts and headers (names lower-case)."""

    start: tuple[str, str, str]  # method, target, version | version, status, reason
    headers: dict[str, str] = field(default_factory=dict)
    length: int | None = None  # bytes of the head including the blank line; None if cut


def starts_like_request(data: bytes) -> bool:
    """Cheap test: a known method followed by a space."""
    if not data or data[0] not in _FIRST_BYTES:
        return False
    space = data.find(b" ", 0, 8)
    return space > 0 and data[:space] in METHODS


def parse_head(data: bytes) -> Head | None:
    """Parse the start line and the header lines that are complete (the head may be cut)."""
    end = data.find(b"\r\n\r\n", 0, MAX_HEAD)
    length = end + 4 if end >= 0 else None
    block = data[: end if end >= 0 else MAX_HEAD]
    lines = block.split(b"\r\n")
    if end < 0 and len(lines) > 1:
        lines = lines[:-1]  # the last line may be cut
    elif end < 0:
        return None
    parts = lines[0].decode("latin-1").split(" ", 2)
    if parts[0].startswith("HTTP/1.") and len(parts) >= 2:
        if not (len(parts[1]) == 3 and parts[1].isdigit()):
            return None
        parts += [""] * (3 - len(parts))
    elif not (
        len(parts) == 3 and parts[0].encode("latin-1") in METHODS and parts[2].startswith("HTTP/1.")
    ):
        return None
    head = Head((parts[0], parts[1], parts[2]), length=length)
    for line in lines[1:]:
        name, sep, value = line.partition(b":")
        if not sep or not name or name != name.strip():
            continue
        key = name.decode("latin-1").lower()
        if key not in head.headers:
            head.headers[key] = value.decode("latin-1").strip()
    return head


def normalise_host(value: str) -> str | None:
    """Host or :authority → lower-case host without port, userinfo or IPv6 brackets."""
    value = value.strip().rpartition("@")[2].lower()
    if value.startswith("["):
        close = value.find("]")
        host = value[1:close] if close > 0 else ""
    elif value.count(":") == 1:
        host = value.partition(":")[0]
    else:
        host = value
    host = host.rstrip(".")
    if not host or any(c <= " " or c in '/\\"<>{}|^`' or ord(c) > 0x7E for c in host):
        return None
    return host


def request_host(head: Head) -> str | None:
    """The destination a request names: absolute-form or CONNECT target, else Host."""
    method, target, _ = head.start
    if method == "CONNECT":
        return normalise_host(target)
    if "://" in target[:12]:
        netloc = urlsplit(target).netloc
        if netloc:
            return normalise_host(netloc)
    host = head.headers.get("host")
    return normalise_host(host) if host else None


def doh_query_from_target(target: str) -> bytes | None:
    """The DNS message of a DoH GET (``?dns=`` base64url without padding, RFC 8484 §4.1)."""
    query = urlsplit(target).query
    if "dns=" not in query:
        return None
    values = parse_qs(query).get("dns")
    if not values:
        return None
    value = values[0]
    try:
        return base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
    except (binascii.Error, ValueError):
        return None


def is_dns_message(content_type: str | None) -> bool:
    return bool(content_type) and content_type.split(";")[0].strip().lower() == DNS_MESSAGE


def body_of(data: bytes, head: Head) -> bytes | None:
    """The complete body after ``head`` (Content-Length or chunked); None if not all there."""
    if head.length is None:
        return None
    rest = data[head.length :]
    if head.headers.get("transfer-encoding", "").lower().endswith("chunked"):
        return _dechunk(rest)
    try:
        size = int(head.headers.get("content-length", ""))
    except ValueError:
        return None
    if size < 0 or size > MAX_BODY or len(rest) < size:
        return None
    return rest[:size]


def _dechunk(data: bytes) -> bytes | None:
    out = bytearray()
    pos = 0
    while True:
        eol = data.find(b"\r\n", pos)
        if eol < 0:
            return None
        try:
            size = int(data[pos:eol].split(b";")[0], 16)
        except ValueError:
            return None
        pos = eol + 2
        if size == 0:
            return bytes(out)
        if pos + size > len(data) or len(out) + size > MAX_BODY:
            return None
        out += data[pos : pos + size]
        pos += size + 2
