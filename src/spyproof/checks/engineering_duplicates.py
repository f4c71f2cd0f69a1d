"""Duplicated and outdated copies of the same library inside one tree of the image.

Two sources agree here. The identified components say which product and version each file
holds, and which binaries carry a statically linked copy; the inventory says which shared
libraries answer to the same soname. A product present in several versions is a stale
duplicated library (the old copy keeps its old bugs, and a fix to one copy misses the
others); several copies of one version are a plain duplicate. Every copy is named.
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass, field

from spyproof.checks.base import CheckContext, make_finding
from spyproof.checks.engineering_binaries import CHECK_ID, CLAUSE
from spyproof.models import (
    Component,
    EntryKind,
    Evidence,
    FileEntry,
    FileType,
    Finding,
    Severity,
)

SOURCE = ("https://www.gov.uk/government/publications/"
          "huawei-cyber-security-evaluation-centre-oversight-board-annual-report-2019")


@dataclass
class Copy:
    entry: FileEntry
    version: str | None
    static: bool  # a statically linked copy inside another binary


@dataclass
class Group:
    """All copies of one library in one tree."""

    tree: str
    name: str  # product name, or the soname when no component names it
    copies: list[Copy] = field(default_factory=list)
    sonames: set[str] = field(default_factory=set)

    @property
    def versions(self) -> list[str]:
        return sorted({c.version for c in self.copies if c.version})

    def paths(self) -> set[str]:
        return {c.entry.path for c in self.copies}


def _key(entry: FileEntry) -> str:
    """What makes two files copies of the same thing: the soname, else the file name."""
    return (entry.elf.soname if entry.elf and entry.elf.soname
            else posixpath.basename(entry.path))


def _is_duplicate(g: Group) -> bool:
    if len(g.versions) > 1:
        return True
    shared = [c for c in g.copies if not c.static]
    static = [c for c in g.copies if c.static]
    keys = [_key(c.entry) for c in shared]
    return len(keys) != len(set(keys)) or len(static) + (1 if shared else 0) > 1


def _elf_files(ctx: CheckContext) -> dict[str, FileEntry]:
    """Tree-qualified path (as components name files) -> regular ELF file."""
    return {f"{e.tree}/{e.path}": e for e in ctx.files
            if e.kind == EntryKind.file and e.file_type == FileType.elf}


def _component_paths(comp: Component) -> set[str]:
    """The tree-qualified files a component was found in or owns (static copies too)."""
    found = {f"{e.tree}/{e.path}" for e in comp.evidence} if comp.method == "fingerprint" \
        else set()
    return found | set(comp.files) | set(comp.static_in)


def component_groups(ctx: CheckContext, elf: dict[str, FileEntry]) -> list[Group]:
    """Per tree and product: every ELF file a component was found in or owns."""
    groups: dict[tuple[str, str], Group] = {}
    for comp in ctx.components:
        static = set(comp.static_in)
        for q in sorted(_component_paths(comp)):
            entry = elf.get(q)
            if entry is None:
                continue
            g = groups.setdefault((entry.tree, comp.name), Group(tree=entry.tree, name=comp.name))
            if any(c.entry is entry and c.version == comp.version for c in g.copies):
                continue
            g.copies.append(Copy(entry, comp.version, q in static))
            if q not in static and entry.elf and entry.elf.soname:
                g.sonames.add(entry.elf.soname)
    return [g for _, g in sorted(groups.items()) if _is_duplicate(g)]


def soname_groups(ctx: CheckContext, versions: dict[str, set[str]]) -> list[Group]:
    """Per tree: shared libraries that answer to the same soname in more than one place."""
    groups: dict[tuple[str, str], Group] = {}
    for entry in ctx.files:
        if entry.kind != EntryKind.file or entry.elf is None or not entry.elf.soname:
            continue
        g = groups.setdefault((entry.tree, entry.elf.soname),
                              Group(tree=entry.tree, name=entry.elf.soname,
                                    sonames={entry.elf.soname}))
        found = sorted(versions.get(f"{entry.tree}/{entry.path}", ()))
        g.copies.append(Copy(entry, found[0] if len(found) == 1 else None, False))
    return [g for _, g in sorted(groups.items()) if len(g.copies) > 1]


def finding(g: Group) -> Finding:
    copies = sorted(g.copies, key=lambda c: (c.entry.path, c.version or "", c.static))
    versions = g.versions
    stale = len(versions) > 1
    shared = [c for c in copies if not c.static]
    identical = len({c.entry.sha256 for c in shared}) == 1 and not any(c.static for c in copies)
    rule = "stale-duplicated-library" if stale else "duplicated-library"
    n = len(copies)
    if stale:
        title = f"{g.name}: {len(versions)} versions ({', '.join(versions)}) in {n} copies"
        explanation = ("Several versions of the same library ship in one image: the older "
                       "copies keep bugs the newer one fixed, and every fix has to reach "
                       "each copy.")
    else:
        what = "identical copies" if identical else "copies"
        title = f"{g.name}: {n} {what}" + (f" of {versions[0]}" if versions else "")
        explanation = ("The same library ships more than once: every fix has to reach each "
                       "copy, and the copies drift apart over releases.")
    by_version: dict[str, list[str]] = {}
    for c in copies:
        by_version.setdefault(c.version or "unknown", []).append(c.entry.path)
    evidence = [Evidence(tree=c.entry.tree, path=c.entry.path, sha256=c.entry.sha256,
                         text=(f"{g.name} {c.version or '(version unknown)'}"
                               + (" (statically linked)" if c.static else "")),
                         rule=rule)
                for c in copies]
    details = {
        "library": g.name,
        "tree": g.tree,
        "versions": by_version,
        "copies": n,
        "static_in": [c.entry.path for c in copies if c.static],
        "sonames": sorted(g.sonames),
        "identical": identical,
    }
    severity = Severity.medium if stale else Severity.low
    return make_finding(CHECK_ID, rule, severity, title, explanation, evidence,
                        clause=CLAUSE, details=details, source=SOURCE)


def duplicate_findings(ctx: CheckContext) -> list[Finding]:
    """One finding per duplicated library; a soname group already covered by a product's
    finding is not reported again."""
    elf = _elf_files(ctx)
    by_product = component_groups(ctx, elf)
    versions: dict[str, set[str]] = {}
    for comp in ctx.components:
        if comp.version:
            for q in _component_paths(comp) - set(comp.static_in):
                versions.setdefault(q, set()).add(comp.version)
    covered = {(g.tree, p) for g in by_product for p in g.paths()}
    out = [finding(g) for g in by_product]
    for g in soname_groups(ctx, versions):
        if all((g.tree, p) in covered for p in g.paths()):
            continue
        out.append(finding(g))
    return out
