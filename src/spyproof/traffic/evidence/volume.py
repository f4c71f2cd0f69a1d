"""Volume: how much the device sent where and when — per destination (largest uploads
first) and per UTC day — and the uploads that matter for NS-3.

Findings (thresholds in ``data/traffic/evidence.yaml``): a large upload to an undeclared
destination (needs an agreement to call it undeclared), and an upload-heavy destination
(much more sent than received, undeclared or without an agreement): the shape of data
leaving rather than of updates or queries. Declared destinations are only listed: their
volume is the declared purpose's.
"""

from __future__ import annotations

from collections import defaultdict

from spyproof.checks.base import make_finding
from spyproof.models import Finding
from spyproof.traffic.evidence.context import (
    CHECK,
    CLAUSE,
    Context,
    day,
    flow_text,
    human_bytes,
    iso,
)
from spyproof.traffic.evidence.destinations import Group
from spyproof.traffic.evidence.facts import DayVolume, Upload


def _ratio(out: int, back: int) -> float | None:
    return round(out / back, 3) if back else None


def uploads(ctx: Context, groups: list[Group]) -> list[Upload]:
    rows = [Upload(label=g.label, port=g.port, proto=g.proto, bytes_out=g.bytes_out,
                   bytes_in=g.bytes_in, ratio=_ratio(g.bytes_out, g.bytes_in),
                   declared_by=g.declared_by) for g in groups]
    rows.sort(key=lambda u: (-u.bytes_out, u.label, u.port, u.proto))
    return rows[:int(ctx.k.t("volume")["top_uploads"])]


def per_day(groups: list[Group]) -> list[DayVolume]:
    out: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
    dests: dict[str, set[tuple]] = defaultdict(set)
    for g in groups:
        for f in g.flows:
            d = day(f.start)
            row = out[d]
            row[0] += f.orig_ip_bytes
            row[1] += f.resp_ip_bytes
            row[2] += 1
            dests[d].add(g.key)
    return [DayVolume(day=d, bytes_out=v[0], bytes_in=v[1], flows=v[2],
                      destinations=len(dests[d])) for d, v in sorted(out.items())]


def findings(ctx: Context, groups: list[Group]) -> list[Finding]:
    t = ctx.k.t("volume")
    out = []
    for g in groups:
        if g.role != "destination":
            continue
        flows = g.undeclared
        if not flows:
            continue
        sent = sum(f.orig_ip_bytes for f in flows)
        back = sum(f.resp_ip_bytes for f in flows)
        hits = []
        if ctx.decl.present and sent >= int(t["undeclared_upload_bytes"]):
            hits.append("undeclared-upload")
        if sent >= int(t["heavy_min_bytes"]) and sent >= float(t["heavy_ratio"]) * back:
            hits.append("upload-heavy")
        if not hits:
            continue
        first = flows[0]
        largest = max(flows, key=lambda f: (f.orig_ip_bytes, -f.start))
        days = sorted({day(f.start) for f in flows})
        for rule_id in hits:
            rule = ctx.k.rules[rule_id]
            text = (f"{human_bytes(sent)} sent to {g.where()} and {human_bytes(back)} received "
                    f"in {len(flows)} flows over {len(days)} day(s); first: "
                    f"{flow_text(first, sorted(g.names))}")
            ev = [ctx.evidence(first, rule.id, text)]
            if largest is not first:
                ev.append(ctx.evidence(largest, rule.id, "largest: " + flow_text(largest)))
            details = {"destination": g.label, "names": sorted(g.names), "ips": sorted(g.ips),
                       "port": g.port, "proto": g.proto, "bytes_out": sent, "bytes_in": back,
                       "ratio": _ratio(sent, back), "flows": len(flows), "days": days,
                       "first_seen": iso(first.start), "first_packet": first.first_packet}
            out.append(make_finding(
                CHECK, rule.id, rule.sev(), f"{rule.title}: {human_bytes(sent)} to "
                f"{g.where()}", rule.explanation, ev, clause=CLAUSE, details=details,
                source=rule.source))
    return out
