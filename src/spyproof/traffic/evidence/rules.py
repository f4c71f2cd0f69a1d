"""The analytics' knowledge (``data/traffic/evidence.yaml``, ``data/traffic/resolvers.yaml``),
loaded once: rules with severities, thresholds, local ranges, protocol names, resolvers.

Why data: every threshold and severity is a judgement with a reason; keeping them in one
commented file lets a reviewer see and tune them without reading code.
"""

from __future__ import annotations

import functools
import ipaddress
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

import yaml

from spyproof.models import Severity

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True)
class Rule:
    id: str
    title: str
    explanation: str
    source: str
    severity: str  # a Severity, or "from-score"
    extra: dict[str, str] = field(default_factory=dict)  # severity_<case>: Severity

    def sev(self, case: str | None = None) -> Severity:
        """The severity for a case (``no_payload``, ``declared``, ``no_agreement``), else
        the rule's own."""
        value = self.extra.get(f"severity_{case}") if case else None
        return Severity(value or self.severity)


@dataclass(frozen=True)
class Resolver:
    id: str
    operator: str
    doh: frozenset[str]
    dot: frozenset[str]
    ips: frozenset[str]
    source: str


@dataclass(frozen=True)
class Knowledge:
    rules: dict[str, Rule]
    thresholds: dict[str, dict[str, Any]]
    local_ranges: tuple[tuple[IPNetwork, str], ...]
    subnet_v4: int
    subnet_v6: int
    by_service: dict[str, tuple[str, ...]]
    by_port: dict[str, tuple[str, ...]]
    exempt_classes: dict[str, tuple[str, ...]]
    resolvers: tuple[Resolver, ...]
    by_ip: dict[str, Resolver] = field(default_factory=dict)
    by_doh: dict[str, Resolver] = field(default_factory=dict)
    by_dot: dict[str, Resolver] = field(default_factory=dict)

    def t(self, group: str) -> dict[str, Any]:
        return self.thresholds[group]

    def resolver_by_ip(self, ip: str) -> Resolver | None:
        return self.by_ip.get(ip)

    def doh_resolver(self, name: str) -> Resolver | None:
        return self.by_doh.get(name.lower().rstrip("."))

    def dot_resolver(self, name: str) -> Resolver | None:
        return self.by_dot.get(name.lower().rstrip("."))


def _index(resolvers: tuple[Resolver, ...], attr: str) -> dict[str, Resolver]:
    """Address or name -> the first resolver entry naming it."""
    out: dict[str, Resolver] = {}
    for r in resolvers:
        for key in getattr(r, attr):
            out.setdefault(key, r)
    return out


def _read(name: str) -> dict[str, Any]:
    text = resources.files("spyproof.data").joinpath("traffic").joinpath(name).read_text()
    return yaml.safe_load(text)


def _ip_text(value: str) -> str:
    return str(ipaddress.ip_address(value))


@functools.cache
def knowledge() -> Knowledge:
    ev = _read("evidence.yaml")
    rs = _read("resolvers.yaml")
    rules = {}
    for r in ev["rules"]:
        extra = {k: str(v) for k, v in r.items() if k.startswith("severity_")}
        rules[r["id"]] = Rule(id=r["id"], title=r["title"], explanation=r["explanation"],
                              source=r["source"], severity=str(r["severity"]), extra=extra)
    local = ev["local"]
    ranges = tuple((ipaddress.ip_network(x["network"]), x["kind"]) for x in local["ranges"])
    resolvers = tuple(
        Resolver(id=r["id"], operator=r["operator"],
                 doh=frozenset(h.lower() for h in r.get("doh") or []),
                 dot=frozenset(h.lower() for h in r.get("dot") or []),
                 ips=frozenset(_ip_text(i) for i in r.get("ips") or []), source=r["source"])
        for r in rs["resolvers"])
    protos = ev["protocols"]
    return Knowledge(
        rules=rules, thresholds=ev["thresholds"], local_ranges=ranges,
        subnet_v4=int(local["device_subnet_prefix_v4"]),
        subnet_v6=int(local["device_subnet_prefix_v6"]),
        by_service={k: tuple(v) for k, v in protos["by_service"].items()},
        by_port={k: tuple(v) for k, v in protos["by_port"].items()},
        exempt_classes={k: tuple(v) for k, v in ev["exempt_classes"].items()},
        resolvers=resolvers, by_ip=_index(resolvers, "ips"), by_doh=_index(resolvers, "doh"),
        by_dot=_index(resolvers, "dot"))
