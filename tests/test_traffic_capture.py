"""Capture readers and the frame decoder: every format, encapsulation and kind of damage.

Fixtures are in tests/data/traffic/ (made by make_fixtures.sh with editcap, mergecap,
tcprewrite, tcpdump and gzip; see README.md there). Where tshark is installed, the decoder
is also checked frame by frame against tshark's own dissection.
"""

from __future__ import annotations

import gzip
import hashlib
import random
import shutil
import struct
import subprocess
from pathlib import Path

import pytest

from spyproof.traffic.capture import (
    CaptureError,
    CaptureStats,
    iter_packets,
    open_inputs,
)
from spyproof.traffic.flows import read_flows

DATA = Path(__file__).parent / "data" / "traffic"
WIKI = DATA / "wikipedia.pcap"


def packets(*paths: Path) -> tuple[list, CaptureStats]:
    stats = CaptureStats()
    return list(iter_packets(open_inputs(list(paths)), stats)), stats


def flow_table(path: Path) -> list[tuple]:
    flows, _dns, _stats = read_flows([path])
    return [(f.proto, f.orig_h, f.orig_p, f.resp_h, f.resp_p, f.orig_pkts, f.orig_ip_bytes,
             f.resp_pkts, f.resp_ip_bytes, f.orig_bytes, f.resp_bytes, f.conn_state, f.history)
            for f in flows]


WIKI_FLOWS = flow_table(WIKI)


def test_wikipedia_is_read_completely():
    pkts, stats = packets(WIKI)
    assert stats.frames == 136 and stats.packets == 126 == len(pkts)
    assert stats.skipped == {"non-IP": 10}  # ARP and spanning-tree frames
    assert [p.number for p in pkts][:3] == [1, 2, 3]
    fs = stats.files[0]
    assert (fs.format, fs.compressed, fs.link_types, fs.complete) == ("pcap", False, [1], True)
    assert fs.first_ts == pytest.approx(1300475167.096535)
    assert fs.sha256 == hashlib.sha256(WIKI.read_bytes()).hexdigest()
    assert len(WIKI_FLOWS) == 34


@pytest.mark.parametrize("name", [
    "wikipedia.pcap.gz",  # gzip
    "wikipedia.pcapng",  # pcapng
    "wikipedia-pcapng.bin",  # gzip-compressed pcapng with a name that says nothing
    "wikipedia-vlan.pcap",  # 802.1Q tag on every frame
    "wikipedia-qinq.pcap",  # 802.1ad outer + 802.1Q inner tag
    "wikipedia-rawip.pcap",  # raw IP link type (Ethernet header chopped)
    "wikipedia-bigendian.pcap",  # big-endian pcap
    "wikipedia-snap64.pcap",  # every frame cut to 64 bytes: headers still complete
])
def test_every_encoding_of_the_same_traffic_gives_the_same_flows(name):
    assert flow_table(DATA / name) == WIKI_FLOWS


def test_gzip_detected_by_magic_and_hashed_as_given():
    path = DATA / "wikipedia-pcapng.bin"
    _pkts, stats = packets(path)
    fs = stats.files[0]
    assert (fs.format, fs.compressed) == ("pcapng", True)
    assert fs.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    assert fs.size == path.stat().st_size


def test_snaplen_cut_frames_are_kept_and_counted():
    pkts, stats = packets(DATA / "wikipedia-snap64.pcap")
    assert len(pkts) == 126
    assert stats.notices["snaplen cut"] == 125
    cut = [p for p in pkts if p.truncated]
    assert cut and all(len(p.payload) < p.payload_len for p in cut)
    assert all(p.wire_len > 64 for p in cut)


def test_simple_and_obsolete_packet_blocks():
    pkts, stats = packets(DATA / "wikipedia-spb-pb.pcapng")
    ref, _ = packets(WIKI)
    key = [(p.number, p.src, p.dst, p.sport, p.dport, p.ip_len) for p in pkts]
    assert key == [(p.number, p.src, p.dst, p.sport, p.dport, p.ip_len) for p in ref]
    assert stats.notices["simple packet block (no timestamp; previous one used)"] == 20
    # packet blocks (frames 21-40) keep their timestamps
    by_number = {p.number: p.ts for p in ref}
    assert all(p.ts == by_number[p.number] for p in pkts if 21 <= p.number <= 40)


def test_record_offsets_point_at_the_records():
    raw = WIKI.read_bytes()
    for p in packets(WIKI)[0]:
        caplen, wire = struct.unpack_from("<II", raw, p.offset + 8)
        assert wire == p.wire_len and caplen <= wire
    raw = (DATA / "wikipedia.pcapng").read_bytes()
    for p in packets(DATA / "wikipedia.pcapng")[0]:
        assert struct.unpack_from("<I", raw, p.offset)[0] == 6  # an Enhanced Packet Block


def test_multi_interface_pcapng_link_types():
    pkts, stats = packets(DATA / "multi.pcapng")
    fs = stats.files[0]
    assert fs.link_types == [113, 276, 1, 101]  # Linux SLL, SLL2, Ethernet (ns), raw IP
    assert fs.frames == 199 and len(pkts) == 183  # capinfos -c: 199 packets
    assert {p.proto for p in pkts} >= {1, 6, 17, 58}
    assert "unknown link type" not in " ".join(stats.skipped)


def test_linux_cooked_v1_and_v2_see_the_same_flows():
    def ipv4_flows(name):
        return [f[:9] for f in flow_table(DATA / name) if ":" not in f[1]]
    v1, v2 = ipv4_flows("sll.pcap"), ipv4_flows("sll2.pcap")
    assert v1 == v2 and len(v1) == 4  # udp, icmp unreachable, icmp echo, tcp
    assert packets(DATA / "sll.pcap")[1].files[0].link_types == [113]
    assert packets(DATA / "sll2.pcap")[1].files[0].link_types == [276]


def test_ip_fragments_and_ipv6_extension_headers():
    pkts, stats = packets(DATA / "live.pcap")
    assert stats.skipped["ip fragment"] == 8  # 2 later fragments each way, IPv4 and IPv6
    first_v6_frag = [p for p in pkts if p.ip_version == 6 and p.proto == 58
                     and p.sport == 128 and p.ip_len > 1400]
    assert first_v6_frag, "the first IPv6 fragment (fragment header) reaches ICMPv6"
    mld = [p for p in pkts if p.proto == 58 and p.sport == 143]
    assert mld, "MLDv2 reports behind a hop-by-hop header decode as ICMPv6"
    assert any(p.ip_version == 6 and p.proto == 6 and p.dport == 8080 for p in pkts)


def test_directory_of_rotated_captures_in_time_order():
    cs = open_inputs([DATA / "rotated"])
    assert [f.path.name for f in cs.files] == ["z-part.pcap", "y-part.pcap", "x-part.pcap",
                                               "w-part.pcap"]
    assert [f.compressed for f in cs.files] == [False, False, True, False]
    assert cs.skipped == [(str(DATA / "rotated" / "NOTES.txt"), "not a capture file")]
    pkts, stats = packets(DATA / "rotated")
    ref, _ = packets(WIKI)
    assert [(p.number, p.ts, p.src) for p in pkts] == [(p.number, p.ts, p.src) for p in ref]
    assert [p.capture for p in pkts][0] == 0 and pkts[-1].capture == 3
    assert stats.skipped_inputs == cs.skipped
    assert flow_table(DATA / "rotated") == WIKI_FLOWS


def test_directory_skips_subdirectories_and_junk(tmp_path):
    shutil.copy(WIKI, tmp_path / "a.pcap")
    (tmp_path / "sub").mkdir()
    (tmp_path / "empty.pcap").write_bytes(b"")
    (tmp_path / "short.pcap").write_bytes(WIKI.read_bytes()[:10])
    cs = open_inputs([tmp_path])
    assert [f.path.name for f in cs.files] == ["a.pcap"]
    reasons = dict((Path(p).name, r) for p, r in cs.skipped)
    assert reasons == {"empty.pcap": "not a capture file",
                       "short.pcap": "truncated pcap file header (10 of 24 bytes)",
                       "sub": "subdirectory (not descended into)"}


def test_inputs_keep_their_order_and_frame_numbers_continue():
    pkts, stats = packets(DATA / "community-id-ipv4.pcap", WIKI)
    assert [f.path.rsplit("/", 1)[-1] for f in stats.files] == ["community-id-ipv4.pcap",
                                                                "wikipedia.pcap"]
    assert pkts[42].number == 43 and pkts[42].capture == 0
    assert pkts[43].number == 44 and pkts[43].capture == 1


def test_unknown_link_type_is_counted_not_fatal():
    pkts, stats = packets(DATA / "wikipedia-unknown-link.pcap")
    assert pkts == [] and stats.skipped == {"unknown link type 105": 136}
    pkts, stats = packets(DATA / "mixed-unknown.pcapng")
    assert len(pkts) == 126 and stats.skipped["unknown link type 105"] == 5
    assert flow_table(DATA / "mixed-unknown.pcapng") == WIKI_FLOWS


# ------------------------------------------------------------------ damaged captures


def test_truncated_pcap_keeps_what_came_before():
    pkts, stats = packets(DATA / "wikipedia-truncated.pcap")
    fs = stats.files[0]
    assert len(pkts) == 125 and not fs.complete
    assert stats.skipped["truncated record"] == 1
    assert fs.problems == ["truncated record header at offset 27352 (8 of 16 bytes)"]


def test_truncated_first_record():
    pkts, stats = packets(DATA / "wikipedia-header-cut.pcap")
    assert pkts == [] and stats.skipped == {"truncated record": 1}
    assert stats.files[0].problems == ["truncated record header at offset 24 (6 of 16 bytes)"]


def test_truncated_record_body(tmp_path):
    path = tmp_path / "cut.pcap"
    path.write_bytes(WIKI.read_bytes()[:-30])  # inside the last record's packet bytes
    pkts, stats = packets(path)
    assert len(pkts) == 125 and stats.skipped["truncated record"] == 1
    assert stats.files[0].problems[0].startswith("truncated record at offset 27352")


def test_truncated_gzip():
    pkts, stats = packets(DATA / "wikipedia-truncated.pcap.gz")
    fs = stats.files[0]
    assert 0 < len(pkts) < 126 and not fs.complete
    assert "compressed stream ends early (truncated .gz)" in fs.problems


def test_truncated_pcapng():
    pkts, stats = packets(DATA / "wikipedia-truncated.pcapng")
    assert len(pkts) == 125 and stats.skipped["truncated record"] == 1
    assert stats.files[0].problems[0].startswith("truncated block at offset 29832")


def test_corrupt_block_is_skipped_and_reading_goes_on():
    pkts, stats = packets(DATA / "wikipedia-corrupt-block.pcapng")
    fs = stats.files[0]
    assert fs.frames == 136 and len(pkts) == 125
    assert stats.skipped["corrupt block"] == 1
    assert [p.number for p in pkts][-1] == 136  # frames after the damage are read
    assert fs.problems == ["corrupt block at offset 8652 (trailing length differs);"
                           " skipped to the next block"]


def test_corrupt_length_stops_the_file():
    pkts, stats = packets(DATA / "wikipedia-corrupt-length.pcapng")
    fs = stats.files[0]
    assert fs.frames == 99 and len(pkts) == 97 and not fs.complete
    assert fs.problems == ["corrupt block at offset 24120 (length field 2147483633);"
                           " rest of the file not read"]


def _garbage(tmp_path):
    rnd = random.Random(8)
    cases = {
        "empty.pcap": b"",
        "random.bin": rnd.randbytes(4096),
        "notes.txt": b"this is a text file, not a capture\n" * 20,
        "header-only.pcap": (DATA / "wikipedia-header-only.pcap").read_bytes(),
        "text.gz": gzip.compress(b"hello\n" * 100),
    }
    for name, data in cases.items():
        (tmp_path / name).write_bytes(data)
    return cases


def test_non_captures_raise_one_line_naming_the_file(tmp_path):
    for name in _garbage(tmp_path):
        path = tmp_path / name
        with pytest.raises(CaptureError) as err:
            open_inputs([path])
        msg = str(err.value)
        assert msg.startswith(str(path) + ": ") and "\n" not in msg
    with pytest.raises(CaptureError, match="no such file"):
        open_inputs([tmp_path / "missing.pcap"])
    with pytest.raises(CaptureError, match="truncated pcap file header"):
        open_inputs([tmp_path / "header-only.pcap"])


def test_read_flows_raises_capture_error_for_a_non_capture(tmp_path):
    (tmp_path / "x.txt").write_text("hello")
    with pytest.raises(CaptureError, match="not a pcap or pcapng capture"):
        read_flows([tmp_path / "x.txt"])


def test_reading_is_lazy():
    it = iter_packets(open_inputs([WIKI]), CaptureStats())
    first = next(it)
    assert first.number == 1
    it.close()


# ------------------------------------------------------------------ tshark cross-check

TSHARK_FIELDS = ["frame.number", "frame.time_epoch", "ip.src", "ip.dst", "ipv6.src",
                 "ipv6.dst", "tcp.srcport", "tcp.dstport", "udp.srcport", "udp.dstport",
                 "icmp.type", "icmpv6.type", "ip.len", "ipv6.plen", "ip.frag_offset",
                 "ipv6.fraghdr.offset"]


def _tshark(path: Path) -> dict[int, dict[str, str]]:
    cmd = ["tshark", "-n", "-r", str(path), "-o", "ip.defragment:FALSE",
           "-o", "ipv6.defragment:FALSE", "-T", "fields", "-E", "occurrence=f"]
    for f in TSHARK_FIELDS:
        cmd += ["-e", f]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    rows = {}
    for line in out.splitlines():
        values = dict(zip(TSHARK_FIELDS, line.split("\t"), strict=True))
        rows[int(values["frame.number"])] = values
    return rows


@pytest.mark.skipif(shutil.which("tshark") is None, reason="tshark not installed")
@pytest.mark.parametrize("name", ["live.pcap", "sll.pcap", "sll2.pcap", "multi.pcapng",
                                  "wikipedia-qinq.pcap", "mixed-unknown.pcapng",
                                  "wikipedia-bigendian.pcap", "merlinc2_Zeek_example.pcapng"])
def test_decoder_agrees_with_tshark(name):
    import ipaddress

    pkts, stats = packets(DATA / name)
    ours = {p.number: p for p in pkts}
    theirs = _tshark(DATA / name)
    assert stats.frames == len(theirs)
    expected = set()
    for n, t in theirs.items():
        src = t["ip.src"] or t["ipv6.src"]
        later_fragment = (t["ip.frag_offset"] not in ("", "0")
                          or t["ipv6.fraghdr.offset"] not in ("", "0"))
        if src and not later_fragment:
            expected.add(n)
    assert set(ours) == expected
    for n in expected:
        p, t = ours[n], theirs[n]
        assert p.ts == pytest.approx(float(t["frame.time_epoch"]), abs=1e-6)
        assert str(ipaddress.ip_address(p.src)) == (t["ip.src"] or t["ipv6.src"])
        assert str(ipaddress.ip_address(p.dst)) == (t["ip.dst"] or t["ipv6.dst"])
        ip_len = int(t["ip.len"]) if t["ip.len"] else int(t["ipv6.plen"]) + 40
        assert p.ip_len == ip_len
        if p.proto == 6:
            assert (p.sport, p.dport) == (int(t["tcp.srcport"]), int(t["tcp.dstport"]))
        elif p.proto == 17:
            assert (p.sport, p.dport) == (int(t["udp.srcport"]), int(t["udp.dstport"]))
        elif p.proto in (1, 58):
            assert p.sport == int(t["icmp.type"] or t["icmpv6.type"])


@pytest.mark.parametrize("name", ["wikipedia.pcap", "wikipedia.pcapng", "multi.pcapng",
                                  "wikipedia.pcap.gz", "wikipedia-spb-pb.pcapng"])
def test_damaged_bytes_never_crash(tmp_path, name):
    """Seeded byte damage anywhere in a capture: a CaptureError line or counted problems."""
    rnd = random.Random(name)
    original = (DATA / name).read_bytes()
    for i in range(60):
        data = bytearray(original)
        for _ in range(rnd.choice([1, 3, 10])):
            pos = rnd.randrange(len(data))
            data[pos : pos + 4] = rnd.randbytes(4)
        if i % 5 == 0:
            data = data[: rnd.randrange(len(data))]
        path = tmp_path / f"damaged{i}"
        path.write_bytes(data)
        try:
            flows, _dns, stats = read_flows([path])
        except CaptureError as err:
            assert "\n" not in str(err)
            continue
        assert stats.frames <= 400 and len(flows) <= stats.packets
