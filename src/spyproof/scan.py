"""The scan pipeline: image -> unpack -> inventory -> report.

The CLI calls `run_scan` and renders what it returns; nothing here prints.
"""

from __future__ import annotations

import errno
import importlib
import json
import shutil
import tempfile
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from spyproof import __version__
from spyproof.digests import file_digests
from spyproof.inventory.manifest import sidecar_path, sidecars
from spyproof.inventory.rootfs import find_rootfs_dirs
from spyproof.models import (
    SPECIAL_KINDS,
    ExtractedTree,
    FileEntry,
    FormatChunk,
    ImageInfo,
    LogEntry,
    Report,
    ScanWarning,
    ToolInfo,
    Verdict,
)
from spyproof.outdir import prepare_out_dir
from spyproof.report.writer import write_json_atomic
from spyproof.unpack.engine import Tree, unpack
from spyproof.unpack.limits import Limits

Progress = Callable[[str, int, int], None]


class ScanInputError(Exception):
    """Bad input or environment: one line for the user, exit code 2."""


@dataclass
class ScanOptions:
    limits: Limits = field(default_factory=Limits)
    work_dir: Path | None = None
    keep_extracted: bool = False
    identify: bool = True
    vulns: bool = True  # match components against the knowledge base (needs identify)
    db: str | None = None  # knowledge base path or URL (else $SPYPROOF_DB, default, sample)
    vex: list[Path] = field(default_factory=list)
    checks: bool = True  # run the evidence checks
    only: list[str] | None = None  # check ids (None: all)
    fail_on: str | None = None  # severity: exit 1 when a finding or vulnerability reaches it
    agreement: Path | None = None  # the no-spy agreement to judge the image against
    log: str | None = None  # transparency log (directory or URL) to check the release in
    trust: Path | None = None  # trust policy for that log (tlog-policy + vendor keys)
    timeout_s: float = 3600.0
    now: Callable[[], datetime] = lambda: datetime.now(UTC)


@dataclass
class ScanOutcome:
    report: Report
    report_path: Path
    problems: list[str]  # one line each, for stderr; empty when the scan is complete
    extracted_dir: Path | None = None

    gate_failed: bool = False  # a finding or vulnerability at or above --fail-on

    @property
    def exit_code(self) -> int:
        if self.problems:
            return 2
        return 1 if self.gate_failed else 0


def check_input(image: Path) -> None:
    if not image.exists() and not image.is_symlink():
        raise ScanInputError(f"{image}: no such file")
    if image.is_dir():
        raise ScanInputError(f"{image}: is a directory, expected a firmware image file")
    if not image.is_file():
        raise ScanInputError(f"{image}: not a regular file")
    try:
        with image.open("rb") as fh:
            fh.read(1)
    except OSError as exc:
        raise ScanInputError(f"{image}: cannot read: {exc.strerror}") from None


def _split_rootfs(trees: list[Tree], boundaries: set[Path]) -> tuple[list[Tree], list[Tree]]:
    """Rootfs candidates found below a tree's top become trees of their own."""
    extra: list[Tree] = []
    candidates: list[Tree] = []
    for tree in trees:
        for rel in find_rootfs_dirs(tree.path, boundaries):
            if rel == "":
                candidates.append(tree)
                continue
            sub = Tree(id=f"{tree.id}/{rel}", path=tree.path / rel, format=tree.format,
                       container=tree.container, start_offset=tree.start_offset,
                       end_offset=tree.end_offset, depth=tree.depth)
            boundaries.add(sub.path)
            extra.append(sub)
            candidates.append(sub)
    return extra, candidates


def _preload_inventory() -> None:
    importlib.import_module("spyproof.inventory.walk").warm_up()


def _attach_details(formats: list[FormatChunk], tree_paths: dict[str, Path]) -> None:
    """Header facts an extractor left beside its tree become part of the format chain."""
    for chunk in formats:
        path = tree_paths.get(chunk.extracted_to or "")
        if path is None:
            continue
        side = sidecar_path(path, f"{chunk.format}.json")
        try:
            chunk.details = json.loads(side.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue


def _load_vex(options: ScanOptions) -> list:
    """The knowledge base and the VEX documents are checked before any work, so a bad one
    fails fast."""
    if not (options.identify and options.vulns):
        return []
    from spyproof.vulns.stage import (
        KnowledgeBaseError,
        check_knowledge_base,
        load_vex_documents,
    )

    try:
        check_knowledge_base(options.db)
        return load_vex_documents(options.vex)
    except KnowledgeBaseError as exc:
        raise ScanInputError(str(exc)) from None


def _write_reports(report: Report, out: Path) -> None:
    """The human and tool views of report.json: summary.md, findings.sarif, report.html."""
    from spyproof.report.html import write_html
    from spyproof.report.sarif import write_sarif
    from spyproof.report.summary import write_summary

    write_summary(report, out / "summary.md")
    write_sarif(report, out / "findings.sarif")
    write_html(report, out / "report.html")


def _load_agreement(options: ScanOptions):  # noqa: ANN202 - LoadedAgreement | None
    """The agreement is validated before any work: every problem, one line each."""
    if options.agreement is None:
        return None
    from spyproof.agreement import AgreementError, load_agreement

    try:
        return load_agreement(options.agreement)
    except AgreementError as exc:
        raise ScanInputError(str(exc)) from None


def _load_trust(options: ScanOptions):  # noqa: ANN202 - Trust | None
    """--log and --trust come together and the trust file is parsed before any work."""
    if options.log is None and options.trust is None:
        return None
    if options.log is None or options.trust is None:
        raise ScanInputError("--log and --trust go together (the log to read and whom to "
                             "trust in it)")
    from spyproof.provenance.operator import TrustFileError, parse_trust

    if not options.log.startswith(("http://", "https://")) and not (
            Path(options.log) / "checkpoint").is_file():
        raise ScanInputError(f"{options.log}: not a tiles log (no checkpoint file; a log is "
                             "a directory or an http(s) URL)")
    try:
        return parse_trust(options.trust.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ScanInputError(f"{options.trust}: cannot read: {exc.strerror}") from None
    except (TrustFileError, UnicodeDecodeError) as exc:
        raise ScanInputError(f"{options.trust}: bad trust policy: {exc}") from None


def _vulnerabilities(components: list, options: ScanOptions, vex_docs: list):
    from spyproof.report.cyclonedx import component_refs
    from spyproof.vulns.stage import KnowledgeBaseError, run_vuln_stage

    pairs = component_refs(components)
    try:
        return run_vuln_stage([c for c, _ in pairs], [r for _, r in pairs], options.db,
                              vex_docs)
    except KnowledgeBaseError as exc:
        raise ScanInputError(str(exc)) from None


def _run_checks(files: list[FileEntry], tree_paths: dict[str, Path], rootfs: str | None,
                identification, vuln_stage, options: ScanOptions,  # noqa: ANN001
                progress: Progress | None) -> tuple[list, list]:
    from spyproof.checks.base import CheckContext
    from spyproof.checks.registry import select
    from spyproof.checks.runner import run_checks

    ctx = CheckContext(files, tree_paths, rootfs,
                       identification.components if identification else [],
                       vuln_stage.vulnerabilities if vuln_stage else [],
                       now=options.now())
    return run_checks(ctx, select(options.only), progress=progress)


def gate_fails(report: Report, fail_on: str | None) -> bool:
    """Whether an open finding (not declared by the agreement), or a vulnerability that
    counts (not triaged away by VEX), reaches the ``--fail-on`` severity."""
    if not fail_on:
        return False
    from spyproof.checks.base import at_or_above
    from spyproof.models import Severity

    sev = [f.severity for f in report.findings if f.status != "declared"]
    sev += [v.severity for v in report.vulnerabilities
            if v.counts and v.severity in Severity.__members__]
    return any(at_or_above(s, fail_on) for s in sev)


def run_scan(image: Path, out: Path, options: ScanOptions, *, force: bool = False,
             progress: Progress | None = None) -> ScanOutcome:
    check_input(image)
    if options.checks and options.only:
        from spyproof.checks.registry import UnknownCheck, select

        try:
            select(options.only)
        except UnknownCheck as exc:
            raise ScanInputError(str(exc)) from None
    vex_docs = _load_vex(options)
    loaded_agreement = _load_agreement(options)
    trust = _load_trust(options)
    prepare_out_dir(out, force, ScanInputError)
    # While the extraction worker runs, the second core hashes the image (hashlib releases
    # the GIL) and loads the inventory (LIEF's import and first parse take most of a
    # second); neither then sits on the critical path.
    background = ThreadPoolExecutor(max_workers=2, thread_name_prefix="spyproof-bg")
    digests = background.submit(file_digests, image)
    inventory_ready = background.submit(_preload_inventory)
    background.shutdown(wait=False)

    if options.keep_extracted:
        work = out / "extracted"
        if work.exists():
            shutil.rmtree(work)
        work.mkdir()
        cleanup = None
    else:
        work = Path(tempfile.mkdtemp(prefix="spyproof-", dir=options.work_dir))
        cleanup = work
    extract_root = work / "extract"
    try:
        return _scan_in(image, out, options, extract_root, digests, inventory_ready,
                        progress, kept=work if options.keep_extracted else None,
                        vex_docs=vex_docs, loaded_agreement=loaded_agreement, trust=trust)
    except OSError as exc:
        if exc.errno == errno.ENOSPC:
            raise ScanInputError(f"{image}: no space left on device while scanning "
                                 f"({exc.filename or work})") from None
        raise
    finally:
        if cleanup is not None:
            shutil.rmtree(cleanup, ignore_errors=True)


def _scan_in(image: Path, out: Path, options: ScanOptions, extract_root: Path,
             digests: Future, inventory_ready: Future, progress: Progress | None,
             kept: Path | None, vex_docs: list, loaded_agreement=None, trust=None  # noqa: ANN001
             ) -> ScanOutcome:
    generated_at = options.now().strftime("%Y-%m-%dT%H:%M:%SZ")
    result = unpack(image, extract_root, options.limits, timeout_s=options.timeout_s,
                    on_progress=(lambda n, b: progress("unpack", n, b)) if progress else None)
    boundaries = set(result.boundaries)
    for tree in result.trees:
        boundaries.update(sidecars(tree.path))
    _attach_details(result.formats, {t.id: t.path for t in result.trees})
    extra, candidates = _split_rootfs(result.trees, boundaries)
    trees = sorted(result.trees + extra, key=lambda t: t.id)

    inventory_ready.result()
    from spyproof.inventory.walk import inventory_tree

    # The inventory forks worker processes: let the hashing thread finish first.
    try:
        size, sha256, sha512 = digests.result()
    except OSError as exc:
        raise ScanInputError(f"{image}: cannot read: {exc.strerror}") from None

    files: list[FileEntry] = []
    warnings_extra: list[ScanWarning] = []
    tree_models: list[ExtractedTree] = []
    for i, tree in enumerate(trees):
        entries = list(inventory_tree(tree.id, tree.path, boundaries))
        files.extend(entries)
        specials = [e.path for e in entries if e.kind in SPECIAL_KINDS]
        if specials:
            warnings_extra.append(ScanWarning(
                code="path.special_file", path=tree.id,
                message=(f"{len(specials)} device node(s), fifo(s) or socket(s) recorded from "
                         f"the image's metadata, not created on disk: "
                         f"{', '.join(specials[:5])}{' …' if len(specials) > 5 else ''}")))
        tree_models.append(ExtractedTree(
            id=tree.id, format=tree.format, container=tree.container,
            start_offset=tree.start_offset, end_offset=tree.end_offset, depth=tree.depth,
            file_count=sum(1 for e in entries if e.kind in ("file", "hardlink")),
            total_bytes=sum(e.size for e in entries if e.kind == "file")))
        if progress:
            progress("inventory", i + 1, len(trees))

    identification = None
    if options.identify:
        from spyproof.identify.pipeline import identify

        identification = identify(files, {t.id: t.path for t in trees})
        if progress:
            progress("identify", 1, 1)
    rootfs = None
    if candidates:
        counts = {t.id: t.file_count for t in tree_models}
        best = max(candidates, key=lambda t: (counts.get(t.id, 0), -len(t.id)))
        rootfs = best.id
        for t in tree_models:
            t.is_rootfs = t.id == rootfs

    vuln_stage = None
    if identification is not None and options.vulns:
        vuln_stage = _vulnerabilities(identification.components, options, vex_docs)
        if progress:
            progress("vulnerabilities", 1, 1)

    findings, check_runs = [], []
    if options.checks:
        findings, check_runs = _run_checks(
            files, {t.id: t.path for t in trees}, rootfs, identification, vuln_stage,
            options, progress)

    warnings = list(result.warnings) + warnings_extra
    if identification:
        warnings.extend(identification.warnings)
    log = list(result.log)
    problems: list[str] = []
    if not result.formats or all(f.format == "unknown" for f in result.formats):
        msg = "no known firmware or archive format found"
        warnings.append(ScanWarning(code="input.unknown_format", message=msg))
        problems.append(f"{image}: {msg}")
    elif not trees:
        msg = "formats were recognised but nothing could be extracted"
        warnings.append(ScanWarning(code="input.nothing_extracted", message=msg))
        problems.append(f"{image}: {msg}")
    elif rootfs is None:
        log.append(LogEntry(level="info", source=image.name,
                            message="no tree looks like a root filesystem "
                            "(etc/ with bin/ or usr/)"))
    complete = result.complete and not problems
    if not result.complete:
        worst = next((w for w in warnings if w.code.startswith("limit.")), None) or next(
            (w for w in warnings if not w.code.startswith("path.")), warnings[0])
        problems.insert(0, f"{image}: {worst.message} (partial report)")

    files.sort(key=lambda e: (e.tree, e.path))
    report = Report(
        tool=ToolInfo(version=__version__),
        generated_at=generated_at,
        image=ImageInfo(name=image.name, size=size, sha256=sha256, sha512=sha512,
                        formats=result.formats),
        limits={k: v for k, v in sorted(vars(options.limits).items())},
        rootfs=rootfs,
        trees=tree_models,
        files=files,
        components=identification.components if identification else [],
        duplicates=identification.duplicates if identification else [],
        unclaimed_elf=identification.unclaimed_elf if identification else [],
        vulnerabilities=vuln_stage.vulnerabilities if vuln_stage else [],
        knowledge_base=vuln_stage.knowledge_base if vuln_stage else None,
        findings=findings,
        checks=check_runs,
        extraction_log=sorted(log, key=lambda e: (e.source, e.level, e.message)),
        warnings=sorted(warnings, key=lambda w: (w.code, w.path or "", w.message)),
        complete=complete,
    )
    if trust is not None and options.log is not None:
        from spyproof.provenance.stage import provenance_stage

        report.provenance = provenance_stage(image, sha256, options.log, trust)
    from spyproof.agreement import apply_agreement

    report = apply_agreement(report, loaded_agreement)
    report_path = out / "report.json"
    write_json_atomic(report_path, report)
    _write_reports(report, out)
    if options.identify:
        from spyproof.report.sbom import write_sbom

        write_sbom(report, out / "sbom.cdx.json", "cyclonedx")
    if vuln_stage is not None:
        from spyproof.report.vex import write_vex

        write_vex(report, out / "vex.cdx.json")
    return ScanOutcome(report=report, report_path=report_path, problems=problems,
                       extracted_dir=kept,
                       gate_failed=gate_fails(report, options.fail_on)
                       or report.verdict == Verdict.failed)
