"""Traffic benchmark (issue 8, section 5): ``spyproof flows`` against tshark's
conversation statistics, on the same multi-million-packet capture in the same run.

The capture (built in ``--work``, deterministic: the same bytes on every machine):

1. **Parts.** Real public captures from ``tests/data/traffic/`` (Zeek's wikipedia.pcap:
   DNS, mDNS, LLMNR, NetBIOS, HTTP; tcpdump recordings between two namespaces: UDP, ICMP
   and ICMPv6, HTTP over IPv4 and IPv6, IP fragments; Suricata-verify's TLS 1.3 flow, a TLS
   1.2 ClientHello and DNS over HTTP/2; Zeek's Merlin C2 QUIC beacon over 184 s; loopback
   recordings of TLS, QUIC and DNS over UDP/TCP/HTTP), plus four conversations written
   with dpkt because no public capture here has them: a paced 1 MiB HTTP download (bulk,
   MSS-sized segments, an ACK every second segment), a 170 s interactive SSH-like session
   (long-lived, small packets), an NTP client polling every 64 s from port 123 (Zeek's 60 s
   UDP timeout splits it) and SYNs to an unreachable server retried with Linux's backoff
   (Zeek's 5 s attempt timeout splits them). Each part is moved in time with ``editcap -t`` to
   a fixed offset in a 184 s "site period" and all are merged with ``mergecap``: one
   *bundle*.
2. **Canonical addresses.** ``tcprewrite --pnat`` maps every unicast address of the bundle
   (found with ``tshark -T fields``) to ``10.0.0.i`` / ``fd00::i`` (multicast and broadcast
   kept, ``--skipbroadcast``), so one CIDR rule can move a whole copy later.
3. **Copies.** Level 1: 64 copies of the bundle, copy *k* rewritten with
   ``--pnat=10.0.0.0/24:10.0.k.0/24,[fd00::/96]:[fd00::k:0:0/96]`` and shifted by
   *k* × ``--stagger`` seconds, merged chronologically into a block. Level 2: copies of the
   block with ``10.0.0.0/16:10.j.0.0/16`` (and the IPv6 equivalent) shifted by a whole
   block's stagger, merged: every copy is a distinct site (10.j.k.0/24), a new site starts
   every ``--stagger`` seconds and lasts 184 s, so flows come and go over time and about
   184 / stagger sites are active at once. Prefixes of ``--sizes`` packets are cut with
   ``editcap -r`` (the same mix at every length).

Measured, each in a fresh child process (wall time with ``time.perf_counter`` around the
child; user/system CPU and peak RSS of that child from GNU ``/usr/bin/time``, whose own
small image it is forked from — see ``measure``):

* ``spyproof flows FILE --format csv -o OUT`` (the CLI: reading, flows, app-layer
  inspection, each row written as its flow ends);
* the library: ``stream_flows([FILE], emit)`` (what the CLI calls, rows not rendered),
  ``read_flows([FILE], on_flow=…)`` with no app-layer inspector (the inspector's cost,
  both streaming), ``read_inputs([FILE])`` (every flow and DNS answer kept in lists: what
  ``spyproof traffic`` analyses) and ``read_flows([FILE])`` with no inspector (the same,
  without the inspector);
* ``tshark -q -n -z conv,tcp -z conv,udp -r FILE``.

Flow counts: spyproof's TCP and UDP flows (from its CSV) against tshark's conversation
tables; every difference is classified per 5-tuple (UDP inactivity > 60 s, TCP port reuse,
TCP inactivity > 300 s, an unanswered attempt expired after 5 s …), and spyproof's
distinct 5-tuples are compared with tshark's too. ``--profile`` adds a cProfile of the
CLI's code path (``spyproof.cli.main``) on the largest file: top functions by own time.

Run (Debian tools: tshark for tshark/editcap/mergecap/capinfos, tcpreplay for tcprewrite,
time for /usr/bin/time)::

    nice .venv/bin/python benchmarks/traffic_bench.py [--packets 5000000]
        [--sizes 1000000,2500000,5000000] [--work DIR] [--json OUT] [--keep] [--profile]
        [--tshark-first] [--modes cli,stream,stream-noinspect,lib,lib-noinspect,tshark]
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import math
import os
import platform
import random
import shutil
import socket
import subprocess
import sys
import time
from collections import Counter, defaultdict
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
DATA = ROOT / "tests" / "data" / "traffic"
DEFAULT_WORK = HERE / "_work" / "traffic"
SPYPROOF = Path(sys.executable).parent / "spyproof"

BASE_TS = 1767571200  # 2026-01-05T00:00:00Z: where every part's offset counts from
# (capture, offset of its first packet in the site period, what it brings)
PARTS = [
    ("wikipedia.pcap", 0.0, "browser: DNS, mDNS, LLMNR, NetBIOS, HTTP (Zeek, BSD-3)"),
    ("app/merlinc2.pcapng", 0.0, "QUIC C2 beacon over 184 s (Zeek, BSD-3)"),
    ("app/dns-over-http2.pcap", 10.0, "DNS over HTTP/2, 136 s (Suricata-verify, MIT)"),
    ("live.pcap", 20.0, "UDP, ICMP/ICMPv6, HTTP v4/v6, fragments (recorded here)"),
    ("app/quic-loopback.pcap", 30.0, "QUIC v1/v2 handshakes (recorded here)"),
    ("app/community-id-ipv4.pcap", 40.0, "TLS 1.3 (Suricata-verify, MIT)"),
    ("app/dns-loopback.pcap", 45.0, "DNS over UDP, TCP and HTTP (recorded here)"),
    ("app/tls-loopback.pcap", 50.0, "TLS 1.2/1.3, DoT (recorded here)"),
    ("app/ja4-tls.pcap", 60.0, "TLS 1.2 ClientHello (Suricata-verify, MIT)"),
]
SYNTH = [
    ("synth-bulk.pcap", 5.0, "1 MiB HTTP download, paced over 8 s (dpkt)"),
    ("synth-interactive.pcap", 2.0, "SSH-like interactive session, 170 s (dpkt)"),
    ("synth-ntp.pcap", 3.0, "NTP client polling every 64 s from port 123 (dpkt)"),
    ("synth-syn-retry.pcap", 15.0, "SYNs to an unreachable server, Linux backoff (dpkt)"),
]
BLOCK_COPIES = 64  # level-1 copies per block (distinct third octet)
TSHARK_CONV = ["-q", "-n", "-z", "conv,tcp", "-z", "conv,udp"]
MODES = ("cli", "stream", "stream-noinspect", "lib", "lib-noinspect", "tshark")


# ----------------------------------------------------------------------------- tools


def run(cmd: list, **kw) -> subprocess.CompletedProcess:
    res = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, **kw)
    if res.returncode != 0:
        raise SystemExit(f"{cmd[0]} failed ({res.returncode}): {res.stderr.strip()[:500]}")
    return res


def frames(path: Path) -> int:
    out = run(["capinfos", "-T", "-r", "-c", path]).stdout.split("\t")
    return int(out[-1])


def first_ts(path: Path) -> float:
    return float(run(["capinfos", "-T", "-r", "-a", "-S", path]).stdout.split("\t")[-1])


def sha256(path: Path) -> str:
    with open(path, "rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


def src_dirty() -> list[str]:
    """Uncommitted changes under src/ (the code measured may differ from the commit)."""
    out = subprocess.run(["git", "-C", str(ROOT), "status", "--short", "--", "src"],
                         capture_output=True, text=True).stdout
    return out.splitlines()


def tool_versions() -> dict:
    def first_line(cmd: list[str]) -> str:
        try:
            r = subprocess.run(cmd, capture_output=True, text=True)
            return (r.stdout or r.stderr).splitlines()[0]
        except (OSError, IndexError):
            return "missing"

    commit = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
                            capture_output=True, text=True).stdout.strip()
    return {"tshark": first_line(["tshark", "--version"]),
            "tcprewrite": first_line(["tcprewrite", "--version"]),
            "python": platform.python_version(), "spyproof_commit": commit,
            "kernel": platform.release(), "nproc": os.cpu_count()}


# ----------------------------------------------------------------------------- synthesis


def _tcp_writer(path: Path, client: str, server: str, cport: int, sport: int):
    """A deterministic TCP conversation written with dpkt: returns (send, close)."""
    import dpkt

    fh = open(path, "wb")  # noqa: SIM115 - closed by close()
    writer = dpkt.pcap.Writer(fh, snaplen=65535, linktype=dpkt.pcap.DLT_EN10MB)
    cmac, smac = b"\x02\x00\x00\x00\x00\x0a", b"\x02\x00\x00\x00\x00\x01"
    caddr, saddr = socket.inet_aton(client), socket.inet_aton(server)
    seq = {True: 1_000_000, False: 3_000_000}
    ident = {True: 1, False: 1}

    def send(ts: float, from_client: bool, flags: int, data: bytes = b"",
             retransmit: bool = False) -> None:
        src, dst = (caddr, saddr) if from_client else (saddr, caddr)
        sp, dp = (cport, sport) if from_client else (sport, cport)
        ack = seq[not from_client] if flags & dpkt.tcp.TH_ACK else 0
        tcp = dpkt.tcp.TCP(sport=sp, dport=dp, seq=seq[from_client], ack=ack, flags=flags,
                           win=64240, data=data)
        ip = dpkt.ip.IP(src=src, dst=dst, p=6, ttl=64, id=ident[from_client], data=tcp)
        ip.df = 1
        eth = dpkt.ethernet.Ethernet(src=cmac if from_client else smac,
                                     dst=smac if from_client else cmac, data=ip)
        writer.writepkt(bytes(eth), ts=BASE_TS + ts)
        ident[from_client] += 1
        if not retransmit:
            seq[from_client] += len(data) + (1 if flags & (dpkt.tcp.TH_SYN | dpkt.tcp.TH_FIN)
                                              else 0)

    return send, fh.close


def synth_bulk(path: Path) -> None:
    """A 1 MiB HTTP/1.1 download paced at ~130 KB/s: handshake, GET, 719 full segments
    with an ACK for every second one, FIN both ways."""
    import dpkt

    S, A, P, F = dpkt.tcp.TH_SYN, dpkt.tcp.TH_ACK, dpkt.tcp.TH_PUSH, dpkt.tcp.TH_FIN
    send, close = _tcp_writer(path, "192.168.77.10", "198.51.100.80", 49152, 80)
    body = random.Random(8).randbytes(1 << 20)
    head = (b"HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n"
            b"Content-Length: %d\r\n\r\n" % len(body))
    t = 0.0
    send(t, True, S)
    send(t + 0.020, False, S | A)
    send(t + 0.040, True, A)
    send(t + 0.041, True, P | A, b"GET /firmware/cpe5g-5.2.2.bin HTTP/1.1\r\n"
         b"Host: updates.example.net\r\nUser-Agent: curl/7.88.1\r\nAccept: */*\r\n\r\n")
    t += 0.061
    send(t, False, A)
    stream = head + body
    mss = 1460
    for i, off in enumerate(range(0, len(stream), mss)):
        t += 0.011
        send(t, False, A | (P if off + mss >= len(stream) else 0), stream[off:off + mss])
        if i % 2:
            send(t + 0.0004, True, A)
    t += 0.010
    send(t, True, A)
    send(t + 0.001, False, F | A)
    send(t + 0.021, True, F | A)
    send(t + 0.041, False, A)
    close()


def synth_interactive(path: Path) -> None:
    """An SSH-like session: handshake, banners, then a keystroke and its echo every 1.4 s
    for ~170 s (each 36 bytes, deterministic noise), then FIN both ways."""
    import dpkt

    S, A, P, F = dpkt.tcp.TH_SYN, dpkt.tcp.TH_ACK, dpkt.tcp.TH_PUSH, dpkt.tcp.TH_FIN
    send, close = _tcp_writer(path, "192.168.77.10", "203.0.113.22", 49153, 22)
    rng = random.Random(22)
    send(0.0, True, S)
    send(0.030, False, S | A)
    send(0.060, True, A)
    send(0.090, False, P | A, b"SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3\r\n")
    send(0.091, True, P | A, b"SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3\r\n")
    t = 0.5
    for _ in range(120):
        t += 1.4
        send(t, True, P | A, rng.randbytes(36))
        send(t + 0.030, False, P | A, rng.randbytes(36))
        send(t + 0.070, True, A)
    t += 1.0
    send(t, True, F | A)
    send(t + 0.030, False, F | A)
    send(t + 0.060, True, A)
    close()


def synth_ntp(path: Path) -> None:
    """An NTP client polling its server every 64 s from port 123 to port 123 (as ntpd
    does): three 48-byte request/response pairs on one 5-tuple within the site period.
    Zeek's UDP inactivity timeout (60 s) makes each poll a connection; tshark keeps one."""
    import dpkt

    fh = open(path, "wb")  # noqa: SIM115 - closed below
    writer = dpkt.pcap.Writer(fh, snaplen=65535, linktype=dpkt.pcap.DLT_EN10MB)
    c, s = socket.inet_aton("192.168.77.10"), socket.inet_aton("192.0.2.123")
    rng = random.Random(123)
    for i in range(3):
        t = i * 64.0
        for src, dst, delay, mode in ((c, s, 0.0, 0x23), (s, c, 0.018, 0x24)):
            ntp = bytes([mode]) + rng.randbytes(47)  # LI 0, version 4, mode 3 / 4
            udp = dpkt.udp.UDP(sport=123, dport=123, data=ntp)
            udp.ulen = 8 + len(ntp)
            ip = dpkt.ip.IP(src=src, dst=dst, p=17, ttl=64, data=udp)
            eth = dpkt.ethernet.Ethernet(src=b"\x02\x00\x00\x00\x00\x0a",
                                         dst=b"\x02\x00\x00\x00\x00\x01", data=ip)
            writer.writepkt(bytes(eth), ts=BASE_TS + t + delay)
    fh.close()


def synth_syn_retry(path: Path) -> None:
    """A client that cannot reach its server (dropped, no reply): the SYN and its
    retransmissions with the same sequence number after 1, 3, 7, 15, 31 and 63 s (Linux's
    exponential backoff). Zeek gives up on an unanswered attempt after 5 s, so the SYNs at
    7, 15, 31 and 63 s each start a new S0 connection; tshark keeps one conversation."""
    import dpkt

    send, close = _tcp_writer(path, "192.168.77.10", "192.0.2.200", 49154, 8443)
    for t in (0, 1, 3, 7, 15, 31, 63):
        send(float(t), True, dpkt.tcp.TH_SYN, retransmit=True)
    close()


# ----------------------------------------------------------------------------- building


def _addresses(path: Path) -> tuple[list[str], list[str]]:
    """Unicast IPv4 and IPv6 addresses of the outer IP headers, sorted."""
    import ipaddress

    out = run(["tshark", "-n", "-r", path, "-T", "fields", "-E", "occurrence=f",
               "-e", "ip.src", "-e", "ip.dst", "-e", "ipv6.src", "-e", "ipv6.dst"]).stdout
    v4, v6 = set(), set()
    for line in out.splitlines():
        for value in line.split("\t"):
            if not value:
                continue
            ip = ipaddress.ip_address(value)
            if ip.is_multicast or ip == ipaddress.ip_address("255.255.255.255"):
                continue
            (v4 if ip.version == 4 else v6).add(ip)
    return [str(a) for a in sorted(v4)], [str(a) for a in sorted(v6)]


def build_bundle(work: Path, log: list[str]) -> tuple[Path, dict]:
    """Parts at their offsets, merged, addresses made canonical."""
    parts_dir = work / "parts"
    parts_dir.mkdir(parents=True, exist_ok=True)
    synth_bulk(parts_dir / "synth-bulk.pcap")
    synth_interactive(parts_dir / "synth-interactive.pcap")
    synth_ntp(parts_dir / "synth-ntp.pcap")
    synth_syn_retry(parts_dir / "synth-syn-retry.pcap")
    shifted = []
    info = []
    for name, offset, what in PARTS + SYNTH:
        src = DATA / name if (DATA / name).exists() else parts_dir / name
        dst = parts_dir / (Path(name).stem + ".shifted.pcap")
        delta = BASE_TS + offset - first_ts(src)
        run(["editcap", "-F", "pcap", "-t", f"{delta:.6f}", src, dst])
        shifted.append(dst)
        info.append({"part": name, "offset_s": offset, "frames": frames(src), "what": what})
    merged = work / "bundle-orig.pcap"
    run(["mergecap", "-F", "pcap", "-w", merged, *shifted])
    v4, v6 = _addresses(merged)
    if len(v4) > 254 or len(v6) > 0xFFFF:
        raise SystemExit("too many addresses in the bundle for one /24")
    pairs = [f"{a}/32:10.0.0.{i}/32" for i, a in enumerate(v4, 1)]
    pairs += [f"[{a}/128]:[fd00::{i:x}/128]" for i, a in enumerate(v6, 1)]
    bundle = work / "bundle.pcap"
    run(["tcprewrite", "--skipbroadcast", f"--pnat={','.join(pairs)}", "-i", merged,
         "-o", bundle])
    log.append(f"tcprewrite --skipbroadcast --pnat=<{len(pairs)} /32 and /128 pairs> "
               f"-i bundle-orig.pcap -o bundle.pcap")
    return bundle, {"parts": info, "addresses_v4": len(v4), "addresses_v6": len(v6),
                    "frames": frames(bundle)}


def _copy(src: Path, dst: Path, pnat: str, shift: float) -> Path:
    tmp = dst.with_suffix(".nat.pcap")
    run(["tcprewrite", "--skipbroadcast", f"--pnat={pnat}", "-i", src, "-o", tmp])
    run(["editcap", "-F", "pcap", "-t", f"{shift:.6f}", tmp, dst])
    tmp.unlink()
    return dst


def build_capture(work: Path, packets: int, sizes: list[int], stagger: float,
                  jobs: int) -> dict:
    """The full capture and its prefixes; reused when the recipe is unchanged."""
    cap = work / "capture"
    recipe = {"packets": packets, "sizes": sizes, "stagger": stagger, "version": 4,
              "parts": [[n, o] for n, o, _ in PARTS + SYNTH],
              "inputs": {n: sha256(DATA / n) for n, _, _ in PARTS}}
    manifest_path = cap / "manifest.json"
    if manifest_path.exists():
        manifest = json.loads(manifest_path.read_text())
        if (manifest.get("recipe") == recipe
                and all(Path(p).exists() for p in manifest["files"].values())):
            manifest["reused"] = True
            return manifest
    shutil.rmtree(cap, ignore_errors=True)
    cap.mkdir(parents=True)
    log: list[str] = []
    t0 = time.perf_counter()
    bundle, binfo = build_bundle(cap, log)
    # level 1: a block of BLOCK_COPIES sites, one starting every `stagger` seconds
    l1 = cap / "l1"
    l1.mkdir()
    with ThreadPoolExecutor(jobs) as pool:
        copies = list(pool.map(
            lambda k: _copy(bundle, l1 / f"c{k:03d}.pcap",
                            f"10.0.0.0/24:10.0.{k}.0/24,[fd00::/96]:[fd00::{k:x}:0:0/96]",
                            k * stagger), range(BLOCK_COPIES)))
    block = cap / "block.pcap"
    run(["mergecap", "-F", "pcap", "-w", block, *copies])
    shutil.rmtree(l1)
    block_frames = frames(block)
    n_blocks = math.ceil(packets / block_frames)
    if n_blocks > 256:
        raise SystemExit("--packets too large for 10.0.0.0/8 sites (256 blocks)")
    l2 = cap / "l2"
    l2.mkdir()
    span = BLOCK_COPIES * stagger
    with ThreadPoolExecutor(jobs) as pool:
        blocks = list(pool.map(
            lambda j: _copy(block, l2 / f"b{j:03d}.pcap",
                            f"10.0.0.0/16:10.{j}.0.0/16,[fd00::/80]:[fd00::{j:x}:0:0:0/80]",
                            j * span), range(n_blocks)))
    full = cap / "full.pcap"
    run(["mergecap", "-F", "pcap", "-w", full, *blocks])
    shutil.rmtree(l2)
    log += [
        f"level 1: {BLOCK_COPIES}x tcprewrite --skipbroadcast "
        "--pnat=10.0.0.0/24:10.0.K.0/24,[fd00::/96]:[fd00::K:0:0/96]; "
        f"editcap -F pcap -t K*{stagger}; mergecap -F pcap -w block.pcap",
        f"level 2: {n_blocks}x tcprewrite --skipbroadcast "
        "--pnat=10.0.0.0/16:10.J.0.0/16,[fd00::/80]:[fd00::J:0:0:0/80]; "
        f"editcap -F pcap -t J*{span}; mergecap -F pcap -w full.pcap",
    ]
    files = {}
    for n in sorted(set(sizes) | {packets}):
        dst = cap / f"traffic-{n}.pcap"
        run(["editcap", "-F", "pcap", "-r", full, dst, f"1-{n}"])
        files[str(n)] = str(dst)
        log.append(f"editcap -F pcap -r full.pcap traffic-{n}.pcap 1-{n}")
    full_frames = frames(full)
    full.unlink()
    manifest = {
        "recipe": recipe, "bundle": binfo, "block_frames": block_frames,
        "blocks": n_blocks, "sites": n_blocks * BLOCK_COPIES, "full_frames": full_frames,
        "files": files, "sizes_bytes": {k: Path(v).stat().st_size for k, v in files.items()},
        "sha256": {k: sha256(Path(v)) for k, v in files.items()},
        "commands": log, "build_seconds": round(time.perf_counter() - t0, 1),
        "reused": False,
    }
    manifest_path.write_text(json.dumps(manifest, indent=1))
    return manifest


# ----------------------------------------------------------------------------- measuring


def measure(cmd: list, stdout_path: Path | None = None) -> dict:
    """Run one command in a fresh child; wall time, CPU and peak RSS of that child alone.

    Peak RSS comes from GNU time (``%M``), not from ``wait4`` here: a child started with
    vfork/exec by this (large) Python process inherits its high-water mark in
    ``ru_maxrss`` (Linux merges the pre-exec mm's peak), which inflated small figures by
    the parent's size. ``/usr/bin/time`` forks the command from its own ~1 MB image.
    """
    out = open(stdout_path, "wb") if stdout_path else subprocess.DEVNULL  # noqa: SIM115
    tfile = Path(os.environ.get("TMPDIR", "/tmp")) / f"traffic-bench-time-{os.getpid()}.txt"
    try:
        t0 = time.perf_counter()
        proc = subprocess.run(["/usr/bin/time", "-f", "%e %U %S %M", "-o", str(tfile),
                               *[str(c) for c in cmd]], stdout=out, stderr=subprocess.PIPE)
        wall = time.perf_counter() - t0
    finally:
        if stdout_path:
            out.close()
    elapsed, user, system, max_kb = tfile.read_text().split("\n")[-2].split()
    tfile.unlink()
    git = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
                         capture_output=True, text=True).stdout.strip()
    return {"wall_s": round(wall, 3), "time_elapsed_s": float(elapsed),
            "user_s": float(user), "sys_s": float(system),
            "peak_rss_mb": round(int(max_kb) / 1024, 1), "rc": proc.returncode,
            "code": git + ("+dirty" if src_dirty() else ""),
            "stderr": proc.stderr.decode(errors="replace").strip().splitlines()[-3:]}


def child_cmd(mode: str, path: Path, extra: list | None = None) -> list:
    return [sys.executable, __file__, "--child", mode, str(path), *(extra or [])]


def run_child(mode: str, path: Path, profile_out: Path | None = None,
              csv_out: Path | None = None) -> None:
    """Inside the child: one library call on ``path``; counts as JSON on stdout. Nothing
    that grows with the capture is kept here beyond what the call itself returns."""
    from spyproof.traffic.flows import read_flows
    from spyproof.traffic.pipeline import read_inputs, stream_flows

    counts: Counter = Counter()

    def count(flow) -> None:  # noqa: ANN001 - Flow
        counts[flow.proto] += 1

    extra: dict = {}
    flows: list = []
    t0 = time.perf_counter()
    if profile_out is not None:
        import cProfile

        prof = cProfile.Profile()
        prof.enable()
    if mode == "lib":
        flows, dns, _inputs, _refs, problems = read_inputs([path])
        extra = {"dns_answers": len(dns), "problems": problems}
    elif mode == "lib-noinspect":
        flows, dns, stats = read_flows([path])
        extra = {"frames": stats.frames, "packets": stats.packets,
                 "skipped": dict(stats.skipped)}
    elif mode == "stream":
        n, problems = stream_flows([path], count)
        extra = {"streamed": n, "problems": problems}
    elif mode == "stream-noinspect":
        flows, _dns, stats = read_flows([path], on_flow=count)
        extra = {"open_at_end": len(flows), "frames": stats.frames,
                 "packets": stats.packets}
    elif mode == "profile-cli":
        from spyproof.cli import main as cli_main

        try:
            cli_main(["flows", str(path), "--format", "csv", "-o", str(csv_out)])
        except SystemExit as exc:
            extra = {"rc": exc.code}
    else:
        raise SystemExit(f"unknown child mode {mode}")
    seconds = time.perf_counter() - t0
    if profile_out is not None:
        prof.disable()
        prof.dump_stats(profile_out)
    for flow in flows:
        count(flow)
    print(json.dumps({"mode": mode, "seconds": round(seconds, 3), "flows": dict(counts),
                      "vmhwm_mb": _vmhwm_mb(), **extra}))


def _vmhwm_mb() -> float:
    """This process's own peak RSS (its mm's high-water mark, not inherited)."""
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024, 1)
    return 0.0


def _key(a: str, ap: int | str, b: str, bp: int | str) -> tuple:
    x, y = (a, int(ap)), (b, int(bp))
    return (x, y) if x <= y else (y, x)


# ----------------------------------------------------------------------------- flow counts


def parse_tshark_conv(text: str) -> dict[str, Counter]:
    """tshark's conv,tcp / conv,udp tables → proto → Counter of endpoint-pair keys."""
    out: dict[str, Counter] = {"tcp": Counter(), "udp": Counter()}
    proto = None
    for line in text.splitlines():
        if line.startswith("TCP Conversations"):
            proto = "tcp"
        elif line.startswith("UDP Conversations"):
            proto = "udp"
        elif proto and "<->" in line:
            left, right = line.split("<->", 1)
            a = left.strip()
            b = right.split()[0]
            ah, ap = a.rsplit(":", 1)
            bh, bp = b.rsplit(":", 1)
            out[proto][_key(ah, ap, bh, bp)] += 1
    return out


def read_flow_csv(path: Path) -> dict[str, dict[tuple, list[dict]]]:
    """spyproof's CSV → proto → endpoint-pair key → flows (start order)."""
    out: dict[str, dict[tuple, list[dict]]] = defaultdict(lambda: defaultdict(list))
    with open(path, newline="") as fh:
        for row in csv.DictReader(fh):
            key = _key(row["orig_h"], row["orig_p"], row["resp_h"], row["resp_p"])
            start = datetime.fromisoformat(row["start"].replace("Z", "+00:00")).timestamp()
            out[row["proto"]][key].append({
                "start": start, "last": start + float(row["duration"]),
                "state": row["conn_state"], "history": row["history"]})
    return out


def _why_split(proto: str, prev: dict, nxt: dict) -> str:
    gap = nxt["start"] - prev["last"]
    if proto == "udp":
        return "UDP inactivity > 60 s splits it (Zeek)" if gap >= 60 else "UDP other"
    if nxt["history"].lstrip("^")[:1] in ("S", "s") and prev["state"] != "S0":
        return "TCP port reuse: a new SYN after the previous connection"
    if prev["state"] == "S0" and nxt["start"] - prev["start"] >= 5:  # from the first SYN
        return "TCP attempt expired after 5 s, SYN retried"
    if gap >= 300:
        return "TCP inactivity > 300 s splits it (Zeek)"
    return f"TCP other ({prev['state']} then {nxt['history'][:6]})"


def compare_counts(csv_path: Path, tshark_text: str) -> dict:
    """spyproof's flows vs tshark's conversations, every difference explained."""
    ts = parse_tshark_conv(tshark_text)
    sp = read_flow_csv(csv_path)
    result = {}
    for proto in ("tcp", "udp"):
        flows = sp.get(proto, {})
        conv = ts[proto]
        reasons: Counter = Counter()
        for key, lst in flows.items():
            t = conv.get(key, 0)
            if t == 0:
                reasons["5-tuple absent from tshark's table"] += len(lst)
                continue
            extra = len(lst) - t
            if extra > 0:
                lst = sorted(lst, key=lambda f: f["start"])
                why = Counter(_why_split(proto, a, b) for a, b in zip(lst, lst[1:], strict=False))
                # the `extra` splits are explained by the largest gaps first
                for label, n in why.most_common():
                    take = min(n, extra)
                    reasons[label] += take
                    extra -= take
            elif extra < 0:
                reasons["tshark has more conversations on this 5-tuple"] += extra
        for key, t in conv.items():
            if key not in flows:
                reasons["conversation absent from spyproof's flows"] -= t
        result[proto] = {
            "spyproof_flows": sum(len(v) for v in flows.values()),
            "spyproof_distinct_5tuples": len(flows),
            "tshark_conversations": sum(conv.values()),
            "tshark_distinct_5tuples": len(conv),
            "difference_explained": dict(reasons),
        }
        r = result[proto]
        r["difference"] = r["spyproof_flows"] - r["tshark_conversations"]
        r["explained"] = sum(reasons.values()) == r["difference"]
    return result


# ----------------------------------------------------------------------------- the run


def bundle_mix(csv_path: Path) -> dict:
    """What one site brings: flows, packets and IP bytes per protocol and service."""
    mix: dict = defaultdict(lambda: Counter())
    with open(csv_path, newline="") as fh:
        for row in csv.DictReader(fh):
            label = f"{row['proto']}/{row['service'] or '-'}"
            for key in (row["proto"], label):
                mix[key]["flows"] += 1
                mix[key]["packets"] += int(row["orig_pkts"]) + int(row["resp_pkts"])
                mix[key]["ip_bytes"] += int(row["orig_ip_bytes"]) + int(row["resp_ip_bytes"])
    return {k: dict(v) for k, v in sorted(mix.items())}


def profile_top(pstats_path: Path, n: int = 15) -> list[dict]:
    import pstats

    st = pstats.Stats(str(pstats_path))
    rows = []
    for (file, line, func), (_cc, nc, tt, ct, _callers) in st.stats.items():
        rows.append({"function": f"{Path(file).name}:{line}({func})", "ncalls": nc,
                     "tottime_s": round(tt, 2), "cumtime_s": round(ct, 2)})
    rows.sort(key=lambda r: -r["tottime_s"])
    return rows[:n]


def measure_mode(mode: str, path: Path, out_dir: Path, n: int) -> dict:
    if mode == "tshark":
        text_path = out_dir / f"tshark-{n}.txt"
        m = measure(["tshark", *TSHARK_CONV, "-r", path], text_path)
        conv = parse_tshark_conv(text_path.read_text())
        m["flows"] = {k: sum(v.values()) for k, v in conv.items()}
        m["tuples"] = {k: len(v) for k, v in conv.items()}
        return m
    if mode == "cli":
        csv_path = out_dir / f"flows-{n}.csv"
        m = measure([SPYPROOF, "flows", path, "--format", "csv", "-o", csv_path])
        counts: Counter = Counter()
        tuples: dict[str, set] = defaultdict(set)
        with open(csv_path, newline="") as fh:
            for row in csv.DictReader(fh):
                counts[row["proto"]] += 1
                tuples[row["proto"]].add(_key(row["orig_h"], row["orig_p"], row["resp_h"],
                                              row["resp_p"]))
        m["flows"] = dict(counts)
        m["tuples"] = {k: len(v) for k in ("tcp", "udp") for v in [tuples[k]]}
        return m
    json_path = out_dir / f"{mode}-{n}.json"
    m = measure(child_cmd(mode, path), json_path)
    try:
        m.update(json.loads(json_path.read_text()))
    except ValueError:
        m["child_output"] = json_path.read_text()[-500:]
    return m


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--packets", type=int, default=5_000_000)
    ap.add_argument("--sizes", default="1000000,2500000,5000000",
                    help="prefix lengths for memory vs length (the largest = --packets)")
    ap.add_argument("--stagger", type=float, default=2.0,
                    help="seconds between the starts of two sites")
    ap.add_argument("--work", type=Path, default=DEFAULT_WORK)
    ap.add_argument("--json", type=Path, default=None)
    ap.add_argument("--keep", action="store_true", help="keep captures and outputs")
    ap.add_argument("--profile", action="store_true",
                    help="cProfile of the CLI path on the largest file")
    ap.add_argument("--tshark-first", action="store_true")
    ap.add_argument("--modes", default=",".join(MODES))
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 2)
    ap.add_argument("--child", nargs=2, metavar=("MODE", "FILE"), help=argparse.SUPPRESS)
    ap.add_argument("--profile-out", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--csv-out", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        run_child(args.child[0], Path(args.child[1]), args.profile_out, args.csv_out)
        return
    for tool in ("tshark", "editcap", "mergecap", "capinfos", "tcprewrite"):
        if shutil.which(tool) is None:
            raise SystemExit(f"{tool} not found: apt-get install tshark tcpreplay")
    sizes = sorted({int(s) for s in args.sizes.split(",") if s} | {args.packets})
    modes = [m for m in args.modes.split(",") if m]
    if args.tshark_first:
        modes = ["tshark"] + [m for m in modes if m != "tshark"]
    args.work.mkdir(parents=True, exist_ok=True)
    started = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    load_before = os.getloadavg()
    machine = tool_versions()
    print(f"load before: {load_before}, nproc {os.cpu_count()}, "
          f"commit {machine['spyproof_commit']}", flush=True)
    manifest = build_capture(args.work, args.packets, sizes, args.stagger, args.jobs)
    how = "reused" if manifest["reused"] else f"{manifest['build_seconds']} s"
    print(f"capture: {manifest['full_frames']:,} frames ({how}), {manifest['sites']} sites",
          flush=True)
    out_dir = args.work / "out"
    out_dir.mkdir(exist_ok=True)
    results: dict = {}
    for n in sizes:
        path = Path(manifest["files"][str(n)])
        results[str(n)] = {}
        for mode in modes:
            m = measure_mode(mode, path, out_dir, n)
            m["packets_per_s"] = round(n / m["wall_s"])
            results[str(n)][mode] = m
            print(f"{n:>10,} {mode:<14} {m['wall_s']:8.1f} s {m['packets_per_s']:>9,} pkt/s "
                  f"{m['peak_rss_mb']:8.1f} MB rc={m['rc']} flows={m.get('flows')}",
                  flush=True)
    largest = str(sizes[-1])
    comparison = {}
    if "cli" in modes and "tshark" in modes:
        for n in sizes:
            comparison[str(n)] = compare_counts(out_dir / f"flows-{n}.csv",
                                                (out_dir / f"tshark-{n}.txt").read_text())
        bundle = args.work / "capture" / "bundle.pcap"
        if bundle.exists():
            bcsv = out_dir / "flows-bundle.csv"
            # exit code 2 is expected: live.pcap's fragments etc. are reported as problems
            subprocess.run([str(SPYPROOF), "flows", str(bundle), "--format", "csv",
                            "-o", str(bcsv)], capture_output=True)
            btxt = run(["tshark", *TSHARK_CONV, "-r", bundle]).stdout
            comparison["bundle"] = compare_counts(bcsv, btxt)
            comparison["bundle_mix"] = bundle_mix(bcsv)
    profile = None
    if args.profile:
        pst = out_dir / f"profile-{largest}.pstats"
        m = measure(child_cmd("profile-cli", Path(manifest["files"][largest]),
                              ["--profile-out", pst, "--csv-out",
                               out_dir / f"flows-profile-{largest}.csv"]))
        profile = {"wall_s_under_cprofile": m["wall_s"], "top_tottime": profile_top(pst)}
    load_after = os.getloadavg()
    commit_after = tool_versions()["spyproof_commit"]
    print(f"load after: {load_after}", flush=True)
    report = {
        "started": started, "load_before": load_before, "load_after": load_after,
        "machine": machine, "commit_after": commit_after, "src_dirty": src_dirty(),
        "args": {k: str(v) for k, v in vars(args).items()},
        "capture": {k: v for k, v in manifest.items() if k != "recipe"},
        "results": results, "flow_counts": comparison, "profile": profile,
        "verdicts": verdicts(results, comparison, sizes),
    }
    text = json.dumps(report, indent=1)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(text)
    print(markdown(report, sizes), flush=True)
    if not args.keep:
        shutil.rmtree(args.work / "capture", ignore_errors=True)
        for f in out_dir.glob("flows-*.csv"):
            f.unlink()


def verdicts(results: dict, comparison: dict, sizes: list[int]) -> dict:
    big, small = str(sizes[-1]), str(sizes[0])
    v: dict = {}
    r = results[big]
    if "tshark" in r:
        for mode in ("cli", "stream", "lib"):
            if mode in r:
                ratio = r[mode]["wall_s"] / r["tshark"]["wall_s"]
                v[f"{mode}_time_ratio"] = round(ratio, 3)
                v[f"{mode}_faster"] = ratio <= 1.0
    if big in comparison:
        c = comparison[big]
        v["same_flow_count"] = all(c[p]["difference"] == 0 for p in ("tcp", "udp"))
        v["same_distinct_5tuples"] = all(
            c[p]["spyproof_distinct_5tuples"] == c[p]["tshark_distinct_5tuples"]
            for p in ("tcp", "udp"))
        v["differences_explained"] = all(c[p]["explained"] for p in ("tcp", "udp"))
    for mode in MODES:
        if mode in r and mode in results[small]:
            growth = r[mode]["peak_rss_mb"] / results[small][mode]["peak_rss_mb"]
            v[f"{mode}_rss_growth_{small}_to_{big}"] = round(growth, 2)
            v[f"{mode}_rss_bounded"] = growth <= 1.2
    return v


def markdown(report: dict, sizes: list[int]) -> str:
    lines = ["| packets | tool | wall s | packets/s | CPU s | peak RSS MB | TCP flows | "
             "UDP flows | ratio to tshark (time) |", "|---|---|---|---|---|---|---|---|---|"]
    names = {"cli": "`spyproof flows` (CLI, CSV)", "stream": "`stream_flows` (library)",
             "stream-noinspect": "`read_flows(on_flow=…)`, no inspector",
             "lib": "`read_inputs` (keeps all flows)",
             "lib-noinspect": "`read_flows`, no inspector (keeps all)",
             "tshark": "`tshark -z conv,tcp -z conv,udp`"}
    for n in sizes:
        res = report["results"][str(n)]
        t = res.get("tshark", {}).get("wall_s")
        for mode, m in res.items():
            ratio = f"{m['wall_s'] / t:.2f}" if t and mode != "tshark" else "—"
            fl = m.get("flows", {})
            lines.append(f"| {n:,} | {names[mode]} | {m['wall_s']:.1f} | "
                         f"{m['packets_per_s']:,} | {m['user_s'] + m['sys_s']:.1f} | "
                         f"{m['peak_rss_mb']:,.0f} | {fl.get('tcp', 0):,} | "
                         f"{fl.get('udp', 0):,} | {ratio} |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
