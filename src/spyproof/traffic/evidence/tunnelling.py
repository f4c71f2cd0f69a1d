"""DNS tunnelling: data hidden in the names the device looks up.

Measured per registered domain (the name server that receives the queries is the
domain's): names with very long labels, many long high-entropy names, very many unique
names, and rarely used record types (TXT, NULL …) in volume. Thresholds and their reasons
are in ``data/traffic/evidence.yaml``.

The registered domain is found without the Public Suffix List (neither ``tldextract`` nor
``publicsuffix2`` is a dependency): the last two labels, or three when the second-level
label is a generic one (co, com, net, org, gov, ac …) under a two-letter country code.
Limitation: private suffixes (github.io, cloudfront.net customers) group under the
provider's domain, and unusual public suffixes are taken one level too short.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from spyproof.checks.base import make_finding
from spyproof.models import Evidence, Finding
from spyproof.traffic.evidence.context import CHECK, CLAUSE, Context
from spyproof.traffic.evidence.facts import DomainFact
from spyproof.traffic.model import Flow

MAX_EXAMPLES = 5


def registered_domain(name: str, generics: Sequence[str]) -> str:
    labels = [x for x in name.lower().rstrip(".").split(".") if x]
    if len(labels) <= 2:
        return ".".join(labels)
    if len(labels[-1]) == 2 and labels[-2] in generics:
        return ".".join(labels[-3:])
    return ".".join(labels[-2:])


def entropy(text: str) -> float:
    """Shannon entropy in bits per character."""
    if not text:
        return 0.0
    n = len(text)
    return -sum(c / n * math.log2(c / n) for c in Counter(text).values())


@dataclass(frozen=True)
class Query:
    ts: float
    client: str
    resolver: str
    name: str
    qtype: str | None
    packet: int | None
    flow: Flow | None


def queries(ctx: Context) -> list[Query]:
    """Every name the device asked for: from DNS answers (with record types) and from
    flows' queries that got no answer."""
    out = [Query(a.ts, a.client, a.resolver, a.query, a.qtype.upper() or None, a.packet, None)
           for a in ctx.device_dns if a.query]
    answered = {(q.client, q.resolver, q.name) for q in out}
    for f in ctx.outbound:
        for name in f.dns_queries:
            if (f.orig_h, f.resp_h, name) not in answered:
                out.append(Query(f.start, f.orig_h, f.resp_h, name, None, f.first_packet, f))
    return sorted(out, key=lambda q: (q.ts, q.name, q.client, q.resolver))


@dataclass
class Domain:
    name: str
    queries: list[Query]
    unique: set[str]
    long: list[Query]
    random: list[Query]
    unusual: Counter[str]


def measure(ctx: Context) -> list[Domain]:
    t = ctx.k.t("tunnelling")
    ignore = tuple(t["ignore_suffixes"])
    by_domain: dict[str, list[Query]] = defaultdict(list)
    for q in queries(ctx):
        if any(q.name == s or q.name.endswith("." + s) for s in ignore):
            continue
        by_domain[registered_domain(q.name, t["second_level_generics"])].append(q)
    out = []
    for name, qs in sorted(by_domain.items()):
        d = Domain(name, qs, {q.name for q in qs}, [], [], Counter())
        seen_long: set[str] = set()
        seen_random: set[str] = set()
        for q in qs:
            sub = q.name[:-len(name)].rstrip(".") if q.name != name else ""
            if q.name not in seen_long and any(len(lb) > int(t["max_label_length"])
                                               for lb in sub.split(".")):
                seen_long.add(q.name)
                d.long.append(q)
            flat = sub.replace(".", "")
            if q.name not in seen_random and len(flat) >= int(t["entropy_min_length"]) and \
                    entropy(flat) >= float(t["entropy_bits"]):
                seen_random.add(q.name)
                d.random.append(q)
            if q.qtype and q.qtype in t["unusual_qtypes"]:
                d.unusual[q.qtype] += 1
        out.append(d)
    return out


def _evidence(ctx: Context, qs: Sequence[Query], rule: str) -> list[Evidence]:
    ev = []
    for q in qs[:MAX_EXAMPLES]:
        text = f"{q.client} asked {q.resolver} for {q.name}" + (f" ({q.qtype})" if q.qtype
                                                                   else "")
        if q.flow is not None:
            ev.append(ctx.evidence(q.flow, rule, text))
        else:
            ev.append(ctx.dns_evidence(q.client, q.resolver, q.name, q.ts, q.packet, rule,
                                       text))
    return ev


def analyse(ctx: Context) -> tuple[list[Finding], list[DomainFact]]:
    t = ctx.k.t("tunnelling")
    findings, facts = [], []
    for d in measure(ctx):
        unusual_total = sum(d.unusual.values())
        hits: list[tuple[str, list[Query], str]] = []
        if len(d.long) >= int(t["long_label_min_names"]):
            hits.append(("dns-long-label", d.long, f"{len(d.long)} names with labels over "
                         f"{t['max_label_length']} characters"))
        if len(d.random) >= int(t["entropy_min_names"]):
            hits.append(("dns-high-entropy", d.random, f"{len(d.random)} long names of "
                         f"entropy >= {t['entropy_bits']} bits/char"))
        if len(d.unique) >= int(t["min_unique_subdomains"]):
            firsts = list({q.name: q for q in reversed(d.queries)}.values())[::-1]
            hits.append(("dns-many-subdomains", firsts, f"{len(d.unique)} unique names"))
        if unusual_total >= int(t["unusual_min_queries"]):
            odd = [q for q in d.queries if q.qtype in d.unusual]
            listing = ", ".join(f"{k} {v}" for k, v in sorted(d.unusual.items()))
            hits.append(("dns-unusual-qtype", odd, f"{unusual_total} queries of rare types "
                         f"({listing})"))
        for rule_id, examples, what in hits:
            rule = ctx.k.rules[rule_id]
            details = {"domain": d.name, "queries": len(d.queries),
                       "unique_names": len(d.unique), "long_label_names": len(d.long),
                       "high_entropy_names": len(d.random), "unusual_qtypes": dict(
                           sorted(d.unusual.items())),
                       "examples": [q.name for q in examples[:MAX_EXAMPLES]],
                       "clients": sorted({q.client for q in d.queries}),
                       "resolvers": sorted({q.resolver for q in d.queries})}
            findings.append(make_finding(
                CHECK, rule.id, rule.sev(), f"{rule.title}: {d.name} ({what})",
                rule.explanation, _evidence(ctx, examples, rule.id), clause=CLAUSE,
                details=details, source=rule.source))
        if len(d.unique) >= 2 or d.long or d.random or d.unusual:
            facts.append(DomainFact(domain=d.name, queries=len(d.queries),
                                    unique_names=len(d.unique), long_labels=len(d.long),
                                    high_entropy_names=len(d.random),
                                    unusual_qtypes=dict(sorted(d.unusual.items()))))
    facts.sort(key=lambda f: (-f.unique_names, f.domain))
    return findings, facts[:int(t["max_domains_listed"])]
