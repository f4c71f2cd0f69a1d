"""The offline knowledge base: schema, importers, idempotence, bad input, transactions."""

from __future__ import annotations

import gzip
import json
import lzma
import sqlite3
import zipfile
from datetime import date, datetime
from pathlib import Path

import pytest
from sqlalchemy import func, select

from spyproof.vulns import NotAFeed, import_path, open_store
from spyproof.vulns import importers as imp
from spyproof.vulns.store import (
    SCHEMA_VERSION,
    StoreError,
    affected_packages,
    aliases,
    cpe_ranges,
    default_db_path,
    epss,
    kev,
    resolve_db_url,
    vulnerabilities,
)

DATA = Path(__file__).resolve().parent / "data" / "vulns"
OSV_DIR = DATA / "osv"
NVD = DATA / "nvd" / "nvdcve-2.0-sample.json"
KEV = DATA / "kev" / "known_exploited_vulnerabilities.json"
EPSS = DATA / "epss" / "epss_scores-2024-04-01.csv"


@pytest.fixture
def store(tmp_path):
    s = open_store(tmp_path / "kb.sqlite")
    yield s
    s.close()


def count(store, table) -> int:
    with store.engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(table)).scalar_one()


def row(store, table, *where):
    with store.engine.connect() as conn:
        return conn.execute(select(table).where(*where)).one()


def make_zip(path: Path, members: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return path


def osv_members() -> dict[str, bytes]:
    return {f.name: f.read_bytes() for f in sorted(OSV_DIR.glob("*.json"))}


# --------------------------------------------------------------------------- store


def test_open_store_paths_and_env(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    monkeypatch.delenv("SPYPROOF_DB", raising=False)
    assert default_db_path() == tmp_path / "xdg" / "spyproof" / "kb.sqlite"
    assert resolve_db_url() == f"sqlite:///{tmp_path / 'xdg' / 'spyproof' / 'kb.sqlite'}"
    monkeypatch.setenv("SPYPROOF_DB", str(tmp_path / "env.sqlite"))
    with open_store() as s:
        assert s.status()["schema_version"] == SCHEMA_VERSION
    assert (tmp_path / "env.sqlite").is_file()
    url = f"sqlite:///{tmp_path / 'url.sqlite'}"
    with open_store(url) as s:
        assert s.schema_version() == SCHEMA_VERSION
    assert resolve_db_url("postgresql://u:p@db/kb") == "postgresql://u:p@db/kb"


def test_newer_schema_is_refused(tmp_path):
    path = tmp_path / "kb.sqlite"
    open_store(path).close()
    with sqlite3.connect(path) as db:
        db.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'", (SCHEMA_VERSION + 1,))
    with pytest.raises(StoreError, match="schema version"):
        open_store(path)


def test_schema_uses_portable_types_and_has_the_matcher_indexes():
    from sqlalchemy.dialects import postgresql
    from sqlalchemy.schema import CreateIndex, CreateTable

    from spyproof.vulns.store import metadata

    dialect = postgresql.dialect()
    ddl = "\n".join(str(CreateTable(t).compile(dialect=dialect)) for t in metadata.sorted_tables)
    assert "JSON" in ddl
    indexes = {
        str(CreateIndex(ix).compile(dialect=dialect))
        for t in metadata.sorted_tables
        for ix in t.indexes
    }
    joined = "\n".join(indexes)
    assert "affected_packages (ecosystem, name)" in joined
    assert "cpe_ranges (vendor, product)" in joined
    assert "aliases (alias)" in joined
    assert "vulnerabilities (id)" in joined


# --------------------------------------------------------------------------- formats


def test_import_osv_single_file(store):
    res = import_path(store, OSV_DIR / "GHSA-jfh8-c2jp-5v3q.json")
    assert (res.records, res.skipped, res.written, res.formats) == (1, 0, 1, ["osv"])
    v = row(store, vulnerabilities, vulnerabilities.c.id == "GHSA-jfh8-c2jp-5v3q")
    assert v.source == "osv"
    assert v.modified == datetime(2025, 10, 22, 19, 37, 2)
    assert v.severity == "critical"
    assert v.cvss_v31_vector == "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:C/C:H/I:H/A:H"
    assert v.summary == "Remote code injection in Log4j"
    assert v.raw["id"] == "GHSA-jfh8-c2jp-5v3q"
    assert row(store, aliases, aliases.c.alias == "CVE-2021-44228").vuln_id == (
        "GHSA-jfh8-c2jp-5v3q"
    )
    with store.engine.connect() as conn:
        pkgs = conn.execute(select(affected_packages)).all()
    assert len(pkgs) == 3
    assert {p.ecosystem for p in pkgs} == {"Maven"}
    assert {p.name for p in pkgs} == {"org.apache.logging.log4j:log4j-core"}
    assert {"introduced": "2.0-beta9"} in [e for p in pkgs for e in p.ranges[0]["events"]]


def test_import_osv_directory_and_upstream_aliases(store):
    res = import_path(store, OSV_DIR)
    assert (res.records, res.skipped, res.files) == (3, 0, 1)
    assert count(store, vulnerabilities) == 3
    deb = row(store, affected_packages, affected_packages.c.vuln_id == "DEBIAN-CVE-2023-48795")
    assert (deb.ecosystem, deb.name) == ("Debian:12", "dropbear")
    assert deb.ranges == [
        {"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "2022.83-1+deb12u1"}]}
    ]
    assert row(store, aliases, aliases.c.alias == "CVE-2023-48795").vuln_id == (
        "DEBIAN-CVE-2023-48795"
    )


def test_import_osv_all_zip(store, tmp_path):
    z = make_zip(tmp_path / "all.zip", osv_members())
    res = import_path(store, z)
    assert (res.records, res.skipped, res.formats) == (3, 0, ["osv"])
    assert count(store, vulnerabilities) == 3


@pytest.mark.parametrize("compress", ["plain", "gz", "xz"])
def test_import_nvd_feed(store, tmp_path, compress):
    path = NVD
    if compress == "gz":
        path = tmp_path / "nvdcve-2.0-2024.json.gz"
        path.write_bytes(gzip.compress(NVD.read_bytes()))
    elif compress == "xz":
        path = tmp_path / "nvdcve-2.0-2024.json.xz"
        path.write_bytes(lzma.compress(NVD.read_bytes()))
    res = import_path(store, path)
    assert (res.records, res.skipped, res.formats) == (3, 0, ["nvd"])
    xz = row(store, vulnerabilities, vulnerabilities.c.id == "CVE-2024-3094")
    assert xz.source == "nvd"
    assert (xz.cvss_v31_score, xz.severity) == (10.0, "critical")
    assert xz.summary.startswith("Malicious code was discovered")
    assert xz.published == datetime(2024, 3, 29, 17, 15, 21, 150000)
    with store.engine.connect() as conn:
        xz_cpes = conn.execute(
            select(cpe_ranges.c.version_exact).where(
                cpe_ranges.c.vendor == "tukaani", cpe_ranges.c.product == "xz"
            )
        ).scalars()
        assert sorted(xz_cpes) == ["5.6.0", "5.6.1"]
        dropbear = conn.execute(
            select(cpe_ranges).where(cpe_ranges.c.product == "dropbear_ssh")
        ).one()
        openssl = conn.execute(
            select(cpe_ranges.c.version_exact).where(cpe_ranges.c.product == "openssl")
        ).scalars()
        assert sorted(openssl) == ["1.0.1", "1.0.1", *(f"1.0.1{c}" for c in "abcdef")]
    assert dropbear.vendor == "dropbear_ssh_project"
    assert (dropbear.version_exact, dropbear.end_incl, dropbear.end_excl) == (None, "2022.83", None)
    assert dropbear.start_incl is None and dropbear.vulnerable is True
    heartbleed = row(store, vulnerabilities, vulnerabilities.c.id == "CVE-2014-0160")
    assert heartbleed.cvss_v31_vector == "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:N/A:N"
    assert heartbleed.severity == "high"


def test_import_kev(store):
    res = import_path(store, KEV)
    assert (res.records, res.skipped, res.formats) == (2, 0, ["kev"])
    hb = row(store, kev, kev.c.cve == "CVE-2014-0160")
    assert (hb.date_added, hb.due_date, hb.ransomware) == (
        date(2022, 5, 4),
        date(2022, 5, 25),
        False,
    )
    assert (hb.vendor, hb.product) == ("OpenSSL", "OpenSSL")
    assert row(store, kev, kev.c.cve == "CVE-2021-44228").ransomware is True


@pytest.mark.parametrize("compress", [False, True])
def test_import_epss(store, tmp_path, compress):
    path = EPSS
    if compress:
        path = tmp_path / "epss_scores-2024-04-01.csv.gz"
        path.write_bytes(gzip.compress(EPSS.read_bytes()))
    res = import_path(store, path)
    assert (res.records, res.skipped, res.formats) == (4, 0, ["epss"])
    hb = row(store, epss, epss.c.cve == "CVE-2014-0160")
    assert (hb.score, hb.percentile, hb.date) == (0.97547, 0.99995, date(2024, 4, 1))
    assert hb.model_version == "v2023.03.01"


def test_osv_and_nvd_records_for_one_cve_coexist(store, tmp_path):
    rec = json.loads((OSV_DIR / "DEBIAN-CVE-2023-48795.json").read_text())
    rec["id"] = "CVE-2023-48795"  # OSV also republishes NVD-style CVE ids
    (tmp_path / "cve.json").write_text(json.dumps(rec))
    import_path(store, NVD)
    import_path(store, tmp_path / "cve.json")
    with store.engine.connect() as conn:
        srcs = conn.execute(
            select(vulnerabilities.c.source).where(vulnerabilities.c.id == "CVE-2023-48795")
        ).scalars()
        assert sorted(srcs) == ["nvd", "osv"]
    assert count(store, cpe_ranges) == 12  # the OSV import did not drop NVD's CPE ranges


# --------------------------------------------------------------------------- re-import


def test_reimport_is_idempotent(store, tmp_path):
    z = make_zip(tmp_path / "all.zip", osv_members())
    paths = [z, NVD, KEV, EPSS]
    for p in paths:
        import_path(store, p)
    tables = (vulnerabilities, aliases, affected_packages, cpe_ranges, kev, epss)
    before = {t.name: count(store, t) for t in tables}
    for p in paths:
        res = import_path(store, p)
        assert res.written == 0 and res.skipped == 0 and res.records > 0
    assert {t.name: count(store, t) for t in tables} == before
    assert len(store.status()["sources"]) == 4


def test_incremental_update_keeps_the_newer_record(store, tmp_path):
    import_path(store, OSV_DIR / "GHSA-jfh8-c2jp-5v3q.json")
    rec = json.loads((OSV_DIR / "GHSA-jfh8-c2jp-5v3q.json").read_text())

    older = dict(rec, modified="2021-12-10T00:40:56Z", summary="older text")
    (tmp_path / "older.json").write_text(json.dumps(older))
    assert import_path(store, tmp_path / "older.json").written == 0
    assert row(store, vulnerabilities).summary == "Remote code injection in Log4j"

    newer = dict(rec, modified="2026-01-01T00:00:00Z", summary="newer text", aliases=[])
    newer["affected"] = rec["affected"][:1]
    (tmp_path / "newer.json").write_text(json.dumps(newer))
    assert import_path(store, tmp_path / "newer.json").written == 1
    v = row(store, vulnerabilities)
    assert (v.summary, v.modified) == ("newer text", datetime(2026, 1, 1))
    assert v.origin == str(tmp_path / "newer.json")
    assert count(store, affected_packages) == 1  # children replaced, not appended
    assert count(store, aliases) == 0


def test_incremental_nvd_and_kev_updates(store, tmp_path):
    import_path(store, NVD)
    feed = json.loads(NVD.read_text())
    item = feed["vulnerabilities"][2]
    item["cve"]["lastModified"] = "2026-01-01T00:00:00.000"
    item["cve"]["configurations"][0]["nodes"][0]["cpeMatch"].pop()
    feed["vulnerabilities"] = [item]
    (tmp_path / "nvdcve-2.0-modified.json").write_text(json.dumps(feed))
    res = import_path(store, tmp_path / "nvdcve-2.0-modified.json")
    assert (res.records, res.written) == (1, 1)
    with store.engine.connect() as conn:
        assert list(
            conn.execute(
                select(cpe_ranges.c.version_exact).where(cpe_ranges.c.product == "xz")
            ).scalars()
        ) == ["5.6.0"]

    import_path(store, KEV)
    cat = json.loads(KEV.read_text())
    cat["dateReleased"] = "2026-01-01T00:00:00.000Z"
    cat["vulnerabilities"][1]["knownRansomwareCampaignUse"] = "Known"
    (tmp_path / "kev-new.json").write_text(json.dumps(cat))
    assert import_path(store, tmp_path / "kev-new.json").written == 2
    assert row(store, kev, kev.c.cve == "CVE-2014-0160").ransomware is True
    assert import_path(store, KEV).written == 0  # the older catalog does not win back


# --------------------------------------------------------------------------- bad input


def test_truncated_nvd_feed_keeps_the_records_before_the_cut(store, tmp_path):
    text = NVD.read_text()
    cut = text.index('"id": "CVE-2024-3094"')
    (tmp_path / "trunc.json").write_text(text[:cut])
    res = import_path(store, tmp_path / "trunc.json")
    assert (res.records, res.skipped) == (2, 1)
    assert "truncated JSON after 2 records" in res.warnings[0]
    assert count(store, vulnerabilities) == 2


def test_truncated_osv_member_and_corrupt_member_in_zip(store, tmp_path):
    members = osv_members()
    members["GHSA-7rjr-3q55-vv33.json"] = members["GHSA-7rjr-3q55-vv33.json"][:200]
    members["README.txt"] = b"not a record"
    z = make_zip(tmp_path / "all.zip", members)
    res = import_path(store, z)
    assert (res.records, res.skipped) == (2, 1)
    assert "GHSA-7rjr-3q55-vv33.json" in res.warnings[0]

    # damage the compressed bytes of one member: CRC / inflate error for that member only
    data = bytearray((tmp_path / "all.zip").read_bytes())
    with zipfile.ZipFile(tmp_path / "all.zip") as zf:
        info = zf.getinfo("DEBIAN-CVE-2023-48795.json")
    start = info.header_offset + 30 + len(info.filename) + len(info.extra)
    for i in range(start + 5, start + 40):
        data[i] ^= 0xFF
    (tmp_path / "damaged.zip").write_bytes(bytes(data))
    with open_store(tmp_path / "other.sqlite") as other:
        res = import_path(other, tmp_path / "damaged.zip")
    assert res.records == 1 and res.skipped == 2
    assert any("corrupt zip member" in w for w in res.warnings)


def test_truncated_single_osv_file_is_a_skipped_record(store, tmp_path):
    (tmp_path / "rec.json").write_bytes((OSV_DIR / "GHSA-7rjr-3q55-vv33.json").read_bytes()[:150])
    res = import_path(store, tmp_path / "rec.json")
    assert (res.records, res.skipped) == (0, 1)
    assert "truncated JSON" in res.warnings[0]


def test_unreadable_zip_is_not_a_feed(store, tmp_path):
    z = make_zip(tmp_path / "all.zip", osv_members())
    (tmp_path / "cut.zip").write_bytes(z.read_bytes()[:300])
    with pytest.raises(NotAFeed, match="corrupt zip archive"):
        import_path(store, tmp_path / "cut.zip")
    assert count(store, vulnerabilities) == 0


def test_schema_violating_records_are_skipped_and_counted(store, tmp_path):
    feed = json.loads(NVD.read_text())
    feed["vulnerabilities"][0]["cve"]["id"] = "HEARTBLEED"
    feed["vulnerabilities"][1]["cve"]["configurations"][0]["nodes"][0]["cpeMatch"][0][
        "criteria"
    ] = "openssh"
    (tmp_path / "nvd.json").write_text(json.dumps(feed))
    res = import_path(store, tmp_path / "nvd.json")
    assert (res.records, res.skipped) == (1, 2)
    assert any("'HEARTBLEED' is not a CVE id" in w for w in res.warnings)
    assert any("not a CPE 2.3 name" in w for w in res.warnings)

    cat = json.loads(KEV.read_text())
    cat["vulnerabilities"][0]["dateAdded"] = "10 Dec 2021"
    (tmp_path / "kev.json").write_text(json.dumps(cat))
    res = import_path(store, tmp_path / "kev.json")
    assert (res.records, res.skipped) == (1, 1)

    rec = json.loads((OSV_DIR / "GHSA-jfh8-c2jp-5v3q.json").read_text())
    rec["affected"][0]["ranges"][0]["events"] = [{"introduced": "2.13.0", "fixed": "2.15.0"}]
    (tmp_path / "osvbad").mkdir()
    (tmp_path / "osvbad" / "bad.json").write_text(json.dumps(rec))
    (tmp_path / "osvbad" / "nomod.json").write_text(json.dumps({"id": "X-1", "modified": "soon"}))
    (tmp_path / "osvbad" / "ok.json").write_bytes(
        (OSV_DIR / "GHSA-7rjr-3q55-vv33.json").read_bytes()
    )
    res = import_path(store, tmp_path / "osvbad")
    assert (res.records, res.skipped) == (1, 2)

    (tmp_path / "epss.csv").write_text(
        "#model_version:v2023.03.01,score_date:2024-04-01T00:00:00+0000\n"
        "cve,epss,percentile\nCVE-2014-0160,0.9,0.99\nnot-a-cve,0.1,0.2\nCVE-2024-3094,x,0.5\n"
    )
    res = import_path(store, tmp_path / "epss.csv")
    assert (res.records, res.skipped) == (1, 2)


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"", "empty file"),
        (b"hello, world\n", "neither JSON"),
        (b'{"foo": 1, "bar": [1, 2]}', "without a 'vulnerabilities' array"),
        (b'{"vulnerabilities": [{"name": "x"}]}', "neither NVD nor KEV"),
        (b'{"vulnerabilities": [', "unknown format"),
        (b'{"format": "NVD_CVE", "vulnerabilities"', "invalid JSON"),
        (b"cve,score\nCVE-2014-0160,1\n", "neither JSON"),
        (b"\x1f\x8b\x08\x00garbage", "corrupt compressed data"),
    ],
)
def test_not_a_feed_raises_one_line(store, tmp_path, content, reason):
    path = tmp_path / "input.bin"
    path.write_bytes(content)
    with pytest.raises(NotAFeed) as exc:
        import_path(store, path)
    assert reason in str(exc.value)
    assert "\n" not in str(exc.value) and str(exc.value).startswith(str(path))
    assert exc.value.path == str(path)


def test_directory_without_feeds_raises(store, tmp_path):
    (tmp_path / "notes.txt").write_text("nothing here")
    with pytest.raises(NotAFeed, match="no feed files"):
        import_path(store, tmp_path)
    with pytest.raises(NotAFeed, match="no such file"):
        import_path(store, tmp_path / "missing.json")


def test_failed_import_rolls_back_the_whole_file(tmp_path, monkeypatch):
    db = tmp_path / "kb.sqlite"
    s = open_store(db)
    import_path(s, KEV)
    calls = {"n": 0}
    real_add = imp._VulnWriter.add

    def failing_add(self, parsed):
        calls["n"] += 1
        if calls["n"] == 3:
            raise RuntimeError("disk full")
        real_add(self, parsed)

    monkeypatch.setattr(imp, "BATCH", 1)  # rows 1 and 2 reach the database before the failure
    monkeypatch.setattr(imp._VulnWriter, "add", failing_add)
    with pytest.raises(RuntimeError, match="disk full"):
        import_path(s, NVD)
    s.close()
    with sqlite3.connect(db) as raw:
        assert raw.execute("SELECT count(*) FROM vulnerabilities").fetchone() == (0,)
        assert raw.execute("SELECT count(*) FROM cpe_ranges").fetchone() == (0,)
        assert raw.execute("SELECT name FROM sources").fetchall() == [("kev",)]
        assert raw.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        assert raw.execute("SELECT count(*) FROM kev").fetchone() == (2,)


# --------------------------------------------------------------------------- status


def test_status_reports_sources_counts_and_last_import(store):
    empty = store.status()
    assert empty["last_import"] is None and empty["sources"] == []
    assert empty["counts"]["vulnerabilities"] == 0
    import_path(store, OSV_DIR)
    import_path(store, NVD)
    import_path(store, KEV)
    import_path(store, EPSS)
    st = store.status()
    json.dumps(st)  # JSON-ready
    assert st["schema_version"] == SCHEMA_VERSION
    assert st["counts"] == {
        "vulnerabilities": 6,
        "aliases": 3,
        "affected_packages": 6,
        "cpe_ranges": 12,
        "kev": 2,
        "epss": 4,
    }
    assert st["vulnerabilities_by_source"] == {"nvd": 3, "osv": 3}
    assert [(s["name"], s["records"]) for s in st["sources"]] == [
        ("osv", 3),
        ("nvd", 3),
        ("kev", 2),
        ("epss", 4),
    ]
    assert st["sources"][1]["file"] == str(NVD)
    assert st["sources"][1]["mtime"] is not None
    assert st["last_import"] == st["sources"][-1]["imported_at"]
    assert st["url"].startswith("sqlite:///")
