"""The image-wide table an evaluator puts in a report: how many binaries have each mitigation,
and how often unsafe C library calls are used rather than their safe counterparts (the
HCSEC oversight board's metric, counted as imports)."""

from __future__ import annotations

from collections import Counter

from spyproof.checks.base import make_finding
from spyproof.checks.engineering_binaries import CHECK_ID, CLAUSE, Binary
from spyproof.checks.engineering_data import FAMILIES, Catalog
from spyproof.models import Finding, Relro, Severity


def _share(yes: int, applies: int) -> dict[str, int | float | None]:
    return {"yes": yes, "applies": applies,
            "percent": round(100.0 * yes / applies, 1) if applies else None}


def hardening_table(binaries: list[Binary]) -> dict[str, dict]:
    """Property -> how many binaries it applies to, how many have it, and the percentage."""
    executables = [b for b in binaries if b.executable]
    with_phdrs = [b for b in binaries if b.hardening.nx is not None]
    with_symbols = [b for b in binaries if b.hardening.canary is not None]
    return {
        "nx": _share(sum(b.hardening.nx is True for b in with_phdrs), len(with_phdrs)),
        "pie": _share(sum(b.hardening.pie is True for b in executables), len(executables)),
        "relro_full": _share(sum(b.hardening.relro == Relro.full for b in binaries),
                             len(binaries)),
        "relro_partial": _share(sum(b.hardening.relro == Relro.partial for b in binaries),
                                len(binaries)),
        "canary": _share(sum(b.hardening.canary is True for b in with_symbols),
                         len(with_symbols)),
        "fortify": _share(sum(bool(b.hardening.fortify) for b in with_symbols),
                          len(with_symbols)),
        "stripped": _share(sum(bool(b.entry.elf and b.entry.elf.stripped) for b in binaries),
                           len(binaries)),
        "rpath": _share(sum(b.hardening.rpath is not None for b in binaries), len(binaries)),
        "runpath": _share(sum(b.hardening.runpath is not None for b in binaries),
                          len(binaries)),
    }


def unsafe_table(binaries: list[Binary], catalog: Catalog) -> dict[str, dict]:
    """Per call and per family: how many binaries import the unsafe function, its fortified
    variant and its safe counterparts, and the unsafe share."""
    unsafe = Counter(n for b in binaries for n in b.unsafe)
    safe = Counter(n for b in binaries for n in b.safe)
    fortified = Counter(n for b in binaries for n in b.fortified)
    calls = {}
    for c in catalog.calls:
        calls[c.name] = {
            "family": c.family,
            "binaries": unsafe[c.name],
            "fortified_binaries": fortified[c.fortified] if c.fortified else 0,
            "safe_counterparts": {s: safe[s] for s in c.safe_counterparts if safe[s]},
        }
    families = {}
    for fam in FAMILIES:
        u = sum(unsafe[c.name] for c in catalog.calls if c.family == fam)
        s = sum(n for name, n in safe.items() if catalog.safe_names[name] == fam)
        f = sum(fortified[c.fortified] for c in catalog.calls if c.family == fam and c.fortified)
        families[fam] = {
            "unsafe": u, "safe": s, "fortified": f,
            "unsafe_percent": round(100.0 * u / (u + s), 1) if u + s else None,
            "unsafe_to_safe": round(u / s, 2) if s else None,
        }
    return {"calls": calls, "families": families}


def summary_finding(binaries: list[Binary], catalog: Catalog) -> Finding | None:
    """The image-wide summary (info): the hardening table and the unsafe-call ratios."""
    if not binaries:
        return None
    table = hardening_table(binaries)
    unsafe = unsafe_table(binaries, catalog)
    importing = sum(bool(b.unsafe) for b in binaries)
    no_imports = sum(not b.imports_known for b in binaries)
    executables = sum(b.executable for b in binaries)

    def pct(key: str) -> str:
        p = table[key]["percent"]
        return "n/a" if p is None else f"{p:g}%"

    title = (f"Hardening across {len(binaries)} ELF files: NX {pct('nx')}, PIE {pct('pie')} "
             f"of executables, full RELRO {pct('relro_full')}, canary {pct('canary')}, "
             f"FORTIFY {pct('fortify')}; {importing} import unsafe C calls")
    explanation = ("The share of binaries built with each exploit mitigation, and how often "
                   "unsafe copy, format and input functions are imported instead of their "
                   "bounded counterparts: the figures an evaluation report tabulates.")
    details = {
        "elf_files": len(binaries),
        "executables": executables,
        "libraries": len(binaries) - executables,
        "without_dynamic_symbols": no_imports,
        "hardening": table,
        "binaries_importing_unsafe_calls": importing,
        "unsafe_calls": unsafe["calls"],
        "families": unsafe["families"],
        "counted_as": "imports (one per binary), not call sites",
    }
    return make_finding(CHECK_ID, "summary", Severity.info, title, explanation, [],
                        clause=CLAUSE, details=details, source=catalog.metric_source)
