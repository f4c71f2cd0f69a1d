"""Cross-check with the firmware: destinations seen in traffic but absent from the
endpoints the scan found in the image, and the image's public endpoints never seen.

Why: the static inventory and the traffic each miss things — a destination that only
appears at run time came from configuration, a server or code the scan could not read;
an endpoint never contacted may be dormant or conditional. NS-3 uses both.

The firmware side is the ``endpoints`` check's findings in a scan report (details
``host`` — a name or address — and ``scope``; the inventory summary and private endpoints
are left out). A traffic destination matches when one of its names or addresses equals a
firmware host, or is a subdomain of one (the firmware may name the base domain only).
"""

from __future__ import annotations

import ipaddress

from spyproof.checks.base import make_finding
from spyproof.models import Finding, Report
from spyproof.traffic.evidence.context import CHECK, CLAUSE, Context, flow_text, iso
from spyproof.traffic.evidence.destinations import Group
from spyproof.traffic.evidence.facts import CrossCheck

ENDPOINTS_CHECK = "endpoints"
INVENTORY_RULE = "endpoint-inventory"


def _norm(host: str) -> str:
    host = host.strip().lower().rstrip(".").strip("[]")
    try:
        return str(ipaddress.ip_address(host))
    except ValueError:
        return host


def firmware_hosts(scan: Report) -> set[str]:
    """Public hosts (names and addresses) the scan's endpoints check found."""
    out = set()
    for f in scan.findings:
        if f.check != ENDPOINTS_CHECK or f.rule == INVENTORY_RULE:
            continue
        if f.details.get("scope") == "private":
            continue
        host = f.details.get("host") or f.details.get("value")
        if host:
            out.add(_norm(str(host)))
    return out


def _matches(candidates: set[str], fw: set[str]) -> set[str]:
    hit = set()
    for c in candidates:
        for h in fw:
            if c == h or c.endswith("." + h):
                hit.add(h)
    return hit


def analyse(ctx: Context, groups: list[Group], scan: Report
            ) -> tuple[list[Finding], CrossCheck]:
    fw = firmware_hosts(scan)
    used: set[str] = set()
    traffic_only, both = [], []
    findings = []
    for g in groups:
        if g.role == "dns":
            continue
        hit = _matches({_norm(x) for x in (*g.names, *g.ips)}, fw)
        if hit:
            used |= hit
            both.append(g.where())
            continue
        traffic_only.append(g.where())
        rule = ctx.k.rules["traffic-only-endpoint"]
        if not ctx.decl.present:
            sev = rule.sev("no_agreement")
        elif g.declared_by:
            sev = rule.sev("declared")
        else:
            sev = rule.sev()
        first = g.flows[0]
        text = (f"{g.where()} (names: {', '.join(sorted(g.names)) or 'none'}; addresses: "
                f"{', '.join(sorted(g.ips))}) is not among the {len(fw)} endpoints the "
                f"firmware names; first: {flow_text(first)}")
        details = {"destination": g.label, "names": sorted(g.names), "ips": sorted(g.ips),
                   "port": g.port, "proto": g.proto, "declared_by": g.declared_by,
                   "firmware_endpoints": len(fw), "first_seen": iso(first.start),
                   "first_packet": first.first_packet}
        findings.append(make_finding(
            CHECK, rule.id, sev, f"{rule.title}: {g.where()}", rule.explanation,
            [ctx.evidence(first, rule.id, text)], clause=CLAUSE, details=details,
            source=rule.source))
    facts = CrossCheck(traffic_only=sorted(traffic_only), firmware_only=sorted(fw - used),
                       both=sorted(both))
    return findings, facts
