"""The binary-equivalence report (``equiv/report.json``): typed, sorted, deterministic.

Published as ``docs/schema/equiv.schema.json`` (a test fails when it drifts from these
classes). A verdict is one of three words, from strongest to weakest:

* ``identical``: the same bytes (same sha256);
* ``equivalent``: different bytes, but the same after the normalisations listed with it,
  each of which is shown (docs/equiv.md) not to change what the device does;
* ``different``: a difference spyproof cannot show to be behaviour-neutral.
"""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from spyproof.models import ToolInfo

EQUIV_SCHEMA_VERSION = "1.0.0"


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", use_enum_values=True)


class Verdict(StrEnum):
    identical = "identical"
    equivalent = "equivalent"
    different = "different"


class PairStatus(StrEnum):
    """A path's status: a verdict when it is on both sides, else which side holds it."""

    identical = "identical"
    equivalent = "equivalent"
    different = "different"
    only_in_a = "only_in_a"
    only_in_b = "only_in_b"


class Normalisation(_Model):
    """One difference that was set aside because it cannot change behaviour."""

    kind: str = Field(description="What was normalised, e.g. uimage.ih_time, "
                      "squashfs.mkfs_time, gzip.mtime, tar.mtime, elf.build_id, "
                      "elf.debug_sections, elf.build_path (docs/equiv.md lists them all).")
    where: str = Field(description="The file (logical path) and the field or section.")
    detail: str = Field(description="The two values, or what differed, in one line.")


class ByteRange(_Model):
    start: int
    end: int = Field(description="Exclusive.")


class SectionSide(_Model):
    offset: int = Field(description="File offset of the section (sh_offset).")
    size: int
    address: int = Field(description="Virtual address (sh_addr); 0 when not loaded.")
    sha256: str


class SectionDiff(_Model):
    """One ELF section (or header, or segment) whose bytes or attributes differ."""

    name: str = Field(description="Section name; '(ELF header)', '(program headers)' or "
                      "'(segment N TYPE)' for differences outside every section.")
    status: str = Field(description="different | normalised | only_in_a | only_in_b")
    normalisation: str | None = Field(default=None,
                                      description="The normalisation kind when normalised.")
    allocated: bool = Field(description="SHF_ALLOC: mapped into memory at run time.")
    executable: bool = Field(description="SHF_EXECINSTR: holds machine code.")
    type: str | None = None
    a: SectionSide | None = None
    b: SectionSide | None = None
    attributes: list[str] = Field(default_factory=list, description="Section header fields "
                                  "(type, flags, address, alignment…) that differ.")
    first_difference_in_section: int | None = Field(
        default=None, description="Offset of the first differing byte inside the section.")
    first_difference_file_offset_a: int | None = None
    first_difference_file_offset_b: int | None = None
    differing_bytes: int = Field(default=0, description="Bytes that differ over the length "
                                 "both have (a size difference is not counted here).")
    ranges: list[ByteRange] = Field(default_factory=list, description="Differing byte "
                                    "ranges inside the section (the first 16).")
    note: str | None = None


class ElfComparison(_Model):
    elf_class: str = Field(description="ELF32 or ELF64.")
    machine: str
    type: str = Field(description="EXEC, DYN, REL, CORE.")
    executable_sections_identical: bool = Field(
        description="Every SHF_EXECINSTR section (.text, .init, .fini, .plt…) is identical.")
    allocated_sections_identical: bool = Field(
        description="Every SHF_ALLOC section (code, .rodata, .data, .init_array, "
        ".fini_array, .got, .dynsym, .dynstr…) is identical once the build-id is "
        "normalised.")
    segments_identical: bool = Field(
        description="The program headers and every segment's bytes in the file are "
        "identical, apart from the build-id and the section-header-table fields of the "
        "ELF header: what the kernel and the dynamic loader read.")
    sections: list[SectionDiff] = Field(default_factory=list,
                                        description="Only the sections that differ.")


class FileComparison(_Model):
    """One path, on one side or both."""

    path: str = Field(description="Logical path: the tree key (extraction directories named "
                      "alike on both sides) and the POSIX path inside the tree.")
    tree: str = Field(description="Logical key of the tree holding the path ('' for the "
                      "inputs themselves and for directory inputs).")
    kind: str = Field(description="file, directory, symlink, hardlink, char_device…; "
                      "'a/b' when the kinds differ.")
    status: PairStatus
    format: str | None = Field(default=None, description="Container format when the file "
                               "was unpacked (uimage, squashfs_v4_le, gzip, tar…).")
    size_a: int | None = None
    size_b: int | None = None
    sha256_a: str | None = None
    sha256_b: str | None = None
    reasons: list[str] = Field(default_factory=list,
                               description="Why the path is different, one line each.")
    normalisations: list[Normalisation] = Field(default_factory=list)
    first_difference: int | None = Field(
        default=None, description="First differing byte offset (files compared as bytes).")
    elf: ElfComparison | None = None


class InputInfo(_Model):
    path: str = Field(description="As given on the command line.")
    kind: str = Field(description="image (unpacked by spyproof), file (not unpacked: a "
                      "plain blob or an ELF) or directory (an unpacked tree).")
    size: int | None = None
    sha256: str | None = None
    formats: list[str] = Field(default_factory=list,
                               description="Format chain as 'format@offset' (depth 0).")
    complete: bool = Field(default=True, description="False when unpacking stopped early.")


class Summary(_Model):
    identical: int = 0
    equivalent: int = 0
    different: int = 0
    only_in_a: int = 0
    only_in_b: int = 0


class DiffoscopeRun(_Model):
    status: str = Field(description="not installed | not needed | ran | timeout | failed | "
                        "disabled")
    version: str | None = None
    outputs: list[str] = Field(default_factory=list,
                               description="Files written, relative to the output dir.")
    detail: str | None = None


class EquivWarning(_Model):
    side: str = Field(description="a or b")
    code: str
    message: str


class EquivReport(_Model):
    schema_version: str = EQUIV_SCHEMA_VERSION
    tool: ToolInfo
    generated_at: str = Field(description="The only field that changes between two runs.")
    verdict: Verdict
    complete: bool = Field(description="False when either side could not be unpacked "
                           "completely: the verdict then covers only what was compared.")
    a: InputInfo
    b: InputInfo
    summary: Summary
    normalisations: list[Normalisation] = Field(
        default_factory=list, description="Every normalisation applied, across all files.")
    files: list[FileComparison] = Field(
        default_factory=list, description="Every path compared, sorted by path; identical "
        "paths included.")
    warnings: list[EquivWarning] = Field(default_factory=list)
    diffoscope: DiffoscopeRun


SCHEMA_FILE = "equiv.schema.json"


def render_schema() -> str:
    """The published JSON Schema of report.json (docs/schema/equiv.schema.json)."""
    import json

    schema = EquivReport.model_json_schema(mode="serialization")
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = f"https://spyproof.dev/schema/{EQUIV_SCHEMA_VERSION}/{SCHEMA_FILE}"
    return json.dumps(schema, indent=2, sort_keys=True) + "\n"

