"""authorized_keys files (sshd(8) AUTHORIZED_KEYS FILE FORMAT, also read by Dropbear):
one key per line, optionally preceded by comma-separated options and followed by a
comment. Each key shipped in the image lets its holder log in to every device."""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass, field
from typing import Any

from cryptography.hazmat.primitives import serialization

from spyproof.checks.keys_material import key_facts, ssh_fingerprint

_KEY_TYPE = re.compile(
    r"(ssh-(?:rsa|dss|ed25519|ed448)|ecdsa-sha2-nistp(?:256|384|521)"
    r"|sk-(?:ssh-ed25519|ecdsa-sha2-nistp256)@openssh\.com"
    r"|(?:ssh-(?:rsa|dss|ed25519)|ecdsa-sha2-nistp(?:256|384|521))-cert-v01@openssh\.com)$")
MAX_LINE = 16 * 1024


@dataclass
class AuthorizedKey:
    line: int
    offset: int
    key_type: str
    options: list[str]
    comment: str
    facts: dict[str, Any] = field(default_factory=dict)


def _split_options(text: str) -> tuple[str, str]:
    """The options field (up to the first space outside double quotes) and the rest."""
    quoted = False
    for i, ch in enumerate(text):
        if ch == '"' and (i == 0 or text[i - 1] != "\\"):
            quoted = not quoted
        elif ch in " \t" and not quoted:
            return text[:i], text[i:].lstrip()
    return text, ""


def _options(field_text: str) -> list[str]:
    out, cur, quoted = [], [], False
    for ch in field_text:
        if ch == '"':
            quoted = not quoted
        if ch == "," and not quoted:
            out.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
    if cur:
        out.append("".join(cur))
    return [o for o in out if o]


def parse_authorized_keys(text: str) -> tuple[list[AuthorizedKey], list[str]]:
    """Keys and notes on lines that are not keys."""
    keys: list[AuthorizedKey] = []
    notes: list[str] = []
    offset = 0
    for n, raw in enumerate(text.splitlines(keepends=True), start=1):
        start = offset
        offset += len(raw.encode("utf-8", "surrogateescape"))
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if len(line) > MAX_LINE:
            notes.append(f"line {n}: longer than {MAX_LINE} characters, not read")
            continue
        words = line.split(None, 1)
        options: list[str] = []
        if not _KEY_TYPE.match(words[0]):
            opts, line = _split_options(line)
            options = _options(opts)
            words = line.split(None, 1)
        if not words or not _KEY_TYPE.match(words[0]):
            notes.append(f"line {n}: not a key line")
            continue
        rest = words[1].split(None, 1) if len(words) > 1 else []
        if not rest:
            notes.append(f"line {n}: {words[0]} without key data")
            continue
        key_type, b64 = words[0], rest[0]
        comment = rest[1].strip() if len(rest) > 1 else ""
        try:
            blob = base64.b64decode(b64, validate=True)
        except (binascii.Error, ValueError):
            notes.append(f"line {n}: key data is not base64")
            continue
        try:
            facts = key_facts(serialization.load_ssh_public_key(f"{key_type} {b64}".encode()))
        except Exception:  # security keys and certificates: fingerprint the blob only
            facts = {"algorithm": key_type}
        facts["ssh_fingerprint"] = ssh_fingerprint(blob)
        keys.append(AuthorizedKey(n, start, key_type, options, comment, facts))
    return keys, notes
