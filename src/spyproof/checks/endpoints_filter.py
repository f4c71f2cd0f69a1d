"""Tell noise from endpoints, and private endpoints from public ones.

Noise is what a program carries as a string but never contacts: documentation ranges and
names, loopback, multicast, XML namespaces, licence and project links. Private endpoints
(RFC 1918, CGNAT, ULA, ``.lan``) are kept, marked ``private``: they say where the device
talks inside the network, which is not an undeclared flow out of it.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from spyproof.checks.endpoints_data import Knowledge, Range
from spyproof.checks.endpoints_extract import Candidate


@dataclass(frozen=True)
class Verdict:
    noise: str | None  # why it is not an endpoint (None: it is one)
    scope: str  # public or private
    scope_reason: str | None = None


def _in(ranges: tuple[Range, ...], addr: ipaddress.IPv4Address | ipaddress.IPv6Address
        ) -> Range | None:
    return next((r for r in ranges if r.network.version == addr.version and addr in r.network),
                None)


def judge_address(k: Knowledge, value: str) -> Verdict:
    addr = ipaddress.ip_address(value)
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        addr = addr.ipv4_mapped
    noise_ranges, private_ranges = ((k.noise_ipv4, k.private_ipv4) if addr.version == 4
                                    else (k.noise_ipv6, k.private_ipv6))
    hit = _in(noise_ranges, addr)
    if hit:
        return Verdict(f"{hit.network}: {hit.reason}", "public")
    hit = _in(private_ranges, addr)
    if hit:
        return Verdict(None, "private", f"{hit.network}: {hit.reason}")
    return Verdict(None, "public")


def judge_name(k: Knowledge, host: str, path: str = "") -> Verdict:
    bare = host.removeprefix("*.")
    for n in k.private_names:  # before noise: home.arpa is private, the rest of .arpa noise
        if n.matches(bare):
            return Verdict(None, "private", f".{n.suffix}: {n.reason}")
    for n in k.noise_names:
        if n.matches(bare):
            return Verdict(f"{n.suffix}: {n.reason}", "public")
    for d in k.documentation:
        if d.matches(bare, path):
            return Verdict(f"{d.name}: {d.reason}", "public")
    words = {w for label in bare.split(".")[:-1] for w in label.split("-")}
    doc_words = words & k.doc_host_labels
    if doc_words:
        return Verdict(f"{min(doc_words)}: documentation host", "public")
    first_segment = path.lstrip("/").split("/", 1)[0].lower()
    if first_segment in k.doc_path_segments:
        return Verdict(f"/{first_segment}/: documentation link", "public")
    if "." not in bare:
        return Verdict(None, "private", "single-label name (resolved inside the local network)")
    return Verdict(None, "public")


def judge(k: Knowledge, c: Candidate) -> Verdict:
    """Whether the candidate is noise (and why), and its scope."""
    if c.kind == "url":
        for rule in k.noise_contexts:
            if rule.pattern.search(c.before):
                return Verdict(f"{rule.id}: {rule.reason}", "public")
        for rule in k.noise_urls:
            if rule.pattern.search(c.value):
                return Verdict(f"{rule.id}: {rule.reason}", "public")
    if c.host_kind == "name":
        return judge_name(k, c.host, c.path)
    return judge_address(k, c.host)
