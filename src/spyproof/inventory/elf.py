"""ELF facts for the inventory: LIEF for the dynamic section and symbols, struct as fallback.

`elf_info(path, size, head)` is what `classify` calls. It never raises: whatever cannot be read
ends up in `ElfInfo.parse_error`. The header fields (class, endianness, machine, type) always come
from our own struct parse of `head`, so they are the same whether LIEF succeeds or not.

`elf_info_fast(path)` reads only the ELF header, the program headers, the dynamic segment and
its string table, the section headers and the dynamic symbol table, via `struct` and a handful
of reads. It yields everything except the symbol lists and is used when LIEF fails or the file
is too large to hand to LIEF (LIEF reads the whole file into memory).

Both paths fill `ElfInfo.hardening` (checksec's NX, PIE, RELRO, canary, FORTIFY, RPATH and
RUNPATH) from the same raw facts through `hardening.decide`, so they agree.
"""

from __future__ import annotations

import array
import struct
import sys
import warnings
from dataclasses import dataclass
from pathlib import Path

from spyproof.inventory import hardening
from spyproof.inventory.hardening import HardeningFacts
from spyproof.models import ElfInfo

# LIEF's enums warn ("... is not a valid TYPE") when a malformed file holds unknown values.
warnings.filterwarnings(
    "ignore", message=r".* is not a valid ", category=RuntimeWarning, module=__name__
)

ELF_MAGIC = b"\x7fELF"

#: Longest exported / imported symbol list kept per file.
MAX_SYMBOLS = 20_000
#: Files larger than this are not handed to LIEF (it maps the whole file); header-only instead.
MAX_LIEF_SIZE = 256 * 1024 * 1024

# Limits for the struct parser, so a hostile header cannot make us read much.
_MAX_PHNUM = 4096
_MAX_SHNUM = 65535
_MAX_DYNAMIC = 1024 * 1024
_MAX_STRTAB = 16 * 1024 * 1024
_MAX_INTERP = 4096
_MAX_DYNSYM = 1_000_000

_ET_NAMES = {0: "NONE", 1: "REL", 2: "EXEC", 3: "DYN", 4: "CORE"}

#: e_machine -> normalised name. Names follow LIEF's ARCH enum where it has one.
MACHINE_NAMES: dict[int, str] = {
    1: "M32",
    2: "SPARC",
    3: "I386",
    4: "M68K",
    5: "M88K",
    7: "I860",
    8: "MIPS",
    10: "MIPS_RS3_LE",
    15: "PARISC",
    18: "SPARC32PLUS",
    20: "PPC",
    21: "PPC64",
    22: "S390",
    40: "ARM",
    41: "ALPHA",
    42: "SH",
    43: "SPARCV9",
    50: "IA_64",
    62: "X86_64",
    76: "CRIS",
    83: "AVR",
    87: "V850",
    88: "M32R",
    92: "OPENRISC",
    93: "ARC_COMPACT",
    94: "XTENSA",
    106: "BLACKFIN",
    113: "ALTERA_NIOS2",
    164: "HEXAGON",
    183: "AARCH64",
    189: "MICROBLAZE",
    195: "ARC_COMPACT2",
    243: "RISCV",
    258: "LOONGARCH",
}

_SHT_SYMTAB = 2
_SHT_DYNSYM = 11
_PT_LOAD = 1
_PT_DYNAMIC = 2
_PT_INTERP = 3
_DT_NULL = 0
_DT_NEEDED = 1
_DT_HASH = 4
_DT_STRTAB = 5
_DT_SYMTAB = 6
_DT_STRSZ = 10
_DT_SONAME = 14
_DT_GNU_HASH = 0x6FFFFEF5
_DT_PLTRELSZ = 2
_DT_RELA = 7
_DT_RELASZ = 8
_DT_REL = 17
_DT_RELSZ = 18
_DT_PLTREL = 20
_DT_JMPREL = 23
_DT_MIPS_SYMTABNO = 0x70000011
_EM_MIPS = 8
# Dynamic tags whose first occurrence the struct parser keeps.
_DT_FIRST_WINS = frozenset({
    _DT_HASH, _DT_STRTAB, _DT_SYMTAB, _DT_STRSZ, _DT_SONAME, _DT_GNU_HASH, _DT_PLTRELSZ,
    _DT_RELA, _DT_RELASZ, _DT_REL, _DT_RELSZ, _DT_PLTREL, _DT_JMPREL, _DT_MIPS_SYMTABNO,
    hardening.DT_RPATH, hardening.DT_RUNPATH, hardening.DT_BIND_NOW, hardening.DT_FLAGS,
    hardening.DT_FLAGS_1,
})
_SHN_UNDEF = 0
_SHN_ABS = 0xFFF1
_DF_1_PIE = 0x08000000
_PUBLIC_BINDINGS = frozenset({1, 2, 10})  # STB_GLOBAL, STB_WEAK, STB_GNU_UNIQUE
_EXPORT_TYPES = frozenset({1, 2, 5, 6, 10})  # OBJECT, FUNC, COMMON, TLS, GNU_IFUNC


def machine_name(e_machine: int) -> str:
    """Normalised machine name for an e_machine value ("ARM", "MIPS", "EM_1234" if unknown)."""
    name = MACHINE_NAMES.get(e_machine)
    if name is None:
        name = f"EM_{e_machine}"
    return name


@dataclass(frozen=True)
class ElfHeader:
    """The fields of the ELF file header that the inventory needs."""

    elf_class: int  # 32 or 64
    little: bool
    e_type: int
    e_machine: int
    e_phoff: int
    e_shoff: int
    e_phentsize: int
    e_phnum: int
    e_shentsize: int
    e_shnum: int

    @property
    def endian(self) -> str:
        return "<" if self.little else ">"

    @property
    def type_name(self) -> str:
        return _ET_NAMES.get(self.e_type, f"UNKNOWN_{self.e_type:#x}")

    @property
    def machine(self) -> str:
        return machine_name(self.e_machine)

    def base_info(self, parse_error: str | None = None) -> ElfInfo:
        return ElfInfo(
            elf_class=self.elf_class,
            endianness="little" if self.little else "big",
            machine=self.machine,
            elf_type=self.type_name,
            parse_error=parse_error,
        )


class ElfHeaderError(ValueError):
    """The first bytes are not a usable ELF header."""


def parse_header(head: bytes) -> ElfHeader:
    """Parse the ELF file header from the first bytes of a file; raise ElfHeaderError."""
    if len(head) < 16 or head[:4] != ELF_MAGIC:
        raise ElfHeaderError("not an ELF file")
    ei_class, ei_data = head[4], head[5]
    if ei_class not in (1, 2):
        raise ElfHeaderError(f"invalid EI_CLASS {ei_class}")
    if ei_data not in (1, 2):
        raise ElfHeaderError(f"invalid EI_DATA {ei_data}")
    little = ei_data == 1
    e = "<" if little else ">"
    if ei_class == 1:
        fmt, need = e + "HHIIIIIHHHHHH", 52
    else:
        fmt, need = e + "HHIQQQIHHHHHH", 64
    if len(head) < need:
        raise ElfHeaderError(f"truncated ELF header ({len(head)} of {need} bytes)")
    (
        e_type,
        e_machine,
        _version,
        _entry,
        e_phoff,
        e_shoff,
        _flags,
        _ehsize,
        e_phentsize,
        e_phnum,
        e_shentsize,
        e_shnum,
        _shstrndx,
    ) = struct.unpack_from(fmt, head, 16)
    return ElfHeader(
        elf_class=32 if ei_class == 1 else 64,
        little=little,
        e_type=e_type,
        e_machine=e_machine,
        e_phoff=e_phoff,
        e_shoff=e_shoff,
        e_phentsize=e_phentsize,
        e_phnum=e_phnum,
        e_shentsize=e_shentsize,
        e_shnum=e_shnum,
    )


def header_problems(hdr: ElfHeader, size: int) -> str | None:
    """A short description of what is inconsistent between the header and the file size."""
    ph_ent = 32 if hdr.elf_class == 32 else 56
    sh_ent = 40 if hdr.elf_class == 32 else 64
    problems = []
    if hdr.e_phnum:
        if hdr.e_phentsize != ph_ent:
            problems.append(f"bad e_phentsize {hdr.e_phentsize}")
        elif hdr.e_phoff + hdr.e_phnum * ph_ent > size:
            problems.append(
                f"truncated: program headers end at {hdr.e_phoff + hdr.e_phnum * ph_ent}, "
                f"file is {size} bytes"
            )
    if hdr.e_shnum and hdr.e_shoff:
        if hdr.e_shentsize != sh_ent:
            problems.append(f"bad e_shentsize {hdr.e_shentsize}")
        elif hdr.e_shoff + hdr.e_shnum * sh_ent > size:
            problems.append(
                f"truncated: section headers end at {hdr.e_shoff + hdr.e_shnum * sh_ent}, "
                f"file is {size} bytes"
            )
    return "; ".join(problems) or None


# --------------------------------------------------------------------------------------------
# struct-only parser


def _read_at(f, offset: int, length: int) -> bytes:
    f.seek(offset)
    return f.read(length)


def _cstr(buf: bytes, offset: int) -> str | None:
    if offset < 0 or offset >= len(buf):
        return None
    end = buf.find(b"\0", offset)
    if end < 0:
        end = len(buf)
    return buf[offset:end].decode("utf-8", "backslashreplace")


def elf_info_fast(path: Path, head: bytes | None = None) -> ElfInfo:
    """ELF facts without LIEF: header, PT_INTERP, DT_NEEDED, DT_SONAME and symtab presence.

    Symbol lists are left empty. Never raises; problems end up in `parse_error`.
    """
    try:
        with open(path, "rb") as f:
            if head is None or len(head) < 64:
                head = f.read(64)
            try:
                hdr = parse_header(head)
            except ElfHeaderError as exc:
                return ElfInfo(
                    elf_class=0,
                    endianness="unknown",
                    machine="unknown",
                    elf_type="unknown",
                    parse_error=str(exc),
                )
            f.seek(0, 2)
            size = f.tell()
            return _fast_body(f, hdr, size)
    except OSError as exc:
        return ElfInfo(
            elf_class=0,
            endianness="unknown",
            machine="unknown",
            elf_type="unknown",
            parse_error=f"cannot read: {exc.strerror or exc}",
        )


def _fast_body(f, hdr: ElfHeader, size: int) -> ElfInfo:
    info = hdr.base_info()
    errors: list[str] = []
    problem = header_problems(hdr, size)
    if problem:
        errors.append(problem)
    e = hdr.endian
    is32 = hdr.elf_class == 32
    facts = HardeningFacts(e_type=hdr.e_type, has_phdrs=False, has_interp=False)

    # Program headers: PT_INTERP, PT_DYNAMIC, PT_LOAD (for address -> offset), and the
    # PT_GNU_STACK / PT_GNU_RELRO hardening markers.
    loads: list[tuple[int, int, int]] = []  # (vaddr, offset, filesz)
    dynamic: tuple[int, int] | None = None
    ph_ent = 32 if is32 else 56
    phnum = min(hdr.e_phnum, _MAX_PHNUM)
    if phnum and hdr.e_phentsize == ph_ent and hdr.e_phoff < size:
        table = _read_at(f, hdr.e_phoff, phnum * ph_ent)
        facts.has_phdrs = len(table) >= ph_ent
        for i in range(len(table) // ph_ent):
            if is32:
                p_type, p_offset, p_vaddr, _pa, p_filesz, _mem, p_flags = struct.unpack_from(
                    e + "IIIIIII", table, i * ph_ent
                )
            else:
                p_type, p_flags, p_offset, p_vaddr, _pa, p_filesz = struct.unpack_from(
                    e + "IIQQQQ", table, i * ph_ent
                )
            if p_type == _PT_LOAD:
                loads.append((p_vaddr, p_offset, p_filesz))
            elif p_type == _PT_DYNAMIC:
                dynamic = (p_offset, p_filesz)
            elif p_type == hardening.PT_GNU_STACK and facts.gnu_stack_flags is None:
                facts.gnu_stack_flags = p_flags
            elif p_type == hardening.PT_GNU_RELRO:
                facts.gnu_relro = True
            elif p_type == _PT_INTERP and info.interpreter is None:
                facts.has_interp = True
                if p_offset < size:
                    raw = _read_at(f, p_offset, min(p_filesz, _MAX_INTERP))
                    info.interpreter = raw.split(b"\0", 1)[0].decode("utf-8", "backslashreplace")
                else:
                    errors.append("PT_INTERP beyond end of file")

    def file_offset(addr: int) -> int | None:
        for vaddr, offset, filesz in loads:
            if vaddr <= addr < vaddr + filesz:
                return offset + (addr - vaddr)
        return None

    # Dynamic segment: DT_NEEDED / DT_SONAME / DT_RPATH / DT_RUNPATH names, resolved through
    # DT_STRTAB, the binding flags, and where the dynamic symbols are.
    strtab = b""
    dyn: dict[int, int] = {}
    if dynamic is not None and dynamic[0] < size:
        dyn_ent = 8 if is32 else 16
        raw = _read_at(f, dynamic[0], min(dynamic[1], _MAX_DYNAMIC))
        fmt = e + ("iI" if is32 else "qQ")
        needed_off: list[int] = []
        for i in range(len(raw) // dyn_ent):
            tag, val = struct.unpack_from(fmt, raw, i * dyn_ent)
            if tag == _DT_NULL:
                break
            if tag == _DT_NEEDED:
                needed_off.append(val)
            elif tag in _DT_FIRST_WINS:
                dyn.setdefault(tag, val)
        facts.bind_now_tag = hardening.DT_BIND_NOW in dyn
        facts.dt_flags = dyn.get(hardening.DT_FLAGS, 0)
        facts.dt_flags_1 = dyn.get(hardening.DT_FLAGS_1, 0)
        facts.has_soname = _DT_SONAME in dyn
        names = [dyn.get(t) for t in (_DT_SONAME, hardening.DT_RPATH, hardening.DT_RUNPATH)]
        strtab_addr = dyn.get(_DT_STRTAB)
        wants_names = bool(needed_off) or any(n is not None for n in names)
        if strtab_addr is not None and (wants_names or _DT_SYMTAB in dyn):
            strtab_off = file_offset(strtab_addr)
            if strtab_off is None or strtab_off >= size:
                if wants_names:
                    errors.append("DT_STRTAB not in a loaded segment of the file")
            else:
                want = max([*needed_off, *(n or 0 for n in names)]) + 4096
                strsz = dyn.get(_DT_STRSZ, 0)
                strtab = _read_at(f, strtab_off, min(max(strsz, want), _MAX_STRTAB))
                info.needed = [s for s in (_cstr(strtab, o) for o in needed_off) if s]
                soname, rpath, runpath = (None if o is None else _cstr(strtab, o) or None
                                          for o in names)
                info.soname, facts.rpath, facts.runpath = soname, rpath, runpath
        elif wants_names:
            errors.append("dynamic section without DT_STRTAB")

    # Section headers: whether a .symtab exists, and where .dynsym and its strings are.
    sh_ent = 40 if is32 else 64
    shnum = hdr.e_shnum
    has_symtab = False
    dynsym: tuple[int, int, int, int] | None = None  # (offset, size, entsize, link)
    sections: bytes = b""
    if hdr.e_shoff and hdr.e_shentsize == sh_ent and hdr.e_shoff < size:
        if shnum == 0:  # extended numbering: the count is in section 0's sh_size
            first = _read_at(f, hdr.e_shoff, sh_ent)
            if len(first) == sh_ent:
                shnum = struct.unpack_from(e + ("I" if is32 else "Q"), first, 20 if is32 else 32)[0]
        shnum = min(shnum, _MAX_SHNUM)
        sections = _read_at(f, hdr.e_shoff, shnum * sh_ent)
        for i in range(len(sections) // sh_ent):
            sh_type = struct.unpack_from(e + "I", sections, i * sh_ent + 4)[0]
            if sh_type == _SHT_SYMTAB:
                has_symtab = True
            elif sh_type == _SHT_DYNSYM and dynsym is None:
                dynsym = _section_extent(sections, i, e, is32)[:4]
    info.stripped = not has_symtab
    info.static = info.interpreter is None and not info.needed

    if hardening.applies(hdr.e_type):
        imported, exported = _dynsym_names(f, hdr, size, dyn, strtab, dynsym, sections,
                                           file_offset)
        facts.symbols_known = imported is not None
        info.hardening = hardening.decide(facts, imported or (), exported or ())
    if errors:
        info.parse_error = "; ".join(errors)
    return info


def _section_extent(sections: bytes, index: int, e: str, is32: bool
                    ) -> tuple[int, int, int, int]:
    """(sh_offset, sh_size, sh_entsize, sh_link) of section ``index`` of the table."""
    sh_ent = 40 if is32 else 64
    if is32:
        _n, _t, _f, _a, off, sz, link, _i, _al, ent = struct.unpack_from(
            e + "IIIIIIIIII", sections, index * sh_ent)
    else:
        _n, _t, _f, _a, off, sz, link, _i, _al, ent = struct.unpack_from(
            e + "IIQQQQIIQQ", sections, index * sh_ent)
    return off, sz, ent, link


def _dynsym_count(f, dyn: dict[int, int], hdr: ElfHeader, file_offset) -> int | None:
    """Number of dynamic symbols for a file without section headers: the largest of what
    DT_HASH (nchain), DT_GNU_HASH (the last chain's end), DT_MIPS_SYMTABNO and the highest
    symbol index the relocations use say. GNU hash alone undercounts when no symbol is
    defined (it covers defined symbols only), which is why LIEF retries on relocations."""
    e = hdr.endian
    is32 = hdr.elf_class == 32
    counts = []
    if _DT_MIPS_SYMTABNO in dyn:
        counts.append(dyn[_DT_MIPS_SYMTABNO])
    off = file_offset(dyn[_DT_HASH]) if _DT_HASH in dyn else None
    if off is not None:
        head = _read_at(f, off, 8)
        if len(head) == 8:
            counts.append(struct.unpack_from(e + "II", head)[1])
    off = file_offset(dyn[_DT_GNU_HASH]) if _DT_GNU_HASH in dyn else None
    if off is not None:
        counts.append(_gnu_hash_count(f, off, e, is32))
    if hdr.e_machine != _EM_MIPS:  # MIPS64 packs r_info differently; it has SYMTABNO
        counts.append(_relocation_count(f, dyn, hdr, file_offset))
    known = [c for c in counts if c is not None]
    return min(max(known), _MAX_DYNSYM) if known else None


def _gnu_hash_count(f, off: int, e: str, is32: bool) -> int | None:
    head = _read_at(f, off, 16)
    if len(head) < 16:
        return None
    nbuckets, symoffset, bloom_size, _shift = struct.unpack_from(e + "IIII", head)
    if nbuckets > _MAX_DYNSYM or bloom_size > _MAX_DYNSYM:
        return None
    buckets_off = off + 16 + bloom_size * (4 if is32 else 8)
    buckets = _read_at(f, buckets_off, nbuckets * 4)
    if len(buckets) < nbuckets * 4:
        return None
    last = max(struct.unpack_from(f"{e}{nbuckets}I", buckets), default=0)
    if last < symoffset:
        return symoffset
    # Walk the last bucket's chain to the entry with the low bit set: it ends the table.
    at = buckets_off + nbuckets * 4 + (last - symoffset) * 4
    index = last
    while index - last < _MAX_DYNSYM:
        chunk = _read_at(f, at, 4096)
        n = len(chunk) // 4
        if n == 0:
            return None
        for i, value in enumerate(struct.unpack_from(f"{e}{n}I", chunk)):
            if value & 1:
                return index + i + 1
        index += n
        at += n * 4
    return None


def _relocation_count(f, dyn: dict[int, int], hdr: ElfHeader, file_offset) -> int | None:
    """One more than the highest symbol index of the REL/RELA and PLT relocations."""
    is32 = hdr.elf_class == 32
    word, shift = ("I", 8) if is32 else ("Q", 32)
    highest = -1
    tables = [(dyn.get(_DT_RELA), dyn.get(_DT_RELASZ), True),
              (dyn.get(_DT_REL), dyn.get(_DT_RELSZ), False),
              (dyn.get(_DT_JMPREL), dyn.get(_DT_PLTRELSZ), dyn.get(_DT_PLTREL) == _DT_RELA)]
    for addr, size, rela in tables:
        off = file_offset(addr) if addr is not None and size else None
        if off is None:
            continue
        fields = 3 if rela else 2  # r_offset, r_info[, r_addend]
        entry = fields * (4 if is32 else 8)
        raw = _read_at(f, off, min(size, _MAX_STRTAB))
        words = array.array(word, raw[: len(raw) // entry * entry])
        if (sys.byteorder == "little") != hdr.little:
            words.byteswap()
        infos = words[1::fields]
        if infos:
            highest = max(highest, max(infos) >> shift)
    return highest + 1 if highest >= 0 else None


def _dynsym_names(f, hdr: ElfHeader, size: int, dyn: dict[int, int], strtab: bytes,
                  dynsym: tuple[int, int, int, int] | None, sections: bytes, file_offset
                  ) -> tuple[set[str] | None, set[str] | None]:
    """The imported and the exported dynamic symbols among the names the hardening verdicts
    look at (``hardening.VERDICT_NAMES``), or (None, None) when there are no dynamic symbols.

    Same selection as the LIEF path: undefined named symbols are imports; defined global,
    weak or unique objects, functions, TLS or ifuncs are exports.
    """
    e = hdr.endian
    is32 = hdr.elf_class == 32
    sym_ent = 16 if is32 else 24
    if dynsym is not None:
        offset, total, entsize, link = dynsym
        count = total // (entsize or sym_ent)
        sh_ent = 40 if is32 else 64
        if entsize not in (0, sym_ent) or link * sh_ent >= len(sections):
            return None, None
        str_off, str_size, _ent, _link = _section_extent(sections, link, e, is32)
        strtab = _read_at(f, str_off, min(str_size, _MAX_STRTAB)) if str_off < size else b""
    elif _DT_SYMTAB in dyn:
        found = file_offset(dyn[_DT_SYMTAB])
        count = _dynsym_count(f, dyn, hdr, file_offset)
        if found is None or count is None:
            return None, None
        offset = found
    else:
        return None, None
    count = min(count, _MAX_DYNSYM)
    if count <= 1 or offset >= size:  # nothing besides the null symbol
        return None, None
    table = _read_at(f, offset, count * sym_ent)
    table = table[: len(table) // sym_ent * sym_ent]
    # Find the few names the verdicts look at in the string table, then the symbols whose
    # st_name (the first word of each entry) points at one. A name merged into the tail of a
    # longer string is not seen.
    wanted = {m.start(1): m.group(1).decode("ascii")
              for m in hardening.VERDICT_NAMES.finditer(strtab)}
    imported: set[str] = set()
    exported: set[str] = set()
    if not wanted:
        return imported, exported
    # The st_name column in the machine's byte order, searched in C for each wanted offset.
    words = array.array("I", table)
    if (sys.byteorder == "little") != hdr.little:
        words.byteswap()
    column = words[:: sym_ent // 4].tobytes()
    fmt = e + ("IIIBBH" if is32 else "IBBHQQ")
    for name_at, name in wanted.items():
        needle = struct.pack("=I", name_at)
        at = column.find(needle)
        while at >= 0:
            if at % 4 == 0:
                fields = struct.unpack_from(fmt, table, at // 4 * sym_ent)
                if is32:
                    _n, st_value, _sz, st_info, _other, shndx = fields
                else:
                    _n, st_info, _other, shndx, st_value, _sz = fields
                if shndx == _SHN_UNDEF:
                    imported.add(name)
                elif ((st_info >> 4) in _PUBLIC_BINDINGS and (st_info & 0xF) in _EXPORT_TYPES
                      and not (shndx == _SHN_ABS and st_value == 0)):
                    exported.add(name)
            at = column.find(needle, at + 1)
    return imported, exported


# --------------------------------------------------------------------------------------------
# LIEF parser

_lief = None
_lief_configs: tuple = ()


def _lief_module():
    """Import LIEF lazily, silence its logging and build the reduced parser configurations.

    Returns (lief, hash_config, auto_config). Both skip relocations, .symtab, symbol versions,
    notes and overlay. `hash_config` counts dynamic symbols from DT_HASH / DT_GNU_HASH: LIEF's
    default (AUTO) distrusts a hash count that exceeds the relocation-derived count by more
    than a few thousand when there are no section headers, which silently drops exports of
    large sstrip'ed libraries. `auto_config` is the retry for files without hash tables.
    """
    global _lief, _lief_configs
    if _lief is None:
        import lief

        lief.logging.disable()
        configs = []
        for mtd in (
            lief.ELF.ParserConfig.DYNSYM_COUNT.HASH,
            lief.ELF.ParserConfig.DYNSYM_COUNT.AUTO,
        ):
            cfg = lief.ELF.ParserConfig()
            cfg.parse_relocations = False
            cfg.parse_symtab_symbols = False
            cfg.parse_symbol_versions = False
            cfg.parse_notes = False
            cfg.parse_overlay = False
            cfg.parse_dyn_symbols = True
            cfg.count_mtd = mtd
            configs.append(cfg)
        _lief_configs = tuple(configs)
        _lief = lief
    return _lief, _lief_configs[0], _lief_configs[1]


@dataclass
class ElfResult:
    info: ElfInfo
    exported_truncated: bool = False
    imported_truncated: bool = False
    kernel_module: bool = False
    #: DF_1_PIE present in DT_FLAGS_1 (None: unknown, e.g. header-only parse).
    pie: bool | None = None


def elf_info(path: Path, size: int, head: bytes) -> ElfResult:
    """Full ELF facts: LIEF for dynamic section and symbols, struct fallback. Never raises."""
    try:
        hdr = parse_header(head)
    except ElfHeaderError as exc:
        return ElfResult(
            ElfInfo(
                elf_class=0,
                endianness="unknown",
                machine="unknown",
                elf_type="unknown",
                parse_error=str(exc),
            )
        )
    problem = header_problems(hdr, size)
    if size > MAX_LIEF_SIZE:
        return ElfResult(
            _fallback(path, head, hdr, f"file larger than {MAX_LIEF_SIZE} bytes: symbols not read")
        )
    try:
        return _lief_elf_info(path, hdr, problem)
    except Exception as exc:  # LIEF or our use of it failed: fall back to the struct parser
        return ElfResult(_fallback(path, head, hdr, f"LIEF failed: {type(exc).__name__}: {exc}"))


def _fallback(path: Path, head: bytes, hdr: ElfHeader, note: str) -> ElfInfo:
    """Header-level facts from the struct parser, with `note` recorded in parse_error."""
    info = elf_info_fast(path, head)
    if info.elf_class == 0:  # could not even reopen the file: keep what the head told us
        info = hdr.base_info(info.parse_error)
    info.parse_error = f"{note}; {info.parse_error}" if info.parse_error else note
    return info


def _lief_elf_info(path: Path, hdr: ElfHeader, problem: str | None) -> ElfResult:
    lief, hash_cfg, auto_cfg = _lief_module()
    ELF = lief.ELF
    binary = ELF.parse(str(path), hash_cfg)
    if binary is None:
        raise RuntimeError("lief.ELF.parse returned None")
    tag = ELF.DynamicEntry.TAG
    if len(binary.dynamic_symbols) <= 1 and binary.has(tag.SYMTAB):
        # No hash table to count from, or a GNU hash table without a defined symbol (it
        # covers defined symbols only): count from the relocations instead.
        binary = ELF.parse(str(path), auto_cfg) or binary
    info = hdr.base_info(problem)
    result = ElfResult(info)

    # LIEF hands strings over as UTF-8 and raises on anything else; the struct parser decodes
    # with backslashreplace (JSON-safe), so it supplies these fields when LIEF cannot.
    undecodable = False
    needed: list[str] = []
    soname = None
    try:
        if binary.has_interpreter:
            info.interpreter = binary.interpreter or None
    except UnicodeDecodeError:
        undecodable = True
    lib_cls, soname_cls = ELF.DynamicEntryLibrary, ELF.DynamicSharedObject
    flags_cls, rpath_cls, runpath_cls = (ELF.DynamicEntryFlags, ELF.DynamicEntryRpath,
                                         ELF.DynamicEntryRunPath)
    seg = ELF.Segment.TYPE
    facts = HardeningFacts(e_type=hdr.e_type, has_phdrs=hdr.e_phnum > 0 and
                           len(binary.segments) > 0, has_interp=binary.has(seg.INTERP),
                           gnu_relro=binary.has(seg.GNU_RELRO),
                           bind_now_tag=binary.has(tag.BIND_NOW),
                           has_soname=binary.has(tag.SONAME))
    stack = binary.get(seg.GNU_STACK)
    if stack is not None:
        facts.gnu_stack_flags = int(stack.flags)
    flags_seen: set[bool] = set()
    for entry in binary.dynamic_entries:
        try:
            if isinstance(entry, lib_cls):
                if entry.name:
                    needed.append(entry.name)
            elif isinstance(entry, soname_cls) and soname is None:
                soname = entry.name or None
            elif isinstance(entry, flags_cls):
                is_flags_1 = entry.tag == tag.FLAGS_1
                if is_flags_1:
                    result.pie = bool(entry.value & _DF_1_PIE)
                if is_flags_1 not in flags_seen:  # the first of each, as the struct parser
                    flags_seen.add(is_flags_1)
                    if is_flags_1:
                        facts.dt_flags_1 = entry.value
                    else:
                        facts.dt_flags = entry.value
            elif isinstance(entry, rpath_cls) and facts.rpath is None:
                facts.rpath = entry.rpath
            elif isinstance(entry, runpath_cls) and facts.runpath is None:
                facts.runpath = entry.runpath
        except UnicodeDecodeError:
            undecodable = True
    info.needed = needed
    info.soname = soname
    if undecodable:
        fast = elf_info_fast(path)
        info.interpreter, info.needed, info.soname = fast.interpreter, fast.needed, fast.soname
        if fast.hardening is not None:
            facts.rpath, facts.runpath = fast.hardening.rpath, fast.hardening.runpath

    # binary.has() looks in C++: iterating sections would build a Python enum per section type,
    # which warns on the unknown values of malformed files.
    info.stripped = not binary.has(ELF.Section.TYPE.SYMTAB)
    result.kernel_module = hdr.e_type == 1 and binary.has_section(".modinfo")
    info.static = info.interpreter is None and not needed

    # Attribute access on LIEF symbols costs about a microsecond each, so read as few as
    # possible: st_shndx first, then st_info (binding << 4 | type) only for defined symbols.
    # Undefined non-local dynamic symbols are imports; the only undefined local one is the
    # unnamed null symbol. Hidden/internal symbols never stay global in .dynsym.
    exported: set[str] = set()
    imported: set[str] = set()
    bad_names = 0
    for sym in binary.dynamic_symbols:
        shndx = sym.shndx
        if shndx != _SHN_UNDEF:
            st_info = sym.information
            if (st_info >> 4) not in _PUBLIC_BINDINGS or (st_info & 0xF) not in _EXPORT_TYPES:
                continue
            if shndx == _SHN_ABS and sym.value == 0:
                continue  # version-definition markers such as GLIBC_2.2.5
        try:
            name = sym.name
        except UnicodeDecodeError:
            name = None
        if isinstance(name, bytes):  # LIEF returns bytes for names that are not UTF-8
            name = name.decode("utf-8", "backslashreplace")
            bad_names += 1
        elif name is None:
            bad_names += 1
            continue
        if name:
            (imported if shndx == _SHN_UNDEF else exported).add(name)
    if hardening.applies(hdr.e_type):
        facts.symbols_known = len(binary.dynamic_symbols) > 1  # more than the null symbol
        info.hardening = hardening.decide(facts, imported, exported)
    if bad_names:
        note = f"{bad_names} dynamic symbol names are not UTF-8 (backslash-escaped)"
        info.parse_error = f"{info.parse_error}; {note}" if info.parse_error else note
    exp = sorted(exported)
    imp = sorted(imported)
    if len(exp) > MAX_SYMBOLS:
        exp = exp[:MAX_SYMBOLS]
        result.exported_truncated = True
    if len(imp) > MAX_SYMBOLS:
        imp = imp[:MAX_SYMBOLS]
        result.imported_truncated = True
    info.exported_symbols = exp
    info.imported_symbols = imp
    return result


def describe(result: ElfResult) -> str:
    """`file`-like one-liner, e.g. "ELF 32-bit LSB ARM shared object, dynamically linked"."""
    info = result.info
    if info.elf_class == 0:
        return f"data with ELF magic, corrupt header ({info.parse_error})"
    order = "LSB" if info.endianness == "little" else "MSB"
    kind = {
        "EXEC": "executable",
        "REL": "relocatable",
        "CORE": "core file",
    }.get(info.elf_type)
    if info.elf_type == "DYN":
        pie = result.pie if result.pie is not None else bool(info.interpreter and not info.soname)
        kind = "pie executable" if pie else "shared object"
    if kind is None:
        kind = f"type {info.elf_type}"
    if result.kernel_module:
        kind = "relocatable (kernel module)"
    parts = [f"ELF {info.elf_class}-bit {order} {info.machine} {kind}"]
    if info.elf_type in ("EXEC", "DYN"):
        parts.append("statically linked" if info.static else "dynamically linked")
    parts.append("stripped" if info.stripped else "not stripped")
    if result.exported_truncated:
        parts.append(f"exported symbols truncated to {MAX_SYMBOLS}")
    if result.imported_truncated:
        parts.append(f"imported symbols truncated to {MAX_SYMBOLS}")
    if info.parse_error:
        parts.append("parse error")
    return ", ".join(parts)
