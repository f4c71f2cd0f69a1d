"""crypt(3) hashes: which scheme a password field holds, what one try costs, and checking
a candidate password against it.

Hashing is done by the system's libxcrypt (the library that ``login``, ``su`` and PAM
use), through Python's ``crypt`` module where it exists (3.11, 3.12) and through
``ctypes`` otherwise, so every scheme a Linux device may store (DES, BSDi, MD5, SHA-256,
SHA-512, bcrypt, yescrypt, gost-yescrypt, scrypt, sha1crypt, Sun MD5, NT) is checked by
the same code that checks it on a real system, not by a re-implementation.

The cost of one try is estimated from the hash's own parameters (rounds, bcrypt cost,
yescrypt N and r), never measured, so how much of the default-password list is tried
against an expensive hash is the same on every run and every machine.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import re
import warnings
from collections.abc import Callable
from dataclasses import dataclass

B64 = "./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_C = "[./0-9A-Za-z]"

# scheme name -> pattern of a complete hash in that scheme
_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("md5-crypt", re.compile(rf"\$1\$[^$:]{{0,8}}\${_C}{{22}}")),
    ("sha256-crypt", re.compile(rf"\$5\$(?:rounds=\d{{1,10}}\$)?[^$:]{{0,16}}\${_C}{{43}}")),
    ("sha512-crypt", re.compile(rf"\$6\$(?:rounds=\d{{1,10}}\$)?[^$:]{{0,16}}\${_C}{{86}}")),
    ("bcrypt", re.compile(rf"\$2[abxy]?\$\d\d\${_C}{{53}}")),
    ("yescrypt", re.compile(rf"\$y\${_C}+\${_C}+\${_C}{{43}}")),
    ("gost-yescrypt", re.compile(rf"\$gy\${_C}+\${_C}+\${_C}{{43}}")),
    ("scrypt", re.compile(rf"\$7\${_C}{{11}}[^$:]*\${_C}{{43}}")),
    ("sha1-crypt", re.compile(rf"\$sha1\$\d{{1,10}}\${_C}{{1,64}}\${_C}{{28}}")),
    ("sun-md5", re.compile(rf"\$md5(?:,rounds=\d{{1,10}})?\$[^$:]{{0,8}}\$\$?{_C}{{22}}")),
    ("nthash", re.compile(r"\$3\$\$[0-9a-f]{32}")),
    ("bsdi-des", re.compile(rf"_{_C}{{19}}")),
    ("des-crypt", re.compile(rf"{_C}{{13}}")),
)

# Schemes an offline attacker breaks quickly: short (DES: 8 characters), unsalted (NT)
# or fast (MD5-crypt: 1000 MD5 rounds, no cost parameter).
WEAK_SCHEMES = frozenset({"des-crypt", "bsdi-des", "md5-crypt", "sun-md5", "nthash"})

# Milliseconds for one hash at the scheme's reference parameters, measured once with
# libxcrypt 4.4 on a 2-core x86-64 machine; the estimate scales them by the hash's own
# parameters.
_BASE_MS = {
    "des-crypt": 0.01, "bsdi-des": 0.12, "md5-crypt": 0.16, "nthash": 0.01,
    "sha256-crypt": 3.3, "sha512-crypt": 2.7,   # at 5000 rounds
    "bcrypt": 2.1,                               # at cost 5
    "yescrypt": 29.0, "gost-yescrypt": 29.0,     # at N=2^12, r=32 ("j9T")
    "scrypt": 157.0,                             # at N=2^14, r=32, p=1
    "sha1-crypt": 34.0,                          # at 40000 iterations
    "sun-md5": 6.2,                              # at the basic 4096 rounds
}
UNAFFORDABLE = float("inf")


def identify(field: str) -> str | None:
    """The crypt scheme of a password field, or None when it is not a complete hash."""
    for name, pattern in _PATTERNS:
        if pattern.fullmatch(field):
            return name
    return None


def _b64(ch: str) -> int:
    return B64.index(ch) if ch in B64 else 64


def _decode_yescrypt_uint(s: str, pos: int, minimum: int) -> tuple[int, int] | None:
    """yescrypt's variable-length base-64 integer (decode64_uint32 in libxcrypt)."""
    if pos >= len(s):
        return None
    c = _b64(s[pos])
    pos += 1
    if c > 63:
        return None
    value, start, end, chars, bits = minimum, 0, 47, 1, 0
    while c > end:
        value += (end + 1 - start) << bits
        start = end + 1
        end = start + (62 - end) // 2
        chars += 1
        bits += 6
    value += (c - start) << bits
    for _ in range(chars - 1):
        if pos >= len(s):
            return None
        c = _b64(s[pos])
        pos += 1
        if c > 63:
            return None
        bits -= 6
        value += c << bits
    return value, pos


def _yescrypt_ms(params: str, base: float) -> float:
    flavor = _decode_yescrypt_uint(params, 0, 0)
    if flavor is None:
        return UNAFFORDABLE
    n_log2 = _decode_yescrypt_uint(params, flavor[1], 1)
    if n_log2 is None or not 1 <= n_log2[0] <= 63:
        return UNAFFORDABLE
    r = _decode_yescrypt_uint(params, n_log2[1], 1)
    if r is None:
        return UNAFFORDABLE
    factor = (2 ** n_log2[0] * r[0]) / (2 ** 12 * 32)
    if r[1] < len(params):  # optional p, t, g or ROM parameters: be pessimistic
        factor *= 4
    return base * factor


def estimate_ms(hash_: str, scheme: str) -> float:
    """Estimated milliseconds for one try against this hash (``UNAFFORDABLE`` when its
    parameters cannot be read)."""
    base = _BASE_MS.get(scheme)
    if base is None:
        return UNAFFORDABLE
    try:
        if scheme in ("sha256-crypt", "sha512-crypt"):
            m = re.match(r"\$[56]\$rounds=(\d+)\$", hash_)
            rounds = min(max(int(m.group(1)), 1000), 999_999_999) if m else 5000
            return base * rounds / 5000
        if scheme == "bcrypt":
            cost = int(hash_.split("$")[2])
            return base * 2.0 ** (cost - 5)
        if scheme in ("yescrypt", "gost-yescrypt"):
            return _yescrypt_ms(hash_.split("$")[2], base)
        if scheme == "scrypt":
            p = hash_[3:]
            n_log2 = _b64(p[0])
            r = sum(_b64(ch) << (6 * i) for i, ch in enumerate(p[1:6]))
            par = sum(_b64(ch) << (6 * i) for i, ch in enumerate(p[6:11]))
            return base * 2.0 ** (n_log2 - 14) * max(r, 1) / 32 * max(par, 1)
        if scheme == "sha1-crypt":
            return base * int(hash_.split("$")[2]) / 40000
        if scheme == "sun-md5":
            m = re.match(r"\$md5,rounds=(\d+)\$", hash_)
            return base * (1 + (int(m.group(1)) if m else 0) / 4096)
        if scheme == "bsdi-des":
            count = sum(_b64(ch) << (6 * i) for i, ch in enumerate(hash_[1:5]))
            return base * max(count, 1) / 725
    except (ValueError, IndexError):
        return UNAFFORDABLE
    return base


# -- hashing -------------------------------------------------------------------------------

CryptFn = Callable[[str, str], "str | None"]


def _stdlib_crypt() -> CryptFn | None:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            import crypt as _crypt  # deprecated, present in 3.11 and 3.12
    except ImportError:
        return None
    return _crypt.crypt


def _libcrypt_crypt() -> CryptFn | None:
    """libxcrypt's crypt() through ctypes, for Pythons without the crypt module."""
    name = ctypes.util.find_library("crypt")
    if not name:
        return None
    try:
        lib = ctypes.CDLL(name)
        fn = lib.crypt
    except (OSError, AttributeError):
        return None
    fn.argtypes = [ctypes.c_char_p, ctypes.c_char_p]
    fn.restype = ctypes.c_char_p

    def crypt(word: str, setting: str) -> str | None:
        out = fn(word.encode(), setting.encode())
        return out.decode("ascii", "replace") if out else None

    return crypt


@functools.cache
def backend() -> tuple[str, CryptFn] | None:
    """(name, crypt function) of the implementation in use, or None if there is none."""
    fn = _stdlib_crypt()
    if fn is not None:
        return "python crypt module (libxcrypt)", fn
    fn = _libcrypt_crypt()
    if fn is not None:
        return "libcrypt via ctypes", fn
    return None


def verify(password: str, hash_: str, crypt_fn: CryptFn | None = None) -> bool:
    """Whether ``password`` hashes to ``hash_`` (same scheme, salt and parameters)."""
    if crypt_fn is None:
        found = backend()
        if found is None:
            return False
        crypt_fn = found[1]
    try:
        out = crypt_fn(password, hash_)
    except (ValueError, OSError, UnicodeError):
        return False
    return out is not None and out == hash_


@dataclass(frozen=True)
class CrackResult:
    """What trying the default passwords against one hash found."""

    password: str | None  # the matching candidate (kept in memory, never reported whole)
    tried: int
    total: int
    skipped_reason: str | None = None
