"""The endpoints check's knowledge (``data/checks/endpoints.yaml``), loaded once and compiled.

Everything the check decides by — noise ranges, documentation sites, classification rules,
identifier-collection patterns, where schedules live — is data with a public source; this
module only turns it into compiled regexes, networks and lookup sets.
"""

from __future__ import annotations

import functools
import ipaddress
import re
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

import yaml

DATA_FILE = "endpoints.yaml"  # under data/checks/
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True)
class Range:
    network: IPNetwork
    reason: str
    source: str


@dataclass(frozen=True)
class NameSuffix:
    suffix: str
    reason: str
    source: str

    def matches(self, host: str) -> bool:
        return host == self.suffix or host.endswith("." + self.suffix)


@dataclass(frozen=True)
class DocSite:
    """A documentation/toolchain/licence site: its URLs are not data flows."""

    name: str
    exact: bool  # `host:` (the name only) rather than `domain:` (and subdomains)
    reason: str
    source: str
    except_paths: tuple[re.Pattern[str], ...] = ()
    positive: tuple[str, ...] = ()
    negative: tuple[str, ...] = ()

    def matches(self, host: str, path: str) -> bool:
        hit = host == self.name or (not self.exact and host.endswith("." + self.name))
        return hit and not any(p.search(path) for p in self.except_paths)


@dataclass(frozen=True)
class PatternRule:
    """A regex with an id, a reason and examples (URL noise, context noise)."""

    id: str
    pattern: re.Pattern[str]
    reason: str
    source: str
    positive: tuple[str, ...] = ()
    negative: tuple[str, ...] = ()


@dataclass(frozen=True)
class ClassInfo:
    id: str
    severity: str
    title: str
    explanation: str


@dataclass(frozen=True)
class ClassRule:
    id: str
    cls: str
    source: str
    ips: frozenset[str] = frozenset()
    hosts: tuple[str, ...] = ()  # exact-or-subdomain names, or fnmatch patterns with '*'
    schemes: frozenset[str] = frozenset()
    host_words: tuple[tuple[str, ...], ...] = ()  # each word as its tokens
    path_words: tuple[tuple[str, ...], ...] = ()
    path_suffixes: tuple[str, ...] = ()
    ports: frozenset[int] = frozenset()
    positive: tuple[str, ...] = ()
    negative: tuple[str, ...] = ()


@dataclass(frozen=True)
class IdentifierRule:
    id: str
    kind: str  # mac, imei, imsi, serial, location
    pattern: re.Pattern[str]
    where: frozenset[str]  # text, binary, symbol
    source: str
    hints: tuple[str, ...] = ()  # lower-case strings; the pattern is tried only near one
    positive: tuple[str, ...] = ()
    negative: tuple[str, ...] = ()


@dataclass(frozen=True)
class CrontabSpec:
    pattern: str
    user_field: bool
    source: str


@dataclass(frozen=True)
class Knowledge:
    version: int
    tlds: frozenset[str]
    special_tlds: frozenset[str]
    bare_generic_tlds: frozenset[str]
    ambiguous_tlds: frozenset[str]
    code_words: frozenset[str]
    limits: dict[str, Any]
    skip_paths: tuple[tuple[str, str], ...]  # (pattern, reason)
    noise_ipv4: tuple[Range, ...]
    noise_ipv6: tuple[Range, ...]
    noise_names: tuple[NameSuffix, ...]
    documentation: tuple[DocSite, ...]
    doc_host_labels: frozenset[str]
    doc_path_segments: frozenset[str]
    noise_urls: tuple[PatternRule, ...]
    noise_contexts: tuple[PatternRule, ...]
    version_words: re.Pattern[str]
    network_context: re.Pattern[str]
    private_ipv4: tuple[Range, ...]
    private_ipv6: tuple[Range, ...]
    private_names: tuple[NameSuffix, ...]
    classes: dict[str, ClassInfo]
    rules: tuple[ClassRule, ...]
    identifiers: tuple[IdentifierRule, ...]
    crontabs: tuple[CrontabSpec, ...]
    periodic_dirs: tuple[str, ...]
    loop_header: re.Pattern[str]
    sleep: re.Pattern[str]
    loop_source: str
    known_hosts: frozenset[str] = field(default_factory=frozenset)  # exact names in rules
    known_ips: frozenset[str] = field(default_factory=frozenset)

    def limit(self, name: str) -> Any:
        return self.limits[name]


def words(items: list[str] | None) -> tuple[tuple[str, ...], ...]:
    """Rule words as token tuples ('crash-report' -> ('crash', 'report'))."""
    return tuple(tuple(t for t in re.split(r"[^a-z0-9]+", w.lower()) if t) for w in items or [])


def _ranges(items: list[dict[str, Any]]) -> tuple[Range, ...]:
    return tuple(Range(ipaddress.ip_network(i["network"]), i["reason"], i["source"])
                 for i in items)


def _names(items: list[dict[str, Any]]) -> tuple[NameSuffix, ...]:
    return tuple(NameSuffix(i["suffix"].lower(), i["reason"], i["source"]) for i in items)


def _examples(item: dict[str, Any]) -> dict[str, tuple[str, ...]]:
    return {"positive": tuple(item.get("positive", ())),
            "negative": tuple(item.get("negative", ()))}


def _read_tlds(name: str) -> frozenset[str]:
    text = resources.files("spyproof.data").joinpath("checks").joinpath(name).read_text()
    return frozenset(line.strip().lower() for line in text.splitlines()
                     if line.strip() and not line.startswith("#"))


def parse(raw: dict[str, Any]) -> Knowledge:
    """Compile the YAML document (raises on a malformed entry: the data is tested)."""
    hosts = raw["hosts"]
    noise = raw["noise"]
    private = raw["private"]
    sched = raw["schedule"]
    rules = tuple(
        ClassRule(
            id=r["id"], cls=r["class"], source=r["source"],
            ips=frozenset(str(ipaddress.ip_address(i)) for i in r.get("ips", ())),
            hosts=tuple(h.lower() for h in r.get("hosts", ())),
            schemes=frozenset(s.lower() for s in r.get("schemes", ())),
            host_words=words(r.get("host_words")), path_words=words(r.get("path_words")),
            path_suffixes=tuple(s.lower() for s in r.get("path_suffixes", ())),
            ports=frozenset(int(p) for p in r.get("ports", ())), **_examples(r))
        for r in raw["rules"])
    unknown_cls = {r.cls for r in rules} - set(raw["classes"])
    if unknown_cls:
        raise ValueError(f"rules name undefined classes: {sorted(unknown_cls)}")
    return Knowledge(
        version=raw["version"],
        tlds=_read_tlds(raw["tld_file"]),
        special_tlds=frozenset(t["tld"] for t in hosts.get("special_tlds", ())),
        bare_generic_tlds=frozenset(hosts["bare_generic_tlds"]["tlds"]),
        ambiguous_tlds=frozenset(hosts["ambiguous_tlds"]["tlds"]),
        code_words=frozenset(hosts["code_words"]["words"]),
        limits=dict(raw["limits"]),
        skip_paths=tuple((s["pattern"], s["reason"]) for s in raw.get("skip_paths", ())),
        noise_ipv4=_ranges(noise["ipv4"]), noise_ipv6=_ranges(noise["ipv6"]),
        noise_names=_names(noise["names"]),
        documentation=tuple(
            DocSite(name=(d.get("host") or d["domain"]).lower(), exact="host" in d,
                    reason=d["reason"], source=d["source"],
                    except_paths=tuple(re.compile(p) for p in d.get("except_paths", ())),
                    **_examples(d))
            for d in noise["documentation"]),
        doc_host_labels=frozenset(noise["documentation_host_labels"]["labels"]),
        doc_path_segments=frozenset(noise["documentation_path_segments"]["segments"]),
        noise_urls=tuple(PatternRule(u["id"], re.compile(u["pattern"], re.I), u["reason"],
                                     u["source"], **_examples(u)) for u in noise["urls"]),
        noise_contexts=tuple(PatternRule(c["id"], re.compile(c["pattern"]), c["reason"],
                                         c["source"], **_examples(c))
                             for c in noise["contexts"]),
        version_words=re.compile(raw["ipv4_version_words"]["pattern"]),
        network_context=re.compile(raw["ipv4_network_context"]["pattern"]),
        private_ipv4=_ranges(private["ipv4"]), private_ipv6=_ranges(private["ipv6"]),
        private_names=_names(private["names"]),
        classes={k: ClassInfo(k, v["severity"], v["title"], v["explanation"])
                 for k, v in raw["classes"].items()},
        rules=rules,
        identifiers=tuple(
            IdentifierRule(id=i["id"], kind=i["kind"], pattern=re.compile(i["pattern"], re.I),
                           where=frozenset(i["where"]), source=i["source"],
                           hints=tuple(h.lower() for h in i.get("hints", ())), **_examples(i))
            for i in raw["identifiers"]),
        crontabs=tuple(CrontabSpec(c["pattern"], bool(c["user_field"]), c["source"])
                       for c in sched["crontabs"]),
        periodic_dirs=tuple(p["pattern"] for p in sched["periodic_dirs"]),
        loop_header=re.compile(sched["loop_header"], re.M),
        sleep=re.compile(sched["sleep"]),
        loop_source=sched["loop_source"],
        known_hosts=frozenset(h for r in rules for h in r.hosts if "*" not in h),
        known_ips=frozenset(i for r in rules for i in r.ips),
    )


@functools.cache
def knowledge() -> Knowledge:
    path = resources.files("spyproof.data").joinpath("checks").joinpath(DATA_FILE)
    return parse(yaml.safe_load(path.read_text()))
