"""Run checks over an image: one pass over the files, on both cores, then image-wide work.

Each file that at least one selected check wants is read once (up to the largest
``max_bytes`` among them) in a forked worker, and every interested check's ``scan_file``
sees it. Files are spread over the workers by size. A check that raises on one file costs
that file only: the error becomes a note, the scan goes on. Small jobs run in-process,
where forking would cost more than it saves.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor

from spyproof.checks.base import (
    REGULAR,
    Check,
    CheckContext,
    FileView,
    Outcome,
    finding_sort_key,
    read_capped,
)
from spyproof.models import CheckRun, FileEntry, Finding

INLINE_BYTES = 4 * 1024 * 1024  # below this much content, no worker processes
MAX_NOTES = 50

Progress = Callable[[str, int, int], None]

# A job: the entry, its host path, and the ids of the checks that want it.
_Job = tuple[FileEntry, str, tuple[str, ...]]

_WORKER_CHECKS: dict[str, Check] = {}


def _plan(ctx: CheckContext, checks: Sequence[Check]) -> list[_Job]:
    jobs: list[_Job] = []
    for entry in ctx.files:
        if entry.kind not in REGULAR or entry.size == 0 or entry.tree not in ctx.tree_paths:
            continue
        ids = tuple(c.info.id for c in checks if c.wants(entry))
        if ids:
            try:
                host = str(ctx.host_path(entry))
            except OSError:
                continue
            jobs.append((entry, host, ids))
    return jobs


def _scan_one(job: _Job, checks: dict[str, Check]) -> dict[str, Outcome]:
    entry, host, ids = job
    out: dict[str, Outcome] = {}
    want = max(checks[i].max_bytes for i in ids)
    try:
        data, truncated = read_capped(host, want)
    except OSError as exc:
        reason = exc.strerror or str(exc)
        return {i: Outcome(notes=[f"{entry.tree}/{entry.path}: not read: {reason}"])
                for i in ids}
    for i in ids:
        check = checks[i]
        cut = len(data) > check.max_bytes
        view = FileView(entry=entry, data=data[:check.max_bytes] if cut else data,
                        truncated=truncated or cut)
        try:
            res = check.scan_file(view)
        except Exception as exc:  # one bad file must not stop a check
            res = Outcome(notes=[f"{entry.tree}/{entry.path}: skipped: {type(exc).__name__}: "
                                 f"{exc}"])
        res.examined = res.examined or 1
        out[i] = res
    return out


def _scan_batch(jobs: list[_Job]) -> dict[str, Outcome]:
    merged: dict[str, Outcome] = {}
    for job in jobs:
        for cid, res in _scan_one(job, _WORKER_CHECKS).items():
            merged.setdefault(cid, Outcome()).extend(res)
    return merged


def _split(jobs: list[_Job], n: int) -> list[list[_Job]]:
    """Greedy by size: the biggest files first, each to the lightest bucket."""
    buckets: list[list[_Job]] = [[] for _ in range(n)]
    loads = [0] * n
    for job in sorted(jobs, key=lambda j: (-j[0].size, j[0].tree, j[0].path)):
        k = loads.index(min(loads))
        buckets[k].append(job)
        loads[k] += job[0].size + 4096  # a file's fixed cost, so tiny files spread too
    return [b for b in buckets if b]


def _per_file(jobs: list[_Job], checks: Sequence[Check], workers: int) -> dict[str, Outcome]:
    _WORKER_CHECKS.clear()
    _WORKER_CHECKS.update({c.info.id: c for c in checks})
    total = sum(j[0].size for j in jobs)
    if workers <= 1 or total < INLINE_BYTES or len(jobs) < 2:
        return _scan_batch(jobs)
    batches = _split(jobs, workers * 4)
    merged: dict[str, Outcome] = {}
    ctx = multiprocessing.get_context("fork")
    with ProcessPoolExecutor(max_workers=workers, mp_context=ctx) as pool:
        for part in pool.map(_scan_batch, batches):
            for cid, res in part.items():
                merged.setdefault(cid, Outcome()).extend(res)
    return merged


def run_checks(ctx: CheckContext, checks: Sequence[Check], *, workers: int | None = None,
               progress: Progress | None = None) -> tuple[list[Finding], list[CheckRun]]:
    """Every selected check over the image: sorted findings and one run record each."""
    workers = workers if workers is not None else min(2, os.cpu_count() or 1)
    jobs = _plan(ctx, checks)
    per_file = _per_file(jobs, checks, workers)
    if progress:
        progress("checks", 0, len(checks))
    findings: list[Finding] = []
    runs: list[CheckRun] = []
    for n, check in enumerate(checks, start=1):
        cid = check.info.id
        mine = per_file.get(cid, Outcome())
        mine.findings.sort(key=finding_sort_key)
        try:
            result = check.finish(ctx, mine)
        except Exception as exc:  # a bug in one check must not lose the others
            result = Outcome(findings=mine.findings, examined=mine.examined,
                             notes=[*mine.notes, f"image-wide step failed: "
                                    f"{type(exc).__name__}: {exc}"])
        unique = {f.id: f for f in result.findings}
        findings.extend(unique.values())
        notes = sorted(set(result.notes))
        if len(notes) > MAX_NOTES:
            notes = [*notes[:MAX_NOTES], f"… and {len(notes) - MAX_NOTES} more"]
        runs.append(CheckRun(id=cid, title=check.info.title, examined=result.examined,
                             findings=len(unique), skipped=notes))
        if progress:
            progress("checks", n, len(checks))
    findings.sort(key=finding_sort_key)
    runs.sort(key=lambda r: r.id)
    return findings, runs
