"""C2SP signed notes (c2sp.org/signed-note), cosignatures, and trust policies.

A signed note is a text ending in a newline, a blank line, then one or more lines
``— <key name> <base64(key ID || signature)>``. The rules that make notes
interoperable with Go's golang.org/x/mod/sumdb/note and transparency-dev tooling:

* a note verifies when at least one signature by a known key (name *and* key ID match)
  is valid; signatures by unknown keys are ignored but kept, so re-serialising loses
  nothing;
* a bad signature by a known key rejects the whole note (every known-key signature is
  checked, also repeated ones, which is stricter than Go);
* malformed notes are rejected: invalid UTF-8, ASCII control characters other than
  newline, no blank line before the signatures, a missing final newline, a bad
  signature line, or more than ``MAX_SIGNATURES`` signatures (Go's limit).

The trust policy part reads c2sp.org/tlog-policy files and decides whether a set of
verified witness cosignatures meets the policy's quorum.
"""

from __future__ import annotations

import base64
import binascii
import re
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from spyproof.provenance.keys import (
    COSIGNATURE_V1,
    ED25519,
    BadKey,
    SignerKey,
    VerifierKey,
    as_signer,
    as_verifier,
    is_valid_name,
    parse_verifier_key,
)

SIG_PREFIX = "\u2014 "
MAX_SIGNATURES = 100


class NoteError(ValueError):
    """A signed note that cannot be accepted."""


class MalformedNote(NoteError):
    """The bytes are not a well-formed signed note."""


class InvalidNoteSignature(NoteError):
    """A signature by a known key does not verify: the note is rejected."""


class UnverifiedNote(NoteError):
    """No signature by any known key: the note's text must not be trusted."""

    def __init__(self, message: str, note: Note) -> None:
        super().__init__(message)
        self.note = note


@dataclass(frozen=True)
class Signature:
    """One signature line as written: key name, key ID, and the base64 as found."""

    name: str
    key_id: int
    base64: str

    @property
    def signature(self) -> bytes:
        """The signature bytes after the 4-byte key ID."""
        return base64.b64decode(self.base64)[4:]

    @property
    def line(self) -> str:
        return f"{SIG_PREFIX}{self.name} {self.base64}\n"


@dataclass(frozen=True)
class Note:
    """A parsed (not yet verified) signed note."""

    text: str
    signatures: tuple[Signature, ...]


@dataclass(frozen=True)
class VerifiedSignature:
    """A signature that verified; ``timestamp`` is set for cosignature/v1 only."""

    key: VerifierKey
    signature: Signature
    timestamp: int | None = None


@dataclass(frozen=True)
class VerifiedNote:
    """A note with at least one valid signature by a known key.

    ``note`` keeps every signature line as found, for lossless re-serialisation.
    """

    note: Note
    verified: tuple[VerifiedSignature, ...]
    unverified: tuple[Signature, ...]

    @property
    def text(self) -> str:
        return self.note.text

    def cosignatures(self) -> tuple[VerifiedSignature, ...]:
        return tuple(v for v in self.verified if v.key.kind == COSIGNATURE_V1)


def _check_characters(text: str) -> None:
    for ch in text:
        if ord(ch) < 0x20 and ch != "\n":
            raise MalformedNote(f"control character U+{ord(ch):04X} in note")


def _decode(data: bytes | str) -> str:
    if isinstance(data, str):
        try:
            data.encode("utf-8")
        except UnicodeEncodeError:
            raise MalformedNote("note is not valid UTF-8") from None
        return data
    try:
        return bytes(data).decode("utf-8")
    except UnicodeDecodeError as exc:
        raise MalformedNote(f"note is not valid UTF-8 (byte {exc.start})") from None


def _parse_signature_line(line: str) -> Signature:
    if not line.startswith(SIG_PREFIX):
        raise MalformedNote("signature line must start with an em dash and a space")
    name, sep, b64 = line[len(SIG_PREFIX):].partition(" ")
    if not sep or not b64 or not is_valid_name(name):
        raise MalformedNote(f"malformed signature line for {name!r}")
    try:
        raw = base64.b64decode(b64, validate=True)
    except (binascii.Error, ValueError):
        raise MalformedNote(f"signature by {name!r} is not base64") from None
    if len(raw) < 5:
        raise MalformedNote(f"signature by {name!r} is too short")
    return Signature(name, int.from_bytes(raw[:4], "big"), b64)


def parse_note(data: bytes | str) -> Note:
    """Split a signed note into text and signature lines, checking only the syntax."""
    message = _decode(data)
    _check_characters(message)
    split = message.rfind("\n\n")
    if split < 0:
        raise MalformedNote("no blank line before the signatures")
    text, block = message[: split + 1], message[split + 2:]
    if not block or not block.endswith("\n"):
        raise MalformedNote("signature block is empty or lacks its final newline")
    lines = block[:-1].split("\n")
    if len(lines) > MAX_SIGNATURES:
        raise MalformedNote(f"more than {MAX_SIGNATURES} signatures")
    return Note(text, tuple(_parse_signature_line(line) for line in lines))


def serialize_note(note: Note) -> bytes:
    """The note's bytes: text, blank line, every signature line."""
    return (note.text + "\n" + "".join(s.line for s in note.signatures)).encode("utf-8")


def _known(verifiers: Iterable[VerifierKey | str]) -> dict[tuple[str, int], VerifierKey]:
    known: dict[tuple[str, int], VerifierKey] = {}
    for item in verifiers:
        key = as_verifier(item)
        other = known.setdefault((key.name, key.key_id), key)
        if other != key:
            raise BadKey(f"two different verifier keys for {key.name}+{key.key_id:08x}")
    return known


def verify_note(
    data: bytes | str | Note, verifiers: Iterable[VerifierKey | str]
) -> VerifiedNote:
    """Verify a signed note against known keys, with C2SP semantics (see module doc).

    Raises MalformedNote, InvalidNoteSignature, or UnverifiedNote (no known key signed).
    """
    note = data if isinstance(data, Note) else parse_note(data)
    known = _known(verifiers)
    text = note.text.encode("utf-8")
    verified: list[VerifiedSignature] = []
    unverified: list[Signature] = []
    seen: set[tuple[str, int]] = set()
    for sig in note.signatures:
        key = known.get((sig.name, sig.key_id))
        if key is None:
            unverified.append(sig)
            continue
        raw = sig.signature
        if not key.verify(text, raw):
            raise InvalidNoteSignature(
                f"signature by known key {sig.name}+{sig.key_id:08x} does not verify"
            )
        if (sig.name, sig.key_id) in seen:
            continue
        seen.add((sig.name, sig.key_id))
        stamp = int.from_bytes(raw[:8], "big") if key.kind == COSIGNATURE_V1 else None
        verified.append(VerifiedSignature(key, sig, stamp))
    if not verified:
        raise UnverifiedNote("no signature by a known key", note)
    return VerifiedNote(note, tuple(verified), tuple(unverified))


def sign_note(
    note: str | Note,
    signers: Iterable[SignerKey | str],
    *,
    timestamp: int | None = None,
) -> bytes:
    """Sign a note text (or add signatures to a parsed note) and return its bytes.

    Existing signature lines are kept, except those by the same name and key ID as a
    new signer, which are replaced. Cosignature signers stamp ``timestamp`` (POSIX
    seconds; the current time when None).
    """
    base = note if isinstance(note, Note) else Note(note, ())
    text = base.text
    if not isinstance(text, str) or not text.endswith("\n"):
        raise MalformedNote("note text must end with a newline")
    _check_characters(_decode(text))
    keys = [as_signer(s) for s in signers]
    if not keys:
        raise ValueError("sign_note needs at least one signer")
    if timestamp is None:
        timestamp = int(time.time())
    raw_text = text.encode("utf-8")
    fresh: list[Signature] = []
    for key in keys:
        stamp = timestamp if key.kind == COSIGNATURE_V1 else None
        raw = key.key_id.to_bytes(4, "big") + key.sign(raw_text, stamp)
        fresh.append(Signature(key.name, key.key_id, base64.b64encode(raw).decode("ascii")))
    replaced = {(s.name, s.key_id) for s in fresh}
    kept = [s for s in base.signatures if (s.name, s.key_id) not in replaced]
    signatures = tuple(kept + fresh)
    if len(signatures) > MAX_SIGNATURES:
        raise MalformedNote(f"more than {MAX_SIGNATURES} signatures")
    return serialize_note(Note(text, signatures))


# --- trust policy (c2sp.org/tlog-policy) -------------------------------------------

NONE = "none"
_POLICY_WS = re.compile(r"[ \t]+")
_THRESHOLD = re.compile(r"[0-9]+")


class BadPolicy(ValueError):
    """A trust policy file that does not follow c2sp.org/tlog-policy."""


@dataclass(frozen=True)
class PolicyLog:
    key: VerifierKey
    url: str | None = None


@dataclass(frozen=True)
class PolicyWitness:
    name: str
    key: VerifierKey
    url: str | None = None


@dataclass(frozen=True)
class PolicyGroup:
    name: str
    threshold: int
    members: tuple[str, ...]


@dataclass(frozen=True)
class Policy:
    """Accepted log keys, named witnesses and groups, and the quorum rule's name."""

    logs: tuple[PolicyLog, ...]
    witnesses: Mapping[str, PolicyWitness]
    groups: Mapping[str, PolicyGroup]
    quorum: str

    @property
    def log_keys(self) -> tuple[VerifierKey, ...]:
        return tuple(log.key for log in self.logs)

    @property
    def witness_keys(self) -> tuple[VerifierKey, ...]:
        return tuple(w.key for w in self.witnesses.values())


def _policy_lines(data: bytes | str) -> list[tuple[int, list[str]]]:
    raw = data.encode("utf-8", "surrogateescape") if isinstance(data, str) else bytes(data)
    for offset, byte in enumerate(raw):
        if byte < 0x20 and byte not in (0x09, 0x0A) or byte == 0x7F:
            raise BadPolicy(f"forbidden control byte 0x{byte:02x} at offset {offset}")
    text = raw.decode("utf-8", "surrogateescape")
    lines = []
    for number, line in enumerate(text.split("\n"), start=1):
        stripped = line.strip(" \t")
        if stripped and not stripped.startswith("#"):
            lines.append((number, _POLICY_WS.split(stripped)))
    return lines


def _policy_key(word: str, kind: int, number: int, role: str) -> VerifierKey:
    try:
        key = parse_verifier_key(word)
    except BadKey as exc:
        raise BadPolicy(f"line {number}: bad {role} key: {exc}") from None
    if key.kind != kind:
        raise BadPolicy(f"line {number}: {role} key must be type 0x{kind:02x}")
    return key


def _optional_url(words: list[str], at: int, number: int) -> str | None:
    if len(words) > at + 1:
        raise BadPolicy(f"line {number}: too many fields")
    return words[at] if len(words) > at else None


def _threshold(word: str, members: int, number: int) -> int:
    if word == "all":
        return members
    if word == "any":
        return 1
    if not _THRESHOLD.fullmatch(word) or not 1 <= int(word) <= members:
        raise BadPolicy(f"line {number}: threshold must be all, any or 1..{members}")
    return int(word)


def parse_policy(data: bytes | str) -> Policy:
    """Parse a tlog-policy file (log, witness, group and exactly one quorum line)."""
    logs: list[PolicyLog] = []
    witnesses: dict[str, PolicyWitness] = {}
    groups: dict[str, PolicyGroup] = {}
    quorum: str | None = None
    public_keys: set[bytes] = set()

    def define(name: str, number: int) -> None:
        if name == NONE or name in witnesses or name in groups:
            raise BadPolicy(f"line {number}: name {name!r} is reserved or already defined")

    def unique_key(key: VerifierKey, number: int) -> None:
        if key.public_key in public_keys:
            raise BadPolicy(f"line {number}: duplicate public key")
        public_keys.add(key.public_key)

    for number, words in _policy_lines(data):
        keyword, args = words[0], words[1:]
        if keyword == "log" and args:
            key = _policy_key(args[0], ED25519, number, "log")
            unique_key(key, number)
            logs.append(PolicyLog(key, _optional_url(args, 1, number)))
        elif keyword == "witness" and len(args) >= 2:
            define(args[0], number)
            key = _policy_key(args[1], COSIGNATURE_V1, number, "witness")
            unique_key(key, number)
            witnesses[args[0]] = PolicyWitness(args[0], key, _optional_url(args, 2, number))
        elif keyword == "group" and len(args) >= 3:
            name, members = args[0], tuple(args[2:])
            define(name, number)
            for member in members:
                if member not in witnesses and member not in groups:
                    raise BadPolicy(f"line {number}: group member {member!r} is not defined")
            if len(set(members)) != len(members):
                raise BadPolicy(f"line {number}: group {name!r} lists a member twice")
            groups[name] = PolicyGroup(name, _threshold(args[1], len(members), number), members)
        elif keyword == "quorum" and len(args) == 1:
            if quorum is not None:
                raise BadPolicy(f"line {number}: second quorum line")
            if args[0] != NONE and args[0] not in witnesses and args[0] not in groups:
                raise BadPolicy(f"line {number}: quorum {args[0]!r} is not defined")
            quorum = args[0]
        else:
            raise BadPolicy(f"line {number}: cannot parse {keyword!r} line")
    if quorum is None:
        raise BadPolicy("policy has no quorum line")
    return Policy(tuple(logs), witnesses, groups, quorum)


def _cosigner_keys(
    cosigners: Iterable[VerifierKey | VerifiedSignature | str],
) -> set[tuple[int, bytes]]:
    keys = set()
    for item in cosigners:
        key = item.key if isinstance(item, VerifiedSignature) else as_verifier(item)
        keys.add((key.kind, key.public_key))
    return keys


def satisfied(
    policy: Policy, verified_cosigners: Iterable[VerifierKey | VerifiedSignature | str]
) -> bool:
    """Whether witnesses whose cosignatures verified meet the policy's quorum.

    Witnesses are matched by public key (Ed25519 cosignatures do not commit to a name).
    Pass only cosignatures that were actually verified, e.g.
    ``verify_note(cp, policy.witness_keys ...).cosignatures()``.
    """
    present = _cosigner_keys(verified_cosigners)

    def holds(name: str) -> bool:
        if name == NONE:
            return True
        if name in witnesses_by_name:
            key = witnesses_by_name[name].key
            return (key.kind, key.public_key) in present
        group = policy.groups[name]
        return sum(holds(member) for member in group.members) >= group.threshold

    witnesses_by_name = policy.witnesses
    return holds(policy.quorum)
