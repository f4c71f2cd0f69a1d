"""``/etc/inittab`` in both dialects: BusyBox (``tty:runlevels:action:process``, the first
field names the tty, empty for the console) and SysV (``id:runlevels:action:process``).

Which process init starts on which tty is what tells a shell on a debug UART
(``ttyS0::respawn:/bin/sh``) from a login prompt.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# actions that start something at boot or keep it running (the others run at shutdown,
# on power events or never)
START_ACTIONS = {"sysinit", "boot", "bootwait", "wait", "once", "respawn", "askfirst",
                 "ondemand"}
ALL_ACTIONS = START_ACTIONS | {"shutdown", "restart", "ctrlaltdel", "off", "initdefault",
                               "powerfail", "powerwait", "powerokwait", "powerfailnow",
                               "kbrequest"}
_TTY_ID = re.compile(r"(/dev/)?(tty[\w.-]*|console|hvc\d+|ttyS\d+)")


@dataclass(frozen=True)
class InittabEntry:
    line: int
    id: str
    runlevels: str
    action: str
    process: str
    style: str  # "busybox" or "sysv"
    tty: str  # the tty the process runs on: the BusyBox id, else "console"


def parse_inittab(text: str) -> tuple[list[InittabEntry], int]:
    """Entries that start something, and how many lines were not inittab lines at all."""
    entries: list[InittabEntry] = []
    bad = 0
    for n, raw in enumerate(text.split("\n"), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        parts = line.split(":", 3)
        if len(parts) != 4 or parts[2].strip() not in ALL_ACTIONS or "\x00" in line:
            bad += 1
            continue
        ident, runlevels, action, process = (p.strip() for p in parts)
        if action not in START_ACTIONS or not process:
            continue
        busybox = ident == "" or bool(_TTY_ID.fullmatch(ident))
        tty = (ident.removeprefix("/dev/") or "console") if busybox else "console"
        entries.append(InittabEntry(n, ident, runlevels, action, process,
                                    "busybox" if busybox else "sysv", tty))
    return entries, bad
