"""Bidirectional flows with Zeek's conn.log semantics, built one packet at a time.

Why Zeek's semantics: they are the reference that evaluators already read (conn.log), and
Zeek's committed baselines let spyproof's numbers be checked. What is followed (Zeek's
``TCPSessionAdapter``, ``TCP_Endpoint``, ``UDP``/``ICMP`` analyzers and
``base/protocols/conn/main.zeek``; re-expressed, not copied):

- the originator is the first packet's sender; a connection is flipped (history ``^``)
  only where Zeek flips: the SYN/SYN-ACK reversal, and — when ``likely_server_ports`` is
  given — Zeek's port heuristic for connections seen mid-stream (an empty set, the
  default, is Zeek's bare mode, which the committed baseline was produced in);
- per-endpoint TCP states and the ``conn_state`` table; ``history`` letters with
  repeated-flag and logarithmic retransmission entries; payload bytes from sequence
  numbers (TCP) or lengths (UDP, ICMP); IP bytes from the IP length fields;
- removal: UDP/ICMP inactivity (60 s), TCP inactivity (300 s), unanswered TCP attempts
  (5 s), closed connections (5 s after the close), and a new SYN reusing a closed
  connection's ports. Memory is bounded by the connections open at a time.

Not modelled: checksums (Zeek's tests run with ``-C``), content gaps (``g``), zero
windows (``w``), reassembly (a non-first IP fragment is skipped by the decoder and
counted, so a fragmented datagram counts as its first fragment). One deliberate
difference: after a SYN/SYN-ACK reversal the flipping packet is counted to its sender's
side (Zeek's ConnSize counts it to the other side).
"""

from __future__ import annotations

import hashlib
import heapq
from collections import Counter
from collections.abc import Callable, Iterable
from pathlib import Path

from spyproof.traffic.capture import CaptureStats, iter_packets, open_inputs
from spyproof.traffic.community_id import community_id, icmp_ports
from spyproof.traffic.model import DnsAnswer, Flow, Packet, address_text

Inspector = Callable[[Flow, bool, bytes, Packet], "list[DnsAnswer] | None"]

# TCP endpoint states, in Zeek's order (TCP_INACTIVE … TCP_RESET)
INACTIVE, SYN_SENT, SYN_ACK_SENT, PARTIAL, ESTABLISHED, CLOSED, RESET = range(7)
FIN, SYN, RST, ACK = 0x01, 0x02, 0x04, 0x10
MASK32 = 0xFFFFFFFF
TOO_LARGE_SEQ_DELTA = 1048576
# history "seen" bits per endpoint (the responder's are shifted by 16)
H_SYN, H_FIN, H_RST, H_FIN_RST, H_DATA, H_ACK, H_MULTI = 1, 2, 4, 8, 0x10, 0x20, 0x40

APP_PORTS_INSPECT_ALL = frozenset({53, 5353, 5355})  # DNS, mDNS, LLMNR: every packet is looked at
INSPECT_FIRST = 6  # payload-carrying packets per direction given to the inspector

# What Zeek's default (non-bare) configuration registers as likely server ports through
# its analyzers (Analyzer::register_for_ports); offered for callers who want Zeek's
# default orientation of mid-stream connections. Source: the ports each of Zeek's base
# protocol scripts registers (scripts/base/protocols/*/main.zeek).
ZEEK_DEFAULT_LIKELY_SERVER_PORTS = frozenset({
    21, 22, 25, 53, 67, 68, 80, 81, 88, 102, 110, 123, 137, 139, 143, 161, 162, 389, 443,
    445, 502, 514, 563, 585, 587, 614, 631, 636, 853, 989, 990, 992, 993, 995, 1080, 1812,
    1813, 1883, 2811, 3128, 3306, 3389, 3544, 4789, 5060, 5072, 5222, 5223, 5353, 5355,
    5432, 6081, 6379, 8000, 8080, 8888, 20000,
})

_B62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


def make_uid(number: int, proto: int, src: bytes, sport: int, dst: bytes, dport: int) -> str:
    """Zeek-looking, deterministic uid: 'C' + base62 of a hash of the first packet."""
    h = hashlib.blake2b(b"%d|%d|%b|%d|%b|%d" % (number, proto, src, sport, dst, dport),
                        digest_size=12)
    n = int.from_bytes(h.digest(), "big")
    out = []
    while n:
        n, r = divmod(n, 62)
        out.append(_B62[r])
    return "C" + "".join(reversed(out)).rjust(17, "0")


class _Endpoint:
    """One side of a TCP connection (Zeek's TCP_Endpoint, with unbounded sequence ints)."""

    __slots__ = ("state", "prev_state", "start", "last", "ack", "fin_cnt", "did_close",
                 "last_syn", "last_fin", "last_rst", "rxmt_cnt", "rxmt_thresh")

    def __init__(self) -> None:
        self.state = self.prev_state = INACTIVE
        self.start = self.last = self.ack = 0
        self.fin_cnt = 0
        self.did_close = False
        self.last_syn = self.last_fin = self.last_rst = 0
        self.rxmt_cnt = 0
        self.rxmt_thresh = 1

    def set_state(self, state: int) -> None:
        if state != self.state:
            self.prev_state = self.state
            self.state = state

    def init_seq(self, start: int, last: int) -> None:
        self.start = self.ack = start
        self.last = last

    def size(self, peer: _Endpoint) -> int:
        """Payload bytes from sequence numbers: highest of last-sent and acked, less SYN/FIN."""
        if (self.prev_state == SYN_SENT and self.state == RESET and peer.state == INACTIVE
                and self.ack - self.start > 1):
            return 0  # a half-open connection discovered and aborted
        size = max(self.last, self.ack) - self.start
        if size > 0:
            size -= 1
            if self.fin_cnt and size > 0:
                size -= 1
        return max(size, 0)


class _Conn:
    """A connection being tracked: counters in slots, the ``Flow`` filled in at the end."""

    __slots__ = ("flow", "proto", "k_orig", "k_resp", "o_pkts", "o_bytes", "r_pkts",
                 "r_bytes", "o_size", "r_size", "last", "seen", "history", "hist_seen",
                 "o_ep", "r_ep", "o_insp", "r_insp", "inspect_all", "attempt_time",
                 "close_time", "one_way", "removed", "ip_proto")

    def __init__(self, flow: Flow, proto: int, k_orig: tuple, k_resp: tuple | None):
        self.flow = flow
        self.proto = proto
        self.ip_proto = proto
        self.k_orig = k_orig
        self.k_resp = k_resp
        self.o_pkts = self.o_bytes = self.r_pkts = self.r_bytes = 0
        self.o_size = self.r_size = 0
        self.last = self.seen = flow.start
        self.history = ""
        self.hist_seen = 0
        self.o_ep = self.r_ep = None
        self.o_insp = self.r_insp = 0
        self.inspect_all = False
        self.attempt_time = self.close_time = None
        self.one_way = False
        self.removed = False

    # Zeek's Connection::CheckHistory / AddHistory / ScaledHistoryEntry
    def check(self, mask: int, code: str) -> bool:
        if self.hist_seen & mask:
            return True
        self.hist_seen |= mask
        self.history += code
        return False


class FlowTable:
    """Flows from packets, Zeek-style; see the module docstring for what is followed.

    ``inspector(flow, from_orig, payload, packet)`` is called for the first six
    payload-carrying packets each way of every flow and for every payload-carrying packet
    of DNS/mDNS flows; the ``DnsAnswer`` records it returns collect in ``dns``.
    Finished flows go to ``on_flow`` when given (streaming), else are kept for ``finish``.
    """

    def __init__(
        self,
        inspector: Inspector | None = None,
        udp_timeout: float = 60.0,
        icmp_timeout: float = 60.0,
        tcp_inactivity: float = 300.0,
        tcp_attempt_delay: float = 5.0,
        tcp_close_delay: float = 5.0,
        likely_server_ports: Iterable[int] = (),
        community_id_seed: int = 0,
        on_flow: Callable[[Flow], None] | None = None,
        wants_more: Callable[[Flow], bool] | None = None,
        keep_dns: bool = True,
    ):
        self.inspector = inspector
        # The inspector may ask for packets beyond the first six (DoH exchanges, a
        # ClientHello still being reassembled).
        # keep_dns False: the flow table alone. DNS answers are not collected, so DNS and
        # DoH flows get the same first-packets budget as any other (their questions and
        # names are in the first packets) and the inspector is not asked for more.
        self.keep_dns = keep_dns
        self.wants_more = wants_more if keep_dns else None
        self.udp_timeout = udp_timeout
        self.icmp_timeout = icmp_timeout
        self.tcp_inactivity = tcp_inactivity
        self.tcp_attempt_delay = tcp_attempt_delay
        self.tcp_close_delay = tcp_close_delay
        self.likely_server_ports = frozenset(likely_server_ports)
        self.seed = community_id_seed
        self.on_flow = on_flow
        self.dns: list[DnsAnswer] = []
        self.problems: Counter = Counter()  # e.g. inspector errors, counted not raised
        self._table: dict[tuple, tuple[_Conn, bool]] = {}
        self._heap: list[tuple[float, int, _Conn]] = []
        self._tick = 0
        self._done: list[Flow] = []

    # ------------------------------------------------------------------ public

    @property
    def open_flows(self) -> int:
        return len({id(c) for c, _ in self._table.values()})

    def add(self, p: Packet) -> None:
        """Account one packet to its flow (creating, expiring or reusing flows as Zeek)."""
        ts = p.ts
        heap = self._heap
        if heap and heap[0][0] <= ts:
            self._expire(ts)
        proto = p.proto
        if proto == 6 or proto == 17:
            sport, dport = p.sport, p.dport
        elif proto == 1 or proto == 58:
            sport, dport, one_way = icmp_ports(proto, p.sport, p.dport)
        else:
            sport = dport = 0
        key = (proto, p.src, sport, p.dst, dport)
        entry = self._table.get(key)
        if entry is None:
            conn = self._new(p, key, sport, dport)
            is_orig = self._table[key][1]
        else:
            conn, is_orig = entry
            if proto == 6 and p.tcp_flags & SYN and self._is_reuse(conn, p):
                self._remove(conn)
                conn = self._new(p, key, sport, dport)
                is_orig = self._table[key][1]
        conn.seen = ts
        if proto == 6:
            if self._tcp(conn, p, is_orig, ts):
                is_orig = not is_orig  # flipped: count the packet to its sender's side
        else:
            conn.last = ts
            plen = p.payload_len
            if is_orig:
                if proto == 17:
                    conn.check(1, "D")
                conn.o_size += plen
            else:
                if proto == 17:
                    conn.check(2, "d")
                conn.r_size += plen
        if is_orig:
            conn.o_pkts += 1
            conn.o_bytes += p.ip_len
        else:
            conn.r_pkts += 1
            conn.r_bytes += p.ip_len
        if self.inspector is not None and p.payload:
            self._inspect(conn, is_orig, p)

    def expired(self) -> list[Flow]:
        """Flows finished since the last call (when no ``on_flow`` callback is set)."""
        done, self._done = self._done, []
        return done

    def finish(self) -> list[Flow]:
        """End of input: every flow not yet handed out, sorted by start then uid.

        With ``on_flow`` set, the flows still open are returned here, not passed to it.
        """
        done = self.expired()
        for conn in {id(c): c for c, _ in self._table.values()}.values():
            done.append(self._remove(conn, hand_out=False))
        done.sort(key=lambda f: (f.start, f.uid))
        return done

    # ------------------------------------------------------------------ lifecycle

    def _new(self, p: Packet, key: tuple, sport: int, dport: int) -> _Conn:
        proto = p.proto
        one_way = False
        if proto == 1 or proto == 58:
            one_way = icmp_ports(proto, p.sport, p.dport)[2]
        flip = False
        likely = self.likely_server_ports
        if likely:
            if proto == 6:
                flags = p.tcp_flags
                if (not flags & SYN or flags & ACK) and sport in likely:
                    flip = (not flags & SYN and sport < dport) if dport in likely else True
            elif proto == 17:
                flip = sport in likely and dport not in likely
        src, dst = p.src, p.dst
        rev = (proto, dst, dport, src, sport)
        if flip:
            k_orig, k_resp = rev, key
            oh, op, rh, rp = dst, dport, src, sport
        else:
            k_orig, k_resp = key, rev
            oh, op, rh, rp = src, sport, dst, dport
        name = "tcp" if proto == 6 else "udp" if proto == 17 else (
            "icmp" if proto in (1, 58) else "unknown_transport")
        flow = Flow(
            uid=make_uid(p.number, proto, src, sport, dst, dport), proto=name,
            orig_h=address_text(oh), orig_p=op, resp_h=address_text(rh), resp_p=rp,
            start=p.ts, last=p.ts, first_packet=p.number, capture=p.capture, offset=p.offset,
        )
        conn = _Conn(flow, proto, k_orig, None if one_way else k_resp)
        conn.one_way = one_way
        conn.inspect_all = self.keep_dns and (proto == 6 or proto == 17) and (
            sport in APP_PORTS_INSPECT_ALL or dport in APP_PORTS_INSPECT_ALL)
        flow.community_id = community_id(oh, rh, proto, op, rp, self.seed, one_way)
        if proto == 6:
            conn.o_ep, conn.r_ep = _Endpoint(), _Endpoint()
        if flip:
            conn.history = "^"
        table = self._table
        if conn.k_resp is not None:
            table[conn.k_resp] = (conn, False)
        table[k_orig] = (conn, True)
        self._schedule(conn, p.ts + self._timeout(conn))
        return conn

    def _timeout(self, conn: _Conn) -> float:
        if conn.proto == 6:
            return min(self.tcp_attempt_delay, self.tcp_inactivity)
        if conn.proto == 1 or conn.proto == 58:
            return self.icmp_timeout
        return self.udp_timeout

    def _schedule(self, conn: _Conn, when: float) -> None:
        self._tick += 1
        heapq.heappush(self._heap, (when, self._tick, conn))

    def _deadline(self, conn: _Conn) -> float:
        """When the connection would be removed if nothing more arrives (Zeek's timers)."""
        if conn.proto != 6:
            return conn.seen + self._timeout(conn)
        o, r = conn.o_ep, conn.r_ep
        if conn.close_time is not None:
            return conn.close_time + self.tcp_close_delay
        if (conn.attempt_time is not None and o.state in (SYN_SENT, SYN_ACK_SENT)
                and r.state == INACTIVE):
            return conn.attempt_time + self.tcp_attempt_delay
        return conn.seen + self.tcp_inactivity

    def _expire(self, now: float) -> None:
        heap = self._heap
        while heap and heap[0][0] <= now:
            _, _, conn = heapq.heappop(heap)
            if conn.removed:
                continue
            deadline = self._deadline(conn)
            if deadline <= now:
                self._remove(conn)
            else:
                self._schedule(conn, deadline)

    def _remove(self, conn: _Conn, hand_out: bool = True) -> Flow:
        if conn.removed:
            return conn.flow
        conn.removed = True
        table = self._table
        for k in (conn.k_orig, conn.k_resp):
            if k is not None and table.get(k, (None,))[0] is conn:
                del table[k]
        flow = self._finish_flow(conn)
        if not hand_out:
            return flow
        if self.on_flow is not None:
            self.on_flow(flow)
        else:
            self._done.append(flow)
        return flow

    def _finish_flow(self, conn: _Conn) -> Flow:
        f = conn.flow
        f.last = conn.last
        f.orig_pkts, f.orig_ip_bytes = conn.o_pkts, conn.o_bytes
        f.resp_pkts, f.resp_ip_bytes = conn.r_pkts, conn.r_bytes
        f.history = conn.history
        if conn.proto == 6:
            o, r = conn.o_ep, conn.r_ep
            f.orig_bytes, f.resp_bytes = o.size(r), r.size(o)
            f.conn_state = _tcp_conn_state(o, r, f.orig_bytes, f.resp_bytes, conn.history)
        else:
            f.orig_bytes, f.resp_bytes = conn.o_size, conn.r_size
            if conn.proto == 17:
                o_act, r_act = conn.o_pkts > 0, conn.r_pkts > 0
                f.conn_state = ("SF" if r_act else "S0") if o_act else ("SHR" if r_act else "OTH")
            else:
                f.conn_state = "OTH"
        return f

    def _flip(self, conn: _Conn) -> None:
        """Swap originator and responder (Zeek's Connection::FlipRoles)."""
        f = conn.flow
        f.orig_h, f.resp_h = f.resp_h, f.orig_h
        f.orig_p, f.resp_p = f.resp_p, f.orig_p
        conn.o_ep, conn.r_ep = conn.r_ep, conn.o_ep
        conn.o_pkts, conn.r_pkts = conn.r_pkts, conn.o_pkts
        conn.o_bytes, conn.r_bytes = conn.r_bytes, conn.o_bytes
        conn.o_size, conn.r_size = conn.r_size, conn.o_size
        conn.o_insp, conn.r_insp = conn.r_insp, conn.o_insp
        conn.k_orig, conn.k_resp = conn.k_resp, conn.k_orig
        self._table[conn.k_resp] = (conn, False)
        self._table[conn.k_orig] = (conn, True)
        conn.history += "^"

    def _is_reuse(self, conn: _Conn, p: Packet) -> bool:
        """A SYN that starts a new connection on the ports of an existing one."""
        o, r = conn.o_ep, conn.r_ep
        flags = p.tcp_flags
        target = o
        if flags & ACK:
            if o.state != INACTIVE:
                return False
            target = r
        if not (o.did_close or r.did_close):
            seq = p.tcp_seq
            if seq == target.start & MASK32:
                return False
            if (not flags & ACK and target.state == SYN_ACK_SENT and r.state == INACTIVE
                    and seq == r.start & MASK32):
                return False
        return True

    # ------------------------------------------------------------------ inspection

    def _inspect(self, conn: _Conn, is_orig: bool, p: Packet) -> None:
        if not conn.inspect_all:
            seen = conn.o_insp if is_orig else conn.r_insp
            if seen >= INSPECT_FIRST and (self.wants_more is None
                                          or not self.wants_more(conn.flow)):
                return
            if is_orig:
                conn.o_insp += 1
            else:
                conn.r_insp += 1
        try:
            found = self.inspector(conn.flow, is_orig, p.payload, p)
        except Exception as exc:  # noqa: BLE001 - one bad payload must not end the run
            self.problems[f"inspector error ({type(exc).__name__})"] += 1
            return
        if found and self.keep_dns:
            self.dns.extend(found)

    # ------------------------------------------------------------------ TCP

    def _tcp(self, conn: _Conn, p: Packet, is_orig: bool, ts: float) -> bool:
        """Zeek's TCP endpoint processing for one packet; True if roles were flipped."""
        flags = p.tcp_flags
        syn, fin, rst, ackf = flags & SYN, flags & FIN, flags & RST, flags & ACK
        ln = p.payload_len
        seq = p.tcp_seq
        ep, peer = (conn.o_ep, conn.r_ep) if is_orig else (conn.r_ep, conn.o_ep)
        seg_len = ln + (1 if syn else 0) + (1 if fin else 0)
        if rst:
            seg_len -= ln

        # initialise this side's sequence space (init_endpoint)
        st = ep.state
        if st == INACTIVE:
            if syn:
                ep.init_seq(seq, seq + seg_len)
            else:  # partial: as though a SYN had been seen
                ep.init_seq(seq - 1, seq)
        elif syn and (
            (st in (SYN_SENT, SYN_ACK_SENT) and seq != ep.start & MASK32)
            or st in (ESTABLISHED, PARTIAL)
            or (st == RESET and ep.prev_state == INACTIVE)
        ):
            ep.init_seq(seq, seq + seg_len)

        last = ep.last
        rel_seq = last + (((seq - last + 0x80000000) & MASK32) - 0x80000000) - ep.start
        self._tcp_history(conn, is_orig, flags, ep, rel_seq, ln)

        if not (conn.o_ep.did_close and conn.r_ep.did_close):
            conn.last = ts
        if fin:
            ep.fin_cnt += 1
        if ackf:
            ack = p.tcp_ack
            if peer.state == INACTIVE:
                peer.init_seq(ack - 1, ack - 1)
            else:
                ack_full = peer.ack + (((ack - peer.ack + 0x80000000) & MASK32) - 0x80000000)
                if ack_full - peer.start >= 0 and not rst:
                    delta = ack_full - peer.ack
                    if not (ack == 0 and delta > TOO_LARGE_SEQ_DELTA) and delta > 0:
                        peer.ack = ack_full

        # update_last_seq (signed 32-bit distance from the last sequence number)
        delta_last = ((seq + seg_len - ep.last + 0x80000000) & MASK32) - 0x80000000
        if (syn or rst) and not -TOO_LARGE_SEQ_DELTA <= delta_last <= TOO_LARGE_SEQ_DELTA:
            pass
        elif fin and ep.last == ep.start + 1:
            ep.last += delta_last
        elif ep.state == RESET:
            pass
        elif delta_last > 0:
            ep.last += delta_last
        elif ln > 0:  # retransmission: 'T', then at 10, 100 … times
            ep.rxmt_cnt += 1
            if ep.rxmt_cnt == ep.rxmt_thresh:
                conn.history += "T" if is_orig else "t"
                ep.rxmt_thresh *= 10

        flipped, do_close = self._tcp_state(conn, ep, peer, is_orig, syn, fin, rst, ackf, ln,
                                            seq, ts)
        if do_close and not ep.did_close:
            ep.did_close = True
            if ep.state == RESET or peer.did_close or peer.state == INACTIVE:
                conn.close_time = conn.last
                self._schedule(conn, conn.last + self.tcp_close_delay)
        return flipped

    @staticmethod
    def _tcp_history(conn: _Conn, is_orig: bool, flags: int, ep: _Endpoint, rel_seq: int,
                     ln: int) -> None:
        shift = 0 if is_orig else 16
        syn, fin, rst = flags & SYN, flags & FIN, flags & RST
        bits = (1 if syn else 0) + (1 if fin else 0) + (1 if rst else 0)
        if bits > 1:
            if fin and rst:
                conn.check(H_FIN_RST << shift, "I" if is_orig else "i")
            else:
                conn.check(H_MULTI << shift, "Q" if is_orig else "q")
        elif bits == 1:
            if syn:
                code = "H" if flags & ACK else "S"
                if not is_orig:
                    code = code.lower()
                if conn.check(H_SYN << shift, code) and rel_seq != ep.last_syn:
                    conn.history += code
                ep.last_syn = rel_seq
            if fin:
                code = "F" if is_orig else "f"
                if conn.check(H_FIN << shift, code) and rel_seq + ln != ep.last_fin:
                    conn.history += code
                ep.last_fin = rel_seq + ln
            if rst:
                code = "R" if is_orig else "r"
                if conn.check(H_RST << shift, code) and rel_seq != ep.last_rst:
                    conn.history += code
                ep.last_rst = rel_seq
        elif ln:
            conn.check(H_DATA << shift, "D" if is_orig else "d")
        elif flags & ACK:
            conn.check(H_ACK << shift, "A" if is_orig else "a")

    def _tcp_state(self, conn: _Conn, ep: _Endpoint, peer: _Endpoint, is_orig: bool,
                   syn: int, fin: int, rst: int, ackf: int, ln: int, seq: int,
                   ts: float) -> tuple[bool, bool]:
        """Zeek's UpdateStateMachine; returns (roles flipped, endpoint closed)."""
        flipped = do_close = False
        st = ep.state
        if st == INACTIVE:
            if syn:
                if is_orig:
                    ep.set_state(SYN_ACK_SENT if ackf else SYN_SENT)
                    if conn.attempt_time is None:
                        conn.attempt_time = ts
                        self._schedule(conn, ts + self.tcp_attempt_delay)
                else:
                    if (not ackf and peer.state == SYN_ACK_SENT
                            and seq == ep.start & MASK32):
                        # SYN/SYN-ACK reversal: the SYN-ACK's sender was the responder
                        self._flip(conn)
                        flipped = True
                        peer.set_state(ESTABLISHED)
                    if peer.state == SYN_SENT:
                        peer.set_state(ESTABLISHED)
                    ep.set_state(ESTABLISHED)
            if fin:
                ep.set_state(CLOSED)
                do_close = True
            if rst:
                ep.set_state(RESET)
                do_close = True
            if ep.state == INACTIVE:
                if not is_orig and ln == 0 and conn.o_ep.state == SYN_SENT:
                    pass  # an ACK to a SYN before the SYN-ACK: not a partial connection
                elif ackf and peer.state == ESTABLISHED:
                    ep.set_state(ESTABLISHED)  # the SYN was missed, the SYN-ACK seen
                else:
                    ep.set_state(PARTIAL)
        elif st in (SYN_SENT, SYN_ACK_SENT):
            if fin:
                ep.set_state(CLOSED)
                do_close = True
            if rst:
                ep.set_state(RESET)
                do_close = True
        elif st in (ESTABLISHED, PARTIAL):
            if syn and st == PARTIAL and peer.state == INACTIVE and not ackf:
                ep.set_state(SYN_SENT)
            if fin and not rst:
                ep.set_state(CLOSED)
                if peer.state == RESET and peer.prev_state == CLOSED:
                    peer.set_state(CLOSED)  # FIN then RST from the peer: a normal close
                do_close = True
            if rst:
                ep.set_state(RESET)
                do_close = True
        elif st == CLOSED and rst and peer.state != CLOSED:
            ep.set_state(RESET)
            if not ep.did_close:
                do_close = True
        return flipped, do_close


def _tcp_conn_state(o: _Endpoint, r: _Endpoint, o_size: int, r_size: int,
                    history: str) -> str:
    """Zeek's conn_state() for TCP (base/protocols/conn/main.zeek)."""
    os_, rs = o.state, r.state
    o_inactive = os_ in (INACTIVE, PARTIAL)
    r_inactive = rs in (INACTIVE, PARTIAL)
    if rs == RESET:
        if os_ in (SYN_SENT, SYN_ACK_SENT) or (os_ == RESET and o_size == 0 and r_size == 0):
            return "REJ"
        return "RSTRH" if o_inactive else "RSTR"
    if os_ == RESET:
        if r_inactive:
            h = history[1:] if history.startswith("^") else history
            if h.startswith("S") and "R" in h:
                prefix = h[1:h.index("R")]
                if not any(c in "HAFGIQ" for c in prefix):
                    return "RSTOS0"
            return "OTH"
        return "RSTO"
    if rs == CLOSED and os_ == CLOSED:
        return "SF"
    if os_ == CLOSED:
        return "SH" if r_inactive else "S2"
    if rs == CLOSED:
        return "SHR" if o_inactive else "S3"
    if os_ == SYN_SENT and rs == INACTIVE:
        return "S0"
    if os_ == ESTABLISHED and rs == ESTABLISHED:
        return "S1"
    return "OTH"


def read_flows(paths: Iterable[Path | str], inspector: Inspector | None = None, **table_args):
    """Captures → (flows sorted by start then uid, DNS answers, capture statistics).

    Raises ``CaptureError`` (one line) for an input that is not a capture at all; every
    other problem is counted in the returned ``CaptureStats``.
    """
    capture_set = open_inputs([Path(p) for p in paths])
    stats = CaptureStats()
    table = FlowTable(inspector=inspector, **table_args)
    add = table.add
    for packet in iter_packets(capture_set, stats):
        add(packet)
    flows = table.finish()
    stats.notices.update(table.problems)
    return flows, table.dns, stats
