"""Transparency-log benchmark (issue 7, section 6): spyproof's tiled log vs pymerkle 7.

Both sides get the same deterministic entries (≈ ``--entry-size`` bytes each, shaped
like an in-toto statement a lab would log; entry ``i`` is a pure function of the seed
and ``i``), appended in the same batches, in the same run. Each phase runs in its own
child process, so peak memory (``VmHWM``) is per side and per phase:

* **append** — spyproof: ``init_log`` then ``LogWriter.append(batch)`` per batch; every
  append is durable (tiles and bundles written tmp + fsync + rename, directories fsynced,
  then the signed checkpoint). pymerkle: ``SqliteTree.append_entries(batch)`` per batch,
  one SQLite transaction per batch with SQLite's defaults (rollback journal
  ``journal_mode=delete``, ``synchronous=FULL``: the commit fsyncs journal and database),
  so both sides make each batch durable before the next. Timed: the append calls only
  (entry generation is timed separately), wall and CPU.
* **read** — open (``LogWriter`` reopen: rebuild the right edge from tiles and check it
  against the signed checkpoint / ``SqliteTree(db)``); inclusion and consistency proofs
  at the final size for ``--proofs`` random indices / prior sizes: *fresh* (spyproof: a
  new ``TileReader`` per proof, so tile files are read each time; pymerkle: a new
  ``SqliteTree`` — its subroot cache is empty, so the first proof rebuilds the tree from
  all leaf hashes; sampled ``--pymerkle-cold`` times only), *first pass* (one reader /
  tree object serving all indices once) and *warm* (the same indices again on that
  object); verification of every proof; whole-log verification (``check_log``: every
  entry re-hashed, every tile checked, root against checkpoint / pymerkle: every entry
  re-hashed from its documented ``leaf`` table and ``get_root`` on a fresh tree, since it
  has no built-in check); spyproof's tlog-proof ``make_proof`` + ``verify_proof``.
* **pymerkle synchronous=EXTRA** — the same appends into a second database with
  ``PRAGMA synchronous=EXTRA`` (the journal's unlink is fsynced too: spyproof's guarantee
  that an append survives a power cut once it returns); throughput only.
* **interleaved A/B** — warm proofs and verification of both sides alternately in one
  process, so machine load hits both alike.

Agreement: pymerkle (sha256, security prefixes on = RFC 6962 leaf 0x00 / node 0x01) must
give spyproof's checkpoint root at the final size, the same root at every sampled prior
size and the same inclusion audit paths.

Goals (issue 7): ≥ 10,000 entries/s integrated with durability on, proofs ≤ 1 ms, faster
than pymerkle on every figure. Run (pymerkle from ``benchmarks/requirements.txt``):

    nice .venv/bin/python benchmarks/tlog_bench.py [--entries 1000000] [--batch 1000] \\
        [--entry-size 300] [--proofs 1000] [--work DIR] [--json OUT] [--skip-pymerkle]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import random
import resource
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

from peak_memory import vmhwm_kb

HERE = Path(__file__).resolve().parent
DEFAULT_WORK = HERE / "_work" / "tlog"
ORIGIN = "bench.spyproof.dev/tlog"
GOALS = {"entries_per_s": 10_000.0, "proof_ms": 1.0}
OPENS = 5          # reopen samples per side
TLOG_PROOFS = 100  # make_proof/verify_proof samples (index given)
FIND_SAMPLES = 3   # make_proof by entry (find_leaf scan) samples


# --------------------------------------------------------------------------- entries


def make_entry(seed: int, i: int, size: int) -> bytes:
    """Entry ``i``: a compact in-toto-statement-like JSON object of about ``size`` bytes
    (padded with a deterministic field; ±16 bytes of jitter)."""
    d = hashlib.sha256(b"%d:%d" % (seed, i)).digest()
    h1 = d.hex()
    h2 = hashlib.sha256(d).hexdigest()
    verdict = ("pass", "fail", "inconclusive")[d[0] % 3]
    base = (
        '{"_type":"https://in-toto.io/Statement/v1","subject":[{"name":'
        f'"fw-{d[1] % 9}.{d[2] % 20}.{d[3]}.bin","digest":{{"sha256":"{h1}"}}}}],'
        '"predicateType":"https://spyproof.dev/evaluation/v1","predicate":{"lab":'
        f'"lab-{d[4] % 50:02d}","verdict":"{verdict}","seq":{i}'
    )
    target = size + (d[5] % 32) - 16
    pad = target - len(base) - len(',"pad":""}}')
    if pad > 0:
        base += ',"pad":"' + (h2 * (pad // 64 + 1))[:pad] + '"'
    return (base + "}}").encode()


def make_batch(seed: int, start: int, n: int, size: int) -> list[bytes]:
    return [make_entry(seed, i, size) for i in range(start, start + n)]


def sample_points(seed: int, size: int, count: int) -> tuple[list[int], list[int]]:
    """Random leaf indices (0-based) and prior sizes 1..size-1, the same for both sides."""
    rng = random.Random(seed * 7919 + size)
    indices = [rng.randrange(size) for _ in range(count)]
    priors = [rng.randrange(1, size) for _ in range(count)] if size > 1 else []
    return indices, priors


# --------------------------------------------------------------------------- helpers


def _proc_io() -> dict:
    """This process's I/O counters: bytes written by write() (wchar) and to storage."""
    out = {}
    try:
        for line in Path("/proc/self/io").read_text().splitlines():
            key, _, value = line.partition(":")
            if key in ("wchar", "write_bytes", "syscw"):
                out[key] = int(value)
    except OSError:
        pass
    return out


def _rusage_delta(before: resource.struct_rusage) -> dict:
    """User / system CPU and voluntary context switches (≈ waits, e.g. on fsync) since."""
    now = resource.getrusage(resource.RUSAGE_SELF)
    return {"user_s": round(now.ru_utime - before.ru_utime, 3),
            "sys_s": round(now.ru_stime - before.ru_stime, 3),
            "voluntary_switches": now.ru_nvcsw - before.ru_nvcsw}


def _stats_us(ns: list[int]) -> dict:
    """median / p99 / mean / max in microseconds of a list of nanosecond durations."""
    if not ns:
        return {"n": 0}
    s = sorted(ns)
    p99 = s[min(len(s) - 1, max(0, int(round(0.99 * len(s))) - 1))]
    return {"n": len(s), "median_us": round(statistics.median(s) / 1e3, 1),
            "p99_us": round(p99 / 1e3, 1), "mean_us": round(sum(s) / len(s) / 1e3, 1),
            "max_us": round(s[-1] / 1e3, 1)}


class Profiler:
    """cProfile of named phases when ``--profile DIR`` is given (timings then inflate)."""

    def __init__(self, directory: str | None, prefix: str) -> None:
        self.directory, self.prefix, self.prof, self.name = directory, prefix, None, ""

    def start(self, name: str) -> None:
        if self.directory:
            import cProfile

            self.name = name
            self.prof = cProfile.Profile()
            self.prof.enable()

    def stop(self) -> None:
        if self.prof is not None:
            self.prof.disable()
            self.prof.dump_stats(os.path.join(self.directory, f"{self.prefix}-{self.name}.prof"))
            self.prof = None


def disk_usage(paths: list[Path]) -> dict:
    """Files, apparent bytes (sum of sizes) and allocated bytes (st_blocks, as du)."""
    files = apparent = allocated = partial_bytes = partial_files = 0
    by_kind: dict[str, int] = {}
    for top in paths:
        if not top.exists():
            continue
        walk = [(str(top.parent), [], [top.name])] if top.is_file() else os.walk(top)
        for dirpath, _, names in walk:
            for name in names:
                p = Path(dirpath) / name
                st = p.lstat()
                files += 1
                apparent += st.st_size
                allocated += st.st_blocks * 512
                rel = str(p)
                kind = ("entries" if "/tile/entries/" in rel else "hash tiles" if "/tile/" in rel
                        else "other")
                by_kind[kind] = by_kind.get(kind, 0) + st.st_size
                if ".p/" in rel:
                    partial_files += 1
                    partial_bytes += st.st_size
    du = None
    try:
        out = subprocess.run(["du", "-s", "--block-size=1", *map(str, paths)],
                             capture_output=True, text=True, check=True).stdout
        du = sum(int(line.split()[0]) for line in out.splitlines())
    except (OSError, subprocess.CalledProcessError, ValueError):
        pass
    return {"files": files, "apparent_bytes": apparent, "allocated_bytes": allocated,
            "du_bytes": du, "partial_files": partial_files, "partial_bytes": partial_bytes,
            "by_kind": by_kind}


# --------------------------------------------------------------------------- spyproof


def child_spy_append(cfg: dict) -> dict:
    from spyproof.provenance.keys import generate_key, parse_signer_key
    from spyproof.provenance.log import LogWriter, init_log

    root = Path(cfg["work"]) / "spyproof-log"
    skey, vkey = generate_key(ORIGIN)
    (Path(cfg["work"]) / "spyproof.key").write_text(skey + "\n")
    (Path(cfg["work"]) / "spyproof.vkey").write_text(vkey + "\n")
    signer = parse_signer_key(skey)
    prof = Profiler(cfg.get("profile"), "spyproof")
    t0 = time.perf_counter()
    init_log(root, ORIGIN, signer, None)
    init_s = time.perf_counter() - t0
    n, batch, esize, seed = cfg["entries"], cfg["batch"], cfg["entry_size"], cfg["seed"]
    gen_ns = app_ns = cpu_ns = 0
    lat: list[int] = []
    entry_bytes = 0
    prof.start("append")
    ru0 = resource.getrusage(resource.RUSAGE_SELF)
    with LogWriter(root, signer) as writer:
        for start in range(0, n, batch):
            g = time.perf_counter_ns()
            entries = make_batch(seed, start, min(batch, n - start), esize)
            c = time.process_time_ns()
            t = time.perf_counter_ns()
            writer.append(entries)
            dt = time.perf_counter_ns() - t
            cpu_ns += time.process_time_ns() - c
            gen_ns += t - g
            app_ns += dt
            lat.append(dt)
            entry_bytes += sum(map(len, entries))
        size, root_hash = writer.size, writer.root_hash
    prof.stop()
    return {"size": size, "root": root_hash.hex(), "init_s": round(init_s, 4),
            "append_s": round(app_ns / 1e9, 3), "append_cpu_s": round(cpu_ns / 1e9, 3),
            "gen_s": round(gen_ns / 1e9, 3), "entry_bytes": entry_bytes,
            "batch_latency": _stats_us(lat), "io": _proc_io(),
            "rusage_loop_incl_generation": _rusage_delta(ru0), "vmhwm_kb": vmhwm_kb()}


def child_spy_read(cfg: dict) -> dict:
    from spyproof.provenance import merkle
    from spyproof.provenance.keys import parse_signer_key, parse_verifier_key
    from spyproof.provenance.log import LogWriter
    from spyproof.provenance.proof import make_proof, verify_proof
    from spyproof.provenance.tiles import (
        TileReader,
        check_log,
        directory_fetcher,
        read_checkpoint,
    )

    work = Path(cfg["work"])
    root = work / "spyproof-log"
    signer = parse_signer_key((work / "spyproof.key").read_text().strip())
    verifier = parse_verifier_key((work / "spyproof.vkey").read_text().strip())
    prof = Profiler(cfg.get("profile"), "spyproof")
    seed, esize = cfg["seed"], cfg["entry_size"]
    out: dict = {}

    # open: LogWriter reopen (lock, config, checkpoint signature, right edge from tiles)
    prof.start("open")
    opens = []
    for _ in range(OPENS):
        t = time.perf_counter_ns()
        w = LogWriter(root, signer)
        opens.append(time.perf_counter_ns() - t)
        w.close()
    prof.stop()
    out["open"] = _stats_us(opens)
    out["open_first_us"] = round(opens[0] / 1e3, 1)

    fetch = directory_fetcher(root)
    checkpoint, _ = read_checkpoint(fetch)
    size, root_hash = checkpoint.size, checkpoint.root_hash
    out["size"], out["root"] = size, root_hash.hex()
    indices, priors = sample_points(seed, size, cfg["proofs"])
    leaves = [merkle.leaf_hash(make_entry(seed, i, esize)) for i in indices]

    # inclusion proofs
    prof.start("inclusion-fresh")
    fresh, proofs = [], []
    for i in indices:
        t = time.perf_counter_ns()
        reader = TileReader(fetch, size)
        p = merkle.inclusion_proof(i, size, reader.get)
        fresh.append(time.perf_counter_ns() - t)
        proofs.append(p)
    prof.stop()
    shared = TileReader(fetch, size)
    first, warm = [], []
    for i in indices:
        t = time.perf_counter_ns()
        merkle.inclusion_proof(i, size, shared.get)
        first.append(time.perf_counter_ns() - t)
    prof.start("inclusion-warm")
    for i in indices:
        t = time.perf_counter_ns()
        merkle.inclusion_proof(i, size, shared.get)
        warm.append(time.perf_counter_ns() - t)
    prof.stop()
    ver = []
    for i, leaf, p in zip(indices, leaves, proofs, strict=True):
        t = time.perf_counter_ns()
        merkle.verify_inclusion(i, size, leaf, p, root_hash)
        ver.append(time.perf_counter_ns() - t)
    out["inclusion"] = {"fresh": _stats_us(fresh), "first_pass": _stats_us(first),
                        "warm": _stats_us(warm), "verify": _stats_us(ver),
                        "hashes_median": statistics.median(len(p) for p in proofs) if proofs
                        else 0,
                        "paths_digest": hashlib.sha256(b"".join(b"".join(p) for p in proofs))
                        .hexdigest()}

    # consistency proofs (prior size -> final size)
    roots1 = [merkle.range_hash(0, s1, shared.get) for s1 in priors]
    prof.start("consistency-fresh")
    fresh, cproofs = [], []
    for s1 in priors:
        t = time.perf_counter_ns()
        reader = TileReader(fetch, size)
        p = merkle.consistency_proof(s1, size, reader.get)
        fresh.append(time.perf_counter_ns() - t)
        cproofs.append(p)
    prof.stop()
    first, warm = [], []
    shared2 = TileReader(fetch, size)
    for times in (first, warm):
        for s1 in priors:
            t = time.perf_counter_ns()
            merkle.consistency_proof(s1, size, shared2.get)
            times.append(time.perf_counter_ns() - t)
    ver = []
    for s1, r1, p in zip(priors, roots1, cproofs, strict=True):
        t = time.perf_counter_ns()
        merkle.verify_consistency(s1, size, r1, root_hash, p)
        ver.append(time.perf_counter_ns() - t)
    out["consistency"] = {"fresh": _stats_us(fresh), "first_pass": _stats_us(first),
                          "warm": _stats_us(warm), "verify": _stats_us(ver),
                          "hashes_median": statistics.median(len(p) for p in cproofs)
                          if cproofs else 0,
                          "prior_roots_digest": hashlib.sha256(b"".join(roots1)).hexdigest()}

    # tlog-proof files: make (index given; and by entry, which scans tile/0) + verify
    mk, vf = [], []
    for i in indices[:TLOG_PROOFS]:
        entry = make_entry(seed, i, esize)
        t = time.perf_counter_ns()
        tp = make_proof(fetch, entry, i)
        data = tp.serialize()
        mk.append(time.perf_counter_ns() - t)
        from spyproof.provenance.proof import parse_proof

        t = time.perf_counter_ns()
        res = verify_proof(entry, parse_proof(data), log_keys=[verifier])
        vf.append(time.perf_counter_ns() - t)
        if not res.valid:
            raise SystemExit(f"tlog-proof for {i} did not verify: {res.reason}")
    prof.start("find-leaf")
    find = []
    for i in indices[:FIND_SAMPLES]:
        entry = make_entry(seed, i, esize)
        t = time.perf_counter_ns()
        tp = make_proof(fetch, entry)
        find.append(time.perf_counter_ns() - t)
        if tp.index != i:
            raise SystemExit(f"make_proof by entry found {tp.index}, expected {i}")
    prof.stop()
    out["tlog_proof"] = {"make": _stats_us(mk), "verify": _stats_us(vf),
                         "make_by_entry": _stats_us(find)}

    # whole-log verification
    prof.start("check-log")
    t = time.perf_counter()
    c = time.process_time()
    check = check_log(root)
    out["check_log"] = {"s": round(time.perf_counter() - t, 3),
                        "cpu_s": round(time.process_time() - c, 3),
                        "entries": check.entries, "tiles": check.tiles}
    prof.stop()
    out["vmhwm_kb"] = vmhwm_kb()
    return out


def spy_root_at(work: Path, size: int) -> str:
    """spyproof's root at ``size`` (<= the log's size), from its tiles."""
    from spyproof.provenance import merkle
    from spyproof.provenance.tiles import TileReader, directory_fetcher, read_checkpoint

    fetch = directory_fetcher(work / "spyproof-log")
    checkpoint, _ = read_checkpoint(fetch)
    return merkle.range_hash(0, size, TileReader(fetch, checkpoint.size).get).hex()


# --------------------------------------------------------------------------- pymerkle


def _pm_db(cfg: dict) -> Path:
    return Path(cfg["work"]) / ("pymerkle-extra.db" if cfg.get("pm_sync") else "pymerkle.db")


def child_pm_append(cfg: dict) -> dict:
    import pymerkle

    db = _pm_db(cfg)
    prof = Profiler(cfg.get("profile"), "pymerkle")
    t0 = time.perf_counter()
    tree = pymerkle.SqliteTree(str(db))
    if cfg.get("pm_sync"):
        tree.con.execute(f"PRAGMA synchronous={cfg['pm_sync']}")
    init_s = time.perf_counter() - t0
    pragmas = {k: tree.con.execute(f"PRAGMA {k}").fetchone()
               for k in ("journal_mode", "synchronous", "page_size", "fullfsync")}
    n, batch, esize, seed = cfg["entries"], cfg["batch"], cfg["entry_size"], cfg["seed"]
    budget = cfg.get("pm_budget_s") or 0
    gen_ns = app_ns = cpu_ns = 0
    lat: list[int] = []
    entry_bytes = 0
    size = 0
    stopped = None
    prof.start("append")
    ru0 = resource.getrusage(resource.RUSAGE_SELF)
    for start in range(0, n, batch):
        g = time.perf_counter_ns()
        entries = make_batch(seed, start, min(batch, n - start), esize)
        c = time.process_time_ns()
        t = time.perf_counter_ns()
        size = tree.append_entries(entries)
        dt = time.perf_counter_ns() - t
        cpu_ns += time.process_time_ns() - c
        gen_ns += t - g
        app_ns += dt
        lat.append(dt)
        entry_bytes += sum(map(len, entries))
        if budget and app_ns / 1e9 > budget and size < n:
            stopped = f"append budget of {budget} s exhausted at {size:,} entries"
            break
    prof.stop()
    tree.close()
    return {"size": size, "init_s": round(init_s, 4), "append_s": round(app_ns / 1e9, 3),
            "append_cpu_s": round(cpu_ns / 1e9, 3), "gen_s": round(gen_ns / 1e9, 3),
            "entry_bytes": entry_bytes, "batch_latency": _stats_us(lat), "stopped": stopped,
            "io": _proc_io(), "rusage_loop_incl_generation": _rusage_delta(ru0),
            "sqlite": {**pragmas, "sqlite_version": __import__("sqlite3").sqlite_version,
                       "commit": "one transaction per append_entries call (per batch)"},
            "vmhwm_kb": vmhwm_kb()}


def child_pm_read(cfg: dict) -> dict:
    import pymerkle

    db = str(_pm_db(cfg))
    prof = Profiler(cfg.get("profile"), "pymerkle")
    seed, esize = cfg["seed"], cfg["entry_size"]
    out: dict = {}

    prof.start("open")
    opens = []
    for _ in range(OPENS):
        t = time.perf_counter_ns()
        tr = pymerkle.SqliteTree(db)
        opens.append(time.perf_counter_ns() - t)
        tr.close()
    prof.stop()
    out["open"] = _stats_us(opens)
    out["open_first_us"] = round(opens[0] / 1e3, 1)

    tree = pymerkle.SqliteTree(db)
    size = tree.get_size()
    out["size"] = size
    t = time.perf_counter()
    root = tree.get_root()
    out["get_root_cold_s"] = round(time.perf_counter() - t, 3)
    out["root"] = root.hex()
    out["security"] = tree.security
    out["algorithm"] = tree.algorithm
    tree.close()
    indices, priors = sample_points(seed, size, cfg["proofs"])
    leaves = [hashlib.sha256(b"\x00" + make_entry(seed, i, esize)).digest() for i in indices]

    # inclusion: cold = new tree object (empty subroot cache), a few samples only
    prof.start("inclusion-cold")
    cold = []
    for i in indices[: cfg["pm_cold"]]:
        t = time.perf_counter_ns()
        tr = pymerkle.SqliteTree(db)
        tr.prove_inclusion(i + 1)
        cold.append(time.perf_counter_ns() - t)
        tr.close()
    prof.stop()
    tree = pymerkle.SqliteTree(db)
    first, warm, proofs = [], [], []
    prof.start("inclusion-first-pass")
    for i in indices:
        t = time.perf_counter_ns()
        p = tree.prove_inclusion(i + 1)
        first.append(time.perf_counter_ns() - t)
        proofs.append(p)
    prof.stop()
    prof.start("inclusion-warm")
    for i in indices:
        t = time.perf_counter_ns()
        tree.prove_inclusion(i + 1)
        warm.append(time.perf_counter_ns() - t)
    prof.stop()
    ver = []
    for leaf, p in zip(leaves, proofs, strict=True):
        t = time.perf_counter_ns()
        pymerkle.verify_inclusion(leaf, root, p)
        ver.append(time.perf_counter_ns() - t)
    # pymerkle's path starts with the leaf hash itself, then the RFC 9162 audit path
    base_ok = all(p.path[0] == leaf for p, leaf in zip(proofs, leaves, strict=True))
    out["inclusion"] = {"cold": _stats_us(cold), "first_pass": _stats_us(first),
                        "warm": _stats_us(warm), "verify": _stats_us(ver),
                        "base_is_leaf_hash": base_ok,
                        "hashes_median": statistics.median(len(p.path) for p in proofs)
                        if proofs else 0,
                        "paths_digest": hashlib.sha256(b"".join(b"".join(p.path[1:])
                                                                 for p in proofs)).hexdigest(),
                        "cache": tree.get_cache_info()._asdict()}

    # consistency (prior -> final size); prior roots are computed untimed
    roots1 = [tree.get_root(s1) for s1 in priors]
    tree.close()
    prof.start("consistency-cold")
    cold = []
    for s1 in priors[: cfg["pm_cold"]]:
        t = time.perf_counter_ns()
        tr = pymerkle.SqliteTree(db)
        tr.prove_consistency(s1)
        cold.append(time.perf_counter_ns() - t)
        tr.close()
    prof.stop()
    tree = pymerkle.SqliteTree(db)
    first, warm, cproofs = [], [], []
    for s1 in priors:
        t = time.perf_counter_ns()
        cproofs.append(tree.prove_consistency(s1))
        first.append(time.perf_counter_ns() - t)
    for s1 in priors:
        t = time.perf_counter_ns()
        tree.prove_consistency(s1)
        warm.append(time.perf_counter_ns() - t)
    ver = []
    for r1, p in zip(roots1, cproofs, strict=True):
        t = time.perf_counter_ns()
        pymerkle.verify_consistency(r1, root, p)
        ver.append(time.perf_counter_ns() - t)
    out["consistency"] = {"cold": _stats_us(cold), "first_pass": _stats_us(first),
                          "warm": _stats_us(warm), "verify": _stats_us(ver),
                          "hashes_median": statistics.median(len(p.path) for p in cproofs)
                          if cproofs else 0,
                          "prior_roots_digest": hashlib.sha256(b"".join(roots1)).hexdigest()}
    tree.close()

    # whole-log verification: pymerkle has none built in; re-hash every entry from its
    # documented `leaf` table against the stored hash, then get_root on a fresh tree
    prof.start("check-log")
    t = time.perf_counter()
    c = time.process_time()
    tr = pymerkle.SqliteTree(db)
    bad = count = 0
    hash_buff = tr.hash_buff
    cur = tr.con.cursor()
    cur.row_factory = None
    for entry, h in cur.execute("SELECT entry, hash FROM leaf ORDER BY id"):
        count += 1
        if hash_buff(entry) != h:
            bad += 1
    check_root = tr.get_root()
    tr.close()
    out["check_log"] = {"s": round(time.perf_counter() - t, 3),
                        "cpu_s": round(time.process_time() - c, 3), "entries": count,
                        "bad": bad, "root_ok": check_root == root}
    prof.stop()
    out["vmhwm_kb"] = vmhwm_kb()
    return out


# --------------------------------------------------------------------------- A/B


def child_pair(cfg: dict) -> dict:
    """Warm proofs and verification of both sides interleaved in one process (same
    index, one after the other), so machine load hits both alike. Both objects first
    serve every index once (spyproof's tile cache, pymerkle's subroot cache filled)."""
    import pymerkle

    from spyproof.provenance import merkle
    from spyproof.provenance.tiles import TileReader, directory_fetcher, read_checkpoint

    seed, esize = cfg["seed"], cfg["entry_size"]
    fetch = directory_fetcher(Path(cfg["work"]) / "spyproof-log")
    checkpoint, _ = read_checkpoint(fetch)
    size, root = checkpoint.size, checkpoint.root_hash
    tree = pymerkle.SqliteTree(str(_pm_db(cfg)))
    if tree.get_size() != size:
        return {"skipped": f"pymerkle holds {tree.get_size():,} entries, spyproof {size:,}"}
    reader = TileReader(fetch, size)
    indices, priors = sample_points(seed, size, cfg["proofs"])
    leaves = [merkle.leaf_hash(make_entry(seed, i, esize)) for i in indices]
    roots1 = [merkle.range_hash(0, s1, reader.get) for s1 in priors]
    for i in indices:
        merkle.inclusion_proof(i, size, reader.get)
        tree.prove_inclusion(i + 1)
    for s1 in priors:
        merkle.consistency_proof(s1, size, reader.get)
        tree.prove_consistency(s1)
    t_ = time.perf_counter_ns
    times: dict[str, list[int]] = {k: [] for k in (
        "spy_incl", "pm_incl", "spy_incl_verify", "pm_incl_verify",
        "spy_cons", "pm_cons", "spy_cons_verify", "pm_cons_verify")}
    for i, leaf in zip(indices, leaves, strict=True):
        t = t_()
        sp = merkle.inclusion_proof(i, size, reader.get)
        times["spy_incl"].append(t_() - t)
        t = t_()
        pp = tree.prove_inclusion(i + 1)
        times["pm_incl"].append(t_() - t)
        t = t_()
        merkle.verify_inclusion(i, size, leaf, sp, root)
        times["spy_incl_verify"].append(t_() - t)
        t = t_()
        pymerkle.verify_inclusion(leaf, root, pp)
        times["pm_incl_verify"].append(t_() - t)
    for s1, r1 in zip(priors, roots1, strict=True):
        t = t_()
        sp = merkle.consistency_proof(s1, size, reader.get)
        times["spy_cons"].append(t_() - t)
        t = t_()
        pp = tree.prove_consistency(s1)
        times["pm_cons"].append(t_() - t)
        t = t_()
        merkle.verify_consistency(s1, size, r1, root, sp)
        times["spy_cons_verify"].append(t_() - t)
        t = t_()
        pymerkle.verify_consistency(r1, root, pp)
        times["pm_cons_verify"].append(t_() - t)
    tree.close()
    return {k: _stats_us(v) for k, v in times.items()}


# --------------------------------------------------------------------------- parent


CHILDREN = {"spy-append": child_spy_append, "spy-read": child_spy_read,
            "pm-append": child_pm_append, "pm-read": child_pm_read, "pair": child_pair}


def run_child(kind: str, cfg: dict) -> dict:
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", kind, json.dumps(cfg)]
    load0 = os.getloadavg()
    t = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    wall = time.perf_counter() - t
    if proc.returncode != 0:
        sys.stderr.write(proc.stderr)
        raise SystemExit(f"child {kind} failed with exit code {proc.returncode}")
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    out["child_wall_s"] = round(wall, 2)
    out["loadavg_before"] = [round(x, 2) for x in load0]
    out["loadavg_after"] = [round(x, 2) for x in os.getloadavg()]
    out["ru_maxrss_children_kb"] = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return out


def _fs_type(path: Path) -> str | None:
    for cmd in (["findmnt", "-no", "FSTYPE", "-T", str(path)],
                ["stat", "-f", "-c", "%T", str(path)]):
        try:
            out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout.strip()
        except (OSError, subprocess.CalledProcessError):
            continue
        if out:
            return out
    return None


def machine_info(work: Path) -> dict:
    info = {"cpus": os.cpu_count(), "python": platform.python_version(),
            "platform": platform.platform(), "filesystem": _fs_type(work),
            "sqlite": __import__("sqlite3").sqlite_version}
    try:
        import pymerkle

        info["pymerkle"] = pymerkle.__version__
    except ImportError:
        info["pymerkle"] = None
    try:
        mem = Path("/proc/meminfo").read_text().split("\n")[0].split()
        info["mem_gb"] = round(int(mem[1]) / 1024 / 1024, 1)
    except (OSError, IndexError, ValueError):
        pass
    return info


def run(args: argparse.Namespace) -> dict:
    work = args.work.resolve()
    work.mkdir(parents=True, exist_ok=True)
    for p in (work / "spyproof-log", work / "pymerkle.db", work / "pymerkle.db-journal",
              work / "pymerkle.db-wal"):
        if p.is_dir():
            shutil.rmtree(p)
        else:
            p.unlink(missing_ok=True)
    if args.profile:
        args.profile.mkdir(parents=True, exist_ok=True)
    cfg = {"work": str(work), "entries": args.entries, "batch": args.batch,
           "entry_size": args.entry_size, "proofs": args.proofs, "seed": args.seed,
           "pm_cold": args.pymerkle_cold, "pm_budget_s": args.pymerkle_budget,
           "profile": str(args.profile.resolve()) if args.profile else None}
    res: dict = {"params": {k: v for k, v in cfg.items() if k != "work"},
                 "work": str(work), "machine": machine_info(work),
                 "loadavg_start": [round(x, 2) for x in os.getloadavg()]}
    if args.skip_pymerkle:
        res["machine"]["pymerkle"] = None

    def log(message: str) -> None:
        print(message, flush=True)

    def spyproof_side() -> None:
        log(f"spyproof: appending {args.entries:,} entries in batches of {args.batch:,} ...")
        sa = run_child("spy-append", cfg)
        sa["disk"] = disk_usage([work / "spyproof-log"])
        log(f"  {sa['append_s']:.1f} s ({sa['size'] / sa['append_s']:,.0f} entries/s); "
            "proofs, open, check_log ...")
        res["spyproof"] = {"append": sa, "read": run_child("spy-read", cfg)}

    def pymerkle_side() -> None:
        log(f"pymerkle {res['machine']['pymerkle']} (SqliteTree): appending ...")
        pa = run_child("pm-append", cfg)
        pa["disk"] = disk_usage([p for p in (work / "pymerkle.db", work / "pymerkle.db-journal",
                                             work / "pymerkle.db-wal") if p.exists()])
        log(f"  {pa['append_s']:.1f} s ({pa['size'] / pa['append_s']:,.0f} entries/s)"
            + (f" [{pa['stopped']}]" if pa["stopped"] else "") + "; proofs, open, full check ...")
        res["pymerkle"] = {"append": pa, "read": run_child("pm-read", cfg)}
        if args.pymerkle_extra:
            # SQLite's default FULL does not fsync the directory after unlinking the
            # rollback journal, so a power cut right after a commit can roll it back;
            # EXTRA does, which is spyproof's guarantee (checkpoint renamed, dir fsynced).
            log("pymerkle, synchronous=EXTRA: appending ...")
            px = run_child("pm-append", {**cfg, "pm_sync": "EXTRA", "profile": None})
            log(f"  {px['append_s']:.1f} s ({px['size'] / px['append_s']:,.0f} entries/s)")
            res["pymerkle"]["append_extra"] = px
            for suffix in ("", "-journal"):
                (work / f"pymerkle-extra.db{suffix}").unlink(missing_ok=True)

    sides = [spyproof_side] + ([] if args.skip_pymerkle else [pymerkle_side])
    res["order"] = "pymerkle first" if args.pymerkle_first else "spyproof first"
    for side in (reversed(sides) if args.pymerkle_first else sides):
        side()
    sa, sr = res["spyproof"]["append"], res["spyproof"]["read"]
    if not args.skip_pymerkle:
        pa, pr = res["pymerkle"]["append"], res["pymerkle"]["read"]
        log("interleaved A/B: warm proofs and verification of both in one process ...")
        res["interleaved"] = run_child("pair", cfg)
        m = pa["size"]
        spy_root_m = sa["root"] if m == sa["size"] else spy_root_at(work, m)
        same_size = m == sa["size"]
        res["agreement"] = {
            "size": m,
            "root_equal": pr["root"] == spy_root_m,
            "spyproof_root": spy_root_m, "pymerkle_root": pr["root"],
            "inclusion_paths_equal": (pr["inclusion"]["paths_digest"]
                                      == sr["inclusion"]["paths_digest"]) if same_size else None,
            "prior_roots_equal": (pr["consistency"]["prior_roots_digest"]
                                  == sr["consistency"]["prior_roots_digest"])
            if same_size else None,
        }
    res["loadavg_end"] = [round(x, 2) for x in os.getloadavg()]
    res["figures"] = figures(res)

    def proofs_within(mode: str, stat: str) -> bool:
        return max(sr[k][mode][stat] for k in ("inclusion", "consistency")) \
            <= GOALS["proof_ms"] * 1e3

    res["goals"] = {
        "entries_per_s_ge_10000": sa["size"] / sa["append_s"] >= GOALS["entries_per_s"],
        "proofs_le_1ms_median_fresh": proofs_within("fresh", "median_us"),
        "proofs_le_1ms_p99_fresh": proofs_within("fresh", "p99_us"),
        "proofs_le_1ms_median_warm": proofs_within("warm", "median_us"),
        "proofs_le_1ms_p99_warm": proofs_within("warm", "p99_us"),
        "faster_than_pymerkle_every_figure": (all(f["faster"] for f in res["figures"]
                                                  if f.get("faster") is not None)
                                              if "pymerkle" in res else None),
    }
    if not args.keep:
        shutil.rmtree(work / "spyproof-log", ignore_errors=True)
        for p in ("pymerkle.db", "pymerkle.db-journal"):
            (work / p).unlink(missing_ok=True)
    return res


def figures(res: dict) -> list[dict]:
    """Rows (name, unit, spyproof, pymerkle, ratio, lower_is_better)."""
    sa, sr = res["spyproof"]["append"], res["spyproof"]["read"]
    pm = res.get("pymerkle")
    pa, pr = (pm["append"], pm["read"]) if pm else ({}, {})
    n = sa["size"]
    ab = res.get("interleaved") or {}

    def g(d: dict, *keys: str):
        for k in keys:
            if not isinstance(d, dict) or k not in d:
                return None
            d = d[k]
        return d

    rows = [
        ("append throughput (wall)", "entries/s", n / sa["append_s"],
         pa["size"] / pa["append_s"] if pm else None, False),
        ("append throughput, pymerkle synchronous=EXTRA", "entries/s", n / sa["append_s"],
         g(pm, "append_extra", "size") / g(pm, "append_extra", "append_s")
         if g(pm, "append_extra") else None, False),
        ("append CPU per entry", "µs", sa["append_cpu_s"] / n * 1e6,
         pa["append_cpu_s"] / pa["size"] * 1e6 if pm else None, True),
        ("batch append latency p99", "ms", sa["batch_latency"]["p99_us"] / 1e3,
         g(pa, "batch_latency", "p99_us") / 1e3 if pm else None, True),
        ("bytes on disk (apparent)", "MB", sa["disk"]["apparent_bytes"] / 1e6,
         g(pa, "disk", "apparent_bytes") / 1e6 if pm else None, True),
        ("bytes on disk without leftover partial tiles", "MB",
         (sa["disk"]["apparent_bytes"] - sa["disk"]["partial_bytes"]) / 1e6,
         g(pa, "disk", "apparent_bytes") / 1e6 if pm else None, True),
        ("bytes on disk (allocated)", "MB", sa["disk"]["allocated_bytes"] / 1e6,
         g(pa, "disk", "allocated_bytes") / 1e6 if pm else None, True),
        ("bytes written per entry byte (write amplification)", "×",
         g(sa, "io", "wchar") / sa["entry_bytes"] if g(sa, "io", "wchar") else None,
         g(pa, "io", "wchar") / pa["entry_bytes"] if g(pa, "io", "wchar") else None, True),
        ("peak RSS, append", "MB", sa["vmhwm_kb"] / 1024,
         pa["vmhwm_kb"] / 1024 if pm else None, True),
        ("open / reopen (median)", "ms", sr["open"]["median_us"] / 1e3,
         g(pr, "open", "median_us") / 1e3 if pm else None, True),
        ("inclusion proof, cold (median)", "µs", sr["inclusion"]["fresh"]["median_us"],
         g(pr, "inclusion", "cold", "median_us"), True),
        ("inclusion proof, first pass (median)", "µs",
         sr["inclusion"]["first_pass"]["median_us"],
         g(pr, "inclusion", "first_pass", "median_us"), True),
        ("inclusion proof, first pass (p99)", "µs", sr["inclusion"]["first_pass"]["p99_us"],
         g(pr, "inclusion", "first_pass", "p99_us"), True),
        ("inclusion proof, warm (median)", "µs", sr["inclusion"]["warm"]["median_us"],
         g(pr, "inclusion", "warm", "median_us"), True),
        ("inclusion proof, warm (p99)", "µs", sr["inclusion"]["warm"]["p99_us"],
         g(pr, "inclusion", "warm", "p99_us"), True),
        ("inclusion verify (median)", "µs", sr["inclusion"]["verify"]["median_us"],
         g(pr, "inclusion", "verify", "median_us"), True),
        ("consistency proof, cold (median)", "µs", sr["consistency"]["fresh"]["median_us"],
         g(pr, "consistency", "cold", "median_us"), True),
        ("consistency proof, first pass (median)", "µs",
         sr["consistency"]["first_pass"]["median_us"],
         g(pr, "consistency", "first_pass", "median_us"), True),
        ("consistency proof, warm (median)", "µs", sr["consistency"]["warm"]["median_us"],
         g(pr, "consistency", "warm", "median_us"), True),
        ("consistency proof, warm (p99)", "µs", sr["consistency"]["warm"]["p99_us"],
         g(pr, "consistency", "warm", "p99_us"), True),
        ("consistency verify (median)", "µs", sr["consistency"]["verify"]["median_us"],
         g(pr, "consistency", "verify", "median_us"), True),
        *[(f"interleaved A/B: {label} (median)", "µs", g(ab, f"spy_{key}", "median_us"),
           g(ab, f"pm_{key}", "median_us"), True)
          for label, key in (("inclusion proof, warm", "incl"),
                             ("inclusion verify", "incl_verify"),
                             ("consistency proof, warm", "cons"),
                             ("consistency verify", "cons_verify"))
          if g(ab, f"spy_{key}")],
        ("whole-log verification", "s", sr["check_log"]["s"], g(pr, "check_log", "s"), True),
        ("peak RSS, read phase", "MB", sr["vmhwm_kb"] / 1024,
         pr["vmhwm_kb"] / 1024 if pm else None, True),
        ("tlog-proof make (index given, median)", "µs",
         sr["tlog_proof"]["make"]["median_us"], None, True),
        ("tlog-proof verify incl. signature (median)", "µs",
         sr["tlog_proof"]["verify"]["median_us"], None, True),
        ("tlog-proof make by entry (find_leaf, median)", "ms",
         sr["tlog_proof"]["make_by_entry"]["median_us"] / 1e3, None, True),
    ]
    out = []
    for name, unit, s, p, lower in rows:
        ratio = s / p if p else None
        faster = None if ratio is None else (ratio <= 1 if lower else ratio >= 1)
        out.append({"figure": name, "unit": unit, "spyproof": s, "pymerkle": p,
                    "ratio": ratio, "lower_is_better": lower, "faster": faster})
    return out


def _fmt(v: float | None) -> str:
    if v is None:
        return "—"
    if abs(v) >= 100:
        return f"{v:,.0f}"
    if abs(v) >= 10:
        return f"{v:.1f}"
    return f"{v:.3g}" if abs(v) >= 0.01 else f"{v:.2g}"


def print_table(res: dict) -> None:
    pm_size = res.get("pymerkle", {}).get("append", {}).get("size")
    print()
    print(f"{res['params']['entries']:,} entries × ≈ {res['params']['entry_size']} B in batches "
          f"of {res['params']['batch']:,}; proofs over {res['params']['proofs']:,} random "
          "indices / prior sizes" + (f"; pymerkle at {pm_size:,} entries" if pm_size
                                     and pm_size != res["spyproof"]["append"]["size"] else ""))
    w = max(len(f["figure"]) + len(f["unit"]) + 3 for f in res["figures"])
    print(f"{'figure':<{w}} {'spyproof':>11} {'pymerkle':>11} {'ratio s/p':>10}  better?")
    for f in res["figures"]:
        label = f"{f['figure']} ({f['unit']})"
        better = "" if f["faster"] is None else ("yes" if f["faster"] else "NO")
        ratio = "—" if f["ratio"] is None else f"{f['ratio']:.3g}"
        print(f"{label:<{w}} {_fmt(f['spyproof']):>11} {_fmt(f['pymerkle']):>11} "
              f"{ratio:>10}  {better}")
    if "agreement" in res:
        a = res["agreement"]
        print(f"roots agree at size {a['size']:,}: {a['root_equal']} "
              f"({a['spyproof_root'][:16]}…); inclusion paths equal: "
              f"{a['inclusion_paths_equal']}; roots at prior sizes equal: "
              f"{a['prior_roots_equal']}")
        sq = res["pymerkle"]["append"]["sqlite"]
        print(f"pymerkle SQLite: journal_mode={sq['journal_mode']} synchronous={sq['synchronous']}"
              f" (2 = FULL, 3 = EXTRA), {sq['commit']}")
    g = res["goals"]
    print(f"goals: ≥ 10,000 entries/s: {g['entries_per_s_ge_10000']}; proofs ≤ 1 ms, fresh "
          f"reader median/p99: {g['proofs_le_1ms_median_fresh']}/{g['proofs_le_1ms_p99_fresh']},"
          f" warm median/p99: {g['proofs_le_1ms_median_warm']}/{g['proofs_le_1ms_p99_warm']}; "
          f"faster than pymerkle on every figure: {g['faster_than_pymerkle_every_figure']}")
    print(f"load average {res['loadavg_start']} -> {res['loadavg_end']} "
          f"({res['machine']['cpus']} cpus, {res['machine'].get('filesystem')}; {res['order']})")


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--child"]:
        out = CHILDREN[argv[1]](json.loads(argv[2]))
        print(json.dumps(out))
        return 0
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--entries", type=int, default=1_000_000)
    ap.add_argument("--batch", type=int, default=1000, help="entries per append")
    ap.add_argument("--entry-size", type=int, default=300, help="mean entry size in bytes")
    ap.add_argument("--proofs", type=int, default=1000,
                    help="random indices / prior sizes for proofs")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--work", type=Path, default=DEFAULT_WORK,
                    help=f"working directory (default {DEFAULT_WORK})")
    ap.add_argument("--json", type=Path, help="also write all figures here")
    ap.add_argument("--skip-pymerkle", action="store_true")
    ap.add_argument("--pymerkle-cold", type=int, default=5,
                    help="cold pymerkle proofs (each rebuilds the tree; default 5)")
    ap.add_argument("--pymerkle-budget", type=float, default=900.0,
                    help="stop pymerkle's appends after this many seconds (default 900)")
    ap.add_argument("--profile", type=Path,
                    help="write cProfile stats of each phase here (timings inflate)")
    ap.add_argument("--no-pymerkle-extra", dest="pymerkle_extra", action="store_false",
                    help="skip the extra pymerkle append with PRAGMA synchronous=EXTRA")
    ap.add_argument("--pymerkle-first", action="store_true",
                    help="run pymerkle's phases before spyproof's (default: after)")
    ap.add_argument("--keep", action="store_true", help="keep the log and database")
    args = ap.parse_args(argv)
    if args.batch < 1 or args.entries < 2 or args.proofs < 1:
        ap.error("need --entries >= 2, --batch >= 1, --proofs >= 1")
    if not args.skip_pymerkle:
        try:
            import pymerkle  # noqa: F401
        except ImportError:
            ap.error("pymerkle is not installed: .venv/bin/pip install -r "
                     "benchmarks/requirements.txt (or pass --skip-pymerkle)")
    res = run(args)
    print_table(res)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(res, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
