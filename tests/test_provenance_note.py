"""C2SP signed notes, keys, cosignatures and trust policies against published vectors."""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path

import pytest

from spyproof.provenance.keys import (
    COSIGNATURE_V1,
    ED25519,
    BadKey,
    generate_key,
    key_id,
    parse_signer_key,
    parse_verifier_key,
)
from spyproof.provenance.note import (
    MAX_SIGNATURES,
    BadPolicy,
    InvalidNoteSignature,
    MalformedNote,
    Note,
    UnverifiedNote,
    parse_note,
    parse_policy,
    satisfied,
    serialize_note,
    sign_note,
    verify_note,
)

VECTORS = Path(__file__).parent / "data" / "provenance" / "signed-note"
GO = json.loads((VECTORS / "go-note-vectors.json").read_text())
C2SP = json.loads((VECTORS / "c2sp-example.json").read_text())
PETER = GO["keys"]["PeterNeumann"]
ENOCH = GO["keys"]["EnochRoot"]
BOTH = GO["signed_note_peter"] + GO["signature_line_enoch"]
CHECKPOINT = "example.com/log\n15\nrKbDipCvhuX1GZ7g5BBe8sA6BbJ7ja/1nk427v383cs=\n"


# --- keys ------------------------------------------------------------------------


def test_go_signer_key_derives_go_verifier_key():
    signer = parse_signer_key(PETER["signer_key"])
    assert signer.name == "PeterNeumann"
    assert signer.key_id == 0xC74F20A3
    assert signer.kind == ED25519
    assert signer.skey == PETER["signer_key"]
    assert signer.verifier.vkey == PETER["verifier_key"]


@pytest.mark.parametrize("vkey", [PETER["verifier_key"], ENOCH["verifier_key"],
                                  C2SP["verifier_key"]])
def test_published_verifier_keys_parse_and_round_trip(vkey):
    key = parse_verifier_key(vkey)
    assert key.vkey == vkey
    assert key.key_id == key_id(key.name, key.kind, key.public_key)


@pytest.mark.parametrize("vkey", GO["bad_verifier_keys"])
def test_go_malformed_verifier_keys_rejected(vkey):
    with pytest.raises(BadKey):
        parse_verifier_key(vkey)


def _vkey(name: str, kind: int, public: bytes, kid: int | None = None) -> str:
    kid = key_id(name, kind, public) if kid is None else kid
    return f"{name}+{kid:08x}+" + base64.b64encode(bytes([kind]) + public).decode()


PUB = parse_verifier_key(PETER["verifier_key"]).public_key


@pytest.mark.parametrize("text, reason", [
    ("", "want name+keyid+base64"),
    ("PeterNeumann+c74f20a3", "want name+keyid+base64"),
    (_vkey("", ED25519, PUB), "invalid key name"),
    (_vkey("Peter Neumann", ED25519, PUB), "invalid key name"),
    (_vkey("Peter\u00a0Neumann", ED25519, PUB), "invalid key name"),
    (_vkey("PeterNeumann", ED25519, PUB, 0xC74F20A4), "does not match"),
    ("PeterNeumann+c74f20a+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW", "8 hex digits"),
    ("PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10T", "not base64"),
    ("PeterNeumann+c74f20a3+", "empty key material"),
    (_vkey("PeterNeumann", 0x02, PUB), "unsupported"),
    (_vkey("PeterNeumann", ED25519, PUB[:31]), "32 bytes"),
])
def test_malformed_verifier_keys_give_one_line_reason(text, reason):
    with pytest.raises(BadKey) as info:
        parse_verifier_key(text)
    assert reason in str(info.value)
    assert "\n" not in str(info.value)
    assert not str(info.value).startswith("'")


def test_base64_part_may_contain_plus():
    material = PETER["signer_key"].split("+", 4)[4]
    assert "+" in material  # Go's signer key: a '+' inside the base64
    assert parse_signer_key(PETER["signer_key"]).skey == PETER["signer_key"]


@pytest.mark.parametrize("text", [
    PETER["verifier_key"],                                     # not a signer key
    PETER["signer_key"].replace("c74f20a3", "c74f20a4"),       # wrong key ID
    PETER["signer_key"].replace("PRIVATE+KEY+", "PRIVATE+KEY"),
    "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr",
])
def test_malformed_signer_keys_rejected(text):
    with pytest.raises(BadKey):
        parse_signer_key(text)


def test_bad_key_is_a_key_error_and_hides_secret_in_repr():
    assert issubclass(BadKey, KeyError)
    signer = parse_signer_key(PETER["signer_key"])
    assert "AYEKFAL" not in repr(signer)


@pytest.mark.parametrize("kind, code", [("ed25519", ED25519), ("cosignature", COSIGNATURE_V1)])
def test_generate_key_strings(kind, code):
    skey, vkey = generate_key("witness.example/w1", kind)
    signer, verifier = parse_signer_key(skey), parse_verifier_key(vkey)
    assert skey.startswith("PRIVATE+KEY+witness.example/w1+")
    assert signer.kind == verifier.kind == code
    assert signer.verifier == verifier
    assert verifier.key_id == key_id("witness.example/w1", code, verifier.public_key)


@pytest.mark.parametrize("name, kind", [("a+b", "ed25519"), ("", "ed25519"),
                                        ("a b", "ed25519"), ("ok", "rsa")])
def test_generate_key_rejects_bad_name_or_kind(name, kind):
    with pytest.raises(BadKey):
        generate_key(name, kind)


def test_same_key_has_different_ids_per_kind():
    assert key_id("w", ED25519, PUB) != key_id("w", COSIGNATURE_V1, PUB)


# --- notes: published vectors --------------------------------------------------------


def test_go_sign_vector_exact_bytes():
    assert sign_note(GO["text"], [PETER["signer_key"]]).decode() == GO["signed_note_peter"]


def test_go_two_key_note_verifies_with_both():
    v = verify_note(BOTH.encode(), [PETER["verifier_key"], ENOCH["verifier_key"]])
    assert [s.key.name for s in v.verified] == ["PeterNeumann", "EnochRoot"]
    assert v.unverified == ()
    assert v.text == GO["text"]


@pytest.mark.parametrize("known, unknown", [("PeterNeumann", "EnochRoot"),
                                            ("EnochRoot", "PeterNeumann")])
def test_unknown_key_signature_ignored_but_kept(known, unknown):
    v = verify_note(BOTH, [GO["keys"][known]["verifier_key"]])
    assert [s.key.name for s in v.verified] == [known]
    assert [s.name for s in v.unverified] == [unknown]
    assert serialize_note(v.note).decode() == BOTH


def test_c2sp_example_note_verifies():
    v = verify_note(C2SP["note"], [C2SP["verifier_key"]])
    assert v.text == "This is an example message.\n"
    assert v.verified[0].key.name == "example.com/foo"


def test_tlog_tree_note_golden_text_is_a_signable_checkpoint_body():
    tree = GO["tlog_tree_note_golden"]
    origin, size, root = tree["text"].splitlines()
    assert int(size) == tree["N"]
    leaf = hashlib.sha256(b"\x00" + tree["record"].encode()).digest()
    assert base64.b64decode(root) == leaf
    skey, vkey = generate_key("sum.golang.org")
    signed = sign_note(tree["text"], [skey])
    assert verify_note(signed, [vkey]).text == tree["text"]


def test_tlog_record_golden_text_with_trailing_blank_line_round_trips():
    record = GO["tlog_record_golden"]
    assert record["formatted"] == f"{record['id']}\n{record['text']}\n"
    skey, vkey = generate_key("records.example")
    signed = sign_note(record["formatted"], [skey])
    v = verify_note(signed, [vkey])
    assert v.text == record["formatted"]
    assert serialize_note(parse_note(signed)) == signed


# --- notes: semantics ----------------------------------------------------------------


def test_no_known_key_is_unverified():
    with pytest.raises(UnverifiedNote) as info:
        verify_note(GO["signed_note_peter"], [ENOCH["verifier_key"]])
    assert info.value.note.signatures[0].name == "PeterNeumann"


def test_no_verifiers_is_unverified():
    with pytest.raises(UnverifiedNote):
        verify_note(GO["signed_note_peter"], [])


def _flip(line: str, index: int) -> str:
    """A signature line with one bit of its base64 payload flipped."""
    head, b64 = line.rstrip("\n").rsplit(" ", 1)
    raw = bytearray(base64.b64decode(b64))
    raw[index] ^= 0x01
    return f"{head} {base64.b64encode(bytes(raw)).decode()}\n"


def test_bad_signature_by_known_key_rejects_even_with_a_good_one():
    bad_enoch = GO["signed_note_peter"] + _flip(GO["signature_line_enoch"], 20)
    assert verify_note(bad_enoch, [PETER["verifier_key"]])  # Enoch unknown: ignored
    with pytest.raises(InvalidNoteSignature, match="EnochRoot"):
        verify_note(bad_enoch, [PETER["verifier_key"], ENOCH["verifier_key"]])


def test_repeated_bad_signature_by_known_key_rejects():
    repeated = BOTH + _flip(GO["signature_line_enoch"], 30)
    with pytest.raises(InvalidNoteSignature):
        verify_note(repeated, [ENOCH["verifier_key"]])


def test_forged_signature_bytes_rejected():
    forged = _flip(GO["signed_note_peter"], 10)
    with pytest.raises(InvalidNoteSignature):
        verify_note(forged, [PETER["verifier_key"]])


def test_tampered_text_rejected():
    tampered = GO["signed_note_peter"].replace("cryptography", "cryptograph")
    with pytest.raises(InvalidNoteSignature):
        verify_note(tampered, [PETER["verifier_key"]])


def test_wrong_key_with_same_name_is_ignored_not_trusted():
    _, other = generate_key("PeterNeumann")  # same name, different key ID
    with pytest.raises(UnverifiedNote):
        verify_note(GO["signed_note_peter"], [other])


def test_colliding_name_and_id_with_wrong_key_rejects():
    # An attacker-chosen key that collides name+ID gets a verification failure.
    peter = parse_verifier_key(PETER["verifier_key"])
    enoch = parse_verifier_key(ENOCH["verifier_key"])
    impostor = type(peter)(peter.name, peter.key_id, ED25519, enoch.public_key)
    with pytest.raises(InvalidNoteSignature):
        verify_note(GO["signed_note_peter"], [impostor])


def test_round_trip_generate_sign_verify_two_signers():
    s1, v1 = generate_key("a.example/one")
    s2, v2 = generate_key("b.example/two")
    text = "first line\n\nafter an empty line\n"
    signed = sign_note(text, [s1, s2])
    v = verify_note(signed, [v1, v2])
    assert v.text == text
    assert {s.key.vkey for s in v.verified} == {v1, v2}


def test_adding_a_signature_keeps_existing_lines():
    s2, v2 = generate_key("b.example/two")
    note = parse_note(GO["signed_note_peter"])
    signed = sign_note(note, [s2]).decode()
    assert signed.startswith(GO["signed_note_peter"])
    v = verify_note(signed, [PETER["verifier_key"], v2])
    assert len(v.verified) == 2


def test_resigning_replaces_own_line():
    signed = sign_note(parse_note(GO["signed_note_peter"]), [PETER["signer_key"]])
    assert signed.decode() == GO["signed_note_peter"]


@pytest.mark.parametrize("data, reason", [
    (b"no signatures\n", "blank line"),
    (GO["signed_note_peter"].rstrip("\n").encode(), "final newline"),
    (GO["text"].encode() + b"\n", "empty"),
    (GO["signed_note_peter"].replace("\u2014 ", "- ").encode(), "em dash"),
    (GO["signed_note_peter"].replace("\u2014 Peter", "\u2014Peter").encode(), "em dash"),
    (GO["signed_note_peter"].replace(" x08go", " x08go!").encode(), "base64"),
    (GO["signed_note_peter"].replace("PeterNeumann", "Peter+Neumann").encode(), "malformed"),
    ("hi\n\n\u2014 k AAAAAA==\n".encode(), "too short"),
    (b"caf\xe9\n\n" + GO["signed_note_peter"].split("\n\n")[1].encode(), "UTF-8"),
    (GO["signed_note_peter"].replace("If you", "If\tyou").encode(), "control"),
    (GO["signed_note_peter"].replace("\n", "\r\n").encode(), "control"),
    ("bad\ud800\n\n\u2014 k AAAAAAA=\n", "UTF-8"),
])
def test_malformed_notes_rejected(data, reason):
    with pytest.raises(MalformedNote) as info:
        verify_note(data, [PETER["verifier_key"]])
    assert reason in str(info.value)


def test_signature_count_limit():
    line = GO["signature_line_enoch"]
    at_limit = GO["signed_note_peter"] + line * (MAX_SIGNATURES - 1)
    assert verify_note(at_limit, [PETER["verifier_key"]])
    with pytest.raises(MalformedNote, match="more than"):
        verify_note(at_limit + line, [PETER["verifier_key"]])


def test_sign_rejects_text_without_final_newline_or_with_controls():
    with pytest.raises(MalformedNote):
        sign_note("no newline", [PETER["signer_key"]])
    with pytest.raises(MalformedNote):
        sign_note("bell\a\n", [PETER["signer_key"]])


def test_repeated_valid_signature_counted_once_and_kept():
    doubled = BOTH + GO["signature_line_enoch"]
    v = verify_note(doubled, [ENOCH["verifier_key"]])
    assert [s.key.name for s in v.verified] == ["EnochRoot"]
    assert serialize_note(v.note).decode() == doubled


def test_parse_serialize_is_lossless():
    assert serialize_note(parse_note(BOTH)) == BOTH.encode()
    assert isinstance(parse_note(BOTH), Note)


def test_conflicting_verifier_keys_rejected():
    peter = parse_verifier_key(PETER["verifier_key"])
    enoch = parse_verifier_key(ENOCH["verifier_key"])
    impostor = type(peter)(peter.name, peter.key_id, ED25519, enoch.public_key)
    with pytest.raises(BadKey):
        verify_note(GO["signed_note_peter"], [peter, impostor])


# --- cosignatures --------------------------------------------------------------------


def test_cosignature_round_trip_returns_timestamp():
    log_skey, log_vkey = generate_key("example.com/log")
    w_skey, w_vkey = generate_key("witness.example/w1", "cosignature")
    checkpoint = sign_note(CHECKPOINT, [log_skey])
    cosigned = sign_note(parse_note(checkpoint), [w_skey], timestamp=1679315147)
    v = verify_note(cosigned, [log_vkey, w_vkey])
    (cosig,) = v.cosignatures()
    assert cosig.timestamp == 1679315147
    assert [s.timestamp for s in v.verified] == [None, 1679315147]
    raw = base64.b64decode(cosig.signature.base64)
    assert len(raw) == 4 + 8 + 64
    assert int.from_bytes(raw[4:12], "big") == 1679315147


def test_cosignature_signs_header_time_and_body():
    w_skey, w_vkey = generate_key("witness.example/w1", "cosignature")
    signer = parse_signer_key(w_skey)
    sig = signer.sign(CHECKPOINT.encode(), 42)
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    public = Ed25519PublicKey.from_public_bytes(parse_verifier_key(w_vkey).public_key)
    public.verify(sig[8:], b"cosignature/v1\ntime 42\n" + CHECKPOINT.encode())


def test_cosignature_with_altered_timestamp_rejected():
    w_skey, w_vkey = generate_key("witness.example/w1", "cosignature")
    signed = sign_note(CHECKPOINT, [w_skey], timestamp=1000).decode()
    assert verify_note(signed, [w_vkey]).verified[0].timestamp == 1000
    forged = _flip(signed, 11)  # last byte of the timestamp
    with pytest.raises(InvalidNoteSignature):
        verify_note(forged, [w_vkey])


def test_cosignature_is_not_an_ed25519_note_signature():
    # The same Ed25519 key under type 0x01 has another key ID: the line is unknown.
    w_skey, _ = generate_key("witness.example/w1", "cosignature")
    signer = parse_signer_key(w_skey)
    as_plain = _vkey(signer.name, ED25519, signer.verifier.public_key)
    with pytest.raises(UnverifiedNote):
        verify_note(sign_note(CHECKPOINT, [w_skey], timestamp=5), [as_plain])


def test_cosignature_timestamp_range():
    w_skey, _ = generate_key("w", "cosignature")
    signer = parse_signer_key(w_skey)
    with pytest.raises(ValueError):
        signer.sign(b"x\n", 2**63)
    with pytest.raises(ValueError):
        signer.sign(b"x\n", None)
    assert signer.verifier.verify(b"x\n", signer.sign(b"x\n", 2**63 - 1))
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    private = Ed25519PrivateKey.from_private_bytes(signer.seed)
    message = b"cosignature/v1\ntime %d\nx\n" % 2**63  # validly signed, out of range
    too_big = (2**63).to_bytes(8, "big") + private.sign(message)
    assert not signer.verifier.verify(b"x\n", too_big)


# --- trust policy --------------------------------------------------------------------


def _witnesses(n: int) -> list[tuple[str, str]]:
    return [generate_key(f"w{i}.example", "cosignature") for i in range(n)]


def _policy(body: str, log_vkey: str, ws: list[tuple[str, str]]) -> str:
    lines = [f"log {log_vkey} https://log.example/"]
    lines += [f"witness W{i} {v}" for i, (_, v) in enumerate(ws)]
    return "\n".join(lines) + "\n" + body


def test_policy_two_level_groups_quorum():
    _, log_vkey = generate_key("example.com/log")
    ws = _witnesses(6)
    text = _policy("# comment\n\n  group X 2 W0 W1 W2\ngroup Y any W3\tW4 W5\n"
                   "group XY all X Y\nquorum XY\n", log_vkey, ws)
    policy = parse_policy(text.encode())
    assert policy.logs[0].url == "https://log.example/"
    assert policy.log_keys[0].vkey == log_vkey
    assert policy.groups["X"].threshold == 2 and policy.groups["XY"].threshold == 2
    key = [parse_verifier_key(v) for _, v in ws]
    assert satisfied(policy, [key[0], key[1], key[5]])
    assert not satisfied(policy, [key[0], key[5]])              # X needs 2
    assert not satisfied(policy, [key[0], key[1], key[2]])      # Y needs 1
    assert not satisfied(policy, [])
    assert satisfied(policy, [ws[1][1], ws[2][1], ws[3][1]])    # vkey strings work


def test_policy_quorum_from_verified_note():
    log_skey, log_vkey = generate_key("example.com/log")
    ws = _witnesses(3)
    policy = parse_policy(_policy("group G 2 W0 W1 W2\nquorum G\n", log_vkey, ws))
    note = sign_note(CHECKPOINT, [log_skey])
    note = sign_note(parse_note(note), [ws[0][0], ws[2][0]], timestamp=7)
    v = verify_note(note, [*policy.log_keys, *policy.witness_keys])
    assert satisfied(policy, v.cosignatures())
    one = verify_note(sign_note(CHECKPOINT, [log_skey, ws[0][0]], timestamp=7),
                      [*policy.log_keys, *policy.witness_keys])
    assert not satisfied(policy, one.cosignatures())


def test_policy_single_witness_and_none():
    _, log_vkey = generate_key("example.com/log")
    ws = _witnesses(1)
    single = parse_policy(_policy("quorum W0\n", log_vkey, ws))
    assert satisfied(single, [ws[0][1]])
    assert not satisfied(single, [generate_key("other", "cosignature")[1]])
    assert satisfied(parse_policy(f"log {log_vkey}\nquorum none\n"), [])


@pytest.mark.parametrize("body, reason", [
    ("", "no quorum"),
    ("quorum W0\nquorum W1\n", "second quorum"),
    ("quorum Z\n", "not defined"),
    ("group G 2 W0\nquorum G\n", "threshold"),
    ("group G 0 W0 W1\nquorum G\n", "threshold"),
    ("group G two W0 W1\nquorum G\n", "threshold"),
    ("group G any W0 W0\nquorum G\n", "twice"),
    ("quorum G\ngroup G any W0\n", "not defined"),
    ("group G any Z\nquorum G\n", "not defined"),
    ("group W0 any W1\nquorum W0\n", "already defined"),
    ("group none any W1\nquorum none\n", "reserved"),
    ("group G any none\nquorum G\n", "not defined"),
    ("frobnicate x\nquorum none\n", "cannot parse"),
    ("quorum none\r\n", "control byte"),
    ("witness W9 NOTAKEY\nquorum none\n", "bad witness key"),
])
def test_policy_errors(body, reason):
    _, log_vkey = generate_key("example.com/log")
    with pytest.raises(BadPolicy) as info:
        parse_policy(_policy(body, log_vkey, _witnesses(2)))
    assert reason in str(info.value)


def test_policy_key_types_and_duplicates():
    _, log_vkey = generate_key("example.com/log")
    _, w_vkey = generate_key("w.example", "cosignature")
    with pytest.raises(BadPolicy, match="type 0x01"):
        parse_policy(f"log {w_vkey}\nquorum none\n")
    with pytest.raises(BadPolicy, match="type 0x04"):
        parse_policy(f"witness W {log_vkey}\nquorum none\n")
    with pytest.raises(BadPolicy, match="duplicate"):
        parse_policy(f"log {log_vkey}\nlog {log_vkey}\nquorum none\n")
    with pytest.raises(BadPolicy, match="duplicate"):
        parse_policy(f"witness A {w_vkey}\nwitness B {w_vkey}\nquorum none\n")
    with pytest.raises(BadPolicy, match="too many"):
        parse_policy(f"log {log_vkey} https://a/ extra\nquorum none\n")
