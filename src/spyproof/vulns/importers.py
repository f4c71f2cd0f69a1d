"""Import the official feeds into the knowledge base.

Formats are recognised from content, not names: OSV JSON (one record per file, a directory
of them, or an OSV ``all.zip``), NVD CVE API 2.0 JSON feeds, the CISA KEV catalog and the
FIRST EPSS CSV; each possibly gzip- or xz-compressed. One transaction per file (an
``all.zip`` or a directory of OSV records counts as one file): a failure rolls it back.
A record that violates its schema is skipped with a counted warning; a file that is not a
feed at all raises :class:`NotAFeed`.

The large JSON feeds (NVD, KEV) are walked record by record with ``raw_decode`` over the
top-level ``vulnerabilities`` array, so a truncated feed still yields the records before
the cut and never builds the whole document as one Python object.
"""

from __future__ import annotations

import csv
import gc
import gzip
import io
import json
import lzma
import operator
import re
import zipfile
import zlib
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, delete, select

from spyproof.vulns.store import (
    Store,
    affected_packages,
    aliases,
    cpe_ranges,
    epss,
    kev,
    sources,
    utcnow,
    vulnerabilities,
)

BATCH = 1000
_IN_CHUNK = 500  # keys per IN (...) query: well under SQLite's variable limit
MAX_WARNINGS = 200  # warnings kept verbatim; the count is always exact

_CVE_RE = re.compile(r"^CVE-\d{4}-\d{4,}$")
_DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_OSV_EVENTS = {"introduced", "fixed", "last_affected", "limit"}
_OSV_RANGE_TYPES = {"SEMVER", "ECOSYSTEM", "GIT"}
_SEVERITIES = {"critical", "high", "medium", "moderate", "low", "none"}


class NotAFeed(Exception):
    """The file is not a vulnerability feed in any supported format."""

    def __init__(self, path: str | Path, reason: str) -> None:
        self.path = str(path)
        self.reason = reason
        super().__init__(f"{self.path}: not a vulnerability feed: {reason}")


class RecordError(ValueError):
    """One record violates its format's schema."""


@dataclass
class ImportResult:
    records: int = 0  # valid records read (new, updated or unchanged)
    skipped: int = 0  # records skipped with a warning
    warnings: list[str] = field(default_factory=list)
    written: int = 0  # records inserted or replaced (0 on an identical re-import)
    files: int = 0  # feed files imported
    formats: list[str] = field(default_factory=list)

    def warn(self, message: str) -> None:
        self.skipped += 1
        if len(self.warnings) < MAX_WARNINGS:
            self.warnings.append(message)
        elif len(self.warnings) == MAX_WARNINGS:
            self.warnings.append("further warnings suppressed")

    def merge(self, other: ImportResult) -> None:
        self.records += other.records
        self.skipped += other.skipped
        self.written += other.written
        self.files += other.files
        for fmt in other.formats:
            if fmt not in self.formats:
                self.formats.append(fmt)
        for w in other.warnings:
            if len(self.warnings) < MAX_WARNINGS:
                self.warnings.append(w)


# --------------------------------------------------------------------------- entry point


def import_path(store: Store, path: str | Path) -> ImportResult:
    """Import a feed file or a directory of feed files; see the module docstring."""
    p = Path(path)
    if not p.exists():
        raise NotAFeed(p, "no such file or directory")
    with _fewer_gc_passes():
        if p.is_dir():
            return _import_directory(store, p)
        return _import_file(store, p)


@contextmanager
def _fewer_gc_passes(gen0: int = 100_000) -> Iterator[None]:
    """Run the cyclic garbage collector less often during an import.

    Parsing a feed allocates millions of short-lived dicts and lists (no cycles; reference
    counting frees them); at the default threshold (700 allocations) the collector keeps
    traversing them and every live object, ≈ 10 % of a large import's CPU time.
    """
    old = gc.get_threshold()
    if old[0]:  # 0: automatic collection is off already
        gc.set_threshold(max(gen0, old[0]), *old[1:])
    try:
        yield
    finally:
        gc.set_threshold(*old)


def _import_directory(store: Store, root: Path) -> ImportResult:
    result = ImportResult()
    osv_batch: list[tuple[str, bytes]] = []
    latest_mtime: float | None = None
    for f in sorted(q for q in root.rglob("*") if q.is_file()):
        if any(part.startswith(".") for part in f.relative_to(root).parts):
            continue
        data = f.read_bytes()
        try:
            kind = _sniff(f, data)
        except NotAFeed as exc:
            result.warnings.append(f"{f}: ignored ({exc.reason})")
            continue
        if kind == "osv-record":
            osv_batch.append((str(f), data))
            mt = f.stat().st_mtime
            latest_mtime = mt if latest_mtime is None else max(latest_mtime, mt)
        else:
            result.merge(_import_file(store, f))
    if osv_batch:
        part = ImportResult(formats=["osv"])
        with store.engine.begin() as conn:
            writer = _VulnWriter(conn, "osv", str(root), part)
            for name, data in osv_batch:
                _osv_from_bytes(name, _decompress(Path(name), data), writer, part)
            writer.flush()
            _record_source(conn, "osv", str(root), part.records, latest_mtime)
        part.files = 1
        result.merge(part)
    if result.files == 0:
        raise NotAFeed(root, "no feed files in the directory")
    return result


def _import_file(store: Store, path: Path) -> ImportResult:
    data = path.read_bytes()
    kind = _sniff(path, data)
    result = ImportResult(files=1)
    mtime = path.stat().st_mtime
    origin = str(path)
    with store.engine.begin() as conn:
        if kind == "zip":
            result.formats.append("osv")
            _import_osv_zip(conn, path, data, result)
            name = "osv"
        else:
            text = _decompress(path, data)
            if kind == "epss":
                result.formats.append("epss")
                _import_epss(conn, path, text, result)
                name = "epss"
            elif kind == "osv-record":
                result.formats.append("osv")
                writer = _VulnWriter(conn, "osv", origin, result)
                _osv_from_bytes(origin, text, writer, result, strict=path)
                writer.flush()
                name = "osv"
            else:
                name = _import_json_feed(conn, path, text, result)
                result.formats.append(name)
        _record_source(conn, name, origin, result.records, mtime)
    return result


def _record_source(
    conn: Connection, name: str, file: str, records: int, mtime: float | None
) -> None:
    conn.execute(delete(sources).where(sources.c.name == name, sources.c.file == file))
    conn.execute(
        sources.insert(),
        {
            "name": name,
            "file": file,
            "imported_at": utcnow(),
            "records": records,
            "mtime": None
            if mtime is None
            else datetime.fromtimestamp(mtime, UTC).replace(tzinfo=None),
        },
    )


# --------------------------------------------------------------------------- sniffing


def _decompress(path: Path, data: bytes) -> bytes:
    try:
        if data[:2] == b"\x1f\x8b":
            return gzip.decompress(data)
        if data[:6] == b"\xfd7zXZ\x00":
            return lzma.decompress(data)
    except (OSError, EOFError, lzma.LZMAError) as exc:
        raise NotAFeed(path, f"corrupt compressed data ({exc})") from exc
    return data


def _sniff(path: Path, data: bytes) -> str:
    """'zip', 'epss', 'osv-record' or 'json-feed' (NVD/KEV/OSV list, decided later)."""
    if data[:4] in (b"PK\x03\x04", b"PK\x05\x06"):
        return "zip"
    head = _decompress_head(path, data).lstrip(b"\xef\xbb\xbf \t\r\n")
    if not head:
        raise NotAFeed(path, "empty file")
    if head[:1] == b"{":
        window = head[:4096]
        if b'"vulnerabilities"' in window or b'"catalogVersion"' in window:
            return "json-feed"
        # an OSV record starts with its own fields; feeds put the array last, after a few
        # short header keys, so a 4 KiB window without it means a single record
        return "osv-record"
    if head[:1] == b"[":
        return "json-feed"
    first = head.split(b"\n", 1)[0].strip().lower()
    if first.startswith(b"#model_version") or first.startswith(b"cve,epss"):
        return "epss"
    raise NotAFeed(path, "neither JSON (OSV, NVD, KEV) nor EPSS CSV")


def _decompress_head(path: Path, data: bytes, size: int = 65536) -> bytes:
    try:
        if data[:2] == b"\x1f\x8b":
            with gzip.GzipFile(fileobj=io.BytesIO(data)) as g:
                return g.read(size)
        if data[:6] == b"\xfd7zXZ\x00":
            with lzma.LZMAFile(io.BytesIO(data)) as x:
                return x.read(size)
    except (OSError, EOFError, lzma.LZMAError) as exc:
        raise NotAFeed(path, f"corrupt compressed data ({exc})") from exc
    return data[:size]


# --------------------------------------------------------------------------- JSON walking

_WS = " \t\r\n"
_decoder = json.JSONDecoder()


def _skip_ws(text: str, i: int) -> int:
    while i < len(text) and text[i] in _WS:
        i += 1
    return i


def _scan_header(text: str) -> tuple[dict[str, Any], int | None]:
    """Read a top-level object up to its ``vulnerabilities`` array.

    Returns the keys seen before it and the index of the array's ``[`` (or None when the
    object has no such array, in which case the dict is the whole object).
    Raises ValueError on malformed or truncated JSON before the array.
    """
    header: dict[str, Any] = {}
    i = _skip_ws(text, 0)
    if text[i : i + 1] != "{":
        raise ValueError("not a JSON object")
    i = _skip_ws(text, i + 1)
    if text[i : i + 1] == "}":
        return header, None
    while True:
        key, i = _decoder.raw_decode(text, i)
        if not isinstance(key, str):
            raise ValueError(f"object key expected at byte {i}")
        i = _skip_ws(text, i)
        if text[i : i + 1] != ":":
            raise ValueError(f"':' expected at byte {i}")
        i = _skip_ws(text, i + 1)
        if key == "vulnerabilities" and text[i : i + 1] == "[":
            return header, i
        header[key], i = _decoder.raw_decode(text, i)
        i = _skip_ws(text, i)
        c = text[i : i + 1]
        if c == "}":
            return header, None
        if c != ",":
            raise ValueError(f"',' or '}}' expected at byte {i}")
        i = _skip_ws(text, i + 1)


def _iter_array(text: str, i: int, warn: list[str]) -> Iterator[Any]:
    """Yield the elements of the JSON array at ``text[i] == '['`` one at a time.

    On malformed or truncated JSON, appends a warning and stops: the elements already
    yielded stand.
    """
    i = _skip_ws(text, i + 1)
    if text[i : i + 1] == "]":
        return
    n = 0
    while True:
        try:
            item, i = _decoder.raw_decode(text, i)
        except json.JSONDecodeError as exc:
            where = "truncated" if exc.pos >= len(text) - 1 else "malformed"
            warn.append(f"{where} JSON after {n} records (byte {exc.pos}): rest of file skipped")
            return
        n += 1
        yield item
        i = _skip_ws(text, i)
        c = text[i : i + 1]
        if c == "]":
            return
        if c != ",":
            warn.append(f"truncated JSON after {n} records (byte {i}): rest of file skipped")
            return
        i = _skip_ws(text, i + 1)


def _import_json_feed(conn: Connection, path: Path, raw: bytes, result: ImportResult) -> str:
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise NotAFeed(path, f"not UTF-8 text ({exc.reason})") from exc
    start = _skip_ws(text, 0)
    stops: list[str] = []
    if text[start : start + 1] == "[":  # a list of OSV records
        writer = _VulnWriter(conn, "osv", str(path), result)
        for item in _iter_array(text, start, stops):
            _osv_record(item, writer, result, str(path))
        writer.flush()
        _stops(stops, path, result)
        return "osv"
    try:
        header, arr = _scan_header(text)
    except ValueError as exc:
        raise NotAFeed(path, f"invalid JSON ({exc})") from exc
    if arr is None:
        if "id" in header and "modified" in header:  # one OSV record after all
            writer = _VulnWriter(conn, "osv", str(path), result)
            _osv_record(header, writer, result, str(path))
            writer.flush()
            return "osv"
        raise NotAFeed(path, "JSON without a 'vulnerabilities' array or an OSV 'id'")
    items = _iter_array(text, arr, stops)
    first = next(items, None)
    if header.get("format") == "NVD_CVE" or (isinstance(first, dict) and "cve" in first):
        kind = "nvd"
    elif "catalogVersion" in header or (isinstance(first, dict) and "cveID" in first):
        kind = "kev"
    elif first is None:
        raise NotAFeed(path, "an empty 'vulnerabilities' array of unknown format")
    else:
        raise NotAFeed(path, "a 'vulnerabilities' array that is neither NVD nor KEV")
    records = _chain(first, items)
    if kind == "nvd":
        writer = _VulnWriter(conn, "nvd", str(path), result)
        for item in records:
            _nvd_record(item, writer, result)
        writer.flush()
    else:
        _import_kev(conn, path, header, records, result)
    _stops(stops, path, result)
    return kind


def _chain(first: Any, rest: Iterable[Any]) -> Iterator[Any]:
    if first is not None:
        yield first
    yield from rest


def _stops(stops: list[str], path: Path, result: ImportResult) -> None:
    for s in stops:
        result.warn(f"{path}: {s}")


# --------------------------------------------------------------------------- vuln writer


@dataclass
class _Parsed:
    row: dict[str, Any]
    aliases: list[str]
    affected: list[dict[str, Any]]
    cpes: list[dict[str, Any]]


class _VulnWriter:
    """Batches parsed records; upserts by (source, id), keeping the newer ``modified``."""

    def __init__(self, conn: Connection, source: str, origin: str, result: ImportResult):
        self.conn = conn
        self.source = source
        self.origin = origin
        self.result = result
        self.pending: dict[str, _Parsed] = {}
        self.now = utcnow()

    def add(self, parsed: _Parsed) -> None:
        vid = parsed.row["id"]
        other = self.pending.get(vid)
        if other is None or parsed.row["modified"] > other.row["modified"]:
            self.pending[vid] = parsed
        self.result.records += 1
        if len(self.pending) >= BATCH:
            self.flush()

    def flush(self) -> None:
        if not self.pending:
            return
        batch, self.pending = self.pending, {}
        ids = list(batch)
        existing: dict[str, datetime] = {}
        v = vulnerabilities.c
        for chunk in _chunks(ids):
            existing.update(
                self.conn.execute(
                    select(v.id, v.modified).where(v.source == self.source, v.id.in_(chunk))
                ).all()
            )
        chosen = [
            p
            for vid, p in batch.items()
            if vid not in existing or p.row["modified"] > existing[vid]
        ]
        if not chosen:
            return
        replace = [p.row["id"] for p in chosen if p.row["id"] in existing]
        for chunk in _chunks(replace):
            self.conn.execute(
                delete(vulnerabilities).where(v.source == self.source, v.id.in_(chunk))
            )
            for t in (aliases, affected_packages, cpe_ranges):
                self.conn.execute(
                    delete(t).where(t.c.source == self.source, t.c.vuln_id.in_(chunk))
                )
        vrows, arows, prows, crows = [], [], [], []
        for p in chosen:
            vid = p.row["id"]
            vrows.append(
                {**p.row, "source": self.source, "origin": self.origin, "imported_at": self.now}
            )
            arows.extend(
                {"source": self.source, "vuln_id": vid, "alias": a}
                for a in dict.fromkeys(p.aliases)
            )
            prows.extend({**a, "source": self.source, "vuln_id": vid} for a in p.affected)
            crows.extend({**c, "source": self.source, "vuln_id": vid} for c in p.cpes)
        for table, rows in (
            (vulnerabilities, vrows),
            (aliases, arows),
            (affected_packages, prows),
            (cpe_ranges, crows),
        ):
            if rows:
                _insert_many(self.conn, table, rows)
        self.result.written += len(chosen)


def _insert_many(conn: Connection, table: Any, rows: list[dict[str, Any]]) -> None:
    """``conn.execute(table.insert(), rows)``, faster on SQLite.

    On SQLite the rows go to the driver's ``executemany`` as tuples, each value passed
    through its column type's own bind processor (the same conversion SQLAlchemy applies:
    datetimes to SQLite's text format, JSON through the engine's serializer, booleans to
    0/1), which skips SQLAlchemy's per-row parameter compilation — most of the cost of a
    large import. Every row must have the first row's keys, as with Core's executemany.
    Other databases take the Core path (PostgreSQL batches it with insertmanyvalues).
    """
    dialect = conn.dialect
    if dialect.name != "sqlite":
        conn.execute(table.insert(), rows)
        return
    keys = list(rows[0])
    quote = dialect.identifier_preparer.quote
    sql = (
        f"INSERT INTO {quote(table.name)} ({', '.join(quote(k) for k in keys)}) "
        f"VALUES ({', '.join('?' for _ in keys)})"
    )
    procs = [
        (i, proc)
        for i, k in enumerate(keys)
        if (proc := table.c[k].type.dialect_impl(dialect).bind_processor(dialect)) is not None
    ]
    values = operator.itemgetter(*keys) if len(keys) > 1 else lambda r: (r[keys[0]],)
    if not procs:
        params = [values(row) for row in rows]
    else:
        params = []
        for row in rows:
            vals = list(values(row))
            for i, proc in procs:
                vals[i] = proc(vals[i])
            params.append(tuple(vals))
    conn.exec_driver_sql(sql, params)


def _chunks(items: list[Any], n: int = _IN_CHUNK) -> Iterator[list[Any]]:
    for i in range(0, len(items), n):
        yield items[i : i + n]


# --------------------------------------------------------------------------- field helpers


def _ts(value: Any, what: str) -> datetime:
    """An RFC 3339 / NVD timestamp as naive UTC."""
    if not isinstance(value, str) or not value:
        raise RecordError(f"{what} missing or not a string")
    try:
        dt = datetime.fromisoformat(value.strip())
    except ValueError as exc:
        raise RecordError(f"{what} {value!r} is not a timestamp") from exc
    if dt.tzinfo is not None:
        dt = dt.astimezone(UTC).replace(tzinfo=None)
    return dt


def _opt_ts(value: Any, what: str) -> datetime | None:
    return None if value in (None, "") else _ts(value, what)


def _day(value: Any, what: str) -> date:
    if not isinstance(value, str) or not _DATE_RE.match(value):
        raise RecordError(f"{what} {value!r} is not YYYY-MM-DD")
    try:
        return date.fromisoformat(value)
    except ValueError as exc:
        raise RecordError(f"{what} {value!r} is not a date") from exc


def _severity(value: Any) -> str | None:
    if not isinstance(value, str) or value.lower() not in _SEVERITIES:
        return None
    s = value.lower()
    return {"moderate": "medium", "none": "info"}.get(s, s)


def _str_list(value: Any, what: str) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(x, str) for x in value):
        raise RecordError(f"{what} must be a list of strings")
    return value


_LENGTHS: dict[str, dict[str, int | None]] = {}


def _fits(table: Any, row: dict[str, Any]) -> dict[str, Any]:
    """Refuse what PostgreSQL would reject for the whole file and SQLite would store: a
    string longer than its column, or one holding a NUL character."""
    lengths = _LENGTHS.get(table.name)
    if lengths is None:
        lengths = _LENGTHS[table.name] = {
            c.name: getattr(c.type, "length", None) for c in table.columns
        }
    for key, value in row.items():
        if isinstance(value, str):
            if "\x00" in value:
                raise RecordError(f"{key} contains a NUL character")
            length = lengths[key]
            if length is not None and len(value) > length:
                raise RecordError(f"{key} longer than {length} characters")
    return row


def _checked(p: _Parsed) -> _Parsed:
    _fits(vulnerabilities, p.row)
    for a in p.aliases:
        _fits(aliases, {"alias": a})
    for table, rows in ((affected_packages, p.affected), (cpe_ranges, p.cpes)):
        for r in rows:
            _fits(table, r)
    return p


# --------------------------------------------------------------------------- OSV


def _osv_from_bytes(
    name: str,
    data: bytes,
    writer: _VulnWriter,
    result: ImportResult,
    strict: Path | None = None,
) -> None:
    """Import one OSV record file. ``strict``: raise NotAFeed for JSON that is not OSV."""
    try:
        doc = json.loads(data.decode("utf-8-sig"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        result.warn(f"{name}: invalid or truncated JSON ({exc}): skipped")
        return
    if not (isinstance(doc, dict) and ("id" in doc or "modified" in doc)):
        if strict is not None:
            raise NotAFeed(strict, "JSON without a 'vulnerabilities' array or an OSV 'id'")
        result.warn(f"{name}: JSON that is not an OSV record: skipped")
        return
    _osv_record(doc, writer, result, name)


def _osv_record(doc: Any, writer: _VulnWriter, result: ImportResult, where: str) -> None:
    try:
        writer.add(parse_osv(doc))
    except RecordError as exc:
        rid = doc.get("id") if isinstance(doc, dict) else None
        result.warn(f"{where}: OSV record {rid or '?'}: {exc}: skipped")


def parse_osv(doc: Any) -> _Parsed:
    """Validate one OSV record (schema 1.x) and shape its rows."""
    if not isinstance(doc, dict):
        raise RecordError("not a JSON object")
    vid = doc.get("id")
    if not isinstance(vid, str) or not vid.strip() or len(vid) > 128:
        raise RecordError("'id' missing or not a string")
    modified = _ts(doc.get("modified"), "'modified'")
    affected_rows: list[dict[str, Any]] = []
    affected = doc.get("affected", [])
    if not isinstance(affected, list):
        raise RecordError("'affected' must be a list")
    for n, aff in enumerate(affected):
        if not isinstance(aff, dict):
            raise RecordError(f"affected[{n}] is not an object")
        pkg = aff.get("package") or {}
        if not isinstance(pkg, dict):
            raise RecordError(f"affected[{n}].package is not an object")
        eco, pname, purl = pkg.get("ecosystem"), pkg.get("name"), pkg.get("purl")
        if not (isinstance(eco, str) and eco and isinstance(pname, str) and pname):
            raise RecordError(f"affected[{n}].package needs 'ecosystem' and 'name'")
        if purl is not None and not isinstance(purl, str):
            raise RecordError(f"affected[{n}].package.purl is not a string")
        ranges = aff.get("ranges", [])
        if not isinstance(ranges, list):
            raise RecordError(f"affected[{n}].ranges must be a list")
        for r in ranges:
            if not isinstance(r, dict) or r.get("type") not in _OSV_RANGE_TYPES:
                raise RecordError(f"affected[{n}]: range type must be SEMVER, ECOSYSTEM or GIT")
            events = r.get("events")
            if not isinstance(events, list) or not events:
                raise RecordError(f"affected[{n}]: a range needs a non-empty 'events' list")
            for e in events:
                if (
                    not isinstance(e, dict)
                    or len(e) != 1
                    or next(iter(e)) not in _OSV_EVENTS
                    or not isinstance(next(iter(e.values())), str)
                ):
                    raise RecordError(f"affected[{n}]: bad range event {e!r}")
        versions = _str_list(aff.get("versions"), f"affected[{n}].versions")
        affected_rows.append(
            {"ecosystem": eco, "name": pname, "purl": purl, "ranges": ranges, "versions": versions}
        )
    v31 = v40 = None
    sev = doc.get("severity") or []
    if not isinstance(sev, list):
        raise RecordError("'severity' must be a list")
    for s in sev:
        if isinstance(s, dict) and isinstance(s.get("score"), str):
            if s.get("type") == "CVSS_V3" and s["score"].startswith("CVSS:3.1/"):
                v31 = s["score"]
            elif s.get("type") == "CVSS_V4":
                v40 = s["score"]
    dbs = doc.get("database_specific")
    summary = doc.get("summary") or doc.get("details")
    row = {
        "id": vid,
        "modified": modified,
        "published": _opt_ts(doc.get("published"), "'published'"),
        "withdrawn": _opt_ts(doc.get("withdrawn"), "'withdrawn'"),
        "summary": summary if isinstance(summary, str) else None,
        "severity": _severity(dbs.get("severity")) if isinstance(dbs, dict) else None,
        "cvss_v31_vector": v31,
        "cvss_v31_score": None,  # OSV carries vectors only
        "cvss_v40_vector": v40,
        "cvss_v40_score": None,
        "raw": doc,
    }
    names = _str_list(doc.get("aliases"), "'aliases'") + _str_list(
        doc.get("upstream"), "'upstream'"
    )
    return _checked(_Parsed(row, [a for a in names if a != vid], affected_rows, []))


def _import_osv_zip(conn: Connection, path: Path, data: bytes, result: ImportResult) -> None:
    try:
        zf = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, ValueError) as exc:
        raise NotAFeed(path, f"corrupt zip archive ({exc})") from exc
    writer = _VulnWriter(conn, "osv", str(path), result)
    with zf:
        for info in zf.infolist():
            if info.is_dir() or not info.filename.lower().endswith(".json"):
                continue
            name = f"{path}!{info.filename}"
            try:
                member = zf.read(info)
            except (zipfile.BadZipFile, OSError, EOFError, zlib.error) as exc:
                result.warn(f"{name}: corrupt zip member ({exc}): skipped")
                continue
            _osv_from_bytes(name, member, writer, result)
    writer.flush()


# --------------------------------------------------------------------------- NVD


def _nvd_record(item: Any, writer: _VulnWriter, result: ImportResult) -> None:
    try:
        writer.add(parse_nvd(item))
    except RecordError as exc:
        cve = item.get("cve") if isinstance(item, dict) else None
        rid = cve.get("id") if isinstance(cve, dict) else None
        result.warn(f"{writer.origin}: NVD record {rid or '?'}: {exc}: skipped")


def _split_cpe(criteria: str) -> list[str]:
    """Split a CPE 2.3 formatted string on unescaped colons."""
    if "\\" not in criteria:  # no escapes (almost every NVD criteria): a plain split
        return criteria.split(":")
    parts, cur, i = [], [], 0
    while i < len(criteria):
        c = criteria[i]
        if c == "\\" and i + 1 < len(criteria):
            cur.append(criteria[i : i + 2])
            i += 2
            continue
        if c == ":":
            parts.append("".join(cur))
            cur = []
        else:
            cur.append(c)
        i += 1
    parts.append("".join(cur))
    return parts


_ESCAPED = re.compile(r"\\(.)")


def _unescape(value: str) -> str:
    return _ESCAPED.sub(r"\1", value) if "\\" in value else value


def _metric(metrics: dict[str, Any], key: str) -> tuple[str | None, float | None, str | None]:
    entries = metrics.get(key) or []
    if not isinstance(entries, list):
        raise RecordError(f"metrics.{key} must be a list")
    best = None
    for m in entries:
        if (
            isinstance(m, dict)
            and isinstance(m.get("cvssData"), dict)
            and (best is None or m.get("type") == "Primary")
        ):
            best = m
    if best is None:
        return None, None, None
    data = best["cvssData"]
    score = data.get("baseScore")
    if score is not None and not isinstance(score, int | float):
        raise RecordError(f"metrics.{key}: baseScore is not a number")
    vector = data.get("vectorString")
    return (
        vector if isinstance(vector, str) else None,
        None if score is None else float(score),
        data.get("baseSeverity") or best.get("baseSeverity"),
    )


def parse_nvd(item: Any) -> _Parsed:
    """Validate one NVD CVE API 2.0 ``vulnerabilities[]`` item and shape its rows."""
    if not isinstance(item, dict) or not isinstance(item.get("cve"), dict):
        raise RecordError("item without a 'cve' object")
    cve = item["cve"]
    vid = cve.get("id")
    if not isinstance(vid, str) or not _CVE_RE.match(vid):
        raise RecordError(f"'id' {vid!r} is not a CVE id")
    modified = _ts(cve.get("lastModified"), "'lastModified'")
    published = _opt_ts(cve.get("published"), "'published'")
    metrics = cve.get("metrics") or {}
    if not isinstance(metrics, dict):
        raise RecordError("'metrics' must be an object")
    v31, s31, sev31 = _metric(metrics, "cvssMetricV31")
    v40, s40, sev40 = _metric(metrics, "cvssMetricV40")
    summary = None
    for d in cve.get("descriptions") or []:
        if isinstance(d, dict) and d.get("lang") == "en" and isinstance(d.get("value"), str):
            summary = d["value"]
            break
    cpes: list[dict[str, Any]] = []
    configs = cve.get("configurations") or []
    if not isinstance(configs, list):
        raise RecordError("'configurations' must be a list")
    for ci, conf in enumerate(configs):
        if not isinstance(conf, dict) or not isinstance(conf.get("nodes"), list):
            raise RecordError(f"configurations[{ci}] needs a 'nodes' list")
        for node in conf["nodes"]:
            if not isinstance(node, dict) or not isinstance(node.get("cpeMatch", []), list):
                raise RecordError(f"configurations[{ci}]: bad node")
            for m in node.get("cpeMatch", []):
                cpes.append(_cpe_row(m, ci, node.get("operator"), conf.get("operator")))
    status = cve.get("vulnStatus")
    row = {
        "id": vid,
        "modified": modified,
        "published": published,
        "withdrawn": modified if status == "Rejected" else None,
        "summary": summary,
        "severity": _severity(sev40) or _severity(sev31),
        "cvss_v31_vector": v31,
        "cvss_v31_score": s31,
        "cvss_v40_vector": v40,
        "cvss_v40_score": s40,
        "raw": cve,
    }
    return _checked(_Parsed(row, [], [], cpes))


def _cpe_row(m: Any, ci: int, node_op: Any, conf_op: Any) -> dict[str, Any]:
    if not isinstance(m, dict) or not isinstance(m.get("criteria"), str):
        raise RecordError("cpeMatch entry without 'criteria'")
    criteria = m["criteria"]
    parts = _split_cpe(criteria)
    if len(parts) != 13 or parts[:2] != ["cpe", "2.3"] or parts[2] not in ("a", "o", "h"):
        raise RecordError(f"criteria {criteria!r} is not a CPE 2.3 name")
    vulnerable = m.get("vulnerable", True)
    if not isinstance(vulnerable, bool):
        raise RecordError(f"criteria {criteria!r}: 'vulnerable' is not a boolean")
    bounds = {}
    for key, col in (
        ("versionStartIncluding", "start_incl"),
        ("versionStartExcluding", "start_excl"),
        ("versionEndIncluding", "end_incl"),
        ("versionEndExcluding", "end_excl"),
    ):
        value = m.get(key)
        if value is not None and not isinstance(value, str):
            raise RecordError(f"criteria {criteria!r}: {key} is not a string")
        bounds[col] = value
    version = parts[5]
    return {
        "config_idx": ci,
        "node_operator": node_op if isinstance(node_op, str) else None,
        "config_operator": conf_op if isinstance(conf_op, str) else None,
        "criteria": criteria,
        "part": parts[2],
        "vendor": _unescape(parts[3]),
        "product": _unescape(parts[4]),
        "version_exact": None if version in ("*", "-", "") else _unescape(version),
        "vulnerable": vulnerable,
        **bounds,
    }


# --------------------------------------------------------------------------- KEV


def _import_kev(
    conn: Connection,
    path: Path,
    header: dict[str, Any],
    records: Iterable[Any],
    result: ImportResult,
) -> None:
    released_raw = header.get("dateReleased")
    try:
        released = _ts(released_raw, "'dateReleased'") if released_raw else None
    except RecordError:
        released = None
    if released is None:
        released = datetime.fromtimestamp(path.stat().st_mtime, UTC).replace(tzinfo=None)
    rows: dict[str, dict[str, Any]] = {}
    for item in records:
        try:
            row = _fits(kev, _kev_row(item))
        except RecordError as exc:
            cve = item.get("cveID") if isinstance(item, dict) else None
            result.warn(f"{path}: KEV record {cve or '?'}: {exc}: skipped")
            continue
        row.update(catalog_released=released, origin=str(path))
        rows[row["cve"]] = row
        result.records += 1
    result.written += _upsert_versioned(conn, kev, "cve", "catalog_released", list(rows.values()))


def _kev_row(item: Any) -> dict[str, Any]:
    if not isinstance(item, dict):
        raise RecordError("not a JSON object")
    cve = item.get("cveID")
    if not isinstance(cve, str) or not _CVE_RE.match(cve.strip().upper()):
        raise RecordError(f"cveID {cve!r} is not a CVE id")
    due = item.get("dueDate")
    return {
        "cve": cve.strip().upper(),
        "date_added": _day(item.get("dateAdded"), "dateAdded"),
        "due_date": _day(due, "dueDate") if due else None,
        "vendor": item.get("vendorProject"),
        "product": item.get("product"),
        "name": item.get("vulnerabilityName"),
        "ransomware": str(item.get("knownRansomwareCampaignUse", "")).lower() == "known",
    }


def _upsert_versioned(
    conn: Connection, table: Any, key: str, version: str, rows: list[dict[str, Any]]
) -> int:
    """Insert rows whose key is new or whose ``version`` column is newer; return the count."""
    kcol, vcol = table.c[key], table.c[version]
    written = 0
    for chunk in _chunks(rows, BATCH):
        keys = [r[key] for r in chunk]
        existing: dict[Any, Any] = {}
        for kc in _chunks(keys):
            existing.update(conn.execute(select(kcol, vcol).where(kcol.in_(kc))).all())
        chosen = [r for r in chunk if r[key] not in existing or r[version] > existing[r[key]]]
        replace = [r[key] for r in chosen if r[key] in existing]
        for kc in _chunks(replace):
            conn.execute(delete(table).where(kcol.in_(kc)))
        if chosen:
            conn.execute(table.insert(), chosen)
        written += len(chosen)
    return written


# --------------------------------------------------------------------------- EPSS


def _import_epss(conn: Connection, path: Path, raw: bytes, result: ImportResult) -> None:
    stream = io.TextIOWrapper(io.BytesIO(raw), encoding="utf-8-sig", newline="")
    model: str | None = None
    score_date: date | None = None
    first = stream.readline()
    if first.startswith("#"):
        for part in first.lstrip("#").strip().split(","):
            k, _, v = part.partition(":")
            if k.strip() == "model_version":
                model = v.strip()
            elif k.strip() == "score_date":
                try:
                    score_date = _ts(v.strip(), "score_date").date()
                except RecordError:
                    score_date = None
        first = stream.readline()
    header = [h.strip().lower() for h in first.split(",")]
    if header[:1] != ["cve"] or "epss" not in header or "percentile" not in header:
        raise NotAFeed(path, "CSV without the EPSS header 'cve,epss,percentile'")
    if score_date is None:
        score_date = datetime.fromtimestamp(path.stat().st_mtime, UTC).date()
    i_cve, i_score, i_pct = 0, header.index("epss"), header.index("percentile")
    rows: dict[str, dict[str, Any]] = {}
    for lineno, rec in enumerate(csv.reader(stream), start=3 if model else 2):
        if not rec:
            continue
        try:
            cve = rec[i_cve].strip().upper()
            if not _CVE_RE.match(cve):
                raise ValueError(f"{rec[i_cve]!r} is not a CVE id")
            score, pct = float(rec[i_score]), float(rec[i_pct])
            if not (0.0 <= score <= 1.0 and 0.0 <= pct <= 1.0):
                raise ValueError("score or percentile outside [0, 1]")
            _fits(epss, {"cve": cve, "model_version": model})
        except (ValueError, IndexError) as exc:
            result.warn(f"{path}:{lineno}: EPSS row {exc}: skipped")
            continue
        rows[cve] = {
            "cve": cve,
            "score": score,
            "percentile": pct,
            "date": score_date,
            "model_version": model,
        }
        result.records += 1
        if len(rows) >= 50 * BATCH:
            result.written += _upsert_versioned(conn, epss, "cve", "date", list(rows.values()))
            rows = {}
    result.written += _upsert_versioned(conn, epss, "cve", "date", list(rows.values()))


__all__ = ["ImportResult", "NotAFeed", "RecordError", "import_path", "parse_nvd", "parse_osv"]
