"""Per-binary engineering facts and findings: missing hardening and unsafe C library calls.

Everything comes from the inventory (``ElfInfo.hardening`` and the imported symbols), so no
file is read again. A binary is an ELF executable or shared library; kernel modules and
object files have no hardening facts and are left out.
"""

from __future__ import annotations

import posixpath
from collections.abc import Iterable
from dataclasses import dataclass, field

from spyproof.checks.base import SEVERITY_ORDER, CheckContext, make_finding
from spyproof.checks.engineering_data import Catalog
from spyproof.models import (
    Component,
    ElfHardening,
    EntryKind,
    Evidence,
    FileEntry,
    FileType,
    Finding,
    Relro,
    Severity,
)

CHECK_ID = "engineering"
CLAUSE = "NS-6"
CHECKSEC_SOURCE = "https://github.com/slimm609/checksec"
# Directories anyone can write to on a typical device, whatever their mode in the image.
WRITABLE_DIRS = ("/tmp", "/var/tmp", "/dev/shm", "/var/run", "/run")

MISSING_LABELS = {
    "nx": "a non-executable stack",
    "pie": "PIE",
    "relro": "full RELRO",
    "canary": "stack canaries",
    "fortify": "FORTIFY_SOURCE",
    "search-path": "a safe library search path",
}


@dataclass
class Binary:
    """One ELF executable or shared library and what the check concluded about it."""

    entry: FileEntry
    hardening: ElfHardening
    executable: bool
    privileged: bool  # setuid or setgid
    network: str | None  # why it is a network server, or None
    missing: list[str] = field(default_factory=list)  # keys of MISSING_LABELS
    unknown: list[str] = field(default_factory=list)
    unsafe_search_path: list[str] = field(default_factory=list)
    unsafe: list[str] = field(default_factory=list)  # imported unsafe calls
    safe: list[str] = field(default_factory=list)  # imported safe counterparts
    fortified: list[str] = field(default_factory=list)  # imported __*_chk of unsafe calls

    @property
    def name(self) -> str:
        return posixpath.basename(self.entry.path)

    @property
    def imports_known(self) -> bool:
        """Whether the imports say anything (a static binary has none to read)."""
        return self.hardening.fortify is not None

    def evidence(self, rule: str, text: str) -> Evidence:
        e = self.entry
        return Evidence(tree=e.tree, path=e.path, sha256=e.sha256, text=text, rule=rule)


def component_claims(components: Iterable[Component]) -> dict[str, set[str]]:
    """Tree-qualified path -> names of the components found in (or owning) it."""
    claims: dict[str, set[str]] = {}
    for c in components:
        if c.method == "fingerprint":
            paths = {f"{e.tree}/{e.path}" for e in c.evidence} or set(c.files)
        else:
            paths = set(c.files)
        for p in paths:
            claims.setdefault(p, set()).add(c.name)
    return claims


def collect(ctx: CheckContext, catalog: Catalog) -> tuple[list[Binary], list[str]]:
    """Every ELF executable and shared library with hardening facts, plus notes on the ELF
    files whose facts are missing or incomplete."""
    claims = component_claims(ctx.components)
    out: list[Binary] = []
    notes: list[str] = []
    for entry in ctx.files:
        if entry.kind != EntryKind.file or entry.file_type != FileType.elf or entry.elf is None:
            continue
        elf = entry.elf
        if elf.hardening is None:
            if elf.elf_type in ("EXEC", "DYN"):
                notes.append(f"{entry.tree}/{entry.path}: no hardening facts in the inventory "
                             f"({elf.parse_error or 'ELF not parsed'})")
            continue
        if elf.parse_error:
            notes.append(f"{entry.tree}/{entry.path}: hardening facts may be incomplete: "
                         f"{elf.parse_error}")
        out.append(_binary(ctx, entry, elf.hardening, catalog, claims))
    return out, notes


def _binary(ctx: CheckContext, entry: FileEntry, h: ElfHardening, catalog: Catalog,
            claims: dict[str, set[str]]) -> Binary:
    elf = entry.elf
    assert elf is not None
    executable = elf.elf_type == "EXEC" or h.pie is True
    mode = int(entry.mode, 8) if entry.mode.isdigit() else 0
    imports = set(elf.imported_symbols)
    network = None
    if executable:
        daemons = sorted(claims.get(f"{entry.tree}/{entry.path}", set())
                         & catalog.network_daemons.keys())
        servers = sorted(imports & catalog.server_calls)
        if daemons:
            network = f"component {', '.join(daemons)}"
        elif servers:
            network = f"imports {', '.join(servers)}"
    b = Binary(entry=entry, hardening=h, executable=executable,
               privileged=bool(mode & 0o6000), network=network)
    b.unsafe = sorted(n for n in imports if n in catalog.by_name)
    b.safe = sorted(n for n in imports if n in catalog.safe_names)
    b.fortified = sorted(n for n in imports if n in catalog.fortified_names)
    b.unsafe_search_path = _unsafe_search_path(ctx, entry.tree, h)

    if h.nx is False:
        b.missing.append("nx")
    elif h.nx is None:
        b.unknown.append("nx")
    if executable and h.pie is False:
        b.missing.append("pie")
    if h.relro != Relro.full:
        b.missing.append("relro")
    if h.canary is False:
        b.missing.append("canary")
    elif h.canary is None:
        b.unknown.append("canary")
    if h.fortify is None:
        b.unknown.append("fortify")
    elif not h.fortify and any(catalog.by_name[n].fortified for n in b.unsafe):
        b.missing.append("fortify")  # calls fortifiable functions, never a checked variant
    if b.unsafe_search_path:
        b.missing.append("search-path")
    return b


def _unsafe_search_path(ctx: CheckContext, tree: str, h: ElfHardening) -> list[str]:
    """RPATH/RUNPATH entries that let someone else choose the libraries: empty or relative
    entries (resolved against the working directory), and directories anyone can write."""
    bad = []
    for value in (h.rpath, h.runpath):
        if value is None:
            continue
        for item in value.split(":"):
            if item == "" or not (item.startswith("/") or item.startswith("$ORIGIN")
                                  or item.startswith("${ORIGIN}")):
                bad.append(item)
                continue
            norm = posixpath.normpath(item)
            if any(norm == d or norm.startswith(d + "/") for d in WRITABLE_DIRS):
                bad.append(item)
                continue
            d = ctx.entry(tree, norm)
            if d is not None and d.kind == EntryKind.directory and d.mode.isdigit() \
                    and int(d.mode, 8) & 0o002:
                bad.append(item)
    return bad


def checksec_line(h: ElfHardening) -> str:
    """A one-line summary in checksec's vocabulary."""
    def yn(v: bool | None) -> str:
        return "unknown" if v is None else "yes" if v else "no"

    pie = "dso" if h.pie is None else yn(h.pie)
    fortify = "unknown" if h.fortify is None else \
        f"yes ({len(h.fortify)} functions)" if h.fortify else "no"
    return (f"NX={yn(h.nx)} PIE={pie} RELRO={h.relro} canary={yn(h.canary)} "
            f"FORTIFY={fortify} RPATH={h.rpath or '-'} RUNPATH={h.runpath or '-'}")


def hardening_finding(b: Binary) -> Finding | None:
    """One finding per binary that lacks a mitigation."""
    if not b.missing:
        return None
    h = b.hardening
    core = bool({"nx", "pie", "canary"} & set(b.missing)) or h.relro == Relro.none
    kind = "executable" if b.executable else "shared library"
    exposed = b.executable and core and (b.privileged or b.network is not None)
    severity = Severity.medium if exposed or (b.executable and "nx" in b.missing) \
        else Severity.low
    why = ""
    if b.executable and "nx" in b.missing:
        why += " Its stack is executable, so code injected into it runs."
    if exposed:
        who = "runs with raised privileges (setuid/setgid)" if b.privileged else \
            f"is a network server ({b.network})"
        why += f" It {who}, so an attacker reaches it first."
    missing = [MISSING_LABELS[m] if not (m == "relro" and h.relro == Relro.none) else "RELRO"
               for m in b.missing]
    explanation = (f"This {kind} is built without {', '.join(missing)}: each missing "
                   f"mitigation makes a memory-safety bug in it easier to exploit.{why}")
    if "nx" in b.missing and b.entry.elf and b.entry.elf.machine.startswith("MIPS"):
        explanation += (" MIPS toolchains mark the stack executable unless built with a "
                        "non-executable PT_GNU_STACK.")
    details = {
        "kind": kind,
        "machine": b.entry.elf.machine if b.entry.elf else None,
        "missing": b.missing,
        "unknown": b.unknown,
        "checksec": h.model_dump(mode="json"),
        "stripped": b.entry.elf.stripped if b.entry.elf else None,
        "privileged": b.privileged,
        "network": b.network,
        "unsafe_search_path": b.unsafe_search_path,
    }
    return make_finding(CHECK_ID, "missing-hardening", severity,
                        f"{b.name} lacks {', '.join(missing)}", explanation,
                        [b.evidence("missing-hardening", checksec_line(h))], clause=CLAUSE,
                        details=details, source=CHECKSEC_SOURCE)


def unsafe_calls_finding(b: Binary, catalog: Catalog) -> Finding | None:
    """One finding per binary that imports unsafe C library calls, with the counts."""
    if not b.unsafe:
        return None
    calls = [catalog.by_name[n] for n in b.unsafe]
    severity = min((Severity(c.severity) for c in calls), key=lambda s: SEVERITY_ORDER[s])
    by_family: dict[str, list[str]] = {}
    for c in calls:
        by_family.setdefault(c.family, []).append(c.name)
    checked = sorted({catalog.fortified_names[f].name for f in b.fortified})
    explanation = ("These functions write without knowing the size of the destination; "
                   "each import is a place an auditor has to check (counted once per "
                   "binary: call sites need disassembly).")
    if checked:
        explanation += (f" The binary also calls fortified variants of {', '.join(checked)}, "
                        "checked where the compiler knew the buffer size.")
    details = {
        "unsafe": b.unsafe,
        "by_family": by_family,
        "safe_counterparts": b.safe,
        "fortified": b.fortified,
        "counts": {"unsafe": len(b.unsafe), "safe": len(b.safe),
                   "fortified": len(b.fortified)},
        "sources": {c.name: c.source for c in calls},
    }
    n = len(b.unsafe)
    shown = ", ".join(b.unsafe[:6]) + (", …" if n > 6 else "")
    return make_finding(CHECK_ID, "unsafe-calls", severity,
                        f"{b.name} imports {n} unsafe C library function{'s' * (n != 1)}: "
                        f"{shown}", explanation,
                        [b.evidence("unsafe-calls", " ".join(b.unsafe))], clause=CLAUSE,
                        details=details, source=catalog.metric_source)
