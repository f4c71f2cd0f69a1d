"""SPDX 2.3 JSON SBOM of a report.

One package for the image (primary purpose FIRMWARE, with its SHA-256 and SHA-512), which
the document DESCRIBES and which CONTAINS one package per identified component. A
component's purl is a PACKAGE-MANAGER external reference, its CPE a SECURITY ``cpe23Type``
one; how and where spyproof found it goes into the package comment. Nothing is claimed
that spyproof did not establish: download locations and licences are NOASSERTION or
absent, and files are not analysed.

Deterministic like the CycloneDX output: the namespace comes from the image digest and
spyproof's version, SPDX ids from the components' identities, and the only timestamp is the
report's ``generated_at``.
"""

from __future__ import annotations

import hashlib
import json
import re
from urllib.parse import quote

from spyproof.models import Component, Report
from spyproof.purl import parse_purl
from spyproof.report.cyclonedx import component_refs, parse_timestamp, valid_cpe

SPDX_VERSION = "SPDX-2.3"
NAMESPACE_BASE = "https://spyproof.dev/spdx/"
IMAGE_ID = "SPDXRef-Image"

_PURPOSE = {"linux_kernel": "OPERATING_SYSTEM", "u-boot": "FIRMWARE"}  # JSON spelling


def document_namespace(report: Report) -> str:
    return f"{NAMESPACE_BASE}{report.image.sha256}-{quote(report.tool.version, safe='')}"


def spdx_id(name: str, ref: str) -> str:
    """``SPDXRef-Package-<name>-<12 hex of the reference>``: only letters, digits, '.', '-'."""
    safe = re.sub(r"[^A-Za-z0-9.]+", "-", name).strip("-")[:48] or "component"
    return f"SPDXRef-Package-{safe}-{hashlib.sha256(ref.encode()).hexdigest()[:12]}"


def _comment(c: Component) -> str:
    parts = [f"Identified by spyproof ({c.method}, confidence {c.confidence})."]
    if c.package:
        parts.append(f"Package: {c.package}.")
    for ev in c.evidence:
        where = f"{ev.tree}/{ev.path}"
        if ev.line is not None:
            where += f" line {ev.line}"
        if ev.offset is not None:
            where += f" offset {ev.offset}"
        parts.append(f"Evidence: {where}" + (f": {ev.text}" if ev.text else "") + ".")
    if c.static_in:
        parts.append("Statically linked into: " + ", ".join(c.static_in) + ".")
    return " ".join(parts)


def _package(c: Component, ref: str, hashes: dict[str, str]) -> dict:
    pkg: dict = {
        "SPDXID": spdx_id(c.name, ref),
        "name": c.name,
        "downloadLocation": "NOASSERTION",
        "filesAnalyzed": False,
        "primaryPackagePurpose": _PURPOSE.get(c.name, "LIBRARY"),
        "comment": _comment(c),
    }
    if c.version:
        pkg["versionInfo"] = c.version
    refs = []
    purl = parse_purl(c.purl)
    if purl is not None:
        refs.append({"referenceCategory": "PACKAGE-MANAGER", "referenceType": "purl",
                     "referenceLocator": purl.to_string()})
    cpe = valid_cpe(c.cpe)
    if cpe is not None:
        refs.append({"referenceCategory": "SECURITY", "referenceType": "cpe23Type",
                     "referenceLocator": cpe})
    if refs:
        pkg["externalRefs"] = refs
    owned = sorted(set(c.files))
    digest = hashes.get(owned[0]) if len(owned) == 1 and not c.static_in else None
    if digest:
        pkg["checksums"] = [{"algorithm": "SHA256", "checksumValue": digest}]
    return pkg


def build_document(report: Report) -> dict:
    version = report.tool.version
    created = parse_timestamp(report.generated_at).strftime("%Y-%m-%dT%H:%M:%SZ")
    image = {
        "SPDXID": IMAGE_ID,
        "name": report.image.name,
        "downloadLocation": "NOASSERTION",
        "filesAnalyzed": False,
        "primaryPackagePurpose": "FIRMWARE",
        "checksums": [
            {"algorithm": "SHA256", "checksumValue": report.image.sha256},
            {"algorithm": "SHA512", "checksumValue": report.image.sha512},
        ],
        "comment": f"Firmware image, {report.image.size} bytes.",
    }
    hashes = {f"{f.tree}/{f.path}": f.sha256 for f in report.files if f.sha256}
    packages = [_package(c, ref, hashes) for c, ref in component_refs(report.components)]
    relationships = [{"spdxElementId": "SPDXRef-DOCUMENT", "relationshipType": "DESCRIBES",
                      "relatedSpdxElement": IMAGE_ID}]
    relationships += [{"spdxElementId": IMAGE_ID, "relationshipType": "CONTAINS",
                       "relatedSpdxElement": p["SPDXID"]} for p in packages]
    return {
        "spdxVersion": SPDX_VERSION,
        "dataLicense": "CC0-1.0",
        "SPDXID": "SPDXRef-DOCUMENT",
        "name": f"spyproof SBOM of {report.image.name}",
        "documentNamespace": document_namespace(report),
        "creationInfo": {"created": created, "creators": [f"Tool: spyproof-{version}"]},
        "packages": [image, *packages],
        "relationships": relationships,
    }


def to_spdx(report: Report) -> str:
    """SPDX 2.3 JSON text (two-space indent, trailing newline)."""
    return json.dumps(build_document(report), indent=2, ensure_ascii=False) + "\n"
