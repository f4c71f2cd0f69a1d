"""Facts about one X.509 certificate that matter for a no-spy evaluation: who it names,
when it is valid, whether it vouches for itself or for others (a CA), and whether its key
or signature is weak. Time-relative judgements (expiry) are left to the caller, who
holds the scan's clock."""

from __future__ import annotations

import hashlib
import re
import warnings
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import dsa, ec, padding, rsa

from spyproof.checks.keys_material import key_facts

# md2/md4/md5 and SHA-1 signatures are forgeable or deprecated (CA/B Forum BR 7.1.3.2,
# RFC 6151 for MD5, SHAttered for SHA-1).
_WEAK_SIGNATURE = re.compile(r"(md[245]|sha-?1)(?!\d)", re.IGNORECASE)


def der_sequence_length(der: bytes, pos: int = 0) -> int | None:
    """Total length (header included) of the DER SEQUENCE at ``pos``, or None."""
    if pos + 2 > len(der) or der[pos] != 0x30:
        return None
    first = der[pos + 1]
    if first < 0x80:
        return 2 + first
    n = first & 0x7F
    if n == 0 or n > 4 or pos + 2 + n > len(der):
        return None
    return 2 + n + int.from_bytes(der[pos + 2: pos + 2 + n], "big")


def load_der_certificate(der: bytes) -> x509.Certificate:
    """A certificate from DER that may be followed by more bytes (OpenSSL's TRUSTED
    CERTIFICATE appends trust settings; a blob carries whatever comes next)."""
    length = der_sequence_length(der)
    if length is None or length > len(der):
        raise ValueError("not a complete DER SEQUENCE")
    with warnings.catch_warnings():  # e.g. a non-positive serial: still worth reporting
        warnings.simplefilter("ignore")
        return x509.load_der_x509_certificate(der[:length])


def _name(name: x509.Name) -> str:
    try:
        return name.rfc4514_string()
    except ValueError:
        return repr(name)


def _self_signed(cert: x509.Certificate) -> bool:
    if cert.issuer != cert.subject:
        return False
    try:
        cert.verify_directly_issued_by(cert)
        return True
    except InvalidSignature:
        return False
    except Exception:  # e.g. a SHA-1 or MD5 signature, which that API refuses
        pass
    try:
        return _verify_legacy(cert)
    except Exception:
        return False


def _verify_legacy(cert: x509.Certificate) -> bool:
    """Check a self-signature made with a hash the high-level API refuses (MD5, SHA-1)."""
    key = cert.public_key()
    algorithm = cert.signature_hash_algorithm
    sig, tbs = cert.signature, cert.tbs_certificate_bytes
    try:
        if isinstance(key, rsa.RSAPublicKey):
            key.verify(sig, tbs, padding.PKCS1v15(), algorithm)
        elif isinstance(key, ec.EllipticCurvePublicKey):
            key.verify(sig, tbs, ec.ECDSA(algorithm))
        elif isinstance(key, dsa.DSAPublicKey):
            key.verify(sig, tbs, algorithm)
        else:
            return False
    except InvalidSignature:
        return False
    return True


def _is_ca(cert: x509.Certificate) -> bool:
    try:
        return bool(cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca)
    except x509.ExtensionNotFound:
        # a v1 certificate has no extensions; a self-signed one is a trust anchor
        return cert.version == x509.Version.v1 and cert.issuer == cert.subject
    except ValueError:
        return False


def cert_facts(cert: x509.Certificate) -> dict[str, Any]:
    """JSON-ready facts; ``issues`` lists the problems that do not depend on the clock."""
    with warnings.catch_warnings():  # cryptography warns about RFC 5280 slips it tolerates
        warnings.simplefilter("ignore")
        return _cert_facts(cert)


def _cert_facts(cert: x509.Certificate) -> dict[str, Any]:
    der = cert.public_bytes(serialization.Encoding.DER)
    facts: dict[str, Any] = {
        "subject": _name(cert.subject),
        "issuer": _name(cert.issuer),
        "serial": format(cert.serial_number, "x"),
        "not_before": cert.not_valid_before_utc.isoformat(),
        "not_after": cert.not_valid_after_utc.isoformat(),
        "cert_sha256": hashlib.sha256(der).hexdigest(),
    }
    oid = cert.signature_algorithm_oid
    facts["signature_algorithm"] = getattr(oid, "_name", None) or oid.dotted_string
    try:
        key = key_facts(cert.public_key())
    except Exception as exc:  # an algorithm cryptography does not load (e.g. GOST)
        key = {"algorithm": f"unsupported ({type(exc).__name__})"}
    facts["key"] = key
    facts["public_key_sha256"] = key.get("public_key_sha256")
    facts["self_issued"] = cert.issuer == cert.subject
    facts["self_signed"] = _self_signed(cert)
    facts["is_ca"] = _is_ca(cert)
    issues: list[str] = []
    if key.get("weak"):
        issues.append("weak-key")
    # A trust anchor's own signature is never checked by clients, so a SHA-1 self-signature
    # of a root (self-issued) is harmless; on any other certificate it can be forged.
    if _WEAK_SIGNATURE.search(facts["signature_algorithm"]) and cert.issuer != cert.subject:
        issues.append("weak-signature")
    facts["issues"] = issues
    return facts
