"""Everything one tree starts at boot or on demand, and which of it is a remote-access service.

The walk starts where the device starts: inittab (or BusyBox init's built-in defaults),
``rcS``, the ``rc.d``/``rcN.d`` links that enable init scripts, systemd units and sockets,
inetd and xinetd, crontabs, hotplug scripts, ``rc.local`` and the login profile. Each
script reached is read once (capped), its commands resolved; a command that runs another
script of the image queues that script, so a daemon started three scripts deep is found and
its chain of callers is kept. Init scripts that nothing enables are not reported; when
they would start a service, a note says so.
"""

from __future__ import annotations

import posixpath
import re
from collections import deque
from dataclasses import dataclass, field, replace
from typing import Any

from spyproof.checks.remote_access_catalog import Catalog, UciSpec
from spyproof.checks.remote_access_command import (
    Instance,
    Listen,
    parse_listen,
    resolve_command,
)
from spyproof.checks.remote_access_cron import CRONTABS, parse_crontab
from spyproof.checks.remote_access_image import TreeImage
from spyproof.checks.remote_access_inetd import (
    InetdService,
    parse_inetd_conf,
    parse_services,
    parse_xinetd,
)
from spyproof.checks.remote_access_inittab import parse_inittab
from spyproof.checks.remote_access_shell import Command, Exit, ForLoop, scan, split_words
from spyproof.checks.remote_access_systemd import Systemd, has_systemd
from spyproof.checks.remote_access_uci import interface_addresses, parse_uci, truthy
from spyproof.models import EntryKind, FileEntry

MAX_SCRIPTS = 5000
MAX_INLINE_DEPTH = 4
RCS_SCRIPTS = ("etc/init.d/rcS", "etc/rcS", "etc/rc.d/rcS", "etc/rc")
RC_LOCAL = ("etc/rc.local", "etc/rc.d/rc.local")
RC_LINKS = ("etc/rc.d/S*", "etc/rc?.d/S*", "etc/rc.d/rc?.d/S*")
INIT_DIRS = ("etc/init.d", "etc/rc.d/init.d")
LIBRARY_DIRS = ("lib/", "usr/lib/", "usr/share/")
_RUNLEVEL = re.compile(r"rc([0-6S])\.d/")


@dataclass(frozen=True)
class StartedBy:
    """How the file a start is written in gets run."""

    init_system: str  # busybox-init, sysvinit, sysv, procd, rcS, rc.local, systemd, inetd …
    trigger: str  # boot, respawn, askfirst, on-demand, event, login, schedule …
    enabled: bool | None  # None: nothing in this tree says whether it runs
    enabled_by: str | None = None  # the link, inittab line or unit that makes it run
    runlevel: str | None = None
    on_demand: bool = False
    user: str | None = None


@dataclass
class Launch:
    """One command that runs, where it is written and how it gets run."""

    entry: FileEntry
    line: int | None
    text: str
    argv: list[str]
    how: StartedBy
    via: tuple[str, ...] = ()
    piped_into: list[str] | None = None
    context: dict[str, Any] = field(default_factory=dict)


@dataclass
class Found:
    launch: Launch
    instance: Instance


class BootWalk:
    """The remote-access services one tree starts."""

    def __init__(self, image: TreeImage, cat: Catalog) -> None:
        self.image = image
        self.cat = cat
        self.notes = image.notes
        self.found: list[Found] = []
        self.superservers: set[str] = set()
        self.examined = 0
        self._seen: set[str] = set()
        self._queue: deque[tuple[FileEntry, StartedBy, tuple[str, ...]]] = deque()
        self._systemd = Systemd(image) if has_systemd(image) else None
        self._services: dict[tuple[str, str], int] | None = None
        self._has_inittab = False

    # -- the walk ----------------------------------------------------------------------------

    def run(self) -> list[Found]:
        self._inittab()
        if not self._has_inittab:
            self._roots(RCS_SCRIPTS, StartedBy("rcS", "boot", True, "boot script"))
        self._rc_links()
        self._drain()
        if self._systemd is not None:
            self._systemd_units()
            self._drain()
        self._roots(RC_LOCAL, StartedBy("rc.local", "boot", True, "rc.local"))
        self._drain()
        self._inetd()
        self._xinetd()
        self._cron()
        self._drain()
        self._roots([e.path for e in self.image.under("etc/hotplug.d")],
                    StartedBy("hotplug", "event", True, "hotplug.d", on_demand=True))
        self._drain()
        self._roots(["etc/profile", *(e.path for e in self.image.glob("etc/profile.d/*.sh"))],
                    StartedBy("login-shell", "login", True, "profile"))
        self._drain()
        self._leftover_init_scripts()
        return self.found

    def _enqueue(self, entry: FileEntry, how: StartedBy, via: tuple[str, ...]) -> None:
        if entry.path in self._seen or len(self._seen) >= MAX_SCRIPTS:
            return
        self._seen.add(entry.path)
        self._queue.append((entry, how, via))

    def _drain(self) -> None:
        while self._queue:
            entry, how, via = self._queue.popleft()
            self._scan_script(entry, how, via)

    def _roots(self, paths: Any, how: StartedBy) -> None:
        for p in paths:
            e = self.image.resolve(p)
            if e is not None and self.image.is_script(e):
                self._enqueue(e, how, ())

    # -- scripts -----------------------------------------------------------------------------

    def _include(self, path: str, line: int) -> tuple[str, object] | None:
        rel = path.lstrip("/")
        if rel.startswith(LIBRARY_DIRS) or "$" in rel:
            return None  # function libraries: nothing they run is started by sourcing them
        e = self.image.resolve(rel)
        if e is None or not self.image.is_script(e):
            return None
        text = self.image.read_text(e)
        return None if text is None else (text, e)

    def _scan_script(self, entry: FileEntry, how: StartedBy, via: tuple[str, ...],
                     dry: list[str] | None = None) -> None:
        text = self.image.read_text(entry)
        if text is None:
            return
        self.examined += 1
        if how.init_system == "sysv" and ("USE_PROCD=1" in text or "procd_" in text):
            how = replace(how, init_system="procd")
        env: dict[str, str | None] = {}
        uci_loaded: list[tuple[str, int]] = []
        procd: Launch | None = None
        first = len(self.found)

        def flush() -> None:
            nonlocal procd
            if procd is not None and procd.argv:
                self._launch(procd, dry)
            procd = None

        for ev in scan(text, env, include=self._include):
            where: FileEntry = ev.origin if isinstance(ev.origin, FileEntry) else entry
            if isinstance(ev, Exit):
                break
            if isinstance(ev, ForLoop):
                if dry is None:
                    self._for_loop(ev, where, how, via)
                continue
            if not isinstance(ev, Command):
                continue
            argv = ev.argv
            if argv[0] == "config_load" and len(argv) > 1:
                uci_loaded.append((argv[1], ev.line))
                continue
            if argv[0] in ("procd_open_instance", "procd_close_instance"):
                flush()
                continue
            if argv[0] == "procd_set_param" and len(argv) > 1:
                if argv[1] == "command":
                    flush()
                    procd = self._make(where, ev.line, argv[2:], how, via)
                continue
            if argv[0] == "procd_append_param" and len(argv) > 1:
                if argv[1] == "command" and procd is not None:
                    procd.argv.extend(argv[2:])
                continue
            launch = self._make(where, ev.line, argv, how, via)
            launch.piped_into = ev.piped_into
            self._launch(launch, dry)
        flush()
        if uci_loaded and dry is None:
            self._uci(entry, how, via, uci_loaded, first)

    def _make(self, entry: FileEntry, line: int | None, argv: list[str], how: StartedBy,
              via: tuple[str, ...]) -> Launch:
        text = self.image.line_text(entry, line) if line else ""
        return Launch(entry, line, text, list(argv), how, via)

    def _for_loop(self, ev: ForLoop, where: FileEntry, how: StartedBy,
                  via: tuple[str, ...]) -> None:
        """``for i in /etc/init.d/S??*; do $i start; done``: the scripts the glob matches."""
        for w in ev.words:
            if not (w.glob and w.text.startswith("/")):
                continue
            d = posixpath.dirname(w.text.strip("/"))
            if not (d.endswith("init.d") or re.search(r"rc[0-6S]?\.d$", d)):
                continue
            for e in self.image.glob(w.text):
                target = self.image.resolve(e.path)
                if target is not None and self.image.is_script(target):
                    self._enqueue(target, replace(how, enabled_by=f"{where.path}:{ev.line}"),
                                  (*via, f"{where.path}:{ev.line}"))

    def _launch(self, launch: Launch, dry: list[str] | None, depth: int = 0) -> None:
        res = resolve_command(launch.argv, self.image, self.cat, piped_into=launch.piped_into)
        if res.context:
            launch.context = {**launch.context, **res.context}
        for inst in res.instances:
            _apply_context(inst, launch)
            if dry is not None:
                dry.append(inst.service.id)
                continue
            if inst.service.kind == "superserver":
                self.superservers.add(inst.service.id)
                self.superservers.add(posixpath.basename(inst.program))
            self.found.append(Found(launch, inst))
        for entry, _args in res.follow:
            if dry is None:
                self._enqueue(entry, launch.how, (*launch.via, _at(launch)))
        if depth < MAX_INLINE_DEPTH:
            for inline in res.inline:
                for ev in scan(inline):
                    if isinstance(ev, Command):
                        sub = replace(launch, argv=ev.argv, piped_into=ev.piped_into,
                                      context=dict(launch.context))
                        self._launch(sub, dry, depth + 1)

    # -- inittab -----------------------------------------------------------------------------

    def _inittab(self) -> None:
        entry = self.image.resolve("etc/inittab")
        if entry is None:
            self._busybox_default()
            return
        text = self.image.read_text(entry)
        if text is None:
            return
        self.examined += 1
        entries, bad = parse_inittab(text)
        if bad:
            self.notes.append(f"{self.image.tree}/{entry.path}: {bad} line(s) are not inittab "
                              f"entries: skipped")
        if not entries:
            return
        self._has_inittab = True
        for it in entries:
            init = "busybox-init" if it.style == "busybox" else "sysvinit"
            how = StartedBy(init, it.action, True, f"{entry.path}:{it.line}",
                            it.runlevels or None)
            argv = split_words(it.process.lstrip("-+"))
            if not argv:
                continue
            launch = self._make(entry, it.line, argv, how, ())
            launch.context["tty"] = it.tty
            if self._bare_shell(argv) or self._login_without_password(argv):
                self._serial_shell(launch, it.tty)
                continue
            self._launch(launch, None)

    def _bare_shell(self, argv: list[str]) -> bool:
        """A shell with no script and no -c: an interactive shell on the tty."""
        while argv and posixpath.basename(argv[0]) in ("exec", "busybox", "setsid"):
            argv = argv[1:]
        if not argv or not self.cat.is_shell(argv[0]):
            return False
        for w in argv[1:]:
            if w == "-c" or (w.startswith("-") and not w.startswith("--") and "c" in w[1:]):
                return False
            if not w.startswith("-"):
                return False  # a script to run
        return True

    def _login_without_password(self, argv: list[str]) -> bool:
        """``login -f root``: login told the user is already authenticated."""
        return self.cat.is_login(argv[0]) and "-f" in argv[1:]

    def _serial_shell(self, launch: Launch, tty: str) -> None:
        spec = self.cat.services["serial-shell"]
        program = launch.argv[0]
        path, entry = None, None
        if "/" in program:
            path = program.lstrip("/")
            entry = self.image.resolve(path)
        applet = posixpath.basename(program) if self.image.is_multi_call(entry) else None
        inst = Instance(service=spec, program=program, binary=entry.path if entry else None,
                        applet=applet, argv=launch.argv,
                        facts={**spec.defaults, "tty": tty, "password_auth": False},
                        listens=[], port_source="none", partial=False)
        self.found.append(Found(launch, inst))

    def _busybox_default(self) -> None:
        """No inittab and init is BusyBox: its built-in table runs rcS and a console shell."""
        init = self.image.entry("sbin/init")
        target = self.image.resolve("sbin/init")
        if init is None or target is None or not self.image.is_multi_call(target):
            return
        self._has_inittab = True
        how = StartedBy("busybox-init", "askfirst", True, "BusyBox init defaults (no "
                        "etc/inittab)")
        text = f"sbin/init -> {init.link_target or target.path} (no etc/inittab)"
        launch = Launch(init, None, text, ["/bin/sh"], how, ())
        self._serial_shell(launch, "console")
        rcs = self.image.resolve("etc/init.d/rcS")
        if rcs is not None and self.image.is_script(rcs):
            self._enqueue(rcs, replace(how, trigger="sysinit"), (text,))

    # -- rc.d links and init scripts ---------------------------------------------------------

    def _rc_links(self) -> None:
        links: list[FileEntry] = []
        for pattern in RC_LINKS:
            links.extend(self.image.glob(pattern))
        for link in sorted(links, key=lambda e: e.path):
            target = self.image.resolve(link.path)
            if target is None:
                self.notes.append(f"{self.image.tree}/{link.path}: link does not resolve "
                                  f"inside the image (dangling or a loop): skipped")
                continue
            if not self.image.is_script(target):
                continue
            name = re.sub(r"^[SK]\d*", "", posixpath.basename(link.path))
            if self._systemd is not None and self._systemd.unit_file(f"{name}.service"):
                continue  # systemd runs its native unit instead of the SysV script
            m = _RUNLEVEL.search(link.path)
            if m and m.group(1) in ("0", "6"):
                continue  # halt and reboot: S links there run at shutdown
            how = StartedBy("sysv", "boot", True, link.path, m.group(1) if m else None)
            self._enqueue(target, how, ())

    def _leftover_init_scripts(self) -> None:
        mechanism = self._has_inittab or self._systemd is not None or any(
            self.image.glob(p) for p in RC_LINKS) or self.image.exists("sbin/init")
        for d in INIT_DIRS:
            for e in self.image.glob(f"{d}/*"):
                target = self.image.resolve(e.path)
                if target is None:
                    if e.kind == EntryKind.symlink:
                        self.notes.append(f"{self.image.tree}/{e.path}: link does not resolve "
                                          f"inside the image (dangling or a loop): skipped")
                    continue
                if target.path in self._seen or not self.image.is_script(target):
                    continue
                if mechanism:
                    self._seen.add(target.path)
                    would: list[str] = []
                    self._scan_script(target, StartedBy("sysv", "boot", False), (), would)
                    if would:
                        self.notes.append(
                            f"{self.image.tree}/{e.path}: would start "
                            f"{', '.join(sorted(set(would)))} but is not enabled (no rc.d "
                            f"link, not run by inittab or another boot script): not reported")
                else:
                    self._enqueue(target, StartedBy("sysv", "boot", None), ())
        self._drain()

    # -- systemd -----------------------------------------------------------------------------

    def _systemd_units(self) -> None:
        assert self._systemd is not None
        for st in self._systemd.starts():
            argv = split_words(st.command, st.env)
            if not argv:
                continue
            how = StartedBy("systemd", "on-demand" if st.on_demand else "boot", st.enabled,
                            st.enabled_by, on_demand=st.on_demand)
            launch = Launch(st.entry, st.line, self.image.line_text(st.entry, st.line), argv,
                            how, (st.unit,) if st.on_demand else ())
            if st.tty:
                launch.context["tty"] = st.tty
            if st.socket is not None:
                launch.context["listens"] = [parse_listen(v) for v, _t in st.listens]
                launch.context["port_source"] = "socket"
                launch.context["transport"] = st.listens[0][1]
                launch.context["evidence"] = [(st.socket.entry, st.socket.line,
                                               self.image.line_text(st.socket.entry,
                                                                    st.socket.line))]
            if st.enabled:
                self._launch(launch, None)
            else:
                would: list[str] = []
                self._launch(launch, would)
                if would:
                    self.notes.append(f"{self.image.tree}/{st.entry.path}: unit {st.unit} "
                                      f"would start {', '.join(sorted(set(would)))} but is not "
                                      f"enabled: not reported")

    # -- inetd / xinetd ----------------------------------------------------------------------

    def _port_of(self, name: str, proto: str) -> int | None:
        if name.isdigit():
            return int(name)
        if self._services is None:
            e = self.image.resolve("etc/services")
            self._services = parse_services(self.image.read_text(e) or "") if e else {}
        base = "udp" if proto.startswith("udp") else "tcp"
        return self._services.get((name, base)) or self.cat.inetd_ports.get(name)

    def _inetd_launch(self, entry: FileEntry, svc: InetdService, how: StartedBy) -> None:
        if svc.internal or not svc.argv:
            return
        port = svc.port if svc.port is not None else self._port_of(svc.name, svc.protocol)
        launch = self._make(entry, svc.line, svc.argv, how, ())
        launch.context.update(
            listens=[Listen(svc.bind, port, unresolved=port is None)],
            port_source=how.init_system,
            transport="udp" if svc.protocol.startswith("udp") or svc.socket_type == "dgram"
            else "tcp", superserver=how.init_system)
        if how.enabled:
            self._launch(launch, None)
        else:
            would: list[str] = []
            self._launch(launch, would)
            if would:
                self.notes.append(f"{self.image.tree}/{entry.path}:{svc.line}: "
                                  f"{', '.join(sorted(set(would)))} is disabled: not reported")

    def _inetd(self) -> None:
        entry = self.image.resolve("etc/inetd.conf")
        if entry is None:
            return
        self.examined += 1
        for svc in parse_inetd_conf(self.image.read_text(entry) or ""):
            how = StartedBy("inetd", "on-demand", True, f"{entry.path}:{svc.line}",
                            on_demand=True)
            self._inetd_launch(entry, svc, how)

    def _xinetd(self) -> None:
        files: list[FileEntry] = []
        main = self.image.resolve("etc/xinetd.conf")
        dirs = ["etc/xinetd.d"]
        disabled: set[str] = set()
        if main is not None:
            svcs, disabled, includes = parse_xinetd(self.image.read_text(main) or "")
            files.append(main)
            dirs.extend(i.lstrip("/") for i in includes)
        for d in dict.fromkeys(dirs):
            files.extend(e for e in self.image.glob(f"{d}/*") if e.kind != EntryKind.symlink)
        for f in files:
            self.examined += 1
            svcs, more, _ = parse_xinetd(self.image.read_text(f) or "")
            disabled |= more
            for svc in svcs:
                off = svc.disabled or svc.name in disabled
                how = StartedBy("xinetd", "on-demand", not off, f"{f.path}:{svc.line}",
                                on_demand=True)
                self._inetd_launch(f, svc, how)

    # -- cron ----------------------------------------------------------------------------------

    def _cron(self) -> None:
        for pattern, system in CRONTABS:
            for e in self.image.glob(pattern):
                target = self.image.resolve(e.path)
                if target is None or target.path in self._seen:
                    continue
                self._seen.add(target.path)
                text = self.image.read_text(target)
                if text is None:
                    continue
                self.examined += 1
                for job in parse_crontab(text, system):
                    how = StartedBy("cron", f"schedule {job.schedule}", True,
                                    f"{target.path}:{job.line}", user=job.user)
                    for ev in scan(job.command):
                        if isinstance(ev, Command):
                            launch = self._make(target, job.line, ev.argv, how, ())
                            launch.piped_into = ev.piped_into
                            self._launch(launch, None)
        for period in ("hourly", "daily", "weekly", "monthly"):
            self._roots([e.path for e in self.image.glob(f"etc/cron.{period}/*")],
                        StartedBy("cron", f"schedule {period}", True, f"etc/cron.{period}"))

    # -- OpenWrt UCI ---------------------------------------------------------------------------

    def _uci(self, script: FileEntry, how: StartedBy, via: tuple[str, ...],
             loaded: list[tuple[str, int]], first: int) -> None:
        """An init script that ``config_load``s a known config: its instances come from it."""
        for name, line in loaded:
            spec = self.cat.uci.get(name)
            conf = self.image.resolve(f"etc/config/{name}") if spec else None
            if spec is None or conf is None:
                continue
            mine = [f for f in self.found[first:] if f.instance.service.id == spec.service]
            start_line = mine[0].launch.line if mine else line
            where = mine[0].launch.entry if mine else script
            self.found = self.found[:first] + [f for f in self.found[first:] if f not in mine]
            for inst in self._uci_instances(spec, conf):
                launch = self._make(where, start_line, [spec.program], how, via)
                self.found.append(Found(launch, inst))

    def _uci_instances(self, spec: UciSpec, conf: FileEntry) -> list[Instance]:
        text = self.image.read_text(conf) or ""
        service = self.cat.services[spec.service]
        network = self.image.resolve("etc/config/network")
        addrs = interface_addresses(self.image.read_text(network) or "") if network else {}
        out = []
        for sec in parse_uci(text):
            if sec.type != spec.section:
                continue
            values = dict(spec.defaults)
            evidence = [(conf, sec.line, self.image.line_text(conf, sec.line))]
            for opt, (value, n) in sec.options.items():
                if opt in spec.options:
                    values[spec.options[opt]] = value
                    if spec.options[opt] in ("password_auth", "root_password_auth",
                                             "root_login"):
                        evidence.append((conf, n, self.image.line_text(conf, n)))
            if "enabled" in values and not truthy(values["enabled"]):
                self.notes.append(f"{self.image.tree}/{conf.path}:{sec.line}: {spec.service} "
                                  f"instance disabled (enable '0'): not reported")
                continue
            facts: dict[str, Any] = dict(service.defaults)
            for k in ("password_auth", "root_password_auth", "root_login"):
                if k in values:
                    facts[k] = truthy(values[k])
            facts.setdefault("shell_without_login", False)
            listens: list[Listen] = []
            iface = values.get("interface")
            if iface:
                facts["interface"] = iface
            if "port" in values:
                addr = addrs.get(iface) if iface else None
                port = values["port"]
                listens.append(Listen(addr, int(port) if str(port).isdigit() else None,
                                      unresolved=not str(port).isdigit()))
            for key in ("listen", "listen_tls"):
                for value, _n in sec.lists.get(next((o for o, f in spec.options.items()
                                                     if f == key), ""), []):
                    lst = parse_listen(value)
                    lst.tls = key == "listen_tls"
                    listens.append(lst)
            binary = self.image.resolve(spec.program)
            out.append(Instance(service=service, program=spec.program,
                                binary=binary.path if binary else None, applet=None,
                                argv=[spec.program], facts=facts, listens=listens,
                                port_source="uci", partial=False, config_evidence=evidence))
        return out


def _at(launch: Launch) -> str:
    return f"{launch.entry.path}:{launch.line}" if launch.line else launch.entry.path


def _apply_context(inst: Instance, launch: Launch) -> None:
    """What the starter decides for the daemon: inetd's port, a socket unit, a tty."""
    ctx = launch.context
    if ctx.get("listens"):
        inst.listens = list(ctx["listens"])
        inst.port_source = ctx.get("port_source", "inetd")
    elif ctx.get("port"):
        lst = parse_listen(f"{ctx.get('bind') or ''}:{ctx['port']}".lstrip(":")
                           if ctx.get("bind") not in (None, "0", "0.0.0.0") else ctx["port"])
        inst.listens = [lst]
        inst.port_source = "launcher"
    if ctx.get("transport"):
        inst.transport = ctx["transport"]
    if ctx.get("tty") and not inst.facts.get("tty") and inst.service.transport == "serial":
        inst.facts["tty"] = ctx["tty"]
    if ctx.get("evidence"):
        inst.config_evidence = [*ctx["evidence"], *inst.config_evidence]
