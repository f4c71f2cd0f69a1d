"""Write dns.log and http.log (Zeek TSV) for Zeek's wikipedia.pcap, with tshark.

Why: Zeek's committed baseline for that trace is a conn.log only (bare mode, no protocol
scripts). The DNS answers and HTTP Host headers are in the same packets; tshark decodes
them and this script writes them in Zeek's published dns.log / http.log column sets
(docs.zeek.org: base/protocols/dns/main.zeek DNS::Info, base/protocols/http/main.zeek
HTTP::Info), joined to the baseline's uids by the connection 4-tuple. Values Zeek would
fill from scripts that tshark has no notion of (file ids, MIME types, tags) are unset.

Run from the repository root:
    python tests/data/traffic/zeek/make_wikipedia_logs.py \
        ../shared/captures/zeek-testing/wikipedia.pcap
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent / "wikipedia"


def words(text: str) -> list[str]:
    return text.split()


QTYPES = {1: "A", 2: "NS", 5: "CNAME", 6: "SOA", 12: "PTR", 16: "TXT", 28: "AAAA", 33: "SRV"}
RCODES = {0: "NOERROR", 1: "FORMERR", 2: "SERVFAIL", 3: "NXDOMAIN", 4: "NOTIMP", 5: "REFUSED"}
DNS_FIELDS = words("ts uid id.orig_h id.orig_p id.resp_h id.resp_p proto trans_id rtt query qclass "
                   "qclass_name qtype qtype_name rcode rcode_name AA TC RD RA Z answers TTLs "
                   "rejected")
DNS_TYPES = words("time string addr port addr port enum count interval string count string count "
                  "string count string bool bool bool bool count vector[string] vector[interval] "
                  "bool")
HTTP_FIELDS = words("ts uid id.orig_h id.orig_p id.resp_h id.resp_p trans_depth method host uri "
                    "referrer version user_agent origin request_body_len response_body_len "
                    "status_code status_msg info_code info_msg tags username password proxied "
                    "orig_fuids orig_filenames orig_mime_types resp_fuids resp_filenames "
                    "resp_mime_types")
HTTP_TYPES = words("time string addr port addr port count string string string string string "
                   "string string count count count string count string set[enum] string string "
                   "set[string] vector[string] vector[string] vector[string] vector[string] "
                   "vector[string] vector[string]")


def tshark(pcap: str, display: str, fields: list[str]) -> list[list[str]]:
    cmd = ["tshark", "-r", pcap, "-Y", display, "-T", "fields", "-E", "separator=|"]
    for f in fields:
        cmd += ["-e", f]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return [line.split("|") for line in out.splitlines() if line]


def uids() -> dict[tuple[str, int, str, int], str]:
    table = {}
    for line in (HERE / "conn.log").read_text().splitlines():
        if line.startswith("#"):
            continue
        c = line.split("\t")
        table[(c[2], int(c[3]), c[4], int(c[5]))] = c[1]
    return table


def header(path: str, fields: list[str], types: list[str], opened: float) -> list[str]:
    stamp = time.strftime("%Y-%m-%d-%H-%M-%S", time.gmtime(opened))
    return ["#separator \\x09", "#set_separator\t,", "#empty_field\t(empty)",
            "#unset_field\t-", f"#path\t{path}", f"#open\t{stamp}",
            "#fields\t" + "\t".join(fields), "#types\t" + "\t".join(types)]


def dns_log(pcap: str, table: dict) -> list[str]:
    rows = tshark(pcap, "dns.flags.response==1 && udp.srcport==53", [
        "frame.time_epoch", "dns.time", "ip.dst", "udp.dstport", "ip.src", "udp.srcport",
        "dns.id", "dns.qry.name", "dns.qry.type", "dns.flags.rcode",
        "dns.flags.authoritative", "dns.flags.truncated", "dns.flags.recdesired",
        "dns.flags.recavail", "dns.flags.z", "dns.count.answers", "dns.resp.type", "dns.a",
        "dns.aaaa", "dns.cname", "dns.resp.ttl"])
    out = []
    for (t, rtt, oh, op, rh, rp, tid, query, qtype, rcode, aa, tc, rd, ra, z, n, rtypes,
         a, aaaa, cname, ttls) in rows:
        values = {1: a.split(","), 28: aaaa.split(","), 5: cname.split(",")}
        cursor = {k: 0 for k in values}
        answers, answer_ttls = [], []
        for i, rt in enumerate(rtypes.split(",")[:int(n)] if int(n) else []):
            rt = int(rt)
            if rt in values:
                answers.append(values[rt][cursor[rt]])
                cursor[rt] += 1
                answer_ttls.append(f"{float(ttls.split(',')[i]):.6f}")
        flag = {"0": "F", "1": "T", "False": "F", "True": "T"}
        ts = float(t) - float(rtt)
        out.append("\t".join([
            f"{ts:.6f}", table[(oh, int(op), rh, int(rp))], oh, op, rh, rp, "udp",
            str(int(tid, 16)), f"{float(rtt):.6f}", query, "1", "C_INTERNET", qtype,
            QTYPES[int(qtype)], rcode, RCODES[int(rcode)], flag[aa], flag[tc], flag[rd],
            flag[ra], z, ",".join(answers) or "-", ",".join(answer_ttls) or "-", "F"]))
    return out


def http_log(pcap: str, table: dict) -> list[str]:
    reqs = tshark(pcap, "http.request", [
        "frame.time_epoch", "tcp.stream", "ip.src", "tcp.srcport", "ip.dst", "tcp.dstport",
        "http.request.method", "http.host", "http.request.uri", "http.referer",
        "http.request.version", "http.user_agent"])
    resps = tshark(pcap, "http.response", ["tcp.stream", "http.response.code",
                                           "http.response.phrase", "http.content_length"])
    by_stream: dict[str, list[list[str]]] = {}
    for r in resps:
        by_stream.setdefault(r[0], []).append(r)
    depth: dict[str, int] = {}
    out = []
    for t, stream, oh, op, rh, rp, method, host, uri, ref, version, agent in reqs:
        depth[stream] = depth.get(stream, 0) + 1
        resp = by_stream.get(stream, [])
        code, phrase, length = (resp[depth[stream] - 1][1:] if len(resp) >= depth[stream]
                                else ("-", "-", ""))
        out.append("\t".join([
            f"{float(t):.6f}", table[(oh, int(op), rh, int(rp))], oh, op, rh, rp,
            str(depth[stream]), method, host, uri, ref or "-",
            version.removeprefix("HTTP/"), agent or "-", "-", "0", length or "0", code,
            phrase, "-", "-", "(empty)", "-", "-", "-", "-", "-", "-", "-", "-", "-"]))
    return out


def main(pcap: str) -> None:
    table = uids()
    for name, fields, types, rows in (
            ("dns", DNS_FIELDS, DNS_TYPES, dns_log(pcap, table)),
            ("http", HTTP_FIELDS, HTTP_TYPES, http_log(pcap, table))):
        rows.sort()
        opened = float(rows[0].split("\t")[0])
        closed = time.strftime("%Y-%m-%d-%H-%M-%S", time.gmtime(opened + 10))
        text = "\n".join([*header(name, fields, types, opened), *rows, f"#close\t{closed}"])
        (HERE / f"{name}.log").write_text(text + "\n")


if __name__ == "__main__":
    main(sys.argv[1])
