"""Range semantics for vulnerability matching (spyproof.vulns.ranges), table-driven.

Every row states one exact outcome (the matched range string and fixed version, or no match)
and every boundary is probed on both sides, so a comparator or boundary that is off by one
fails a row. Also: the curated product identity in data/vuln_products.yaml.
"""

from __future__ import annotations

import json
from importlib import resources
from typing import Any

import pytest
import yaml

from spyproof.identify.products import products
from spyproof.vulns.ranges import (
    FirmwareVersion,
    MatchDetail,
    UnsupportedScheme,
    VersionError,
    in_cpe_range,
    in_osv_range,
    known_bad_cpes,
    parse_version,
    scheme_for,
    vuln_identities,
    vuln_identity,
)

# --------------------------------------------------------------------------------------
# Ordering per scheme: (scheme, lower, higher); "==" rows: equal in the scheme

ORDER = [
    # generic upstream versions (NVD, pkg:generic, OSS-Fuzz)
    ("generic", "9", "10"),
    ("generic", "1.9.9", "1.10"),
    ("generic", "2022.82", "2022.83"),
    ("generic", "1.0.0-rc1", "1.0.0"),
    ("generic", "1.0.0-alpha", "1.0.0-beta"),
    ("generic", "1.0.0-beta2", "1.0.0-rc1"),
    ("generic", "1.0.0_rc2", "1.0.0"),
    ("generic", "2.90test1", "2.90"),
    ("generic", "1.0a1", "1.0"),
    ("generic", "1.0.0", "1.0.1-rc1"),
    # openssl letter releases
    ("generic", "1.1.1", "1.1.1a"),
    ("generic", "1.1.1a", "1.1.1b"),
    ("generic", "1.0.1f", "1.0.1g"),
    ("generic", "1.0.2k", "1.0.2z"),
    ("generic", "1.1.1z", "1.1.1za"),
    ("generic", "1.1.1za", "1.1.1zb"),
    ("generic", "1.1.1w", "1.1.2"),
    ("generic", "1.0.1t", "1.0.2"),
    # openssh portable releases
    ("generic", "9.2", "9.2p1"),
    ("generic", "9.2p1", "9.2p2"),
    ("generic", "9.2p2", "9.3"),
    ("generic", "9.2p1", "9.3p1"),
    ("generic", "9.3", "9.3p1"),
    # Debian: epochs, revisions, ~ pre-releases
    ("Debian", "2.0", "1:1.2"),
    ("Debian", "9.9p1-1", "1:9.2p1-2"),
    ("Debian", "1.2-1", "1.2-1+deb12u1"),
    ("Debian", "1.2-1+deb12u1", "1.2-2"),
    ("Debian", "1.0~rc1", "1.0"),
    # Alpine: -rN revisions, _rc / _p suffixes
    ("Alpine", "3.1.4-r4", "3.1.4-r5"),
    ("Alpine", "1.0.0_rc1", "1.0.0"),
    ("Alpine", "9.6-r5", "9.6_p1-r0"),
    # SemVer 2.0
    ("semver", "1.0.0-rc.1", "1.0.0"),
    ("semver", "1.0.0-alpha", "1.0.0-alpha.1"),
    ("semver", "1.9.0", "1.10.0"),
    ("PyPI", "1.0rc1", "1.0"),
]

EQUAL = [
    ("generic", "1.0", "1.0.0"),
    ("generic", "v1.2.3", "1.2.3"),
    ("generic", "1.0.2K", "1.0.2k"),
    ("Debian", "1.2-1", "0:1.2-1"),
    ("semver", "1.2", "1.2.0"),
]


@pytest.mark.parametrize(("scheme", "lower", "higher"), ORDER)
def test_order(scheme: str, lower: str, higher: str) -> None:
    cls = scheme_for(scheme)
    lo, hi = parse_version(lower, cls), parse_version(higher, cls)
    assert lo < hi
    assert hi > lo
    assert not hi < lo
    assert lo != hi


@pytest.mark.parametrize(("scheme", "a", "b"), EQUAL)
def test_equal(scheme: str, a: str, b: str) -> None:
    cls = scheme_for(scheme)
    va, vb = parse_version(a, cls), parse_version(b, cls)
    assert va == vb
    assert not va < vb and not vb < va
    assert hash(va) == hash(vb)


def test_openssl_letters_order_a_to_z() -> None:
    chain = ["1.0.2"] + [f"1.0.2{c}" for c in "abcdefghijklmnopqrstuvwxyz"] + ["1.0.2za", "1.0.3"]
    parsed = [FirmwareVersion(v) for v in chain]
    assert parsed == sorted(reversed(parsed))  # sorting a reversed list restores the order
    assert all(a < b for a, b in zip(parsed, parsed[1:], strict=False))


INVALID = [
    ("generic", ""),
    ("generic", "unknown"),
    ("generic", "garbage!!"),
    ("generic", "1:1.2"),  # epochs belong to distribution schemes
    ("generic", "1.2 (beta)"),
    ("Debian", "garbage"),
    ("Alpine", "1.0.0-rc1"),  # Alpine spells it 1.0.0_rc1
    ("semver", "1.0.1f"),  # not reinterpreted as a pre-release of 1.0.1
    ("semver", "1.2.3.4"),
    ("PyPI", "1.0.1f"),
]


@pytest.mark.parametrize(("scheme", "version"), INVALID)
def test_unparsable(scheme: str, version: str) -> None:
    with pytest.raises(VersionError, match="valid|empty"):
        parse_version(version, scheme_for(scheme))


@pytest.mark.parametrize(("eco", "name"), [
    ("Debian:12", "FastDebianVersion"), ("Ubuntu:22.04:LTS", "FastDebianVersion"),
    ("deb", "FastDebianVersion"), ("Alpine:v3.19", "AlpineLinuxVersion"),
    ("apk", "AlpineLinuxVersion"), ("PyPI", "PypiVersion"), ("NVD", "FirmwareVersion"),
    ("generic", "FirmwareVersion"), ("OpenWrt", "FirmwareVersion"),
    ("OSS-Fuzz", "FirmwareVersion"), ("SEMVER", "StrictSemverVersion"),
])
def test_scheme_for(eco: str, name: str) -> None:
    assert scheme_for(eco).__name__ == name


def test_scheme_for_unknown() -> None:
    with pytest.raises(UnsupportedScheme):
        scheme_for("Maven")


# --------------------------------------------------------------------------------------
# NVD cpeMatch: (id, version, criteria kwargs, expected range or None, fixed)

CPE = [
    # each boundary, both sides
    ("start_incl-on", "1.2.0", {"start_incl": "1.2.0"}, ">=1.2.0", None),
    ("start_incl-below", "1.1.9", {"start_incl": "1.2.0"}, None, None),
    ("start_excl-on", "1.2.0", {"start_excl": "1.2.0"}, None, None),
    ("start_excl-above", "1.2.1", {"start_excl": "1.2.0"}, ">1.2.0", None),
    ("end_incl-on", "2.0", {"end_incl": "2.0"}, "<=2.0", None),
    ("end_incl-above", "2.0.1", {"end_incl": "2.0"}, None, None),
    ("end_excl-on", "2.0", {"end_excl": "2.0"}, None, None),
    ("end_excl-below", "1.9.9", {"end_excl": "2.0"}, "<2.0", "2.0"),
    ("both-inside", "5.6.1", {"start_incl": "5.6.0", "end_excl": "5.6.2"},
     ">=5.6.0, <5.6.2", "5.6.2"),
    ("both-start", "5.6.0", {"start_incl": "5.6.0", "end_excl": "5.6.2"},
     ">=5.6.0, <5.6.2", "5.6.2"),
    ("both-end", "5.6.2", {"start_incl": "5.6.0", "end_excl": "5.6.2"}, None, None),
    ("both-below", "5.4.1", {"start_incl": "5.6.0", "end_excl": "5.6.2"}, None, None),
    ("excl-excl-inside", "1.5", {"start_excl": "1.0", "end_excl": "2.0"}, ">1.0, <2.0", "2.0"),
    ("incl-incl-end", "2.0", {"start_incl": "1.0", "end_incl": "2.0"}, ">=1.0, <=2.0", None),
    # exact versions and wildcards
    ("exact-equal", "1.2.3", {"exact": "1.2.3"}, "=1.2.3", None),
    ("exact-other", "1.2.4", {"exact": "1.2.3"}, None, None),
    ("exact-scheme-equal", "1.2.0", {"exact": "1.2"}, "=1.2", None),
    ("exact-escaped", "1.0.2k", {"exact": "1.0.2\\k"}, "=1.0.2k", None),
    ("exact-letter-other", "1.0.2j", {"exact": "1.0.2k"}, None, None),
    ("any", "3.1", {"exact": "*"}, "*", None),
    ("any-none", "3.1", {}, "*", None),
    ("na", "3.1", {"exact": "-"}, None, None),
    ("exact-and-any-bound", "1.2.3", {"exact": "*", "start_incl": "1.2.3"}, ">=1.2.3", None),
    # pre-releases
    ("pre-before-end_excl", "1.0.0-rc1", {"end_excl": "1.0.0"}, "<1.0.0", "1.0.0"),
    ("pre-before-start_incl", "1.0.0-rc1", {"start_incl": "1.0.0"}, None, None),
    # openssl: Heartbleed, CVE-2014-0160
    ("heartbleed-1.0.1", "1.0.1", {"start_incl": "1.0.1", "end_excl": "1.0.1g"},
     ">=1.0.1, <1.0.1g", "1.0.1g"),
    ("heartbleed-1.0.1f", "1.0.1f", {"start_incl": "1.0.1", "end_excl": "1.0.1g"},
     ">=1.0.1, <1.0.1g", "1.0.1g"),
    ("heartbleed-1.0.1g", "1.0.1g", {"start_incl": "1.0.1", "end_excl": "1.0.1g"}, None, None),
    ("heartbleed-1.0.0t", "1.0.0t", {"start_incl": "1.0.1", "end_excl": "1.0.1g"}, None, None),
    ("heartbleed-1.0.2", "1.0.2", {"start_incl": "1.0.1", "end_excl": "1.0.1g"}, None, None),
    ("letter-1.1.1-before-1.1.1a", "1.1.1", {"end_excl": "1.1.1a"}, "<1.1.1a", "1.1.1a"),
    ("letter-1.1.1a-not-before", "1.1.1a", {"end_excl": "1.1.1a"}, None, None),
    # openssh portable releases
    ("openssh-9.2p1", "9.2p1", {"start_incl": "8.5p1", "end_excl": "9.3p1"},
     ">=8.5p1, <9.3p1", "9.3p1"),
    ("openssh-9.3", "9.3", {"start_incl": "8.5p1", "end_excl": "9.3p1"},
     ">=8.5p1, <9.3p1", "9.3p1"),
    ("openssh-9.3p1", "9.3p1", {"start_incl": "8.5p1", "end_excl": "9.3p1"}, None, None),
    ("openssh-8.5", "8.5", {"start_incl": "8.5p1", "end_excl": "9.3p1"}, None, None),
    # xz backdoor, CVE-2024-3094: NVD lists the two releases as exact versions
    ("xz-5.6.0", "5.6.0", {"exact": "5.6.0"}, "=5.6.0", None),
    ("xz-5.6.1", "5.6.1", {"exact": "5.6.1"}, "=5.6.1", None),
    ("xz-5.4.1-vs-5.6.0", "5.4.1", {"exact": "5.6.0"}, None, None),
    ("xz-5.4.1-vs-5.6.1", "5.4.1", {"exact": "5.6.1"}, None, None),
    # unparsable component or boundary: no match, never a guess
    ("version-unknown", "unknown", {"end_excl": "2.0"}, None, None),
    ("version-empty", "", {}, None, None),
    ("bound-garbage", "1.0", {"end_excl": "n/a!"}, None, None),
    ("exact-garbage", "1.0", {"exact": "n/a!"}, None, None),
]


@pytest.mark.parametrize(("version", "criteria", "expected", "fixed"),
                         [r[1:] for r in CPE], ids=[r[0] for r in CPE])
def test_cpe_range(version: str, criteria: dict[str, str], expected: str | None,
                   fixed: str | None) -> None:
    notes: list[str] = []
    got = in_cpe_range(version, notes=notes, **criteria)
    if expected is None:
        assert got is None
    else:
        assert got == MatchDetail(range=expected, fixed=fixed)
        assert notes == []


CPE_DEBIAN = [
    ("epoch-above", "1:1.2", {"start_incl": "2.0"}, ">=2.0"),
    ("epoch-not-below", "1:1.2", {"end_excl": "2.0"}, None),
    ("revision-below-security", "1.2-1", {"end_excl": "1.2-1+deb12u1"}, "<1.2-1+deb12u1"),
    ("revision-security-fixed", "1.2-1+deb12u1", {"end_excl": "1.2-1+deb12u1"}, None),
    ("revision-next-fixed", "1.2-2", {"end_excl": "1.2-1+deb12u1"}, None),
    ("revision-security-below-next", "1.2-1+deb12u1", {"end_excl": "1.2-2"}, "<1.2-2"),
]


@pytest.mark.parametrize(("version", "criteria", "expected"), [r[1:] for r in CPE_DEBIAN],
                         ids=[r[0] for r in CPE_DEBIAN])
def test_cpe_range_debian_scheme(version: str, criteria: dict[str, str],
                                 expected: str | None) -> None:
    got = in_cpe_range(version, scheme="Debian", **criteria)
    assert (got.range if got else None) == expected


def test_cpe_unparsable_reason() -> None:
    notes: list[str] = []
    assert in_cpe_range("unknown", end_excl="2.0", notes=notes) is None
    assert notes and "'unknown' is not a valid Firmware version" in notes[0]
    notes.clear()
    assert in_cpe_range("1.0", end_excl="n/a!", notes=notes) is None
    assert notes and "boundary" in notes[0]
    notes.clear()
    assert in_cpe_range("1.0", exact="-", notes=notes) is None
    assert notes and "not applicable" in notes[0]


# --------------------------------------------------------------------------------------
# OSV: (id, version, ranges, versions, ecosystem, expected range or None, fixed)


def _eco(*events: dict[str, str], kind: str = "ECOSYSTEM") -> dict[str, Any]:
    return {"type": kind, "events": list(events)}


I0, F102K = {"introduced": "0"}, {"fixed": "1.0.2k"}
TWO_WINDOWS = _eco({"introduced": "1.0"}, {"fixed": "1.1"}, {"introduced": "2.0"},
                   {"fixed": "2.1"})
SHUFFLED = _eco({"fixed": "2.1"}, {"introduced": "2.0"}, {"fixed": "1.1"},
                {"introduced": "1.0"})
LAST = _eco({"introduced": "1.0"}, {"last_affected": "1.4"})
LIMIT = _eco({"introduced": "1.0"}, {"limit": "2.0"})
XZ = _eco({"introduced": "5.6.0"}, {"fixed": "5.6.2"})

OSV = [
    # introduced "0"
    ("intro0-below-fixed", "1.0.2j", [_eco(I0, F102K)], None, "OSS-Fuzz",
     "introduced 0, fixed 1.0.2k", "1.0.2k"),
    ("intro0-ancient", "0.9.8", [_eco(I0, F102K)], None, "OSS-Fuzz",
     "introduced 0, fixed 1.0.2k", "1.0.2k"),
    ("intro0-fixed", "1.0.2k", [_eco(I0, F102K)], None, "OSS-Fuzz", None, None),
    ("intro0-after-fixed", "1.1.0", [_eco(I0, F102K)], None, "OSS-Fuzz", None, None),
    ("intro0-no-fix", "99.0", [_eco(I0)], None, "OSS-Fuzz", "introduced 0", None),
    # introduced
    ("introduced-on", "1.0", [LAST], None, "OSS-Fuzz", "introduced 1.0, last_affected 1.4",
     None),
    ("introduced-below", "0.9", [LAST], None, "OSS-Fuzz", None, None),
    # last_affected: inclusive
    ("last_affected-on", "1.4", [LAST], None, "OSS-Fuzz", "introduced 1.0, last_affected 1.4",
     None),
    ("last_affected-above", "1.4.1", [LAST], None, "OSS-Fuzz", None, None),
    # fixed: exclusive
    ("fixed-below", "5.6.1", [XZ], None, "OSS-Fuzz", "introduced 5.6.0, fixed 5.6.2", "5.6.2"),
    ("fixed-on", "5.6.2", [XZ], None, "OSS-Fuzz", None, None),
    # limit: exclusive upper bound on the whole range; "*" is no limit
    ("limit-below", "1.5", [LIMIT], None, "OSS-Fuzz", "introduced 1.0, limit 2.0", None),
    ("limit-on", "2.0", [LIMIT], None, "OSS-Fuzz", None, None),
    ("limit-star", "7.0", [_eco({"introduced": "1.0"}, {"limit": "*"})], None, "OSS-Fuzz",
     "introduced 1.0, limit *", None),
    ("limit-cuts-fixed-range", "1.9",
     [_eco({"introduced": "1.0"}, {"fixed": "3.0"}, {"limit": "1.5"})], None, "OSS-Fuzz",
     None, None),
    # several windows in one range, in any order
    ("window-1", "1.0.5", [TWO_WINDOWS], None, "OSS-Fuzz", "introduced 1.0, fixed 1.1", "1.1"),
    ("window-gap", "1.5", [TWO_WINDOWS], None, "OSS-Fuzz", None, None),
    ("window-2", "2.0.3", [TWO_WINDOWS], None, "OSS-Fuzz", "introduced 2.0, fixed 2.1", "2.1"),
    ("window-after", "2.1", [TWO_WINDOWS], None, "OSS-Fuzz", None, None),
    ("shuffled-window-2", "2.0.3", [SHUFFLED], None, "OSS-Fuzz", "introduced 2.0, fixed 2.1",
     "2.1"),
    ("shuffled-gap", "1.5", [SHUFFLED], None, "OSS-Fuzz", None, None),
    # several ranges: any one matching is enough
    ("ranges-second", "2.0.5",
     [_eco({"introduced": "1.0"}, {"fixed": "1.1"}), _eco({"introduced": "2.0"}, {"fixed": "2.1"})],
     None, "OSS-Fuzz", "introduced 2.0, fixed 2.1", "2.1"),
    ("ranges-none", "1.5",
     [_eco({"introduced": "1.0"}, {"fixed": "1.1"}), _eco({"introduced": "2.0"}, {"fixed": "2.1"})],
     None, "OSS-Fuzz", None, None),
    # explicit versions list
    ("versions-listed", "1.3.7", [], ["1.3.6", "1.3.7"], "OSS-Fuzz", "listed version 1.3.7", None),
    ("versions-not-listed", "1.3.8", [], ["1.3.6", "1.3.7"], "OSS-Fuzz", None, None),
    ("versions-literal", "r1234", [_eco(I0)], ["r1234"], "OSS-Fuzz", "listed version r1234",
     None),  # not a version in the scheme, but listed verbatim: exact, not a guess
    ("versions-literal-other", "r1235", [_eco(I0)], ["r1234"], "OSS-Fuzz", None, None),
    ("versions-scheme-equal", "1.3.0", None, ["1.3"], "OSS-Fuzz", "listed version 1.3", None),
    ("versions-besides-ranges", "0.5", [XZ], ["0.5"], "OSS-Fuzz", "listed version 0.5", None),
    # GIT ranges are skipped, even one that would cover everything
    ("git-skipped", "1.0", [_eco(I0, kind="GIT")], None, "OSS-Fuzz", None, None),
    ("git-then-ecosystem", "1.0", [_eco(I0, kind="GIT"), _eco(I0, {"fixed": "2.0"})], None,
     "OSS-Fuzz", "introduced 0, fixed 2.0", "2.0"),
    # SEMVER ranges, whatever the ecosystem
    ("semver-prerelease", "1.0.0-rc1", [_eco(I0, {"fixed": "1.0.0"}, kind="SEMVER")], None,
     "npm", "introduced 0, fixed 1.0.0", "1.0.0"),
    ("semver-release", "1.0.0", [_eco(I0, {"fixed": "1.0.0"}, kind="SEMVER")], None, "npm",
     None, None),
    ("semver-not-semver", "1.0.0f", [_eco(I0, {"fixed": "2.0.0"}, kind="SEMVER")], None, "npm",
     None, None),
    # pre-releases in the generic scheme
    ("generic-prerelease", "1.0.0-rc1", [_eco({"introduced": "0.9"}, {"fixed": "1.0.0"})], None,
     "OSS-Fuzz", "introduced 0.9, fixed 1.0.0", "1.0.0"),
    ("generic-release", "1.0.0", [_eco({"introduced": "0.9"}, {"fixed": "1.0.0"})], None,
     "OSS-Fuzz", None, None),
    # openssl letters
    ("heartbleed-1.0.1f", "1.0.1f", [_eco({"introduced": "1.0.1"}, {"fixed": "1.0.1g"})], None,
     "OSS-Fuzz", "introduced 1.0.1, fixed 1.0.1g", "1.0.1g"),
    ("heartbleed-1.0.1g", "1.0.1g", [_eco({"introduced": "1.0.1"}, {"fixed": "1.0.1g"})], None,
     "OSS-Fuzz", None, None),
    # xz backdoor, CVE-2024-3094
    ("xz-5.6.0", "5.6.0", [XZ], None, "OSS-Fuzz", "introduced 5.6.0, fixed 5.6.2", "5.6.2"),
    ("xz-5.6.1", "5.6.1", [XZ], None, "OSS-Fuzz", "introduced 5.6.0, fixed 5.6.2", "5.6.2"),
    ("xz-5.4.1", "5.4.1", [XZ], None, "OSS-Fuzz", None, None),
    # Debian: epochs and revisions (backported fixes)
    ("debian-epoch-beats-2.0", "1:1.2", [_eco(I0, {"fixed": "2.0"})], None, "Debian:12",
     None, None),
    ("debian-no-epoch", "1.9", [_eco(I0, {"fixed": "2.0"})], None, "Debian:12",
     "introduced 0, fixed 2.0", "2.0"),
    ("debian-revision-before-dsa", "1.2-1", [_eco(I0, {"fixed": "1.2-1+deb12u1"})], None,
     "Debian:12", "introduced 0, fixed 1.2-1+deb12u1", "1.2-1+deb12u1"),
    ("debian-revision-dsa", "1.2-1+deb12u1", [_eco(I0, {"fixed": "1.2-1+deb12u1"})], None,
     "Debian:12", None, None),
    ("debian-revision-next", "1.2-2", [_eco(I0, {"fixed": "1.2-1+deb12u1"})], None,
     "Debian:12", None, None),
    ("debian-openssh-backport", "1:9.2p1-2+deb12u2",
     [_eco(I0, {"fixed": "1:9.2p1-2+deb12u3"})], None, "Debian:12",
     "introduced 0, fixed 1:9.2p1-2+deb12u3", "1:9.2p1-2+deb12u3"),
    ("debian-openssh-fixed", "1:9.2p1-2+deb12u3", [_eco(I0, {"fixed": "1:9.2p1-2+deb12u3"})],
     None, "Debian:12", None, None),
    # Alpine revisions
    ("alpine-r4", "3.1.4-r4", [_eco(I0, {"fixed": "3.1.4-r5"})], None, "Alpine:v3.19",
     "introduced 0, fixed 3.1.4-r5", "3.1.4-r5"),
    ("alpine-r5", "3.1.4-r5", [_eco(I0, {"fixed": "3.1.4-r5"})], None, "Alpine:v3.19",
     None, None),
    # unparsable: no match
    ("version-unknown", "unknown", [_eco(I0, {"fixed": "2.0"})], None, "OSS-Fuzz", None, None),
    ("event-garbage", "1.0", [_eco(I0, {"fixed": "n/a!"})], None, "OSS-Fuzz", None, None),
    ("debian-garbage", "garbage", [_eco(I0)], None, "Debian", None, None),
    ("ecosystem-unknown", "1.0", [_eco(I0)], None, "Maven", None, None),
]


@pytest.mark.parametrize(("version", "ranges", "versions", "ecosystem", "expected", "fixed"),
                         [r[1:] for r in OSV], ids=[r[0] for r in OSV])
def test_osv_range(version: str, ranges: list | None, versions: list | None, ecosystem: str,
                   expected: str | None, fixed: str | None) -> None:
    got = in_osv_range(version, ranges, versions, ecosystem)
    if expected is None:
        assert got is None
    else:
        assert got == MatchDetail(range=expected, fixed=fixed)
    # the stored form (JSON text) gives the same answer
    again = in_osv_range(version, json.dumps(ranges), json.dumps(versions), ecosystem)
    assert again == got


def test_tables_probe_both_outcomes() -> None:
    """A table that only ever expects matches (or only misses) would pass for a matcher that
    always answers the same: both outcomes must be present, for every kind of row."""
    for table, col in ((CPE, 3), (OSV, 5)):
        kinds: dict[str, set[bool]] = {}
        for row in table:
            kinds.setdefault(row[0].split("-")[0], set()).add(row[col] is None)
        assert {True, False} <= set().union(*kinds.values())
    osv_kinds = {"intro0", "last_affected", "fixed", "limit", "window", "ranges", "versions",
                 "semver", "heartbleed", "xz", "alpine"}
    for kind in osv_kinds:
        outcomes = {row[5] is None for row in OSV if row[0].split("-")[0] == kind}
        assert outcomes == {True, False}, kind


@pytest.mark.parametrize(("version", "ranges", "ecosystem", "reason"), [
    ("unknown", [_eco(I0)], "OSS-Fuzz", "'unknown' is not a valid Firmware version"),
    ("1.0", [_eco(I0, {"fixed": "n/a!"})], "OSS-Fuzz", "fixed event"),
    ("1.0", [_eco(I0, kind="GIT")], "OSS-Fuzz", "GIT range skipped"),
    ("1.0", [_eco(I0)], "Maven", "no version scheme for ecosystem 'Maven'"),
    ("1.0.1f", [_eco(I0, kind="SEMVER")], "npm", "not a valid StrictSemver version"),
])
def test_osv_reasons(version: str, ranges: list, ecosystem: str, reason: str) -> None:
    notes: list[str] = []
    assert in_osv_range(version, ranges, None, ecosystem, notes=notes) is None
    assert any(reason in n for n in notes), notes


# --------------------------------------------------------------------------------------
# Product identity (data/vuln_products.yaml)


def _fingerprint_products() -> set[str]:
    base = resources.files("spyproof.data").joinpath("fingerprints")
    names = set()
    for entry in base.iterdir():
        if entry.name.endswith(".yaml"):
            doc = yaml.safe_load(entry.read_text(encoding="utf-8"))
            docs = doc if isinstance(doc, list) else [doc]
            names |= {d["product"] for d in docs if isinstance(d, dict) and "product" in d}
    return names


def test_every_fingerprinted_product_has_identity() -> None:
    fingerprinted = _fingerprint_products()
    assert len(fingerprinted) > 50
    assert fingerprinted <= set(products())
    missing = sorted(n for n in fingerprinted if vuln_identity(n) is None)
    assert missing == []


def test_every_product_has_identity_and_its_cpe_first() -> None:
    ids = vuln_identities()
    assert set(ids) == set(products())
    for name, p in products().items():
        ident = ids[name]
        assert ident.cpes[0] == (p.cpe_vendor, p.cpe_product), name
        assert len(set(ident.cpes)) == len(ident.cpes), name
        assert ident.sources, name
        assert all(s.startswith("https://") for s in ident.sources), name


def test_osv_ecosystems_have_a_scheme() -> None:
    for ident in vuln_identities().values():
        for eco, package in ident.osv_names.items():
            scheme_for(eco)
            assert package and package == package.strip(), (ident.name, eco)


def test_curated_pairs() -> None:
    assert vuln_identity("dropbear").cpes == [("dropbear_ssh_project", "dropbear_ssh")]
    assert vuln_identity("curl").cpes == [("haxx", "curl"), ("haxx", "libcurl")]
    assert vuln_identity("linux_kernel").cpes == [("linux", "linux_kernel")]
    assert vuln_identity("xz").cpes == [("tukaani", "xz")]
    assert vuln_identity("xz").osv_names["Debian"] == "xz-utils"
    assert vuln_identity("openssl").osv_names == {"Debian": "openssl", "Alpine": "openssl",
                                                  "OSS-Fuzz": "openssl"}
    assert vuln_identity("no-such-product") is None


def test_known_bad_pairs_never_used() -> None:
    bad = known_bad_cpes()
    assert bad and all(b.why and b.source.startswith("https://") for b in bad)
    for ident in vuln_identities().values():
        for b in known_bad_cpes(ident.name):
            assert b.cpe not in ident.cpes, (ident.name, b.cpe)
    assert ("openbsd", "openbsd") in {b.cpe for b in known_bad_cpes("openssh")}
    assert ("libssh", "libssh") in {b.cpe for b in known_bad_cpes("libssh2")}
    assert ("openwrt", "openwrt") in {b.cpe for b in known_bad_cpes("uhttpd")}


def test_cpe_pairs_not_shared_between_products() -> None:
    """A pair queried for two products would report one product's CVEs against the other;
    only curl/libcurl (one project, CVEs filed under either name) share pairs."""
    owners: dict[tuple[str, str], set[str]] = {}
    for ident in vuln_identities().values():
        for pair in ident.cpes:
            owners.setdefault(pair, set()).add(ident.name)
    shared = {pair: names for pair, names in owners.items() if len(names) > 1}
    assert shared == {("haxx", "curl"): {"curl", "libcurl"},
                      ("haxx", "libcurl"): {"curl", "libcurl"}}


def test_fast_debian_order_equals_univers_dpkg_order() -> None:
    """The native sort key orders exactly like univers' character-by-character dpkg
    comparison: documented tricky cases and 2,000 random versions, 30,000 random pairs."""
    import itertools
    import random

    from univers.versions import DebianVersion

    from spyproof.vulns.ranges import FastDebianVersion

    rnd = random.Random(7)
    alphabet = "0123456789.~+-abz"
    texts = ["1.0", "1.00", "1.0~rc1", "1.0~", "1.0~~", "1.0.1", "1:0.9", "1.0a", "1.0a0",
             "1.0-0", "2.36-9", "2.36-9+deb12u4", "2.36-9+deb12u10", "2.36-9~bpo12+1",
             "1.2.13.dfsg-1", "1.2.13.dfsg-1+deb12u1", "2022.83-1+deb12u1", "0", "~", "~~",
             "~~a", "a"]
    texts += [str(rnd.randint(0, 9)) + "".join(rnd.choice(alphabet)
                                                for _ in range(rnd.randint(0, 8)))
              for _ in range(2000)]
    pairs = []
    for t in texts:
        try:
            pairs.append((t, DebianVersion(t), FastDebianVersion(t)))
        except Exception:  # not a Debian version at all
            continue
    assert len(pairs) > 1500
    sample = [(rnd.choice(pairs), rnd.choice(pairs)) for _ in range(30_000)]
    sample += list(itertools.product(pairs[:22], pairs[:22]))
    for (a, ua, fa), (b, ub, fb) in sample:
        assert (ua < ub, ua > ub) == (fa < fb, fa > fb), (a, b)
