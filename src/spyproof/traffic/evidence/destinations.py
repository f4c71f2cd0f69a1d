"""Undeclared destinations (NS-3): every outbound flow of the device, named and grouped
per destination name (or address) + port + protocol, matched against the agreement;
and sessions opened to the device from outside its network.

Why grouped: one check-in makes many flows; a reviewer needs one finding per place the
device talks to, with the first packet, the totals each way and every name seen.
Local traffic (private, link-local, multicast, broadcast, the device's own subnet) is
never a destination: it is listed in the facts only. Flows that carry DNS (plain, DoT,
DoH) are judged by resolvers.py and only listed here.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from spyproof.checks.base import make_finding
from spyproof.models import Finding
from spyproof.traffic.evidence.context import (
    CHECK,
    CLAUSE,
    Context,
    flow_text,
    hostport,
    human_bytes,
    iso,
)
from spyproof.traffic.evidence.facts import Destination, Inbound, LocalTraffic
from spyproof.traffic.model import Flow


@dataclass
class Group:
    """The flows to one destination (label + port + protocol)."""

    label: str
    port: int
    proto: str
    role: str = "destination"
    flows: list[Flow] = field(default_factory=list)
    names: set[str] = field(default_factory=set)
    ips: set[str] = field(default_factory=set)
    services: set[str] = field(default_factory=set)
    declared: dict[str, str | None] = field(default_factory=dict)  # uid -> entry

    _undeclared: list[Flow] | None = None

    @property
    def undeclared(self) -> list[Flow]:
        """Flows no declaration covers (computed once: groups are complete by then)."""
        if self._undeclared is None:
            self._undeclared = [f for f in self.flows if self.declared.get(f.uid) is None]
        return self._undeclared

    @property
    def declared_by(self) -> str | None:
        """The declaration covering every flow (the first one's), else None."""
        if not self.flows or self.undeclared:
            return None
        return self.declared[self.flows[0].uid]

    @property
    def bytes_out(self) -> int:
        return sum(f.orig_ip_bytes for f in self.flows)

    @property
    def bytes_in(self) -> int:
        return sum(f.resp_ip_bytes for f in self.flows)

    @property
    def key(self) -> tuple[str, int, str]:
        return (self.label, self.port, self.proto)

    def where(self) -> str:
        return f"{self.label}:{self.port}/{self.proto}"

    def fact(self) -> Destination:
        first, last = self.flows[0], max(self.flows, key=lambda f: f.last)
        return Destination(
            label=self.label, names=sorted(self.names), ips=sorted(self.ips), port=self.port,
            proto=self.proto, services=sorted(self.services), role=self.role,
            flows=len(self.flows), pkts_out=sum(f.orig_pkts for f in self.flows),
            bytes_out=self.bytes_out, pkts_in=sum(f.resp_pkts for f in self.flows),
            bytes_in=self.bytes_in, payload_out=sum(f.orig_bytes for f in self.flows),
            payload_in=sum(f.resp_bytes for f in self.flows), first_seen=iso(first.start),
            first_packet=first.first_packet,
            last_seen=iso(last.last) if last.start > 0 else None,
            declared_by=self.declared_by, undeclared_flows=len(self.undeclared),
            devices=sorted({f.orig_h for f in self.flows}))


def group_outbound(ctx: Context) -> tuple[list[Group], list[LocalTraffic]]:
    """Outside destinations (grouped, judged) and the local traffic."""
    groups: dict[tuple[str, int, str], Group] = {}
    local: dict[tuple, list[Flow]] = defaultdict(list)
    for f in ctx.outbound:
        kind = ctx.local_kind(f.resp_h)
        if kind:
            local[(f.resp_h, kind, f.resp_p, f.proto, "outbound")].append(f)
            continue
        names = ctx.names(f)
        label = names[0] if names else f.resp_h
        g = groups.setdefault((label, f.resp_p, f.proto), Group(label, f.resp_p, f.proto))
        g.flows.append(f)
        g.names.update(names)
        g.ips.add(f.resp_h)
        if f.service:
            g.services.update(s for s in f.service.split(",") if s)
        if f.uid in ctx.claimed:
            g.role, g.declared[f.uid] = ctx.claimed[f.uid]
        elif ctx.decl.present:
            g.declared[f.uid] = (ctx.decl.match(f, ctx.declared_names(f))
                                  or ctx.decl.exempt_class(f))
        else:
            g.declared[f.uid] = None
    for f in ctx.inbound:
        kind = ctx.local_kind(f.orig_h)
        if kind:
            local[(f.orig_h, kind, f.resp_p, f.proto, "inbound")].append(f)
    facts = [LocalTraffic(peer=peer, kind=kind, port=port, proto=proto, direction=direction,
                          flows=len(fl),
                          bytes_out=sum(f.orig_ip_bytes if direction == "outbound"
                                        else f.resp_ip_bytes for f in fl),
                          bytes_in=sum(f.resp_ip_bytes if direction == "outbound"
                                       else f.orig_ip_bytes for f in fl))
             for (peer, kind, port, proto, direction), fl in sorted(local.items())]
    return sorted(groups.values(), key=lambda g: g.key), facts


def _summary(g: Group, flows: list[Flow]) -> str:
    out = sum(f.orig_ip_bytes for f in flows)
    back = sum(f.resp_ip_bytes for f in flows)
    return (f"{flow_text(flows[0], sorted(g.names))}; {len(flows)} flows, "
            f"{human_bytes(out)} out, {human_bytes(back)} in in total")


def destination_findings(ctx: Context, groups: list[Group]) -> list[Finding]:
    out = []
    for g in groups:
        if g.role != "destination" or not g.undeclared:
            continue
        flows = g.undeclared
        first = flows[0]
        if ctx.decl.present:
            rule = ctx.k.rules["undeclared-destination"]
            sev = rule.sev() if any(f.orig_bytes > 0 for f in flows) else rule.sev(
                "no_payload")
        else:
            rule = ctx.k.rules["observed-destination"]
            sev = rule.sev()
        details = {
            "destination": g.label, "names": sorted(g.names), "ips": sorted(g.ips),
            "port": g.port, "proto": g.proto, "services": sorted(g.services),
            "flows": len(flows), "bytes_out": sum(f.orig_ip_bytes for f in flows),
            "bytes_in": sum(f.resp_ip_bytes for f in flows),
            "payload_out": sum(f.orig_bytes for f in flows),
            "pkts_out": sum(f.orig_pkts for f in flows),
            "pkts_in": sum(f.resp_pkts for f in flows),
            "first_seen": iso(first.start), "first_packet": first.first_packet,
            "devices": sorted({f.orig_h for f in flows}),
            "declared_flows": len(g.flows) - len(flows),
        }
        ev = ctx.evidence(first, rule.id, _summary(g, flows))
        out.append(make_finding(CHECK, rule.id, sev, f"{rule.title}: {g.where()}",
                                rule.explanation, [ev], clause=CLAUSE, details=details,
                                source=rule.source))
    return out


def inbound(ctx: Context) -> tuple[list[Finding], list[Inbound]]:
    """Sessions from outside the device's network to the device, per peer + port."""
    groups: dict[tuple[str, int, str], list[Flow]] = defaultdict(list)
    for f in ctx.inbound:
        if not ctx.local_kind(f.orig_h):
            groups[(f.orig_h, f.resp_p, f.proto)].append(f)
    findings, facts = [], []
    for (peer, port, proto), flows in sorted(groups.items()):
        first = flows[0]
        declared = ctx.decl.inbound(first) if ctx.decl.present else None
        answered = [f for f in flows if f.resp_bytes > 0]
        facts.append(Inbound(
            peer=peer, port=port, proto=proto, flows=len(flows), established=len(answered),
            bytes_from_peer=sum(f.orig_ip_bytes for f in flows),
            bytes_to_peer=sum(f.resp_ip_bytes for f in flows), first_seen=iso(first.start),
            first_packet=first.first_packet, declared_by=declared))
        if declared:
            continue
        if ctx.decl.present:
            rule = ctx.k.rules["undeclared-inbound"]
            sev = rule.sev() if answered else rule.sev("no_payload")
        else:
            rule = ctx.k.rules["observed-inbound"]
            sev = rule.sev()
        shown = answered[0] if answered else first
        text = (f"{flow_text(shown)}; {len(flows)} sessions from {peer}, "
                f"{len(answered)} answered with data")
        details = {"peer": peer, "port": port, "proto": proto, "flows": len(flows),
                   "answered": len(answered), "first_seen": iso(first.start),
                   "first_packet": first.first_packet,
                   "device": sorted({f.resp_h for f in flows})}
        findings.append(make_finding(
            CHECK, rule.id, sev, f"{rule.title}: {peer} → device "
            f"{hostport(first.resp_h, port)}/{proto}", rule.explanation,
            [ctx.evidence(shown, rule.id, text)], clause=CLAUSE, details=details,
            source=rule.source))
    return findings, facts
