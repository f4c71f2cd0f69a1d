"""From one command line to the remote-access service it starts, if any.

``resolve_command`` unwraps launchers (nohup, start-stop-daemon, busybox APPLET, sh -c …),
finds the program inside the image (a symlink to busybox means the applet), looks it up in
the catalog and reads its options the way getopt would: port, bind address, interface and
authentication. A command that runs another script of the image is handed back so that the
caller scans that script too.
"""

from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass, field
from typing import Any

from spyproof.checks.remote_access_catalog import Catalog, ServiceSpec
from spyproof.checks.remote_access_config import apply_directive, read_config
from spyproof.checks.remote_access_image import TreeImage
from spyproof.checks.remote_access_shell import split_words
from spyproof.models import FileEntry

_ASSIGN = re.compile(r"[A-Za-z_][A-Za-z0-9_]*=.*", re.S)
# init-script verbs that do not start the service (OpenWrt rc.common, LSB)
NOT_A_START = {"stop", "status", "disable", "enabled", "running", "shutdown", "kill",
               "force-stop", "reload", "info", "trace", "help"}
INIT_SCRIPT_DIRS = ("etc/init.d/", "etc/rc.d/", "etc/rc", "etc/hotplug.d/")
_TTY = re.compile(r"(/dev/)?(tty[\w.-]*|console|hvc\d+|ttyS\d+)")
_SOCAT_VALUE_OPTS = {"-b", "-t", "-T", "-L", "-W", "-lf", "-lp", "-r", "-R"}


@dataclass
class Listen:
    """One address and port a service accepts connections on."""

    address: str | None  # None: every address
    port: int | None  # None: not known
    tls: bool = False
    unresolved: bool = False


@dataclass
class Instance:
    """A remote-access service that a command starts."""

    service: ServiceSpec
    program: str  # argv[0] as written
    binary: str | None  # the regular file it resolves to in this tree (None: not there)
    applet: str | None  # the busybox applet, when the program is a link to busybox
    argv: list[str]
    facts: dict[str, Any]
    listens: list[Listen]
    port_source: str  # option, config, default, inetd, socket, uci, launcher, unresolved
    partial: bool  # some arguments hold values only known at run time
    config_evidence: list[tuple[FileEntry, int, str]] = field(default_factory=list)
    transport: str | None = None


@dataclass
class Resolution:
    instances: list[Instance] = field(default_factory=list)
    follow: list[tuple[FileEntry, list[str]]] = field(default_factory=list)  # scripts run
    inline: list[str] = field(default_factory=list)  # sh -c strings
    context: dict[str, Any] = field(default_factory=dict)  # facts set by launchers (tcpsvd)


def parse_listen(value: str) -> Listen:
    """``[addr:]port`` in its usual spellings (``22``, ``:22``, ``0.0.0.0:22``, ``[::]:22``)."""
    v = value.strip()
    if "$" in v or "`" in v or not v:
        return Listen(None, None, unresolved=True)
    addr: str | None = None
    port_s = v
    if v.startswith("["):
        end = v.find("]")
        addr, port_s = v[1:end], v[end + 1:].lstrip(":")
    elif v.count(":") == 1:
        addr, port_s = v.split(":")
    elif v.count(":") > 1:  # a bare IPv6 address: no port
        return Listen(v, None)
    if port_s.isdigit():
        return Listen(addr or None, int(port_s))
    if not port_s and addr:
        return Listen(addr, None)
    return Listen(addr or None, None, unresolved=True)


def _port(value: Any) -> int | None:
    s = str(value).strip()
    return int(s) if s.isdigit() else None


# -- launchers ---------------------------------------------------------------------------------


def _has_option(word: str, options: frozenset[str]) -> bool:
    """``word`` is one of ``options``, or a cluster of short options holding one (-Sbx)."""
    if word in options:
        return True
    return (word.startswith("-") and not word.startswith("--") and
            any(len(o) == 2 and o[1] in word[1:] for o in options))


def _unwrap(argv: list[str], cat: Catalog, res: Resolution) -> list[str] | None:
    """The command a launcher runs (None: the launcher starts nothing, e.g. --stop)."""
    for _ in range(8):
        while argv and _ASSIGN.fullmatch(argv[0]):
            argv = argv[1:]
        if not argv:
            return None
        name = posixpath.basename(argv[0])
        spec = cat.launchers.get(name)
        if spec is None:
            return argv
        words = argv[1:]
        if spec.requires and not any(_has_option(w, spec.requires) for w in words):
            return None
        program: str | None = None
        rest: list[str] = []
        positionals: list[str] = []
        k = 0
        while k < len(words):
            w = words[k]
            if spec.after and w == spec.after:
                rest = words[k + 1:]
                break
            opt, _, inline = w.partition("=")
            if w in spec.command_options or opt in spec.command_options:
                program = inline if inline else (words[k + 1] if k + 1 < len(words) else None)
                k += 1 if inline else 2
                continue
            if w in spec.value_options:
                k += 2
                continue
            if w.startswith("-") and w != "-":
                k += 1
                continue
            if spec.assignments and _ASSIGN.fullmatch(w):
                k += 1
                continue
            if len(positionals) < spec.positionals:
                positionals.append(w)
                k += 1
                continue
            if program is None:
                program, rest = w, words[k + 1:]
            break
        for fact, value in zip(spec.sets, positionals, strict=False):
            res.context[fact] = value
        if spec.on_demand:
            res.context["on_demand"] = True
        if program is None:
            return None
        argv = [program, *rest]
    return argv


# -- option parsing ----------------------------------------------------------------------------


def _getopt(spec: ServiceSpec, args: list[str]) -> tuple[dict[str, Any], list[str], list[str]]:
    """Facts set by options, the positional words, and the raw ``listen`` values."""
    facts: dict[str, Any] = {}
    listens: list[str] = []
    positionals: list[str] = []

    def apply(o: str, value: str | None) -> None:
        opt = spec.options.get(o)
        if opt is None or opt.sets is None:
            return
        if opt.value:
            if value is None:
                return
            if opt.sets in ("listen", "listen_tls"):
                listens.append(("tls:" if opt.sets == "listen_tls" else "") + value)
            elif opt.sets == "option":
                facts.setdefault("_options", []).append(value)
            else:
                facts[opt.sets] = value
        else:
            facts[opt.sets] = True if opt.to is None else opt.to

    k = 0
    while k < len(args):
        w = args[k]
        k += 1
        if w == "--":
            positionals.extend(args[k:])
            break
        if w.startswith("--") and len(w) > 2:
            name, eq, inline = w.partition("=")
            opt = spec.options.get(name)
            if opt is not None and opt.value and not eq:
                apply(name, args[k] if k < len(args) else None)
                k += 1
            else:
                apply(name, inline if eq else None)
            continue
        if w.startswith("-") and len(w) > 1 and not w[1:].isdigit():
            j = 1
            while j < len(w):
                o = "-" + w[j]
                opt = spec.options.get(o)
                if opt is not None and opt.value:
                    value = w[j + 1:] or (args[k] if k < len(args) else None)
                    if not w[j + 1:]:
                        k += 1
                    apply(o, value)
                    break
                apply(o, None)
                j += 1
            continue
        positionals.append(w)
    return facts, positionals, listens


def _socat(args: list[str], cat: Catalog, facts: dict[str, Any], listens: list[str]) -> None:
    addresses: list[str] = []
    k = 0
    while k < len(args):
        w = args[k]
        k += 1
        if w in _SOCAT_VALUE_OPTS:
            k += 1
        elif w.startswith("-") and len(w) > 1:
            continue
        else:
            addresses.append(w)
    for addr in addresses[:2]:
        head, _, params = addr.partition(":")
        kind = head.lower()
        opts = params.split(",")
        main = opts[0] if opts else ""
        if kind.endswith(("-listen", "-l")) or kind in ("udp-recvfrom", "udp-recv"):
            facts["listen_mode"] = True
            bind = next((o.split("=", 1)[1] for o in opts[1:] if o.startswith("bind=")), None)
            listens.append(f"{bind}:{main}" if bind else main)
            if kind.startswith("udp"):
                facts["udp"] = True
        elif kind in ("exec", "system"):
            first = (split_words(main) or [""])[0]
            facts["exec"] = main
            if cat.is_shell(first):
                facts["shell_without_login"] = True
        elif kind in ("tcp", "tcp4", "tcp6", "tcp-connect", "udp", "udp4", "udp6", "openssl",
                      "ssl", "udp-connect", "openssl-connect"):
            facts["remote"] = params.split(",")[0]
    facts.setdefault("shell_without_login", False)


def _tty(positionals: list[str]) -> str | None:
    for w in positionals:
        if _TTY.fullmatch(w):
            return posixpath.basename(w)
    return None


# -- facts ---------------------------------------------------------------------------------------


def _derive(spec: ServiceSpec, facts: dict[str, Any], cat: Catalog,
            piped_into: list[str] | None) -> None:
    """Facts that follow from others: a login program that is a shell means no login …"""
    lp = facts.get("login_program")
    if lp and "shell_without_login" not in facts:
        words = split_words(str(lp)) or [str(lp)]
        if cat.is_shell(words[0]) or (cat.is_login(words[0]) and "-f" in words[1:]):
            facts["shell_without_login"] = True
        elif cat.is_login(words[0]):
            facts["shell_without_login"] = False
            facts.setdefault("password_auth", True)
            if spec.id == "getty" and facts.get("skip_login"):
                facts["shell_without_login"] = None
        else:
            facts["shell_without_login"] = None  # a vendor program: what it asks is unknown
    if facts.get("shell_without_login"):
        facts.setdefault("password_auth", False)
    if facts.get("autologin"):
        facts["autologin_set"] = True
        facts["shell_without_login"] = True
    if facts.get("exec") and "shell_without_login" not in facts:
        facts["shell_without_login"] = cat.is_shell(split_words(str(facts["exec"]))[0]
                                                    if split_words(str(facts["exec"])) else "")
    if facts.get("exec_command") and not facts.get("shell_without_login"):
        words = split_words(str(facts["exec_command"]))
        facts["shell_without_login"] = bool(words) and cat.is_shell(words[0])
    if facts.get("listen_mode") and piped_into:
        target = piped_into[1:] if posixpath.basename(piped_into[0]).startswith(
            "busybox") else piped_into
        facts["piped_to_shell"] = bool(target) and cat.is_shell(target[0])
    if facts.get("remote_forward"):
        facts["reverse_tunnel"] = True
    if facts.get("anonymous_login_user"):
        facts["anonymous_login"] = True
    facts.setdefault("shell_without_login", False)


def _listens(spec: ServiceSpec, facts: dict[str, Any], raw: list[str]
             ) -> tuple[list[Listen], str]:
    out = []
    for r in raw:
        tls = r.startswith("tls:")
        lst = parse_listen(r[4:] if tls else r)
        lst.tls = tls
        out.append(lst)
    if out:
        return out, "option"
    client = "listen_mode" in spec.defaults  # nc, socat: a client unless told to listen
    if client and not facts.get("listen_mode"):
        host, port = facts.get("host"), facts.get("port")
        if host or port:
            facts["remote"] = f"{host or '?'}:{port or '?'}"
        return [], "none"
    port = facts.get("port")
    bind = facts.get("bind") or (facts.get("host") if client else None)
    if port is not None:
        p = _port(port)
        return [Listen(bind, p, unresolved=p is None)], "option" if p else "unresolved"
    if bind and spec.default_port:
        return [Listen(bind, spec.default_port)], "default"
    if spec.default_port and spec.transport != "serial":
        return [Listen(None, spec.default_port)], "default"
    return [], "none"


def _merge_config(inst: Instance, image: TreeImage, cat: Catalog, cmd_facts: dict[str, Any],
                  positionals: list[str], raw_listens: list[str]) -> None:
    """Read the service's config file (sshd_config …) under the command-line options."""
    cfg = inst.service.config
    if not cfg:
        return
    only = cfg.get("for")
    if only and posixpath.basename(inst.program) not in only and inst.applet not in only:
        return
    fmt = cat.configs[cfg["format"]]
    path = cfg.get("default")
    if cfg.get("option") == "positional":
        path = positionals[0] if positionals else path
    elif cfg.get("option") and cmd_facts.get("config"):
        path = cmd_facts["config"]
    if not path or "$" in path:
        return
    result = read_config(image, path, fmt)
    overrides = [apply_directive(fmt, o) for o in cmd_facts.get("_options", [])]
    if result is None and not overrides:
        return
    facts = dict(inst.service.defaults)
    if result is not None:
        facts.update(result.facts)
        inst.config_evidence = result.evidence
    for o in overrides:
        if o is not None:
            facts.update(o.facts)
    facts.update({k: v for k, v in cmd_facts.items() if not k.startswith("_")})
    inst.facts = facts
    if raw_listens or "port" in cmd_facts:
        return
    ports = [*(result.ports if result else [])]
    addrs = [*(result.addresses if result else [])]
    for o in overrides:
        if o is not None:
            ports.extend(o.ports)
            addrs.extend(o.addresses)
    if not ports and not addrs:
        return
    listens = []
    for a in addrs or [None]:
        # "10.0.0.1", "::" name a host only; "0.0.0.0:22", "[::]:22" a host and a port
        with_port = bool(a) and (a.count(":") == 1 or a.startswith("["))
        la = parse_listen(a) if with_port else Listen(a, None)  # type: ignore[arg-type]
        if la.port is not None:
            listens.append(la)
            continue
        for p in ports or [inst.service.default_port]:
            listens.append(Listen(la.address, _port(p)))
    inst.listens = listens
    inst.port_source = "config"


# -- the entry point -----------------------------------------------------------------------------


def resolve_command(argv: list[str], image: TreeImage, cat: Catalog, *,
                    piped_into: list[str] | None = None, depth: int = 0) -> Resolution:
    """What one command starts: service instances, scripts to scan, ``sh -c`` strings."""
    res = Resolution()
    unwrapped = _unwrap(list(argv), cat, res)
    if not unwrapped:
        return res
    argv = unwrapped
    name = posixpath.basename(argv[0])
    # multi-call binaries named directly: "busybox telnetd …", "dropbearmulti dropbear …"
    multi = name.startswith(("busybox", "toybox")) or name == "dropbearmulti"
    called: tuple[str | None, FileEntry | None] = (None, None)
    if multi and len(argv) > 1 and not argv[1].startswith("-"):
        called = _locate(argv[0], image)
        argv = argv[1:]
        name = posixpath.basename(argv[0])
        if name in cat.launchers and depth < 4:
            sub = resolve_command(argv, image, cat, piped_into=piped_into, depth=depth + 1)
            sub.context = {**res.context, **sub.context}
            return sub
    if cat.is_shell(name):
        _shell_args(argv[1:], image, res)
        return res
    path, entry = _locate(argv[0], image)
    if entry is not None and entry.path.startswith(INIT_SCRIPT_DIRS) and image.is_script(entry):
        # "/etc/init.d/dropbear start" runs the init script, not the daemon
        if not (len(argv) > 1 and argv[1] in NOT_A_START):
            res.follow.append((entry, argv[1:]))
        return res
    if entry is None and called[1] is not None:
        path, entry = called  # "busybox telnetd": the applet of the busybox named
    applet = name if image.is_multi_call(entry) else None
    spec = cat.service_named(name)
    if spec is None and entry is not None and not image.is_multi_call(entry):
        spec = cat.service_named(posixpath.basename(entry.path))
    if spec is None:
        if image.is_script(entry) and not (len(argv) > 1 and argv[1] in NOT_A_START):
            res.follow.append((entry, argv[1:]))  # type: ignore[arg-type]
        return res
    if spec.probe_options.intersection(argv[1:]):
        return res  # "sshd -t", "dropbear -V": a check, not a start
    res.instances.append(_instance(spec, argv, path, entry, applet, image, cat, piped_into))
    return res


def _shell_args(args: list[str], image: TreeImage, res: Resolution) -> None:
    k = 0
    while k < len(args):
        w = args[k]
        if w == "-c" and k + 1 < len(args):
            res.inline.append(args[k + 1])
            return
        if w.startswith("-") and len(w) > 1:
            if "c" in w[1:] and k + 1 < len(args):
                res.inline.append(args[k + 1])
                return
            k += 1
            continue
        target = image.resolve(w) if "/" in w else None
        if target is not None and image.is_script(target):
            res.follow.append((target, args[k + 1:]))
        return


def _locate(program: str, image: TreeImage) -> tuple[str | None, FileEntry | None]:
    if "$" in program or "`" in program:
        return None, None
    if "/" in program:
        path = posixpath.normpath(program.lstrip("/")) if not program.startswith("./") else None
        if path is None:
            return None, None
        return (path if image.exists(path) else None), image.resolve(path)
    found = image.which(program)
    return found if found else (None, None)


def _instance(spec: ServiceSpec, argv: list[str], path: str | None, entry: FileEntry | None,
              applet: str | None, image: TreeImage, cat: Catalog,
              piped_into: list[str] | None) -> Instance:
    args = argv[1:]
    raw_listens: list[str] = []
    if spec.parser == "socat":
        cmd_facts: dict[str, Any] = {}
        positionals: list[str] = []
        _socat(args, cat, cmd_facts, raw_listens)
    else:
        cmd_facts, positionals, raw_listens = _getopt(spec, args)
        roles = spec.positional_roles
        if roles and positionals:
            pos = positionals[-len(roles):] if spec.positional_align == "right" else positionals
            if spec.positional_align == "right" and len(pos) < len(roles):
                roles = roles[len(roles) - len(pos):]
            for role, value in zip(roles, pos, strict=False):
                if role == "listen":
                    if value.startswith("/dev/"):
                        cmd_facts["interface"] = posixpath.basename(value)
                    else:
                        raw_listens.append(value)
                else:
                    cmd_facts.setdefault(role, value)
        if spec.parser == "getty":
            tty = _tty(positionals)
            if tty:
                cmd_facts["tty"] = tty
    facts = {**spec.defaults, **{k: v for k, v in cmd_facts.items() if not k.startswith("_")}}
    inst = Instance(service=spec, program=argv[0], binary=entry.path if entry else None,
                    applet=applet, argv=list(argv), facts=facts, listens=[], port_source="none",
                    partial=any("$" in a or "`" in a for a in argv))
    inst.listens, inst.port_source = _listens(spec, facts, raw_listens)
    _merge_config(inst, image, cat, cmd_facts, positionals, raw_listens)
    _derive(spec, inst.facts, cat, piped_into)
    if "listen_mode" in spec.defaults and not inst.facts.get("listen_mode"):
        inst.listens = []
    if inst.facts.get("udp"):
        inst.transport = "udp"
    return inst
