"""RFC 6962 / RFC 9162 Merkle tree hashing, proofs and an O(log n) tree builder.

Why: the provenance log (issue 7) must interoperate with other transparency logs
(C2SP tlog-tiles, Go sumdb, tessera), so hashing and proof shapes follow RFC 9162
exactly. Proofs are generated from a hash-lookup callable ``get(level, index)``
that returns the hash of the complete subtree covering leaves
``[index * 2**level, (index + 1) * 2**level)`` — a tile reader or an in-memory
store can back it — so generating a proof costs O(log n) lookups, never a walk
over all leaves.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Sequence

HASH_SIZE = 32
EMPTY_ROOT = hashlib.sha256(b"").digest()

HashLookup = Callable[[int, int], bytes]
"""``get(level, index)`` -> hash of the complete subtree at that level and index."""

_sha256 = hashlib.sha256


class ProofError(ValueError):
    """A proof does not verify, or its inputs are malformed."""


def leaf_hash(data: bytes) -> bytes:
    """RFC 6962 leaf hash: SHA-256(0x00 || data)."""
    return _sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """RFC 6962 interior node hash: SHA-256(0x01 || left || right)."""
    return _sha256(b"\x01" + left + right).digest()


def _split_point(size: int) -> int:
    """Largest power of two strictly smaller than ``size`` (size >= 2)."""
    return 1 << ((size - 1).bit_length() - 1)


def _check_hash(value: bytes, what: str) -> None:
    if not isinstance(value, bytes | bytearray) or len(value) != HASH_SIZE:
        size = len(value) if isinstance(value, bytes | bytearray) else type(value).__name__
        raise ProofError(f"{what} must be a {HASH_SIZE}-byte hash, got {size}")


def fold_right(hashes: Sequence[bytes]) -> bytes:
    """Hash of a range from its complete-subtree decomposition, largest (leftmost) first."""
    if not hashes:
        return EMPTY_ROOT
    result = hashes[-1]
    for h in reversed(hashes[:-1]):
        result = _sha256(b"\x01" + h + result).digest()
    return result


def range_hash(begin: int, end: int, get: HashLookup) -> bytes:
    """MTH of leaves [begin, end), where ``begin`` is a multiple of the largest
    power of two not exceeding ``end - begin`` (true for every subtree RFC 6962 splits
    off, and for begin == 0)."""
    if end <= begin:
        return EMPTY_ROOT
    pieces = []
    pos = begin
    remaining = end - begin
    level = remaining.bit_length() - 1
    while level >= 0:
        if remaining >> level & 1:
            pieces.append(get(level, pos >> level))
            pos += 1 << level
        level -= 1
    return fold_right(pieces)


def root_from_leaf_hashes(leaf_hashes: Iterable[bytes]) -> bytes:
    """MTH over already-hashed leaves, in O(log n) memory."""
    compact = CompactRange()
    for h in leaf_hashes:
        compact.append(h)
    return compact.root()


def root_from_entries(entries: Iterable[bytes]) -> bytes:
    """MTH over raw entries (each is leaf-hashed first)."""
    return root_from_leaf_hashes(leaf_hash(e) for e in entries)


class CompactRange:
    """Right edge of a Merkle tree: one hash per set bit of the size.

    Appending is amortised O(1) hashes and memory is O(log n), so millions of leaves
    can be appended quickly. ``on_node(level, index, hash)`` (optional) is called for
    every complete subtree hash created, level 0 included — a tile writer uses it to
    persist hashes as they appear.
    """

    __slots__ = ("_size", "_stack", "_on_node")

    def __init__(
        self,
        size: int = 0,
        hashes: Sequence[bytes] = (),
        on_node: Callable[[int, int, bytes], None] | None = None,
    ) -> None:
        if size < 0 or len(hashes) != bin(size).count("1"):
            raise ValueError(f"a compact range of size {size} needs {bin(size).count('1')} hashes")
        for h in hashes:
            _check_hash(h, "compact range hash")
        self._size = size
        self._stack = [bytes(h) for h in hashes]
        self._on_node = on_node

    @property
    def size(self) -> int:
        return self._size

    @property
    def hashes(self) -> list[bytes]:
        """Complete-subtree hashes of the range, largest (leftmost) first."""
        return list(self._stack)

    def append(self, leaf: bytes) -> None:
        """Append one leaf hash (use ``leaf_hash(entry)`` for raw entries)."""
        if len(leaf) != HASH_SIZE:
            raise ValueError(f"leaf hash must be {HASH_SIZE} bytes, got {len(leaf)}")
        stack = self._stack
        on_node = self._on_node
        index = self._size
        h = bytes(leaf)
        if on_node is not None:
            on_node(0, index, h)
        level = 0
        while index & 1:
            h = _sha256(b"\x01" + stack.pop() + h).digest()
            index >>= 1
            level += 1
            if on_node is not None:
                on_node(level, index, h)
        stack.append(h)
        self._size += 1

    def append_entry(self, data: bytes) -> None:
        """Append a raw entry (leaf-hashed per RFC 6962)."""
        self.append(leaf_hash(data))

    def root(self) -> bytes:
        """RFC 6962 MTH of all appended leaves (hash of the empty string when empty)."""
        return fold_right(self._stack)


class MemoryHashStore:
    """Every complete-subtree hash of an append-only tree, in memory.

    Levels are packed bytearrays (32 bytes per hash), ~64 MB per million leaves.
    Serves as a ``HashLookup`` for proofs and as the reference store in tests.
    """

    def __init__(self) -> None:
        self._levels: list[bytearray] = [bytearray()]
        self._compact = CompactRange(on_node=self._store)

    def _store(self, level: int, index: int, h: bytes) -> None:
        if level == len(self._levels):
            self._levels.append(bytearray())
        self._levels[level] += h

    @property
    def size(self) -> int:
        return self._compact.size

    def append(self, leaf: bytes) -> int:
        """Append a leaf hash; returns its index."""
        index = self._compact.size
        self._compact.append(leaf)
        return index

    def append_entry(self, data: bytes) -> int:
        return self.append(leaf_hash(data))

    def get(self, level: int, index: int) -> bytes:
        """Complete-subtree hash at (level, index); KeyError if it does not exist yet."""
        if (
            level >= len(self._levels)
            or index < 0
            or (index + 1) * HASH_SIZE > len(self._levels[level])
        ):
            raise KeyError((level, index))
        start = index * HASH_SIZE
        return bytes(self._levels[level][start : start + HASH_SIZE])

    __call__ = get

    def root(self, size: int | None = None) -> bytes:
        if size is None or size == self.size:
            return self._compact.root()
        if not 0 <= size <= self.size:
            raise ValueError(f"size {size} beyond tree size {self.size}")
        return range_hash(0, size, self.get)

    def inclusion_proof(self, index: int, size: int | None = None) -> list[bytes]:
        return inclusion_proof(index, self.size if size is None else size, self.get)

    def consistency_proof(self, size1: int, size2: int | None = None) -> list[bytes]:
        return consistency_proof(size1, self.size if size2 is None else size2, self.get)


def inclusion_proof(index: int, size: int, get: HashLookup) -> list[bytes]:
    """RFC 9162 §2.1.3.1 inclusion proof (audit path) for leaf ``index`` in a tree of
    ``size`` leaves, leaf-to-root order."""
    if not 0 <= index < size:
        raise ValueError(f"leaf index {index} out of range for tree size {size}")
    path: list[bytes] = []
    lo, hi = 0, size
    while hi - lo > 1:
        k = _split_point(hi - lo)
        if index < lo + k:
            path.append(range_hash(lo + k, hi, get))
            hi = lo + k
        else:
            path.append(get(k.bit_length() - 1, lo // k))
            lo += k
    path.reverse()
    return path


def consistency_proof(size1: int, size2: int, get: HashLookup) -> list[bytes]:
    """RFC 9162 §2.1.4.1 consistency proof between tree sizes ``size1`` <= ``size2``.

    Empty when the sizes are equal; an error for size1 == 0 < size2. (The verifier
    rejects any proof from size 0, as the transparency-dev vectors require.)
    """
    if not 0 <= size1 <= size2:
        raise ValueError(f"need 0 <= size1 <= size2, got {size1}, {size2}")
    if size1 == size2:
        return []
    if size1 == 0:
        raise ValueError("a consistency proof from the empty tree is meaningless")
    path: list[bytes] = []
    lo, hi, m, complete = 0, size2, size1, True
    while True:
        if m == hi - lo:
            if not complete:
                path.append(range_hash(lo, hi, get))
            break
        k = _split_point(hi - lo)
        if m <= k:
            path.append(range_hash(lo + k, hi, get))
            hi = lo + k
        else:
            path.append(get(k.bit_length() - 1, lo // k))
            lo += k
            m -= k
            complete = False
    path.reverse()
    return path


def root_from_inclusion_proof(index: int, size: int, leaf: bytes, proof: Sequence[bytes]) -> bytes:
    """RFC 9162 §2.1.3.2: the root implied by a leaf hash and its audit path."""
    if not 0 <= index < size:
        raise ProofError(f"leaf index {index} out of range for tree size {size}")
    _check_hash(leaf, "leaf hash")
    fn, sn = index, size - 1
    r = bytes(leaf)
    for p in proof:
        _check_hash(p, "proof hash")
        if sn == 0:
            raise ProofError("inclusion proof is too long")
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ProofError("inclusion proof is too short")
    return r


def verify_inclusion(
    index: int, size: int, leaf: bytes, proof: Sequence[bytes], root: bytes
) -> None:
    """Raise ProofError unless ``proof`` shows leaf hash ``leaf`` at ``index`` in the
    tree of ``size`` leaves with root ``root``."""
    _check_hash(root, "root hash")
    computed = root_from_inclusion_proof(index, size, leaf, proof)
    if computed != root:
        raise ProofError(
            f"inclusion proof for leaf {index} of {size} gives root {computed.hex()}, "
            f"expected {root.hex()}"
        )


def verify_consistency(
    size1: int, size2: int, root1: bytes, root2: bytes, proof: Sequence[bytes]
) -> None:
    """RFC 9162 §2.1.4.2: raise ProofError unless the tree of ``size2`` leaves with root
    ``root2`` extends the tree of ``size1`` leaves with root ``root1``."""
    if not 0 <= size1 <= size2:
        raise ProofError(f"need 0 <= size1 <= size2, got {size1}, {size2}")
    if size1 == 0:
        raise ProofError("consistency proof from the empty tree is not accepted")
    if size1 == size2:
        # Nothing to prove beyond equality (byte comparison, as transparency-dev does).
        if proof:
            raise ProofError("consistency proof between equal sizes must be empty")
        if root1 != root2:
            raise ProofError(f"roots differ for the same tree size {size1}")
        return
    _check_hash(root1, "first root")
    _check_hash(root2, "second root")
    for p in proof:
        _check_hash(p, "proof hash")
    if not proof:
        raise ProofError("consistency proof is empty")
    path = list(proof)
    if size1 & (size1 - 1) == 0:
        path.insert(0, bytes(root1))
    fn, sn = size1 - 1, size2 - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            raise ProofError("consistency proof is too long")
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ProofError("consistency proof is too short")
    if fr != root1:
        raise ProofError(f"consistency proof does not match the first root at size {size1}")
    if sr != root2:
        raise ProofError(f"consistency proof does not match the second root at size {size2}")
