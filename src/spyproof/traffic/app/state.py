"""Small per-flow memory for application parsing: in-order TCP byte streams and a bounded LRU.

Why: a ClientHello, a DNS-over-TCP message or an HTTP/2 frame can span segments, but the
flow engine hands us one payload at a time. We keep only what the first few segments need,
for a bounded number of flows, so memory stays bounded whatever the capture size.
"""

from __future__ import annotations

import weakref
from collections import OrderedDict
from typing import Any

MAX_STREAM = 65536 + 2  # the largest DNS-over-TCP message and its length prefix


class Stream:
    """The in-order bytes of one TCP direction, from the first segment we were given.

    A gap (lost or not captured segment, or a snaplen cut) makes the buffer useless: we
    drop it and restart at the next segment, flagged by ``resynced``.
    """

    __slots__ = ("buf", "next_seq", "broken", "resynced")

    def __init__(self) -> None:
        self.buf = bytearray()
        self.next_seq: int | None = None
        self.broken = False
        self.resynced = False

    def feed(self, seq: int, data: bytes, wire_len: int) -> bool:
        """Add one segment (``wire_len``: its length per the headers, ≥ captured bytes).

        False when nothing new was added (retransmission, overflow).
        """
        self.resynced = False
        wire_len = max(wire_len, len(data))
        if self.next_seq is not None and not self.broken:
            delta = (seq - self.next_seq) & 0xFFFFFFFF
            if delta >= 0x80000000:  # starts before what we have: overlap or retransmit
                overlap = (self.next_seq - seq) & 0xFFFFFFFF
                if overlap >= wire_len:
                    return False
                data = data[overlap:]
                wire_len -= overlap
            elif delta:  # starts after: a gap
                self.broken = True
        if self.broken or self.next_seq is None:
            if self.next_seq is not None:
                self.resynced = True
            self.buf.clear()
            self.broken = False
        self.next_seq = (seq + wire_len) & 0xFFFFFFFF
        if len(self.buf) + len(data) > MAX_STREAM:
            self.buf.clear()
            self.broken = True
            return False
        self.buf += data
        if len(data) < wire_len:
            self.broken = True  # the rest of this segment is missing: later bytes won't fit
        return True


class FlowStates:
    """Per-flow parser state keyed by flow uid, least recently used evicted.

    Each entry remembers (weakly) the Flow object it belongs to: a different object with
    the same uid — the same capture read again in one process — starts afresh instead
    of inheriting a finished parse.
    """

    def __init__(self, limit: int = 4096) -> None:
        self.limit = limit
        self._states: OrderedDict[str, tuple[weakref.ref, dict[str, Any]]] = OrderedDict()

    def get(self, flow: object) -> dict[str, Any]:
        state = self.peek(flow)
        if state is None:
            state = {}
            self._states[flow.uid] = (weakref.ref(flow), state)  # type: ignore[attr-defined]
            if len(self._states) > self.limit:
                self._states.popitem(last=False)
        return state

    def peek(self, flow: object) -> dict[str, Any] | None:
        uid = flow.uid  # type: ignore[attr-defined]
        entry = self._states.get(uid)
        if entry is None:
            return None
        if entry[0]() is not flow:
            del self._states[uid]
            return None
        self._states.move_to_end(uid)
        return entry[1]

    def forget(self, flow: object) -> None:
        self._states.pop(flow.uid, None)  # type: ignore[attr-defined]

    def clear(self) -> None:
        self._states.clear()

    def __len__(self) -> int:
        return len(self._states)
