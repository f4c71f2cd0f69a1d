"""The remote-access check's knowledge, loaded from ``data/checks/remote_services.yaml``.

Which daemons give remote access, the options that set their port, address and
authentication, the launchers that start them and the dangerous ways of running them are
data, so that a reviewer can check each against its cited source and a new daemon is one
entry, not code.
"""

from __future__ import annotations

import fnmatch
import functools
import posixpath
import re
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

import yaml

DATA_FILE = "checks/remote_services.yaml"
SEVERITIES = ("critical", "high", "medium", "low", "info")


class CatalogError(ValueError):
    """The data file is malformed (a bug in the shipped data, caught by the tests)."""


@dataclass(frozen=True)
class OptionSpec:
    value: bool = False  # takes an argument
    sets: str | None = None  # the fact it sets
    to: Any = None  # the value a flag sets


@dataclass(frozen=True)
class ServiceSpec:
    id: str
    names: tuple[str, ...]
    protocol: str
    transport: str
    default_port: int | None
    kind: str
    severity: str | None
    title: str
    explanation: str
    source: str
    options: dict[str, OptionSpec]
    positional_align: str = "left"
    positional_roles: tuple[str, ...] = ()
    defaults: dict[str, Any] = field(default_factory=dict)
    config: dict[str, Any] | None = None
    parser: str | None = None
    probe_options: frozenset[str] = frozenset()


@dataclass(frozen=True)
class PatternRule:
    id: str
    services: tuple[str, ...]
    when: dict[str, Any]
    severity: str
    title: str
    explanation: str
    source: str

    def matches(self, service: str, facts: dict[str, Any]) -> bool:
        return service in self.services and all(
            k in facts and facts[k] is not None and facts[k] == v for k, v in self.when.items())


@dataclass(frozen=True)
class LauncherSpec:
    names: tuple[str, ...]
    value_options: frozenset[str] = frozenset()
    positionals: int = 0
    command_options: frozenset[str] = frozenset()
    after: str | None = None
    requires: frozenset[str] = frozenset()
    assignments: bool = False
    sets: tuple[str, ...] = ()
    on_demand: bool = False


@dataclass(frozen=True)
class ConfigFormat:
    id: str
    syntax: str  # "space" or "equals"
    case_insensitive: bool
    first_wins: bool
    stop_at: frozenset[str]
    include: str | None
    keys: dict[str, dict[str, Any]]
    source: str


@dataclass(frozen=True)
class UciSpec:
    config: str
    service: str
    section: str
    program: str
    options: dict[str, str]  # UCI option -> fact
    defaults: dict[str, str]
    source: str


@dataclass(frozen=True)
class CgiRule:
    id: str
    applies_to: tuple[str, ...]
    needs: re.Pattern[str]
    match: re.Pattern[str]
    severity: str
    title: str
    explanation: str
    source: str


@dataclass(frozen=True)
class Catalog:
    version: int
    services: dict[str, ServiceSpec]
    patterns: tuple[PatternRule, ...]
    launchers: dict[str, LauncherSpec]
    shells: frozenset[str]
    login_programs: frozenset[str]
    serial_ttys: tuple[str, ...]
    configs: dict[str, ConfigFormat]
    uci: dict[str, UciSpec]
    cgi_rules: tuple[CgiRule, ...]
    inetd_ports: dict[str, int]
    inetd_ports_source: str
    by_name: dict[str, ServiceSpec]

    def service_named(self, name: str) -> ServiceSpec | None:
        return self.by_name.get(name)

    def is_shell(self, program: str | None) -> bool:
        return bool(program) and posixpath.basename(program.lstrip("-")) in self.shells

    def is_login(self, program: str | None) -> bool:
        return bool(program) and posixpath.basename(program) in self.login_programs

    def tty_kind(self, tty: str) -> str:
        name = posixpath.basename(tty)
        if name in ("console", ""):
            return "console"
        if any(fnmatch.fnmatchcase(name, p) for p in self.serial_ttys):
            return "serial"
        return "virtual-terminal" if re.fullmatch(r"tty\d+", name) else "terminal"

    def rule_for(self, service: ServiceSpec, facts: dict[str, Any]
                 ) -> PatternRule | ServiceSpec | None:
        """The first matching pattern, else the service itself (None: nothing to report)."""
        for p in self.patterns:
            if p.matches(service.id, facts):
                return p
        return service if service.severity else None


def _need(d: dict, key: str, where: str) -> Any:
    if key not in d or d[key] in (None, ""):
        raise CatalogError(f"{where}: missing {key!r}")
    return d[key]


def _options(raw: dict | None, where: str) -> dict[str, OptionSpec]:
    out = {}
    for name, spec in (raw or {}).items():
        if not str(name).startswith("-"):
            raise CatalogError(f"{where}: option {name!r} must start with '-'")
        spec = spec or {}
        out[str(name)] = OptionSpec(value=bool(spec.get("value", False)), sets=spec.get("sets"),
                                    to=spec.get("to"))
    return out


def parse_catalog(raw: dict) -> Catalog:
    """Validate and index the data file's content."""
    if not isinstance(raw, dict) or raw.get("version") != 1:
        raise CatalogError(f"{DATA_FILE}: unsupported version {raw.get('version')!r}")
    services: dict[str, ServiceSpec] = {}
    by_name: dict[str, ServiceSpec] = {}
    for s in _need(raw, "services", DATA_FILE):
        sid = _need(s, "id", "service")
        sev = s.get("severity")
        if sev is not None and sev not in SEVERITIES:
            raise CatalogError(f"service {sid}: bad severity {sev!r}")
        pos = s.get("positional") or {}
        spec = ServiceSpec(
            id=sid, names=tuple(s.get("names") or ()), protocol=_need(s, "protocol", sid),
            transport=_need(s, "transport", sid), default_port=s.get("default_port"),
            kind=_need(s, "kind", sid), severity=sev, title=_need(s, "title", sid),
            explanation=_need(s, "explanation", sid).strip(), source=_need(s, "source", sid),
            options=_options(s.get("options"), sid), positional_align=pos.get("align", "left"),
            positional_roles=tuple(pos.get("roles") or ()), defaults=dict(s.get("defaults") or {}),
            config=s.get("config"), parser=s.get("parser"),
            probe_options=frozenset(raw.get("probe_options") or ()) | frozenset(
                s.get("probe_options") or ()))
        if sid in services:
            raise CatalogError(f"service {sid}: duplicate id")
        services[sid] = spec
        for n in spec.names:
            if n in by_name:
                raise CatalogError(f"service name {n!r} in both {by_name[n].id} and {sid}")
            by_name[n] = spec
    patterns = []
    for p in raw.get("patterns") or []:
        pid = _need(p, "id", "pattern")
        for sid in _need(p, "services", pid):
            if sid not in services:
                raise CatalogError(f"pattern {pid}: unknown service {sid}")
        if p.get("severity") not in SEVERITIES:
            raise CatalogError(f"pattern {pid}: bad severity")
        patterns.append(PatternRule(
            id=pid, services=tuple(p["services"]), when=dict(_need(p, "when", pid)),
            severity=p["severity"], title=_need(p, "title", pid),
            explanation=_need(p, "explanation", pid).strip(), source=_need(p, "source", pid)))
    launchers = {}
    for la in raw.get("launchers") or []:
        _need(la, "source", f"launcher {la.get('names')}")
        spec = LauncherSpec(
            names=tuple(la["names"]), value_options=frozenset(la.get("value_options") or ()),
            positionals=int(la.get("positionals") or 0),
            command_options=frozenset(la.get("command_options") or ()), after=la.get("after"),
            requires=frozenset(la.get("requires") or ()),
            assignments=bool(la.get("assignments")), sets=tuple(la.get("sets") or ()),
            on_demand=bool(la.get("on_demand")))
        for n in spec.names:
            launchers[n] = spec
    configs = {}
    for cid, c in (raw.get("configs") or {}).items():
        ci = c.get("case") == "insensitive"
        keys = {(k.lower() if ci else k): v for k, v in (c.get("keys") or {}).items()}
        configs[cid] = ConfigFormat(
            id=cid, syntax=c.get("syntax", "space"), case_insensitive=ci,
            first_wins=bool(c.get("first_wins")),
            stop_at=frozenset(x.lower() if ci else x for x in c.get("stop_at") or ()),
            include=c.get("include"), keys=keys, source=_need(c, "source", cid))
    for s in services.values():
        if s.config and s.config.get("format") not in configs:
            raise CatalogError(f"service {s.id}: unknown config format")
    uci = {}
    for name, u in (raw.get("uci") or {}).items():
        if u.get("service") not in services:
            raise CatalogError(f"uci {name}: unknown service")
        uci[name] = UciSpec(
            config=name, service=u["service"], section=_need(u, "section", name),
            program=_need(u, "program", name),
            options={k: v["sets"] for k, v in (u.get("options") or {}).items()},
            defaults={k: str(v) for k, v in (u.get("defaults") or {}).items()},
            source=_need(u, "source", name))
    cgi = []
    for r in raw.get("cgi_rules") or []:
        rid = _need(r, "id", "cgi rule")
        if r.get("severity") not in SEVERITIES:
            raise CatalogError(f"cgi rule {rid}: bad severity")
        cgi.append(CgiRule(
            id=rid, applies_to=tuple(_need(r, "applies_to", rid)),
            needs=re.compile(_need(r, "needs", rid)), match=re.compile(_need(r, "match", rid)),
            severity=r["severity"], title=_need(r, "title", rid),
            explanation=_need(r, "explanation", rid).strip(), source=_need(r, "source", rid)))
    ports = raw.get("inetd_ports") or {}
    return Catalog(
        version=1, services=services, patterns=tuple(patterns), launchers=launchers,
        shells=frozenset(raw.get("shells") or ()),
        login_programs=frozenset(raw.get("login_programs") or ()),
        serial_ttys=tuple(raw.get("serial_ttys") or ()), configs=configs, uci=uci,
        cgi_rules=tuple(cgi), inetd_ports={str(k): int(v) for k, v in
                                           (ports.get("ports") or {}).items()},
        inetd_ports_source=ports.get("source", ""), by_name=by_name)


@functools.cache
def load_catalog() -> Catalog:
    text = resources.files("spyproof.data").joinpath(DATA_FILE).read_text(encoding="utf-8")
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml when it is there
    return parse_catalog(yaml.load(text, Loader=loader))  # noqa: S506 - a safe loader
