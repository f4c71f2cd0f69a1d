"""The built-in no-spy clauses: what each promises and which evidence decides it."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class BuiltinClause:
    id: str
    title: str
    wording: str
    checks: tuple[str, ...]  # check ids; "vulnerabilities" and "provenance" are stages


BUILTIN: dict[str, BuiltinClause] = {c.id: c for c in (
    BuiltinClause("NS-1", "No undisclosed remote access",
                  "The product starts no remote-access service, and has no superuser or "
                  "login account, that this agreement does not declare.",
                  ("remote-access", "accounts")),
    BuiltinClause("NS-2", "No hard-coded or default credentials",
                  "The product ships no default, empty or published password, no private key "
                  "shared by every device and no hard-coded token or secret.",
                  ("accounts", "keys-and-credentials")),
    BuiltinClause("NS-3", "No undeclared data flows",
                  "The product sends data only to the endpoints this agreement declares, for "
                  "the purposes it states.",
                  ("endpoints", "traffic")),
    BuiltinClause("NS-4", "No known backdoors or implants",
                  "The product contains no known backdoor, implant or magic credential.",
                  ("known-backdoors",)),
    BuiltinClause("NS-5", "No known exploited vulnerabilities in shipped components",
                  "No shipped component has a vulnerability in CISA's Known Exploited "
                  "Vulnerabilities catalog, nor a critical one left unpatched beyond the "
                  "agreed time.",
                  ("vulnerabilities",)),
    BuiltinClause("NS-6", "Secure-engineering baseline",
                  "Binaries meet the agreed hardening baseline and unsafe-call budget, and no "
                  "finding of the engineering check reaches the agreed severity.",
                  ("engineering",)),
    BuiltinClause("NS-7", "Release is logged and equivalent to the evaluated build",
                  "The firmware is the release the vendor logged and the build that was "
                  "evaluated.",
                  ("provenance",)),
)}

STAGES = frozenset({"vulnerabilities", "provenance", "traffic"})
