"""accounts: who can log in to the device, and with which password.

Reads every passwd, shadow, group and gshadow the image holds (backups, factory copies
and other trees included; see ``accounts_files``) and reports:

* a published default password: each hash is tried with the vendor default credentials
  of ``data/checks/default_credentials.yaml`` (Mirai's list, vendor manuals, advisories),
  hashed by libxcrypt with the hash's own scheme, salt and cost; a match is critical
  (NS-2), on a locked account medium;
* an empty password on an account with a login shell (high, NS-2);
* a password stored in plain text (high, NS-2);
* a weak hash scheme - DES, BSDi, MD5-crypt, Sun MD5, NT (medium, NS-6);
* a UID 0 account other than root (high, NS-1);
* every account with a login shell (low when some password works, info when locked, NS-1),
  so that an evaluator sees the whole login surface;
* an account file that is a link leading outside the image (info, NS-2): its accounts are
  made at run time and cannot be judged here.

Locked fields (``!``, ``*``, ``!!``, ``x`` in shadow, ``*LK*``) are never empty passwords.
Passwords are never reported whole: findings carry ``mask_secret`` of them, and lines are
shown with the hash digest masked.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from spyproof.checks.accounts_creds import (
    DATA_FILE,
    Credential,
    also_listed,
    candidates,
    credential_for,
    load_credentials,
)
from spyproof.checks.accounts_crypt import (
    UNAFFORDABLE,
    WEAK_SCHEMES,
    CrackResult,
    backend,
    estimate_ms,
    verify,
)
from spyproof.checks.accounts_files import AccountFile, AccountSet, UnresolvedLink, discover
from spyproof.checks.accounts_parse import Entry, Kind, Parsed, PwState, parse, shell_kind
from spyproof.checks.base import (
    Check,
    CheckContext,
    CheckInfo,
    Outcome,
    make_finding,
    mask_secret,
)
from spyproof.models import Evidence, Finding, Severity

CHECK_ID = "accounts"
MAX_FILE_BYTES = 1024 * 1024  # an account file larger than this is read only this far
PER_HASH_MS = 2_000.0         # estimated hashing time allowed for one hash
TOTAL_MS = 10_000.0           # … and for the whole image
PRIVILEGED_GROUPS = frozenset({"root", "wheel", "sudo", "admin"})
MAX_LISTED_LINES = 10


@dataclass(frozen=True)
class _Line:
    """One entry with the file it is in."""

    file: AccountFile
    entry: Entry

    def evidence(self, rule: str) -> Evidence:
        f = self.file.entry
        return Evidence(tree=f.tree, path=f.path, sha256=f.sha256, line=self.entry.line,
                        text=self.entry.masked_line(), rule=rule)

    @property
    def where(self) -> str:
        return f"{self.file.entry.tree}/{self.file.entry.path}:{self.entry.line}"


class _Audit:
    """One run over an image: parsed files, the cracking budget and what was found."""

    def __init__(self, ctx: CheckContext) -> None:
        self.ctx = ctx
        self.creds: tuple[Credential, ...] = load_credentials()
        self.out = Outcome()
        self.seen: set[str] = set()
        self.parsed: dict[tuple[str, str], Parsed | None] = {}
        self.cracked: dict[str, CrackResult] = {}
        self.budget_ms = TOTAL_MS
        self.crypt = backend()
        if self.crypt is None:
            self.out.notes.append("no crypt(3) implementation available: password hashes "
                                  "were not tried against the default credentials")

    # -- plumbing ---------------------------------------------------------------------------

    def add(self, rule: str, severity: Severity, title: str, explanation: str,
            evidence: list[Evidence], clause: str, details: dict[str, Any],
            source: str | None = None) -> None:
        f: Finding = make_finding(CHECK_ID, rule, severity, title, explanation, evidence,
                                  clause=clause, details=details, source=source)
        if f.id not in self.seen:
            self.seen.add(f.id)
            self.out.findings.append(f)

    def read(self, af: AccountFile) -> Parsed | None:
        key = (af.entry.tree, af.entry.path)
        if key in self.parsed:
            return self.parsed[key]
        name = f"{af.entry.tree}/{af.entry.path}"
        result: Parsed | None = None
        try:
            data, truncated = self.ctx.read(af.entry, MAX_FILE_BYTES)
        except OSError as exc:
            self.out.notes.append(f"{name}: not read: {exc.strerror or exc}")
        else:
            self.out.examined += 1
            parsed = parse(data.decode("utf-8", errors="replace"), af.kind,
                           cut_short=truncated)
            if truncated:
                self.out.notes.append(f"{name}: larger than {MAX_FILE_BYTES} bytes; only "
                                      f"the first {MAX_FILE_BYTES} were read")
            if not parsed.looks_like_account_file:
                self.out.notes.append(f"{name}: not a {af.kind.value} file "
                                      f"({len(parsed.skipped)} lines not in its format); "
                                      f"skipped")
            else:
                result = parsed
                self._note_skipped(name, parsed)
        self.parsed[key] = result
        return result

    def _note_skipped(self, name: str, parsed: Parsed) -> None:
        bad = [n for n, why in parsed.skipped if why != "cut by the read limit"]
        if bad:
            shown = ", ".join(str(n) for n in bad[:MAX_LISTED_LINES])
            more = f" and {len(bad) - MAX_LISTED_LINES} more" if len(bad) > MAX_LISTED_LINES \
                else ""
            reasons = sorted({why for _, why in parsed.skipped
                              if why != "cut by the read limit"})
            self.out.notes.append(f"{name}: {len(bad)} malformed lines skipped (lines "
                                  f"{shown}{more}: {'; '.join(reasons[:3])})")
        if parsed.nis:
            self.out.notes.append(f"{name}: {parsed.nis} NIS '+'/'-' lines left to NIS")

    # -- cracking ---------------------------------------------------------------------------

    def crack(self, line: _Line) -> CrackResult | None:
        pw = line.entry.password
        if pw.hash is None or pw.scheme is None or self.crypt is None:
            return None
        if pw.hash in self.cracked:
            return self.cracked[pw.hash]
        tries = candidates(line.entry.name, self.creds)
        cost = estimate_ms(pw.hash, pw.scheme)
        allowed = min(PER_HASH_MS, max(self.budget_ms, 0.0))
        affordable = 0 if cost == UNAFFORDABLE else min(len(tries), int(allowed // cost))
        found = None
        for candidate in tries[:affordable]:
            if verify(candidate, pw.hash, self.crypt[1]):
                found = candidate
                break
        tried = tries.index(found) + 1 if found is not None else affordable
        if cost != UNAFFORDABLE:
            self.budget_ms -= tried * cost
        reason = None
        if found is None and affordable < len(tries):
            if cost == UNAFFORDABLE or cost > PER_HASH_MS:
                why = "its parameters make one try too costly" if cost != UNAFFORDABLE \
                    else "its parameters could not be read"
                reason = f"{line.where}: {pw.scheme} hash not tried: {why}"
            else:
                reason = (f"{line.where}: {pw.scheme} hash tried with {affordable} of "
                          f"{len(tries)} default passwords (hashing time limit)")
            self.out.notes.append(reason)
        result = CrackResult(found, tried, len(tries), reason)
        self.cracked[pw.hash] = result
        return result

    # -- facts about one password field ---------------------------------------------------------

    def password_facts(self, line: _Line, user: Entry | None) -> None:
        e, pw = line.entry, line.entry.password
        who = "Group" if e.kind in (Kind.group, Kind.gshadow) else "Account"
        context = _context(line, user)
        if pw.state == PwState.plain:
            self.add("plaintext-password", Severity.high,
                     f"{who} '{e.name}' has its password stored in plain text",
                     f"The password field of '{e.name}' in {e.kind.value} is not a crypt "
                     f"hash, so the password itself ships in the firmware and can be read "
                     f"by anyone holding the image.",
                     [line.evidence("plaintext-password")], "NS-2",
                     {**context, "password": mask_secret(pw.field),
                      "password_length": len(pw.field)})
            match = next((c for c in candidates(e.name, self.creds) if c == pw.field), None)
            if match is not None:
                self.default_password(line, match, "plain", context, locked=False)
            return
        if pw.state == PwState.unknown_hash:
            self.out.notes.append(f"{line.where}: hash scheme "
                                  f"'{pw.field.split('$')[1][:16]}' not known; not tried")
            return
        if pw.hash is None:
            return
        locked = pw.state == PwState.locked
        if not locked and pw.scheme in WEAK_SCHEMES:
            self.add("weak-hash", Severity.medium,
                     f"{who} '{e.name}' uses weak {pw.scheme} password hashing",
                     f"{pw.scheme} hashes are cracked quickly offline (short, fast or "
                     f"unsalted), so anyone with the image can recover weak or reused "
                     f"passwords; current systems use yescrypt, SHA-512-crypt or bcrypt.",
                     [line.evidence("weak-hash")], "NS-6", {**context, "scheme": pw.scheme})
        result = self.crack(line)
        if result is not None and result.password is not None:
            self.default_password(line, result.password, pw.scheme or "", context,
                                  locked=locked)

    def default_password(self, line: _Line, password: str, scheme: str,
                         context: dict[str, Any], *, locked: bool) -> None:
        e = line.entry
        cred = credential_for(e.name, password, self.creds)
        whom = ", ".join(cred.vendors) if cred.vendors else "many devices"
        lists = f" ({', '.join(cred.lists)} list)" if cred.lists else ""
        group = e.kind in (Kind.group, Kind.gshadow)
        subject = f"Group '{e.name}'" if group else f"Account '{e.name}'"
        rule = "default-password-locked" if locked else "default-password"
        if locked:
            severity, title = Severity.medium, (f"Locked {subject.lower()} has a published "
                                                f"default password")
            why = (f"The hash of locked '{e.name}' matches a default credential published "
                   f"for {whom}{lists}; unlocking the account (or a firmware that does) "
                   f"brings the default password back.")
        else:
            severity = Severity.high if group else Severity.critical
            title = f"{subject} uses a published default password"
            why = (f"The password of '{e.name}' matches a default credential published for "
                   f"{whom}{lists}; anyone who knows the list can log in wherever the "
                   f"account is reachable (telnet, SSH, serial console, web UI).")
        details = {**context, "scheme": scheme, "locked": locked,
                   "password": mask_secret(password), "password_length": len(password),
                   "credential": {"id": cred.id, "username": cred.username,
                                  "vendors": list(cred.vendors),
                                  "products": list(cred.products), "lists": list(cred.lists),
                                  "source": cred.source, "note": cred.note},
                   "username_matches": cred.username in (e.name, None),
                   "also_listed_as": also_listed(e.name, password, cred, self.creds)}
        if scheme == "des-crypt" and len(password) > 8:
            details["note"] = "DES crypt compares only the first 8 characters"
        self.add(rule, severity, title, why, [line.evidence(cred.id)], "NS-2", details,
                 source=cred.source)

    # -- facts about one account --------------------------------------------------------------

    def account_facts(self, s: AccountSet, line: _Line, shadow: dict[str, _Line],
                      privileged: dict[str, list[str]]) -> None:
        e = line.entry
        context = _context(line, e)
        if e.uid == 0 and e.name != "root":
            self.add("uid0-account", Severity.high,
                     f"Account '{e.name}' has UID 0 besides root",
                     f"'{e.name}' has user id 0, so whoever logs in as '{e.name}' is root; a "
                     f"second superuser is easily missed by an administrator who only "
                     f"secures root.", [line.evidence("uid0-account")], "NS-1", context)
        where, state = self._effective_password(s, line, shadow)
        kind = shell_kind(e.shell)
        if where is not None and where.entry.password.state == PwState.empty:
            severity = {"shell": Severity.high, "program": Severity.medium}.get(kind,
                                                                                 Severity.low)
            evidence = [where.evidence("empty-password")]
            if where is not line:
                evidence.append(line.evidence("empty-password"))
            self.add("empty-password", severity,
                     f"Account '{e.name}' has an empty password"
                     + (f" and a login shell ({e.login_shell})" if kind != "nologin" else ""),
                     f"'{e.name}' has no password at all: wherever login is offered "
                     f"(console, telnet, an SSH server that permits empty passwords) it "
                     f"opens without one.", evidence, "NS-2",
                     {**context, "shell_kind": kind, "password_in": where.entry.kind.value})
        if kind == "nologin":
            return
        usable = where is not None and where.entry.password.usable
        details = {**context, "shell_kind": kind, "password_state": state,
                   "shell_in_image": self._shell_exists(line.file.entry.tree, e.login_shell),
                   "privileged_groups": privileged.get(e.name, [])}
        evidence = [line.evidence("login-account")]
        if where is not None and where is not line:
            evidence.append(where.evidence("login-account"))
        self.add("login-account", Severity.low if usable else Severity.info,
                 f"Account '{e.name}' can log in ({e.login_shell})",
                 f"'{e.name}' has a login {'shell' if kind == 'shell' else 'program'} and "
                 f"{'a usable password' if usable else 'no usable password'}; it is part "
                 f"of the device's login surface, to be matched against the accounts the "
                 f"vendor declared.", evidence, "NS-1", details)

    def _effective_password(self, s: AccountSet, line: _Line, shadow: dict[str, _Line]
                            ) -> tuple[_Line | None, str]:
        """The line whose password login checks, and a word for its state."""
        pw = line.entry.password
        if pw.state != PwState.shadowed:
            return line, pw.state.value
        if line.entry.name in shadow:
            found = shadow[line.entry.name]
            return found, found.entry.password.state.value
        if Kind.shadow in s.files:
            return None, "no shadow entry"
        return None, "shadow file not in the image"

    def _shell_exists(self, tree: str, shell: str) -> bool:
        trees = [tree] + ([self.ctx.rootfs] if self.ctx.rootfs and self.ctx.rootfs != tree
                          else [])
        return any(self.ctx.resolve(t, shell) is not None for t in trees)

    # -- whole sets ---------------------------------------------------------------------------

    def audit_set(self, s: AccountSet) -> None:
        lines: dict[Kind, list[_Line]] = {}
        for kind, af in s.files.items():
            parsed = self.read(af)
            if parsed is not None:
                lines[kind] = [_Line(af, e) for e in parsed.entries]
        users = _first_by_name(lines.get(Kind.passwd, []))
        shadow = _first_by_name(lines.get(Kind.shadow, []))
        for kind in (Kind.passwd, Kind.shadow, Kind.group, Kind.gshadow):
            for line in lines.get(kind, []):
                user = users.get(line.entry.name) if kind in (Kind.passwd, Kind.shadow) \
                    else None
                self.password_facts(line, user.entry if user else None)
        passwd = lines.get(Kind.passwd, [])
        if any(li.entry.password.state == PwState.shadowed for li in passwd) \
                and Kind.shadow not in s.files:
            self.out.notes.append(f"{passwd[0].file.entry.tree}/{passwd[0].file.entry.path}: "
                                  f"passwords are in a shadow file that is not in the image "
                                  f"beside it (made at boot?)")
        privileged = _privileged_groups(lines.get(Kind.group, []), passwd)
        for line in passwd:
            self.account_facts(s, line, shadow, privileged)

    def unresolved(self, link: UnresolvedLink) -> None:
        f = link.link
        self.add("account-file-at-runtime", Severity.info,
                 f"{f.path} leads outside the image ({f.link_target})",
                 f"The {link.kind.value} file is a link that does not resolve inside the "
                 f"image (created at boot, or a broken or looping link), so the accounts "
                 f"or passwords it holds on a running device cannot be judged from the image.",
                 [Evidence(tree=f.tree, path=f.path, text=f"{f.path} -> {f.link_target}",
                           rule="account-file-at-runtime")], "NS-2",
                 {"file": link.kind.value, "link_target": f.link_target})


def _context(line: _Line, user: Entry | None) -> dict[str, Any]:
    """Facts every finding about a line carries: whose it is, where it was found."""
    e = line.entry
    ctx: dict[str, Any] = {"account" if e.kind in (Kind.passwd, Kind.shadow) else "group":
                           e.name, "file": e.kind.value}
    if line.file.via:
        ctx["found_via"] = line.file.via
    if user is not None:
        ctx.update(uid=user.uid, gid=user.gid, shell=user.login_shell)
    return ctx


def _first_by_name(lines: list[_Line]) -> dict[str, _Line]:
    out: dict[str, _Line] = {}
    for line in lines:
        out.setdefault(line.entry.name, line)
    return out


def _privileged_groups(groups: list[_Line], passwd: list[_Line]) -> dict[str, list[str]]:
    """Account -> the privileged groups (root, wheel, sudo, admin, GID 0) it belongs to."""
    out: dict[str, set[str]] = {}
    privileged = {g.entry.gid: g.entry.name for g in groups
                  if g.entry.gid == 0 or g.entry.name in PRIVILEGED_GROUPS}
    for g in groups:
        if g.entry.gid in privileged:
            for member in g.entry.members:
                out.setdefault(member, set()).add(g.entry.name)
    for u in passwd:
        if u.entry.gid in privileged:
            out.setdefault(u.entry.name, set()).add(privileged[u.entry.gid])
    return {k: sorted(v) for k, v in out.items()}


class AccountsCheck(Check):
    info = CheckInfo(
        id=CHECK_ID,
        title="Accounts and default passwords",
        clause="NS-2",
        description="Accounts that can log in, UID 0 accounts besides root, empty and "
                    "plain-text passwords, weak hash schemes, and password hashes that "
                    "match published vendor default credentials (Mirai's list, vendor "
                    "manuals, advisories).",
        looks_at="passwd, shadow, group and gshadow files in every tree, with their "
                 "backups and factory copies",
        data_files=(DATA_FILE,),
    )

    def finish(self, ctx: CheckContext, per_file: Outcome) -> Outcome:
        audit = _Audit(ctx)
        sets, unresolved = discover(ctx)
        for s in sets:
            audit.audit_set(s)
        for link in unresolved:
            audit.unresolved(link)
        return audit.out


CHECK = AccountsCheck()
