"""``spyproof traffic``: inputs → flows and DNS answers → findings → the report.

Why the traffic findings go into the same ``Report`` as a firmware scan: a clause (NS-3,
no undeclared data flows) is judged on all the evidence at once, and the SARIF and HTML
views already know how to show findings. With ``--scan`` the firmware report is extended;
without it the report describes the captures alone (its ``image`` is the first input).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from spyproof import __version__
from spyproof.digests import file_digests
from spyproof.models import (
    CheckRun,
    ImageInfo,
    Report,
    ToolInfo,
    TrafficInput,
    TrafficSection,
)
from spyproof.traffic.model import Flow


class TrafficInputError(Exception):
    """Bad input or usage: one line for the user, exit code 2."""


@dataclass
class TrafficOptions:
    device: list[str]
    agreement: Path | None = None
    scan: Path | None = None
    community_id_seed: int = 0
    now: Callable[[], datetime] = lambda: datetime.now(UTC)


@dataclass
class TrafficOutcome:
    report: Report
    report_path: Path
    problems: list[str] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        if self.problems:
            return 2
        return 1 if self.report.verdict == "fail" else 0


def is_zeek_input(path: Path) -> bool:
    """A directory of Zeek logs, or one Zeek log file (conn.log, dns.log …)."""
    if path.is_dir():
        return any(path.glob("*.log")) or any(path.glob("*.log.gz"))
    return path.name.endswith((".log", ".log.gz"))


def read_inputs(paths: list[Path], community_id_seed: int = 0):  # noqa: ANN201
    """Flows and DNS answers from captures and Zeek logs, with what each input yielded."""
    from spyproof.traffic.app import AppInspector
    from spyproof.traffic.capture import CaptureError, read_flows
    from spyproof.traffic.evidence import InputRef
    from spyproof.traffic.zeek import ZeekLogError, read_zeek

    flows, dns, inputs, refs, problems = [], [], [], [], []
    captures = [p for p in paths if not is_zeek_input(p)]
    for path in paths:
        if not path.exists():
            raise TrafficInputError(f"{path}: no such file or directory")
    if captures:
        try:
            app = AppInspector()
            cflows, cdns, stats = read_flows(captures, inspector=app.inspect,
                                             wants_more=app.wants_more,
                                             community_id_seed=community_id_seed)
        except CaptureError as exc:
            raise TrafficInputError(str(exc)) from None
        flows += cflows
        dns += cdns
        for item in _capture_inputs(stats):
            inputs.append(item)
            refs.append(InputRef(name=item.name, sha256=item.sha256, kind=item.kind))
        for f in stats.files:  # captures index flows in this order (Flow.capture)
            if not f.complete or f.problems:
                problems.append(f"{f.name}: read in part: " + "; ".join(f.problems[:3]))
    for path in (p for p in paths if is_zeek_input(p)):
        try:
            zflows, zdns, stats = read_zeek(path)
        except ZeekLogError as exc:
            raise TrafficInputError(str(exc)) from None
        for flow in zflows:  # evidence cites inputs by position across all of them
            if flow.capture is not None:
                flow.capture += len(refs)
        flows += zflows
        dns += zdns
        for item in _zeek_inputs(path, stats):
            inputs.append(item)
            refs.append(InputRef(name=item.name, sha256=item.sha256, kind="zeek"))
    return flows, dns, inputs, refs, problems


def stream_flows(paths: list[Path], emit: Callable[[Flow], None],
                 community_id_seed: int = 0) -> tuple[int, list[str]]:
    """The flow table of captures, each flow emitted as soon as it ends (the rest, sorted,
    at the end): memory stays bounded by the flows open at once, whatever the length."""
    from spyproof.traffic.app import AppInspector
    from spyproof.traffic.capture import CaptureError, CaptureStats, iter_packets, open_inputs
    from spyproof.traffic.flows import FlowTable

    for path in paths:
        if not path.exists():
            raise TrafficInputError(f"{path}: no such file or directory")
    try:
        capture_set = open_inputs(paths)
    except CaptureError as exc:
        raise TrafficInputError(str(exc)) from None
    count = 0

    def done(flow: Flow) -> None:
        nonlocal count
        count += 1
        emit(flow)

    app = AppInspector()
    table = FlowTable(inspector=app.inspect, wants_more=app.wants_more, on_flow=done,
                      keep_dns=False, community_id_seed=community_id_seed)
    stats = CaptureStats()
    try:
        for packet in iter_packets(capture_set, stats):
            table.add(packet)
    except CaptureError as exc:
        raise TrafficInputError(str(exc)) from None
    for flow in table.finish():
        done(flow)
    problems = [f"{f.name}: read in part: " + "; ".join(f.problems[:3])
                for f in stats.files if not f.complete or f.problems]
    return count, problems


def _capture_inputs(stats) -> list[TrafficInput]:  # noqa: ANN001 - CaptureStats
    out = []
    for f in stats.files:
        out.append(TrafficInput(
            name=str(f.name), kind=f.format, sha256=f.sha256, size=f.size,
            packets=f.packets, link_types=sorted(f.link_types),
            first=_iso(f.first_ts), last=_iso(f.last_ts), skipped=dict(sorted(f.skipped.items())),
            notices=dict(sorted(f.notices.items())), problems=list(f.problems)))
    return out


def _zeek_inputs(path: Path, stats) -> list[TrafficInput]:  # noqa: ANN001 - ZeekStats
    out = []
    for f in stats.files:
        out.append(TrafficInput(name=str(f.name), kind="zeek", sha256=f.sha256, size=f.size,
                                packets=None, link_types=[], first=None, last=None,
                                records=f.records, skipped=dict(sorted(f.skipped.items()))))
    return out


def _iso(ts: float | None) -> str | None:
    if ts is None:
        return None
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def run_traffic(paths: list[Path], out: Path, options: TrafficOptions, *,
                force: bool = False) -> TrafficOutcome:
    from spyproof.agreement import AgreementError, apply_agreement, load_agreement
    from spyproof.outdir import prepare_out_dir
    from spyproof.report.writer import write_json_atomic
    from spyproof.traffic.evidence import analyse

    loaded = None
    if options.agreement is not None:
        try:
            loaded = load_agreement(options.agreement)
        except AgreementError as exc:
            raise TrafficInputError(str(exc)) from None
    base = _load_scan(options.scan) if options.scan else None
    prepare_out_dir(out, force, TrafficInputError)
    flows, dns, inputs, refs, problems = read_inputs(paths, options.community_id_seed)
    findings, facts = analyse(flows, dns, device=options.device, agreement=loaded, scan=base,
                              inputs=refs)
    generated_at = options.now().strftime("%Y-%m-%dT%H:%M:%SZ")
    run = CheckRun(id="traffic", title="Runtime traffic: destinations, resolvers, beacons, "
                   "DNS tunnelling, volume, traffic vs firmware", examined=len(flows),
                   findings=len(findings),
                   skipped=[f"{i.name}: {why}: {n:,}" for i in inputs
                            for why, n in i.skipped.items()])
    section = TrafficSection(device=sorted(options.device), inputs=inputs, flows=len(flows),
                             dns_answers=len(dns), facts=facts.model_dump(mode="json"))
    if base is None:
        size, sha256, sha512 = file_digests(paths[0]) if paths[0].is_file() else (0, "", "")
        report = Report(tool=ToolInfo(version=__version__), generated_at=generated_at,
                        image=ImageInfo(name=paths[0].name, size=size,
                                        sha256=sha256 or hashlib.sha256().hexdigest(),
                                        sha512=sha512 or hashlib.sha512().hexdigest()),
                        limits={}, findings=sorted(findings, key=lambda f: f.id),
                        checks=[run], traffic=section, complete=not problems)
    else:
        kept = [f for f in base.findings if f.check != "traffic"]
        report = base.model_copy(update={
            "generated_at": generated_at, "traffic": section,
            "findings": sorted(kept + findings, key=lambda f: f.id),
            "checks": sorted([c for c in base.checks if c.id != "traffic"] + [run],
                             key=lambda c: c.id),
            "verdicts": [], "verdict": None})
    report = apply_agreement(report, loaded)
    report_path = out / "report.json"
    write_json_atomic(report_path, report)
    from spyproof.scan import _write_reports

    _write_reports(report, out)
    return TrafficOutcome(report, report_path, problems)


def _load_scan(path: Path) -> Report:
    from pydantic import ValidationError

    try:
        return Report.model_validate_json(path.read_bytes())
    except OSError as exc:
        raise TrafficInputError(f"{path}: cannot read: {exc.strerror}") from None
    except ValidationError as exc:
        raise TrafficInputError(f"{path}: not a spyproof report ({exc.error_count()} "
                                "problem(s))") from None
