"""Write a report's SBOM to disk, whole or not at all."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from spyproof.models import Report
from spyproof.report.writer import write_text_atomic

SbomFormat = Literal["cyclonedx", "spdx"]
FORMATS: tuple[SbomFormat, ...] = ("cyclonedx", "spdx")


def render_sbom(report: Report, fmt: SbomFormat = "cyclonedx") -> str:
    if fmt == "cyclonedx":
        from spyproof.report.cyclonedx import to_cyclonedx

        return to_cyclonedx(report)
    if fmt == "spdx":
        from spyproof.report.spdx import to_spdx

        return to_spdx(report)
    raise ValueError(f"unknown SBOM format {fmt!r} (expected one of {', '.join(FORMATS)})")


def write_sbom(report: Report, path: Path, fmt: SbomFormat = "cyclonedx") -> None:
    """Render the SBOM (CycloneDX 1.6 or SPDX 2.3 JSON) and write it atomically."""
    write_text_atomic(path, render_sbom(report, fmt))
