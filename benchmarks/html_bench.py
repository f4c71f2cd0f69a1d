"""HTML report benchmark (issue 6): render a report of 1,000 findings.

The report is synthetic but shaped like a scan's (see ``synthetic_report``): 1,000
findings over the six checks with one to three pieces of evidence each (text, some hex),
check details, endpoint findings some of which the agreement declares, 200 components,
300 vulnerabilities (CVSS, KEV, EPSS, VEX), seven clause verdicts whose failing clauses
name every open finding (so those cards are rendered twice), warnings and stale
declarations. The test suite renders the same report (tests/test_html_report.py).

Measured: ``render_html`` in a fresh process, the first call (template compiled and
assets read) and the median of 5 more, and the page size. Goal (issue 6): under 2 s.
Run:

    nice .venv/bin/python benchmarks/html_bench.py [--findings 1000] [--out page.html] \\
        [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import time
from pathlib import Path

from spyproof.models import (
    AgreementInfo,
    CheckRun,
    ClauseVerdict,
    Component,
    Cvss,
    EpssScore,
    Evidence,
    Finding,
    ImageInfo,
    KevEntry,
    KnowledgeBaseInfo,
    MatchBasis,
    Report,
    ScanWarning,
    StaleDeclaration,
    ToolInfo,
    VexAnalysis,
    Vulnerability,
)

TREE = "image.bin_extract/65536-9000000.squashfs_v4_le_extract"
CHECKS = {  # check -> (clause, share of the findings)
    "engineering": ("NS-6", 0.45), "endpoints": ("NS-3", 0.25), "accounts": ("NS-1", 0.1),
    "keys-and-credentials": ("NS-2", 0.1), "remote-access": ("NS-1", 0.07),
    "known-backdoors": ("NS-4", 0.03),
}
SEVERITIES = ("critical", "high", "medium", "low", "info")
CLAUSES = ("NS-1", "NS-2", "NS-3", "NS-4", "NS-5", "NS-6", "NS-7")


def _sha(rng: random.Random) -> str:
    return f"{rng.getrandbits(256):064x}"


def _evidence(rng: random.Random, i: int, rule: str) -> list[Evidence]:
    out = []
    for k in range(rng.choice((1, 1, 2, 3))):
        path = rng.choice(("usr/sbin/", "usr/bin/", "etc/", "lib/", "www/cgi-bin/")) + \
            f"file{i % 97}_{k}"
        if rng.random() < 0.2:
            data = bytes(rng.getrandbits(8) for _ in range(64))
            out.append(Evidence(tree=TREE, path=path, sha256=_sha(rng),
                                offset=rng.randrange(1 << 20), hex=data.hex(), rule=rule))
        else:
            out.append(Evidence(tree=TREE, path=path, sha256=_sha(rng), line=rng.randrange(1, 400),
                                offset=rng.randrange(1 << 16),
                                text=f"option server 'host{i}.example.net' # entry {k} " * 3,
                                rule=rule))
    return out


def _finding(rng: random.Random, i: int, check: str, clause: str) -> Finding:
    severity = rng.choices(SEVERITIES, weights=(3, 8, 20, 30, 39))[0]
    rule = f"{check}-rule-{i % 13}"
    details: dict = {"index": i, "flags": ["a", "b"], "nested": {"k": i, "v": [1, 2, 3]}}
    status, declared_by = "open", None
    if check == "endpoints":
        host = f"host{i}.example.net"
        details = {"kind": "url", "value": f"https://{host}:8443/api/v1/report?id={i}",
                   "host": host, "port": 8443, "scheme": "https",
                   "scope": rng.choice(("public", "public", "private")),
                   "class": rng.choice(("telemetry", "cloud", "time", "dns", "unknown")),
                   "flags": rng.choice(([], ["collects-identifiers"], ["scheduled"]))}
        if rng.random() < 0.3:
            status, declared_by = "declared", f"endpoints[{i % 7}] (line {10 + i % 7})"
    return Finding(id=f"{check}/{rule}/{i:012x}", check=check, rule=rule, severity=severity,
                   title=f"Synthetic {check} finding number {i} in file{i % 97}",
                   explanation="Why it matters, in a sentence or two: this is the kind of "
                               "thing the check reports, at realistic length for a reader.",
                   clause=clause, evidence=_evidence(rng, i, rule), details=details,
                   source="https://example.org/rules/" + rule, status=status,
                   declared_by=declared_by)


def _vulnerabilities(rng: random.Random, components: list[Component]) -> list[Vulnerability]:
    out = []
    for i in range(300):
        c = components[i % len(components)]
        ref = c.purl or c.name
        kev = KevEntry(date_added="2024-01-02", ransomware=i % 5 == 0) if i % 17 == 0 else None
        analysis = (VexAnalysis(state="not_affected", justification="code_not_reachable",
                                original_status="not_affected", format="openvex",
                                source="vex.json#/statements/0") if i % 23 == 0 else None)
        score = round(rng.uniform(2, 10), 1)
        out.append(Vulnerability(
            id=f"CVE-2024-{10000 + i}", records=[f"osv:CVE-2024-{10000 + i}"],
            summary=f"synthetic vulnerability {i} in {c.name}",
            severity=rng.choice(SEVERITIES[:4]),
            cvss=[Cvss(version="3.1", vector="CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H",
                       score=score, source=f"nvd:CVE-2024-{10000 + i}")],
            kev=kev, epss=EpssScore(score=rng.random(), percentile=rng.random(),
                                    date="2024-06-01") if i % 3 == 0 else None,
            component=ref, component_name=c.name, component_version=c.version,
            matched=[MatchBasis(method="purl", record=f"osv:CVE-2024-{10000 + i}",
                                version=c.version or "", range="introduced 0, fixed 9.9")],
            fixed=["9.9"], references=[f"https://example.org/advisories/{i}"],
            evidence=c.evidence, analysis=analysis, counts=analysis is None))
    return out


def synthetic_report(n_findings: int = 1000, seed: int = 1) -> Report:
    rng = random.Random(seed)
    findings: list[Finding] = []
    for check, (clause, share) in CHECKS.items():
        for _ in range(round(n_findings * share)):
            findings.append(_finding(rng, len(findings), check, clause))
    findings = findings[:n_findings]
    components = []
    for i in range(200):
        name, version = f"lib{i}", f"{i % 5}.{i % 11}.{i % 7}"
        components.append(Component(
            name=name, version=version, purl=f"pkg:generic/{name}@{version}",
            method="fingerprint", confidence=0.9, files=[f"{TREE}/usr/lib/{name}.so"],
            evidence=[Evidence(tree=TREE, path=f"usr/lib/{name}.so", sha256=_sha(rng),
                               offset=4096 + i, text=f"{name} version {version}",
                               rule=f"{name}-banner")]))
    vulns = _vulnerabilities(rng, components)
    verdicts = []
    for cid in CLAUSES:
        open_ids = [f.id for f in findings if f.clause == cid and f.status == "open"]
        declared = [f.id for f in findings if f.clause == cid and f.status == "declared"]
        kev = [f"{v.id}@{v.component}" for v in vulns if v.kev] if cid == "NS-5" else []
        fails = cid in ("NS-1", "NS-2", "NS-5", "NS-6")
        verdicts.append(ClauseVerdict(
            id=cid, title=f"Clause {cid}", wording=f"The wording of clause {cid}.",
            verdict="fail" if fails else ("inconclusive" if cid == "NS-7" else "pass"),
            reason=f"{len(open_ids)} open finding(s)" if fails else "nothing breaks it",
            checks=[c for c, (cl, _) in CHECKS.items() if cl == cid],
            findings=open_ids if fails else [], declared=declared, vulnerabilities=kev))
    checks = [CheckRun(id=c, title=f"The {c} check", examined=5000,
                       findings=sum(f.check == c for f in findings),
                       skipped=[f"usr/lib/big{k}.bin: larger than max_bytes" for k in range(3)])
              for c in CHECKS]
    return Report(
        tool=ToolInfo(version="0.1.0"), generated_at="2026-01-01T00:00:00Z",
        image=ImageInfo(name="synthetic-router-1.0.bin", size=9_000_000, sha256=_sha(rng),
                        sha512=_sha(rng) * 2),
        limits={"max_depth": 10}, rootfs=TREE, components=components,
        vulnerabilities=vulns,
        knowledge_base=KnowledgeBaseInfo(location="synthetic", schema_version=1,
                                         digest=_sha(rng), sample_only=False),
        findings=findings, checks=checks,
        agreement=AgreementInfo(path="agreement.toml", sha256=_sha(rng), vendor="Acme",
                                product="Router", firmware_versions=["1.*"]),
        verdicts=verdicts, verdict="fail",
        stale_declarations=[StaleDeclaration(kind="endpoint", entry="endpoints[9]", line=80,
                                             declared="old.example.net",
                                             reason="declared, but not found")],
        warnings=[ScanWarning(code="limit.file_bytes", message="a file was too large",
                              path="usr/lib/huge.bin")],
    )


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--findings", type=int, default=1000)
    ap.add_argument("--out", type=Path, help="write the page here too")
    ap.add_argument("--json", type=Path, help="write the figures here")
    args = ap.parse_args(argv)

    report = synthetic_report(args.findings)
    from spyproof.report.html import render_html

    t0 = time.perf_counter()
    page = render_html(report)
    first = time.perf_counter() - t0
    warm = []
    for _ in range(5):
        t0 = time.perf_counter()
        again = render_html(report)
        warm.append(time.perf_counter() - t0)
        assert again == page, "render is not deterministic"
    result = {"findings": len(report.findings), "first_s": round(first, 3),
              "warm_median_s": round(statistics.median(warm), 3),
              "bytes": len(page.encode()), "goal_s": 2.0,
              "ok": first < 2.0}
    print(json.dumps(result, indent=2))
    if args.out:
        args.out.write_text(page, encoding="utf-8")
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
