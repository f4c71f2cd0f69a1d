"""Binary equivalence: ``spyproof equiv A B`` (docs/equiv.md).

Two images (or two unpacked trees) are unpacked by spyproof's engine, paired path by path
and judged identical, equivalent after listed normalisations, or different. The CLI calls
:func:`run_equiv` and renders the :class:`EquivOutcome`; nothing here prints.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from spyproof import __version__
from spyproof.equiv.compare import compare_sides
from spyproof.equiv.elf import is_elf
from spyproof.equiv.model import (
    DiffoscopeRun,
    EquivReport,
    FileComparison,
    InputInfo,
    PairStatus,
    Summary,
    Verdict,
)
from spyproof.equiv.sides import (
    IMAGE,
    Entry,
    EquivInputError,
    Side,
    check_input,
    directory_side,
    image_side,
    sha256_file,
)
from spyproof.models import ToolInfo
from spyproof.outdir import prepare_out_dir
from spyproof.unpack.limits import Limits, current

__all__ = ["EquivInputError", "EquivOptions", "EquivOutcome", "run_equiv"]


@dataclass
class EquivOptions:
    limits: Limits = field(default_factory=current)
    work_dir: Path | None = None
    timeout_s: float = 3600.0
    diffoscope: bool = True  # run diffoscope on the differing files when it is installed
    diffoscope_timeout_s: float = 300.0
    now: Callable[[], datetime] = lambda: datetime.now(UTC)


@dataclass
class EquivOutcome:
    report: EquivReport
    report_path: Path
    html_path: Path
    problems: list[str]  # one line each (an incomplete unpack); exit 2 when any

    @property
    def exit_code(self) -> int:
        if self.problems:
            return 2
        return 1 if self.report.verdict == Verdict.different else 0


def _summary(files: list[FileComparison]) -> Summary:
    s = Summary()
    for f in files:
        setattr(s, f.status, getattr(s, f.status) + 1)
    return s


def _verdict(files: list[FileComparison]) -> Verdict:
    statuses = {PairStatus(f.status) for f in files}
    if statuses & {PairStatus.different, PairStatus.only_in_a, PairStatus.only_in_b}:
        return Verdict.different
    if PairStatus.equivalent in statuses:
        return Verdict.equivalent
    return Verdict.identical


def file_side(name: str, path: Path, given: str) -> Side:
    """An input file taken as one file, not unpacked."""
    size, digest = sha256_file(path)
    side = Side(name=name, info=InputInfo(path=given, kind="file", size=size, sha256=digest))
    side.entries[IMAGE] = Entry(path=IMAGE, tree="", kind="file", size=size, sha256=digest,
                                host=path)
    return side


def _identical_files(a: Path, b: Path, given_a: str, given_b: str) -> tuple[Side, Side] | None:
    """Two byte-identical input files need no unpacking."""
    side_a, side_b = file_side("a", a, given_a), file_side("b", b, given_b)
    return (side_a, side_b) if side_a.info.sha256 == side_b.info.sha256 else None


def _sides(a: Path, b: Path, kind: str, options: EquivOptions, work: Path) -> tuple[Side, Side]:
    if kind == "directory":
        return directory_side("a", a, str(a)), directory_side("b", b, str(b))
    same = _identical_files(a, b, str(a), str(b))
    if same is not None:
        return same
    if is_elf(a) and is_elf(b):
        # An ELF file is not a container: compare the two as ELF, nothing to unpack.
        return file_side("a", a, str(a)), file_side("b", b, str(b))
    # The two extraction workers run side by side; each is its own process.
    with ThreadPoolExecutor(max_workers=2, thread_name_prefix="spyproof-equiv") as pool:
        from spyproof.unpack.engine import unpack

        futures = {name: pool.submit(unpack, path, work / name / "extract", options.limits,
                                     timeout_s=options.timeout_s)
                   for name, path in (("a", a), ("b", b))}
        results = {name: f.result() for name, f in futures.items()}
    return (image_side("a", a, str(a), work / "a", options.limits, options.timeout_s,
                       results["a"]),
            image_side("b", b, str(b), work / "b", options.limits, options.timeout_s,
                       results["b"]))


def run_equiv(a: Path, b: Path, out: Path, options: EquivOptions | None = None, *,
              force: bool = False) -> EquivOutcome:
    """Compare A and B, write OUT/report.json and OUT/report.html (and the diffoscope
    output when it ran); raise EquivInputError for bad input."""
    from spyproof.equiv.diffoscope import run_diffoscope
    from spyproof.equiv.html import write_html
    from spyproof.report.writer import write_json_atomic

    options = options or EquivOptions()
    kind_a, kind_b = check_input(a), check_input(b)
    if kind_a != kind_b:
        raise EquivInputError(f"{a} is a {kind_a} and {b} a {kind_b}: compare two image files "
                              "or two directories")
    prepare_out_dir(out, force, EquivInputError)
    generated_at = options.now().strftime("%Y-%m-%dT%H:%M:%SZ")
    work = Path(tempfile.mkdtemp(prefix="spyproof-equiv-", dir=options.work_dir))
    try:
        side_a, side_b = _sides(a, b, kind_a, options, work)
        files = compare_sides(side_a, side_b)
        verdict = _verdict(files)
        diffoscope = DiffoscopeRun(status="disabled")
        if options.diffoscope:
            diffoscope = run_diffoscope(files, side_a, side_b, out, work,
                                        options.diffoscope_timeout_s)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    normalisations = sorted((n for f in files for n in f.normalisations),
                            key=lambda n: (n.where, n.kind, n.detail))
    complete = side_a.info.complete and side_b.info.complete
    report = EquivReport(
        tool=ToolInfo(version=__version__), generated_at=generated_at, verdict=verdict,
        complete=complete, a=side_a.info, b=side_b.info, summary=_summary(files),
        normalisations=normalisations, files=files,
        warnings=sorted(side_a.warnings + side_b.warnings,
                        key=lambda w: (w.side, w.code, w.message)),
        diffoscope=diffoscope)
    report_path, html_path = out / "report.json", out / "report.html"
    write_json_atomic(report_path, report)
    write_html(report, html_path)
    problems = []
    for side in (side_a, side_b):
        if not side.info.complete:
            worst = next((w for w in side.warnings if w.code.startswith("limit.")), None) or (
                side.warnings[0] if side.warnings else None)
            problems.append(f"{side.info.path}: unpacking stopped early"
                            + (f": {worst.message}" if worst else "")
                            + " (partial comparison)")
    return EquivOutcome(report=report, report_path=report_path, html_path=html_path,
                        problems=problems)
