"""Content-based version fingerprints: which third-party products (and versions) a file carries.

Fingerprints are data (``spyproof/data/fingerprints/<product>.yaml``, one file per product):
byte regexes with one capture group for the version, each with its public source. They are
matched on file *content* only, never on file names.

How a file is scanned (the whole image should cost little more than reading its bytes once):

1. One Hyperscan database holds every pattern (compiled in prefilter mode, so constructs
   Hyperscan lacks, such as lookarounds, are widened rather than refused) and every
   ``requires`` literal. Each file is mmap'ed and scanned once by it.
2. Hyperscan reports where a pattern may end. Only around those places Python's ``re`` runs
   the exact pattern to extract the version group, so the expensive engine touches a few
   hundred bytes per hit instead of the whole file. (Without pyperscan, a pure-``re`` scan of
   each pattern over the file gives the same results, slower.)
3. Per-pattern gates: ``requires`` (literals that must occur in the same file), ``soname``
   (the pattern applies only to a shared library whose ELF DT_SONAME matches: used for
   libraries whose version is a bare string), ``unique`` (two different candidate versions in
   one file cancel each other: prefer no answer to a guessed one), ``scope`` (``elf``: ELF
   files only, the default; ``any``: any file, for kernel images and boot loaders).

Which files ``identify_by_fingerprint`` scans: every regular file whose type is ``elf``,
``data`` or ``archive`` (or unknown). ELF files get every pattern; other files only the
``scope: any`` patterns (Linux kernel, U-Boot). Scripts, text and configuration files are not
scanned: a version string in a script or a README says what something expects or prints, not
what is installed, and taking it would report versions that are not there.

Statically linked copies: a fingerprint may name its product's own shared libraries
(``library``: regexes on DT_SONAME; patterns marked ``program: true`` come from the product's
own programs, e.g. ``xz``, and are exempt from what follows). A match in an ELF file whose
soname is one of them is the library itself. A match in an ELF file that *needs* one of them
(DT_NEEDED) is the version of the headers that file was compiled against (e.g. ``OpenSSL
3.0.16`` inside a dynamically linked ``hostapd``), not a copy of the library: it is dropped,
because the running version is the one of the shared library. Any other ELF match is a
statically linked copy and goes into the component's ``static_in``.

Deliberately not covered: uClibc/uClibc-ng (its libc carries no version string; the version
is only in file names such as libuClibc-0.9.33.2.so, and fingerprints never read names).
"""

from __future__ import annotations

import mmap
import os
import re
import struct
import threading
import time
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from pathlib import Path

import yaml

from spyproof.identify.products import cpe23, generic_purl, products
from spyproof.models import Component, DuplicateGroup, Evidence, FileEntry, FileType

DATA_VERSION = 1
MAX_PATTERN_WIDTH = 4096          # longest possible match of one pattern, in bytes
_MARGIN = 64                      # extra context given to Python's re around a hit (lookaheads)
_MIN_ANCHOR = 6                   # literal anchors at least this long stand in for the regex
_CHUNK = 1 << 30                  # Hyperscan block size for very large files
_SCANNED_TYPES = {FileType.elf, FileType.data, FileType.archive, None}
_TRANSFORMS = {"none", "libxml2-int"}
_VERSION_OK = re.compile(r"[0-9][0-9A-Za-z.+~_-]{0,63}")


class FingerprintDataError(ValueError):
    """A fingerprint data file is malformed; the message names the file and the entry."""


@dataclass(frozen=True)
class Pattern:
    product: str
    id: str
    regex: bytes
    compiled: re.Pattern[bytes]
    confidence: float
    width: int
    requires: tuple[bytes, ...] = ()
    soname: re.Pattern[str] | None = None
    anchor: bytes | None = None
    scope: str = "elf"
    unique: bool = False
    transform: str = "none"
    presence_only: bool = False
    program: bool = False
    file: str = ""


@dataclass(frozen=True)
class Fingerprint:
    product: str
    source: str
    file: str
    library: tuple[re.Pattern[str], ...]
    patterns: tuple[Pattern, ...]


@dataclass
class Match:
    product: str
    version: str | None
    pattern_id: str
    offset: int
    text: str
    confidence: float


@dataclass
class FingerprintStats:
    files_scanned: int = 0
    bytes_scanned: int = 0
    skipped_unreadable: int = 0
    header_only: int = 0          # matches dropped: build-time header strings (see module doc)
    seconds: float = 0.0
    errors: list[str] = field(default_factory=list)


# --- loading ----------------------------------------------------------------------------


def _fail(file: str, entry: str | None, message: str) -> FingerprintDataError:
    where = f"{file}: {entry}" if entry else file
    return FingerprintDataError(f"fingerprint data {where}: {message}")


def _parser():
    parser = getattr(re, "_parser", None)
    if parser is None:  # pragma: no cover - Python < 3.11
        import sre_parse as parser  # type: ignore[no-redef]
    return parser


def _width(regex: str) -> tuple[int, int]:
    return _parser().parse(regex).getwidth()


def _anchor(regex: str) -> bytes | None:
    """The longest literal run at the top level of a regex (every match contains it)."""
    best: list[int] = []
    run: list[int] = []
    for op, av in _parser().parse(regex):
        if str(op) == "LITERAL":
            run.append(av)
            if len(run) > len(best):
                best = list(run)
        else:
            run = []
    return bytes(best) if len(best) >= _MIN_ANCHOR else None


def _parse_pattern(product: str, file: str, raw: object, index: int) -> Pattern:
    if not isinstance(raw, dict):
        raise _fail(file, f"patterns[{index}]", "must be a mapping")
    pid = raw.get("id")
    if not isinstance(pid, str) or not re.fullmatch(r"[a-z0-9][a-z0-9_.-]*", pid):
        raise _fail(file, f"patterns[{index}]", "needs an id of [a-z0-9_.-]")
    known = {"id", "regex", "confidence", "requires", "soname", "scope", "unique",
             "version_transform", "presence_only", "program", "note"}
    extra = set(raw) - known
    if extra:
        raise _fail(file, pid, f"unknown keys {sorted(extra)}")
    regex = raw.get("regex")
    if not isinstance(regex, str) or not regex:
        raise _fail(file, pid, "regex must be a non-empty string")
    try:
        rx = regex.encode("latin-1")
    except UnicodeEncodeError as exc:
        raise _fail(file, pid, "regex must be latin-1 (write other bytes as \\xNN)") from exc
    try:
        compiled = re.compile(rx, re.DOTALL)
    except re.error as exc:
        raise _fail(file, pid, f"regex does not compile: {exc}") from exc
    presence_only = bool(raw.get("presence_only", False))
    groups = 0 if presence_only else 1
    if compiled.groups != groups:
        raise _fail(file, pid, f"regex must have exactly {groups} capture group(s), "
                               f"has {compiled.groups}")
    lo, hi = _width(rx.decode("latin-1"))
    if lo == 0:
        raise _fail(file, pid, "regex can match the empty string")
    if hi > MAX_PATTERN_WIDTH:
        raise _fail(file, pid, f"regex must be bounded (at most {MAX_PATTERN_WIDTH} bytes "
                               "per match): use {m,n} instead of * and +")
    conf = raw.get("confidence")
    if not isinstance(conf, int | float) or not 0 < conf <= 1:
        raise _fail(file, pid, "confidence must be a number in (0, 1]")
    requires = raw.get("requires", [])
    if not isinstance(requires, list) or not all(isinstance(r, str) and len(r) >= 4
                                                   for r in requires):
        raise _fail(file, pid, "requires must be a list of literals of 4+ characters")
    soname = raw.get("soname")
    if soname is not None:
        if not isinstance(soname, str):
            raise _fail(file, pid, "soname must be a regex string")
        try:
            soname_rx: re.Pattern[str] | None = re.compile(soname)
        except re.error as exc:
            raise _fail(file, pid, f"soname regex does not compile: {exc}") from exc
    else:
        soname_rx = None
    scope = raw.get("scope", "elf")
    if scope not in ("elf", "any"):
        raise _fail(file, pid, "scope must be 'elf' or 'any'")
    transform = raw.get("version_transform", "none")
    if transform not in _TRANSFORMS:
        raise _fail(file, pid, f"version_transform must be one of {sorted(_TRANSFORMS)}")
    return Pattern(product=product, id=pid, regex=rx, compiled=compiled, confidence=float(conf),
                   width=hi, requires=tuple(r.encode("latin-1") for r in requires),
                   soname=soname_rx, anchor=_anchor(rx.decode("latin-1")), scope=scope,
                   unique=bool(raw.get("unique", False)),
                   transform=transform, presence_only=presence_only,
                   program=bool(raw.get("program", False)), file=file)


def parse_fingerprint(text: str, file: str) -> Fingerprint:
    """Parse and validate one fingerprint YAML document (``file`` names it in errors)."""
    try:
        raw = yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except yaml.YAMLError as exc:
        raise _fail(file, None, f"not valid YAML: {exc}") from exc
    if not isinstance(raw, dict):
        raise _fail(file, None, "must be a mapping")
    if raw.get("version") != DATA_VERSION:
        raise _fail(file, None, f"needs 'version: {DATA_VERSION}' at the top")
    extra = set(raw) - {"version", "product", "source", "library", "patterns", "notes"}
    if extra:
        raise _fail(file, None, f"unknown keys {sorted(extra)}")
    product = raw.get("product")
    if not isinstance(product, str) or product not in products():
        raise _fail(file, None, f"product {product!r} is not a canonical name in products.yaml")
    source = raw.get("source")
    if not isinstance(source, str) or not source.startswith(("https://", "http://")):
        raise _fail(file, None, "source must be the URL of the public reference")
    library = raw.get("library", [])
    if not isinstance(library, list) or not all(isinstance(x, str) for x in library):
        raise _fail(file, None, "library must be a list of DT_SONAME regexes")
    try:
        lib = tuple(re.compile(x) for x in library)
    except re.error as exc:
        raise _fail(file, "library", f"regex does not compile: {exc}") from exc
    pats = raw.get("patterns")
    if not isinstance(pats, list) or not pats:
        raise _fail(file, None, "patterns must be a non-empty list")
    parsed = tuple(_parse_pattern(product, file, p, i) for i, p in enumerate(pats))
    return Fingerprint(product=product, source=source, file=file, library=lib, patterns=parsed)


def load_fingerprints(directory: Path | None = None) -> tuple[Fingerprint, ...]:
    """Every fingerprint of a directory (default: the packaged data), validated."""
    if directory is None:
        root = resources.files("spyproof.data").joinpath("fingerprints")
        items = sorted((p.name, p.read_text(encoding="utf-8")) for p in root.iterdir()
                       if p.name.endswith(".yaml"))
    else:
        items = sorted((p.name, p.read_text(encoding="utf-8"))
                       for p in Path(directory).glob("*.yaml"))
    fps = tuple(parse_fingerprint(text, name) for name, text in items)
    seen: dict[str, str] = {}
    products_seen: dict[str, str] = {}
    for fp in fps:
        if fp.product in products_seen:
            raise _fail(fp.file, None, f"product {fp.product} also in {products_seen[fp.product]}")
        products_seen[fp.product] = fp.file
        for p in fp.patterns:
            if p.id in seen:
                raise _fail(fp.file, p.id, f"pattern id also used in {seen[p.id]}")
            seen[p.id] = fp.file
    return fps


# --- the scanner ------------------------------------------------------------------------


def _hs_literal(lit: bytes) -> bytes:
    return b"".join(b"\\x%02x" % c for c in lit)


class Engine:
    """All patterns compiled once; ``match_buffer`` scans one file's bytes."""

    def __init__(self, fingerprints: Iterable[Fingerprint], use_hyperscan: bool = True):
        self.fingerprints = tuple(fingerprints)
        self.patterns: tuple[Pattern, ...] = tuple(
            p for fp in self.fingerprints for p in fp.patterns)
        self.library = {fp.product: fp.library for fp in self.fingerprints}
        self.by_id = {p.id: p for p in self.patterns}
        self.literals: tuple[bytes, ...] = tuple(sorted(
            {r for p in self.patterns for r in p.requires}))
        self._lit_index = {lit: i for i, lit in enumerate(self.literals)}
        self._local = threading.local()
        self._dbs: dict[bool, object] | None = None
        if use_hyperscan:
            try:
                self._dbs = {elf: self._compile(elf) for elf in (True, False)}
            except ImportError:
                self._dbs = None

    def _compile(self, elf: bool) -> object:
        import pyperscan as ps

        exprs = []
        n = len(self.patterns)
        for i, p in enumerate(self.patterns):
            if not (elf or p.scope == "any"):
                continue
            if p.anchor is not None:  # a literal every match contains: cheapest to find
                exprs.append(ps.Pattern(_hs_literal(p.anchor), tag=i))
            else:  # the regex itself, widened where Hyperscan lacks a construct
                exprs.append(ps.Pattern(p.regex, ps.Flag.PREFILTER, ps.Flag.DOTALL, tag=i))
        for j, lit in enumerate(self.literals):
            exprs.append(ps.Pattern(_hs_literal(lit), ps.Flag.SINGLEMATCH, tag=n + j))
        try:
            return ps.BlockDatabase(*exprs)
        except Exception as exc:  # name the pattern Hyperscan refuses
            for p in self.patterns:
                try:
                    ps.BlockDatabase(ps.Pattern(p.regex, ps.Flag.PREFILTER, ps.Flag.DOTALL))
                except Exception as one:
                    raise _fail(p.file, p.id, f"Hyperscan refuses the regex: {one}") from exc
            raise

    @property
    def uses_hyperscan(self) -> bool:
        return self._dbs is not None

    def _scanner(self, elf: bool):
        scanners = getattr(self._local, "scanners", None)
        if scanners is None:
            scanners = self._local.scanners = {}
        sc = scanners.get(elf)
        if sc is None:
            import pyperscan as ps

            hits: list[tuple[int, int]] = []

            def on_match(ctx: list, tag: int, start: int, end: int) -> object:
                ctx.append((tag, end))
                return ps.Scan.Continue

            sc = scanners[elf] = (self._dbs[elf].build(hits, on_match), hits)
        return sc

    def _events(self, buf, elf: bool) -> tuple[dict[int, list[int]], set[bytes]]:
        """Pattern index -> candidate end offsets; the required literals present."""
        ends: dict[int, list[int]] = defaultdict(list)
        present: set[bytes] = set()
        n = len(self.patterns)
        size = len(buf)
        if self._dbs is not None:
            scanner, hits = self._scanner(elf)
            hits.clear()
            if size <= _CHUNK:
                scanner.scan(buf)
                raw = hits
            else:  # very large inputs: overlapping blocks, offsets made absolute
                raw = []
                overlap = MAX_PATTERN_WIDTH + _MARGIN
                view = memoryview(buf)
                for base in range(0, size, _CHUNK):
                    hits.clear()
                    scanner.scan(view[base:min(size, base + _CHUNK + overlap)])
                    raw.extend((t, e + base) for t, e in hits)
            for tag, end in raw:
                if tag < n:
                    ends[tag].append(end)
                else:
                    present.add(self.literals[tag - n])
            hits.clear()
            return ends, present
        # pure-Python fallback: same answers, slower (gates first, literal anchors by find)
        for lit in self.literals:
            if buf.find(lit) >= 0:
                present.add(lit)
        soname = elf_soname(buf) if elf and any(p.soname for p in self.patterns) else None
        for i, p in enumerate(self.patterns):
            if not elf and p.scope != "any":
                continue
            if not all(r in present for r in p.requires):
                continue
            if p.soname is not None and (soname is None or not p.soname.search(soname)):
                continue
            found: list[int] = []
            if p.anchor is not None:
                at = buf.find(p.anchor)
                while at >= 0:
                    found.append(at + len(p.anchor))
                    at = buf.find(p.anchor, at + 1)
            else:
                found = [m.end() for m in p.compiled.finditer(buf)]
            if found:
                ends[i] = found
        return ends, present

    def match_buffer(self, buf) -> list[Match]:
        """Every (product, version) found in ``buf`` (bytes, mmap or memoryview)."""
        size = len(buf)
        if size == 0:
            return []
        elf = buf[:4] == b"\x7fELF"
        ends, present = self._events(buf, elf)
        out: list[Match] = []
        soname: list[str | None] = []  # lazily parsed once
        for idx in sorted(ends):
            p = self.patterns[idx]
            if p.requires and not all(r in present for r in p.requires):
                continue
            if p.soname is not None:
                if not elf:
                    continue
                if not soname:
                    soname.append(elf_soname(buf))
                if soname[0] is None or not p.soname.search(soname[0]):
                    continue
            found = self._confirm(p, buf, sorted(set(ends[idx])), size)
            if p.unique and len({m.version for m in found}) > 1:
                continue
            out.extend(found)
        out.sort(key=lambda m: (m.product, m.version or "", m.offset, m.pattern_id))
        return out

    def _confirm(self, p: Pattern, buf, ends: list[int], size: int) -> list[Match]:
        found: dict[int, Match] = {}
        w = p.width
        i = 0
        while i < len(ends):  # cluster nearby candidate ends, run re once per cluster
            first = last = ends[i]
            i += 1
            while i < len(ends) and ends[i] - last <= w:
                last = ends[i]
                i += 1
            lo = max(0, first - w)
            hi = min(size, last + w + _MARGIN)
            for m in p.compiled.finditer(buf, lo, hi):
                if m.start() > last:
                    break
                if m.start() in found:
                    continue
                version = None if p.presence_only else _transform(p.transform, m.group(1))
                if not p.presence_only and version is None:
                    continue
                found[m.start()] = Match(product=p.product, version=version, pattern_id=p.id,
                                         offset=m.start(), text=_printable(m.group(0)),
                                         confidence=p.confidence)
        return list(found.values())


def _transform(kind: str, raw: bytes) -> str | None:
    text = raw.decode("latin-1")
    if kind == "libxml2-int":  # LIBXML_VERSION_STRING: major*10000 + minor*100 + micro
        if not text.isdigit():
            return None
        n = int(text)
        text = f"{n // 10000}.{n // 100 % 100}.{n % 100}"
    return text if _VERSION_OK.fullmatch(text) else None


def _printable(raw: bytes, limit: int = 200) -> str:
    out = []
    for c in raw[:limit]:
        if 0x20 <= c < 0x7F and c != 0x5C:
            out.append(chr(c))
        elif c == 0x5C:
            out.append("\\\\")
        else:
            out.append(f"\\x{c:02x}")
    return "".join(out) + ("..." if len(raw) > limit else "")


# --- ELF dynamic section (DT_SONAME) ----------------------------------------------------


def elf_soname(buf) -> str | None:
    """DT_SONAME of an ELF shared object, read from its dynamic segment; None when absent."""
    return elf_dynamic(buf)[0]


def elf_dynamic(buf) -> tuple[str | None, list[str]]:
    """(DT_SONAME, [DT_NEEDED...]) of an ELF file's dynamic segment; (None, []) if none."""
    try:
        return _elf_dynamic(buf)
    except (struct.error, IndexError, ValueError):
        return None, []


def _elf_dynamic(buf) -> tuple[str | None, list[str]]:
    if buf[:4] != b"\x7fELF":
        return None, []
    cls, data = buf[4], buf[5]
    end = "<" if data == 1 else ">"
    if cls == 2:
        phoff, = struct.unpack_from(end + "Q", buf, 0x20)
        phentsize, phnum = struct.unpack_from(end + "HH", buf, 0x36)
        ph = end + "IIQQQQQQ"
    else:
        phoff, = struct.unpack_from(end + "I", buf, 0x1C)
        phentsize, phnum = struct.unpack_from(end + "HH", buf, 0x2A)
        ph = end + "IIIIIIII"
    loads: list[tuple[int, int, int]] = []
    dyn: tuple[int, int] | None = None
    for k in range(min(phnum, 256)):
        fields = struct.unpack_from(ph, buf, phoff + k * phentsize)
        if cls == 2:
            p_type, _flags, off, vaddr, _pa, filesz = fields[:6]
        else:
            p_type, off, vaddr, _pa, filesz = fields[:5]
        if p_type == 1:
            loads.append((vaddr, off, filesz))
        elif p_type == 2:
            dyn = (off, filesz)
    if dyn is None:
        return None, []
    entry = end + ("qQ" if cls == 2 else "iI")
    esize = 16 if cls == 2 else 8
    strtab = soname = None
    needed: list[int] = []
    for k in range(min(dyn[1] // esize, 4096)):
        tag, val = struct.unpack_from(entry, buf, dyn[0] + k * esize)
        if tag == 0:
            break
        if tag == 5:
            strtab = val
        elif tag == 14:
            soname = val
        elif tag == 1:
            needed.append(val)
    if strtab is None:
        return None, []
    base = None
    for vaddr, off, filesz in loads:
        if vaddr <= strtab < vaddr + filesz:
            base = off + (strtab - vaddr)
    if base is None:
        return None, []

    def string(at: int) -> str | None:
        stop = buf.find(b"\x00", base + at, base + at + 256)
        return None if stop < 0 else bytes(buf[base + at:stop]).decode("latin-1")

    names = [n for n in (string(v) for v in needed) if n]
    return (string(soname) if soname is not None else None), names


# --- public API -------------------------------------------------------------------------


@cache
def default_engine() -> Engine:
    return Engine(load_fingerprints())


def match_file(path: Path, engine: Engine | None = None) -> list[Match]:
    """Every product/version found in one file, with offset and matched text.

    ELF files get every pattern, other files only the ``scope: any`` ones. Raises OSError
    when the file cannot be read.
    """
    eng = engine or default_engine()
    with open(path, "rb") as fh:
        size = os.fstat(fh.fileno()).st_size
        if size == 0:
            return []
        if size < 4096:
            return eng.match_buffer(fh.read())
        with mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as mm:
            return eng.match_buffer(mm)


def _qualified(entry: FileEntry) -> str:
    return f"{entry.tree}/{entry.path}"


def _any_match(rxs: Iterable[re.Pattern[str]], names: Iterable[str | None]) -> bool:
    return any(n and rx.search(n) for rx in rxs for n in names)


def identify_by_fingerprint(files: Iterable[tuple[FileEntry, Path]], *,
                            engine: Engine | None = None,
                            stats: FingerprintStats | None = None) -> list[Component]:
    """Components found by content fingerprints in the given files (entry, on-disk path).

    One Component per (product, version), with one Evidence per file it was found in.
    Unreadable files are skipped and counted in ``stats``.
    """
    eng = engine or default_engine()
    st = stats if stats is not None else FingerprintStats()
    t0 = time.perf_counter()
    # (product, version) -> qualified path -> (best match, entry, static?)
    found: dict[tuple[str, str | None], dict[str, tuple[Match, FileEntry, bool]]] = \
        defaultdict(dict)
    for entry, path in files:
        if entry.kind != "file" or entry.file_type not in _SCANNED_TYPES:
            continue
        try:
            matches = match_file(path, eng)
        except (OSError, ValueError) as exc:
            st.skipped_unreadable += 1
            st.errors.append(f"{_qualified(entry)}: {type(exc).__name__}: {exc}")
            continue
        st.files_scanned += 1
        st.bytes_scanned += entry.size
        for m in _per_file(matches):
            static = False
            lib = eng.library.get(m.product, ())
            if lib and entry.elf is not None and not eng.by_id[m.pattern_id].program:
                if _any_match(lib, [entry.elf.soname]):
                    static = False
                elif _any_match(lib, entry.elf.needed):
                    st.header_only += 1
                    continue
                else:
                    static = True
            key = (m.product, m.version)
            q = _qualified(entry)
            prev = found[key].get(q)
            if prev is None or (m.confidence, -m.offset) > (prev[0].confidence, -prev[0].offset):
                found[key][q] = (m, entry, static)
    comps = []
    for (product, version), per_file in found.items():
        evidence = [Evidence(tree=e.tree, path=e.path, sha256=e.sha256, offset=m.offset,
                             text=m.text, rule=m.pattern_id)
                    for q, (m, e, _s) in sorted(per_file.items())]
        comps.append(Component(
            name=product, version=version, purl=generic_purl(product, version),
            cpe=cpe23(product, version), method="fingerprint",
            confidence=max(m.confidence for m, _e, _s in per_file.values()),
            evidence=evidence, files=sorted(per_file),
            static_in=sorted(q for q, (_m, _e, s) in per_file.items() if s)))
    comps.sort(key=lambda c: (c.name, c.version or "", c.files))
    st.seconds += time.perf_counter() - t0
    return comps


def _per_file(matches: list[Match]) -> list[Match]:
    """Within one file: a product's versioned matches beat its presence-only ones, and when
    patterns disagree on the version, the most confident pattern wins (ties keep all)."""
    by_product: dict[str, list[Match]] = defaultdict(list)
    for m in matches:
        by_product[m.product].append(m)
    out = []
    for ms in by_product.values():
        versioned = [m for m in ms if m.version is not None]
        ms = versioned or ms
        best = max(m.confidence for m in ms)
        out.extend(m for m in ms if m.confidence == best)
    return out


def duplicates(components: Iterable[Component]) -> list[DuplicateGroup]:
    """Products present as several copies and/or versions across the image.

    A copy is one installed shared library (or program) per version, however many files it
    spans (libssl.so.3 and libcrypto.so.3 are one copy of OpenSSL), plus one per binary that
    carries a statically linked copy. The same version found both in a package database and
    by a fingerprint counts once.
    """
    groups: dict[str, dict] = {}
    for c in components:
        g = groups.setdefault(c.name, {"versions": set(), "copies": set(), "files": set()})
        if c.version:
            g["versions"].add(c.version)
        static = set(c.static_in)
        if c.method == "fingerprint":
            files = {f"{e.tree}/{e.path}" for e in c.evidence} or set(c.files)
            if files - static:
                g["copies"].add(("shared", c.version))
            g["files"].update(files)
        else:
            g["copies"].add(("shared", c.version))
            g["files"].update(f"{e.tree}/{e.path}" for e in c.evidence)
        g["copies"].update(("static", s) for s in static)
    out = [DuplicateGroup(name=name, versions=sorted(g["versions"]), copies=len(g["copies"]),
                          files=sorted(g["files"]))
           for name, g in groups.items() if len(g["copies"]) > 1 or len(g["versions"]) > 1]
    return sorted(out, key=lambda d: d.name)


def unclaimed_elf(files: Iterable[FileEntry], components: Iterable[Component],
                  claimed: Iterable[str] = ()) -> list[str]:
    """ELF files ("<tree>/<path>") that no component claims: the gaps of identification.

    A fingerprint component claims the files it has evidence in; any other component (a
    package database) claims its ``files``; ``claimed`` adds more tree-qualified paths.
    """
    taken = set(claimed)
    for c in components:
        if c.method == "fingerprint":
            taken.update(f"{e.tree}/{e.path}" for e in c.evidence)
        else:
            taken.update(c.files)
    return sorted(q for f in files
                  if f.kind == "file" and f.file_type == FileType.elf
                  and (q := _qualified(f)) not in taken)
