"""Does the agreement declare what the device did? Traffic against declared endpoints
(host with ``*`` wildcards, CIDR, ports, protocol), resolvers and remote access.

Why here and not ``agreement/declared.py``: that module matches firmware findings' details;
a flow has several names (DNS, SNI, Host), an address, a transport and a service, so the
question is a different one. The host rule is the same: ``*.example.com`` matches the
subdomains of example.com, other ``*`` are shell wildcards.
"""

from __future__ import annotations

import fnmatch
import ipaddress

from spyproof.agreement.load import LoadedAgreement
from spyproof.agreement.model import Endpoint, RemoteAccess
from spyproof.traffic.evidence.rules import Knowledge
from spyproof.traffic.model import Flow

RESOLVER_PROTOCOLS = frozenset({"dns", "dot", "doh"})
RESOLVER_PORTS = frozenset({53, 853})


def host_matches(pattern: str, name: str) -> bool:
    pattern, name = pattern.lower().rstrip("."), name.lower().rstrip(".")
    if pattern.startswith("*."):
        return name.endswith(pattern[1:]) and fnmatch.fnmatchcase(name, pattern)
    return fnmatch.fnmatchcase(name, pattern)


def in_cidr(cidr: str, ip: str) -> bool:
    try:
        return ipaddress.ip_address(ip) in ipaddress.ip_network(cidr, strict=False)
    except ValueError:
        return False


def flow_protocols(k: Knowledge, flow: Flow) -> set[str]:
    """Every name under which the flow's protocol may be declared."""
    names = {flow.proto.lower()}
    for svc in (flow.service or "").lower().split(","):
        svc = svc.strip().lstrip("-")
        if svc:
            names.add(svc)
            names.update(k.by_service.get(svc, ()))
    names.update(k.by_port.get(f"{flow.proto}/{flow.resp_p}", ()))
    if flow.quic:
        names.update(("quic", "https"))
    if "dot" in flow.alpn:
        names.add("dot")
    return names


class Declarations:
    """The agreement's declarations, ready to be matched against flows."""

    def __init__(self, loaded: LoadedAgreement | None, k: Knowledge) -> None:
        self.k = k
        self.loaded = loaded
        self.present = loaded is not None
        ag = loaded.agreement if loaded else None
        self.endpoints: list[tuple[int, Endpoint]] = list(enumerate(ag.endpoints)) if ag else []
        self.remote: list[tuple[int, RemoteAccess]] = (list(enumerate(ag.remote_access))
                                                       if ag else [])
        self.exempt = tuple(ag.policy.exempt_endpoint_classes) if ag else ()

    def entry(self, key: str, index: int) -> str:
        line = self.loaded.line_of(key, index) if self.loaded else None
        return f"{key}[{index}] (line {line})" if line else f"{key}[{index}]"

    @staticmethod
    def endpoint_matches(d: Endpoint, names: list[str], ip: str, port: int,
                         protocols: set[str]) -> bool:
        if d.host is not None and not (any(host_matches(d.host, n) for n in names)
                                       or host_matches(d.host, ip)):
            return False
        if d.cidr is not None and not in_cidr(d.cidr, ip):
            return False
        if d.ports and port not in d.ports:
            return False
        return not (d.protocol and d.protocol.lower() not in protocols)

    def match(self, flow: Flow, names: list[str], *, only_resolvers: bool = False
              ) -> str | None:
        """The first endpoint entry that declares this flow, or None."""
        protocols = flow_protocols(self.k, flow)
        for i, d in self.endpoints:
            if only_resolvers and not self.is_resolver(d):
                continue
            if self.endpoint_matches(d, names, flow.resp_h, flow.resp_p, protocols):
                return self.entry("endpoints", i)
        return None

    def exempt_class(self, flow: Flow) -> str | None:
        """The policy exemption (other than dns, which resolvers.py judges) covering it."""
        key = f"{flow.proto}/{flow.resp_p}"
        for cls in self.exempt:
            if cls != "dns" and key in self.k.exempt_classes.get(cls, ()):
                return f"policy.exempt_endpoint_classes ({cls})"
        return None

    @staticmethod
    def is_resolver(d: Endpoint) -> bool:
        return bool((d.protocol or "").lower() in RESOLVER_PROTOCOLS
                    or RESOLVER_PORTS & set(d.ports))

    def declares_resolvers(self) -> bool:
        return any(self.is_resolver(d) for _, d in self.endpoints)

    def dns_exempt(self) -> bool:
        return "dns" in self.exempt and not self.declares_resolvers()

    def inbound(self, flow: Flow) -> str | None:
        """The remote-access entry that declares a session to the device's port."""
        protocols = flow_protocols(self.k, flow)
        for i, d in self.remote:
            if d.port is not None and d.port == flow.resp_p:
                return self.entry("remote_access", i)
            if d.port is None and d.service.lower() in protocols:
                return self.entry("remote_access", i)
        return None
