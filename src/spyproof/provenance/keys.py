"""C2SP signed-note keys: Ed25519 note signers and cosignature/v1 witnesses.

Key strings follow c2sp.org/signed-note and golang.org/x/mod/sumdb/note, so keys made
here work with other ecosystems' tools and vice versa:

* verifier key (vkey): ``<name>+<hex key ID>+<base64(type || public key)>``
* signer key (skey):   ``PRIVATE+KEY+<name>+<hex key ID>+<base64(type || private seed)>``

The key ID is the first four bytes of SHA-256(name || 0x0A || type || public key). Type
0x01 signs the note text (Ed25519); type 0x04 is a timestamped cosignature
(c2sp.org/tlog-cosignature v1) over ``cosignature/v1\\ntime <T>\\n`` + the note text.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from dataclasses import dataclass, field

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    PublicFormat,
)

ED25519 = 0x01
COSIGNATURE_V1 = 0x04
KIND_BY_NAME = {"ed25519": ED25519, "cosignature": COSIGNATURE_V1}
NAME_BY_KIND = {v: k for k, v in KIND_BY_NAME.items()}

SIGNER_PREFIX = "PRIVATE+KEY+"
MAX_TIMESTAMP = 2**63 - 1
ED25519_SIG_LEN = 64
COSIGNATURE_LEN = 8 + ED25519_SIG_LEN
_HEX_ID = re.compile(r"[0-9a-fA-F]{8}")


class BadKey(KeyError):
    """A key string or key name that is not a valid C2SP signed-note key."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else "bad key"


def is_valid_name(name: str) -> bool:
    """C2SP key names: non-empty, valid UTF-8, no Unicode spaces, no '+', no controls."""
    if not name or "+" in name:
        return False
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return not any(ch.isspace() or ord(ch) < 0x20 or ord(ch) == 0x7F for ch in name)


def key_id(name: str, kind: int, public_key: bytes) -> int:
    """First four bytes (big-endian) of SHA-256(name || 0x0A || type || public key)."""
    digest = hashlib.sha256(name.encode("utf-8") + b"\n" + bytes([kind]) + public_key)
    return int.from_bytes(digest.digest()[:4], "big")


def cosignature_message(timestamp: int, text: bytes) -> bytes:
    """The bytes a cosignature/v1 signs: header line, time line, whole note text."""
    return b"cosignature/v1\ntime %d\n" % timestamp + text


@dataclass(frozen=True)
class VerifierKey:
    """A public key that checks signatures of one name and key ID."""

    name: str
    key_id: int
    kind: int
    public_key: bytes = field(repr=False)

    @property
    def vkey(self) -> str:
        """The C2SP verifier key string."""
        material = base64.b64encode(bytes([self.kind]) + self.public_key).decode("ascii")
        return f"{self.name}+{self.key_id:08x}+{material}"

    @property
    def kind_name(self) -> str:
        return NAME_BY_KIND[self.kind]

    def verify(self, text: bytes, signature: bytes) -> bool:
        """True when ``signature`` (the bytes after the key ID) is valid for ``text``.

        For a cosignature the signature is timestamp(8, big-endian) || Ed25519(64).
        """
        public = Ed25519PublicKey.from_public_bytes(self.public_key)
        if self.kind == ED25519:
            if len(signature) != ED25519_SIG_LEN:
                return False
            message = text
        else:
            if len(signature) != COSIGNATURE_LEN:
                return False
            timestamp = int.from_bytes(signature[:8], "big")
            if timestamp > MAX_TIMESTAMP:
                return False
            message = cosignature_message(timestamp, text)
            signature = signature[8:]
        try:
            public.verify(signature, message)
        except InvalidSignature:
            return False
        return True


@dataclass(frozen=True)
class SignerKey:
    """A private key that signs notes under one name; never printed whole."""

    name: str
    key_id: int
    kind: int
    seed: bytes = field(repr=False)

    @property
    def skey(self) -> str:
        """The C2SP signer key string (secret: store it like a password)."""
        material = base64.b64encode(bytes([self.kind]) + self.seed).decode("ascii")
        return f"{SIGNER_PREFIX}{self.name}+{self.key_id:08x}+{material}"

    @property
    def verifier(self) -> VerifierKey:
        return VerifierKey(self.name, self.key_id, self.kind, _public_bytes(self.seed))

    def sign(self, text: bytes, timestamp: int | None = None) -> bytes:
        """The signature bytes for ``text`` (without the key ID prefix).

        A cosignature needs ``timestamp`` (POSIX seconds) and returns timestamp || sig.
        """
        private = Ed25519PrivateKey.from_private_bytes(self.seed)
        if self.kind == ED25519:
            return private.sign(text)
        if timestamp is None or not 0 <= timestamp <= MAX_TIMESTAMP:
            raise ValueError(f"cosignature timestamp must be 0..2^63-1, got {timestamp!r}")
        return timestamp.to_bytes(8, "big") + private.sign(cosignature_message(timestamp, text))


def _public_bytes(seed: bytes) -> bytes:
    private = Ed25519PrivateKey.from_private_bytes(seed)
    return private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)


def _kind_code(kind: str) -> int:
    try:
        return KIND_BY_NAME[kind]
    except KeyError:
        raise BadKey(f"unknown key kind {kind!r} (use ed25519 or cosignature)") from None


def generate_key(name: str, kind: str = "ed25519") -> tuple[str, str]:
    """A fresh key: (signer key string, verifier key string)."""
    code = _kind_code(kind)
    if not is_valid_name(name):
        raise BadKey(f"invalid key name {name!r}: must be non-empty, no '+', no spaces")
    seed = Ed25519PrivateKey.generate().private_bytes(
        Encoding.Raw, PrivateFormat.Raw, NoEncryption()
    )
    signer = SignerKey(name, key_id(name, code, _public_bytes(seed)), code, seed)
    return signer.skey, signer.verifier.vkey


def _split(text: str, what: str) -> tuple[str, int, int, bytes]:
    """name, key ID, type byte, key material from ``name+hexid+base64``."""
    parts = text.split("+", 2)
    if len(parts) != 3:
        raise BadKey(f"malformed {what}: want name+keyid+base64")
    name, hex_id, material = parts
    if not is_valid_name(name):
        raise BadKey(f"malformed {what}: invalid key name {name!r}")
    if not _HEX_ID.fullmatch(hex_id):
        raise BadKey(f"malformed {what}: key ID must be 8 hex digits, got {hex_id!r}")
    try:
        raw = base64.b64decode(material, validate=True)
    except (binascii.Error, ValueError):
        raise BadKey(f"malformed {what}: key material is not base64") from None
    if not raw:
        raise BadKey(f"malformed {what}: empty key material")
    return name, int(hex_id, 16), raw[0], raw[1:]


def _check_kind(kind: int, body: bytes, what: str) -> None:
    if kind not in NAME_BY_KIND:
        raise BadKey(f"unsupported {what} type 0x{kind:02x} (want 0x01 or 0x04)")
    if len(body) != 32:
        raise BadKey(f"malformed {what}: Ed25519 key must be 32 bytes, got {len(body)}")


def parse_verifier_key(text: str) -> VerifierKey:
    """Parse and check a vkey string; raises BadKey with a one-line reason."""
    if not isinstance(text, str):
        raise BadKey("verifier key must be a string")
    name, kid, kind, body = _split(text, "verifier key")
    if kid != key_id(name, kind, body):
        raise BadKey(f"verifier key ID {kid:08x} does not match name and key")
    _check_kind(kind, body, "verifier key")
    return VerifierKey(name, kid, kind, body)


def parse_signer_key(text: str) -> SignerKey:
    """Parse and check a ``PRIVATE+KEY+`` string; raises BadKey with a one-line reason."""
    if not isinstance(text, str) or not text.startswith(SIGNER_PREFIX):
        raise BadKey("signer key must start with PRIVATE+KEY+")
    name, kid, kind, seed = _split(text[len(SIGNER_PREFIX):], "signer key")
    _check_kind(kind, seed, "signer key")
    if kid != key_id(name, kind, _public_bytes(seed)):
        raise BadKey(f"signer key ID {kid:08x} does not match name and key")
    return SignerKey(name, kid, kind, seed)


def as_verifier(key: VerifierKey | str) -> VerifierKey:
    return key if isinstance(key, VerifierKey) else parse_verifier_key(key)


def as_signer(key: SignerKey | str) -> SignerKey:
    return key if isinstance(key, SignerKey) else parse_signer_key(key)
