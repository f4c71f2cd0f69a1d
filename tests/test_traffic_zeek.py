"""Zeek log input: TSV and JSON, rotated and gzip-compressed logs, the field-name-map
variant, joins on uid, and bad input (malformed lines, files that are not Zeek logs)."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from spyproof.traffic.zeek import MAX_SKIPPED_SHOWN, ZeekLogError, read_zeek

DATA = Path(__file__).parent / "data" / "traffic" / "zeek"
WIKI = DATA / "wikipedia"
JSON_DIR = DATA / "json"
BASELINE = WIKI / "conn.log"
PCAP = Path(__file__).parent.parent.parent / "shared" / "captures" / "zeek-testing" / \
    "wikipedia.pcap"


def baseline_rows() -> list[list[str]]:
    """The baseline's records, split by hand (independent of the reader)."""
    return [line.split("\t") for line in BASELINE.read_text().splitlines()
            if line and not line.startswith("#")]


# -- the real Zeek baseline (field-name-map variant, masked timestamps) --------------------


def test_baseline_conn_log_gives_all_34_flows_with_zeek_counters():
    flows, dns, stats = read_zeek(BASELINE)
    assert len(flows) == 34
    assert sum(f.proto == "tcp" for f in flows) == 10
    assert sum(f.proto == "udp" for f in flows) == 24
    assert dns == []
    assert stats.masked_timestamps == 34 and stats.skipped == 0
    by_uid = {f.uid: f for f in flows}
    for row in baseline_rows():
        f = by_uid[row[1]]
        assert (f.orig_h, f.orig_p, f.resp_h, f.resp_p, f.proto) == (
            row[2], int(row[3]), row[4], int(row[5]), row[6])
        assert (f.orig_pkts, f.orig_ip_bytes, f.resp_pkts, f.resp_ip_bytes) == tuple(
            int(x) for x in row[16:20])
        assert (f.conn_state, f.history) == (row[11], row[15])
        assert f.start == 0.0 and f.first_packet is None


def test_baseline_unset_and_interval_fields():
    flows, _, _ = read_zeek(BASELINE)
    by_uid = {f.uid: f for f in flows}
    oth = by_uid["CFSwNi4CNGxcuffo49"]  # duration, bytes and service unset ("-")
    assert (oth.duration, oth.orig_bytes, oth.resp_bytes, oth.service) == (0.0, 0, 0, None)
    dns = by_uid["C0LAHyvtKSQHyJxIl"]
    assert dns.duration == pytest.approx(0.000317)
    assert (dns.orig_bytes, dns.resp_bytes) == (38, 89)


def test_stats_name_the_files_and_their_digests():
    _, _, stats = read_zeek(WIKI)
    assert [(f.name, f.kind, f.format) for f in stats.files] == [
        ("conn.log", "conn", "tsv"), ("dns.log", "dns", "tsv"), ("http.log", "http", "tsv")]
    import hashlib

    assert stats.files[0].sha256 == hashlib.sha256(BASELINE.read_bytes()).hexdigest()
    assert stats.files[0].size == BASELINE.stat().st_size
    refs = stats.inputs("zeek-logs/")
    assert refs[0].name == "zeek-logs/conn.log" and refs[0].kind == "zeek"


# -- joins: dns.log and http.log on the baseline's uids ---------------------------------------


def test_dns_log_gives_answers_and_queries_on_flows():
    flows, dns, stats = read_zeek(WIKI)
    assert stats.records == {"conn": 34, "dns": 14, "http": 15}
    assert len(dns) == 14
    a = next(x for x in dns if x.qtype == "A" and x.query == "upload.wikimedia.org")
    assert a.answers == ["upload.pmtpa.wikimedia.org", "208.80.152.3"]
    assert a.ttls == [124, 2156]
    assert (a.rcode, a.resolver, a.client, a.transport, a.packet) == (
        "NOERROR", "141.142.2.2", "141.142.220.118", "udp", None)
    nx = [x for x in dns if x.rcode == "NXDOMAIN"]
    assert nx and all(x.answers == [] for x in nx)
    by_uid = {f.uid: f for f in flows}
    assert by_uid["C37jN32gN3y3AZzyf6"].dns_queries == ["upload.wikimedia.org"]
    assert by_uid["C37jN32gN3y3AZzyf6"].service == "dns"  # bare-mode conn.log had none


def test_http_log_sets_host_on_every_http_flow():
    flows, _, _ = read_zeek(WIKI)
    hosts = {f.uid: f.http_host for f in flows if f.http_host}
    assert len(hosts) == 9  # the 9 TCP flows that carried a request
    assert hosts["CtPZjS20MLrsMUOJi2"] == "www.wikipedia.org"
    assert hosts["CUM0KZ3MLUfNB0cl11"] == "bits.wikimedia.org"
    assert hosts["CtxTCR2Yer0FR1tIBg"] == "upload.wikimedia.org"


# -- JSON logs -----------------------------------------------------------------------


def test_json_logs_are_read_and_joined():
    flows, dns, stats = read_zeek(JSON_DIR)
    assert {f.format for f in stats.files} == {"json"}
    assert len(flows) == 9 and len(dns) == 3
    by_uid = {f.uid: f for f in flows}
    tls = by_uid["CJ1dev0002tlsApi1"]
    assert (tls.sni, tls.ja4, tls.alpn) == ("api.acme-cpe-cloud.net",
                                            "t13d1516h2_8daaf6152771_02713d6af862", ["h2"])
    assert tls.start == pytest.approx(1714557600.12)
    assert by_uid["CJ1dev0004tlsDoh1"].ja4 is None  # no ja4 column: left unset
    assert by_uid["CJ1dev0005dotCf01"].alpn == ["dot"]
    assert by_uid["CJ1dev0007httpCol"].http_host == "collector.unknown-analytics.example"
    assert dns[1].answers == ["8.8.8.8", "8.8.4.4"] and dns[1].ttls == [600, 600]


def test_json_iso8601_timestamps_and_field_name_variants(tmp_path):
    lines = []
    for line in (JSON_DIR / "conn.log").read_text().splitlines():
        obj = json.loads(line)
        obj = {k.replace("id.", "id_"): v for k, v in obj.items()}  # "_" field-name map
        lines.append(json.dumps(obj))
    (tmp_path / "conn.log").write_text("\n".join(lines) + "\n")
    obj = json.loads((JSON_DIR / "http.log").read_text())
    obj["id"] = {k[3:]: obj.pop(k) for k in list(obj) if k.startswith("id.")}  # nested
    (tmp_path / "http.log").write_text(json.dumps(obj) + "\n")
    flows, _, stats = read_zeek(tmp_path)
    assert len(flows) == 9 and stats.orphans == 0 and stats.skipped == 0
    f = next(f for f in flows if f.uid == "CJ1dev0007httpCol")
    assert (f.orig_h, f.resp_h, f.resp_p) == ("192.168.1.20", "198.51.100.7", 80)
    assert f.http_host == "collector.unknown-analytics.example"


def test_tsv_header_row_mode(tmp_path):
    """The ASCII writer's tsv=T mode: one row of column names, no other metadata."""
    rows = [line for line in (WIKI / "dns.log").read_text().splitlines()
            if not line.startswith("#")]
    fields = next(line for line in (WIKI / "dns.log").read_text().splitlines()
                  if line.startswith("#fields")).split("\t")[1:]
    (tmp_path / "dns.log").write_text("\t".join(fields) + "\n" + "\n".join(rows) + "\n")
    flows, dns, stats = read_zeek(tmp_path)
    assert len(dns) == 14 and stats.orphans == 14 and len(flows) == 14
    assert {f.resp_p for f in flows} == {53}


# -- rotated and compressed ----------------------------------------------------------------


def test_rotated_gzip_logs(tmp_path):
    """A conn.log rotated into two hourly files (each with its header, as Zeek rotates),
    compressed with gzip."""
    text = BASELINE.read_text().splitlines()
    header = [line for line in text if line.startswith("#") and not line.startswith(
        ("#close", "###"))]
    rows = [line for line in text if not line.startswith("#")]
    for name, part in (("conn.2011-03-18-19-00-00.log", rows[:20]),
                       ("conn.2011-03-18-20-00-00.log", rows[20:])):
        (tmp_path / name).write_text("\n".join([*header, *part]) + "\n")
        subprocess.run(["gzip", "-n", str(tmp_path / name)], check=True)
    flows, _, stats = read_zeek(tmp_path)
    assert len(flows) == 34
    assert [(f.name, f.compressed, f.records) for f in stats.files] == [
        ("conn.2011-03-18-19-00-00.log.gz", True, 20),
        ("conn.2011-03-18-20-00-00.log.gz", True, 14)]
    assert {f.capture for f in flows} == {0, 1}
    first = next(f for f in flows if f.uid == "CFSwNi4CNGxcuffo49")
    raw = b"\n".join(x.encode() for x in [*header, *rows[:20]]) + b"\n"
    assert raw[first.offset:].startswith(b"XXXXXXXXXX.XXXXXX\tCFSwNi4CNGxcuffo49")


def test_truncated_gzip_keeps_what_was_read(tmp_path):
    shutil.copy(BASELINE, tmp_path / "conn.log")
    subprocess.run(["gzip", "-n", str(tmp_path / "conn.log")], check=True)
    data = (tmp_path / "conn.log.gz").read_bytes()
    (tmp_path / "conn.log.gz").write_bytes(data[:len(data) * 2 // 3])
    flows, _, stats = read_zeek(tmp_path)
    assert 0 < len(flows) < 34
    assert any("reading stopped" in n for n in stats.notes)


# -- bad input ---------------------------------------------------------------------------------


def test_malformed_lines_are_skipped_and_counted(tmp_path):
    lines = BASELINE.read_text().splitlines()
    first_record = next(i for i, line in enumerate(lines) if not line.startswith("#"))
    lines.insert(first_record + 2, "this\tline\thas\tfew\tcolumns")
    bad_count = lines[first_record + 5].split("\t")
    bad_count[16] = "many"  # orig_pkts is a count
    lines[first_record + 5] = "\t".join(bad_count)
    (tmp_path / "conn.log").write_text("\n".join(lines) + "\n")
    flows, _, stats = read_zeek(tmp_path)
    assert len(flows) == 33
    assert stats.skipped == 2
    assert stats.files[0].skipped == {"bad value": 1, "wrong number of columns": 1}
    assert stats.skipped_lines[0] == (f"conn.log:{first_record + 3}: wrong number of columns "
                                      "(5 columns, header has 22)")
    assert stats.skipped_lines[1].startswith(f"conn.log:{first_record + 6}: bad value")
    assert "2 malformed records skipped" in stats.notes


def test_bad_json_lines_are_skipped_and_only_the_first_few_shown(tmp_path):
    good = (JSON_DIR / "conn.log").read_text()
    (tmp_path / "conn.log").write_text(good + "{not json\n" * 20 + '["a list"]\n'
                                       + '{"ts": 1714557600.0, "uid": "Cx"}\n')
    flows, _, stats = read_zeek(tmp_path)
    assert len(flows) == 9 and stats.skipped == 22
    assert len(stats.skipped_lines) == MAX_SKIPPED_SHOWN
    assert stats.skipped_lines[0].startswith("conn.log:10: bad JSON (")
    assert stats.files[0].skipped == {"bad JSON": 21, "required field unset": 1}


def test_escaped_bytes_are_decoded(tmp_path):
    text = (WIKI / "http.log").read_text().replace("www.wikipedia.org", "www.\\x77iki.org")
    shutil.copy(BASELINE, tmp_path / "conn.log")
    (tmp_path / "http.log").write_text(text)
    flows, _, _ = read_zeek(tmp_path)
    assert next(f for f in flows if f.uid == "CtPZjS20MLrsMUOJi2").http_host == "www.wiki.org"


def test_logs_without_conn_log_make_flows_from_their_ids(tmp_path):
    shutil.copy(JSON_DIR / "ssl.log", tmp_path / "ssl.log")
    flows, dns, stats = read_zeek(tmp_path)
    assert len(flows) == 3 and stats.orphans == 3 and dns == []
    f = next(f for f in flows if f.uid == "CJ1dev0005dotCf01")
    assert (f.orig_h, f.resp_h, f.resp_p, f.proto, f.sni) == (
        "192.168.1.20", "1.1.1.1", 853, "tcp", "one.one.one.one")
    assert any("without a conn.log record" in n for n in stats.notes)


def test_a_file_that_is_not_a_zeek_log_is_one_clear_error(tmp_path):
    bad = tmp_path / "conn.log"
    bad.write_text("date,src,dst\n2024-05-01,10.0.0.1,10.0.0.2\n")
    with pytest.raises(ZeekLogError) as exc:
        read_zeek(bad)
    msg = str(exc.value)
    assert "\n" not in msg and msg.startswith("conn.log: not a Zeek log")


@pytest.mark.skipif(not PCAP.exists(), reason="shared captures not present")
def test_a_capture_given_as_a_log_is_rejected(tmp_path):
    shutil.copy(PCAP, tmp_path / "conn.log")
    with pytest.raises(ZeekLogError, match="binary content"):
        read_zeek(tmp_path)


def test_missing_empty_and_foreign_inputs(tmp_path):
    with pytest.raises(ZeekLogError, match="no such file"):
        read_zeek(tmp_path / "nope")
    with pytest.raises(ZeekLogError, match="no Zeek conn/dns/ssl/http logs"):
        read_zeek(tmp_path)
    (tmp_path / "conn.log").write_text("")
    with pytest.raises(ZeekLogError, match="empty"):
        read_zeek(tmp_path)
    weird = (WIKI / "dns.log").read_text().replace("#path\tdns", "#path\tweird")
    (tmp_path / "conn.log").write_text(weird)
    with pytest.raises(ZeekLogError, match="a Zeek weird log"):
        read_zeek(tmp_path / "conn.log")


def test_one_bad_file_among_good_ones_is_skipped_with_a_note(tmp_path):
    shutil.copy(BASELINE, tmp_path / "conn.log")
    (tmp_path / "dns.log").write_bytes(b"\x00\x01binary junk\n")
    flows, _, stats = read_zeek(tmp_path)
    assert len(flows) == 34
    assert [f.name for f in stats.files] == ["conn.log"]
    assert any(n.startswith("skipped dns.log: not a Zeek log") for n in stats.notes)
