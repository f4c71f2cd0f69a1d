"""C2SP tlog-proof (``c2sp.org/tlog-proof@v1``): an offline proof that an entry is in a log.

Why: an operator often has no network path to the lab's log. A ``.tlog-proof`` file
beside the statement carries the index, the RFC 6962 inclusion proof and the (cosigned)
checkpoint, and verifies against the entry's own bytes and a trust policy alone.

Format (https://c2sp.org/tlog-proof): the header line, an optional ``extra <base64>``
line, ``index <decimal>``, zero or more base64 proof hashes (leaf's sibling first), an
empty line, then the checkpoint verbatim.
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass

from . import merkle
from .checkpoint import Checkpoint
from .keys import VerifierKey
from .note import Policy, VerifiedNote
from .tiles import Fetch, LogFormatError, TileReader, read_checkpoint

HEADER = "c2sp.org/tlog-proof@v1"
_DECIMAL = re.compile(r"0|[1-9][0-9]{0,19}")
MAX_PROOF_HASHES = 64


class ProofFormatError(ValueError):
    """The proof file is not a well-formed tlog-proof."""


@dataclass(frozen=True)
class TlogProof:
    index: int
    hashes: tuple[bytes, ...]
    checkpoint: bytes  # the signed note, verbatim
    extra: bytes | None = None

    def serialize(self) -> bytes:
        lines = [HEADER]
        if self.extra is not None:
            lines.append("extra " + base64.b64encode(self.extra).decode())
        lines.append(f"index {self.index}")
        lines += [base64.b64encode(h).decode() for h in self.hashes]
        return ("\n".join(lines) + "\n\n").encode() + self.checkpoint


def _b64(text: str, what: str) -> bytes:
    try:
        raw = base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError):
        raise ProofFormatError(f"{what} is not base64: {text[:60]!r}") from None
    if base64.b64encode(raw).decode() != text:
        raise ProofFormatError(f"{what} is not canonical base64")
    return raw


def parse_proof(data: bytes) -> TlogProof:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ProofFormatError(f"not UTF-8 at byte {exc.start}") from None
    head, sep, checkpoint = text.partition("\n\n")
    if not sep:
        raise ProofFormatError("no empty line before the checkpoint")
    lines = head.split("\n")
    if lines[0] != HEADER:
        raise ProofFormatError(f"first line is not {HEADER!r}")
    pos = 1
    extra = None
    if pos < len(lines) and lines[pos].startswith("extra "):
        extra = _b64(lines[pos][6:], "extra data")
        pos += 1
    if pos >= len(lines) or not lines[pos].startswith("index "):
        raise ProofFormatError("missing 'index' line")
    number = lines[pos][6:]
    if not _DECIMAL.fullmatch(number):
        raise ProofFormatError(f"index is not a canonical decimal: {number!r}")
    hashes = []
    for n, line in enumerate(lines[pos + 1 :]):
        raw = _b64(line, f"proof hash {n}")
        if len(raw) != merkle.HASH_SIZE:
            raise ProofFormatError(f"proof hash {n} is {len(raw)} bytes, not 32")
        hashes.append(raw)
    if len(hashes) > MAX_PROOF_HASHES:
        raise ProofFormatError(f"{len(hashes)} proof hashes; at most {MAX_PROOF_HASHES}")
    return TlogProof(int(number), tuple(hashes), checkpoint.encode("utf-8"), extra)


def make_proof(fetch: Fetch, entry: bytes, index: int | None = None) -> TlogProof:
    """Proof for ``entry`` against the log's current checkpoint (found by leaf hash when
    no index is given; the first occurrence wins)."""
    from .client import pinned
    from .log import find_leaf

    fetch, note = pinned(fetch)  # one read: the proof and its checkpoint always match
    checkpoint, _ = read_checkpoint(fetch)
    reader = TileReader(fetch, checkpoint.size)
    leaf = merkle.leaf_hash(entry)
    if index is None:
        found = find_leaf(reader, leaf)
        if not found:
            raise LogFormatError(f"the entry is not in the log (size {checkpoint.size})")
        index = found[0]
    elif not 0 <= index < checkpoint.size:
        raise LogFormatError(f"index {index} is outside the log (size {checkpoint.size})")
    elif reader.get(0, index) != leaf:
        raise LogFormatError(f"entry {index} of the log is not this entry")
    hashes = merkle.inclusion_proof(index, checkpoint.size, reader.get)
    try:  # never issue a proof the log's own checkpoint contradicts
        merkle.verify_inclusion(index, checkpoint.size, leaf, hashes, checkpoint.root_hash)
    except merkle.ProofError:
        raise LogFormatError(f"the log's tiles do not give the root its checkpoint signs at "
                             f"size {checkpoint.size}; no proof issued") from None
    return TlogProof(index, tuple(hashes), note)


@dataclass(frozen=True)
class ProofResult:
    valid: bool
    reason: str
    checkpoint: Checkpoint | None = None
    note: VerifiedNote | None = None
    index: int | None = None


def verify_proof(entry: bytes, proof: TlogProof, *, log_keys: list[VerifierKey],
                 policy: Policy | None = None, origin: str | None = None) -> ProofResult:
    """Check the checkpoint's signatures (a log key; the policy's witness quorum when a
    policy is given) and the inclusion of ``entry`` at ``proof.index``. Never raises on
    bad proofs: the result says why it is invalid."""
    from .client import LogTrustError, verify_checkpoint_note

    try:
        checkpoint, note = verify_checkpoint_note(proof.checkpoint, log_keys, policy)
    except LogTrustError as exc:
        return ProofResult(False, str(exc))
    if origin is not None and checkpoint.origin != origin:
        return ProofResult(False, f"checkpoint is for log {checkpoint.origin!r}, not {origin!r}",
                           checkpoint)
    try:
        merkle.verify_inclusion(proof.index, checkpoint.size, merkle.leaf_hash(entry),
                                list(proof.hashes), checkpoint.root_hash)
    except merkle.ProofError as exc:
        return ProofResult(False, f"inclusion proof: {exc}", checkpoint, note, proof.index)
    return ProofResult(True, f"entry {proof.index} is in {checkpoint.origin} at size "
                       f"{checkpoint.size}", checkpoint, note, proof.index)
