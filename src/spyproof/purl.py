"""Package URLs as spyproof reads them: a bad purl is absent, never an exception."""

from __future__ import annotations

from packageurl import PackageURL


def parse_purl(purl: str | None) -> PackageURL | None:
    """The parsed purl, or None when it is missing or malformed."""
    if not purl:
        return None
    try:
        return PackageURL.from_string(purl)
    except ValueError:
        return None
