"""``spyproof traffic`` and ``spyproof flows``: runtime evidence from captures and Zeek logs.

Exit codes: 0 no clause fails; 1 a clause fails (with --agreement); 2 bad input or usage,
or an input that could only be read in part (the report is still written)."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Annotated

import typer

from spyproof.cli_output import State, emit_error, emit_warning, out

FLOW_COLUMNS = ("uid", "start", "proto", "orig_h", "orig_p", "resp_h", "resp_p", "duration",
                "orig_pkts", "orig_ip_bytes", "resp_pkts", "resp_ip_bytes", "orig_bytes",
                "resp_bytes", "conn_state", "history", "service", "community_id", "sni",
                "ja4", "alpn", "http_host", "quic", "dns_queries", "first_packet")


def traffic(
    inputs: Annotated[list[Path], typer.Argument(help="Captures (pcap, pcapng, .gz, a "
                                                 "directory of rotated captures) or a "
                                                 "directory of Zeek logs.")],
    device: Annotated[list[str], typer.Option("--device", help="The device's IP address "
                                              "(repeatable).")],
    out_dir: Annotated[Path, typer.Option("--out", "-o", help="Output directory.")],
    agreement: Annotated[Path | None, typer.Option(help="No-spy agreement: declared "
                                                   "endpoints and resolvers.")] = None,
    scan: Annotated[Path | None, typer.Option(help="report.json of the firmware scan: "
                                              "cross-check and one combined report.")] = None,
    force: Annotated[bool, typer.Option(help="Reuse a non-empty output directory.")] = False,
    community_id_seed: Annotated[int, typer.Option(
        "--community-id-seed", min=0, max=65535, help="Community ID seed (0, the spec's "
        "default, as Zeek and Wireshark).")] = 0,
) -> None:
    """Does the device talk only to what the vendor declared? Findings (undeclared
    destinations and resolvers, DoH/DoT, beacons, DNS tunnelling, volume, traffic vs
    firmware) go into OUT/report.json, report.html, findings.sarif and summary.md."""
    import ipaddress

    from spyproof.traffic.pipeline import TrafficInputError, TrafficOptions, run_traffic

    for value in device:
        try:
            ipaddress.ip_address(value)
        except ValueError:
            emit_error(f"--device: {value!r} is not an IP address")
            raise typer.Exit(2) from None
    try:
        outcome = run_traffic(inputs, out_dir, TrafficOptions(
            device=device, agreement=agreement, scan=scan,
            community_id_seed=community_id_seed),
                              force=force)
    except TrafficInputError as exc:
        emit_error(str(exc))
        raise typer.Exit(2) from None
    for problem in outcome.problems:
        emit_warning(problem)
    if not State.quiet:
        _summary(outcome)
    raise typer.Exit(outcome.exit_code)


def _summary(outcome) -> None:  # noqa: ANN001 - TrafficOutcome
    r = outcome.report
    t = r.traffic
    traffic_findings = [f for f in r.findings if f.check == "traffic"]
    out.print(f"{sum(i.packets or 0 for i in t.inputs):,} packets, {t.flows:,} flows, "
              f"{t.dns_answers:,} DNS answers; {len(traffic_findings)} traffic finding(s)",
              soft_wrap=True)
    for f in sorted(traffic_findings, key=lambda f: (f.severity, f.id))[:15]:
        out.print(f"  {f.severity:<8} {f.title}", soft_wrap=True)
    for v in r.verdicts:
        if v.id == "NS-3" or v.verdict == "fail":
            out.print(f"{v.id} {v.verdict}: {v.reason}", soft_wrap=True)
    out.print(f"report: {outcome.report_path}")


def flows(
    inputs: Annotated[list[Path], typer.Argument(help="Captures or Zeek log directories.")],
    fmt: Annotated[str, typer.Option("--format", help="csv or json.")] = "csv",
    output: Annotated[Path | None, typer.Option("--output", "-o")] = None,
    community_id_seed: Annotated[int, typer.Option(
        "--community-id-seed", min=0, max=65535, help="Community ID seed (0, the spec's "
        "default, as Zeek and Wireshark).")] = 0,
) -> None:
    """The flow table alone: Zeek conn.log semantics plus DNS names, TLS SNI and JA4,
    HTTP Host, QUIC and the Community ID of each flow."""
    from spyproof.traffic.pipeline import is_zeek_input

    if fmt not in ("csv", "json"):
        emit_error(f"--format: {fmt!r}; use csv or json")
        raise typer.Exit(2)
    sink = _Sink(fmt, output)
    try:
        if any(is_zeek_input(p) for p in inputs):
            problems = _zeek_flows(inputs, sink)
        else:
            problems = _capture_flows(inputs, sink, community_id_seed)
    except _Abort as exc:
        sink.discard()
        emit_error(str(exc))
        raise typer.Exit(2) from None
    try:
        sink.close()
    except OSError as exc:
        emit_error(f"{output}: cannot write: {exc.strerror}")
        raise typer.Exit(2) from None
    for problem in problems:
        emit_warning(problem)
    raise typer.Exit(2 if problems else 0)


class _Abort(Exception):
    pass


def _capture_flows(inputs: list[Path], sink: _Sink, seed: int) -> list[str]:
    """Captures: rows are written as flows end, so memory does not grow with length."""
    from spyproof.traffic.pipeline import TrafficInputError, stream_flows

    try:
        _count, problems = stream_flows(inputs, lambda flow: sink.write(flow_row(flow)),
                                        community_id_seed=seed)
    except TrafficInputError as exc:
        raise _Abort(str(exc)) from None
    return problems


def _zeek_flows(inputs: list[Path], sink: _Sink) -> list[str]:
    from spyproof.traffic.pipeline import TrafficInputError, read_inputs

    try:
        table, _dns, _inputs, _refs, problems = read_inputs(inputs)
    except TrafficInputError as exc:
        raise _Abort(str(exc)) from None
    for flow in sorted(table, key=lambda f: (f.start, f.uid)):
        sink.write(flow_row(flow))
    return problems


class _Sink:
    """CSV or a JSON array, written row by row to stdout or to a temporary file renamed
    over --output at the end (a reader never sees half a table)."""

    def __init__(self, fmt: str, output: Path | None) -> None:
        import sys
        import tempfile

        self.fmt, self.output, self.rows = fmt, output, 0
        self.tmp: Path | None = None
        self.close_plain = False
        if output is not None and output.exists() and not output.is_file():
            # a device or FIFO (e.g. /dev/null) is written to, never renamed over
            self.fh = open(output, "w", encoding="utf-8", newline="")  # noqa: SIM115
            self.output = None
            self.close_plain = True
        elif output is None:
            self.fh = sys.stdout
        else:
            try:
                fd, name = tempfile.mkstemp(prefix=f".{output.name}.", suffix=".tmp",
                                            dir=output.parent if str(output.parent) else ".")
            except OSError as exc:
                emit_error(f"{output}: cannot write: {exc.strerror}")
                raise typer.Exit(2) from None
            self.tmp = Path(name)
            self.fh = open(fd, "w", encoding="utf-8", newline="")  # noqa: SIM115
        if fmt == "csv":
            self.csv = csv.DictWriter(self.fh, fieldnames=FLOW_COLUMNS, lineterminator="\n")
            self.csv.writeheader()
        else:
            self.fh.write("[")

    def write(self, row: dict) -> None:
        if self.fmt == "csv":
            self.csv.writerow({k: (" ".join(v) if isinstance(v, list) else v)
                               for k, v in row.items()})
        else:
            self.fh.write(("," if self.rows else "") + "\n " + json.dumps(row))
        self.rows += 1

    def close(self) -> None:
        if self.fmt == "json":
            self.fh.write("\n]\n" if self.rows else "]\n")
        self.fh.flush()
        if self.close_plain:
            self.fh.close()
        if self.tmp is not None:
            import os

            os.fsync(self.fh.fileno())
            self.fh.close()
            os.chmod(self.tmp, 0o644)
            os.replace(self.tmp, self.output)

    def discard(self) -> None:
        if self.tmp is not None:
            self.fh.close()
            self.tmp.unlink(missing_ok=True)


def flow_row(flow) -> dict:  # noqa: ANN001 - Flow
    from spyproof.traffic.pipeline import _iso

    row = {name: getattr(flow, name, None) for name in FLOW_COLUMNS}
    row["start"] = _iso(flow.start)
    row["duration"] = round(flow.duration, 6)
    return row
