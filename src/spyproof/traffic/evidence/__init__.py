"""Evidence from traffic (issue 8 §3): flows and DNS answers of a device → findings for
the report (check ``traffic``, clause NS-3) and ``TrafficFacts``, the tables behind them.

One module per kind of evidence: ``resolvers`` (which resolvers, DoT, DoH),
``destinations`` (undeclared destinations, inbound sessions), ``beacons``, ``tunnelling``,
``volume``, ``crosscheck``; ``context`` holds what they share (device, locality, names,
evidence that cites the capture) and ``declared`` matches the agreement. Knowledge and
thresholds: ``data/traffic/evidence.yaml``, ``data/traffic/resolvers.yaml``.
"""

from __future__ import annotations

from spyproof.agreement.load import LoadedAgreement
from spyproof.checks.base import finding_sort_key
from spyproof.models import Finding, Report
from spyproof.traffic.evidence import (
    beacons,
    crosscheck,
    destinations,
    resolvers,
    tunnelling,
    volume,
)
from spyproof.traffic.evidence.context import Context, iso
from spyproof.traffic.evidence.facts import InputRef, TrafficFacts
from spyproof.traffic.evidence.rules import knowledge
from spyproof.traffic.model import DnsAnswer, Flow

__all__ = ["InputRef", "TrafficFacts", "analyse"]


def analyse(flows: list[Flow], dns: list[DnsAnswer], *, device: str | list[str],
            agreement: LoadedAgreement | None, scan: Report | None,
            inputs: list[InputRef]) -> tuple[list[Finding], TrafficFacts]:
    """Findings (sorted, stable ids) and the facts for the device's traffic.

    ``device``: the device's address(es) or network(s). ``agreement``: its declared
    endpoints make destinations declared (without one, destinations are an info
    inventory). ``scan``: a scan report to cross-check against the firmware's endpoints.
    ``inputs``: the captures or logs, in the order ``Flow.capture`` indexes them.
    """
    ctx = Context(flows, dns, device=device, agreement=agreement, inputs=inputs,
                  k=knowledge())
    found: list[Finding] = []
    notes: list[str] = []
    got, resolver_facts = resolvers.analyse(ctx)  # first: it claims the DNS flows
    found += got
    groups, local = destinations.group_outbound(ctx)
    found += destinations.destination_findings(ctx, groups)
    got, inbound = destinations.inbound(ctx)
    found += got
    got, beacon_facts, storms = beacons.analyse(ctx, groups)
    found += got
    got, domains = tunnelling.analyse(ctx)
    found += got
    found += volume.findings(ctx, groups)
    check = None
    if scan is not None:
        got, check = crosscheck.analyse(ctx, groups, scan)
        found += got
    unknown = sum(1 for f in ctx.outbound + ctx.inbound if f.start <= 0)
    if unknown:
        notes.append(f"{unknown} flows without a time (masked or missing timestamps): left "
                     "out of beacon and per-day analysis")
    if not ctx.device_flows:
        notes.append(f"no flow involves the device ({', '.join(ctx.device_text)})")
    facts = TrafficFacts(
        device=ctx.device_text, inputs=list(inputs), flows=len(flows),
        device_flows=ctx.device_flows, other_flows=len(flows) - ctx.device_flows,
        first_seen=iso(ctx.span[0]) if ctx.span[0] else None,
        last_seen=iso(ctx.span[1]) if ctx.span[1] else None,
        agreement=ctx.decl.present,
        destinations=[g.fact() for g in groups], inbound=inbound, resolvers=resolver_facts,
        dns_names=resolvers.names_resolved(ctx), top_uploads=volume.uploads(ctx, groups),
        daily_volume=volume.per_day(groups), beacons=beacon_facts, storms=storms,
        dns_domains=domains, crosscheck=check, local=local, notes=notes)
    return sorted(found, key=finding_sort_key), facts
