"""One file's keys, certificates and secrets, as findings (the per-file half of the
keys-and-credentials check).

Private keys and secrets become findings here. Certificates become ``certificate``
records (info findings carrying their facts) that the image-wide step judges: expiry needs
the scan's clock, and "a CA whose private key is in the image" needs every file.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass, field
from typing import Any

from spyproof.checks.base import FileView, Outcome, make_finding
from spyproof.checks.keys_authorized import parse_authorized_keys
from spyproof.checks.keys_der import encrypted_der_key, read_dropbear, read_pkcs12, sniff_der
from spyproof.checks.keys_material import summary
from spyproof.checks.keys_pem import read_pem
from spyproof.checks.keys_records import FoundCert, FoundKey
from spyproof.checks.keys_secrets import SecretHit, SecretsData, find_secrets
from spyproof.models import Evidence, FileType, Finding

CHECK_ID = "keys-and-credentials"
CLAUSE = "NS-2"
EVERY_DEVICE = "every device of this model shares this key"
_CONTROL = bytes(c for c in range(32) if c not in (9, 10, 11, 12, 13, 27)) + b"\x7f"
_NOT_CONTROL = bytes(c for c in range(256) if c not in _CONTROL)


def looks_text(entry_type: str | None, data: bytes) -> bool:
    """Text for line numbers and the text-only rules: no NUL and hardly any control bytes
    in the first 8 KiB, which also admits configs in legacy 8-bit encodings (typed "data")
    and keeps out DER files the inventory typed as certificates or keys."""
    head = data[:8192]
    if not head or b"\0" in head or entry_type == FileType.elf:
        return False
    return len(head.translate(None, _NOT_CONTROL)) <= len(head) // 100


def matches(path: str, globs: list[str] | tuple[str, ...]) -> bool:
    return any(fnmatch.fnmatchcase(path, g) for g in globs)


@dataclass
class FileResult:
    findings: list[Finding] = field(default_factory=list)
    certs: list[FoundCert] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    is_text: bool = False


class FileScan:
    """Everything the check reads from one file."""

    def __init__(self, view: FileView, secrets: SecretsData) -> None:
        self.view = view
        self.secrets = secrets
        self.entry = view.entry
        data = view.data
        self.is_text = looks_text(self.entry.file_type, data)
        # an executable or shared object, or a static library (ar archive of objects)
        self.in_binary = self.entry.file_type == FileType.elf or data.startswith(b"!<arch>\n")
        self.result = FileResult(is_text=self.is_text)

    # -- where ---------------------------------------------------------------------------

    def line_of(self, offset: int) -> int | None:
        return self.view.data.count(b"\n", 0, offset) + 1 if self.is_text else None

    def evidence(self, rule: str, offset: int, text: str) -> Evidence:
        return self.view.evidence(rule, offset=offset, line=self.line_of(offset), text=text)

    def note(self, text: str) -> None:
        self.result.notes.append(f"{self.entry.tree}/{self.entry.path}: {text}")

    # -- the whole file ------------------------------------------------------------------

    def run(self) -> FileResult:
        view, entry = self.view, self.entry
        if view.truncated:
            self.note(f"only the first {len(view.data)} of {entry.size} bytes were scanned")
        keys, certs = self.keys_and_certificates()
        self.result.findings += [self.key_finding(key) for key in keys]
        self.result.certs = certs
        auth = self.secrets.raw.get("authorized_keys", {})
        if matches(entry.path, auth.get("paths", [])):
            self.authorized_keys(matches(entry.path, auth.get("root_paths", [])),
                                 auth.get("source"))
        self.secret_findings(keys)
        return self.result

    def keys_and_certificates(self) -> tuple[list[FoundKey], list[FoundCert]]:
        """Every reader that applies to this file: PKCS#12 bundles on their own; otherwise
        PEM anywhere, DER in anything that is not text, Dropbear keys where typed or at a
        host key path."""
        entry, data, raw = self.entry, self.view.data, self.secrets.raw
        desc = entry.description or ""
        keys: list[FoundKey] = []
        certs: list[FoundCert] = []
        if desc.startswith("PKCS#12") or entry.path.lower().endswith((".p12", ".pfx")):
            passwords = [p["password"] for p in raw.get("pkcs12_passwords", [])]
            keys, certs, _ = read_pkcs12(data, passwords)
            if not keys and not certs:
                self.note("looks like PKCS#12 but does not parse")
            return keys, certs
        readers = []
        if b"-----BEGIN " in data:
            readers.append(read_pem)
        if not self.is_text and b"0" in data:
            readers.append(sniff_der)
        for read in readers:
            found_keys, found_certs, notes = read(data)
            keys += found_keys
            certs += found_certs
            for n in notes:
                self.note(n)
        if desc.startswith("DER private key (encrypted)"):
            locked = encrypted_der_key(data)
            if locked:
                keys.append(locked)
        host_globs = [h["glob"] for h in raw.get("host_key_paths", [])]
        if desc.startswith("Dropbear private key") or (
                matches(entry.path, host_globs) and not self.is_text):
            dropbear = read_dropbear(data)
            if dropbear:
                keys.append(dropbear)
            elif desc.startswith("Dropbear private key"):
                self.note("typed as a Dropbear key but its numbers do not form a key")
        return keys, certs

    # -- private keys --------------------------------------------------------------------

    def key_rule(self, key: FoundKey) -> tuple[str, str, str, str]:
        """(rule, severity, title, explanation) for one private key."""
        what = f"{key.format} private key"
        facts = f" ({summary(key.facts)})" if key.facts else ""
        host_globs = [h["glob"] for h in self.secrets.raw.get("host_key_paths", [])]
        known = self.known_test_key(key)
        if known and self.in_binary and not key.encrypted:
            return ("known-test-key", "info", f"Published test key in a binary: {known['name']}",
                    f"This private key is {known['name']}, published with its source code "
                    f"({known['source']}). Compiled into that tool it is expected and no secret; "
                    "listed so that a device is never found relying on it.")
        if key.encrypted is None and not key.facts:
            return ("private-key-damaged", "medium", f"Damaged {what} block",
                    f"A {what} block is in the image but does not parse ({key.problem}); "
                    "a truncated copy of a key still shows a key was shipped.")
        if key.encrypted:
            opened = key.extra.get("passwords_tried")
            tried = (f" It did not open with no password or {opened - 1} documented default"
                     f" password{'s' if opened != 2 else ''}." if opened else "")
            return ("private-key-encrypted", "medium", f"Encrypted {what}{facts}",
                    f"An encrypted {what}{facts} ships in the image; to use it the device "
                    f"must also carry its passphrase, so the protection is only as good as "
                    f"where that passphrase is kept.{tried}")
        if matches(self.entry.path, host_globs):
            return ("ssh-host-key", "critical", f"SSH host key shipped in the image{facts}",
                    f"The SSH host key{facts} is part of the firmware, so {EVERY_DEVICE}: "
                    "anyone with the image can impersonate any device to SSH clients and "
                    "intercept its administrators' sessions.")
        if self.in_binary:
            return ("private-key-in-binary", "critical",
                    f"{what} compiled into a binary{facts}",
                    f"A {what}{facts} is embedded in an executable, so {EVERY_DEVICE} and it "
                    "cannot be replaced without new firmware; anyone with the image can "
                    "impersonate the device or decrypt what the key protects.")
        if key.format == "PKCS#12":
            return ("private-key-pkcs12", "high", f"PKCS#12 private key opens with "
                    f"{key.extra.get('opened_with')}{facts}",
                    f"A PKCS#12 bundle opens with {key.extra.get('opened_with')}, exposing its "
                    f"private key{facts}; {EVERY_DEVICE}.")
        return ("private-key", "high", f"Unencrypted {what}{facts}",
                f"An unencrypted {what}{facts} ships in the image, so {EVERY_DEVICE}: anyone "
                "with the firmware can impersonate the device (TLS, VPN, SSH) or decrypt "
                "what the key protects.")

    def known_test_key(self, key: FoundKey) -> dict[str, Any] | None:
        spki = key.facts.get("public_key_sha256")
        return next((k for k in self.secrets.raw.get("known_test_keys", [])
                     if (spki and k.get("public_key_sha256") == spki)
                     or k.get("block_sha256") == key.block_sha256), None)

    def key_finding(self, key: FoundKey) -> Finding:
        rule, severity, title, explanation = self.key_rule(key)
        known = self.known_test_key(key)
        if key.facts.get("weak") and rule != "known-test-key":
            explanation += f" The key is also weak: {key.facts['weak']}."
        if known and rule != "known-test-key":
            explanation += (f" It is also a published key ({known['name']}): anyone has it, "
                            "image or not.")
        details: dict[str, Any] = {
            "format": key.format, "encrypted": key.encrypted, **key.facts,
            "key_id": key.identity, "block_sha256": key.block_sha256,
            "in_binary": self.in_binary, "length": key.end - key.offset,
        }
        if key.problem:
            details["problem"] = key.problem
        if known:
            details["publicly_known"] = known["name"]
        details.update({k: v for k, v in key.extra.items() if v is not None})
        shown = f"{key.header} [{summary(key.facts)}]" if key.facts else key.header
        return make_finding(CHECK_ID, rule, severity, title, explanation,
                            [self.evidence(rule, key.offset, shown)], clause=CLAUSE,
                            details=details, source=known["source"] if known else None)

    # -- authorized_keys -----------------------------------------------------------------

    def authorized_keys(self, grants_root: bool, source: str | None) -> None:
        text = self.view.data.decode("utf-8", "surrogateescape")
        keys, notes = parse_authorized_keys(text)
        for n in notes:
            self.note(n)
        for k in keys:
            who = "root" if grants_root else "the file's owner"
            opts = f" with options {', '.join(k.options)}" if k.options else ""
            shown = f"{k.key_type} [{summary(k.facts)}] {k.comment}".strip()
            details = {**k.facts, "key_type": k.key_type, "options": k.options,
                       "comment": k.comment, "grants_root": grants_root}
            self.result.findings.append(make_finding(
                CHECK_ID, "authorized-key", "high" if grants_root else "medium",
                f"SSH key authorised to log in as {who}: {k.comment or summary(k.facts)}",
                f"The image authorises this SSH key{opts} to log in as {who}; whoever holds "
                "its private half (the vendor or anyone it leaked to) can log in to every "
                "device of this model.",
                [self.view.evidence("authorized-key", offset=k.offset, line=k.line,
                                    text=shown)],
                clause=CLAUSE, details=details, source=source))

    # -- secrets -------------------------------------------------------------------------

    def secret_findings(self, keys: list[FoundKey]) -> None:
        hits, notes = find_secrets(self.view.data, self.entry.path, is_text=self.is_text,
                                   interpreter=self.entry.interpreter, secrets=self.secrets)
        for n in notes:
            self.note(n)
        spans = [(k.offset, k.end) for k in keys]
        for hit in hits:
            if any(s <= hit.start < e for s, e in spans):
                continue  # inside a key block already reported
            self.result.findings.append(self.secret_finding(hit))

    def secret_finding(self, hit: SecretHit) -> Finding:
        from spyproof.checks.keys_secrets import entropy

        rule = hit.rule
        details: dict[str, Any] = {"length": len(hit.secret),
                                   "entropy": round(entropy(hit.secret), 2)}
        details.update({k: v for k, v in hit.groups.items() if k in ("key", "user")})
        return make_finding(CHECK_ID, rule.id, rule.severity, rule.title, rule.description,
                            [self.evidence(rule.id, hit.start, hit.shown)], clause=CLAUSE,
                            details=details, source=rule.source)


def cert_record(view: FileView, cert: FoundCert, is_text: bool) -> Finding:
    """An info finding carrying one certificate's facts to the image-wide step."""
    facts = cert.facts
    line = view.data.count(b"\n", 0, cert.offset) + 1 if is_text else None
    shown = f"{cert.format} certificate [{facts['subject']}, sha256 {facts['cert_sha256']}]"
    details = {**facts, "format": cert.format,
               "in_binary": view.entry.file_type == FileType.elf
               or view.data.startswith(b"!<arch>\n")}
    return make_finding(
        CHECK_ID, "certificate", "info", f"Certificate {facts['subject']}",
        "A certificate ships in the image; listed with its fingerprints so it can be matched "
        "against the device's TLS identity and the keys found elsewhere in the image.",
        [view.evidence("certificate", offset=cert.offset, line=line, text=shown)],
        clause=CLAUSE, details=details)


def scan_view(view: FileView, secrets: SecretsData) -> FileResult:
    return FileScan(view, secrets).run()


def scan_file_outcome(view: FileView, secrets: SecretsData) -> Outcome:
    result = scan_view(view, secrets)
    findings = [*result.findings, *(cert_record(view, c, result.is_text) for c in result.certs)]
    return Outcome(findings=findings, notes=result.notes)
