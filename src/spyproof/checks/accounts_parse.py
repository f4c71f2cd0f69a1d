"""Reading passwd, shadow, group and gshadow as firmware ships them.

Firmware account files are often hand-made: comments, CRLF line ends, NIS ``+``/``-``
lines, short shadow lines, hashes straight in passwd's second field, garbage after a
truncated write. Every line is either an entry or a skipped line with its reason, so
nothing is dropped silently; a file with no valid entry and some junk is not an account
file at all (a binary named ``passwd``, a man page) and is reported as such.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import StrEnum

from spyproof.checks.accounts_crypt import identify
from spyproof.checks.base import mask_secret

MAX_LINE = 4096
_NAME = re.compile(r"[^\s:\x00-\x1f\ufffd]{1,256}")
LOCK_MARKERS = frozenset({"x", "NP", "LK", "NL", "*LK*", "*NP*"})

# Login shells: a real command interpreter, a program that refuses logins, or something
# else (a vendor CLI, a restricted shell) that still gives whoever logs in a session.
NOLOGIN = frozenset({"nologin", "false", "true", "sync", "shutdown", "halt", "null",
                     "git-shell"})
SHELLS = frozenset({"sh", "ash", "bash", "dash", "ksh", "mksh", "pdksh", "lksh", "zsh",
                    "csh", "tcsh", "fish", "hush", "msh", "busybox", "rbash", "yash",
                    "posh", "elvish", "xonsh", "nu"})
DEFAULT_SHELL = "/bin/sh"  # what login runs for an empty shell field


class Kind(StrEnum):
    passwd = "passwd"
    shadow = "shadow"
    group = "group"
    gshadow = "gshadow"


class PwState(StrEnum):
    """What a password field means to login."""

    empty = "empty"          # no password: logs in without one
    shadowed = "shadowed"    # passwd's 'x': the password is in shadow
    locked = "locked"        # '!', '*', '!!', '*LK*': no password login
    hash = "hash"            # a crypt hash
    unknown_hash = "unknown_hash"  # '$id$…' of a scheme we do not know
    plain = "plain"          # none of the above: a password stored as it is


@dataclass(frozen=True)
class Password:
    field: str
    state: PwState
    scheme: str | None = None  # crypt scheme of the hash (or of the locked hash)
    hash: str | None = None    # the hash to try passwords against (lock marks removed)

    @property
    def usable(self) -> bool:
        """Whether some password lets this account log in."""
        return self.state in (PwState.empty, PwState.hash, PwState.plain,
                              PwState.unknown_hash)


def classify_password(field: str, kind: Kind) -> Password:
    """The meaning of a password field of a passwd/shadow/group/gshadow line."""
    if field == "":
        return Password(field, PwState.empty)
    if field == "x" and kind in (Kind.passwd, Kind.group):
        return Password(field, PwState.shadowed)
    if field in LOCK_MARKERS or field[0] in "!*":
        inner = field.lstrip("!*")
        scheme = identify(inner) if inner else None
        return Password(field, PwState.locked, scheme, inner if scheme else None)
    scheme = identify(field)
    if scheme:
        return Password(field, PwState.hash, scheme, field)
    if field.startswith("$") and field.count("$") >= 2:
        return Password(field, PwState.unknown_hash)
    return Password(field, PwState.plain)


def mask_field(pw: Password) -> str:
    """The password field as it may be shown: scheme and salt kept, digest masked."""
    f = pw.field
    if pw.state in (PwState.empty, PwState.shadowed) or (pw.state == PwState.locked
                                                         and pw.hash is None
                                                         and len(f) <= 4):
        return f
    if pw.state == PwState.plain:
        return mask_secret(f)
    lock = f[: len(f) - len(f.lstrip("!*"))] if pw.state == PwState.locked else ""
    body = f[len(lock):]
    if "$" in body:
        head, _, digest = body.rpartition("$")
        return f"{lock}{head}${mask_secret(digest)}"
    return f"{lock}{mask_secret(body)}"


def shell_kind(shell: str) -> str:
    """'shell', 'nologin' or 'program' for a passwd shell field."""
    base = (shell or DEFAULT_SHELL).rstrip("/").rsplit("/", 1)[-1]
    if base in NOLOGIN:
        return "nologin"
    if base in SHELLS:
        return "shell"
    return "program"


@dataclass(frozen=True)
class Entry:
    """One account (or group) line."""

    kind: Kind
    line: int
    raw: str
    name: str
    password: Password
    uid: int | None = None      # passwd
    gid: int | None = None      # passwd, group
    gecos: str = ""
    home: str = ""
    shell: str = ""
    members: tuple[str, ...] = ()  # group, gshadow

    def masked_line(self, limit: int = 300) -> str:
        parts = self.raw.split(":")
        parts[1] = mask_field(self.password)
        text = ":".join(parts)
        return text if len(text) <= limit else text[:limit] + "…"

    @property
    def login_shell(self) -> str:
        return self.shell or DEFAULT_SHELL


@dataclass
class Parsed:
    kind: Kind
    entries: list[Entry] = field(default_factory=list)
    skipped: list[tuple[int, str]] = field(default_factory=list)  # (line, reason)
    nis: int = 0  # NIS compat '+'/'-' lines, left to NIS

    @property
    def looks_like_account_file(self) -> bool:
        return bool(self.entries) or not self.skipped


_MIN_FIELDS = {Kind.passwd: 7, Kind.shadow: 2, Kind.group: 4, Kind.gshadow: 4}


def _members(s: str) -> tuple[str, ...]:
    return tuple(m for m in s.split(",") if m)


def _entry(kind: Kind, n: int, line: str, parts: list[str]) -> Entry | str:
    """An entry, or why the line is not one."""
    name = parts[0]
    if not _NAME.fullmatch(name):
        return "bad account name"
    if any(ch in parts[1] for ch in "\x00\ufffd") or len(parts[1]) > 1024:
        return "bad password field"
    pw = classify_password(parts[1], kind)
    if kind == Kind.passwd:
        try:
            uid, gid = int(parts[2]), int(parts[3])
        except ValueError:
            return "uid or gid is not a number"
        return Entry(kind, n, line, name, pw, uid=uid, gid=gid, gecos=parts[4],
                     home=parts[5], shell=":".join(parts[6:]).strip())
    if kind == Kind.group:
        try:
            gid = int(parts[2])
        except ValueError:
            return "gid is not a number"
        return Entry(kind, n, line, name, pw, gid=gid, members=_members(parts[3]))
    if kind == Kind.gshadow:
        return Entry(kind, n, line, name, pw, members=_members(parts[3]))
    return Entry(kind, n, line, name, pw)


def parse(text: str, kind: Kind, *, cut_short: bool = False) -> Parsed:
    """Entries of one account file; ``cut_short`` drops a last line that was cut by the
    read limit."""
    out = Parsed(kind)
    lines = text.split("\n")
    if cut_short and len(lines) > 1:
        lines = lines[:-1]
        out.skipped.append((len(lines) + 1, "cut by the read limit"))
    for n, line in enumerate(lines, start=1):
        line = line.rstrip("\r")
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if len(line) > MAX_LINE:
            out.skipped.append((n, f"line longer than {MAX_LINE} characters"))
            continue
        if "\x00" in line:
            out.skipped.append((n, "binary data"))
            continue
        if line[0] in "+-":
            out.nis += 1
            continue
        parts = line.split(":")
        if len(parts) < _MIN_FIELDS[kind]:
            out.skipped.append((n, f"{len(parts)} fields, {kind.value} needs "
                                   f"{_MIN_FIELDS[kind]}"))
            continue
        made = _entry(kind, n, line, parts)
        if isinstance(made, str):
            out.skipped.append((n, made))
        else:
            out.entries.append(made)
    return out
