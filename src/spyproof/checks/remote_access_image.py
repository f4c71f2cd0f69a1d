"""One extracted tree as the remote-access check sees it: paths resolved the way the device
would resolve them (inside the tree only), programs found on the device's PATH, and capped,
never-failing reads that leave a note when they skip or cut something."""

from __future__ import annotations

import fnmatch
import posixpath

from spyproof.checks.base import REGULAR, CheckContext
from spyproof.models import EntryKind, FileEntry, FileType

PATH_DIRS = ("bin", "sbin", "usr/bin", "usr/sbin", "usr/local/bin", "usr/local/sbin")
SCRIPT_MAX_BYTES = 1024 * 1024  # boot scripts and configs are small; read no more of any
MULTI_CALL = ("busybox", "toybox")
_TEXTUAL = {FileType.script, FileType.text, FileType.config, None}


class TreeImage:
    """Lookups and reads inside one tree of the image."""

    def __init__(self, ctx: CheckContext, tree: str, notes: list[str]) -> None:
        self.ctx = ctx
        self.tree = tree
        self.notes = notes
        self.entries = [f for f in ctx.files if f.tree == tree]
        self.paths = {f.path for f in self.entries}
        self.children: dict[str, list[FileEntry]] = {}
        for f in self.entries:
            self.children.setdefault(posixpath.dirname(f.path), []).append(f)
        self._texts: dict[str, str | None] = {}
        self._lines: dict[str, list[str]] = {}

    # -- lookups -----------------------------------------------------------------------------

    def exists(self, path: str) -> bool:
        return path.strip("/") in self.paths

    def entry(self, path: str) -> FileEntry | None:
        return self.ctx.entry(self.tree, path)

    def resolve(self, path: str) -> FileEntry | None:
        """The regular file ``path`` names on the device (symlinks followed in the tree)."""
        e = self.ctx.resolve(self.tree, path)
        return e if e is not None and e.kind in REGULAR else None

    def which(self, name: str) -> tuple[str, FileEntry | None] | None:
        """Where the device's shell would find a program named ``name``."""
        for d in PATH_DIRS:
            p = f"{d}/{name}"
            if p in self.paths:
                return p, self.resolve(p)
        return None

    def glob(self, pattern: str, *, regular: bool = True) -> list[FileEntry]:
        """Entries matching a shell pattern (``*`` does not cross ``/``), sorted by path;
        with ``regular``, directories and other special entries are left out."""
        level = [""]
        parts = [p for p in pattern.strip("/").split("/") if p]
        for k, part in enumerate(parts):
            last = k == len(parts) - 1
            nxt: list[str] = []
            for d in level:
                if not any(c in part for c in "*?["):
                    p = f"{d}/{part}" if d else part
                    if p in self.paths:
                        nxt.append(p)
                    continue
                nxt.extend(f.path for f in self.children.get(d, ())
                           if fnmatch.fnmatchcase(posixpath.basename(f.path), part)
                           and (last or f.kind in (EntryKind.directory, EntryKind.symlink)))
            level = nxt
        out = []
        for p in sorted(set(level)):
            f = self.entry(p)
            if f is None or (regular and f.kind not in REGULAR and f.kind != EntryKind.symlink):
                continue
            out.append(f)
        return out

    def under(self, directory: str) -> list[FileEntry]:
        """Every entry below a directory (any depth), sorted by path."""
        d = directory.strip("/") + "/"
        return sorted((f for f in self.entries if f.path.startswith(d)), key=lambda f: f.path)

    def is_script(self, entry: FileEntry | None) -> bool:
        """Whether a shell could run this file as a script (not an ELF, not binary data)."""
        if entry is None or entry.kind not in REGULAR or entry.file_type not in _TEXTUAL:
            return False
        interp = posixpath.basename((entry.interpreter or "").split(" ")[0])
        return entry.file_type != FileType.script or interp in ("", "sh", "ash", "bash", "dash",
                                                                "busybox", "hush", "ksh")

    def is_multi_call(self, entry: FileEntry | None) -> bool:
        return entry is not None and posixpath.basename(entry.path).startswith(MULTI_CALL)

    # -- reads -------------------------------------------------------------------------------

    def read_text(self, entry: FileEntry) -> str | None:
        """The file's text (first ``SCRIPT_MAX_BYTES``), or None with a note on why not."""
        if entry.path in self._texts:
            return self._texts[entry.path]
        text: str | None = None
        try:
            data, truncated = self.ctx.read(entry, SCRIPT_MAX_BYTES)
        except OSError as exc:
            self.notes.append(f"{self.tree}/{entry.path}: not read: {exc.strerror or exc}")
        else:
            if truncated:
                self.notes.append(f"{self.tree}/{entry.path}: only the first {SCRIPT_MAX_BYTES} "
                                  f"of {entry.size} bytes read")
            text = data.decode("utf-8", errors="replace")
        self._texts[entry.path] = text
        return text

    def line_text(self, entry: FileEntry, line: int) -> str:
        """The text of one line (for evidence), trimmed."""
        lines = self._lines.get(entry.path)
        if lines is None:
            lines = self._lines[entry.path] = (self.read_text(entry) or "").split("\n")
        if 1 <= line <= len(lines):
            return lines[line - 1].strip()[:300]
        return ""
