"""remote-access (NS-1): the remote-access services firmware starts at boot or on demand.

For every tree of the image (root filesystem first) the boot walk (``remote_access_boot``)
follows what the device runs — inittab, rcS, rc.d links, OpenWrt procd scripts, systemd
units and sockets, inetd/xinetd, crontabs, hotplug scripts — and each service started
becomes one finding: which daemon, who starts it (file:line, init system, how it is
enabled), the port, the interface it binds to, and the authentication it asks for. How bad
it is follows from the catalog (``data/checks/remote_services.yaml``): a shell without
login (``telnetd -l /bin/sh``, ``nc -l -e /bin/sh``, a root shell on a UART, adbd) is
critical, cleartext logins high, SSH with root password login medium, key-only SSH low, web
servers info. Web scripts that run commands taken from the request (CGI shells) are found
file by file.
"""

from __future__ import annotations

import posixpath
from typing import Any

from spyproof.checks.base import (
    REGULAR,
    Check,
    CheckContext,
    CheckInfo,
    FileView,
    Outcome,
    make_finding,
)
from spyproof.checks.remote_access_boot import BootWalk, Found
from spyproof.checks.remote_access_catalog import (
    DATA_FILE,
    Catalog,
    PatternRule,
    load_catalog,
)
from spyproof.checks.remote_access_command import Instance
from spyproof.checks.remote_access_image import TreeImage
from spyproof.models import Evidence, FileEntry, FileType, Finding

CHECK_ID = "remote-access"
CLAUSE = "NS-1"
CGI_MAX_BYTES = 2 * 1024 * 1024
MAX_CGI_HITS = 20  # per file and rule
WEB_DIRS = {"cgi-bin", "www", "htdocs", "web", "webroot", "webs", "html", "luci", "webui"}
WEB_SUFFIXES = (".cgi", ".php", ".php3", ".php5", ".phtml", ".lua", ".sh", ".asp", ".htm")
_ANY = {None, "", "0.0.0.0", "::", "*", "0"}
_LOOPBACK = {"127.0.0.1", "::1", "localhost"}
_SHELL_INTERPRETERS = {"sh", "ash", "bash", "dash", "busybox", "hush", "ksh"}


class RemoteAccessCheck(Check):
    info = CheckInfo(
        id=CHECK_ID,
        title="Remote-access services started at boot or on demand",
        clause=CLAUSE,
        description=(
            "Finds every remote-access service the firmware starts (telnet, SSH, FTP, TFTP, "
            "adb, web servers, TR-069, netcat and socat shells, root shells on serial "
            "consoles) with its port, interface and authentication, and CGI scripts that "
            "run commands taken from the request. Undisclosed ways into the device are what "
            "a no-remote-access pledge rules out."),
        looks_at=(
            "etc/inittab, rcS, rc.local, etc/init.d and rc.d links (SysV and OpenWrt procd), "
            "systemd units and sockets, inetd.conf, xinetd.d, crontabs, hotplug.d, "
            "etc/config (UCI), sshd_config; web scripts under cgi-bin/www"),
        data_files=(DATA_FILE,),
    )
    max_bytes = CGI_MAX_BYTES

    # -- per file: CGI shells ------------------------------------------------------------------

    def wants(self, entry: FileEntry) -> bool:
        if entry.kind not in REGULAR or entry.file_type not in (
                FileType.script, FileType.text, FileType.config):
            return False
        segs = entry.path.split("/")
        return bool(WEB_DIRS.intersection(segs[:-1])) and (
            entry.path.endswith(WEB_SUFFIXES) or entry.file_type == FileType.script)

    def scan_file(self, view: FileView) -> Outcome:
        cat = load_catalog()
        out = Outcome(examined=1)
        if view.truncated:
            out.notes.append(f"{view.entry.tree}/{view.path}: only the first "
                             f"{len(view.data)} bytes searched for CGI shells")
        text = view.data.decode("utf-8", errors="replace")
        lang = _language(view.entry)
        for rule in cat.cgi_rules:
            if lang not in rule.applies_to or not rule.needs.search(text):
                continue
            hits = 0
            for n, line in enumerate(text.split("\n"), start=1):
                if line.lstrip().startswith(("#", "--", "//")) or not rule.match.search(line):
                    continue
                ev = view.evidence(rule.id, line=n, text=line.strip()[:300])
                out.findings.append(make_finding(
                    CHECK_ID, rule.id, rule.severity, rule.title, rule.explanation, [ev],
                    clause=CLAUSE, source=rule.source,
                    details={"service": "cgi", "language": lang,
                             "url_path": _url_path(view.path), "file": view.path}))
                hits += 1
                if hits >= MAX_CGI_HITS:
                    out.notes.append(f"{view.entry.tree}/{view.path}: more than "
                                     f"{MAX_CGI_HITS} lines match {rule.id}; first ones kept")
                    break
        return out

    # -- image-wide: the boot walk ---------------------------------------------------------

    def finish(self, ctx: CheckContext, per_file: Outcome) -> Outcome:
        cat = load_catalog()
        out = Outcome(findings=list(per_file.findings), notes=list(per_file.notes),
                      examined=per_file.examined)
        for tree in ctx.trees():
            if tree not in ctx.tree_paths:
                continue
            image = TreeImage(ctx, tree, out.notes)
            walk = BootWalk(image, cat)
            for found in walk.run():
                f = _finding(found, tree, cat, walk.superservers)
                if f is not None:
                    out.findings.append(f)
            out.examined += walk.examined
        return out


# -- findings -----------------------------------------------------------------------------------


def _language(entry: FileEntry) -> str:
    suffix = posixpath.splitext(entry.path)[1].lower()
    interp = posixpath.basename((entry.interpreter or "").split(" ")[0])
    if entry.file_type == FileType.script and interp in _SHELL_INTERPRETERS:
        return "shell"
    if suffix in (".sh",) or (suffix == ".cgi" and entry.file_type == FileType.script
                              and interp in _SHELL_INTERPRETERS):
        return "shell"
    if interp.startswith("lua"):
        return ".lua"
    if interp.startswith("php"):
        return ".php"
    return suffix or "unknown"


def _url_path(path: str) -> str:
    segs = path.split("/")
    for k, s in enumerate(segs):
        if s in ("www", "htdocs", "webroot", "webs", "html"):
            return "/" + "/".join(segs[k + 1:])
        if s == "cgi-bin":
            return "/" + "/".join(segs[k:])
    return "/" + path


def _where(inst: Instance) -> tuple[str, str | None, list[int]]:
    """(interface, bind address, ports) in the words of the brief: "all", "loopback",
    "unknown", an interface name, an address, or the tty of a serial console."""
    facts = inst.facts
    ports = sorted({lst.port for lst in inst.listens if lst.port is not None})
    if inst.service.transport == "serial" or facts.get("tty"):
        return str(facts.get("tty") or facts.get("interface") or "console"), None, []
    addrs = [lst.address for lst in inst.listens]
    bind = next((a for a in addrs if a not in _ANY), None)
    if facts.get("interface"):
        return str(facts["interface"]), bind, ports
    if not inst.listens:
        return ("usb" if inst.service.transport == "usb" else "unknown"), None, ports
    if any(lst.unresolved for lst in inst.listens):
        return "unknown", bind, ports
    if all(a in _ANY for a in addrs):
        return "all", None, ports
    if all(a in _LOOPBACK for a in addrs):
        return "loopback", bind, ports
    return ", ".join(sorted({a for a in addrs if a})), bind, ports


def _auth(facts: dict[str, Any]) -> dict[str, Any]:
    return {k: facts.get(k) for k in ("password_auth", "root_login", "root_password_auth",
                                      "empty_passwords", "shell_without_login")}


class _Fmt(dict):
    def __missing__(self, key: str) -> str:
        return "unknown"


def _finding(found: Found, tree: str, cat: Catalog, superservers: set[str]) -> Finding | None:
    launch, inst = found.launch, found.instance
    rule = cat.rule_for(inst.service, inst.facts)
    if rule is None:
        return None
    rule_id = rule.id
    severity = rule.severity or "info"
    interface, bind, ports = _where(inst)
    explanation = rule.explanation
    if interface == "loopback":
        severity = "info"
        explanation += (" It listens on the loopback interface only, so it cannot be "
                        "reached from the network directly.")
    superserver = launch.context.get("superserver")
    superserver_started = None
    if superserver:
        superserver_started = superserver in superservers
        if not superserver_started:
            explanation += (f" No boot script in this tree starts {superserver}; the entry "
                            "takes effect only if it runs.")
    how = launch.how
    started_at = f"{launch.entry.path}:{launch.line}" if launch.line else launch.entry.path
    port = ports[0] if ports else None
    program = posixpath.basename(inst.program)
    fmt = _Fmt(program=program, started_by=started_at,
               port=port if port is not None else "unknown", interface=interface,
               login_program=inst.facts.get("login_program") or "unknown",
               remote=inst.facts.get("remote") or "unknown",
               autologin=inst.facts.get("autologin") or "unknown")
    title = rule.title.format_map(fmt)
    evidence = [Evidence(tree=tree, path=launch.entry.path, sha256=launch.entry.sha256,
                         line=launch.line, text=launch.text or " ".join(launch.argv)[:300],
                         rule=rule_id)]
    for entry, line, text in inst.config_evidence:
        evidence.append(Evidence(tree=tree, path=entry.path, sha256=entry.sha256, line=line,
                                 text=text, rule=rule_id))
    details: dict[str, Any] = {
        "service": inst.service.id,
        "protocol": inst.service.protocol,
        "transport": inst.transport or inst.service.transport,
        "program": inst.program,
        "binary": inst.binary,
        "binary_present": inst.binary is not None,
        "applet": inst.applet,
        "command": " ".join(inst.argv)[:500],
        "arguments_resolved": not inst.partial,
        "port": port,
        "ports": ports,
        "port_source": inst.port_source,
        "interface": interface,
        "bind_address": bind,
        "authentication": _auth(inst.facts),
        "on_demand": bool(how.on_demand or launch.context.get("on_demand")),
        "started_by": {
            "file": launch.entry.path, "line": launch.line, "init_system": how.init_system,
            "trigger": how.trigger, "runlevel": how.runlevel, "enabled": how.enabled,
            "enabled_by": how.enabled_by, "via": list(launch.via), "user": how.user,
            "superserver_started": superserver_started,
        },
    }
    for extra in ("login_program", "exec", "exec_command", "remote", "upload",
                  "anonymous_login", "autologin", "tty", "listen_mode", "piped_to_shell"):
        if inst.facts.get(extra) not in (None, False, ""):
            details[extra] = inst.facts[extra]
    if details.get("tty"):
        details["tty_kind"] = cat.tty_kind(str(details["tty"]))
    source = rule.source if isinstance(rule, PatternRule) else inst.service.source
    return make_finding(CHECK_ID, rule_id, severity, title, explanation, evidence,
                        clause=CLAUSE, details=details, source=source)


CHECK = RemoteAccessCheck()
