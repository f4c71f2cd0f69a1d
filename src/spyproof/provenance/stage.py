"""The scan's provenance stage: is this image a vendor-signed release in a trusted log?

Why here and not in ``spyproof verify``: an evaluation must say whether what it evaluated
is what the vendor released (clause NS-7). The scan is itself the evaluation, so only the
log and release links are judged; the evaluation link is what the lab signs afterwards.
"""

from __future__ import annotations

from pathlib import Path

from spyproof.models import ProvenanceResult, Verdict

from .client import LogTrustError
from .operator import Trust, verify_image
from .tiles import LogFormatError


def provenance_stage(image: Path, sha256: str, log: str, trust: Trust) -> ProvenanceResult:
    """Never raises for a bad or untrusted log: the result carries the verdict."""
    try:
        found = verify_image(image, log, trust, None, sha256=sha256)
    except LogTrustError as exc:
        return ProvenanceResult(log=log, verdict=Verdict.failed,
                                reason=f"the log is not trustworthy: {exc}")
    except (LogFormatError, OSError) as exc:
        return ProvenanceResult(log=log, verdict=Verdict.inconclusive,
                                reason=f"the log could not be read: {exc}")
    result = ProvenanceResult(log=log, origin=found.origin, tree_size=found.tree_size,
                              root_hash=found.root_hash, witnesses=sorted(found.witnesses),
                              untrusted_statements=found.ignored,
                              verdict=Verdict.failed, reason="")
    where = (f"{found.origin} at size {found.tree_size} (checkpoint cosigned by "
             f"{len(found.witnesses)} witness(es); trust policy met)")
    if not trust.vendors:
        result.verdict = Verdict.inconclusive
        result.reason = "the trust file names no vendor key ('vendor <vkey>' line)"
    elif found.releases:
        release = found.releases[-1]
        result.release_index = release.index
        result.release_signer = release.signer
        result.product = release.predicate.get("product")
        result.version = release.predicate.get("version")
        result.verdict = Verdict.passed
        result.reason = (f"release {result.product} {result.version} signed by "
                         f"{release.signer} is entry {release.index} of {where}")
    else:
        result.reason = (f"no release statement for this image's sha256 signed by a trusted "
                         f"vendor key is in {where}")
    return result
