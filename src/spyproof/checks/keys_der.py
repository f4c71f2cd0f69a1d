"""Binary key and certificate formats: DER private keys and certificates (whole files or
embedded in blobs), PKCS#12 bundles, and Dropbear's own host key format.

DER sniffing in arbitrary bytes looks only for the exact openings of a PKCS#8 / PKCS#1 /
SEC1 private key or a v3 certificate, and a candidate counts only when ``cryptography``
loads it completely, so random bytes do not become findings.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections import Counter
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed25519, rsa
from cryptography.hazmat.primitives.serialization import pkcs12

from spyproof.checks.keys_certs import cert_facts, der_sequence_length, load_der_certificate
from spyproof.checks.keys_material import private_key_facts, ssh_strings
from spyproof.checks.keys_records import FoundCert, FoundKey

_RSA_OID = rb"\x06\x09\x2a\x86\x48\x86\xf7\x0d\x01\x01\x01"
_EC_OID = rb"\x06\x07\x2a\x86\x48\xce\x3d\x02\x01"
# The first bytes of each structure (X.690 DER; RFC 5208 PKCS#8, RFC 8017 PKCS#1,
# RFC 5915 SEC1, RFC 8410 Ed25519, RFC 5280 certificate with a v3 version field).
_DER_OPENINGS = re.compile(
    rb"\x30\x82..\x30(?:\x82..|\x81.)\xa0\x03\x02\x01\x02"  # certificate
    rb"|\x30\x81.\x30\x81.\xa0\x03\x02\x01\x02"  # small certificate
    rb"|\x30\x82..\x02\x01\x00\x30\x0d" + _RSA_OID +  # PKCS#8 RSA
    rb"|\x30\x82..\x02\x01\x00\x02\x82..\x00"  # PKCS#1 RSA >= 2048
    rb"|\x30\x82..\x02\x01\x00\x02\x81\x81\x00"  # PKCS#1 RSA 1024
    rb"|\x30\x81.\x02\x01\x00\x30\x13" + _EC_OID +  # PKCS#8 EC
    rb"|\x30\x2e\x02\x01\x00\x30\x05\x06\x03\x2b\x65\x70\x04\x22\x04\x20"  # PKCS#8 Ed25519
    rb"|\x30\x77\x02\x01\x01\x04\x20"  # SEC1 P-256
    rb"|\x30\x81\xa4\x02\x01\x01\x04\x30"  # SEC1 P-384
    rb"|\x30\x81\xdc\x02\x01\x01\x04\x42",  # SEC1 P-521
    re.DOTALL,
)
_DER_FORMATS = {0x02: "DER PKCS#1 RSA", 0x30: "DER PKCS#8", 0x04: "DER SEC1 EC"}
#: Candidates tried per file: a blob with more is not a key store, and is noted.
MAX_CANDIDATES = 500
#: Key material below this byte entropy is a template or padding, not a generated key.
MIN_SECRET_ENTROPY = 3.5


def _entropy(blob: bytes) -> float:
    if not blob:
        return 0.0
    counts = Counter(blob)
    return -sum(c / len(blob) * math.log2(c / len(blob)) for c in counts.values())


def _der_format(der: bytes) -> str:
    # the element after the version INTEGER: a SEQUENCE (PKCS#8), INTEGER (PKCS#1),
    # OCTET STRING (SEC1)
    hdr = 2 + (der[1] & 0x7F if der[1] & 0x80 else 0)
    return _DER_FORMATS.get(der[hdr + 3] if len(der) > hdr + 3 else 0, "DER")


def sniff_der(data: bytes) -> tuple[list[FoundKey], list[FoundCert], list[str]]:
    """DER private keys and certificates anywhere in ``data``."""
    keys: list[FoundKey] = []
    certs: list[FoundCert] = []
    notes: list[str] = []
    taken_until = -1
    for n, m in enumerate(_DER_OPENINGS.finditer(data)):
        if n >= MAX_CANDIDATES:
            notes.append(f"more than {MAX_CANDIDATES} DER candidates; the rest not tried")
            break
        start = m.start()
        if start < taken_until:
            continue  # inside a certificate or key already read
        length = der_sequence_length(data, start)
        if length is None or start + length > len(data):
            continue
        der = data[start:start + length]
        if m.group(0).endswith(b"\xa0\x03\x02\x01\x02"):
            try:
                cert = load_der_certificate(der)
            except Exception:
                continue
            certs.append(FoundCert(start, start + length, "DER", cert_facts(cert)))
            taken_until = start + length
            continue
        try:
            loaded = serialization.load_der_private_key(der, None,
                                                        unsafe_skip_rsa_key_validation=True)
        except Exception:
            continue
        secret = _secret_bytes(loaded)
        if secret is not None and _entropy(secret) < MIN_SECRET_ENTROPY:
            continue
        keys.append(FoundKey(offset=start, end=start + length, format=_der_format(der),
                             header=_der_format(der), encrypted=False,
                             block_sha256=hashlib.sha256(der).hexdigest(),
                             facts=private_key_facts(loaded)))
        taken_until = start + length
    return keys, certs, notes


def _secret_bytes(key: Any) -> bytes | None:
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return key.private_bytes_raw()
    if isinstance(key, ec.EllipticCurvePrivateKey):
        value = key.private_numbers().private_value
        return value.to_bytes((value.bit_length() + 7) // 8 or 1, "big")
    return None


def encrypted_der_key(data: bytes) -> FoundKey | None:
    """A whole-file encrypted PKCS#8 key (RFC 5208 EncryptedPrivateKeyInfo)."""
    try:
        serialization.load_der_private_key(data, None)
    except TypeError:
        return FoundKey(offset=0, end=len(data), format="DER PKCS#8", header="DER PKCS#8",
                        encrypted=True, block_sha256=hashlib.sha256(data).hexdigest())
    except Exception:
        return None
    return None


# -- PKCS#12 ----------------------------------------------------------------------------------

# PFX (RFC 7292): SEQUENCE { INTEGER 3, SEQUENCE { OID pkcs7-data | pkcs7-signedData, … } }
_PFX = re.compile(rb"\x30(?:\x80|[\x00-\x7f]|\x81.|\x82..|\x83...)\x02\x01\x03"
                  rb"\x30(?:\x80|[\x00-\x7f]|\x81.|\x82..|\x83...)"
                  rb"\x06\x09\x2a\x86\x48\x86\xf7\x0d\x01\x07[\x01\x02]", re.DOTALL)


def looks_pkcs12(data: bytes) -> bool:
    """The PFX structure, checked before a failed open is blamed on a password (cryptography
    gives one error for both)."""
    return _PFX.match(data) is not None

def read_pkcs12(data: bytes, passwords: list[str]
                ) -> tuple[list[FoundKey], list[FoundCert], str | None]:
    """Open a PKCS#12 bundle with no password, then each documented default. Returns what
    it holds and which password opened it; when none did, one encrypted key record."""
    if not looks_pkcs12(data):
        return [], [], None
    ident = hashlib.sha256(data).hexdigest()
    tried: list[bytes | None] = [None, b""] + [p.encode() for p in passwords if p]
    for pw in tried:
        try:
            key, cert, extra = pkcs12.load_key_and_certificates(data, pw)
        except ValueError:
            continue
        except Exception:
            break
        used = "no password" if not pw else f"documented default {pw.decode()!r}"
        keys = []
        if key is not None:
            keys.append(FoundKey(offset=0, end=len(data), format="PKCS#12", header="PKCS#12",
                                 encrypted=False, block_sha256=ident,
                                 facts=private_key_facts(key), extra={"opened_with": used}))
        certs = [FoundCert(0, len(data), "PKCS#12", cert_facts(c))
                 for c in ([cert] if cert is not None else []) + list(extra)]
        return keys, certs, used
    n = len(tried) - 1  # None and b"" are the same "no password" attempt to a reader
    locked = FoundKey(offset=0, end=len(data), format="PKCS#12", header="PKCS#12",
                      encrypted=True, block_sha256=ident,
                      extra={"opened_with": None, "passwords_tried": n})
    return [locked], [], None


# -- Dropbear ---------------------------------------------------------------------------------

def _mpint(raw: bytes) -> int:
    return int.from_bytes(raw, "big", signed=True)


def _dropbear_private(parts: list[bytes]) -> Any:
    """The key in Dropbear's format (signkey.c, rsa.c, dss.c, ecdsa.c, ed25519.c:
    the type name, then the key's numbers as SSH strings and mpints)."""
    kind = parts[0]
    if kind == b"ssh-rsa" and len(parts) == 6:
        e, n, d, p, q = (_mpint(x) for x in parts[1:])
        numbers = rsa.RSAPrivateNumbers(
            p=p, q=q, d=d, dmp1=rsa.rsa_crt_dmp1(d, p), dmq1=rsa.rsa_crt_dmq1(d, q),
            iqmp=rsa.rsa_crt_iqmp(p, q), public_numbers=rsa.RSAPublicNumbers(e, n))
        return numbers.private_key(unsafe_skip_rsa_key_validation=True)
    if kind == b"ssh-dss" and len(parts) == 6:
        p, q, g, y, x = (_mpint(v) for v in parts[1:])
        params = dsa.DSAParameterNumbers(p, q, g)
        return dsa.DSAPrivateNumbers(x, dsa.DSAPublicNumbers(y, params)).private_key()
    if kind.startswith(b"ecdsa-sha2-") and len(parts) == 4:
        curves = {b"nistp256": ec.SECP256R1(), b"nistp384": ec.SECP384R1(),
                  b"nistp521": ec.SECP521R1()}
        curve = curves.get(parts[1])
        if curve is None:
            return None
        key = ec.derive_private_key(_mpint(parts[3]), curve)
        point = key.public_key().public_bytes(serialization.Encoding.X962,
                                              serialization.PublicFormat.UncompressedPoint)
        return key if point == parts[2] else None
    if kind == b"ssh-ed25519" and len(parts) == 2 and len(parts[1]) == 64:
        key = ed25519.Ed25519PrivateKey.from_private_bytes(parts[1][:32])
        pub = key.public_key().public_bytes_raw()
        return key if pub == parts[1][32:] else None
    return None


def read_dropbear(data: bytes) -> FoundKey | None:
    """A Dropbear private key file (e.g. /etc/dropbear/dropbear_rsa_host_key)."""
    parts = ssh_strings(data)
    if not parts or not parts[0].startswith((b"ssh-", b"ecdsa-sha2-")):
        return None
    try:
        key = _dropbear_private(parts)
    except (ValueError, TypeError):
        key = None
    if key is None:
        return None
    return FoundKey(offset=0, end=len(data), format="Dropbear",
                    header=f"Dropbear {parts[0].decode()}", encrypted=False,
                    block_sha256=hashlib.sha256(data).hexdigest(),
                    facts=private_key_facts(key))
