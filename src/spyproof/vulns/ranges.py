"""Affected-range semantics for vulnerability matching: pure functions, no database.

Two range languages are evaluated here:

* OSV ``affected[].ranges`` / ``affected[].versions`` (https://ossf.github.io/osv-schema/,
  "Evaluation"): ECOSYSTEM and SEMVER ranges with sorted ``introduced`` / ``fixed`` /
  ``last_affected`` / ``limit`` events, ``introduced: "0"`` meaning "since the beginning",
  ``limit: "*"`` meaning "no limit", several ranges ORed, plus the explicit ``versions``
  list. GIT ranges are skipped: a firmware component has a version, never a commit.
* NVD CPE match criteria (CVE API 2.0 ``configurations[].nodes[].cpeMatch[]``): the version
  in the criteria (``*`` any, ``-`` not applicable, otherwise an exact version) and the
  optional ``versionStart/EndIncluding/Excluding`` boundaries.

Versions are compared per scheme with univers (``scheme_for``). Upstream versions (NVD, the
OSV ``OSS-Fuzz``/``Linux`` ecosystems, OpenWrt packages, spyproof's ``pkg:generic``) use
``FirmwareVersion``, a univers ``Version`` implementing the core of repology's libversion
algorithm, because univers' own ``GenericVersion`` compares raw strings (``10.0 < 9.0``)
and accepts anything, and ``SemverVersion`` turns openssl's ``1.0.1f`` into a pre-release
of ``1.0.1``. ``FirmwareVersion`` rules:

* the version is split into numeric and alphabetic components; ``.``, ``-``, ``_``, ``+``
  and ``~`` separate components; missing trailing components count as zero
  (``1.0 == 1.0.0``); a leading ``v`` and case are ignored;
* a letter run glued to a number and not followed by a digit is a *letter release*, after
  the bare number and before the next number: openssl ``1.1.1 < 1.1.1a < … < 1.1.1z <
  1.1.1za < 1.1.2``;
* ``p``/``pl``/``patch``/``post``/``errata`` followed by a number are post-releases:
  openssh ``9.2 < 9.2p1 < 9.2p2 < 9.3 < 9.3p1`` (a bare ``1.0.2p`` is openssl's letter p);
* every other word is a pre-release (``dev``/``snapshot`` < ``alpha`` < ``beta`` <
  ``pre``/``preview``/``test`` < ``rc`` < unknown words, alphabetically):
  ``1.0.0-rc1 < 1.0.0``, ``2.90test1 < 2.90``; a letter followed by digits is a
  pre-release too (``1.0a1 < 1.0``, PEP 440 style);
* a string that does not start with a digit, or contains anything but letters, digits and
  the separators (``1:1.2`` epochs, spaces, brackets), is not a version in this scheme.

A version (of the component or of a range event) that cannot be parsed in the scheme never
matches: the functions return ``None`` and, when given a ``notes`` list, append the reason.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from importlib import resources
from typing import Any

import yaml
from univers import versions as uv

__all__ = [
    "FirmwareVersion",
    "KnownBadCpe",
    "MatchDetail",
    "StrictSemverVersion",
    "UnsupportedScheme",
    "VersionError",
    "VulnIdentity",
    "known_bad_cpes",
    "in_cpe_range",
    "in_osv_range",
    "parse_version",
    "scheme_for",
    "vuln_identities",
    "vuln_identity",
]


class VersionError(ValueError):
    """A version string that is not valid in the scheme it is compared in."""


class UnsupportedScheme(ValueError):
    """An ecosystem / purl type whose version ordering spyproof does not implement."""


@dataclass(frozen=True)
class MatchDetail:
    """Why a version is affected: the range that matched, as a short human string
    (``">=5.6.0, <5.6.2"``, ``"introduced 0, fixed 1.0.2k"``), and the fixed version when
    the matching range names one."""

    range: str
    fixed: str | None = None


# --------------------------------------------------------------------------------------
# Version schemes

_PRE_WORDS = {"dev": 0, "snapshot": 0, "alpha": 1, "beta": 2, "pre": 3, "preview": 3,
              "test": 3, "rc": 4}
_UNKNOWN_PRE = 5
_POST_WORDS = frozenset({"p", "pl", "patch", "post", "errata"})
# component ranks: padding and zero compare equal (1.0 == 1.0.0)
_PRE, _ZERO, _POST, _LETTER, _NONZERO = range(5)
_VALID = re.compile(r"[0-9][0-9a-z.\-_+~]*")
_TOKEN = re.compile(r"[0-9]+|[a-z]+")
_PAD = (_ZERO, 0, "")


def _components(s: str) -> tuple[tuple[int, int, str], ...]:
    out: list[tuple[int, int, str]] = []
    tokens = list(_TOKEN.finditer(s))
    for i, m in enumerate(tokens):
        tok = m.group()
        if tok.isdigit():
            n = int(tok)
            out.append((_NONZERO, n, "") if n else _PAD)
            continue
        glued_to_number = m.start() > 0 and s[m.start() - 1].isdigit()
        nxt = tokens[i + 1] if i + 1 < len(tokens) else None
        followed_by_digit = nxt is not None and nxt.start() == m.end() and nxt.group().isdigit()
        if tok in _PRE_WORDS:
            out.append((_PRE, _PRE_WORDS[tok], tok))
        elif glued_to_number and not followed_by_digit:  # openssl 1.0.2p is a letter release
            out.append((_LETTER, 0, tok))
        elif tok in _POST_WORDS:
            out.append((_POST, 0, ""))
        else:
            out.append((_PRE, _UNKNOWN_PRE, tok))
    while out and out[-1] == _PAD:
        out.pop()
    return tuple(out)


@functools.total_ordering
class _FirmwareKey:
    __slots__ = ("parts",)

    def __init__(self, parts: tuple[tuple[int, int, str], ...]) -> None:
        self.parts = parts

    def _cmp(self, other: _FirmwareKey) -> int:
        a, b = self.parts, other.parts
        for i in range(max(len(a), len(b))):
            x = a[i] if i < len(a) else _PAD
            y = b[i] if i < len(b) else _PAD
            if x != y:
                return -1 if x < y else 1
        return 0

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _FirmwareKey) and self._cmp(other) == 0

    def __lt__(self, other: _FirmwareKey) -> bool:
        return self._cmp(other) < 0

    def __hash__(self) -> int:
        return hash(self.parts)  # trailing padding is stripped, so equal keys hash equal

    def __repr__(self) -> str:
        return f"_FirmwareKey({self.parts!r})"


class FirmwareVersion(uv.Version):
    """Upstream version of firmware software (see the module docstring for the rules)."""

    @classmethod
    def normalize(cls, string):
        s = uv.remove_spaces(str(string)).lower()
        return s[1:] if s[:1] == "v" and s[1:2].isdigit() else s

    @classmethod
    def is_valid(cls, string):
        return bool(string) and _VALID.fullmatch(string) is not None

    @classmethod
    def build_value(cls, string):
        return _FirmwareKey(_components(string))

    def __str__(self):
        return self.string


_SEMVER = re.compile(
    r"(0|[1-9]\d*)(\.(0|[1-9]\d*)){0,2}"
    r"(-[0-9A-Za-z-]+(\.[0-9A-Za-z-]+)*)?(\+[0-9A-Za-z-]+(\.[0-9A-Za-z-]+)*)?")


def _deb_order(c: str) -> int:
    """dpkg's character order: ``~`` before everything (even the end of a part), then the
    end, then letters, then every other character."""
    if c == "~":
        return -1
    if c.isalpha():
        return ord(c)
    return ord(c) + 256


_DEB_SEGMENT = re.compile(r"([^0-9]*)([0-9]*)")


@functools.lru_cache(maxsize=1 << 17)
def _deb_part_key(part: str) -> tuple:
    """A tuple that compares natively the way dpkg's ``verrevcmp`` compares ``part``:
    alternating non-digit runs (as character orders ending in 0, the "end" order) and
    digit runs (as ints), closed by an empty run so that a longer version compares
    against "the end" exactly as dpkg does."""
    key: list = []
    for nondigit, digits in _DEB_SEGMENT.findall(part):
        if not nondigit and not digits:
            continue
        key.append(tuple(_deb_order(c) for c in nondigit) + (0,))
        key.append(int(digits) if digits else 0)
    key.append((0,))
    return tuple(key)


class FastDebianVersion(uv.DebianVersion):
    """univers' Debian version with dpkg ordering computed once as a native sort key.

    univers compares Debian versions character by character in Python on every
    comparison; matching compares the same versions tens of thousands of times. The
    key implements the same ordering (tests check them against each other)."""

    @functools.cached_property
    def sort_key(self) -> tuple:
        v = self.value
        return (int(v.epoch or 0), _deb_part_key(v.upstream or ""),
                _deb_part_key(v.revision or "0"))

    def __lt__(self, other):
        return self.sort_key < other.sort_key

    def __le__(self, other):
        return self.sort_key <= other.sort_key

    def __gt__(self, other):
        return self.sort_key > other.sort_key

    def __ge__(self, other):
        return self.sort_key >= other.sort_key

    def __eq__(self, other):
        return isinstance(other, FastDebianVersion) and self.sort_key == other.sort_key

    def __hash__(self):
        return hash(self.sort_key)


class StrictSemverVersion(uv.SemverVersion):
    """SemVer 2.0 for OSV SEMVER ranges; missing minor/patch are coerced to 0 (as OSV's own
    tooling does), anything else that is not SemVer (``1.0.1f``, ``1.2.3.4``) is invalid
    rather than reinterpreted as a pre-release or build metadata."""

    @classmethod
    def is_valid(cls, string):
        return _SEMVER.fullmatch(string) is not None and super().is_valid(string)


_SCHEMES: dict[str, type[uv.Version]] = {
    # distributions: their own version syntax (epochs, revisions, ~ pre-releases)
    "debian": FastDebianVersion, "ubuntu": FastDebianVersion, "deb": FastDebianVersion,
    "alpine": uv.AlpineLinuxVersion, "apk": uv.AlpineLinuxVersion,
    "wolfi": uv.AlpineLinuxVersion, "chainguard": uv.AlpineLinuxVersion,
    "red hat": uv.RpmVersion, "rocky linux": uv.RpmVersion, "almalinux": uv.RpmVersion,
    "opensuse": uv.RpmVersion, "suse": uv.RpmVersion, "mageia": uv.RpmVersion,
    "rpm": uv.RpmVersion,
    "pypi": uv.PypiVersion,
    "semver": StrictSemverVersion,
    # upstream versions
    "generic": FirmwareVersion, "nvd": FirmwareVersion, "cpe": FirmwareVersion,
    "openwrt": FirmwareVersion, "opkg": FirmwareVersion, "oss-fuzz": FirmwareVersion,
    "linux": FirmwareVersion, "github": FirmwareVersion,
}


def scheme_for(ecosystem_or_purl_type: str) -> type[uv.Version]:
    """The univers Version class for an OSV ecosystem (``Debian:12`` → ``Debian``) or a
    purl type. Raises ``UnsupportedScheme`` for anything else: comparing versions in an
    unknown scheme would be a guess."""
    key = (ecosystem_or_purl_type or "").split(":", 1)[0].strip().lower()
    try:
        return _SCHEMES[key]
    except KeyError:
        raise UnsupportedScheme(
            f"no version scheme for ecosystem {ecosystem_or_purl_type!r}") from None


def parse_version(version: str, scheme: type[uv.Version]) -> uv.Version:
    """Parse ``version`` in ``scheme``; ``VersionError`` says why it is not a version.

    Cached: matching compares the same few thousand bound strings hundreds of thousands
    of times, and univers versions are immutable."""
    if not isinstance(version, str) or not version.strip():
        raise VersionError(f"empty version {version!r}")
    parsed = _parse_cached(version, scheme)
    if isinstance(parsed, str):
        raise VersionError(parsed)
    return parsed


@functools.lru_cache(maxsize=1 << 17)
def _parse_cached(version: str, scheme: type[uv.Version]) -> uv.Version | str:
    """The version, or the reason it is not one (a fresh exception is raised per call)."""
    try:
        return scheme(version)
    except Exception:  # univers raises InvalidVersion, some schemes ValueError
        return f"{version!r} is not a valid {_scheme_name(scheme)} version"


def _scheme_name(scheme: type[uv.Version]) -> str:
    return scheme.__name__.removesuffix("Version") or scheme.__name__


def _note(notes: list[str] | None, msg: str) -> None:
    if notes is not None:
        notes.append(msg)


# --------------------------------------------------------------------------------------
# OSV

_EVENT_KINDS = ("introduced", "fixed", "last_affected", "limit")
_TIE_ORDER = {"introduced": 0, "last_affected": 1, "fixed": 2, "limit": 3}


def _load(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str | bytes) else value


def _range_string(events: Sequence[tuple[str, str]]) -> str:
    return ", ".join(f"{kind} {value}" for kind, value in events)


_Prepared = tuple[list[tuple[str, str, Any]], list[tuple[str, str, Any]]]  # events, limits


def _prepare_range(rng: dict, scheme: type[uv.Version]) -> _Prepared | str:
    """A range's events parsed in ``scheme`` and sorted (limits apart), or why not."""
    parsed: list[tuple[str, str, uv.Version | None]] = []  # kind, raw, version (None = 0/*)
    for event in rng.get("events") or []:
        if not isinstance(event, dict) or len(event) != 1:
            return f"malformed OSV event {event!r}: range skipped"
        (kind, raw), = event.items()
        if kind not in _EVENT_KINDS or not isinstance(raw, str):
            return f"unknown OSV event {event!r}: range skipped"
        if (kind == "introduced" and raw == "0") or (kind == "limit" and raw == "*"):
            parsed.append((kind, raw, None))
            continue
        try:
            parsed.append((kind, raw, parse_version(raw, scheme)))
        except VersionError as exc:
            return f"OSV {kind} event: {exc}: range skipped"
    limits = [p for p in parsed if p[0] == "limit"]
    events = sorted((p for p in parsed if p[0] != "limit"),
                    key=functools.cmp_to_key(_event_cmp))
    return events, limits


@functools.lru_cache(maxsize=1 << 16)
def _decoded(text: str) -> Any:
    """JSON text of a record's ranges, decoded once (treated as read-only)."""
    return json.loads(text)


@functools.lru_cache(maxsize=1 << 17)
def _prepared_from_text(text: str, index: int, scheme: type[uv.Version]) -> _Prepared | str:
    return _prepare_range(_decoded(text)[index], scheme)


def _eval_osv_range(v: uv.Version, prepared: _Prepared | str,
                    notes: list[str] | None) -> MatchDetail | None:
    if isinstance(prepared, str):
        _note(notes, prepared)
        return None
    events, limits = prepared
    if limits and not any(lim is None or v < lim for _, _, lim in limits):
        return None

    vulnerable = False
    opened = -1
    for i, (kind, _raw, ev) in enumerate(events):
        if kind == "introduced" and (ev is None or v >= ev):
            vulnerable, opened = True, i
        elif ev is not None and ((kind == "fixed" and v >= ev)
                                 or (kind == "last_affected" and v > ev)):
            vulnerable = False
    if not vulnerable:
        return None

    shown = [(events[opened][0], events[opened][1])]
    fixed = None
    for kind, raw, _ev in events[opened + 1:]:
        if kind in ("fixed", "last_affected"):
            shown.append((kind, raw))
            fixed = raw if kind == "fixed" else None
            break
    shown += [("limit", raw) for _, raw, _ in limits]
    return MatchDetail(range=_range_string(shown), fixed=fixed)


def _event_cmp(a: tuple[str, str, uv.Version | None],
               b: tuple[str, str, uv.Version | None]) -> int:
    # introduced "0" sorts before everything; equal versions: introduced first
    va, vb = a[2], b[2]
    if va is None or vb is None:
        if va is None and vb is None:
            return 0
        return -1 if va is None else 1
    if va < vb:
        return -1
    if vb < va:
        return 1
    return _TIE_ORDER[a[0]] - _TIE_ORDER[b[0]]


def in_osv_range(version: str, ranges_json: Any, versions_list: Any, ecosystem: str, *,
                 notes: list[str] | None = None) -> MatchDetail | None:
    """Whether ``version`` is affected by one OSV ``affected[]`` entry of ``ecosystem``.

    ``ranges_json`` is the entry's ``ranges`` (a list or its JSON text, may be empty/None),
    ``versions_list`` its ``versions`` (idem). Ranges are tried in order, then the explicit
    versions list (exact string, or equal in the scheme). Returns the first match or None;
    reasons why nothing could be evaluated (unparsable versions, unknown ecosystem, GIT
    ranges) go to ``notes``.
    """
    text = ranges_json if isinstance(ranges_json, str) else None
    ranges = (_decoded(text) if text is not None else _load(ranges_json)) or []
    listed = (_decoded(versions_list) if isinstance(versions_list, str)
              else _load(versions_list)) or []
    eco_scheme: type[uv.Version] | None
    try:
        eco_scheme = scheme_for(ecosystem)
    except UnsupportedScheme as exc:
        eco_scheme = None
        _note(notes, str(exc))

    parsed_cache: dict[type[uv.Version], uv.Version | None] = {}

    def parsed_in(scheme: type[uv.Version]) -> uv.Version | None:
        if scheme not in parsed_cache:
            try:
                parsed_cache[scheme] = parse_version(version, scheme)
            except VersionError as exc:
                parsed_cache[scheme] = None
                _note(notes, f"component version {exc}: no match")
        return parsed_cache[scheme]

    for index, rng in enumerate(ranges):
        rtype = str(rng.get("type", "")).upper() if isinstance(rng, dict) else ""
        if rtype == "GIT":
            _note(notes, "GIT range skipped: a firmware component has no commit")
            continue
        if rtype == "SEMVER":
            scheme: type[uv.Version] | None = StrictSemverVersion
        elif rtype == "ECOSYSTEM":
            scheme = eco_scheme
        else:
            _note(notes, f"unknown OSV range type {rtype or rng!r}: skipped")
            continue
        if scheme is None:
            continue
        v = parsed_in(scheme)
        if v is None:
            continue
        prepared = (_prepared_from_text(text, index, scheme) if text is not None
                    else _prepare_range(rng, scheme))
        detail = _eval_osv_range(v, prepared, notes)
        if detail is not None:
            return detail

    if version in listed:
        return MatchDetail(range=f"listed version {version}")
    if listed and eco_scheme is not None and (v := parsed_in(eco_scheme)) is not None:
        for raw in listed:
            try:
                if parse_version(raw, eco_scheme) == v:
                    return MatchDetail(range=f"listed version {raw}")
            except VersionError:
                continue
    return None


# --------------------------------------------------------------------------------------
# NVD CPE match criteria

_CPE_UNESCAPE = re.compile(r"\\(.)")


def _present(value: str | None) -> bool:
    return value is not None and value != ""


def in_cpe_range(version: str, exact: str | None = None, start_incl: str | None = None,
                 start_excl: str | None = None, end_incl: str | None = None,
                 end_excl: str | None = None, *, scheme: str = "NVD",
                 notes: list[str] | None = None) -> MatchDetail | None:
    """Whether ``version`` satisfies one NVD ``cpeMatch`` entry.

    ``exact`` is the version field of the match criteria: ``*`` (or None/empty) is any
    version, ``-`` is "not applicable" (the product has no versions: a component with a
    version never matches it), anything else is an exact version (CPE backslash escapes
    removed), compared by string and then by equality in the scheme. Each present boundary
    applies: ``start_incl`` (>=), ``start_excl`` (>), ``end_incl`` (<=), ``end_excl`` (<).
    With neither an exact version nor a boundary the criteria matches every version.
    """
    try:
        cls = scheme_for(scheme)
    except UnsupportedScheme as exc:
        _note(notes, str(exc))
        return None
    try:
        v = parse_version(version, cls)
    except VersionError as exc:
        _note(notes, f"component version {exc}: no match")
        return None

    parts: list[str] = []
    if _present(exact) and exact != "*":
        if exact == "-":
            _note(notes, "criteria version '-' (not applicable) never matches a version")
            return None
        want = _CPE_UNESCAPE.sub(r"\1", exact)
        if want != version:
            try:
                if parse_version(want, cls) != v:
                    return None
            except VersionError as exc:
                _note(notes, f"criteria version {exc}: no match")
                return None
        parts.append(f"={want}")

    bounds: Iterable[tuple[str | None, str, Any]] = (
        (start_incl, ">=", lambda a, b: a >= b), (start_excl, ">", lambda a, b: a > b),
        (end_incl, "<=", lambda a, b: a <= b), (end_excl, "<", lambda a, b: a < b))
    for raw, op, ok in bounds:
        if not _present(raw):
            continue
        try:
            bound = parse_version(raw, cls)
        except VersionError as exc:
            _note(notes, f"{op} boundary {exc}: no match")
            return None
        if not ok(v, bound):
            return None
        parts.append(f"{op}{raw}")

    return MatchDetail(range=", ".join(parts) or "*",
                       fixed=end_excl if _present(end_excl) else None)


# --------------------------------------------------------------------------------------
# Product identity (data/vuln_products.yaml)


@dataclass(frozen=True)
class VulnIdentity:
    """How the feeds name one canonical component: OSV package per ecosystem, NVD CPE
    vendor:product pairs to query, and the public pages the names were checked against."""

    name: str
    osv_names: dict[str, str]
    cpes: list[tuple[str, str]]
    sources: tuple[str, ...] = ()


@dataclass(frozen=True)
class KnownBadCpe:
    """A vendor:product pair never to query for ``never_for`` (``"*"``: any product)."""

    cpe: tuple[str, str]
    never_for: tuple[str, ...]
    why: str
    source: str


def _pair(text: str) -> tuple[str, str]:
    vendor, sep, product = text.partition(":")
    if not (sep and vendor and product) or ":" in product:
        raise ValueError(f"CPE pair {text!r} is not vendor:product")
    return vendor, product


@functools.cache
def _vuln_products() -> tuple[dict[str, VulnIdentity], tuple[KnownBadCpe, ...]]:
    raw = yaml.safe_load(resources.files("spyproof.data").joinpath("vuln_products.yaml")
                         .read_text(encoding="utf-8"))
    if raw.get("version") != 1:
        raise ValueError(f"vuln_products.yaml: unsupported version {raw.get('version')!r}")
    identities = {
        name: VulnIdentity(name=name, osv_names=dict(spec.get("osv") or {}),
                           cpes=[_pair(c) for c in spec.get("cpe") or []],
                           sources=tuple(spec.get("sources") or ()))
        for name, spec in raw["products"].items()}
    bad = tuple(KnownBadCpe(cpe=_pair(b["cpe"]), never_for=tuple(b["never_for"]),
                            why=b["why"], source=b["source"])
                for b in raw.get("known_bad") or [])
    return identities, bad


def vuln_identities() -> dict[str, VulnIdentity]:
    """Every curated identity, by canonical name."""
    return dict(_vuln_products()[0])


def vuln_identity(name: str) -> VulnIdentity | None:
    """The feeds' names for canonical component ``name``; None when it is not curated
    (the matcher then has no identity to query, rather than a guessed one)."""
    return _vuln_products()[0].get(name)


def known_bad_cpes(name: str | None = None) -> list[KnownBadCpe]:
    """Known-bad pairs (for ``name`` only, when given)."""
    bad = _vuln_products()[1]
    if name is None:
        return list(bad)
    return [b for b in bad if name in b.never_for or "*" in b.never_for]
