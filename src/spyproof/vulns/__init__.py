"""Vulnerabilities: the offline knowledge base (OSV, NVD, KEV, EPSS) and matching."""

from spyproof.vulns.importers import ImportResult, NotAFeed, import_path
from spyproof.vulns.store import SCHEMA_VERSION, Store, StoreError, open_store

__all__ = [
    "SCHEMA_VERSION",
    "ImportResult",
    "NotAFeed",
    "Store",
    "StoreError",
    "import_path",
    "open_store",
]
