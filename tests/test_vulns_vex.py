"""VEX input: CycloneDX 1.4–1.6 (JSON, XML) and OpenVEX 0.2.0, mappings, matching, bad input."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from spyproof.vulns import vex
from spyproof.vulns.vex import (
    VexError,
    VexStatement,
    excluded_from_decisions,
    find_statement,
    load_vex,
    load_vex_files,
)

DATA = Path(__file__).resolve().parent / "data" / "vex"
CDX14 = DATA / "cyclonedx-1.4-bov.json"
CDX15 = DATA / "cyclonedx-1.5-bomlink.json"
CDX16 = DATA / "cyclonedx-1.6-purl-refs.json"
CDX16_XML = DATA / "cyclonedx-1.6-purl-refs.xml"
OPENVEX = DATA / "openvex-0.2.0.json"
SBOM_SERIAL = "3e671687-395b-41f5-a30f-a58921a69b79"


# --------------------------------------------------------------------------- builders


def write(tmp_path: Path, doc: Any, name: str = "vex.json") -> Path:
    path = tmp_path / name
    path.write_text(doc if isinstance(doc, str) else json.dumps(doc), encoding="utf-8")
    return path


def cdx_doc(vulns: list, spec: str = "1.6", **extra) -> dict:
    return {"bomFormat": "CycloneDX", "specVersion": spec, "version": 1,
            "metadata": {"timestamp": "2024-01-01T00:00:00Z"}, **extra,
            "vulnerabilities": vulns}


def cdx_vuln(state: str = "not_affected", vid: str = "CVE-2024-0001",
             ref: str | None = "pkg:generic/busybox@1.36.1", **analysis) -> dict:
    v: dict = {"id": vid, "analysis": {"state": state, **analysis}}
    if ref is not None:
        v["affects"] = [{"ref": ref}]
    return v


def openvex_doc(statements: list, **extra) -> dict:
    return {"@context": "https://openvex.dev/ns/v0.2.0", "@id": "https://example.com/vex/1",
            "author": "tests", "timestamp": "2024-01-01T00:00:00Z", "version": 1, **extra,
            "statements": statements}


def ovx(status: str = "not_affected", name: str = "CVE-2024-0001",
        products: list | None = None, **fields) -> dict:
    s: dict = {"vulnerability": {"name": name}, "status": status, **fields}
    if status == "not_affected" and "justification" not in fields \
            and "impact_statement" not in fields:
        s["justification"] = "component_not_present"
    if status == "affected" and "action_statement" not in fields:
        s["action_statement"] = "update"
    if products is not None:
        s["products"] = [{"@id": p} if isinstance(p, str) else p for p in products]
    return s


def stmt(state: str = "not_affected", products: tuple[str, ...] = (), *,
         ids: tuple[str, ...] = ("CVE-2024-0001",), timestamp: str | None = None,
         justification: str | None = None, impact: str | None = None,
         versions: tuple[str, ...] = (), source: str = "t#/statements/0") -> VexStatement:
    return VexStatement(
        vuln_ids=frozenset(ids), products=products, state=state, justification=justification,
        original_status=state, original_justification=justification, detail=None,
        response=(), source=source, format="openvex", timestamp=timestamp,
        versions=versions, impact_statement=impact)


def only(doc: vex.VexDocument) -> VexStatement:
    assert len(doc.statements) == 1, doc.statements
    return doc.statements[0]


# --------------------------------------------------------------------------- mappings


@pytest.mark.parametrize("state", sorted(vex.CDX_STATES))
def test_cyclonedx_state_is_kept(tmp_path, state):
    s = only(load_vex(write(tmp_path, cdx_doc([cdx_vuln(state)]))))
    assert (s.state, s.original_status, s.format) == (state, state, "cyclonedx")


@pytest.mark.parametrize("justification", sorted(vex.CDX_JUSTIFICATIONS))
def test_cyclonedx_justification_is_kept(tmp_path, justification):
    doc = load_vex(write(tmp_path, cdx_doc([cdx_vuln(justification=justification)])))
    s = only(doc)
    assert (s.justification, s.original_justification) == (justification, justification)
    assert doc.warnings == []


@pytest.mark.parametrize(("status", "state"), [
    ("not_affected", "not_affected"),
    ("affected", "exploitable"),
    ("fixed", "resolved"),
    ("under_investigation", "in_triage"),
])
def test_openvex_status_mapping(tmp_path, status, state):
    s = only(load_vex(write(tmp_path, openvex_doc([ovx(status)]))))
    assert (s.state, s.original_status, s.format) == (state, status, "openvex")


@pytest.mark.parametrize(("label", "cdx"), [
    ("component_not_present", "code_not_present"),
    ("vulnerable_code_not_present", "code_not_present"),
    ("vulnerable_code_not_in_execute_path", "code_not_reachable"),
    ("vulnerable_code_cannot_be_controlled_by_adversary", "requires_environment"),
    ("inline_mitigations_already_exist", "protected_by_mitigating_control"),
])
def test_openvex_justification_mapping(tmp_path, label, cdx):
    s = only(load_vex(write(tmp_path, openvex_doc([ovx(justification=label)]))))
    assert (s.justification, s.original_justification) == (cdx, label)
    assert cdx in vex.CDX_JUSTIFICATIONS


def test_every_openvex_label_is_mapped():
    assert set(vex.OPENVEX_STATUSES.values()) <= vex.CDX_STATES
    assert set(vex.OPENVEX_JUSTIFICATIONS.values()) <= vex.CDX_JUSTIFICATIONS
    assert len(vex.OPENVEX_JUSTIFICATIONS) == 5


@pytest.mark.parametrize(("statement", "excluded"), [
    (stmt("not_affected", justification="code_not_present"), True),
    (stmt("not_affected", impact="the vulnerable function is never called"), True),
    (stmt("not_affected"), False),
    (stmt("false_positive"), True),
    (stmt("resolved"), True),
    (stmt("resolved_with_pedigree"), True),
    (stmt("exploitable"), False),
    (stmt("exploitable", justification="requires_configuration"), False),
    (stmt("in_triage"), False),
])
def test_excluded_from_decisions(statement, excluded):
    assert excluded_from_decisions(statement) is excluded


def test_cyclonedx_detail_alone_does_not_justify_not_affected(tmp_path):
    s = only(load_vex(write(tmp_path, cdx_doc([cdx_vuln(detail="trust us")]))))
    assert s.detail == "trust us"
    assert excluded_from_decisions(s) is False


@pytest.mark.parametrize(("raw", "normalised"), [
    ("cve-2021-44228", "CVE-2021-44228"),
    ("ghsa-jfh8-c2jp-5v3q", "GHSA-JFH8-C2JP-5V3Q"),
    ("DEBIAN-CVE-2023-48795", "DEBIAN-CVE-2023-48795"),
    ("openSUSE-SU-2020:0051-1", "openSUSE-SU-2020:0051-1"),
])
def test_vulnerability_ids_upper_cased_for_cve_and_ghsa(tmp_path, raw, normalised):
    s = only(load_vex(write(tmp_path, openvex_doc([ovx(name=raw)]))))
    assert s.vuln_ids == {normalised}


# --------------------------------------------------------------------------- CycloneDX


def test_cyclonedx_14_bom_refs_resolve_to_component_purls():
    doc = load_vex(CDX14)
    assert (doc.format, len(doc.statements), doc.skipped, doc.warnings) == (
        "cyclonedx", 6, 0, [])
    busybox = find_statement(doc.statements, "CVE-2022-48174", (), None, "comp-busybox")
    assert busybox is not None and busybox.source == f"{CDX14}#/vulnerabilities/0"
    assert busybox.products == ("comp-busybox", "pkg:generic/busybox@1.36.1")
    assert busybox.response == ("will_not_fix",)
    assert busybox.timestamp == "2024-03-01T09:00:00Z"  # metadata.timestamp (1.4: no dates)
    by_purl = find_statement(doc.statements, "CVE-2022-48174", (), "pkg:generic/busybox@1.36.1",
                             None)
    assert by_purl is busybox
    assert find_statement(doc.statements, "CVE-2022-48174", (), "pkg:generic/busybox@1.35.0",
                          None) is None
    # the product itself is a target too
    product = find_statement(doc.statements, "CVE-2023-38408", (),
                             "pkg:generic/example-networks/er-1000-firmware@2.4.1", None)
    assert product is not None and product.state == "not_affected"


def test_cyclonedx_references_are_aliases():
    statements = load_vex(CDX14).statements
    dropbear = find_statement(statements, "ghsa-45x7-px36-x8w8", (),
                              "pkg:generic/dropbear@2022.83", None)
    assert dropbear is not None and dropbear.state == "exploitable"
    assert dropbear.vuln_ids == {"CVE-2023-48795", "GHSA-45X7-PX36-X8W8"}
    assert find_statement(statements, "OSV-2024-1", ["cve-2023-48795"],
                          "pkg:generic/dropbear@2022.83", None) is dropbear


def test_cyclonedx_exact_versions_need_the_component_version():
    statements = load_vex(CDX14).statements
    s = find_statement(statements, "CVE-2023-48795", (), "pkg:generic/dropbear@2022.83", None)
    assert s is not None and s.versions == ("2022.83",)
    assert find_statement(statements, "CVE-2023-48795", (), None, "comp-dropbear") is None
    assert find_statement(statements, "CVE-2023-48795", (), "pkg:generic/dropbear@2024.84",
                          "comp-dropbear") is None


def test_cyclonedx_bom_link_matches_its_fragment():
    statements = load_vex(CDX15).statements
    s = find_statement(statements, "CVE-2022-48174", (), None, "comp-busybox")
    assert s is not None and s.justification == "code_not_reachable"
    assert s.products == (f"urn:cdx:{SBOM_SERIAL}/1#comp-busybox",)
    assert find_statement(statements, "CVE-2022-48174", (), None, "comp-busybo") is None
    assert find_statement(statements, "CVE-2022-48174", (), None,
                          f"urn:cdx:{SBOM_SERIAL}/1#comp-busybox") is s
    # a BOM-Link into another BOM cannot be resolved to a purl here
    assert find_statement(statements, "CVE-2022-48174", (), "pkg:generic/busybox@1.36.1",
                          None) is None


def test_cyclonedx_bom_link_fragment_is_percent_decoded(tmp_path):
    link = f"urn:cdx:{SBOM_SERIAL}/2#pkg%3Ageneric%2Fbusybox%401.36.1"
    statements = load_vex(write(tmp_path, cdx_doc([cdx_vuln(ref=link)]))).statements
    s = find_statement(statements, "CVE-2024-0001", (), None, "pkg:generic/busybox@1.36.1")
    assert s is not None and s.products == (link,)


def test_cyclonedx_bom_link_fragment_left_unencoded_still_matches(tmp_path):
    ref = "pkg:deb/debian/openssl@1.1.1w-0%2Bdeb11u1#2"  # a purl bom-ref with "%" and "#"
    link = f"urn:cdx:{SBOM_SERIAL}/1#{ref}"
    statements = load_vex(write(tmp_path, cdx_doc([cdx_vuln(ref=link)]))).statements
    assert find_statement(statements, "CVE-2024-0001", (), None, ref) is statements[0]


def test_cyclonedx_bom_link_to_own_serial_resolves_locally(tmp_path):
    serial = "9c2b6c61-4f0e-4d3a-8a39-5f2d7c0e1b44"
    doc = cdx_doc([cdx_vuln(ref=f"urn:cdx:{serial}/1#c1")], serialNumber=f"urn:uuid:{serial}",
                  components=[{"type": "library", "name": "zlib", "bom-ref": "c1",
                               "purl": "pkg:generic/zlib@1.3"}])
    s = only(load_vex(write(tmp_path, doc)))
    assert s.products == (f"urn:cdx:{serial}/1#c1", "pkg:generic/zlib@1.3")
    assert find_statement([s], "CVE-2024-0001", (), "pkg:generic/zlib@1.3", None) is s


def test_cyclonedx_nested_components_resolve(tmp_path):
    doc = cdx_doc([cdx_vuln(ref="inner")], components=[
        {"type": "firmware", "name": "fw", "bom-ref": "outer", "components": [
            {"type": "library", "name": "zlib", "bom-ref": "inner",
             "purl": "pkg:generic/zlib@1.3"}]}])
    assert only(load_vex(write(tmp_path, doc))).products == ("inner", "pkg:generic/zlib@1.3")


def test_cyclonedx_purl_refs_match_with_purl_case_rules():
    statements = load_vex(CDX16).statements
    component = "pkg:deb/Debian/OpenSSL@1.1.1w-0%2Bdeb11u1?arch=mips&distro=bullseye"
    s = find_statement(statements, "CVE-2023-5678", (), component, None)
    assert s is not None and s.justification == "protected_at_runtime"
    assert excluded_from_decisions(s)
    pedigree = find_statement(statements, "CVE-2023-0286", (), component, None)
    assert pedigree is not None and pedigree.state == "resolved_with_pedigree"
    # the statement's arch qualifier must be present on the component
    assert find_statement(statements, "CVE-2023-5678", (),
                          "pkg:deb/debian/openssl@1.1.1w-0%2Bdeb11u1", None) is None
    # a purl used as bom-ref matches as a bom-ref too
    assert find_statement(statements, "CVE-2024-3094", (), None,
                          "pkg:generic/xz-utils@5.4.1") is not None


def test_cyclonedx_xml_reads_like_json():
    from_json, from_xml = load_vex(CDX16), load_vex(CDX16_XML)
    assert from_xml.format == "cyclonedx" and from_xml.warnings == []

    def strip(s: VexStatement) -> VexStatement:
        return VexStatement(**{**s.__dict__, "source": s.source.split("#")[1]})

    assert [strip(s) for s in from_xml.statements] == [strip(s) for s in from_json.statements]


@pytest.mark.parametrize("spec", ["1.4", "1.5", "1.6"])
def test_cyclonedx_xml_versions(tmp_path, spec):
    xml = (f'<bom xmlns="http://cyclonedx.org/schema/bom/{spec}" version="1"><vulnerabilities>'
           "<vulnerability><id>cve-2024-0001</id><analysis><state>not_affected</state>"
           "<justification>code_not_reachable</justification></analysis><affects><target>"
           "<ref>r1</ref><versions><version><range>vers:generic/&lt;2.0</range></version>"
           "</versions></target></affects></vulnerability></vulnerabilities></bom>")
    s = only(load_vex(write(tmp_path, xml, "vex.xml")))
    assert (s.vuln_ids, s.state, s.justification) == (
        {"CVE-2024-0001"}, "not_affected", "code_not_reachable")
    assert (s.products, s.versions) == (("r1",), ("vers:generic/<2.0",))


def test_cyclonedx_targets_with_different_versions_become_separate_statements(tmp_path):
    vuln = {"id": "CVE-2024-0001", "analysis": {"state": "not_affected",
                                                 "justification": "code_not_present"},
            "affects": [{"ref": "a", "versions": [{"version": "1.0"}]},
                        {"ref": "b"},
                        {"ref": "c", "versions": [{"version": "1.0"}]}]}
    statements = load_vex(write(tmp_path, cdx_doc([vuln]))).statements
    assert {(s.products, s.versions) for s in statements} == {
        (("a", "c"), ("1.0",)), (("b",), ())}
    assert {s.source for s in statements} == {f"{tmp_path / 'vex.json'}#/vulnerabilities/0"}


def test_cyclonedx_vers_ranges_decide_by_product_version():
    statements = load_vex(CDX15).statements
    product = "pkg:generic/example-networks/er-1000-firmware@{}"
    states = {v: getattr(find_statement(statements, "CVE-2023-48795", (),
                                        product.format(v), None), "state", None)
              for v in ("2.4.1", "2.5.0", "2.10.0")}
    assert states == {"2.4.1": "exploitable", "2.5.0": "resolved", "2.10.0": "resolved"}
    assert find_statement(statements, "CVE-2023-48795", (),
                          "pkg:generic/example-networks/er-1000-firmware", None) is None
    assert find_statement(statements, "CVE-2023-48795", (), None, "er-1000") is None


@pytest.mark.parametrize(("vers", "version", "inside"), [
    ("vers:generic/>=1.0|<2.0", "1.5", True),
    ("vers:generic/>=1.0|<2.0", "1.0", True),
    ("vers:generic/>=1.0|<2.0", "2.0", False),
    ("vers:generic/>=1.0|<2.0", "0.9", False),
    ("vers:generic/<1.0|>=2.0", "0.5", True),
    ("vers:generic/<1.0|>=2.0", "1.5", False),
    ("vers:generic/<1.0|>=2.0", "2.0", True),
    ("vers:generic/<1.0|>=2.0", "3.0", True),
    ("vers:generic/<1.0|>=2.0|<3.0", "2.5", True),
    ("vers:generic/<=1.5.0|7.0.0", "7.0.0", True),
    ("vers:generic/<=1.5.0|7.0.0", "6.0", False),
    ("vers:generic/>=1.0|!=1.5", "1.5", False),
    ("vers:generic/>=1.0|!=1.5", "1.7", True),
    ("vers:generic/1.1.1w", "1.1.1w", True),
    ("vers:generic/>1.1.1", "1.1.1a", True),  # openssl letter release
    ("vers:generic/*", "anything", True),
    ("vers:deb/>=1:1.0-1", "1:1.2-1", True),
    ("vers:deb/>=1:1.0-1", "1.2-1", False),  # epoch 0 < epoch 1
    ("vers:npm/<2.0.0", "1.0.0", False),  # scheme spyproof does not order: never inside
])
def test_vers_containment(tmp_path, vers, version, inside):
    vuln = cdx_vuln(ref="pkg:generic/x", justification="code_not_present")
    vuln["affects"][0]["versions"] = [{"range": vers, "status": "unaffected"}]
    statements = load_vex(write(tmp_path, cdx_doc([vuln]))).statements
    found = find_statement(statements, "CVE-2024-0001", (), f"pkg:generic/x@{version}", None)
    assert (found is not None) is inside


def test_unsupported_vers_scheme_is_named_in_a_warning(tmp_path):
    vuln = cdx_vuln(ref="r")
    vuln["affects"][0]["versions"] = [{"range": "vers:npm/<2.0.0"}]
    doc = load_vex(write(tmp_path, cdx_doc([vuln])))
    assert len(doc.statements) == 1 and doc.skipped == 0
    assert any("not supported" in w for w in doc.warnings)


# --------------------------------------------------------------------------- OpenVEX


def test_openvex_fixture_loads_clean():
    doc = load_vex(OPENVEX)
    assert (doc.format, len(doc.statements), doc.skipped, doc.warnings) == (
        "openvex", 7, 0, [])
    first, second = doc.statements[:2]
    assert first.timestamp == "2024-04-20T10:00:00Z"  # statement's own
    assert second.timestamp == "2024-05-01T12:00:00Z"  # inherited from the document
    assert first.response == ("Update to firmware 2.5.0, or disable chacha20-poly1305 and "
                              "*-etm MACs in the SSH settings.",)
    assert "https://nvd.nist.gov/vuln/detail/CVE-2023-48795" in first.vuln_ids


@pytest.mark.parametrize(("vuln", "purl", "bom_ref", "expected"), [
    # subcomponent and product of the same statement
    ("CVE-2023-48795", "pkg:generic/dropbear@2022.83", None, "#/statements/0"),
    ("CVE-2023-48795", "pkg:generic/example-networks/er-1000-firmware@2.4.1", None,
     "#/statements/0"),
    ("GHSA-45x7-px36-x8w8", "pkg:generic/dropbear@2022.83", None, "#/statements/0"),
    ("CVE-2023-48795", "pkg:generic/dropbear@2024.84", None, "#/statements/1"),
    ("CVE-2023-48795", "pkg:generic/dropbear@2020.81", None, None),
    # versioned (older) beats versionless (newer); the qualifier must be on the component
    ("CVE-2022-48174", "pkg:generic/busybox@1.36.1?arch=mips", None, "#/statements/3"),
    ("CVE-2022-48174", "pkg:generic/busybox@1.36.1", None, "#/statements/2"),
    ("CVE-2022-48174", "pkg:generic/busybox@1.35.0?arch=mips", None, "#/statements/2"),
    ("CVE-2022-48174", "pkg:generic/toybox@0.8", None, None),
    # product @id IRI plus identifiers.purl
    ("CVE-2024-3094", "pkg:generic/xz-utils@5.4.1", None, "#/statements/4"),
    ("CVE-2024-3094", None, "https://example.com/products/er-1000", "#/statements/4"),
    ("CVE-2023-5678", "pkg:deb/debian/openssl@1.1.1w-0%2Bdeb11u1?arch=mips", None,
     "#/statements/5"),
    # no products: the whole scope of the document
    ("CVE-2023-38408", "pkg:generic/anything@1", None, "#/statements/6"),
    ("CVE-2023-38408", None, None, "#/statements/6"),
    ("CVE-2000-0001", "pkg:generic/dropbear@2022.83", None, None),
])
def test_openvex_matching(vuln, purl, bom_ref, expected):
    found = find_statement(load_vex(OPENVEX).statements, vuln, (), purl, bom_ref)
    assert (found.source.split("#")[1] if found else None) == (
        expected.lstrip("#") if expected else None)


def test_openvex_impact_statement_counts_as_justification():
    s = find_statement(load_vex(OPENVEX).statements, "CVE-2024-3094", (),
                       "pkg:generic/xz-utils@5.4.1", None)
    assert s is not None and s.justification is None and s.impact_statement
    assert s.detail == s.impact_statement
    assert excluded_from_decisions(s)


def test_openvex_detail_joins_impact_statement_and_status_notes(tmp_path):
    s = only(load_vex(write(tmp_path, openvex_doc([ovx(
        impact_statement="not reachable", status_notes="checked with a call graph")]))))
    assert s.detail == "not reachable\nchecked with a call graph"


def test_openvex_pre_020_string_shapes(tmp_path):
    legacy = {"@context": "https://openvex.dev/ns", "@id": "x", "author": "a",
              "timestamp": "2023-01-08T18:02:03-06:00", "version": "1",
              "statements": [{"vulnerability": "CVE-2023-12345",
                              "products": ["pkg:apk/wolfi/git@2.39.0-r1?arch=armv7"],
                              "subcomponents": ["pkg:apk/wolfi/openssl@3.0.7-r1"],
                              "status": "fixed"}]}
    s = only(load_vex(write(tmp_path, legacy)))
    assert s.products == ("pkg:apk/wolfi/git@2.39.0-r1?arch=armv7",
                          "pkg:apk/wolfi/openssl@3.0.7-r1")
    assert find_statement([s], "CVE-2023-12345", (),
                          "pkg:apk/Wolfi/OpenSSL@3.0.7-r1", None) is s


def test_openvex_statement_last_updated_wins_over_its_timestamp(tmp_path):
    s = only(load_vex(write(tmp_path, openvex_doc([ovx(
        timestamp="2024-02-01T00:00:00Z", last_updated="2024-03-01T00:00:00Z")]))))
    assert s.timestamp == "2024-03-01T00:00:00Z"


# --------------------------------------------------------------------------- purl matching


@pytest.mark.parametrize(("statement_purl", "component_purl", "matches"), [
    ("pkg:deb/debian/openssl@1.1.1w", "pkg:deb/Debian/OpenSSL@1.1.1w", True),
    ("pkg:apk/Alpine/Curl@7.83.0-r0", "pkg:apk/alpine/curl@7.83.0-r0", True),
    ("pkg:pypi/Django_Rest@1.0", "pkg:pypi/django-rest@1.0", True),
    ("pkg:github/Package-URL/purl-spec@v1", "pkg:github/package-url/purl-spec@v1", True),
    ("pkg:maven/org.apache/Log4j@2.4", "pkg:maven/org.apache/log4j@2.4", False),
    ("pkg:generic/BusyBox@1.36.1", "pkg:generic/busybox@1.36.1", False),
    ("pkg:generic/busybox@1.36.1", "pkg:generic/busybox@1.36.0", False),
    ("pkg:generic/busybox", "pkg:generic/busybox@1.36.0", True),
    ("pkg:generic/busybox@1.36.1", "pkg:generic/busybox", False),
    ("pkg:generic/acme/busybox@1", "pkg:generic/busybox@1", False),
    ("pkg:deb/debian/busybox@1", "pkg:generic/debian/busybox@1", False),
    ("pkg:generic/busybox?arch=mips", "pkg:generic/busybox@1?arch=mips&distro=x", True),
    ("pkg:generic/busybox?arch=mips", "pkg:generic/busybox@1?arch=arm", False),
    ("pkg:generic/busybox?arch=mips", "pkg:generic/busybox@1", False),
    ("pkg:generic/busybox", "pkg:generic/busybox@1?arch=mips", True),
    ("pkg:golang/github.com/gorilla/context@v1#api", "pkg:golang/github.com/gorilla/context@v1",
     False),
    ("pkg:generic/busybox@1", "not a purl", False),
])
def test_purl_matching(tmp_path, statement_purl, component_purl, matches):
    statements = load_vex(write(tmp_path, openvex_doc([ovx(products=[statement_purl])])))
    found = find_statement(statements.statements, "CVE-2024-0001", (), component_purl, None)
    assert (found is not None) is matches


# --------------------------------------------------------------------------- precedence


@pytest.mark.parametrize(("statements", "purl", "winner"), [
    # most specific first, whatever the timestamps and order
    ([stmt("exploitable", ("pkg:generic/x@1",), timestamp="2024-01-01T00:00:00Z", source="v"),
      stmt("in_triage", ("pkg:generic/x",), timestamp="2024-06-01T00:00:00Z", source="vl"),
      stmt("resolved", (), timestamp="2024-12-01T00:00:00Z", source="none")],
     "pkg:generic/x@1", "v"),
    ([stmt("resolved", (), timestamp="2024-12-01T00:00:00Z", source="none"),
      stmt("in_triage", ("pkg:generic/x",), timestamp="2024-06-01T00:00:00Z", source="vl")],
     "pkg:generic/x@1", "vl"),
    ([stmt("resolved", (), source="none")], "pkg:generic/x@1", "none"),
    # an exact version beats a vers range, a range beats a versionless purl
    ([stmt("not_affected", ("pkg:generic/x",), versions=("1",), source="exact"),
      stmt("exploitable", ("pkg:generic/x",), versions=("vers:generic/>=0.5",),
           timestamp="2025-01-01T00:00:00Z", source="range")],
     "pkg:generic/x@1", "exact"),
    ([stmt("exploitable", ("pkg:generic/x",), versions=("vers:generic/>=0.5",), source="range"),
      stmt("in_triage", ("pkg:generic/x",), timestamp="2025-01-01T00:00:00Z", source="vl")],
     "pkg:generic/x@1", "range"),
    # same specificity: the latest timestamp, wherever it is
    ([stmt("in_triage", ("pkg:generic/x@1",), timestamp="2024-06-01T00:00:00Z", source="new"),
      stmt("exploitable", ("pkg:generic/x@1",), timestamp="2024-01-01T00:00:00Z", source="old")],
     "pkg:generic/x@1", "new"),
    # time zones are compared as instants (08:00Z < 09:00Z)
    ([stmt("in_triage", ("pkg:generic/x@1",), timestamp="2024-01-01T09:00:00Z", source="utc"),
      stmt("exploitable", ("pkg:generic/x@1",), timestamp="2024-01-01T10:00:00+02:00",
           source="cest")],
     "pkg:generic/x@1", "utc"),
    # no timestamp is the oldest
    ([stmt("in_triage", ("pkg:generic/x@1",), timestamp="2020-01-01T00:00:00Z", source="dated"),
      stmt("exploitable", ("pkg:generic/x@1",), source="undated")],
     "pkg:generic/x@1", "dated"),
    # then the last in file order
    ([stmt("in_triage", ("pkg:generic/x@1",), timestamp="2024-01-01T00:00:00Z", source="first"),
      stmt("exploitable", ("pkg:generic/x@1",), timestamp="2024-01-01T00:00:00Z",
           source="second")],
     "pkg:generic/x@1", "second"),
    ([stmt("in_triage", ("pkg:generic/x@1",), source="first"),
      stmt("exploitable", ("pkg:generic/x@1",), source="second"),
      stmt("resolved", ("pkg:generic/y@1",), source="other")],
     "pkg:generic/x@1", "second"),
])
def test_precedence(statements, purl, winner):
    found = find_statement(statements, "CVE-2024-0001", (), purl, None)
    assert found is not None and found.source == winner


def test_bom_ref_is_as_specific_as_a_versioned_purl():
    statements = [stmt("exploitable", ("c1",), timestamp="2024-06-01T00:00:00Z", source="ref"),
                  stmt("in_triage", ("pkg:generic/x",), timestamp="2025-01-01T00:00:00Z",
                       source="vl")]
    assert find_statement(statements, "CVE-2024-0001", (), "pkg:generic/x@1", "c1").source == "ref"


def test_precedence_across_documents_follows_the_given_order(tmp_path):
    a = write(tmp_path, openvex_doc([ovx("affected", products=["pkg:generic/x@1"])]), "a.json")
    b = write(tmp_path, openvex_doc([ovx("fixed", products=["pkg:generic/x@1"])]), "b.json")
    for order, state in (([a, b], "resolved"), ([b, a], "exploitable")):
        statements = [s for d in load_vex_files(order) for s in d.statements]
        assert find_statement(statements, "CVE-2024-0001", (), "pkg:generic/x@1",
                              None).state == state


def test_later_bom_link_statement_overrides_earlier_bom_ref_statement():
    statements = [s for d in load_vex_files([CDX14, CDX15]) for s in d.statements]
    by_ref = find_statement(statements, "CVE-2023-5678", (), None, "comp-openssl")
    assert by_ref is not None and by_ref.state == "not_affected"  # 2024-04-10 > 2024-03-01
    assert by_ref.source.startswith(str(CDX15))
    by_purl = find_statement(statements, "CVE-2023-5678", (), "pkg:generic/openssl@1.1.1w", None)
    assert by_purl is not None and by_purl.state == "in_triage"  # the link has no purl here


def test_invalid_query_purl_still_matches_by_bom_ref():
    statements = [stmt(products=("c1", "pkg:generic/x@1"))]
    assert find_statement(statements, "CVE-2024-0001", (), "pkg:", "c1") is statements[0]
    assert find_statement(statements, "CVE-2024-0001", (), "pkg:", None) is None


# --------------------------------------------------------------------------- bad input

TRUNCATED = CDX14.read_text()[: len(CDX14.read_text()) // 2]


@pytest.mark.parametrize(("name", "content", "problem"), [
    ("hello.json", "hello world", "bad JSON"),
    ("cut.json", TRUNCATED, "bad JSON"),
    ("empty.json", "  \n", "empty file"),
    ("binary.bin", b"\xff\xfe\x00\x01\x89PNG", "not UTF-8"),
    ("list.json", "[1, 2]", "not an object"),
    ("sbom.json", {"bomFormat": "CycloneDX", "specVersion": "1.6", "version": 1,
                   "components": [{"type": "library", "name": "zlib"}]}, "not a VEX document"),
    ("vdr.json", cdx_doc([{"id": "CVE-2024-0001", "affects": [{"ref": "r"}]}]),
     "not a VEX document"),
    ("empty-vulns.json", cdx_doc([]), "not a VEX document"),
    ("old.json", cdx_doc([cdx_vuln()], spec="1.3"), "has no vulnerabilities"),
    ("badspec.json", cdx_doc([cdx_vuln()], spec="one"), "specVersion"),
    ("nostatements.json", {**openvex_doc([]), "statements": None}, "without statements"),
    ("emptystatements.json", openvex_doc([]), "without statements"),
    ("csaf.json", {"document": {"category": "csaf_vex", "csaf_version": "2.0"}}, "CSAF"),
    ("spdx.json", {"spdxVersion": "SPDX-2.3", "SPDXID": "SPDXRef-DOCUMENT"}, "unknown format"),
    ("other.json", {"statements": [ovx()]}, "unknown format"),
    ("html.xml", "<html><body>no</body></html>", "unknown format"),
    ("cut.xml", CDX16_XML.read_text()[:400], "bad XML"),
    ("dtd.xml", '<?xml version="1.0"?><!DOCTYPE bom [<!ENTITY x "y">]>'
                '<bom xmlns="http://cyclonedx.org/schema/bom/1.6"/>', "refused"),
])
def test_not_a_vex_document(tmp_path, name, content, problem):
    path = tmp_path / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        write(tmp_path, content, name)
    with pytest.raises(VexError) as err:
        load_vex(path)
    assert str(err.value).startswith(f"{path}: ")
    assert problem in str(err.value) and "\n" not in str(err.value)
    assert err.value.path == str(path)


@pytest.mark.parametrize("path", ["missing.json", "."])
def test_unreadable_path(tmp_path, path):
    with pytest.raises(VexError, match="cannot read file"):
        load_vex(tmp_path / path)


GOOD_OVX = ovx(products=["pkg:generic/good@1"])
GOOD_CDX = cdx_vuln(vid="CVE-2024-9999", justification="code_not_present")


@pytest.mark.parametrize(("doc", "warning"), [
    (openvex_doc([{"status": "fixed", "products": [{"@id": "pkg:generic/x@1"}]}, GOOD_OVX]),
     "no vulnerability name"),
    (openvex_doc([{"vulnerability": {"@id": "https://example.com/v"}, "status": "fixed"},
                  GOOD_OVX]), "no vulnerability name"),
    (openvex_doc([ovx("exploitable"), GOOD_OVX]), "unknown or missing status 'exploitable'"),
    (openvex_doc([{"vulnerability": {"name": "CVE-2024-0002"}}, GOOD_OVX]),
     "unknown or missing status None"),
    (openvex_doc(["CVE-2024-0002", GOOD_OVX]), "not an object"),
    (openvex_doc([ovx("fixed", products=["pkg:", "pkg:/no-type@1"]), GOOD_OVX]),
     "none has a usable identifier"),
    (openvex_doc([ovx("fixed", products=[{"hashes": {"sha-256": "00"}}]), GOOD_OVX]),
     "none has a usable identifier"),
    (openvex_doc([{**ovx("fixed"), "products": {"@id": "pkg:generic/x"}}, GOOD_OVX]),
     "not a list"),
    (openvex_doc([{"vulnerability": ["CVE-2024-0002"], "status": ["fixed"]}, GOOD_OVX]),
     "no vulnerability name"),
    (openvex_doc([{"vulnerability": {"name": "CVE-2024-0002"}, "status": {"x": 1}}, GOOD_OVX]),
     "unknown or missing status"),
    (cdx_doc([{"analysis": {"state": "not_affected"}}, GOOD_CDX]), "no vulnerability id"),
    (cdx_doc([{"id": ["CVE-2024-0002"], "analysis": {"state": "resolved"}}, GOOD_CDX]),
     "no vulnerability id"),
    (cdx_doc([{"id": "CVE-2024-0002", "references": 5, "analysis": {
        "state": ["resolved"], "justification": {}, "response": [{}]}}, GOOD_CDX]),
     "unknown or missing analysis state ['resolved']"),
    (cdx_doc([{**cdx_vuln(), "affects": {"ref": "r"}}, GOOD_CDX]), "affects is not a list"),
    (cdx_doc([cdx_vuln("affected"), GOOD_CDX]), "unknown or missing analysis state 'affected'"),
    (cdx_doc([{"id": "CVE-2024-0002", "analysis": {"detail": "x"}}, GOOD_CDX]),
     "unknown or missing analysis state None"),
    (cdx_doc([{"id": "CVE-2024-0002"}, GOOD_CDX]), "no analysis"),
    (cdx_doc([{**cdx_vuln(), "affects": [{"versions": []}]}, GOOD_CDX]),
     "no usable affects[] target"),
    (cdx_doc([{**cdx_vuln(), "affects": [{"ref": "r", "versions": [
        {"version": "1.0", "status": "affected"}, {"version": "2.0", "status": "unaffected"}]}]},
        GOOD_CDX]), "no usable affects[] target"),
    (cdx_doc([{**cdx_vuln(), "affects": [{"ref": "r", "versions": [{"range": "1.0-2.0"}]}]},
              GOOD_CDX]), "no usable affects[] target"),
])
def test_statement_violating_the_spec_is_skipped(tmp_path, doc, warning):
    loaded = load_vex(write(tmp_path, doc))
    assert len(loaded.statements) == 1 and loaded.skipped == 1
    assert any("statement skipped" in w and warning in w for w in loaded.warnings), \
        loaded.warnings
    assert all(w.startswith(str(tmp_path / "vex.json")) for w in loaded.warnings)


def test_one_invalid_purl_among_products_is_dropped(tmp_path):
    doc = load_vex(write(tmp_path, openvex_doc([ovx(products=[
        "pkg:", {"@id": "pkg:generic/ok@1", "subcomponents": [{"@id": "pkg:/bad"}]}])])))
    assert only(doc).products == ("pkg:generic/ok@1",)
    assert doc.skipped == 0
    assert [w.split(": ", 1)[1] for w in doc.warnings] == [
        "invalid purl 'pkg:' ignored", "invalid purl 'pkg:/bad' ignored"]


@pytest.mark.parametrize(("doc", "warning", "check"), [
    (openvex_doc([ovx(justification="because")]), "unknown justification 'because'",
     lambda s: s.justification is None and s.original_justification == "because"
     and not excluded_from_decisions(s)),
    (openvex_doc([{"vulnerability": {"name": "CVE-2024-0001"}, "status": "not_affected"}]),
     "not_affected without justification or impact_statement",
     lambda s: s.state == "not_affected" and not excluded_from_decisions(s)),
    (openvex_doc([{"vulnerability": {"name": "CVE-2024-0001"}, "status": "affected"}]),
     "affected without action_statement", lambda s: s.response == ()),
    (openvex_doc([ovx(timestamp="yesterday")]), "invalid timestamp 'yesterday'",
     lambda s: s.timestamp == "2024-01-01T00:00:00Z"),
    ({**openvex_doc([ovx()]), "timestamp": None, "last_updated": "2024-02-02T00:00:00Z"},
     "document timestamp missing", lambda s: s.timestamp == "2024-02-02T00:00:00Z"),
    (cdx_doc([cdx_vuln(justification="not_my_problem")]),
     "unknown justification 'not_my_problem'", lambda s: s.justification is None),
    (cdx_doc([cdx_vuln(response=["update", "pray"])]), "unknown response 'pray'",
     lambda s: s.response == ("update",)),
    (cdx_doc([cdx_vuln(response=[{"x": 1}], justification=["code_not_present"])]),
     "unknown response {'x': 1}", lambda s: s.response == () and s.justification is None),
    (cdx_doc([{**cdx_vuln(), "references": {"id": "GHSA-x"}}]), "",
     lambda s: s.vuln_ids == {"CVE-2024-0001"}),
    (openvex_doc([ovx(products=[{"@id": "pkg:generic/a@1", "subcomponents": {"@id": "b"}}])]),
     "", lambda s: s.products == ("pkg:generic/a@1",)),
    (cdx_doc([cdx_vuln()], spec="1.7"), "newer than 1.6", lambda s: s.state == "not_affected"),
    (cdx_doc([{**cdx_vuln(), "affects": [{"ref": "a"}, {"nope": 1}]}]),
     "target without ref dropped", lambda s: s.products == ("a",)),
])
def test_incomplete_statement_is_kept_with_a_warning(tmp_path, doc, warning, check):
    loaded = load_vex(write(tmp_path, doc))
    assert loaded.skipped == 0
    assert any(warning in w for w in loaded.warnings) or not warning, loaded.warnings
    assert check(only(loaded))


def test_warnings_are_capped_but_skips_counted(tmp_path):
    doc = load_vex(write(tmp_path, openvex_doc([ovx("bogus")] * 250 + [GOOD_OVX])))
    assert (len(doc.statements), doc.skipped) == (1, 250)
    assert len(doc.warnings) == vex.MAX_WARNINGS + 1
    assert doc.warnings[-1].endswith("further warnings suppressed")


# --------------------------------------------------------------------------- files


def test_load_vex_files_expands_directories_in_sorted_order(tmp_path):
    for f in (CDX16, OPENVEX, CDX14):
        shutil.copy(f, tmp_path / f.name)
    (tmp_path / "README.md").write_text("not vex")
    (tmp_path / ".hidden.json").write_text("{broken")
    docs = load_vex_files(tmp_path)
    assert [Path(d.path).name for d in docs] == [CDX14.name, CDX16.name, OPENVEX.name]
    assert [d.format for d in load_vex_files([OPENVEX, CDX14])] == ["openvex", "cyclonedx"]


def test_load_vex_files_stops_at_the_first_bad_file(tmp_path):
    bad = write(tmp_path, "{", "bad.json")
    with pytest.raises(VexError, match="bad.json: bad JSON"):
        load_vex_files([OPENVEX, bad])


# --------------------------------------------------------------------------- fixtures


@pytest.mark.parametrize(("path", "version"), [(CDX14, "V1_4"), (CDX15, "V1_5"),
                                               (CDX16, "V1_6")])
def test_cyclonedx_json_fixtures_follow_the_schema(path, version):
    from cyclonedx.schema import SchemaVersion
    from cyclonedx.validation.json import JsonStrictValidator

    assert JsonStrictValidator(SchemaVersion[version]).validate_str(path.read_text()) is None


def test_cyclonedx_xml_fixture_follows_the_schema():
    pytest.importorskip("lxml")
    from cyclonedx.schema import SchemaVersion
    from cyclonedx.validation.xml import XmlValidator

    assert XmlValidator(SchemaVersion.V1_6).validate_str(CDX16_XML.read_text()) is None


def test_openvex_fixture_has_the_required_fields():
    doc = json.loads(OPENVEX.read_text())
    assert {"@context", "@id", "author", "timestamp", "version", "statements"} <= doc.keys()
    assert doc["@context"] == "https://openvex.dev/ns/v0.2.0"
    for s in doc["statements"]:
        assert s["status"] in vex.OPENVEX_STATUSES and s["vulnerability"]["name"]
        assert s.get("justification", "component_not_present") in vex.OPENVEX_JUSTIFICATIONS
        if s["status"] == "not_affected":  # the 0.2.0 schema: exactly one of the two
            assert ("justification" in s) != ("impact_statement" in s)
        if s["status"] == "affected":
            assert s["action_statement"]
