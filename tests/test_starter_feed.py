"""The bundled starter feed (src/spyproof/data/starter): real OSV records and a KEV excerpt.

Every record must import cleanly, name a component spyproof identifies and maps to the
feeds, and carry version bounds that fire inside the published range and stay quiet
outside it. The table below is the checked contract: one version inside and one outside
every affected range, taken from the advisories listed in the starter README.
"""

from __future__ import annotations

import json
import re
from datetime import datetime
from importlib import resources
from pathlib import Path

import pytest
from sqlalchemy import select

from spyproof.identify.products import generic_purl, products
from spyproof.vulns.importers import import_path
from spyproof.vulns.ranges import in_osv_range, vuln_identities
from spyproof.vulns.store import kev, open_store, vulnerabilities

STARTER = Path(str(resources.files("spyproof.data").joinpath("starter")))
OSV_DIR = STARTER / "osv"
KEV_FILE = STARTER / "kev.json"
MODIFIED = "2026-11-29T00:00:00Z"  # the fixed date the records were written (README)

CVE_ID = re.compile(r"^CVE-\d{4}-\d{4,}$")
CVSS31 = re.compile(
    r"^CVSS:3\.1/AV:[NALP]/AC:[LH]/PR:[NLH]/UI:[NR]/S:[UC]/C:[NLH]/I:[NLH]/A:[NLH]$")

RECORD_FILES = sorted(OSV_DIR.glob("*.json"))


def _load(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


RECORDS = {p.stem: _load(p) for p in RECORD_FILES}

# (record, package, version, affected?) -- inside and outside every published range
CASES = [
    ("CVE-2022-48174", "busybox", "1.35.0", True),
    ("CVE-2022-48174", "busybox", "1.36.1", True),
    ("CVE-2022-48174", "busybox", "1.37.0", False),
    ("CVE-2022-30065", "busybox", "1.35.0", True),
    ("CVE-2022-30065", "busybox", "1.34.1", False),
    ("CVE-2022-30065", "busybox", "1.36.0", False),
    ("CVE-2022-28391", "busybox", "1.35.0", True),
    ("CVE-2022-28391", "busybox", "1.36.0", False),
    ("CVE-2023-48795", "dropbear", "2022.83", True),
    ("CVE-2023-48795", "dropbear", "2024.84", False),
    ("CVE-2023-48795", "openssh", "9.5p1", True),
    ("CVE-2023-48795", "openssh", "9.6p1", False),
    ("CVE-2023-48795", "libssh", "0.10.5", True),
    ("CVE-2023-48795", "libssh", "0.10.6", False),
    ("CVE-2023-48795", "libssh2", "1.11.0", True),
    ("CVE-2023-48795", "libssh2", "1.11.1", False),
    ("CVE-2025-47203", "dropbear", "2022.83", True),
    ("CVE-2025-47203", "dropbear", "2025.88", False),
    ("CVE-2024-6387", "openssh", "9.2p1", True),
    ("CVE-2024-6387", "openssh", "8.5p1", True),
    ("CVE-2024-6387", "openssh", "4.3p2", True),
    ("CVE-2024-6387", "openssh", "8.4p1", False),
    ("CVE-2024-6387", "openssh", "9.8p1", False),
    ("CVE-2024-6387", "openssh", "4.4p1", False),
    ("CVE-2023-4911", "glibc", "2.36", True),
    ("CVE-2023-4911", "glibc", "2.33", False),
    ("CVE-2023-4911", "glibc", "2.39", False),
    ("CVE-2023-6246", "glibc", "2.36", True),
    ("CVE-2023-6246", "glibc", "2.35", False),
    ("CVE-2023-6246", "glibc", "2.39", False),
    ("CVE-2024-2961", "glibc", "2.36", True),
    ("CVE-2024-2961", "glibc", "2.40", False),
    ("CVE-2023-45853", "zlib", "1.2.13", True),
    ("CVE-2023-45853", "zlib", "1.3.1", False),
    ("CVE-2022-37434", "zlib", "1.2.12", True),
    ("CVE-2022-37434", "zlib", "1.2.13", False),
    ("CVE-2014-0160", "openssl", "1.0.1f", True),
    ("CVE-2014-0160", "openssl", "1.0.1", True),
    ("CVE-2014-0160", "openssl", "1.0.2-beta1", True),
    ("CVE-2014-0160", "openssl", "1.0.1g", False),
    ("CVE-2014-0160", "openssl", "1.0.0l", False),
    ("CVE-2014-0160", "openssl", "3.0.20", False),
    ("CVE-2022-3602", "openssl", "3.0.6", True),
    ("CVE-2022-3602", "openssl", "3.0.7", False),
    ("CVE-2022-3602", "openssl", "1.1.1w", False),
    ("CVE-2020-25681", "dnsmasq", "2.82", True),
    ("CVE-2020-25681", "dnsmasq", "2.83", False),
    ("CVE-2020-25682", "dnsmasq", "2.82", True),
    ("CVE-2020-25682", "dnsmasq", "2.83", False),
    ("CVE-2020-25683", "dnsmasq", "2.82", True),
    ("CVE-2020-25683", "dnsmasq", "2.83", False),
    ("CVE-2020-25684", "dnsmasq", "2.82", True),
    ("CVE-2020-25684", "dnsmasq", "2.83", False),
    ("CVE-2020-25685", "dnsmasq", "2.82", True),
    ("CVE-2020-25685", "dnsmasq", "2.83", False),
    ("CVE-2020-25686", "dnsmasq", "2.82", True),
    ("CVE-2020-25686", "dnsmasq", "2.83", False),
    ("CVE-2020-25687", "dnsmasq", "2.82", True),
    ("CVE-2020-25687", "dnsmasq", "2.90", False),
    ("CVE-2017-14491", "dnsmasq", "2.77", True),
    ("CVE-2017-14491", "dnsmasq", "2.78", False),
    ("CVE-2023-50387", "dnsmasq", "2.89", True),
    ("CVE-2023-50387", "dnsmasq", "2.90", False),
    ("CVE-2023-50387", "unbound", "1.19.0", True),
    ("CVE-2023-50387", "unbound", "1.19.1", False),
    ("CVE-2023-38545", "curl", "8.3.0", True),
    ("CVE-2023-38545", "curl", "8.4.0", False),
    ("CVE-2023-38545", "curl", "7.68.0", False),
    ("CVE-2023-38545", "libcurl", "7.69.0", True),
    ("CVE-2023-38545", "libcurl", "8.4.0", False),
    ("CVE-2024-3094", "xz", "5.6.1", True),
    ("CVE-2024-3094", "xz", "5.6.0", True),
    ("CVE-2024-3094", "xz", "5.4.6", False),
    ("CVE-2024-3094", "xz", "5.6.2", False),
    ("CVE-2014-6271", "bash", "4.3.24", True),
    ("CVE-2014-6271", "bash", "4.2.47", True),
    ("CVE-2014-6271", "bash", "3.2.51", True),
    ("CVE-2014-6271", "bash", "4.3.25", False),
    ("CVE-2014-6271", "bash", "4.2.48", False),
    ("CVE-2014-6271", "bash", "4.3.30", False),
    ("CVE-2014-6271", "bash", "5.2.15", False),
    ("CVE-2020-8597", "pppd", "2.4.7", True),
    ("CVE-2020-8597", "pppd", "2.4.9", False),
    ("CVE-2020-8597", "pppd", "2.4.1", False),
    ("CVE-2022-30295", "uclibc-ng", "1.0.40", True),
    ("CVE-2022-30295", "uclibc-ng", "1.0.41", False),
    ("CVE-2022-30295", "uclibc", "0.9.33.2", True),
]

# The demo firmware's versions and the records that must (and only those) fire for them.
DEMO = {"busybox": "1.35.0", "dnsmasq": "2.90", "dropbear": "2022.83", "glibc": "2.36",
        "openssl": "3.0.20", "zlib": "1.2.13"}
DEMO_EXPECTED = {
    ("busybox", "CVE-2022-48174"), ("busybox", "CVE-2022-30065"),
    ("busybox", "CVE-2022-28391"), ("dropbear", "CVE-2023-48795"),
    ("dropbear", "CVE-2025-47203"), ("glibc", "CVE-2023-4911"), ("glibc", "CVE-2023-6246"),
    ("glibc", "CVE-2024-2961"), ("zlib", "CVE-2023-45853"),
}


def _affected(record: dict, package: str) -> dict:
    entries = [a for a in record["affected"] if a["package"]["name"] == package]
    assert len(entries) == 1, f"{record['id']}: {len(entries)} affected entries for {package}"
    return entries[0]


def _fires(record: dict, package: str, version: str) -> bool:
    entry = _affected(record, package)
    notes: list[str] = []
    detail = in_osv_range(version, entry["ranges"], entry.get("versions"), "generic",
                          notes=notes)
    assert notes == [], f"{record['id']} {package} {version}: {notes}"
    return detail is not None


# ------------------------------------------------------------------------- the feed


def test_feed_is_a_small_real_sample():
    assert 20 <= len(RECORD_FILES) <= 30
    assert {p.name for p in OSV_DIR.iterdir()} == {p.name for p in RECORD_FILES}


def test_directory_imports_into_fresh_store_without_warnings(tmp_path):
    store = open_store(tmp_path / "kb.sqlite")
    try:
        result = import_path(store, OSV_DIR)
        assert result.warnings == []
        assert result.skipped == 0
        assert result.records == len(RECORD_FILES)
        with store.engine.connect() as conn:
            ids = set(conn.execute(select(vulnerabilities.c.id)).scalars())
        assert ids == set(RECORDS)
    finally:
        store.close()


@pytest.mark.parametrize("path", RECORD_FILES, ids=lambda p: p.stem)
def test_each_record_imports_alone_without_warnings(tmp_path, path):
    store = open_store(tmp_path / "kb.sqlite")
    try:
        result = import_path(store, path)
        assert (result.records, result.skipped, result.warnings) == (1, 0, [])
        assert result.formats == ["osv"]
    finally:
        store.close()


@pytest.mark.parametrize("path", RECORD_FILES, ids=lambda p: p.stem)
def test_record_shape(path):
    doc = _load(path)
    assert CVE_ID.match(doc["id"]), doc["id"]
    assert path.stem == doc["id"]
    assert doc["schema_version"] == "1.6.0"
    assert doc["modified"] == MODIFIED
    published = datetime.fromisoformat(doc["published"])
    assert published < datetime.fromisoformat(MODIFIED)
    assert doc["summary"].strip() and doc["details"].strip()
    assert all(a != doc["id"] for a in doc["aliases"])

    v3 = [s["score"] for s in doc["severity"] if s["type"] == "CVSS_V3"]
    assert len(v3) == 1 and CVSS31.match(v3[0]), v3

    urls = [r["url"] for r in doc["references"]]
    assert all(r["type"] in {"ADVISORY", "REPORT", "FIX", "WEB"} for r in doc["references"])
    assert any(u.startswith("https://") for u in urls)
    assert f"https://nvd.nist.gov/vuln/detail/{doc['id']}" in urls
    assert len(urls) >= 2  # the NVD page and at least one upstream/vendor source

    meta = doc["database_specific"]["spyproof"]
    assert meta["sample"] is True
    assert meta["source"].strip()


@pytest.mark.parametrize("path", RECORD_FILES, ids=lambda p: p.stem)
def test_affected_packages_are_known_and_mapped(path):
    doc = _load(path)
    known = products()
    identities = vuln_identities()
    assert doc["affected"]
    for entry in doc["affected"]:
        pkg = entry["package"]
        name = pkg["name"]
        assert pkg["ecosystem"] == "generic"
        assert name in known, f"{name} is not a spyproof product"
        assert name in identities, f"{name} is not mapped in vuln_products.yaml"
        assert pkg["purl"] == generic_purl(name, None)
        vendor, product = entry["database_specific"]["cpe"].split(":")
        assert (vendor, product) in identities[name].cpes
        assert entry["ranges"] and all(r["type"] == "ECOSYSTEM" for r in entry["ranges"])
        for rng in entry["ranges"]:
            kinds = [next(iter(e)) for e in rng["events"]]
            assert kinds[0] == "introduced"
            assert set(kinds) <= {"introduced", "fixed", "last_affected"}


# ------------------------------------------------------------------------- ranges


@pytest.mark.parametrize(("cve", "package", "version", "expected"), CASES,
                         ids=[f"{c}-{p}-{v}" for c, p, v, _ in CASES])
def test_version_inside_fires_outside_stays_quiet(cve, package, version, expected):
    assert _fires(RECORDS[cve], package, version) is expected


def test_every_affected_entry_has_a_positive_and_a_negative_case():
    covered = {(c, p, e) for c, p, _v, e in CASES}
    for cve, doc in RECORDS.items():
        for entry in doc["affected"]:
            name = entry["package"]["name"]
            assert (cve, name, True) in covered, f"no version inside {cve} for {name}"
            if not (cve == "CVE-2022-30295" and name == "uclibc"):  # no later uClibc release
                assert (cve, name, False) in covered, f"no version outside {cve} for {name}"
    assert {c for c, *_ in CASES} == set(RECORDS)


def test_demo_firmware_matches():
    fired = {(name, cve) for cve, doc in RECORDS.items() for entry in doc["affected"]
             if (name := entry["package"]["name"]) in DEMO
             and _fires(doc, name, DEMO[name])}
    assert fired == DEMO_EXPECTED


# ------------------------------------------------------------------------- KEV excerpt


def test_kev_excerpt_imports_and_lists_only_starter_cves(tmp_path):
    doc = _load(KEV_FILE)
    listed = [v["cveID"] for v in doc["vulnerabilities"]]
    assert doc["count"] == len(listed) == len(set(listed)) > 0
    assert set(listed) <= set(RECORDS)
    for v in doc["vulnerabilities"]:
        assert v["dateAdded"] <= v["dueDate"]
        assert v["knownRansomwareCampaignUse"] in {"Known", "Unknown"}
        assert all(v[k] for k in ("vendorProject", "product", "vulnerabilityName",
                                  "shortDescription", "requiredAction"))

    store = open_store(tmp_path / "kb.sqlite")
    try:
        result = import_path(store, KEV_FILE)
        assert (result.formats, result.skipped, result.warnings) == (["kev"], 0, [])
        with store.engine.connect() as conn:
            rows = {r.cve: r for r in conn.execute(select(kev))}
    finally:
        store.close()
    assert set(rows) == set(listed)
    for v in doc["vulnerabilities"]:
        assert rows[v["cveID"]].date_added.isoformat() == v["dateAdded"]
        assert rows[v["cveID"]].due_date.isoformat() == v["dueDate"]
