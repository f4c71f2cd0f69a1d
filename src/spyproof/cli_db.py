"""``spyproof db``: import, update and inspect the offline vulnerability knowledge base."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from spyproof.cli_output import State, emit_error, emit_warning, out

db_app = typer.Typer(no_args_is_help=True, help="The offline vulnerability knowledge base "
                     "(OSV, NVD, CISA KEV, FIRST EPSS).")

DbOption = Annotated[str | None, typer.Option(
    "--db", help="Knowledge base: a SQLite path or a postgresql:// URL (default: "
    "$SPYPROOF_DB, else ~/.local/share/spyproof/kb.sqlite).")]


def _open(db: str | None):  # noqa: ANN202 - a Store
    from spyproof.vulns.store import StoreError, open_store

    try:
        return open_store(db)
    except StoreError as exc:
        emit_error(str(exc))
        raise typer.Exit(2) from None


@db_app.command("import")
def import_(
    feeds: Annotated[list[Path], typer.Argument(help="Feed files or directories: OSV JSON "
                     "(record, directory, all.zip), NVD CVE API 2.0 JSON (.gz/.xz), CISA KEV "
                     "JSON, FIRST EPSS CSV (.gz).")],
    db: DbOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the results as JSON.")] =
        False,
) -> None:
    """Import feed files as published; re-importing is idempotent and incremental."""
    from spyproof.vulns.importers import NotAFeed, import_path

    store = _open(db)
    rc = 0
    results = []
    try:
        for feed in feeds:
            try:
                res = import_path(store, feed.resolve())
            except NotAFeed as exc:
                emit_error(str(exc))
                rc = 2
                continue
            except OSError as exc:
                emit_error(f"{feed}: cannot read: {exc.strerror}")
                rc = 2
                continue
            for w in res.warnings:
                emit_warning(f"{feed}: {w}")
            results.append({"file": str(feed), "formats": res.formats, "records": res.records,
                            "written": res.written, "skipped": res.skipped})
    finally:
        store.close()
    if as_json:
        out.print_json(json.dumps({"db": store.url, "imports": results}))
    elif not State.quiet:
        for r in results:
            out.print(f"{r['file']}: {', '.join(r['formats'])}: {r['records']:,} records "
                      f"({r['written']:,} new or updated, {r['skipped']:,} skipped)",
                      soft_wrap=True)
        out.print(f"knowledge base: {store.url}", soft_wrap=True)
    raise typer.Exit(rc)


@db_app.command()
def status(
    db: DbOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the status as JSON.")] =
        False,
) -> None:
    """Sources, record counts, last import and schema version."""
    from spyproof.vulns.store import resolve_db_url

    url = resolve_db_url(db)
    if url.startswith("sqlite:///") and not Path(url.removeprefix("sqlite:///")).is_file():
        emit_error(f"{url.removeprefix('sqlite:///')}: no knowledge base yet; create it with "
                   "`spyproof db import FEED…` or `spyproof db update`")
        raise typer.Exit(2)
    store = _open(db)
    try:
        st = store.status()
    finally:
        store.close()
    if as_json:
        out.print_json(json.dumps(st))
        raise typer.Exit(0)
    table = Table(title=f"knowledge base {st['url']}", show_header=True, box=None)
    for col in ("source", "file", "records", "imported", "file modified"):
        table.add_column(col, overflow="fold")
    for s in st["sources"]:
        table.add_row(s["name"], s["file"], f"{s['records']:,}", s["imported_at"] or "",
                      s["mtime"] or "")
    out.print(table)
    counts = ", ".join(f"{k} {v:,}" for k, v in sorted(st["counts"].items()))
    out.print(f"schema version {st['schema_version']}; last import {st['last_import']}; "
              f"{counts}", soft_wrap=True)


@db_app.command()
def update(
    db: DbOption = None,
    feed: Annotated[list[str] | None, typer.Option(
        "--feed", help="osv, nvd, kev or epss; repeatable (default: all).")] = None,
    ecosystem: Annotated[list[str] | None, typer.Option(
        "--ecosystem", help="OSV ecosystem dump to fetch; repeatable (default: Debian, "
        "Alpine, OSS-Fuzz).")] = None,
    year: Annotated[list[int] | None, typer.Option(
        "--year", help="NVD yearly feed to fetch; repeatable (default: 2002 to this year; "
        "the modified feed is always fetched).")] = None,
    cache_dir: Annotated[Path | None, typer.Option(
        "--cache-dir", help="Download cache (default: downloads/ beside the database).")] =
        None,
    mirror: Annotated[list[str] | None, typer.Option(
        "--mirror", help="FEED=BASE_URL: fetch a feed from a mirror laid out like the "
        "official site (e.g. a lab's internal server); repeatable.")] = None,
    timeout: Annotated[float, typer.Option(help="Seconds before a stalled request fails.")] =
        60.0,
    as_json: Annotated[bool, typer.Option("--json", help="Print the results as JSON.")] =
        False,
) -> None:
    """Download the feeds from their official sources (conditional, resumable), verify
    them and swap the updated knowledge base in atomically."""
    from spyproof.vulns.update import UpdateError, update_db

    base_urls: dict[str, str] = {}
    for item in mirror or []:
        name, sep, url = item.partition("=")
        if not sep or not url:
            emit_error(f"--mirror {item}: expected FEED=BASE_URL")
            raise typer.Exit(2)
        base_urls[name] = url
    try:
        result = update_db(db, feeds=feed or None, cache_dir=cache_dir, nvd_years=year or None,
                           osv_ecosystems=ecosystem or None, timeout=timeout,
                           base_urls=base_urls or None)
    except UpdateError as exc:
        emit_error(str(exc).splitlines()[0] if str(exc) else "db update failed")
        if as_json and exc.result is not None:
            out.print_json(json.dumps(exc.result.to_dict()))
        raise typer.Exit(2) from None
    if as_json:
        out.print_json(json.dumps(result.to_dict()))
    elif not State.quiet:
        for f in result.feeds:
            extra = f", {f.records:,} records ({f.written:,} new or updated)" if f.imported \
                else ""
            out.print(f"{f.name}: {f.status}{extra}", soft_wrap=True)
            for w in f.warnings:
                emit_warning(f"{f.name}: {w}")
        out.print(f"knowledge base: {result.db}", soft_wrap=True)
