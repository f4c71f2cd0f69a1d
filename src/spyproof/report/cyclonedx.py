"""CycloneDX 1.6 JSON SBOM of a report, built with cyclonedx-python-lib.

The image is the BOM's metadata component (type firmware, SHA-256 and SHA-512); every
identified component carries its purl, CPE, how it was found (CycloneDX
``evidence.identity`` with the analysis technique and confidence) and where
(``evidence.occurrences``: the file, and the offset or line of the match). spyproof's own
facts without a CycloneDX field are ``spyproof:*`` properties.

Deterministic: the serial number is derived from the image digest and spyproof's version,
bom-refs from each component's identity, and the only timestamp is the report's
``generated_at``. Serialising the same report twice gives the same bytes.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterable
from datetime import UTC, datetime
from decimal import Decimal

from cyclonedx.model import HashAlgorithm, HashType, Property
from cyclonedx.model.bom import Bom, BomMetaData
from cyclonedx.model.component import Component as CdxComponent
from cyclonedx.model.component import ComponentType
from cyclonedx.model.component_evidence import (
    AnalysisTechnique,
    ComponentEvidence,
    Identity,
    IdentityField,
    Method,
    Occurrence,
)
from cyclonedx.output import make_outputter
from cyclonedx.schema import OutputFormat, SchemaVersion

from spyproof.models import Component, Report
from spyproof.purl import parse_purl

SCHEMA_VERSION = SchemaVersion.V1_6
IMAGE_REF = "spyproof:image"
PROPERTY_PREFIX = "spyproof:"

_TECHNIQUE = {
    "package-db": AnalysisTechnique.MANIFEST_ANALYSIS,
    "fingerprint": AnalysisTechnique.BINARY_ANALYSIS,
}
_TYPE = {
    "linux_kernel": ComponentType.OPERATING_SYSTEM,
    "u-boot": ComponentType.FIRMWARE,
}
# CPE 2.3 formatted string (NISTIR 7695 §6.2), as the SPDX and CycloneDX tools check it.
CPE23_RE = re.compile(
    r"""^cpe:2\.3:[aho\*\-](:(((\?*|\*?)([a-zA-Z0-9\-\._]|(\\[\\\*\?!"#$%&'\(\)\+,/:;<=>@\[\]"""
    r"""\^`\{\|}~]))+(\?*|\*?))|[\*\-])){5}(:(([a-zA-Z]{2,3}(-([a-zA-Z]{2}|[0-9]{3}))?)"""
    r"""|[\*\-]))(:(((\?*|\*?)([a-zA-Z0-9\-\._]|(\\[\\\*\?!"#$%&'\(\)\+,/:;<=>@\[\]\^`\{\|}"""
    r"""~]))+(\?*|\*?))|[\*\-])){4}$""")


def serial_number(report: Report) -> uuid.UUID:
    """uuid5 of the image's sha256 and spyproof's version: same input, same serial."""
    return uuid.uuid5(uuid.NAMESPACE_URL,
                      f"https://spyproof.dev/cyclonedx/{report.image.sha256}/"
                      f"{report.tool.version}")


def parse_timestamp(value: str) -> datetime:
    """The report's generated_at (ISO 8601, UTC) as an aware datetime, whole seconds."""
    ts = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if ts.tzinfo is None:
        ts = ts.replace(tzinfo=UTC)
    return ts.astimezone(UTC).replace(microsecond=0)


def valid_cpe(cpe: str | None) -> str | None:
    return cpe if cpe and CPE23_RE.match(cpe) else None


def sort_key(c: Component) -> tuple[str, str, str, str, str]:
    return (c.name, c.version or "", c.purl or "", c.package or "", c.method)


def component_refs(components: Iterable[Component]) -> list[tuple[Component, str]]:
    """Components in output order with unique, deterministic references.

    A reference is the (valid) purl when there is one, else ``name@version``; a component that
    shares it with an earlier one (one package shipping two products, two copies of one
    library) gets ``#<product name>`` (when the reference does not already name it) or
    ``#2``, ``#3`` … appended.
    """
    out: list[tuple[Component, str]] = []
    used: set[str] = set()
    for c in sorted(components, key=sort_key):
        purl = parse_purl(c.purl)
        base = purl.to_string() if purl else (
            f"{c.name}@{c.version}" if c.version else c.name)
        ref = base
        if ref in used and c.name not in base:
            ref = f"{base}#{c.name}"
        n = 2
        while ref in used:
            ref = f"{base}#{n}"
            n += 1
        used.add(ref)
        out.append((c, ref))
    return out


def _file_hashes(report: Report) -> dict[str, str]:
    return {f"{f.tree}/{f.path}": f.sha256 for f in report.files if f.sha256}


def _occurrences(c: Component) -> list[Occurrence]:
    occ: list[Occurrence] = []
    seen: set[str] = set()
    for ev in c.evidence:
        location = f"{ev.tree}/{ev.path}"
        seen.add(location)
        occ.append(Occurrence(location=location, offset=ev.offset, line=ev.line,
                              additional_context=ev.text))
    for location in [*c.files, *c.static_in]:
        if location not in seen:
            seen.add(location)
            occ.append(Occurrence(location=location))
    return occ


def _identity(c: Component) -> list[Identity]:
    confidence = Decimal(str(c.confidence))
    technique = _TECHNIQUE.get(c.method, AnalysisTechnique.OTHER)
    return [Identity(
        field=IdentityField.PURL if c.purl else IdentityField.NAME,
        confidence=confidence,
        concluded_value=c.purl or c.name,
        methods=[Method(technique=technique, confidence=confidence,
                        value=c.method)])]


def _properties(c: Component) -> list[Property]:
    props = [Property(name=f"{PROPERTY_PREFIX}method", value=c.method),
             Property(name=f"{PROPERTY_PREFIX}confidence", value=str(c.confidence))]
    if c.package:
        props.append(Property(name=f"{PROPERTY_PREFIX}package", value=c.package))
    props.extend(Property(name=f"{PROPERTY_PREFIX}static_in", value=s) for s in c.static_in)
    if c.purl and parse_purl(c.purl) is None:
        props.append(Property(name=f"{PROPERTY_PREFIX}purl", value=c.purl))
    if c.cpe and valid_cpe(c.cpe) is None:
        props.append(Property(name=f"{PROPERTY_PREFIX}cpe", value=c.cpe))
    return props


def _cdx_component(c: Component, ref: str, hashes: dict[str, str]) -> CdxComponent:
    owned = sorted(set(c.files))
    digest = hashes.get(owned[0]) if len(owned) == 1 and not c.static_in else None
    return CdxComponent(
        name=c.name,
        version=c.version,
        type=_TYPE.get(c.name, ComponentType.LIBRARY),
        bom_ref=ref,
        purl=parse_purl(c.purl),
        cpe=valid_cpe(c.cpe),
        hashes=[HashType(alg=HashAlgorithm.SHA_256, content=digest)] if digest else None,
        properties=_properties(c),
        evidence=ComponentEvidence(identity=_identity(c), occurrences=_occurrences(c)),
    )


def build_bom(report: Report) -> Bom:
    """The cyclonedx-python-lib Bom for a report."""
    image = CdxComponent(
        name=report.image.name,
        type=ComponentType.FIRMWARE,
        bom_ref=IMAGE_REF,
        hashes=[HashType(alg=HashAlgorithm.SHA_256, content=report.image.sha256),
                HashType(alg=HashAlgorithm.SHA_512, content=report.image.sha512)],
        properties=[Property(name=f"{PROPERTY_PREFIX}image_size",
                             value=str(report.image.size))],
    )
    tool = CdxComponent(name=report.tool.name, version=report.tool.version,
                        type=ComponentType.APPLICATION, bom_ref="spyproof:tool")
    metadata = BomMetaData(component=image, timestamp=parse_timestamp(report.generated_at))
    metadata.tools.components.add(tool)
    bom = Bom(serial_number=serial_number(report), metadata=metadata)
    hashes = _file_hashes(report)
    comps = [_cdx_component(c, ref, hashes) for c, ref in component_refs(report.components)]
    for comp in comps:
        bom.components.add(comp)
    bom.register_dependency(image, comps)
    _add_vulnerabilities(bom, report)
    return bom


def _add_vulnerabilities(bom: Bom, report: Report) -> None:
    """The report's vulnerabilities as CycloneDX ``vulnerabilities`` (affects: bom-refs)."""
    from spyproof.report.cdx_vulns import cdx_vulnerabilities

    for vuln in cdx_vulnerabilities(report.vulnerabilities):
        bom.vulnerabilities.add(vuln)


def to_cyclonedx(report: Report) -> str:
    """CycloneDX 1.6 JSON text (sorted keys, two-space indent, trailing newline)."""
    bom = build_bom(report)
    outputter = make_outputter(bom, OutputFormat.JSON, SCHEMA_VERSION)
    doc = json.loads(outputter.output_as_string())
    normalise(doc)
    return json.dumps(doc, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def _occurrence_key(o: dict) -> tuple:
    return (o.get("location", ""), o.get("line", -1), o.get("offset", -1),
            o.get("additionalContext", ""), o.get("symbol", ""))


def normalise(doc: dict) -> None:
    """Put every list in a fixed order. The lib keeps them in sorted sets, but entries
    that differ only in unset fields (occurrences without a bom-ref, line or offset) do
    not sort the same way every run."""
    comps = doc.get("components", [])
    for c in comps:
        ev = c.get("evidence", {})
        if "occurrences" in ev:
            ev["occurrences"].sort(key=_occurrence_key)
        if "properties" in c:
            c["properties"].sort(key=lambda p: (p["name"], p.get("value", "")))
    comps.sort(key=lambda c: (c["name"], c.get("version", ""), c.get("purl", ""),
                              c["bom-ref"]))
    for v in doc.get("vulnerabilities", []):
        for key in ("ratings", "advisories", "references", "properties"):
            if key in v:
                v[key].sort(key=lambda x: json.dumps(x, sort_keys=True))
    doc.get("vulnerabilities", []).sort(key=lambda v: (v["id"], v["bom-ref"]))
    for dep in doc.get("dependencies", []):
        dep.get("dependsOn", []).sort()
    doc.get("dependencies", []).sort(key=lambda d: d["ref"])
