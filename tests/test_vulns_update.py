"""``db update``: download with conditional requests and resume, verify, swap atomically.

Every test talks to a local ThreadingHTTPServer on 127.0.0.1 serving feeds generated from
tests/data/vulns/; nothing touches the network (the DNS test fails name resolution itself).
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import socket
import threading
import time
import zipfile
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from sqlalchemy import select

from spyproof.vulns import open_store
from spyproof.vulns import update as upd
from spyproof.vulns.store import vulnerabilities
from spyproof.vulns.update import UpdateError, plan_downloads, update_db

DATA = Path(__file__).resolve().parent / "data" / "vulns"
NVD = DATA / "nvd" / "nvdcve-2.0-sample.json"
KEV = DATA / "kev" / "known_exploited_vulnerabilities.json"
EPSS = DATA / "epss" / "epss_scores-2024-04-01.csv"

OSV_ZIP = "/osv/Debian/all.zip"
NVD_GZ = "/nvd/nvdcve-2.0-2024.json.gz"
NVD_META = "/nvd/nvdcve-2.0-2024.meta"
NVD_MOD = "/nvd/nvdcve-2.0-modified.json.gz"
NVD_MOD_META = "/nvd/nvdcve-2.0-modified.meta"
KEV_JSON = "/kev/known_exploited_vulnerabilities.json"
EPSS_GZ = "/epss/epss_scores-current.csv.gz"
DATA_PATHS = (OSV_ZIP, NVD_GZ, NVD_MOD, KEV_JSON, EPSS_GZ)


# --------------------------------------------------------------------------- feed files


def osv_zip(compression: int = zipfile.ZIP_DEFLATED) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression) as zf:
        for f in sorted((DATA / "osv").glob("*.json")):
            zf.writestr(f.name, f.read_bytes())
    return buf.getvalue()


def nvd_meta(raw: bytes, gz: bytes, sha: str | None = None) -> bytes:
    digest = (sha or hashlib.sha256(raw).hexdigest()).upper()  # NVD writes upper case
    return (
        "lastModifiedDate:2025-03-01T03:00:01-05:00\r\n"
        f"size:{len(raw)}\r\nzipSize:{len(gz)}\r\ngzSize:{len(gz)}\r\nsha256:{digest}\r\n"
    ).encode()


def put_nvd(files: dict[str, bytes], doc: dict, sha: str | None = None, path=NVD_GZ) -> None:
    raw = json.dumps(doc, indent=1).encode()
    gz = gzip.compress(raw, mtime=0)
    files[path] = gz
    files[path.replace(".json.gz", ".meta")] = nvd_meta(raw, gz, sha)


def feed_files() -> dict[str, bytes]:
    doc = json.loads(NVD.read_bytes())
    recent = {**doc, "vulnerabilities": doc["vulnerabilities"][:1], "totalResults": 1}
    files = {
        OSV_ZIP: osv_zip(),
        KEV_JSON: KEV.read_bytes(),
        EPSS_GZ: gzip.compress(EPSS.read_bytes(), mtime=0),
    }
    put_nvd(files, doc)
    put_nvd(files, recent, path=NVD_MOD)
    return files


def etag(body: bytes) -> str:
    return '"' + hashlib.sha256(body).hexdigest()[:16] + '"'


# --------------------------------------------------------------------------- the server


class FeedHandler(BaseHTTPRequestHandler):
    """Serves ``server.feeds``: ETag/Last-Modified/304, Range/If-Range/206/416, faults."""

    def log_message(self, *args) -> None:
        pass

    def do_GET(self) -> None:
        feeds: FeedServer = self.server.feeds  # type: ignore[attr-defined]
        path = urlsplit(self.path).path
        feeds.requests.append((path, dict(self.headers)))
        if path in feeds.fail:
            self.send_error(feeds.fail[path])
            return
        if path in feeds.delay:
            time.sleep(feeds.delay[path])
        body = feeds.files.get(path)
        if body is None:
            self.send_error(404)
            return
        tag, modified = etag(body), "Wed, 01 Jan 2025 00:00:00 GMT"
        if self.headers.get("If-None-Match") == tag:
            self.send_response(304)
            self.send_header("ETag", tag)
            self.end_headers()
            return
        rng = self.headers.get("Range")
        if rng and feeds.range_mode != "ignore" and self.headers.get("If-Range", tag) == tag:
            self._partial(body, int(rng.removeprefix("bytes=").rstrip("-")), tag, feeds)
            return
        self.send_response(200)
        for k, v in (("ETag", tag), ("Last-Modified", modified), ("Accept-Ranges", "bytes")):
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        cut = feeds.cut.pop(path, None)
        self.wfile.write(body if cut is None else body[:cut])  # HTTP/1.0: then we hang up

    def _partial(self, body: bytes, start: int, tag: str, feeds: FeedServer) -> None:
        if feeds.range_mode == "from0":  # a broken server: 206, but not the range asked for
            start = 0
        if feeds.range_mode == "416" or start >= len(body):
            self.send_response(416)
            self.send_header("Content-Range", f"bytes */{len(body)}")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        self.send_response(206)
        self.send_header("ETag", tag)
        self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
        self.send_header("Content-Length", str(len(body) - start))
        self.end_headers()
        self.wfile.write(body[start:])


class QuietServer(ThreadingHTTPServer):
    def handle_error(self, request, client_address) -> None:
        pass  # a client that timed out or hung up: expected in these tests


class FeedServer:
    def __init__(self, files: dict[str, bytes]) -> None:
        self.files = files
        self.requests: list[tuple[str, dict[str, str]]] = []
        self.fail: dict[str, int] = {}  # path -> HTTP status
        self.cut: dict[str, int] = {}  # path -> bytes sent before hanging up (once)
        self.delay: dict[str, float] = {}
        self.range_mode = "honour"  # or "ignore" (200, not 206), "416", "from0" (bad 206)
        self.base = ""

    @property
    def base_urls(self) -> dict[str, str]:
        return {f: f"{self.base}/{f}" for f in ("osv", "nvd", "kev", "epss")}

    def url(self, path: str) -> str:
        return self.base + path

    def seen(self, path: str) -> list[dict[str, str]]:
        return [h for p, h in self.requests if p == path]


@pytest.fixture
def server(monkeypatch):
    for var in ("http_proxy", "https_proxy", "all_proxy", "no_proxy"):
        monkeypatch.delenv(var, raising=False)
        monkeypatch.delenv(var.upper(), raising=False)
    feeds = FeedServer(feed_files())
    httpd = QuietServer(("127.0.0.1", 0), FeedHandler)
    httpd.feeds = feeds  # type: ignore[attr-defined]
    thread = threading.Thread(target=httpd.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    feeds.base = f"http://127.0.0.1:{httpd.server_port}"
    yield feeds
    httpd.shutdown()
    httpd.server_close()
    thread.join(5)


@pytest.fixture
def db(tmp_path) -> Path:
    """An existing, empty knowledge base (so 'unchanged' can mean byte-identical)."""
    path = tmp_path / "kb" / "kb.sqlite"
    open_store(path).close()
    return path


def run(server: FeedServer, db: Path, **kw) -> upd.UpdateResult:
    kw.setdefault("nvd_years", [2024])
    kw.setdefault("osv_ecosystems", ["Debian"])
    kw.setdefault("timeout", 5)
    return update_db(db, base_urls=server.base_urls, **kw)


def status(db: Path) -> dict:
    with open_store(db) as s:
        st = s.status()
    for src in st["sources"]:
        src.pop("imported_at")
    st.pop("last_import")
    return st


def leftovers(db: Path) -> list[str]:
    return sorted(p.name for p in db.parent.iterdir() if p.name.endswith((".update", "-journal")))


# --------------------------------------------------------------------------- planning


def test_plan_uses_the_official_locations():
    targets = plan_downloads()
    urls = [t.url for t in targets]
    year = datetime.now(UTC).year
    osv = "https://osv-vulnerabilities.storage.googleapis.com"
    nvd = "https://nvd.nist.gov/feeds/json/cve/2.0"
    assert urls[:3] == [f"{osv}/Debian/all.zip", f"{osv}/Alpine/all.zip", f"{osv}/OSS-Fuzz/all.zip"]
    nvd_urls = [u for u in urls if u.startswith(nvd)]
    assert nvd_urls[0] == f"{nvd}/nvdcve-2.0-2002.json.gz"
    assert nvd_urls[-2:] == [
        f"{nvd}/nvdcve-2.0-{year}.json.gz",
        f"{nvd}/nvdcve-2.0-modified.json.gz",
    ]
    assert len(nvd_urls) == year - 2002 + 2
    assert [t.meta_url for t in targets if t.feed == "nvd"][-1] == f"{nvd}/nvdcve-2.0-modified.meta"
    assert urls[-2:] == [
        "https://www.cisa.gov/sites/default/files/feeds/known_exploited_vulnerabilities.json",
        "https://epss.empiricalsecurity.com/epss_scores-current.csv.gz",
    ]
    assert len({t.filename for t in targets}) == len(targets)


def test_plan_overrides_and_bad_names():
    [t] = plan_downloads(["osv"], base_urls={"osv": "http://mirror/x/"}, osv_ecosystems=["Red Hat"])
    assert (t.url, t.filename, t.name) == (
        "http://mirror/x/Red%20Hat/all.zip",
        "osv-Red_Hat-all.zip",
        "osv:Red Hat",
    )
    with pytest.raises(UpdateError, match="unknown feed 'cpe'"):
        plan_downloads(["cpe"])
    with pytest.raises(UpdateError, match="unknown feed 'nvdd'"):
        plan_downloads(base_urls={"nvdd": "http://x"})


# --------------------------------------------------------------------------- happy paths


def test_first_update_imports_everything(server, db):
    ino = db.stat().st_ino
    seen: list[tuple[str, int, int | None]] = []
    result = run(server, db, progress=lambda url, done, total: seen.append((url, done, total)))
    assert result.ok and result.replaced
    assert [f.status for f in result.feeds] == ["downloaded"] * 5
    assert all(f.imported and f.records > 0 for f in result.feeds)
    assert [f.bytes for f in result.feeds] == [len(server.files[p]) for p in DATA_PATHS]
    st = status(db)
    assert st["vulnerabilities_by_source"] == {"nvd": 3, "osv": 3}
    assert st["counts"]["kev"] == 2 and st["counts"]["epss"] == 4
    assert sorted(s["name"] for s in st["sources"]) == ["epss", "kev", "nvd", "nvd", "osv"]
    cache = db.parent / "downloads"
    assert {s["file"] for s in st["sources"]} == {f.file for f in result.feeds}
    assert all(Path(f.file).parent == cache for f in result.feeds)
    assert db.stat().st_ino != ino  # swapped in with os.replace, not written in place
    assert leftovers(db) == []
    assert (server.url(EPSS_GZ), len(server.files[EPSS_GZ]), len(server.files[EPSS_GZ])) in seen
    json.dumps(result.to_dict())  # the CLI's --json
    assert result.to_dict()["ok"] is True


def test_second_update_is_conditional_and_changes_nothing(server, db):
    run(server, db)
    before, mtime = db.read_bytes(), db.stat().st_mtime_ns
    server.requests.clear()
    result = run(server, db)
    assert [f.status for f in result.feeds] == ["not-modified"] * 5
    assert not result.replaced and not any(f.imported for f in result.feeds)
    assert sum(f.bytes for f in result.feeds) == 0
    for path in DATA_PATHS:
        [headers] = server.seen(path)
        assert headers["If-None-Match"] == etag(server.files[path])
        assert headers["If-Modified-Since"] == "Wed, 01 Jan 2025 00:00:00 GMT"
    assert db.read_bytes() == before and db.stat().st_mtime_ns == mtime


def test_not_modified_files_are_imported_when_the_db_lacks_them(server, db, tmp_path):
    cache = tmp_path / "shared-cache"
    run(server, db, cache_dir=cache)
    other = tmp_path / "other.sqlite"  # a second knowledge base sharing the cache
    result = run(server, other, cache_dir=cache)
    assert [f.status for f in result.feeds] == ["not-modified"] * 5
    assert all(f.imported for f in result.feeds)
    assert status(other)["counts"] == status(db)["counts"]


def test_a_recreated_db_gets_everything_again(server, db):
    run(server, db)
    counts = status(db)["counts"]
    db.unlink()  # same path, so state.json's import markers still name it
    open_store(db).close()
    result = run(server, db)
    assert [f.status for f in result.feeds] == ["not-modified"] * 5
    assert all(f.imported for f in result.feeds)
    assert status(db)["counts"] == counts


def test_non_file_db_imports_in_place(server, db, monkeypatch):
    monkeypatch.setattr(upd, "_sqlite_file", lambda url: None)  # as for a postgresql:// URL
    ino = db.stat().st_ino
    result = run(server, db, cache_dir=db.parent / "dl", feeds=["kev", "epss"])
    assert result.ok and not result.replaced
    assert db.stat().st_ino == ino
    assert status(db)["counts"]["epss"] == 4


# --------------------------------------------------------------------------- resume


def test_interrupted_download_resumes_with_range(server, db):
    server.cut[OSV_ZIP] = 700
    result = run(server, db)
    first, second = server.seen(OSV_ZIP)
    assert "Range" not in first
    assert second["Range"] == "bytes=700-"
    assert second["If-Range"] == etag(server.files[OSV_ZIP])
    osv = result.feeds[0]
    assert osv.status == "downloaded" and osv.resumed_from == 700
    assert osv.bytes == len(server.files[OSV_ZIP])
    assert Path(osv.file).read_bytes() == server.files[OSV_ZIP]
    assert status(db)["vulnerabilities_by_source"]["osv"] == 3


def test_interrupted_download_resumes_on_the_next_run(server, db):
    before = db.read_bytes()
    server.cut[KEV_JSON] = 500
    with pytest.raises(UpdateError) as err:
        run(server, db, feeds=["kev"], retries=0)
    assert str(err.value).startswith(f"download of {server.url(KEV_JSON)} interrupted")
    assert "after 500 bytes" in str(err.value)
    part = db.parent / "downloads" / "known_exploited_vulnerabilities.json.part"
    assert part.stat().st_size == 500
    assert db.read_bytes() == before
    assert err.value.result.feeds[0].status == "failed"
    result = run(server, db, feeds=["kev"], retries=0)
    assert server.seen(KEV_JSON)[-1]["Range"] == "bytes=500-"
    assert result.feeds[0].resumed_from == 500 and not part.exists()
    assert status(db)["counts"]["kev"] == 2


@pytest.mark.parametrize("mode", ["ignore", "416", "from0"])
def test_resume_survives_servers_that_refuse_ranges(server, db, mode):
    server.range_mode = mode
    server.cut[OSV_ZIP] = 700
    result = run(server, db, feeds=["osv"])
    assert result.ok
    ranged = [h for h in server.seen(OSV_ZIP) if "Range" in h]
    assert len(ranged) == 1
    assert Path(result.feeds[0].file).read_bytes() == server.files[OSV_ZIP]
    assert status(db)["vulnerabilities_by_source"] == {"osv": 3}


# --------------------------------------------------------------------------- verification


def test_wrong_sha256_is_rejected_and_the_db_stays(server, db):
    run(server, db)
    before = db.read_bytes()
    cached = db.parent / "downloads" / "nvdcve-2.0-2024.json.gz"
    old_cache = cached.read_bytes()
    doc = json.loads(NVD.read_bytes())
    cve = doc["vulnerabilities"][2]["cve"]
    cve["lastModified"] = "2025-06-01T00:00:00.000"
    cve["descriptions"][0]["value"] = "Updated description."
    put_nvd(server.files, doc, sha="ab" * 32)
    with pytest.raises(UpdateError) as err:
        run(server, db)
    msg = str(err.value)
    assert msg.startswith(f"rejected {server.url(NVD_GZ)}: SHA-256 ")
    assert "\n" not in msg
    assert db.read_bytes() == before
    assert cached.read_bytes() == old_cache and not cached.with_name(cached.name + ".part").exists()
    put_nvd(server.files, doc)  # the publisher fixes the .meta
    run(server, db)
    with open_store(db) as s, s.engine.connect() as conn:
        summary = conn.execute(
            select(vulnerabilities.c.summary).where(vulnerabilities.c.id == cve["id"])
        ).scalar_one()
    assert summary == "Updated description."


def _truncate(b: bytes) -> bytes:
    return b[: len(b) - 12]


def _flip_stored_member() -> bytes:
    data = bytearray(osv_zip(zipfile.ZIP_STORED))
    first = sorted((DATA / "osv").glob("*.json"))[0].name
    data[30 + len(first) + 40] ^= 0x55  # a byte of the first member's data: CRC mismatch
    return bytes(data)


@pytest.mark.parametrize(
    ("path", "damage", "reason"),
    [
        (EPSS_GZ, _truncate, "corrupt gzip data"),
        (EPSS_GZ, lambda b: gzip.compress(b"<html>maintenance</html>"), "not an EPSS CSV"),
        (OSV_ZIP, lambda b: _flip_stored_member(), "corrupt zip member"),
        (OSV_ZIP, lambda b: b"<html>not found</html>", "corrupt zip archive"),
        (KEV_JSON, _truncate, "invalid JSON"),
        (NVD_GZ, _truncate, "corrupt gzip data"),
    ],
)
def test_corrupt_downloads_are_rejected(server, db, path, damage, reason):
    server.files[path] = damage(server.files[path])
    before = db.read_bytes()
    with pytest.raises(UpdateError) as err:
        run(server, db)
    assert str(err.value).startswith(f"rejected {server.url(path)}: {reason}")
    assert db.read_bytes() == before and leftovers(db) == []
    failed = [f for f in err.value.result.feeds if f.status == "failed"]
    assert [f.url for f in failed] == [server.url(path)]
    assert not list((db.parent / "downloads").glob("*.part"))


def test_meta_without_sha256_is_rejected(server, db):
    server.files[NVD_META] = b"lastModifiedDate:2025-03-01T03:00:01-05:00\r\n"
    with pytest.raises(UpdateError, match=r"^rejected .*/nvd/nvdcve-2\.0-2024\.meta: no sha256"):
        run(server, db, feeds=["nvd"])


def test_size_cap(server, db):
    with pytest.raises(UpdateError, match=r"over the 1000 byte limit") as err:
        run(server, db, feeds=["nvd"], max_bytes=1000)
    assert server.url(NVD_GZ) in str(err.value)
    assert not list((db.parent / "downloads").glob("*.part"))


# --------------------------------------------------------------------------- failures


@pytest.mark.parametrize(("code", "text"), [(404, "Not Found"), (500, "Internal Server Error")])
def test_http_errors_name_the_url(server, db, code, text):
    server.fail[EPSS_GZ] = code
    before = db.read_bytes()
    with pytest.raises(UpdateError) as err:
        run(server, db)
    assert str(err.value) == f"download failed: {server.url(EPSS_GZ)}: HTTP {code} {text}"
    assert db.read_bytes() == before
    assert err.value.result.feeds[-1].error == str(err.value)


def test_connection_refused_is_one_clear_line(db):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again when we leave: nothing listens there
    before = db.read_bytes()
    base = {f: f"http://127.0.0.1:{port}/{f}" for f in ("osv", "nvd", "kev", "epss")}
    with pytest.raises(UpdateError) as err:
        update_db(db, base_urls=base, nvd_years=[2024], timeout=5)
    assert str(err.value) == (
        f"cannot reach 127.0.0.1:{port} (Connection refused): db update needs network access; "
        "import downloaded files with `spyproof db import`"
    )
    assert db.read_bytes() == before


def test_dns_failure_is_one_clear_line(db, monkeypatch):
    def no_dns(*args, **kwargs):
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", no_dns)
    for var in ("https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(var, raising=False)
    with pytest.raises(UpdateError) as err:
        update_db(db, feeds=["nvd"], nvd_years=[2024])  # the official URLs
    assert str(err.value) == (
        "cannot reach nvd.nist.gov (Name or service not known): db update needs network "
        "access; import downloaded files with `spyproof db import`"
    )


def test_timeout(server, db):
    server.delay[KEV_JSON] = 1.5
    with pytest.raises(UpdateError, match=r"interrupted \(timed out\)"):
        run(server, db, feeds=["kev"], timeout=0.3, retries=0)


def test_failed_import_leaves_the_original_untouched(server, db, monkeypatch):
    run(server, db, feeds=["kev"])
    before, ino = db.read_bytes(), db.stat().st_ino
    real = upd.import_path

    def failing(store, path):
        if str(path).endswith(".csv.gz"):
            raise upd.NotAFeed(path, "simulated failure")
        return real(store, path)

    monkeypatch.setattr(upd, "import_path", failing)
    with pytest.raises(UpdateError) as err:
        run(server, db)
    assert "simulated failure; the knowledge base was not changed" in str(err.value)
    assert db.read_bytes() == before and db.stat().st_ino == ino
    assert leftovers(db) == []
    feeds = err.value.result.feeds
    # OSV and NVD went into the copy; KEV is unchanged since its import, so it was skipped
    assert [f.imported for f in feeds] == [True, True, True, False, False]
    assert feeds[-1].status == "failed"
    # the files are cached and verified; the next run imports them although all are 304
    monkeypatch.setattr(upd, "import_path", real)
    result = run(server, db)
    assert [f.status for f in result.feeds] == ["not-modified"] * 5
    assert [f.imported for f in result.feeds] == [True, True, True, False, True]
    assert status(db)["counts"]["epss"] == 4


def test_damaged_state_file_costs_only_a_download(server, db):
    run(server, db, feeds=["kev"])
    (db.parent / "downloads" / upd.STATE_FILE).write_text("{not json")
    result = run(server, db, feeds=["kev"])
    assert result.feeds[0].status == "downloaded" and result.feeds[0].imported
    assert "If-None-Match" not in server.seen(KEV_JSON)[-1]
    assert os.path.getsize(db.parent / "downloads" / upd.STATE_FILE) > 0
