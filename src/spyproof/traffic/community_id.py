"""Community ID v1 flow hashes (https://github.com/corelight/community-id-spec).

Why: the same string names a flow in Zeek, Suricata, Wireshark and spyproof output, so an
evaluator can pivot from a spyproof finding to their own tools' logs.

The hash: SHA-1 over seed (2 bytes) · lower address · higher address · protocol · 0 ·
lower port · higher port (network byte order), base64, prefixed "1:". ICMP "ports" are the
type and its counterpart type (or the code for one-way messages) — Zeek's mapping, which
is also what keys ICMP flows in ``flows.py``.
"""

from __future__ import annotations

import base64
import hashlib
import struct

ICMP4, ICMP6 = 1, 58
PORT_PROTOCOLS = frozenset({6, 17, 132, ICMP4, ICMP6})  # tcp, udp, sctp carry ports

# Request/reply pairs (RFC 792, RFC 4443, RFC 4861, RFC 2710, RFC 4620, RFC 6275); every
# other type is a one-way message whose second "port" is the code.
ICMP4_COUNTERPART = {8: 0, 0: 8, 13: 14, 14: 13, 15: 16, 16: 15, 10: 9, 9: 10, 17: 18, 18: 17}
ICMP6_COUNTERPART = {128: 129, 129: 128, 133: 134, 134: 133, 135: 136, 136: 135,
                     130: 131, 131: 130, 139: 140, 140: 139, 144: 145, 145: 144}


def icmp_ports(proto: int, icmp_type: int, icmp_code: int) -> tuple[int, int, bool]:
    """(source "port", destination "port", one-way) for an ICMP type and code."""
    table = ICMP4_COUNTERPART if proto == ICMP4 else ICMP6_COUNTERPART
    counter = table.get(icmp_type)
    if counter is None:
        return icmp_type, icmp_code, True
    return icmp_type, counter, False


def community_id(src: bytes, dst: bytes, proto: int, sport: int = 0, dport: int = 0,
                 seed: int = 0, one_way: bool = False) -> str:
    """Community ID v1 of a flow given as packed addresses and ports (ICMP: mapped)."""
    if not one_way and (src > dst or (src == dst and sport > dport)):
        src, dst, sport, dport = dst, src, dport, sport
    data = struct.pack(">H", seed) + src + dst + bytes((proto, 0))
    if proto in PORT_PROTOCOLS:
        data += struct.pack(">HH", sport, dport)
    return "1:" + base64.b64encode(hashlib.sha1(data).digest()).decode("ascii")
