"""DNS message parsing (RFC 1035) for questions and answers, robust to hostile input.

Why our own parser and not ``dpkt.dns``: dpkt decodes labels as UTF-8 (binary labels,
common in DNS tunnelling, raise), and one odd record fails the whole message. Here names
keep every byte (non-printable ones escaped as ``\\xHH``, as Zeek does), compression
pointers must point strictly backwards (so loops cannot happen), and a message cut by
snaplen yields the records that are complete.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field

QTYPES = {
    1: "A",
    2: "NS",
    5: "CNAME",
    6: "SOA",
    10: "NULL",
    12: "PTR",
    13: "HINFO",
    15: "MX",
    16: "TXT",
    17: "RP",
    18: "AFSDB",
    24: "SIG",
    25: "KEY",
    28: "AAAA",
    29: "LOC",
    33: "SRV",
    35: "NAPTR",
    36: "KX",
    37: "CERT",
    39: "DNAME",
    41: "OPT",
    42: "APL",
    43: "DS",
    44: "SSHFP",
    45: "IPSECKEY",
    46: "RRSIG",
    47: "NSEC",
    48: "DNSKEY",
    49: "DHCID",
    50: "NSEC3",
    51: "NSEC3PARAM",
    52: "TLSA",
    53: "SMIMEA",
    55: "HIP",
    59: "CDS",
    60: "CDNSKEY",
    61: "OPENPGPKEY",
    62: "CSYNC",
    63: "ZONEMD",
    64: "SVCB",
    65: "HTTPS",
    99: "SPF",
    108: "EUI48",
    109: "EUI64",
    249: "TKEY",
    250: "TSIG",
    251: "IXFR",
    252: "AXFR",
    255: "ANY",
    256: "URI",
    257: "CAA",
}
RCODES = {
    0: "NOERROR",
    1: "FORMERR",
    2: "SERVFAIL",
    3: "NXDOMAIN",
    4: "NOTIMP",
    5: "REFUSED",
    6: "YXDOMAIN",
    7: "YXRRSET",
    8: "NXRRSET",
    9: "NOTAUTH",
    10: "NOTZONE",
}
NAME_TYPES = {2, 5, 12, 39}  # NS, CNAME, PTR, DNAME: rdata is one domain name
MAX_QUESTIONS = 64
MAX_RECORDS = 1024


class DnsError(ValueError):
    """Not a DNS message we can read."""


def qtype_name(value: int) -> str:
    return QTYPES.get(value, f"TYPE{value}")  # RFC 3597 spelling for unknown types


def rcode_name(value: int) -> str:
    return RCODES.get(value, f"RCODE{value}")


@dataclass(slots=True)
class Record:
    name: str
    rtype: int
    ttl: int
    value: str | None  # address, target name or text; None for types we do not render


@dataclass(slots=True)
class Message:
    id: int
    response: bool
    opcode: int
    rcode: int
    questions: list[tuple[str, int]] = field(default_factory=list)
    answers: list[Record] = field(default_factory=list)
    complete: bool = True  # False when the message was cut short


def _label_text(raw: bytes) -> str:
    if all(0x21 <= b <= 0x7E and b not in (0x2E, 0x5C) for b in raw):
        return raw.decode("ascii")
    return "".join(
        chr(b) if 0x21 <= b <= 0x7E and b not in (0x2E, 0x5C) else f"\\x{b:02x}" for b in raw
    )


def read_name(buf: bytes, pos: int) -> tuple[str, int]:
    """A possibly compressed domain name at ``pos`` → (dotted text, position after it)."""
    labels: list[str] = []
    end: int | None = None
    total = 0
    limit = pos  # pointers must go strictly before the label they appear in
    while True:
        if pos >= len(buf):
            raise DnsError("name runs past the message")
        length = buf[pos]
        if length == 0:
            pos += 1
            break
        kind = length & 0xC0
        if kind == 0xC0:
            if pos + 1 >= len(buf):
                raise DnsError("truncated compression pointer")
            target = ((length & 0x3F) << 8) | buf[pos + 1]
            if target >= limit:
                raise DnsError("compression pointer does not point backwards")
            if end is None:
                end = pos + 2
            pos = limit = target
            continue
        if kind:
            raise DnsError(f"unsupported label type {length:#x}")
        if pos + 1 + length > len(buf):
            raise DnsError("label runs past the message")
        total += length + 1
        if total > 255:
            raise DnsError("name longer than 255 bytes")
        labels.append(_label_text(buf[pos + 1 : pos + 1 + length]))
        pos += 1 + length
    return ".".join(labels), (end if end is not None else pos)


def _rdata_text(buf: bytes, rtype: int, start: int, rdlen: int) -> str | None:
    rdata = buf[start : start + rdlen]
    if rtype == 1 and rdlen == 4:
        return str(ipaddress.IPv4Address(rdata))
    if rtype == 28 and rdlen == 16:
        return str(ipaddress.IPv6Address(rdata))
    if rtype in NAME_TYPES:
        return read_name(buf, start)[0]
    if rtype == 15 and rdlen >= 3:  # MX: preference, exchange
        return read_name(buf, start + 2)[0]
    if rtype == 33 and rdlen >= 7:  # SRV: priority, weight, port, target
        return read_name(buf, start + 6)[0]
    if rtype in (64, 65) and rdlen >= 3:  # SVCB/HTTPS: priority, target
        target = read_name(buf, start + 2)[0]
        return target or "."
    if rtype in (16, 99):  # TXT: character-strings, concatenated (RFC 7208 §3.3)
        parts = []
        pos = 0
        while pos < len(rdata):
            n = rdata[pos]
            parts.append(rdata[pos + 1 : pos + 1 + n])
            pos += 1 + n
        return b"".join(parts).decode("utf-8", "backslashreplace")
    return None


def parse(buf: bytes) -> Message:
    """Parse header, questions and the answer section; stop quietly at a cut."""
    if len(buf) < 12:
        raise DnsError("shorter than a DNS header")
    ident = int.from_bytes(buf[0:2], "big")
    flags = int.from_bytes(buf[2:4], "big")
    qdcount, ancount = (int.from_bytes(buf[i : i + 2], "big") for i in (4, 6))
    opcode = (flags >> 11) & 0xF
    if opcode not in (0, 4, 5) or (flags & 0x0040):  # QUERY, NOTIFY, UPDATE; Z bit clear
        raise DnsError(f"unexpected opcode {opcode} or Z bit")
    if qdcount > MAX_QUESTIONS or ancount > MAX_RECORDS:
        raise DnsError("implausible record counts")
    msg = Message(ident, bool(flags & 0x8000), opcode, flags & 0xF)
    pos = 12
    try:
        for _ in range(qdcount):
            name, pos = read_name(buf, pos)
            if pos + 4 > len(buf):
                raise DnsError("truncated question")
            msg.questions.append((name, int.from_bytes(buf[pos : pos + 2], "big")))
            pos += 4
        for _ in range(ancount if opcode == 0 else 0):
            name, pos = read_name(buf, pos)
            if pos + 10 > len(buf):
                raise DnsError("truncated record")
            rtype = int.from_bytes(buf[pos : pos + 2], "big")
            ttl = int.from_bytes(buf[pos + 4 : pos + 8], "big")
            rdlen = int.from_bytes(buf[pos + 8 : pos + 10], "big")
            pos += 10
            if pos + rdlen > len(buf):
                raise DnsError("truncated rdata")
            msg.answers.append(Record(name, rtype, ttl, _rdata_text(buf, rtype, pos, rdlen)))
            pos += rdlen
    except (DnsError, ValueError):
        if not msg.questions and not msg.answers:
            raise
        msg.complete = False
    return msg


def looks_like_dns(buf: bytes) -> bool:
    """Cheap test before parsing: header present, opcode and counts plausible."""
    if len(buf) < 12:
        return False
    opcode = (buf[2] >> 3) & 0xF
    qd = (buf[4] << 8) | buf[5]
    an = (buf[6] << 8) | buf[7]
    return opcode in (0, 4, 5) and qd <= MAX_QUESTIONS and an <= MAX_RECORDS and qd + an > 0
