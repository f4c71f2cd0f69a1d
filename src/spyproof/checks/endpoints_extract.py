"""Find endpoint candidates in a file's text: URLs, host names, IPv4/IPv6 addresses, ports.

Text is read line by line in effect: no pattern crosses a newline, and a match's line is its
context. A binary is first reduced to its printable-string runs (ASCII, and UTF-16LE) that
contain a '.' or a ':' — every endpoint does — joined one per line, with a map back to file
offsets (:class:`Strings`); the same extraction then runs over those lines. That keeps a
multi-megabyte library to a few tens of kilobytes of regex work.

Extraction is conservative on purpose: a bare host name needs a real top-level domain, and
names that are file names (``libc.so.6``, ``setup.py``) or code (``this.id``) are not hosts.
Deciding what is noise and what is private is :mod:`endpoints_filter`'s job.
"""

from __future__ import annotations

import bisect
import ipaddress
import re
from collections.abc import Iterator
from dataclasses import dataclass

from spyproof.checks.endpoints_data import Knowledge

CONTEXT_CHARS = 100  # context kept on each side of a match
MAX_VALUE = 300  # longest endpoint value kept (URLs with long query strings)

SCHEMES = (r"https?|ftps?|sftp|tftp|mqtts?|wss?|coaps?(?:\+tcp)?|xmpp|rtsps?|rtmps?|telnet|"
           r"ssh|ldaps?|smtps?|imaps?|pop3s?|stuns?|turns?|nntp|irc|snmp|tcp|udp|tls|ssl|"
           r"git|rsync|nfs|smb|amqps?|stomp|redis")
_SCHEME = re.compile(rf"(?i)(?<![a-z0-9+.-])(?:{SCHEMES})$")
_URL_REST = re.compile(r"[A-Za-z0-9\-._~:/?#\[\]@!$&()*+,;=%{}]+")
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_HOST = re.compile(
    rf"(?<![\w.@%$-])(?P<tmpl>%[-+0-9.]*[sdux]\.|\$\{{?\w+\}}?\.)?"
    rf"(?P<name>(?:{_LABEL}\.)+(?:[A-Za-z]{{2,63}}|xn--[A-Za-z0-9-]{{1,59}}))"
    r"(?![\w-]|\.[A-Za-z0-9])(?::(?P<port>\d{1,5})(?![\w.:]))?")
_IPV4 = re.compile(r"(?<![\w.])(?P<ip>(?:\d{1,3}\.){3}\d{1,3})(?!\w|\.\w)"
                   r"(?:/(?P<cidr>\d{1,2})(?![\d.])|:(?P<port>\d{1,5})(?![\d.:]))?")
_IPV6 = re.compile(r"(?<![\w:.])(?P<ip>[0-9A-Fa-f]{0,4}(?::[0-9A-Fa-f]{0,4}){2,7}"
                   r"(?:(?<=:)(?:\d{1,3}\.){3}\d{1,3})?)(?:%(?P<zone>[\w.-]+))?"
                   r"(?![\w:]|\.\d)")
_PORT_CONTEXT = re.compile(r"(?i)(?:(?:^|\s)(?:-p|--port)[=\s]*|\bport\b\s*[=:]?\s*[\"']?)"
                           r"(?P<port>\d{1,5})\b")
_BRACKET_PORT = re.compile(r"\]:(\d{1,5})(?!\d)")
_PLACEHOLDER = re.compile(r"[%${}()#*]")
_VERSION_SUFFIX = re.compile(r"[-+~][A-Za-z]")
_TRAILING = ".,;:!?'\""
_PAIRS = {")": "(", "]": "[", "}": "{"}


@dataclass(frozen=True)
class Candidate:
    """One endpoint occurrence. ``start``/``end`` index the scanned text (= byte offsets
    for latin-1 text); ``before`` is its line/string up to the match."""

    kind: str  # url, host, ipv4, ipv6
    value: str  # what is reported (credentials masked by the caller)
    host: str  # lower-case name ('*.' for a templated first label) or the address
    host_kind: str  # name, ipv4, ipv6
    port: int | None
    scheme: str | None
    path: str
    start: int
    end: int
    before: str
    context: str
    password: str | None = None  # a URL's password, for the caller to mask


def segment(text: str, start: int, end: int) -> tuple[int, int]:
    """Bounds of the line around ``text[start:end]``, at most CONTEXT_CHARS either side."""
    lo = max(0, start - CONTEXT_CHARS)
    hi = min(len(text), end + CONTEXT_CHARS)
    nl = text.rfind("\n", lo, start)
    nr = text.find("\n", end, hi)
    return (nl + 1 if nl >= 0 else lo), (nr if nr >= 0 else hi)


def _trim_url(rest: str) -> str:
    while rest:
        last = rest[-1]
        if last in _TRAILING or (last in _PAIRS and rest.count(_PAIRS[last]) < rest.count(last)):
            rest = rest[:-1]
            continue
        break
    return rest


def _port(text: str | None) -> int | None:
    if text and text.isdigit() and 0 < int(text) < 65536:
        return int(text)
    return None


def ipv4_ok(ip: str) -> bool:
    """Four decimal octets, each 0-255, none with a leading zero."""
    parts = ip.split(".")
    return len(parts) == 4 and all(p.isdigit() and (p == "0" or not p.startswith("0"))
                                   and int(p) <= 255 for p in parts)


def template_host(host: str) -> str | None:
    """A host with printf/shell placeholders in its leading labels as ``*.rest``; None
    when the placeholder is in the registrable part (``api.${DOMAIN}``)."""
    labels = host.split(".")
    i = 0
    while i < len(labels) and _PLACEHOLDER.search(labels[i]):
        i += 1
    if i == 0:
        return host
    rest = labels[i:]
    if len(rest) < 2 or any(_PLACEHOLDER.search(x) for x in rest):
        return None
    return ".".join(["*", *rest])


class Extractor:
    """Finds candidates in one text with one set of knowledge."""

    def __init__(self, k: Knowledge) -> None:
        self.k = k
        self._suffixes = (*k.private_names, *k.noise_names)

    # -- names ------------------------------------------------------------------------

    def name_ok(self, name: str, *, bare: bool, after_slash: bool = False) -> bool:
        """Whether ``name`` (lower case) is a host name: a real TLD (or a special-use
        suffix), and, when it stands alone, not a file name or a code identifier."""
        labels = name.removeprefix("*.").split(".")
        if len(name) > 253 or any(not x or len(x) > 63 for x in labels):
            return False
        tld = labels[-1]
        if tld.isdigit():
            return False
        if name in self.k.known_hosts:
            return True
        special = any(s.matches(name) for s in self._suffixes)
        if not special and tld not in self.k.tlds and tld not in self.k.special_tlds:
            return False
        if not bare:
            return True
        if len(labels) < 2:
            return False
        if not special and tld not in self.k.special_tlds and (
                tld in self.k.ambiguous_tlds
                or (len(tld) != 2 and tld not in self.k.bare_generic_tlds)):
            return False
        if len(labels) == 2 and (labels[0] in self.k.code_words or len(labels[0]) < 2):
            return False
        return not (after_slash and len(labels) < 3)

    def _url_host(self, host: str) -> tuple[str, str] | None:
        """(host, host kind) of a URL's host part, or None when it is not one."""
        if host.startswith("[") and host.endswith("]"):
            try:
                return str(ipaddress.IPv6Address(host[1:-1].split("%")[0])), "ipv6"
            except ValueError:
                return None
        host = host.lower().rstrip(".")
        if re.fullmatch(r"[\d.]+", host):
            return (host, "ipv4") if ipv4_ok(host) else None
        templ = template_host(host)
        if templ is None or not re.fullmatch(r"(?:\*\.)?[a-z0-9-]+(?:\.[a-z0-9-]+)*", templ):
            return None
        if "." not in templ:  # a single-label name: a LAN host (router, acs)
            ok = len(templ) >= 2 and re.search(r"[a-z]", templ) and not templ.startswith("-")
            return (templ, "name") if ok else None
        return (templ, "name") if self.name_ok(templ, bare=False) else None

    # -- the passes -------------------------------------------------------------------

    def urls(self, text: str) -> Iterator[Candidate]:
        sep = text.find("://")
        while sep >= 0:
            found = self._url_at(text, sep)
            if found is not None:
                yield found
            sep = text.find("://", sep + 3)

    def _url_at(self, text: str, sep: int) -> Candidate | None:
        """The URL whose '://' is at ``sep``, if its scheme and host are real."""
        m = _SCHEME.search(text, max(0, sep - 12), sep)
        r = _URL_REST.match(text, sep + 3)
        if m is None or r is None:
            return None
        rest = _trim_url(r.group())
        if rest:
            start, end = m.start(), sep + 3 + len(rest)
            cut = min((i for i in (rest.find("/"), rest.find("?"), rest.find("#")) if i >= 0),
                      default=len(rest))
            netloc, path = rest[:cut], rest[cut:]
            userinfo, _, hostport = netloc.rpartition("@")
            if hostport.startswith("["):
                close = hostport.find("]")
                host_part, port_part = hostport[:close + 1], hostport[close + 2:]
            else:
                host_part, _, port_part = hostport.partition(":")
            parsed = self._url_host(host_part)
            if parsed is not None:
                host, host_kind = parsed
                password = (userinfo.partition(":")[2] or None) if userinfo else None
                scheme = m.group().lower()
                s, e = segment(text, start, end)
                value = f"{scheme}://{rest}"[:MAX_VALUE]
                return Candidate("url", value, host, host_kind, _port(port_part), scheme,
                                 path.split("?")[0].split("#")[0], start, end,
                                 text[s:start], text[s:e], password)
        return None

    def ipv6(self, text: str) -> Iterator[Candidate]:
        for m in _IPV6.finditer(text):
            raw = m.group("ip")
            groups = [g for g in re.split(r"[:.]", raw) if g]
            if "::" not in raw and raw.count(":") != 7:
                continue
            try:
                addr = ipaddress.IPv6Address(raw)
            except ValueError:
                continue
            value = str(addr)
            if len(groups) < 3 and value not in self.k.known_ips:
                continue
            bracket = _BRACKET_PORT.match(text, m.end())
            port = (_port(bracket.group(1))
                    if bracket and m.start() > 0 and text[m.start() - 1] == "[" else None)
            s, e = segment(text, m.start(), m.end())
            yield Candidate("ipv6", value, value, "ipv6", port, None, "", m.start(),
                            m.end(), text[s:m.start()], text[s:e])

    def ipv4(self, text: str) -> Iterator[Candidate]:
        for m in _IPV4.finditer(text):
            ip = m.group("ip")
            if not ipv4_ok(ip):
                continue
            s, e = segment(text, m.start(), m.end())
            before, after = text[s:m.start()], text[m.end():e]
            if self.k.version_words.search(before) or _VERSION_SUFFIX.match(after):
                continue  # "Linux version 2.6.32.61", "1.2.3.4-rc1"
            if before.endswith("/") and after.startswith("/"):
                continue  # a path component: /lib/modules/2.6.32.61/
            port = _port(m.group("port"))
            if (int(ip.split(".")[0]) < 10 and ip not in self.k.known_ips and port is None
                    and m.group("cidr") is None
                    and not self.k.network_context.search(text[s:e])):
                continue  # "2.6.32.61", "1.3.6.1": versions and OIDs, not addresses
            yield Candidate("ipv4", ip, ip, "ipv4", port, None, "", m.start(), m.end(),
                            before, text[s:e])

    def hosts(self, text: str) -> Iterator[Candidate]:
        for m in _HOST.finditer(text):
            name = m.group("name")
            if name != name.lower():
                continue  # code and prose (Foo.Bar, README.Md); hosts are written in lower case
            after_slash = m.start() > 0 and text[m.start() - 1] in "/\\"
            nxt = text[m.end():m.end() + 1]
            if nxt == "(":
                continue  # a method call: os.date(
            if m.group("tmpl"):
                name = "*." + name
            if not self.name_ok(name, bare=True, after_slash=after_slash):
                continue
            s, e = segment(text, m.start(), m.end())
            yield Candidate("host", name, name, "name", _port(m.group("port")), None, "",
                            m.start(), m.end(), text[s:m.start()], text[s:e])

    def extract(self, text: str, *, strict: bool = False) -> list[Candidate]:
        """All candidates in ``text``, each span reported once (a URL's host is not also a
        bare host). ``strict`` (compressed or encrypted data): URLs and IPv4 only."""
        found: list[Candidate] = list(self.urls(text))
        masked = _mask(text, found)
        if not strict:
            v6 = list(self.ipv6(masked))
            found += v6
            masked = _mask(masked, v6)
        v4 = list(self.ipv4(masked))
        found += v4
        if not strict:
            masked = _mask(masked, v4)
            found += self.hosts(masked)
        return [_unmask(c, text) for c in found]


def _mask(text: str, cands: list[Candidate]) -> str:
    """``text`` with the candidates' spans blanked, so later passes do not see them again."""
    if not cands:
        return text
    parts: list[str] = []
    pos = 0
    for c in sorted(cands, key=lambda c: c.start):
        if c.start < pos:
            continue
        parts.append(text[pos:c.start])
        parts.append(" " * (c.end - c.start))
        pos = c.end
    parts.append(text[pos:])
    return "".join(parts)


def _unmask(c: Candidate, text: str) -> Candidate:
    """The candidate's context read from the original text (not the blanked copy)."""
    s, e = segment(text, c.start, c.end)
    return Candidate(c.kind, c.value, c.host, c.host_kind, c.port, c.scheme, c.path, c.start,
                     c.end, text[s:c.start], text[s:e], c.password)


def line_port(line: str) -> int | None:
    """A port named on a line without a host (``-p 8883``, ``option port '1883'``)."""
    m = _PORT_CONTEXT.search(line)
    return _port(m.group("port")) if m else None


# -- strings of binaries --------------------------------------------------------------

# every byte that cannot be part of a printable string becomes a newline
_TO_LINES = bytes(b if 0x20 <= b <= 0x7E or b == 0x09 else 0x0A for b in range(256))
_NEEDLES = (b".", b":")  # every endpoint has one
_UTF16_TAIL = re.compile(rb"(?:[\x20-\x7e]\x00)*")
MAX_UTF16_BACK = 1024  # bytes looked back from a '.'/':' for a UTF-16 string's start


@dataclass(frozen=True)
class Strings:
    """Printable strings of a binary, one per line, and where each starts in the file."""

    text: str
    starts: list[int]  # index in ``text`` of each string
    offsets: list[int]  # file offset of each string
    width: int  # bytes per character: 1 (ASCII) or 2 (UTF-16LE)

    def offset(self, index: int) -> int:
        """File offset of ``text[index]``."""
        i = bisect.bisect_right(self.starts, index) - 1
        return self.offsets[i] + (index - self.starts[i]) * self.width


def _join(runs: list[tuple[int, str]], width: int) -> Strings:
    starts, pos = [], 0
    for _, run in runs:
        starts.append(pos)
        pos += len(run) + 1
    return Strings("\n".join(r for _, r in runs), starts, [o for o, _ in runs], width)


def ascii_strings(data: bytes, min_len: int = 4) -> Strings:
    """Printable ASCII runs of at least ``min_len`` bytes that contain a '.' or ':'."""
    lines = data.translate(_TO_LINES)
    spans: set[tuple[int, int]] = set()
    for needle in _NEEDLES:
        pos = lines.find(needle)
        while pos >= 0:
            start = lines.rfind(b"\n", 0, pos) + 1
            end = lines.find(b"\n", pos)
            end = len(lines) if end < 0 else end
            if end - start >= min_len:
                spans.add((start, end))
            pos = lines.find(needle, end)
    return _join([(s, data[s:e].decode("latin-1")) for s, e in sorted(spans)], 1)


def utf16_strings(data: bytes, min_chars: int) -> Strings:
    """UTF-16LE printable-ASCII strings of at least ``min_chars`` with a '.' or ':'."""
    spans: set[tuple[int, int]] = set()
    for needle in (b".\x00", b":\x00"):
        pos = data.find(needle)
        while pos >= 0:
            if not (pos >= 2 and data[pos - 1] == 0 and 0x20 <= data[pos - 2] <= 0x7E
                    and data[pos + 3:pos + 4] in (b"\x00", b"")):
                pos = data.find(needle, pos + 2)  # not inside a UTF-16 string
                continue
            start, floor = pos, max(0, pos - MAX_UTF16_BACK)
            while (start - 2 >= floor and data[start - 1] == 0
                   and 0x20 <= data[start - 2] <= 0x7E):
                start -= 2
            end = _UTF16_TAIL.match(data, pos).end()
            if (end - start) // 2 >= min_chars:
                spans.add((start, end))
            pos = data.find(needle, max(end, pos + 2))
    return _join([(s, data[s:e].decode("utf-16-le")) for s, e in sorted(spans)], 2)
