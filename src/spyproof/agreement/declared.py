"""Match what the agreement declares against what the checks found.

A declaration that matches a finding turns it "declared": kept in the report, not counted
against its clause. A declaration that matches nothing is stale: the agreement promises
something the image does not contain. Only disclosure can be declared — a default
password, an empty password or a backdoor stays a finding whatever the agreement says.
"""

from __future__ import annotations

import fnmatch
import ipaddress
import posixpath
from collections.abc import Callable
from typing import Any

from spyproof.agreement.load import LoadedAgreement
from spyproof.agreement.model import Account, Endpoint, RemoteAccess
from spyproof.models import Finding, StaleDeclaration

DECLARABLE_ACCOUNT_RULES = {"login-account": False, "uid0-account": True}  # rule -> needs uid0
INVENTORY_RULES = {"endpoint-inventory"}
_ANY_INTERFACE = {"all", "any", "*"}


def _remote_matches(d: RemoteAccess, f: Finding) -> bool:
    if f.check != "remote-access":
        return False
    det = f.details
    names = {str(det.get(k) or "").lower() for k in ("service", "protocol", "applet")}
    names.add(posixpath.basename(str(det.get("program") or "")).lower())
    if d.service.lower() not in names:
        return False
    if d.port is not None and d.port != det.get("port") and d.port not in (det.get("ports")
                                                                            or []):
        return False
    if d.interface is not None and d.interface.lower() not in _ANY_INTERFACE:
        found = {str(det.get("interface") or "").lower(), str(det.get("bind_address") or "")}
        if d.interface.lower() not in found:
            return False
    auth: dict[str, Any] = det.get("authentication") or {}
    if d.authentication == "key" and auth.get("password_auth") is not False:
        return False
    needs_login = d.authentication in ("key", "password", "key-or-password")
    return not (needs_login and auth.get("shell_without_login"))


def _account_matches(d: Account, f: Finding) -> bool:
    if f.check != "accounts" or f.rule not in DECLARABLE_ACCOUNT_RULES:
        return False
    if DECLARABLE_ACCOUNT_RULES[f.rule] and not d.uid0:
        return False
    return str(f.details.get("account")) == d.name


def _host_matches(pattern: str, host: str) -> bool:
    pattern, host = pattern.lower().rstrip("."), host.lower().rstrip(".")
    if pattern.startswith("*."):
        return host.endswith(pattern[1:]) and fnmatch.fnmatchcase(host, pattern)
    return fnmatch.fnmatchcase(host, pattern)


def _endpoint_matches(d: Endpoint, f: Finding) -> bool:
    if f.check != "endpoints" or f.rule in INVENTORY_RULES:
        return False
    det = f.details
    host = str(det.get("host") or det.get("value") or "")
    if d.host is not None and not _host_matches(d.host, host):
        return False
    if d.cidr is not None:
        try:
            if ipaddress.ip_address(host) not in ipaddress.ip_network(d.cidr, strict=False):
                return False
        except ValueError:
            return False
    port = det.get("port")
    if d.ports and port is not None and port not in d.ports:
        return False
    scheme = det.get("scheme")
    return not (d.protocol and scheme and d.protocol.lower() != str(scheme).lower())


def _describe(kind: str, d: Any) -> str:
    if kind == "remote_access":
        parts = [d.service, f"port {d.port}" if d.port is not None else "",
                 f"on {d.interface}" if d.interface else "",
                 f"auth {d.authentication}" if d.authentication else ""]
        return " ".join(p for p in parts if p)
    if kind == "accounts":
        return f"account {d.name}" + (" (uid 0)" if d.uid0 else "")
    target = d.host or d.cidr
    ports = f" ports {','.join(map(str, d.ports))}" if d.ports else ""
    return f"{target}{ports}" + (f" ({d.protocol})" if d.protocol else "")


_KINDS: tuple[tuple[str, str, Callable[[Any, Finding], bool]], ...] = (
    ("remote_access", "remote_access", _remote_matches),
    ("accounts", "account", _account_matches),
    ("endpoints", "endpoint", _endpoint_matches),
)


def apply_declarations(loaded: LoadedAgreement, findings: list[Finding]
                       ) -> tuple[list[Finding], list[StaleDeclaration]]:
    """Findings with declared ones marked, and the declarations nothing matched."""
    ag = loaded.agreement
    declared_by: dict[str, str] = {}
    stale: list[StaleDeclaration] = []
    for key, kind, matches in _KINDS:
        for i, decl in enumerate(getattr(ag, key)):
            line = loaded.line_of(key, i)
            entry = f"{key}[{i}]"
            hit = [f for f in findings if matches(decl, f)]
            for f in hit:
                declared_by.setdefault(f.id, f"{entry} (line {line})" if line else entry)
            if not hit:
                stale.append(StaleDeclaration(
                    kind=kind, entry=entry, line=line, declared=_describe(key, decl),
                    reason="declared, but nothing in the image matches it"))
    out = [f.model_copy(update={"status": "declared", "declared_by": declared_by[f.id]})
           if f.id in declared_by else f for f in findings]
    return out, stale
