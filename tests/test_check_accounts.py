"""The accounts check: default passwords, empty and plain-text passwords, weak hashes,
UID 0 accounts and the login surface, over account files as firmware ships them.

Hashes are made at test time with fresh salts by ``openssl passwd`` (MD5-, SHA-256- and
SHA-512-crypt), Python's ``crypt`` module (DES, bcrypt, yescrypt) and ``mkpasswd`` where
it is installed. Trees are inventoried and checked through the real runner.
"""

from __future__ import annotations

import json
import os
import random
import secrets
import shutil
import subprocess
import time
import warnings
from pathlib import Path

import pytest

from checks_util import TREE, tree_context, write
from spyproof.checks import accounts
from spyproof.checks.accounts import CHECK
from spyproof.checks.accounts_creds import load_credentials, parse_credentials
from spyproof.checks.accounts_crypt import (
    UNAFFORDABLE,
    _libcrypt_crypt,
    _stdlib_crypt,
    estimate_ms,
    identify,
)
from spyproof.checks.base import CheckContext
from spyproof.checks.runner import run_checks
from spyproof.models import EntryKind, FileEntry, FileType, Finding

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    import crypt

DATA = Path(__file__).parent / "data" / "checks" / "accounts"
SAMPLE = Path(__file__).resolve().parents[1] / "examples" / "sample-firmware" / "rootfs"
B64 = "./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
CREDS = load_credentials()
BY_ID = {c.id: c for c in CREDS}


# -- helpers -----------------------------------------------------------------------------------

def openssl_hash(flag: str, password: str) -> str:
    salt = secrets.token_hex(4 if flag == "-1" else 8)
    out = subprocess.run(["openssl", "passwd", flag, "-salt", salt, "-stdin"],
                         input=password + "\n", capture_output=True, text=True, check=True)
    return out.stdout.strip()


def b64salt(n: int) -> str:
    return "".join(secrets.choice(B64) for _ in range(n))


def hash_with(scheme: str, password: str) -> str:
    """A hash of ``password`` in ``scheme`` with a fresh salt."""
    if scheme == "md5":
        return openssl_hash("-1", password)
    if scheme == "sha256":
        return openssl_hash("-5", password)
    if scheme == "sha512":
        return openssl_hash("-6", password)
    if scheme == "des":
        return crypt.crypt(password, b64salt(2))
    if scheme == "bcrypt":
        return crypt.crypt(password, "$2b$04$" + b64salt(21) + ".")
    if scheme == "yescrypt":  # N=2^10, r=32: cheap for tests
        return crypt.crypt(password, "$y$j7T$" + b64salt(16) + "$")
    raise ValueError(scheme)


SCHEMES = ("md5", "sha256", "sha512", "des", "bcrypt", "yescrypt")


def run_tree(root: Path) -> tuple[list[Finding], object]:
    findings, runs = run_checks(tree_context(root), [CHECK], workers=1)
    return findings, runs[0]


def by_rule(findings: list[Finding], rule: str) -> list[Finding]:
    return [f for f in findings if f.rule == rule]


def shadow_line(user: str, field: str) -> str:
    return f"{user}:{field}:19000:0:99999:7:::\n"


def passwd_line(user: str, uid: int = 1000, shell: str = "/bin/sh", field: str = "x") -> str:
    return f"{user}:{field}:{uid}:{uid}:{user}:/home/{user}:{shell}\n"


# -- the data file -------------------------------------------------------------------------------

def test_data_file_is_valid_and_sourced():
    assert len(CREDS) >= 70
    mirai = [c for c in CREDS if "mirai" in c.lists]
    assert len(mirai) == 62  # every add_auth_entry() of scanner.c, the duplicate included
    assert len({(c.username, c.password) for c in mirai}) == 61
    for c in CREDS:
        assert c.source.startswith("https://"), c.id
        if len(c.password) >= 4 and c.password != c.username:
            assert c.password.lower() not in c.id.lower(), c.id
    named = {(c.username, c.password): c for c in CREDS}
    assert ("zyfwp", "PrOw!aN_fXp") in named
    assert ("root", "xc3511") in named and ("root", "vizxv") in named
    assert ("root", "7ujMko0admin") in named and ("ubnt", "ubnt") in named
    assert ("root", "") in named and ("admin", "") in named


@pytest.mark.parametrize("bad", [
    {"version": 2, "credentials": [{"id": "a", "username": "u", "password": "p",
                                    "source": "https://x"}]},
    {"version": 1, "credentials": [{"id": "a", "username": "u", "password": 5,
                                    "source": "https://x"}]},
    {"version": 1, "credentials": [{"id": "a", "username": "u", "password": "p",
                                    "source": "http://x"}]},
    {"version": 1, "credentials": [{"id": "leaks-secret1", "username": "u",
                                    "password": "secret1", "source": "https://x"}]},
    {"version": 1, "credentials": [{"id": "a", "username": "u", "password": "p",
                                    "source": "https://x"},
                                   {"id": "a", "username": "v", "password": "q",
                                    "source": "https://x"}]},
])
def test_malformed_credential_data_is_refused(bad):
    with pytest.raises(ValueError):
        parse_credentials(bad)


# -- table-driven over every entry ------------------------------------------------------------

def test_every_default_credential_fires_on_its_hash(tmp_path):
    """One shadow line per entry, hashed with a fresh salt in a rotating scheme."""
    lines, expect = [], {}
    for n, c in enumerate(CREDS, start=1):
        user = c.username if c.username is not None else "anyone"
        lines.append(shadow_line(user, hash_with(SCHEMES[n % len(SCHEMES)], c.password)))
        expect[n] = c
    write(tmp_path, "etc/shadow", "".join(lines))
    findings, run = run_tree(tmp_path)
    hits = {f.evidence[0].line: f for f in by_rule(findings, "default-password")}
    missing = [f"{n}: {c.id}" for n, c in expect.items() if n not in hits]
    assert not missing, missing
    for n, c in expect.items():
        f = hits[n]
        got = BY_ID[f.details["credential"]["id"]]
        assert got.password == c.password, (c.id, got.id)
        assert got.username in (c.username, None), (c.id, got.id)
        assert f.severity == "critical" and f.clause == "NS-2"
        assert f.source == got.source and f.evidence[0].rule == got.id
    # never the password whole: not in the evidence, not in any detail value
    public = " ".join([c.username or "" for c in CREDS] +
                      [" ".join([c.note, c.source, *c.products, *c.vendors]) for c in CREDS])
    secret = [c.password for c in CREDS if len(c.password) >= 5 and c.password not in public]
    assert "PrOw!aN_fXp" in secret and "7ujMko0admin" in secret
    for f in findings:
        shown = " ".join([*_values(f.details), *(e.text or "" for e in f.evidence)])
        leaked = [p for p in secret if p in shown]
        assert not leaked, (f.id, leaked)


def _values(obj) -> list[str]:
    if isinstance(obj, dict):
        return [v for x in obj.values() for v in _values(x)]
    if isinstance(obj, list):
        return [v for x in obj for v in _values(x)]
    return [str(obj)]


def test_a_different_password_stays_quiet(tmp_path):
    lines = []
    for n, c in enumerate(CREDS, start=1):
        user = c.username if c.username is not None else "anyone"
        scheme = "sha512" if n == 1 else "md5"  # (DES would cut the suffix off)
        lines.append(shadow_line(user, hash_with(scheme, c.password + "-not-default")))
    write(tmp_path, "etc/shadow", "".join(lines))
    findings, run = run_tree(tmp_path)
    assert not by_rule(findings, "default-password")
    assert not [n for n in run.skipped if "hashing time limit" in n]


# -- semantics of password fields ---------------------------------------------------------------

def test_locked_fields_are_not_empty_passwords(tmp_path):
    fields = {"bang": "!", "star": "*", "bangbang": "!!", "ex": "x", "lk": "*LK*", "np": "NP",
              "lockedhash": "!" + hash_with("sha512", "admin")}
    write(tmp_path, "etc/passwd", "".join(passwd_line(u, 1000 + i)
                                          for i, u in enumerate(fields)))
    write(tmp_path, "etc/shadow", "".join(shadow_line(u, f) for u, f in fields.items()))
    findings, _ = run_tree(tmp_path)
    assert not by_rule(findings, "empty-password")
    assert not [f for f in findings if f.severity in ("critical", "high")]
    logins = by_rule(findings, "login-account")
    assert {f.details["account"] for f in logins} == set(fields)
    assert all(f.severity == "info" for f in logins)
    locked = by_rule(findings, "default-password-locked")
    assert [f.details["account"] for f in locked] == ["lockedhash"]
    assert locked[0].severity == "medium" and locked[0].details["locked"] is True
    assert locked[0].evidence[0].text.startswith("lockedhash:!$6$")


def test_empty_password_severity_follows_the_shell(tmp_path):
    write(tmp_path, "etc/passwd", passwd_line("shelly", 1001) +
          passwd_line("daemonic", 1002, "/usr/sbin/nologin") +
          passwd_line("clishy", 1003, "/usr/bin/clish") +
          passwd_line("blank", 1004, ""))
    write(tmp_path, "etc/shadow", "".join(shadow_line(u, "") for u in
                                          ("shelly", "daemonic", "clishy", "blank")))
    findings, _ = run_tree(tmp_path)
    sev = {f.details["account"]: f.severity for f in by_rule(findings, "empty-password")}
    assert sev == {"shelly": "high", "daemonic": "low", "clishy": "medium", "blank": "high"}
    shelly = next(f for f in by_rule(findings, "empty-password")
                  if f.details["account"] == "shelly")
    assert [(e.path, e.line) for e in shelly.evidence] == [("etc/shadow", 1), ("etc/passwd", 1)]
    logins = {f.details["account"]: f for f in by_rule(findings, "login-account")}
    assert set(logins) == {"shelly", "clishy", "blank"}
    assert logins["blank"].details["shell"] == "/bin/sh"  # empty shell field = /bin/sh


def test_empty_passwd_field_without_shadow_and_missing_shadow_file(tmp_path):
    write(tmp_path, "etc/passwd", passwd_line("nopw", 1000, field="") +
          passwd_line("shadowed", 1001))
    findings, run = run_tree(tmp_path)
    empty = by_rule(findings, "empty-password")
    assert [f.details["account"] for f in empty] == ["nopw"]
    assert empty[0].severity == "high" and empty[0].evidence[0].path == "etc/passwd"
    shadowed = next(f for f in by_rule(findings, "login-account")
                    if f.details["account"] == "shadowed")
    assert shadowed.severity == "info"
    assert shadowed.details["password_state"] == "shadow file not in the image"
    assert any("shadow file that is not in the image" in n for n in run.skipped)


def test_uid0_besides_root(tmp_path):
    write(tmp_path, "etc/passwd", passwd_line("root", 0) + passwd_line("toor", 0) +
          passwd_line("alice", 1000))
    write(tmp_path, "etc/shadow", shadow_line("root", "*") + shadow_line("toor", "*") +
          shadow_line("alice", "*"))
    findings, _ = run_tree(tmp_path)
    uid0 = by_rule(findings, "uid0-account")
    assert [(f.details["account"], f.evidence[0].line) for f in uid0] == [("toor", 2)]
    assert uid0[0].severity == "high" and uid0[0].clause == "NS-1"


def test_hash_in_passwd_second_field_is_cracked(tmp_path):
    write(tmp_path, "etc/passwd", passwd_line("root", 0, "/bin/ash",
                                              hash_with("md5", "xc3511")))
    findings, _ = run_tree(tmp_path)
    hit = by_rule(findings, "default-password")
    assert len(hit) == 1 and hit[0].evidence[0].path == "etc/passwd"
    assert hit[0].details["credential"]["vendors"] == ["XiongMai Technologies"]
    assert hit[0].details["scheme"] == "md5-crypt" and hit[0].details["shell"] == "/bin/ash"
    assert by_rule(findings, "weak-hash")[0].severity == "medium"
    assert "xc3511" not in hit[0].model_dump_json()


def test_plaintext_password_in_passwd_and_shadow(tmp_path):
    write(tmp_path, "etc/passwd", passwd_line("root", 0, field="xc3511") +
          passwd_line("web", 1000, field="x"))
    write(tmp_path, "etc/shadow", shadow_line("web", "Tr0ub4dor&3"))
    findings, _ = run_tree(tmp_path)
    plain = {f.details["account"]: f for f in by_rule(findings, "plaintext-password")}
    assert set(plain) == {"root", "web"}
    assert all(f.severity == "high" for f in plain.values())
    default = by_rule(findings, "default-password")
    assert [(f.details["account"], f.details["scheme"]) for f in default] == [("root", "plain")]
    dumped = json.dumps([f.model_dump(mode="json") for f in findings])
    assert "xc3511" not in dumped and "Tr0ub4dor&3" not in dumped


def test_weak_schemes(tmp_path):
    write(tmp_path, "etc/shadow", shadow_line("a", hash_with("des", "s3cret-one")) +
          shadow_line("b", hash_with("md5", "s3cret-two")) +
          shadow_line("c", hash_with("sha512", "s3cret-three")) +
          shadow_line("d", hash_with("bcrypt", "s3cret-four")))
    findings, _ = run_tree(tmp_path)
    weak = {f.details["account"]: f.details["scheme"] for f in by_rule(findings, "weak-hash")}
    assert weak == {"a": "des-crypt", "b": "md5-crypt"}


def test_group_passwords_and_privileged_groups(tmp_path):
    write(tmp_path, "etc/passwd", passwd_line("alice", 1000))
    write(tmp_path, "etc/shadow", shadow_line("alice", hash_with("sha512", "n0t-a-default")))
    write(tmp_path, "etc/group", "root:x:0:\nwheel:x:10:alice\nusers:x:100:alice\n")
    write(tmp_path, "etc/gshadow", f"root:*::\nwheel:{hash_with('md5', 'admin')}::alice\n"
                                   "users:!::alice\n")
    findings, _ = run_tree(tmp_path)
    grp = by_rule(findings, "default-password")
    assert [(f.details.get("group"), f.severity, f.evidence[0].path) for f in grp] == \
        [("wheel", "high", "etc/gshadow")]
    alice = by_rule(findings, "login-account")[0]
    assert alice.details["privileged_groups"] == ["wheel"] and alice.severity == "low"


def test_schemes_from_real_tools_are_recognised():
    assert identify(openssl_hash("-1", "x")) == "md5-crypt"
    assert identify(openssl_hash("-5", "x")) == "sha256-crypt"
    assert identify(openssl_hash("-6", "x")) == "sha512-crypt"
    assert identify(crypt.crypt("x", crypt.mksalt(crypt.METHOD_BLOWFISH, rounds=16))) == "bcrypt"
    assert identify(crypt.crypt("x", "ab")) == "des-crypt"
    assert identify(crypt.crypt("x", "$y$j9T$" + b64salt(16) + "$")) == "yescrypt"
    assert identify(crypt.crypt("x", "$6$rounds=6000$" + b64salt(16))) == "sha512-crypt"
    assert identify("admin") is None and identify("*") is None and identify("") is None


MKPASSWD_METHODS = {"yescrypt": "yescrypt", "gost-yescrypt": "gost-yescrypt",
                    "scrypt": "scrypt", "bcrypt": "bcrypt", "sha256crypt": "sha256-crypt",
                    "sunmd5": "sun-md5", "bsdicrypt": "bsdi-des", "descrypt": "des-crypt",
                    "nt": "nthash"}


@pytest.mark.skipif(shutil.which("mkpasswd") is None,
                    reason="mkpasswd (Debian package whois) is not installed")
def test_mkpasswd_hashes_of_every_scheme_are_cracked(tmp_path):
    lines = []
    for method in MKPASSWD_METHODS:
        out = subprocess.run(["mkpasswd", "-m", method, "xc3511"], capture_output=True,
                             text=True, check=True).stdout.strip()
        lines.append(shadow_line("root", out))
    write(tmp_path, "etc/shadow", "".join(lines))
    findings, _ = run_tree(tmp_path)
    got = {f.evidence[0].line: f.details["scheme"] for f in by_rule(findings, "default-password")}
    assert got == dict(enumerate(MKPASSWD_METHODS.values(), start=1))


# -- cost limits ------------------------------------------------------------------------------

def test_unaffordable_hashes_are_not_tried_and_say_so(tmp_path):
    write(tmp_path, "etc/shadow",
          shadow_line("a", "$6$rounds=999999999$abcdefgh$" + "A" * 86) +
          shadow_line("b", "$2b$31$" + "A" * 53))
    start = time.perf_counter()
    findings, run = run_tree(tmp_path)
    assert time.perf_counter() - start < 5
    assert sum("hash not tried" in n for n in run.skipped) == 2
    assert estimate_ms("$2b$31$" + "A" * 53, "bcrypt") > 1e8
    assert estimate_ms("$y$j9T$abcd$" + "A" * 43, "yescrypt") == pytest.approx(29.0)
    assert estimate_ms("$y$jFT$abcd$" + "A" * 43, "yescrypt") == pytest.approx(29.0 * 64)
    assert estimate_ms("$y$$$", "yescrypt") == UNAFFORDABLE


def test_total_budget_is_deterministic(tmp_path, monkeypatch):
    monkeypatch.setattr(accounts, "TOTAL_MS", 10.0)
    write(tmp_path, "etc/shadow", shadow_line("a", hash_with("sha512", "one-strong")) +
          shadow_line("b", hash_with("sha512", "two-strong")))
    first = run_tree(tmp_path)[1].skipped
    again = run_tree(tmp_path)[1].skipped
    assert first == again
    assert any("sha512-crypt hash tried with 3 of" in n for n in first)
    assert any("hash tried with 0 of" in n for n in first)


def test_ctypes_libcrypt_agrees_with_the_crypt_module():
    via_ctypes, via_module = _libcrypt_crypt(), _stdlib_crypt()
    if via_ctypes is None or via_module is None:
        pytest.skip("libcrypt or the crypt module is missing")
    for setting in ("ab", "$1$abcdefgh", "$6$abcdefgh", "$2b$04$" + "a" * 22,
                    "$y$j7T$abcdefghijklmnop$"):
        assert via_ctypes("7ujMko0admin", setting) == via_module("7ujMko0admin", setting)


# -- parsing what firmware really ships -----------------------------------------------------------

def test_messy_passwd_is_parsed_line_by_line(tmp_path):
    garbage = bytes(random.Random(7).randbytes(40)).replace(b"\n", b"")
    passwd = (b"# accounts of the Acme CPE\n"
              b"\n"
              b"root:x:0:0:root:/root:/bin/sh\r\n"
              b"+::::::\n"
              b"+@netgroup\n"
              b"-banned\n" + garbage + b"\x00\n"
              b"short:line\n"
              b"toor:x:0:0::/root:/bin/sh\r\n"
              b"baduid:x:abc:0::/:/bin/sh\n"
              b"jerome:x:1000:1000:J\xe9r\xf4me:/home/j:/bin/sh\n")
    write(tmp_path, "etc/passwd", passwd)
    write(tmp_path, "etc/shadow", "root:*:1:0:99999:7:::\r\njerome:" +
          hash_with("md5", "my-own-pass") + ":1:0:99999:7:::\r\n")
    write(tmp_path, "etc/group", random.Random(3).randbytes(2048))
    findings, run = run_tree(tmp_path)
    uid0 = by_rule(findings, "uid0-account")
    assert [(f.details["account"], f.evidence[0].line) for f in uid0] == [("toor", 9)]
    logins = {f.details["account"]: f for f in by_rule(findings, "login-account")}
    assert set(logins) == {"root", "toor", "jerome"}
    assert logins["toor"].details["password_state"] == "no shadow entry"
    assert logins["jerome"].severity == "low"  # CRLF shadow line read as a hash
    notes = "\n".join(run.skipped)
    assert "rootfs/etc/passwd: 3 malformed lines skipped (lines 7, 8, 10" in notes
    assert "rootfs/etc/passwd: 3 NIS '+'/'-' lines left to NIS" in notes
    assert "rootfs/etc/group: not a group file" in notes


def test_a_two_gigabyte_sparse_passwd_is_read_only_up_to_the_cap(tmp_path):
    (tmp_path / "etc").mkdir()
    ctx0 = tree_context(tmp_path)
    huge = tmp_path / "etc" / "passwd"
    huge.write_text("root:x:0:0:root:/root:/bin/sh\nadmin::0:0::/root:/bin/sh\n")
    os.truncate(huge, 2 * 1024 ** 3)
    assert os.stat(huge).st_blocks * 512 < 1024 ** 2  # sparse: nothing to read really
    entry = FileEntry(tree=TREE, path="etc/passwd", kind=EntryKind.file, size=2 * 1024 ** 3,
                      mode="0644", file_type=FileType.text, sha256="0" * 64)
    reads: list[int] = []

    class Spy(CheckContext):
        def read(self, e, max_bytes=1 << 24):
            data, truncated = super().read(e, max_bytes)
            reads.append(len(data))
            return data, truncated

    ctx = Spy([*ctx0.files, entry], {TREE: tmp_path}, TREE)
    start = time.perf_counter()
    findings, runs = run_checks(ctx, [CHECK], workers=1)
    assert time.perf_counter() - start < 10
    assert reads and max(reads) <= accounts.MAX_FILE_BYTES
    assert [f.details["account"] for f in by_rule(findings, "uid0-account")] == ["admin"]
    assert any("larger than 1048576 bytes" in n for n in runs[0].skipped)


def test_symlinked_account_files_are_read_inside_the_tree(tmp_path):
    write(tmp_path, "var/etc/passwd", passwd_line("admin", 0))
    write(tmp_path, "var/etc/shadow", shadow_line("admin", hash_with("sha256", "admin")))
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc" / "passwd").symlink_to("../var/etc/passwd")
    (tmp_path / "etc" / "shadow").symlink_to("/var/etc/shadow")  # absolute: inside the image
    findings, _ = run_tree(tmp_path)
    default = by_rule(findings, "default-password")
    assert len(default) == 1 and default[0].evidence[0].path == "var/etc/shadow"
    assert default[0].details["found_via"] == "etc/shadow"
    assert len(by_rule(findings, "uid0-account")) == 1
    assert not by_rule(findings, "account-file-at-runtime")


def test_symlink_loops_and_runtime_links(tmp_path):
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc" / "passwd").symlink_to("passwd.link")
    (tmp_path / "etc" / "passwd.link").symlink_to("passwd")
    (tmp_path / "etc" / "shadow").symlink_to("/tmp/shadow")
    write(tmp_path, "usr/bin/passwd", Path("/bin/true").read_bytes(), 0o755)  # the program
    write(tmp_path, "etc/config/passwd", "this is not\nan account file at all\n")
    findings, run = run_tree(tmp_path)
    runtime = {f.evidence[0].path: f for f in by_rule(findings, "account-file-at-runtime")}
    assert set(runtime) == {"etc/passwd", "etc/shadow"}
    assert runtime["etc/shadow"].details["link_target"] == "/tmp/shadow"
    assert all(f.severity == "info" for f in findings)
    notes = "\n".join(run.skipped)
    assert "etc/config/passwd: not a passwd file" in notes
    assert "usr/bin/passwd" not in notes


# -- whole images ------------------------------------------------------------------------------

def test_openwrt_image():
    findings, run = run_tree(DATA / "openwrt")
    empty = by_rule(findings, "empty-password")
    assert [(f.details["account"], f.severity, f.evidence[0].path) for f in empty] == \
        [("root", "high", "etc/shadow")]
    default = by_rule(findings, "default-password")
    assert [(f.evidence[0].path, f.details["credential"]["id"]) for f in default] == \
        [("rom/etc/shadow", "openwrt-lede-root")]
    assert default[0].details["password"].startswith("pa") and \
        default[0].details["password_length"] == 8
    assert {f.evidence[0].path for f in by_rule(findings, "login-account")} == \
        {"etc/passwd", "rom/etc/passwd"}
    assert run.examined == 6 and not run.skipped
    assert [f.id for f in findings] == [f.id for f in run_tree(DATA / "openwrt")[0]]


def test_clean_debian_accounts_give_no_high_or_critical():
    findings, run = run_tree(DATA / "debian")
    assert not [f for f in findings if f.severity in ("critical", "high", "medium")]
    assert [(f.rule, f.details["account"]) for f in findings] == [("login-account", "root")]
    assert run.examined == 4 and not run.skipped


def test_sample_firmware_is_fast_and_finds_the_planted_accounts():
    start = time.perf_counter()
    findings, run = run_tree(SAMPLE)
    elapsed = time.perf_counter() - start
    assert elapsed < 10
    summary = {(f.rule, f.details.get("account"), f.severity) for f in findings}
    assert ("default-password", "root", "critical") in summary
    assert ("uid0-account", "admin", "high") in summary
    assert ("empty-password", "admin", "high") in summary


def test_backup_passwd_is_read_with_the_shadow_beside_it(tmp_path):
    write(tmp_path, "etc/passwd", passwd_line("root", 0))
    write(tmp_path, "etc/passwd-", passwd_line("root", 0) + passwd_line("olduser", 0))
    write(tmp_path, "etc/shadow", shadow_line("root", hash_with("md5", "vizxv")))
    findings, run = run_tree(tmp_path)
    assert [(f.details["account"], f.evidence[0].path) for f in by_rule(findings, "uid0-account")
            ] == [("olduser", "etc/passwd-")]
    old = next(f for f in by_rule(findings, "login-account")
               if f.details["account"] == "olduser")
    assert old.details["password_state"] == "no shadow entry"
    assert len(by_rule(findings, "default-password")) == 1  # one shadow line, reported once
    assert not any("not in the image" in n for n in run.skipped)
