"""``summary.md``: the few lines a CI job page shows — verdicts, counts, the worst items."""

from __future__ import annotations

from pathlib import Path

from spyproof.models import Report
from spyproof.report.writer import write_text_atomic

_ICON = {"pass": "✅ pass", "fail": "❌ fail", "inconclusive": "⚪ inconclusive"}
_ORDER = ("critical", "high", "medium", "low", "info")
MAX_ITEMS = 10


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def render_summary(report: Report) -> str:
    img = report.image
    lines = [f"# spyproof: {_cell(img.name)}", "",
             f"- image sha256 `{img.sha256}`, {img.size:,} bytes; spyproof "
             f"{report.tool.version}; {report.generated_at}"]
    if report.agreement is not None:
        a = report.agreement
        lines.append(f"- agreement: {_cell(a.vendor)} {_cell(a.product)} "
                     f"(`{Path(a.path).name}`, sha256 `{a.sha256[:16]}…`)")
    if report.verdict is not None:
        lines.append(f"- **overall verdict: {_ICON[report.verdict]}**")
    if not report.complete:
        lines.append("- ⚠️ partial scan: see the warnings in report.json")
    if report.verdicts:
        lines += ["", "| clause | verdict | why |", "|---|---|---|"]
        lines += [f"| {v.id} {_cell(v.title)} | {_ICON[v.verdict]} | {_cell(v.reason)} |"
                  for v in report.verdicts]
    counts = {s: sum(1 for f in report.findings if f.severity == s and f.status == "open")
              for s in _ORDER}
    lines += ["", "| findings | " + " | ".join(_ORDER) + " | declared |",
              "|---|" + "---|" * (len(_ORDER) + 1),
              f"| {len(report.findings)} | " + " | ".join(str(counts[s]) for s in _ORDER)
              + f" | {sum(1 for f in report.findings if f.status == 'declared')} |"]
    worst = [f for f in report.findings if f.status == "open"
             and f.severity in ("critical", "high")][:MAX_ITEMS]
    if worst:
        lines += ["", "Top findings:", ""]
        for f in worst:
            where = f.evidence[0] if f.evidence else None
            loc = ""
            if where is not None:
                pos = f":{where.line}" if where.line else (
                    f"@{where.offset}" if where.offset is not None else "")
                loc = f" — `{where.path}{pos}`"
            lines.append(f"- **{f.severity}** {_cell(f.title)}{loc} ({f.check}/{f.rule})")
    counted = [v for v in report.vulnerabilities if v.counts]
    if report.knowledge_base is not None:
        kev = sum(1 for v in counted if v.kev)
        sample = " — bundled **sample** feed only" if report.knowledge_base.sample_only \
            else ""
        lines += ["", f"Vulnerabilities: {len(counted)} open ({kev} known exploited), "
                      f"{len(report.vulnerabilities) - len(counted)} triaged by VEX{sample}."]
    return "\n".join(lines) + "\n"


def write_summary(report: Report, path: Path) -> None:
    write_text_atomic(path, render_summary(report))
