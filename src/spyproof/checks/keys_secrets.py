"""Hard-coded secrets by rule: passwords, tokens and API keys in scripts, configs and the
strings of binaries. The rules are data (``data/checks/secrets.yaml``); this module only
loads them, runs them over bytes, and decides which matches are real.

A rule's regex must name the secret with a ``(?P<secret>…)`` group. Keywords (as in
gitleaks) let a rule skip files that cannot match. A match is dropped, and noted, when its
value is an obvious placeholder (``changeme``, ``$VAR``, ``%s``, ``********``) or, for
rules that ask for it, when it is too short or too uniform (Shannon entropy) to be a
generated secret.
"""

from __future__ import annotations

import fnmatch
import functools
import json
import math
import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources
from typing import Any

import yaml

DATA_FILE = "checks/secrets.yaml"
#: Files up to this size are searched whole (when a rule's keyword occurs); in larger ones
#: (binaries) each rule searches only windows around its keywords, as gitleaks does, so a
#: rule costs little where its keywords are rare.
FULL_SCAN_BYTES = 256 * 1024
WINDOW_BEFORE = 256  # a match starts at most this far before its keyword
MAX_WINDOWS = 4096  # more keyword hits than this: search the whole file
_SHELLS = {"sh", "ash", "bash", "dash", "hush", "ksh", "mksh", "zsh", "busybox"}
# In these languages a bare word after "password =" is a variable, not the password.
_CODE_SUFFIXES = (".lua", ".js", ".mjs", ".ts", ".py", ".php", ".rb", ".pl", ".pm", ".uc",
                  ".c", ".h", ".cc", ".cpp", ".java", ".go", ".rs", ".tcl")
_IDENTIFIER = re.compile(r"[A-Za-z_][\w.]*")


@dataclass(frozen=True)
class SecretRule:
    id: str
    title: str
    description: str
    severity: str
    pattern: re.Pattern[bytes]
    keywords: tuple[bytes, ...]
    scope: str  # "any": every file, binaries too; "text": configs, scripts, text
    paths: tuple[str, ...]  # when set, only files at these paths (shell patterns)
    min_length: int
    min_entropy: float
    placeholders: bool  # whether placeholder values are dropped
    generic: bool  # a broad rule: yields to a specific rule matching the same bytes
    source: str
    max_length: int = 1024  # longest match: how far past a keyword to search
    show_before: int = 0  # scheme-like characters before the match shown in evidence
    exclude: re.Pattern[bytes] | None = None  # a match containing this is an example
    exclude_value: re.Pattern[str] | None = None  # a value matching this is not a secret

    def applies(self, path: str, is_text: bool) -> bool:
        if self.paths:
            return any(fnmatch.fnmatchcase(path, p) for p in self.paths)
        return self.scope == "any" or is_text


@dataclass(frozen=True)
class SecretsData:
    rules: tuple[SecretRule, ...]
    placeholders: tuple[re.Pattern[str], ...]
    raw: dict[str, Any]  # the whole data file (other sections serve keys.py)
    keyword_index: Any = None  # yara_x.Rules finding every rule's keywords in one pass


def _keyword_index(rules: tuple[SecretRule, ...]) -> Any:
    """One YARA-X rule per secret rule, matching its keywords (any case): a single
    Aho-Corasick pass over a large binary tells where each rule's keywords are."""
    import yara_x

    src = []
    for i, rule in enumerate(rules):
        if rule.keywords:
            strings = "\n".join(f"    $k{j} = {json.dumps(k.decode())} nocase"
                                 for j, k in enumerate(rule.keywords))
            src.append(f"rule r{i} {{\n  strings:\n{strings}\n  condition:\n    any of them\n}}")
    return yara_x.compile("\n".join(src))


@dataclass
class SecretHit:
    rule: SecretRule
    start: int  # of the whole match
    end: int
    secret_start: int
    secret_end: int
    secret: str
    shown: str  # the match with the secret masked
    groups: dict[str, str]  # the rule's other named groups (key, user): not secret


def _rule(entry: dict[str, Any]) -> SecretRule:
    flags = re.IGNORECASE if entry.get("ignore_case") else 0
    flags |= re.MULTILINE
    pattern = re.compile(entry["regex"].encode(), flags)
    if "secret" not in pattern.groupindex:
        raise ValueError(f"rule {entry['id']}: regex has no (?P<secret>…) group")
    return SecretRule(
        id=entry["id"], title=entry["title"], description=entry["description"],
        severity=entry["severity"], pattern=pattern,
        keywords=tuple(k.lower().encode() for k in entry.get("keywords", ())),
        scope=entry.get("scope", "text"), paths=tuple(entry.get("paths", ())),
        min_length=int(entry.get("min_length", 1)),
        min_entropy=float(entry.get("min_entropy", 0.0)),
        placeholders=bool(entry.get("placeholders", True)),
        generic=bool(entry.get("generic", False)), source=entry["source"],
        max_length=int(entry.get("max_length", 1024)),
        show_before=int(entry.get("show_before", 0)),
        exclude=re.compile(entry["exclude"].encode(), re.IGNORECASE) if entry.get("exclude")
        else None,
        exclude_value=re.compile(entry["exclude_value"], re.IGNORECASE)
        if entry.get("exclude_value") else None)


@functools.cache
def load(text: str | None = None) -> SecretsData:
    """The bundled rules (or the YAML ``text`` given, for tests)."""
    if text is None:
        text = resources.files("spyproof.data").joinpath(DATA_FILE).read_text("utf-8")
    raw = yaml.safe_load(text)
    if raw.get("version") != 1:
        raise ValueError(f"{DATA_FILE}: unsupported version {raw.get('version')!r}")
    rules = tuple(_rule(e) for e in raw["rules"])
    ids = [r.id for r in rules]
    if len(ids) != len(set(ids)):
        raise ValueError(f"{DATA_FILE}: duplicate rule ids")
    holders = tuple(re.compile(p, re.IGNORECASE) for p in raw["placeholders"]["patterns"])
    return SecretsData(rules, holders, raw, _keyword_index(rules))


def entropy(text: str) -> float:
    """Shannon entropy in bits per character."""
    if not text:
        return 0.0
    counts = Counter(text)
    return -sum(c / len(text) * math.log2(c / len(text)) for c in counts.values())


def _unquote(raw: str) -> tuple[str, bool]:
    raw = raw.strip()
    if len(raw) >= 2 and raw[0] == raw[-1] and raw[0] in "\"'":
        return raw[1:-1], True
    return raw, False


def is_placeholder(value: str, data: SecretsData) -> bool:
    return any(p.fullmatch(value) for p in data.placeholders)


def _mask(match: bytes, rel_start: int, rel_end: int, secret: str) -> str:
    from spyproof.checks.base import mask_secret

    before = match[:rel_start].decode("utf-8", "replace")
    after = match[rel_end:].decode("utf-8", "replace")
    shown = f"{before}{mask_secret(secret)}{after}"
    shown = " ".join(shown.split())  # no raw newlines or control runs in evidence
    return shown if len(shown) <= 200 else shown[:199] + "…"


def find_secrets(data: bytes, path: str, *, is_text: bool, interpreter: str | None,
                 secrets: SecretsData) -> tuple[list[SecretHit], list[str]]:
    """Every rule's real matches in ``data`` and notes on what was dropped and why."""
    applicable = [r for r in secrets.rules if r.applies(path, is_text)]
    if not applicable:
        return [], []
    spans = _keyword_spans(data, secrets)
    hits: list[SecretHit] = []
    dropped: Counter[str] = Counter()
    literal_idents = _bare_words_are_literal(path, interpreter)
    for rule in applicable:
        windows = spans(rule) if rule.keywords else [(0, len(data))]
        for m in (m for start, end in windows for m in rule.pattern.finditer(data, start, end)):
            raw = m.group("secret")
            if raw is None:
                continue
            text, quoted = _unquote(raw.decode("utf-8", "replace"))
            why = _reject(rule, text, quoted, literal_idents, secrets)
            if not why and rule.exclude and rule.exclude.search(m.group(0)):
                why = "documentation example"
            if why:
                dropped[f"{rule.id}: {why}"] += 1
                continue
            s, e = m.span("secret")
            start = _scheme_start(data, m.start(), rule.show_before)
            shown = _mask(data[start:m.end()], s - start, e - start, text)
            groups = {k: v.decode("utf-8", "replace") for k, v in m.groupdict().items()
                      if k != "secret" and v is not None}
            hits.append(SecretHit(rule, start, m.end(), s, e, text, shown, groups))
    hits = _prefer_specific(hits)
    notes = [f"{n} match{'es' if n > 1 else ''} of {what}, not reported"
             for what, n in sorted(dropped.items())]
    return hits, notes


def _keyword_spans(data: bytes, secrets: SecretsData
                   ) -> Callable[[SecretRule], list[tuple[int, int]]]:
    """For each rule: the parts of ``data`` worth searching. Small files: all of it when a
    keyword occurs. Large files: windows around each keyword hit (or all of it when there
    are very many), found for every rule at once by YARA-X."""
    size = len(data)
    if size <= FULL_SCAN_BYTES or secrets.keyword_index is None:
        lower = data.lower()

        def small(rule: SecretRule) -> list[tuple[int, int]]:
            return [(0, size)] if any(k in lower for k in rule.keywords) else []
        return small
    import yara_x

    scanner = yara_x.Scanner(secrets.keyword_index)
    scanner.max_matches_per_pattern(MAX_WINDOWS + 1)
    hits: dict[int, list[tuple[int, int]]] = {}
    for matched in scanner.scan(data).matching_rules:
        offsets = [(m.offset, m.length) for p in matched.patterns for m in p.matches]
        hits[int(matched.identifier[1:])] = offsets
    index = {id(r): i for i, r in enumerate(secrets.rules)}

    def large(rule: SecretRule) -> list[tuple[int, int]]:
        offsets = hits.get(index[id(rule)], [])
        if len(offsets) > MAX_WINDOWS:
            return [(0, size)]
        return _merge([(max(0, o - WINDOW_BEFORE), min(size, o + n + rule.max_length))
                       for o, n in offsets])
    return large


_SCHEME_CHARS = frozenset(b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+.-")


def _scheme_start(data: bytes, start: int, limit: int) -> int:
    while limit > 0 and start > 0 and data[start - 1] in _SCHEME_CHARS:
        start -= 1
        limit -= 1
    return start


def _merge(spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    spans.sort()
    merged: list[tuple[int, int]] = []
    for s, e in spans:
        if merged and s <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], e))
        else:
            merged.append((s, e))
    return merged


def _bare_words_are_literal(path: str, interpreter: str | None) -> bool:
    """Whether an unquoted word assigned to a password is the password itself (configs,
    shell) or a variable holding it (Lua, JavaScript, Python, C …)."""
    if interpreter:
        words = [w.rsplit("/", 1)[-1] for w in interpreter.split()]
        if len(words) > 1 and words[0] == "env":
            words = words[1:]
        return bool(words) and words[0] in _SHELLS
    return not path.lower().endswith(_CODE_SUFFIXES)


def _reject(rule: SecretRule, value: str, quoted: bool, literal_idents: bool,
            secrets: SecretsData) -> str | None:
    if rule.placeholders and is_placeholder(value, secrets):
        return "placeholder value"
    if len(value) < rule.min_length:
        return f"value shorter than {rule.min_length}"
    if rule.min_entropy and entropy(value) < rule.min_entropy:
        return "value too uniform to be a generated secret"
    if rule.exclude_value and rule.exclude_value.fullmatch(value):
        return "value is not a secret (rule's exclusions)"
    if rule.generic and not quoted and not literal_idents and _IDENTIFIER.fullmatch(value):
        return "unquoted identifier (a variable in this script language)"
    return None


def _prefer_specific(hits: list[SecretHit]) -> list[SecretHit]:
    specific = [(h.secret_start, h.secret_end) for h in hits if not h.rule.generic]
    out = []
    seen: set[tuple[str, int]] = set()
    for h in sorted(hits, key=lambda h: (h.start, h.rule.id)):
        if h.rule.generic and any(s < h.secret_end and h.secret_start < e for s, e in specific):
            continue
        if (h.rule.id, h.secret_start) in seen:
            continue
        seen.add((h.rule.id, h.secret_start))
        out.append(h)
    return out
