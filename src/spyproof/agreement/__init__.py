"""The no-spy agreement: load it, mark declared findings, judge each clause."""

from __future__ import annotations

from datetime import date

from spyproof.agreement.declared import apply_declarations
from spyproof.agreement.load import AgreementError, LoadedAgreement, load_agreement
from spyproof.agreement.verdicts import judge, overall
from spyproof.models import AgreementInfo, Report

__all__ = ["AgreementError", "LoadedAgreement", "apply_agreement", "load_agreement"]


def _info(loaded: LoadedAgreement, report: Report) -> AgreementInfo:
    ag = loaded.agreement.agreement
    notes = []
    today = date.fromisoformat(report.generated_at[:10])
    if ag.effective_from and today < ag.effective_from:
        notes.append(f"the scan ({today}) is before the agreement takes effect "
                     f"({ag.effective_from})")
    if ag.effective_until and today > ag.effective_until:
        notes.append(f"the scan ({today}) is after the agreement ended ({ag.effective_until})")
    return AgreementInfo(
        path=loaded.path, sha256=loaded.sha256, vendor=ag.vendor, product=ag.product,
        firmware_versions=list(ag.firmware_versions),
        effective_from=ag.effective_from.isoformat() if ag.effective_from else None,
        effective_until=ag.effective_until.isoformat() if ag.effective_until else None,
        notes=notes)


def apply_agreement(report: Report, loaded: LoadedAgreement | None) -> Report:
    """The report with declared findings marked, a verdict per clause, the overall verdict
    and stale declarations (every clause inconclusive when there is no agreement)."""
    update: dict = {}
    if loaded is not None:
        findings, stale = apply_declarations(loaded, report.findings)
        update.update(findings=findings, stale_declarations=stale,
                      agreement=_info(loaded, report))
    judged = report.model_copy(update=update)
    verdicts = judge(judged, loaded)
    return judged.model_copy(update={"verdicts": verdicts, "verdict": overall(verdicts)})
