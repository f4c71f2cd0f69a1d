"""What the key and certificate readers hand back: where a key or certificate sits in a
file and what it is, never the key itself."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class FoundKey:
    """A private key at ``offset`` in a file (``end``: one past its last byte)."""

    offset: int
    end: int
    format: str  # "PEM PKCS#8", "OpenSSH", "DER PKCS#1", "PKCS#12", "Dropbear", …
    header: str  # what evidence may show: the BEGIN line, or a short format name
    encrypted: bool | None  # None: could not tell (damaged block)
    block_sha256: str  # identity of the stored bytes, for keys whose public half is unknown
    facts: dict[str, Any] = field(default_factory=dict)  # key_facts(): algorithm, bits, …
    problem: str | None = None  # why it could not be parsed
    extra: dict[str, Any] = field(default_factory=dict)  # format-specific facts

    @property
    def identity(self) -> str:
        return self.facts.get("public_key_sha256") or f"block:{self.block_sha256}"


@dataclass
class FoundCert:
    """An X.509 certificate at ``offset`` in a file."""

    offset: int
    end: int
    format: str  # "PEM", "DER", "PKCS#12"
    facts: dict[str, Any]  # cert_facts(): subject, issuer, validity, key, fingerprints
