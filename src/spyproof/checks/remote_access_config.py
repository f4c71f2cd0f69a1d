"""Daemon configuration files (sshd_config, vsftpd.conf): the directives that decide the
port, the listening address and who may log in how, with the line each was read from.

Formats are described in the catalog (keyword syntax, case, first-wins, Include, Match), so
the reader itself knows no daemon.
"""

from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from spyproof.checks.remote_access_catalog import ConfigFormat
from spyproof.models import FileEntry

if TYPE_CHECKING:
    from spyproof.checks.remote_access_image import TreeImage

MAX_INCLUDE_DEPTH = 4
_KEY_VALUE = re.compile(r"([^\s=]+)\s*(?:=\s*|\s+)(.*)$")


@dataclass
class Directive:
    """What one directive sets: auth facts, or ports / addresses to listen on."""

    facts: dict[str, Any] = field(default_factory=dict)
    ports: list[str] = field(default_factory=list)
    addresses: list[str] = field(default_factory=list)


@dataclass
class ConfigResult:
    facts: dict[str, Any] = field(default_factory=dict)
    ports: list[str] = field(default_factory=list)
    addresses: list[str] = field(default_factory=list)
    evidence: list[tuple[FileEntry, int, str]] = field(default_factory=list)  # auth lines


def _split(fmt: ConfigFormat, line: str) -> tuple[str, str] | None:
    s = line.strip()
    if not s or s.startswith(("#", ";")):
        return None
    if fmt.syntax == "equals":
        key, eq, value = s.partition("=")
        if not eq:
            return None
    else:
        m = _KEY_VALUE.match(s)
        key, value = (m.group(1), m.group(2)) if m else (s, "")
    key, value = key.strip(), value.strip().strip('"').strip()
    return (key.lower() if fmt.case_insensitive else key), value


def _directive(fmt: ConfigFormat, key: str, value: str) -> Directive | None:
    spec = fmt.keys.get(key)
    if spec is None:
        return None
    d = Directive()
    sets = spec.get("sets")
    if sets == "port":
        d.ports.append(value)
    elif sets in ("listen", "bind"):
        d.addresses.append(value)
    elif sets:
        d.facts[sets] = value
    values = spec.get("values") or {}
    if values:
        v = value.lower() if fmt.case_insensitive else value
        hit = values.get(v)
        if hit is None:
            hit = next((f for k, f in values.items() if str(k).lower() == v.lower()), None)
        if hit is None:
            return None
        d.facts.update(hit)
    return d


def apply_directive(fmt: ConfigFormat, text: str) -> Directive | None:
    """One ``Key=Value`` (or ``Key Value``) given on the command line (``sshd -o``)."""
    kv = _split(fmt, text)
    return _directive(fmt, *kv) if kv else None


def read_config(image: TreeImage, path: str, fmt: ConfigFormat) -> ConfigResult | None:
    """The directives of a config file in the image (None when the file is not there)."""
    entry = image.resolve(path)
    if entry is None:
        return None
    result = ConfigResult()
    _read(image, entry, fmt, result, set(), posixpath.dirname(path.strip("/")), 0)
    return result


def _read(image: TreeImage, entry: FileEntry, fmt: ConfigFormat, result: ConfigResult,
          seen: set[str], base: str, depth: int) -> bool:
    """Read one file into ``result``; False when a stop keyword (``Match``) ended it."""
    text = image.read_text(entry)
    if text is None:
        return True
    for n, line in enumerate(text.split("\n"), start=1):
        kv = _split(fmt, line)
        if kv is None:
            continue
        key, value = kv
        if key in fmt.stop_at:
            return False
        if fmt.include and key == fmt.include and depth < MAX_INCLUDE_DEPTH:
            for pattern in value.split():
                pat = pattern if pattern.startswith("/") else f"{base}/{pattern}"
                for inc in image.glob(pat):
                    target = image.resolve(inc.path)
                    if target is not None and not _read(image, target, fmt, result, seen,
                                                        base, depth + 1):
                        return False
            continue
        d = _directive(fmt, key, value)
        if d is None:
            continue
        multiple = bool(fmt.keys[key].get("multiple"))
        if fmt.first_wins and not multiple and key in seen:
            continue
        if d.ports and (not fmt.first_wins or multiple or "port" not in seen):
            result.ports.extend(d.ports)
        result.addresses.extend(d.addresses)
        new = {k: v for k, v in d.facts.items() if not (fmt.first_wins and k in result.facts)}
        result.facts.update(new if fmt.first_wins else d.facts)
        if d.facts:
            result.evidence.append((entry, n, line.strip()[:300]))
        seen.add(key)
    return True
