"""Typed models that the pipeline stages exchange and that the report serialises.

The report's JSON Schema is generated from these classes (docs/schema/report.schema.json);
a test fails when the committed schema drifts from them.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

SCHEMA_VERSION = "1.5.0"


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", use_enum_values=True)


class EntryKind(StrEnum):
    """What a path inside an extracted tree is, as the filesystem stored it."""

    file = "file"
    directory = "directory"
    symlink = "symlink"
    hardlink = "hardlink"
    char_device = "char_device"
    block_device = "block_device"
    fifo = "fifo"
    socket = "socket"


# Kinds an extractor records from the image's metadata but never creates on disk.
SPECIAL_KINDS = frozenset({EntryKind.char_device, EntryKind.block_device, EntryKind.fifo,
                           EntryKind.socket})


class FileType(StrEnum):
    """What a regular file contains, as far as spyproof's checks care."""

    elf = "elf"
    script = "script"
    certificate = "certificate"
    private_key = "private_key"
    public_key = "public_key"
    config = "config"
    archive = "archive"
    text = "text"
    data = "data"
    empty = "empty"


class Severity(StrEnum):
    critical = "critical"
    high = "high"
    medium = "medium"
    low = "low"
    info = "info"


class Verdict(StrEnum):
    passed = "pass"
    failed = "fail"
    inconclusive = "inconclusive"


class Evidence(_Model):
    """Where a fact was read: the file inside the image, where in it, and what was there."""

    tree: str = Field(description="Id of the extracted tree holding the file.")
    path: str = Field(description="POSIX path inside the tree, relative to its root.")
    sha256: str | None = Field(default=None, description="sha256 of the whole file.")
    offset: int | None = Field(default=None, description="Byte offset of the match.")
    line: int | None = Field(default=None, description="1-based line of the match.")
    text: str | None = Field(default=None, description="The matched text (secrets masked).")
    hex: str | None = Field(default=None, description="The matched bytes, hex-encoded.")
    rule: str | None = Field(default=None, description="Id of the rule that produced this "
                             "evidence (fingerprint pattern id, package-db parser).")
    packet: int | None = Field(default=None, description="Traffic evidence: frame number of "
                               "the first packet (1-based, across the inputs in order).")
    time: str | None = Field(default=None, description="Traffic evidence: time of that "
                             "packet (UTC, ISO 8601 with microseconds).")


class Relro(StrEnum):
    """How much of the relocation data the loader makes read-only after start-up."""

    none = "none"  # no PT_GNU_RELRO
    partial = "partial"  # PT_GNU_RELRO, lazy binding: the PLT's GOT stays writable
    full = "full"  # PT_GNU_RELRO and immediate binding (BIND_NOW): all of the GOT read-only


class ElfHardening(_Model):
    """checksec-style exploit mitigations of one executable or shared library, read from its
    program headers, dynamic section and dynamic symbols at inventory time."""

    nx: bool | None = Field(description="Non-executable stack: a PT_GNU_STACK without PF_X. "
                            "False when it is executable or missing (checksec semantics); "
                            "null without program headers.")
    pie: bool | None = Field(description="Position-independent executable: ET_DYN with "
                             "DF_1_PIE, or with PT_INTERP and no DT_SONAME. False for "
                             "ET_EXEC; null for shared libraries.")
    relro: Relro
    bind_now: bool = Field(description="DT_BIND_NOW, DF_BIND_NOW or DF_1_NOW.")
    canary: bool | None = Field(description="A stack-protector symbol (__stack_chk_fail, "
                                "__stack_chk_guard …) is among the dynamic symbols; null "
                                "when the file has no dynamic symbols to tell.")
    fortify: list[str] | None = Field(description="Imported _FORTIFY_SOURCE functions "
                                      "(__*_chk); null when the file has no dynamic "
                                      "symbols to tell.")
    rpath: str | None = Field(default=None, description="DT_RPATH as stored.")
    runpath: str | None = Field(default=None, description="DT_RUNPATH as stored.")


class ElfInfo(_Model):
    """The parts of an ELF header and dynamic section that later checks rely on."""

    elf_class: int = Field(description="32 or 64.")
    endianness: str = Field(description="little or big.")
    machine: str = Field(description="e_machine, e.g. ARM, MIPS, AARCH64, X86_64.")
    elf_type: str = Field(description="EXEC, DYN, REL or CORE.")
    interpreter: str | None = None
    needed: list[str] = Field(default_factory=list)
    soname: str | None = None
    exported_symbols: list[str] = Field(default_factory=list)
    imported_symbols: list[str] = Field(default_factory=list)
    stripped: bool = False
    static: bool = Field(default=False, description="No interpreter and no needed libraries.")
    hardening: ElfHardening | None = Field(default=None, description="Exploit mitigations "
                                           "(executables and shared libraries only).")
    parse_error: str | None = None


class FileEntry(_Model):
    """One path of one extracted tree: metadata, content hash and content type."""

    tree: str
    path: str
    kind: EntryKind
    size: int = 0
    mode: str = Field(description="Permission bits in octal, e.g. '0755' or '4755'.")
    uid: int = 0
    gid: int = 0
    sha256: str | None = None
    link_target: str | None = Field(
        default=None, description="Symlink target as stored in the image (never resolved)."
    )
    file_type: FileType | None = None
    description: str | None = Field(default=None, description="Short human description.")
    interpreter: str | None = Field(default=None, description="Script interpreter (shebang).")
    elf: ElfInfo | None = None


class FormatChunk(_Model):
    """One recognised format inside a container, with its place in that container."""

    container: str = Field(description="Path of the container, relative to the work root.")
    format: str = Field(description="Handler name, e.g. uimage, squashfs_v4_le, gzip.")
    start_offset: int
    end_offset: int
    depth: int = Field(description="0 for the image itself, +1 per nesting level.")
    extracted_to: str | None = Field(
        default=None, description="Tree id the chunk was extracted to, if any."
    )
    details: dict[str, Any] | None = Field(
        default=None, description="Decoded header fields (e.g. a uImage's name, arch, CRCs)."
    )


class ExtractedTree(_Model):
    """A directory tree that an extractor produced (a filesystem, archive, or payload)."""

    id: str = Field(description="Stable id: the extraction path relative to the work root.")
    format: str
    container: str
    start_offset: int
    end_offset: int
    depth: int
    is_rootfs: bool = False
    file_count: int = 0
    total_bytes: int = 0


class LogEntry(_Model):
    """One line of the extraction log."""

    level: str
    source: str = Field(description="Input or container the entry is about.")
    message: str


class ScanWarning(_Model):
    """Something the scan could not do fully; the report is partial in that respect."""

    code: str = Field(description="Stable id, e.g. limit.total_bytes, path.traversal.")
    message: str
    path: str | None = None


class Component(_Model):
    """A third-party component identified in the image."""

    name: str
    version: str | None = None
    purl: str | None = None
    cpe: str | None = None
    method: str = Field(description="package-db or fingerprint.")
    confidence: float = Field(ge=0.0, le=1.0)
    evidence: list[Evidence] = Field(default_factory=list)
    package: str | None = Field(default=None, description="Package name in the package db.")
    files: list[str] = Field(default_factory=list, description="Files the component owns "
                             "(package db) or was found in (fingerprint), tree-qualified.")
    static_in: list[str] = Field(default_factory=list, description="Binaries that carry a "
                                 "statically linked copy of this component.")


class Cvss(_Model):
    """One CVSS assessment as the feed published it (score computed from the vector when
    the feed gives only the vector)."""

    version: str = Field(description="3.1 or 4.0.")
    vector: str
    score: float | None = None
    severity: str | None = Field(default=None, description="critical/high/medium/low/none.")
    source: str = Field(description="Which record it came from, e.g. nvd:CVE-2023-4911.")


class KevEntry(_Model):
    """The vulnerability is in CISA's Known Exploited Vulnerabilities catalog."""

    date_added: str
    due_date: str | None = None
    ransomware: bool | None = Field(default=None, description="Known ransomware use.")
    name: str | None = None


class EpssScore(_Model):
    """FIRST EPSS: probability of exploitation activity in the next 30 days."""

    score: float
    percentile: float
    date: str


class MatchBasis(_Model):
    """Why the component is affected: which identity was queried and the range that held."""

    method: str = Field(description="purl (an OSV record keyed by the component's package), "
                        "distro (the distribution's own advisory for the package version) or "
                        "cpe (an NVD configuration).")
    record: str = Field(description="The knowledge-base record, source:id.")
    ecosystem: str | None = None
    package: str | None = None
    cpe: str | None = Field(default=None, description="The NVD match criteria that held.")
    version: str = Field(description="The component version that was compared.")
    range: str = Field(description="The affected range that matched, as published.")


class VexAnalysis(_Model):
    """A triage statement from a VEX document that applies to this match."""

    state: str = Field(description="CycloneDX analysis state (not_affected, false_positive, "
                       "resolved, resolved_with_pedigree, exploitable, in_triage).")
    justification: str | None = None
    original_status: str
    original_justification: str | None = None
    detail: str | None = None
    response: list[str] = Field(default_factory=list)
    format: str = Field(description="cyclonedx or openvex.")
    source: str = Field(description="The VEX file and the statement's JSON pointer.")
    timestamp: str | None = None


class Vulnerability(_Model):
    """One known vulnerability affecting one component, with the evidence it rests on."""

    id: str = Field(description="The CVE id when there is one, else the advisory id.")
    aliases: list[str] = Field(default_factory=list)
    records: list[str] = Field(description="Knowledge-base records that agree, source:id.")
    summary: str | None = None
    published: str | None = Field(default=None, description="Earliest publication date of "
                                  "the records (YYYY-MM-DD).")
    severity: str | None = Field(default=None, description="Highest qualitative severity.")
    cvss: list[Cvss] = Field(default_factory=list)
    kev: KevEntry | None = None
    epss: EpssScore | None = None
    component: str = Field(description="bom-ref of the affected component in sbom.cdx.json.")
    component_name: str
    component_version: str | None = None
    matched: list[MatchBasis] = Field(description="Every identity/range that matched.")
    fixed: list[str] = Field(default_factory=list, description="Fixed versions published.")
    references: list[str] = Field(default_factory=list)
    evidence: list[Evidence] = Field(default_factory=list, description="The component "
                                     "evidence the match rests on.")
    analysis: VexAnalysis | None = None
    counts: bool = Field(default=True, description="False when a VEX statement takes it out "
                         "of pass/fail decisions (not_affected with justification, fixed, "
                         "false positive); it stays in the report.")
    sample: bool = Field(default=False, description="Comes from spyproof's bundled sample "
                         "feed, not from an imported knowledge base.")


class Finding(_Model):
    """One piece of evidence a check found, with the rule that fired and why it matters."""

    id: str = Field(description="Stable id: check, rule and a digest of where it was found.")
    check: str = Field(description="Id of the check, e.g. accounts, known-backdoors.")
    rule: str = Field(description="Id of the rule (data entry or logic) that fired.")
    severity: Severity
    title: str
    explanation: str = Field(description="Why it matters, in one or two sentences.")
    clause: str | None = Field(default=None, description="The no-spy clause it informs "
                               "(NS-1 … NS-7).")
    evidence: list[Evidence] = Field(description="Where: file inside the image, offset or "
                                     "line, the file's sha256, the matched text or bytes.")
    details: dict[str, Any] = Field(default_factory=dict, description="Check-specific facts "
                                    "(service, port, account, endpoint class …).")
    source: str | None = Field(default=None, description="Public source of the rule "
                               "(advisory, write-up, vendor manual).")
    status: str = Field(default="open", description="open, or declared: the agreement "
                        "declares what the finding shows (kept, not counted against it).")
    declared_by: str | None = Field(default=None, description="The agreement entry that "
                                    "declares it, e.g. remote_access[0] (line 12).")


class CheckRun(_Model):
    """What one check looked at and what it had to skip."""

    id: str
    title: str
    examined: int = Field(description="Files (or records) the check examined.")
    findings: int
    skipped: list[str] = Field(default_factory=list, description="What was skipped and why.")


class ClauseVerdict(_Model):
    """One clause of the agreement and what the evidence says about it."""

    id: str = Field(description="Clause id, e.g. NS-1.")
    title: str
    wording: str = Field(description="The clause as the agreement words it.")
    verdict: Verdict
    reason: str = Field(description="One sentence saying why.")
    checks: list[str] = Field(default_factory=list, description="Checks that decide it.")
    findings: list[str] = Field(default_factory=list, description="Ids of the open "
                                "findings that decide it (the failing evidence).")
    declared: list[str] = Field(default_factory=list, description="Ids of findings the "
                                "agreement declares (kept, not counted).")
    vulnerabilities: list[str] = Field(default_factory=list, description="Vulnerabilities "
                                       "that decide it, as ID@component-ref.")


class StaleDeclaration(_Model):
    """Something the agreement declares that the image does not contain."""

    kind: str = Field(description="remote_access, account or endpoint.")
    entry: str = Field(description="The agreement entry, e.g. endpoints[2].")
    line: int | None = None
    declared: str = Field(description="What it declares, as written.")
    reason: str


class AgreementInfo(_Model):
    """The agreement a report was judged against."""

    path: str
    sha256: str = Field(description="Digest of the agreement file as read.")
    vendor: str
    product: str
    firmware_versions: list[str] = Field(default_factory=list)
    effective_from: str | None = None
    effective_until: str | None = None
    notes: list[str] = Field(default_factory=list, description="e.g. the image's version "
                             "is not one the agreement covers.")


class KnowledgeBaseSource(_Model):
    name: str
    file: str
    records: int


class KnowledgeBaseInfo(_Model):
    """Which knowledge base the vulnerabilities come from."""

    location: str = Field(description="The database used (URL without password), or "
                          "'bundled sample feed'.")
    schema_version: int
    digest: str = Field(description="sha256 over the imported sources (name, file, record "
                        "count, import time): names the knowledge-base state a report used.")
    sample_only: bool = Field(description="True when only spyproof's bundled sample feed was "
                              "used: the vulnerability list is a demonstration, not complete.")
    sources: list[KnowledgeBaseSource] = Field(default_factory=list)
    vex: list[str] = Field(default_factory=list, description="VEX documents applied.")
    notes: list[str] = Field(default_factory=list)


class DuplicateGroup(_Model):
    """Several copies (and maybe versions) of one library across the image."""

    name: str
    versions: list[str]
    copies: int
    files: list[str]


class ImageInfo(_Model):
    """The input itself."""

    name: str
    size: int
    sha256: str
    sha512: str
    formats: list[FormatChunk] = Field(default_factory=list)


class ToolInfo(_Model):
    name: str = "spyproof"
    version: str


class ProvenanceResult(_Model):
    """Is the scanned image a vendor-signed release in a trusted log? (``scan --log
    --trust``; decides clause NS-7.)"""

    log: str = Field(description="The log read (directory or URL).")
    origin: str | None = None
    tree_size: int | None = Field(default=None, description="Size of the verified checkpoint.")
    root_hash: str | None = Field(default=None, description="Its root hash (hex).")
    witnesses: list[str] = Field(default_factory=list, description="Witnesses whose "
                                 "cosignatures verified.")
    release_index: int | None = Field(default=None, description="Log index of the release "
                                      "statement for this image's sha256.")
    release_signer: str | None = None
    product: str | None = None
    version: str | None = None
    untrusted_statements: int = Field(default=0, description="Statements about this image "
                                      "signed by keys the trust file does not name.")
    verdict: Verdict
    reason: str


class TrafficInput(_Model):
    """One capture file or Zeek log that was read, and what it yielded."""

    name: str
    kind: str = Field(description="pcap, pcapng (either possibly gzip-compressed) or zeek.")
    sha256: str
    size: int
    packets: int | None = Field(default=None, description="Packets read (captures).")
    records: int | None = Field(default=None, description="Log records read (Zeek).")
    link_types: list[int] = Field(default_factory=list)
    first: str | None = Field(default=None, description="Time of the first packet (UTC).")
    last: str | None = None
    skipped: dict[str, int] = Field(default_factory=dict, description="What was skipped "
                                    "and why (truncated record, corrupt block, non-IP …).")
    notices: dict[str, int] = Field(default_factory=dict, description="Packets kept with a "
                                    "flaw worth knowing (snaplen cut …).")
    problems: list[str] = Field(default_factory=list, description="Why reading stopped "
                                "early or skipped a block, with byte offsets.")


class TrafficSection(_Model):
    """Runtime evidence: what the device was seen doing on the network."""

    device: list[str] = Field(description="The device's address(es) as given.")
    inputs: list[TrafficInput]
    flows: int
    dns_answers: int
    facts: dict[str, Any] = Field(description="Destinations with names, bytes and first "
                                  "packet; resolvers; beacons; per-day volume; cross-check "
                                  "with the firmware (docs/traffic.md).")


class Report(_Model):
    """Everything one scan found; the contents of report.json."""

    schema_version: str = SCHEMA_VERSION
    tool: ToolInfo
    generated_at: str = Field(description="The only timestamp in the report (UTC, ISO 8601).")
    image: ImageInfo
    limits: dict[str, float | int]
    rootfs: str | None = Field(default=None, description="Id of the tree taken as root fs.")
    trees: list[ExtractedTree] = Field(default_factory=list)
    files: list[FileEntry] = Field(default_factory=list)
    components: list[Component] = Field(default_factory=list)
    duplicates: list[DuplicateGroup] = Field(default_factory=list)
    unclaimed_elf: list[str] = Field(default_factory=list, description="ELF files no "
                                     "component claims: the gaps of identification.")
    vulnerabilities: list[Vulnerability] = Field(default_factory=list)
    knowledge_base: KnowledgeBaseInfo | None = None
    findings: list[Finding] = Field(default_factory=list)
    checks: list[CheckRun] = Field(default_factory=list)
    agreement: AgreementInfo | None = None
    verdicts: list[ClauseVerdict] = Field(default_factory=list, description="One per clause; "
                                          "all inconclusive when no agreement was given.")
    verdict: Verdict | None = Field(default=None, description="Overall: fail if any clause "
                                    "fails, pass if all pass, else inconclusive.")
    stale_declarations: list[StaleDeclaration] = Field(default_factory=list)
    provenance: ProvenanceResult | None = Field(default=None, description="Set when the "
                                                "scan was given a log and a trust policy.")
    traffic: TrafficSection | None = Field(default=None, description="Set by spyproof "
                                           "traffic: flows and runtime evidence.")
    extraction_log: list[LogEntry] = Field(default_factory=list)
    warnings: list[ScanWarning] = Field(default_factory=list)
    complete: bool = Field(
        default=True, description="False when a cap, error or bad input made the scan partial."
    )
