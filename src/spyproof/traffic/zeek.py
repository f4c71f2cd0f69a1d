"""Read Zeek's conn.log, dns.log, ssl.log and http.log into the flow records of a capture.

Why: an operator often already runs Zeek; its logs carry the same facts spyproof derives
from packets (connections with Zeek's semantics, DNS answers, SNI, HTTP Host), so the
evidence analytics work on either input.

Formats (detected per file): Zeek's ASCII writer in its default TSV form (``#separator``,
``#set_separator``, ``#empty_field``, ``#unset_field``, ``#path``, ``#fields``,
``#types``, ``#open``/``#close``; see docs.zeek.org "Zeek Log Formats and Inspection"),
the writer's ``tsv=T`` mode (one header row of column names, no other metadata), and JSON
lines (``LogAscii::use_json``: one object per line, ``ts`` as epoch seconds or ISO 8601).
Files may be gzip-compressed and rotated (``conn.log``, ``conn.log.gz``,
``conn.2024-05-01-10-00-00.log.gz`` …). Column names are matched with the ``id.`` prefix,
with Zeek's ``_`` field-name-map (``id_orig_h``) and with the renaming used in Zeek's own
field-name-map test (``src``/``src_port``/``dst``/``dst_port``). Masked timestamps (as in
Zeek's test baselines: ``XXXXXXXXXX.XXXXXX``) read as 0 and are counted.

Bad input: malformed lines are skipped and counted (the first few with their line
numbers); a file that is not a Zeek log is skipped with a note when others are usable,
and raises :class:`ZeekLogError` (one line naming the input) when nothing is.
"""

from __future__ import annotations

import gzip
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from spyproof.digests import file_sha256
from spyproof.traffic.model import DnsAnswer, Flow

KINDS = ("conn", "dns", "ssl", "http")
MAX_SKIPPED_SHOWN = 10
MAX_LINE_BYTES = 1 << 20  # read lines in pieces of at most this (no record is longer)
MAX_LEADING_COMMENTS = 5
_MASKED_TS = re.compile(r"^X+(\.X+)?$")
_HEX_ESCAPE = re.compile(r"\\x([0-9a-fA-F]{2})")
_ROTATED = re.compile(r"^(?P<kind>[a-z]+)(\..+)?\.log(\.gz)?$")
_ID_ALIASES = {  # canonical name -> names used by Zeek's writers and field-name maps
    "orig_h": ("id.orig_h", "id_orig_h", "src", "orig_h"),
    "orig_p": ("id.orig_p", "id_orig_p", "src_port", "orig_p"),
    "resp_h": ("id.resp_h", "id_resp_h", "dst", "resp_h"),
    "resp_p": ("id.resp_p", "id_resp_p", "dst_port", "resp_p"),
}
_ALIAS = {alias: canon for canon, names in _ID_ALIASES.items() for alias in names}
_REQUIRED = {"conn": ("uid", "orig_h", "resp_h"), "dns": ("uid", "query"),
             "ssl": ("uid",), "http": ("uid",)}


class ZeekLogError(Exception):
    """The input is not a usable Zeek log (message: one line naming it)."""


@dataclass
class ZeekFile:
    """One log file that was read."""

    name: str  # relative to the directory given (or the file's name)
    kind: str  # conn, dns, ssl, http
    format: str  # tsv, json
    sha256: str  # of the file as stored (compressed bytes for .gz)
    size: int  # bytes as stored
    compressed: bool
    records: int = 0
    skipped: dict[str, int] = field(default_factory=dict)  # why -> records skipped


@dataclass
class ZeekStats:
    """What was read, and what was skipped and why."""

    files: list[ZeekFile] = field(default_factory=list)
    records: dict[str, int] = field(default_factory=dict)
    skipped: int = 0  # malformed records
    skipped_lines: list[str] = field(default_factory=list)  # "conn.log:12: reason", first few
    masked_timestamps: int = 0
    orphans: int = 0  # ssl/http/dns records whose uid has no conn.log record (flow made)
    notes: list[str] = field(default_factory=list)

    def skip(self, zf: ZeekFile, line: int, why: str, detail: str = "") -> None:
        """Count a skipped record under ``why`` (a short category); the first few are
        kept with their line number and detail."""
        zf.skipped[why] = zf.skipped.get(why, 0) + 1
        self.skipped += 1
        if len(self.skipped_lines) < MAX_SKIPPED_SHOWN:
            self.skipped_lines.append(f"{zf.name}:{line}: {why}" + (f" ({detail})" if detail
                                                                    else ""))

    def inputs(self, prefix: str = "") -> list[Any]:
        """The files as evidence inputs (``InputRef``), in the order ``Flow.capture``
        indexes them; ``prefix`` (e.g. the directory as the user gave it) is joined to
        each file name."""
        from spyproof.traffic.evidence.facts import InputRef

        return [InputRef(name=f"{prefix.rstrip('/')}/{f.name}" if prefix else f.name,
                         sha256=f.sha256, kind="zeek") for f in self.files]


# -- reading one file -------------------------------------------------------------------


def _is_gzip(path: Path) -> bool:
    with path.open("rb") as fh:
        return fh.read(2) == b"\x1f\x8b"


def _lines(path: Path, compressed: bool) -> Iterator[tuple[int, int, str]]:
    """(1-based line number, byte offset in the decompressed stream, text) per line."""
    opener = gzip.open if compressed else open
    offset = 0
    with opener(path, "rb") as fh:  # type: ignore[operator]
        # bounded reads: a binary file without newlines never lands in memory whole (an
        # over-long line comes back in pieces, each then skipped as malformed)
        for n, raw in enumerate(iter(lambda: fh.readline(MAX_LINE_BYTES), b""), start=1):
            yield n, offset, raw.decode("utf-8", errors="replace").rstrip("\r\n")
            offset += len(raw)


def _unescape(text: str) -> str:
    return _HEX_ESCAPE.sub(lambda m: chr(int(m.group(1), 16)), text) if "\\x" in text else text


def _canon(name: str) -> str:
    return _ALIAS.get(name, name)


def _parse_time(value: Any, stats: ZeekStats) -> float:
    if value is None:
        return 0.0
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    text = str(value)
    if _MASKED_TS.match(text):
        stats.masked_timestamps += 1
        return 0.0
    try:
        return float(text)
    except ValueError:
        pass
    try:  # JSON::TS_ISO8601
        return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
    except ValueError:
        raise ValueError(f"bad time {text[:40]!r}") from None


class _Tsv:
    """Zeek's ASCII header state for one file (a file may hold several header blocks)."""

    def __init__(self) -> None:
        self.sep = "\t"
        self.set_sep = ","
        self.empty = "(empty)"
        self.unset = "-"
        self.path: str | None = None
        self.fields: list[str] | None = None
        self.types: list[str] | None = None

    def header(self, line: str) -> None:
        if line.startswith("#separator"):
            value = line[len("#separator"):].strip()
            self.sep = _unescape(value) or "\t"
            return
        key, _, rest = line[1:].partition(self.sep)
        if key == "fields":
            self.fields = [_canon(f) for f in rest.split(self.sep)]
            self.types = None
        elif key == "types":
            self.types = rest.split(self.sep)
        elif key == "set_separator":
            self.set_sep = _unescape(rest)
        elif key == "empty_field":
            self.empty = rest
        elif key == "unset_field":
            self.unset = rest
        elif key == "path":
            self.path = rest

    def value(self, raw: str, typ: str | None) -> Any:
        if raw == self.unset:
            return None
        container = typ is not None and (typ.startswith("set[") or typ.startswith("vector[")
                                         or typ.startswith("table["))
        if container:
            if raw == self.empty:
                return []
            return [_unescape(v) for v in raw.split(self.set_sep)]
        if raw == self.empty and typ in (None, "string"):
            return ""
        return _unescape(raw)

    def record(self, line: str) -> dict[str, Any]:
        assert self.fields is not None
        cells = line.split(self.sep)
        if len(cells) != len(self.fields):
            raise ValueError(f"{len(cells)} columns, header has {len(self.fields)}")
        types = self.types if self.types and len(self.types) == len(self.fields) else None
        return {f: self.value(c, types[i] if types else None)
                for i, (f, c) in enumerate(zip(self.fields, cells, strict=True))}


def _json_record(line: str) -> dict[str, Any]:
    obj = json.loads(line)
    if not isinstance(obj, dict):
        raise ValueError("not a JSON object")
    out: dict[str, Any] = {}
    for k, v in obj.items():
        if isinstance(v, dict) and k == "id":  # nested id record (some JSON exporters)
            for sub, subv in v.items():
                out[_canon(f"id.{sub}")] = subv
        else:
            out[_canon(k)] = v
    return out


def _sniff(first: str) -> str | None:
    """tsv, tsvhead (tsv=T mode), json, or None (not a Zeek log)."""
    if first.startswith("#separator") or first.startswith("#fields"):
        return "tsv"
    if first.startswith("{"):
        try:
            obj = json.loads(first)
        except ValueError:
            return None
        return "json" if isinstance(obj, dict) and ("ts" in obj or "uid" in obj) else None
    cols = first.split("\t")
    if "ts" in cols and "uid" in cols:
        return "tsvhead"
    return None


def _read_file(path: Path, name: str, kind_hint: str | None, stats: ZeekStats
               ) -> tuple[ZeekFile, Iterator[tuple[int, int, dict[str, Any]]]] | str:
    """The file's description and its records, or why it is not a Zeek log."""
    try:
        compressed = _is_gzip(path)
        digest = file_sha256(path)
        lines = _lines(path, compressed)
        head: list[tuple[int, int, str]] = []
        fmt = None
        for n, o, t in lines:  # comment lines (a btest banner) may precede the header
            if not t.strip():
                continue
            head.append((n, o, t))
            fmt = _sniff(t)
            if fmt or not t.startswith("#") or len(head) > MAX_LEADING_COMMENTS:
                break
    except (OSError, EOFError, gzip.BadGzipFile) as exc:
        return f"{name}: cannot be read: {exc}"
    if not head:
        return f"{name}: empty"
    first = head[-1]
    if "\x00" in first[2] or "\ufffd" in first[2][:64]:
        return f"{name}: not a Zeek log (binary content)"
    if fmt is None:
        return f"{name}: not a Zeek log (no #separator/#fields header, JSON object or " \
               f"column row at its start)"
    zf = ZeekFile(name=name, kind=kind_hint or "", format="json" if fmt == "json" else "tsv",
                  sha256=digest, size=path.stat().st_size, compressed=compressed)

    def records() -> Iterator[tuple[int, int, dict[str, Any]]]:
        tsv = _Tsv()
        pending = head
        if fmt == "tsvhead":
            tsv.fields = [_canon(f) for f in first[2].split("\t")]
            pending = []
        try:
            for n, off, text in _chain(pending, lines):
                if not text.strip():
                    continue
                if fmt == "json":
                    try:
                        rec = _json_record(text)
                    except ValueError as exc:
                        stats.skip(zf, n, "bad JSON", str(exc)[:60])
                        continue
                    yield n, off, rec
                    continue
                if text.startswith("#"):
                    tsv.header(text)
                    if tsv.path:  # the log's own name for itself wins over the file's
                        zf.kind = tsv.path
                    continue
                if tsv.fields is None:
                    stats.skip(zf, n, "record before the #fields header")
                    continue
                try:
                    yield n, off, tsv.record(text)
                except ValueError as exc:
                    stats.skip(zf, n, "wrong number of columns", str(exc))
        except (OSError, EOFError, gzip.BadGzipFile, ValueError) as exc:
            stats.notes.append(f"{name}: reading stopped: {exc}")

    return zf, records()


def _chain(first: list[tuple[int, int, str]], rest: Iterator[tuple[int, int, str]]
           ) -> Iterator[tuple[int, int, str]]:
    yield from first
    yield from rest


# -- records to flows -------------------------------------------------------------------


def _int(v: Any) -> int:
    if v is None or v == "":
        return 0
    if isinstance(v, bool):
        raise ValueError(f"bad count {v!r}")
    return int(float(v)) if isinstance(v, float) or "." in str(v) else int(v)


def _float(v: Any) -> float:
    return 0.0 if v is None or v == "" else float(v)


def _text(v: Any) -> str | None:
    if v is None:
        return None
    if isinstance(v, list):
        return ",".join(str(x) for x in v) if v else None
    return str(v) or None


def _list(v: Any) -> list[str]:
    if v is None:
        return []
    if isinstance(v, list):
        return [str(x) for x in v]
    return [x for x in str(v).split(",") if x]


class _Builder:
    """Turns records into flows and DNS answers, joining the logs on ``uid``."""

    def __init__(self, stats: ZeekStats) -> None:
        self.stats = stats
        self.flows: dict[str, Flow] = {}
        self.dns: list[DnsAnswer] = []
        self.orphans: set[str] = set()

    def _flow_from_id(self, rec: dict[str, Any], proto: str, ts: float) -> Flow:
        return Flow(uid=str(rec["uid"]), proto=proto, orig_h=str(rec.get("orig_h") or ""),
                    orig_p=_int(rec.get("orig_p")), resp_h=str(rec.get("resp_h") or ""),
                    resp_p=_int(rec.get("resp_p")), start=ts, last=ts)

    def conn(self, rec: dict[str, Any], capture: int, offset: int) -> None:
        ts = _parse_time(rec.get("ts"), self.stats)
        flow = self._flow_from_id(rec, str(rec.get("proto") or "unknown_transport"), ts)
        flow.last = ts + _float(rec.get("duration"))
        flow.orig_pkts = _int(rec.get("orig_pkts"))
        flow.orig_ip_bytes = _int(rec.get("orig_ip_bytes"))
        flow.resp_pkts = _int(rec.get("resp_pkts"))
        flow.resp_ip_bytes = _int(rec.get("resp_ip_bytes"))
        flow.orig_bytes = _int(rec.get("orig_bytes"))
        flow.resp_bytes = _int(rec.get("resp_bytes"))
        flow.conn_state = str(rec.get("conn_state") or "OTH")
        flow.history = str(rec.get("history") or "")
        flow.community_id = str(rec.get("community_id") or "")
        flow.service = _text(rec.get("service"))
        flow.quic = "quic" in (flow.service or "")
        flow.capture, flow.offset = capture, offset
        old = self.flows.get(flow.uid)
        if old is not None:  # an ssl/http/dns record came first: keep what it set
            flow.sni, flow.ja4, flow.alpn = old.sni, old.ja4, old.alpn
            flow.http_host, flow.dns_queries = old.http_host, old.dns_queries
            flow.service = flow.service or old.service
        self.orphans.discard(flow.uid)
        self.flows[flow.uid] = flow

    def _flow_for(self, rec: dict[str, Any], proto: str) -> Flow:
        uid = str(rec["uid"])
        flow = self.flows.get(uid)
        if flow is None:
            flow = self._flow_from_id(rec, proto, _parse_time(rec.get("ts"), self.stats))
            self.flows[uid] = flow
            self.orphans.add(uid)
        return flow

    def ssl(self, rec: dict[str, Any]) -> None:
        flow = self._flow_for(rec, "tcp")
        flow.sni = flow.sni or _text(rec.get("server_name"))
        flow.ja4 = flow.ja4 or _text(rec.get("ja4"))
        alpn = _text(rec.get("next_protocol"))
        if alpn and alpn not in flow.alpn:
            flow.alpn.append(alpn)
        flow.service = flow.service or "ssl"

    def http(self, rec: dict[str, Any]) -> None:
        flow = self._flow_for(rec, "tcp")
        flow.http_host = flow.http_host or _text(rec.get("host"))
        flow.service = flow.service or "http"

    def dns_record(self, rec: dict[str, Any]) -> None:
        proto = str(rec.get("proto") or "udp")
        flow = self._flow_for(rec, proto)
        query = (_text(rec.get("query")) or "").lower().rstrip(".")
        if query and query not in flow.dns_queries:
            flow.dns_queries.append(query)
        flow.service = flow.service or "dns"
        rcode = _text(rec.get("rcode_name")) or (None if rec.get("rcode") is None
                                                 else str(rec.get("rcode")))
        answers = _list(rec.get("answers"))
        if rcode is None and not answers:
            return  # a query that got no response: not an answer
        qtype = _text(rec.get("qtype_name")) or (None if rec.get("qtype") is None
                                                 else str(rec.get("qtype"))) or ""
        ttls = [int(float(t)) for t in _list(rec.get("TTLs"))]
        self.dns.append(DnsAnswer(
            ts=_parse_time(rec.get("ts"), self.stats), query=query, qtype=qtype,
            answers=answers, rcode=rcode or "", resolver=str(rec.get("resp_h") or ""),
            client=str(rec.get("orig_h") or ""), transport=proto, packet=None, ttls=ttls))


# -- the directory ----------------------------------------------------------------------


def _kind_of(name: str) -> str | None:
    m = _ROTATED.match(name)
    return m.group("kind") if m and m.group("kind") in KINDS else None


def _candidates(path: Path) -> list[tuple[Path, str, str | None]]:
    """(file, display name, kind from the name) for the logs to read, sorted."""
    if path.is_file():
        return [(path, path.name, _kind_of(path.name))]
    out = []
    for p in sorted(path.iterdir()):
        kind = _kind_of(p.name)
        if kind and p.is_file():
            out.append((p, p.name, kind))
    # conn first: the other logs join onto its flows
    return sorted(out, key=lambda c: (KINDS.index(c[2] or "conn"), c[1]))


def read_zeek(path: Path) -> tuple[list[Flow], list[DnsAnswer], ZeekStats]:
    """Flows (conn.log, enriched by ssl/http/dns on ``uid``), DNS answers and what was
    read. ``path`` is a directory of logs (any subset of conn/dns/ssl/http, plain, gzip or
    rotated) or one log file. Raises :class:`ZeekLogError` when nothing usable is found."""
    path = Path(path)
    if not path.exists():
        raise ZeekLogError(f"{path}: no such file or directory")
    stats = ZeekStats()
    builder = _Builder(stats)
    candidates = _candidates(path)
    if not candidates:
        raise ZeekLogError(f"{path}: no Zeek conn/dns/ssl/http logs found "
                           "(expected conn.log, dns.log, ssl.log, http.log, .gz or rotated)")
    problems: list[str] = []
    for file_path, name, kind_hint in candidates:
        got = _read_file(file_path, name, kind_hint, stats)
        if isinstance(got, str):
            problems.append(got)
            continue
        zf, records = got
        index = len(stats.files)
        stats.files.append(zf)
        for n, offset, rec in records:
            kind = zf.kind or str(rec.get("_path") or "")
            if kind not in KINDS:
                problems.append(f"{name}: a Zeek {kind or 'unnamed'} log, not one of "
                                f"{', '.join(KINDS)}")
                stats.files.pop()
                break
            zf.kind = kind
            missing = [f for f in _REQUIRED[kind] if rec.get(f) in (None, "")]
            if missing:
                stats.skip(zf, n, "required field unset", ", ".join(missing))
                continue
            try:
                if kind == "conn":
                    builder.conn(rec, index, offset)
                elif kind == "ssl":
                    builder.ssl(rec)
                elif kind == "http":
                    builder.http(rec)
                else:
                    builder.dns_record(rec)
            except (ValueError, TypeError) as exc:
                stats.skip(zf, n, "bad value", str(exc)[:60])
                continue
            zf.records += 1
            stats.records[kind] = stats.records.get(kind, 0) + 1
    stats.orphans = len(builder.orphans)
    if not stats.files:
        raise ZeekLogError(problems[0] if len(problems) == 1 else
                           f"{path}: no usable Zeek log ({'; '.join(problems[:3])})")
    stats.notes.extend(f"skipped {p}" for p in problems)
    if stats.skipped:
        stats.notes.append(f"{stats.skipped} malformed records skipped")
    if stats.masked_timestamps:
        stats.notes.append(f"{stats.masked_timestamps} masked timestamps read as 0 "
                           "(times unknown)")
    if stats.orphans:
        stats.notes.append(f"{stats.orphans} ssl/http/dns records without a conn.log "
                           "record: flows made from their connection ids")
    flows = sorted(builder.flows.values(), key=lambda f: (f.start, f.uid))
    dns = sorted(builder.dns, key=lambda a: (a.ts, a.query, a.resolver, a.client))
    return flows, dns, stats
