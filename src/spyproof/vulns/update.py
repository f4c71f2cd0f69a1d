"""``spyproof db update``: fetch the official feeds, verify them, swap them in atomically.

Downloads land in a cache directory (default ``<db dir>/downloads/``) that also holds
``state.json``: each URL's validators (ETag, Last-Modified), the SHA-256 of the cached file
and which knowledge bases it was imported into. A re-run therefore sends conditional
requests, and a 304 for a file already imported costs neither bandwidth nor an import. An
interrupted download stays as ``<file>.part`` and resumes with ``Range`` + ``If-Range``.

Nothing is used unverified: NVD files must match the SHA-256 (and sizes) of the
uncompressed JSON published in their ``.meta`` file; gzip streams are decompressed in full
(CRC and length checked); zips pass ``testzip``; the KEV JSON must parse. A rejected file is
deleted, the previous cached copy and its validators stay, and the update stops.

SQLite: the knowledge base is copied with the backup API into a temporary file in the same
directory, every feed is imported into the copy, and the copy replaces the original with
``os.replace`` only when everything verified and imported; readers see the old or the new
knowledge base, never a mix. ``db update`` assumes no concurrent writer to the file.
PostgreSQL (any non-file URL): each feed file is imported in its own transaction, as
:func:`~spyproof.vulns.importers.import_path` does; a failure rolls that file back, but
files imported before it stay.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import http.client
import json
import os
import re
import shutil
import sqlite3
import ssl
import tempfile
import urllib.error
import urllib.parse
import urllib.request
import zipfile
import zlib
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

from spyproof import __version__
from spyproof.vulns.importers import NotAFeed, import_path
from spyproof.vulns.store import (
    Store,
    StoreError,
    default_db_path,
    open_store,
    resolve_db_url,
    sources,
)

# Where each feed is published. Override per feed with ``base_urls`` (tests, mirrors).
OFFICIAL_BASE_URLS: dict[str, str] = {
    "osv": "https://osv-vulnerabilities.storage.googleapis.com",
    "nvd": "https://nvd.nist.gov/feeds/json/cve/2.0",
    "kev": "https://www.cisa.gov/sites/default/files/feeds",
    # FIRST's data page links here since May 2025 (EPSS is run by Empirical Security);
    # the former https://epss.cyentia.com/epss_scores-current.csv.gz only 301-redirects here.
    "epss": "https://epss.empiricalsecurity.com",
}

# feed -> (path under its base URL, file name in the cache); {ecosystem} / {year} filled in
FEED_FILES: dict[str, tuple[str, str]] = {
    "osv": ("{ecosystem}/all.zip", "osv-{ecosystem}-all.zip"),
    "nvd": ("nvdcve-2.0-{year}.json.gz", "nvdcve-2.0-{year}.json.gz"),
    "kev": ("known_exploited_vulnerabilities.json", "known_exploited_vulnerabilities.json"),
    "epss": ("epss_scores-current.csv.gz", "epss_scores-current.csv.gz"),
}

FEEDS = tuple(OFFICIAL_BASE_URLS)
DEFAULT_OSV_ECOSYSTEMS = ("Debian", "Alpine", "OSS-Fuzz")
NVD_FIRST_YEAR = 2002
NVD_MODIFIED = "modified"  # the rolling feed of the last eight days' changes

MAX_DOWNLOAD_BYTES = 2 << 30  # largest official file today is a few hundred MiB
MAX_UNCOMPRESSED_BYTES = 8 << 30  # gzip bomb guard for verification
MAX_META_BYTES = 64 << 10
CHUNK = 1 << 16
STATE_FILE = "state.json"
STATE_VERSION = 1
OFFLINE_HINT = "db update needs network access; import downloaded files with `spyproof db import`"

Progress = Callable[[str, int, int | None], None]  # (url, bytes so far, total or None)

_SAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")
_SHA256 = re.compile(r"^[0-9a-fA-F]{64}$")
_CONTENT_RANGE = re.compile(r"^bytes\s+(\d+)-(\d+)/(\d+|\*)$")


class UpdateError(Exception):
    """``db update`` failed. ``str()`` is one line for the CLI; ``result`` is what got done."""

    def __init__(self, message: str, result: UpdateResult | None = None) -> None:
        super().__init__(" ".join(message.split()))
        self.result = result


class _Rejected(Exception):
    """A downloaded file failed verification (the reason, without the URL)."""


class _Interrupted(Exception):
    """The transfer broke off mid-body; the ``.part`` file can be resumed."""


@dataclass(frozen=True)
class Target:
    """One file to fetch: which feed, a short name, where from, where to in the cache."""

    feed: str  # osv / nvd / kev / epss
    name: str  # e.g. "osv:Debian", "nvd:2024", "nvd:modified", "kev", "epss"
    url: str
    filename: str
    meta_url: str | None = None  # NVD's .meta with the SHA-256 of the uncompressed JSON


@dataclass
class FeedResult:
    name: str
    url: str
    file: str  # the cached file
    status: str = "pending"  # downloaded | not-modified | failed
    bytes: int = 0  # transferred by this run
    resumed_from: int = 0  # offset of a resumed transfer, 0 when it started afresh
    imported: bool = False
    records: int = 0  # valid records read by the import
    written: int = 0  # records inserted or replaced
    warnings: list[str] = field(default_factory=list)
    error: str | None = None


@dataclass
class UpdateResult:
    db: str
    cache_dir: str
    feeds: list[FeedResult] = field(default_factory=list)
    replaced: bool = False  # the SQLite file was swapped for the updated copy

    @property
    def ok(self) -> bool:
        return all(f.status != "failed" for f in self.feeds)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready, for ``--json`` output."""
        return {**asdict(self), "ok": self.ok}


# --------------------------------------------------------------------------- planning


def plan_downloads(
    feeds: Iterable[str] | None = None,
    *,
    base_urls: dict[str, str] | None = None,
    nvd_years: Iterable[int] | None = None,
    osv_ecosystems: Iterable[str] | None = None,
) -> list[Target]:
    """The files one update fetches, in import order (a CLI can show them before it starts)."""
    chosen = list(dict.fromkeys(feeds or FEEDS))
    for name in [*chosen, *(base_urls or {})]:
        if name not in OFFICIAL_BASE_URLS:
            raise UpdateError(f"unknown feed {name!r}: choose from {', '.join(FEEDS)}")
    bases = {**OFFICIAL_BASE_URLS, **(base_urls or {})}
    targets: list[Target] = []
    for feed in chosen:
        base = bases[feed].rstrip("/")
        if feed == "osv":
            ecos = list(osv_ecosystems or DEFAULT_OSV_ECOSYSTEMS)
            targets += [_target(feed, f"osv:{e}", base, ecosystem=e) for e in ecos]
        elif feed == "nvd":
            years = [str(y) for y in sorted(set(_nvd_years(nvd_years)))] + [NVD_MODIFIED]
            targets += [_target(feed, f"nvd:{y}", base, year=y) for y in years]
        else:
            targets.append(_target(feed, feed, base))
    return targets


def _nvd_years(years: Iterable[int] | None) -> Iterable[int]:
    return range(NVD_FIRST_YEAR, datetime.now(UTC).year + 1) if years is None else years


def _target(feed: str, name: str, base: str, **fields: str) -> Target:
    path_t, file_t = FEED_FILES[feed]
    path = path_t.format(**{k: urllib.parse.quote(v, safe="") for k, v in fields.items()})
    filename = file_t.format(**{k: _SAFE_NAME.sub("_", v) for k, v in fields.items()})
    url = f"{base}/{path}"
    meta = url.removesuffix(".json.gz") + ".meta" if feed == "nvd" else None
    return Target(feed, name, url, filename, meta)


# --------------------------------------------------------------------------- entry point


def update_db(
    db: str | os.PathLike[str] | None = None,
    *,
    feeds: Iterable[str] | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
    base_urls: dict[str, str] | None = None,
    nvd_years: Iterable[int] | None = None,
    osv_ecosystems: Iterable[str] | None = None,
    timeout: float = 60.0,
    max_bytes: int = MAX_DOWNLOAD_BYTES,
    retries: int = 2,
    progress: Progress | None = None,
) -> UpdateResult:
    """Download, verify and import the official feeds; see the module docstring.

    ``feeds`` picks from :data:`FEEDS` (default all); ``base_urls`` maps a feed to another
    base URL; ``retries`` is how often an interrupted transfer is resumed within this call.
    Raises :class:`UpdateError` (with ``.result``) when anything fails; the knowledge base
    is then unchanged (SQLite) or changed only by the files imported before (PostgreSQL).
    """
    targets = plan_downloads(
        feeds, base_urls=base_urls, nvd_years=nvd_years, osv_ecosystems=osv_ecosystems
    )
    url = resolve_db_url(db)
    db_file = _sqlite_file(url)
    cache = (Path(cache_dir) if cache_dir else _default_cache(db_file)).expanduser().resolve()
    cache.mkdir(parents=True, exist_ok=True)
    try:
        with open_store(url) as store:
            key, done, shown = _db_key(store, db_file), _imported_files(store), store.url
    except StoreError as exc:
        raise UpdateError(str(exc)) from exc
    client = _Client(cache, timeout=timeout, max_bytes=max_bytes, retries=retries)
    client.progress = progress
    result = UpdateResult(db=shown, cache_dir=str(cache))
    result.feeds = [FeedResult(t.name, t.url, str(cache / t.filename)) for t in targets]
    try:
        jobs = _fetch_all(client, targets, result.feeds, key, done)
        if jobs:
            result.replaced = _import_jobs(url, db_file, jobs)
            client.mark_imported([t for t, _ in jobs], key)
    except UpdateError as exc:
        exc.result = result
        raise
    finally:
        client.save()
    return result


def _fetch_all(
    client: _Client,
    targets: list[Target],
    results: list[FeedResult],
    key: str,
    done: set[str],
) -> list[tuple[Target, FeedResult]]:
    """Bring every cached file up to date; return those that still need importing."""
    jobs = []
    for t, fr in zip(targets, results, strict=True):
        try:
            meta = client.fetch(t, fr)
            if client.needs_import(t, key, done):
                if fr.status == "not-modified":  # verified when downloaded; check again
                    client.verify_cached(t, meta)
                jobs.append((t, fr))
        except UpdateError as exc:
            fr.status, fr.error = "failed", str(exc)
            raise
    return jobs


def _sqlite_file(url: str) -> Path | None:
    """The database file behind a ``sqlite:///`` URL (None for servers and :memory:)."""
    u = make_url(url)
    if u.get_backend_name() != "sqlite" or not u.database or u.database == ":memory:":
        return None
    if u.database.startswith("file:"):
        return None
    return Path(u.database)


def _default_cache(db_file: Path | None) -> Path:
    return (db_file.parent if db_file else default_db_path().parent) / "downloads"


def _db_key(store: Store, db_file: Path | None) -> str:
    """Identifies the knowledge base in ``state.json``'s imported markers."""
    return str(db_file.resolve()) if db_file else store.url


def _imported_files(store: Store) -> set[str]:
    """Files the knowledge base records as imported: a marker alone is not trusted."""
    with store.engine.connect() as conn:
        return set(conn.execute(select(sources.c.file)).scalars())


# --------------------------------------------------------------------------- importing


def _import_jobs(url: str, db_file: Path | None, jobs: list[tuple[Target, FeedResult]]) -> bool:
    """Import into a copy that replaces the SQLite file, or in place for a server."""
    if db_file is None:
        with open_store(url) as store:
            _import_files(store, jobs, "files imported before it stay")
        return False
    _swap_import(db_file, jobs)
    return True


def _swap_import(db_file: Path, jobs: list[tuple[Target, FeedResult]]) -> None:
    """Backup-copy, import into the copy, ``os.replace`` it over the original."""
    _refuse_wal(db_file)
    fd, name = tempfile.mkstemp(prefix=f".{db_file.name}.", suffix=".update", dir=db_file.parent)
    os.close(fd)
    tmp = Path(name)
    try:
        _backup(db_file, tmp)
        try:
            store = open_store(tmp)
        except StoreError as exc:
            raise UpdateError(str(exc)) from exc
        with store:
            _import_files(store, jobs, "the knowledge base was not changed")
        _fsync(tmp)
        with contextlib.suppress(OSError):
            shutil.copymode(db_file, tmp)
        os.replace(tmp, db_file)
        _fsync_dir(db_file.parent)
    finally:
        for leftover in (tmp, tmp.with_name(tmp.name + "-journal")):
            leftover.unlink(missing_ok=True)


def _refuse_wal(db_file: Path) -> None:
    """A live WAL belongs to the old file: replacing under it would corrupt the new one."""
    wal = db_file.with_name(db_file.name + "-wal")
    if wal.exists() and wal.stat().st_size > 0:
        raise UpdateError(
            f"{db_file} is in use (write-ahead log {wal.name} is not empty): "
            "close other spyproof processes and run db update again"
        )


def _backup(src: Path, dst: Path) -> None:
    """A consistent copy even while readers have the database open."""
    if not src.exists() or src.stat().st_size == 0:
        return
    with (
        contextlib.closing(sqlite3.connect(src)) as source,
        contextlib.closing(sqlite3.connect(dst)) as copy,
    ):
        source.backup(copy)


def _import_files(store: Store, jobs: list[tuple[Target, FeedResult]], aftermath: str) -> None:
    for t, fr in jobs:
        try:
            res = import_path(store, fr.file)
        except (NotAFeed, StoreError, SQLAlchemyError, OSError) as exc:
            fr.status, fr.error = "failed", f"import failed: {exc}"
            raise UpdateError(
                f"import of {fr.file} (from {t.url}) failed: {exc}; {aftermath}"
            ) from exc
        fr.imported, fr.records, fr.written = True, res.records, res.written
        fr.warnings.extend(res.warnings)


def _fsync(path: Path) -> None:
    with open(path, "rb+") as f:
        os.fsync(f.fileno())


def _fsync_dir(path: Path) -> None:
    """Make the rename durable (not available on every platform)."""
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


# --------------------------------------------------------------------------- downloading


class _Client:
    """HTTP with conditional requests and resume, plus the cache's ``state.json``."""

    def __init__(self, cache: Path, *, timeout: float, max_bytes: int, retries: int) -> None:
        self.cache = cache
        self.timeout = timeout
        self.max_bytes = max_bytes
        self.retries = max(0, retries)
        self.progress: Progress | None = None
        self.opener = urllib.request.build_opener()  # honours *_proxy variables
        self.opener.addheaders = [("User-Agent", f"spyproof/{__version__} (db update)")]
        self.state_path = cache / STATE_FILE
        self.state = _load_state(self.state_path)

    # ---- state

    def entry(self, t: Target) -> dict[str, Any]:
        return self.state["urls"].setdefault(t.url, {"file": t.filename})

    def save(self) -> None:
        tmp = self.state_path.with_name(self.state_path.name + ".tmp")
        tmp.write_text(json.dumps(self.state, indent=1, sort_keys=True), encoding="utf-8")
        os.replace(tmp, self.state_path)

    def needs_import(self, t: Target, key: str, done: set[str]) -> bool:
        entry = self.entry(t)
        sha = entry.get("sha256")
        marked = sha is not None and entry.get("imported", {}).get(key) == sha
        return not (marked and str(self.cache / t.filename) in done)

    def mark_imported(self, targets: list[Target], key: str) -> None:
        for t in targets:
            entry = self.entry(t)
            entry.setdefault("imported", {})[key] = entry["sha256"]

    # ---- fetching

    def fetch(self, t: Target, fr: FeedResult) -> dict[str, str] | None:
        """Update ``t``'s cached file (304, resume or fresh download, verified); its meta."""
        meta = self._meta(t) if t.meta_url else None
        dest = self.cache / t.filename
        fr.status = self._download(t, dest, fr)
        if fr.status == "downloaded":
            self._accept(t, dest, meta)
        return meta

    def verify_cached(self, t: Target, meta: dict[str, str] | None) -> None:
        """Re-check a cached file before importing it; a bad one is dropped for next time."""
        dest = self.cache / t.filename
        try:
            digest = _verify(t, dest, meta)
        except _Rejected as exc:
            dest.unlink(missing_ok=True)
            self.state["urls"].pop(t.url, None)
            raise UpdateError(_rejected(f"cached copy of {t.url}", exc)) from None
        self.entry(t)["sha256"] = digest

    def _download(self, t: Target, dest: Path, fr: FeedResult) -> str:
        """Retry interrupted transfers, resuming from the ``.part`` file each time."""
        reason = ""
        for _ in range(self.retries + 1):
            try:
                return self._attempt(t, dest, fr)
            except _Interrupted as exc:
                reason = str(exc)
        part = _part(dest)
        got = part.stat().st_size if part.exists() else 0
        raise UpdateError(
            f"download of {t.url} interrupted ({reason}) after {got} bytes: "
            "run db update again to resume"
        )

    def _attempt(self, t: Target, dest: Path, fr: FeedResult) -> str:
        for _ in range(2):  # a second pass only after the server refused our byte range
            status = self._request(t, dest, fr)
            if status != "restart":
                return status
            self._drop_part(t, dest)
        raise UpdateError(f"{t.url}: the server refuses byte ranges even for a fresh download")

    def _request(self, t: Target, dest: Path, fr: FeedResult) -> str:
        """One GET; 'downloaded', 'not-modified' or 'restart' (discard the part, retry)."""
        entry = self.entry(t)
        part = _part(dest)
        offset = part.stat().st_size if part.exists() else 0
        headers = _conditional_headers(entry) if dest.exists() else {}
        validator = _if_range(entry.get("part") or {})
        if offset and validator:
            headers.update({"Range": f"bytes={offset}-", "If-Range": validator})
        elif offset:
            part.unlink()
            offset = 0
        status, resp = self._open(t.url, headers)
        if status == 304:
            return self._not_modified(t, dest)
        if status == 416:
            return "restart"
        with resp:
            if status == 206:
                start, total = _content_range(resp.headers.get("Content-Range"))
                if start != offset:
                    return "restart"
            else:  # 200: a fresh body (also when the server ignored Range or If-Range)
                offset, total = 0, None
                entry["part"] = {
                    "etag": resp.headers.get("ETag"),
                    "last_modified": resp.headers.get("Last-Modified"),
                }
                self.save()  # so a killed run can still resume
            length = _int(resp.headers.get("Content-Length"))
            total = offset + length if length is not None else total
            self._check_size(t, dest, total)
            fr.resumed_from = offset
            self._stream(resp, t, dest, offset, total, fr)
        return "downloaded"

    def _open(self, url: str, headers: dict[str, str]) -> tuple[int, Any]:
        """(status, response); HTTP and network failures become one-line UpdateErrors."""
        req = urllib.request.Request(url, headers=headers)
        try:
            resp = self.opener.open(req, timeout=self.timeout)
        except urllib.error.HTTPError as exc:
            exc.close()
            if exc.code in (304, 416):
                return exc.code, None
            raise UpdateError(f"download failed: {url}: HTTP {exc.code} {exc.reason}") from None
        except urllib.error.URLError as exc:
            raise UpdateError(_unreachable(url, exc.reason)) from None
        except (OSError, http.client.HTTPException) as exc:  # after connecting
            raise _Interrupted(_why(exc)) from exc
        return resp.status, resp

    def _not_modified(self, t: Target, dest: Path) -> str:
        if not dest.exists():  # we only ask conditionally when we hold a copy
            raise UpdateError(f"download failed: {t.url}: HTTP 304 without a cached copy")
        self._drop_part(t, dest)
        return "not-modified"

    def _drop_part(self, t: Target, dest: Path) -> None:
        _part(dest).unlink(missing_ok=True)
        self.entry(t).pop("part", None)

    def _check_size(self, t: Target, dest: Path, total: int | None) -> None:
        if total is not None and total > self.max_bytes:
            self._drop_part(t, dest)
            raise UpdateError(
                f"rejected {t.url}: {total} bytes is over the {self.max_bytes} byte limit"
            )

    def _stream(
        self, resp: Any, t: Target, dest: Path, offset: int, total: int | None, fr: FeedResult
    ) -> None:
        """Append the body to the ``.part`` file; a short body raises _Interrupted."""
        size = offset
        with open(_part(dest), "ab" if offset else "wb") as out:
            while True:
                try:
                    chunk = resp.read(CHUNK)
                except (OSError, http.client.HTTPException) as exc:
                    raise _Interrupted(_why(exc)) from exc
                if not chunk:
                    break
                size += len(chunk)
                fr.bytes += len(chunk)
                if size > self.max_bytes:
                    out.close()
                    self._check_size(t, dest, size)
                out.write(chunk)
                if self.progress is not None:
                    self.progress(t.url, size, total)
        if total is not None and size < total:
            raise _Interrupted(f"connection closed at byte {size} of {total}")

    def _accept(self, t: Target, dest: Path, meta: dict[str, str] | None) -> None:
        """Verify the finished ``.part``; only then does it replace the cached file."""
        part = _part(dest)
        try:
            digest = _verify(t, part, meta)
        except _Rejected as exc:
            self._drop_part(t, dest)
            raise UpdateError(_rejected(t.url, exc)) from None
        entry = self.entry(t)
        validators = entry.pop("part", None) or {}
        os.replace(part, dest)
        entry.update(
            etag=validators.get("etag"),
            last_modified=validators.get("last_modified"),
            sha256=digest,
            size=dest.stat().st_size,
            fetched_at=datetime.now(UTC).isoformat(timespec="seconds"),
        )
        self.save()

    def _meta(self, t: Target) -> dict[str, str]:
        """NVD's ``.meta`` (always fetched: it is tiny and says what the .gz must hash to)."""
        assert t.meta_url is not None
        status, resp = self._open(t.meta_url, {})
        if status != 200 or resp is None:
            raise UpdateError(f"download failed: {t.meta_url}: HTTP {status}")
        with resp:
            try:
                data = resp.read(MAX_META_BYTES + 1)
            except (OSError, http.client.HTTPException) as exc:
                raise UpdateError(f"download of {t.meta_url} interrupted ({_why(exc)})") from None
        try:
            return _parse_meta(data)
        except _Rejected as exc:
            raise UpdateError(_rejected(t.meta_url, exc)) from None


def _load_state(path: Path) -> dict[str, Any]:
    """A missing or damaged state file only costs full downloads, never an error."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        data = None
    if not isinstance(data, dict) or not isinstance(data.get("urls"), dict):
        data = {"version": STATE_VERSION, "urls": {}}
    return data


def _part(dest: Path) -> Path:
    return dest.with_name(dest.name + ".part")


def _conditional_headers(entry: dict[str, Any]) -> dict[str, str]:
    headers = {}
    if entry.get("etag"):
        headers["If-None-Match"] = entry["etag"]
    if entry.get("last_modified"):
        headers["If-Modified-Since"] = entry["last_modified"]
    return headers


def _if_range(part: dict[str, Any]) -> str | None:
    """A strong ETag, else Last-Modified; without either, resuming could splice versions."""
    etag = part.get("etag")
    if etag and not etag.startswith("W/"):
        return etag
    return part.get("last_modified") or None


def _content_range(value: str | None) -> tuple[int | None, int | None]:
    m = _CONTENT_RANGE.match((value or "").strip())
    if not m:
        return None, None
    return int(m.group(1)), None if m.group(3) == "*" else int(m.group(3))


def _int(value: str | None) -> int | None:
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def _why(exc: BaseException) -> str:
    return getattr(exc, "strerror", None) or str(exc) or type(exc).__name__


def _unreachable(url: str, reason: Any) -> str:
    host = urllib.parse.urlsplit(url).netloc or url
    if isinstance(reason, ssl.SSLError):
        return f"TLS failure talking to {host} ({_why(reason)}): cannot download {url}"
    why = _why(reason) if isinstance(reason, BaseException) else str(reason)
    return f"cannot reach {host} ({why}): {OFFLINE_HINT}"


def _rejected(what: str, exc: _Rejected) -> str:
    return f"rejected {what}: {exc}; the previous data stays"


# --------------------------------------------------------------------------- verification


def _verify(t: Target, path: Path, meta: dict[str, str] | None) -> str:
    """Raise _Rejected unless ``path`` is an intact file of ``t``'s format; its SHA-256."""
    if t.feed == "osv":
        _check_zip(path)
    elif t.feed == "nvd":
        assert meta is not None
        _check_nvd(path, meta)
    elif t.feed == "kev":
        _check_kev(path)
    else:
        _check_epss(path)
    return _file_sha256(path)


def _file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK * 16):
            h.update(chunk)
    return h.hexdigest()


def _parse_meta(data: bytes) -> dict[str, str]:
    """``key:value`` lines; the ``sha256`` of the uncompressed JSON is required."""
    if len(data) > MAX_META_BYTES:
        raise _Rejected("not an NVD .meta file (too large)")
    fields = {}
    for line in data.decode("ascii", "replace").splitlines():
        key, sep, value = line.partition(":")
        if sep:
            fields[key.strip()] = value.strip()
    if not _SHA256.match(fields.get("sha256", "")):
        raise _Rejected("no sha256 line: not an NVD .meta file")
    return fields


def _gunzip_digest(path: Path) -> tuple[str, int, bytes, bytes]:
    """Decompress in full (CRC and length are checked at the end): sha256, size, head, tail."""
    h, size, head, tail = hashlib.sha256(), 0, b"", b""
    try:
        with gzip.open(path, "rb") as g:
            while chunk := g.read(CHUNK * 16):
                size += len(chunk)
                if size > MAX_UNCOMPRESSED_BYTES:
                    raise _Rejected(f"decompresses to more than {MAX_UNCOMPRESSED_BYTES} bytes")
                h.update(chunk)
                head = head if len(head) >= 256 else (head + chunk)[:256]
                tail = (tail + chunk)[-256:]
    except (OSError, EOFError, zlib.error) as exc:
        raise _Rejected(f"corrupt gzip data ({_why(exc)})") from exc
    return h.hexdigest(), size, head, tail


def _check_nvd(path: Path, meta: dict[str, str]) -> None:
    digest, size, head, tail = _gunzip_digest(path)
    if digest != meta["sha256"].lower():
        raise _Rejected(f"SHA-256 {digest} differs from the .meta file's {meta['sha256']}")
    for key, actual in (("size", size), ("gzSize", path.stat().st_size)):
        expected = _int(meta.get(key))
        if expected is not None and expected != actual:
            raise _Rejected(f"{key} is {actual}, the .meta file says {expected}")
    if not (head.lstrip().startswith(b"{") and tail.rstrip().endswith(b"}")):
        raise _Rejected("not a JSON object")


def _check_kev(path: Path) -> None:
    try:
        doc = json.loads(path.read_bytes().decode("utf-8-sig"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise _Rejected(f"invalid JSON ({exc})") from exc
    if not isinstance(doc, dict) or not isinstance(doc.get("vulnerabilities"), list):
        raise _Rejected("JSON without a 'vulnerabilities' list: not the KEV catalog")


def _check_epss(path: Path) -> None:
    _, _, head, _ = _gunzip_digest(path)
    first = head.lstrip(b"\xef\xbb\xbf").lower()
    if not (first.startswith(b"#model_version") or first.startswith(b"cve,epss")):
        raise _Rejected("not an EPSS CSV (no model_version or cve,epss header)")


def _check_zip(path: Path) -> None:
    try:
        with zipfile.ZipFile(path) as zf:
            bad = zf.testzip()  # reads every member: CRC-32 and sizes
            names = zf.namelist()
    except (zipfile.BadZipFile, OSError, EOFError, zlib.error, ValueError) as exc:
        raise _Rejected(f"corrupt zip archive ({_why(exc)})") from exc
    if bad is not None:
        raise _Rejected(f"corrupt zip member {bad}")
    if not any(n.lower().endswith(".json") for n in names):
        raise _Rejected("zip without OSV .json records")


__all__ = [
    "DEFAULT_OSV_ECOSYSTEMS",
    "FEEDS",
    "FEED_FILES",
    "OFFICIAL_BASE_URLS",
    "FeedResult",
    "Target",
    "UpdateError",
    "UpdateResult",
    "plan_downloads",
    "update_db",
]
