"""The tiles log writer, tlog-proofs, the sceptical client and the witness (library level).

The writer is checked against transparency-dev/tessera's sample log (tests/data/provenance/
tlog-tiles): appending the same entries one by one with the same key must reproduce every
tile, every entry bundle and every checkpoint byte for byte.
"""

from __future__ import annotations

import base64
import functools
import http.server
import json
import random
import shutil
import threading
from pathlib import Path

import pytest

from spyproof.provenance import merkle
from spyproof.provenance.client import (
    ForkError,
    LogTrustError,
    RollbackError,
    StateFile,
    open_log,
    verify_whole_log,
)
from spyproof.provenance.keys import generate_key, parse_signer_key, parse_verifier_key
from spyproof.provenance.log import LogError, LogWriter, find_leaf, init_log
from spyproof.provenance.note import parse_policy, verify_note
from spyproof.provenance.proof import (
    ProofFormatError,
    TlogProof,
    make_proof,
    parse_proof,
    verify_proof,
)
from spyproof.provenance.tiles import (
    TileReader,
    check_log,
    directory_fetcher,
)
from spyproof.provenance.witness import cosign

DATA = Path(__file__).parent / "data" / "provenance"
TESSERA = DATA / "tlog-tiles"
ORIGIN = "lab.example/test-log"


def _key(name: str, kind: str = "ed25519"):
    signer, verifier = generate_key(name, kind)
    return parse_signer_key(signer), parse_verifier_key(verifier)


@pytest.fixture(scope="module")
def log_key():
    return _key(ORIGIN)


def _entries(n: int, start: int = 0, tag: str = "e") -> list[bytes]:
    return [f'{{"{tag}":{i},"pad":"{"x" * (i % 50)}"}}'.encode() for i in range(start, start + n)]


def _new_log(root: Path, key, entries: list[bytes], batch: int = 100) -> Path:
    init_log(root, ORIGIN, key[0], None)
    with LogWriter(root, key[0]) as writer:
        for i in range(0, len(entries), batch):
            writer.append(entries[i : i + batch])
    return root


# -- writer ------------------------------------------------------------------------


def test_writer_reproduces_tesseras_sample_log_byte_for_byte(tmp_path):
    keys = json.loads((TESSERA / "keys.json").read_text())
    signer = parse_signer_key(keys["log_private_key"])
    root = tmp_path / "log"
    init_log(root, keys["origin"], signer, None)
    assert (root / "checkpoint").read_bytes() == (TESSERA / "log" / "checkpoint.0").read_bytes()
    with LogWriter(root, signer) as writer:
        for entry in keys["entries_in_order"]:
            appended = writer.append([entry.encode()])
            reference = TESSERA / "log" / f"checkpoint.{appended.size}"
            if reference.exists():
                assert appended.checkpoint == reference.read_bytes()
    ours = {p.relative_to(root) for p in root.rglob("*") if p.is_file()
            and p.relative_to(root).parts[0] != ".spyproof-log"}
    theirs = {p.relative_to(TESSERA / "log") for p in (TESSERA / "log").rglob("*")
              if p.is_file() and not p.name.startswith("checkpoint.")}
    assert ours == theirs
    for rel in ours:
        assert (root / rel).read_bytes() == (TESSERA / "log" / rel).read_bytes(), rel


@pytest.mark.parametrize("sizes", [[1], [255, 1], [256], [257], [300, 300, 100],
                                   [65535 // 255, 70000]])
def test_batches_give_the_reference_root_and_a_checkable_log(tmp_path, log_key, sizes):
    entries = _entries(sum(sizes))
    root = tmp_path / "log"
    init_log(root, ORIGIN, log_key[0], None)
    done = 0
    for size in sizes:  # reopen between batches: resume from tiles every time
        with LogWriter(root, log_key[0]) as writer:
            appended = writer.append(entries[done : done + size])
            assert appended.first_index == done
            done += size
            assert appended.size == done
    result = check_log(root)
    assert result.entries == done
    assert result.checkpoint.root_hash == merkle.root_from_entries(entries)
    verify_note((root / "checkpoint").read_bytes(), [log_key[1]])


def test_empty_append_changes_nothing(tmp_path, log_key):
    root = _new_log(tmp_path / "log", log_key, _entries(5))
    before = (root / "checkpoint").read_bytes()
    with LogWriter(root, log_key[0]) as writer:
        assert writer.append([]).size == 5
    assert (root / "checkpoint").read_bytes() == before


def test_init_refuses_wrong_key_name_non_empty_dir_and_existing_log(tmp_path, log_key):
    other = _key("someone.else/log")
    with pytest.raises(LogError, match="named"):
        init_log(tmp_path / "a", ORIGIN, other[0], None)
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "notes.txt").write_text("x")
    with pytest.raises(LogError, match="not empty"):
        init_log(tmp_path / "b", ORIGIN, log_key[0], None)
    _new_log(tmp_path / "c", log_key, _entries(1))
    with pytest.raises(LogError, match="already a log"):
        init_log(tmp_path / "c", ORIGIN, log_key[0], None)
    witness = _key(ORIGIN, "cosignature")
    with pytest.raises(LogError, match="ed25519"):
        init_log(tmp_path / "d", ORIGIN, witness[0], None)


def test_writer_refuses_a_log_whose_tiles_do_not_match_its_checkpoint(tmp_path, log_key):
    root = _new_log(tmp_path / "log", log_key, _entries(20))
    tile = root / "tile" / "0" / "000.p" / "20"
    data = bytearray(tile.read_bytes())
    data[5] ^= 1
    tile.write_bytes(bytes(data))
    with pytest.raises(LogError, match="differs from the signed checkpoint"):
        LogWriter(root, log_key[0])


def test_find_leaf_uses_level_zero_tiles(tmp_path, log_key):
    entries = _entries(600)
    root = _new_log(tmp_path / "log", log_key, entries + [entries[7]])
    reader = TileReader(directory_fetcher(root), 601)
    assert find_leaf(reader, merkle.leaf_hash(entries[7])) == [7, 600]
    assert find_leaf(reader, merkle.leaf_hash(b"absent")) == []


# -- tlog-proof ---------------------------------------------------------------------


C2SP_EXAMPLE_HEAD = (
    "c2sp.org/tlog-proof@v1\n"
    "extra YWdlLXYxLjIuMS1kYXJ3aW4tYXJtNjQudGFyLmd6\n"
    "index 73894\n"
    "gSKyXoYZUgZ6jduWYrkDOARinOMGJveXjgMkBTcdPlQ=\n"
    "B95lDa8R83lS8n0eG+o0buTxRKQTYFi//1U8anccXmA=\n"
    "\n"
    "example.com/fancylog\n109482\nsFodV/vSp5O8n9a8QpW6PRY97tfOSW5bsc2Xl/EQi08=\n\n"
    "\u2014 example.com/fancylog hI2DJw==\n")


def test_tlog_proof_format_round_trips_the_spec_layout():
    proof = parse_proof(C2SP_EXAMPLE_HEAD.encode())
    assert proof.index == 73894 and len(proof.hashes) == 2
    assert proof.extra == base64.b64decode("YWdlLXYxLjIuMS1kYXJ3aW4tYXJtNjQudGFyLmd6")
    assert proof.checkpoint.startswith(b"example.com/fancylog\n109482\n")
    assert proof.serialize() == C2SP_EXAMPLE_HEAD.encode()
    bare = TlogProof(0, (), b"cp\n")
    assert parse_proof(bare.serialize()) == bare


@pytest.mark.parametrize("text", [
    "c2sp.org/tlog-proof@v2\nindex 1\n\ncp\n",
    "c2sp.org/tlog-proof@v1\nindex 01\n\ncp\n",
    "c2sp.org/tlog-proof@v1\nindex -1\n\ncp\n",
    "c2sp.org/tlog-proof@v1\nidx 1\n\ncp\n",
    "c2sp.org/tlog-proof@v1\nindex 1\nnot base64!\n\ncp\n",
    "c2sp.org/tlog-proof@v1\nindex 1\nAAAA\n\ncp\n",
    "c2sp.org/tlog-proof@v1\nindex 1\ncp\n",
    "c2sp.org/tlog-proof@v1\nextra ***\nindex 1\n\ncp\n",
    "c2sp.org/tlog-proof@v1\nindex 1\n" + ("A" * 43 + "=\n") * 65 + "\ncp\n",
])
def test_malformed_proofs_are_rejected(text):
    with pytest.raises(ProofFormatError):
        parse_proof(text.encode())
    with pytest.raises(ProofFormatError):
        parse_proof(b"\xff\xfe" + text.encode())


def test_proofs_verify_against_entry_bytes_and_keys(tmp_path, log_key):
    entries = _entries(777)
    root = _new_log(tmp_path / "log", log_key, entries)
    fetch = directory_fetcher(root)
    for index in (0, 255, 256, 500, 776):
        proof = parse_proof(make_proof(fetch, entries[index]).serialize())
        assert proof.index == index
        assert verify_proof(entries[index], proof, log_keys=[log_key[1]]).valid
        assert not verify_proof(entries[index] + b" ", proof, log_keys=[log_key[1]]).valid
    other = _key(ORIGIN)
    proof = make_proof(fetch, entries[3])
    result = verify_proof(entries[3], proof, log_keys=[other[1]])
    assert not result.valid and "signature" in result.reason
    assert not verify_proof(entries[3], proof, log_keys=[log_key[1]], origin="x/y").valid
    moved = TlogProof(4, proof.hashes, proof.checkpoint)
    assert not verify_proof(entries[3], moved, log_keys=[log_key[1]]).valid


def test_proof_for_another_tree_size_is_invalid(tmp_path, log_key):
    entries = _entries(300)
    root = _new_log(tmp_path / "log", log_key, entries[:100])
    early = make_proof(directory_fetcher(root), entries[10])
    with LogWriter(root, log_key[0]) as writer:
        writer.append(entries[100:])
    later_checkpoint = (root / "checkpoint").read_bytes()
    spliced = TlogProof(early.index, early.hashes, later_checkpoint)
    result = verify_proof(entries[10], spliced, log_keys=[log_key[1]])
    assert not result.valid and "inclusion proof" in result.reason
    assert verify_proof(entries[10], early, log_keys=[log_key[1]]).valid  # still true


# -- witnesses and trust policy ------------------------------------------------------


def _policy(log_vkey: str, witnesses: list[str], quorum: str) -> str:
    lines = [f"log {log_vkey}"]
    lines += [f"witness w{i} {w}" for i, w in enumerate(witnesses)]
    return "\n".join(lines + [f"quorum {quorum}"]) + "\n"


def test_witness_cosigns_consistent_checkpoints_and_quorum_is_enforced(tmp_path, log_key):
    entries = _entries(400)
    root = _new_log(tmp_path / "log", log_key, entries[:50])
    w1, w2 = _key("w1.example", "cosignature"), _key("w2.example", "cosignature")
    s1 = StateFile(tmp_path / "w1.state")
    with pytest.raises(LogTrustError, match="--log-key"):
        cosign(str(root), w1[0], s1, None)
    first = cosign(str(root), w1[0], s1, log_key[1], now=1_700_000_000)
    assert first.published and first.previous_size is None
    with LogWriter(root, log_key[0]) as writer:
        writer.append(entries[50:])
    again = cosign(str(root), w1[0], StateFile(tmp_path / "w1.state"), None)  # pinned key
    assert again.previous_size == 50 and again.checkpoint.size == 400
    cosign(str(root), w2[0], StateFile(tmp_path / "w2.state"), log_key[1])
    note = (root / "checkpoint").read_bytes()
    policy = parse_policy(_policy(log_key[1].vkey, [w1[1].vkey, w2[1].vkey], "w0"))
    proof = make_proof(directory_fetcher(root), entries[123])
    assert verify_proof(entries[123], proof, log_keys=[], policy=policy).valid
    w3 = _key("w3.example", "cosignature")
    both = parse_policy(f"log {log_key[1].vkey}\nwitness a {w1[1].vkey}\n"
                        f"witness b {w2[1].vkey}\nwitness c {w3[1].vkey}\n"
                        "group g 3 a b c\nquorum g\n")
    result = verify_proof(entries[123], proof, log_keys=[], policy=both)
    assert not result.valid and "quorum" in result.reason
    assert b"w1.example" in note and b"w2.example" in note


def test_witness_refuses_rollback_and_fork_and_keeps_its_state(tmp_path, log_key):
    entries = _entries(60)
    root = _new_log(tmp_path / "log", log_key, entries)
    w = _key("w.example", "cosignature")
    cosign(str(root), w[0], StateFile(tmp_path / "w.state"), log_key[1])
    saved = (tmp_path / "w.state").read_bytes()
    smaller = _new_log(tmp_path / "smaller", log_key, entries[:40])
    with pytest.raises(RollbackError):
        cosign(str(smaller), w[0], StateFile(tmp_path / "w.state"), None)
    forked = _new_log(tmp_path / "fork", log_key, entries[:59] + [b"evil"])
    with pytest.raises(ForkError):
        cosign(str(forked), w[0], StateFile(tmp_path / "w.state"), None)
    bigger_fork = _new_log(tmp_path / "fork2", log_key, [b"evil"] + entries[1:] + [b"x"])
    with pytest.raises(ForkError):
        cosign(str(bigger_fork), w[0], StateFile(tmp_path / "w.state"), None)
    assert (tmp_path / "w.state").read_bytes() == saved
    assert b"w.example" not in (forked / "checkpoint").read_bytes()
    wrong = _key(ORIGIN)
    with pytest.raises(LogTrustError, match="differs from the key pinned"):
        cosign(str(root), w[0], StateFile(tmp_path / "w.state"), wrong[1])


# -- client: directory and HTTP, state -------------------------------------------------


@pytest.fixture
def http_root(tmp_path):
    served = tmp_path / "www"
    served.mkdir()
    handler = functools.partial(_QuietHandler, directory=str(served))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield served, f"http://127.0.0.1:{server.server_address[1]}/log"
    server.shutdown()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:  # noqa: ANN002 - silence the test output
        pass


def test_tesseras_log_reads_as_a_foreign_log_over_http(http_root, tmp_path):
    served, url = http_root
    shutil.copytree(TESSERA / "log", served / "log")
    keys = json.loads((TESSERA / "keys.json").read_text())
    vkey = parse_verifier_key(keys["log_public_key"])
    state = StateFile(tmp_path / "state.json")
    opened, result = verify_whole_log(url, [vkey], None, state)
    assert result.entries == 15 and opened.checkpoint.size == 15
    seen = []
    check_log(url, on_entry=lambda i, e: seen.append(e.decode()))
    assert seen == keys["entries_in_order"]
    # The mirror rolls back to the size-8 checkpoint: the client notices.
    (served / "log" / "checkpoint").write_bytes((TESSERA / "log" / "checkpoint.8").read_bytes())
    with pytest.raises(RollbackError, match="ROLLBACK"):
        open_log(url, [vkey], None, StateFile(tmp_path / "state.json"))


def test_client_accepts_growth_and_detects_a_split_view(tmp_path, log_key):
    entries = _entries(120)
    root = _new_log(tmp_path / "log", log_key, entries[:30])
    state = StateFile(tmp_path / "state.json")
    verify_whole_log(str(root), [log_key[1]], None, state)
    with LogWriter(root, log_key[0]) as writer:
        writer.append(entries[30:])
    opened = open_log(str(root), [log_key[1]], None, StateFile(tmp_path / "state.json"))
    assert opened.previous is not None and opened.previous.size == 30
    split = _new_log(tmp_path / "split", log_key, entries[:29] + [b"other"] + entries[30:])
    with pytest.raises(ForkError, match="FORK"):
        open_log(str(split), [log_key[1]], None, StateFile(tmp_path / "state.json"))


def test_random_consistency_between_any_two_checkpoints(tmp_path, log_key):
    rng = random.Random(7)
    entries = _entries(1500)
    root = tmp_path / "log"
    init_log(root, ORIGIN, log_key[0], None)
    roots = {}
    done = 0
    with LogWriter(root, log_key[0]) as writer:
        while done < len(entries):
            step = rng.randint(1, 300)
            writer.append(entries[done : done + step])
            done = min(done + step, len(entries))
            roots[done] = writer.root_hash
    reader = TileReader(directory_fetcher(root), done)
    for size1 in roots:
        proof = merkle.consistency_proof(size1, done, reader.get)
        merkle.verify_consistency(size1, done, roots[size1], roots[done], proof)
