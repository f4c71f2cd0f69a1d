"""RFC 6962/9162 Merkle hashing and proofs: transparency-dev vectors and a naive reference."""

from __future__ import annotations

import base64
import hashlib
import json
import random
from pathlib import Path

import pytest

from spyproof.provenance import merkle

DATA = Path(__file__).parent / "data" / "provenance" / "merkle"
TREE = json.loads((DATA / "tree.json").read_text())
LEAVES = [bytes.fromhex(h) for h in TREE["leaf_inputs_hex"]]


def _b64(text: str) -> bytes:
    return base64.b64decode(text)


# -- naive reference: the RFC's recursive definitions, over raw leaf hashes -----------


def ref_mth(hashes: list[bytes]) -> bytes:
    if not hashes:
        return hashlib.sha256(b"").digest()
    if len(hashes) == 1:
        return hashes[0]
    k = 1 << ((len(hashes) - 1).bit_length() - 1)
    return merkle.node_hash(ref_mth(hashes[:k]), ref_mth(hashes[k:]))


def ref_path(m: int, hashes: list[bytes]) -> list[bytes]:
    if len(hashes) <= 1:
        return []
    k = 1 << ((len(hashes) - 1).bit_length() - 1)
    if m < k:
        return ref_path(m, hashes[:k]) + [ref_mth(hashes[k:])]
    return ref_path(m - k, hashes[k:]) + [ref_mth(hashes[:k])]


def ref_subproof(m: int, hashes: list[bytes], complete: bool) -> list[bytes]:
    n = len(hashes)
    if m == n:
        return [] if complete else [ref_mth(hashes)]
    k = 1 << ((n - 1).bit_length() - 1)
    if m <= k:
        return ref_subproof(m, hashes[:k], complete) + [ref_mth(hashes[k:])]
    return ref_subproof(m - k, hashes[k:], False) + [ref_mth(hashes[:k])]


def _store(n: int) -> tuple[merkle.MemoryHashStore, list[bytes]]:
    store = merkle.MemoryHashStore()
    hashes = []
    for i in range(n):
        h = merkle.leaf_hash(i.to_bytes(4, "big"))
        store.append(h)
        hashes.append(h)
    return store, hashes


def _flip(h: bytes) -> bytes:
    return bytes([h[0] ^ 1]) + h[1:]


# -- tree.json -----------------------------------------------------------------------


def test_hash_domain_separation():
    assert merkle.leaf_hash(b"") == hashlib.sha256(b"\x00").digest()
    assert (
        merkle.node_hash(b"a" * 32, b"b" * 32)
        == hashlib.sha256(b"\x01" + b"a" * 32 + b"b" * 32).digest()
    )
    assert merkle.EMPTY_ROOT.hex() == TREE["empty_root"]


@pytest.mark.parametrize("size", range(9))
def test_roots_by_size(size):
    want = TREE["roots_by_size_hex"][size]
    assert merkle.root_from_entries(LEAVES[:size]).hex() == want
    compact = merkle.CompactRange()
    for leaf in LEAVES[:size]:
        compact.append_entry(leaf)
    assert compact.size == size
    assert compact.root().hex() == want
    store = merkle.MemoryHashStore()
    for leaf in LEAVES:
        store.append_entry(leaf)
    assert store.root(size).hex() == want


def test_complete_subtree_hashes():
    store = merkle.MemoryHashStore()
    for leaf in LEAVES:
        store.append_entry(leaf)
    levels = TREE["complete_subtree_hashes_by_level_hex"]
    assert len(levels) == 4
    for level, hashes in enumerate(levels):
        assert len(hashes) == 8 >> level
        for index, want in enumerate(hashes):
            assert store.get(level, index).hex() == want
    with pytest.raises(KeyError):
        store.get(0, 8)


def test_compact_range_reports_every_node_and_resumes():
    seen = []
    compact = merkle.CompactRange(on_node=lambda lvl, idx, h: seen.append((lvl, idx, h.hex())))
    for leaf in LEAVES[:5]:
        compact.append_entry(leaf)
    levels = TREE["complete_subtree_hashes_by_level_hex"]
    want = {(0, i, levels[0][i]) for i in range(5)}
    want |= {(1, 0, levels[1][0]), (1, 1, levels[1][1]), (2, 0, levels[2][0])}
    assert set(seen) == want and len(seen) == len(want)
    resumed = merkle.CompactRange(compact.size, compact.hashes)
    for leaf in LEAVES[5:]:
        resumed.append_entry(leaf)
    assert resumed.root().hex() == TREE["roots_by_size_hex"][8]
    with pytest.raises(ValueError):
        merkle.CompactRange(5, compact.hashes[:1])


# -- transparency-dev proof probes ---------------------------------------------------


def _probes(kind: str) -> list[Path]:
    return sorted((DATA / kind).rglob("*.json"))


INCLUSION = _probes("inclusion")
CONSISTENCY = _probes("consistency")


def test_probe_counts():
    # a lost directory would silently shrink the parametrised tests below
    assert len(INCLUSION) == 98 and len(CONSISTENCY) == 98
    assert any(not json.loads(p.read_text())["wantErr"] for p in INCLUSION)
    assert any(not json.loads(p.read_text())["wantErr"] for p in CONSISTENCY)


@pytest.mark.parametrize("path", INCLUSION, ids=lambda p: str(p.relative_to(DATA)))
def test_inclusion_probe(path):
    probe = json.loads(path.read_text())
    args = (
        probe["leafIdx"],
        probe["treeSize"],
        _b64(probe["leafHash"]),
        [_b64(p) for p in probe["proof"] or []],
        _b64(probe["root"]),
    )
    if probe["wantErr"]:
        with pytest.raises(merkle.ProofError):
            merkle.verify_inclusion(*args)
    else:
        merkle.verify_inclusion(*args)


@pytest.mark.parametrize("path", CONSISTENCY, ids=lambda p: str(p.relative_to(DATA)))
def test_consistency_probe(path):
    probe = json.loads(path.read_text())
    args = (
        probe["size1"],
        probe["size2"],
        _b64(probe["root1"]),
        _b64(probe["root2"]),
        [_b64(p) for p in probe["proof"] or []],
    )
    if probe["wantErr"]:
        with pytest.raises(merkle.ProofError):
            merkle.verify_consistency(*args)
    else:
        merkle.verify_consistency(*args)


def test_happy_probes_match_generated_proofs():
    store = merkle.MemoryHashStore()
    for leaf in LEAVES:
        store.append_entry(leaf)
    checked = 0
    for path in INCLUSION + CONSISTENCY:
        probe = json.loads(path.read_text())
        if probe["wantErr"]:
            continue
        proof = [_b64(p) for p in probe["proof"] or []]
        if "leafIdx" in probe:
            assert store.inclusion_proof(probe["leafIdx"], probe["treeSize"]) == proof
        elif probe["size1"]:
            assert store.consistency_proof(probe["size1"], probe["size2"]) == proof
        checked += 1
    assert checked >= 10


# -- property tests against the naive reference --------------------------------------


def test_against_reference_up_to_300():
    store, hashes = _store(300)
    rng = random.Random(7)
    sizes = list(range(1, 40)) + [63, 64, 65, 127, 128, 129, 255, 256, 257, 300]
    for n in sizes:
        root = ref_mth(hashes[:n])
        assert store.root(n) == root
        assert merkle.root_from_leaf_hashes(hashes[:n]) == root
        for m in sorted({0, n - 1, *rng.sample(range(n), min(n, 12))}):
            proof = store.inclusion_proof(m, n)
            assert proof == ref_path(m, hashes[:n])
            merkle.verify_inclusion(m, n, hashes[m], proof, root)
            with pytest.raises(merkle.ProofError):
                merkle.verify_inclusion(m, n, _flip(hashes[m]), proof, root)
            if proof:
                i = rng.randrange(len(proof))
                bad = proof[:i] + [_flip(proof[i])] + proof[i + 1 :]
                with pytest.raises(merkle.ProofError):
                    merkle.verify_inclusion(m, n, hashes[m], bad, root)
                with pytest.raises(merkle.ProofError):
                    merkle.verify_inclusion(m, n, hashes[m], proof[:-1], root)
            with pytest.raises(merkle.ProofError):
                merkle.verify_inclusion(m, n, hashes[m], proof + [root], root)
            if m + 1 < n:
                with pytest.raises(merkle.ProofError):
                    merkle.verify_inclusion(m + 1, n, hashes[m], proof, root)
        for m in sorted({1, n, *rng.sample(range(1, n + 1), min(n, 12))}):
            proof = store.consistency_proof(m, n)
            assert proof == ref_subproof(m, hashes[:n], True)
            old = ref_mth(hashes[:m])
            merkle.verify_consistency(m, n, old, root, proof)
            with pytest.raises(merkle.ProofError):
                merkle.verify_consistency(m, n, _flip(old), root, proof)
            with pytest.raises(merkle.ProofError):
                merkle.verify_consistency(m, n, old, _flip(root), proof)
            if proof:
                i = rng.randrange(len(proof))
                bad = proof[:i] + [_flip(proof[i])] + proof[i + 1 :]
                with pytest.raises(merkle.ProofError):
                    merkle.verify_consistency(m, n, old, root, bad)
                with pytest.raises(merkle.ProofError):
                    merkle.verify_consistency(m, n, old, root, proof[:-1])
            with pytest.raises(merkle.ProofError):
                merkle.verify_consistency(m, n, old, root, proof + [root])


def test_every_pair_small_trees():
    store, hashes = _store(33)
    for n in range(1, 34):
        root = store.root(n)
        for m in range(n):
            merkle.verify_inclusion(m, n, hashes[m], store.inclusion_proof(m, n), root)
        for m in range(1, n + 1):
            merkle.verify_consistency(m, n, store.root(m), root, store.consistency_proof(m, n))


def test_bad_arguments():
    store, _ = _store(4)
    with pytest.raises(ValueError):
        store.inclusion_proof(4, 4)
    with pytest.raises(ValueError):
        store.consistency_proof(5, 4)
    with pytest.raises(ValueError):
        store.consistency_proof(0, 4)
    assert store.consistency_proof(4, 4) == []
    with pytest.raises(merkle.ProofError, match="32-byte"):
        merkle.verify_inclusion(0, 1, b"short", [], b"x" * 32)
    with pytest.raises(ValueError):
        merkle.CompactRange().append(b"short")
