"""Read an agreement file: TOML syntax, then the model, then ids it refers to.

Every problem is reported as ``FILE:LINE: key: message`` — all of them at once, so an
author fixes a file in one round. TOML syntax errors carry tomllib's line; for the other
problems the line is found by walking the file's table headers and keys (values are not
re-parsed), which is exact for the tables and keys spyproof's format uses.
"""

from __future__ import annotations

import hashlib
import re
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from pydantic import ValidationError

from spyproof.agreement.clauses import BUILTIN, STAGES
from spyproof.agreement.model import Agreement

MAX_BYTES = 1024 * 1024


@dataclass(frozen=True)
class Problem:
    line: int | None
    key: str
    message: str

    def render(self, path: str) -> str:
        where = f"{path}:{self.line}" if self.line else path
        return f"{where}: {self.key}: {self.message}" if self.key else \
            f"{where}: {self.message}"


class AgreementError(Exception):
    """The agreement cannot be used; ``problems`` lists every reason with its line."""

    def __init__(self, path: str, problems: list[Problem]) -> None:
        self.path = path
        self.problems = sorted(problems, key=lambda p: (p.line or 0, p.key, p.message))
        super().__init__("\n".join(p.render(path) for p in self.problems))


@dataclass(frozen=True)
class LoadedAgreement:
    path: str
    sha256: str
    text: str
    agreement: Agreement

    def line_of(self, *loc: str | int) -> int | None:
        return locate(self.text, loc)


_HEADER = re.compile(r"^\s*(\[\[?)\s*([A-Za-z0-9_.\-\"' ]+?)\s*\]\]?\s*(#.*)?$")
_KEY = re.compile(r"^\s*([A-Za-z0-9_\-]+|\"[^\"]*\")\s*=")


def locate(text: str, loc: Sequence[str | int]) -> int | None:
    """The 1-based line that defines ``loc`` (e.g. ``("endpoints", 2, "cidr")``): the key's
    line inside the right table or array-of-tables element, else the deepest enclosing
    header."""
    want = [str(x) for x in loc]
    counts: dict[str, int] = {}
    table: list[str] = []
    best, best_len = None, -1
    for n, raw in enumerate(text.splitlines(), start=1):
        if raw.lstrip().startswith("[") and (m := _HEADER.match(raw)):
            name = [p.strip().strip("\"'") for p in m.group(2).split(".")]
            if m.group(1) == "[[":
                key = ".".join(name)
                counts[key] = counts.get(key, -1) + 1
                table = [*name, str(counts[key])]
            else:
                table = name
            if want[:len(table)] == table and len(table) > best_len:
                best, best_len = n, len(table)
                if want == table:
                    return n
            continue
        k = _KEY.match(raw)
        if k and want[:len(table) + 1] == [*table, k.group(1).strip('"')]:
            return n
    return best


def _problems_from_validation(exc: ValidationError, text: str) -> list[Problem]:
    out = []
    for err in exc.errors():
        loc = [x for x in err["loc"] if not (isinstance(x, str) and x.startswith("function-"))]
        key = ".".join(f"[{x}]" if isinstance(x, int) else str(x) for x in loc)
        key = key.replace(".[", "[")
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            msg = "unknown key (typo?)"
        elif err["type"] == "missing":
            msg = "required key is missing"
        out.append(Problem(locate(text, loc), key, msg))
    return out


def _reference_problems(ag: Agreement, text: str, known_checks: set[str]) -> list[Problem]:
    out = []
    seen: set[str] = set()
    for i, clause in enumerate(ag.clauses):
        if clause.id in seen:
            out.append(Problem(locate(text, ("clauses", i, "id")), f"clauses[{i}].id",
                               f"clause {clause.id} is listed twice"))
        seen.add(clause.id)
        if clause.id not in BUILTIN and not clause.custom:
            out.append(Problem(locate(text, ("clauses", i, "id")), f"clauses[{i}].id",
                               f"unknown clause {clause.id} (built-in: "
                               f"{', '.join(BUILTIN)}; set custom = true for your own)"))
        if clause.custom and not (clause.checks and clause.wording):
            out.append(Problem(locate(text, ("clauses", i)), f"clauses[{i}]",
                               "a custom clause needs wording and checks"))
        for j, check in enumerate(clause.checks or []):
            if check not in known_checks and check not in STAGES:
                out.append(Problem(locate(text, ("clauses", i, "checks")),
                                   f"clauses[{i}].checks[{j}]",
                                   f"unknown check {check!r} (see `spyproof checks list`)"))
    return out


def load_agreement(path: str | Path, known_checks: set[str] | None = None
                   ) -> LoadedAgreement:
    """Parse and validate an agreement; ``AgreementError`` lists every problem."""
    p = Path(path)
    shown = str(path)
    try:
        raw = p.read_bytes()[:MAX_BYTES + 1]
    except OSError as exc:
        raise AgreementError(shown, [Problem(None, "", f"cannot read: {exc.strerror}")]) \
            from None
    if len(raw) > MAX_BYTES:
        raise AgreementError(shown, [Problem(None, "", "larger than 1 MiB: not an agreement")])
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise AgreementError(shown, [Problem(None, "", f"not UTF-8 text ({exc.reason} at "
                                             f"byte {exc.start})")]) from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        m = re.search(r"line (\d+)", str(exc))
        raise AgreementError(shown, [Problem(int(m.group(1)) if m else None, "",
                                             f"TOML syntax: {exc}")]) from None
    try:
        ag = Agreement.model_validate(data)
    except ValidationError as exc:
        raise AgreementError(shown, _problems_from_validation(exc, text)) from None
    if known_checks is None:
        from spyproof.checks.registry import all_checks

        known_checks = set(all_checks())
    problems = _reference_problems(ag, text, known_checks)
    if problems:
        raise AgreementError(shown, problems)
    return LoadedAgreement(path=shown, sha256=hashlib.sha256(raw).hexdigest(), text=text,
                           agreement=ag)
