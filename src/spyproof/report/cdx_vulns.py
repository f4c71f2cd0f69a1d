"""spyproof vulnerabilities as cyclonedx-python-lib objects, for the SBOM and the VEX.

One CycloneDX vulnerability per (vulnerability, component): ``affects`` names the
component's bom-ref (or a BOM-Link to it, in the standalone VEX), ``ratings`` carry every
CVSS assessment with its source, ``analysis`` the VEX triage when there is one, and the
facts CycloneDX has no field for (KEV, EPSS, the range that matched, sample feed) are
``spyproof:*`` properties.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from decimal import Decimal

from cyclonedx.model import Property, XsUri
from cyclonedx.model.impact_analysis import (
    ImpactAnalysisAffectedStatus,
    ImpactAnalysisJustification,
    ImpactAnalysisResponse,
    ImpactAnalysisState,
)
from cyclonedx.model.vulnerability import (
    BomTarget,
    BomTargetVersionRange,
    VulnerabilityAdvisory,
    VulnerabilityAnalysis,
    VulnerabilityRating,
    VulnerabilityReference,
    VulnerabilityScoreSource,
    VulnerabilitySeverity,
    VulnerabilitySource,
)
from cyclonedx.model.vulnerability import Vulnerability as CdxVulnerability

from spyproof.models import Vulnerability
from spyproof.vulns.matcher import is_cve

PREFIX = "spyproof:"
_METHOD = {"3.1": VulnerabilityScoreSource.CVSS_V3_1, "4.0": VulnerabilityScoreSource.CVSS_V4}


def vuln_source(vid: str) -> VulnerabilitySource:
    """Where a vulnerability id is published."""
    if is_cve(vid):
        return VulnerabilitySource(name="NVD",
                                   url=XsUri(f"https://nvd.nist.gov/vuln/detail/{vid}"))
    return VulnerabilitySource(name="OSV", url=XsUri(f"https://osv.dev/vulnerability/{vid}"))


def _record_source(record: str) -> VulnerabilitySource:
    source, _, vid = record.partition(":")
    return VulnerabilitySource(name="NVD") if source == "nvd" else VulnerabilitySource(
        name="OSV", url=XsUri(f"https://osv.dev/vulnerability/{vid}"))


def _severity(name: str | None) -> VulnerabilitySeverity:
    try:
        return VulnerabilitySeverity(name) if name else VulnerabilitySeverity.UNKNOWN
    except ValueError:
        return VulnerabilitySeverity.UNKNOWN


def _enum(cls: type, value: str | None):  # noqa: ANN202 - any CycloneDX enum
    if value is None:
        return None
    try:
        return cls(value)
    except ValueError:
        return None


def _analysis(v: Vulnerability) -> VulnerabilityAnalysis | None:
    a = v.analysis
    if a is None:
        return None
    responses = [r for r in (_enum(ImpactAnalysisResponse, x) for x in a.response) if r]
    detail = a.detail
    free_text = [x for x in a.response if _enum(ImpactAnalysisResponse, x) is None]
    if free_text:
        detail = "; ".join(([detail] if detail else []) + free_text)
    return VulnerabilityAnalysis(
        state=_enum(ImpactAnalysisState, a.state),
        justification=_enum(ImpactAnalysisJustification, a.justification),
        responses=responses or None, detail=detail)


def _properties(v: Vulnerability) -> list[Property]:
    props = [Property(name=f"{PREFIX}counts", value=str(v.counts).lower())]
    if v.kev:
        props.append(Property(name=f"{PREFIX}kev:date_added", value=v.kev.date_added))
        if v.kev.ransomware:
            props.append(Property(name=f"{PREFIX}kev:ransomware", value="true"))
    if v.epss:
        props += [Property(name=f"{PREFIX}epss:score", value=f"{v.epss.score:.5f}"),
                  Property(name=f"{PREFIX}epss:percentile", value=f"{v.epss.percentile:.5f}"),
                  Property(name=f"{PREFIX}epss:date", value=v.epss.date)]
    for m in v.matched:
        what = m.cpe or f"{m.ecosystem}/{m.package}"
        props.append(Property(name=f"{PREFIX}matched",
                              value=f"{m.method} {m.record} {what} {m.version}: {m.range}"))
    if v.sample:
        props.append(Property(name=f"{PREFIX}sample", value="true"))
    if v.analysis:
        props.append(Property(name=f"{PREFIX}vex:source", value=v.analysis.source))
    return props


def cdx_vulnerability(v: Vulnerability, target: Callable[[str], str] = str
                      ) -> CdxVulnerability:
    """One vulnerability; ``target`` maps the component bom-ref to the ``affects`` ref."""
    ratings = [VulnerabilityRating(
        source=_record_source(c.source), score=Decimal(str(c.score)) if c.score is not None
        else None, severity=_severity(c.severity), method=_METHOD.get(c.version),
        vector=c.vector) for c in v.cvss]
    return CdxVulnerability(
        bom_ref=f"{v.id}#{v.component}",
        id=v.id,
        source=vuln_source(v.id),
        references=[VulnerabilityReference(id=a, source=vuln_source(a)) for a in v.aliases],
        ratings=ratings,
        description=v.summary,
        recommendation=(f"Upgrade {v.component_name} to a fixed version: "
                        f"{', '.join(v.fixed)}") if v.fixed else None,
        advisories=[VulnerabilityAdvisory(url=XsUri(u)) for u in v.references],
        analysis=_analysis(v),
        affects=[BomTarget(ref=target(v.component), versions=[BomTargetVersionRange(
            version=v.component_version, status=ImpactAnalysisAffectedStatus.AFFECTED)]
            if v.component_version else None)],
        properties=_properties(v),
    )


def cdx_vulnerabilities(vulns: Iterable[Vulnerability],
                        target: Callable[[str], str] = str) -> list[CdxVulnerability]:
    return [cdx_vulnerability(v, target) for v in vulns]
