"""What a key is, without ever showing it: algorithm, size, weakness and fingerprints.

Two fingerprints name a key the way the field does: the SHA-256 of its public key's
SubjectPublicKeyInfo DER (what certificate tools and HPKP pins use, and the same for a
private key, its certificate and its public key file), and OpenSSH's ``SHA256:…``
(what ``ssh-keygen -l`` and ``dropbearkey -y`` print), so an evaluator can match a finding
against a device or a published key with their own tools.
"""

from __future__ import annotations

import base64
import hashlib
import struct
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import dh, dsa, ec, ed448, ed25519, rsa, x448, x25519

#: Below these sizes a key is weak (NIST SP 800-57 Part 1 Rev. 5, table 2: 112-bit security).
MIN_RSA_BITS = 2048
MIN_EC_BITS = 256


def ssh_fingerprint(blob: bytes) -> str:
    """OpenSSH's ``SHA256:`` fingerprint of a public key in SSH wire format."""
    digest = hashlib.sha256(blob).digest()
    return "SHA256:" + base64.b64encode(digest).decode().rstrip("=")


def key_facts(public_key: Any) -> dict[str, Any]:
    """Algorithm, size, weakness and fingerprints of a public key (from cryptography)."""
    facts: dict[str, Any] = {}
    if isinstance(public_key, rsa.RSAPublicKey):
        facts.update(algorithm="RSA", bits=public_key.key_size)
        if public_key.key_size < MIN_RSA_BITS:
            facts["weak"] = f"RSA key of {public_key.key_size} bits (< {MIN_RSA_BITS})"
    elif isinstance(public_key, ec.EllipticCurvePublicKey):
        facts.update(algorithm="EC", bits=public_key.curve.key_size, curve=public_key.curve.name)
        if public_key.curve.key_size < MIN_EC_BITS:
            facts["weak"] = f"EC key on {public_key.curve.name} (< {MIN_EC_BITS} bits)"
    elif isinstance(public_key, dsa.DSAPublicKey):
        facts.update(algorithm="DSA", bits=public_key.key_size,
                     weak="DSA key (withdrawn by FIPS 186-5, disabled by OpenSSH)")
    elif isinstance(public_key, ed25519.Ed25519PublicKey):
        facts.update(algorithm="Ed25519", bits=256)
    elif isinstance(public_key, ed448.Ed448PublicKey):
        facts.update(algorithm="Ed448", bits=456)
    elif isinstance(public_key, x25519.X25519PublicKey):
        facts.update(algorithm="X25519", bits=256)
    elif isinstance(public_key, x448.X448PublicKey):
        facts.update(algorithm="X448", bits=448)
    elif isinstance(public_key, dh.DHPublicKey):
        facts.update(algorithm="DH", bits=public_key.key_size)
    else:
        facts["algorithm"] = type(public_key).__name__
    try:
        spki = public_key.public_bytes(serialization.Encoding.DER,
                                       serialization.PublicFormat.SubjectPublicKeyInfo)
        facts["public_key_sha256"] = hashlib.sha256(spki).hexdigest()
    except (ValueError, TypeError):
        pass
    try:
        line = public_key.public_bytes(serialization.Encoding.OpenSSH,
                                       serialization.PublicFormat.OpenSSH)
        facts["ssh_fingerprint"] = ssh_fingerprint(base64.b64decode(line.split()[1]))
    except (ValueError, TypeError, IndexError):
        pass  # a curve or algorithm SSH has no name for
    return facts


def private_key_facts(private_key: Any) -> dict[str, Any]:
    return key_facts(private_key.public_key())


def summary(facts: dict[str, Any]) -> str:
    """``RSA 2048, SHA256:…`` — enough to name a key in evidence text."""
    parts = [facts.get("algorithm", "key")]
    if facts.get("curve"):
        parts.append(facts["curve"])
    elif facts.get("bits"):
        parts.append(str(facts["bits"]))
    head = " ".join(parts)
    fp = facts.get("ssh_fingerprint") or (
        f"spki-sha256:{facts['public_key_sha256'][:16]}…" if facts.get("public_key_sha256")
        else None)
    return f"{head}, {fp}" if fp else head


def ssh_strings(blob: bytes, limit: int = 16) -> list[bytes] | None:
    """The length-prefixed strings of an SSH wire-format blob, or None if it is not one."""
    out: list[bytes] = []
    pos = 0
    while pos < len(blob):
        if pos + 4 > len(blob) or len(out) >= limit:
            return None
        n = struct.unpack_from(">I", blob, pos)[0]
        if pos + 4 + n > len(blob):
            return None
        out.append(blob[pos + 4: pos + 4 + n])
        pos += 4 + n
    return out
