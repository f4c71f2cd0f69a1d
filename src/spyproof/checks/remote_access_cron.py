"""Crontabs: the system ones (``/etc/crontab``, ``/etc/cron.d``, with a user field) and the
per-user ones (``/var/spool/cron/crontabs``, OpenWrt's ``/etc/crontabs``), as schedule,
user and the shell command cron hands to ``sh -c``."""

from __future__ import annotations

import re
from dataclasses import dataclass

# (pattern, has a user field)
CRONTABS = (("etc/crontab", True), ("etc/cron.d/*", True), ("etc/crontabs/*", False),
            ("var/spool/cron/crontabs/*", False), ("var/spool/cron/*", False),
            ("var/cron/tabs/*", False))
_ENV = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\s*=")
_FIELD = re.compile(r"[\d*/,\-A-Za-z]+")


@dataclass(frozen=True)
class CronJob:
    line: int
    schedule: str
    user: str | None
    command: str


def parse_crontab(text: str, system: bool) -> list[CronJob]:
    jobs = []
    for n, raw in enumerate(text.split("\n"), start=1):
        line = raw.strip()
        if not line or line.startswith("#") or _ENV.match(line):
            continue
        fields = line.split()
        if fields[0].startswith("@"):
            schedule, rest = fields[0], fields[1:]
        elif len(fields) >= 6 and all(_FIELD.fullmatch(f) for f in fields[:5]):
            schedule, rest = " ".join(fields[:5]), fields[5:]
        else:
            continue
        user = None
        if system and rest:
            user, rest = rest[0], rest[1:]
        if not rest:
            continue
        # the command is the rest of the line as written; an unescaped % ends it
        start = _nth_field_start(line, len(line.split()) - len(rest))
        command = re.split(r"(?<!\\)%", line[start:], maxsplit=1)[0]
        jobs.append(CronJob(n, schedule, user, command.strip()))
    return jobs


def _nth_field_start(line: str, n: int) -> int:
    pos = 0
    for _ in range(n):
        m = re.compile(r"\s*\S+").match(line, pos)
        if not m:
            return len(line)
        pos = m.end()
    return pos
