"""DSSE envelopes (Dead Simple Signing Envelope v1) signed with Ed25519.

Spec: https://github.com/secure-systems-lab/dsse/blob/master/protocol.md. A signature
covers the pre-authentication encoding PAE(payloadType, payload), never the bare payload,
so a signed payload cannot be re-read as another type.

Key ids: the ``keyid`` of a signature is the lowercase hex SHA-256 of the raw 32-byte
Ed25519 public key (:func:`key_id`). DSSE treats it as an unauthenticated hint; here it
picks which trusted key must verify a signature. A C2SP key id (4 bytes over name, type
and key) needs a key name, which a bare key object does not have, so callers holding C2SP
keys pass their own id through ``keyid=`` and a mapping of ids to keys.

Verification rule (the same as for signed notes): signatures whose keyid is not trusted
are ignored; a signature that names a trusted key but does not verify rejects the
envelope (a forgery); at least one signature by a trusted key must verify.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from spyproof.atomic import write_bytes_atomic

TrustedKeys = Mapping[str, Ed25519PublicKey] | Iterable[Ed25519PublicKey]


class EnvelopeError(ValueError):
    """The envelope is malformed, of the wrong type, or not validly signed by a trusted key."""


def pae(payload_type: str, payload: bytes) -> bytes:
    """DSSEv1 pre-authentication encoding: "DSSEv1" SP LEN(type) SP type SP LEN(body) SP body,
    lengths in bytes as ASCII decimal."""
    type_bytes = payload_type.encode("utf-8")
    return b"DSSEv1 %d %s %d %s" % (len(type_bytes), type_bytes, len(payload), payload)


def key_id(key: Ed25519PublicKey | Ed25519PrivateKey) -> str:
    """Hex SHA-256 of the raw Ed25519 public key: the keyid this module writes."""
    public = key.public_key() if isinstance(key, Ed25519PrivateKey) else key
    raw = public.public_bytes(Encoding.Raw, PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()


def sign_envelope(payload: bytes, payload_type: str, key: Ed25519PrivateKey, *,
                  keyid: str | None = None) -> dict[str, Any]:
    """Wrap ``payload`` in an envelope with one Ed25519 signature over its PAE."""
    if not isinstance(key, Ed25519PrivateKey):
        raise TypeError("an Ed25519PrivateKey is required")
    signature = key.sign(pae(payload_type, payload))
    return {
        "payload": base64.b64encode(payload).decode("ascii"),
        "payloadType": payload_type,
        "signatures": [{"keyid": keyid if keyid is not None else key_id(key),
                        "sig": base64.b64encode(signature).decode("ascii")}],
    }


def add_signature(envelope: dict[str, Any], key: Ed25519PrivateKey, *,
                  keyid: str | None = None) -> dict[str, Any]:
    """A copy of ``envelope`` with one more signature (e.g. a co-signing party)."""
    payload = _b64decode(_field(envelope, "payload"), "payload")
    payload_type = _field(envelope, "payloadType")
    extra = sign_envelope(payload, payload_type, key, keyid=keyid)["signatures"]
    return {**envelope, "signatures": [*_signatures(envelope), *extra]}


def verify_envelope(envelope: Any, keys: TrustedKeys, payload_type: str) -> bytes:
    """The payload of ``envelope`` once a trusted key's signature over it verifies.

    Raises EnvelopeError for a malformed envelope, another payloadType, a forged signature
    by a trusted key, or when no trusted key signed it.
    """
    trusted = _trusted(keys)
    if not isinstance(envelope, Mapping):
        raise EnvelopeError("envelope is not a JSON object")
    got_type = _field(envelope, "payloadType")
    if got_type != payload_type:
        raise EnvelopeError(f"payloadType is {got_type!r}, expected {payload_type!r}")
    payload = _b64decode(_field(envelope, "payload"), "payload")
    message = pae(got_type, payload)
    verified = False
    for index, entry in enumerate(_signatures(envelope)):
        sig = _b64decode(_field(entry, "sig", f"signatures[{index}]"), f"signatures[{index}]")
        keyid = entry.get("keyid") or ""
        if not isinstance(keyid, str):
            raise EnvelopeError(f"signatures[{index}].keyid is not a string")
        if keyid:
            if keyid not in trusted:
                continue  # an unknown signer: ignored, as DSSE allows extra signatures
            if not _valid(trusted[keyid], sig, message):
                raise EnvelopeError(f"signatures[{index}] by trusted key {keyid} is invalid")
            verified = True
        elif any(_valid(k, sig, message) for k in trusted.values()):
            verified = True  # no keyid hint: accepted only if some trusted key verifies it
    if not verified:
        raise EnvelopeError("no valid signature by a trusted key")
    return payload


def read_envelope(path: str | Path) -> dict[str, Any]:
    """Load a ``.dsse.json`` file (not yet verified); EnvelopeError when it is not JSON."""
    try:
        data = json.loads(Path(path).read_bytes())
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise EnvelopeError(f"{path}: not JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise EnvelopeError(f"{path}: not a JSON object")
    return data


def write_envelope(path: str | Path, envelope: Mapping[str, Any]) -> Path:
    """Write ``envelope`` atomically: a temporary file in the same directory, fsync,
    rename, fsync of the directory. A crash leaves the old file or the new one."""
    target = Path(path)
    data = (json.dumps(envelope, indent=2, sort_keys=True) + "\n").encode("utf-8")
    write_bytes_atomic(target, data, sync_dir=True)
    return target


def _trusted(keys: TrustedKeys) -> dict[str, Ed25519PublicKey]:
    items = keys.items() if isinstance(keys, Mapping) else ((key_id(k), k) for k in keys)
    trusted = {}
    for kid, key in items:
        if not isinstance(key, Ed25519PublicKey):
            raise TypeError("trusted keys must be Ed25519PublicKey objects")
        trusted[kid] = key
    if not trusted:
        raise EnvelopeError("no trusted keys given")
    return trusted


def _valid(key: Ed25519PublicKey, sig: bytes, message: bytes) -> bool:
    try:
        key.verify(sig, message)
    except InvalidSignature:
        return False
    return True


def _field(obj: Any, name: str, where: str = "envelope") -> str:
    if not isinstance(obj, Mapping):
        raise EnvelopeError(f"{where} is not a JSON object")
    value = obj.get(name)
    if not isinstance(value, str):
        raise EnvelopeError(f"{where}.{name} is missing or not a string")
    return value


def _signatures(envelope: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    sigs = envelope.get("signatures")
    if not isinstance(sigs, list) or not sigs:
        raise EnvelopeError("envelope.signatures is missing or empty")
    for index, entry in enumerate(sigs):
        if not isinstance(entry, Mapping):
            raise EnvelopeError(f"signatures[{index}] is not a JSON object")
    return sigs


def _b64decode(text: str, where: str) -> bytes:
    """Strict base64 (no stray characters), standard or URL-safe alphabet, padded or not:
    DSSE allows either encoding."""
    if "-" in text or "_" in text:
        text = text.replace("-", "+").replace("_", "/")
    text += "=" * (-len(text) % 4)
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise EnvelopeError(f"{where} is not valid base64: {exc}") from exc
