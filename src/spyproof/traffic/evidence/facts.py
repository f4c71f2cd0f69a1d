"""What the traffic analytics found, as data: the tables behind the findings.

``TrafficFacts`` goes into report.json next to the findings, so a reader can check every
finding against the complete picture (all destinations, resolvers, names, volumes,
beacon scores) and see what was judged harmless. Every list is sorted for determinism.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class _Facts(BaseModel):
    model_config = ConfigDict(extra="forbid")


class InputRef(_Facts):
    """One input a finding can cite: a capture file or a Zeek log file."""

    name: str = Field(description="As given (path or file name); Evidence.path.")
    sha256: str
    kind: Literal["pcap", "pcapng", "zeek"]


class Destination(_Facts):
    """One outside destination of the device: a name (or address) + port + protocol."""

    label: str = Field(description="The name the device used (SNI, HTTP Host, DNS), else "
                       "the address.")
    names: list[str] = Field(description="Every name seen for these flows.")
    ips: list[str]
    port: int
    proto: str
    services: list[str] = Field(default_factory=list)
    role: str = Field(description="destination, or dns/dot/doh when the flows carry DNS.")
    flows: int
    pkts_out: int
    bytes_out: int = Field(description="IP bytes the device sent.")
    pkts_in: int
    bytes_in: int
    payload_out: int = Field(description="Application bytes the device sent.")
    payload_in: int
    first_seen: str | None = Field(description="UTC time of the first flow's first packet.")
    first_packet: int | None
    last_seen: str | None
    declared_by: str | None = Field(description="The agreement entry that declares it, or "
                                    "the policy exemption; null when undeclared or no "
                                    "agreement was given.")
    undeclared_flows: int = 0
    devices: list[str] = Field(default_factory=list)


class Inbound(_Facts):
    """Sessions opened to the device from outside its network."""

    peer: str
    port: int = Field(description="The device's port.")
    proto: str
    flows: int
    established: int = Field(description="Flows the device answered with data.")
    bytes_from_peer: int
    bytes_to_peer: int
    first_seen: str | None
    first_packet: int | None
    declared_by: str | None


class ResolverUse(_Facts):
    resolver: str = Field(description="The resolver's address.")
    transport: str = Field(description="dns (UDP/TCP 53), dot or doh.")
    names: list[str] = Field(default_factory=list, description="Its names (SNI, known).")
    operator: str | None = None
    local: bool
    flows: int
    queries: int
    declared_by: str | None


class ResolvedName(_Facts):
    name: str
    addresses: list[str] = Field(description="Addresses and names in its answers.")
    qtypes: list[str]
    rcodes: list[str]
    resolvers: list[str]
    responses: int
    first_seen: str | None


class Upload(_Facts):
    label: str
    port: int
    proto: str
    bytes_out: int
    bytes_in: int
    ratio: float | None = Field(description="bytes_out / bytes_in (null when nothing came "
                                "back).")
    declared_by: str | None


class DayVolume(_Facts):
    day: str = Field(description="UTC date, YYYY-MM-DD (of each flow's start).")
    bytes_out: int
    bytes_in: int
    flows: int
    destinations: int


class BeaconFact(_Facts):
    device: str
    destination: str
    ips: list[str]
    ports: list[int]
    kind: Literal["beacon", "daily"]
    connections: int
    score: float
    timestamp_score: float
    data_size_score: float
    duration_score: float
    histogram_score: float
    median_interval_s: float
    first_seen: str | None
    last_seen: str | None
    hours_seen: int
    days_seen: int
    declared_by: str | None


class StormFact(_Facts):
    device: str
    destination: str
    connections: int = Field(description="Connections in the densest window.")
    window_s: float
    failed_share: float
    start: str | None
    first_packet: int | None


class DomainFact(_Facts):
    """DNS use per registered domain (the tunnelling measures)."""

    domain: str
    queries: int
    unique_names: int
    long_labels: int
    high_entropy_names: int
    unusual_qtypes: dict[str, int] = Field(default_factory=dict)


class CrossCheck(_Facts):
    traffic_only: list[str] = Field(description="Destinations seen in traffic, absent "
                                    "from the firmware's endpoints.")
    firmware_only: list[str] = Field(description="Public endpoints the firmware names that "
                                     "the traffic never reached.")
    both: list[str]


class LocalTraffic(_Facts):
    peer: str
    kind: str = Field(description="private, link-local, multicast, broadcast, loopback, "
                      "device-subnet …")
    port: int
    proto: str
    direction: Literal["outbound", "inbound"]
    flows: int
    bytes_out: int
    bytes_in: int


class TrafficFacts(_Facts):
    """Everything the analytics measured, sorted; attached to report.json."""

    device: list[str]
    inputs: list[InputRef]
    flows: int = Field(description="Flows given.")
    device_flows: int = Field(description="Flows the device took part in.")
    other_flows: int = Field(description="Flows between other hosts (ignored).")
    first_seen: str | None
    last_seen: str | None
    agreement: bool = Field(description="Whether declarations were judged.")
    destinations: list[Destination] = Field(default_factory=list)
    inbound: list[Inbound] = Field(default_factory=list)
    resolvers: list[ResolverUse] = Field(default_factory=list)
    dns_names: list[ResolvedName] = Field(default_factory=list)
    top_uploads: list[Upload] = Field(default_factory=list)
    daily_volume: list[DayVolume] = Field(default_factory=list)
    beacons: list[BeaconFact] = Field(default_factory=list)
    storms: list[StormFact] = Field(default_factory=list)
    dns_domains: list[DomainFact] = Field(default_factory=list)
    crosscheck: CrossCheck | None = None
    local: list[LocalTraffic] = Field(default_factory=list)
    notes: list[str] = Field(default_factory=list)
