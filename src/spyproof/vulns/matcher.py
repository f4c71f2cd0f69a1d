"""Which knowledge-base records affect which components: purl first, CPE second.

For each component the matcher derives the identities the feeds use for it (curated in
``data/vuln_products.yaml``, never guessed from strings) and evaluates their published
ranges with the version scheme of each ecosystem:

1. **distro** — a component read from a package database of a known release
   (``pkg:deb/debian/…?distro=debian-12``) is decided by the distribution's own advisories
   (OSV ``Debian:12``) for its source package, compared with the full package version, so
   a backported fix is not reported as open. When the knowledge base holds such
   advisories for the package they are the only basis for it; otherwise the component is
   matched upstream like any other, and a note says so.
2. **purl** — OSV records keyed by the component's upstream identity (``pkg:generic/<name>``,
   ecosystem ``generic``, and the OSS-Fuzz project when curated), compared with the
   upstream version. A record that can be evaluated decides its CVEs for that component.
3. **cpe** — NVD configurations for the curated ``vendor:product`` pairs, for the CVEs no
   purl record decided, compared with the upstream version.

Queries are batched (one per table and chunk of keys), so matching a 1,000-component SBOM
is a handful of indexed SELECTs and the range evaluation in memory.
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from packageurl import PackageURL
from sqlalchemy import Text, cast, select, tuple_

from spyproof.identify.packagedb import upstream_version
from spyproof.models import Component
from spyproof.purl import parse_purl
from spyproof.vulns.ranges import (
    MatchDetail,
    in_cpe_range,
    in_osv_range,
    known_bad_cpes,
    vuln_identity,
)
from spyproof.vulns.store import Store, affected_packages, aliases, cpe_ranges

_CHUNK = 400
_CVE_RE = re.compile(r"^CVE-\d{4}-\d{4,}$", re.IGNORECASE)


@dataclass(frozen=True)
class RawMatch:
    """One record whose range holds for one component."""

    component: int  # index into the component list
    source: str
    vuln_id: str
    method: str  # distro | purl | cpe
    version: str
    detail: MatchDetail
    ecosystem: str | None = None
    package: str | None = None
    cpe: str | None = None


@dataclass
class MatchResult:
    matches: list[RawMatch] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # per-component explanations, sorted


@dataclass
class _Plan:
    """The identities to query for one component and the versions to compare."""

    distro_keys: list[tuple[str, str]] = field(default_factory=list)
    distro_version: str | None = None
    purl_keys: list[tuple[str, str]] = field(default_factory=list)
    upstream: str | None = None
    cpes: list[tuple[str, str]] = field(default_factory=list)

    def key(self) -> tuple:
        return (tuple(self.distro_keys), self.distro_version, tuple(self.purl_keys),
                self.upstream, tuple(self.cpes))


def is_cve(text: str) -> bool:
    return bool(_CVE_RE.match(text))


def distro_ecosystems(purl: PackageURL) -> list[str]:
    """OSV ecosystems of the distribution release a package purl names, most specific
    first (``distro=debian-12`` → ``Debian:12``); empty when the release is unknown."""
    distro = (purl.qualifiers or {}).get("distro", "") if isinstance(purl.qualifiers,
                                                                       dict) else ""
    os_id, _, release = distro.partition("-")
    if not release:
        return []
    if purl.type == "deb" and os_id == "debian":
        major = release.split(".", 1)[0]
        return [f"Debian:{major}"] if major.isdigit() else []
    if purl.type == "deb" and os_id == "ubuntu":
        return [f"Ubuntu:{release}:LTS", f"Ubuntu:{release}"]
    if purl.type == "apk" and os_id == "alpine":
        major_minor = ".".join(release.split(".")[:2])
        return [f"Alpine:v{major_minor}"]
    return []


def _cpe_version(cpe: str | None) -> str | None:
    if not cpe:
        return None
    parts = re.split(r"(?<!\\):", cpe)
    if len(parts) < 6 or parts[5] in ("*", "-", ""):
        return None
    return re.sub(r"\\(.)", r"\1", parts[5])


def upstream_of(c: Component, purl: PackageURL | None) -> str | None:
    """The upstream release a component is: its CPE's version, the version of a
    ``pkg:generic`` component, or the package version without the distribution's epoch,
    revision and repack markers."""
    if v := _cpe_version(c.cpe):
        return v
    if not c.version:
        return None
    if purl is None or purl.type == "generic":
        return c.version
    if purl.type in ("deb", "opkg", "apk"):
        return upstream_version(c.version, "deb" if purl.type == "deb" else "opkg")
    return c.version


def plan_for(c: Component) -> _Plan:
    """The feeds' identities for one component (curated data only)."""
    plan = _Plan()
    purl = parse_purl(c.purl)
    identity = vuln_identity(c.name)
    if purl is not None and purl.type in ("deb", "apk") and c.version:
        ecos = distro_ecosystems(purl)
        family = ecos[0].split(":", 1)[0] if ecos else ""
        source = (identity.osv_names.get(family) if identity else None) or c.package \
            or purl.name
        plan.distro_keys = [(eco, source) for eco in ecos]
        plan.distro_version = c.version
    plan.upstream = upstream_of(c, purl)
    if identity is None:
        return plan
    plan.purl_keys = [("generic", identity.name)]
    if "OSS-Fuzz" in identity.osv_names:
        plan.purl_keys.append(("OSS-Fuzz", identity.osv_names["OSS-Fuzz"]))
    bad = {b.cpe for b in known_bad_cpes(identity.name)}
    plan.cpes = [pair for pair in identity.cpes if pair not in bad]
    return plan


def chunks(items: Sequence[Any], n: int = _CHUNK) -> Iterator[Sequence[Any]]:
    """Slices small enough for one ``IN (…)`` on every backend."""
    for i in range(0, len(items), n):
        yield items[i:i + n]


def _grouped(store: Store, key_cols: Sequence[Any], columns: Sequence[Any],
             keys: Iterable[tuple[str, str]], *where: Any) -> dict[tuple[str, str],
                                                                  list[Any]]:
    """Rows whose ``key_cols`` tuple is one of ``keys``, grouped by it, in insert order."""
    wanted = sorted(set(keys))
    out: dict[tuple[str, str], list[Any]] = defaultdict(list)
    table = key_cols[0].table
    with store.engine.connect() as conn:
        for chunk in chunks(wanted):
            rows = conn.execute(select(*columns).where(tuple_(*key_cols).in_(chunk), *where)
                                .order_by(table.c.pk))
            names = [c.name for c in columns]
            at = tuple(names.index(c.name) for c in key_cols)  # key columns' positions
            for r in rows:
                out[tuple(r[i] for i in at)].append(r)
    return out


def _affected_rows(store: Store, keys: Iterable[tuple[str, str]]) -> dict[tuple[str, str],
                                                                          list[Any]]:
    t = affected_packages
    # ranges/versions as their JSON text: decoded only when a range is first evaluated,
    # and the text keys the evaluation memo (many records share one range)
    return _grouped(store, (t.c.ecosystem, t.c.name),
                    (t.c.source, t.c.vuln_id, t.c.ecosystem, t.c.name,
                     cast(t.c.ranges, Text).label("ranges"),
                     cast(t.c.versions, Text).label("versions")), keys)


def _cpe_rows(store: Store, pairs: Iterable[tuple[str, str]]) -> dict[tuple[str, str],
                                                                    list[Any]]:
    t = cpe_ranges
    return _grouped(store, (t.c.vendor, t.c.product),
                    (t.c.source, t.c.vuln_id, t.c.vendor, t.c.product, t.c.criteria,
                     t.c.version_exact, t.c.start_incl, t.c.start_excl, t.c.end_incl,
                     t.c.end_excl), pairs, t.c.vulnerable.is_(True))


def aliases_of(store: Store, keys: Iterable[tuple[str, str]]) -> dict[tuple[str, str],
                                                                      set[str]]:
    """``(source, id)`` → the id and every alias the feed gave it."""
    wanted = sorted(set(keys))
    out: dict[tuple[str, str], set[str]] = {k: {k[1]} for k in wanted}
    with store.engine.connect() as conn:
        for chunk in chunks(wanted):
            for r in conn.execute(select(aliases.c.source, aliases.c.vuln_id, aliases.c.alias)
                                  .where(tuple_(aliases.c.source, aliases.c.vuln_id)
                                         .in_(chunk))):
                out[(r.source, r.vuln_id)].add(r.alias)
    return out


def _decisive(ranges: Any) -> bool:
    """A record decides its CVEs only if it has a range spyproof can evaluate."""
    return any(isinstance(r, dict) and str(r.get("type", "")).upper() in ("ECOSYSTEM",
                                                                           "SEMVER")
               for r in ranges or [])


class _Memo:
    """Range evaluations of one matching run, keyed by what decides them: the version
    and the published range (as text). Records often share ranges; plans share rows."""

    def __init__(self) -> None:
        self.osv: dict[tuple, MatchDetail | None] = {}
        self.cpe: dict[tuple, MatchDetail | None] = {}
        self.decisive: dict[str | None, bool] = {}

    def in_osv(self, version: str, r: Any, eco: str) -> MatchDetail | None:
        key = (version, eco, r.ranges, r.versions)
        if key not in self.osv:
            self.osv[key] = in_osv_range(version, r.ranges, r.versions, eco)
        return self.osv[key]

    def in_cpe(self, version: str, r: Any) -> MatchDetail | None:
        key = (version, r.version_exact, r.start_incl, r.start_excl, r.end_incl, r.end_excl)
        if key not in self.cpe:
            self.cpe[key] = in_cpe_range(version, *key[1:])
        return self.cpe[key]

    def is_decisive(self, ranges_text: str | None) -> bool:
        if ranges_text not in self.decisive:
            self.decisive[ranges_text] = _decisive(_json(ranges_text))
        return self.decisive[ranges_text]


def _json(text: str | None) -> Any:
    return json.loads(text) if isinstance(text, str) else text


def _plan_note(plan: _Plan, osv: dict, label: str) -> str | None:
    if plan.distro_keys and plan.distro_version and any(osv.get(k)
                                                         for k in plan.distro_keys):
        return None
    if plan.distro_keys:
        return (f"{label}: no {plan.distro_keys[0][0]} advisories for source package "
                f"{plan.distro_keys[0][1]} in the knowledge base; matched upstream")
    if not plan.upstream and (plan.purl_keys or plan.cpes):
        return f"{label}: no upstream version known; not matched"
    return None


def _match_plan(plan: _Plan, osv: dict, cpes: dict, ids_of: dict, memo: _Memo
                ) -> list[RawMatch]:
    """Matches for one plan (component index 0; the caller sets the real one)."""
    out: list[RawMatch] = []
    distro_rows = [(k, r) for k in plan.distro_keys for r in osv.get(k, [])]
    if distro_rows and plan.distro_version:
        for (eco, name), r in distro_rows:
            detail = memo.in_osv(plan.distro_version, r, eco)
            if detail is not None:
                out.append(RawMatch(0, r.source, r.vuln_id, "distro", plan.distro_version,
                                    detail, eco, name))
        return out
    if not plan.upstream:
        return out
    decided: set[str] = set()
    for eco, name in plan.purl_keys:
        for r in osv.get((eco, name), []):
            if memo.is_decisive(r.ranges):
                decided |= {a.upper() for a in ids_of.get((r.source, r.vuln_id),
                                                          {r.vuln_id})}
            detail = memo.in_osv(plan.upstream, r, eco)
            if detail is not None:
                out.append(RawMatch(0, r.source, r.vuln_id, "purl", plan.upstream, detail,
                                    eco, name))
    for pair in plan.cpes:
        for r in cpes.get(pair, []):
            if r.vuln_id.upper() in decided:
                continue
            detail = memo.in_cpe(plan.upstream, r)
            if detail is not None:
                out.append(RawMatch(0, r.source, r.vuln_id, "cpe", plan.upstream, detail,
                                    cpe=r.criteria))
    return out


def match_components(store: Store, components: Sequence[Component]) -> MatchResult:
    """Every (component, record) pair whose published range holds, with the reason."""
    result = MatchResult()
    plans = [plan_for(c) for c in components]
    osv = _affected_rows(store, (k for p in plans for k in p.distro_keys + p.purl_keys))
    cpes = _cpe_rows(store, (pair for p in plans for pair in p.cpes))
    memo = _Memo()
    decided_keys = {(r.source, r.vuln_id) for p in plans for k in p.purl_keys
                    for r in osv.get(k, []) if memo.is_decisive(r.ranges)}
    ids_of = aliases_of(store, decided_keys)
    notes: set[str] = set()

    done: dict[tuple, list[RawMatch]] = {}
    for i, (c, plan) in enumerate(zip(components, plans, strict=True)):
        label = f"{c.name}@{c.version}" if c.version else c.name
        note = _plan_note(plan, osv, label)
        if note:
            notes.add(note)
        key = plan.key()
        if key not in done:  # components with the same identity and version match alike
            done[key] = _match_plan(plan, osv, cpes, ids_of, memo)
        result.matches.extend(replace(m, component=i) for m in done[key])
    result.notes = sorted(notes)
    return result
