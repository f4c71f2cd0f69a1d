"""Section-level comparison of two ELF files (LIEF for the tables, the file bytes for content).

What decides equivalence is what the kernel's ELF loader (``fs/binfmt_elf.c``) and the
dynamic loader read: the ELF header, the program headers and the bytes of every segment.
Two ELF files are *equivalent* when those are identical apart from

* the GNU build-id note's descriptor (a hash the linker computes over its output; read by
  debuggers, ``perf`` and crash collectors, not by the loaders), and
* the ELF header's section-header-table fields (``e_shoff``, ``e_shentsize``, ``e_shnum``,
  ``e_shstrndx``), which neither loader reads,

and when every section that differs is a known piece of metadata that is never mapped
(no ``SHF_ALLOC``): DWARF debug sections and their relocations, ``.gnu_debuglink``,
``.comment`` (compiler version strings), and, for executables and shared objects (not
relocatable objects, whose loaders do use them), the static ``.symtab``/``.strtab``. Any
other difference (a byte of ``.text``, a build path that ``__FILE__`` put into ``.rodata``,
an unknown non-allocated section, non-zero bytes that no table accounts for) makes them
*different*, pinpointed by section and file offset. Section header layout (``sh_offset``
of non-allocated sections) is not compared: it moves whenever a debug section changes size.
"""

from __future__ import annotations

import hashlib
import re
import struct
import warnings
from dataclasses import dataclass, field
from pathlib import Path

from spyproof.equiv.bytesdiff import differing_ranges, first_difference
from spyproof.equiv.model import ByteRange, ElfComparison, Normalisation, SectionDiff, SectionSide

warnings.filterwarnings("ignore", message=r".* is not a valid ", category=RuntimeWarning)

ELF_MAGIC = b"\x7fELF"
#: Files larger than this are compared as bytes (LIEF maps the whole file).
MAX_ELF_SIZE = 256 * 1024 * 1024

SHF_ALLOC = 0x2
SHF_EXECINSTR = 0x4
SHT_NOBITS = 8
SHT_NOTE = 7
PT_NOTE = 4
NT_GNU_BUILD_ID = 3

_DEBUG_PREFIXES = (".debug_", ".zdebug_", ".rel.debug_", ".rela.debug_", ".stab")
_DEBUG_NAMES = {".gnu_debugaltlink", ".gnu_debugdata"}
_MAX_STRINGS = 20_000
_MAX_BUILD_PATHS = 4
_PRINTABLE_TAIL = re.compile(rb"[\x20-\x7e]+\Z")


def is_elf(path: Path) -> bool:
    try:
        with path.open("rb") as fh:
            return fh.read(4) == ELF_MAGIC
    except OSError:
        return False


def metadata_kind(name: str, etype: str) -> str | None:
    """The normalisation a differing *non-allocated* section falls under, or None when
    spyproof does not know the section to be metadata (then it is not set aside)."""
    if name.startswith(_DEBUG_PREFIXES) or name in _DEBUG_NAMES:
        return "elf.debug_sections"
    if name == ".gnu_debuglink":
        return "elf.debuglink"
    if name == ".comment":
        return "elf.comment"
    if name in (".symtab", ".strtab") and etype != "REL":
        return "elf.symbol_table"
    if name == ".shstrtab":
        return "elf.section_header_table"
    return None


@dataclass
class _Section:
    key: str
    name: str
    type: int
    type_name: str
    flags: int
    addr: int
    offset: int
    size: int
    align: int
    entsize: int
    link: int
    info: int
    content: bytes

    @property
    def allocated(self) -> bool:
        return bool(self.flags & SHF_ALLOC)

    @property
    def executable(self) -> bool:
        return bool(self.flags & SHF_EXECINSTR)

    def side(self) -> SectionSide:
        return SectionSide(offset=self.offset, size=self.size, address=self.addr,
                           sha256=hashlib.sha256(self.content).hexdigest())


@dataclass
class _Segment:
    type: int
    type_name: str
    offset: int
    filesz: int
    align: int


@dataclass
class _Elf:
    data: bytes
    elf_class: str  # ELF32 / ELF64
    little: bool
    machine: str
    etype: str
    ehsize: int
    phoff: int
    phnum: int
    phentsize: int
    sections: list[_Section]
    segments: list[_Segment]
    # build-id descriptors: (file offset, length)
    build_ids: list[tuple[int, int]] = field(default_factory=list)

    @property
    def sh_fields(self) -> list[tuple[int, int, str]]:
        """(offset, size, name) of the ELF header fields about the section header table
        (System V ABI, ELF header)."""
        if self.elf_class == "ELF64":
            return [(0x28, 8, "e_shoff"), (0x3A, 2, "e_shentsize"), (0x3C, 2, "e_shnum"),
                    (0x3E, 2, "e_shstrndx")]
        return [(0x20, 4, "e_shoff"), (0x2E, 2, "e_shentsize"), (0x30, 2, "e_shnum"),
                (0x32, 2, "e_shstrndx")]

    def field_value(self, offset: int, size: int) -> int:
        return int.from_bytes(self.data[offset:offset + size], "little" if self.little else "big")


@dataclass
class ElfResult:
    comparison: ElfComparison
    normalisations: list[Normalisation]
    reasons: list[str]  # empty: equivalent (when the bytes differ at all)


def _enum_name(value) -> str:  # noqa: ANN001 - a LIEF enum
    return str(value).rsplit(".", 1)[-1].removeprefix("SHT_").rstrip("_")


def _enum_value(value) -> int:  # noqa: ANN001 - a LIEF enum
    return int(value.value) if hasattr(value, "value") else int(value)


def _load(path: Path) -> _Elf | None:
    """Parse with LIEF; None when the file is not an ELF LIEF can read."""
    try:
        size = path.stat().st_size
        if size > MAX_ELF_SIZE or not is_elf(path):
            return None
        data = path.read_bytes()
    except OSError:
        return None
    import lief

    lief.logging.disable()
    try:
        binary = lief.ELF.parse(str(path))
    except Exception:  # noqa: BLE001 - LIEF raises assorted errors on malformed input
        return None
    if binary is None:
        return None
    header = binary.header
    elf_class = "ELF64" if data[4] == 2 else "ELF32"
    little = data[5] != 2
    sections: list[_Section] = []
    seen: dict[str, int] = {}
    for sec in binary.sections:
        stype = _enum_value(sec.type)
        if stype == 0:
            continue  # SHT_NULL: the reserved section 0
        name = sec.name
        type_name = _enum_name(sec.type)
        n = seen.get(name, 0)
        seen[name] = n + 1
        key = name if n == 0 else f"{name}#{n}"
        offset, size = int(sec.offset), int(sec.size)
        content = b"" if stype == SHT_NOBITS else data[offset:offset + size]
        sections.append(_Section(
            key=key, name=name, type=stype, type_name=type_name, flags=int(sec.flags),
            addr=int(sec.virtual_address), offset=offset, size=size,
            align=int(sec.alignment), entsize=int(sec.entry_size), link=int(sec.link),
            info=int(sec.information), content=content))
    segments = [
        _Segment(type=_enum_value(seg.type), type_name=_enum_name(seg.type),
                 offset=int(seg.file_offset), filesz=int(seg.physical_size),
                 align=int(seg.alignment))
        for seg in binary.segments]
    elf = _Elf(data=data, elf_class=elf_class, little=little,
               machine=_enum_name(header.machine_type), etype=_enum_name(header.file_type),
               ehsize=64 if elf_class == "ELF64" else 52,
               phoff=int(header.program_header_offset), phnum=len(segments),
               phentsize=int(header.program_header_size), sections=sections,
               segments=segments)
    elf.build_ids = _build_ids(elf)
    return elf


def _notes(elf: _Elf, start: int, size: int, align: int):  # noqa: ANN202 - iterator
    """(type, name, desc offset, desc size) of the notes in a file range (ELF gABI, note
    section: namesz, descsz, type, name padded to the alignment, desc padded likewise)."""
    order = "<" if elf.little else ">"
    align = 8 if align == 8 else 4
    pos, end = start, min(start + size, len(elf.data))
    while pos + 12 <= end:
        namesz, descsz, ntype = struct.unpack_from(order + "III", elf.data, pos)
        name_at = pos + 12
        desc_at = name_at + ((namesz + align - 1) // align) * align
        if desc_at + descsz > end:
            return
        yield ntype, elf.data[name_at:name_at + namesz], desc_at, descsz
        pos = desc_at + ((descsz + align - 1) // align) * align


def _build_ids(elf: _Elf) -> list[tuple[int, int]]:
    ranges: set[tuple[int, int]] = set()
    areas = [(s.offset, s.size, s.align) for s in elf.sections if s.type == SHT_NOTE]
    areas += [(g.offset, g.filesz, g.align) for g in elf.segments if g.type == PT_NOTE]
    for start, size, align in areas:
        for ntype, name, desc_at, descsz in _notes(elf, start, size, align):
            if ntype == NT_GNU_BUILD_ID and name.rstrip(b"\0") == b"GNU" and descsz:
                ranges.add((desc_at, descsz))
    return sorted(ranges)


def _mask(data: bytes, start: int, end: int, masks: list[tuple[int, int]]) -> bytes:
    """data[start:end] with the masked file ranges zeroed."""
    chunk = bytearray(data[start:end])
    for m_start, m_len in masks:
        lo, hi = max(m_start, start), min(m_start + m_len, end)
        if lo < hi:
            chunk[lo - start:hi - start] = bytes(hi - lo)
    return bytes(chunk)


def _strings(content: bytes) -> set[str]:
    """Printable, path-like strings (containing '/') of a string or DWARF section."""
    out: set[str] = set()
    for piece in content.split(b"\0"):
        m = _PRINTABLE_TAIL.search(piece)
        if m and b"/" in m.group(0) and len(m.group(0)) >= 2:
            out.add(m.group(0).decode("ascii"))
            if len(out) >= _MAX_STRINGS:
                break
    return out


def _component_end(s: str, index: int) -> int:
    slash = s.find("/", index)
    return len(s) if slash < 0 else slash


def build_path_pairs(strings_a: set[str], strings_b: set[str]) -> list[tuple[str, str, int]]:
    """Directory prefixes whose substitution explains the differing path strings:
    [(path in A, path in B, strings of A it maps onto strings of B)], best first. This
    only names the build directories for the reader: the sections they sit in are set
    aside (or not) by their own rule, never because a path was found in them."""
    only_a = sorted(strings_a - strings_b)[:400]
    only_b = sorted(strings_b - strings_a)[:400]
    candidates: dict[tuple[str, str], int] = {}
    for a in only_a:
        for b in only_b:
            p = len(_common_prefix(a, b))
            s = len(_common_prefix(a[p:][::-1], b[p:][::-1]))
            if p == 0 or "/" not in a[:p]:
                continue
            end_a = _component_end(a, len(a) - s)
            end_b = _component_end(b, len(b) - s)
            if len(a) - end_a != len(b) - end_b:
                continue
            pa, pb = a[:end_a], b[:end_b]
            if pa.startswith("/") and pb.startswith("/") and pa != pb:
                candidates[(pa, pb)] = 0
    scored: list[tuple[str, str, int]] = []
    for pa, pb in candidates:
        explained = sum(1 for a in only_a if pa in a and a.replace(pa, pb) in strings_b)
        if explained:
            scored.append((pa, pb, explained))
    scored.sort(key=lambda t: (-t[2], len(t[0]), t[0], t[1]))
    kept: list[tuple[str, str, int]] = []
    for pa, pb, n in scored:
        if any(pa.startswith(k[0]) or k[0].startswith(pa) for k in kept):
            continue
        kept.append((pa, pb, n))
        if len(kept) >= _MAX_BUILD_PATHS:
            break
    return kept


def _common_prefix(a: str, b: str) -> str:
    n = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        n += 1
    return a[:n]


def _flags_text(flags: int) -> str:
    """sh_flags as hex with the readelf letters for write, alloc, exec (all bits count)."""
    letters = "".join(c for bit, c in ((0x1, "W"), (SHF_ALLOC, "A"), (SHF_EXECINSTR, "X"))
                      if flags & bit)
    return f"0x{flags:x}" + (f" ({letters})" if letters else "")


def _attributes(sa: _Section, sb: _Section) -> list[str]:
    diffs = []
    checks = [("type", sa.type_name, sb.type_name), ("flags", _flags_text(sa.flags),
                                                     _flags_text(sb.flags)),
              ("address", hex(sa.addr), hex(sb.addr)), ("alignment", sa.align, sb.align),
              ("entry size", sa.entsize, sb.entsize)]
    if sa.allocated or sb.allocated:
        checks += [("offset", sa.offset, sb.offset), ("size", sa.size, sb.size),
                   ("link", sa.link, sb.link), ("info", sa.info, sb.info)]
    if sa.type_name == "NOBITS" and sa.size != sb.size:
        checks.append(("size", sa.size, sb.size))
    for name, va, vb in checks:
        if va != vb and not any(d.startswith(name + " ") for d in diffs):
            diffs.append(f"{name} {va} vs {vb}")
    return diffs


def _section_diff(sa: _Section | None, sb: _Section | None, status: str,
                  kind: str | None, elf_a: _Elf, elf_b: _Elf,
                  masks_a: list[tuple[int, int]], masks_b: list[tuple[int, int]],
                  ) -> SectionDiff:
    ref = sa or sb
    assert ref is not None
    diff = SectionDiff(name=ref.name, status=status, normalisation=kind,
                       allocated=ref.allocated, executable=ref.executable, type=ref.type_name,
                       a=sa.side() if sa else None, b=sb.side() if sb else None)
    if sa is not None and sb is not None:
        diff.attributes = _attributes(sa, sb)
        ca = _mask(elf_a.data, sa.offset, sa.offset + len(sa.content), masks_a)
        cb = _mask(elf_b.data, sb.offset, sb.offset + len(sb.content), masks_b)
        if status == "normalised" and kind == "elf.build_id":
            ca, cb = sa.content, sb.content
        first = first_difference(ca, cb)
        if first is not None:
            diff.first_difference_in_section = first
            diff.first_difference_file_offset_a = sa.offset + first
            diff.first_difference_file_offset_b = sb.offset + first
            count, ranges = differing_ranges(ca, cb)
            diff.differing_bytes = count
            diff.ranges = [ByteRange(start=s, end=e) for s, e in ranges]
    return diff


def _hexid(elf: _Elf) -> str:
    return ",".join(elf.data[o:o + n].hex() for o, n in elf.build_ids) or "none"


def compare_elf(path_a: Path, path_b: Path, where: str) -> ElfResult | None:
    """Compare two ELF files; None when either cannot be parsed (compare them as bytes)."""
    elf_a, elf_b = _load(path_a), _load(path_b)
    if elf_a is None or elf_b is None:
        return None
    norms: list[Normalisation] = []
    reasons: list[str] = []
    diffs: list[SectionDiff] = []
    comparison = ElfComparison(elf_class=elf_a.elf_class, machine=elf_a.machine,
                               type=elf_a.etype, executable_sections_identical=True,
                               allocated_sections_identical=True, segments_identical=True)
    same_kind = (elf_a.elf_class, elf_a.little, elf_a.machine, elf_a.etype) == (
        elf_b.elf_class, elf_b.little, elf_b.machine, elf_b.etype)
    if not same_kind:
        reasons.append(f"ELF kind differs: {elf_a.elf_class} {elf_a.machine} {elf_a.etype} vs "
                       f"{elf_b.elf_class} {elf_b.machine} {elf_b.etype}")
        comparison.executable_sections_identical = False
        comparison.allocated_sections_identical = False
        comparison.segments_identical = False
        return ElfResult(comparison, norms, reasons)

    # The build-id is set aside only where both files hold it at the same place and size.
    same_ids = [(o, n) for o, n in elf_a.build_ids] == [(o, n) for o, n in elf_b.build_ids]
    id_masks = elf_a.build_ids if same_ids else []
    hdr_masks = [(o, n) for o, n, _ in elf_a.sh_fields]
    masks = id_masks + hdr_masks

    # ELF header and program headers: read by the kernel and by ld.so.
    head_a = _mask(elf_a.data, 0, elf_a.ehsize, hdr_masks)
    head_b = _mask(elf_b.data, 0, elf_b.ehsize, hdr_masks)
    if head_a != head_b:
        first = first_difference(head_a, head_b) or 0
        diffs.append(SectionDiff(name="(ELF header)", status="different", allocated=True,
                                 executable=False, first_difference_in_section=first,
                                 first_difference_file_offset_a=first,
                                 first_difference_file_offset_b=first))
        reasons.append(f"ELF header differs at file offset {first}")
        comparison.segments_identical = False
    moved = [f"{name} {elf_a.field_value(o, n)} vs {elf_b.field_value(o, n)}"
             for o, n, name in elf_a.sh_fields
             if elf_a.field_value(o, n) != elf_b.field_value(o, n)]
    ph_a = elf_a.data[elf_a.phoff:elf_a.phoff + elf_a.phnum * elf_a.phentsize]
    ph_b = elf_b.data[elf_b.phoff:elf_b.phoff + elf_b.phnum * elf_b.phentsize]
    if ph_a != ph_b or elf_a.phoff != elf_b.phoff:
        first = first_difference(ph_a, ph_b) or 0
        diffs.append(SectionDiff(name="(program headers)", status="different", allocated=True,
                                 executable=False, first_difference_in_section=first,
                                 first_difference_file_offset_a=elf_a.phoff + first,
                                 first_difference_file_offset_b=elf_b.phoff + first))
        reasons.append(f"program headers differ at file offset {elf_a.phoff + first}")
        comparison.segments_identical = False

    differing_segments: list[tuple[int, _Segment, int]] = []
    for i, (ga, gb) in enumerate(zip(elf_a.segments, elf_b.segments, strict=False)):
        ba = _mask(elf_a.data, ga.offset, ga.offset + ga.filesz, masks)
        bb = _mask(elf_b.data, gb.offset, gb.offset + gb.filesz, masks)
        if ba != bb:
            comparison.segments_identical = False
            differing_segments.append((i, ga, first_difference(ba, bb) or 0))

    # Sections, paired by name (and ordinal for repeated names).
    by_a = {s.key: s for s in elf_a.sections}
    by_b = {s.key: s for s in elf_b.sections}
    keys = [s.key for s in elf_a.sections] + [s.key for s in elf_b.sections if s.key not in by_a]
    kinds: dict[str, list[str]] = {}
    if (not elf_a.sections or not elf_b.sections) and elf_a.segments and elf_b.segments:
        # One file has no section headers at all (sstrip): the segments alone decide.
        if elf_a.sections or elf_b.sections:
            side = "A" if not elf_a.sections else "B"
            norms.append(Normalisation(
                kind="elf.section_header_table", where=f"{where}: section headers",
                detail=f"no section headers in {side} (stripped with sstrip or similar); "
                       "the segments, which are what is loaded, are compared instead"))
        keys = []
    for key in keys:
        sa, sb = by_a.get(key), by_b.get(key)
        ref = sa or sb
        assert ref is not None
        if sa is not None and sb is not None:
            attrs = _attributes(sa, sb)
            raw_equal = sa.content == sb.content
            masked_equal = raw_equal or _mask(elf_a.data, sa.offset, sa.offset + len(
                sa.content), id_masks) == _mask(elf_b.data, sb.offset, sb.offset + len(
                    sb.content), id_masks)
            if not attrs and raw_equal:
                continue
            if not attrs and masked_equal:
                diffs.append(_section_diff(sa, sb, "normalised", "elf.build_id", elf_a, elf_b,
                                           id_masks, id_masks))
                kinds.setdefault("elf.build_id", []).append(ref.name)
                continue
            status = "different"
        else:
            status = "only_in_a" if sa is not None else "only_in_b"
        kind = None if (ref.allocated or (sa and sb and sa.allocated != sb.allocated)) \
            else metadata_kind(ref.name, elf_a.etype)
        if kind is not None:
            if status == "different":
                status = "normalised"
            kinds.setdefault(kind, []).append(ref.name)
        diff = _section_diff(sa, sb, status, kind, elf_a, elf_b, id_masks, id_masks)
        diffs.append(diff)
        if kind is None:
            if ref.executable:
                comparison.executable_sections_identical = False
            if ref.allocated:
                comparison.allocated_sections_identical = False
            reasons.append(_reason(diff))

    _check_coverage(elf_a, elf_b, diffs, reasons, comparison)
    if differing_segments and comparison.allocated_sections_identical:
        # The loaded bytes differ outside every allocated section (or there are none).
        for i, seg, first in differing_segments:
            diffs.append(SectionDiff(name=f"(segment {i} {seg.type_name})", status="different",
                                     allocated=True, executable=False,
                                     first_difference_in_section=first,
                                     first_difference_file_offset_a=seg.offset + first,
                                     first_difference_file_offset_b=seg.offset + first))
            reasons.append(f"segment {i} ({seg.type_name}) differs at file offset "
                           f"{seg.offset + first}")
        if not elf_a.sections or not elf_b.sections:
            comparison.allocated_sections_identical = False
            comparison.executable_sections_identical = False

    _build_path_notes(by_a, by_b, diffs, norms, where)
    norms.extend(_normalisations(kinds, elf_a, elf_b, moved, where, by_a, by_b))
    norms.sort(key=lambda n: (n.kind, n.where, n.detail))
    comparison.sections = diffs
    return ElfResult(comparison, norms, reasons)


def _gaps(elf: _Elf) -> list[tuple[int, int]]:
    """File ranges outside the ELF header, the program and section header tables, every
    segment and every section: padding, or data no table accounts for."""
    shoff = elf.field_value(*elf.sh_fields[0][:2])
    shentsize = elf.field_value(*elf.sh_fields[1][:2])
    shnum = elf.field_value(*elf.sh_fields[2][:2])
    covered = [(0, elf.ehsize), (elf.phoff, elf.phoff + elf.phnum * elf.phentsize),
               (shoff, shoff + shnum * shentsize)]
    covered += [(g.offset, g.offset + g.filesz) for g in elf.segments]
    covered += [(s.offset, s.offset + len(s.content)) for s in elf.sections]
    gaps, pos = [], 0
    for start, end in sorted(covered):
        if start > pos:
            gaps.append((pos, min(start, len(elf.data))))
        pos = max(pos, end)
        if pos >= len(elf.data):
            break
    if pos < len(elf.data):
        gaps.append((pos, len(elf.data)))
    return [(a, b) for a, b in gaps if b > a]


def _check_coverage(elf_a: _Elf, elf_b: _Elf, diffs: list[SectionDiff], reasons: list[str],
                    comparison: ElfComparison) -> None:
    """Nothing is equivalent by default: a file whose tables describe nothing is not
    judged, and bytes no table accounts for (data appended after the section headers,
    say) must be the same, in the same order."""
    for elf, side in ((elf_a, "A"), (elf_b, "B")):
        if not elf.segments and not elf.sections:
            reasons.append(f"no segments and no sections in {side}: nothing to compare as ELF")
            comparison.segments_identical = False
            comparison.allocated_sections_identical = False
            comparison.executable_sections_identical = False
    # Alignment padding (zeros) changes length when a debug section does; what is left of
    # each gap without its zero padding must be the same, gap by gap.
    found_a, found_b = _gap_data(elf_a), _gap_data(elf_b)
    if [d for _, d in found_a] == [d for _, d in found_b]:
        return
    pairs = list(zip(found_a, found_b, strict=False))
    at_a, at_b = next(((pa, pb) for (pa, da), (pb, db) in pairs if da != db),
                      (found_a[len(pairs)][0] if len(found_a) > len(pairs) else None,
                       found_b[len(pairs)][0] if len(found_b) > len(pairs) else None))
    diffs.append(SectionDiff(name="(outside every section and segment)", status="different",
                             allocated=False, executable=False,
                             first_difference_file_offset_a=at_a,
                             first_difference_file_offset_b=at_b))
    reasons.append(f"non-zero bytes outside every section and segment differ "
                   f"({sum(len(d) for _, d in found_a)} vs {sum(len(d) for _, d in found_b)} "
                   f"bytes; at file offset {at_a} in A, {at_b} in B)")


def _gap_data(elf: _Elf) -> list[tuple[int, bytes]]:
    """(file offset, bytes) of each gap's content between its first and last non-zero
    byte; gaps that are all zeros are left out."""
    out = []
    for start, end in _gaps(elf):
        chunk = elf.data[start:end]
        stripped = chunk.strip(b"\0")
        if stripped:
            out.append((start + len(chunk) - len(chunk.lstrip(b"\0")), stripped))
    return out


def _reason(diff: SectionDiff) -> str:
    if diff.status in ("only_in_a", "only_in_b"):
        side = "A" if diff.status == "only_in_a" else "B"
        return f"section {diff.name} only in {side}" + (
            " (allocated: part of the loaded image)" if diff.allocated else
            " (not loaded, but not a known metadata section)")
    where = ""
    if diff.first_difference_file_offset_a is not None:
        where = (f" at file offset {diff.first_difference_file_offset_a}"
                 f" (section offset {diff.first_difference_in_section})")
    what = "; ".join(diff.attributes)
    loaded = "" if diff.allocated else " (not loaded, but not a known metadata section)"
    return f"section {diff.name} differs{where}{loaded}" + (f": {what}" if what else "")


def _build_path_notes(by_a: dict[str, _Section], by_b: dict[str, _Section],
                      diffs: list[SectionDiff], norms: list[Normalisation],
                      where: str) -> None:
    """Name the build directories behind differing path strings; a build path in an
    allocated section is program-visible data and stays a difference (noted as such)."""
    strings_a: set[str] = set()
    strings_b: set[str] = set()
    for d in diffs:
        if d.name in by_a:
            strings_a |= _strings(by_a[d.name].content)
        if d.name in by_b:
            strings_b |= _strings(by_b[d.name].content)
    if not strings_a or not strings_b:
        return
    pairs = build_path_pairs(strings_a, strings_b)
    for pa, pb, n in pairs:
        holders = sorted({d.name for d in diffs if d.name in by_a
                          and pa.encode() in by_a[d.name].content})
        set_aside = [h for h in holders if not by_a[h].allocated]
        loaded = [h for h in holders if by_a[h].allocated]
        for d in diffs:
            if d.name in loaded:
                d.note = (f"holds the build path {pa!r} (B: {pb!r}): program-visible data "
                          "(e.g. __FILE__), so not normalised")
        if set_aside:
            norms.append(Normalisation(
                kind="elf.build_path", where=f"{where}: {', '.join(set_aside)}",
                detail=f"build directory {pa!r} vs {pb!r} ({n} path string(s)), only in "
                       "sections that are not loaded"))


def _normalisations(kinds: dict[str, list[str]], elf_a: _Elf, elf_b: _Elf, moved: list[str],
                    where: str, by_a: dict[str, _Section], by_b: dict[str, _Section],
                    ) -> list[Normalisation]:
    out: list[Normalisation] = []
    for kind, names in sorted(kinds.items()):
        names = sorted(set(names))
        place = f"{where}: {', '.join(names)}"
        if kind == "elf.build_id":
            detail = (f"build-id {_hexid(elf_a)} vs {_hexid(elf_b)}: a hash the linker "
                      "computes over its output; no loader reads it")
        elif kind == "elf.comment":
            def text(s: _Section | None) -> str:
                if s is None:
                    return "absent"
                return " | ".join(p.decode("utf-8", "replace") for p in
                                  s.content.split(b"\0") if p)[:200]
            detail = (f"{text(by_a.get('.comment'))!r} vs {text(by_b.get('.comment'))!r}: "
                      "toolchain version strings, not loaded")
        else:
            size_a = sum(by_a[n].size for n in names if n in by_a)
            size_b = sum(by_b[n].size for n in names if n in by_b)
            what = {"elf.debug_sections": "debug information",
                    "elf.debuglink": "name and CRC of the separate debug file",
                    "elf.symbol_table": "static symbol table (the loaders use .dynsym)",
                    "elf.section_header_table": "section names"}.get(kind, kind)
            detail = f"{what}, not loaded: {size_a} vs {size_b} bytes"
        out.append(Normalisation(kind=kind, where=place, detail=detail))
    if moved:
        out.append(Normalisation(
            kind="elf.section_header_table", where=f"{where}: ELF header",
            detail=", ".join(moved) + ": the section header table, which no loader reads, "
            "moved with the non-loaded sections"))
    return out
