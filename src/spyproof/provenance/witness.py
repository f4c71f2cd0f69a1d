"""A witness: cosign a log's checkpoint only if it provably extends the last one cosigned.

Why: a log that shows different trees to different readers (a split view) is caught as
soon as readers demand cosignatures from independent witnesses that never sign two
inconsistent checkpoints. State (per origin: size, root, pinned log key) is saved
durably *before* the cosignature is released, as c2sp.org/tlog-witness requires.
Cosignatures are c2sp.org/tlog-cosignature v1 (Ed25519, timestamped).
"""

from __future__ import annotations

import fcntl
import os
import time
from dataclasses import dataclass
from pathlib import Path

from .checkpoint import Checkpoint
from .client import LogTrustError, StateFile, check_extends, pinned, verify_checkpoint_note
from .keys import COSIGNATURE_V1, BadKey, SignerKey, VerifierKey, parse_verifier_key
from .note import NoteError, parse_note, sign_note
from .tiles import CHECKPOINT_PATH, TileReader, fetcher_for


@dataclass(frozen=True)
class Cosigned:
    checkpoint: Checkpoint
    note: bytes  # the checkpoint with this witness's cosignature added
    previous_size: int | None
    log_key_pinned_now: bool
    published: bool  # written back into a local log directory


def _pinned_key(state: StateFile, origin: str) -> VerifierKey | None:
    value = state.extra(origin, "log_key")
    if not value:
        return None
    try:
        return parse_verifier_key(str(value))
    except BadKey as exc:
        raise LogTrustError(f"{state.path}: pinned key for {origin}: {exc}") from None


def cosign(location: str, witness: SignerKey, state: StateFile,
           log_key: VerifierKey | None, *, now: int | None = None) -> Cosigned:
    """Check and cosign the log's current checkpoint; raise LogTrustError (Rollback/Fork
    included) when it must not be cosigned. Nothing is signed or saved on refusal."""
    if witness.kind != COSIGNATURE_V1:
        raise LogTrustError("a witness cosigns with a cosignature key "
                            "(spyproof key generate NAME --kind cosignature)")
    fetch, note_bytes = pinned(fetcher_for(location))
    try:
        origin = parse_note(note_bytes).text.split("\n", 1)[0]
    except NoteError as exc:
        raise LogTrustError(f"checkpoint: not a signed note: {exc}") from None
    pinned_key = _pinned_key(state, origin)
    if pinned_key and log_key and pinned_key.vkey != log_key.vkey:
        raise LogTrustError(f"{origin}: --log-key differs from the key pinned in "
                            f"{state.path}; refusing (a log does not change keys silently)")
    key = log_key or pinned_key
    if key is None:
        raise LogTrustError(f"{origin}: first cosignature for this log: give its key with "
                            "--log-key so the witness can pin it")
    checkpoint, _ = verify_checkpoint_note(note_bytes, [key], None)
    if key.name != checkpoint.origin:
        raise LogTrustError(f"log key {key.name!r} does not belong to origin "
                            f"{checkpoint.origin!r}")
    previous = state.get(checkpoint.origin)
    reader = TileReader(fetch, checkpoint.size)
    if reader.root() != checkpoint.root_hash:  # O(log n) tiles; catches a lying checkpoint
        raise LogTrustError(f"{checkpoint.origin}: the log's tiles do not give the root its "
                            f"checkpoint signs at size {checkpoint.size}")
    check_extends(previous, checkpoint, reader.get)
    cosigned = sign_note(parse_note(note_bytes), [witness],
                         timestamp=int(time.time()) if now is None else now)
    state.record(checkpoint.origin, checkpoint, note_bytes, log_key=key.vkey)
    state.save()  # durable before the cosignature leaves the witness
    published = _publish(Path(location), note_bytes, cosigned) \
        if "://" not in location else False
    return Cosigned(checkpoint, cosigned, previous.size if previous else None,
                    pinned_key is None, published)


def _publish(root: Path, original: bytes, cosigned: bytes) -> bool:
    """Replace a local log's checkpoint with the cosigned one, under the log's lock and
    only if no append moved the checkpoint meanwhile."""
    from spyproof.atomic import write_bytes_atomic

    from .log import LOCK_NAME, PRIVATE_DIR

    lock_path = root / PRIVATE_DIR / LOCK_NAME
    if not lock_path.parent.is_dir():
        return False
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        target = root / CHECKPOINT_PATH
        if target.read_bytes() != original:
            return False
        write_bytes_atomic(target, cosigned, sync_dir=True)
        return True
    finally:
        os.close(fd)
