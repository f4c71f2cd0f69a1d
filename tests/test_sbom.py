"""CycloneDX 1.6 and SPDX 2.3 output.

CycloneDX is checked with cyclonedx-python-lib's strict JSON validator. SPDX is checked
twice: against the SPDX 2.3 JSON schema that lib4sbom ships (lib4sbom/schemas/spdx/
2.3-schema.json, Apache-2.0, the schema published in the SPDX specification repository),
and with spdx-tools' own parser and semantic validator (SPDX ids, references, purl and
CPE syntax). The report under test is a trimmed copy of the demo image's report.json
(tests/data/demo-report.json: the ELF symbol lists cut to three names) plus synthetic
components, and one built from a real package database.
"""

from __future__ import annotations

import difflib
import json
import random
import re
import uuid
from importlib import resources
from pathlib import Path

import jsonschema
import pytest
from cyclonedx.schema import SchemaVersion
from cyclonedx.validation.json import JsonStrictValidator
from packageurl import PackageURL
from spdx_tools.spdx.parser.json import json_parser
from spdx_tools.spdx.validation.document_validator import validate_full_spdx_document

from spyproof.identify.packagedb import identify_from_package_dbs
from spyproof.models import Component, Evidence, Report
from spyproof.report.cyclonedx import to_cyclonedx
from spyproof.report.sbom import render_sbom, write_sbom
from spyproof.report.spdx import to_spdx
from test_packagedb import TREE, inventory, make_openwrt

DATA = Path(__file__).parent / "data"
ROOTFS = "acme-cpe5g-5.2.1.bin_extract/1638400-4714496.squashfs_v4_le_extract"
KERNEL_TREE = "acme-cpe5g-5.2.1.bin_extract/0-1573186.uimage_extract"
ODD_NAME = "we ird/na@me ü"
ODD_VERSION = "1.0 beta/ü@x"


def demo_report() -> Report:
    return Report.model_validate_json((DATA / "demo-report.json").read_text())


def file_sha(report: Report, tree: str, path: str) -> str:
    return next(f.sha256 for f in report.files if (f.tree, f.path) == (tree, path))


@pytest.fixture
def report() -> Report:
    r = demo_report()
    ssl_sha = file_sha(r, ROOTFS, "usr/lib/libssl.so.3")
    r.components = [
        Component(name="openssl", version="3.0.13-1",
                  purl="pkg:opkg/openwrt/libopenssl3@3.0.13-1?arch=mipsel_24kc",
                  cpe="cpe:2.3:a:openssl:openssl:3.0.13:*:*:*:*:*:*:*", method="package-db",
                  confidence=1.0, package="libopenssl3",
                  evidence=[Evidence(tree=ROOTFS, path="usr/lib/opkg/status", line=12,
                                     text="Package: libopenssl3", sha256="ab" * 32)],
                  files=[f"{ROOTFS}/usr/lib/libssl.so.3"]),
        Component(name="busybox", version="1.36.1", purl="pkg:generic/busybox@1.36.1",
                  cpe="cpe:2.3:a:busybox:busybox:1.36.1:*:*:*:*:*:*:*", method="fingerprint",
                  confidence=0.9,
                  evidence=[Evidence(tree=ROOTFS, path="bin/busybox", offset=901234,
                                     text="BusyBox v1.36.1 (2024-01-01 00:00:00 UTC)",
                                     sha256=file_sha(r, ROOTFS, "bin/busybox"))],
                  files=[f"{ROOTFS}/bin/busybox"]),
        Component(name="openssl", version="1.1.1k", purl="pkg:generic/openssl@1.1.1k",
                  cpe="cpe:2.3:a:openssl:openssl:1.1.1k:*:*:*:*:*:*:*", method="fingerprint",
                  confidence=0.8,
                  evidence=[Evidence(tree=ROOTFS, path="usr/bin/cloud-agent", offset=4096,
                                     text="OpenSSL 1.1.1k  25 Mar 2021")],
                  files=[f"{ROOTFS}/usr/bin/cloud-agent"],
                  static_in=[f"{ROOTFS}/usr/bin/cloud-agent"]),
        Component(name="linux_kernel", version="5.15.150", purl="pkg:generic/linux@5.15.150",
                  cpe="cpe:2.3:o:linux:linux_kernel:5.15.150:*:*:*:*:*:*:*",
                  method="fingerprint", confidence=0.95,
                  evidence=[Evidence(tree=KERNEL_TREE, path="kernel", offset=0x2000,
                                     text="Linux version 5.15.150")]),
        # One package, two products: the same purl twice.
        Component(name="hostapd", version="2023-09-08-e5ccbfc6-6",
                  purl="pkg:opkg/openwrt/wpad-basic-mbedtls@2023-09-08-e5ccbfc6-6",
                  method="package-db", confidence=1.0, package="wpad-basic-mbedtls"),
        Component(name="wpa_supplicant", version="2023-09-08-e5ccbfc6-6",
                  purl="pkg:opkg/openwrt/wpad-basic-mbedtls@2023-09-08-e5ccbfc6-6",
                  method="package-db", confidence=1.0, package="wpad-basic-mbedtls"),
        Component(name=ODD_NAME, version=ODD_VERSION,
                  purl=PackageURL(type="generic", namespace="a b/c", name=ODD_NAME,
                                  version=ODD_VERSION).to_string(),
                  method="fingerprint", confidence=0.5,
                  evidence=[Evidence(tree=ROOTFS, path="www/cgi-bin/login.cgi", line=3,
                                     text='"quotes" \\ and \x7f ünïcödé @/')]),
        # Not a valid purl nor CPE: kept as properties, never emitted as purl/cpe.
        Component(name="weird", version="1", purl="not a purl",
                  cpe="cpe:2.3:a:x:y:1 beta:*:*:*:*:*:*:*", method="fingerprint",
                  confidence=0.1),
        Component(name="bare", method="fingerprint", confidence=0.3),
        Component(name="bare", method="fingerprint", confidence=0.3),
    ]
    assert ssl_sha
    return r


# --- CycloneDX -------------------------------------------------------------------------


def cdx(report: Report) -> dict:
    text = to_cyclonedx(report)
    assert JsonStrictValidator(SchemaVersion.V1_6).validate_str(text) is None
    return json.loads(text)


def by_ref(bom: dict) -> dict[str, dict]:
    return {c["bom-ref"]: c for c in bom["components"]}


def test_cyclonedx_validates_strictly(report):
    bom = cdx(report)
    assert bom["specVersion"] == "1.6" and bom["bomFormat"] == "CycloneDX"
    assert len(bom["components"]) == len(report.components)


def test_cyclonedx_without_components_validates():
    bom = cdx(demo_report())
    assert bom.get("components", []) == []


def test_cyclonedx_metadata(report):
    bom = cdx(report)
    meta = bom["metadata"]
    image = meta["component"]
    assert image["type"] == "firmware" and image["name"] == report.image.name
    assert {h["alg"]: h["content"] for h in image["hashes"]} == {
        "SHA-256": report.image.sha256, "SHA-512": report.image.sha512}
    assert meta["timestamp"].replace("+00:00", "Z") == report.generated_at
    assert meta["tools"]["components"] == [{
        "bom-ref": "spyproof:tool", "name": "spyproof", "type": "application",
        "version": report.tool.version}]
    expected = uuid.uuid5(uuid.NAMESPACE_URL, f"https://spyproof.dev/cyclonedx/"
                          f"{report.image.sha256}/{report.tool.version}")
    assert bom["serialNumber"] == f"urn:uuid:{expected}"
    # The image depends on every component; every bom-ref is unique.
    refs = [c["bom-ref"] for c in bom["components"]]
    assert len(set(refs)) == len(refs)
    root = next(d for d in bom["dependencies"] if d["ref"] == image["bom-ref"])
    assert sorted(root["dependsOn"]) == sorted(refs)


def test_cyclonedx_evidence_and_properties(report):
    comps = by_ref(cdx(report))
    bb = comps["pkg:generic/busybox@1.36.1"]
    [occ] = bb["evidence"]["occurrences"]
    assert occ == {"location": f"{ROOTFS}/bin/busybox", "offset": 901234,
                   "additionalContext": "BusyBox v1.36.1 (2024-01-01 00:00:00 UTC)"}
    [ident] = bb["evidence"]["identity"]
    assert ident["field"] == "purl" and ident["confidence"] == 0.9
    assert ident["methods"] == [{"technique": "binary-analysis", "confidence": 0.9,
                                 "value": "fingerprint"}]
    assert bb["hashes"] == [{"alg": "SHA-256",
                             "content": file_sha(report, ROOTFS, "bin/busybox")}]
    assert bb["cpe"] == "cpe:2.3:a:busybox:busybox:1.36.1:*:*:*:*:*:*:*"

    ssl = comps["pkg:opkg/openwrt/libopenssl3@3.0.13-1?arch=mipsel_24kc"]
    occ = {o["location"]: o for o in ssl["evidence"]["occurrences"]}
    assert occ[f"{ROOTFS}/usr/lib/opkg/status"] == {
        "location": f"{ROOTFS}/usr/lib/opkg/status", "line": 12,
        "additionalContext": "Package: libopenssl3"}
    assert occ[f"{ROOTFS}/usr/lib/libssl.so.3"] == {"location": f"{ROOTFS}/usr/lib/libssl.so.3"}
    assert ssl["evidence"]["identity"][0]["methods"][0]["technique"] == "manifest-analysis"
    props = {(p["name"], p["value"]) for p in ssl["properties"]}
    assert props == {("spyproof:method", "package-db"), ("spyproof:confidence", "1.0"),
                     ("spyproof:package", "libopenssl3")}

    static = comps["pkg:generic/openssl@1.1.1k"]
    assert ("spyproof:static_in", f"{ROOTFS}/usr/bin/cloud-agent") in {
        (p["name"], p["value"]) for p in static["properties"]}
    assert "hashes" not in static  # the binary is not the component
    assert static["evidence"]["occurrences"][0]["offset"] == 4096

    kernel = comps["pkg:generic/linux@5.15.150"]
    assert kernel["type"] == "operating-system"
    assert kernel["evidence"]["occurrences"] == [{
        "location": f"{KERNEL_TREE}/kernel", "offset": 0x2000,
        "additionalContext": "Linux version 5.15.150"}]

    wpad = "pkg:opkg/openwrt/wpad-basic-mbedtls@2023-09-08-e5ccbfc6-6"
    assert comps[wpad]["name"] == "hostapd"
    assert comps[f"{wpad}#wpa_supplicant"]["name"] == "wpa_supplicant"
    assert comps["bare"]["name"] == comps["bare#2"]["name"] == "bare"

    weird = comps["weird@1"]
    assert "purl" not in weird and "cpe" not in weird
    assert {("spyproof:purl", "not a purl"),
            ("spyproof:cpe", "cpe:2.3:a:x:y:1 beta:*:*:*:*:*:*:*")} <= {
        (p["name"], p["value"]) for p in weird["properties"]}


def test_odd_names_survive(report):
    bom = cdx(report)
    [odd] = [c for c in bom["components"] if c["name"] == ODD_NAME]
    assert odd["version"] == ODD_VERSION
    # packageurl-python leaves '/' in a name unencoded, so only the text round-trips.
    [mine] = [c for c in report.components if c.name == ODD_NAME]
    assert odd["purl"] == mine.purl
    assert odd["evidence"]["occurrences"][0]["additionalContext"] == \
        '"quotes" \\ and \x7f ünïcödé @/'
    doc = spdx(report)
    [pkg] = [p for p in doc["packages"] if p["name"] == ODD_NAME]
    assert pkg["versionInfo"] == ODD_VERSION


def test_cyclonedx_is_deterministic(report):
    first = to_cyclonedx(report)
    assert to_cyclonedx(report) == first
    shuffled = report.model_copy(deep=True)
    random.Random(7).shuffle(shuffled.components)
    assert to_cyclonedx(shuffled) == first
    assert to_cyclonedx(Report.model_validate_json(report.model_dump_json())) == first
    # Another scan of the same image differs in the timestamp line only.
    later = report.model_copy(update={"generated_at": "2030-01-02T03:04:05Z"})
    diff = [line for line in difflib.unified_diff(first.splitlines(),
                                                  to_cyclonedx(later).splitlines(),
                                                  lineterm="", n=0)
            if line[:1] in "+-" and not line.startswith(("+++", "---"))]
    assert diff == [f'-    "timestamp": "{report.generated_at[:-1]}+00:00",',
                    '+    "timestamp": "2030-01-02T03:04:05+00:00",']


# --- SPDX ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def spdx_schema() -> dict:
    return json.loads(resources.files("lib4sbom").joinpath(
        "schemas/spdx/2.3-schema.json").read_text(encoding="utf-8"))


def spdx(report: Report, schema: dict | None = None, tmp: Path | None = None) -> dict:
    text = to_spdx(report)
    doc = json.loads(text)
    if schema is not None:
        jsonschema.validators.validator_for(schema)(schema).validate(doc)
    if tmp is not None:
        path = tmp / "sbom.spdx.json"
        path.write_text(text, encoding="utf-8")
        assert validate_full_spdx_document(json_parser.parse_from_file(str(path))) == []
    # The stricter patterns of the SPDX 2.3.1 schema.
    assert all(re.fullmatch(r"SPDXRef-[A-Za-z0-9.-]+", p["SPDXID"]) for p in doc["packages"])
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", doc["creationInfo"]["created"])
    return doc


def test_spdx_validates(report, spdx_schema, tmp_path):
    doc = spdx(report, spdx_schema, tmp_path)
    assert doc["spdxVersion"] == "SPDX-2.3" and doc["dataLicense"] == "CC0-1.0"
    assert doc["creationInfo"] == {"created": report.generated_at,
                                   "creators": [f"Tool: spyproof-{report.tool.version}"]}
    assert doc["documentNamespace"] == (f"https://spyproof.dev/spdx/{report.image.sha256}-"
                                        f"{report.tool.version}")


def test_spdx_without_components_validates(spdx_schema, tmp_path):
    doc = spdx(demo_report(), spdx_schema, tmp_path)
    assert [p["SPDXID"] for p in doc["packages"]] == ["SPDXRef-Image"]


def test_spdx_packages_and_relationships(report, spdx_schema):
    doc = spdx(report, spdx_schema)
    image, *pkgs = doc["packages"]
    assert image["SPDXID"] == "SPDXRef-Image" and image["primaryPackagePurpose"] == "FIRMWARE"
    assert image["checksums"] == [
        {"algorithm": "SHA256", "checksumValue": report.image.sha256},
        {"algorithm": "SHA512", "checksumValue": report.image.sha512}]
    ids = [p["SPDXID"] for p in pkgs]
    assert len(set(ids)) == len(ids) == len(report.components)
    assert doc["relationships"][0] == {"spdxElementId": "SPDXRef-DOCUMENT",
                                       "relationshipType": "DESCRIBES",
                                       "relatedSpdxElement": "SPDXRef-Image"}
    assert sorted(r["relatedSpdxElement"] for r in doc["relationships"][1:]) == sorted(ids)
    assert all(r["relationshipType"] == "CONTAINS" and r["spdxElementId"] == "SPDXRef-Image"
               for r in doc["relationships"][1:])
    [ssl] = [p for p in pkgs if p.get("versionInfo") == "3.0.13-1"]
    assert ssl["externalRefs"] == [
        {"referenceCategory": "PACKAGE-MANAGER", "referenceType": "purl",
         "referenceLocator": "pkg:opkg/openwrt/libopenssl3@3.0.13-1?arch=mipsel_24kc"},
        {"referenceCategory": "SECURITY", "referenceType": "cpe23Type",
         "referenceLocator": "cpe:2.3:a:openssl:openssl:3.0.13:*:*:*:*:*:*:*"}]
    assert ssl["downloadLocation"] == "NOASSERTION" and ssl["filesAnalyzed"] is False
    assert "usr/lib/opkg/status line 12" in ssl["comment"]
    [weird] = [p for p in pkgs if p["name"] == "weird"]
    assert "externalRefs" not in weird


def test_spdx_is_deterministic(report):
    first = to_spdx(report)
    shuffled = report.model_copy(deep=True)
    random.Random(3).shuffle(shuffled.components)
    assert to_spdx(shuffled) == first == to_spdx(report)


# --- from a real package database to both formats --------------------------------------


def test_package_db_components_to_sboms(tmp_path, spdx_schema):
    root = make_openwrt(tmp_path / "rootfs")
    r = demo_report()
    r.components = identify_from_package_dbs(TREE, root, inventory(root))
    assert len(r.components) > 5
    bom = cdx(r)
    assert len(bom["components"]) == len(r.components)
    doc = spdx(r, spdx_schema, tmp_path)
    assert len(doc["packages"]) == len(r.components) + 1


# --- writing ---------------------------------------------------------------------------


def test_write_sbom(report, tmp_path):
    write_sbom(report, tmp_path / "sbom.cdx.json")
    write_sbom(report, tmp_path / "sbom.spdx.json", fmt="spdx")
    assert (tmp_path / "sbom.cdx.json").read_text() == to_cyclonedx(report)
    assert (tmp_path / "sbom.spdx.json").read_text() == to_spdx(report)
    assert render_sbom(report, "spdx") == to_spdx(report)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["sbom.cdx.json", "sbom.spdx.json"]
    with pytest.raises(ValueError, match="unknown SBOM format"):
        write_sbom(report, tmp_path / "x.json", fmt="xml")  # type: ignore[arg-type]
    assert not (tmp_path / "x.json").exists()


def test_same_bytes_across_processes(report, tmp_path):
    """Set and dict orders change with the hash seed; the SBOMs must not."""
    import subprocess
    import sys

    src = tmp_path / "report.json"
    src.write_text(report.model_dump_json())
    code = ("import sys, hashlib; from pathlib import Path; from spyproof.models import Report;"
            "from spyproof.report.sbom import render_sbom;"
            "r = Report.model_validate_json(Path(sys.argv[1]).read_text());"
            "print(hashlib.sha256((render_sbom(r, 'cyclonedx') + render_sbom(r, 'spdx'))"
            ".encode()).hexdigest())")
    digests = {
        subprocess.run([sys.executable, "-c", code, str(src)], check=True, text=True,
                       capture_output=True, env={"PYTHONHASHSEED": seed}).stdout
        for seed in ("1", "2")}
    assert len(digests) == 1
