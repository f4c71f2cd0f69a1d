"""The two facts that turn an endpoint into an NS-3 case: nearby code that reads device or
subscriber identifiers (MAC, IMEI, IMSI, serial number, location), and a schedule (a
crontab entry, a periodic-task directory, or an endless loop with a sleep).
"""

from __future__ import annotations

import bisect
import fnmatch
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from spyproof.checks.endpoints_data import IdentifierRule, Knowledge

MAX_HITS_PER_RULE = 64  # identifier matches remembered per rule and file
MAX_LINE_TEXT = 200
HINT_WINDOW = 160  # characters either side of a hint in which the pattern is tried
PATH_DIRS = ("bin", "sbin", "usr/bin", "usr/sbin")  # where a cron job's bare command is
_ABS_PATH = re.compile(r"(?<![\w.$}-])/(?:[\w.+-]+/)*[\w.+-]+")
_COMMAND_SPLIT = re.compile(r"&&|\|\||[;|&`]|\$\(")
_ENV_LINE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*\s*=")
_DO_DONE = re.compile(r"(?<![\w-])(do|done)(?![\w-])")
_SHELL_WORDS = frozenset({"sh", "ash", "bash", "exec", "nice", "nohup", "env", "timeout",
                          "flock", "sudo", "busybox", "then", "do", "if", "test"})


@dataclass(frozen=True)
class Indicator:
    """One place where a file reads an identifier."""

    rule: IdentifierRule
    start: int | None  # index in the file's text; None for an imported symbol
    line: int | None
    text: str


class LineIndex:
    """Line numbers and line text of a text by character index."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.newlines = [m.start() for m in re.finditer("\n", text)]

    def line_of(self, index: int) -> int:
        return bisect.bisect_left(self.newlines, index) + 1

    def line_text(self, line: int) -> str:
        lo = self.newlines[line - 2] + 1 if line >= 2 else 0
        hi = self.newlines[line - 1] if line - 1 < len(self.newlines) else len(self.text)
        return self.text[lo:hi]


def clip(text: str) -> str:
    text = text.strip()
    return text if len(text) <= MAX_LINE_TEXT else text[:MAX_LINE_TEXT] + "…"


def _matches(rule: IdentifierRule, text: str, lowered: str,
             spans: list[tuple[int, int]]) -> Iterator[re.Match[str]]:
    """The rule's matches inside ``spans``, the regex tried only around each hint."""
    seen: set[int] = set()
    for lo, hi in spans:
        if not rule.hints:
            yield from rule.pattern.finditer(text, lo, hi)
            continue
        for hint in rule.hints:
            pos = lowered.find(hint, lo, hi)
            while pos >= 0:
                start = max(0, pos - HINT_WINDOW)
                for m in rule.pattern.finditer(text, start, pos + len(hint) + HINT_WINDOW):
                    if m.start() not in seen:
                        seen.add(m.start())
                        yield m
                pos = lowered.find(hint, pos + len(hint), hi)


def merge_spans(centres: Iterable[int], radius: int, size: int) -> list[tuple[int, int]]:
    """[c - radius, c + radius] around each centre, clipped and merged."""
    spans: list[tuple[int, int]] = []
    for c in sorted(centres):
        lo, hi = max(0, c - radius), min(size, c + radius)
        if spans and lo <= spans[-1][1]:
            spans[-1] = (spans[-1][0], max(spans[-1][1], hi))
        else:
            spans.append((lo, hi))
    return spans


def find_identifiers(k: Knowledge, text: str, *, binary: bool, lines: LineIndex | None,
                     symbols: Iterable[str] = (),
                     spans: list[tuple[int, int]] | None = None) -> list[Indicator]:
    """Where the file reads identifiers: text patterns in scripts and configs, string
    patterns in binaries (only inside ``spans`` when given: the windows around endpoints),
    imported symbols of ELF files. ``text`` is latin-1, so an index is a byte offset."""
    where = "binary" if binary else "text"
    lowered = text.encode("latin-1").lower().decode("latin-1")  # ASCII only: same length
    spans = [(0, len(text))] if spans is None else spans
    found: list[Indicator] = []
    for rule in k.identifiers:
        if where in rule.where:
            for n, m in enumerate(_matches(rule, text, lowered, spans)):
                if n >= MAX_HITS_PER_RULE:
                    break
                line = lines.line_of(m.start()) if lines else None
                shown = clip(lines.line_text(line)) if lines and line else clip(m.group())
                found.append(Indicator(rule, m.start(), line, shown))
        if "symbol" in rule.where:
            for sym in symbols:
                if rule.pattern.search(sym):
                    found.append(Indicator(rule, None, None, sym))
                    break
    found.sort(key=lambda i: (i.start if i.start is not None else -1, i.rule.id))
    return found


def near(indicators: list[Indicator], *, starts: list[int], lines: list[int] | None,
         line_window: int, byte_window: int) -> list[Indicator]:
    """Per identifier rule, the indicator closest to an occurrence of the endpoint, when
    within the window (lines in text, bytes in binaries; imported symbols: anywhere)."""
    best: dict[str, tuple[int, Indicator]] = {}
    for ind in indicators:
        if ind.start is None:
            dist = 0
        elif lines is not None and ind.line is not None:
            dist = min(abs(ind.line - ln) for ln in lines)
            if dist > line_window:
                continue
        else:
            dist = min(abs(ind.start - s) for s in starts)
            if dist > byte_window:
                continue
        if ind.rule.id not in best or dist < best[ind.rule.id][0]:
            best[ind.rule.id] = (dist, ind)
    return sorted((ind for _, ind in best.values()),
                  key=lambda i: (i.start if i.start is not None else -1, i.rule.id))


@dataclass(frozen=True)
class Loop:
    """An endless loop with a sleep: lines ``first``..``last`` (1-based, inclusive)."""

    first: int
    last: int
    header: str
    sleep_line: int


def periodic_loops(k: Knowledge, text: str) -> list[Loop]:
    """Endless loops that sleep (``while true; do …; sleep 600; done``). A shell loop ends
    at its matching ``done``; other languages' loops run to the end of the file."""
    lines = text.splitlines()
    loops: list[Loop] = []
    for i, line in enumerate(lines):
        if not k.loop_header.search(line):
            continue
        last = len(lines) - 1
        depth, opened = 0, False
        for j in range(i, len(lines)):
            code = lines[j].split("#", 1)[0]
            for word in _DO_DONE.findall(code):
                depth += 1 if word == "do" else -1
                opened = opened or word == "do"
            if opened and depth <= 0:
                last = j
                break
        sleep = next((j for j in range(i, last + 1) if k.sleep.search(lines[j])), None)
        if sleep is not None:
            loops.append(Loop(i + 1, last + 1, clip(line), sleep + 1))
    return loops


def loop_for(loops: list[Loop], line: int) -> Loop | None:
    return next((lp for lp in loops if lp.first <= line <= lp.last), None)


# -- schedules in other files (image-wide) --------------------------------------------


@dataclass(frozen=True)
class CronJob:
    line: int
    text: str
    command: str


def cron_jobs(text: str, user_field: bool) -> Iterator[CronJob]:
    """Periodic jobs of a crontab (``@reboot`` runs once, so it is not one)."""
    for n, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#") or _ENV_LINE.match(line):
            continue
        if line.startswith("@"):
            parts = line.split(None, 2 if user_field else 1)
            if parts[0] == "@reboot" or len(parts) < (3 if user_field else 2):
                continue
        else:
            parts = line.split(None, 6 if user_field else 5)
            if len(parts) < (7 if user_field else 6):
                continue
        yield CronJob(n, clip(raw), parts[-1])


def programs(command: str) -> list[str]:
    """Image paths a shell command line may run: absolute paths anywhere in it, and each
    simple command's first word looked up in the usual bin directories."""
    found = [m.group() for m in _ABS_PATH.finditer(command)]
    for part in _COMMAND_SPLIT.split(command):
        words = [w for w in part.strip().split() if not _ENV_LINE.match(w)]
        while words and (words[0] in _SHELL_WORDS or words[0].startswith("-")
                         or words[0].isdigit()):
            words.pop(0)  # wrappers and their options: nice -n 5 ntpd
        if words and re.fullmatch(r"[\w.+-]+", words[0]):
            found.extend(f"/{d}/{words[0]}" for d in PATH_DIRS)
    return list(dict.fromkeys(found))


def matches_any(path: str, patterns: Iterable[str]) -> bool:
    return any(fnmatch.fnmatchcase(path, p) for p in patterns)
