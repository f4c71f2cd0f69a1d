"""C2SP tlog-checkpoint bodies, and splitting a signed note into body and signatures.

Why: a checkpoint is what a log signs and witnesses cosign; its body must round-trip
byte-exactly or signatures made by other implementations will not verify. Signature
checking belongs to ``note.py``; here we only parse and serialise the body and cut a
note at its signature block (https://c2sp.org/tlog-checkpoint, https://c2sp.org/signed-note).
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass

HASH_SIZE = 32
SIGNATURE_PREFIX = "\u2014 "  # em dash + space starts every signature line
_DECIMAL = re.compile(r"0|[1-9][0-9]{0,19}")


class CheckpointError(ValueError):
    """A checkpoint body or note text is malformed."""


@dataclass(frozen=True)
class Checkpoint:
    """The signed body: origin, tree size, root hash and optional extension lines."""

    origin: str
    size: int
    root_hash: bytes
    extensions: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        _check_line(self.origin, "origin")
        if not 0 <= self.size < 1 << 64:
            raise CheckpointError(f"tree size {self.size} out of range")
        if len(self.root_hash) != HASH_SIZE:
            raise CheckpointError(f"root hash must be {HASH_SIZE} bytes, got {len(self.root_hash)}")
        for line in self.extensions:
            _check_line(line, "extension line")

    def body(self) -> str:
        """Serialised body, exactly as signed (each line ends in a newline)."""
        lines = [self.origin, str(self.size), base64.b64encode(self.root_hash).decode()]
        return "".join(line + "\n" for line in (*lines, *self.extensions))


@dataclass(frozen=True)
class SplitNote:
    """A signed note cut at its signature block; signatures are NOT verified."""

    body: str
    signature_lines: tuple[str, ...]


def _check_line(line: str, what: str) -> None:
    if not line:
        raise CheckpointError(f"empty {what}")
    if any(ord(c) < 0x20 or c == "\x7f" for c in line):
        raise CheckpointError(f"{what} contains a control character: {line!r}")
    if line != line.strip():
        raise CheckpointError(f"{what} has leading or trailing whitespace: {line!r}")


def parse_checkpoint_body(body: str) -> Checkpoint:
    """Parse a checkpoint body (the note text, without signatures)."""
    if not body.endswith("\n"):
        raise CheckpointError("checkpoint body does not end with a newline")
    lines = body[:-1].split("\n")
    if len(lines) < 3:
        raise CheckpointError(f"checkpoint body has {len(lines)} lines, needs at least 3")
    origin, size_text, root_text, *extensions = lines
    _check_line(origin, "origin")
    if not _DECIMAL.fullmatch(size_text):
        raise CheckpointError(f"tree size is not a canonical decimal: {size_text!r}")
    try:
        root_hash = base64.b64decode(root_text.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError) as exc:
        raise CheckpointError(f"root hash is not valid base64: {root_text!r}") from exc
    if base64.b64encode(root_hash).decode() != root_text:
        raise CheckpointError(f"root hash is not canonical base64: {root_text!r}")
    return Checkpoint(origin, int(size_text), root_hash, tuple(extensions))


def split_note(text: str | bytes) -> SplitNote:
    """Split a signed note into its body and its signature lines (signatures unchecked).

    Per the signed-note spec the body is everything up to the last blank line; each
    signature line starts with an em dash and a space.
    """
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise CheckpointError(f"note is not valid UTF-8 at byte {exc.start}") from exc
    cut = text.rfind("\n\n")
    if cut < 0:
        raise CheckpointError("note has no blank line before its signatures")
    body, block = text[: cut + 1], text[cut + 2 :]
    if not block.endswith("\n"):
        raise CheckpointError("note signature block does not end with a newline")
    lines = tuple(block[:-1].split("\n"))
    for line in lines:
        if not line.startswith(SIGNATURE_PREFIX):
            raise CheckpointError(f"not a signature line: {line[:60]!r}")
    return SplitNote(body, lines)


def read_checkpoint_note(text: str | bytes) -> tuple[Checkpoint, tuple[str, ...]]:
    """Parse a checkpoint note WITHOUT verifying its signatures; returns the body and
    the raw signature lines for a note verifier to check."""
    note = split_note(text)
    return parse_checkpoint_body(note.body), note.signature_lines
