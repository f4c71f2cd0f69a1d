"""keys-and-credentials: private keys, certificates, authorized_keys and secrets.

Keys and certificates are made here with openssl, ssh-keygen, gcc and cryptography; only
Dropbear host keys are committed (tests/data/checks/keys/README.md). Each secrets.yaml
rule has a positive and a negative example below.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509.oid import NameOID

from checks_util import tree_context, write
from spyproof.checks.keys import CHECK
from spyproof.checks.keys_secrets import is_placeholder, load
from spyproof.checks.runner import run_checks

NOW = datetime(2026, 6, 1, tzinfo=UTC)
FIXTURES = Path(__file__).parent / "data" / "checks" / "keys"
SAMPLE = Path(__file__).resolve().parents[1] / "examples" / "sample-firmware" / "rootfs"
SECRETS = load()


def need(tool: str) -> str:
    path = shutil.which(tool)
    if path is None:
        pytest.skip(f"{tool} not installed")
    return path


def sh(*args: str, **kw) -> subprocess.CompletedProcess:
    return subprocess.run(args, check=True, capture_output=True, **kw)


def scan(root: Path, now: datetime = NOW, workers: int = 1):
    ctx = tree_context(root)
    ctx.now = now
    findings, runs = run_checks(ctx, [CHECK], workers=workers)
    return findings, runs[0]


def by_rule(findings, rule):
    return [f for f in findings if f.rule == rule]


def spki_sha256(key) -> str:
    der = key.public_key().public_bytes(serialization.Encoding.DER,
                                        serialization.PublicFormat.SubjectPublicKeyInfo)
    return hashlib.sha256(der).hexdigest()


def ssh_keygen_fingerprint(path: Path) -> str:
    return sh(need("ssh-keygen"), "-l", "-E", "sha256", "-f", str(path)).stdout.split()[1].decode()


def pem_body_lines(pem: bytes) -> list[str]:
    return [ln for ln in pem.decode().splitlines() if ln and not ln.startswith("-----")
            and ":" not in ln and len(ln) >= 40]


def assert_not_printed(findings, pem: bytes) -> None:
    """No line of a key's body appears anywhere in the findings (evidence or details)."""
    dumped = json.dumps([f.model_dump() for f in findings])
    for line in pem_body_lines(pem):
        assert line not in dumped


# -- keys made with cryptography, openssl and ssh-keygen -----------------------------------------

def openssl_key(tmp_path: Path, name: str, *args: str) -> bytes:
    out = tmp_path / name
    sh(need("openssl"), args[0], "-out", str(out), *args[1:])
    return out.read_bytes()


def test_rsa_1024_pkcs1_key_is_high_weak_and_fingerprinted(tmp_path):
    pem = openssl_key(tmp_path, "k", "genrsa", "-traditional", "1024")
    assert pem.startswith(b"-----BEGIN RSA PRIVATE KEY-----")
    root = tmp_path / "root"
    write(root, "etc/ssl/private/device.key", pem)
    findings, run = scan(root)
    [f] = by_rule(findings, "private-key")
    key = serialization.load_pem_private_key(pem, None)
    assert f.severity == "high" and f.clause == "NS-2"
    assert f.details["algorithm"] == "RSA" and f.details["bits"] == 1024
    assert f.details["format"] == "PEM PKCS#1 RSA" and f.details["encrypted"] is False
    assert "1024" in f.details["weak"] and "weak" in f.explanation
    assert f.details["public_key_sha256"] == spki_sha256(key)
    ev = f.evidence[0]
    assert (ev.path, ev.offset, ev.line, ev.rule) == ("etc/ssl/private/device.key", 0, 1,
                                                      "private-key")
    assert ev.sha256 == hashlib.sha256(pem).hexdigest()
    assert ev.text.startswith("-----BEGIN RSA PRIVATE KEY----- [RSA 1024, SHA256:")
    assert "every device of this model shares this key" in f.explanation
    assert_not_printed(findings, pem)
    assert run.examined == 1


def test_rsa_2048_pkcs8_and_ec_p256_keys(tmp_path):
    rsa_pem = openssl_key(tmp_path, "r", "genpkey", "-algorithm", "RSA",
                          "-pkeyopt", "rsa_keygen_bits:2048")
    ec_pem = openssl_key(tmp_path, "e", "ecparam", "-name", "prime256v1", "-genkey", "-noout")
    root = tmp_path / "root"
    write(root, "etc/vpn/client.key", rsa_pem)
    # a key after other text: the line and byte offset point at the BEGIN line
    write(root, "etc/app/tls.pem", b"# device TLS\n\n" + ec_pem)
    findings, _ = scan(root)
    found = {f.evidence[0].path: f for f in by_rule(findings, "private-key")}
    r, e = found["etc/vpn/client.key"], found["etc/app/tls.pem"]
    assert r.details["format"] == "PEM PKCS#8" and r.details["bits"] == 2048
    assert "weak" not in r.details
    assert e.details["format"] == "PEM SEC1 EC" and e.details["curve"] == "secp256r1"
    assert (e.evidence[0].line, e.evidence[0].offset) == (3, 14)
    assert e.details["public_key_sha256"] == spki_sha256(
        serialization.load_pem_private_key(ec_pem, None))
    assert_not_printed(findings, rsa_pem + ec_pem)


def test_openssh_ed25519_key_has_the_ssh_keygen_fingerprint(tmp_path):
    key = tmp_path / "id_ed25519"
    sh(need("ssh-keygen"), "-q", "-t", "ed25519", "-N", "", "-C", "vendor", "-f", str(key))
    root = tmp_path / "root"
    write(root, "root/.ssh/id_ed25519", key.read_bytes())
    findings, _ = scan(root)
    [f] = by_rule(findings, "private-key")
    assert f.details["format"] == "OpenSSH" and f.details["algorithm"] == "Ed25519"
    assert f.details["ssh_fingerprint"] == ssh_keygen_fingerprint(key)
    assert f.details["encrypted"] is False and f.details["cipher"] == "none"
    assert_not_printed(findings, key.read_bytes())


def test_encrypted_keys_are_medium_and_say_so(tmp_path):
    ossh = tmp_path / "enc"
    sh(need("ssh-keygen"), "-q", "-t", "ed25519", "-N", "pass phrase", "-f", str(ossh))
    plain = openssl_key(tmp_path, "p", "genrsa", "-traditional", "2048")
    (tmp_path / "p.pem").write_bytes(plain)
    pkcs8 = openssl_key(tmp_path, "p8", "pkcs8", "-topk8", "-in", str(tmp_path / "p.pem"),
                        "-passout", "pass:secret")
    legacy = openssl_key(tmp_path, "leg", "rsa", "-in", str(tmp_path / "p.pem"), "-aes128",
                         "-passout", "pass:secret")
    der = openssl_key(tmp_path, "p8d", "pkcs8", "-topk8", "-in", str(tmp_path / "p.pem"),
                      "-passout", "pass:secret", "-outform", "DER")
    root = tmp_path / "root"
    write(root, "etc/a/openssh.key", ossh.read_bytes())
    write(root, "etc/a/pkcs8.pem", pkcs8)
    write(root, "etc/a/legacy.pem", legacy)
    write(root, "etc/a/pkcs8.der", der)
    findings, _ = scan(root)
    enc = {f.evidence[0].path: f for f in by_rule(findings, "private-key-encrypted")}
    assert set(enc) == {"etc/a/openssh.key", "etc/a/pkcs8.pem", "etc/a/legacy.pem",
                        "etc/a/pkcs8.der"}
    assert all(f.severity == "medium" and f.details["encrypted"] is True for f in enc.values())
    assert all("encrypted" in f.title.lower() for f in enc.values())
    # OpenSSH keeps the public half in clear: the encrypted key is still fingerprinted
    assert enc["etc/a/openssh.key"].details["ssh_fingerprint"] == \
        ssh_keygen_fingerprint(ossh.with_suffix(".pub"))
    assert enc["etc/a/openssh.key"].details["cipher"] == "aes256-ctr"
    assert not by_rule(findings, "private-key")


def make_cert(key, subject: str = "device", *, issuer_key=None, issuer: str | None = None,
              ca: bool | None = False, days: tuple[int, int] = (-1, 365),
              algorithm=None, now: datetime = NOW) -> x509.Certificate:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)])
    iname = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer or subject)])
    builder = (x509.CertificateBuilder().subject_name(name).issuer_name(iname)
               .public_key(key.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(now + timedelta(days=days[0]))
               .not_valid_after(now + timedelta(days=days[1])))
    if ca is not None:
        builder = builder.add_extension(x509.BasicConstraints(ca=ca, path_length=None),
                                        critical=True)
    signer = issuer_key or key
    if algorithm is None and not isinstance(signer, ed25519.Ed25519PrivateKey):
        algorithm = hashes.SHA256()
    return builder.sign(signer, algorithm)


def pem_of(obj) -> bytes:
    if isinstance(obj, x509.Certificate):
        return obj.public_bytes(serialization.Encoding.PEM)
    return obj.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def test_pkcs12_with_empty_password_gives_up_its_key(tmp_path):
    key = tmp_path / "k.pem"
    key.write_bytes(openssl_key(tmp_path, "k", "genrsa", "2048"))
    cert = tmp_path / "c.pem"
    sh(need("openssl"), "req", "-x509", "-key", str(key), "-subj", "/CN=vpn-client",
       "-days", "30", "-addext", "basicConstraints=critical,CA:FALSE", "-out", str(cert))
    p12 = tmp_path / "c.p12"
    sh("openssl", "pkcs12", "-export", "-inkey", str(key), "-in", str(cert),
       "-passout", "pass:", "-out", str(p12))
    root = tmp_path / "root"
    write(root, "etc/openvpn/client.p12", p12.read_bytes())
    findings, _ = scan(root, now=datetime.now(UTC))
    [f] = by_rule(findings, "private-key-pkcs12")
    assert f.severity == "high" and f.details["opened_with"] == "no password"
    assert f.details["public_key_sha256"] == spki_sha256(
        serialization.load_pem_private_key(key.read_bytes(), None))
    assert f.details["certificates"] == ["CN=vpn-client"]  # paired with its certificate
    [c] = by_rule(findings, "cert-self-signed")
    assert c.details["format"] == "PKCS#12" and c.evidence[0].path == "etc/openvpn/client.p12"


@pytest.mark.parametrize("entry", SECRETS.raw["pkcs12_passwords"], ids=lambda e: e["password"])
def test_pkcs12_documented_default_passwords(tmp_path, entry):
    from cryptography.hazmat.primitives.serialization import pkcs12

    key = ec.generate_private_key(ec.SECP256R1())
    cert = make_cert(key, "keystore")

    def bundle(password: bytes) -> bytes:
        return pkcs12.serialize_key_and_certificates(
            b"k", key, cert, None, serialization.BestAvailableEncryption(password))

    root = tmp_path / "root"
    write(root, "etc/keystore.p12", bundle(entry["password"].encode()))
    write(root, "etc/other.pfx", bundle(b"an undocumented password"))
    write(root, "etc/not-really.p12", b"0\x82\x01\x00 just named like a bundle")
    findings, run = scan(root)
    assert any("not-really.p12: looks like PKCS#12 but does not parse" in n for n in run.skipped)
    [opened] = by_rule(findings, "private-key-pkcs12")
    assert opened.evidence[0].path == "etc/keystore.p12"
    assert opened.details["opened_with"] == f"documented default {entry['password']!r}"
    [locked] = by_rule(findings, "private-key-encrypted")
    assert locked.evidence[0].path == "etc/other.pfx"
    assert locked.details["passwords_tried"] == len(SECRETS.raw["pkcs12_passwords"]) + 1
    assert "documented default" in locked.explanation


C_TEMPLATE = """#include <stdio.h>
static const char key[] =
{literal};
static const char *extra[] = {{ {extra} }};
int main(void) {{ puts(key); for (int i = 0; i < {n}; i++) puts(extra[i]); return 0; }}
"""


def compile_c(tmp_path: Path, pem: bytes, extra: list[str] = ()) -> bytes:
    literal = "\n".join(f'"{ln}\\n"' for ln in pem.decode().splitlines()) or '""'
    src = tmp_path / "prog.c"
    src.write_text(C_TEMPLATE.format(literal=literal, n=len(extra),
                                     extra=", ".join(json.dumps(e) for e in extra) or "0"))
    out = tmp_path / "prog"
    sh(need("gcc"), "-O0", "-o", str(out), str(src))
    return out.read_bytes()


def test_key_compiled_into_elf_is_critical_and_shared_copy_too(tmp_path):
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(serialization.Encoding.PEM,
                            serialization.PrivateFormat.TraditionalOpenSSL,
                            serialization.NoEncryption())
    elf = compile_c(tmp_path, pem)
    root = tmp_path / "root"
    write(root, "usr/bin/cloudd", elf, 0o755)
    write(root, "etc/cloud/client.key", pem)
    findings, _ = scan(root)
    [inbin] = by_rule(findings, "private-key-in-binary")
    assert inbin.severity == "critical"
    ev = inbin.evidence[0]
    assert ev.offset == elf.find(b"-----BEGIN RSA PRIVATE KEY-----") and ev.line is None
    assert inbin.details["public_key_sha256"] == spki_sha256(key)
    # the copy in a file is critical too: the same key cannot be rotated
    [copy] = by_rule(findings, "private-key")
    assert copy.severity == "critical" and copy.details["also_in_binary"] == ["usr/bin/cloudd"]
    [shared] = by_rule(findings, "private-key-shared")
    assert sorted(e.path for e in shared.evidence) == ["etc/cloud/client.key", "usr/bin/cloudd"]
    assert_not_printed(findings, pem)


def test_known_test_key_is_info_in_a_binary_and_noted_elsewhere(tmp_path):
    import yaml

    from spyproof.checks.keys import KeysCheck

    key = ec.generate_private_key(ec.SECP256R1())
    pem = pem_of(key)
    raw = yaml.safe_load((Path(__file__).parents[1] / "src/spyproof/data/checks/secrets.yaml")
                         .read_text())
    raw["known_test_keys"].append({"public_key_sha256": spki_sha256(key),
                                   "name": "demo test key", "source": "https://example.org/t"})
    check = KeysCheck(load(yaml.safe_dump(raw)))
    root = tmp_path / "root"
    write(root, "usr/bin/speedtest", compile_c(tmp_path, pem), 0o755)
    write(root, "etc/ssl/private/server.key", pem)
    ctx = tree_context(root)
    ctx.now = NOW
    findings, _ = run_checks(ctx, [check], workers=1)
    [known] = by_rule(findings, "known-test-key")
    assert known.severity == "info" and known.evidence[0].path == "usr/bin/speedtest"
    assert known.source == "https://example.org/t"
    [used] = by_rule(findings, "private-key")
    assert used.severity == "high" and used.details["publicly_known"] == "demo test key"
    assert "published key" in used.explanation
    assert not by_rule(findings, "private-key-in-binary")


def test_known_test_keys_in_the_real_openssl_and_gnutls(tmp_path):
    """Every known_test_keys entry is in the binary its source names (Debian's builds)."""
    import glob

    openssl = shutil.which("openssl")
    gnutls = sorted(glob.glob("/usr/lib/*/libgnutls.so.30.*"))
    if not openssl or not gnutls:
        pytest.skip("openssl or libgnutls not installed")
    root = tmp_path / "root"
    write(root, "usr/bin/openssl", Path(openssl).read_bytes(), 0o755)
    write(root, "usr/lib/libgnutls.so.30", Path(gnutls[0]).read_bytes())
    findings, _ = scan(root)
    assert {f.rule for f in findings} <= {"known-test-key", "certificate"}
    found = {f.title.split(": ", 1)[1] for f in by_rule(findings, "known-test-key")}
    assert found == {k["name"] for k in SECRETS.raw["known_test_keys"]}


def test_pem_inside_c_source_text_is_read(tmp_path):
    key = ed25519.Ed25519PrivateKey.generate()
    pem = pem_of(key)
    literal = "\n".join(f'  "{ln}\\n"' for ln in pem.decode().splitlines())
    root = tmp_path / "root"
    write(root, "usr/share/doc/key.h", f"static const char *k =\n{literal};\n")
    findings, _ = scan(root)
    [f] = by_rule(findings, "private-key")
    assert f.details["public_key_sha256"] == spki_sha256(key)
    assert f.evidence[0].line == 2


@pytest.mark.parametrize("name,fingerprint", [
    ("dropbear_rsa_host_key", "SHA256:uymOH078ULPhzORRLVYGD4+ltHEGAsYLOPwYIwRD9kU"),
    ("dropbear_ecdsa_host_key", "SHA256:09EMIf+KcVS2EzK0lRMTLGc0IqF++WYq/kRa8WQR3ew"),
    ("dropbear_ed25519_host_key", "SHA256:BkVRB+iljhJJ8f57K65WI6VMYHane2HOoLofK7/UI5I"),
])
def test_dropbear_host_keys_committed_fixture(tmp_path, name, fingerprint):
    """Committed fixtures made by dropbearkey (README.md); fingerprints from dropbearkey -y."""
    root = tmp_path / "root"
    write(root, f"etc/dropbear/{name}", (FIXTURES / name).read_bytes())
    findings, _ = scan(root)
    [f] = by_rule(findings, "ssh-host-key")
    assert f.severity == "critical" and f.details["format"] == "Dropbear"
    assert f.details["ssh_fingerprint"] == fingerprint
    assert "every device of this model shares this key" in f.explanation


def test_dropbear_key_made_by_dropbearkey(tmp_path):
    tool = need("dropbearkey")
    root = tmp_path / "root"
    for kind in ("rsa", "ecdsa", "ed25519"):
        path = root / f"etc/dropbear/dropbear_{kind}_host_key"
        path.parent.mkdir(parents=True, exist_ok=True)
        sh(tool, "-t", kind, "-f", str(path))
    expected = {re.search(r"SHA256:\S+", sh(tool, "-y", "-f", str(p)).stdout.decode()).group(0)
                for p in (root / "etc/dropbear").iterdir()}
    findings, _ = scan(root)
    got = {f.details["ssh_fingerprint"] for f in by_rule(findings, "ssh-host-key")}
    assert got == expected and len(got) == 3


def test_not_a_dropbear_key_at_a_host_key_path(tmp_path):
    root = tmp_path / "root"
    # the right opening, but the numbers do not form a key
    blob = b"".join(len(x).to_bytes(4, "big") + x
                    for x in (b"ssh-rsa", b"\x01\x00\x01", b"\x00" + b"\x11" * 64, b"\x02",
                              b"\x03", b"\x05"))
    write(root, "etc/dropbear/dropbear_rsa_host_key", blob)
    findings, run = scan(root)
    assert not findings


HOST_KEY_EXAMPLES = {
    "*ssh_host_*key": "etc/ssh/ssh_host_ed25519_key",
    "*dropbear_*_host_key": "overlay/etc/dropbear/dropbear_ed25519_host_key",
    "*dropbear/*host*key*": "etc/dropbear/host_key_ed25519",
}


@pytest.mark.parametrize("entry", SECRETS.raw["host_key_paths"], ids=lambda e: e["glob"])
def test_host_key_paths_make_keys_critical(tmp_path, entry):
    key = tmp_path / "k"
    sh(need("ssh-keygen"), "-q", "-t", "ed25519", "-N", "", "-f", str(key))
    root = tmp_path / "root"
    write(root, HOST_KEY_EXAMPLES[entry["glob"]], key.read_bytes())
    write(root, "etc/ssh/not_a_host.key", key.read_bytes())
    findings, _ = scan(root)
    [host] = by_rule(findings, "ssh-host-key")
    assert host.evidence[0].path == HOST_KEY_EXAMPLES[entry["glob"]]
    assert host.details["ssh_fingerprint"] == ssh_keygen_fingerprint(key)
    [plain] = by_rule(findings, "private-key")
    assert plain.evidence[0].path == "etc/ssh/not_a_host.key"


def test_every_host_key_glob_has_an_example():
    assert {e["glob"] for e in SECRETS.raw["host_key_paths"]} == set(HOST_KEY_EXAMPLES)


def test_der_keys_and_certificates_in_files_and_blobs(tmp_path):
    key = ec.generate_private_key(ec.SECP256R1())
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    ed = ed25519.Ed25519PrivateKey.generate()
    cert = make_cert(rsa_key, "blob-ca", ca=True)
    der_of = {
        "pkcs8-ec": key.private_bytes(serialization.Encoding.DER,
                                      serialization.PrivateFormat.PKCS8,
                                      serialization.NoEncryption()),
        "pkcs1-rsa": rsa_key.private_bytes(serialization.Encoding.DER,
                                           serialization.PrivateFormat.TraditionalOpenSSL,
                                           serialization.NoEncryption()),
        "pkcs8-ed": ed.private_bytes(serialization.Encoding.DER,
                                     serialization.PrivateFormat.PKCS8,
                                     serialization.NoEncryption()),
    }
    cert_der = cert.public_bytes(serialization.Encoding.DER)
    root = tmp_path / "root"
    write(root, "etc/key.der", der_of["pkcs8-ec"])
    junk = os.urandom(3000)
    blob = junk + der_of["pkcs1-rsa"] + junk + der_of["pkcs8-ed"] + junk + cert_der + junk
    write(root, "lib/firmware/modem.bin", blob)
    findings, _ = scan(root)
    keys = {(f.evidence[0].path, f.evidence[0].offset): f for f in by_rule(findings, "private-key")}
    assert keys[("etc/key.der", 0)].details["public_key_sha256"] == spki_sha256(key)
    assert keys[("etc/key.der", 0)].details["format"] == "DER PKCS#8"
    rsa_at = blob.find(der_of["pkcs1-rsa"])
    assert keys[("lib/firmware/modem.bin", rsa_at)].details["format"] == "DER PKCS#1 RSA"
    ed_at = blob.find(der_of["pkcs8-ed"])
    assert keys[("lib/firmware/modem.bin", ed_at)].details["algorithm"] == "Ed25519"
    assert len(keys) == 3
    # the certificate in the blob, paired with the RSA key found next to it: a CA whose
    # private key ships in the image
    [ca] = by_rule(findings, "ca-private-key")
    assert ca.severity == "critical"
    assert [e.offset for e in ca.evidence] == [blob.find(cert_der), rsa_at]


# -- certificates ------------------------------------------------------------------------------

def test_self_signed_ca_with_key_present_is_critical(tmp_path):
    key = tmp_path / "k.pem"
    key.write_bytes(openssl_key(tmp_path, "k", "genrsa", "2048"))
    cert = tmp_path / "c.pem"
    sh(need("openssl"), "req", "-x509", "-key", str(key), "-subj", "/CN=Acme Root/O=Acme",
       "-days", "3650", "-out", str(cert))  # OpenSSL's default extensions: CA:TRUE
    root = tmp_path / "root"
    write(root, "etc/ssl/acme-root.pem", cert.read_bytes())
    alone, _ = scan(root, now=datetime.now(UTC))
    # a CA certificate alone is a trust anchor: listed, not an issue
    [record] = alone
    assert record.rule == "certificate" and record.severity == "info"
    assert record.details["is_ca"] and record.details["self_signed"]
    write(root, "etc/ssl/private/acme-root.key", key.read_bytes())
    findings, _ = scan(root, now=datetime.now(UTC))
    [ca] = by_rule(findings, "ca-private-key")
    assert ca.severity == "critical"
    assert [e.path for e in ca.evidence] == ["etc/ssl/acme-root.pem",
                                             "etc/ssl/private/acme-root.key"]
    [k] = by_rule(findings, "private-key")
    assert k.details["certificates"] == ["O=Acme,CN=Acme Root"]


def test_certificate_issues(tmp_path):
    ca_key = ec.generate_private_key(ec.SECP384R1())
    leaf_key = ec.generate_private_key(ec.SECP256R1())
    weak_key = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    certs = {
        "expired.pem": make_cert(leaf_key, "old", issuer_key=ca_key, issuer="ca",
                                 days=(-800, -30)),
        "selfsigned-leaf.pem": make_cert(leaf_key, "router.local", ca=False),
        "weak-key.pem": make_cert(weak_key, "weak", issuer_key=ca_key, issuer="ca"),
        "good.pem": make_cert(leaf_key, "good", issuer_key=ca_key, issuer="ca"),
    }
    root = tmp_path / "root"
    for name, cert in certs.items():
        write(root, f"etc/certs/{name}", pem_of(cert))
    # cryptography refuses to sign with SHA-1; OpenSSL still does
    openssl = need("openssl")
    (tmp_path / "weak.key").write_bytes(pem_of(weak_key))
    (tmp_path / "leaf.key").write_bytes(pem_of(leaf_key))
    sh(openssl, "req", "-x509", "-sha1", "-key", str(tmp_path / "weak.key"), "-subj",
       "/CN=old-root", "-days", "3650", "-out", str(root / "etc/certs/sha1-root.pem"))
    csr = sh(openssl, "req", "-new", "-key", str(tmp_path / "leaf.key"), "-subj", "/CN=sha1")
    sh(openssl, "x509", "-req", "-sha1", "-CA", str(root / "etc/certs/sha1-root.pem"),
       "-CAkey", str(tmp_path / "weak.key"), "-days", "30",
       "-out", str(root / "etc/certs/sha1.pem"), input=csr.stdout)
    findings, _ = scan(root, now=datetime.now(UTC) + timedelta(days=1))
    rules = {(f.evidence[0].path.rsplit("/", 1)[1], f.rule) for f in findings}
    assert rules == {
        ("expired.pem", "cert-expired"),
        ("selfsigned-leaf.pem", "cert-self-signed"),
        ("weak-key.pem", "cert-weak-key"),
        ("sha1.pem", "cert-weak-signature"),
        ("sha1-root.pem", "cert-weak-key"),  # a root's own SHA-1 signature is harmless
        ("good.pem", "certificate"),
    }
    sev = {f.rule: f.severity for f in findings}
    assert sev["cert-expired"] == "low" and sev["cert-weak-key"] == "medium"
    assert sev["cert-weak-signature"] == "medium" and sev["cert-self-signed"] == "low"
    # the clock is the scan's: before its expiry the same certificate is not expired
    earlier, _ = scan(root, now=NOW - timedelta(days=400))
    assert not by_rule(earlier, "cert-expired") and by_rule(earlier, "cert-weak-key")


def test_der_certificate_file_and_shared_certificate(tmp_path):
    key = ec.generate_private_key(ec.SECP256R1())
    cert = make_cert(key, "cloud", issuer_key=ec.generate_private_key(ec.SECP256R1()),
                     issuer="cloud-ca")
    root = tmp_path / "root"
    write(root, "etc/cloud/cert.der", cert.public_bytes(serialization.Encoding.DER))
    write(root, "www/ssl/cert.pem", pem_of(cert))
    findings, _ = scan(root)
    records = by_rule(findings, "certificate")
    assert {(f.evidence[0].path, f.details["format"]) for f in records} == {
        ("etc/cloud/cert.der", "DER"), ("www/ssl/cert.pem", "PEM")}
    [shared] = by_rule(findings, "cert-shared")
    assert shared.severity == "info" and shared.details["places"] == 2


def test_trust_store_standard_roots_are_summarised(tmp_path):
    roots = []
    for i in range(3):
        k = ec.generate_private_key(ec.SECP256R1())
        roots.append((k, make_cert(k, f"Root {i}", ca=True)))
    root = tmp_path / "root"
    write(root, "etc/ssl/certs/ca-certificates.crt",
          b"".join(pem_of(c) for _, c in roots))
    findings, run = scan(root)
    assert findings == []
    assert any("ca-certificates.crt: trusted CA store, 3 certificate(s) in 1 file(s), 0 reported"
               in n for n in run.skipped)
    # a leaf added to the store is not what a root store holds
    leaf = make_cert(ec.generate_private_key(ec.SECP256R1()), "mitm", issuer_key=roots[0][0],
                     issuer="Root 0")
    write(root, "etc/ssl/certs/ca-certificates.crt",
          b"".join(pem_of(c) for _, c in roots) + pem_of(leaf))
    findings, _ = scan(root)
    [added] = by_rule(findings, "ca-bundle-addition")
    assert added.details["subject"] == "CN=mitm" and added.evidence[0].line == 1 + sum(
        pem_of(c).count(b"\n") for _, c in roots)


def test_trust_store_compared_with_the_images_mozilla_certificates(tmp_path):
    keys = [ec.generate_private_key(ec.SECP256R1()) for _ in range(3)]
    certs = [make_cert(k, f"Root {i}", ca=True) for i, k in enumerate(keys)]
    root = tmp_path / "root"
    write(root, "usr/share/ca-certificates/mozilla/Root_0.crt", pem_of(certs[0]))
    write(root, "usr/share/ca-certificates/mozilla/Root_1.crt", pem_of(certs[1]))
    write(root, "etc/ssl/certs/ca-certificates.crt", b"".join(pem_of(c) for c in certs))
    write(root, "usr/local/share/ca-certificates/vendor.crt", pem_of(certs[2]))
    findings, _ = scan(root)
    added = by_rule(findings, "ca-bundle-addition")
    assert {(f.evidence[0].path, f.details["subject"]) for f in added} == {
        ("etc/ssl/certs/ca-certificates.crt", "CN=Root 2"),
        ("usr/local/share/ca-certificates/vendor.crt", "CN=Root 2")}
    # and a trusted CA whose private key ships in the image is critical
    write(root, "etc/vendor/ca.key", pem_of(keys[0]))
    findings, _ = scan(root)
    ca = by_rule(findings, "ca-private-key")
    assert ca and all(f.severity == "critical" for f in ca)
    assert {f.evidence[0].path for f in ca} == {
        "usr/share/ca-certificates/mozilla/Root_0.crt", "etc/ssl/certs/ca-certificates.crt"}


# -- authorized_keys ---------------------------------------------------------------------------

def test_authorized_keys(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    sh(need("ssh-keygen"), "-q", "-t", "ed25519", "-N", "", "-C", "support@vendor", "-f",
       str(a))
    sh("ssh-keygen", "-q", "-t", "rsa", "-b", "2048", "-N", "", "-C", "build", "-f", str(b))
    pa, pb = a.with_suffix(".pub").read_text().strip(), b.with_suffix(".pub").read_text().strip()
    root = tmp_path / "root"
    write(root, "root/.ssh/authorized_keys",
          f"# vendor access\n{pa}\n"
          f'command="/bin/sh -c \\"echo hi\\"",no-pty,from="10.0.0.0/8" {pb}\n'
          "this is not a key\n")
    write(root, "etc/passwd", "root:x:0:0:root:/root:/bin/sh\n"
                              "support:x:0:0::/home/support:/bin/sh\n"
                              "user:x:1000:1000::/home/user:/bin/sh\n")
    write(root, "home/support/.ssh/authorized_keys", pa + "\n")
    write(root, "home/user/.ssh/authorized_keys", pb + "\n")
    write(root, "etc/dropbear/authorized_keys", pa + "\n")
    findings, run = scan(root)
    auth = {(f.evidence[0].path, f.evidence[0].line): f
            for f in by_rule(findings, "authorized-key")}
    first = auth[("root/.ssh/authorized_keys", 2)]
    assert first.severity == "high" and first.details["comment"] == "support@vendor"
    assert first.details["ssh_fingerprint"] == ssh_keygen_fingerprint(a.with_suffix(".pub"))
    assert first.details["algorithm"] == "Ed25519" and "as root" in first.title
    second = auth[("root/.ssh/authorized_keys", 3)]
    assert second.details["options"] == ['command="/bin/sh -c \\"echo hi\\""', "no-pty",
                                         'from="10.0.0.0/8"']
    assert second.details["bits"] == 2048 and second.details["comment"] == "build"
    assert second.evidence[0].offset == len(f"# vendor access\n{pa}\n")
    support = auth[("home/support/.ssh/authorized_keys", 1)]
    assert support.severity == "high" and support.details["accounts"] == ["support"]
    assert "support (uid 0)" in support.title
    assert auth[("home/user/.ssh/authorized_keys", 1)].severity == "medium"
    assert auth[("etc/dropbear/authorized_keys", 1)].severity == "high"
    assert len(auth) == 5
    assert any("line 4: not a key line" in n for n in run.skipped)


# -- secrets -----------------------------------------------------------------------------------

AWS_ID = "AKIA" + "Z7Q4M2XKJPLR3TWB"
RANDOM40 = "q8Zr2Lw9Tm4Yx7Kd1Vb6Nc3Hf5Js0Pg/Ra+Ue2Wi"
ALNUM = "q8Zr2Lw9Tm4Yx7Kd1Vb6Nc3Hf5Js0PgRaUe2WiXo4Ft7Bh1Mn9Dk3Cs6Lp0Gv8Jw5"
WG_KEY = "yAnz5TF+lXXJte14tji3zlMNq+hd2rYUIgJBgB3fBmk="
JWT = ("eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJkZXZpY2UiLCJpYXQiOjE1MTYyMzkwMjJ9."
       "SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c")
OVPN = ("-----BEGIN OpenVPN Static key V1-----\n"
        + "".join(ALNUM.encode().hex()[i:i + 32] + "\n" for i in range(0, 128, 32))
        + "-----END OpenVPN Static key V1-----\n")

# rule id -> (path, positive text, the secret it holds, negative text)
SECRET_EXAMPLES = {
    "aws-access-key-id": ("etc/cloud.conf", f"aws_access_key_id = {AWS_ID}\n", AWS_ID,
                          "aws_access_key_id = AKIAIOSFODNN7EXAMPLE\n"),
    "aws-secret-access-key": ("etc/cloud.conf", f"aws_secret_access_key={RANDOM40}\n",
                              RANDOM40, f"aws_secret_access_key={'a' * 40}\n"),
    "google-api-key": ("www/js/map.js", f'var k = "AIza{ALNUM[:35]}";\n', f"AIza{ALNUM[:35]}",
                       f'var k = "AIza{ALNUM[:20]}";\n'),
    "slack-token": ("usr/lib/notify.lua", f'token = "xoxb-1234567890123-{ALNUM[:24]}"\n',
                    f"xoxb-1234567890123-{ALNUM[:24]}", 'token = "xoxb-none"\n'),
    "slack-webhook": ("etc/alert.conf",
                      f"url=https://hooks.slack.com/services/T0ABCDEF1/B0GHIJKL2/{ALNUM[:24]}\n",
                      f"T0ABCDEF1/B0GHIJKL2/{ALNUM[:24]}",
                      "see https://hooks.slack.com/services/ for details\n"),
    "github-token": ("etc/build.env", f"GH=ghp_{ALNUM[:36]}\n", f"ghp_{ALNUM[:36]}",
                     f"GH=ghp_{ALNUM[:10]}\n"),
    "gitlab-token": ("etc/build.env", f"GL=glpat-{ALNUM[:20]}\n", f"glpat-{ALNUM[:20]}",
                     f"GL=glpat-{ALNUM[:8]}\n"),
    "stripe-secret-key": ("etc/pay.json", f'{{"k": "sk_live_{ALNUM[:24]}"}}\n',
                          f"sk_live_{ALNUM[:24]}", f'{{"k": "sk_test_{ALNUM[:24]}"}}\n'),
    "azure-storage-key": ("etc/upload.conf",
                          f"DefaultEndpointsProtocol=https;AccountName=acme;AccountKey="
                          f"{(ALNUM + ALNUM)[:86]}==;EndpointSuffix=core.windows.net\n",
                          f"{(ALNUM + ALNUM)[:86]}==", "AccountKey=short==\n"),
    "jwt": ("etc/cloud.conf", f"bearer {JWT}\n", JWT, "bearer eyJhbGciOi.eyJ.x\n"),
    "url-credentials": ("etc/init.d/upgrade",
                        "#!/bin/sh\nwget http://admin:Upd4te-2024@fw.acme-cpe-cloud.net/img\n",
                        "Upd4te-2024", "#!/bin/sh\nwget http://admin:$PASS@fw.acme-cpe-cloud.net/\n"),
    "http-basic-auth-header": ("etc/agent.conf",
                               "header=Authorization: Basic YWRtaW46c3VwM3JzM2NyM3Q=\n",
                               "YWRtaW46c3VwM3JzM2NyM3Q=", "header=Authorization: Bearer x\n"),
    "openvpn-static-key": ("etc/openvpn/static.key", OVPN, ALNUM.encode().hex()[:32],
                           "-----BEGIN OpenVPN Static key V1-----\n"
                           "-----END OpenVPN Static key V1-----\n"),
    "wireguard-private-key": ("etc/wireguard/wg0.conf", f"[Interface]\nPrivateKey = {WG_KEY}\n",
                              WG_KEY, f"[Peer]\nPublicKey = {WG_KEY}\n"),
    "putty-private-key": ("root/support.ppk",
                          "PuTTY-User-Key-File-3: ssh-ed25519\nEncryption: none\n",
                          "ssh-ed25519", "Convert with puttygen (PuTTY-User-Key-File).\n"),
    "hostapd-wpa-passphrase": ("etc/hostapd.conf", "ssid=Acme\nwpa_passphrase=Fj3kL9pQ2x\n",
                               "Fj3kL9pQ2x", "ssid=Acme\nwpa_passphrase=1234567\n"),
    "openwrt-wireless-key": ("etc/config/wireless",
                             "config wifi-iface\n\toption encryption 'psk2'\n"
                             "\toption key 'W1fi-Acme-2024'\n", "W1fi-Acme-2024",
                             "config wifi-iface\n\toption key '1'\n"),
    "openwrt-uci-password": ("etc/config/network",
                             "config interface 'wan'\n\toption proto 'pppoe'\n"
                             "\toption password 'pppoePass1'\n", "pppoePass1",
                             "config interface 'wan'\n\toption password '${PPP_PASS}'\n"),
    "snmp-rw-community": ("etc/snmp/snmpd.conf", "rwcommunity private\n", "private",
                          "#rwcommunity private\n"),
    "snmp-ro-community": ("etc/snmp/snmpd.conf", "rocommunity public 127.0.0.1\n", "public",
                          "# rocommunity public\n"),
    "ppp-secret": ("etc/ppp/chap-secrets", '# client server secret\n"isp-user" * "pppS3cret" *\n',
                   "pppS3cret", '# deny PAP to these accounts\nguest\thostname\t"*"\t-\n'
                                'root\thostname\t"*"\t-\n'),
    "ipsec-psk": ("etc/ipsec.secrets", ': PSK "v+NkxY9LLZvwj4qCC2o/gGrWDF2d21jL"\n',
                  "v+NkxY9LLZvwj4qCC2o/gGrWDF2d21jL", ": RSA moonKey.pem\n"),
    "htpasswd-entry": ("www/.htpasswd", "admin:$apr1$r31.....$HqJZimcKQFAMYayBlzkrA/\n",
                       "$apr1$r31.....$HqJZimcKQFAMYayBlzkrA/", "# no users\n"),
    "httpd-conf-credential": ("etc/httpd.conf", "H:/www\n/cgi-bin:admin:setup\n", "setup",
                              "A:*\nH:/www\n"),
    "generic-password": ("etc/app.conf", "[admin]\nadmin_password=Adm1n!2024\n", "Adm1n!2024",
                         "[admin]\nadmin_password=changeme\n"),
    "generic-secret": ("etc/app.conf", "api_key = 'q8Zr2Lw9Tm4Yx7Kd1Vb6'\n",
                       "q8Zr2Lw9Tm4Yx7Kd1Vb6", "api_key = 'aaaaaaaaaaaaaaaa'\n"),
}


def test_every_secret_rule_has_examples():
    assert {r.id for r in SECRETS.rules} == set(SECRET_EXAMPLES)
    for rule in SECRETS.rules:
        assert rule.source.startswith("http") and rule.severity in (
            "critical", "high", "medium", "low", "info")


@pytest.mark.parametrize("rule_id", sorted(SECRET_EXAMPLES))
def test_secret_rule_fires_on_positive_only(tmp_path, rule_id):
    path, positive, secret, negative = SECRET_EXAMPLES[rule_id]
    root = tmp_path / "pos"
    write(root, path, positive)
    findings, _ = scan(root)
    hits = by_rule(findings, rule_id)
    assert len(hits) == 1, [f.rule for f in findings]
    f = hits[0]
    rule = next(r for r in SECRETS.rules if r.id == rule_id)
    ev = f.evidence[0]
    assert (f.severity, f.source, f.clause) == (rule.severity, rule.source, "NS-2")
    assert ev.path == path and ev.rule == rule_id and ev.sha256
    line = positive.encode()[:ev.offset].count(b"\n") + 1
    assert ev.line == line
    assert secret not in ev.text and "chars)" in ev.text  # masked
    assert secret not in json.dumps(f.details)
    neg = tmp_path / "neg"
    write(neg, path, negative)
    findings, _ = scan(neg)
    assert not by_rule(findings, rule_id)


PLACEHOLDER_EXAMPLES = {
    "": "", "change[-_ ]?(me|it[-_ ]?now|this)": "changeme",
    "(your|my|enter|insert|new|some|the)[-_ ]?(password|passwd|pass|pwd|secret|token|key|"
    "api[-_]?key|passphrase)([-_ ]?here)?": "your_password",
    "(password|passwd|secret|token|key)[-_ ]?(here|goes[-_ ]?here)": "password_here",
    "x{3,}|\\*{3,}|\\.{3,}|-{3,}|#{3,}|0{6,}": "********",
    "<[^<>]{0,64}>": "<password>", "\\{\\{[^{}]{0,64}\\}\\}": "{{ admin_pw }}",
    "\\$\\{[^}]{0,64}\\}.{0,64}": "${PASS}", "\\$\\([^)]{0,128}\\)?.{0,64}": "$(cat /tmp/pw)",
    "\\$[A-Za-z_][A-Za-z0-9_]{0,63}(/.{0,200})?": "$dir/private/cakey.pem",
    "(~|\\.{1,2})?/[\\w.+@\\-/]{1,200}|[\\w.+@\\-/]{1,200}\\.(pem|key|crt|cer|der|p12|pfx|"
    "jks|txt|conf|cfg|json|db)": "/etc/pw.txt",
    "\\$[0-9@*#?!-]?": "$1",
    "%[-+ 0-9.#]{0,6}[sdiuxXfc]": "%s", "%\\([a-z_]{1,32}\\)[sd]": "%(password)s",
    "@[A-Za-z_]{1,40}@": "@ADMIN_PASSWORD@", "`[^`]{0,128}`?": "`uci get x`",
    "(none|null|nil|undefined|empty|unset|n/a|false|true|yes|no|on|off|required|optional|"
    "disabled|enabled|define|undef)": "null",
    "(example|sample|dummy|placeholder|redacted|hidden|masked|secret|test|testing|foo|bar|"
    "foobar)": "dummy",
    ".{0,128}example.{0,16}": "AKIAIOSFODNN7EXAMPLE",
}


@pytest.mark.parametrize("pattern", SECRETS.raw["placeholders"]["patterns"])
def test_placeholder_patterns(pattern):
    value = PLACEHOLDER_EXAMPLES[pattern]
    assert re.fullmatch(pattern, value, re.IGNORECASE)
    assert is_placeholder(value, SECRETS)
    assert not is_placeholder("Adm1n!2024", SECRETS)


def test_placeholders_are_noted_not_reported(tmp_path):
    root = tmp_path / "root"
    write(root, "etc/init.d/setpw", "#!/bin/sh\nPASSWORD=$1\nADMIN_PASSWD=changeme\n"
                                    "printf 'password=%s\\n'\n")
    write(root, "usr/lib/lua/auth.lua", "local password = luci.http.formvalue('password')\n"
                                        "local pwd = pw\n")
    write(root, "etc/init.d/real", "#!/bin/sh\nADMIN_PASSWORD=admin123\n")
    findings, run = scan(root)
    [f] = by_rule(findings, "generic-password")
    assert f.evidence[0].path == "etc/init.d/real" and f.evidence[0].line == 2
    assert f.details["key"] == "ADMIN_PASSWORD"
    assert any("generic-password: placeholder value" in n for n in run.skipped)
    assert any("unquoted identifier" in n for n in run.skipped)


def test_documentation_examples_and_prose_are_not_reported(tmp_path):
    root = tmp_path / "root"
    write(root, "etc/examples.conf",
          "url=https://user:Xy7-secret@www.example.com/\n"  # RFC 2606 host
          "url=https://admin:password@fw.acme-cpe-cloud.net/\n"  # user:password example
          "url=https://admin:Xy7-secret@myhost.test/\n"  # RFC 6761 .test
          "password = 'the password used to derive the key'\n"  # prose
          "token = 'this is not a token at all'\n")
    findings, run = scan(root)
    assert findings == []
    assert any("url-credentials: documentation example" in n for n in run.skipped)
    assert any("generic-password: value is not a secret" in n for n in run.skipped)


def test_secrets_in_a_compiled_binary(tmp_path):
    elf = compile_c(tmp_path, b"", [
        "http://admin:Upd4te-2024@fw.acme-cpe-cloud.net/img", AWS_ID,
        "password=%s", "Authorization: Basic %s", "http://user:pass%d@%s/"])
    root = tmp_path / "root"
    write(root, "usr/sbin/updater", elf, 0o755)
    findings, _ = scan(root)
    got = {(f.rule, f.evidence[0].offset) for f in findings}
    assert got == {("url-credentials", elf.find(b"http://admin:")),
                   ("aws-access-key-id", elf.find(AWS_ID.encode()))}
    assert all(f.evidence[0].line is None for f in findings)


# -- bad input ---------------------------------------------------------------------------------

def test_truncated_and_garbage_pem_blocks(tmp_path):
    pem = pem_of(rsa.generate_private_key(public_exponent=65537, key_size=2048))
    root = tmp_path / "root"
    write(root, "etc/cut.key", pem[: len(pem) // 2])
    write(root, "etc/garbage.key", b"-----BEGIN RSA PRIVATE KEY-----\n%%%%not base64%%%%\n"
                                   b"-----END RSA PRIVATE KEY-----\n")
    write(root, "etc/wrong.key", b"-----BEGIN PRIVATE KEY-----\nAAAAAAAA\n"
                                 b"-----END PRIVATE KEY-----\n")
    write(root, "etc/badcert.pem", b"-----BEGIN CERTIFICATE-----\nAAAA\n"
                                   b"-----END CERTIFICATE-----\n")
    # a key cut short inside a blob; and headers alone, as programs hold them
    write(root, "var/blob.bin", os.urandom(200_000) + pem[:300] + os.urandom(1000))
    write(root, "usr/bin/tool", b"\x7fELF\0\0" + b"-----BEGIN RSA PRIVATE KEY-----\n\0\0"
          b"-----BEGIN OPENSSH PRIVATE KEY-----\n\0\0\0-----END OPENSSH PRIVATE KEY-----\n")
    write(root, "etc/latin1.conf", b"name=caf\xe9\xff\xfe\npassword=S3cr\xe9t!\n")
    findings, run = scan(root)
    damaged = {f.evidence[0].path: f for f in by_rule(findings, "private-key-damaged")}
    assert set(damaged) == {"etc/cut.key", "etc/garbage.key", "etc/wrong.key",
                            "var/blob.bin"}
    assert "truncated" in damaged["etc/cut.key"].details["problem"]
    assert all(f.severity == "medium" for f in damaged.values())
    assert any("badcert.pem" in n and "certificate" in n for n in run.skipped)
    [pw] = by_rule(findings, "generic-password")
    assert pw.evidence[0].path == "etc/latin1.conf"


def test_random_data_gives_nothing(tmp_path):
    root = tmp_path / "root"
    rnd = bytearray(os.urandom(2_000_000))
    write(root, "lib/firmware/random.bin", bytes(rnd))
    findings, run = scan(root)
    assert findings == [] and run.examined == 1


def test_huge_file_is_capped_at_max_bytes(tmp_path):
    first = pem_of(ec.generate_private_key(ec.SECP256R1()))
    beyond = pem_of(ec.generate_private_key(ec.SECP256R1()))
    root = tmp_path / "root"
    big = write(root, "lib/firmware/huge.bin", b"\0" * 100 + first)
    with open(big, "r+b") as fh:  # sparse: 200 MB on disk costs nothing
        fh.seek(150 * 1024 * 1024)
        fh.write(beyond)
        fh.truncate(200 * 1024 * 1024)
    findings, run = scan(root)
    [f] = by_rule(findings, "private-key")
    assert f.evidence[0].offset == 100
    assert any(f"only the first {CHECK.max_bytes} of {200 * 1024 * 1024} bytes" in n
               for n in run.skipped)


def test_symlinks_are_not_followed(tmp_path):
    outside = tmp_path / "outside.key"
    outside.write_bytes(pem_of(ec.generate_private_key(ec.SECP256R1())))
    root = tmp_path / "root"
    (root / "etc").mkdir(parents=True)
    (root / "etc/link.key").symlink_to(outside)
    (root / "etc/loop").symlink_to("loop")
    findings, _ = scan(root)
    assert findings == []


# -- the sample firmware -----------------------------------------------------------------------

def test_sample_firmware(tmp_path):
    findings, run = scan(SAMPLE, now=datetime(2027, 1, 1, tzinfo=UTC), workers=2)
    ctx = tree_context(SAMPLE)
    elves = {e.path for e in ctx.files if e.file_type == "elf"}
    assert len(elves) >= 8
    # the Debian binaries (libcrypto, dropbear, busybox …): no high or critical finding
    loud = [f for f in findings if f.severity in ("critical", "high")
            and any(e.path in elves for e in f.evidence)]
    assert loud == []
    # the planted TLS key and its self-signed CA certificate are found
    [key] = by_rule(findings, "private-key")
    assert key.evidence[0].path == "etc/dropbear/server.key"
    assert key.details["certificates"] == ["O=Acme Networks,CN=AcmeCPE"]
    [ca] = by_rule(findings, "ca-private-key")
    assert [e.path for e in ca.evidence] == ["etc/server.crt", "etc/dropbear/server.key"]
    again, _ = scan(SAMPLE, now=datetime(2027, 1, 1, tzinfo=UTC), workers=1)
    assert [f.model_dump() for f in again] == [f.model_dump() for f in findings]
