"""Evidence checks in a scan, end to end: `checks list`, --only, --no-checks, --fail-on
exit codes, findings in report.json (evidence-grade, sorted, deterministic) and a planted
backdoor case in a real squashfs-in-uImage image built from the sample firmware."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from spyproof.checks.registry import MODULES, all_checks

REPO = Path(__file__).resolve().parents[1]


def spyproof(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "spyproof.cli", "-q", *args],
                          capture_output=True, text=True, timeout=600, env=dict(os.environ))


CLEAN_CONFIG = {  # the sample device's configuration with every planted case removed
    "etc/init.d/rcS": "#!/bin/sh\nmount -t proc proc /proc\n"
                      "/usr/sbin/dnsmasq -C /etc/dnsmasq.conf\n"
                      "/usr/sbin/dropbear -p 192.168.1.1:22 -w -s\n",
    "etc/inittab": "::sysinit:/etc/init.d/rcS\nttyS0::respawn:/sbin/getty -L ttyS0 115200 "
                   "vt100\n::shutdown:/bin/umount -a -r\n",
    "etc/passwd": "root:x:0:0:root:/root:/bin/sh\ndaemon:*:1:1:daemon:/var:/bin/false\n"
                  "nobody:*:65534:65534:nobody:/var:/bin/false\n",
    "etc/shadow": "root:!:19000:0:99999:7:::\ndaemon:*:0:0:99999:7:::\n"
                  "nobody:*:0:0:99999:7:::\n",
}
REMOVED = ("etc/dropbear/server.key", "usr/bin/cloud-agent", "www/cgi-bin/login.cgi")


@pytest.fixture(scope="module")
def images(tmp_path_factory) -> dict[str, Path]:
    """The sample firmware as shipped (it carries planted cases: a telnet root shell in
    rcS, an empty-password UID-0 account, a UART shell, a shared key, a telemetry agent),
    and the same binaries with a clean configuration, both built by build.sh."""
    work = tmp_path_factory.mktemp("imgs")
    planted = work / "planted.bin"
    subprocess.run([str(REPO / "examples/sample-firmware/build.sh"), str(planted)],
                   check=True, capture_output=True)
    rootfs = work / "rootfs"
    shutil.copytree(REPO / "examples/sample-firmware/rootfs", rootfs, symlinks=True)
    for rel, text in CLEAN_CONFIG.items():
        (rootfs / rel).write_text(text)
    for rel in REMOVED:
        (rootfs / rel).unlink()
    clean = work / "clean.bin"
    subprocess.run([str(REPO / "examples/sample-firmware/build.sh"), str(clean)],
                   check=True, capture_output=True, env=dict(os.environ, ROOTFS=str(rootfs)))
    return {"clean": clean, "planted": planted}


def test_checks_list_names_every_registered_check():
    proc = spyproof("checks", "list", "--json")
    assert proc.returncode == 0, proc.stderr
    rows = json.loads(proc.stdout)
    assert [r["id"] for r in rows] == sorted(all_checks())
    assert len(rows) == len(MODULES)
    for r in rows:
        assert r["title"] and r["description"] and r["looks_at"]
        assert r["clause"] and r["clause"].startswith("NS-")
        for data in r["data_files"]:
            assert (REPO / "src/spyproof/data" / data).exists(), data


def test_clean_sample_has_no_high_findings_but_runs_every_check(images, tmp_path):
    out = tmp_path / "o"
    proc = spyproof("scan", str(images["clean"]), "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    report = json.loads((out / "report.json").read_text())
    assert sorted(c["id"] for c in report["checks"]) == sorted(all_checks())
    high = [f for f in report["findings"] if f["severity"] in ("critical", "high")]
    assert high == [], [(f["check"], f["rule"], f["title"]) for f in high]


def test_planted_telnet_shell_is_found_with_evidence(images, tmp_path):
    out = tmp_path / "o"
    proc = spyproof("scan", str(images["planted"]), "--out", str(out), "--only",
                    "remote-access")
    assert proc.returncode == 0, proc.stderr
    report = json.loads((out / "report.json").read_text())
    assert [c["id"] for c in report["checks"]] == ["remote-access"]
    hits = [f for f in report["findings"] if f["severity"] == "critical"]
    assert hits, report["findings"]
    telnet = [f for f in hits if any(e["path"] == "etc/init.d/rcS" for e in f["evidence"])]
    assert telnet, [(f["rule"], f["evidence"][0]["path"]) for f in hits]
    ev = [e for e in telnet[0]["evidence"] if e["path"] == "etc/init.d/rcS"][0]
    assert ev["line"] == 7 and ev["sha256"] and ev["rule"]
    files = {(f["tree"], f["path"]): f["sha256"] for f in report["files"]}
    assert files[(ev["tree"], ev["path"])] == ev["sha256"]


def test_fail_on_sets_exit_code_1(images, tmp_path):
    proc = spyproof("scan", str(images["planted"]), "--out", str(tmp_path / "a"), "--only",
                    "remote-access", "--fail-on", "high")
    assert proc.returncode == 1, proc.stderr
    ok = spyproof("scan", str(images["clean"]), "--out", str(tmp_path / "b"), "--only",
                  "remote-access", "--fail-on", "high", "--no-vulns")
    assert ok.returncode == 0, ok.stderr


def test_unknown_check_is_one_line_exit_2(images, tmp_path):
    proc = spyproof("scan", str(images["clean"]), "--out", str(tmp_path / "o"), "--only",
                    "acounts")
    assert proc.returncode == 2
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and "unknown check acounts" in lines[0]
    assert not (tmp_path / "o").exists()


def test_no_checks(images, tmp_path):
    out = tmp_path / "o"
    assert spyproof("scan", str(images["clean"]), "--out", str(out), "--no-checks",
                    "--no-vulns").returncode == 0
    report = json.loads((out / "report.json").read_text())
    assert report["findings"] == [] and report["checks"] == []


def test_findings_are_deterministic(images, tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    for out in (a, b):
        assert spyproof("scan", str(images["planted"]), "--out", str(out)).returncode == 0
    ra = json.loads((a / "report.json").read_text())
    rb = json.loads((b / "report.json").read_text())
    assert ra["findings"] == rb["findings"] and ra["checks"] == rb["checks"]
