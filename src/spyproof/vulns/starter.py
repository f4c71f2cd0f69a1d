"""spyproof's bundled sample feed: real, well-known vulnerabilities in embedded components.

It lets the demo and an air-gapped first run show real matches before any feed was
imported. It is a sample, not a knowledge base: every report that used only it says so
(``knowledge_base.sample_only``) and each vulnerability from it is marked ``sample``.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from spyproof.vulns.importers import import_path
from spyproof.vulns.store import Store, open_store


def starter_dir() -> Path:
    """Where the sample feed lives inside the installed package."""
    return Path(str(resources.files("spyproof.data").joinpath("starter")))


def starter_files() -> list[Path]:
    """The feed files in import order: OSV records, then the KEV excerpt."""
    root = starter_dir()
    files = [root / "osv"] if (root / "osv").is_dir() else []
    files += [p for p in (root / "kev.json",) if p.is_file()]
    return files


def is_starter_origin(origin: str) -> bool:
    return origin.startswith(str(starter_dir()))


def open_starter_store() -> Store:
    """An in-memory knowledge base holding only the sample feed."""
    store = open_store("sqlite://")
    for path in starter_files():
        import_path(store, path)
    return store
