"""Reading someone's log as a sceptic: signatures, witness quorum, and no rollback or fork.

Why: a transparency log only protects the reader who checks that each checkpoint it sees
extends the last one it saw. This module keeps that memory (a small JSON state file, one
record per origin), proves consistency from the log's own tiles, and fails loudly when a
log shrinks (rollback) or shows a different tree for a size it already showed (fork /
split view). The state file is replaced atomically and only after a checkpoint verified.
"""

from __future__ import annotations

import base64
import json
import os
from dataclasses import dataclass
from pathlib import Path

from . import merkle
from .checkpoint import Checkpoint
from .keys import VerifierKey
from .note import NoteError, Policy, VerifiedNote, parse_note, satisfied, verify_note
from .tiles import (
    CHECKPOINT_PATH,
    Fetch,
    LogCheck,
    LogFormatError,
    TileReader,
    check_log,
    fetcher_for,
    read_checkpoint,
)

STATE_FORMAT = "spyproof-tlog-state/v1"


class LogTrustError(Exception):
    """The log's checkpoint is not trustworthy: bad or missing signature, no quorum."""


class RollbackError(LogTrustError):
    """The log shows a smaller tree than one it showed before."""


class ForkError(LogTrustError):
    """The log shows a tree that does not extend one it showed before (split view)."""


def default_state_path() -> Path:
    base = os.environ.get("XDG_STATE_HOME") or os.path.join(Path.home(), ".local", "state")
    return Path(base) / "spyproof" / "tlog-state.json"


@dataclass(frozen=True)
class Seen:
    size: int
    root: bytes


class StateFile:
    """Largest verified checkpoint per origin, kept in a JSON file."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._data: dict = {"format": STATE_FORMAT, "origins": {}}
        if path.exists():
            try:
                data = json.loads(path.read_text(encoding="utf-8"))
                if data.get("format") != STATE_FORMAT or not isinstance(data.get("origins"),
                                                                         dict):
                    raise ValueError(f"not a {STATE_FORMAT} file")
            except (OSError, ValueError, AttributeError) as exc:
                raise LogTrustError(f"{path}: unreadable state file: {exc}") from None
            self._data = data

    def get(self, origin: str) -> Seen | None:
        record = self._data["origins"].get(origin)
        if record is None:
            return None
        try:
            return Seen(int(record["size"]), base64.b64decode(record["root"], validate=True))
        except (KeyError, ValueError, TypeError) as exc:
            raise LogTrustError(f"{self.path}: bad record for {origin}: {exc}") from None

    def record(self, origin: str, checkpoint: Checkpoint, note: bytes, **extra: object) -> None:
        entry = {"size": checkpoint.size,
                 "root": base64.b64encode(checkpoint.root_hash).decode(),
                 "checkpoint": note.decode("utf-8")}
        entry.update(extra)
        self._data["origins"][origin] = entry

    def extra(self, origin: str, name: str) -> object:
        return self._data["origins"].get(origin, {}).get(name)

    def save(self) -> None:
        from spyproof.atomic import write_bytes_atomic

        self.path.parent.mkdir(parents=True, exist_ok=True)
        text = json.dumps(self._data, indent=2, sort_keys=True) + "\n"
        write_bytes_atomic(self.path, text.encode(), sync_dir=True)


def check_extends(seen: Seen | None, checkpoint: Checkpoint, get: merkle.HashLookup) -> None:
    """Raise RollbackError / ForkError unless ``checkpoint`` extends ``seen``; the
    consistency proof comes from ``get`` (the new tree's tiles) and is verified against
    both roots, so a log cannot lie its way through."""
    if seen is None or seen.size == 0:
        return
    if checkpoint.size < seen.size:
        raise RollbackError(f"{checkpoint.origin}: ROLLBACK: the log now shows size "
                            f"{checkpoint.size}, but size {seen.size} was seen before")
    if checkpoint.size == seen.size:
        if checkpoint.root_hash != seen.root:
            raise ForkError(f"{checkpoint.origin}: FORK: two different trees of size "
                            f"{seen.size} ({seen.root.hex()[:16]}… seen before, "
                            f"{checkpoint.root_hash.hex()[:16]}… now)")
        return
    try:
        proof = merkle.consistency_proof(seen.size, checkpoint.size, get)
        merkle.verify_consistency(seen.size, checkpoint.size, seen.root,
                                  checkpoint.root_hash, proof)
    except merkle.ProofError as exc:
        raise ForkError(f"{checkpoint.origin}: FORK: size {checkpoint.size} does not extend "
                        f"the size {seen.size} seen before ({exc})") from None


def verify_checkpoint_note(data: bytes, log_keys: list[VerifierKey],
                           policy: Policy | None) -> tuple[Checkpoint, VerifiedNote]:
    """Signature by a trusted log key (and the policy's witness quorum), or LogTrustError."""
    try:
        from .checkpoint import read_checkpoint_note

        checkpoint, _ = read_checkpoint_note(data)
        keys = list(log_keys) + (list(policy.log_keys) + list(policy.witness_keys)
                                 if policy else [])
        note = verify_note(parse_note(data), keys)
    except (NoteError, ValueError) as exc:
        raise LogTrustError(f"checkpoint: {exc}") from None
    log_ids = {(k.name, k.key_id) for k in log_keys}
    if policy:
        log_ids |= {(k.name, k.key_id) for k in policy.log_keys}
    if not any((v.key.name, v.key.key_id) in log_ids for v in note.verified):
        raise LogTrustError("checkpoint is not signed by a trusted log key")
    if policy is not None and not satisfied(policy, note.cosignatures()):
        raise LogTrustError(f"checkpoint has {len(note.cosignatures())} valid witness "
                            "cosignature(s); the trust policy's quorum is not met")
    return checkpoint, note


def pinned(fetch: Fetch) -> tuple[Fetch, bytes]:
    """A fetch whose checkpoint is read once, so a log growing meanwhile is read as one
    consistent snapshot (tiles are immutable; only the checkpoint moves)."""
    note = fetch(CHECKPOINT_PATH)
    if note is None:
        raise LogFormatError("checkpoint: missing (is this a tiles log?)")

    def snapshot(path: str) -> bytes | None:
        return note if path == CHECKPOINT_PATH else fetch(path)

    return snapshot, note


@dataclass
class OpenedLog:
    checkpoint: Checkpoint
    note: VerifiedNote
    note_bytes: bytes
    fetch: Fetch
    reader: TileReader
    previous: Seen | None


def open_log(location: str, log_keys: list[VerifierKey], policy: Policy | None,
             state: StateFile | None) -> OpenedLog:
    """Fetch and verify the latest checkpoint and check it against the remembered one.

    The state is updated in memory; call ``state.save()`` once the caller is satisfied.
    """
    fetch, note_bytes = pinned(fetcher_for(location))
    read_checkpoint(fetch)  # structural errors first, as LogFormatError
    checkpoint, note = verify_checkpoint_note(note_bytes, log_keys, policy)
    reader = TileReader(fetch, checkpoint.size)
    previous = state.get(checkpoint.origin) if state else None
    check_extends(previous, checkpoint, reader.get)
    if state is not None and (previous is None or checkpoint.size >= previous.size):
        state.record(checkpoint.origin, checkpoint, note_bytes)
    return OpenedLog(checkpoint, note, note_bytes, fetch, reader, previous)


def verify_whole_log(location: str, log_keys: list[VerifierKey], policy: Policy | None,
                     state: StateFile | None) -> tuple[OpenedLog, LogCheck]:
    """Every checkpoint signature, tile and entry; then remember the checkpoint."""
    opened = open_log(location, log_keys, policy, state)
    result = check_log(fetch=opened.fetch)
    if state is not None:
        state.save()
    return opened, result
