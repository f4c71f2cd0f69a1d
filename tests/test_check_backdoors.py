"""known-backdoors: every rule of the YARA-X pack fires on a positive fixture at the right
offset, stays quiet on clean binaries and near misses, and bad rules or input never stop
the scan.

Positive fixtures live in ``tests/data/checks/backdoors`` (C sources compiled here with gcc,
and the configuration files and scripts where a case lives); ``FIXTURES`` maps every rule
id of the pack to them, and a test fails when a rule has no fixture.
"""

from __future__ import annotations

import hashlib
import io
import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest
import yara_x

from checks_util import tree_context, write
from spyproof.checks import backdoors
from spyproof.checks.base import FileView
from spyproof.checks.registry import MODULES
from spyproof.checks.runner import run_checks
from spyproof.models import EntryKind, FileEntry, Finding, Severity

DATA = Path(__file__).parent / "data" / "checks" / "backdoors"
SAMPLE_ROOTFS = Path(__file__).parents[1] / "examples" / "sample-firmware" / "rootfs"
RULES_DIR = backdoors.bundled_rules_dir()
REQUIRED_META = ("id", "title", "severity", "cve", "source", "description", "clause")


@dataclass(frozen=True)
class Fixture:
    source: str  # file under DATA (a .c file is compiled with gcc)
    path: str  # where it goes in the test image
    indicator: bytes  # bytes the rule must point at


FIXTURES: dict[str, list[Fixture]] = {
    "dlink-xmlset-useragent": [
        Fixture("dlink_thttpd_auth.c", "bin/webs", b"xmlset_roodkcableoj28840ybtide")],
    "tenda-w302r-mfg-udp7329": [
        Fixture("tenda_httpd_mfg.c", "bin/httpd", b"w302r_mfg")],
    "zyxel-zyfwp-account": [
        Fixture("zyxel_zyfwp_login.c", "usr/sbin/zyfwupd", b"PrOw!aN_fXp"),
        Fixture("zyxel-passwd", "etc/passwd", b"zyfwp:")],
    "fortinet-fortimanager-access": [
        Fixture("fortios_sshd_fgc.c", "bin/sshd", b"FGTAbc11*xy+Qqz27")],
    "juniper-screenos-master-password": [
        Fixture("screenos_auth.c", "screenos/auth", b"<<< %s(un='%s') = %u")],
    "cisco-iosxe-badcandy-implant": [
        Fixture("cisco_service.conf", "usr/binos/conf/nginx-conf/cisco_service.conf",
                b"/webui/logoutconfirm.html")],
    "cisco-iosxe-implant-accounts": [
        Fixture("iosxe-startup-config", "nvram/startup-config",
                b"username cisco_support privilege 15")],
    "xz-liblzma-backdoor-code": [
        Fixture("liblzma_backdoor_prologue.c", "usr/lib/liblzma.so.5.6.1",
                bytes.fromhex("f30f1efa554889f54c89ce5389fb81e7000000804883ec28"
                              "488954241848894c2410"))],
    "xz-backdoor-build-script": [
        Fixture("liblzma-Makefile", "usr/src/xz-5.6.1/src/liblzma/Makefile",
                b"/bad-3-corrupt_lzma2.xz | tr ")],
    "netis-igdmptd-udp53413": [
        Fixture("igdmptd.c", "bin/igdmptd", b"IGD MPT Interface daemon")],
    "sercomm-scfgmgr-tcp32764": [
        Fixture("scfgmgr.c", "usr/sbin/scfgmgr", b"MMcS")],
    "cyclops-blink-implant": [
        Fixture("cyclops_blink.c", "usr/bin/kworker", b"[kworker/0:1]")],
}

# Files close to an indicator that must not fire (path in the image -> content).
NEAR_MISSES: dict[str, bytes] = {
    "www/dlink.txt": b"User-Agent: xmlset_roodkcableoj\nedit by 04882 joel backdoor\n",
    "etc/tenda.conf": b"magic=w302r_mfg2\nport=7329\n",
    "etc/zyxel.txt": b"ZLD V4.60 Patch1 removes the zyfwp account; PrOw!aN_fX\n",
    "etc/fortios.conf": b"#config-version=FGT60C-5.00:user=Fortimanager_Access\n",
    "etc/screenos.txt": b"debug: %s(un='%s') = %u\n",
    "usr/binos/conf/nginx-conf/webui.conf":
        b"location /webui/logoutconfirm.html { proxy_pass http://127.0.0.1:8080; }\n",
    "nvram/running-config": b"username cisco_support privilege 1 secret 0 x\n"
                            b"username admin privilege 15 secret 0 y\n",
    "usr/src/xz/Makefile.am": b"EXTRA_DIST = files/bad-3-corrupt_lzma2.xz \\\n"
                              b"\tfiles/good-large_compressed.lzma\n",
    "www/netis.html": b"<title>netcore router</title> Login failed!\n",
    "etc/init.d/S40scfgmgr": b"#!/bin/sh\n/usr/sbin/scfgmgr &\n",
    "var/cyclops.txt": b"[kworker/0:1] [kworker/1:1] /var/tmp/a.tmp %s/rootfs_cfg "
                       b"%s/214688dsf46 hw: %02x:%02x:%02x:%02x:%02x:%02x "
                       b"disk_size: %lu disk_free: %lu uptime: %lu mem_size: %lu "
                       b"mem_free: %lu\n",  # every string, but not an ELF file
    "var/xz-prologue.bin": bytes.fromhex("f30f1efa554889f54c89ce5389fb81e700000080"
                                         "4883ec28488954241848894c2410"),  # not ELF
}


def rule_blocks() -> list[tuple[str, str, dict[str, str]]]:
    """(file, rule identifier, meta) for every rule declared in the bundled pack, read from
    the canonical layout yara-x's formatter gives any rule file."""
    blocks = []
    for path in sorted(RULES_DIR.glob("*.yar")):
        out = io.BytesIO()
        yara_x.Formatter().format(io.BytesIO(path.read_bytes()), out)
        text = out.getvalue().decode()
        for m in re.finditer(r"^(?:private |global )*rule (\w+)(.*?)^\}", text, re.M | re.S):
            meta_text = re.search(r"^  meta:\n(.*?)(?:^  \w+:|\Z)", m.group(2), re.M | re.S)
            meta = dict(re.findall(r'^\s*(\w+)\s*=\s*"(.*)"\s*$',
                                   meta_text.group(1) if meta_text else "", re.M))
            blocks.append((path.name, m.group(1), meta))
    return blocks


def run(ctx, workers: int = 1) -> tuple[list[Finding], object]:
    findings, runs = run_checks(ctx, [backdoors.CHECK], workers=workers)
    return findings, runs[0]


def gcc(source: Path, out: Path) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(["gcc", "-O2", "-w", "-o", str(out), str(source)], check=True,
                   capture_output=True)


@pytest.fixture(scope="module")
def positive_tree(tmp_path_factory) -> Path:
    if shutil.which("gcc") is None:
        pytest.skip("gcc is not installed")
    root = tmp_path_factory.mktemp("backdoors-positive")
    for fixtures in FIXTURES.values():
        for fx in fixtures:
            src, dest = DATA / fx.source, root / fx.path
            if src.suffix == ".c":
                gcc(src, dest)
            else:
                dest.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(src, dest)
    return root


@pytest.fixture(scope="module")
def positive_run(positive_tree):
    ctx = tree_context(positive_tree)
    return ctx, *run(ctx)


# -- the pack itself ------------------------------------------------------------------


def test_registered_under_its_id():
    assert "backdoors" in MODULES
    assert backdoors.CHECK.info.id == "known-backdoors"
    assert backdoors.CHECK.info.clause == "NS-4"
    assert backdoors.CHECK.info.data_files == tuple(
        f"checks/yara/{p.name}" for p in sorted(RULES_DIR.glob("*.yar")))


def test_bundled_pack_compiles_without_notes():
    pack = backdoors.compile_pack(RULES_DIR)
    assert pack.rules is not None
    assert pack.notes == []
    assert len(pack.origins) == len(list(RULES_DIR.glob("*.yar")))


def test_every_rule_has_complete_meta_and_a_unique_id():
    blocks = rule_blocks()
    assert len(blocks) >= 10
    ids = [meta.get("id") for _, _, meta in blocks]
    assert len(set(ids)) == len(ids), "duplicate rule ids"
    for name, ident, meta in blocks:
        missing = [k for k in REQUIRED_META if k not in meta]
        assert not missing, f"{name}:{ident} lacks meta {missing}"
        assert Severity(meta["severity"])
        assert meta["clause"] == "NS-4"
        assert re.fullmatch(r"https?://\S+", meta["source"]), f"{ident}: source is a URL"
        assert meta["cve"] == "" or re.fullmatch(r"CVE-\d{4}-\d{4,}", meta["cve"])
        assert len(meta["description"]) > 40 and meta["title"]


def test_every_rule_has_a_positive_fixture():
    """Adding a rule to the pack without a fixture here fails this test."""
    ids = {meta.get("id") for _, _, meta in rule_blocks()}
    assert ids == set(FIXTURES), (f"rules without fixtures: {sorted(ids - set(FIXTURES))}; "
                                  f"fixtures without rules: {sorted(set(FIXTURES) - ids)}")


# -- positives ------------------------------------------------------------------------


@pytest.mark.parametrize("rule_id", sorted(FIXTURES))
def test_rule_fires_on_its_fixture_at_the_right_offset(rule_id, positive_run):
    ctx, findings, _ = positive_run
    meta = next(m for _, _, m in rule_blocks() if m.get("id") == rule_id)
    for fx in FIXTURES[rule_id]:
        hits = [f for f in findings if f.rule == rule_id and f.evidence[0].path == fx.path]
        assert len(hits) == 1, f"{rule_id} did not fire on {fx.path}"
        finding = hits[0]
        assert finding.check == "known-backdoors"
        assert finding.severity == Severity(meta["severity"])
        assert finding.source == meta["source"]
        assert finding.title == meta["title"] and finding.explanation == meta["description"]
        assert finding.clause == "NS-4"
        assert finding.details["cve"] == (meta["cve"] or None)
        entry = ctx.entry("rootfs", fx.path)
        data = (ctx.tree_paths["rootfs"] / fx.path).read_bytes()
        indicator_seen = False
        for ev, fact in zip(finding.evidence, finding.details["matches"], strict=True):
            assert ev.sha256 == entry.sha256 == hashlib.sha256(data).hexdigest()
            assert ev.rule == rule_id and ev.offset == fact["offset"]
            matched = data[ev.offset:ev.offset + fact["length"]]
            if ev.hex is not None:
                assert bytes.fromhex(ev.hex) == matched[:len(bytes.fromhex(ev.hex))]
            else:  # a masked secret: verifiable by digest, never shown whole
                assert fact["sha256"] == hashlib.sha256(matched).hexdigest()
                assert matched.decode("latin-1") not in ev.text
            indicator_seen |= data[ev.offset:ev.offset + len(fx.indicator)] == fx.indicator
        assert indicator_seen, f"{rule_id}: no evidence points at {fx.indicator!r}"


def test_one_finding_per_rule_and_file(positive_run):
    _, findings, record = positive_run
    expected = {(rid, fx.path) for rid, fxs in FIXTURES.items() for fx in fxs}
    assert {(f.rule, f.evidence[0].path) for f in findings} == expected
    assert record.skipped == []


def test_secrets_are_masked(positive_run):
    _, findings, _ = positive_run
    zyxel = next(f for f in findings if f.rule == "zyxel-zyfwp-account"
                 and f.evidence[0].path == "usr/sbin/zyfwupd")
    ev = zyxel.evidence[0]
    assert ev.hex is None and "PrOw!aN_fXp" not in ev.text and ev.text.startswith("Pr")
    assert zyxel.details["matches"][0]["sha256"] == hashlib.sha256(b"PrOw!aN_fXp").hexdigest()
    dlink = next(f for f in findings if f.rule == "dlink-xmlset-useragent")
    assert dlink.evidence[0].text == "xmlset_roodkcableoj28840ybtide"  # not a secret


def test_same_findings_in_worker_processes(positive_tree, positive_run, tmp_path):
    """Big enough to fork the workers: they compile (or inherit) the pack themselves."""
    _, inline, _ = positive_run
    root = tmp_path / "image"
    shutil.copytree(positive_tree, root)
    write(root, "var/filler.bin", b"\0" * (5 * 1024 * 1024))
    findings, record = run(tree_context(root), workers=2)
    assert [f.id for f in findings] == [f.id for f in inline]
    assert record.examined == len([p for p in root.rglob("*") if p.is_file()])


def test_deterministic(positive_tree, positive_run):
    _, first, _ = positive_run
    again, _ = run(tree_context(positive_tree))
    assert [f.model_dump() for f in again] == [f.model_dump() for f in first]


# -- negatives ------------------------------------------------------------------------


def test_silent_on_the_sample_firmware():
    ctx = tree_context(SAMPLE_ROOTFS)
    findings, record = run(ctx)
    assert findings == []
    scanned = [f for f in ctx.files if f.kind == EntryKind.file and f.size > 0]
    assert record.examined == len(scanned) and record.skipped == []
    assert any(f.file_type == "elf" for f in scanned)
    assert any(f.file_type == "script" for f in scanned)


def test_near_misses_stay_silent(tmp_path):
    for rel, content in NEAR_MISSES.items():
        write(tmp_path, rel, content)
    findings, record = run(tree_context(tmp_path))
    assert findings == [], [(f.rule, f.evidence[0].path) for f in findings]
    assert record.examined == len(NEAR_MISSES)


def _host_view(path: Path) -> FileView:
    data = path.read_bytes()
    entry = FileEntry(tree="host", path=str(path).lstrip("/"), kind=EntryKind.file,
                      size=len(data), mode="0644", sha256=hashlib.sha256(data).hexdigest())
    return FileView(entry=entry, data=data, truncated=False)


HOST_BINARIES = ["/usr/lib/x86_64-linux-gnu/liblzma.so.5", "/usr/bin/xz", "/usr/bin/ssh",
                 "/usr/lib/x86_64-linux-gnu/libcrypto.so.3", "/bin/bash"]


@pytest.mark.parametrize("host_path", HOST_BINARIES)
def test_silent_on_clean_host_binaries(host_path):
    """Clean x86-64 Debian builds (xz 5.4 liblzma among them) next to the x86-64 rules."""
    path = Path(host_path)
    if not path.exists():
        pytest.skip(f"{host_path} not on this machine")
    out = backdoors.CHECK.scan_file(_host_view(path.resolve()))
    assert out.findings == [] and out.notes == []


# -- bad rules and bad input ----------------------------------------------------------

EXTRA_GOOD = """
rule extra_marker {
    meta:
        id = "extra-marker"
        title = "Extra marker"
        severity = "low"
        source = "https://example.org/extra"
        description = "A marker rule loaded from the extra rules directory."
    strings:
        $m = "spyproof-extra-marker"
    condition:
        $m
}
"""
EXTRA_BROKEN = 'rule broken_rule { strings: $a = "x" condition: $a and $nope }\n'
EXTRA_NO_META = 'rule bare_rule { strings: $a = "bare-rule-hit" condition: $a }\n'
EXTRA_BAD_SEVERITY = """
rule odd_severity { meta: id = "odd" severity = "catastrophic"
    strings: $a = "odd-severity-hit" condition: $a }
"""


def test_broken_extra_rule_is_noted_and_the_rest_still_run(tmp_path, monkeypatch,
                                                           positive_tree):
    rules = tmp_path / "rules"
    write(rules, "good.yar", EXTRA_GOOD)
    write(rules, "broken.yar", EXTRA_BROKEN)
    write(rules, "bare.yara", EXTRA_NO_META)
    write(rules, "odd.yar", EXTRA_BAD_SEVERITY)
    write(rules, "notes.txt", "not a rule file")
    monkeypatch.setenv(backdoors.EXTRA_ENV, str(rules))
    image = tmp_path / "image"
    write(image, "bin/agent", b"\x7fELF...spyproof-extra-marker...")
    write(image, "etc/bare", b"bare-rule-hit odd-severity-hit")
    shutil.copyfile(positive_tree / "bin/webs", image / "bin/webs")
    findings, record = run(tree_context(image))
    by_rule = {f.rule: f for f in findings}
    assert set(by_rule) == {"extra-marker", "bare_rule", "odd", "dlink-xmlset-useragent"}
    marker = by_rule["extra-marker"]
    assert marker.severity == Severity.low and marker.clause == "NS-4"
    assert marker.source == "https://example.org/extra"
    assert marker.details["rule_file"] == str(rules / "good.yar")
    assert marker.evidence[0].offset == 7
    bare = by_rule["bare_rule"]
    assert bare.severity == Severity.medium and bare.source is None
    assert bare.details["cve"] is None and "bare.yara" in bare.explanation
    assert by_rule["odd"].severity == Severity.medium
    broken = [n for n in record.skipped if "broken.yar" in n]
    assert len(broken) == 1 and "unknown pattern `$nope`" in broken[0]
    assert any("odd" in n and "catastrophic" in n for n in record.skipped)
    assert not any("notes.txt" in n for n in record.skipped)


def test_missing_extra_directory_is_noted(tmp_path, monkeypatch):
    monkeypatch.setenv(backdoors.EXTRA_ENV, str(tmp_path / "nowhere"))
    write(tmp_path / "image", "etc/hostname", "router\n")
    findings, record = run(tree_context(tmp_path / "image"))
    assert findings == []
    assert any(backdoors.EXTRA_ENV in n and "nowhere" in n for n in record.skipped)


def test_broken_bundled_rule_file_costs_only_itself(tmp_path):
    pack_dir = tmp_path / "pack"
    write(pack_dir, "a.yar", (RULES_DIR / "dlink_xmlset_useragent.yar").read_text())
    write(pack_dir, "b.yar", 'rule kept { strings: $k = "kept-hit" condition: $k }\n'
          + EXTRA_BROKEN)
    pack = backdoors.compile_pack(pack_dir)
    assert len(pack.notes) == 1 and "bundled:b.yar" in pack.notes[0]
    assert "unknown pattern" in pack.notes[0]
    hits = pack.scanner().scan(b"..xmlset_roodkcableoj28840ybtide..kept-hit").matching_rules
    assert sorted(r.identifier for r in hits) == ["dlink_xmlset_useragent_backdoor", "kept"]


def test_no_compilable_rules_means_a_note_not_a_crash(tmp_path, monkeypatch):
    broken = tmp_path / "pack"
    write(broken, "only.yar", EXTRA_BROKEN)
    monkeypatch.setattr(backdoors, "bundled_rules_dir", lambda: broken)
    backdoors.clear_cache()
    try:
        write(tmp_path / "image", "bin/webs", b"xmlset_roodkcableoj28840ybtide")
        findings, record = run(tree_context(tmp_path / "image"))
    finally:
        backdoors.clear_cache()
    assert findings == []
    assert any("only.yar" in n for n in record.skipped)
    assert any("no YARA rule file compiled cleanly" in n for n in record.skipped)


def test_bad_input_never_stops_the_scan(tmp_path, positive_tree):
    root = tmp_path / "image"
    write(root, "data/garbage.bin", os.urandom(64 * 1024))
    write(root, "etc/latin1.conf", "password=caf\xe9\n".encode("latin-1") + b"\xff\xfe\x00")
    write(root, "etc/empty", b"")
    (root / "loop-a").symlink_to("loop-b")
    (root / "loop-b").symlink_to("loop-a")
    (root / "bin").mkdir()
    (root / "bin" / "webs-link").symlink_to("/bin/webs")  # absolute: inside the image
    shutil.copyfile(positive_tree / "bin/webs", root / "bin/webs")
    big = root / "firmware" / "huge.img"
    big.parent.mkdir()
    with big.open("wb") as fh:
        fh.truncate(backdoors.MAX_FILE_BYTES + 1)
    findings, record = run(tree_context(root))
    assert [(f.rule, f.evidence[0].path) for f in findings] == [
        ("dlink-xmlset-useragent", "bin/webs")]
    assert any("firmware/huge.img" in n and "over the" in n for n in record.skipped)
    assert record.examined == 3  # garbage, latin1, webs; not the empty file or links


def test_truncated_view_is_noted():
    data = b"xmlset_roodkcableoj28840ybtide"
    entry = FileEntry(tree="rootfs", path="bin/webs", kind=EntryKind.file,
                      size=len(data) * 10, mode="0755", sha256="0" * 64)
    out = backdoors.CHECK.scan_file(FileView(entry=entry, data=data, truncated=True))
    assert [f.rule for f in out.findings] == ["dlink-xmlset-useragent"]
    assert out.findings[0].details["scanned_bytes"] == len(data)
    assert out.notes == [f"rootfs/bin/webs: only the first {len(data)} bytes scanned"]


def test_evidence_is_capped_but_every_match_counted(tmp_path):
    write(tmp_path, "etc/many", b" w302r_mfg\n" * 20)
    findings, _ = run(tree_context(tmp_path))
    (finding,) = findings
    assert finding.details["match_count"] == 20
    assert len(finding.evidence) == backdoors.MAX_EVIDENCE
    assert [e.offset for e in finding.evidence] == [1 + 11 * i for i in range(8)]


def test_runs_through_the_registry(positive_tree, tmp_path):
    """The way a scan runs it (once every check module of the registry exists)."""
    import checks_util

    write(tmp_path, "bin/webs", (positive_tree / "bin/webs").read_bytes())
    try:
        findings, record = checks_util.run("known-backdoors", tree_context(tmp_path))
    except ImportError as exc:  # another check module is not written yet
        pytest.skip(f"registry incomplete: {exc}")
    assert [f.rule for f in findings] == ["dlink-xmlset-useragent"]
    assert record.id == "known-backdoors" and record.examined == 1
