"""ELF facts for the inventory: LIEF for the dynamic section and symbols, struct as fallback.

`elf_info(path, size, head)` is what `classify` calls. It never raises: whatever cannot be read
ends up in `ElfInfo.parse_error`. The header fields (class, endianness, machine, type) always come
from our own struct parse of `head`, so they are the same whether LIEF succeeds or not.

`elf_info_fast(path)` reads only the ELF header, the program headers, the dynamic segment and
its string table, and the section header types, via `struct` and a handful of small reads. It
yields everything except the symbol lists and is used when LIEF fails or the file is too large
to hand to LIEF (LIEF reads the whole file into memory).
"""

from __future__ import annotations

import struct
import warnings
from dataclasses import dataclass
from pathlib import Path

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
_PT_LOAD = 1
_PT_DYNAMIC = 2
_PT_INTERP = 3
_DT_NULL = 0
_DT_NEEDED = 1
_DT_STRTAB = 5
_DT_STRSZ = 10
_DT_SONAME = 14
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

    # Program headers: PT_INTERP, PT_DYNAMIC, PT_LOAD (for address -> offset).
    loads: list[tuple[int, int, int]] = []  # (vaddr, offset, filesz)
    dynamic: tuple[int, int] | None = None
    ph_ent = 32 if is32 else 56
    phnum = min(hdr.e_phnum, _MAX_PHNUM)
    if phnum and hdr.e_phentsize == ph_ent and hdr.e_phoff < size:
        table = _read_at(f, hdr.e_phoff, phnum * ph_ent)
        for i in range(len(table) // ph_ent):
            if is32:
                p_type, p_offset, p_vaddr, _pa, p_filesz = struct.unpack_from(
                    e + "IIIII", table, i * ph_ent
                )
            else:
                p_type, _fl, p_offset, p_vaddr, _pa, p_filesz = struct.unpack_from(
                    e + "IIQQQQ", table, i * ph_ent
                )
            if p_type == _PT_LOAD:
                loads.append((p_vaddr, p_offset, p_filesz))
            elif p_type == _PT_DYNAMIC:
                dynamic = (p_offset, p_filesz)
            elif p_type == _PT_INTERP and info.interpreter is None:
                if p_offset < size:
                    raw = _read_at(f, p_offset, min(p_filesz, _MAX_INTERP))
                    info.interpreter = raw.split(b"\0", 1)[0].decode("utf-8", "backslashreplace")
                else:
                    errors.append("PT_INTERP beyond end of file")

    # Dynamic segment: DT_NEEDED / DT_SONAME names, resolved through DT_STRTAB.
    if dynamic is not None and dynamic[0] < size:
        dyn_ent = 8 if is32 else 16
        raw = _read_at(f, dynamic[0], min(dynamic[1], _MAX_DYNAMIC))
        fmt = e + ("iI" if is32 else "qQ")
        needed_off: list[int] = []
        soname_off: int | None = None
        strtab_addr: int | None = None
        strsz = 0
        for i in range(len(raw) // dyn_ent):
            tag, val = struct.unpack_from(fmt, raw, i * dyn_ent)
            if tag == _DT_NULL:
                break
            if tag == _DT_NEEDED:
                needed_off.append(val)
            elif tag == _DT_SONAME:
                soname_off = val
            elif tag == _DT_STRTAB:
                strtab_addr = val
            elif tag == _DT_STRSZ:
                strsz = val
        if (needed_off or soname_off is not None) and strtab_addr is not None:
            strtab_off = None
            for vaddr, offset, filesz in loads:
                if vaddr <= strtab_addr < vaddr + filesz:
                    strtab_off = offset + (strtab_addr - vaddr)
                    break
            if strtab_off is None or strtab_off >= size:
                errors.append("DT_STRTAB not in a loaded segment of the file")
            else:
                want = max([*needed_off, soname_off or 0]) + 4096
                strtab = _read_at(f, strtab_off, min(max(strsz, want), _MAX_STRTAB))
                info.needed = [s for s in (_cstr(strtab, o) for o in needed_off) if s]
                if soname_off is not None:
                    info.soname = _cstr(strtab, soname_off) or None
        elif needed_off or soname_off is not None:
            errors.append("dynamic section without DT_STRTAB")

    # Section headers: only the types, to see whether a .symtab exists.
    sh_ent = 40 if is32 else 64
    shnum = hdr.e_shnum
    has_symtab = False
    if hdr.e_shoff and hdr.e_shentsize == sh_ent and hdr.e_shoff < size:
        if shnum == 0:  # extended numbering: the count is in section 0's sh_size
            first = _read_at(f, hdr.e_shoff, sh_ent)
            if len(first) == sh_ent:
                shnum = struct.unpack_from(e + ("I" if is32 else "Q"), first, 20 if is32 else 32)[0]
        shnum = min(shnum, _MAX_SHNUM)
        table = _read_at(f, hdr.e_shoff, shnum * sh_ent)
        for i in range(len(table) // sh_ent):
            if struct.unpack_from(e + "I", table, i * sh_ent + 4)[0] == _SHT_SYMTAB:
                has_symtab = True
                break
    info.stripped = not has_symtab
    info.static = info.interpreter is None and not info.needed
    if errors:
        info.parse_error = "; ".join(errors)
    return info


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
    if (
        len(binary.dynamic_symbols) == 0
        and binary.has(tag.SYMTAB)
        and not (binary.has(tag.HASH) or binary.has(tag.GNU_HASH))
    ):
        binary = ELF.parse(str(path), auto_cfg) or binary  # no hash table to count from
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
    flags_cls = ELF.DynamicEntryFlags
    for entry in binary.dynamic_entries:
        try:
            if isinstance(entry, lib_cls):
                if entry.name:
                    needed.append(entry.name)
            elif isinstance(entry, soname_cls) and soname is None:
                soname = entry.name or None
            elif isinstance(entry, flags_cls) and entry.tag == ELF.DynamicEntry.TAG.FLAGS_1:
                result.pie = bool(entry.value & _DF_1_PIE)
        except UnicodeDecodeError:
            undecodable = True
    info.needed = needed
    info.soname = soname
    if undecodable:
        fast = elf_info_fast(path)
        info.interpreter, info.needed, info.soname = fast.interpreter, fast.needed, fast.soname

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
