"""Give an endpoint a class (update, time, DNS, telemetry, cloud management, unknown).

Rules are data (``endpoints.yaml``). The most specific evidence decides: a named address or
host of any rule first, then the URL scheme, then the words of the host name from the left
(``telemetry.vendor-cloud.net`` is telemetry, ``ntp.vendor-cloud.net`` is time), then the
words of the URL path, then the port.
"""

from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass

from spyproof.checks.endpoints_data import ClassRule, Knowledge

UNKNOWN = "unknown"


@dataclass(frozen=True)
class Classification:
    cls: str
    rule: ClassRule | None
    matched_by: str  # what decided, for the report: "host pool.ntp.org", "host word ntp"


def tokens(text: str) -> list[str]:
    return [t for t in re.split(r"[^a-z0-9]+", text.lower()) if t]


def host_matches(host: str, pattern: str) -> bool:
    """Exact name or subdomain; with ``*``, a shell pattern over the whole name."""
    if "*" in pattern:
        return fnmatch.fnmatchcase(host, pattern)
    return host == pattern or host.endswith("." + pattern)


def _first_word(toks: list[str], rules: tuple[ClassRule, ...], attr: str
                ) -> tuple[ClassRule, str] | None:
    """The rule naming the leftmost word (a word may span tokens: crash-report)."""
    for i in range(len(toks)):
        for rule in rules:
            for word in getattr(rule, attr):
                if tuple(toks[i:i + len(word)]) == word:
                    return rule, "-".join(word)
    return None


def classify(k: Knowledge, *, host: str, host_kind: str, scheme: str | None = None,
             path: str = "", port: int | None = None) -> Classification:
    rules = k.rules
    if host_kind in ("ipv4", "ipv6"):
        for rule in rules:
            if host in rule.ips:
                return Classification(rule.cls, rule, f"address {host}")
    else:
        for rule in rules:
            for pattern in rule.hosts:
                if host_matches(host, pattern):
                    return Classification(rule.cls, rule, f"host {pattern}")
    if scheme:
        for rule in rules:
            if scheme in rule.schemes:
                return Classification(rule.cls, rule, f"scheme {scheme}")
    if host_kind == "name":
        hit = _first_word(tokens(host), rules, "host_words")
        if hit:
            return Classification(hit[0].cls, hit[0], f"host word {hit[1]}")
    if path:
        hit = _first_word(tokens(path), rules, "path_words")
        if hit:
            return Classification(hit[0].cls, hit[0], f"path word {hit[1]}")
        low = path.lower()
        for rule in rules:
            for suffix in rule.path_suffixes:
                if low.endswith(suffix):
                    return Classification(rule.cls, rule, f"path suffix {suffix}")
    if port is not None:
        for rule in rules:
            if port in rule.ports:
                return Classification(rule.cls, rule, f"port {port}")
    return Classification(UNKNOWN, None, "no rule")
