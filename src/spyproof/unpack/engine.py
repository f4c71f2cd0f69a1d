"""Recursive, capped extraction of one firmware image (unblob as the engine).

The engine starts the worker (spyproof.unpack.worker) in its own process group, watches the
work directory while it runs, and stops it when a cap on total bytes, file count or
compression ratio is reached, or when it runs past its time budget. Whatever was extracted
until then is kept, and the worker's journal tells which formats were found where.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from spyproof.models import FormatChunk, LogEntry, ScanWarning
from spyproof.unpack.limits import ENV_VAR, Limits
from spyproof.unpack.worker import DEPTH_LIMIT_MARK

EXTRACT_SUFFIX = "_extract"


@dataclass
class Tree:
    """A directory produced by one extraction, and the chunk it came from."""

    id: str
    path: Path
    format: str
    container: str
    start_offset: int
    end_offset: int
    depth: int


@dataclass
class UnpackResult:
    formats: list[FormatChunk] = field(default_factory=list)
    trees: list[Tree] = field(default_factory=list)
    log: list[LogEntry] = field(default_factory=list)
    warnings: list[ScanWarning] = field(default_factory=list)
    # Extraction and carve directories: a walk of one tree must not descend into them.
    boundaries: set[Path] = field(default_factory=set)
    complete: bool = True
    sandbox: str = ""


class UnpackError(Exception):
    """The image could not be unpacked at all (one line for the user)."""


@dataclass
class _Usage:
    bytes: int = 0
    entries: int = 0


def _measure(root: Path) -> _Usage:
    """Bytes and entries under root, without following links."""
    usage = _Usage()
    stack = [str(root)]
    while stack:
        current = stack.pop()
        try:
            with os.scandir(current) as it:
                for entry in it:
                    usage.entries += 1
                    try:
                        if entry.is_dir(follow_symlinks=False):
                            stack.append(entry.path)
                        elif entry.is_file(follow_symlinks=False):
                            usage.bytes += entry.stat(follow_symlinks=False).st_size
                    except OSError:
                        continue
        except OSError:
            continue
    return usage


class _Relativiser:
    """Turns host paths into work-root relative ones so logs and ids are reproducible."""

    def __init__(self, work_root: Path, image: Path):
        self.work_root = work_root.resolve()
        self.image = image.resolve()

    def path(self, p: str | Path) -> str:
        p = Path(p)
        try:
            return p.resolve(strict=False).relative_to(self.work_root).as_posix()
        except ValueError:
            pass
        if p.resolve(strict=False) == self.image:
            return self.image.name
        return p.as_posix()

    def text(self, s: str) -> str:
        s = s.replace(str(self.work_root) + "/", "").replace(str(self.work_root), ".")
        return s.replace(str(self.image), self.image.name)


def _extract_dir_for(path: Path, work_root: Path) -> Path:
    """unblob's rule: the extraction/carve directory sits next to the file, or at the root."""
    try:
        rel = path.relative_to(work_root)
    except ValueError:
        rel = Path(path.name)
    return work_root / rel.with_name(rel.name + EXTRACT_SUFFIX)


_ERROR_CODES = {
    "ExtractCommandFailedReport": "extract.command_failed",
    "ExtractorDependencyNotFoundReport": "extract.dependency_missing",
    "ExtractorTimedOut": "extract.timeout",
    "MaliciousSymlinkRemoved": "path.symlink_removed",
    "CalculateChunkExceptionReport": "extract.chunk_error",
    "CalculateMultiFileExceptionReport": "extract.chunk_error",
    "UnknownError": "extract.error",
    "OutputDirectoryExistsReport": "extract.output_exists",
    "MultiFileCollisionReport": "extract.collision",
    "PathTraversalProblem": "path.traversal",
    "LinkExtractionProblem": "path.link",
    "SpecialFileExtractionProblem": "path.special_file",
    "ExtendedAttributeExtractionProblem": "path.xattr",
    "ExtractionProblem": "extract.problem",
    "LimitReport": None,  # code comes from the report itself
    "SquashfsErrorReport": "extract.corrupt",
}

# Problems that were resolved safely: logged and warned, but the result stays complete.
_RESOLVED = {"path.traversal", "path.link", "path.special_file", "path.xattr",
             "path.symlink_removed", "extract.problem", "extract.collision"}


def _command_output(report: dict) -> str:
    """unblob serialises a command's stderr (bytes) as base64; get the text back."""
    raw = report.get("stderr") or ""
    if isinstance(raw, str):
        with contextlib.suppress(ValueError):
            raw = base64.b64decode(raw, validate=True).decode("utf-8", "replace")
    return str(raw)


def _last_line(text: str) -> str:
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    return lines[-1] if lines else ""


# 7-Zip refuses symlinks whose target climbs out of the entry's directory, even when the
# target stays inside the archive; the link itself is recorded from the archive listing.
_SEVEN_ZIP_LINK_ONLY = re.compile(r"Dangerous link path was ignored")


def _code_for(report: dict) -> str:
    kind = report.get("__typename__", "")
    if kind == "ExtractCommandFailedReport":
        errors = [ln for ln in _command_output(report).splitlines()
                  if ln.strip().startswith("ERROR")]
        if errors and all(_SEVEN_ZIP_LINK_ONLY.search(ln) for ln in errors):
            return "path.link"
    if kind == "ExtractionProblem":
        text = f"{report.get('problem', '')} {report.get('resolution', '')}".lower()
        if "traversal" in text:
            return "path.traversal"
        if "link" in text:
            return "path.link"
        if "special" in text or "device" in text or "fifo" in text:
            return "path.special_file"
    return _ERROR_CODES.get(kind) or "extract.problem"


def _describe(report: dict, rel: _Relativiser) -> str:
    kind = report.get("__typename__", "report")
    if kind == "ExtractCommandFailedReport":
        output = _command_output(report)
        dangerous = [ln.strip() for ln in output.splitlines() if _SEVEN_ZIP_LINK_ONLY.search(ln)]
        detail = "; ".join(dangerous) if dangerous else _last_line(output)
        command = str(report.get("command", "?")).split(" ")[0]
        return rel.text(f"{command} exited {report.get('exit_code')}: {detail}")[:500]
    if kind == "ExtractorDependencyNotFoundReport":
        return f"extractor tool missing: {', '.join(report.get('dependencies', []))}"
    if kind == "MaliciousSymlinkRemoved":
        return rel.text(f"symlink {report.get('link')} -> {report.get('target')} removed "
                        "(points outside its tree or loops)")
    if kind == "UnknownError" or kind.startswith("Calculate"):
        exc = str(report.get("exception", "")).strip().splitlines()
        return rel.text(exc[-1] if exc else "unknown error")[:400]
    if "problem" in report:
        where = report.get("path") or ""
        return rel.text(f"{report['problem']} {report.get('resolution', '')} {where}".strip())
    if kind == "LimitReport":
        return rel.text(str(report.get("detail", "")))
    if kind == "SquashfsErrorReport":
        return rel.text(str(report.get("message", "")))
    return rel.text(json.dumps({k: v for k, v in report.items() if k != "__typename__"},
                               sort_keys=True, default=str))[:400]


class _JournalReader:
    """Turns the worker's task results into format chunks, trees, warnings and log lines."""

    def __init__(self, work_root: Path, image: Path, result: UnpackResult):
        self.work_root = work_root
        self.rel = _Relativiser(work_root, image)
        self.result = result
        self.pending_trees: list[Tree] = []

    def feed(self, record: dict) -> None:
        if "worker" in record:
            self.result.sandbox = record["worker"]
            return
        if "task" not in record:
            return
        task = record["task"]
        task_path = Path(task["path"])
        depth = int(task.get("depth", 0))
        container = self.rel.path(task_path)
        size = None
        for report in record.get("reports", []):
            kind = report.get("__typename__")
            if kind == "StatReport":
                size = report.get("size")
        for report in record.get("reports", []):
            kind = report.get("__typename__")
            if kind == "ChunkReport":
                self._chunk(report, task_path, container, depth, size)
            elif kind == "UnknownChunkReport":
                self.result.formats.append(FormatChunk(
                    container=container, format="unknown",
                    start_offset=report["start_offset"], end_offset=report["end_offset"],
                    depth=depth))
            elif kind == "CarveDirectoryReport":
                self.result.boundaries.add(Path(report["carve_dir"]))
            elif kind in _ERROR_CODES:
                self._problem(report, container)

    def _chunk(self, report: dict, task_path: Path, container: str, depth: int,
               size: int | None) -> None:
        start, end, handler = report["start_offset"], report["end_offset"], report["handler_name"]
        whole = start == 0 and size is not None and end == size
        carve_or_extract = _extract_dir_for(task_path, self.work_root)
        self.result.boundaries.add(carve_or_extract)
        extract_dir = carve_or_extract if whole else (
            carve_or_extract / f"{start}-{end}.{handler}{EXTRACT_SUFFIX}")
        self.result.boundaries.add(extract_dir)
        tree_id = self.rel.path(extract_dir)
        failed = False
        for sub in report.get("extraction_reports", []):
            failed |= self._problem(sub, container, fmt=handler)
        exists = extract_dir.is_dir() and not extract_dir.is_symlink()
        self.result.formats.append(FormatChunk(
            container=container, format=handler, start_offset=start, end_offset=end,
            depth=depth, extracted_to=tree_id if exists else None))
        if exists:
            self.result.trees.append(Tree(
                id=tree_id, path=extract_dir, format=handler, container=container,
                start_offset=start, end_offset=end, depth=depth))
        elif not failed and handler not in _NOT_EXTRACTED:
            self.result.log.append(LogEntry(level="info", source=container,
                                            message=f"{handler} chunk at {start} not extracted"))

    def _problem(self, report: dict, container: str, fmt: str | None = None) -> bool:
        """Record one unblob problem report; True when it made the result incomplete."""
        kind = report.get("__typename__", "")
        code = _code_for(report)
        if kind == "UnknownError" and DEPTH_LIMIT_MARK in str(report.get("exception", "")):
            code = "limit.depth"
            message = f"nesting depth cap reached; {container} was not searched further"
        elif kind == "LimitReport":
            code = f"limit.{report.get('cap', 'unknown')}"
            message = f"{fmt or 'extractor'} stopped: {_describe(report, self.rel)}"
        else:
            message = (f"{fmt}: " if fmt else "") + _describe(report, self.rel)
        level = "warning" if code in _RESOLVED else "error"
        self.result.log.append(LogEntry(level=level, source=container, message=message))
        self.result.warnings.append(ScanWarning(code=code, message=message, path=container))
        if code not in _RESOLVED:
            self.result.complete = False
            return True
        return False


# Handlers that identify a chunk without producing a tree of files.
_NOT_EXTRACTED = {"elf32", "elf64", "padding"}


def _read_worker_log(log_path: Path, rel: _Relativiser, result: UnpackResult) -> None:
    try:
        lines = log_path.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return
    for line in lines:
        try:
            rec = json.loads(line)
        except ValueError:
            continue
        level = str(rec.pop("level", "warning"))
        event = str(rec.pop("event", ""))
        for noisy in ("timestamp", "pid", "_verbosity", "exc_info", "exception"):
            rec.pop(noisy, None)
        where = rel.path(rec.pop("path")) if "path" in rec else "extraction"
        extra = " ".join(f"{k}={rel.text(str(v))}" for k, v in sorted(rec.items()))
        message = rel.text(f"{event} {extra}".strip())[:500]
        result.log.append(LogEntry(level=level, source=where, message=message))


def unpack(
    image: Path,
    work_root: Path,
    limits: Limits,
    *,
    timeout_s: float = 3600.0,
    on_progress: Callable[[int, int], None] | None = None,
) -> UnpackResult:
    """Extract image recursively into work_root; never raises for a bad image."""
    image = image.resolve()
    work_root = work_root.resolve()
    work_root.mkdir(parents=True, exist_ok=True)
    meta = work_root.parent / (work_root.name + ".meta")
    meta.mkdir(parents=True, exist_ok=True)
    journal = meta / "journal.jsonl"
    log_path = meta / "unblob.log"
    for p in (journal, log_path):
        p.unlink(missing_ok=True)
        p.touch()
    result = UnpackResult()
    env = dict(os.environ)
    env[ENV_VAR] = limits.to_env()
    # unblob's Python extractors (jefferson, ubireader) are console scripts of this venv.
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    input_size = max(image.stat().st_size, 1)

    proc = subprocess.Popen(
        [sys.executable, "-m", "spyproof.unpack.worker", str(image), str(work_root),
         str(journal), str(log_path)],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        start_new_session=True, env=env,
    )
    started = time.monotonic()
    interval = 0.1
    stopped: ScanWarning | None = None
    while True:
        try:
            proc.wait(timeout=interval)
            break
        except subprocess.TimeoutExpired:
            pass
        t0 = time.monotonic()
        usage = _measure(work_root)
        # Keep the watchdog's own cost small next to the work it watches.
        interval = min(2.0, max(0.1, 5 * (time.monotonic() - t0)))
        if on_progress:
            on_progress(usage.entries, usage.bytes)
        stopped = _check_caps(usage, limits, input_size, time.monotonic() - started, timeout_s)
        if stopped:
            _kill(proc)
            break
    stderr = proc.stderr.read().decode("utf-8", "replace") if proc.stderr else ""
    proc.wait()

    reader = _JournalReader(work_root, image, result)
    done = False
    for line in journal.read_text(encoding="utf-8", errors="replace").splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue  # a line cut by a kill
        done |= bool(record.get("done"))
        reader.feed(record)
    _read_worker_log(log_path, reader.rel, result)

    if stopped:
        result.warnings.append(stopped)
        result.log.append(LogEntry(level="error", source=image.name, message=stopped.message))
        result.complete = False
    elif not done:
        last = stderr.strip().splitlines()[-1] if stderr.strip() else f"exit code {proc.returncode}"
        msg = f"extraction worker stopped early: {reader.rel.text(last)}"
        result.warnings.append(ScanWarning(code="extract.worker_failed", message=msg))
        result.log.append(LogEntry(level="error", source=image.name, message=msg))
        result.complete = False
    if not result.complete:
        # A write past the per-file cap fails its extractor (EFBIG under RLIMIT_FSIZE, or
        # the squashfs reader's own cap), so only an incomplete extraction can hold a
        # truncated file; a clean one is not walked a second time.
        _check_file_cap(result, limits)
    _tidy(result)
    return result


def _check_caps(usage: _Usage, limits: Limits, input_size: int, elapsed: float,
                timeout_s: float) -> ScanWarning | None:
    if usage.bytes > limits.max_total_bytes:
        return ScanWarning(code="limit.total_bytes", message=(
            f"extraction stopped: {usage.bytes} bytes extracted, over the cap of "
            f"{limits.max_total_bytes} (--max-total-bytes)"))
    if usage.entries > limits.max_files:
        return ScanWarning(code="limit.files", message=(
            f"extraction stopped: {usage.entries} files extracted, over the cap of "
            f"{limits.max_files} (--max-files)"))
    if usage.bytes > 1024 * 1024 and usage.bytes / input_size > limits.max_ratio:
        return ScanWarning(code="limit.ratio", message=(
            f"extraction stopped: {usage.bytes} bytes from a {input_size}-byte image is a "
            f"ratio over {limits.max_ratio:g} (--max-ratio); likely a decompression bomb"))
    if elapsed > timeout_s:
        return ScanWarning(code="limit.time", message=(
            f"extraction stopped after {elapsed:.0f} s (--timeout)"))
    return None


def _check_file_cap(result: UnpackResult, limits: Limits) -> None:
    """A file cut at the per-file cap (RLIMIT_FSIZE) surfaces as a failed extractor."""
    for tree in result.trees:
        for dirpath, _dirs, names in os.walk(tree.path):
            for name in names:
                p = os.path.join(dirpath, name)
                try:
                    size = os.lstat(p).st_size
                except OSError:
                    continue
                if size >= limits.max_file_bytes:
                    rel = Path(os.path.relpath(p, tree.path)).as_posix()
                    msg = (f"{tree.id}/{rel}: stopped at the per-file cap of "
                           f"{limits.max_file_bytes} bytes (--max-file-bytes); file is truncated")
                    result.warnings.append(ScanWarning(code="limit.file_bytes", message=msg,
                                                       path=tree.id))
                    result.log.append(LogEntry(level="error", source=tree.id, message=msg))
                    result.complete = False


def _kill(proc: subprocess.Popen) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


def _tidy(result: UnpackResult) -> None:
    """Sort and de-duplicate everything so that the same image gives the same result."""
    result.formats = sorted(
        {(f.container, f.start_offset, f.end_offset, f.format): f for f in result.formats}.values(),
        key=lambda f: (f.depth, f.container, f.start_offset, f.end_offset, f.format))
    result.trees = sorted({t.id: t for t in result.trees}.values(), key=lambda t: t.id)
    result.log = sorted(
        {(e.source, e.level, e.message): e for e in result.log}.values(),
        key=lambda e: (e.source, e.level, e.message))
    result.warnings = sorted(
        {(w.code, w.path or "", w.message): w for w in result.warnings}.values(),
        key=lambda w: (w.code, w.path or "", w.message))
