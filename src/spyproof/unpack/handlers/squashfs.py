"""SquashFS 4.0 handlers for unblob that extract with spyproof's own reader.

unblob's ``SquashFSv4LEHandler``/``SquashFSv4BEHandler`` run ``sasquatch``, which
neither Debian nor PyPI ship.  These subclasses keep unblob's names, patterns and
``calculate_chunk`` and swap in an extractor backed by
:func:`spyproof.unpack.squashfs_reader.extract_squashfs` (pure Python, both byte
orders, all six compressors).

Failures reach unblob as :class:`unblob.models.ExtractError`:

* a corrupt image -> :class:`SquashfsErrorReport` (``text`` starts with
  ``squashfs.corrupt:``), plus the problems met before the failure;
* a cap of :mod:`spyproof.unpack.limits` -> :class:`LimitReport` (``text`` starts
  with ``limit.``; ``cap`` and ``detail`` keep the breach), plus the problems met
  before it.  What was extracted before either stays on disk.
"""

from __future__ import annotations

from pathlib import Path

from unblob.handlers.filesystem.squashfs import SquashFSv4BEHandler, SquashFSv4LEHandler
from unblob.models import ExtractError, Extractor, ExtractResult
from unblob.report import ErrorReport, Severity, register_report_types

from spyproof.unpack.limits import LimitExceeded
from spyproof.unpack.squashfs_reader import SquashfsError, extract_squashfs

__all__ = [
    "LimitReport",
    "SQUASHFS_HANDLERS",
    "SpyproofSquashFSExtractor",
    "SquashFSv4BEReaderHandler",
    "SquashFSv4LEReaderHandler",
    "SquashfsErrorReport",
]


class LimitReport(ErrorReport):
    """An extraction cap was reached; the output is partial."""

    severity: Severity = Severity.WARNING
    cap: str
    detail: str
    text: str = ""

    def model_post_init(self, _context) -> None:
        if not self.text:
            self.text = f"limit.{self.cap}: {self.detail}"


class SquashfsErrorReport(ErrorReport):
    """The image could not be read (or stopped being readable part-way)."""

    severity: Severity = Severity.ERROR
    message: str
    text: str = ""

    def model_post_init(self, _context) -> None:
        if not self.text:
            self.text = f"squashfs.corrupt: {self.message}"


register_report_types([LimitReport, SquashfsErrorReport])


class SpyproofSquashFSExtractor(Extractor):
    """Extracts SquashFS 4.0 (either byte order) without external tools."""

    def get_dependencies(self) -> list[str]:
        return []

    def extract(self, inpath: Path, outdir: Path) -> ExtractResult | None:
        try:
            _stats, reports = extract_squashfs(Path(inpath), Path(outdir))
        except LimitExceeded as exc:
            partial = list(getattr(exc, "reports", []))
            raise ExtractError(*partial, LimitReport(cap=exc.cap, detail=exc.detail)) from exc
        except SquashfsError as exc:
            raise ExtractError(*exc.reports, SquashfsErrorReport(message=str(exc))) from exc
        return ExtractResult(reports=reports)


class SquashFSv4LEReaderHandler(SquashFSv4LEHandler):
    EXTRACTOR = SpyproofSquashFSExtractor()


class SquashFSv4BEReaderHandler(SquashFSv4BEHandler):
    EXTRACTOR = SpyproofSquashFSExtractor()


SQUASHFS_HANDLERS = (SquashFSv4LEReaderHandler, SquashFSv4BEReaderHandler)
