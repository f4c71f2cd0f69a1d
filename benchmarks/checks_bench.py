"""Evidence-check benchmark (issue 5): precision and recall per check on a labelled corpus,
and what the checks add to a scan's time.

Corpus (``checks_corpus.py``): three clean router images built from real Debian 12
packages (armel, mipsel, arm64) and one image per case of ``planted_cases.yaml``, each a
clean image with one indicator modelled on a documented real case.

Scoring, from each image's ``report.json`` (``spyproof scan IMAGE --out DIR --no-vulns``):
  * TP: a planted case found by its check at the case's severity or above, with evidence
    whose path ends with the planted path; FN: a planted case not so found.
  * FP: a high or critical finding on a clean image; on a planted image, a high or
    critical finding that the plant does not explain (no evidence path among the files the
    plant wrote) and that its clean base does not already have (counted there).
  * precision = TP / (TP + FP), recall = TP / (TP + FN), per check and overall. Cases whose
    bar is below high (medium) are reported apart.

Speed: the router image of ``run.py`` (squashfs-in-uImage, real Debian mipsel packages),
median of N runs of ``scan --no-vulns`` with all checks against ``--no-checks``, run
alternately in the same session; the machine's load average before and after.

    .venv/bin/python benchmarks/checks_bench.py [--runs 3] [--skip-speed] [--only ID …]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import checks_corpus  # noqa: E402
import run as run_bench  # noqa: E402

REPO = HERE.parent
SPYPROOF = REPO / ".venv" / "bin" / "spyproof"
WORK = HERE / "_work"
OUT = WORK / "checks-scans"
RESULTS = WORK / "checks-results.json"
SEVERITIES = ("critical", "high", "medium", "low", "info")
RANK = {s: i for i, s in enumerate(SEVERITIES)}
HIGH = ("critical", "high")
CHECK_IDS = ("accounts", "remote-access", "keys-and-credentials", "known-backdoors",
             "endpoints", "engineering")


def at_least(severity: str, floor: str) -> bool:
    return RANK[severity] <= RANK[floor]


def path_matches(path: str, wanted: str) -> bool:
    """An evidence path (relative to its tree) ends with the image path ``wanted``."""
    return path == wanted or path.endswith("/" + wanted)


def evidence_paths(finding: dict) -> list[str]:
    return [e["path"] for e in finding.get("evidence", []) if e.get("path")]


def finding_key(f: dict) -> tuple:
    return (f["check"], f["rule"], tuple(sorted(evidence_paths(f))))


def scan(image: Path, out: Path, *extra: str) -> tuple[float, dict | None, str]:
    """Run ``spyproof scan`` as a user would; (seconds, report or None, stderr tail)."""
    shutil.rmtree(out, ignore_errors=True)
    cmd = [str(SPYPROOF), "-q", "scan", str(image), "--out", str(out), "--no-vulns", *extra]
    t0 = time.perf_counter()
    res = subprocess.run(cmd, capture_output=True)
    seconds = time.perf_counter() - t0
    report_file = out / "report.json"
    if not report_file.exists():
        return seconds, None, res.stderr.decode(errors="replace")[-2000:]
    return seconds, json.loads(report_file.read_text()), ""


def brief(f: dict) -> dict:
    """What a reader needs to fix a finding: check, rule, severity, paths, title."""
    ev = f.get("evidence") or [{}]
    return {"check": f["check"], "rule": f["rule"], "severity": f["severity"],
            "path": ev[0].get("path"), "line": ev[0].get("line"),
            "text": (ev[0].get("text") or "")[:120], "title": f["title"][:140]}


def score_images(images: list[checks_corpus.Image], only_checks: list[str] | None) -> dict:
    extra = ["--only", ",".join(only_checks)] if only_checks else []
    per_image: dict[str, dict] = {}
    base_keys: dict[str, set[tuple]] = {}
    for img in images:
        if img.notes:  # not built
            per_image[img.id] = {"arch": img.arch, "error": "; ".join(img.notes)}
            continue
        seconds, report, err = scan(img.path, OUT / img.id, *extra)
        entry: dict = {"arch": img.arch, "seconds": round(seconds, 2),
                       "image_bytes": img.path.stat().st_size}
        if report is None:
            entry["error"] = f"no report: {err}"
            per_image[img.id] = entry
            print(f"{img.id}: scan failed: {err}", flush=True)
            continue
        findings = report.get("findings", [])
        entry["findings"] = len(findings)
        counts: dict[str, dict[str, int]] = {}
        for f in findings:
            row = counts.setdefault(f["check"], {})
            row[f["severity"]] = row.get(f["severity"], 0) + 1
        entry["by_check_severity"] = counts
        entry["files"] = len(report.get("files", []))
        high = [f for f in findings if f["severity"] in HIGH]
        if img.clean:
            base_keys[img.arch] = {finding_key(f) for f in high}
            entry["fp"] = [brief(f) for f in high]
        else:
            case = img.case
            wanted = checks_corpus.expected_paths(case)
            hits = [f for f in findings if f["check"] == case["check"]
                    and at_least(f["severity"], case["min_severity"])
                    and any(path_matches(p, w) for p in evidence_paths(f) for w in wanted)]
            at_path_any = [f for f in findings if at_least(f["severity"], case["min_severity"])
                           and any(path_matches(p, w) for p in evidence_paths(f)
                                   for w in wanted)]
            best = min((f["severity"] for f in findings if f["check"] == case["check"]
                        and any(path_matches(p, w) for p in evidence_paths(f)
                                for w in wanted)), key=RANK.get, default=None)
            explained = [f for f in high if any(path_matches(p, t) for p in evidence_paths(f)
                                                for t in img.touched)]
            unexplained = [f for f in high if f not in explained]
            base = base_keys.get(img.arch, set())
            entry.update({
                "check": case["check"], "min_severity": case["min_severity"],
                "paths": wanted, "found": bool(hits),
                "hits": [brief(f) for f in hits],
                "best_severity_at_path": best,
                "found_by_other_checks": sorted({f["check"] for f in at_path_any
                                                 if f["check"] != case["check"]}),
                "fp": [brief(f) for f in unexplained if finding_key(f) not in base],
                "inherited_from_base": sum(finding_key(f) in base for f in unexplained),
            })
        per_image[img.id] = entry
        state = ("clean" if img.clean else ("FOUND" if entry.get("found") else "MISSED"))
        print(f"{img.id:24} {state:7} {seconds:6.2f} s  findings={entry['findings']} "
              f"high+={len(high)} fp={len(entry['fp'])}", flush=True)
    return per_image


def tally(per_image: dict, images: list[checks_corpus.Image]) -> dict:
    by_id = {i.id: i for i in images}
    table = {c: {"cases": 0, "tp": 0, "fn": 0, "fp": 0} for c in CHECK_IDS}
    medium_cases, not_built = [], []
    for iid, entry in per_image.items():
        img = by_id[iid]
        for fp in entry.get("fp", []):
            table.setdefault(fp["check"], {"cases": 0, "tp": 0, "fn": 0, "fp": 0})
            table[fp["check"]]["fp"] += 1
        if img.clean:
            continue
        case = img.case
        if "error" in entry:  # not built or not scanned: neither found nor missed
            not_built.append({"id": iid, "check": case["check"], "error": entry["error"]})
            continue
        if not at_least(case["min_severity"], "high"):
            medium_cases.append({"id": iid, "check": case["check"], "found": entry.get("found"),
                                 "best_severity_at_path": entry.get("best_severity_at_path"),
                                 "error": entry.get("error")})
            continue
        row = table.setdefault(case["check"], {"cases": 0, "tp": 0, "fn": 0, "fp": 0})
        row["cases"] += 1
        row["tp" if entry.get("found") else "fn"] += 1
    total = {k: sum(r[k] for r in table.values()) for k in ("cases", "tp", "fn", "fp")}
    for row in [*table.values(), total]:
        row["precision"] = (round(row["tp"] / (row["tp"] + row["fp"]), 3)
                            if row["tp"] + row["fp"] else None)
        row["recall"] = round(row["tp"] / row["cases"], 3) if row["cases"] else None
    return {"per_check": table, "overall": total, "medium_cases": medium_cases,
            "not_built": not_built}


def speed(runs: int) -> dict:
    """Median scan time with all checks vs none, on run.py's router image, same session."""
    image, unpacked = run_bench.router_image()
    load_before = os.getloadavg()
    with_checks, without = [], []
    for _ in range(runs):
        s, _r, _e = scan(image, OUT / "speed-no-checks", "--no-checks")
        without.append(s)
        s, report, err = scan(image, OUT / "speed-checks")
        if report is None:
            raise RuntimeError(f"speed scan failed: {err}")
        with_checks.append(s)
    load_after = os.getloadavg()
    med_with, med_without = statistics.median(with_checks), statistics.median(without)
    return {
        "image": image.name, "image_bytes": image.stat().st_size,
        "unpacked_bytes": unpacked, "runs": runs, "cpus": os.cpu_count(),
        "with_checks_s": [round(x, 2) for x in with_checks],
        "no_checks_s": [round(x, 2) for x in without],
        "median_with_checks_s": round(med_with, 2),
        "median_no_checks_s": round(med_without, 2),
        "ratio": round(med_with / med_without, 3),
        "added_s": round(med_with - med_without, 2),
        "loadavg_before": [round(x, 2) for x in load_before],
        "loadavg_after": [round(x, 2) for x in load_after],
        "findings": len(report.get("findings", [])),
    }


def markdown(results: dict) -> str:
    lines = ["| check | planted cases | TP | FN | FP | precision | recall |",
             "|---|---|---|---|---|---|---|"]
    t = results["tally"]
    for cid, row in [*t["per_check"].items(), ("**all**", t["overall"])]:
        p = "–" if row["precision"] is None else f"{row['precision']:.2f}"
        r = "–" if row["recall"] is None else f"{row['recall']:.2f}"
        lines.append(f"| {cid} | {row['cases']} | {row['tp']} | {row['fn']} | {row['fp']} "
                     f"| {p} | {r} |")
    lines += ["", "| image | arch | case | check | result | best severity at path | s |",
              "|---|---|---|---|---|---|---|"]
    for iid, e in results["images"].items():
        if "check" not in e:
            lines.append(f"| {iid} | {e['arch']} | clean | | high/critical: {len(e.get('fp', []))}"
                         f" | | {e.get('seconds', '')} |")
            continue
        res = "found" if e.get("found") else ("error: " + e["error"] if "error" in e
                                             else "missed")
        lines.append(f"| {iid} | {e['arch']} | planted | {e['check']} | {res} | "
                     f"{e.get('best_severity_at_path') or '–'} | {e.get('seconds', '')} |")
    lines += ["", "Clean images, findings per check (critical/high/medium/low/info):", ""]
    for iid, e in results["images"].items():
        if "check" in e or "by_check_severity" not in e:
            continue
        parts = [f"{c} {'/'.join(str(row.get(s, 0)) for s in SEVERITIES)}"
                 for c, row in sorted(e["by_check_severity"].items())]
        lines.append(f"- {iid}: " + "; ".join(parts))
    lines += ["", "False positives (check / rule / severity / image / path):", ""]
    for iid, e in results["images"].items():
        for fp in e.get("fp", []):
            lines.append(f"- {fp['check']} / {fp['rule']} / {fp['severity']} / {iid} / "
                         f"`{fp['path']}` (line {fp['line']}): {fp['title']}")
    if "speed" in results:
        s = results["speed"]
        lines += ["", f"Speed: {s['image']} ({s['image_bytes'] / 1e6:.1f} MB), median of "
                  f"{s['runs']}: {s['median_with_checks_s']} s with checks vs "
                  f"{s['median_no_checks_s']} s without: ratio {s['ratio']} "
                  f"(load {s['loadavg_before']} -> {s['loadavg_after']})"]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3, help="speed runs each way (median)")
    parser.add_argument("--skip-speed", action="store_true")
    parser.add_argument("--speed-only", action="store_true", help="only the speed runs")
    parser.add_argument("--only", nargs="*", help="planted case ids (default: all)")
    parser.add_argument("--checks", help="comma-separated check ids passed to --only "
                        "(default: every check)")
    args = parser.parse_args()
    if not SPYPROOF.exists():
        print(f"{SPYPROOF} missing: run `make venv` first", file=sys.stderr)
        return 2
    WORK.mkdir(exist_ok=True)
    if args.speed_only:
        result = speed(args.runs)
        print(json.dumps(result, indent=2))
        return 0
    images = checks_corpus.build_corpus(args.only)
    only_checks = args.checks.split(",") if args.checks else None
    results: dict = {"load_at_start": [round(x, 2) for x in os.getloadavg()],
                     "checks": only_checks or "all"}
    results["images"] = score_images(images, only_checks)
    results["tally"] = tally(results["images"], images)
    if not args.skip_speed:
        results["speed"] = speed(args.runs)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    print(markdown(results))
    print(f"\nresults: {RESULTS}")
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONHASHSEED", "0")
    sys.exit(main())
