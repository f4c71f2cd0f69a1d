"""Endpoints (NS-3, no undeclared data flows): every URL, host name, IPv4/IPv6 address and
port the firmware names, with the file and offset, classified and flagged.

Per file: endpoints are extracted (:mod:`endpoints_extract`), noise is dropped and private
endpoints marked (:mod:`endpoints_filter`), each endpoint is classified
(:mod:`endpoints_classify`) and flagged when identifier-reading code sits next to it or an
endless loop runs it (:mod:`endpoints_flags`). Image-wide: files that a crontab, a
periodic-task directory or another script's loop runs are flagged ``scheduled``, severities
are settled, and one summary lists the distinct endpoints by class.

A telemetry, cloud-management or unknown public endpoint next to code that reads device
identifiers, in a file that runs on a schedule, is the NS-3 case: high severity.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from typing import Any

from spyproof.checks.base import (
    REGULAR,
    Check,
    CheckContext,
    CheckInfo,
    FileView,
    Outcome,
    make_finding,
    mask_secret,
)
from spyproof.checks.endpoints_classify import classify
from spyproof.checks.endpoints_data import Knowledge, knowledge
from spyproof.checks.endpoints_extract import (
    Candidate,
    Extractor,
    ascii_strings,
    line_port,
    utf16_strings,
)
from spyproof.checks.endpoints_filter import judge
from spyproof.checks.endpoints_flags import (
    LineIndex,
    clip,
    cron_jobs,
    find_identifiers,
    loop_for,
    matches_any,
    merge_spans,
    near,
    periodic_loops,
    programs,
)
from spyproof.models import Evidence, FileEntry, FileType, Finding, Severity

CHECK_ID = "endpoints"
CLAUSE = "NS-3"
TEXT_TYPES = frozenset({FileType.script, FileType.config, FileType.text})
SCANNED = TEXT_TYPES | {FileType.elf, FileType.data, None}
FLAG_IDS = "collects-identifiers"
FLAG_SCHEDULED = "scheduled"
HIGH_CLASSES = frozenset({"telemetry", "cloud-management", "unknown"})
SUMMARY_RULE = "endpoint-inventory"
MAX_FLAG_EVIDENCE = 5
MAX_SUMMARY_EVIDENCE = 50
MAX_SCRIPT_BYTES = 1 << 20  # scripts read again image-wide (loops that run programs)
ENTROPY_SAMPLE = 256 * 1024


def entropy(data: bytes) -> float:
    """Shannon entropy (bits per byte) of a sample: compressed or encrypted data is near 8."""
    sample = data[:ENTROPY_SAMPLE]
    if not sample:
        return 0.0
    n = len(sample)
    return -sum(c / n * math.log2(c / n) for c in Counter(sample).values())


_CONTROL = bytes(b for b in range(32) if b not in (9, 10, 13))


def looks_textual(data: bytes) -> bool:
    """Text that the inventory called data (invalid UTF-8, latin-1 configs): no NUL bytes
    and hardly any control characters at its start. Read line by line, with line numbers."""
    head = data[:8192]
    if not head or b"\x00" in head:
        return False
    return len(head) - len(head.translate(None, _CONTROL)) <= len(head) // 100


# -- building findings ----------------------------------------------------------------


def severity(k: Knowledge, cls: str, scope: str, flags: set[str]) -> Severity:
    if scope == "private":
        return Severity.info
    if cls in HIGH_CLASSES and {FLAG_IDS, FLAG_SCHEDULED} <= flags:
        return Severity.high
    return Severity(k.classes[cls].severity)


def build(k: Knowledge, evidence: list[Evidence], details: dict[str, Any]) -> Finding:
    """The finding for one endpoint in one file, everything derived from ``details``."""
    cls = details["class"]
    info = k.classes[cls]
    flags = set(details["flags"])
    sev = severity(k, cls, details["scope"], flags)
    where = evidence[0].path
    title = f"{info.title[0].upper()}{info.title[1:]}: {details['value']} in {where}"
    parts = [info.explanation]
    if details["scope"] == "private":
        title += " (private)"
        parts = [f"A private-network endpoint ({details.get('scope_reason')}): it names a "
                 "host inside the local network, kept for the inventory."]
    if FLAG_IDS in flags:
        kinds = ", ".join(details["identifiers"])
        parts.append(f"The same file reads device identifiers nearby ({kinds}).")
    if FLAG_SCHEDULED in flags:
        parts.append("The file runs on a schedule (" + "; ".join(details["schedule"]) + ").")
    if sev == Severity.high:
        parts.append("Identifier collection, a schedule and an outside endpoint together are "
                     "the pattern of an undeclared periodic report of device data (NS-3).")
    rule = details["rule"] or "unclassified"
    source = next((r.source for r in k.rules if r.id == details["rule"]), None)
    return make_finding(CHECK_ID, rule, sev, title, " ".join(parts), evidence, clause=CLAUSE,
                        details=details, source=source)


# -- per file -------------------------------------------------------------------------


class _FileScan:
    """One file's endpoints: extraction, filtering, grouping, flags, findings."""

    def __init__(self, k: Knowledge, view: FileView) -> None:
        self.k = k
        self.view = view
        self.entry = view.entry
        self.notes: list[str] = []
        self.binary = self.entry.file_type not in TEXT_TYPES and not looks_textual(view.data)
        self.text = view.data.decode("latin-1")
        self.lines = None if self.binary else LineIndex(self.text)

    def occurrences(self) -> list[tuple[Candidate, int]]:
        """Candidates with their byte offsets: lines of a text file; printable strings
        (ASCII, then UTF-16LE) of a binary."""
        ex = Extractor(self.k)
        data = self.view.data
        strict = (self.binary and self.entry.file_type != FileType.elf
                  and entropy(data) > self.k.limit("high_entropy_bits"))
        found: list[tuple[Candidate, int]] = []
        if not self.binary:
            found += [(c, c.start) for c in ex.extract(self.text)]
        sources = []
        if self.binary:
            sources.append(ascii_strings(data))
        if self.binary or data.startswith(b"\xff\xfe"):
            sources.append(utf16_strings(data, self.k.limit("min_utf16_chars")))
        for strings in sources:
            found += [(c, strings.offset(c.start))
                      for c in ex.extract(strings.text, strict=strict)]
        return found

    def group(self) -> dict[tuple[str, str], list[tuple[Candidate, int, int | None]]]:
        groups: dict[tuple[str, str], list[tuple[Candidate, int, int | None]]] = {}
        limit = self.k.limit("max_endpoints_per_file")
        dropped: set[tuple[str, str]] = set()
        for c, off in sorted(self.occurrences(), key=lambda x: x[1]):
            verdict = judge(self.k, c)
            if verdict.noise:
                continue
            key = (c.kind, c.value)
            if key not in groups and len(groups) >= limit:
                dropped.add(key)
                continue
            line = self.lines.line_of(off) if self.lines and off < len(self.text) else None
            groups.setdefault(key, []).append((c, off, line))
        if dropped:
            self.notes.append(f"{self.entry.tree}/{self.entry.path}: {len(dropped)} more "
                              f"endpoints beyond the first {limit} not reported")
        return groups

    def context_port(self, line: int | None, per_line: Counter[int]) -> int | None:
        """A port named on the endpoint's own line (when it is the line's only endpoint)
        or on one of the next two lines that name no endpoint (UCI ``option port``)."""
        if self.lines is None or line is None or per_line[line] != 1:
            return None
        for ln in (line, line + 1, line + 2):
            if ln != line and per_line[ln]:
                break
            if ln - 1 > len(self.lines.newlines):
                break
            port = line_port(self.lines.line_text(ln))
            if port is not None:
                return port
        return None

    def findings(self) -> list[Finding]:
        k = self.k
        groups = self.group()
        if not groups:
            return []
        elf = self.entry.elf
        spans = None
        if self.binary:  # only the windows around endpoints can flag one
            spans = merge_spans((off for occ in groups.values() for _, off, _ in occ),
                                k.limit("binary_window_bytes"), len(self.text))
        indicators = find_identifiers(k, self.text, binary=self.binary, lines=self.lines,
                                      symbols=elf.imported_symbols if elf else (), spans=spans)
        loops = periodic_loops(k, self.text) if not self.binary else []
        per_line = Counter(ln for occ in groups.values() for _, _, ln in occ if ln)
        out = []
        for (kind, value), occ in groups.items():
            first = occ[0][0]
            port = next((c.port for c, _, _ in occ if c.port is not None), None)
            if port is None and kind != "url":
                port = self.context_port(occ[0][2], per_line)
            verdict = judge(k, first)
            klass = classify(k, host=first.host, host_kind=first.host_kind,
                             scheme=first.scheme, path=first.path, port=port)
            evidence = [self.endpoint_evidence(c, off, line)
                        for c, off, line in occ[:k.limit("max_evidence_per_finding")]]
            lines = [ln for _, _, ln in occ if ln] if self.lines else None
            close = near(indicators, starts=[off for _, off, _ in occ], lines=lines,
                         line_window=k.limit("text_window_lines"),
                         byte_window=k.limit("binary_window_bytes"))
            flags, schedule = set(), []
            if close:
                flags.add(FLAG_IDS)
                evidence += [self.view.evidence(f"identifier/{i.rule.id}", offset=i.start,
                                                line=i.line, text=i.text)
                             for i in close[:MAX_FLAG_EVIDENCE]]
            loop = next((lp for ln in (lines or []) if (lp := loop_for(loops, ln))), None)
            if loop:
                flags.add(FLAG_SCHEDULED)
                schedule.append(f"endless loop at lines {loop.first}-{loop.last} of "
                                f"{self.entry.path}, sleep at line {loop.sleep_line}")
                evidence.append(self.view.evidence("schedule/loop", line=loop.first,
                                                   text=loop.header))
            details = {
                "kind": kind, "value": self.masked(first, value), "host": first.host,
                "port": port, "scheme": first.scheme, "scope": verdict.scope,
                "scope_reason": verdict.scope_reason, "class": klass.cls,
                "rule": klass.rule.id if klass.rule else None, "matched_by": klass.matched_by,
                "flags": sorted(flags), "identifiers": sorted({i.rule.kind for i in close}),
                "schedule": schedule, "occurrences": len(occ),
                "more_occurrences": max(0, len(occ) - k.limit("max_evidence_per_finding")),
            }
            out.append(build(k, evidence, details))
        return out

    def masked(self, c: Candidate, text: str) -> str:
        """``text`` with the URL's password masked (only where it sits: ``:pw@``)."""
        if not c.password:
            return text
        return text.replace(f":{c.password}@", f":{mask_secret(c.password)}@")

    def endpoint_evidence(self, c: Candidate, off: int, line: int | None) -> Evidence:
        return self.view.evidence(f"extract/{c.kind}", offset=off, line=line,
                                  text=self.masked(c, clip(c.context)))


# -- image-wide: schedules ------------------------------------------------------------


class _Schedules:
    """Which files run on a schedule, and the evidence for it."""

    def __init__(self, k: Knowledge, ctx: CheckContext) -> None:
        self.k = k
        self.ctx = ctx
        self.notes: list[str] = []
        self.by_file: dict[tuple[str, str], list[tuple[str, Evidence]]] = defaultdict(list)
        self.cron_lines: dict[tuple[str, str], dict[int, Evidence]] = defaultdict(dict)

    def _read(self, entry: FileEntry) -> str | None:
        try:
            return self.ctx.read_text(entry, MAX_SCRIPT_BYTES)[0]
        except OSError as exc:
            self.notes.append(f"{entry.tree}/{entry.path}: not read for schedules: {exc}")
            return None

    def _add(self, tree: str, program: str, why: str, ev: Evidence) -> None:
        target = self.ctx.resolve(tree, program)
        if target is None or target.kind not in REGULAR:
            return
        have = self.by_file[(target.tree, target.path)]
        if all(w != why for w, _ in have):
            have.append((why, ev))

    def collect(self) -> _Schedules:
        seen: set[tuple[str, str]] = set()
        for spec in self.k.crontabs:
            for entry in self.ctx.glob(spec.pattern):
                if (entry.tree, entry.path) in seen:
                    continue
                seen.add((entry.tree, entry.path))
                text = self._read(entry)
                for job in cron_jobs(text or "", spec.user_field):
                    ev = Evidence(tree=entry.tree, path=entry.path, sha256=entry.sha256,
                                  line=job.line, text=job.text, rule="schedule/crontab")
                    self.cron_lines[(entry.tree, entry.path)][job.line] = ev
                    for prog in programs(job.command):
                        self._add(entry.tree, prog, f"crontab {entry.path} line {job.line}", ev)
        for pattern in self.k.periodic_dirs:
            for entry in self.ctx.glob(pattern):
                ev = Evidence(tree=entry.tree, path=entry.path, sha256=entry.sha256,
                              rule="schedule/periodic-dir",
                              text=f"in {pattern.rsplit('/', 1)[0]}")
                self._add(entry.tree, entry.path, f"periodic directory {pattern}", ev)
        self._loops_in_scripts()
        self._one_hop()
        return self

    def _scripts(self) -> list[FileEntry]:
        return [f for f in self.ctx.files if f.kind in REGULAR
                and f.file_type == FileType.script and 0 < f.size <= MAX_SCRIPT_BYTES]

    def _loops_in_scripts(self) -> None:
        """Programs that another script runs inside an endless loop with a sleep."""
        for entry in self._scripts():
            text = self._read(entry)
            if not text or "while" not in text or "sleep" not in text:
                continue
            lines = text.splitlines()
            for loop in periodic_loops(self.k, text):
                ev = Evidence(tree=entry.tree, path=entry.path, sha256=entry.sha256,
                              line=loop.first, text=loop.header, rule="schedule/loop")
                for n in range(loop.first, loop.last + 1):
                    for prog in programs(lines[n - 1].split("#", 1)[0]):
                        self._add(entry.tree, prog, f"loop in {entry.path} line {loop.first}",
                                  ev)

    def _one_hop(self) -> None:
        """What a scheduled script runs (by absolute path) is scheduled too."""
        for (tree, path), reasons in list(self.by_file.items()):
            entry = self.ctx.entry(tree, path)
            if entry is None or entry.file_type != FileType.script:
                continue
            text = self._read(entry) or ""
            why, ev = reasons[0]
            for n, line in enumerate(text.splitlines(), start=1):
                code = line.split("#", 1)[0]
                for prog in programs(code):
                    if prog in code and (tree, prog.lstrip("/")) != (tree, path):
                        self._add(tree, prog, f"run by {path} line {n} ({why})", ev)

    def for_finding(self, f: Finding) -> list[tuple[str, Evidence]]:
        first = f.evidence[0]
        found = list(self.by_file.get((first.tree, first.path), []))
        jobs = self.cron_lines.get((first.tree, first.path), {})
        for e in f.evidence:
            if e.rule and e.rule.startswith("extract/") and e.line in jobs:
                found.append((f"cron job at line {e.line} of {first.path}", jobs[e.line]))
                break
        return found


# -- the check ------------------------------------------------------------------------


class EndpointsCheck(Check):
    info = CheckInfo(
        id=CHECK_ID,
        title="Network endpoints",
        clause=CLAUSE,
        description=("URLs, host names, IPv4/IPv6 addresses and ports the firmware names, "
                     "with file and offset; noise filtered, private ranges kept apart; each "
                     "endpoint classified (update, time, DNS, telemetry, cloud management, "
                     "unknown) and flagged when code next to it reads device identifiers or "
                     "the file runs on a schedule."),
        looks_at="strings of binaries, scripts and configuration files; crontabs",
        data_files=("checks/endpoints.yaml", "checks/endpoints_tlds.txt"),
    )

    def wants(self, entry: FileEntry) -> bool:
        if entry.file_type not in SCANNED:
            return False
        return not matches_any(entry.path, (p for p, _ in knowledge().skip_paths))

    def scan_file(self, view: FileView) -> Outcome:
        scan = _FileScan(knowledge(), view)
        if view.truncated:
            scan.notes.append(f"{view.entry.tree}/{view.path}: only the first "
                              f"{len(view.data)} of {view.entry.size} bytes read")
        return Outcome(findings=scan.findings(), notes=scan.notes)

    def finish(self, ctx: CheckContext, per_file: Outcome) -> Outcome:
        k = knowledge()
        sched = _Schedules(k, ctx).collect()
        findings = []
        for f in per_file.findings:
            extra = sched.for_finding(f)
            if extra:
                details = dict(f.details)
                details["flags"] = sorted({*details["flags"], FLAG_SCHEDULED})
                details["schedule"] = [*details["schedule"], *(w for w, _ in extra)]
                evidence = [*f.evidence, *(e for _, e in extra[:MAX_FLAG_EVIDENCE])]
                f = build(k, evidence, details)
            findings.append(f)
        summary = summarise(findings)
        if summary:
            findings.append(summary)
        skipped = _skipped_notes(k, ctx)
        return Outcome(findings=findings, notes=[*per_file.notes, *sched.notes, *skipped],
                       examined=per_file.examined)


def _skipped_notes(k: Knowledge, ctx: CheckContext) -> list[str]:
    """One note per skip pattern that left files out (documentation, licences …)."""
    counts: Counter[str] = Counter()
    for e in ctx.files:
        if e.kind in REGULAR and e.file_type in SCANNED:
            hit = next((p for p, _ in k.skip_paths if matches_any(e.path, [p])), None)
            if hit:
                counts[hit] += 1
    reasons = dict(k.skip_paths)
    return [f"{n} files under {p} not scanned: {reasons[p]}" for p, n in sorted(counts.items())]


def summarise(findings: list[Finding]) -> Finding | None:
    """One info finding: the distinct endpoints of the image by class, private apart."""
    if not findings:
        return None
    by_class: dict[str, set[str]] = defaultdict(set)
    hosts: dict[str, set[str]] = defaultdict(set)
    private: set[str] = set()
    flagged: set[str] = set()
    first: dict[str, Evidence] = {}
    for f in findings:
        d = f.details
        value = d["value"]
        if d["scope"] == "private":
            private.add(value)
        else:
            by_class[d["class"]].add(value)
            hosts[d["class"]].add(d["host"])
        if {FLAG_IDS, FLAG_SCHEDULED} <= set(d["flags"]):
            flagged.add(value)
        ev = f.evidence[0]
        if value not in first or (ev.path, ev.offset or 0) < (first[value].path,
                                                               first[value].offset or 0):
            first[value] = ev
    evidence = [first[v].model_copy(update={"rule": "summary"}) for v in sorted(first)]
    counts = {c: len(v) for c, v in sorted(by_class.items())}
    details = {
        "by_class": {c: sorted(v) for c, v in sorted(by_class.items())},
        "hosts_by_class": {c: sorted(v) for c, v in sorted(hosts.items())},
        "private": sorted(private),
        "flagged": sorted(flagged),
        "counts": {**counts, "private": len(private)},
        "files": len({(f.evidence[0].tree, f.evidence[0].path) for f in findings}),
        "more_endpoints": max(0, len(evidence) - MAX_SUMMARY_EVIDENCE),
    }
    listing = ", ".join(f"{n} {c}" for c, n in counts.items()) or "none public"
    return make_finding(
        CHECK_ID, SUMMARY_RULE, Severity.info,
        f"Endpoint inventory: {sum(counts.values())} public ({listing}), "
        f"{len(private)} private",
        "Every endpoint the firmware names, by class: the list a vendor's declaration of data "
        "flows must cover, and the static side of the traffic cross-check.",
        evidence[:MAX_SUMMARY_EVIDENCE], clause=CLAUSE, details=details)


CHECK = EndpointsCheck()
