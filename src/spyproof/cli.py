"""Command-line interface: parse arguments, call one library function, render the result.

Exit codes: 0 all good; 1 a clause failed or findings at/above --fail-on; 2 bad input or
usage; 3 internal error (a bug).
"""

from __future__ import annotations

import sys
import traceback
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from spyproof import __version__
from spyproof.cli_agreement import agreement_app
from spyproof.cli_attest import attest_app
from spyproof.cli_checks import checks_app
from spyproof.cli_db import db_app
from spyproof.cli_equiv import equiv
from spyproof.cli_log import log_app, verify, witness_app
from spyproof.cli_output import State as _State
from spyproof.cli_output import emit_error as _emit_error
from spyproof.cli_output import err, out
from spyproof.cli_provenance import key_app, note_app
from spyproof.cli_traffic import flows, traffic
from spyproof.models import Severity
from spyproof.scan import ScanInputError, ScanOptions, ScanOutcome, run_scan
from spyproof.unpack.limits import Limits

ISSUES_URL = "https://github.com/spyproof/spyproof/issues"

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="spyproof: check a network-equipment vendor's no-spy pledges against its firmware.",
    pretty_exceptions_enable=False,
)
app.add_typer(db_app, name="db")
app.add_typer(checks_app, name="checks")
app.add_typer(agreement_app, name="agreement")
app.add_typer(key_app, name="key")
app.add_typer(note_app, name="note")
app.add_typer(attest_app, name="attest")
app.command("equiv")(equiv)
app.add_typer(log_app, name="log")
app.add_typer(witness_app, name="witness")
app.command("verify")(verify)
app.command("traffic")(traffic)
app.command("flows")(flows)

@app.callback()
def _main(
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress, no summary.")] = False,
    log_json: Annotated[bool, typer.Option("--log-json", help="Machine-readable stderr.")] = False,
    version: Annotated[bool, typer.Option("--version", help="Print the version.")] = False,
) -> None:
    _State.quiet = quiet
    _State.log_json = log_json
    if version:
        out.print(f"spyproof {__version__}")
        raise typer.Exit(0)


def _default_out(image: Path) -> Path:
    return Path.cwd() / f"{image.name}.spyproof"


def _render_summary(outcome: ScanOutcome) -> None:
    r = outcome.report
    table = Table(title=f"spyproof scan of {r.image.name}", show_header=False, box=None)
    table.add_column(style="bold")
    table.add_column(overflow="fold")
    table.add_row("image", f"{r.image.size:,} bytes  sha256 {r.image.sha256}")
    chain = ", ".join(f"{f.format}@{f.start_offset}" for f in r.image.formats
                      if f.depth == 0 and f.format != "unknown")
    table.add_row("formats", chain or "none recognised")
    table.add_row("trees", str(len(r.trees)))
    table.add_row("root fs", r.rootfs or "not found")
    n_files = sum(1 for f in r.files if f.kind in ("file", "hardlink"))
    n_elf = sum(1 for f in r.files if f.file_type == "elf")
    table.add_row("files", f"{n_files:,} ({n_elf:,} ELF), {len(r.files):,} entries in all")
    if r.components:
        table.add_row("components", f"{len(r.components)} "
                      f"({', '.join(sorted({c.name for c in r.components})[:12])}"
                      f"{', …' if len({c.name for c in r.components}) > 12 else ''})")
        table.add_row("unclaimed ELF", str(len(r.unclaimed_elf)))
    if r.knowledge_base is not None:
        table.add_row("vulnerabilities", _vuln_summary(r))
    if r.checks:
        table.add_row("findings", _findings_summary(r))
    if r.agreement is not None:
        table.add_row("verdict", f"{r.verdict.upper() if r.verdict else '—'}: " + ", ".join(
            f"{v.id} {v.verdict}" for v in r.verdicts))
    table.add_row("warnings", str(len(r.warnings)))
    out.print(table)
    out.print(f"report: {outcome.report_path}", soft_wrap=True)
    if outcome.extracted_dir:
        out.print(f"extracted: {outcome.extracted_dir}", soft_wrap=True)


def _vuln_summary(r) -> str:  # noqa: ANN001 - a Report
    counted = [v for v in r.vulnerabilities if v.counts]
    by_sev: dict[str, int] = {}
    for v in counted:
        by_sev[v.severity or "unknown"] = by_sev.get(v.severity or "unknown", 0) + 1
    order = ["critical", "high", "medium", "low", "unknown"]
    parts = [f"{by_sev[s]} {s}" for s in order if s in by_sev]
    text = f"{len(counted)}" + (f" ({', '.join(parts)})" if parts else "")
    kev = sum(1 for v in counted if v.kev)
    if kev:
        text += f", {kev} known exploited (KEV)"
    analysed = len(r.vulnerabilities) - len(counted)
    if analysed:
        text += f", {analysed} more marked not affected/fixed by VEX"
    if r.knowledge_base.sample_only:
        text += " — bundled SAMPLE feed only, not a complete knowledge base"
    return text


def _findings_summary(r) -> str:  # noqa: ANN001 - a Report
    by_sev: dict[str, int] = {}
    for f in r.findings:
        by_sev[f.severity] = by_sev.get(f.severity, 0) + 1
    parts = [f"{by_sev[s]} {s}" for s in ("critical", "high", "medium", "low", "info")
             if s in by_sev]
    text = f"{len(r.findings)}" + (f" ({', '.join(parts)})" if parts else "")
    skipped = sum(len(c.skipped) for c in r.checks)
    return text + (f"; {skipped} skip note(s) in report.json" if skipped else "")


@app.command()
def scan(
    image: Annotated[Path, typer.Argument(help="Firmware image file.")],
    out_dir: Annotated[Path | None, typer.Option("--out", "-o", help="Output directory "
                       "(default: IMAGE.spyproof in the current directory).")] = None,
    force: Annotated[bool, typer.Option("--force", help="Reuse a non-empty output dir.")] = False,
    keep_extracted: Annotated[bool, typer.Option(
        "--keep-extracted", help="Keep the extracted trees in OUT/extracted.")] = False,
    work_dir: Annotated[Path | None, typer.Option(
        "--work-dir", help="Parent directory for temporary extraction.")] = None,
    max_total_bytes: Annotated[int, typer.Option(help="Cap on all extracted bytes.")] =
        Limits.max_total_bytes,
    max_file_bytes: Annotated[int, typer.Option(help="Cap on one extracted file.")] =
        Limits.max_file_bytes,
    max_files: Annotated[int, typer.Option(help="Cap on extracted entries.")] = Limits.max_files,
    max_depth: Annotated[int, typer.Option(help="Cap on container nesting.")] = Limits.max_depth,
    max_ratio: Annotated[float, typer.Option(help="Cap on extracted/input size.")] =
        Limits.max_ratio,
    timeout: Annotated[float, typer.Option(help="Seconds before extraction is stopped.")] =
        3600.0,
    no_identify: Annotated[bool, typer.Option(
        "--no-identify", help="Unpack and inventory only (no components, no SBOM).")] = False,
    db: Annotated[str | None, typer.Option(
        "--db", help="Knowledge base (SQLite path or postgresql:// URL; default $SPYPROOF_DB, "
        "else the user's, else spyproof's bundled sample feed).")] = None,
    vex: Annotated[list[Path] | None, typer.Option(
        "--vex", help="CycloneDX VEX or OpenVEX document with triage; repeatable.")] = None,
    no_vulns: Annotated[bool, typer.Option(
        "--no-vulns", help="Do not match components against the knowledge base.")] = False,
    only: Annotated[str | None, typer.Option(
        "--only", help="Comma-separated check ids to run (see `spyproof checks list`).")] =
        None,
    no_checks: Annotated[bool, typer.Option("--no-checks", help="Run no evidence checks.")] =
        False,
    agreement: Annotated[Path | None, typer.Option(
        "--agreement", help="No-spy agreement (TOML): a verdict per clause; exit 1 if one "
        "fails.")] = None,
    log: Annotated[str | None, typer.Option(
        "--log", help="Transparency log (directory or URL): clause NS-7 checks that this "
        "image is a vendor-signed release in it (with --trust).")] = None,
    trust: Annotated[Path | None, typer.Option(
        "--trust", help="Trust policy for --log: tlog-policy lines plus 'vendor <vkey>'.")] =
        None,
    fail_on: Annotated[Severity | None, typer.Option(
        "--fail-on", help="Exit 1 when a finding, or a vulnerability not triaged away by "
        "VEX, has this severity or a higher one.")] = None,
) -> None:
    """Unpack IMAGE, inventory every file, identify components, match them against the
    knowledge base; write OUT/report.json, OUT/sbom.cdx.json and OUT/vex.cdx.json."""
    options = ScanOptions(
        limits=Limits(max_total_bytes=max_total_bytes, max_file_bytes=max_file_bytes,
                      max_files=max_files, max_depth=max_depth, max_ratio=max_ratio),
        work_dir=work_dir, keep_extracted=keep_extracted, timeout_s=timeout,
        identify=not no_identify, vulns=not no_vulns, db=db, vex=list(vex or []),
        checks=not no_checks,
        only=[x.strip() for x in only.split(",") if x.strip()] if only else None,
        fail_on=fail_on.value if fail_on else None, agreement=agreement,
        log=log, trust=trust)
    target = out_dir or _default_out(image)
    show = not _State.quiet and err.is_terminal
    with Progress(TextColumn("{task.description}"), BarColumn(), TextColumn("{task.fields[n]}"),
                  TimeElapsedColumn(), console=err, disable=not show, transient=True) as bar:
        tasks: dict[str, int] = {}

        def progress(stage: str, done: int, total: int) -> None:
            if stage not in tasks:
                tasks[stage] = bar.add_task(stage, total=None, n="")
            if stage == "unpack":
                bar.update(tasks[stage], n=f"{done:,} entries, {total / 1e6:.1f} MB")
            else:
                bar.update(tasks[stage], total=total, completed=done, n=f"{done}/{total}")

        try:
            outcome = run_scan(image, target, options, force=force, progress=progress)
        except ScanInputError as exc:
            for line in str(exc).splitlines():
                _emit_error(line)
            raise typer.Exit(2) from None
    for problem in outcome.problems:
        _emit_error(problem)
    if not _State.quiet:
        _render_summary(outcome)
    raise typer.Exit(outcome.exit_code)


@app.command()
def sbom(
    image: Annotated[Path, typer.Argument(help="Firmware image file.")],
    output: Annotated[Path, typer.Option("--output", "-o", help="SBOM file to write.")],
    fmt: Annotated[str, typer.Option("--format", "-f",
                                     help="cyclonedx (1.6 JSON) or spdx (2.3 JSON).")] =
        "cyclonedx",
    work_dir: Annotated[Path | None, typer.Option(
        "--work-dir", help="Parent directory for temporary extraction.")] = None,
    db: Annotated[str | None, typer.Option(
        "--db", help="Knowledge base for the CycloneDX vulnerabilities (as for scan).")] =
        None,
    no_vulns: Annotated[bool, typer.Option(
        "--no-vulns", help="Components only, no vulnerabilities.")] = False,
) -> None:
    """Scan IMAGE and write only its SBOM (CycloneDX carries the vulnerabilities too)."""
    import tempfile

    from spyproof.report.sbom import write_sbom

    if fmt not in ("cyclonedx", "spdx"):
        _emit_error(f"--format {fmt}: expected cyclonedx or spdx")
        raise typer.Exit(2)
    with tempfile.TemporaryDirectory(prefix="spyproof-sbom-", dir=work_dir) as tmp:
        try:
            outcome = run_scan(image, Path(tmp) / "out", ScanOptions(
                work_dir=work_dir, db=db, vulns=not no_vulns and fmt == "cyclonedx",
                checks=False))
        except ScanInputError as exc:
            _emit_error(str(exc))
            raise typer.Exit(2) from None
        try:
            write_sbom(outcome.report, output, fmt)
        except OSError as exc:
            _emit_error(f"{output}: cannot write: {exc.strerror}")
            raise typer.Exit(2) from None
    for problem in outcome.problems:
        _emit_error(problem)
    if not _State.quiet:
        out.print(f"{fmt} SBOM with {len(outcome.report.components)} components: {output}")
    raise typer.Exit(outcome.exit_code)


_GLOBAL_FLAGS = {"-q", "--quiet", "--log-json"}


def _hoist_global_flags(argv: list[str]) -> list[str]:
    """Accept --quiet/--log-json anywhere on the line, as users type them."""
    flags = [a for a in argv if a in _GLOBAL_FLAGS]
    rest = [a for a in argv if a not in _GLOBAL_FLAGS]
    return flags + rest


def _usage_error_type() -> tuple[type[BaseException], ...]:
    types: list[type[BaseException]] = []
    for module in ("typer._click.exceptions", "click.exceptions"):
        try:
            mod = __import__(module, fromlist=["ClickException"])
        except ImportError:
            continue
        types += [getattr(mod, n) for n in ("ClickException", "Abort") if hasattr(mod, n)]
    return tuple(types)


def main(argv: list[str] | None = None) -> None:
    """Console entry point: maps every failure to the documented exit codes."""
    args = _hoist_global_flags(list(sys.argv[1:] if argv is None else argv))
    try:
        rc = app(args=args, standalone_mode=False)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except _usage_error_type() as exc:
        if hasattr(exc, "format_message"):
            _emit_error(exc.format_message())
        sys.exit(2)
    except KeyboardInterrupt:
        _emit_error("interrupted")
        sys.exit(2)
    except Exception as exc:  # a genuine bug
        tb = "".join(traceback.format_exception(exc))
        _emit_error(f"internal error: {type(exc).__name__}: {exc} — this is a bug; please "
                    f"report it at {ISSUES_URL} with the traceback below")
        sys.stderr.write(tb)
        sys.exit(3)
    sys.exit(rc if isinstance(rc, int) else 0)


if __name__ == "__main__":
    main()
