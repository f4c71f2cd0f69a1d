"""Which resolvers the device uses, and how: plain DNS to a resolver other than the
declared one (or the network's own), DNS over TLS, DNS over HTTPS.

Why: whoever resolves the device's names sees every service it contacts; encrypted DNS to
a resolver of the vendor's choosing also hides that from the operator. Decisions:

* a resolver inside the device's network (private, link-local, the device's subnet) is
  the network's own: listed, never a finding;
* declared resolvers are the agreement's endpoints that match the flow (an endpoint
  with protocol dns/dot/doh or port 53/853 names a resolver; any endpoint matching the
  address or name declares the traffic to it);
* the policy's ``dns`` exemption (default) covers plain DNS to the well-known public
  resolvers of ``data/traffic/resolvers.yaml`` while the agreement declares no resolver
  of its own — once it declares one, every other outside resolver is a finding;
* DoT is TCP port 853 or ALPN ``dot``; DoH is port 443 to a known DoH name (SNI, Host or
  the DNS name of the address) or address, or DNS that the decoder found inside HTTP
  (``DnsAnswer.transport == "doh"``). DoT and DoH are findings without an agreement too.
"""

from __future__ import annotations

from collections import defaultdict

from spyproof.checks.base import make_finding
from spyproof.models import Finding
from spyproof.traffic.evidence.context import CHECK, CLAUSE, Context, flow_text, iso
from spyproof.traffic.evidence.facts import ResolvedName, ResolverUse
from spyproof.traffic.model import Flow

MAX_QUERIES_SHOWN = 10


def _transport(ctx: Context, f: Flow, names: list[str], doh_pairs: set[tuple[str, str]]
               ) -> str | None:
    """dns, dot, doh or None (not DNS)."""
    if (f.proto == "tcp" and f.resp_p == 853) or "dot" in f.alpn:
        return "dot"
    if (f.orig_h, f.resp_h) in doh_pairs and f.proto == "tcp" and f.resp_p in (80, 443):
        return "doh"
    if f.resp_p == 443 and f.proto in ("tcp", "udp"):
        if any(ctx.k.doh_resolver(n) for n in names):
            return "doh"
        known = ctx.k.resolver_by_ip(f.resp_h)
        if known and known.doh:
            return "doh"
    if f.resp_p == 53 or f.dns_queries or "dns" in (f.service or "").split(","):
        return "dns"
    return None


def _operator(ctx: Context, ip: str, names: list[str]) -> str | None:
    known = ctx.k.resolver_by_ip(ip) or next(
        (r for n in names if (r := ctx.k.doh_resolver(n) or ctx.k.dot_resolver(n))), None)
    return known.operator if known else None


def analyse(ctx: Context) -> tuple[list[Finding], list[ResolverUse]]:
    doh_pairs = {(a.client, a.resolver) for a in ctx.device_dns if a.transport == "doh"}
    groups: dict[tuple[str, str], list[Flow]] = defaultdict(list)
    names_of: dict[str, list[str]] = {}
    for f in ctx.outbound:
        names = ctx.names(f)
        t = _transport(ctx, f, names, doh_pairs)
        if t:
            groups[(f.resp_h, t)].append(f)
            names_of[f.uid] = names
    answers: dict[tuple[str, str], int] = defaultdict(int)
    for a in ctx.device_dns:
        t = a.transport if a.transport in ("dot", "doh") else "dns"
        answers[(a.resolver, t)] += 1
    findings, facts = [], []
    for (resolver, transport), flows in sorted(groups.items()):
        names = sorted({n for f in flows for n in names_of[f.uid]})
        operator = _operator(ctx, resolver, names)
        local = ctx.local_kind(resolver) is not None
        declared = _declared(ctx, flows, names_of, transport, local)
        for f in flows:
            ctx.claimed[f.uid] = (transport, declared)
        queries = sorted({q for f in flows for q in f.dns_queries})
        count = max(answers.get((resolver, transport), 0),
                    sum(len(f.dns_queries) for f in flows))
        facts.append(ResolverUse(resolver=resolver, transport=transport, names=names,
                                 operator=operator, local=local, flows=len(flows),
                                 queries=count, declared_by=declared))
        if declared or local:
            continue
        rule = ctx.k.rules[{"dot": "dns-over-tls", "doh": "dns-over-https"}.get(
            transport, "undeclared-resolver" if ctx.decl.present else "observed-resolver")]
        first = flows[0]
        shown = f" ({operator})" if operator else ""
        text = (f"{flow_text(first, names_of[first.uid])}; {len(flows)} flows to this "
                f"resolver" + (f", queries: {', '.join(queries[:MAX_QUERIES_SHOWN])}"
                               if queries else ""))
        details = {"resolver": resolver, "transport": transport, "operator": operator,
                   "names": names, "flows": len(flows), "queries": count,
                   "query_names": queries[:MAX_QUERIES_SHOWN],
                   "more_query_names": max(0, len(queries) - MAX_QUERIES_SHOWN),
                   "first_seen": iso(first.start), "first_packet": first.first_packet,
                   "port": first.resp_p, "proto": first.proto}
        findings.append(make_finding(
            CHECK, rule.id, rule.sev(), f"{rule.title}: {resolver}{shown}", rule.explanation,
            [ctx.evidence(first, rule.id, text)], clause=CLAUSE, details=details,
            source=rule.source))
    return findings, facts


def _declared(ctx: Context, flows: list[Flow], names_of: dict[str, list[str]],
              transport: str, local: bool) -> str | None:
    if local:
        return "local network"
    if not ctx.decl.present:
        return None
    for f in flows:
        hit = ctx.decl.match(f, ctx.declared_names(f))
        if hit:
            return hit
    if transport == "dns" and ctx.decl.dns_exempt() and ctx.k.resolver_by_ip(flows[0].resp_h):
        return "policy.exempt_endpoint_classes (dns)"
    return None


def names_resolved(ctx: Context) -> list[ResolvedName]:
    """Every name the device resolved, with what it resolved to (the facts' DNS table)."""
    by_name: dict[str, list] = defaultdict(list)
    for a in ctx.device_dns:
        if a.query:
            by_name[a.query].append(a)
    out = []
    for name, answers in sorted(by_name.items()):
        out.append(ResolvedName(
            name=name, addresses=sorted({x for a in answers for x in a.answers}),
            qtypes=sorted({a.qtype for a in answers if a.qtype}),
            rcodes=sorted({a.rcode for a in answers if a.rcode}),
            resolvers=sorted({a.resolver for a in answers}), responses=len(answers),
            first_seen=iso(min(a.ts for a in answers))))
    return out
