"""The no-spy agreement as data: what a vendor declares and the clauses that are judged.

An agreement is a TOML file (``spyproof agreement init`` writes a commented template;
its JSON Schema is ``docs/schema/agreement.schema.json``). Unknown keys are errors, so a
typo never silently weakens a clause.
"""

from __future__ import annotations

import ipaddress
import re
from datetime import date
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

AGREEMENT_SCHEMA_VERSION = "1"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Party(_Strict):
    name: str
    role: Literal["vendor", "operator", "evaluator", "regulator", "other"] = "other"


class Product(_Strict):
    vendor: str = Field(min_length=1)
    product: str = Field(min_length=1)
    firmware_versions: list[str] = Field(default_factory=list, description="Versions the "
                                         "agreement covers; shell wildcards allowed (5.2.*).")
    effective_from: date | None = None
    effective_until: date | None = None

    @model_validator(mode="after")
    def _dates_in_order(self) -> Product:
        if self.effective_from and self.effective_until and \
                self.effective_until < self.effective_from:
            raise ValueError("effective_until is before effective_from")
        return self


class RemoteAccess(_Strict):
    """A remote-access service the vendor declares (so its finding is 'declared')."""

    service: str = Field(min_length=1, description="Daemon or protocol: dropbear, sshd, "
                         "ssh, telnetd, uhttpd, http …")
    port: int | None = Field(default=None, ge=0, le=65535)
    interface: str | None = Field(default=None, description="lan, wan, all, console, an "
                                  "interface name or a bind address.")
    authentication: Literal["key", "password", "key-or-password", "none"] | None = None
    purpose: str = ""


class Account(_Strict):
    name: str = Field(min_length=1)
    uid0: bool = Field(default=False, description="Declared as a superuser account.")
    purpose: str = ""


class Endpoint(_Strict):
    """An outbound destination: a host name (``*`` wildcards) or an IP/CIDR."""

    host: str | None = Field(default=None, description="Host name; *.example.com matches "
                             "its subdomains.")
    cidr: str | None = Field(default=None, description="An address or network, v4 or v6.")
    ports: list[int] = Field(default_factory=list)
    protocol: str | None = Field(default=None, description="Scheme as found: http, https, "
                                 "mqtt, ntp …")
    purpose: str = ""
    data: list[str] = Field(default_factory=list, description="Data categories sent.")

    @field_validator("cidr")
    @classmethod
    def _cidr_parses(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                ipaddress.ip_network(value, strict=False)
            except ValueError:
                raise ValueError(f"{value!r} is not an IP address or CIDR network") from None
        return value

    @field_validator("ports")
    @classmethod
    def _ports_valid(cls, value: list[int]) -> list[int]:
        bad = [p for p in value if not 0 <= p <= 65535]
        if bad:
            raise ValueError(f"port(s) out of range: {bad}")
        return value

    @model_validator(mode="after")
    def _host_or_cidr(self) -> Endpoint:
        if (self.host is None) == (self.cidr is None):
            raise ValueError("an endpoint needs exactly one of host or cidr")
        return self


Hardening = Literal["nx", "pie", "relro_full", "relro_partial", "canary", "fortify"]


class Policy(_Strict):
    fail_severity: Literal["critical", "high", "medium", "low", "info"] = Field(
        default="high", description="A finding at or above this severity fails its clause.")
    no_kev: bool = Field(default=True, description="NS-5: no component with a vulnerability "
                         "in CISA's KEV catalog.")
    max_cvss: float | None = Field(default=9.0, ge=0.0, le=10.0, description="NS-5: "
                                   "vulnerabilities with a CVSS base score at or above this …")
    max_age_days: int | None = Field(default=90, ge=0, description="… may stay unpatched at "
                                     "most this many days after publication.")
    required_hardening: dict[Hardening, float] = Field(
        default_factory=dict, description="NS-6: minimum share (percent) of ELF files with "
        "each property, e.g. {pie = 90.0}.")
    unsafe_call_budget: int | None = Field(default=None, ge=0, description="NS-6: at most "
                                           "this many ELF files importing unsafe libc calls.")
    exempt_endpoint_classes: list[str] = Field(
        default_factory=lambda: ["time", "dns"], description="NS-3: public endpoints of "
        "these classes need no declaration.")

    @field_validator("required_hardening")
    @classmethod
    def _percentages(cls, value: dict[str, float]) -> dict[str, float]:
        bad = {k: v for k, v in value.items() if not 0.0 <= v <= 100.0}
        if bad:
            raise ValueError(f"percentages must be 0–100: {bad}")
        return value


_CLAUSE_ID = re.compile(r"^[A-Z][A-Z0-9]*-[0-9]+$")


class Clause(_Strict):
    id: str = Field(description="NS-1 … NS-7, or a custom id (with custom = true).")
    title: str | None = None
    wording: str | None = None
    checks: list[str] | None = Field(default=None, description="Checks that decide it "
                                     "(default: the built-in clause's).")
    custom: bool = False

    @field_validator("id")
    @classmethod
    def _id_shape(cls, value: str) -> str:
        if not _CLAUSE_ID.match(value):
            raise ValueError(f"clause id {value!r} must look like NS-1")
        return value


class Agreement(_Strict):
    """The whole agreement file."""

    schema_version: Literal["1"] = AGREEMENT_SCHEMA_VERSION
    agreement: Product
    parties: list[Party] = Field(default_factory=list)
    remote_access: list[RemoteAccess] = Field(default_factory=list)
    accounts: list[Account] = Field(default_factory=list)
    endpoints: list[Endpoint] = Field(default_factory=list)
    policy: Policy = Field(default_factory=Policy)
    clauses: list[Clause] = Field(default_factory=list, description="The clauses judged; "
                                  "empty means the built-in NS-1 … NS-7.")
