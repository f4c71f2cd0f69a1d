"""The scan's vulnerability stage: pick the knowledge base, match, apply VEX triage.

The knowledge base is the one named by ``--db`` or ``$SPYPROOF_DB``, else the default
one in the user's data directory when it exists and holds imported feeds, else the
bundled sample feed (and the report says so). VEX documents are read before the image is
unpacked, so a bad VEX file stops the scan at once with one line.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from spyproof.models import (
    Component,
    KnowledgeBaseInfo,
    KnowledgeBaseSource,
    VexAnalysis,
    Vulnerability,
)
from spyproof.vulns.assess import assess
from spyproof.vulns.starter import is_starter_origin, open_starter_store, starter_dir
from spyproof.vulns.store import SCHEMA_VERSION, Store, StoreError, default_db_path, open_store
from spyproof.vulns.vex import VexDocument, VexError, excluded_from_decisions, find_statement
from spyproof.vulns.vex import load_vex as _load_vex

SAMPLE_LOCATION = "bundled sample feed"


class KnowledgeBaseError(Exception):
    """The knowledge base or a VEX document cannot be used: one line for the user."""


@dataclass
class VulnStageResult:
    vulnerabilities: list[Vulnerability] = field(default_factory=list)
    knowledge_base: KnowledgeBaseInfo | None = None


def load_vex_documents(paths: Sequence[Path]) -> list[VexDocument]:
    """Parse every VEX file up front; the first unusable one is a ``KnowledgeBaseError``."""
    docs = []
    for path in paths:
        try:
            docs.append(_load_vex(path))
        except VexError as exc:
            raise KnowledgeBaseError(str(exc)) from None
        except OSError as exc:
            raise KnowledgeBaseError(f"{path}: cannot read VEX document: "
                                     f"{exc.strerror}") from None
    return docs


def _is_url(text: str) -> bool:
    return "://" in text


def open_knowledge_base(db: str | os.PathLike[str] | None) -> tuple[Store, list[str]]:
    """The store to match against and notes on how it was chosen."""
    explicit = str(db) if db is not None else os.environ.get("SPYPROOF_DB") or None
    notes: list[str] = []
    if explicit is not None:
        if not _is_url(explicit) and not Path(explicit).expanduser().is_file():
            raise KnowledgeBaseError(
                f"{explicit}: no knowledge base there; create it with `spyproof db import "
                f"FEED…` (or `spyproof db update`)")
        try:
            store = open_store(explicit)
        except StoreError as exc:
            raise KnowledgeBaseError(str(exc)) from None
    elif default_db_path().is_file():
        try:
            store = open_store(default_db_path())
        except StoreError as exc:
            raise KnowledgeBaseError(str(exc)) from None
    else:
        notes.append("no knowledge base imported yet: using spyproof's bundled sample feed "
                     "(import feeds with `spyproof db import` or `spyproof db update`)")
        return open_starter_store(), notes
    if not store.status()["sources"]:
        notes.append(f"knowledge base {store.url} is empty: using spyproof's bundled sample "
                     "feed")
        store.close()
        return open_starter_store(), notes
    return store, notes


def check_knowledge_base(db: str | os.PathLike[str] | None) -> None:
    """Fail fast (before unpacking) on an explicit knowledge base that cannot be used."""
    if db is None and not os.environ.get("SPYPROOF_DB"):
        return
    store, _ = open_knowledge_base(db)
    store.close()


def knowledge_base_info(store: Store, notes: list[str], vex: Sequence[VexDocument]
                        ) -> KnowledgeBaseInfo:
    status = store.status()
    srcs = status["sources"]
    sample_only = all(is_starter_origin(s["file"]) for s in srcs)
    shown = [KnowledgeBaseSource(
        name=s["name"], records=s["records"],
        file=("spyproof:starter/" + Path(s["file"]).relative_to(starter_dir()).as_posix()
              if is_starter_origin(s["file"]) else s["file"]))
        for s in srcs]
    # the sample feed is named by its in-package paths (the install location varies), an
    # imported knowledge base by its files and import times
    state = ([[s.name, s.file, s.records] for s in shown] if sample_only else
             [[s["name"], s["file"], s["records"], s["imported_at"]] for s in srcs])
    digest = hashlib.sha256(json.dumps(state).encode()).hexdigest()
    return KnowledgeBaseInfo(
        location=SAMPLE_LOCATION if store.url == "sqlite://" else store.url,
        schema_version=status["schema_version"] or SCHEMA_VERSION,
        digest=digest,
        sample_only=sample_only,
        sources=sorted(shown, key=lambda s: (s.name, s.file)),
        vex=[d.path for d in vex],
        notes=sorted(notes))


def apply_vex(vulns: list[Vulnerability], purls: dict[str, str | None],
              docs: Sequence[VexDocument]) -> None:
    """Mark each vulnerability a VEX statement speaks to; never drop one."""
    statements = [s for d in docs for s in d.statements]
    if not statements:
        return
    for v in vulns:
        stmt = find_statement(statements, v.id, v.aliases, purls.get(v.component),
                              v.component)
        if stmt is None:
            continue
        v.analysis = VexAnalysis(
            state=stmt.state, justification=stmt.justification,
            original_status=stmt.original_status,
            original_justification=stmt.original_justification, detail=stmt.detail,
            response=list(stmt.response), format=stmt.format, source=stmt.source,
            timestamp=stmt.timestamp)
        v.counts = not excluded_from_decisions(stmt)


def run_vuln_stage(components: Sequence[Component], refs: Sequence[str],
                   db: str | os.PathLike[str] | None,
                   vex: Sequence[VexDocument] = ()) -> VulnStageResult:
    """Match the components against the knowledge base and apply VEX triage."""
    store, notes = open_knowledge_base(db)
    try:
        assessment = assess(store, components, refs, sample_origin=str(starter_dir()))
        info = knowledge_base_info(store, notes + assessment.notes, vex)
    finally:
        store.close()
    apply_vex(assessment.vulnerabilities,
              {ref: c.purl for c, ref in zip(components, refs, strict=True)}, vex)
    for doc in vex:
        info.notes.extend(doc.warnings)
    info.notes.sort()
    return VulnStageResult(vulnerabilities=assessment.vulnerabilities, knowledge_base=info)
