"""Finding an image's account databases, wherever the firmware keeps them.

Not only ``etc/passwd``: backups (``passwd-``, ``shadow.bak``), factory copies
(``rom/etc/shadow``, ``etc/config/passwd``, ``usr/share/…/passwd.master``) and the copies
in every other extracted tree count, because each is a password an attacker may meet
(after a factory reset, a rollback, or on another partition). Files are grouped by
directory and suffix so that each passwd is read with the shadow beside it; a link to a
file that is not in the image (``etc/passwd -> /tmp/passwd``) is kept as a fact of its own.
"""

from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass, field

from spyproof.checks.accounts_parse import Kind
from spyproof.checks.base import REGULAR, CheckContext
from spyproof.models import EntryKind, FileEntry, FileType

_SUFFIX = (r"(?:[-~+]|[._-](?:bak|orig|old|default|def|dist|save|backup|sample|template|"
           r"new|tmp|factory|master|ro))?")
NAME_RE = re.compile(rf"(passwd|shadow|group|gshadow)({_SUFFIX})")
# Content types that cannot be an account database (the passwd program, a key, a tarball).
NOT_ACCOUNTS = frozenset({FileType.elf, FileType.archive, FileType.certificate,
                          FileType.private_key, FileType.public_key, FileType.script})


@dataclass(frozen=True)
class AccountFile:
    kind: Kind
    entry: FileEntry         # the regular file read
    via: str | None = None   # the symlink path it was found through, if any


@dataclass
class AccountSet:
    """passwd/shadow/group/gshadow read together (same tree, directory and suffix)."""

    tree: str
    directory: str
    suffix: str
    files: dict[Kind, AccountFile] = field(default_factory=dict)

    def members(self) -> frozenset[tuple[Kind, str, str]]:
        return frozenset((k, f.entry.tree, f.entry.path) for k, f in self.files.items())


@dataclass(frozen=True)
class UnresolvedLink:
    """An account-file name that is a symlink leading nowhere inside the image."""

    kind: Kind
    link: FileEntry


def _tree_rank(ctx: CheckContext) -> dict[str, int]:
    return {t: i for i, t in enumerate(ctx.trees())}


def discover(ctx: CheckContext) -> tuple[list[AccountSet], list[UnresolvedLink]]:
    """Account sets (most complete and ``etc`` first, none that another set covers) and
    links that do not resolve inside the image."""
    sets: dict[tuple[str, str, str], AccountSet] = {}
    unresolved: list[UnresolvedLink] = []
    rank = _tree_rank(ctx)
    for f in sorted(ctx.files, key=lambda e: (rank.get(e.tree, len(rank)), e.path)):
        m = NAME_RE.fullmatch(posixpath.basename(f.path))
        if not m or f.tree not in ctx.tree_paths:
            continue
        kind, suffix = Kind(m.group(1)), m.group(2)
        if f.kind == EntryKind.symlink:
            target = ctx.resolve(f.tree, f.path)
            if target is None:
                unresolved.append(UnresolvedLink(kind, f))
                continue
            if target.kind not in REGULAR:
                continue
            found = AccountFile(kind, target, via=f.path)
        elif f.kind in REGULAR:
            found = AccountFile(kind, f)
        else:
            continue
        if found.entry.file_type in NOT_ACCOUNTS:
            continue
        key = (f.tree, posixpath.dirname(f.path), suffix)
        sets.setdefault(key, AccountSet(*key)).files.setdefault(kind, found)
    _pair_backups(sets)
    return _without_covered(list(sets.values()), rank), unresolved


def _pair_backups(sets: dict[tuple[str, str, str], AccountSet]) -> None:
    """A ``passwd-`` without a ``shadow-`` is read with the plain ``shadow`` beside it."""
    for (tree, directory, suffix), s in sets.items():
        if not suffix:
            continue
        plain = sets.get((tree, directory, ""))
        if plain is None:
            continue
        for main, secret in ((Kind.passwd, Kind.shadow), (Kind.group, Kind.gshadow)):
            if main in s.files and secret not in s.files and secret in plain.files:
                s.files[secret] = plain.files[secret]


def _without_covered(sets: list[AccountSet], rank: dict[str, int]) -> list[AccountSet]:
    """Drop a set whose files all belong to a set already kept (``var/passwd`` reached
    both directly and through ``etc/passwd -> /var/passwd``)."""
    ordered = sorted(sets, key=lambda s: (-len(s.files), rank.get(s.tree, len(rank)),
                                          s.directory != "etc", s.directory, s.suffix))
    kept: list[AccountSet] = []
    for s in ordered:
        mine = s.members()
        if any(mine <= k.members() for k in kept):
            continue
        kept.append(s)
    return kept
