"""DSSE envelopes (Ed25519) and the in-toto release/evaluation statements built from the
demo image's report."""

from __future__ import annotations

import base64
import hashlib
import json
import re
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from spyproof.models import Report
from spyproof.provenance import statements as st
from spyproof.provenance.dsse import (
    EnvelopeError,
    add_signature,
    key_id,
    pae,
    read_envelope,
    sign_envelope,
    verify_envelope,
    write_envelope,
)

REPO = Path(__file__).resolve().parents[1]
DATA = Path(__file__).resolve().parent / "data" / "provenance" / "dsse"
TYPE = "application/vnd.in-toto+json"

# RFC 6962 roots of the first n standard leaf inputs (transparency-dev/merkle
# testonly/constants.go @ 417fb0c3, Apache-2.0; also ../shared/vectors/merkle/tree.json)
LEAF_INPUTS = ["", "00", "10", "2021", "3031", "40414243", "5051525354555657",
               "606162636465666768696a6b6c6d6e6f"]
ROOTS = {
    0: "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    1: "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    3: "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    5: "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    7: "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    8: "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
}


@pytest.fixture(scope="module")
def key_a():
    return Ed25519PrivateKey.from_private_bytes(bytes(range(32)))


@pytest.fixture(scope="module")
def key_b():
    return Ed25519PrivateKey.from_private_bytes(bytes(range(32, 64)))


# --- DSSE ---------------------------------------------------------------------------


def test_pae_matches_the_dsse_spec_vector():
    vector = json.loads((DATA / "pae.json").read_text())
    got = pae(vector["payloadType"], vector["payload_utf8"].encode())
    assert got == vector["pae_utf8"].encode()


def test_pae_lengths_count_bytes_not_characters():
    assert pae("t/ü", "é".encode()) == b"DSSEv1 4 t/\xc3\xbc 2 \xc3\xa9"


def test_sign_verify_round_trip(key_a):
    env = sign_envelope(b'{"a":1}', TYPE, key_a)
    assert set(env) == {"payload", "payloadType", "signatures"}
    assert base64.b64decode(env["payload"]) == b'{"a":1}'
    raw = key_a.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    assert env["signatures"][0]["keyid"] == hashlib.sha256(raw).hexdigest() == key_id(key_a)
    assert verify_envelope(env, [key_a.public_key()], TYPE) == b'{"a":1}'
    # the signature covers PAE(type, payload), not the bare payload
    sig = base64.b64decode(env["signatures"][0]["sig"])
    key_a.public_key().verify(sig, pae(TYPE, b'{"a":1}'))


def test_verify_accepts_a_mapping_of_caller_key_ids(key_a):
    env = sign_envelope(b"x", TYPE, key_a, keyid="c2sp-id")
    assert verify_envelope(env, {"c2sp-id": key_a.public_key()}, TYPE) == b"x"
    with pytest.raises(EnvelopeError):  # the same key under another id is not trusted
        verify_envelope(env, {"other": key_a.public_key()}, TYPE)


def test_url_safe_unpadded_base64_is_accepted(key_a):
    env = sign_envelope(b"\xfb\xff", TYPE, key_a)
    env["payload"] = base64.urlsafe_b64encode(b"\xfb\xff").decode().rstrip("=")
    assert "=" not in env["payload"] and "_" in env["payload"]
    assert verify_envelope(env, [key_a.public_key()], TYPE) == b"\xfb\xff"


def test_tampered_payload_is_rejected(key_a):
    env = sign_envelope(b'{"verdict":"fail"}', TYPE, key_a)
    env["payload"] = base64.b64encode(b'{"verdict":"pass"}').decode()
    with pytest.raises(EnvelopeError, match="trusted key"):
        verify_envelope(env, [key_a.public_key()], TYPE)


def test_signature_by_unknown_key_only_is_rejected(key_a, key_b):
    env = sign_envelope(b"x", TYPE, key_b)
    with pytest.raises(EnvelopeError, match="no valid signature"):
        verify_envelope(env, [key_a.public_key()], TYPE)


def test_unknown_signer_next_to_a_trusted_one_is_ignored(key_a, key_b):
    env = add_signature(sign_envelope(b"x", TYPE, key_b), key_a)
    assert len(env["signatures"]) == 2
    assert verify_envelope(env, [key_a.public_key()], TYPE) == b"x"


def test_forged_signature_by_a_trusted_key_is_rejected(key_a, key_b):
    env = sign_envelope(b"x", TYPE, key_a)
    forged = base64.b64encode(key_b.sign(pae(TYPE, b"x"))).decode()
    env["signatures"].append({"keyid": key_id(key_a), "sig": forged})
    with pytest.raises(EnvelopeError, match="invalid"):  # even beside a valid one
        verify_envelope(env, [key_a.public_key()], TYPE)


def test_signature_without_keyid_is_tried_against_trusted_keys(key_a, key_b):
    env = sign_envelope(b"x", TYPE, key_a, keyid="")
    assert verify_envelope(env, [key_b.public_key(), key_a.public_key()], TYPE) == b"x"
    with pytest.raises(EnvelopeError):
        verify_envelope(env, [key_b.public_key()], TYPE)


def test_wrong_payload_type_is_rejected(key_a):
    env = sign_envelope(b"x", "text/plain", key_a)
    with pytest.raises(EnvelopeError, match="payloadType"):
        verify_envelope(env, [key_a.public_key()], TYPE)
    env["payloadType"] = TYPE  # relabelled: the PAE no longer matches the signature
    with pytest.raises(EnvelopeError):
        verify_envelope(env, [key_a.public_key()], TYPE)


@pytest.mark.parametrize("field,value", [
    ("payload", "not base64!"),
    ("payload", "abcde"),
    ("sig", "@@@@"),
])
def test_bad_base64_is_rejected(key_a, field, value):
    env = sign_envelope(b"x", TYPE, key_a)
    if field == "sig":
        env["signatures"][0]["sig"] = value
    else:
        env[field] = value
    with pytest.raises(EnvelopeError, match="base64"):
        verify_envelope(env, [key_a.public_key()], TYPE)


@pytest.mark.parametrize("envelope", [
    None, [], "x", {}, {"payload": "eA==", "payloadType": TYPE},
    {"payload": "eA==", "payloadType": TYPE, "signatures": []},
    {"payload": "eA==", "payloadType": TYPE, "signatures": ["sig"]},
    {"payload": "eA==", "payloadType": TYPE, "signatures": [{"keyid": "k"}]},
    {"payload": 5, "payloadType": TYPE, "signatures": [{"sig": "eA=="}]},
])
def test_malformed_envelopes_are_rejected(key_a, envelope):
    with pytest.raises(EnvelopeError):
        verify_envelope(envelope, [key_a.public_key()], TYPE)


def test_envelope_file_round_trip_is_atomic(tmp_path, key_a):
    env = sign_envelope(b"x", TYPE, key_a)
    path = write_envelope(tmp_path / "r.dsse.json", env)
    assert read_envelope(path) == env
    write_envelope(path, sign_envelope(b"y", TYPE, key_a))  # replaces
    assert verify_envelope(read_envelope(path), [key_a.public_key()], TYPE) == b"y"
    assert [p.name for p in tmp_path.iterdir()] == ["r.dsse.json"]  # no temp files left


@pytest.mark.parametrize("content", [b"{not json", b"\xff\xfe", b"[1, 2]"])
def test_bad_json_file_is_rejected(tmp_path, content):
    path = tmp_path / "bad.dsse.json"
    path.write_bytes(content)
    with pytest.raises(EnvelopeError):
        read_envelope(path)


# --- inventory Merkle root ----------------------------------------------------------


def _report(files: list[dict]) -> Report:
    return Report.model_validate({
        "tool": {"version": "0.1.0"}, "generated_at": "2026-01-01T00:00:00Z",
        "image": {"name": "fw.bin", "size": 1, "sha256": "1" * 64, "sha512": "2" * 128},
        "limits": {}, "files": files})


def _file(path, sha, kind="file"):
    return {"tree": "t", "path": path, "kind": kind, "mode": "0644", "sha256": sha}


def test_inventory_leaves_are_sorted_sha256sum_lines_of_regular_files():
    report = _report([_file("usr/bin/b", "b" * 64), _file("etc", None, "directory"),
                      _file("bin/sh", None, "symlink"), _file("etc/passwd", "a" * 64),
                      _file("lost", None)])
    lines, unhashed = st.inventory_leaves(report)
    assert lines == [b"a" * 64 + b"  etc/passwd\n", b"b" * 64 + b"  usr/bin/b\n"]
    assert unhashed == 1
    root = st.inventory_root(report)
    expected = hashlib.sha256(b"\x01" + hashlib.sha256(b"\x00" + lines[0]).digest()
                              + hashlib.sha256(b"\x00" + lines[1]).digest()).hexdigest()
    assert (root.root, root.size, root.unhashed) == (expected, 2, 1)


def test_inventory_root_is_deterministic_and_detects_one_changed_file():
    files = [_file(f"f{i:02}", hashlib.sha256(bytes([i])).hexdigest()) for i in range(13)]
    root = st.inventory_root(_report(files)).root
    assert st.inventory_root(_report(list(reversed(files)))).root == root
    changed = [dict(f) for f in files]
    changed[7]["sha256"] = "0" * 64
    assert st.inventory_root(_report(changed)).root != root
    renamed = [dict(f) for f in files]
    renamed[12]["path"] = "g12"
    assert st.inventory_root(_report(renamed)).root != root


# --- statements from the demo report ------------------------------------------------


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    work = tmp_path_factory.mktemp("prov-demo")
    image = work / "acme-cpe5g-5.2.1.bin"
    subprocess.run([str(REPO / "examples/sample-firmware/build.sh"), str(image)],
                   check=True, capture_output=True)
    out = work / "out"
    proc = subprocess.run([sys.executable, "-m", "spyproof.cli", "-q", "scan", str(image),
                           "--out", str(out), "--agreement",
                           str(REPO / "examples/agreement-acme-cpe5g.toml")],
                          capture_output=True, text=True)
    assert proc.returncode in (0, 1), proc.stderr  # 1: the demo image fails clauses
    data = (out / "report.json").read_bytes()
    return Report.model_validate_json(data), data


def _release(report):
    return st.release_statement(report, vendor="Acme Networks", product="CPE-5G",
                                version="5.2.1", source_digest="gitCommit:" + "ab" * 20,
                                sbom_digest="c" * 64, agreement_digest="sha256:" + "d" * 64)


def test_release_statement_from_demo_report(demo, key_a):
    report, _ = demo
    statement = _release(report)
    jsonschema.validate(statement, st.statement_schema(st.RELEASE_PREDICATE))
    assert statement["_type"] == "https://in-toto.io/Statement/v1"
    assert statement["predicateType"] == "https://spyproof.dev/release/v1"
    assert statement["subject"] == [{"name": report.image.name, "digest": {
        "sha256": report.image.sha256, "sha512": report.image.sha512}}]
    pred = statement["predicate"]
    assert pred["sbom_digest"] == "sha256:" + "c" * 64
    regular = [f for f in report.files if f.kind == "file"]
    assert pred["inventory"]["size"] == len(regular) > 10
    assert pred["inventory"]["root"] == st.inventory_root(report).root
    assert _release(report) == statement  # deterministic
    envelope = st.sign_statement(statement, key_a)
    assert envelope["payloadType"] == TYPE
    assert st.verify_statement(envelope, [key_a.public_key()]) == statement


def test_evaluation_statement_from_demo_report(demo, key_a):
    report, data = demo
    statement = st.evaluation_statement(report, data, evaluator="https://lab.example/ev")
    jsonschema.validate(statement, st.statement_schema(st.EVALUATION_PREDICATE))
    pred = statement["predicate"]
    assert pred["report_digest"] == "sha256:" + hashlib.sha256(data).hexdigest()
    assert pred["knowledge_base"]["digest"] == report.knowledge_base.digest
    assert pred["time_evaluated"] == report.generated_at
    assert pred["verdict"] == report.verdict == "fail"
    assert [(c["id"], c["verdict"], c["reason"]) for c in pred["clauses"]] == [
        (v.id, v.verdict, v.reason) for v in report.verdicts]
    assert pred["agreement_digest"] == "sha256:" + report.agreement.sha256
    assert statement["subject"][0]["digest"]["sha256"] == report.image.sha256
    assert st.verify_statement(st.sign_statement(statement, key_a),
                               [key_a.public_key()]) == statement


def test_evaluation_refuses_bytes_of_another_report(demo):
    report, data = demo
    other = json.loads(data)
    other["verdict"] = "pass"
    with pytest.raises(ValueError, match="report_bytes"):
        st.evaluation_statement(report, json.dumps(other).encode(), evaluator="lab")


@pytest.mark.parametrize("mutate", [
    lambda s: s["predicate"]["inventory"].pop("root"),
    lambda s: s["predicate"]["inventory"].update(root="XYZ"),
    lambda s: s["predicate"].update(source_digest="md5:abc"),
    lambda s: s.update(_type="https://in-toto.io/Statement/v0.1"),
    lambda s: s["subject"][0]["digest"].pop("sha512"),
])
def test_schema_and_verifier_reject_a_malformed_release(demo, key_a, mutate):
    statement = _release(demo[0])
    mutate(statement)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(statement, st.statement_schema(st.RELEASE_PREDICATE))
    # signed anyway (bypassing sign_statement's check), the verifier refuses it
    envelope = sign_envelope(st.statement_bytes(statement), TYPE, key_a)
    with pytest.raises(EnvelopeError):
        st.verify_statement(envelope, [key_a.public_key()])
    with pytest.raises(EnvelopeError):
        st.sign_statement(statement, key_a)


def test_verify_statement_rejects_non_json_and_foreign_types(key_a):
    with pytest.raises(EnvelopeError, match="not JSON"):
        st.verify_statement(sign_envelope(b"{oops", TYPE, key_a), [key_a.public_key()])
    good = {"_type": st.STATEMENT_TYPE, "subject": [{"name": "x", "digest": {"sha256": "a"}}],
            "predicateType": "https://slsa.dev/provenance/v1", "predicate": {}}
    env = sign_envelope(st.statement_bytes(good), "application/json", key_a)
    with pytest.raises(EnvelopeError, match="payloadType"):
        st.verify_statement(env, [key_a.public_key()])
    # a statement with another (unknown) predicate verifies: the predicate is not ours
    env = st.sign_statement(good, key_a)
    assert st.verify_statement(env, [key_a.public_key()]) == good


def test_signed_statement_tampered_in_file_is_rejected(tmp_path, demo, key_a):
    report, _ = demo
    path = write_envelope(tmp_path / "release.dsse.json",
                          st.sign_statement(_release(report), key_a))
    env = read_envelope(path)
    statement = json.loads(base64.b64decode(env["payload"]))
    statement["predicate"]["version"] = "5.2.2"
    env["payload"] = base64.b64encode(st.statement_bytes(statement)).decode()
    path.write_text(json.dumps(env))
    with pytest.raises(EnvelopeError):
        st.verify_statement(read_envelope(path), [key_a.public_key()])


def test_docs_embed_the_generated_schemas():
    """docs/provenance-predicates.md shows each statement's schema; it must not drift."""
    text = (REPO / "docs" / "provenance-predicates.md").read_text()
    blocks = re.findall(r"```json\n(.*?)```", text, re.S)
    embedded = {json.loads(b)["$id"]: json.loads(b) for b in blocks if '"$id"' in b}
    for uri in (st.RELEASE_PREDICATE, st.EVALUATION_PREDICATE):
        schema = st.statement_schema(uri)
        assert embedded.get(schema["$id"]) == schema, f"regenerate the schema of {uri}"
