"""engineering: the secure-engineering baseline (clause NS-6) across the image's binaries.

What an evaluation lab tabulates about a vendor's build quality, from facts the inventory
already holds (no file is read again):

* per ELF executable or shared library, the checksec set - NX, PIE, RELRO, stack canary,
  FORTIFY_SOURCE, RPATH/RUNPATH - and a ``missing-hardening`` finding for what it lacks
  (medium for executables with an executable stack, and for setuid/setgid binaries and
  network servers that lack NX, PIE, RELRO or canaries; low otherwise);
* per binary, the unsafe C library calls it imports (``unsafe-calls``: strcpy, sprintf,
  gets, memcpy … from ``data/checks/unsafe_calls.yaml``), with the safe and fortified
  counterparts it imports too;
* one image-wide ``summary``: the share of binaries with each mitigation and the
  unsafe-to-safe ratio per family of calls, the metric of the HCSEC oversight reports;
* duplicated libraries: one finding per library present more than once in a tree
  (``stale-duplicated-library``, medium, when the copies differ in version;
  ``duplicated-library``, low, otherwise), naming every copy.
"""

from __future__ import annotations

from spyproof.checks.base import Check, CheckContext, CheckInfo, Outcome
from spyproof.checks.engineering_binaries import (
    CHECK_ID,
    CLAUSE,
    collect,
    hardening_finding,
    unsafe_calls_finding,
)
from spyproof.checks.engineering_data import DATA_FILE, catalog
from spyproof.checks.engineering_duplicates import duplicate_findings
from spyproof.checks.engineering_summary import summary_finding


class EngineeringCheck(Check):
    info = CheckInfo(
        id=CHECK_ID,
        title="Secure-engineering baseline: hardening, unsafe calls, duplicated libraries",
        clause=CLAUSE,
        description=("Binary hardening (NX, PIE, RELRO, stack canary, FORTIFY_SOURCE, "
                     "RPATH/RUNPATH) per ELF file, imported unsafe C library calls against "
                     "their safe counterparts, an image-wide summary, and libraries shipped "
                     "in several copies or versions."),
        looks_at="inventory ELF facts (hardening, imported symbols, sonames) and components",
        data_files=(DATA_FILE,),
    )

    def finish(self, ctx: CheckContext, per_file: Outcome) -> Outcome:
        data = catalog()
        binaries, notes = collect(ctx, data)
        out = Outcome(notes=notes, examined=len(binaries))
        for b in binaries:
            for f in (hardening_finding(b), unsafe_calls_finding(b, data)):
                if f is not None:
                    out.findings.append(f)
        summary = summary_finding(binaries, data)
        if summary is not None:
            out.findings.append(summary)
        out.findings.extend(duplicate_findings(ctx))
        static = sum(not b.imports_known for b in binaries)
        if static:
            out.notes.append(f"{static} ELF files have no dynamic symbols (statically "
                             "linked): their canary, FORTIFY and unsafe-call facts are unknown")
        return out


CHECK = EngineeringCheck()
