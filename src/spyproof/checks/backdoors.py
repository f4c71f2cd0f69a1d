"""known-backdoors: documented real backdoors and implants, found with a YARA-X rule pack.

Each rule in ``spyproof/data/checks/yara/*.yar`` (one file per case or family) describes
one publicly documented backdoor or implant - D-Link's User-Agent bypass, Tenda's UDP 7329
service, Zyxel's ``zyfwp`` account, FortiOS's ``Fortimanager_Access``, the ScreenOS master
password, the Cisco IOS XE implant, the xz/liblzma backdoor and more - and carries in its
``meta:`` the finding it produces: ``id``, ``title``, ``severity``, ``cve``, ``source``
(the advisory or write-up), ``description`` (why it matters), ``clause`` (NS-4) and,
optionally, ``mask`` (pattern names whose matched text is a secret and is shown masked).

Every regular file up to ``MAX_FILE_BYTES`` is scanned - binaries, scripts and
configuration files alike, since several cases live in text. The pack is compiled once per
process and kept; a rule file that does not compile is left out with a note naming it and
the compiler's error, and the other rules still run.

Extra rules: set ``SPYPROOF_EXTRA_YARA`` to a directory of ``.yar``/``.yara`` files (or to
one file). Each file is compiled on its own, so a broken file is skipped with a note naming
the file and the error while everything else runs (``include`` is not allowed). Extra
rules should carry the same ``meta:`` fields; missing ones get neutral defaults (severity
``medium``, clause NS-4).
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import yara_x

from spyproof.checks.base import (
    REGULAR,
    Check,
    CheckContext,
    CheckInfo,
    FileView,
    Outcome,
    make_finding,
    mask_secret,
)
from spyproof.models import Evidence, FileEntry, Finding, Severity

CHECK_ID = "known-backdoors"
CLAUSE = "NS-4"
EXTRA_ENV = "SPYPROOF_EXTRA_YARA"
MAX_FILE_BYTES = 32 * 1024 * 1024
MAX_EVIDENCE = 8  # matches shown per finding (all are counted)
MAX_MATCHED_BYTES = 96  # of one match, shown as hex and text
MAX_MATCHES_PER_PATTERN = 1000
RULE_SUFFIXES = (".yar", ".yara")


def bundled_rules_dir() -> Path:
    """Where the bundled rule pack lives."""
    return Path(str(resources.files("spyproof.data").joinpath("checks", "yara")))


@dataclass(frozen=True)
class RuleMeta:
    """What a matching rule says about itself (its ``meta:`` section, with defaults)."""

    id: str
    title: str
    severity: Severity
    cve: str | None
    source: str | None
    description: str
    clause: str
    masked: frozenset[str]  # pattern identifiers ("$pw") whose matches are secrets


@dataclass
class RulePack:
    """Compiled rules, which file each namespace came from, and what could not be used."""

    rules: yara_x.Rules | None
    origins: dict[str, str] = field(default_factory=dict)  # namespace -> rule file
    notes: list[str] = field(default_factory=list)
    _scanner: yara_x.Scanner | None = None
    _meta: dict[tuple[str, str], tuple[RuleMeta, tuple[str, ...]]] = field(
        default_factory=dict)

    def scanner(self) -> yara_x.Scanner | None:
        if self.rules is None:
            return None
        if self._scanner is None:
            # No scan timeout: yara-x runs timeouts on a helper thread, which a forked
            # worker would not inherit. The rules are literal strings and short hex and
            # regex patterns, linear in the file size.
            self._scanner = yara_x.Scanner(self.rules)
            self._scanner.max_matches_per_pattern(MAX_MATCHES_PER_PATTERN)
        return self._scanner

    def meta(self, rule: yara_x.Rule) -> tuple[RuleMeta, tuple[str, ...]]:
        """The rule's metadata (and problems with it), parsed once per rule."""
        key = (rule.namespace, rule.identifier)
        if key not in self._meta:
            self._meta[key] = _parse_meta(rule, self.origins.get(rule.namespace, "?"))
        return self._meta[key]


def _rule_files(path: Path) -> list[Path]:
    if path.is_file():
        return [path]
    return sorted(p for p in path.iterdir() if p.suffix in RULE_SUFFIXES and p.is_file())


def _first_line(exc: Exception) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _add_file(compiler: yara_x.Compiler, path: Path, namespace: str, label: str,
              pack: RulePack) -> bool:
    """Compile one rule file into its own namespace; an error becomes a note (yara-x
    leaves out the rules that fail and keeps the file's others). True when clean."""
    try:
        source = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        pack.notes.append(f"rule file {label}: not read: {_first_line(exc)}")
        return False
    compiler.new_namespace(namespace)
    pack.origins[namespace] = label
    try:
        compiler.add_source(source, origin=label)
    except yara_x.CompileError as exc:
        pack.notes.append(f"rule file {label}: does not compile, its failing rules are "
                          f"left out: {_first_line(exc)}")
        return False
    return True


def compile_pack(bundled: Path, extra: str | None = None) -> RulePack:
    """Compile the bundled rules and any extra rule files, each file on its own, so one
    broken file costs only its own rules."""
    pack = RulePack(rules=None)
    compiler = yara_x.Compiler()
    compiler.enable_includes(False)
    try:
        bundled_files = _rule_files(bundled)
    except OSError as exc:
        pack.notes.append(f"bundled rule pack {bundled}: not read: {_first_line(exc)}")
        bundled_files = []
    clean = 0
    for path in bundled_files:
        clean += _add_file(compiler, path, f"bundled.{path.stem}", f"bundled:{path.name}",
                           pack)
    if extra:
        extra_path = Path(extra)
        try:
            extra_files = _rule_files(extra_path)
        except OSError as exc:
            pack.notes.append(f"{EXTRA_ENV}={extra}: not read: {_first_line(exc)}")
            extra_files = []
        for n, path in enumerate(extra_files):
            clean += _add_file(compiler, path, f"extra{n}.{path.stem}", str(path), pack)
    if not clean:
        pack.notes.append("no YARA rule file compiled cleanly: known backdoors were looked "
                          "for with what was left, if anything")
    pack.rules = compiler.build()
    return pack


_PACKS: dict[str | None, RulePack] = {}  # per process, by $SPYPROOF_EXTRA_YARA


def current_pack() -> RulePack:
    """The rule pack for this process (bundled + ``$SPYPROOF_EXTRA_YARA``), compiled once."""
    extra = os.environ.get(EXTRA_ENV) or None
    pack = _PACKS.get(extra)
    if pack is None:
        pack = _PACKS[extra] = compile_pack(bundled_rules_dir(), extra)
    return pack


def clear_cache() -> None:
    """Forget compiled packs (tests that swap the rule files)."""
    _PACKS.clear()


# -- metadata -------------------------------------------------------------------------


def _parse_meta(rule: yara_x.Rule, origin: str) -> tuple[RuleMeta, tuple[str, ...]]:
    raw: dict[str, Any] = {}
    for key, value in rule.metadata:
        raw.setdefault(key, value)  # the first value of a repeated key wins
    problems: list[str] = []

    def text(key: str) -> str | None:
        value = raw.get(key)
        return str(value).strip() if value is not None and str(value).strip() else None

    rule_id = text("id") or rule.identifier
    try:
        severity = Severity(text("severity") or "")
    except ValueError:
        severity = Severity.medium
        problems.append(f"rule {rule_id} ({origin}): severity {raw.get('severity')!r} is "
                        f"not one of critical/high/medium/low/info; reported as medium")
    masked = frozenset(
        name if name.startswith("$") else f"${name}"
        for name in (text("mask") or "").replace(",", " ").split())
    meta = RuleMeta(
        id=rule_id,
        title=text("title") or f"YARA rule {rule.identifier} matched",
        severity=severity,
        cve=text("cve"),
        source=text("source"),
        description=text("description") or f"The file matches YARA rule {rule.identifier} "
                                          f"from {origin}.",
        clause=text("clause") or CLAUSE,
        masked=masked,
    )
    return meta, tuple(problems)


# -- findings -------------------------------------------------------------------------


def _printable(data: bytes) -> str:
    """Matched bytes as text: printable ASCII kept, everything else as \\xNN."""
    return "".join(chr(b) if 32 <= b < 127 else f"\\x{b:02x}" for b in data)


def _match_evidence(view: FileView, meta: RuleMeta, pattern: str, offset: int,
                    length: int) -> tuple[Evidence, dict[str, Any]]:
    data = view.data[offset:offset + min(length, MAX_MATCHED_BYTES)]
    fact: dict[str, Any] = {"pattern": pattern, "offset": offset, "length": length}
    if pattern in meta.masked:
        # a secret: enough to recognise it, and a digest to verify it, never the bytes
        fact["sha256"] = hashlib.sha256(view.data[offset:offset + length]).hexdigest()
        evidence = view.evidence(meta.id, offset=offset,
                                 text=mask_secret(data.decode("latin-1")))
    else:
        evidence = view.evidence(meta.id, offset=offset, text=_printable(data),
                                 hex=data.hex())
    return evidence, fact


def _finding(view: FileView, rule: yara_x.Rule, meta: RuleMeta, origin: str) -> Finding:
    matches = sorted((m.offset, m.length, p.identifier)
                     for p in rule.patterns for m in p.matches)
    evidence: list[Evidence] = []
    facts: list[dict[str, Any]] = []
    for offset, length, pattern in matches[:MAX_EVIDENCE]:
        ev, fact = _match_evidence(view, meta, pattern, offset, length)
        evidence.append(ev)
        facts.append(fact)
    if not evidence:  # a condition without string matches (e.g. on file structure only)
        evidence.append(view.evidence(meta.id))
    details: dict[str, Any] = {
        "cve": meta.cve,
        "yara_rule": f"{rule.namespace}.{rule.identifier}",
        "rule_file": origin,
        "match_count": len(matches),
        "matches": facts,
        "patterns": sorted({p for _, _, p in matches}),
    }
    if view.truncated:
        details["scanned_bytes"] = len(view.data)
    return make_finding(CHECK_ID, meta.id, meta.severity, meta.title, meta.description,
                        evidence, clause=meta.clause, details=details, source=meta.source)


def _bundled_file_names() -> tuple[str, ...]:
    try:
        return tuple(f"checks/yara/{p.name}" for p in _rule_files(bundled_rules_dir()))
    except OSError:
        return ()


class KnownBackdoorsCheck(Check):
    info = CheckInfo(
        id=CHECK_ID,
        title="Known backdoors and implants",
        clause=CLAUSE,
        description="Signatures of publicly documented backdoors and implants in network "
                    "equipment (hidden accounts and master passwords, magic-packet "
                    "services, implants such as the xz/liblzma backdoor and Cyclops "
                    "Blink), each rule citing its advisory or write-up. A match means the "
                    "image carries a backdoor someone has already published.",
        looks_at=f"Every regular file up to {MAX_FILE_BYTES // (1024 * 1024)} MiB: "
                 "binaries, scripts and configuration files.",
        data_files=_bundled_file_names(),
    )
    max_bytes = MAX_FILE_BYTES

    def wants(self, entry: FileEntry) -> bool:
        return entry.kind in REGULAR and 0 < entry.size <= MAX_FILE_BYTES

    def scan_file(self, view: FileView) -> Outcome:
        pack = current_pack()
        scanner = pack.scanner()
        out = Outcome()
        if scanner is None:
            return out
        where = f"{view.entry.tree}/{view.path}"
        try:
            results = scanner.scan(view.data)
        except (yara_x.ScanError, yara_x.TimeoutError) as exc:
            out.notes.append(f"{where}: not scanned: {_first_line(exc)}")
            return out
        if view.truncated:
            out.notes.append(f"{where}: only the first {len(view.data)} bytes scanned")
        for rule in results.matching_rules:
            meta, problems = pack.meta(rule)
            out.notes.extend(problems)
            out.findings.append(_finding(view, rule, meta,
                                         pack.origins.get(rule.namespace, "?")))
        return out

    def finish(self, ctx: CheckContext, per_file: Outcome) -> Outcome:
        notes = [*per_file.notes, *current_pack().notes]
        for entry in ctx.files:
            if entry.kind in REGULAR and entry.size > MAX_FILE_BYTES:
                notes.append(f"{entry.tree}/{entry.path}: not scanned: {entry.size} bytes "
                             f"is over the {MAX_FILE_BYTES}-byte limit")
        return Outcome(findings=per_file.findings, notes=notes, examined=per_file.examined)


CHECK = KnownBackdoorsCheck()
