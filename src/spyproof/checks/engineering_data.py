"""The engineering check's knowledge, loaded from ``data/checks/unsafe_calls.yaml``.

Which C library calls count as unsafe (and which as their safe or fortified counterparts),
which components are network servers and which imports make a binary one are data, so that
a reviewer can check each entry against its cited source.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from importlib import resources
from typing import Any

import yaml

DATA_FILE = "checks/unsafe_calls.yaml"
FAMILIES = ("string-copy", "format", "input", "memory")
SEVERITIES = ("critical", "high", "medium", "low", "info")


class CatalogError(ValueError):
    """The data file is malformed (a bug in the shipped data, caught by the tests)."""


@dataclass(frozen=True)
class UnsafeCall:
    name: str
    family: str
    severity: str
    safe_counterparts: tuple[str, ...]
    fortified: str | None
    source: str


@dataclass(frozen=True)
class Catalog:
    calls: tuple[UnsafeCall, ...]
    network_daemons: dict[str, str]  # component name -> source
    server_calls: frozenset[str]
    server_calls_source: str
    metric_source: str

    @functools.cached_property
    def by_name(self) -> dict[str, UnsafeCall]:
        return {c.name: c for c in self.calls}

    @functools.cached_property
    def safe_names(self) -> dict[str, str]:
        """Safe counterpart -> its family."""
        return {s: c.family for c in self.calls for s in c.safe_counterparts}

    @functools.cached_property
    def fortified_names(self) -> dict[str, UnsafeCall]:
        """Fortified variant (``__strcpy_chk``) -> the unsafe call it checks."""
        return {c.fortified: c for c in self.calls if c.fortified}


def _need(entry: dict[str, Any], key: str, where: str) -> Any:
    if key not in entry or entry[key] in (None, ""):
        raise CatalogError(f"{where}: missing {key}")
    return entry[key]


def parse(doc: dict[str, Any]) -> Catalog:
    """Validate and build the catalog from the YAML document."""
    if not isinstance(doc, dict) or doc.get("version") != 1:
        raise CatalogError("unsafe_calls.yaml: expected a mapping with version: 1")
    calls = []
    seen: set[str] = set()
    for i, raw in enumerate(doc.get("calls") or []):
        where = f"calls[{i}]"
        name = _need(raw, "name", where)
        if name in seen:
            raise CatalogError(f"{where}: duplicate call {name}")
        seen.add(name)
        family = _need(raw, "family", where)
        if family not in FAMILIES:
            raise CatalogError(f"{where}: family {family!r} not one of {FAMILIES}")
        severity = _need(raw, "severity", where)
        if severity not in SEVERITIES:
            raise CatalogError(f"{where}: severity {severity!r} not one of {SEVERITIES}")
        calls.append(UnsafeCall(
            name=name, family=family, severity=severity,
            safe_counterparts=tuple(raw.get("safe_counterparts") or ()),
            fortified=raw.get("fortified"), source=_need(raw, "source", where)))
    daemons = {}
    for i, raw in enumerate(doc.get("network_daemons") or []):
        where = f"network_daemons[{i}]"
        daemons[_need(raw, "name", where)] = _need(raw, "source", where)
    server = doc.get("server_calls") or {}
    return Catalog(calls=tuple(calls), network_daemons=daemons,
                   server_calls=frozenset(_need(server, "names", "server_calls")),
                   server_calls_source=_need(server, "source", "server_calls"),
                   metric_source=_need(doc, "metric_source", "unsafe_calls.yaml"))


@functools.cache
def catalog() -> Catalog:
    """The shipped catalog (parsed once per process)."""
    text = resources.files("spyproof.data").joinpath(DATA_FILE).read_text(encoding="utf-8")
    return parse(yaml.safe_load(text))
