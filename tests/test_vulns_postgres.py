"""The knowledge base on a real PostgreSQL server: the same schema, importers and matcher
as on SQLite, with the same results.

The server is a throwaway cluster (``pg_cluster.py``) on a Unix socket; each test starts
from an empty schema. The workload is the one of ``test_vulns_import.py`` and
``test_vulns_match.py``: every sample feed imported twice, incremental updates, bad records,
a failed import rolled back, ``Store.status()``, and ``assess`` compared field by field
with the same inputs on SQLite.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import pytest
from sqlalchemy import create_engine, delete, func, inspect, select

from pg_cluster import postgres_url  # noqa: F401  (session fixture)
from spyproof.vulns import import_path, open_store
from spyproof.vulns import importers as imp
from spyproof.vulns.assess import assess
from spyproof.vulns.matcher import match_components
from spyproof.vulns.store import (
    ALL_TABLES,
    SCHEMA_VERSION,
    Store,
    affected_packages,
    aliases,
    cpe_ranges,
    epss,
    kev,
    meta,
    metadata,
    sources,
    vulnerabilities,
)
from test_vulns_match import comp, deb, osv_record

DATA = Path(__file__).resolve().parent / "data" / "vulns"
OSV_DIR = DATA / "osv"
NVD = DATA / "nvd" / "nvdcve-2.0-sample.json"
KEV = DATA / "kev" / "known_exploited_vulnerabilities.json"
EPSS = DATA / "epss" / "epss_scores-2024-04-01.csv"
SAMPLES = (OSV_DIR, NVD, KEV, EPSS)
DATA_TABLES = (vulnerabilities, aliases, affected_packages, cpe_ranges, kev, epss)


@pytest.fixture
def pg(postgres_url):  # noqa: F811  (the imported fixture)
    """An open store on the session's PostgreSQL database, emptied of every record
    (``test_open_store_creates_the_schema_on_postgresql`` starts from no schema at all)."""
    store = open_store(postgres_url)
    with store.engine.begin() as conn:
        for table in ALL_TABLES:
            if table is not meta:
                conn.execute(delete(table))
    yield store
    store.close()


@pytest.fixture
def lite(tmp_path):
    store = open_store(tmp_path / "kb.sqlite")
    yield store
    store.close()


def count(store: Store, table) -> int:
    with store.engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(table)).scalar_one()


def dump(store: Store, table) -> list[tuple]:
    """Every row without surrogate keys and import times, in a backend-independent order."""
    cols = [c for c in table.c if c.name not in ("pk", "imported_at")]
    with store.engine.connect() as conn:
        rows = [tuple(r) for r in conn.execute(select(*cols))]
    return sorted(rows, key=lambda r: json.dumps(r, sort_keys=True, default=str))


def dump_rows(store: Store):
    with store.engine.connect() as conn:
        return conn.execute(select(vulnerabilities)).all()


def load_samples(store: Store) -> None:
    for p in SAMPLES:
        import_path(store, p)


# --------------------------------------------------------------------------- schema


def test_open_store_creates_the_schema_on_postgresql(postgres_url):  # noqa: F811
    engine = create_engine(postgres_url)
    metadata.drop_all(engine)
    engine.dispose()
    with open_store(postgres_url) as store:
        assert store.engine.dialect.name == "postgresql"
        assert store.schema_version() == SCHEMA_VERSION
        names = set(inspect(store.engine).get_table_names())
        assert names == {t.name for t in ALL_TABLES}
        indexes = {ix["name"] for t in ALL_TABLES
                   for ix in inspect(store.engine).get_indexes(t.name)}
        assert {"ix_affected_ecosystem_name", "ix_cpe_vendor_product", "ix_aliases_alias",
                "ix_vulnerabilities_id"} <= indexes
        import_path(store, KEV)
    # reopening an existing knowledge base neither recreates nor re-stamps it
    with open_store(postgres_url) as again:
        assert again.schema_version() == SCHEMA_VERSION
        assert count(again, kev) == 2
        assert count(again, meta) == 1


# --------------------------------------------------------------------------- import


def test_every_sample_imports_twice_and_the_second_writes_nothing(pg, lite):
    first = {p.name: import_path(pg, p) for p in SAMPLES}
    assert {k: (r.records, r.written, r.skipped) for k, r in first.items()} == {
        "osv": (3, 3, 0),
        "nvdcve-2.0-sample.json": (3, 3, 0),
        "known_exploited_vulnerabilities.json": (2, 2, 0),
        "epss_scores-2024-04-01.csv": (4, 4, 0),
    }
    before = {t.name: count(pg, t) for t in DATA_TABLES}
    for p in SAMPLES:
        again = import_path(pg, p)
        assert (again.written, again.skipped) == (0, 0) and again.records > 0
    assert {t.name: count(pg, t) for t in DATA_TABLES} == before
    assert count(pg, sources) == 4

    # row for row what SQLite holds: types (dates, floats, booleans, JSON) round-trip alike
    load_samples(lite)
    for table in DATA_TABLES:
        assert dump(pg, table) == dump(lite, table), table.name
    raw = {r.id: r.raw for r in dump_rows(pg)}
    assert raw["GHSA-jfh8-c2jp-5v3q"] == json.loads((OSV_DIR / "GHSA-jfh8-c2jp-5v3q.json")
                                                   .read_text())


def test_incremental_update_keeps_the_newer_record(pg, tmp_path):
    import_path(pg, OSV_DIR / "GHSA-jfh8-c2jp-5v3q.json")
    rec = json.loads((OSV_DIR / "GHSA-jfh8-c2jp-5v3q.json").read_text())
    older = dict(rec, modified="2021-12-10T00:40:56Z", summary="older text")
    (tmp_path / "older.json").write_text(json.dumps(older))
    assert import_path(pg, tmp_path / "older.json").written == 0
    assert dump_rows(pg)[0].summary == "Remote code injection in Log4j"

    newer = dict(rec, modified="2026-01-01T00:00:00Z", summary="newer text", aliases=[])
    newer["affected"] = rec["affected"][:1]
    (tmp_path / "newer.json").write_text(json.dumps(newer))
    assert import_path(pg, tmp_path / "newer.json").written == 1
    (v,) = dump_rows(pg)
    assert (v.summary, v.modified, v.origin) == (
        "newer text", datetime(2026, 1, 1), str(tmp_path / "newer.json"))
    assert (count(pg, affected_packages), count(pg, aliases)) == (1, 0)

    # NVD: a newer lastModified replaces the CPE rows; KEV: a newer catalog wins, not back
    import_path(pg, NVD)
    feed = json.loads(NVD.read_text())
    item = feed["vulnerabilities"][2]
    item["cve"]["lastModified"] = "2026-01-01T00:00:00.000"
    item["cve"]["configurations"][0]["nodes"][0]["cpeMatch"].pop()
    feed["vulnerabilities"] = [item]
    (tmp_path / "nvd-modified.json").write_text(json.dumps(feed))
    res = import_path(pg, tmp_path / "nvd-modified.json")
    assert (res.records, res.written) == (1, 1)
    with pg.engine.connect() as conn:
        assert list(conn.execute(select(cpe_ranges.c.version_exact)
                                 .where(cpe_ranges.c.product == "xz")).scalars()) == ["5.6.0"]
    import_path(pg, KEV)
    cat = json.loads(KEV.read_text())
    cat["dateReleased"] = "2026-01-01T00:00:00.000Z"
    cat["vulnerabilities"][1]["knownRansomwareCampaignUse"] = "Known"
    (tmp_path / "kev-new.json").write_text(json.dumps(cat))
    assert import_path(pg, tmp_path / "kev-new.json").written == 2
    with pg.engine.connect() as conn:
        assert conn.execute(select(kev.c.ransomware).where(kev.c.cve == "CVE-2014-0160")
                            ).scalar_one() is True
    assert import_path(pg, KEV).written == 0


def test_bad_records_are_skipped_with_a_warning_on_both_backends(pg, lite, tmp_path):
    feed = json.loads(NVD.read_text())
    feed["vulnerabilities"][0]["cve"]["id"] = "HEARTBLEED"
    # values PostgreSQL would refuse (longer than the column, NUL) must be a skipped
    # record, not a failed file: SQLite would have stored them silently
    feed["vulnerabilities"][1]["cve"]["configurations"][0]["nodes"][0]["cpeMatch"][0][
        "versionEndExcluding"] = "9." * 100
    (tmp_path / "nvd.json").write_text(json.dumps(feed))

    rec = json.loads((OSV_DIR / "GHSA-jfh8-c2jp-5v3q.json").read_text())
    (tmp_path / "osv").mkdir()
    (tmp_path / "osv" / "alias.json").write_text(json.dumps(dict(rec, aliases=["A" * 200])))
    (tmp_path / "osv" / "nul.json").write_text(json.dumps(dict(rec, id="X-NUL",
                                                               summary="nul \x00 byte")))
    (tmp_path / "osv" / "ok.json").write_bytes((OSV_DIR / "GHSA-7rjr-3q55-vv33.json")
                                               .read_bytes())

    for store in (pg, lite):
        res = import_path(store, tmp_path / "nvd.json")
        assert (res.records, res.skipped, res.written) == (1, 2, 1)
        assert any("'HEARTBLEED' is not a CVE id" in w for w in res.warnings)
        assert any("end_excl" in w and "longer than 128" in w for w in res.warnings)
        res = import_path(store, tmp_path / "osv")
        assert (res.records, res.skipped, res.written) == (1, 2, 1)
        assert any("alias" in w and "longer than 128" in w for w in res.warnings)
        assert any("NUL" in w for w in res.warnings)
    for table in DATA_TABLES:
        assert dump(pg, table) == dump(lite, table), table.name
    assert sorted(r.id for r in dump_rows(pg)) == ["CVE-2024-3094", "GHSA-7rjr-3q55-vv33"]


def test_failed_import_rolls_back_the_whole_file(pg, monkeypatch):
    import_path(pg, KEV)
    calls = {"n": 0}
    real_add = imp._VulnWriter.add

    def failing_add(self, parsed):
        calls["n"] += 1
        if calls["n"] == 3:
            raise RuntimeError("disk full")
        real_add(self, parsed)

    monkeypatch.setattr(imp, "BATCH", 1)  # rows 1 and 2 reach the server before the failure
    monkeypatch.setattr(imp._VulnWriter, "add", failing_add)
    with pytest.raises(RuntimeError, match="disk full"):
        import_path(pg, NVD)
    assert (count(pg, vulnerabilities), count(pg, cpe_ranges), count(pg, kev)) == (0, 0, 2)
    with pg.engine.connect() as conn:
        assert conn.execute(select(sources.c.name)).scalars().all() == ["kev"]


def test_status_on_postgresql(pg, lite):
    empty = pg.status()
    assert (empty["last_import"], empty["sources"]) == (None, [])
    load_samples(pg)
    load_samples(lite)
    st, ref = pg.status(), lite.status()
    json.dumps(st)
    assert st["url"].startswith("postgresql+psycopg://postgres@/spyproof_test?")
    assert st["schema_version"] == SCHEMA_VERSION
    assert st["counts"] == ref["counts"] == {
        "vulnerabilities": 6, "aliases": 3, "affected_packages": 6, "cpe_ranges": 12,
        "kev": 2, "epss": 4,
    }
    assert st["vulnerabilities_by_source"] == ref["vulnerabilities_by_source"]

    def stable(s):
        return [(x["name"], x["file"], x["records"], x["mtime"]) for x in s["sources"]]

    assert stable(st) == stable(ref)
    assert st["last_import"] == st["sources"][-1]["imported_at"]


# --------------------------------------------------------------------------- matching

COMPONENTS = [
    comp("openssl", "1.0.1f"),
    comp("openssl", "1.0.1g"),
    comp("dropbear", "2022.83"),
    comp("openssh", "9.5p1"),
    comp("xz", "5.6.1"),
    comp("xz", "5.6.0"),
    comp("busybox", "1.35.0"),
    comp("tukaani", "5.6.1", cpe="cpe:2.3:a:tukaani:xz:5.6.1:*:*:*:*:*:*:*"),
    deb("dropbear", "dropbear-bin", "2022.83-1+deb12u1", cpe_version="2022.83"),
    deb("dropbear", "dropbear-bin", "2022.83-1", cpe_version="2022.83"),
    deb("dropbear", "dropbear-bin", "2022.83-1", distro="debian-11", cpe_version="2022.83"),
    deb("xz", "xz-utils", "5.6.1-1"),
]


def test_assess_gives_the_same_vulnerabilities_as_sqlite(pg, lite, tmp_path):
    extra = [
        osv_record(tmp_path, "SPY-2024-0001", "xz",
                   [{"introduced": "5.6.0"}, {"last_affected": "5.6.0"}],
                   aliases=["CVE-2024-3094"]),
        osv_record(tmp_path, "CVE-2099-0002", "busybox",
                   [{"introduced": "0"}, {"fixed": "1.36.0"}],
                   severity="CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"),
        osv_record(tmp_path, "CVE-2099-0001", "busybox",
                   [{"introduced": "0"}, {"fixed": "9.9"}], withdrawn="2026-02-01T00:00:00Z"),
    ]
    refs = [f"ref{i}" for i in range(len(COMPONENTS))]
    results = {}
    for name, store in (("pg", pg), ("lite", lite)):
        load_samples(store)
        for p in extra:
            import_path(store, p)
        results[name] = (assess(store, COMPONENTS, refs),
                         match_components(store, COMPONENTS))
    on_pg, on_lite = results["pg"][0], results["lite"][0]
    assert [v.model_dump() for v in on_pg.vulnerabilities] == [
        v.model_dump() for v in on_lite.vulnerabilities]
    assert on_pg.notes == on_lite.notes
    assert results["pg"][1].matches == results["lite"][1].matches

    found = sorted((v.component_name, v.component_version, v.id)
                   for v in on_pg.vulnerabilities)
    assert ("openssl", "1.0.1f", "CVE-2014-0160") in found
    assert ("dropbear", "2022.83", "CVE-2023-48795") in found
    assert not any(version == "2022.83-1+deb12u1" for _, version, _ in found)
    assert not any(name == "tukaani" for name, _, _ in found)
    heartbleed = next(v for v in on_pg.vulnerabilities if v.component == "ref0")
    assert heartbleed.kev is not None and heartbleed.kev.date_added == "2022-05-04"
    assert heartbleed.epss is not None and heartbleed.epss.score == pytest.approx(0.97547)
    assert [(c.version, c.score) for c in heartbleed.cvss] == [("3.1", 7.5)]
    assert any("withdrawn" in n for n in on_pg.notes)


def test_the_expected_matches_on_postgresql(pg):
    load_samples(pg)
    openssl = assess(pg, [comp("openssl", "1.0.1f")], ["r"]).vulnerabilities
    assert [v.id for v in openssl] == ["CVE-2014-0160"]
    assert openssl[0].kev is not None and openssl[0].epss is not None
    dropbear = assess(pg, [comp("dropbear", "2022.83")], ["r"]).vulnerabilities
    assert [v.id for v in dropbear] == ["CVE-2023-48795"]
    patched = deb("dropbear", "dropbear-bin", "2022.83-1+deb12u1", cpe_version="2022.83")
    assert assess(pg, [patched], ["r"]).vulnerabilities == []
