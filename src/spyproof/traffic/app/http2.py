"""Cleartext HTTP/2 (prior knowledge, RFC 9113 §3.3): frames and header blocks of a connection.

Why: DNS over HTTP/2 on port 80 (RFC 8484) is the form a monitor can read without keys;
to find it we need ``:authority``, ``:path``, ``content-type`` and the DATA of streams that
carry ``application/dns-message``. Frames are read from the reassembled TCP stream of each
direction; a gap or an HPACK error ends parsing of that direction (its state is lost).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from . import hpack
from .http import MAX_BODY, is_dns_message
from .state import Stream

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
DATA, HEADERS, PUSH_PROMISE, CONTINUATION = 0x0, 0x1, 0x5, 0x9
END_STREAM, END_HEADERS, PADDED, PRIORITY = 0x1, 0x4, 0x8, 0x20
MAX_FRAME = 65536 - 9  # what our bounded stream buffer can hold
MAX_STREAMS = 256


@dataclass(slots=True)
class Event:
    """A complete header block or a complete dns-message body of one side of a stream."""

    kind: str  # "headers" | "body"
    from_client: bool
    stream_id: int
    headers: dict[str, str]
    body: bytes | None = None


@dataclass(slots=True)
class _Side:
    stream: Stream = field(default_factory=Stream)
    decoder: hpack.Decoder = field(default_factory=hpack.Decoder)
    need_preface: bool = False
    dead: bool = False
    pending: tuple[int, int, bytearray] | None = None  # CONTINUATION: (stream id, flags, block)


@dataclass(slots=True)
class _H2Stream:
    headers: dict[bool, dict[str, str]] = field(default_factory=dict)
    bodies: dict[bool, bytearray] = field(default_factory=dict)


class Connection:
    """Both directions of one HTTP/2 connection."""

    def __init__(self) -> None:
        self.sides = {True: _Side(need_preface=True), False: _Side()}
        self.streams: dict[int, _H2Stream] = {}

    def feed(self, from_client: bool, seq: int, data: bytes, wire_len: int) -> list[Event]:
        side = self.sides[from_client]
        if side.dead:
            return []
        if not side.stream.feed(seq, data, wire_len):
            return []
        if side.stream.resynced:  # framing and HPACK state lost
            side.dead = True
            return []
        buf = side.stream.buf
        events: list[Event] = []
        if side.need_preface:
            if len(buf) < len(PREFACE):
                return events
            if bytes(buf[: len(PREFACE)]) != PREFACE:
                side.dead = True
                return events
            del buf[: len(PREFACE)]
            side.need_preface = False
        while len(buf) >= 9:
            length = int.from_bytes(buf[0:3], "big")
            if length > MAX_FRAME:
                side.dead = True
                return events
            if len(buf) < 9 + length:
                break
            ftype, flags = buf[3], buf[4]
            stream_id = int.from_bytes(buf[5:9], "big") & 0x7FFFFFFF
            payload = bytes(buf[9 : 9 + length])
            del buf[: 9 + length]
            try:
                self._frame(side, from_client, ftype, flags, stream_id, payload, events)
            except (hpack.HpackError, IndexError, ValueError):
                side.dead = True
                return events
        return events

    def _frame(
        self,
        side: _Side,
        from_client: bool,
        ftype: int,
        flags: int,
        stream_id: int,
        payload: bytes,
        events: list[Event],
    ) -> None:
        if side.pending is not None and ftype != CONTINUATION:
            raise ValueError("header block interrupted")
        if ftype == DATA:
            self._data(from_client, flags, stream_id, _unpad(payload, flags), events)
        elif ftype == HEADERS:
            block = _unpad(payload, flags)
            if flags & PRIORITY:
                block = block[5:]
            self._block(side, from_client, stream_id, flags, bytearray(block), events)
        elif ftype == PUSH_PROMISE:
            block = _unpad(payload, flags)[4:]
            self._block(side, from_client, 0, flags & END_HEADERS, bytearray(block), events)
        elif ftype == CONTINUATION:
            if side.pending is None or side.pending[0] != stream_id:
                raise ValueError("unexpected CONTINUATION")
            sid, first_flags, block = side.pending
            side.pending = None
            block += payload
            if len(block) > MAX_FRAME:
                raise ValueError("header block too large")
            self._block(side, from_client, sid, first_flags | (flags & END_HEADERS), block, events)

    def _block(
        self,
        side: _Side,
        from_client: bool,
        stream_id: int,
        flags: int,
        block: bytearray,
        events: list[Event],
    ) -> None:
        if not flags & END_HEADERS:
            side.pending = (stream_id, flags & ~END_HEADERS, block)
            return
        headers = dict(side.decoder.decode(bytes(block)))  # always, to keep HPACK in step
        if stream_id == 0:  # PUSH_PROMISE: decoded only for the table
            return
        h2s = self._stream(stream_id)
        if h2s is None:
            return
        if from_client not in h2s.headers:
            h2s.headers[from_client] = headers
            events.append(Event("headers", from_client, stream_id, headers))
            if is_dns_message(headers.get("content-type")):
                h2s.bodies[from_client] = bytearray()
        if flags & END_STREAM:
            self._end(h2s, from_client, stream_id, events)

    def _data(
        self, from_client: bool, flags: int, stream_id: int, data: bytes, events: list[Event]
    ) -> None:
        h2s = self.streams.get(stream_id)
        if h2s is None:
            return
        body = h2s.bodies.get(from_client)
        if body is not None:
            if len(body) + len(data) > MAX_BODY:
                del h2s.bodies[from_client]
            else:
                body += data
        if flags & END_STREAM:
            self._end(h2s, from_client, stream_id, events)

    def _end(self, h2s: _H2Stream, from_client: bool, stream_id: int, events: list[Event]) -> None:
        body = h2s.bodies.pop(from_client, None)
        if body is not None:
            headers = h2s.headers.get(from_client, {})
            events.append(Event("body", from_client, stream_id, headers, bytes(body)))
        if not from_client:  # the response ends the exchange
            self.streams.pop(stream_id, None)

    def _stream(self, stream_id: int) -> _H2Stream | None:
        h2s = self.streams.get(stream_id)
        if h2s is None:
            if len(self.streams) >= MAX_STREAMS:
                return None
            h2s = self.streams[stream_id] = _H2Stream()
        return h2s

    def request_headers(self, stream_id: int) -> dict[str, str]:
        h2s = self.streams.get(stream_id)
        return h2s.headers.get(True, {}) if h2s else {}


def _unpad(payload: bytes, flags: int) -> bytes:
    if not flags & PADDED:
        return payload
    if not payload or payload[0] >= len(payload):
        raise ValueError("bad padding")
    return payload[1 : len(payload) - payload[0]]
