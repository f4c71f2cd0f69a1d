"""The endpoints check (NS-3): extraction, noise filter, classification, flags, the runner.

Data entries are tested table-driven from ``data/checks/endpoints.yaml`` (each entry's
positive and negative examples, and generated ones for networks and domain lists).
Fixtures: ``tests/data/checks/endpoints/`` (see its README), the real Debian binaries of
``examples/sample-firmware/rootfs``, and an ELF built with gcc.
"""

from __future__ import annotations

import os
import random
import shutil
import subprocess
from pathlib import Path

import pytest

from checks_util import tree_context, write
from spyproof.checks.base import CheckContext
from spyproof.checks.endpoints import CHECK, EndpointsCheck
from spyproof.checks.endpoints_classify import classify
from spyproof.checks.endpoints_data import knowledge
from spyproof.checks.endpoints_extract import (
    Extractor,
    ascii_strings,
    utf16_strings,
)
from spyproof.checks.endpoints_filter import judge, judge_address, judge_name
from spyproof.checks.endpoints_flags import cron_jobs, periodic_loops, programs
from spyproof.checks.runner import run_checks
from spyproof.models import Finding

HERE = Path(__file__).resolve().parent
FIXTURES = HERE / "data" / "checks" / "endpoints"
SAMPLE = HERE.parent / "examples" / "sample-firmware" / "rootfs"
K = knowledge()


def run(ctx: CheckContext, check=CHECK) -> tuple[list[Finding], object]:
    """The endpoints check through the real runner (per-file pass and image-wide step)."""
    findings, runs = run_checks(ctx, [check], workers=1)
    return findings, runs[0]


def endpoints(findings: list[Finding]) -> dict[str, Finding]:
    return {f.details["value"]: f for f in findings if f.rule != "endpoint-inventory"}


def summary(findings: list[Finding]) -> Finding:
    return next(f for f in findings if f.rule == "endpoint-inventory")


def candidate(text: str):
    found = Extractor(K).extract(text)
    assert found, f"nothing extracted from {text!r}"
    return min(found, key=lambda c: c.start)


# -- the data file --------------------------------------------------------------------


def test_data_file_is_versioned_and_every_entry_has_a_source():
    assert K.version == 1
    for group in (K.noise_ipv4, K.noise_ipv6, K.private_ipv4, K.private_ipv6):
        assert all(r.source.startswith("http") for r in group)
    for group in (K.noise_names, K.private_names, K.documentation, K.noise_urls,
                  K.noise_contexts, K.rules, K.identifiers, K.crontabs):
        assert group and all(e.source.startswith("http") for e in group)
    assert {r.cls for r in K.rules} <= set(K.classes)
    assert set(K.classes) == {"update", "time", "dns", "telemetry", "cloud-management",
                              "unknown"}


def test_tld_list_is_the_root_zone():
    assert {"com", "org", "net", "cn", "de", "io", "cloud"} <= K.tlds
    assert len(K.tlds) > 1000
    assert all("." not in t for t in K.tlds)
    assert not {"6", "html", "conf", "cnf", "local"} & K.tlds


RULES = {r.id: r for r in K.rules}


@pytest.mark.parametrize("rule_id", sorted(RULES))
def test_classification_rule_examples(rule_id):
    rule = RULES[rule_id]
    assert rule.positive and rule.negative, f"{rule_id} needs examples"
    for text in rule.positive:
        c = candidate(text)
        got = classify(K, host=c.host, host_kind=c.host_kind, scheme=c.scheme, path=c.path,
                       port=c.port)
        assert got.rule is rule, f"{text!r} -> {got.rule.id if got.rule else None}"
        assert got.cls == rule.cls
    for text in rule.negative:
        c = candidate(text)
        got = classify(K, host=c.host, host_kind=c.host_kind, scheme=c.scheme, path=c.path,
                       port=c.port)
        assert got.rule is not rule, f"{text!r} must not match {rule_id}"


IDS = {i.id: i for i in K.identifiers}


@pytest.mark.parametrize("rule_id", sorted(IDS))
def test_identifier_rule_examples(rule_id):
    rule = IDS[rule_id]
    assert rule.positive and rule.negative
    for text in rule.positive:
        assert rule.pattern.search(text), text
        if rule.hints:  # the speed-up never hides a match
            assert any(h in text.lower() for h in rule.hints), text
    for text in rule.negative:
        assert not rule.pattern.search(text), text


@pytest.mark.parametrize("entry", K.noise_ipv4 + K.noise_ipv6, ids=lambda e: str(e.network))
def test_noise_networks(entry):
    net = entry.network
    inside = net.network_address + (1 if net.num_addresses > 1 else 0)
    assert judge_address(K, str(inside)).noise
    if int(net.broadcast_address) == (1 << net.max_prefixlen) - 1:
        return  # the last range: nothing after it
    after = net.broadcast_address + 1
    if not any(after in r.network for r in K.noise_ipv4 + K.noise_ipv6):
        assert judge_address(K, str(after)).noise is None


@pytest.mark.parametrize("entry", K.private_ipv4 + K.private_ipv6, ids=lambda e: str(e.network))
def test_private_networks_are_kept_and_marked(entry):
    net = entry.network
    verdict = judge_address(K, str(net.network_address + 5))
    assert verdict.noise is None and verdict.scope == "private"
    outside = judge_address(K, str(net.broadcast_address + 1))
    assert outside.scope == "public"


@pytest.mark.parametrize("entry", K.noise_names, ids=lambda e: e.suffix)
def test_noise_names(entry):
    assert judge_name(K, f"host.{entry.suffix}").noise
    assert judge_name(K, f"{entry.suffix.replace('.', '-')}.vendor-cloud.com").noise is None


@pytest.mark.parametrize("entry", K.private_names, ids=lambda e: e.suffix)
def test_private_names(entry):
    verdict = judge_name(K, f"router.{entry.suffix}")
    assert verdict.noise is None and verdict.scope == "private"
    assert judge_name(K, f"router.{entry.suffix}-vendor.com").scope == "public"


@pytest.mark.parametrize("site", K.documentation, ids=lambda d: d.name)
def test_documentation_sites(site):
    assert judge_name(K, site.name, "/any/page").noise
    assert judge_name(K, f"x{site.name}", "/x").noise is None  # whole labels only
    if not site.exact:
        assert judge_name(K, f"www.{site.name}", "/").noise
    for url in site.positive:
        assert judge(K, candidate(url)).noise, url
    for url in site.negative:
        assert judge(K, candidate(url)).noise is None, url


@pytest.mark.parametrize("rule", K.noise_urls + K.noise_contexts, ids=lambda r: r.id)
def test_url_and_context_noise_rules(rule):
    for text in rule.positive:
        assert rule.pattern.search(text), text
    for text in rule.negative:
        assert not rule.pattern.search(text), text


def test_documentation_shapes():
    from importlib import resources

    import yaml

    raw = yaml.safe_load(resources.files("spyproof.data").joinpath("checks")
                         .joinpath("endpoints.yaml").read_text())["noise"]
    for key in ("documentation_host_labels", "documentation_path_segments"):
        for url in raw[key]["positive"]:
            assert judge(K, candidate(url)).noise, url
        for url in raw[key]["negative"]:
            assert judge(K, candidate(url)).noise is None, url


# -- extraction -----------------------------------------------------------------------


def test_noise_fixture_yields_nothing(tmp_path):
    write(tmp_path, "etc/noise.conf", (FIXTURES / "noise.conf").read_text())
    findings, run_ = run(tree_context(tmp_path))
    assert findings == [], [f.title for f in findings]
    assert run_.examined == 1


@pytest.mark.parametrize("text", [
    "Linux version 2.6.32.61 (gcc)", "/lib/modules/2.6.32.61/kernel", "OpenSSL 1.1.1f",
    "1.2.840.113549.1.1.1", "ZLIB_1.2.0.2", "v10.20.30.40", "1.2.3.4-rc1", "010.1.1.1",
    "firmware version: 10.2.3.4", "Linux version 12.6.32.61", "server 12.2.0.1-rc2",
    "/lib/modules/12.6.32.61/x",
    "256.1.1.1", "12:30:45", "00:11:22:33:44:55", "std::string", "libc.so.6", "index.html",
    "busybox.conf", "setup.py", "this.id", "user.email", "os.date(x)", "a.b",
])
def test_extraction_rejects(text):
    assert Extractor(K).extract(text) == []


@pytest.mark.parametrize("text,kind,value,port", [
    ("server=8.8.8.8", "ipv4", "8.8.8.8", None),
    ("host 203.1.1.7:8883", "ipv4", "203.1.1.7", 8883),
    ("addr 2606:4700:4700::1111", "ipv6", "2606:4700:4700::1111", None),
    ("http://[2606:4700:4700::1111]:8443/x", "url", "http://[2606:4700:4700::1111]:8443/x",
     8443),
    ("SERVER=mqtt.vendor-cloud.net:1883", "host", "mqtt.vendor-cloud.net", 1883),
    ("'%s.iot.us-east-1.amazonaws.com'", "host", "*.iot.us-east-1.amazonaws.com", None),
    ("url=https://%s.azure-devices.net/devices", "url",
     "https://%s.azure-devices.net/devices", None),
    ("visit pool.ntp.org.", "host", "pool.ntp.org", None),
    ("relay hidden3xyzabc.onion", "host", "hidden3xyzabc.onion", None),
    ("mqtts://broker.vendor-cloud.net:8883/t", "url", "mqtts://broker.vendor-cloud.net:8883/t",
     8883),
])
def test_extraction_finds(text, kind, value, port):
    c = candidate(text)
    assert (c.kind, c.value, c.port) == (kind, value, port)
    if kind != "ipv6":
        assert value.removeprefix("*.") in text[c.start:c.end] or "%s" in value


def test_url_template_host_and_class():
    c = candidate("url=https://%s.azure-devices.net/devices")
    assert c.host == "*.azure-devices.net"
    assert classify(K, host=c.host, host_kind=c.host_kind).cls == "cloud-management"


def test_url_host_is_not_reported_again_as_bare_host():
    found = Extractor(K).extract("wget http://stats.vendor-cloud.net/x; ping 8.8.8.8")
    assert [c.kind for c in found] == ["url", "ipv4"]


def test_url_credentials_are_masked(tmp_path):
    write(tmp_path, "etc/upload.sh",
          "#!/bin/sh\ncurl -T /tmp/log ftp://uploader:S3cretPassw0rd@logs.vendor-cloud.net/in\n",
          0o755)
    write(tmp_path, "etc/short.conf", "url=https://a:a@ota.vendor-cloud.net/a\n")
    findings, _ = run(tree_context(tmp_path))
    got = endpoints(findings)
    f = got["ftp://uploader:S3********…(14 chars)@logs.vendor-cloud.net/in"]
    blob = f.model_dump_json()
    assert "S3cretPassw0rd" not in blob
    assert f.details["class"] == "telemetry"
    short = got["https://a:*@ota.vendor-cloud.net/a"]  # only the password is masked
    assert short.evidence[0].text == "url=https://a:*@ota.vendor-cloud.net/a"


def test_binary_strings_and_offsets():
    data = (b"\x7fELF\x00\x01\xff" + b"junk\x00" + b"\xff192.168.0.20\x00"
            + b"abc\x00https://ota.vendor-cloud.net/fw\x00\x01" + "http://u16.vendor-cloud.net/"
            .encode("utf-16-le") + b"\x00\x00")
    ascii_ = ascii_strings(data)
    found = {c.value: ascii_.offset(c.start) for c in Extractor(K).extract(ascii_.text)}
    assert found["192.168.0.20"] == data.index(b"192.168.0.20")
    assert found["https://ota.vendor-cloud.net/fw"] == data.index(b"https://ota")
    wide = utf16_strings(data, 6)
    found16 = {c.value: wide.offset(c.start) for c in Extractor(K).extract(wide.text)}
    assert found16["http://u16.vendor-cloud.net/"] == data.index("http://u16".encode("utf-16-le"))


# -- classes, scope and severity through the runner ------------------------------------


def test_each_class_and_private_scope(tmp_path):
    write(tmp_path, "etc/config/cloud", (FIXTURES / "classes.conf").read_text())
    findings, _ = run(tree_context(tmp_path))
    got = {v: (f.details["class"], f.details["scope"], f.severity)
           for v, f in endpoints(findings).items()}
    assert got == {
        "https://firmware.vendor-cloud.net/releases/latest.json": ("update", "public", "low"),
        "time.vendor-cloud.net": ("time", "public", "info"),
        "9.9.9.9": ("dns", "public", "info"),
        "https://analytics.vendor-cloud.net/v1/events": ("telemetry", "public", "medium"),
        "http://acs.isp-operator.net:7547/cwmp": ("cloud-management", "public", "medium"),
        "https://api.zyxcorp.net/v1/objects": ("unknown", "public", "low"),
        "10.20.30.40": ("unknown", "private", "info"),
    }
    f = endpoints(findings)["9.9.9.9"]
    ev = f.evidence[0]
    assert (ev.path, ev.line, ev.rule) == ("etc/config/cloud", 4, "extract/ipv4")
    data = (tmp_path / "etc/config/cloud").read_bytes()
    assert data[ev.offset:ev.offset + 7] == b"9.9.9.9"
    assert f.clause == "NS-3" and f.source == RULES["dns-quad9"].source
    assert f.details["kind"] == "ipv4" and f.details["host"] == "9.9.9.9"
    s = summary(findings)
    assert s.severity == "info"
    assert s.details["private"] == ["10.20.30.40"]
    assert s.details["by_class"]["dns"] == ["9.9.9.9"]
    assert s.details["counts"]["telemetry"] == 1


def test_port_from_the_next_config_line(tmp_path):
    write(tmp_path, "etc/config/mqtt",
          "config broker 'cloud'\n\toption host 'things.zyxcorp.net'\n\toption port '8883'\n")
    findings, _ = run(tree_context(tmp_path))
    f = endpoints(findings)["things.zyxcorp.net"]
    assert f.details["port"] == 8883
    assert f.details["class"] == "cloud-management"  # by port: MQTT over TLS


# -- flags ------------------------------------------------------------------------------


AGENT = """#!/bin/sh
MAC=$(cat /sys/class/net/eth0/address)
while true; do
    wget -q -O- "https://api.zyxcorp.net/v1/objects?id=$MAC"
    sleep 300
done
"""


def test_identifiers_and_loop_make_it_high(tmp_path):
    write(tmp_path, "usr/bin/agent", AGENT, 0o755)
    findings, _ = run(tree_context(tmp_path))
    f = endpoints(findings)["https://api.zyxcorp.net/v1/objects?id=$MAC"]
    assert f.severity == "high"
    assert f.details["flags"] == ["collects-identifiers", "scheduled"]
    assert f.details["identifiers"] == ["mac"]
    rules = [e.rule for e in f.evidence]
    assert rules == ["extract/url", "identifier/mac-sysfs", "schedule/loop"]
    assert [e.line for e in f.evidence] == [4, 2, 3]
    assert summary(findings).details["flagged"] == [f.details["value"]]


def test_identifiers_alone_stay_at_class_severity(tmp_path):
    write(tmp_path, "usr/bin/agent", AGENT.replace("while true; do", "if true; then")
          .replace("done", "fi"), 0o755)
    findings, _ = run(tree_context(tmp_path))
    f = next(iter(endpoints(findings).values()))
    assert f.details["flags"] == ["collects-identifiers"]
    assert f.severity == "low"  # unknown class


def test_identifiers_far_away_do_not_flag(tmp_path):
    script = ("#!/bin/sh\nIMEI=$(uqmi --get-imei)\n" + "echo x\n" * 60
              + "wget https://api.zyxcorp.net/v1/objects\n")
    write(tmp_path, "usr/bin/agent", script, 0o755)
    findings, _ = run(tree_context(tmp_path))
    assert next(iter(endpoints(findings).values())).details["flags"] == []


def test_crontab_schedules_a_script(tmp_path):
    write(tmp_path, "usr/sbin/report.sh", "#!/bin/sh\nSN=$(cat /proc/device-tree/serial-number)"
          "\ncurl -d sn=$SN https://cloud.zyxcorp.net/api/heartbeat\n", 0o755)
    write(tmp_path, "etc/crontabs/root", "# m h dom mon dow command\n"
          "*/5 * * * * /usr/sbin/report.sh >/dev/null 2>&1\n")
    findings, _ = run(tree_context(tmp_path))
    f = endpoints(findings)["https://cloud.zyxcorp.net/api/heartbeat"]
    assert f.details["class"] == "cloud-management"
    assert f.details["flags"] == ["collects-identifiers", "scheduled"]
    assert f.severity == "high"
    cron = [e for e in f.evidence if e.rule == "schedule/crontab"]
    assert [(e.path, e.line) for e in cron] == [("etc/crontabs/root", 2)]
    assert "crontab etc/crontabs/root line 2" in f.details["schedule"]


def test_reboot_job_and_private_endpoints_are_not_high(tmp_path):
    write(tmp_path, "usr/sbin/report.sh", "#!/bin/sh\nSN=$(cat /proc/device-tree/serial-number)"
          "\ncurl -d sn=$SN https://cloud.zyxcorp.net/api/heartbeat http://10.0.0.9/x\n", 0o755)
    write(tmp_path, "etc/crontabs/root", "@reboot /usr/sbin/report.sh\n")
    findings, _ = run(tree_context(tmp_path))
    got = endpoints(findings)
    assert got["https://cloud.zyxcorp.net/api/heartbeat"].severity == "medium"
    assert "scheduled" not in got["https://cloud.zyxcorp.net/api/heartbeat"].details["flags"]
    assert got["http://10.0.0.9/x"].severity == "info"


def test_endpoint_on_a_cron_line_and_one_hop(tmp_path):
    write(tmp_path, "etc/crontab", "SHELL=/bin/sh\n"
          "17 * * * * root wget -q -O- http://track.zyxcorp.net/p?imei=$(cat /tmp/imei)\n"
          "*/10 * * * * root /usr/lib/agent/run.sh\n")
    write(tmp_path, "usr/lib/agent/run.sh", "#!/bin/sh\nexec /usr/lib/agent/beacon\n", 0o755)
    write(tmp_path, "usr/lib/agent/beacon", "#!/bin/sh\nwget https://ingest.zyxcorp.net/b\n",
          0o755)
    findings, _ = run(tree_context(tmp_path))
    got = endpoints(findings)
    on_line = got["http://track.zyxcorp.net/p?imei=$(cat"]
    assert on_line.severity == "high"
    assert on_line.details["identifiers"] == ["imei"]
    hop = got["https://ingest.zyxcorp.net/b"]
    assert "scheduled" in hop.details["flags"]
    assert any("run by usr/lib/agent/run.sh" in s for s in hop.details["schedule"])


def test_loop_in_another_script_schedules_a_binary(tmp_path):
    write(tmp_path, "etc/init.d/agent", "#!/bin/sh\nwhile :; do\n  /usr/bin/stats\n  sleep 60\n"
          "done &\n", 0o755)
    write(tmp_path, "usr/bin/stats", "#!/bin/sh\necho imei=$(cat /tmp/imei) | "
          "nc stats.zyxcorp.net 9000\n", 0o755)
    findings, _ = run(tree_context(tmp_path))
    f = endpoints(findings)["stats.zyxcorp.net"]
    assert f.severity == "high"
    assert any(e.rule == "schedule/loop" and e.path == "etc/init.d/agent" for e in f.evidence)


def test_cron_parsing_and_programs():
    jobs = list(cron_jobs("# c\nX=1\n@reboot /a\n@hourly /b\n*/5 * * * * /c -x\n1 2\n", False))
    assert [(j.line, j.command) for j in jobs] == [(4, "/b"), (5, "/c -x")]
    sys_jobs = list(cron_jobs("0 * * * * root /usr/bin/x\n", True))
    assert sys_jobs[0].command == "/usr/bin/x"
    assert programs("nice -n 5 ntpd -q >/dev/null")[:1] == ["/dev/null"]
    assert "/usr/sbin/ntpd" in programs("nice -n 5 ntpd -q")
    loops = periodic_loops(K, "#!/bin/sh\nwhile true; do\n  for i in 1 2; do x; done\n"
                              "  sleep 5\ndone\necho after\n")
    assert [(lp.first, lp.last, lp.sleep_line) for lp in loops] == [(2, 5, 4)]
    assert periodic_loops(K, "while true; do x; done\n") == []  # no sleep: not periodic


# -- a real ELF -------------------------------------------------------------------------


def test_compiled_agent_run_from_crontab_is_high(tmp_path):
    gcc = shutil.which("gcc")
    if gcc is None:
        pytest.skip("gcc not installed")
    binary = tmp_path / "img" / "usr" / "sbin" / "statsd-agent"
    binary.parent.mkdir(parents=True)
    subprocess.run([gcc, "-O1", "-o", str(binary), str(FIXTURES / "agent.c")], check=True,
                   capture_output=True)
    write(tmp_path / "img", "etc/crontabs/root", "*/15 * * * * /usr/sbin/statsd-agent\n")
    findings, _ = run(tree_context(tmp_path / "img"))
    url = "https://collect.devicestats-cloud.com/v2/ingest"
    f = endpoints(findings)[url]
    assert f.severity == "high"
    assert f.details["class"] == "telemetry" and f.details["identifiers"] == ["imei"]
    data = binary.read_bytes()
    ev = {e.rule: e for e in f.evidence}
    assert ev["extract/url"].offset == data.index(url.encode())
    assert ev["extract/url"].line is None and ev["extract/url"].path == "usr/sbin/statsd-agent"
    assert data[ev["identifier/imei-at"].offset:].startswith(b"AT+CGSN")
    assert ev["schedule/crontab"].path == "etc/crontabs/root"
    assert ev["extract/url"].sha256 and len(ev["extract/url"].sha256) == 64


# -- the sample firmware (real Debian binaries) ----------------------------------------


@pytest.fixture(scope="module")
def sample_findings():
    return run(tree_context(SAMPLE))


def test_sample_firmware_binaries_raise_nothing_high(sample_findings):
    findings, run_ = sample_findings
    elf_paths = {"bin/busybox", "lib/libc.so.6", "lib/ld.so.1", "lib/libm.so.6",
                 "lib/libresolv.so.2", "lib/libz.so.1.2.13", "usr/lib/libcrypto.so.3",
                 "usr/lib/libssl.so.3", "usr/sbin/dnsmasq", "usr/sbin/dropbear",
                 "usr/bin/dbclient", "usr/bin/dropbearkey"}
    from_elf = [f for f in findings if f.evidence[0].path in elf_paths
                and f.rule != "endpoint-inventory"]
    assert all(f.details["scope"] == "private" for f in from_elf)
    assert {f.details["value"] for f in from_elf} == {"192.168.0.20", "192.168.0.254"}
    assert not [f for f in findings if f.severity in ("high", "critical")
                and f.evidence[0].path in elf_paths]
    # project, licence and namespace links of OpenSSL, BusyBox, glibc, Dropbear, dnsmasq
    values = " ".join(f.details["value"] for f in findings if "value" in f.details)
    for doc in ("openssl.org", "debian.org", "github.com", "freedesktop.org", "ucc.asn.au",
                "thekelleys", "in-addr.arpa", "127.0.0.1"):
        assert doc not in values
    assert run_.examined >= 20


def test_sample_firmware_finds_the_planted_agent_and_configs(sample_findings):
    findings, _ = sample_findings
    got = {v: (f.severity, f.details["class"], f.evidence[0].path)
           for v, f in endpoints(findings).items()}
    assert got == {
        "http://telemetry.acme-cpe-cloud.net:8080/v1/report?mac=${MAC}&sn=${SERIAL}":
            ("high", "telemetry", "usr/bin/cloud-agent"),
        "8.8.8.8": ("info", "dns", "etc/dnsmasq.conf"),
        "0.pool.ntp.org": ("info", "time", "etc/config/system"),
        "ntp.acme-cpe-cloud.net": ("info", "time", "etc/config/system"),
        "192.168.1.1": ("info", "unknown", "etc/config/network"),
        "192.168.1.100": ("info", "unknown", "etc/dnsmasq.conf"),
        "192.168.1.250": ("info", "unknown", "etc/dnsmasq.conf"),
        "192.168.0.20": ("info", "unknown", "bin/busybox"),
        "192.168.0.254": ("info", "unknown", "bin/busybox"),
    }
    agent = endpoints(findings)[
        "http://telemetry.acme-cpe-cloud.net:8080/v1/report?mac=${MAC}&sn=${SERIAL}"]
    assert agent.details["identifiers"] == ["mac", "serial"]
    assert agent.details["port"] == 8080


def test_deterministic_and_same_on_two_workers(sample_findings):
    again, _ = run_checks(tree_context(SAMPLE), [CHECK], workers=2)  # forked workers
    assert [f.model_dump() for f in again] == [f.model_dump() for f in sample_findings[0]]


# -- bad input ----------------------------------------------------------------------------


def test_binary_garbage_invalid_utf8_and_symlink_loops(tmp_path):
    rng = random.Random(7)
    write(tmp_path, "lib/firmware/blob.bin", rng.randbytes(1 << 20)
          + b"\x00http://upd.zyxcorp.net/fw.bin\x00" + rng.randbytes(4096))
    write(tmp_path, "etc/broken.conf", b"# bad \xc3( utf8 \xa0\xa1\nserver=vendor.zyxcorp.net"
          b"\n\x80\x81 last\n")
    os.symlink("loop-b", tmp_path / "usr-loop-a")
    os.symlink("usr-loop-a", tmp_path / "loop-b")
    write(tmp_path, "etc/crontabs/root", "* * * * * /usr-loop-a\n* * * * * /missing/prog\n")
    findings, run_ = run(tree_context(tmp_path))
    got = endpoints(findings)
    assert got["http://upd.zyxcorp.net/fw.bin"].details["class"] == "update"
    blob = got["http://upd.zyxcorp.net/fw.bin"].evidence[0]
    assert blob.offset == (1 << 20) + 1
    broken = got["vendor.zyxcorp.net"].evidence[0]
    assert broken.line == 2
    # compressed/encrypted data: no bare host names guessed out of random bytes
    assert {f.details["kind"] for f in got.values() if f.evidence[0].path.endswith("blob.bin")
            } == {"url"}
    assert run_.examined == 3


def test_huge_file_is_capped_and_noted(tmp_path):
    class Small(EndpointsCheck):
        max_bytes = 4096

    body = b"server=first.zyxcorp.net\n" + b"#" * 8000 + b"\nserver=late.zyxcorp.net\n"
    write(tmp_path, "etc/big.conf", body)
    findings, run_ = run(tree_context(tmp_path), Small())
    got = endpoints(findings)
    assert "first.zyxcorp.net" in got and "late.zyxcorp.net" not in got
    assert any("only the first 4096" in n for n in run_.skipped)


def test_skipped_documentation_paths_are_noted(tmp_path):
    write(tmp_path, "usr/share/doc/pkg/README", "see https://tracker.zyxcorp.net/x\n")
    write(tmp_path, "etc/x.conf", "server=tracker.zyxcorp.net\n")
    findings, run_ = run(tree_context(tmp_path))
    assert {f.evidence[0].path for f in endpoints(findings).values()} == {"etc/x.conf"}
    assert any("usr/share/doc/*" in n for n in run_.skipped)


def test_too_many_endpoints_in_one_file_are_counted(tmp_path, monkeypatch):
    monkeypatch.setitem(K.limits, "max_endpoints_per_file", 3)
    write(tmp_path, "etc/hosts.block", "".join(f"0.0.0.0 ad{i}.zyxcorp.net\n" for i in range(10)))
    findings, run_ = run(tree_context(tmp_path))
    assert len(endpoints(findings)) == 3
    assert any("7 more endpoints" in n for n in run_.skipped)


def test_check_metadata():
    import importlib

    module = importlib.import_module("spyproof.checks.endpoints")  # as the registry does
    assert module.CHECK.info.id == "endpoints" and module.CHECK.info.clause == "NS-3"
    for name in module.CHECK.info.data_files:
        from importlib import resources

        assert resources.files("spyproof.data").joinpath(name).is_file()
