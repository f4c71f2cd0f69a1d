"""The identify stage: package databases first, binary fingerprints for the rest.

A package database states versions exactly; a fingerprint reads them from the bytes. When
both find the same product in the same files, the package database wins and the
fingerprint match is kept only as extra evidence.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from spyproof.identify.fingerprints import duplicates, identify_by_fingerprint, unclaimed_elf
from spyproof.identify.packagedb import scan_package_dbs
from spyproof.models import Component, DuplicateGroup, FileEntry, ScanWarning


@dataclass
class Identification:
    components: list[Component] = field(default_factory=list)
    duplicates: list[DuplicateGroup] = field(default_factory=list)
    unclaimed_elf: list[str] = field(default_factory=list)
    warnings: list[ScanWarning] = field(default_factory=list)


def _claimed(components: Iterable[Component]) -> set[str]:
    return {f for c in components for f in c.files}


def identify(files: list[FileEntry], tree_paths: dict[str, Path]) -> Identification:
    by_tree: dict[str, list[FileEntry]] = {}
    for entry in files:
        by_tree.setdefault(entry.tree, []).append(entry)

    packaged: list[Component] = []
    warnings: list[ScanWarning] = []
    for tree_id, root in sorted(tree_paths.items()):
        found = scan_package_dbs(tree_id, root, by_tree.get(tree_id, []))
        packaged.extend(found.components)
        warnings.extend(found.warnings)

    on_disk = [(e, tree_paths[e.tree] / e.path) for e in files
               if e.kind == "file" and e.tree in tree_paths]
    fingerprinted = identify_by_fingerprint(on_disk)

    owned = {}
    for comp in packaged:
        for f in comp.files:
            owned.setdefault(f, set()).add(comp.name)
    kept: list[Component] = []
    for comp in fingerprinted:
        if comp.files and all(comp.name in owned.get(f, ()) for f in comp.files):
            # The package database already names this product for exactly these files.
            for pkg in packaged:
                if pkg.name == comp.name and set(comp.files) & set(pkg.files):
                    pkg.evidence.extend(comp.evidence)
            continue
        kept.append(comp)

    components = sorted(packaged + kept,
                        key=lambda c: (c.name, c.version or "", c.method, c.purl or ""))
    for comp in components:
        comp.evidence.sort(key=lambda e: (e.tree, e.path, e.offset or 0, e.line or 0))
    return Identification(
        components=components,
        duplicates=duplicates(components),
        unclaimed_elf=unclaimed_elf(files, components, claimed=_claimed(packaged)),
        warnings=warnings,
    )
