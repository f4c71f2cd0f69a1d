"""Application-layer facts of a flow: DNS, TLS SNI + JA4, HTTP Host, QUIC, DNS over HTTP.

The flow engine calls :func:`inspect_payload` for the first payload-carrying packets of
each direction of each flow (and for every DNS packet). Each call looks at one or two
bytes before parsing anything, never raises on garbage, and only writes a flow's fields
once what it parsed is sound. Small per-flow buffers (bounded, least recently used
evicted) let a ClientHello, a DNS-over-TCP message or an HTTP/2 frame span segments.

Service names follow Zeek: ``dns``, ``ssl``, ``http``, ``quic``; a flow whose HTTP
messages carry DNS (RFC 8484, readable only in cleartext) becomes ``doh``. TLS on port
853 stays ``ssl`` — DNS over TLS is decided from the port by the evidence stage.
"""

from __future__ import annotations

import struct

from ..model import DnsAnswer, Flow, Packet, address_text
from . import dns, http, http2, quic, tls
from .ja4 import ja4
from .state import FlowStates, Stream

DNS_PORTS = frozenset({53, 5353, 5355})  # DNS, mDNS, LLMNR
MAX_HELLO_SEGMENTS = 16  # segments or Initial datagrams we wait for a ClientHello to complete
_PARSE_ERRORS = (ValueError, IndexError, KeyError, OverflowError, struct.error)

__all__ = ["AppInspector", "forget_flow", "inspect_payload", "reset", "wants_more"]


class AppInspector:
    """Parser state for one run; :func:`inspect_payload` uses a process-wide instance."""

    def __init__(self, max_flows: int = 4096) -> None:
        self.states = FlowStates(max_flows)

    # -- entry point ------------------------------------------------------------------

    def inspect(
        self, flow: Flow, from_orig: bool, payload: bytes, packet: Packet
    ) -> list[DnsAnswer]:
        """Update the flow's application fields from one transport payload (service, sni,
        ja4, alpn, http_host, quic, dns_queries) and return DNS answers found in it."""
        if not payload:
            return []
        try:
            if flow.proto == "udp":
                return self._udp(flow, from_orig, payload, packet)
            if flow.proto == "tcp":
                return self._tcp(flow, from_orig, payload, packet)
        except _PARSE_ERRORS:
            pass
        return []

    def wants_more(self, flow: Flow) -> bool:
        """True while this flow may still yield facts beyond the first packets: DNS (over
        UDP, TCP or HTTP), or a handshake still being reassembled."""
        if flow.service in ("dns", "doh"):
            return True
        state = self.states.peek(flow)
        if not state:
            return False
        return bool(
            ("tls" in state and not state["tls"]["done"])
            or ("quic_dir" in state and not state["quic_done"])
        )

    def forget(self, flow: Flow) -> None:
        self.states.forget(flow)

    # -- UDP --------------------------------------------------------------------------

    def _udp(self, flow: Flow, from_orig: bool, payload: bytes, packet: Packet):
        if flow.orig_p in DNS_PORTS or flow.resp_p in DNS_PORTS:
            return self._dns_message(flow, payload, packet, "udp")
        if payload[0] & 0xC0 == 0xC0 and len(payload) >= 7:
            self._quic(flow, from_orig, payload, packet)
        return []

    def _quic(self, flow: Flow, from_orig: bool, payload: bytes, packet: Packet) -> None:
        state = self.states.peek(flow)
        if state is not None and state.get("quic_done"):
            return
        initials = quic.client_initials(payload)
        if not initials:
            return
        # Only a client pads its Initial datagrams to 1200 bytes: that side is the client.
        datagram_len = max(packet.payload_len, len(payload))
        state = self.states.get(flow)
        if state.get("quic_dir") is None and datagram_len >= quic.MIN_CLIENT_INITIAL:
            state["quic_dir"] = from_orig
            state["quic_done"] = False
        if state.get("quic_dir") != from_orig:
            return
        state["quic_tries"] = state.get("quic_tries", 0) + 1
        if state["quic_tries"] >= MAX_HELLO_SEGMENTS:
            state["quic_done"] = True  # a ClientHello this spread out is not coming
        crypto: quic.CryptoStream | None = state.get("quic")
        decrypted = cut = False
        for header in initials:
            if header.end > len(payload):
                cut = True  # by snaplen: the header is all the evidence we get
                break
            if crypto is None:
                crypto = state["quic"] = quic.CryptoStream(header.dcid, header.version)
            for dcid in dict.fromkeys((header.dcid, crypto.original_dcid)):
                try:
                    frames = quic.decrypt_initial(payload, header, dcid)
                except quic.QuicError:
                    continue
                decrypted = True
                for offset, data in quic.crypto_frames(frames):
                    crypto.add(offset, data)
                break
        if not (decrypted or cut):
            return  # a complete datagram that does not decrypt is not a client Initial
        flow.quic = True
        _set_service(flow, "quic")
        if not decrypted or crypto is None:
            return
        handshake = crypto.contiguous()
        if handshake and handshake[0] != tls.CLIENT_HELLO:
            state["quic_done"] = True
        elif len(handshake) >= 4 and tls.hello_status(handshake) == 0:
            state["quic_done"] = True
            _apply_hello(flow, tls.parse_client_hello(handshake), "q")

    # -- TCP --------------------------------------------------------------------------

    def _tcp(self, flow: Flow, from_orig: bool, payload: bytes, packet: Packet):
        state = self.states.peek(flow)
        if flow.orig_p in DNS_PORTS or flow.resp_p in DNS_PORTS:
            return self._dns_tcp(flow, from_orig, payload, packet)
        if state:
            if "tls" in state:
                self._tls(flow, from_orig, payload, packet, state)
                return []
            if "h2" in state:
                return self._h2(flow, from_orig, payload, packet, state["h2"])
            if "h1" in state:
                return self._h1(flow, from_orig, payload, packet, state)
        first = payload[0]
        if first == tls.HANDSHAKE:
            if tls.looks_like_client_hello(payload):
                state = self.states.get(flow)
                state["tls"] = {"dir": from_orig, "stream": Stream(), "done": False}
                self._tls(flow, from_orig, payload, packet, state)
        elif first == 0x50 and payload.startswith(http2.PREFACE[: min(len(payload), 24)]):
            if len(payload) >= 3:  # "PRI" at least
                state = self.states.get(flow)
                state["h2"] = http2.Connection()
                return self._h2(flow, from_orig, payload, packet, state["h2"])
        elif http.starts_like_request(payload):
            state = self.states.get(flow)
            state["h1"] = {True: Stream(), False: Stream(), "dir": from_orig}
            return self._h1(flow, from_orig, payload, packet, state)
        return []

    def _tls(self, flow: Flow, from_orig: bool, payload: bytes, packet: Packet, state) -> None:
        tstate = state["tls"]
        if tstate["done"] or tstate["dir"] != from_orig:
            return
        tstate["segments"] = tstate.get("segments", 0) + 1
        if tstate["segments"] > MAX_HELLO_SEGMENTS:
            tstate["done"] = True
            return
        stream: Stream = tstate["stream"]
        if not stream.feed(packet.tcp_seq, payload, packet.payload_len):
            if stream.broken:
                tstate["done"] = True
            return
        if stream.resynced or not tls.looks_like_client_hello(bytes(stream.buf[:6])):
            tstate["done"] = True
            return
        try:
            handshake = tls.handshake_from_records(bytes(stream.buf))
        except tls.TlsError:
            tstate["done"] = True
            return
        if len(handshake) < 4:
            return
        final = tls.hello_status(handshake) == 0 or stream.broken  # complete, or cut for good
        if final:
            tstate["done"] = True
        try:
            hello = tls.parse_client_hello(handshake)
        except tls.TlsError:
            return  # not enough yet (or never will be, if final)
        _apply_hello(flow, hello, "t")

    def _h1(self, flow: Flow, from_orig: bool, payload: bytes, packet: Packet, state):
        h1 = state["h1"]
        stream: Stream = h1[from_orig]
        if not stream.feed(packet.tcp_seq, payload, packet.payload_len):
            return []
        buf = stream.buf
        answers: list[DnsAnswer] = []
        client = from_orig == h1["dir"]
        while buf:
            if (
                not http.starts_like_request(bytes(buf[:8]))
                if client
                else not buf.startswith(b"HTTP/1.")
            ):
                buf.clear()  # mid-body or not HTTP: wait for a segment that starts a head
                break
            head = http.parse_head(bytes(buf))
            if head is None:
                if len(buf) > http.MAX_HEAD:
                    buf.clear()
                break
            if client:
                _set_service(flow, "http")
                host = http.request_host(head)
                if host and flow.http_host is None:
                    flow.http_host = host
                wire = http.doh_query_from_target(head.start[1])
                if wire is not None:
                    answers += self._doh(flow, wire, packet)
            if head.length is None:
                break
            body = http.body_of(bytes(buf), head)
            has_body = "content-length" in head.headers or "transfer-encoding" in head.headers
            if has_body and body is None:
                if len(buf) > http.MAX_HEAD + http.MAX_BODY:
                    buf.clear()
                break
            if body and http.is_dns_message(head.headers.get("content-type")):
                answers += self._doh(flow, body, packet)
            consumed = head.length + (len(body) if body is not None else 0)
            if "chunked" in head.headers.get("transfer-encoding", "").lower():
                buf.clear()  # we do not track the exact chunked length; the next head resyncs
                break
            del buf[:consumed]
        return answers

    def _h2(self, flow: Flow, from_orig: bool, payload: bytes, packet: Packet, conn):
        answers: list[DnsAnswer] = []
        for event in conn.feed(from_orig, packet.tcp_seq, payload, packet.payload_len):
            headers = event.headers
            if event.kind == "headers" and event.from_client:
                _set_service(flow, "http")
                authority = headers.get(":authority") or headers.get("host")
                host = http.normalise_host(authority) if authority else None
                if host and flow.http_host is None:
                    flow.http_host = host
                wire = http.doh_query_from_target(headers.get(":path", ""))
                if wire is not None:
                    answers += self._doh(flow, wire, packet)
            elif event.kind == "body" and event.body:
                answers += self._doh(flow, event.body, packet)
        return answers

    def _doh(self, flow: Flow, wire: bytes, packet: Packet) -> list[DnsAnswer]:
        """A DNS message carried in HTTP: the flow becomes ``doh`` if it parses."""
        if not dns.looks_like_dns(wire):
            return []
        try:
            answers = self._dns_message(flow, wire, packet, "doh", set_service=False)
        except dns.DnsError:
            return []
        flow.service = "doh"
        return answers

    # -- DNS --------------------------------------------------------------------------

    def _dns_tcp(self, flow: Flow, from_orig: bool, payload: bytes, packet: Packet):
        state = self.states.get(flow)
        streams = state.setdefault("dns_tcp", {True: Stream(), False: Stream()})
        stream: Stream = streams[from_orig]
        if not stream.feed(packet.tcp_seq, payload, packet.payload_len):
            return []
        buf = stream.buf
        answers: list[DnsAnswer] = []
        while len(buf) >= 2:
            size = int.from_bytes(buf[0:2], "big")
            if size < 12:
                buf.clear()
                break
            if len(buf) < 2 + size:
                if stream.broken:  # cut by snaplen: read what is there, then drop it
                    answers += self._dns_message(flow, bytes(buf[2:]), packet, "tcp")
                    buf.clear()
                break
            answers += self._dns_message(flow, bytes(buf[2 : 2 + size]), packet, "tcp")
            del buf[: 2 + size]
        return answers

    def _dns_message(
        self, flow: Flow, wire: bytes, packet: Packet, transport: str, set_service: bool = True
    ) -> list[DnsAnswer]:
        if not dns.looks_like_dns(wire):
            return []
        msg = dns.parse(wire)
        if set_service:
            _set_service(flow, "dns")
        for name, _ in msg.questions:
            name = name.lower().rstrip(".")
            if name and name not in flow.dns_queries:
                flow.dns_queries.append(name)
        if not msg.response or msg.opcode != 0:
            return []
        return _answers(msg, packet, transport)


def _answers(msg: dns.Message, packet: Packet, transport: str) -> list[DnsAnswer]:
    resolver, client = address_text(packet.src), address_text(packet.dst)
    rcode = dns.rcode_name(msg.rcode)
    out: list[DnsAnswer] = []
    if msg.questions:
        name, qtype = msg.questions[0]
        out.append(
            DnsAnswer(
                ts=packet.ts,
                query=name.lower().rstrip("."),
                qtype=dns.qtype_name(qtype),
                answers=[r.value for r in msg.answers if r.value is not None],
                rcode=rcode,
                resolver=resolver,
                client=client,
                transport=transport,
                packet=packet.number,
                ttls=[r.ttl for r in msg.answers if r.value is not None],
            )
        )
        return out
    # mDNS announcements carry answers without questions: one entry per owner and type.
    groups: dict[tuple[str, int], list[dns.Record]] = {}
    for record in msg.answers:
        if record.value is not None:
            groups.setdefault((record.name.lower().rstrip("."), record.rtype), []).append(record)
    for (name, rtype), records in groups.items():
        out.append(
            DnsAnswer(
                ts=packet.ts,
                query=name,
                qtype=dns.qtype_name(rtype),
                answers=[r.value for r in records],
                rcode=rcode,
                resolver=resolver,
                client=client,
                transport=transport,
                packet=packet.number,
                ttls=[r.ttl for r in records],
            )
        )
    return out


def _apply_hello(flow: Flow, hello: tls.ClientHello, transport: str) -> None:
    if hello.sni and flow.sni is None:
        flow.sni = hello.sni
    if hello.alpn and not flow.alpn:
        flow.alpn = [tls.text(a) for a in hello.alpn]
    if hello.complete:
        flow.ja4 = ja4(hello, transport)
        if transport == "t":
            _set_service(flow, "ssl")
    elif transport == "t" and (hello.sni or hello.ciphers):
        _set_service(flow, "ssl")


def _set_service(flow: Flow, service: str) -> None:
    if flow.service is None:
        flow.service = service


_DEFAULT = AppInspector()


def inspect_payload(flow: Flow, from_orig: bool, payload: bytes, packet: Packet) -> list[DnsAnswer]:
    """Update the flow's application fields from one transport payload (service, sni, ja4,
    alpn, http_host, quic, dns_queries) and return DNS answers found in it."""
    return _DEFAULT.inspect(flow, from_orig, payload, packet)


def wants_more(flow: Flow) -> bool:
    """Whether calling :func:`inspect_payload` past the first packets may still pay off."""
    return _DEFAULT.wants_more(flow)


def forget_flow(flow: Flow) -> None:
    """Drop the parser state of a flow the engine has closed (optional: state is bounded)."""
    _DEFAULT.forget(flow)


def reset() -> None:
    """Drop all parser state (between independent runs in one process)."""
    _DEFAULT.states.clear()
