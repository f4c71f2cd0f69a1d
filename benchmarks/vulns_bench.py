"""Knowledge-base benchmark (issue 4): import a today-sized NVD + OSV, then match an SBOM.

Feeds are synthetic but shaped like the real ones (see ``synth_feeds.py``): ≈ 300,000 NVD
CVE API 2.0 records in yearly ``nvdcve-2.0-<year>.json.gz`` files and ≈ 200,000 OSV
records in one ``all.zip`` per ecosystem, cached in ``benchmarks/_work/vulns/``.

Measured in one run:

* import: every feed file into a fresh SQLite knowledge base with ``import_path`` (what
  ``spyproof db import`` does per file), in a child process: wall time, peak RSS of that
  process (``VmHWM``, cross-checked with ``RUSAGE_CHILDREN``) and the database size;
* re-import of the same files into the now-full database (idempotent: nothing written);
* matching a 1,000-component SBOM with ``spyproof.vulns.matcher.match_components``, in a
  fresh child process: the first call (cold: new process, new connection; the OS page
  cache is warm from the import) and the median of 3 more (warm).

Goals (issue 4): import ≤ 2 min, matching ≤ 0.5 s, memory during import ≤ 1 GB. Run:

    nice .venv/bin/python benchmarks/vulns_bench.py [--nvd 300000] [--osv 200000] \\
        [--seed 1] [--json out.json]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import synth_feeds  # noqa: E402
from peak_memory import vmhwm_kb  # noqa: E402

GOALS = {"import_s": 120.0, "match_s": 0.5, "import_rss_mb": 1024.0}
MATCH_RUNS = 3


# --------------------------------------------------------------------------- children


def child_import(db: str, files: list[str], profile: str | None) -> dict:
    from spyproof.vulns import import_path, open_store

    t0 = time.perf_counter()
    store = open_store(db)
    per_file = []
    prof = None
    if profile:
        import cProfile

        prof = cProfile.Profile()
        prof.enable()
    for f in files:
        t = time.perf_counter()
        r = import_path(store, f)
        per_file.append({
            "file": Path(f).name, "seconds": round(time.perf_counter() - t, 3),
            "records": r.records, "written": r.written, "skipped": r.skipped,
            "formats": r.formats, "warnings": r.warnings[:3],
        })
    if prof is not None:
        prof.disable()
        prof.dump_stats(profile)
    store.close()
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return {"seconds": round(time.perf_counter() - t0, 3), "files": per_file,
            "cpu_s": round(ru.ru_utime + ru.ru_stime, 2), "vmhwm_kb": vmhwm_kb()}


def child_match(db: str, seed: int, n: int) -> dict:
    comps_kw = synth_feeds.components(seed, n)
    from spyproof.models import Component

    comps = [Component(**kw) for kw in comps_kw]
    kinds = {"deb": sum(1 for c in comps if c.purl and c.purl.startswith("pkg:deb/")),
             "generic": sum(1 for c in comps if c.purl and c.purl.startswith("pkg:generic/"))}
    if importlib.util.find_spec("spyproof.vulns.matcher") is None:
        return {"available": False, "reason": "spyproof.vulns.matcher does not exist yet",
                "components": len(comps), "kinds": kinds}
    try:
        from spyproof.vulns.matcher import match_components
    except ImportError as exc:
        return {"available": False, "reason": f"cannot import match_components: {exc}",
                "components": len(comps), "kinds": kinds}
    from spyproof.vulns import open_store

    store = open_store(db)
    times = []
    result = None
    for _ in range(1 + MATCH_RUNS):
        t = time.perf_counter()
        result = match_components(store, comps)
        times.append(time.perf_counter() - t)
    store.close()
    matches = list(getattr(result, "matches", []) or [])
    by_method: dict[str, int] = {}
    for m in matches:
        key = str(getattr(m, "method", "?"))
        by_method[key] = by_method.get(key, 0) + 1
    return {
        "available": True, "components": len(comps), "kinds": kinds,
        "cold_s": round(times[0], 4), "warm_s": [round(t, 4) for t in times[1:]],
        "warm_median_s": round(statistics.median(times[1:]), 4),
        "matches": len(matches), "by_method": by_method,
        "components_matched": len({getattr(m, "component", None) for m in matches}),
        "vmhwm_kb": vmhwm_kb(),
    }


def run_child(*args: str) -> dict:
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", *args]
    t = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    wall = time.perf_counter() - t
    if proc.returncode != 0:
        sys.stderr.write(proc.stderr)
        raise SystemExit(f"child {args[0]} failed with exit code {proc.returncode}")
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    out["wall_s"] = round(wall, 3)
    return out


# --------------------------------------------------------------------------- parent


def _db_bytes(db: Path) -> int:
    return sum(p.stat().st_size for p in (db, Path(f"{db}-wal"), Path(f"{db}-journal"))
               if p.exists())


def _counts(db: Path) -> dict:
    from spyproof.vulns import open_store

    with open_store(db) as s:
        st = s.status()
    return {**st["counts"], "by_source": st["vulnerabilities_by_source"]}


def _mb(kb: int) -> float:
    return kb / 1024.0


def _db_path(args: argparse.Namespace) -> Path:
    return synth_feeds.WORK / f"kb-s{args.seed}-nvd{args.nvd}-osv{args.osv}.sqlite"


def run_match_only(args: argparse.Namespace) -> dict:
    db = _db_path(args)
    if not db.is_file():
        raise SystemExit(f"{db} does not exist: run once with --keep-db first")
    load0 = os.getloadavg()
    match = run_child("match", str(db), str(args.seed), str(args.components))
    return {"params": {"nvd": args.nvd, "osv": args.osv, "seed": args.seed,
                       "components": args.components},
            "machine": {"cpus": os.cpu_count(), "loadavg_start": [round(x, 2) for x in load0],
                        "loadavg_end": [round(x, 2) for x in os.getloadavg()]},
            "db_bytes": _db_bytes(db), "match": match}


def run(args: argparse.Namespace) -> dict:
    load0 = os.getloadavg()
    files, gen_s = synth_feeds.generate(args.nvd, args.osv, args.seed,
                                        log=lambda m: print(m, flush=True))
    feed_bytes = sum(f.stat().st_size for f in files)
    db = _db_path(args)
    for p in (db, Path(f"{db}-wal"), Path(f"{db}-journal"), Path(f"{db}-shm")):
        p.unlink(missing_ok=True)
    print(f"importing {len(files)} files ({feed_bytes / 1e6:.0f} MB) into {db} ...",
          flush=True)
    imp = run_child("import", str(db), *map(str, files))
    ru_children_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    size1 = _db_bytes(db)
    counts1 = _counts(db)
    print(f"  {imp['seconds']:.1f} s; re-importing ...", flush=True)
    re = run_child("import", str(db), *map(str, files))
    size2 = _db_bytes(db)
    counts2 = _counts(db)
    print(f"  {re['seconds']:.1f} s; matching {args.components} components ...", flush=True)
    match = run_child("match", str(db), str(args.seed), str(args.components))
    load1 = os.getloadavg()

    def total(part: dict, key: str, pred=lambda f: True) -> float:
        return sum(f[key] for f in part["files"] if pred(f))

    def is_nvd(f: dict) -> bool:
        return f["file"].startswith("nvdcve")

    rss_mb = max(_mb(imp["vmhwm_kb"]), _mb(ru_children_kb))
    res = {
        "params": {"nvd": args.nvd, "osv": args.osv, "seed": args.seed,
                   "components": args.components},
        "machine": {"cpus": os.cpu_count(), "loadavg_start": [round(x, 2) for x in load0],
                    "loadavg_end": [round(x, 2) for x in load1]},
        "feeds": {"files": len(files), "bytes": feed_bytes, "dir": str(files[0].parent),
                  "generated_s": None if gen_s is None else round(gen_s, 1)},
        "import": {
            "seconds": imp["seconds"], "wall_s": imp["wall_s"], "cpu_s": imp["cpu_s"],
            "nvd_s": round(total(imp, "seconds", is_nvd), 2),
            "osv_s": round(total(imp, "seconds", lambda f: not is_nvd(f)), 2),
            "records": total(imp, "records"), "written": total(imp, "written"),
            "skipped": total(imp, "skipped"),
            "peak_rss_mb": round(rss_mb, 1),
            "vmhwm_mb": round(_mb(imp["vmhwm_kb"]), 1),
            "ru_maxrss_children_mb": round(_mb(ru_children_kb), 1),
            "db_bytes": size1, "counts": counts1, "files": imp["files"],
        },
        "reimport": {
            "seconds": re["seconds"], "cpu_s": re["cpu_s"], "records": total(re, "records"),
            "written": total(re, "written"), "peak_rss_mb": round(_mb(re["vmhwm_kb"]), 1),
            "db_bytes": size2, "unchanged": counts1 == counts2 and total(re, "written") == 0,
        },
        "match": match,
    }
    res["goals"] = {
        "import_le_2min": imp["seconds"] <= GOALS["import_s"],
        "import_rss_le_1gb": rss_mb <= GOALS["import_rss_mb"],
        "match_le_0.5s": (match["warm_median_s"] <= GOALS["match_s"]
                          if match.get("available") else None),
    }
    return res


def _yes(v: bool | None) -> str:
    return "n/a" if v is None else ("yes" if v else "NO")


def print_table(r: dict) -> None:
    i, re, m, c = r["import"], r["reimport"], r["match"], r["import"]["counts"]
    rows = [
        ("feeds", f"{r['params']['nvd']:,} NVD + {r['params']['osv']:,} OSV records, "
                  f"{r['feeds']['files']} files, {r['feeds']['bytes'] / 1e6:,.0f} MB compressed"
                  + ("" if r["feeds"]["generated_s"] is None
                     else f" (generated in {r['feeds']['generated_s']:.0f} s)")),
        ("import time", f"{i['seconds']:.1f} s (NVD {i['nvd_s']:.1f} s, OSV {i['osv_s']:.1f} s;"
                        f" CPU {i['cpu_s']:.1f} s; child wall {i['wall_s']:.1f} s)   goal ≤ "
                        f"120 s: {_yes(r['goals']['import_le_2min'])}"),
        ("records", f"{i['records']:,} read, {i['written']:,} written, {i['skipped']:,} "
                    "skipped"),
        ("rows", f"vulns {c['vulnerabilities']:,} {c['by_source']}, cpe_ranges "
                 f"{c['cpe_ranges']:,}, affected {c['affected_packages']:,}, aliases "
                 f"{c['aliases']:,}"),
        ("peak RSS (import)", f"{i['peak_rss_mb']:.0f} MB (VmHWM {i['vmhwm_mb']:.0f}, "
                              f"RUSAGE_CHILDREN {i['ru_maxrss_children_mb']:.0f})   goal ≤ "
                              f"1024 MB: {_yes(r['goals']['import_rss_le_1gb'])}"),
        ("database size", f"{i['db_bytes'] / 1e6:,.0f} MB"),
        ("re-import", f"{re['seconds']:.1f} s (CPU {re['cpu_s']:.1f} s), {re['written']:,} "
                      f"written, peak RSS "
                      f"{re['peak_rss_mb']:.0f} MB, size {re['db_bytes'] / 1e6:,.0f} MB, "
                      f"unchanged: {_yes(re['unchanged'])}"),
    ]
    if m.get("available"):
        rows.append(("matching", f"{m['components']} components ({m['kinds']['deb']} pkg:deb,"
                                 f" {m['kinds']['generic']} pkg:generic): cold "
                                 f"{m['cold_s']:.3f} s, warm median {m['warm_median_s']:.3f} s"
                                 f" ({', '.join(f'{t:.3f}' for t in m['warm_s'])}), "
                                 f"{m['matches']:,} matches {m['by_method']} on "
                                 f"{m['components_matched']} components   goal ≤ 0.5 s: "
                                 f"{_yes(r['goals']['match_le_0.5s'])}"))
    else:
        rows.append(("matching", f"NOT MEASURED: {m['reason']}"))
    rows.append(("load average", f"{r['machine']['loadavg_start']} -> "
                                 f"{r['machine']['loadavg_end']} ({r['machine']['cpus']} cpus)"))
    width = max(len(k) for k, _ in rows)
    for k, v in rows:
        print(f"{k:<{width}}  {v}")


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--child"]:
        kind, rest = argv[1], argv[2:]
        if kind == "import":
            profile = os.environ.get("VULNS_BENCH_PROFILE")
            out = child_import(rest[0], rest[1:], profile)
        else:
            out = child_match(rest[0], int(rest[1]), int(rest[2]))
        print(json.dumps(out))
        return 0
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--nvd", type=int, default=300_000, help="NVD records (default 300000)")
    ap.add_argument("--osv", type=int, default=200_000, help="OSV records (default 200000)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--components", type=int, default=1000, help="SBOM size (default 1000)")
    ap.add_argument("--json", type=Path, help="also write the results here")
    ap.add_argument("--keep-db", action="store_true",
                    help="keep the knowledge base in benchmarks/_work/vulns/ afterwards")
    ap.add_argument("--match-only", action="store_true",
                    help="only time matching, on the database a --keep-db run left")
    args = ap.parse_args(argv)
    if args.match_only:
        res = run_match_only(args)
        print(json.dumps(res["match"], indent=2))
    else:
        res = run(args)
        print_table(res)
    if args.json:
        args.json.write_text(json.dumps(res, indent=2) + "\n")
    if not args.keep_db and not args.match_only:
        _db_path(args).unlink(missing_ok=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
