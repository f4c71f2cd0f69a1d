"""checksec's hardening verdicts, decided once from facts both ELF parsers collect.

The LIEF path and the struct path of ``elf.py`` each gather the same raw facts (ELF type,
the PT_GNU_STACK flags, PT_GNU_RELRO, the binding flags, DT_RPATH/DT_RUNPATH and the
dynamic symbol names) into :class:`HardeningFacts`; :func:`decide` turns them into an
``ElfHardening``, so both paths agree by construction.

Semantics follow checksec (https://github.com/slimm609/checksec), with these deviations:

* NX: a missing PT_GNU_STACK counts as an executable stack (as checksec's Go version does;
  the old shell version said "NX enabled"). That is the kernel's default on MIPS and 32-bit
  x86; AArch64 and RISC-V kernels default to a non-executable stack, which is not modelled.
  When several PT_GNU_STACK headers exist, the first one decides.
* PIE: ET_DYN with DF_1_PIE, or with PT_INTERP and no DT_SONAME for linkers older than
  DF_1_PIE (the rule ``file`` uses). checksec calls every ET_DYN "PIE", which makes every
  shared library one; here a shared library (even a runnable one such as libc.so.6, which
  has PT_INTERP) gets ``None``, not ``False``.
* RELRO full: PT_GNU_RELRO plus DT_BIND_NOW, DF_BIND_NOW in DT_FLAGS or DF_1_NOW in
  DT_FLAGS_1. glibc's loader honours DF_1_NOW alone; checksec's ``grep BIND_NOW`` does not.
* Canary: a stack-protector symbol among the dynamic symbols, imported or defined (checksec
  greps ``readelf -s``). The .symtab is not read (the inventory skips it for speed), so a
  static binary without dynamic symbols gets ``None``: unknown, not absent.
* FORTIFY: the imported ``__*_chk`` functions (checksec also counts defined ones, which
  makes the C library itself "fortified").
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from spyproof.models import ElfHardening, Relro

ET_EXEC = 2
ET_DYN = 3

PT_GNU_STACK = 0x6474E551
PT_GNU_RELRO = 0x6474E552
PF_X = 0x1

DT_RPATH = 15
DT_BIND_NOW = 24
DT_RUNPATH = 29
DT_FLAGS = 30
DT_FLAGS_1 = 0x6FFFFFFB
DF_BIND_NOW = 0x8
DF_1_NOW = 0x1
DF_1_PIE = 0x08000000

#: Symbols the stack protector brings in: GCC/glibc and musl (``__stack_chk_fail``, plus
#: ``__stack_chk_guard`` on targets without a TLS canary, ``__stack_chk_fail_local`` from
#: libssp_nonshared), Intel's compiler, and the ProPolice patches of old uClibc toolchains.
CANARY_SYMBOLS = frozenset({
    "__stack_chk_fail",
    "__stack_chk_fail_local",
    "__stack_chk_guard",
    "__intel_security_cookie",
    "__stack_smash_handler",
})

_FORTIFIED_LINE = re.compile(r"\n(__\w+_chk)(?=\n)", re.ASCII)  # a line of joined names
#: The canary symbols and fortified functions as whole strings of a string table (what the
#: struct parser searches for).
VERDICT_NAMES = re.compile(
    rb"\0(" + b"|".join(re.escape(n.encode()) for n in sorted(CANARY_SYMBOLS))
    + rb"|__\w+_chk)(?=\0)"
)


@dataclass
class HardeningFacts:
    """What a parser read; ``symbols_known`` is False when it found no dynamic symbols."""

    e_type: int
    has_phdrs: bool
    has_interp: bool
    has_soname: bool = False
    gnu_stack_flags: int | None = None  # p_flags of the first PT_GNU_STACK; None: absent
    gnu_relro: bool = False
    bind_now_tag: bool = False  # DT_BIND_NOW present
    dt_flags: int = 0
    dt_flags_1: int = 0
    rpath: str | None = None
    runpath: str | None = None
    symbols_known: bool = False


def applies(e_type: int) -> bool:
    """Hardening is a property of executables and shared libraries only."""
    return e_type in (ET_EXEC, ET_DYN)


def decide(facts: HardeningFacts, imported: Iterable[str],
           exported: Iterable[str]) -> ElfHardening:
    """The checksec verdicts for one file (see the module docstring for the semantics)."""
    nx: bool | None = None
    if facts.has_phdrs:
        nx = facts.gnu_stack_flags is not None and not facts.gnu_stack_flags & PF_X
    pie: bool | None = None
    if facts.e_type == ET_EXEC:
        pie = False
    elif facts.e_type == ET_DYN and (facts.dt_flags_1 & DF_1_PIE
                                     or facts.has_interp and not facts.has_soname):
        pie = True
    bind_now = bool(facts.bind_now_tag or facts.dt_flags & DF_BIND_NOW
                    or facts.dt_flags_1 & DF_1_NOW)
    relro = Relro.none
    if facts.gnu_relro:
        relro = Relro.full if bind_now else Relro.partial
    canary: bool | None = None
    fortify: list[str] | None = None
    if facts.symbols_known:
        imported = imported if isinstance(imported, set) else set(imported)
        canary = not CANARY_SYMBOLS.isdisjoint(imported) or \
            not CANARY_SYMBOLS.isdisjoint(exported)
        # one regex over the joined names: much faster than a test per imported symbol
        fortify = sorted(_FORTIFIED_LINE.findall("\n" + "\n".join(imported) + "\n"))
    return ElfHardening(nx=nx, pie=pie, relro=relro, bind_now=bind_now, canary=canary,
                        fortify=fortify, rpath=facts.rpath, runpath=facts.runpath)
