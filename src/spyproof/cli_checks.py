"""``spyproof checks``: what each evidence check looks at and the data it uses."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.table import Table

from spyproof.cli_output import out

checks_app = typer.Typer(no_args_is_help=True, help="The evidence checks.")


@checks_app.command("list")
def list_checks(
    as_json: Annotated[bool, typer.Option("--json", help="Print the list as JSON.")] = False,
) -> None:
    """Every check: id, title, the clause it informs, what it looks at, its data files."""
    from spyproof.checks.registry import all_checks

    rows = [{"id": c.info.id, "title": c.info.title, "clause": c.info.clause,
             "description": c.info.description, "looks_at": c.info.looks_at,
             "data_files": list(c.info.data_files)} for c in all_checks().values()]
    if as_json:
        out.print_json(json.dumps(rows))
        return
    table = Table(show_header=True, box=None, show_lines=True)
    for col in ("id", "title", "clause", "looks at", "data files"):
        table.add_column(col, overflow="fold")
    for r in rows:
        table.add_row(r["id"], r["title"], r["clause"] or "", r["looks_at"],
                      "\n".join(r["data_files"]))
    out.print(table)
