"""spyproof benchmarks (make bench). Results go to stdout and benchmarks/_work/results.json;
docs/benchmarks.md records them with the command that produced them.

Unpack + inventory (foundation issue):
  * a router-sized image (squashfs-in-uImage from real Debian mipsel packages) scanned by
    spyproof, against the floor of `unsquashfs` + `sha256sum` of the same image, same run;
  * peak memory of a scan of a generated 1 GB image.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import corpus  # noqa: E402

WORK = HERE / "_work"
SPYPROOF = [sys.executable, "-m", "spyproof.cli"]


def timed(cmd: list[str], **kw) -> float:
    t0 = time.perf_counter()
    subprocess.run(cmd, check=False, capture_output=True, **kw)
    return time.perf_counter() - t0


def best_of(n: int, fn) -> float:
    return min(fn() for _ in range(n))


def router_image() -> tuple[Path, int]:
    image = WORK / "router-mipsel.bin"
    root = WORK / "router-rootfs"
    if not image.exists():
        debs = corpus.download(corpus.ROUTER_PACKAGES, "mipsel", WORK / "debs-mipsel")
        corpus.make_rootfs(debs, root)
        corpus.pack_router_image(root, image)
    unpacked = sum(p.stat().st_size for p in root.rglob("*") if p.is_file() and not p.is_symlink())
    return image, unpacked


def floor(image: Path) -> float:
    """unsquashfs + sha256sum of every file: the least any unpack + inventory can cost."""
    out = WORK / "floor"
    data = image.read_bytes()
    offset = data.find(b"hsqs")

    def once() -> float:
        shutil.rmtree(out, ignore_errors=True)
        t0 = time.perf_counter()
        subprocess.run(["unsquashfs", "-q", "-n", "-d", str(out), "-o", str(offset), str(image)],
                       check=True, capture_output=True)
        subprocess.run(f"find {out} -type f -print0 | xargs -0 sha256sum > /dev/null",
                       shell=True, check=True)
        return time.perf_counter() - t0

    return best_of(3, once)


def spyproof_scan(image: Path, *extra: str) -> float:
    out = WORK / "scan-out"

    def once() -> float:
        shutil.rmtree(out, ignore_errors=True)
        return timed(SPYPROOF + ["-q", "scan", str(image), "--out", str(out), *extra])

    return best_of(3, once)


def big_image(size_gb: float = 1.0) -> Path:
    """A ~1 GB squashfs: a real rootfs plus large and many mid-sized files of mixed content."""
    image = WORK / "big-1g.sqfs"
    if image.exists():
        return image
    root = WORK / "big-root"
    shutil.rmtree(root, ignore_errors=True)
    shutil.copytree(WORK / "router-rootfs", root, symlinks=True)
    import random

    rnd = random.Random(3)
    blob = root / "data"
    blob.mkdir()
    target = int(size_gb * 1024**3)
    written = 0
    i = 0
    while written < target:
        size = 64 * 1024**2 if i % 8 == 0 else rnd.randint(1, 4) * 1024**2
        with (blob / f"part{i:04d}.bin").open("wb") as fh:
            # half random, half repetitive: compresses like real firmware payloads
            chunk = rnd.randbytes(1024 * 1024)
            for j in range(size // (1024 * 1024)):
                fh.write(chunk if j % 2 else bytes(1024 * 1024))
        written += size
        i += 1
    subprocess.run(["mksquashfs", str(root), str(image), "-comp", "lz4", "-noappend", "-quiet",
                    "-no-progress"], check=True)
    shutil.rmtree(root)
    return image


def peak_memory_scan(image: Path) -> dict:
    """Peak RSS of the scan process and of its largest child (the extraction worker)."""
    out = WORK / "big-out"
    shutil.rmtree(out, ignore_errors=True)
    code = (
        "import resource, subprocess, sys, json, time\n"
        "t=time.perf_counter()\n"
        "p=subprocess.run(sys.argv[1:], capture_output=True)\n"
        "el=time.perf_counter()-t\n"
        "print(json.dumps({'rc': p.returncode, 'seconds': el, "
        "'children_max_rss_kb': resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss}))\n"
    )
    res = subprocess.run([sys.executable, "-c", code, *SPYPROOF, "-q", "scan", str(image),
                          "--out", str(out), "--max-total-bytes", str(8 * 1024**3)],
                         capture_output=True, check=True)
    return json.loads(res.stdout)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--skip-big", action="store_true", help="skip the 1 GB memory run")
    args = parser.parse_args()
    WORK.mkdir(exist_ok=True)
    results: dict = {}
    image, unpacked = router_image()
    results["router_image_bytes"] = image.stat().st_size
    results["router_unpacked_bytes"] = unpacked
    results["floor_unsquashfs_sha256sum_s"] = floor(image)
    results["spyproof_unpack_inventory_s"] = spyproof_scan(image, "--no-identify")
    results["ratio_to_floor"] = (results["spyproof_unpack_inventory_s"]
                                 / results["floor_unsquashfs_sha256sum_s"])
    results["spyproof_full_scan_s"] = spyproof_scan(image)
    print(json.dumps(results, indent=2), flush=True)
    if not args.skip_big:
        big = big_image()
        results["big_image_bytes"] = big.stat().st_size
        mem = peak_memory_scan(big)
        results["big_scan"] = mem
        results["big_scan_peak_rss_mb"] = mem["children_max_rss_kb"] / 1024
    (WORK / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONHASHSEED", "0")
    resource.setrlimit(resource.RLIMIT_NOFILE, (4096, 4096))
    sys.exit(main())
