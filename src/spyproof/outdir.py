"""The output directory rule every verb that writes a report follows: an existing
non-empty directory is reused only with --force, so a previous report is never mixed
with a new one by accident."""

from __future__ import annotations

from pathlib import Path


def prepare_out_dir(out: Path, force: bool, error: type[Exception]) -> None:
    """Create ``out`` or accept it; raise ``error`` with a one-line message otherwise."""
    if out.exists() and not out.is_dir():
        raise error(f"{out}: output path exists and is not a directory")
    if out.is_dir() and any(out.iterdir()) and not force:
        raise error(f"{out}: output directory is not empty (use --force to reuse it)")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise error(f"{out}: cannot create output directory: {exc.strerror}") from None
