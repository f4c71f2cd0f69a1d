"""Crash safety of the tiles log writer (issue 7): "appends are durable and atomic (write,
fsync, rename); a crash at any point leaves a log whose latest checkpoint verifies and from
which appending resumes; a checkpoint for size n is never followed by one inconsistent with
it."

Four angles:

* a child process appends deterministic entries in a loop and is SIGKILLed at random
  points (seeded), round after round on the same log; after every kill the log must verify,
  hold every checkpoint the child reported, hold only the expected bytes, stay consistent
  with every checkpoint seen before, and the next child must resume from it;
* a failure injected at every file write (and every directory fsync) of one append that
  crosses a tile boundary: the old checkpoint stays, the log verifies, and appending again
  (same writer or reopened) gives the reference root;
* the fsync order of one append, traced: every directory an append creates is linked
  durably (its parent fsynced) before the checkpoint that needs it is published — the part
  of "write, fsync, rename" that a SIGKILL cannot test (only a power cut can);
* two writers at once: the second is refused, and a killed writer's lock does not linger.

Docstrings that start "Regression test for a fixed defect" describe the defect as it was.
"""

from __future__ import annotations

import base64
import contextlib
import importlib.util
import os
import random
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

import spyproof.provenance.log as logmod
from spyproof.cli import app
from spyproof.provenance import merkle
from spyproof.provenance.checkpoint import read_checkpoint_note
from spyproof.provenance.keys import generate_key, parse_signer_key
from spyproof.provenance.log import LogError, LogWriter, init_log
from spyproof.provenance.note import verify_note
from spyproof.provenance.tiles import (
    TILE_HEIGHT,
    TILE_WIDTH,
    TileReader,
    check_log,
    directory_fetcher,
    encode_entry_bundle,
)

ORIGIN = "crash.example/log"

# The child: one source for both processes (the parent imports ``entry`` from the same file).
CHILD_SOURCE = r'''
import base64
import hashlib
import random
import sys
import time
from pathlib import Path


def entry(i: int) -> bytes:
    """Entry i's bytes: a function of i alone, of varying length."""
    pad = hashlib.sha256(b"%d" % i).hexdigest().encode()
    return b"entry %d " % i + pad[: i % 61]


def main() -> None:
    from spyproof.provenance.keys import parse_signer_key
    from spyproof.provenance.log import LogWriter

    root, key_file, seed, limit = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    rng = random.Random(seed)
    out = sys.stdout.buffer
    signer = parse_signer_key(Path(key_file).read_text().strip())
    with LogWriter(Path(root), signer) as writer:
        out.write(b"ready %d\n" % writer.size)
        out.flush()
        while writer.size < limit:
            n = rng.randint(1, 600)
            done = writer.append([entry(i) for i in range(writer.size, writer.size + n)])
            # Printed only after append returned: this checkpoint must survive the kill.
            out.write(b"cp " + base64.b64encode(done.checkpoint) + b"\n")
            out.flush()
        time.sleep(3600)  # holds the lock until killed


if __name__ == "__main__":
    main()
'''


@pytest.fixture(scope="module")
def child(tmp_path_factory):
    """The child script on disk, and the same module loaded here (for ``entry``)."""
    path = tmp_path_factory.mktemp("crash-child") / "crash_child.py"
    path.write_text(CHILD_SOURCE)
    spec = importlib.util.spec_from_file_location("crash_child", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return path, module


@pytest.fixture(scope="module")
def keys(tmp_path_factory):
    skey, vkey = generate_key(ORIGIN)
    path = tmp_path_factory.mktemp("crash-keys") / "log.key"
    path.write_text(skey + "\n")
    return parse_signer_key(skey), vkey, path


class Reference:
    """Every subtree hash of the expected tree (entry(i) at index i), grown on demand."""

    def __init__(self, entry) -> None:
        self.entry = entry
        self.store = merkle.MemoryHashStore()

    def grow(self, size: int) -> None:
        while self.store.size < size:
            self.store.append_entry(self.entry(self.store.size))

    def root(self, size: int) -> bytes:
        self.grow(size)
        return self.store.root(size)

    def tile(self, level: int, index: int, width: int) -> bytes:
        self.grow((index * TILE_WIDTH + width) << (TILE_HEIGHT * level))
        return b"".join(self.store.get(TILE_HEIGHT * level, index * TILE_WIDTH + j)
                        for j in range(width))

    def bundle(self, index: int, width: int) -> bytes:
        return encode_entry_bundle([self.entry(index * TILE_WIDTH + j) for j in range(width)])


def parse_tile_path(rel: str) -> tuple[str, int, int]:
    """``tile/<L|entries>/<x001/234/067>[.p/<W>]`` -> (level or 'entries', index, width)."""
    parts = rel.split("/")
    assert parts[0] == "tile", rel
    kind, rest = parts[1], parts[2:]
    width = TILE_WIDTH
    if len(rest) >= 2 and rest[-2].endswith(".p"):
        width = int(rest[-1])
        rest = rest[:-2] + [rest[-2][: -len(".p")]]
    assert all(len(g.lstrip("x")) == 3 for g in rest), rel
    return kind, int("".join(g.lstrip("x") for g in rest)), width


def is_temp(name: str) -> bool:
    return name.startswith(".") and name.endswith(".tmp")


def check_every_file(root: Path, ref: Reference, size: int) -> tuple[int, int]:
    """No torn or foreign file anywhere, even beyond the checkpoint (each file was written
    by tmp + rename with bytes that depend only on the indices). Returns the number of
    temp files (litter of killed writes) and of files beyond the checkpoint's size."""
    litter = beyond = 0
    for path in (root / "tile").rglob("*"):
        if path.is_dir():
            continue
        if is_temp(path.name):
            litter += 1
            continue
        kind, index, width = parse_tile_path(path.relative_to(root).as_posix())
        data = path.read_bytes()
        level = 0 if kind == "entries" else int(kind)
        expected = ref.bundle(index, width) if kind == "entries" else \
            ref.tile(level, index, width)
        assert data == expected, f"{path.relative_to(root)}: torn or foreign content"
        if (index * TILE_WIDTH + width) << (TILE_HEIGHT * level) > size:
            beyond += 1
    return litter, beyond


def read_note(root: Path, verifier: str):
    note = (root / "checkpoint").read_bytes()
    verify_note(note, [verifier])  # raises unless the log key signed it
    return read_checkpoint_note(note)[0], note


# -- SIGKILL at random points --------------------------------------------------------

ROUNDS = 30
SIZE_LIMIT = 40_000  # keeps every round's check_log cheap; ~10x a single tile level


def _spawn(script: Path, root: Path, key: Path, seed: int, stderr) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, str(script), str(root), str(key), str(seed), str(SIZE_LIMIT)],
        stdout=subprocess.PIPE, stderr=stderr)


class Lines:
    """The child's stdout, read by a thread: whole lines, in order, waitable."""

    def __init__(self, proc: subprocess.Popen) -> None:
        self.lines: list[bytes] = []
        self.tail = b""
        self._cond = threading.Condition()
        self._thread = threading.Thread(target=self._run, args=(proc.stdout,), daemon=True)
        self._thread.start()

    def _run(self, stream) -> None:
        buffer = b""
        while chunk := stream.read1(65536):
            buffer += chunk
            *whole, buffer = buffer.split(b"\n")
            with self._cond:
                self.lines += whole
                self._cond.notify_all()
        with self._cond:
            self.tail = buffer  # an unfinished line (a write never tears one, in fact)
            self._cond.notify_all()

    def wait_for(self, count: int, timeout: float = 30.0) -> bool:
        """Wait until ``count`` lines arrived (False if the child ended first)."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while len(self.lines) < count and self._thread.is_alive():
                left = deadline - time.monotonic()
                assert left > 0, f"child printed {len(self.lines)} of {count} lines in time"
                self._cond.wait(left)
            return len(self.lines) >= count

    def close(self) -> list[bytes]:
        self._thread.join(timeout=30)
        return list(self.lines)


def test_sigkill_at_random_points_never_breaks_the_log(tmp_path, child, keys):
    script, module = child
    signer, vkey, key_file = keys
    entry = module.entry
    root = tmp_path / "log"
    init_log(root, ORIGIN, signer, key_file)
    ref = Reference(entry)
    rng = random.Random(0x5EED_7)
    seen: dict[int, bytes] = {0: merkle.EMPTY_ROOT}  # every checkpoint ever observed
    durable = 0  # largest size a child reported after append returned, or found on disk
    kills_in_append = 0  # kills between a checkpoint rename and its report
    mid_write = 0  # kills that left a written file beyond the checkpoint, or a temp file
    litter = 0
    started = time.monotonic()
    for round_no in range(ROUNDS):
        stderr_path = tmp_path / f"child-{round_no}.err"
        with stderr_path.open("wb") as stderr:
            proc = _spawn(script, root, key_file, rng.randrange(2**32), stderr)
            lines = Lines(proc)
            early = round_no % 6 == 5
            try:
                if early:  # lands in start-up, imports, the writer's _load or a first append
                    time.sleep(rng.uniform(0.0, 0.35))
                else:
                    # ready, then 0..3 whole appends, then a random point of the next one.
                    started_ok = lines.wait_for(1 + rng.randint(0, 3))
                    assert started_ok, stderr_path.read_text(errors="replace")
                    time.sleep(rng.choice([0.0, rng.uniform(0, 0.002), rng.uniform(0, 0.02),
                                           rng.uniform(0, 0.08)]))
            finally:
                proc.send_signal(signal.SIGKILL)
                proc.wait(timeout=30)
                output = lines.close()
                proc.stdout.close()
        assert proc.returncode == -signal.SIGKILL, (
            round_no, proc.returncode, stderr_path.read_text(errors="replace"))
        assert lines.tail == b"", lines.tail
        if output:
            assert output[0].startswith(b"ready "), output[0][:80]
            # Resumed exactly from what the log held after the previous kill.
            assert int(output[0].split()[1]) == durable, (round_no, output[0])
        printed = []
        for line in output[1:]:
            assert line.startswith(b"cp "), line[:80]
            note = base64.b64decode(line[3:], validate=True)
            verify_note(note, [vkey])
            printed.append((read_checkpoint_note(note)[0], note))

        # The log verifies: every tile, every entry, the root against the checkpoint.
        mismatched: list[int] = []

        def compare(i: int, e: bytes, mismatched: list[int] = mismatched) -> None:
            if e != entry(i):
                mismatched.append(i)

        result = check_log(root, on_entry=compare)
        assert not mismatched, f"round {round_no}: entries {mismatched[:5]} are not expected"
        cp, note = read_note(root, vkey)
        assert result.checkpoint == cp and result.entries == cp.size

        # Durability: what the child printed after append returned is on disk (or superseded
        # by at most the one append that the kill interrupted after its rename).
        sizes = [c.size for c, _ in printed]
        assert sizes == sorted(set(sizes)), sizes
        if printed:
            last, last_note = printed[-1]
            assert cp.size >= last.size, (round_no, cp.size, last.size)
            assert cp.size <= last.size + 600
            if cp.size == last.size:
                assert note == last_note
            else:
                kills_in_append += 1
        assert cp.size >= durable, f"round {round_no}: size {cp.size} < durable {durable}"
        durable = cp.size

        # Consistency: every checkpoint ever seen is a prefix of this one.
        for c, _ in printed:
            assert c.root_hash == ref.root(c.size), f"round {round_no}: size {c.size}"
            seen[c.size] = c.root_hash
        assert cp.root_hash == ref.root(cp.size)
        seen[cp.size] = cp.root_hash
        reader = TileReader(directory_fetcher(root), cp.size)
        for size, root_hash in seen.items():
            if 0 < size < cp.size:
                proof = merkle.consistency_proof(size, cp.size, reader.get)
                merkle.verify_consistency(size, cp.size, root_hash, cp.root_hash, proof)

        # No torn or foreign file anywhere, beyond the checkpoint included.
        new_litter, beyond = check_every_file(root, ref, cp.size)
        if new_litter > litter or beyond:
            mid_write += 1  # this kill interrupted an append after it had written a file
        litter = new_litter

    # The loop exercised what it claims: tiles filled, widened and completed at level 1,
    # kills landed both between and inside appends, and appending still resumes.
    assert durable > 4 * TILE_WIDTH, durable
    assert mid_write >= 3, mid_write
    with LogWriter(root, signer) as writer:
        assert writer.size == durable
        done = writer.append([entry(i) for i in range(durable, durable + 3)])
    assert read_checkpoint_note(done.checkpoint)[0].root_hash == ref.root(durable + 3)
    elapsed = time.monotonic() - started
    print(f"{ROUNDS} kills, final size {durable}, {mid_write} mid-write, {kills_in_append} "
          f"after an unreported checkpoint rename, {litter} temp files left behind, "
          f"{elapsed:.1f} s")


def durable_on_disk(root: Path) -> int:
    return read_checkpoint_note((root / "checkpoint").read_bytes())[0].size


# -- injected failures at every write of one append ----------------------------------

BASE = 200
BATCH = 300  # 200 -> 500: completes tile 0/000 and bundle 000, starts level 1
FILES_OF_APPEND = [
    "tile/0/000",
    "tile/0/001.p/244",
    "tile/1/000.p/1",
    "tile/entries/000",
    "tile/entries/001.p/244",
    "checkpoint",
]


class Injected(Exception):
    """The failure a test injects (stands in for EIO, ENOSPC, a crash...)."""


@pytest.fixture(scope="module")
def base_log(tmp_path_factory, child, keys):
    """A log of BASE entries, built once and copied by each test."""
    signer, _, key_file = keys
    root = tmp_path_factory.mktemp("base") / "log"
    init_log(root, ORIGIN, signer, key_file)
    with LogWriter(root, signer) as writer:
        writer.append([child[1].entry(i) for i in range(BASE)])
    return root


def _copy(base: Path, tmp_path: Path) -> Path:
    dest = tmp_path / "log"
    shutil.copytree(base, dest, ignore=shutil.ignore_patterns("lock"))
    return dest


def _batch(entry, start: int = BASE, count: int = BATCH) -> list[bytes]:
    return [entry(i) for i in range(start, start + count)]


def _assert_intact(root: Path, vkey: str, size: int, entry) -> None:
    result = check_log(root)
    cp, _ = read_note(root, vkey)
    assert cp.size == size == result.entries
    entries = []
    check_log(root, on_entry=lambda i, e: entries.append(e))
    assert entries == [entry(i) for i in range(size)]


def test_one_append_writes_these_files_then_the_checkpoint(tmp_path, base_log, child, keys):
    """The injection tests below fail each of these writes in turn."""
    signer, _, _ = keys
    root = _copy(base_log, tmp_path)
    written: list[str] = []
    real = logmod._write_durable

    def spy(path: Path, data: bytes) -> None:
        written.append(path.relative_to(root).as_posix())
        real(path, data)

    with LogWriter(root, signer) as writer:
        orig, logmod._write_durable = logmod._write_durable, spy
        try:
            writer.append(_batch(child[1].entry))
        finally:
            logmod._write_durable = orig
    assert written == FILES_OF_APPEND  # tiles and bundles first, the checkpoint last


@pytest.mark.parametrize("resume", ["same-writer", "reopened"])
@pytest.mark.parametrize("where", ["before-write", "at-rename"])
@pytest.mark.parametrize("k", range(1, len(FILES_OF_APPEND) + 1),
                         ids=[f"{n}-{p}" for n, p in enumerate(FILES_OF_APPEND, 1)])
def test_failure_at_each_write_keeps_the_old_checkpoint(tmp_path, monkeypatch, base_log,
                                                        child, keys, k, where, resume):
    signer, vkey, _ = keys
    entry = child[1].entry
    root = _copy(base_log, tmp_path)
    before = (root / "checkpoint").read_bytes()
    calls = {"n": 0}

    if where == "before-write":
        real = logmod._write_durable

        def failing_write(path: Path, data: bytes) -> None:
            calls["n"] += 1
            if calls["n"] == k:
                raise Injected(f"write {k}: {path}")
            real(path, data)

        monkeypatch.setattr(logmod, "_write_durable", failing_write)
    else:
        real_replace = os.replace

        def failing_replace(src, dst, *args, **kwargs):
            if Path(dst).is_relative_to(root):
                calls["n"] += 1
                if calls["n"] == k:  # the temp file is written and fsynced, not renamed
                    raise Injected(f"rename {k}: {dst}")
            return real_replace(src, dst, *args, **kwargs)

        monkeypatch.setattr(os, "replace", failing_replace)

    writer = LogWriter(root, signer)
    try:
        with pytest.raises(Injected):
            writer.append(_batch(entry))
        monkeypatch.undo()
        assert (root / "checkpoint").read_bytes() == before  # old checkpoint, old tree
        _assert_intact(root, vkey, BASE, entry)
        assert not [p for p in root.rglob("*") if is_temp(p.name)], "temp file left behind"
        if resume == "reopened":
            writer.close()
            writer = LogWriter(root, signer)
        assert writer.size == BASE
        done = writer.append(_batch(entry))
    finally:
        writer.close()
    assert read_checkpoint_note(done.checkpoint)[0].root_hash == \
        merkle.root_from_entries(entry(i) for i in range(BASE + BATCH))
    _assert_intact(root, vkey, BASE + BATCH, entry)


@pytest.mark.parametrize("k", range(1, len(FILES_OF_APPEND) + 1),
                         ids=[f"{n}-{p}" for n, p in enumerate(FILES_OF_APPEND, 1)])
def test_failure_then_a_different_batch_never_shows_stale_files(tmp_path, monkeypatch,
                                                                 base_log, child, keys, k):
    """After a failed append left files beyond the checkpoint, appending *other* entries
    (fewer, then more) must give exactly those entries: no stale tile or bundle leaks."""
    signer, vkey, _ = keys
    entry = child[1].entry
    root = _copy(base_log, tmp_path)
    real = logmod._write_durable
    calls = {"n": 0}

    def failing_write(path: Path, data: bytes) -> None:
        calls["n"] += 1
        if calls["n"] == k:
            raise Injected(str(path))
        real(path, data)

    monkeypatch.setattr(logmod, "_write_durable", failing_write)
    with LogWriter(root, signer) as writer, pytest.raises(Injected):
        writer.append(_batch(entry))
    monkeypatch.undo()

    def other(i: int) -> bytes:
        return b"other %d" % i

    with LogWriter(root, signer) as writer:
        writer.append([other(i) for i in range(BASE, BASE + 10)])
        writer.append([other(i) for i in range(BASE + 10, 700)])
    expected = [entry(i) for i in range(BASE)] + [other(i) for i in range(BASE, 700)]
    got: list[bytes] = []
    result = check_log(root, on_entry=lambda i, e: got.append(e))
    assert got == expected
    assert result.checkpoint.root_hash == merkle.root_from_entries(expected)
    read_note(root, vkey)


def test_failure_at_each_directory_fsync_before_the_checkpoint(tmp_path, monkeypatch,
                                                               base_log, child, keys):
    signer, vkey, _ = keys
    entry = child[1].entry
    real = logmod._fsync_dir
    # How many directory fsyncs come before the checkpoint is replaced?
    root = _copy(base_log, tmp_path / "count")
    order: list[str] = []
    real_write = logmod._write_durable
    monkeypatch.setattr(logmod, "_fsync_dir", lambda p: (order.append("fsync"), real(p)))
    monkeypatch.setattr(logmod, "_write_durable",
                        lambda p, d: (order.append(Path(p).name), real_write(p, d)))
    with LogWriter(root, signer) as writer:
        writer.append(_batch(entry))
    monkeypatch.undo()
    before_checkpoint = order[: order.index("checkpoint")].count("fsync")
    assert before_checkpoint >= 3
    for k in range(1, before_checkpoint + 1):
        root = _copy(base_log, tmp_path / f"k{k}")
        old = (root / "checkpoint").read_bytes()
        calls = {"n": 0}

        def failing(path: Path, k: int = k, calls: dict = calls) -> None:
            calls["n"] += 1
            if calls["n"] == k:
                raise OSError(5, "Input/output error (injected)")
            real(path)

        monkeypatch.setattr(logmod, "_fsync_dir", failing)
        with LogWriter(root, signer) as writer, pytest.raises(OSError):
            writer.append(_batch(entry))
        monkeypatch.undo()
        assert (root / "checkpoint").read_bytes() == old, k
        _assert_intact(root, vkey, BASE, entry)
        with LogWriter(root, signer) as writer:
            done = writer.append(_batch(entry))
        assert read_checkpoint_note(done.checkpoint)[0].root_hash == \
            merkle.root_from_entries(entry(i) for i in range(BASE + BATCH))


def test_failure_after_the_checkpoint_rename_never_leads_to_an_inconsistent_checkpoint(
        tmp_path, monkeypatch, base_log, child, keys):
    """Regression test for a fixed defect.
    append() publishes the new checkpoint (rename) and then fsyncs the log
    directory; if that fsync raises, the exception propagates *before* the writer updates
    its in-memory right edge. The checkpoint for size 500 is on disk (readers may have seen
    it), but the writer still believes the size is 200, so its next append signs a
    checkpoint for size 210 over other entries: a rollback and a fork of a published
    checkpoint ("a checkpoint for size n is never followed by one inconsistent with it")."""
    signer, vkey, _ = keys
    entry = child[1].entry
    root = _copy(base_log, tmp_path)
    real = logmod._fsync_dir

    def failing(path: Path) -> None:
        if Path(path) == root:  # the fsync that follows the checkpoint rename
            raise OSError(5, "Input/output error (injected)")
        real(path)

    writer = LogWriter(root, signer)
    try:
        monkeypatch.setattr(logmod, "_fsync_dir", failing)
        with pytest.raises(OSError):
            writer.append(_batch(entry))
        monkeypatch.undo()
        published, _ = read_note(root, vkey)
        assert published.size == BASE + BATCH  # the rename happened: this one is public
        with contextlib.suppress(LogError):  # refusing is fine; an inconsistent checkpoint
            writer.append([b"other %d" % i for i in range(10)])  # is not
    finally:
        writer.close()
    after, _ = read_note(root, vkey)
    assert after.size >= published.size, (
        f"checkpoint for size {published.size} was followed by one for size {after.size}")
    reader = TileReader(directory_fetcher(root), after.size)
    proof = merkle.consistency_proof(published.size, after.size, reader.get)
    merkle.verify_consistency(published.size, after.size, published.root_hash,
                              after.root_hash, proof)


def _fsync_trace(monkeypatch, root: Path) -> list[tuple[str, str]]:
    events: list[tuple[str, str]] = []
    real_fsync, real_write = logmod._fsync_dir, logmod._write_durable

    def fsync(path: Path) -> None:
        events.append(("fsync", Path(path).relative_to(root).as_posix()))
        real_fsync(path)

    def write(path: Path, data: bytes) -> None:
        events.append(("write", Path(path).relative_to(root).as_posix()))
        real_write(path, data)

    monkeypatch.setattr(logmod, "_fsync_dir", fsync)
    monkeypatch.setattr(logmod, "_write_durable", write)
    return events


def _dirs(root: Path) -> set[str]:
    return {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_dir()}


def _check_new_dirs_synced(root: Path, before: set[str], events) -> list[str]:
    checkpoint_at = events.index(("write", "checkpoint"))
    synced = {name for kind, name in events[:checkpoint_at] if kind == "fsync"}
    synced_any = {name for kind, name in events if kind == "fsync"}
    missing = []
    for new in sorted(_dirs(root) - before):
        parent = Path(new).parent.as_posix()
        ok = parent in synced_any if parent == "." else parent in synced
        if not ok:
            missing.append(f"{new} (parent {parent}/ never fsynced)")
    return missing


def test_first_append_fsyncs_every_new_directory_link(tmp_path, monkeypatch, child, keys):
    """Regression test for a fixed defect.
    append() fsyncs the directory of each file and that directory's parent,
    but not the grandparent. The first append of fewer than 256 entries creates
    ``tile/0/000.p/`` and ``tile/entries/000.p/`` inside a new ``tile/``: ``tile/`` (which
    holds the links ``0`` and ``entries``) is never fsynced, so after a power cut the signed
    checkpoint can survive while ``tile/0`` does not — a log that no longer opens."""
    signer, _, key_file = keys
    root = tmp_path / "log"
    init_log(root, ORIGIN, signer, key_file)
    before = _dirs(root)
    events = _fsync_trace(monkeypatch, root)
    with LogWriter(root, signer) as writer:
        writer.append(_batch(child[1].entry, 0, 5))
    missing = _check_new_dirs_synced(root, before, events)
    assert not missing, "; ".join(missing)


def test_crossing_tile_index_1000_fsyncs_the_new_x001_directories(tmp_path, monkeypatch,
                                                                  child, keys):
    """Regression test for a fixed defect.
    at 256,000 entries the next append creates
    ``tile/0/x001/000.p/`` and ``tile/entries/x001/000.p/``; ``tile/0/`` and
    ``tile/entries/`` (which gain the ``x001`` links) are not fsynced."""
    signer, _, key_file = keys
    root = tmp_path / "log"
    init_log(root, ORIGIN, signer, key_file)
    size = 1000 * TILE_WIDTH
    # Build quickly: durability of the build itself is not under test.
    monkeypatch.setattr(os, "fsync", lambda fd: None)
    with LogWriter(root, signer) as writer:
        writer.append([b"%d" % i for i in range(size)])
    monkeypatch.undo()
    before = _dirs(root)
    events = _fsync_trace(monkeypatch, root)
    with LogWriter(root, signer) as writer:
        writer.append([b"%d" % i for i in range(size, size + 5)])
    missing = _check_new_dirs_synced(root, before, events)
    assert not missing, "; ".join(missing)


# -- two writers ---------------------------------------------------------------------


def test_second_writer_in_process_is_refused(tmp_path, keys):
    signer, _, key_file = keys
    root = tmp_path / "log"
    init_log(root, ORIGIN, signer, key_file)
    with LogWriter(root, signer) as first:
        with pytest.raises(LogError, match="another process is appending"):
            LogWriter(root, signer)
        first.append([b"still works"])
    with LogWriter(root, signer) as again:  # released on close
        assert again.size == 1


def test_second_writer_while_a_child_appends_then_after_it_is_killed(tmp_path, child,
                                                                      keys):
    script, module = child
    signer, vkey, key_file = keys
    root = tmp_path / "log"
    init_log(root, ORIGIN, signer, key_file)
    (tmp_path / "stmt").write_bytes(b"x" * 10)
    with (tmp_path / "child.err").open("wb") as stderr:
        proc = _spawn(script, root, key_file, 1, stderr)
        lines = Lines(proc)
        try:
            assert lines.wait_for(1) and lines.lines[0] == b"ready 0"
            with pytest.raises(LogError, match="another process is appending"):
                LogWriter(root, signer)
            result = CliRunner().invoke(app, ["log", "add", str(root), str(tmp_path / "stmt"),
                                              "--raw", "--key", str(key_file)])
            assert result.exit_code == 2, result.output
            assert "another process is appending" in result.stderr
            assert len(result.stderr.strip().splitlines()) == 1
            assert "Traceback" not in result.output
        finally:
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=30)
            lines.close()
            proc.stdout.close()
    # The kill released the lock; the lock file left behind does not block anybody.
    assert (root / ".spyproof-log" / "lock").exists()
    size = durable_on_disk(root)
    with LogWriter(root, signer) as writer:
        assert writer.size == size
        writer.append([module.entry(i) for i in range(size, size + 2)])
    _assert_intact(root, vkey, size + 2, module.entry)
