"""``spyproof equiv A B --out DIR``: binary equivalence of two images or two unpacked trees.

Exit codes: 0 identical or equivalent; 1 different; 2 bad input or usage (or a partial
comparison: an input could not be unpacked completely).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from spyproof.cli_output import State, emit_error, out
from spyproof.unpack.limits import current


def equiv(
    a: Annotated[Path, typer.Argument(help="First image file (or unpacked tree directory).")],
    b: Annotated[Path, typer.Argument(help="Second image file (or directory).")],
    out_dir: Annotated[Path, typer.Option("--out", "-o", help="Output directory: "
                       "report.json, report.html (and diffoscope.html/.txt).")] =
        Path("equiv"),
    force: Annotated[bool, typer.Option("--force", help="Reuse a non-empty output dir.")] = False,
    work_dir: Annotated[Path | None, typer.Option(
        "--work-dir", help="Parent directory for temporary extraction.")] = None,
    timeout: Annotated[float, typer.Option(
        help="Seconds before the extraction of one input is stopped.")] = 3600.0,
    max_total_bytes: Annotated[int | None, typer.Option(
        help="Cap on all extracted bytes (per input).")] = None,
    max_file_bytes: Annotated[int | None, typer.Option(help="Cap on one extracted file.")] =
        None,
    max_files: Annotated[int | None, typer.Option(help="Cap on extracted entries.")] = None,
    max_depth: Annotated[int | None, typer.Option(help="Cap on container nesting.")] = None,
    max_ratio: Annotated[float | None, typer.Option(help="Cap on extracted/input size.")] =
        None,
    diffoscope: Annotated[bool, typer.Option(
        "--diffoscope/--no-diffoscope", help="Deep diff of the differing files with "
        "diffoscope, when it is installed.")] = True,
    diffoscope_timeout: Annotated[float, typer.Option(
        help="Seconds diffoscope may run.")] = 300.0,
) -> None:
    """Compare A and B file by file after unpacking: identical, equivalent after listed
    normalisations (build timestamps, build-id, debug info…), or different."""
    from dataclasses import replace

    from spyproof.equiv import EquivInputError, EquivOptions, run_equiv

    limits = current()
    caps = {"max_total_bytes": max_total_bytes, "max_file_bytes": max_file_bytes,
            "max_files": max_files, "max_depth": max_depth, "max_ratio": max_ratio}
    limits = replace(limits, **{k: v for k, v in caps.items() if v is not None})
    options = EquivOptions(limits=limits, work_dir=work_dir, timeout_s=timeout,
                           diffoscope=diffoscope, diffoscope_timeout_s=diffoscope_timeout)
    try:
        outcome = run_equiv(a, b, out_dir, options, force=force)
    except EquivInputError as exc:
        emit_error(str(exc))
        raise typer.Exit(2) from None
    except OSError as exc:
        emit_error(f"{exc.filename or out_dir}: {exc.strerror or exc}")
        raise typer.Exit(2) from None
    for problem in outcome.problems:
        emit_error(problem)
    if not State.quiet:
        _render(outcome)
    raise typer.Exit(outcome.exit_code)


def _render(outcome) -> None:  # noqa: ANN001 - an EquivOutcome
    r = outcome.report
    table = Table(title=f"spyproof equiv: {r.verdict.upper()}", show_header=False, box=None)
    table.add_column(style="bold")
    table.add_column(overflow="fold")
    for label, side in (("A", r.a), ("B", r.b)):
        table.add_row(label, f"{side.path} ({side.kind}"
                      + (f", sha256 {side.sha256[:16]}…" if side.sha256 else "") + ")")
    s = r.summary
    table.add_row("paths", f"{s.identical} identical, {s.equivalent} equivalent, "
                  f"{s.different} different, {s.only_in_a} only in A, {s.only_in_b} only in B")
    kinds = sorted({n.kind for n in r.normalisations})
    table.add_row("normalised", ", ".join(kinds) if kinds else "nothing")
    different = [f for f in r.files if f.status == "different" and not f.format]
    for f in different[:10]:
        table.add_row("different", f"{f.path}: {f.reasons[0] if f.reasons else ''}")
    if len(different) > 10:
        table.add_row("", f"… {len(different) - 10} more in report.json")
    table.add_row("diffoscope", r.diffoscope.status)
    out.print(table)
    out.print(f"report: {outcome.report_path}  html: {outcome.html_path}", soft_wrap=True)
