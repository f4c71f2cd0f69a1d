"""Beaconing: periodic connections per (device, destination), scored in the spirit of
RITA's published beacon analysis; daily check-ins over multi-day captures; reconnect
storms reported as such.

Scores (each 0..1, as RITA's): *timestamp* — regularity of the intervals between
connection starts, the mean of a Bowley-skewness score (symmetric = 1) and a median
absolute deviation score ((median - MAD) / median); *data size* — the same over the bytes
of each connection; *histogram* — how evenly the connections spread over the capture cut
into 24 bins (1 - coefficient of variation); *duration* — persistence: the larger of the
share of the capture the series covers and its longest run of consecutive non-empty bins
over the ideal run (scored only when enough bins are hit). The score is their weighted
mean. Differences from RITA, with the reasons, are in ``data/traffic/evidence.yaml``: a
minimum timestamp score (periodicity defines a beacon), 8 connections at least, retries
merged first, and no bimodal-histogram sub-score.

A reconnect storm (many connections in a few seconds, typically failing) is found on the
raw starts and reported with its own rule; merging retries keeps it from looking like a
fast beacon. A daily beacon groups connections into sessions (an hour apart or more) and
asks for sessions about a day apart, regularly, on several days.
"""

from __future__ import annotations

import math
import statistics
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from spyproof.checks.base import make_finding
from spyproof.models import Finding, Severity
from spyproof.traffic.evidence.context import CHECK, CLAUSE, Context, flow_text, iso
from spyproof.traffic.evidence.destinations import Group
from spyproof.traffic.evidence.facts import BeaconFact, StormFact
from spyproof.traffic.model import Flow

# -- statistics (each returns a score in 0..1) ---------------------------------------------


def bowley_score(values: Sequence[float], min_spread: float) -> float:
    """1 - |Bowley skewness|; the skewness counts only when the quartiles are spread."""
    if len(values) < 3:
        return 0.0
    q1, q2, q3 = statistics.quantiles(values, n=4, method="inclusive")
    spread = q3 - q1
    if spread < min_spread or q2 in (q1, q3):
        return 1.0
    return max(0.0, 1.0 - abs((q1 + q3 - 2 * q2) / spread))


def mad_score(values: Sequence[float], default: float) -> float:
    """(median - MAD) / median: 1 for identical values, 0 when they scatter widely."""
    med = statistics.median(values)
    if med < 1:
        return default
    mad = statistics.median(abs(v - med) for v in values)
    return min(1.0, max(0.0, (med - mad) / med))


def regularity(values: Sequence[float], min_spread: float, default: float) -> float:
    return round((bowley_score(values, min_spread) + mad_score(values, default)) / 2, 3)


def histogram(starts: Sequence[float], lo: float, hi: float, bins: int) -> list[int]:
    counts = [0] * bins
    width = (hi - lo) / bins if hi > lo else 1.0
    for s in starts:
        counts[min(bins - 1, max(0, int((s - lo) / width)))] += 1
    return counts


def evenness(counts: Sequence[int]) -> float:
    """1 - coefficient of variation of the bin counts (0 when it exceeds 1)."""
    mean = sum(counts) / len(counts)
    if mean <= 0:
        return 0.0
    cv = math.sqrt(sum((c - mean) ** 2 for c in counts) / len(counts)) / mean
    return round(max(0.0, 1.0 - cv), 3)


def longest_run(counts: Sequence[int]) -> int:
    """Longest run of consecutive non-empty bins, wrapping around the end."""
    best = run = 0
    for c in list(counts) * 2:
        run = run + 1 if c else 0
        best = max(best, run)
    return min(best, len(counts))


def persistence(counts: Sequence[int], first: float, last: float, lo: float, hi: float,
                min_bins: int, ideal_bins: int) -> float:
    if sum(1 for c in counts if c) < min_bins or hi <= lo:
        return 0.0
    coverage = min(1.0, (last - first) / (hi - lo))
    consistency = min(1.0, longest_run(counts) / ideal_bins)
    return round(max(coverage, consistency), 3)


def merge(starts: Sequence[tuple[float, int]], gap: float) -> list[tuple[float, int]]:
    """Starts closer than ``gap`` to the previous kept one merge into it (bytes summed)."""
    out: list[tuple[float, int]] = []
    for ts, size in starts:
        if out and ts - out[-1][0] <= gap:
            out[-1] = (out[-1][0], out[-1][1] + size)
        else:
            out.append((ts, size))
    return out


# -- series ----------------------------------------------------------------------------


@dataclass
class Series:
    device: str
    destination: str
    flows: list[Flow]
    declared_by: str | None

    @property
    def starts(self) -> list[float]:
        return [f.start for f in self.flows]


def series(ctx: Context, groups: list[Group]) -> list[Series]:
    """One series per (device address, destination label), across ports; plain DNS to
    resolvers and flows with unknown times left out."""
    by_key: dict[tuple[str, str], list[Flow]] = defaultdict(list)
    declared: dict[str, str | None] = {}
    for g in groups:
        if g.role == "dns":
            continue
        for f in g.flows:
            if f.start > 0:
                by_key[(f.orig_h, g.label)].append(f)
                declared[f.uid] = g.declared.get(f.uid)
    out = []
    for (dev, label), flows in sorted(by_key.items()):
        flows.sort(key=lambda f: (f.start, f.uid))
        decl = {declared[f.uid] for f in flows}
        out.append(Series(dev, label, flows, decl.pop() if len(decl) == 1 else None))
    return out


def _hours_days(starts: Sequence[float]) -> tuple[int, int]:
    hours = {int(s // 3600) for s in starts}
    days = {datetime.fromtimestamp(s, UTC).date() for s in starts}
    return len(hours), len(days)


def _every(seconds: float) -> str:
    if seconds >= 86400 * 0.9:
        return f"{seconds / 86400:.1f} d"
    if seconds >= 3600:
        return f"{seconds / 3600:.1f} h"
    if seconds >= 60:
        return f"{seconds / 60:.1f} min"
    return f"{seconds:.0f} s"


# -- the three detections ----------------------------------------------------------------


def storm(ctx: Context, s: Series) -> tuple[Finding, StormFact] | None:
    t = ctx.k.t("storm")
    window, need = float(t["window_s"]), int(t["min_connections"])
    starts = s.starts
    best, best_i, j = 0, 0, 0
    for i in range(len(starts)):
        while starts[i] - starts[j] > window:
            j += 1
        if i - j + 1 > best:
            best, best_i = i - j + 1, j
    if best < need:
        return None
    burst = s.flows[best_i:best_i + best]
    failed = sum(1 for f in burst if f.conn_state in t["failed_states"]) / len(burst)
    rule = ctx.k.rules["reconnect-storm"]
    first = burst[0]
    fact = StormFact(device=s.device, destination=s.destination, connections=best,
                     window_s=window, failed_share=round(failed, 3), start=iso(first.start),
                     first_packet=first.first_packet)
    text = (f"{best} connections within {window:g} s from {s.device} to {s.destination}, "
            f"{failed:.0%} failed or reset; first: {flow_text(first)}")
    details = {"device": s.device, "destination": s.destination, "connections": best,
               "window_s": window, "failed_share": round(failed, 3),
               "states": sorted({f.conn_state for f in burst}), "first_seen": iso(first.start),
               "first_packet": first.first_packet}
    f = make_finding(CHECK, rule.id, rule.sev(), f"{rule.title}: {s.device} → "
                     f"{s.destination} ({best} connections in {window:g} s)",
                     rule.explanation, [ctx.evidence(first, rule.id, text)], clause=CLAUSE,
                     details=details, source=rule.source)
    return f, fact


def beacon(ctx: Context, s: Series) -> tuple[Finding | None, BeaconFact] | None:
    t = ctx.k.t("beacons")
    points = merge([(f.start, f.orig_ip_bytes + f.resp_ip_bytes) for f in s.flows],
                   float(t["merge_gap_s"]))
    if len(points) < int(t["min_connections"]):
        return None
    starts = [p[0] for p in points]
    intervals = [b - a for a, b in zip(starts, starts[1:], strict=False) if b > a]
    if len(intervals) < 3 or statistics.median(intervals) < float(t["min_median_interval_s"]):
        return None
    spread = float(t["skew_min_spread"])
    ts_score = regularity(intervals, spread, 1.0)
    ds_score = regularity([float(p[1]) for p in points], spread, 0.0)
    lo, hi = ctx.span
    counts = histogram(starts, lo, hi, int(t["histogram_bins"]))
    hist_score = evenness(counts)
    dur_score = persistence(counts, starts[0], starts[-1], lo, hi, int(t["duration_min_bins"]),
                            int(t["duration_ideal_bins"]))
    w = t["weights"]
    score = round(ts_score * w["timestamp"] + ds_score * w["data_size"]
                  + dur_score * w["duration"] + hist_score * w["histogram"], 3)
    if ts_score < float(t["min_timestamp_score"]) or score < float(t["facts_min_score"]):
        return None
    median = statistics.median(intervals)
    hours, days = _hours_days(starts)
    fact = BeaconFact(
        device=s.device, destination=s.destination, ips=sorted({f.resp_h for f in s.flows}),
        ports=sorted({f.resp_p for f in s.flows}), kind="beacon", connections=len(points),
        score=score, timestamp_score=ts_score, data_size_score=ds_score,
        duration_score=dur_score, histogram_score=hist_score,
        median_interval_s=round(median, 3), first_seen=iso(starts[0]),
        last_seen=iso(starts[-1]), hours_seen=hours, days_seen=days,
        declared_by=s.declared_by)
    sev = next((Severity(b["severity"]) for b in t["severity_bands"]
                if score >= float(b["min"])), None)
    if sev is None:
        return None, fact
    if s.declared_by:
        sev = Severity.info
    rule = ctx.k.rules["beacon"]
    first = s.flows[0]
    text = (f"{len(points)} connections every ~{_every(median)} from {s.device} to "
            f"{s.destination} (score {score}: timing {ts_score}, sizes {ds_score}, "
            f"persistence {dur_score}, evenness {hist_score}); first: {flow_text(first)}")
    details = {**fact.model_dump(), "intervals_s": _sample(intervals)}
    f = make_finding(CHECK, rule.id, sev, f"{rule.title}: {s.device} → {s.destination} "
                     f"every ~{_every(median)}", rule.explanation,
                     [ctx.evidence(first, rule.id, text)], clause=CLAUSE, details=details,
                     source=rule.source)
    return f, fact


def daily(ctx: Context, s: Series) -> tuple[Finding, BeaconFact] | None:
    t = ctx.k.t("daily")
    sessions = merge([(f.start, f.orig_ip_bytes + f.resp_ip_bytes) for f in s.flows],
                     float(t["session_gap_s"]))
    if len(sessions) < int(t["min_sessions"]):
        return None
    starts = [p[0] for p in sessions]
    intervals = [b - a for a, b in zip(starts, starts[1:], strict=False)]
    period, tol = float(t["period_s"]), float(t["tolerance_s"])
    if any(abs(i - period) > tol for i in intervals):
        return None
    spread = float(ctx.k.t("beacons")["skew_min_spread"])
    ts_score = regularity(intervals, spread, 1.0)
    if ts_score < float(t["min_timestamp_score"]):
        return None
    ds_score = regularity([float(p[1]) for p in sessions], spread, 0.0)
    hours, days = _hours_days(s.starts)
    median = statistics.median(intervals)
    fact = BeaconFact(
        device=s.device, destination=s.destination, ips=sorted({f.resp_h for f in s.flows}),
        ports=sorted({f.resp_p for f in s.flows}), kind="daily", connections=len(s.flows),
        score=round((ts_score + ds_score) / 2, 3), timestamp_score=ts_score,
        data_size_score=ds_score, duration_score=1.0, histogram_score=0.0,
        median_interval_s=round(median, 3), first_seen=iso(starts[0]),
        last_seen=iso(s.flows[-1].start), hours_seen=hours, days_seen=days,
        declared_by=s.declared_by)
    rule = ctx.k.rules["daily-beacon"]
    sev = rule.sev("declared") if s.declared_by else rule.sev()
    first = s.flows[0]
    text = (f"{len(sessions)} sessions about {_every(median)} apart on {days} days from "
            f"{s.device} to {s.destination} (timing {ts_score}, sizes {ds_score}); first: "
            f"{flow_text(first)}")
    details = {**fact.model_dump(), "intervals_s": _sample(intervals)}
    f = make_finding(CHECK, rule.id, sev, f"{rule.title}: {s.device} → {s.destination} "
                     f"on {days} days", rule.explanation, [ctx.evidence(first, rule.id, text)],
                     clause=CLAUSE, details=details, source=rule.source)
    return f, fact


def _sample(intervals: Sequence[float], n: int = 20) -> list[float]:
    return [round(i, 3) for i in intervals[:n]]


def analyse(ctx: Context, groups: list[Group]
            ) -> tuple[list[Finding], list[BeaconFact], list[StormFact]]:
    findings: list[Finding] = []
    beacons: list[BeaconFact] = []
    storms: list[StormFact] = []
    for s in series(ctx, groups):
        got = storm(ctx, s)
        if got:
            findings.append(got[0])
            storms.append(got[1])
        b = beacon(ctx, s)
        if b:
            if b[0]:
                findings.append(b[0])
            beacons.append(b[1])
        d = daily(ctx, s)
        if d:
            findings.append(d[0])
            beacons.append(d[1])
    beacons.sort(key=lambda b: (-b.score, b.device, b.destination, b.kind))
    storms.sort(key=lambda s: (-s.connections, s.device, s.destination))
    return findings, beacons, storms
