"""The offline vulnerability knowledge base: schema and connection.

One schema for SQLite (the embedded default) and PostgreSQL (the service), written with
SQLAlchemy Core and portable types only. Records are keyed by ``(source, id)`` so an OSV
record and an NVD record that share a CVE id never overwrite each other; the matcher finds
them through ``vulnerabilities.id`` and ``aliases.alias``.
"""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    Date,
    DateTime,
    Engine,
    Float,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    create_engine,
    event,
    func,
    select,
)

SCHEMA_VERSION = 1

metadata = MetaData()

vulnerabilities = Table(
    "vulnerabilities",
    metadata,
    Column("source", String(16), primary_key=True),  # "osv" | "nvd"
    Column("id", String(128), primary_key=True),
    Column("modified", DateTime(), nullable=False),  # naive UTC
    Column("published", DateTime()),
    Column("withdrawn", DateTime()),  # OSV withdrawn, or NVD "Rejected"
    Column("summary", Text()),
    Column("severity", String(16)),  # critical/high/medium/low/info when the feed says
    Column("cvss_v31_vector", String(255)),
    Column("cvss_v31_score", Float()),
    Column("cvss_v40_vector", String(255)),
    Column("cvss_v40_score", Float()),
    Column("origin", Text()),  # the file (or directory) the record came from
    Column("imported_at", DateTime(), nullable=False),
    Column("raw", JSON()),
    Index("ix_vulnerabilities_id", "id"),
)

aliases = Table(
    "aliases",
    metadata,
    Column("source", String(16), primary_key=True),
    Column("vuln_id", String(128), primary_key=True),
    Column("alias", String(128), primary_key=True),
    Index("ix_aliases_alias", "alias"),
)

affected_packages = Table(
    "affected_packages",
    metadata,
    Column("pk", Integer(), primary_key=True, autoincrement=True),
    Column("source", String(16), nullable=False),
    Column("vuln_id", String(128), nullable=False),
    Column("ecosystem", String(128), nullable=False),  # e.g. "Debian:12", "OpenWrt", "Maven"
    Column("name", String(255), nullable=False),
    Column("purl", Text()),
    Column("ranges", JSON()),  # OSV ranges as published: [{type, events: [...]}]
    Column("versions", JSON()),  # OSV explicit affected versions
    Index("ix_affected_ecosystem_name", "ecosystem", "name"),
    Index("ix_affected_vuln", "source", "vuln_id"),
)

cpe_ranges = Table(
    "cpe_ranges",
    metadata,
    Column("pk", Integer(), primary_key=True, autoincrement=True),
    Column("source", String(16), nullable=False),
    Column("vuln_id", String(128), nullable=False),
    Column("config_idx", Integer(), nullable=False),  # which configuration of the CVE
    Column("node_operator", String(8)),  # OR / AND of the node holding this match
    Column("config_operator", String(8)),  # AND for "running on/with" configurations
    Column("criteria", Text(), nullable=False),
    Column("part", String(1), nullable=False),  # a / o / h
    Column("vendor", String(255), nullable=False),
    Column("product", String(255), nullable=False),
    Column("version_exact", String(128)),  # the criteria's version when not * or -
    Column("start_incl", String(128)),
    Column("start_excl", String(128)),
    Column("end_incl", String(128)),
    Column("end_excl", String(128)),
    Column("vulnerable", Boolean(), nullable=False),
    Index("ix_cpe_vendor_product", "vendor", "product"),
    Index("ix_cpe_vuln", "source", "vuln_id"),
)

kev = Table(
    "kev",
    metadata,
    Column("cve", String(32), primary_key=True),
    Column("date_added", Date(), nullable=False),
    Column("due_date", Date()),
    Column("vendor", String(255)),
    Column("product", String(255)),
    Column("name", Text()),
    Column("ransomware", Boolean()),  # knownRansomwareCampaignUse == "Known"
    Column("catalog_released", DateTime(), nullable=False),
    Column("origin", Text()),
)

epss = Table(
    "epss",
    metadata,
    Column("cve", String(32), primary_key=True),
    Column("score", Float(), nullable=False),
    Column("percentile", Float(), nullable=False),
    Column("date", Date(), nullable=False),
    Column("model_version", String(64)),
)

sources = Table(
    "sources",
    metadata,
    Column("name", String(16), primary_key=True),  # osv / nvd / kev / epss
    Column("file", String(1024), primary_key=True),
    Column("imported_at", DateTime(), nullable=False),
    Column("records", Integer(), nullable=False),
    Column("mtime", DateTime()),  # the file's modification time
)

meta = Table(
    "meta",
    metadata,
    Column("key", String(64), primary_key=True),
    Column("value", Text(), nullable=False),
)

ALL_TABLES = (vulnerabilities, aliases, affected_packages, cpe_ranges, kev, epss, sources, meta)


class StoreError(Exception):
    """The knowledge base cannot be opened (bad URL, newer schema, unwritable path)."""


def utcnow() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def default_db_path() -> Path:
    """``$XDG_DATA_HOME/spyproof/kb.sqlite`` (``~/.local/share`` when unset)."""
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "spyproof" / "kb.sqlite"


def resolve_db_url(path_or_url: str | os.PathLike[str] | None = None) -> str:
    """Explicit argument, else ``$SPYPROOF_DB``, else the user's data directory."""
    target = path_or_url if path_or_url is not None else os.environ.get("SPYPROOF_DB")
    if target is None or str(target) == "":
        target = default_db_path()
    text = str(target)
    if "://" in text:
        return text
    path = Path(text).expanduser()
    path.parent.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{path}"


class Store:
    """An open knowledge base. ``engine.begin()`` gives a transaction."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.url = engine.url.render_as_string(hide_password=True)

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def schema_version(self) -> int:
        with self.engine.connect() as conn:
            value = conn.execute(
                select(meta.c.value).where(meta.c.key == "schema_version")
            ).scalar_one_or_none()
        return int(value) if value is not None else 0

    def status(self) -> dict[str, Any]:
        """Sources, record counts, last import and schema version, JSON-ready."""
        with self.engine.connect() as conn:
            counts: dict[str, int] = {}
            for table in (aliases, affected_packages, cpe_ranges, kev, epss):
                counts[table.name] = conn.execute(
                    select(func.count()).select_from(table)
                ).scalar_one()
            by_source = dict(
                conn.execute(
                    select(vulnerabilities.c.source, func.count()).group_by(
                        vulnerabilities.c.source
                    )
                ).all()
            )
            counts["vulnerabilities"] = sum(by_source.values())
            rows = conn.execute(
                select(sources).order_by(sources.c.imported_at, sources.c.name, sources.c.file)
            ).all()
            version = conn.execute(
                select(meta.c.value).where(meta.c.key == "schema_version")
            ).scalar_one_or_none()
        srcs = [
            {
                "name": r.name,
                "file": r.file,
                "imported_at": _iso(r.imported_at),
                "records": r.records,
                "mtime": _iso(r.mtime),
            }
            for r in rows
        ]
        last = max((r.imported_at for r in rows), default=None)
        return {
            "url": self.url,
            "schema_version": int(version) if version is not None else 0,
            "counts": counts,
            "vulnerabilities_by_source": {k: by_source[k] for k in sorted(by_source)},
            "sources": srcs,
            "last_import": _iso(last),
        }


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.replace(tzinfo=UTC).isoformat()


def _compact_json(value: Any) -> str:
    # check_circular=False: the values are parsed feed JSON (no cycles); skipping the
    # encoder's id() bookkeeping makes a large import's serialisation ≈ 15 % cheaper
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, check_circular=False)


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA temp_store=MEMORY")
    # 64 MiB of page cache (the default is 2 MiB): a today-sized knowledge base is ≈ 2.5 GB
    # with ≈ 2 M cpe_ranges rows, and inserting into its indexes misses the small cache on
    # almost every row (≈ 30 % of an import's SQLite time); grows only as pages are used
    cur.execute("PRAGMA cache_size=-65536")
    cur.close()


def open_store(path_or_url: str | os.PathLike[str] | None = None) -> Store:
    """Open (and create or migrate) the knowledge base.

    ``path_or_url`` is a filesystem path, a ``sqlite:///…`` or ``postgresql://…`` URL, or
    None for ``$SPYPROOF_DB`` / the default path in the user's data directory.
    """
    url = resolve_db_url(path_or_url)
    try:
        engine = create_engine(url, json_serializer=_compact_json)
    except Exception as exc:  # bad URL, missing driver
        raise StoreError(f"cannot open knowledge base {url!r}: {exc}") from exc
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    try:
        with engine.begin() as conn:
            metadata.create_all(conn)
            current = conn.execute(
                select(meta.c.value).where(meta.c.key == "schema_version")
            ).scalar_one_or_none()
            if current is None:
                conn.execute(meta.insert(), {"key": "schema_version", "value": str(SCHEMA_VERSION)})
            elif int(current) > SCHEMA_VERSION:
                raise StoreError(
                    f"knowledge base {url} has schema version {current}; this spyproof "
                    f"understands up to {SCHEMA_VERSION}: upgrade spyproof or use another --db"
                )
    except StoreError:
        engine.dispose()
        raise
    except Exception as exc:
        engine.dispose()
        raise StoreError(f"cannot open knowledge base {url}: {exc}") from exc
    return Store(engine)
