"""A verdict per clause: pass, fail or inconclusive, with the evidence and one sentence.

* fail — an open finding that informs the clause reaches the policy's severity (NS-3: any
  undeclared public endpoint outside the exempt classes; NS-5: a KEV-listed or overdue
  critical vulnerability that VEX has not triaged away; NS-6: also the hardening
  percentages and the unsafe-call budget);
* inconclusive — something the clause needs did not run (a check left out with --only, no
  vulnerability stage, only the bundled sample feed, provenance not checked yet), or no
  agreement was given;
* pass — everything the clause needs ran and nothing fails it.
"""

from __future__ import annotations

from datetime import date, datetime

from spyproof.agreement.clauses import BUILTIN, STAGES, BuiltinClause
from spyproof.agreement.declared import INVENTORY_RULES
from spyproof.agreement.load import LoadedAgreement
from spyproof.agreement.model import Clause, Policy
from spyproof.checks.base import at_or_above
from spyproof.models import ClauseVerdict, Finding, Report, Verdict, Vulnerability


def _resolved(c: Clause) -> BuiltinClause:
    base = BUILTIN.get(c.id)
    return BuiltinClause(
        id=c.id,
        title=c.title or (base.title if base else c.id),
        wording=c.wording or (base.wording if base else ""),
        checks=tuple(c.checks) if c.checks is not None else (base.checks if base else ()))


def clauses_of(loaded: LoadedAgreement | None) -> list[BuiltinClause]:
    if loaded is None or not loaded.agreement.clauses:
        return list(BUILTIN.values())
    return [_resolved(c) for c in loaded.agreement.clauses]


def _informs(f: Finding, clause: BuiltinClause) -> bool:
    if clause.id in BUILTIN:
        return f.clause == clause.id
    return f.check in clause.checks


def _overdue(v: Vulnerability, policy: Policy, today: date) -> bool:
    if policy.max_cvss is None or policy.max_age_days is None or not v.published:
        return False
    score = max((c.score for c in v.cvss if c.score is not None), default=None)
    if score is None or score < policy.max_cvss:
        return False
    return (today - date.fromisoformat(v.published)).days > policy.max_age_days


def _ns5(report: Report, policy: Policy, today: date) -> tuple[list[str], str | None]:
    bad = []
    for v in report.vulnerabilities:
        if not v.counts:
            continue
        if (policy.no_kev and v.kev) or _overdue(v, policy, today):
            bad.append(f"{v.id}@{v.component}")
    if bad:
        return bad, None
    kb = report.knowledge_base
    if kb is None:
        return [], "no vulnerability matching ran (--no-vulns or --no-identify)"
    if kb.sample_only:
        return [], ("only spyproof's bundled sample feed was used: import a knowledge base "
                    "(spyproof db import/update) for a verdict")
    return [], None


def _ns6_extra(findings: list[Finding], policy: Policy) -> list[str]:
    """Ids of engineering findings that break the hardening baseline or the budget."""
    out = []
    summary = next((f for f in findings if f.check == "engineering" and f.rule == "summary"),
                   None)
    if summary is not None and policy.required_hardening:
        hardening = summary.details.get("hardening") or {}
        for prop, minimum in sorted(policy.required_hardening.items()):
            pct = (hardening.get(prop) or {}).get("percent")
            if pct is not None and pct < minimum:
                out.append(summary.id)
                break
    if policy.unsafe_call_budget is not None:
        unsafe = [f for f in findings if f.check == "engineering" and f.rule == "unsafe-calls"]
        if len(unsafe) > policy.unsafe_call_budget:
            out.extend(f.id for f in unsafe)
    return out


def _ns3_failing(f: Finding, policy: Policy) -> bool:
    return (f.check == "endpoints" and f.rule not in INVENTORY_RULES
            and f.details.get("scope") == "public"
            and f.details.get("class") not in policy.exempt_endpoint_classes)


def judge(report: Report, loaded: LoadedAgreement | None) -> list[ClauseVerdict]:
    """One verdict per clause of the agreement (the built-in ones without an agreement)."""
    clauses = clauses_of(loaded)
    if loaded is None:
        return [ClauseVerdict(id=c.id, title=c.title, wording=c.wording,
                              verdict=Verdict.inconclusive, checks=list(c.checks),
                              reason="inconclusive: no agreement") for c in clauses]
    policy = loaded.agreement.policy
    ran = {c.id for c in report.checks}
    today = datetime.fromisoformat(report.generated_at.replace("Z", "+00:00")).date()
    out = []
    for c in clauses:
        relevant = [f for f in report.findings if _informs(f, c)]
        declared = sorted(f.id for f in relevant if f.status == "declared")
        open_ = [f for f in relevant if f.status != "declared"]
        failing = sorted({f.id for f in open_ if at_or_above(f.severity, policy.fail_severity)
                          or (c.id == "NS-3" and _ns3_failing(f, policy))})
        vulns: list[str] = []
        missing = [k for k in c.checks if k not in ran and k not in STAGES]
        stage_gap = None
        if "vulnerabilities" in c.checks:
            vulns, stage_gap = _ns5(report, policy, today)
        if c.id == "NS-6":
            failing = sorted(set(failing) | set(_ns6_extra(report.findings, policy)))
        verdict, reason = _decide(c, failing, vulns, missing, stage_gap, declared, policy)
        if verdict == Verdict.passed and "traffic" in c.checks and "traffic" not in ran:
            reason = reason.removesuffix(".") + " (no traffic was analysed)."
        if "provenance" in c.checks and report.provenance is not None and not (
                failing or vulns):
            verdict = report.provenance.verdict
            reason = report.provenance.reason.removesuffix(".") + "."
        if vulns and report.knowledge_base is not None and report.knowledge_base.sample_only:
            reason = reason.removesuffix(".") + " — from spyproof's bundled sample feed."
        out.append(ClauseVerdict(id=c.id, title=c.title, wording=c.wording, verdict=verdict,
                                 reason=reason, checks=list(c.checks), findings=failing,
                                 declared=declared, vulnerabilities=sorted(vulns)))
    return out


def _decide(c: BuiltinClause, failing: list[str], vulns: list[str], missing: list[str],
            stage_gap: str | None, declared: list[str], policy: Policy
            ) -> tuple[Verdict, str]:
    if failing or vulns:
        parts = []
        if failing:
            parts.append(f"{len(failing)} open finding(s) at or above {policy.fail_severity}"
                         if c.id not in ("NS-3", "NS-6") else
                         f"{len(failing)} finding(s) break it")
        if vulns:
            parts.append(f"{len(vulns)} vulnerability(ies) known exploited or critical and "
                         "overdue")
        return Verdict.failed, f"{' and '.join(parts)} ({', '.join((failing + vulns)[:3])}" \
            f"{', …' if len(failing) + len(vulns) > 3 else ''})."
    if "provenance" in c.checks:
        return Verdict.inconclusive, ("provenance (release log and binary equivalence) is "
                                      "not checked by this scan.")
    if missing:
        return Verdict.inconclusive, f"check(s) {', '.join(missing)} did not run."
    if stage_gap:
        return Verdict.inconclusive, f"{stage_gap}."
    extra = f"; {len(declared)} finding(s) declared by the agreement" if declared else ""
    what = ", ".join(c.checks)
    return Verdict.passed, f"no open finding from {what} breaks it{extra}."


def overall(verdicts: list[ClauseVerdict]) -> Verdict:
    if any(v.verdict == Verdict.failed for v in verdicts):
        return Verdict.failed
    if verdicts and all(v.verdict == Verdict.passed for v in verdicts):
        return Verdict.passed
    return Verdict.inconclusive
