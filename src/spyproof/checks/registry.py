"""Every check spyproof has, by id. Adding a check: one module here, one data file."""

from __future__ import annotations

import functools
import importlib

from spyproof.checks.base import Check

# module under spyproof.checks -> each defines CHECK, an instance of a Check subclass
MODULES = ("accounts", "remote_access", "keys", "backdoors", "endpoints", "engineering")


class UnknownCheck(ValueError):
    """A check id that does not exist (``--only`` typo)."""


@functools.cache
def all_checks() -> dict[str, Check]:
    """Id -> check, in a fixed order."""
    checks = {}
    for name in MODULES:
        check = importlib.import_module(f"spyproof.checks.{name}").CHECK
        checks[check.info.id] = check
    return dict(sorted(checks.items()))


def select(only: list[str] | None) -> list[Check]:
    """The checks ``--only`` names (all when None), or ``UnknownCheck``."""
    checks = all_checks()
    if not only:
        return list(checks.values())
    unknown = [i for i in only if i not in checks]
    if unknown:
        raise UnknownCheck(f"unknown check {', '.join(unknown)}: choose from "
                           f"{', '.join(checks)}")
    return [checks[i] for i in sorted(set(only))]
