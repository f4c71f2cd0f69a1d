"""What every analysis needs: who the device is, which peers are local, which names each
flow had, and how a flow becomes evidence that cites the capture.

Why one place: the analyses must agree on direction, locality and naming, or the same
flow would be judged differently by destinations, volume and beacons.
"""

from __future__ import annotations

import bisect
import functools
import ipaddress
from collections import defaultdict
from datetime import UTC, datetime

from spyproof.agreement.load import LoadedAgreement
from spyproof.models import Evidence
from spyproof.traffic.evidence.declared import Declarations
from spyproof.traffic.evidence.facts import InputRef
from spyproof.traffic.evidence.rules import Knowledge
from spyproof.traffic.model import DnsAnswer, Flow

CHECK = "traffic"
CLAUSE = "NS-3"
TREE = "traffic"


def iso(ts: float | None) -> str | None:
    """UTC ISO 8601 with microseconds; None for unknown times (0: masked Zeek logs)."""
    if ts is None or ts <= 0:
        return None
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def day(ts: float) -> str:
    return _day(int(ts // 86400)) if ts > 0 else "unknown"


@functools.lru_cache(maxsize=4096)
def _day(n: int) -> str:
    return datetime.fromtimestamp(n * 86400, UTC).strftime("%Y-%m-%d")


def human_bytes(n: int) -> str:
    for unit, size in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n >= size:
            return f"{n / size:.1f} {unit}"
    return f"{n} B"


def hostport(ip: str, port: int) -> str:
    return f"[{ip}]:{port}" if ":" in ip else f"{ip}:{port}"


def flow_text(flow: Flow, names: list[str] | None = None) -> str:
    """One line: who talked to whom, how much each way, under which names."""
    svc = f" {flow.service}" if flow.service else (" quic" if flow.quic else "")
    text = (f"{hostport(flow.orig_h, flow.orig_p)} → {hostport(flow.resp_h, flow.resp_p)}/"
            f"{flow.proto}{svc}, {flow.orig_pkts} pkts/{human_bytes(flow.orig_ip_bytes)} out, "
            f"{flow.resp_pkts} pkts/{human_bytes(flow.resp_ip_bytes)} in")
    if names:
        text += ", names: " + ", ".join(names)
    return text


def _net(value: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    return ipaddress.ip_network(value.strip(), strict=False)


class Context:
    """The device, the inputs, the declarations and the name of every flow."""

    def __init__(self, flows: list[Flow], dns: list[DnsAnswer], *, device: str | list[str],
                 agreement: LoadedAgreement | None, inputs: list[InputRef],
                 k: Knowledge) -> None:
        self.k = k
        self.inputs = inputs
        self.device_text = sorted({device} if isinstance(device, str) else set(device))
        self.device_nets = [_net(d) for d in self.device_text]
        self.subnets = {n.supernet(new_prefix=min(
            n.prefixlen, k.subnet_v4 if n.version == 4 else k.subnet_v6)) for n in
            self.device_nets}
        self.decl = Declarations(agreement, k)
        self._device_cache: dict[str, bool] = {}
        self._local_cache: dict[str, str | None] = {}
        self.all_flows = flows
        self.outbound = sorted((f for f in flows if self.is_device(f.orig_h)
                                and not self.is_device(f.resp_h)), key=_order)
        self.inbound = sorted((f for f in flows if self.is_device(f.resp_h)
                               and not self.is_device(f.orig_h)), key=_order)
        self.device_flows = len(self.outbound) + len(self.inbound) + sum(
            1 for f in flows if self.is_device(f.orig_h) and self.is_device(f.resp_h))
        self.dns = sorted(dns, key=lambda a: (a.ts, a.query, a.resolver, a.client))
        self.device_dns = [a for a in self.dns if self.is_device(a.client)]
        # flow uid -> (dns / dot / doh, declared_by): set by resolvers.py, which judges them
        self.claimed: dict[str, tuple[str, str | None]] = {}
        self._by_ip = self._index_answers()
        times = [f.start for f in self.outbound + self.inbound if f.start > 0]
        lasts = [f.last for f in self.outbound + self.inbound if f.start > 0]
        self.span = (min(times), max(lasts)) if times else (0.0, 0.0)
        self._names: dict[str, list[str]] = {}
        self._dns_flow: dict[tuple[str, str, str], Flow] = {}
        for f in self.outbound:
            for q in f.dns_queries:
                self._dns_flow.setdefault((f.orig_h, f.resp_h, q), f)

    # -- who is who -----------------------------------------------------------------

    def is_device(self, ip: str) -> bool:
        if ip not in self._device_cache:
            try:
                addr = ipaddress.ip_address(ip)
                self._device_cache[ip] = any(addr in n for n in self.device_nets)
            except ValueError:
                self._device_cache[ip] = False
        return self._device_cache[ip]

    def local_kind(self, ip: str) -> str | None:
        """Why a peer is local (private, multicast, device-subnet …), None when outside."""
        if ip not in self._local_cache:
            self._local_cache[ip] = self._local_kind(ip)
        return self._local_cache[ip]

    def _local_kind(self, ip: str) -> str | None:
        try:
            addr = ipaddress.ip_address(ip)
        except ValueError:
            return None
        for net, kind in self.k.local_ranges:
            if addr.version == net.version and addr in net:
                return kind
        for net in self.subnets:
            if addr.version == net.version and addr in net:
                if addr.version == 4 and net.prefixlen < 31 and addr == net.broadcast_address:
                    return "broadcast"
                return "device-subnet"
        return None

    # -- names ----------------------------------------------------------------------

    def _index_answers(self) -> dict[tuple[str, str], tuple[list[float], list[str]]]:
        """(client, address) and ("", address) -> answer times and names, by time."""
        by: dict[tuple[str, str], list[tuple[float, str]]] = defaultdict(list)
        for a in self.dns:
            for value in a.answers:
                try:
                    ip = str(ipaddress.ip_address(value))
                except ValueError:
                    continue
                by[(a.client, ip)].append((a.ts, a.query))
                by[("", ip)].append((a.ts, a.query))
        return {k: ([t for t, _ in sorted(v)], [n for _, n in sorted(v)])
                for k, v in by.items()}

    def dns_name(self, flow: Flow) -> str | None:
        """The name the originator resolved to the responder's address: the latest answer
        before the flow started, else any (the earliest); the originator's own answers
        first, then any client's."""
        seen = self._by_ip.get((flow.orig_h, flow.resp_h)) or self._by_ip.get(
            ("", flow.resp_h))
        if not seen:
            return None
        times, names = seen
        i = bisect.bisect_right(times, flow.start)
        return names[i - 1] if i else names[0]

    def app_names(self, flow: Flow) -> list[str]:
        """The names the flow itself carried: TLS SNI, HTTP Host."""
        host = flow.http_host.rsplit(":", 1)[0] if flow.http_host and not \
            flow.http_host.startswith("[") else flow.http_host
        return _unique(n for n in (flow.sni, host) if n)

    def names(self, flow: Flow) -> list[str]:
        """The flow's names, the one it most surely used first: SNI, HTTP Host, DNS."""
        got = self._names.get(flow.uid)
        if got is None:
            dns = self.dns_name(flow)
            got = self._names[flow.uid] = _unique([*self.app_names(flow),
                                                   *([dns] if dns else [])])
        return got

    def declared_names(self, flow: Flow) -> list[str]:
        """The names a declaration is matched against: those the flow carried (SNI, Host)
        when it carried any — another name resolved to the same (shared, CDN) address must
        not declare it — else the DNS name."""
        return self.app_names(flow) or self.names(flow)

    # -- evidence -------------------------------------------------------------------

    def _input(self, capture: int | None) -> tuple[str, str | None]:
        if not self.inputs:
            return "traffic", None
        ref = self.inputs[capture] if capture is not None and 0 <= capture < len(
            self.inputs) else self.inputs[0]
        return ref.name, ref.sha256

    def evidence(self, flow: Flow, rule: str, text: str | None = None) -> Evidence:
        path, sha = self._input(flow.capture)
        return Evidence(tree=TREE, path=path, sha256=sha, offset=flow.offset,
                        packet=flow.first_packet, time=iso(flow.start),
                        text=text or flow_text(flow, self.names(flow)), rule=rule)

    def dns_evidence(self, client: str, resolver: str, query: str, ts: float,
                     packet: int | None, rule: str, text: str) -> Evidence:
        """Evidence for a DNS query: the flow that carried it when known."""
        flow = self._dns_flow.get((client, resolver, query))
        path, sha = self._input(flow.capture if flow else None)
        return Evidence(tree=TREE, path=path, sha256=sha,
                        offset=flow.offset if flow and packet is None else None,
                        packet=packet if packet is not None else (flow.first_packet
                                                                  if flow else None),
                        time=iso(ts), text=text, rule=rule)


def _unique(names) -> list[str]:
    out: list[str] = []
    for n in names:
        n = n.lower().rstrip(".")
        if n and n not in out:
            out.append(n)
    return out


def _order(f: Flow) -> tuple:
    return (f.start, f.first_packet or 0, f.uid)
