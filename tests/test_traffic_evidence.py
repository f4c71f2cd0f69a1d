"""Evidence from traffic: every rule of data/traffic/evidence.yaml fires on a positive
case and stays quiet on a negative one; evidence cites the input; output is deterministic;
end to end on Zeek's wikipedia baseline with an agreement.

Flows are built directly here: they are the analyses' input, not captured bytes.
"""

from __future__ import annotations

import ipaddress
import random
import re
from collections.abc import Callable
from importlib import resources
from pathlib import Path

import pytest
import yaml

from spyproof.agreement.load import LoadedAgreement, load_agreement
from spyproof.checks.base import make_finding
from spyproof.models import Evidence, Finding, ImageInfo, Report, ToolInfo
from spyproof.traffic.evidence import InputRef, TrafficFacts, analyse
from spyproof.traffic.evidence.beacons import bowley_score, mad_score
from spyproof.traffic.evidence.rules import knowledge
from spyproof.traffic.evidence.tunnelling import entropy, registered_domain
from spyproof.traffic.model import DnsAnswer, Flow
from spyproof.traffic.zeek import read_zeek

DEVICE = "192.168.1.20"
T0 = 1714557600.0  # 2024-05-01T10:00:00Z
INPUT = InputRef(name="capture.pcapng", sha256="ab" * 32, kind="pcapng")
WIKI = Path(__file__).parent / "data" / "traffic" / "zeek" / "wikipedia"
ISO_US = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")

_uid = iter(range(1, 10**9))


def flow(dst: str, port: int = 443, *, start: float = T0, proto: str = "tcp",
         out: int = 600, back: int = 1200, payload: int | None = None, state: str = "SF",
         src: str = DEVICE, sport: int = 40000, service: str | None = None,
         sni: str | None = None, host: str | None = None, queries: tuple[str, ...] = (),
         alpn: tuple[str, ...] = ()) -> Flow:
    n = next(_uid)
    return Flow(uid=f"C{n:08d}", proto=proto, orig_h=src, orig_p=sport + n % 20000,
                resp_h=dst, resp_p=port, start=start, last=start + 0.5, orig_pkts=5,
                orig_ip_bytes=out, resp_pkts=5 if back else 0, resp_ip_bytes=back,
                orig_bytes=max(0, out - 200) if payload is None else payload,
                resp_bytes=max(0, back - 200), conn_state=state, service=service, sni=sni,
                http_host=host, dns_queries=list(queries), alpn=list(alpn), first_packet=n,
                capture=0, offset=24 + n * 100)


def answer(query: str, ips: list[str], *, ts: float = T0 - 1, qtype: str = "A",
           resolver: str = "192.168.1.1", transport: str = "udp", client: str = DEVICE
           ) -> DnsAnswer:
    return DnsAnswer(ts=ts, query=query, qtype=qtype, answers=ips, rcode="NOERROR",
                     resolver=resolver, client=client, transport=transport, packet=7)


AGREEMENT = """
schema_version = "1"
[agreement]
vendor = "Acme Networks"
product = "CPE-5G"
{extra}
"""


def agreement(tmp_path: Path, extra: str = "") -> LoadedAgreement:
    path = tmp_path / "agreement.toml"
    path.write_text(AGREEMENT.format(extra=extra))
    return load_agreement(path, known_checks=set())


def endpoint(**kw) -> str:
    body = "\n".join(f"{k} = {v!r}".replace("'", '"') for k, v in kw.items())
    return f"[[endpoints]]\n{body}\n"


def run(flows: list[Flow], dns: list[DnsAnswer] | None = None, *,
        agreement: LoadedAgreement | None = None, scan: Report | None = None
        ) -> tuple[list[Finding], TrafficFacts]:
    return analyse(flows, dns or [], device=DEVICE, agreement=agreement, scan=scan,
                   inputs=[INPUT])


def rules_of(findings: list[Finding]) -> set[str]:
    return {f.rule for f in findings}


def report_with_endpoints(*hosts: str) -> Report:
    findings = [make_finding(
        "endpoints", "unclassified", "low", f"endpoint {h}", "x",
        [Evidence(tree="rootfs", path="usr/bin/agent", sha256="00" * 32, offset=10 * i)],
        clause="NS-3", details={"kind": "host", "value": h, "host": h, "port": None,
                                "scope": "public", "class": "unknown"})
        for i, h in enumerate(hosts)]
    return Report(tool=ToolInfo(version="0"), generated_at="2024-05-01T00:00:00Z",
                  image=ImageInfo(name="fw.bin", size=1, sha256="00" * 32, sha512="00" * 64),
                  limits={}, findings=findings)


# -- scenarios: a positive and a negative per rule ------------------------------------------
# Each scenario returns the findings of one analysis; `positive` must contain the rule,
# `negative` must not.

Scenario = Callable[[Path], list[Finding]]


def _periodic(dst: str, every: float, n: int, jitter: float, seed: int = 1,
              **kw) -> list[Flow]:
    rnd = random.Random(seed)
    return [flow(dst, start=T0 + i * every + rnd.uniform(-jitter, jitter), **kw)
            for i in range(n)]


def _poisson(dst: str, mean: float, n: int, seed: int = 7) -> list[Flow]:
    rnd = random.Random(seed)
    t, out = T0, []
    for _ in range(n):
        t += rnd.expovariate(1 / mean)
        out.append(flow(dst, start=t))
    return out


def _b32(rnd: random.Random, n: int) -> str:
    return "".join(rnd.choice("abcdefghijklmnopqrstuvwxyz234567") for _ in range(n))


SCENARIOS: dict[str, tuple[Scenario, Scenario]] = {
    "undeclared-destination": (
        lambda p: run([flow("203.0.113.10", sni="collector.evil.example")],
                      agreement=agreement(p, endpoint(host="*.acme-cloud.net")))[0],
        lambda p: run([flow("203.0.113.10", sni="api.acme-cloud.net")],
                      agreement=agreement(p, endpoint(host="*.acme-cloud.net")))[0]),
    "observed-destination": (
        lambda p: run([flow("203.0.113.10")])[0],
        lambda p: run([flow("192.168.1.1", 80), flow("224.0.0.251", 5353, proto="udp")])[0]),
    "undeclared-inbound": (
        lambda p: run([flow(DEVICE, 23, src="198.51.100.9")],
                      agreement=agreement(p, endpoint(host="*.acme-cloud.net")))[0],
        lambda p: run([flow(DEVICE, 22, src="198.51.100.9")], agreement=agreement(
            p, '[[remote_access]]\nservice = "dropbear"\nport = 22\n'))[0]),
    "observed-inbound": (
        lambda p: run([flow(DEVICE, 22, src="198.51.100.9")])[0],
        lambda p: run([flow(DEVICE, 22, src="192.168.1.5")])[0]),
    "undeclared-resolver": (
        lambda p: run([flow("8.8.8.8", 53, proto="udp", queries=("a.example",))],
                      agreement=agreement(p, endpoint(cidr="9.9.9.9/32", ports=[53])))[0],
        lambda p: run([flow("9.9.9.9", 53, proto="udp", queries=("a.example",))],
                      agreement=agreement(p, endpoint(cidr="9.9.9.9/32", ports=[53])))[0]),
    "observed-resolver": (
        lambda p: run([flow("203.0.113.53", 53, proto="udp")])[0],
        lambda p: run([flow("192.168.1.1", 53, proto="udp")])[0]),
    "dns-over-tls": (
        lambda p: run([flow("203.0.113.53", 853)])[0],
        lambda p: run([flow("203.0.113.53", 853)], agreement=agreement(
            p, endpoint(cidr="203.0.113.53/32", ports=[853])))[0]),
    "dns-over-https": (
        lambda p: run([flow("203.0.113.99", sni="dns.google")])[0],
        lambda p: run([flow("203.0.113.99", sni="www.google.com")])[0]),
    "beacon": (
        lambda p: run(_periodic("203.0.113.10", 60, 120, 1.0))[0],
        lambda p: run(_poisson("203.0.113.10", 60, 120))[0]),
    "daily-beacon": (
        lambda p: run(_periodic("203.0.113.10", 86400, 5, 120.0))[0],
        lambda p: run([flow("203.0.113.10", start=T0 + h * 3600)
                       for h in (0, 20, 50, 70, 101)])[0]),
    "reconnect-storm": (
        lambda p: run([flow("203.0.113.10", start=T0 + i * 0.05, state="S0", back=0)
                       for i in range(200)])[0],
        lambda p: run([flow("203.0.113.10", start=T0 + i * 0.3, state="S0", back=0)
                       for i in range(30)])[0]),
    "dns-long-label": (
        lambda p: run([flow("192.168.1.1", 53, proto="udp",
                            queries=tuple(f"{c * 60}.t.example.net" for c in "abc"))])[0],
        lambda p: run([flow("192.168.1.1", 53, proto="udp",
                            queries=tuple(f"{c * 40}.t.example.net" for c in "abc"))])[0]),
    "dns-high-entropy": (
        lambda p: run([flow("192.168.1.1", 53, proto="udp", queries=tuple(
            f"{_b32(random.Random(i), 48)}.exfil.example.com" for i in range(12)))])[0],
        lambda p: run([flow("192.168.1.1", 53, proto="udp", queries=tuple(
            f"{w}-service-frontend-cluster.example.com" for w in (
                "mail", "www", "api", "cdn", "static", "images", "video", "login", "auth",
                "search", "news", "shop")))])[0]),
    "dns-many-subdomains": (
        lambda p: run([], [answer(f"h{i}.c2.example.org", ["203.0.113.1"])
                           for i in range(120)])[0],
        lambda p: run([], [answer(f"h{i}.c2.example.org", ["203.0.113.1"])
                           for i in range(50)])[0]),
    "dns-unusual-qtype": (
        lambda p: run([], [answer("t.example.org", ['"x"'], qtype="TXT", ts=T0 + i)
                           for i in range(25)])[0],
        lambda p: run([], [answer("t.example.org", ['"x"'], qtype="TXT", ts=T0 + i)
                           for i in range(5)])[0]),
    "undeclared-upload": (
        lambda p: run([flow("203.0.113.10", out=2_000_000, back=1_500_000)],
                      agreement=agreement(p, endpoint(host="*.acme-cloud.net")))[0],
        lambda p: run([flow("203.0.113.10", out=2_000_000, back=1_500_000)],
                      agreement=agreement(p, endpoint(cidr="203.0.113.0/24")))[0]),
    "upload-heavy": (
        lambda p: run([flow("203.0.113.10", out=500_000, back=10_000)])[0],
        lambda p: run([flow("203.0.113.10", out=500_000, back=400_000)])[0]),
    "traffic-only-endpoint": (
        lambda p: run([flow("203.0.113.10", sni="other.example.net")],
                      scan=report_with_endpoints("api.acme-cloud.net"))[0],
        lambda p: run([flow("203.0.113.10", sni="eu.api.acme-cloud.net")],
                      scan=report_with_endpoints("api.acme-cloud.net"))[0]),
}


def test_every_rule_has_a_scenario():
    assert set(SCENARIOS) == set(knowledge().rules)


@pytest.mark.parametrize("rule", sorted(SCENARIOS))
def test_rule_fires_on_positive_and_not_on_negative(rule, tmp_path):
    positive, negative = SCENARIOS[rule]
    found = positive(tmp_path)
    assert rule in rules_of(found), [f.rule for f in found]
    assert rule not in rules_of(negative(tmp_path))
    f = next(f for f in found if f.rule == rule)
    assert f.check == "traffic" and f.clause == "NS-3" and f.source
    assert f.id.startswith(f"traffic/{rule}/")


# -- data files -------------------------------------------------------------------------


def test_rules_data_is_complete():
    k = knowledge()
    for rule in k.rules.values():
        assert rule.source.startswith("https://"), rule.id
        if rule.severity != "from-score":
            rule.sev()  # a valid severity
        for case in rule.extra:
            rule.sev(case.removeprefix("severity_"))
    assert k.t("tunnelling")["max_label_length"] == 52


def test_resolvers_data_cites_the_operators():
    text = resources.files("spyproof.data").joinpath("traffic/resolvers.yaml").read_text()
    entries = yaml.safe_load(text)["resolvers"]
    assert len({e["id"] for e in entries}) == len(entries)
    for e in entries:
        assert e["source"].startswith("https://"), e["id"]
        assert e["doh"] or e["dot"] or e["ips"]
        for ip in e["ips"]:
            ipaddress.ip_address(ip)
        for host in [*e["doh"], *e["dot"]]:
            assert host == host.lower() and "." in host
    k = knowledge()
    assert k.resolver_by_ip("8.8.8.8").id == "google"
    assert k.doh_resolver("Cloudflare-DNS.com.").id == "cloudflare"
    assert k.resolver_by_ip("8.8.8.9") is None


# -- details of each analysis ---------------------------------------------------------


def test_undeclared_destination_groups_flows_and_cites_the_first_packet(tmp_path):
    ag = agreement(tmp_path, endpoint(host="*.acme-cloud.net", ports=[443]))
    flows = [flow("203.0.113.10", start=T0 + 5, sni="x.evil.example", out=1000, back=300),
             flow("203.0.113.11", start=T0 + 9, sni="x.evil.example", out=500, back=200),
             flow("203.0.113.12", start=T0 + 1, sni="api.acme-cloud.net")]
    found, facts = run(flows, agreement=ag)
    dest = [f for f in found if f.rule == "undeclared-destination"]
    assert len(dest) == 1
    f = dest[0]
    assert f.severity == "high"
    assert f.details["flows"] == 2 and f.details["ips"] == ["203.0.113.10", "203.0.113.11"]
    assert (f.details["bytes_out"], f.details["bytes_in"]) == (1500, 500)
    ev = f.evidence[0]
    assert (ev.tree, ev.path, ev.sha256) == ("traffic", INPUT.name, INPUT.sha256)
    assert ev.packet == flows[0].first_packet and ev.offset == flows[0].offset
    assert ev.time == "2024-05-01T10:00:05.000000Z" and ISO_US.match(ev.time)
    assert ev.text.startswith(f"{DEVICE}:{flows[0].orig_p} → 203.0.113.10:443/tcp")
    assert "names: x.evil.example" in ev.text and "2 flows" in ev.text
    declared = next(d for d in facts.destinations if d.label == "api.acme-cloud.net")
    assert declared.declared_by == "endpoints[0] (line 6)"


def test_attempts_without_payload_are_medium(tmp_path):
    ag = agreement(tmp_path, endpoint(host="*.acme-cloud.net"))
    found, _ = run([flow("203.0.113.10", state="S0", back=0, payload=0)], agreement=ag)
    assert [f.severity for f in found if f.rule == "undeclared-destination"] == ["medium"]


def test_dns_names_attribute_flows_latest_answer_before_start(tmp_path):
    dns = [answer("old.example.com", ["203.0.113.10"], ts=T0 - 100),
           answer("new.example.com", ["203.0.113.10"], ts=T0 - 10),
           answer("later.example.com", ["203.0.113.10"], ts=T0 + 100)]
    _, facts = run([flow("203.0.113.10", start=T0)], dns)
    assert [d.label for d in facts.destinations] == ["new.example.com"]
    _, facts = run([flow("203.0.113.10", start=T0 - 1000)], dns)  # before all: any answer
    assert [d.label for d in facts.destinations] == ["old.example.com"]


def test_protocol_and_port_declarations(tmp_path):
    ag = agreement(tmp_path, endpoint(host="ntp.acme.net", protocol="ntp") +
                   endpoint(host="api.acme.net", ports=[443], protocol="https"))
    ok = [flow("203.0.113.1", 123, proto="udp", sni=None, host=None),
          flow("203.0.113.2", 443, sni="api.acme.net", service="ssl")]
    bad = [flow("203.0.113.2", 8443, sni="api.acme.net")]
    dns = [answer("ntp.acme.net", ["203.0.113.1"])]
    found, _ = run(ok + bad, dns, agreement=ag)
    assert [f.details["port"] for f in found if f.rule == "undeclared-destination"] == [8443]


def test_policy_exempts_time_and_public_resolvers(tmp_path):
    ag = agreement(tmp_path, endpoint(host="*.acme.net"))
    found, facts = run([flow("162.159.200.1", 123, proto="udp"),
                        flow("8.8.8.8", 53, proto="udp"),
                        flow("203.0.113.53", 53, proto="udp")], agreement=ag)
    assert rules_of(found) == {"undeclared-resolver"}
    assert [f.details["resolver"] for f in found] == ["203.0.113.53"]
    res = {r.resolver: r.declared_by for r in facts.resolvers}
    assert res["8.8.8.8"] == "policy.exempt_endpoint_classes (dns)"
    ntp = next(d for d in facts.destinations if d.port == 123)
    assert ntp.declared_by == "policy.exempt_endpoint_classes (time)"
    # once the agreement names its own resolver, the exemption no longer covers others
    ag2 = agreement(tmp_path, endpoint(cidr="192.0.2.53/32", protocol="dns"))
    found, _ = run([flow("8.8.8.8", 53, proto="udp")], agreement=ag2)
    assert rules_of(found) == {"undeclared-resolver"}


def test_doh_from_dns_in_http_and_dot_by_alpn():
    dns = [answer("www.gstatic.com", ["142.250.1.1"], resolver="8.8.4.4", transport="doh")]
    found, facts = run([flow("8.8.4.4", 80, service="http"),
                        flow("203.0.113.7", 4433, alpn=("dot",))], dns)
    assert {(f.rule, f.details["resolver"]) for f in found if f.rule.startswith("dns-over")} \
        == {("dns-over-https", "8.8.4.4"), ("dns-over-tls", "203.0.113.7")}
    assert {d.role for d in facts.destinations} == {"doh", "dot"}
    assert not any(f.rule == "observed-destination" for f in found)


def test_beacon_scores_and_declared_beacons_are_info(tmp_path):
    flows = _periodic("203.0.113.10", 60, 120, 1.0, sni="api.acme.net")
    found, facts = run(flows)
    b = next(f for f in found if f.rule == "beacon")
    assert b.severity == "high" and b.details["score"] >= 0.9
    assert 59 <= b.details["median_interval_s"] <= 61
    assert facts.beacons[0].kind == "beacon" and facts.beacons[0].hours_seen >= 2
    found, facts = run(flows, agreement=agreement(tmp_path, endpoint(host="api.acme.net")))
    assert [f.severity for f in found if f.rule == "beacon"] == ["info"]
    assert facts.beacons[0].declared_by == "endpoints[0] (line 6)"


def test_storm_is_not_a_beacon_but_a_beacon_with_retries_still_is():
    storm = [flow("203.0.113.10", start=T0 + i * 0.05, state="S0", back=0) for i in range(200)]
    found, facts = run(storm)
    assert "beacon" not in rules_of(found) and facts.beacons == []
    s = next(f for f in found if f.rule == "reconnect-storm")
    assert s.details["connections"] == 200 and s.details["failed_share"] == 1.0
    retries = [flow("203.0.113.10", start=f.start + 0.2, state="REJ", back=0)
               for f in _periodic("203.0.113.10", 60, 120, 1.0, seed=3)]
    found, _ = run(_periodic("203.0.113.10", 60, 120, 1.0, seed=3) + retries)
    assert "beacon" in rules_of(found) and "reconnect-storm" not in rules_of(found)


def test_daily_beacon_over_five_days():
    found, facts = run(_periodic("203.0.113.10", 86400, 5, 120.0, sni="t.acme.net"))
    d = next(f for f in found if f.rule == "daily-beacon")
    assert d.details["days_seen"] == 5 and d.severity == "medium"
    assert facts.beacons[0].kind == "daily"
    assert abs(facts.beacons[0].median_interval_s - 86400) < 300


def test_statistics_match_their_definitions():
    assert bowley_score([10, 20, 30, 40, 200], 10) == pytest.approx(1.0)
    assert bowley_score([10, 11, 12, 13, 100, 1000, 2000], 10) < 0.1
    assert mad_score([60, 60, 60, 61], 1.0) == 1.0
    assert mad_score([0.1, 0.2], 1.0) == 1.0  # median below 1: the default
    assert entropy("aaaa") == 0.0 and entropy("abcd") == 2.0
    generics = knowledge().t("tunnelling")["second_level_generics"]
    assert registered_domain("a.b.example.co.uk", generics) == "example.co.uk"
    assert registered_domain("a.b.example.com", generics) == "example.com"
    assert registered_domain("x.example.de", generics) == "example.de"


def test_tunnelling_ignores_reverse_lookups():
    dns = [answer(f"{i}.2.0.192.in-addr.arpa", ["h.example"], qtype="PTR")
           for i in range(150)]
    found, facts = run([], dns)
    assert found == [] and facts.dns_domains == []


def test_volume_tables():
    flows = [flow("203.0.113.10", start=T0, out=5000, back=100),
             flow("203.0.113.10", start=T0 + 86400, out=7000, back=100),
             flow("203.0.113.20", start=T0, out=100, back=9000)]
    _, facts = run(flows)
    assert [(u.label, u.bytes_out) for u in facts.top_uploads] == [
        ("203.0.113.10", 12000), ("203.0.113.20", 100)]
    assert facts.top_uploads[0].ratio == 60.0
    assert [(d.day, d.bytes_out, d.flows, d.destinations) for d in facts.daily_volume] == [
        ("2024-05-01", 5100, 2, 2), ("2024-05-02", 7000, 1, 1)]


def test_crosscheck_lists_both_directions(tmp_path):
    scan = report_with_endpoints("api.acme-cloud.net", "dormant.acme-cloud.net",
                                 "198.51.100.50")
    flows = [flow("203.0.113.10", sni="eu.api.acme-cloud.net"),
             flow("198.51.100.50", 8883), flow("203.0.113.99", sni="new.example.org")]
    ag = agreement(tmp_path, endpoint(host="new.example.org"))
    found, facts = run(flows, agreement=ag, scan=scan)
    cc = facts.crosscheck
    assert cc.traffic_only == ["new.example.org:443/tcp"]
    assert cc.firmware_only == ["dormant.acme-cloud.net"]
    assert cc.both == ["198.51.100.50:8883/tcp", "eu.api.acme-cloud.net:443/tcp"]
    only = [f for f in found if f.rule == "traffic-only-endpoint"]
    assert [f.severity for f in only] == ["info"]  # declared, yet absent from the firmware
    _, facts = run(flows)
    assert facts.crosscheck is None


def test_local_traffic_is_listed_not_reported():
    flows = [flow("192.168.1.1", 80), flow("224.0.0.251", 5353, proto="udp"),
             flow("192.168.1.255", 137, proto="udp"), flow("fe80::1", 547, proto="udp"),
             flow(DEVICE, 80, src="192.168.1.7")]
    found, facts = run(flows)
    assert found == []
    assert {(x.peer, x.kind, x.direction) for x in facts.local} == {
        ("192.168.1.1", "private", "outbound"), ("224.0.0.251", "multicast", "outbound"),
        ("192.168.1.255", "private", "outbound"), ("fe80::1", "link-local", "outbound"),
        ("192.168.1.7", "private", "inbound")}


def test_device_subnet_and_broadcast_count_as_local():
    found, facts = run([flow("141.142.220.255", 137, proto="udp", src="141.142.220.118"),
                        flow("141.142.220.7", 22, src="141.142.220.118")])
    assert found == []  # DEVICE is not 141.142.220.118: nothing to do with the device
    _, facts = analyse([flow("141.142.220.255", 137, proto="udp", src="141.142.220.118"),
                        flow("141.142.220.7", 22, src="141.142.220.118")], [],
                       device="141.142.220.118", agreement=None, scan=None, inputs=[INPUT])
    assert {(x.peer, x.kind) for x in facts.local} == {
        ("141.142.220.255", "broadcast"), ("141.142.220.7", "device-subnet")}


def test_deterministic_whatever_the_input_order(tmp_path):
    ag = agreement(tmp_path, endpoint(host="*.acme-cloud.net"))
    flows = (_periodic("203.0.113.10", 60, 60, 1.0) + [flow("8.8.8.8", 853)]
             + [flow("203.0.113.30", out=300_000, back=100)])
    dns = [answer(f"h{i}.c2.example.org", ["203.0.113.1"]) for i in range(120)]
    a_found, a_facts = run(flows, dns, agreement=ag)
    rnd = random.Random(5)
    shuffled, sdns = flows[:], dns[:]
    rnd.shuffle(shuffled)
    rnd.shuffle(sdns)
    b_found, b_facts = run(shuffled, sdns, agreement=ag)
    assert [f.model_dump() for f in a_found] == [f.model_dump() for f in b_found]
    assert a_facts.model_dump_json() == b_facts.model_dump_json()


def test_no_device_flows_says_so():
    found, facts = run([flow("203.0.113.1", src="10.9.9.9")])
    assert found == [] and facts.device_flows == 0 and facts.other_flows == 1
    assert any("no flow involves the device" in n for n in facts.notes)


# -- end to end: Zeek's wikipedia baseline ----------------------------------------------


def test_wikipedia_baseline_end_to_end(tmp_path):
    flows, dns, stats = read_zeek(WIKI)
    ag = agreement(tmp_path, endpoint(host="*.wikimedia.org", ports=[80], protocol="http")
                   + endpoint(cidr="141.142.2.2/32", ports=[53]))
    scan = report_with_endpoints("upload.wikimedia.org", "www.wikipedia.org")
    found, facts = analyse(flows, dns, device="141.142.220.118", agreement=ag, scan=scan,
                           inputs=stats.inputs("wikipedia"))
    assert facts.device_flows == 23 and facts.other_flows == 11
    assert [(f.rule, f.severity, f.details.get("destination")) for f in found] == [
        ("undeclared-destination", "high", "www.wikipedia.org"),
        ("traffic-only-endpoint", "info", "meta.wikimedia.org"),
        ("traffic-only-endpoint", "info", "bits.wikimedia.org")]  # in conn.log order
    f = found[0]
    ev = f.evidence[0]
    assert (ev.path, ev.sha256) == ("wikipedia/conn.log", stats.files[0].sha256)
    assert ev.time is None and ev.packet is None  # the baseline's timestamps are masked
    raw = (WIKI / "conn.log").read_bytes()
    assert raw[ev.offset:].split(b"\t")[1] == b"CtPZjS20MLrsMUOJi2"
    assert f.details["bytes_out"] == 567 and f.details["bytes_in"] == 402
    table = {(d.label, d.port, d.proto): d for d in facts.destinations}
    assert set(table) == {("141.142.2.2", 53, "udp"), ("www.wikipedia.org", 80, "tcp"),
                          ("meta.wikimedia.org", 80, "tcp"),
                          ("upload.wikimedia.org", 80, "tcp"),
                          ("bits.wikimedia.org", 80, "tcp")}
    up = table[("upload.wikimedia.org", 80, "tcp")]
    assert (up.flows, up.ips, up.declared_by) == (6, ["208.80.152.3"], "endpoints[0] (line 6)")
    assert table[("141.142.2.2", 53, "udp")].role == "dns"
    assert [(r.resolver, r.queries, r.declared_by) for r in facts.resolvers] == [
        ("141.142.2.2", 14, "endpoints[1] (line 10)")]
    assert {n.name for n in facts.dns_names} == {
        "upload.wikimedia.org", "upload.wikimedia.org.ncsa.uiuc.edu", "meta.wikimedia.org"}
    assert facts.crosscheck.firmware_only == []
    assert any("without a time" in n for n in facts.notes)
    # without an agreement the same traffic is an inventory
    found, _ = analyse(flows, dns, device="141.142.220.118", agreement=None, scan=None,
                       inputs=stats.inputs())
    assert sorted((f.rule, f.severity) for f in found) == [
        ("observed-destination", "info")] * 4 + [("observed-resolver", "info")]
