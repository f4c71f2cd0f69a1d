"""OpenWrt UCI configuration files (``/etc/config/*``): sections with options and lists.

OpenWrt init scripts build daemon command lines from these files (``config_load dropbear``),
so the port, interface and password settings of dropbear or uhttpd are read here, not in
the script.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field

TRUE = {"1", "on", "yes", "true", "enabled"}


@dataclass
class UciSection:
    type: str
    name: str | None
    line: int
    options: dict[str, tuple[str, int]] = field(default_factory=dict)
    lists: dict[str, list[tuple[str, int]]] = field(default_factory=dict)


def parse_uci(text: str) -> list[UciSection]:
    sections: list[UciSection] = []
    for n, raw in enumerate(text.split("\n"), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        try:
            words = shlex.split(line, comments=True)
        except ValueError:
            continue
        if not words:
            continue
        if words[0] == "config" and len(words) >= 2:
            sections.append(UciSection(words[1], words[2] if len(words) > 2 else None, n))
        elif words[0] in ("option", "list") and len(words) >= 3 and sections:
            sec = sections[-1]
            if words[0] == "option":
                sec.options[words[1]] = (words[2], n)
            else:
                sec.lists.setdefault(words[1], []).append((words[2], n))
    return sections


def truthy(value: str | None) -> bool:
    return (value or "").strip().lower() in TRUE


def interface_addresses(text: str) -> dict[str, str]:
    """Static IPv4 address of each logical interface in ``/etc/config/network``."""
    out = {}
    for sec in parse_uci(text):
        if sec.type == "interface" and sec.name and "ipaddr" in sec.options:
            addr = sec.options["ipaddr"][0].split("/")[0]
            if sec.options.get("proto", ("static", 0))[0] == "static":
                out[sec.name] = addr
    return out
