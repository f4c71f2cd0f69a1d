"""The standalone CycloneDX VEX document (``vex.cdx.json``) of a report.

It carries only vulnerabilities; ``affects`` points into the SBOM with BOM-Links
(``urn:cdx:<sbom serial>/1#<bom-ref>``), so triage can be exchanged and re-applied without
resending the SBOM (``spyproof scan --vex`` reads it back). Deterministic like the SBOM:
the serial derives from the SBOM's, the only timestamp is the report's.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path

from cyclonedx.model.bom import Bom, BomMetaData
from cyclonedx.model.component import Component as CdxComponent
from cyclonedx.model.component import ComponentType
from cyclonedx.output import make_outputter
from cyclonedx.schema import OutputFormat

from spyproof.models import Report
from spyproof.report.cdx_vulns import cdx_vulnerabilities
from spyproof.report.cyclonedx import (
    SCHEMA_VERSION,
    normalise,
    parse_timestamp,
    serial_number,
)
from spyproof.report.writer import write_text_atomic


def bom_link(report: Report, ref: str) -> str:
    """CycloneDX BOM-Link to a component of the report's SBOM (version 1)."""
    return f"urn:cdx:{serial_number(report)}/1#{ref}"


def to_vex(report: Report) -> str:
    """CycloneDX 1.6 JSON VEX text (sorted keys, trailing newline)."""
    tool = CdxComponent(name=report.tool.name, version=report.tool.version,
                        type=ComponentType.APPLICATION, bom_ref="spyproof:tool")
    metadata = BomMetaData(timestamp=parse_timestamp(report.generated_at))
    metadata.tools.components.add(tool)
    bom = Bom(serial_number=uuid.uuid5(serial_number(report), "vex"), metadata=metadata)
    for vuln in cdx_vulnerabilities(report.vulnerabilities, lambda r: bom_link(report, r)):
        bom.vulnerabilities.add(vuln)
    doc = json.loads(make_outputter(bom, OutputFormat.JSON, SCHEMA_VERSION)
                     .output_as_string())
    normalise(doc)
    return json.dumps(doc, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def write_vex(report: Report, path: Path) -> None:
    write_text_atomic(path, to_vex(report))
