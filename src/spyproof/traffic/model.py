"""The records traffic analysis passes between its stages.

Why plain slotted dataclasses and not pydantic: millions of packets go through
``Packet``; validation belongs at the edges (readers), not in the hot loop. Addresses are
kept packed (4 or 16 bytes) until a flow is created.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field

TCP, UDP, ICMP, ICMP6 = 6, 17, 1, 58
PROTO_NAMES = {TCP: "tcp", UDP: "udp", ICMP: "icmp", ICMP6: "icmp"}


def address_text(packed: bytes) -> str:
    """Zeek's spelling of an address: dotted quad or compressed IPv6."""
    return str(ipaddress.ip_address(packed))


@dataclass(slots=True)
class Packet:
    """One IP packet as decoded from a capture (link layer already stripped)."""

    number: int  # 1-based frame number across all inputs, in reading order
    ts: float  # seconds since the epoch (interface resolution applied)
    capture: int  # index of the capture file in CaptureSet.files
    offset: int  # byte offset of the packet's record in that (decompressed) file
    wire_len: int  # original length on the wire (before snaplen)
    ip_version: int  # 4 or 6
    ip_len: int  # IP total length from the IP header: Zeek's "IP bytes"
    proto: int  # 6 tcp, 17 udp, 1 icmp, 58 icmp6, other protocol numbers as found
    src: bytes  # packed address, 4 or 16 bytes
    dst: bytes
    sport: int  # ICMP: the type (Zeek's convention)
    dport: int  # ICMP: the code
    tcp_flags: int = 0  # FIN 1, SYN 2, RST 4, PSH 8, ACK 16, URG 32, ECE 64, CWR 128
    tcp_seq: int = 0
    tcp_ack: int = 0
    payload: bytes = b""  # transport payload as captured (may be cut by snaplen)
    payload_len: int = 0  # transport payload length per the headers (not cut)
    truncated: bool = False  # snaplen cut into this packet


@dataclass
class DnsAnswer:
    """A name the device resolved and what it resolved to (from a DNS response)."""

    ts: float
    query: str  # lower-case, no trailing dot
    qtype: str  # A, AAAA, CNAME, TXT, NULL, HTTPS …
    answers: list[str]  # addresses or names, as in the answer section
    rcode: str  # NOERROR, NXDOMAIN …
    resolver: str  # the server's address
    client: str
    transport: str  # udp, tcp, doh (DNS carried in HTTP), dot
    packet: int | None = None  # frame number of the response (None for Zeek logs)
    ttls: list[int] = field(default_factory=list)


@dataclass
class Flow:
    """A bidirectional connection with Zeek's conn.log semantics plus application facts."""

    uid: str  # deterministic: derived from the first packet (number and 5-tuple)
    proto: str  # tcp, udp, icmp
    orig_h: str
    orig_p: int
    resp_h: str
    resp_p: int
    start: float
    last: float
    orig_pkts: int = 0
    orig_ip_bytes: int = 0
    resp_pkts: int = 0
    resp_ip_bytes: int = 0
    orig_bytes: int = 0  # application payload bytes (TCP: from sequence numbers, as Zeek)
    resp_bytes: int = 0
    conn_state: str = "OTH"  # Zeek's S0, S1, SF, REJ, S2, S3, RSTO, RSTR, RSTOS0 …, OTH
    history: str = ""
    community_id: str = ""
    first_packet: int | None = None  # frame number (None when read from a Zeek log)
    capture: int | None = None
    offset: int | None = None
    service: str | None = None  # dns, ssl, http, quic …
    sni: str | None = None
    ja4: str | None = None
    alpn: list[str] = field(default_factory=list)
    http_host: str | None = None
    quic: bool = False
    quic_version: str | None = None
    dns_queries: list[str] = field(default_factory=list)

    @property
    def duration(self) -> float:
        return self.last - self.start
