"""systemd units: which services and sockets are enabled, and what they run.

A unit starts at boot when a ``*.wants/`` or ``*.requires/`` link names it (or a preset
enables it); a ``.socket`` unit makes its service start on demand, on the port its
``Listen*=`` lines give. Drop-ins (``NAME.d/*.conf``) are merged, ``/dev/null`` links mask,
and template instances (``serial-getty@ttyS0.service``) fill in ``%i``/``%I``.
"""

from __future__ import annotations

import fnmatch
import posixpath
import re
from dataclasses import dataclass, field

from spyproof.checks.remote_access_image import TreeImage
from spyproof.checks.remote_access_shell import split_words
from spyproof.models import EntryKind, FileEntry

UNIT_DIRS = ("etc/systemd/system", "run/systemd/system", "lib/systemd/system",
             "usr/lib/systemd/system", "usr/local/lib/systemd/system")
PRESET_DIRS = ("etc/systemd/system-preset", "lib/systemd/system-preset",
               "usr/lib/systemd/system-preset")
_WANTS = re.compile(r"(.+)\.(wants|requires|upholds)/([^/]+)$")


@dataclass
class Setting:
    key: str
    value: str
    entry: FileEntry
    line: int


@dataclass
class Unit:
    name: str  # as enabled (an instance name for templates)
    entry: FileEntry
    settings: dict[str, list[Setting]] = field(default_factory=dict)  # "Section.Key"

    def values(self, key: str) -> list[Setting]:
        return self.settings.get(key, [])

    def first(self, key: str) -> str | None:
        v = self.values(key)
        return v[-1].value if v else None


@dataclass
class UnitStart:
    """One ``ExecStart=`` of a unit, with how the unit gets started."""

    unit: str
    entry: FileEntry
    line: int
    command: str
    env: dict[str, str | None]
    enabled: bool
    enabled_by: str | None
    on_demand: bool = False
    listens: list[tuple[str, str]] = field(default_factory=list)  # (value, "tcp"/"udp")
    socket: Setting | None = None
    accept: bool = False
    tty: str | None = None  # TTYPath= (a getty's terminal)


def has_systemd(image: TreeImage) -> bool:
    return any(image.under(d) for d in UNIT_DIRS)


def _parse(text: str, entry: FileEntry, into: dict[str, list[Setting]]) -> None:
    section = ""
    pending = ""
    start = 0
    for n, raw in enumerate(text.split("\n"), start=1):
        line = raw.strip()
        if pending:
            line, start = pending + " " + line, start
        else:
            start = n
        if line.endswith("\\"):
            pending = line[:-1]
            continue
        pending = ""
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("[") and line.endswith("]"):
            section = line[1:-1]
            continue
        key, eq, value = line.partition("=")
        if not eq:
            continue
        k = f"{section}.{key.strip()}"
        value = value.strip()
        if value == "" and key.strip() in ("ExecStart", "ListenStream", "ListenDatagram"):
            into[k] = []  # an empty assignment resets the list
            continue
        into.setdefault(k, []).append(Setting(key.strip(), value, entry, start))


class Systemd:
    """The units of one tree."""

    def __init__(self, image: TreeImage) -> None:
        self.image = image
        self.links: dict[str, list[str]] = {}  # unit name -> paths of the links enabling it
        self.masked: set[str] = set()
        self._scan_links()
        self.presets = self._presets()

    def _scan_links(self) -> None:
        for d in UNIT_DIRS:
            for e in self.image.under(d):
                rel = e.path[len(d) + 1:]
                m = _WANTS.fullmatch(rel)
                if m:
                    name = m.group(3)
                    if e.kind == EntryKind.symlink and e.link_target:
                        target = posixpath.basename(e.link_target)
                        if "@" in name and target.endswith("@" + name.rsplit(".", 1)[-1]):
                            target = name  # an instance of a template: keep the instance
                        if target != name and "@" not in name:
                            name = target
                    self.links.setdefault(name, []).append(e.path)
                elif "/" not in rel and e.kind == EntryKind.symlink and e.link_target in (
                        "/dev/null", "../../../dev/null"):
                    self.masked.add(rel)

    def _presets(self) -> list[tuple[str, str, str]]:
        """(verb, pattern, where) in the order systemd applies them (first match wins)."""
        files: dict[str, FileEntry] = {}
        for d in PRESET_DIRS:
            for e in self.image.glob(f"{d}/*.preset"):
                files.setdefault(posixpath.basename(e.path), e)
        rules = []
        for name in sorted(files):
            text = self.image.read_text(files[name]) or ""
            for n, raw in enumerate(text.split("\n"), start=1):
                f = raw.split("#", 1)[0].split()
                if len(f) >= 2 and f[0] in ("enable", "disable"):
                    rules.append((f[0], f[1], f"{files[name].path}:{n}"))
        return rules

    def unit_file(self, name: str) -> FileEntry | None:
        template = re.sub(r"@[^.]+\.", "@.", name) if "@" in name else None
        for candidate in (name, template):
            if not candidate:
                continue
            for d in UNIT_DIRS:
                e = self.image.resolve(f"{d}/{candidate}")
                if e is not None:
                    return e
        return None

    def load(self, name: str) -> Unit | None:
        entry = self.unit_file(name)
        if entry is None:
            return None
        unit = Unit(name, entry)
        text = self.image.read_text(entry)
        if text is None:
            return None
        _parse(text, entry, unit.settings)
        bases = [name]
        if "@" in name:
            bases.insert(0, re.sub(r"@[^.]+\.", "@.", name))
        dropins: dict[str, FileEntry] = {}
        for base in bases:
            for d in reversed(UNIT_DIRS):
                for e in self.image.glob(f"{d}/{base}.d/*.conf"):
                    dropins[posixpath.basename(e.path)] = e
        for fname in sorted(dropins):
            t = self.image.read_text(dropins[fname])
            if t is not None:
                _parse(t, dropins[fname], unit.settings)
        return unit

    def enablement(self, name: str) -> tuple[bool, str | None]:
        if name in self.masked:
            return False, "masked"
        if name in self.links:
            return True, sorted(self.links[name])[0]
        for verb, pattern, where in self.presets:
            if fnmatch.fnmatchcase(name, pattern):
                return verb == "enable", f"preset {where}"
        return False, None

    def unit_names(self) -> list[str]:
        names = set(self.links)
        for d in UNIT_DIRS:
            for e in self.image.glob(f"{d}/*"):
                base = posixpath.basename(e.path)
                if base.endswith((".service", ".socket")) and "@." not in base:
                    names.add(base)
        return sorted(n for n in names if n.endswith((".service", ".socket")))

    def starts(self) -> list[UnitStart]:
        """Every ExecStart of every service unit, sockets resolved to their services."""
        out: list[UnitStart] = []
        for name in self.unit_names():
            enabled, by = self.enablement(name)
            if name.endswith(".socket"):
                out.extend(self._socket(name, enabled, by))
                continue
            unit = self.load(name)
            if unit is not None:
                out.extend(self._execs(unit, enabled, by))
        return out

    def _env(self, unit: Unit) -> dict[str, str | None]:
        env: dict[str, str | None] = {}
        for s in unit.values("Service.EnvironmentFile"):
            path = s.value.lstrip("-")
            e = self.image.resolve(path)
            if e is None:
                continue
            for raw in (self.image.read_text(e) or "").split("\n"):
                k, eq, v = raw.strip().partition("=")
                if eq and re.fullmatch(r"[A-Za-z_]\w*", k.strip()):
                    env[k.strip()] = v.strip().strip("\"'")
        for s in unit.values("Service.Environment"):
            for w in split_words(s.value):
                k, eq, v = w.partition("=")
                if eq:
                    env[k] = v
        return env

    def _execs(self, unit: Unit, enabled: bool, by: str | None) -> list[UnitStart]:
        instance = unit.name.split("@", 1)[1].rsplit(".", 1)[0] if "@" in unit.name else ""
        env = self._env(unit)

        def expand(text: str) -> str:
            return text.replace("%I", instance).replace("%i", instance).replace(
                "%n", unit.name).replace("%N", unit.name.rsplit(".", 1)[0]).replace("%%", "%")

        tty = unit.first("Service.TTYPath")
        out = []
        for s in unit.values("Service.ExecStart"):
            cmd = expand(s.value.lstrip("-@:+!"))
            out.append(UnitStart(unit.name, s.entry, s.line, cmd, dict(env), enabled, by,
                                 tty=posixpath.basename(expand(tty)) if tty else None))
        return out

    def _socket(self, name: str, enabled: bool, by: str | None) -> list[UnitStart]:
        sock = self.load(name)
        if sock is None:
            return []
        accept = (sock.first("Socket.Accept") or "no").lower() in ("yes", "true", "1", "on")
        service = sock.first("Socket.Service") or (
            name.rsplit(".", 1)[0] + ("@.service" if accept else ".service"))
        listens = [(s.value, "tcp") for s in sock.values("Socket.ListenStream")] + \
            [(s.value, "udp") for s in sock.values("Socket.ListenDatagram")]
        listens = [(v, t) for v, t in listens if not v.startswith(("/", "@", "vsock:"))]
        if not listens:
            return []
        unit = self.load(service)
        if unit is None:
            return []
        first = (sock.values("Socket.ListenStream") or sock.values("Socket.ListenDatagram"))[0]
        out = []
        for st in self._execs(unit, enabled, by):
            st.on_demand, st.listens, st.socket, st.accept = True, listens, first, accept
            st.unit = name
            out.append(st)
        return out
