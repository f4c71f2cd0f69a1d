"""The image-wide half of the keys-and-credentials check: what no single file shows.

* certificates judged against the scan's clock (expired), and for what they are
  (self-signed end-entity, weak key or signature);
* the same private key (or certificate) at several paths, and a key that is also compiled
  into a binary (critical everywhere it appears);
* a CA certificate whose private key ships in the image (critical: anyone can mint
  certificates it vouches for);
* the system trust store (CA bundles) summarised, with only non-standard entries reported;
* authorized_keys in the home of a uid-0 account (root by another name).
"""

from __future__ import annotations

import posixpath
from collections import defaultdict
from datetime import datetime
from typing import Any

from spyproof.checks.base import REGULAR, CheckContext, FileView, Outcome, make_finding
from spyproof.checks.keys_scan import CHECK_ID, CLAUSE, EVERY_DEVICE, matches, scan_view
from spyproof.checks.keys_secrets import SecretsData
from spyproof.models import Evidence, FileEntry, Finding, Severity

KEY_RULES = {"private-key", "private-key-in-binary", "ssh-host-key", "private-key-pkcs12",
             "private-key-encrypted", "private-key-damaged"}


def _ev(f: Finding) -> Evidence:
    return f.evidence[0]


def _where(f: Finding) -> str:
    e = _ev(f)
    return f"{e.path}" if e.tree == "rootfs" else f"{e.tree}:{e.path}"


def _when(value: str) -> datetime:
    return datetime.fromisoformat(value)


# -- trust stores -------------------------------------------------------------------------------

class TrustStores:
    """CA bundles and certificate directories, read here rather than per file so that
    hundreds of standard roots become one note, not hundreds of findings."""

    def __init__(self, ctx: CheckContext, secrets: SecretsData, max_bytes: int) -> None:
        spec = secrets.raw.get("ca_bundles", {})
        self.ctx = ctx
        self.secrets = secrets
        self.max_bytes = max_bytes
        self.paths = spec.get("paths", [])
        self.standard_globs = spec.get("standard", [])
        self.source = spec.get("source")
        self.findings: list[Finding] = []
        self.notes: list[str] = []
        self.certs: list[tuple[dict[str, Any], Evidence]] = []  # every trust-store cert
        self.examined = 0

    def files(self) -> list[FileEntry]:
        return sorted((f for f in self.ctx.files if f.size and f.kind in REGULAR
                       and matches(f.path, self.paths)), key=lambda f: (f.tree, f.path))

    def run(self) -> None:
        scanned = []
        for entry in self.files():
            try:
                data, truncated = self.ctx.read(entry, self.max_bytes)
            except OSError as exc:
                self.notes.append(f"{entry.tree}/{entry.path}: not read: {exc.strerror or exc}")
                continue
            self.examined += 1
            view = FileView(entry=entry, data=data, truncated=truncated)
            result = scan_view(view, self.secrets)
            self.findings += result.findings
            self.notes += result.notes
            scanned.append((view, result))
        standard = {c.facts["cert_sha256"] for view, result in scanned
                    if matches(view.path, self.standard_globs) for c in result.certs}
        summary: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0, 0])
        for view, result in scanned:
            reported = self._judge(view, result, standard)
            if result.certs:
                where = (view.entry.tree, view.path if len(result.certs) > 1
                         else posixpath.dirname(view.path) + "/")
                counts = summary[where]
                counts[0] += 1
                counts[1] += len(result.certs)
                counts[2] += reported
        for (tree, where), (files, certs, reported) in sorted(summary.items()):
            self.notes.append(f"{tree}/{where}: trusted CA store, {certs} certificate(s) in "
                              f"{files} file(s), {reported} reported as non-standard; standard "
                              "roots are not listed one by one")

    def _judge(self, view: FileView, result: Any, standard: set[str]) -> int:
        reported = 0
        own_standard = matches(view.path, self.standard_globs)
        for cert in result.certs:
            facts = cert.facts
            line = view.data.count(b"\n", 0, cert.offset) + 1 if result.is_text else None
            ev = view.evidence("ca-bundle-addition", offset=cert.offset, line=line,
                               text=f"{facts['subject']} [sha256 {facts['cert_sha256']}]")
            self.certs.append((facts, ev))
            if own_standard or facts["cert_sha256"] in standard:
                continue
            if standard:
                why = ("is not among the standard (Mozilla) CA certificates this image ships in "
                       "usr/share/ca-certificates/mozilla")
            elif not (facts["self_issued"] and facts["is_ca"]):
                why = "is not a self-issued CA certificate, which is all a root store holds"
            else:
                continue  # a root; without the image's own standard list we cannot tell
            reported += 1
            self.findings.append(make_finding(
                CHECK_ID, "ca-bundle-addition", "medium",
                f"Non-standard certificate in the trust store: {facts['subject']}",
                f"This certificate in the system's trusted CA store {why}. Whoever holds "
                "its private key can impersonate any TLS server to the device.",
                [ev], clause=CLAUSE, details={**facts, "store": view.path},
                source=self.source))
        return reported


# -- certificates -------------------------------------------------------------------------------

def _cert_issue(record: Finding, rule: str, severity: str, title: str, why: str) -> Finding:
    facts = record.details
    ev = _ev(record).model_copy(update={"rule": rule})
    return make_finding(CHECK_ID, rule, severity, f"{title}: {facts['subject']}", why, [ev],
                        clause=CLAUSE, details=dict(facts))


def judge_certificate(record: Finding, now: datetime) -> list[Finding]:
    """Issue findings for one certificate record (none: the record itself stays)."""
    facts = record.details
    out = []
    if _when(facts["not_after"]) < now:
        out.append(_cert_issue(
            record, "cert-expired", "low", "Expired certificate",
            f"The certificate expired on {facts['not_after'][:10]} (scan time "
            f"{now.date().isoformat()}); a device that still presents or relies on it "
            "either fails TLS or has certificate verification turned off."))
    if "weak-key" in facts.get("issues", []):
        out.append(_cert_issue(
            record, "cert-weak-key", "medium", "Certificate with a weak key",
            f"The certificate's key is weak ({facts['key'].get('weak')}); its private key "
            "can be recovered or forged with feasible effort."))
    if "weak-signature" in facts.get("issues", []):
        out.append(_cert_issue(
            record, "cert-weak-signature", "medium", "Certificate with a weak signature",
            f"The certificate is signed with {facts['signature_algorithm']}; MD5 and SHA-1 "
            "signatures can be forged (colliding certificates)."))
    if facts.get("self_signed") and not facts.get("is_ca"):
        out.append(_cert_issue(
            record, "cert-self-signed", "low", "Self-signed certificate",
            "A self-signed end-entity certificate ships in the image: it is the same on every "
            "device, and clients can trust it only by disabling verification or pinning it."))
    return out


# -- the whole step -----------------------------------------------------------------------------

def _root_homes(ctx: CheckContext) -> dict[str, list[str]]:
    """Home directory -> accounts with uid 0 (from etc/passwd)."""
    homes: dict[str, list[str]] = defaultdict(list)
    for entry in ctx.find("etc/passwd"):
        try:
            text, _ = ctx.read_text(entry, 1024 * 1024)
        except OSError:
            continue
        for line in text.splitlines():
            parts = line.split(":")
            if len(parts) >= 6 and parts[2].strip() == "0" and parts[5].strip("/"):
                homes[parts[5].strip("/")].append(parts[0])
        break
    return homes


class ImageStep:
    def __init__(self, ctx: CheckContext, per_file: Outcome, secrets: SecretsData,
                 max_bytes: int) -> None:
        self.ctx = ctx
        self.now: datetime = ctx.now
        self.secrets = secrets
        self.max_bytes = max_bytes
        self.per_file = per_file
        self.out: list[Finding] = []
        self.notes: list[str] = list(per_file.notes)

    def run(self) -> Outcome:
        stores = TrustStores(self.ctx, self.secrets, self.max_bytes)
        stores.run()
        self.notes += stores.notes
        found = [*self.per_file.findings, *stores.findings]
        records = [f for f in found if f.rule == "certificate"]
        keys = [f for f in found if f.rule in KEY_RULES]
        auth = [f for f in found if f.rule == "authorized-key"]
        rest = [f for f in found if f.rule not in KEY_RULES and f.rule != "certificate"
                and f.rule != "authorized-key"]
        keys = self.key_groups(keys)
        keys = self.pair_certificates(keys, records, stores.certs)
        for record in records:
            issues = judge_certificate(record, self.now)
            self.out += issues or [record]
        self.shared_certificates(records)
        self.out += keys
        self.out += self.root_authorized_keys(auth)
        self.out += rest
        return Outcome(findings=self.out, notes=self.notes,
                       examined=self.per_file.examined + stores.examined)

    def key_groups(self, keys: list[Finding]) -> list[Finding]:
        groups: dict[str, list[Finding]] = defaultdict(list)
        for f in keys:
            groups[f.details["key_id"]].append(f)
        out: list[Finding] = []
        for key_id, members in groups.items():
            binaries = sorted({_where(f) for f in members if f.details.get("in_binary")})
            for f in members:
                if binaries and Severity(f.severity) != Severity.critical and \
                        f.rule != "private-key-damaged":
                    elsewhere = ", ".join(binaries)
                    f = f.model_copy(update={
                        "severity": Severity.critical.value,
                        "explanation": f"{f.explanation} The same key is compiled into "
                                       f"{elsewhere}: it cannot be rotated without new firmware.",
                        "details": {**f.details, "also_in_binary": binaries}})
                out.append(f)
            paths = sorted({(_ev(f).tree, _ev(f).path) for f in members})
            if len(paths) > 1:
                out.append(self.shared_key(key_id, members))
        return out

    def shared_key(self, key_id: str, members: list[Finding]) -> Finding:
        first = members[0].details
        evidence = sorted((_ev(f).model_copy(update={"rule": "private-key-shared"})
                           for f in members), key=lambda e: (e.tree, e.path, e.offset or 0))
        where = ", ".join(sorted({_where(f) for f in members}))
        fp = first.get("ssh_fingerprint") or first.get("public_key_sha256") or key_id
        return make_finding(
            CHECK_ID, "private-key-shared", "high",
            f"One private key at {len(evidence)} places ({fp})",
            f"The same private key is stored at {where}: one leak compromises every service "
            f"that uses it, and {EVERY_DEVICE}.", evidence, clause=CLAUSE,
            details={"key_id": key_id, "fingerprint": fp, "places": len(evidence),
                     "algorithm": first.get("algorithm"), "bits": first.get("bits")})

    def pair_certificates(self, keys: list[Finding], records: list[Finding],
                          store_certs: list[tuple[dict[str, Any], Evidence]]) -> list[Finding]:
        by_spki: dict[str, list[int]] = defaultdict(list)
        for i, f in enumerate(keys):
            if f.details.get("public_key_sha256"):
                by_spki[f.details["public_key_sha256"]].append(i)
        certs = [(r.details, _ev(r)) for r in records] + store_certs
        subjects: dict[int, set[str]] = defaultdict(set)
        for facts, ev in certs:
            hits = by_spki.get(facts.get("public_key_sha256") or "", [])
            for i in hits:
                subjects[i].add(facts["subject"])
            if hits and facts.get("is_ca"):
                key_ev = [_ev(keys[i]).model_copy(update={"rule": "ca-private-key"})
                          for i in hits]
                self.out.append(make_finding(
                    CHECK_ID, "ca-private-key", "critical",
                    f"CA certificate with its private key in the image: {facts['subject']}",
                    "The image holds both a CA certificate and its private key: anyone with the "
                    "firmware can issue certificates this CA vouches for and impersonate any "
                    "server or device that trusts it.",
                    [ev.model_copy(update={"rule": "ca-private-key"}), *key_ev],
                    clause=CLAUSE,
                    details={"subject": facts["subject"], "cert_sha256": facts["cert_sha256"],
                             "public_key_sha256": facts["public_key_sha256"]}))
        out = []
        for i, f in enumerate(keys):
            if subjects.get(i):
                f = f.model_copy(update={"details": {**f.details,
                                                     "certificates": sorted(subjects[i])}})
            out.append(f)
        return out

    def shared_certificates(self, records: list[Finding]) -> None:
        groups: dict[str, list[Finding]] = defaultdict(list)
        for r in records:
            groups[r.details["cert_sha256"]].append(r)
        for sha, members in groups.items():
            if len({(_ev(f).tree, _ev(f).path) for f in members}) < 2:
                continue
            evidence = sorted((_ev(f).model_copy(update={"rule": "cert-shared"})
                               for f in members), key=lambda e: (e.tree, e.path, e.offset or 0))
            self.out.append(make_finding(
                CHECK_ID, "cert-shared", "info",
                f"One certificate at {len(evidence)} places: {members[0].details['subject']}",
                "The same certificate is stored at several paths; together with the private "
                "key findings this shows which services share one TLS identity.",
                evidence, clause=CLAUSE,
                details={"cert_sha256": sha, "subject": members[0].details["subject"],
                         "places": len(evidence)}))

    def root_authorized_keys(self, auth: list[Finding]) -> list[Finding]:
        homes = _root_homes(self.ctx)
        out = []
        for f in auth:
            path = _ev(f).path
            accounts = sorted({a for home, names in homes.items()
                               if path.startswith(f"{home}/.ssh/") for a in names})
            if accounts and not f.details.get("grants_root"):
                who = ", ".join(accounts)
                f = f.model_copy(update={
                    "severity": Severity.high.value,
                    "title": f.title.replace("the file's owner", f"{who} (uid 0)"),
                    "explanation": f.explanation.replace("the file's owner", f"{who} (uid 0)"),
                    "details": {**f.details, "grants_root": True, "accounts": accounts}})
            out.append(f)
        return out
