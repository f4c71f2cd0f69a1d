"""inetd and xinetd: services started on demand when a client connects to their port.

``inetd.conf`` is one service per line (``telnet stream tcp nowait root /usr/sbin/telnetd
telnetd -i``); xinetd has ``service NAME { key = value }`` blocks, in ``xinetd.conf`` or
the files of ``xinetd.d``. The port comes from the image's ``/etc/services`` (else the
catalog's list of well-known ports).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

_XI_SERVICE = re.compile(r"\s*(service|defaults)\s*(\S*)\s*(\{)?\s*$")
_XI_ATTR = re.compile(r"\s*([A-Za-z_]+)\s*(\+=|-=|=)\s*(.*?)\s*$")


@dataclass
class InetdService:
    line: int  # where the service is declared
    name: str
    socket_type: str
    protocol: str
    argv: list[str]  # the program and its arguments (argv[0] as inetd passes it)
    server: str
    bind: str | None = None
    port: int | None = None  # explicit port (xinetd ``port =``), else from the name
    disabled: bool = False
    internal: bool = False
    attrs: dict[str, tuple[str, int]] = field(default_factory=dict)


def parse_inetd_conf(text: str) -> list[InetdService]:
    out = []
    for n, raw in enumerate(text.split("\n"), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        f = line.split()
        if len(f) < 6:
            continue
        name, socket_type, proto, _wait, _user, server = f[:6]
        args = f[6:]
        bind = None
        if ":" in name and not name.startswith("["):
            bind, name = name.rsplit(":", 1)
        if server == "internal":
            out.append(InetdService(n, name, socket_type, proto, [], server, bind,
                                    internal=True))
            continue
        # tcpd runs the daemon its argv[0] names; otherwise argv[0] is just a name
        tcpd = server.rsplit("/", 1)[-1] == "tcpd" and args
        argv = list(args) if tcpd else [server, *args[1:]]
        out.append(InetdService(n, name, socket_type, proto, argv, server, bind))
    return out


def parse_xinetd(text: str) -> tuple[list[InetdService], set[str], list[str]]:
    """Service blocks, the names the ``defaults`` block disables, and ``includedir``s."""
    services: list[InetdService] = []
    disabled: set[str] = set()
    includes: list[str] = []
    block: dict[str, tuple[str, int]] | None = None
    kind = name = ""
    start = 0
    want_brace = False
    for n, raw in enumerate(text.split("\n"), start=1):
        line = raw.split("#", 1)[0].rstrip()
        if not line.strip():
            continue
        if block is None:
            s = line.strip()
            if s.startswith("includedir"):
                includes.extend(s.split()[1:2])
                continue
            m = _XI_SERVICE.match(line)
            if m:
                kind, name, start = m.group(1), m.group(2), n
                want_brace = not m.group(3)
                if not want_brace:
                    block = {}
                continue
            if want_brace and s == "{":
                block, want_brace = {}, False
            continue
        if line.strip() == "}":
            if kind == "defaults":
                disabled.update((block.get("disabled", ("", 0))[0]).split())
            else:
                services.append(_xinetd_service(name, start, block))
            block = None
            continue
        m = _XI_ATTR.match(line)
        if m:
            key, op, value = m.group(1).lower(), m.group(2), m.group(3)
            if op == "+=" and key in block:
                value = f"{block[key][0]} {value}"
            block[key] = (value, n)
    return services, disabled, includes


def _xinetd_service(name: str, line: int, a: dict[str, tuple[str, int]]) -> InetdService:
    def get(k: str) -> str:
        return a.get(k, ("", 0))[0]

    server = get("server")
    argv = [server, *get("server_args").split()] if server else []
    port = int(get("port")) if get("port").isdigit() else None
    svc = InetdService(
        line=line, name=name, socket_type=get("socket_type"), protocol=get("protocol"),
        argv=argv, server=server, bind=get("bind") or get("interface") or None, port=port,
        disabled=get("disable").lower() == "yes",
        internal="INTERNAL" in get("type").upper().split() or not server, attrs=dict(a))
    return svc


def parse_services(text: str) -> dict[tuple[str, str], int]:
    """``/etc/services``: (name or alias, protocol) -> port."""
    out: dict[tuple[str, str], int] = {}
    for raw in text.split("\n"):
        f = raw.split("#", 1)[0].split()
        if len(f) < 2 or "/" not in f[1]:
            continue
        port_s, _, proto = f[1].partition("/")
        if not port_s.isdigit():
            continue
        for name in [f[0], *f[2:]]:
            out.setdefault((name, proto), int(port_s))
    return out
