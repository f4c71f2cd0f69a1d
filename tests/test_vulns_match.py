"""Matching components against the knowledge base: purl first, distro advisories, CPE,
merging, enrichment (CVSS, KEV, EPSS) and the evidence each match rests on.

The knowledge base is built from the official-format samples in tests/data/vulns/ (NVD:
CVE-2014-0160 openssl 1.0.1–1.0.1f, CVE-2023-48795 openssh < 9.6 and dropbear ≤ 2022.83,
CVE-2024-3094 xz 5.6.0/5.6.1; OSV: DEBIAN-CVE-2023-48795 dropbear in Debian 12 fixed in
2022.83-1+deb12u1; KEV: CVE-2014-0160; EPSS) plus OSV records written in each test.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from spyproof.models import Component, Evidence
from spyproof.vulns import import_path, open_store
from spyproof.vulns.assess import assess, canonical_id, score_vector
from spyproof.vulns.matcher import distro_ecosystems, match_components, plan_for, upstream_of

DATA = Path(__file__).resolve().parent / "data" / "vulns"
EV = Evidence(tree="rootfs", path="usr/sbin/x", sha256="ab" * 32, offset=100, text="x",
              rule="fingerprint:test")


def comp(name: str, version: str | None, purl: str | None = None, **kw) -> Component:
    if purl is None and version:
        purl = f"pkg:generic/{name}@{version}"
    return Component(name=name, version=version, purl=purl, method=kw.pop("method",
                     "fingerprint"), confidence=0.95, evidence=[EV], **kw)


def deb(name: str, package: str, version: str, distro: str | None = "debian-12",
        cpe_version: str | None = None) -> Component:
    q = f"?arch=mipsel&distro={distro}" if distro else "?arch=mipsel"
    cpe = None
    if cpe_version:
        cpe = f"cpe:2.3:a:x:{name}:{cpe_version}:*:*:*:*:*:*:*"
    return Component(name=name, version=version, purl=f"pkg:deb/debian/{package}@{version}{q}",
                     cpe=cpe, method="package-db", confidence=1.0, evidence=[EV],
                     package=package)


def osv_record(tmp: Path, vid: str, name: str, events: list[dict], *, eco: str = "generic",
               aliases: list[str] | None = None, modified: str = "2026-01-01T00:00:00Z",
               withdrawn: str | None = None, severity: str | None = None) -> Path:
    doc = {"schema_version": "1.6.0", "id": vid, "modified": modified,
           "aliases": aliases or [], "summary": f"test record {vid}",
           "affected": [{"package": {"ecosystem": eco, "name": name,
                                     "purl": f"pkg:generic/{name}"},
                         "ranges": [{"type": "ECOSYSTEM", "events": events}]}],
           "references": [{"type": "ADVISORY", "url": f"https://example.org/{vid}"}]}
    if withdrawn:
        doc["withdrawn"] = withdrawn
    if severity:
        doc["severity"] = [{"type": "CVSS_V3", "score": severity}]
    path = tmp / f"{vid}.json"
    path.write_text(json.dumps(doc))
    return path


@pytest.fixture
def kb(tmp_path):
    store = open_store(tmp_path / "kb.sqlite")
    for p in (DATA / "nvd" / "nvdcve-2.0-sample.json", DATA / "osv",
              DATA / "kev" / "known_exploited_vulnerabilities.json",
              DATA / "epss" / "epss_scores-2024-04-01.csv"):
        import_path(store, p)
    yield store
    store.close()


def ids(store, components):
    refs = [f"ref{i}" for i in range(len(components))]
    return sorted((v.component, v.id) for v in assess(store, components, refs).vulnerabilities)


# ------------------------------------------------------------------------- CPE matching

@pytest.mark.parametrize(("name", "version", "expected"), [
    ("openssl", "1.0.1f", ["CVE-2014-0160"]),          # exact version listed
    ("openssl", "1.0.1", ["CVE-2014-0160"]),
    ("openssl", "1.0.1g", []),                         # the fix
    ("openssl", "1.0.2", []),
    ("dropbear", "2022.83", ["CVE-2023-48795"]),       # versionEndIncluding 2022.83
    ("dropbear", "2024.84", []),
    ("openssh", "9.5p1", ["CVE-2023-48795"]),          # versionEndExcluding 9.6
    ("openssh", "9.6p1", []),
    ("xz", "5.6.1", ["CVE-2024-3094"]),
    ("xz", "5.6.2", []),
    ("xz", "5.4.1", []),
])
def test_cpe_ranges_of_curated_products(kb, name, version, expected):
    assert [i for _, i in ids(kb, [comp(name, version)])] == expected


def test_uncurated_product_is_never_matched_by_guessing(kb):
    # "tukaani" is not a spyproof product: no identity, no query, even with a CPE
    c = comp("tukaani", "5.6.1", cpe="cpe:2.3:a:tukaani:xz:5.6.1:*:*:*:*:*:*:*")
    assert ids(kb, [c]) == []


def test_known_bad_pair_is_not_queried(kb, tmp_path):
    # an NVD-style CVE filed under libssh must not hit a libssh2 component
    feed = {"format": "NVD_CVE", "version": "2.0", "timestamp": "2026-01-01T00:00:00.000",
            "resultsPerPage": 1, "startIndex": 0, "totalResults": 1,
            "vulnerabilities": [{"cve": {
                "id": "CVE-2018-10933", "published": "2018-10-17T12:29:00.000",
                "lastModified": "2024-11-21T03:42:00.000", "vulnStatus": "Modified",
                "descriptions": [{"lang": "en", "value": "libssh auth bypass"}],
                "configurations": [{"nodes": [{"operator": "OR", "negate": False, "cpeMatch": [
                    {"vulnerable": True, "criteria": "cpe:2.3:a:libssh:libssh:*:*:*:*:*:*:*:*",
                     "versionEndExcluding": "0.8.4", "matchCriteriaId": "X"}]}]}]}}]}
    path = tmp_path / "nvd.json"
    path.write_text(json.dumps(feed))
    import_path(kb, path)
    assert [i for _, i in ids(kb, [comp("libssh", "0.8.3")])] == ["CVE-2018-10933"]
    assert ids(kb, [comp("libssh2", "0.8.3")]) == []


# ------------------------------------------------------------------------- purl first

def test_purl_record_decides_its_cve_over_nvd(kb, tmp_path):
    # an upstream OSV record says dropbear 2022.83 is fixed; NVD says ≤ 2022.83: purl wins
    import_path(kb, osv_record(tmp_path, "CVE-2023-48795", "dropbear",
                               [{"introduced": "0"}, {"fixed": "2022.83"}]))
    assert ids(kb, [comp("dropbear", "2022.83")]) == []
    got = assess(kb, [comp("dropbear", "2022.82")], ["r"]).vulnerabilities
    assert [(v.id, [m.method for m in v.matched]) for v in got] == [
        ("CVE-2023-48795", ["purl"])]
    assert got[0].fixed == ["2022.83"]


def test_purl_record_with_alias_suppresses_the_cve_it_aliases(kb, tmp_path):
    import_path(kb, osv_record(tmp_path, "SPY-2024-0001", "xz",
                               [{"introduced": "5.6.0"}, {"last_affected": "5.6.0"}],
                               aliases=["CVE-2024-3094"]))
    # 5.6.1: outside the OSV range; NVD lists it, but the purl record decides the CVE
    assert ids(kb, [comp("xz", "5.6.1")]) == []
    got = assess(kb, [comp("xz", "5.6.0")], ["r"]).vulnerabilities
    assert [v.id for v in got] == ["CVE-2024-3094"]
    assert got[0].aliases == ["SPY-2024-0001"]
    assert got[0].records == ["osv:SPY-2024-0001"]


def test_osv_and_nvd_records_of_one_cve_merge(kb, tmp_path):
    import_path(kb, osv_record(tmp_path, "CVE-2014-0160", "openssl",
                               [{"introduced": "1.0.1"}, {"fixed": "1.0.1g"}]))
    got = assess(kb, [comp("openssl", "1.0.1c")], ["r"]).vulnerabilities
    assert len(got) == 1
    v = got[0]
    assert v.records == ["osv:CVE-2014-0160"]
    assert v.fixed == ["1.0.1g"]
    # the NVD record still enriches it: its CVSS and references
    assert any(c.source == "nvd:CVE-2014-0160" for c in v.cvss)


def test_withdrawn_record_is_not_reported(kb, tmp_path):
    import_path(kb, osv_record(tmp_path, "CVE-2099-0001", "busybox",
                               [{"introduced": "0"}, {"fixed": "9.9"}],
                               withdrawn="2026-02-01T00:00:00Z"))
    res = assess(kb, [comp("busybox", "1.35.0")], ["r"])
    assert res.vulnerabilities == []
    assert any("withdrawn" in n for n in res.notes)


# ------------------------------------------------------------------------- distributions

def test_distro_advisory_overrides_upstream_for_a_backported_fix(kb):
    # Debian 12's dropbear 2022.83-1+deb12u1 has the Terrapin fix backported: NVD's
    # upstream range (≤ 2022.83) would report it open; Debian's advisory says fixed.
    patched = deb("dropbear", "dropbear-bin", "2022.83-1+deb12u1", cpe_version="2022.83")
    assert ids(kb, [patched]) == []
    unpatched = deb("dropbear", "dropbear-bin", "2022.83-1", cpe_version="2022.83")
    got = assess(kb, [unpatched], ["r"]).vulnerabilities
    assert [(v.id, v.matched[0].method, v.matched[0].ecosystem) for v in got] == [
        ("CVE-2023-48795", "distro", "Debian:12")]
    assert got[0].fixed == ["2022.83-1+deb12u1"]
    assert got[0].aliases == ["DEBIAN-CVE-2023-48795"]


def test_other_release_falls_back_to_upstream_with_a_note(kb):
    c = deb("dropbear", "dropbear-bin", "2022.83-1", distro="debian-11", cpe_version="2022.83")
    res = assess(kb, [c], ["r"])
    assert [(v.id, v.matched[0].method) for v in res.vulnerabilities] == [
        ("CVE-2023-48795", "cpe")]
    assert any("Debian:11" in n and "matched upstream" in n for n in res.notes)


def test_package_without_distro_advisories_is_matched_upstream(kb):
    c = deb("xz", "xz-utils", "5.6.1-1", cpe_version=None)
    assert upstream_of(c, None) == "5.6.1-1"  # without the purl: the raw version
    assert plan_for(c).upstream == "5.6.1"
    assert [i for _, i in ids(kb, [c])] == ["CVE-2024-3094"]


@pytest.mark.parametrize(("purl", "expected"), [
    ("pkg:deb/debian/libc6@2.36-9?distro=debian-12", ["Debian:12"]),
    ("pkg:deb/debian/libc6@2.36-9?distro=debian-12.4", ["Debian:12"]),
    ("pkg:deb/ubuntu/libc6@2.35?distro=ubuntu-22.04", ["Ubuntu:22.04:LTS", "Ubuntu:22.04"]),
    ("pkg:apk/alpine/musl@1.2.4-r2?distro=alpine-3.18.4", ["Alpine:v3.18"]),
    ("pkg:deb/debian/libc6@2.36-9", []),
    ("pkg:opkg/openwrt/dropbear@2022.82-2?distro=openwrt-23.05.2", []),
])
def test_distro_ecosystems(purl, expected):
    from packageurl import PackageURL

    assert distro_ecosystems(PackageURL.from_string(purl)) == expected


@pytest.mark.parametrize(("c", "expected"), [
    (comp("busybox", "1.35.0"), "1.35.0"),
    (deb("xz", "xz-utils", "5.4.1-0.2"), "5.4.1"),
    (deb("openssh", "openssh-client", "1:9.2p1-2+deb12u3"), "9.2p1"),
    (deb("glibc", "libc6", "2.36-9+deb12u4", cpe_version="2.36"), "2.36"),
])
def test_upstream_version(c, expected):
    assert plan_for(c).upstream == expected


# ------------------------------------------------------------------------- enrichment

def test_kev_epss_cvss_and_evidence(kb):
    v = assess(kb, [comp("openssl", "1.0.1f")], ["pkg:generic/openssl@1.0.1f"]
               ).vulnerabilities[0]
    assert v.kev is not None and v.kev.date_added == "2022-05-04"
    assert v.epss is not None and v.epss.score == pytest.approx(0.97547)
    assert v.severity == "high"
    assert [(c.version, c.score) for c in v.cvss] == [("3.1", 7.5)]
    assert v.component == "pkg:generic/openssl@1.0.1f"
    assert v.evidence == [EV]
    assert v.matched[0].cpe == "cpe:2.3:a:openssl:openssl:1.0.1f:*:*:*:*:*:*:*"
    assert v.matched[0].range == "=1.0.1f"
    assert any("heartbleed" in r or "openssl.org" in r for r in v.references)


def test_no_kev_entry_when_not_in_the_catalog(kb):
    v = assess(kb, [comp("dropbear", "2022.83")], ["r"]).vulnerabilities[0]
    assert v.kev is None  # Terrapin is not in the KEV sample
    assert v.epss is not None and v.epss.date == "2024-04-01"
    xz = assess(kb, [comp("xz", "5.6.1")], ["r"]).vulnerabilities[0]
    assert xz.kev is None and xz.epss is not None


def test_score_from_vector_when_feed_gives_only_the_vector(kb, tmp_path):
    import_path(kb, osv_record(tmp_path, "CVE-2099-0002", "busybox",
                               [{"introduced": "0"}, {"fixed": "1.36.0"}],
                               severity="CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"))
    v = assess(kb, [comp("busybox", "1.35.0")], ["r"]).vulnerabilities[0]
    assert (v.cvss[0].score, v.cvss[0].severity, v.severity) == (9.8, "critical", "critical")


@pytest.mark.parametrize(("vector", "version", "expected"), [
    ("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:N/A:N", "3.1", (7.5, "high")),
    ("CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N", "4.0",
     (9.3, "critical")),
    ("not a vector", "3.1", (None, None)),
])
def test_score_vector(vector, version, expected):
    assert score_vector(version, vector) == expected


@pytest.mark.parametrize(("record", "names", "expected"), [
    ("CVE-2023-48795", [], "CVE-2023-48795"),
    ("DEBIAN-CVE-2023-48795", ["CVE-2023-48795"], "CVE-2023-48795"),
    ("DSA-5586-1", ["CVE-2023-48795", "CVE-2023-51385"], "DSA-5586-1"),
    ("GHSA-xxxx", [], "GHSA-xxxx"),
])
def test_canonical_id(record, names, expected):
    assert canonical_id(record, names) == expected


def test_matching_is_deterministic_and_sorted(kb):
    comps = [comp("xz", "5.6.1"), comp("openssl", "1.0.1f"), comp("dropbear", "2022.83")]
    refs = ["c", "a", "b"]
    first = assess(kb, comps, refs).vulnerabilities
    second = assess(kb, list(reversed(comps)), list(reversed(refs))).vulnerabilities
    assert [v.model_dump() for v in first] == [v.model_dump() for v in second]
    assert [v.component for v in first] == ["a", "b", "c"]


def test_raw_matches_carry_versions_and_ranges(kb):
    res = match_components(kb, [comp("openssh", "9.5p1")])
    assert [(m.method, m.version, m.detail.range) for m in res.matches] == [
        ("cpe", "9.5p1", "<9.6")]
