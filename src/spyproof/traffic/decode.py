"""One captured frame → one ``Packet``: link layer, IP and transport headers.

Why hand-written ``struct.unpack_from`` and slicing instead of dpkt objects: this runs
once per packet on captures of millions of packets, and building a dpkt object tree per
frame costs several times more than reading the dozen header fields flows need. Payloads
are sliced, never parsed, here (application parsing happens elsewhere, for few packets).

``decode_frame`` returns a ``Packet`` or, when the frame cannot become one, a short
reason string that the reader counts (``non-IP``, ``ip fragment`` …).
"""

from __future__ import annotations

import struct

from spyproof.traffic.model import Packet

# Link types (https://www.tcpdump.org/linktypes.html): LINKTYPE_ value → how to read it.
LINK_NULL = 0  # BSD loopback: 4-byte address family in the capturing host's byte order
LINK_ETHERNET = 1
LINK_RAW_12 = 12  # DLT_RAW as most libpcaps write it
LINK_RAW_14 = 14  # DLT_RAW on OpenBSD
LINK_RAW = 101
LINK_LOOP = 108  # OpenBSD loopback: address family in network byte order
LINK_LINUX_SLL = 113
LINK_IPV4 = 228
LINK_IPV6 = 229
LINK_LINUX_SLL2 = 276
SUPPORTED_LINK_TYPES = frozenset(
    {LINK_NULL, LINK_ETHERNET, LINK_RAW_12, LINK_RAW_14, LINK_RAW, LINK_LOOP,
     LINK_LINUX_SLL, LINK_IPV4, LINK_IPV6, LINK_LINUX_SLL2}
)
LINK_NAMES = {
    LINK_NULL: "null/loopback", LINK_ETHERNET: "ethernet", LINK_RAW_12: "raw IP",
    LINK_RAW_14: "raw IP", LINK_RAW: "raw IP", LINK_LOOP: "loop", LINK_LINUX_SLL: "linux-sll",
    LINK_IPV4: "raw IPv4", LINK_IPV6: "raw IPv6", LINK_LINUX_SLL2: "linux-sll2",
}

ETH_IPV4, ETH_IPV6 = 0x0800, 0x86DD
VLAN_TAGS = frozenset({0x8100, 0x88A8, 0x9100, 0x9200})  # 802.1Q, 802.1ad, old QinQ
ETH_PPPOE_SESSION = 0x8864
PPP_IPV4, PPP_IPV6 = 0x0021, 0x0057
# BSD address families for IPv6 differ per OS (NetBSD/OpenBSD 24, FreeBSD 28, Darwin 30).
AF_INET6_VALUES = frozenset({24, 28, 30})
# IPv6 extension headers walked to reach the transport header (RFC 8200 §4, RFC 7045).
IPV6_EXT_HEADERS = frozenset({0, 43, 60, 135, 139, 140, 253, 254})
IPV6_FRAGMENT, IPV6_AH = 44, 51
IPV6_WALKED = IPV6_EXT_HEADERS | {IPV6_FRAGMENT, IPV6_AH}

TRUNC_LINK = "truncated link header"
TRUNC_IP = "truncated IP header"
TRUNC_L4 = "truncated transport header"
MALFORMED_IP = "malformed IP header"
MALFORMED_L4 = "malformed transport header"
NON_IP = "non-IP"
FRAGMENT = "ip fragment"

_H = struct.Struct(">H").unpack_from
# IPv4: version/IHL, total length, flags/fragment offset, protocol, source, destination
_IP4 = struct.Struct(">BxHxxHxBxx4s4s").unpack_from
_TCP = struct.Struct(">HHIIBB").unpack_from  # ports, seq, ack, data offset, flags
_UDP = struct.Struct(">HHH").unpack_from  # ports, length
_FAMILY_LE = struct.Struct("<I").unpack_from
_FAMILY_BE = struct.Struct(">I").unpack_from


def _ether_payload(frame: bytes, off: int, etype: int) -> tuple[int, int]:
    """Skip VLAN tags (stacked) and PPPoE; return (ethertype, offset of its payload)."""
    n = len(frame)
    while etype in VLAN_TAGS:
        if off + 4 > n:
            return -1, off
        etype = (frame[off + 2] << 8) | frame[off + 3]
        off += 4
    if etype == ETH_PPPOE_SESSION:
        if off + 8 > n:
            return -1, off
        ppp = (frame[off + 6] << 8) | frame[off + 7]
        off += 8
        etype = ETH_IPV4 if ppp == PPP_IPV4 else ETH_IPV6 if ppp == PPP_IPV6 else 0
    return etype, off


def decode_frame(
    frame: bytes, link: int, number: int, ts: float, capture: int, offset: int, wire_len: int
) -> Packet | str:
    """Decode one frame of link type ``link``; a ``Packet`` or the reason it is not one."""
    n = len(frame)
    if link == LINK_ETHERNET:
        if n < 14:
            return TRUNC_LINK
        etype = (frame[12] << 8) | frame[13]
        off = 14
        if etype in VLAN_TAGS or etype == ETH_PPPOE_SESSION:
            etype, off = _ether_payload(frame, off, etype)
            if etype < 0:
                return TRUNC_LINK
    elif link == LINK_LINUX_SLL:
        if n < 16:
            return TRUNC_LINK
        etype, off = _ether_payload(frame, 16, (frame[14] << 8) | frame[15])
        if etype < 0:
            return TRUNC_LINK
    elif link == LINK_LINUX_SLL2:
        if n < 20:
            return TRUNC_LINK
        etype, off = _ether_payload(frame, 20, (frame[0] << 8) | frame[1])
        if etype < 0:
            return TRUNC_LINK
    elif link in (LINK_RAW, LINK_RAW_12, LINK_RAW_14, LINK_IPV4, LINK_IPV6):
        if n < 1:
            return TRUNC_LINK
        version = frame[0] >> 4
        etype = ETH_IPV4 if version == 4 else ETH_IPV6 if version == 6 else 0
        off = 0
    elif link in (LINK_NULL, LINK_LOOP):
        if n < 4:
            return TRUNC_LINK
        family = _FAMILY_BE(frame, 0)[0] if link == LINK_LOOP else _FAMILY_LE(frame, 0)[0]
        if family > 0xFFFF:  # written on a big-endian host
            family = _FAMILY_BE(frame, 0)[0]
        etype = ETH_IPV4 if family == 2 else ETH_IPV6 if family in AF_INET6_VALUES else 0
        off = 4
    else:
        return f"unknown link type {link}"

    if etype == ETH_IPV4:
        if n < off + 20:
            return TRUNC_IP
        b0, total, frag, proto, src, dst = _IP4(frame, off)
        ihl = (b0 & 0x0F) << 2
        if b0 >> 4 != 4 or ihl < 20:
            return MALFORMED_IP
        if total == 0:  # segmentation offload: the length field is left for the NIC
            total = wire_len - off
        if total < ihl:
            return MALFORMED_IP
        if n < off + ihl:
            return TRUNC_IP
        if frag & 0x1FFF:
            return FRAGMENT  # not the first fragment: no transport header to key it on
        version = 4
        l4 = off + ihl
        l4_len = total - ihl
    elif etype == ETH_IPV6:
        if n < off + 40:
            return TRUNC_IP
        if frame[off] >> 4 != 6:
            return MALFORMED_IP
        plen = _H(frame, off + 4)[0]
        if plen == 0:  # jumbogram or segmentation offload
            plen = wire_len - off - 40
        total = plen + 40
        proto = frame[off + 6]
        src = frame[off + 8 : off + 24]
        dst = frame[off + 24 : off + 40]
        version = 6
        l4 = off + 40
        end = off + total
        while proto in IPV6_WALKED:
            if l4 + 8 > n:
                return TRUNC_IP
            if proto == IPV6_FRAGMENT:
                if _H(frame, l4 + 2)[0] & 0xFFF8:
                    return FRAGMENT
                hlen = 8
            elif proto == IPV6_AH:
                hlen = (frame[l4 + 1] + 2) << 2
            else:
                hlen = (frame[l4 + 1] + 1) << 3
            proto = frame[l4]
            l4 += hlen
            if l4 > end:
                return MALFORMED_IP
        l4_len = end - l4
    else:
        return NON_IP

    if proto == 6:
        if n < l4 + 20:
            return TRUNC_L4
        sport, dport, seq, ack, doff, flags = _TCP(frame, l4)
        doff = (doff >> 4) << 2
        plen = l4_len - doff
        if doff < 20 or plen < 0:
            return MALFORMED_L4
        start = l4 + doff
        payload = frame[start : start + plen]
        return Packet(number, ts, capture, offset, wire_len, version, total, 6, src, dst,
                      sport, dport, flags, seq, ack, payload, plen, len(payload) < plen)
    if proto == 17:
        if n < l4 + 8:
            return TRUNC_L4
        sport, dport, ulen = _UDP(frame, l4)
        # Zeek counts UDP payload bytes from the UDP length field when it is sane.
        plen = ulen - 8 if 8 <= ulen <= l4_len else l4_len - 8
        if plen < 0:
            return MALFORMED_L4
        payload = frame[l4 + 8 : l4 + 8 + plen]
        return Packet(number, ts, capture, offset, wire_len, version, total, 17, src, dst,
                      sport, dport, 0, 0, 0, payload, plen, len(payload) < plen)
    if proto == 1 or proto == 58:
        if n < l4 + 4:
            return TRUNC_L4
        plen = l4_len - 8
        if plen < 0:
            return MALFORMED_L4
        payload = frame[l4 + 8 : l4 + 8 + plen]
        return Packet(number, ts, capture, offset, wire_len, version, total, proto, src, dst,
                      frame[l4], frame[l4 + 1], 0, 0, 0, payload, plen, len(payload) < plen)
    # Another IP protocol (GRE, ESP, SCTP …): still a packet between two hosts.
    return Packet(number, ts, capture, offset, wire_len, version, total, proto, src, dst,
                  0, 0, 0, 0, 0, b"", max(l4_len, 0), n < l4 + l4_len)
