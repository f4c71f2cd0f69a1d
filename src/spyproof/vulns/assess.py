"""Turn raw matches into report vulnerabilities: one per (component, vulnerability).

Records that describe the same vulnerability (an OSV record and the NVD CVE it aliases,
several NVD configurations of one CVE) are merged; the CVE id names the result when there
is exactly one. Each vulnerability is enriched from the knowledge base with CVSS (v3.1 and
v4.0, scores computed from the vector when a feed gives only the vector), the CISA KEV
entry and the FIRST EPSS score, and carries the component evidence it rests on.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from cvss import CVSS3, CVSS4
from sqlalchemy import select, tuple_

from spyproof.models import (
    Component,
    Cvss,
    EpssScore,
    KevEntry,
    MatchBasis,
    Vulnerability,
)
from spyproof.vulns.matcher import RawMatch, aliases_of, chunks, is_cve, match_components
from spyproof.vulns.store import Store, epss, kev, vulnerabilities

_SEVERITY_ORDER = {"none": 0, "info": 0, "low": 1, "medium": 2, "moderate": 2, "high": 3,
                   "important": 3, "critical": 4}


@dataclass
class Assessment:
    vulnerabilities: list[Vulnerability] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def _rows(store: Store, keys: Iterable[tuple[str, str]]) -> dict[tuple[str, str], Any]:
    wanted = sorted(set(keys))
    v = vulnerabilities
    out: dict[tuple[str, str], Any] = {}
    with store.engine.connect() as conn:
        for chunk in chunks(wanted):
            for r in conn.execute(select(v).where(tuple_(v.c.source, v.c.id).in_(chunk))):
                out[(r.source, r.id)] = r
    return out


def _by_cve(store: Store, table: Any, cves: Iterable[str]) -> dict[str, Any]:
    wanted = sorted(set(cves))
    out: dict[str, Any] = {}
    with store.engine.connect() as conn:
        for chunk in chunks(wanted):
            for r in conn.execute(select(table).where(table.c.cve.in_(chunk))):
                out[r.cve] = r
    return out


def canonical_id(record_id: str, names: Iterable[str]) -> str:
    """The CVE id when the record is one or aliases exactly one, else the record id."""
    if is_cve(record_id):
        return record_id.upper()
    cves = sorted({n.upper() for n in names if is_cve(n)})
    return cves[0] if len(cves) == 1 else record_id


def score_vector(version: str, vector: str) -> tuple[float | None, str | None]:
    """Base score and qualitative severity of a CVSS vector (None when it does not parse)."""
    try:
        if version == "4.0":
            c4 = CVSS4(vector)
            return float(c4.base_score), str(c4.severity).lower()
        c3 = CVSS3(vector)
        return float(c3.base_score), str(c3.severities()[0]).lower()
    except Exception:  # the cvss library raises its own errors for malformed vectors
        return None, None


def _cvss_of(row: Any) -> list[Cvss]:
    out = []
    for version, vec, score in (("3.1", row.cvss_v31_vector, row.cvss_v31_score),
                                ("4.0", row.cvss_v40_vector, row.cvss_v40_score)):
        if not vec:
            continue
        computed, severity = score_vector(version, vec)
        out.append(Cvss(version=version, vector=vec,
                        score=score if score is not None else computed,
                        severity=severity, source=f"{row.source}:{row.id}"))
    return out


def _references(row: Any) -> list[str]:
    raw = row.raw if isinstance(row.raw, dict) else {}
    urls = []
    for ref in raw.get("references") or []:
        if isinstance(ref, dict) and isinstance(ref.get("url"), str):
            urls.append(ref["url"])
    return urls


def _severity(cvss: list[Cvss], rows: list[Any]) -> str | None:
    names = [c.severity for c in cvss if c.severity] + [r.severity for r in rows
                                                         if r.severity]
    known = [n for n in names if n in _SEVERITY_ORDER]
    return max(known, key=lambda n: _SEVERITY_ORDER[n]) if known else None


def _basis(m: RawMatch) -> MatchBasis:
    return MatchBasis(method=m.method, record=f"{m.source}:{m.vuln_id}",
                      ecosystem=m.ecosystem, package=m.package, cpe=m.cpe,
                      version=m.version, range=m.detail.range)


def _iso_date(value: Any) -> str | None:
    return None if value is None else value.isoformat()


def assess(store: Store, components: Sequence[Component], refs: Sequence[str], *,
           sample_origin: str | None = None) -> Assessment:
    """Vulnerabilities of ``components`` (``refs[i]`` is the bom-ref of component i).

    ``sample_origin`` is the path prefix of spyproof's bundled sample feed: a
    vulnerability resting only on records from there is marked ``sample``.
    """
    result = match_components(store, components)
    out = Assessment(notes=list(result.notes))
    keys = {(m.source, m.vuln_id) for m in result.matches}
    rows = _rows(store, keys)
    names = aliases_of(store, keys)

    groups: dict[tuple[int, str], list[RawMatch]] = defaultdict(list)
    withdrawn: set[str] = set()
    for m in result.matches:
        row = rows.get((m.source, m.vuln_id))
        if row is None:
            continue
        if row.withdrawn is not None:
            withdrawn.add(f"{m.source}:{m.vuln_id}")
            continue
        groups[(m.component, canonical_id(m.vuln_id, names[(m.source, m.vuln_id)]))
               ].append(m)
    if withdrawn:
        out.notes.append(f"{len(withdrawn)} matching record(s) withdrawn or rejected by "
                         f"their feed, not reported: {', '.join(sorted(withdrawn))}")

    all_cves = {vid.upper() for (_, vid) in groups if is_cve(vid)}
    for key in keys:
        all_cves |= {a.upper() for a in names.get(key, ()) if is_cve(a)}
    nvd_rows = _rows(store, (("nvd", c) for c in all_cves))
    kev_rows = _by_cve(store, kev, all_cves)
    epss_rows = _by_cve(store, epss, all_cves)

    for (ci, vid), ms in groups.items():
        c = components[ci]
        recs = sorted({(m.source, m.vuln_id) for m in ms})
        rec_rows = [rows[k] for k in recs]
        alias_set = set().union(*(names[k] for k in recs)) - {vid}
        cves = sorted({a.upper() for a in alias_set | {vid} if is_cve(a)})
        extra = [nvd_rows[("nvd", cve)] for cve in cves
                 if ("nvd", cve) in nvd_rows and ("nvd", cve) not in recs]
        cvss: dict[tuple[str, str], Cvss] = {}
        for row in rec_rows + extra:
            for item in _cvss_of(row):
                cvss.setdefault((item.version, item.vector), item)
        cvss_list = sorted(cvss.values(), key=lambda x: (x.version, x.source, x.vector))
        k = next((kev_rows[x] for x in cves if x in kev_rows), None)
        e = next((epss_rows[x] for x in cves if x in epss_rows), None)
        summary = next((r.summary for r in rec_rows + extra if r.summary), None)
        published = min((r.published for r in rec_rows + extra if r.published), default=None)
        origins = [r.origin or "" for r in rec_rows]
        out.vulnerabilities.append(Vulnerability(
            id=vid,
            aliases=sorted(alias_set),
            records=[f"{s}:{i}" for s, i in recs],
            summary=summary,
            published=published.date().isoformat() if published else None,
            severity=_severity(cvss_list, rec_rows + extra),
            cvss=cvss_list,
            kev=KevEntry(date_added=k.date_added.isoformat(), due_date=_iso_date(k.due_date),
                         ransomware=k.ransomware, name=k.name) if k else None,
            epss=EpssScore(score=e.score, percentile=e.percentile,
                           date=e.date.isoformat()) if e else None,
            component=refs[ci],
            component_name=c.name,
            component_version=c.version,
            matched=sorted({_basis(m).model_dump_json(): _basis(m) for m in ms}.values(),
                           key=lambda b: (b.method, b.record, b.cpe or "", b.range)),
            fixed=sorted({m.detail.fixed for m in ms if m.detail.fixed}),
            references=sorted({u for r in rec_rows + extra for u in _references(r)}),
            evidence=list(c.evidence),
            sample=bool(sample_origin) and all(o.startswith(sample_origin)
                                               for o in origins),
        ))
    out.vulnerabilities.sort(key=lambda v: (v.component, v.id))
    return out
