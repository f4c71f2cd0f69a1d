"""Bad input to the transparency log (issue 7, section 5): "Forged signature, wrong key,
truncated tile, checkpoint with a wrong size, proof for another tree, an entry over 64 KiB,
a log directory that is not a log: a clear verdict or error, never an exception, never a
modified log."

Each case goes through the CLI (exit 1 for an invalid verdict, 2 for unusable input; one
line on stderr naming the input and the problem; no traceback; a log directory given to a
command is byte-identical afterwards) and, where it makes sense, through the library.

Docstrings that start "Regression test for a fixed defect" describe the defect as it was.
"""

from __future__ import annotations

import base64
import shutil
from dataclasses import dataclass
from pathlib import Path
from unittest import mock

import pytest
import typer.main
from typer.testing import CliRunner

from spyproof.cli import app
from spyproof.provenance import merkle
from spyproof.provenance.client import (
    ForkError,
    LogTrustError,
    RollbackError,
    StateFile,
    open_log,
    verify_whole_log,
)
from spyproof.provenance.keys import SignerKey, generate_key, parse_signer_key, parse_verifier_key
from spyproof.provenance.log import LogError, LogWriter, init_log, signed_checkpoint
from spyproof.provenance.operator import TrustFileError, parse_trust
from spyproof.provenance.proof import ProofFormatError, make_proof, parse_proof, verify_proof
from spyproof.provenance.tiles import (
    LogFormatError,
    check_log,
    directory_fetcher,
    read_checkpoint,
)
from spyproof.provenance.witness import cosign

ORIGIN = "bad.example/log"
ORIGIN_B = "other.example/log"
RUNNER = CliRunner()


def entry(i: int) -> bytes:
    return b"entry %d" % i


# -- the world: keys, a good log, a second log -----------------------------------------


@dataclass
class World:
    dir: Path
    log: Path  # ORIGIN, entries 0..299, appended as batches 3, 2, 295
    log_b: Path  # ORIGIN_B, 300 other entries
    checkpoints: dict[int, bytes]  # the good log's checkpoints by size
    signer: SignerKey
    vkey: str

    def __getattr__(self, name: str) -> Path:  # world.log_key -> dir/log.key, ...
        if name.endswith(("_key", "_vkey")):
            stem, ext = name.rsplit("_", 1)
            return self.dir / f"{stem}.{ext}"
        raise AttributeError(name)


def _build(root: Path, signer: SignerKey, key_file: Path, batches: list[int],
           make=entry) -> dict[int, bytes]:
    init_log(root, signer.name, signer, key_file)
    checkpoints = {}
    with LogWriter(root, signer) as writer:
        for count in batches:
            size = writer.size
            done = writer.append([make(i) for i in range(size, size + count)])
            checkpoints[done.size] = done.checkpoint
    return checkpoints


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> World:
    d = tmp_path_factory.mktemp("bad-input")
    keys = {"log": (ORIGIN, "ed25519"), "other": (ORIGIN, "ed25519"),
            "b": (ORIGIN_B, "ed25519"), "w": ("witness.example/w1", "cosignature")}
    signers = {}
    for stem, (name, kind) in keys.items():
        skey, vkey = generate_key(name, kind)
        (d / f"{stem}.key").write_text(skey + "\n")
        (d / f"{stem}.vkey").write_text(vkey + "\n")
        signers[stem] = parse_signer_key(skey)
    checkpoints = _build(d / "log", signers["log"], d / "log.key", [3, 2, 295])
    _build(d / "log_b", signers["b"], d / "b.key", [300], make=lambda i: b"other %d" % i)
    for i in (5, 260):
        (d / f"e{i}").write_bytes(entry(i))
    (d / "stmt").write_bytes(b"a new statement")
    (d / "fw.bin").write_bytes(b"\x7fELF not really firmware")
    (d / "policy.trust").write_text(f"log {signers['log'].verifier.vkey}\nquorum none\n")
    assert RUNNER.invoke(app, ["log", "prove", str(d / "log"), str(d / "e5"), "-o",
                               str(d / "e5.proof")]).exit_code == 0
    return World(d, d / "log", d / "log_b", checkpoints, signers["log"],
                 signers["log"].verifier.vkey)


@pytest.fixture
def log(world, tmp_path) -> Path:
    """A private copy of the good log, to damage."""
    dest = tmp_path / "log"
    shutil.copytree(world.log, dest, ignore=shutil.ignore_patterns("lock"))
    return dest


# -- helpers ---------------------------------------------------------------------------


_COMMAND: list = []


def cli(*args: object):
    """``spyproof ARGS`` in-process. Typer rebuilds its whole click tree on every invoke
    (~80 ms); the tree is built once here and reused."""
    if not _COMMAND:
        _COMMAND.append(typer.main.get_command(app))
    with mock.patch("typer.testing._get_command", lambda _app: _COMMAND[0]):
        return RUNNER.invoke(app, [str(a) for a in args])


def ok(result) -> None:
    assert result.exit_code == 0, (result.exit_code, result.output)


def refused(result, code: int, *needles: str) -> str:
    """Exit ``code``, no exception, nothing on stdout, one line on stderr holding every
    needle (case-insensitive). Returns the line."""
    assert result.exception is None or isinstance(result.exception, SystemExit), \
        f"exception escaped: {result.exception!r}\n{result.output}"
    assert "Traceback" not in result.output
    assert result.exit_code == code, (result.exit_code, result.output)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, f"want one line on stderr, got: {result.stderr!r}"
    assert result.stdout == "", result.stdout
    line = lines[0]
    for needle in needles:
        assert needle.lower() in line.lower(), f"{needle!r} not in {line!r}"
    return line


def snapshot(path: Path) -> dict[str, bytes | None]:
    """Every file's bytes and every directory's name, the lock file excepted."""
    if path.is_file():
        return {"": path.read_bytes()}
    if not path.exists():
        return {}
    return {p.relative_to(path).as_posix(): (p.read_bytes() if p.is_file() else None)
            for p in sorted(path.rglob("*"))
            if p.relative_to(path).as_posix() != ".spyproof-log/lock"}


def forge(note: bytes, byte: int = 10, bit: int = 0) -> bytes:
    """Flip one bit of the (first) signature, after its 4-byte key ID."""
    text = note.decode()
    body, _, sigs = text.rpartition("\n\n")
    first, *rest = sigs.rstrip("\n").split("\n")
    dash, name, b64 = first.split(" ")
    raw = bytearray(base64.b64decode(b64))
    raw[4 + byte] ^= 1 << bit
    line = " ".join([dash, name, base64.b64encode(bytes(raw)).decode()])
    return (body + "\n\n" + "\n".join([line, *rest]) + "\n").encode()


def proof_with_checkpoint(proof: bytes, checkpoint: bytes) -> bytes:
    head, _, _ = proof.partition(b"\n\n")
    return head + b"\n\n" + checkpoint


# -- forged signature ------------------------------------------------------------------


def test_forged_checkpoint_signature(world, log, tmp_path):
    cp = log / "checkpoint"
    cp.write_bytes(forge(cp.read_bytes()))
    before = snapshot(log)
    state = tmp_path / "state.json"

    refused(cli("log", "verify", log, "--key", world.log_vkey, "--state", state), 1,
            str(log), "does not verify")
    assert not state.exists()  # nothing remembered from a forged checkpoint
    refused(cli("log", "add", log, world.dir / "stmt", "--raw"), 2, str(log),
            "checkpoint unusable", "does not verify")
    refused(cli("witness", "cosign", log, "--key", world.w_key, "--state", state,
                "--log-key", world.log_vkey), 1, "refused", "does not verify")
    assert not state.exists()
    refused(cli("verify", world.dir / "fw.bin", "--log", log, "--trust",
                world.dir / "policy.trust", "--state", state), 1, "NOT VERIFIED",
            "does not verify")
    assert snapshot(log) == before

    # A proof whose checkpoint carries the forged signature.
    proof = tmp_path / "forged.proof"
    proof.write_bytes(proof_with_checkpoint((world.dir / "e5.proof").read_bytes(),
                                            cp.read_bytes()))
    refused(cli("log", "verify-proof", world.dir / "e5", proof, "--key", world.log_vkey), 1,
            str(proof), "INVALID", "does not verify")
    refused(cli("log", "verify-proof", world.dir / "e5", proof, "--trust",
                world.dir / "policy.trust"), 1, "INVALID")

    # Library: typed errors, nothing written.
    verifier = parse_verifier_key(world.vkey)
    with pytest.raises(LogTrustError, match="does not verify"):
        open_log(str(log), [verifier], None, None)
    with pytest.raises(LogError, match="does not verify"):
        LogWriter(log, world.signer)
    witness = parse_signer_key((world.w_key).read_text().strip())
    with pytest.raises(LogTrustError):
        cosign(str(log), witness, StateFile(state), verifier)
    result = verify_proof(entry(5), parse_proof(proof.read_bytes()), log_keys=[verifier])
    assert not result.valid and "does not verify" in result.reason
    assert snapshot(log) == before and not state.exists()


@pytest.mark.parametrize("where", ["key-id", "first-byte", "last-byte"])
def test_any_flipped_signature_bit_is_caught(world, log, where):
    cp = log / "checkpoint"
    byte, bit = {"key-id": (-4, 3), "first-byte": (0, 7), "last-byte": (63, 0)}[where]
    cp.write_bytes(forge(cp.read_bytes(), byte, bit))
    before = snapshot(log)
    # A flipped key ID makes the signature unknown rather than bad: still exit 1.
    refused(cli("log", "verify", log, "--key", world.log_vkey, "--no-state"), 1, str(log))
    refused(cli("log", "add", log, world.dir / "stmt", "--raw"), 2, str(log))
    assert snapshot(log) == before


# -- wrong key -------------------------------------------------------------------------


def test_wrong_key(world, log, tmp_path):
    before = snapshot(log)
    state = tmp_path / "state.json"
    refused(cli("log", "verify", log, "--key", world.other_vkey, "--state", state), 1,
            str(log), "no signature by a known key")
    assert not state.exists()
    refused(cli("log", "add", log, world.dir / "stmt", "--raw", "--key", world.other_key),
            2, str(log), "not this log's key")
    refused(cli("log", "add", log, world.dir / "stmt", "--raw", "--key", world.w_key), 2,
            "--key", "ed25519")
    refused(cli("log", "add", log, world.dir / "stmt", "--raw", "--key",
                "PRIVATE+KEY+bad.example/log+00000000+AAAA"), 2, "--key")
    refused(cli("log", "verify-proof", world.dir / "e5", world.dir / "e5.proof", "--key",
                world.other_vkey), 1, "e5.proof", "INVALID")
    refused(cli("log", "verify-proof", world.dir / "e5", world.dir / "e5.proof", "--key",
                world.b_vkey), 1, "INVALID")
    refused(cli("witness", "cosign", log, "--key", world.w_key, "--state", state,
                "--log-key", world.other_vkey), 1, "refused")
    refused(cli("witness", "cosign", log, "--key", world.w_key, "--state", state,
                "--log-key", world.b_vkey), 1, "refused")
    assert not state.exists()
    assert snapshot(log) == before

    other = parse_verifier_key(world.other_vkey.read_text().strip())
    with pytest.raises(LogTrustError):
        open_log(str(log), [other], None, None)
    with pytest.raises(LogError, match="not this log's key"):
        LogWriter(log, parse_signer_key(world.other_key.read_text().strip()))
    proof = parse_proof((world.dir / "e5.proof").read_bytes())
    assert not verify_proof(entry(5), proof, log_keys=[other]).valid
    assert snapshot(log) == before


# -- truncated tile --------------------------------------------------------------------

# (damaged file, an entry whose inclusion proof needs that file, or None)
TRUNCATED = {
    "tile/0/001.p/44": 5,  # right edge, level 0
    "tile/1/000.p/1": 260,  # right edge, level 1
    "tile/0/000": 5,  # complete tile
    "tile/entries/001.p/44": None,  # right-edge entry bundle (proofs use hashes only)
    "tile/entries/000": None,  # complete entry bundle
}


def _truncate(path: Path, cut: int = 5) -> None:
    path.write_bytes(path.read_bytes()[:-cut])


@pytest.mark.parametrize("rel", list(TRUNCATED))
def test_truncated_tile_verify_and_prove(world, log, tmp_path, rel):
    _truncate(log / rel)
    before = snapshot(log)
    refused(cli("log", "verify", log, "--key", world.log_vkey, "--no-state"), 1, str(log),
            "damaged log", rel)
    with pytest.raises(LogFormatError, match=rel):
        check_log(log)
    needs = TRUNCATED[rel]
    if needs is not None:
        out = tmp_path / "p.proof"
        refused(cli("log", "prove", log, world.dir / f"e{needs}", "-o", out), 2, str(log),
                rel)
        refused(cli("log", "prove", log, world.dir / f"e{needs}", "-o", out, "--index",
                    needs), 2, rel)
        assert not out.exists()
        with pytest.raises(LogFormatError):
            make_proof(directory_fetcher(log), entry(needs))
    assert snapshot(log) == before


@pytest.mark.parametrize("rel", ["tile/0/001.p/44", "tile/1/000.p/1",
                                 "tile/entries/001.p/44"])
def test_truncated_tile_add_refuses(world, log, rel):
    _truncate(log / rel)
    before = snapshot(log)
    refused(cli("log", "add", log, world.dir / "stmt", "--raw"), 2, str(log), rel)
    assert snapshot(log) == before


def test_truncated_complete_tile_add_refuses_naming_the_log(world, log):
    """Regression test for a fixed defect.
    ``log add`` on a log whose complete tile ``tile/0/000`` is
    truncated is refused (exit 2, log unchanged: the duplicate search trips on the tile),
    but the message is "log add: tile/0/000: 8187 bytes, expected 8192 (256 hashes)": it
    does not name the log directory, unlike every other ``log add`` error (the
    ``LogFormatError`` from ``find_leaf`` is not prefixed with the directory)."""
    _truncate(log / "tile/0/000")
    before = snapshot(log)
    result = cli("log", "add", log, world.dir / "stmt", "--raw")
    assert result.exit_code == 2 and snapshot(log) == before  # the part that works
    refused(result, 2, "tile/0/000", str(log))


@pytest.mark.parametrize("rel", ["tile/0/001.p/44", "tile/1/000.p/1",
                                 "tile/entries/001.p/44"])
def test_truncated_right_edge_library_refuses(world, log, rel):
    _truncate(log / rel)
    before = snapshot(log)
    with pytest.raises(LogError, match=rel):
        LogWriter(log, world.signer)
    assert snapshot(log) == before


def test_truncated_complete_tile_add_refuses_even_with_allow_duplicate(world, log):
    """Regression test for a fixed defect.
    ``LogWriter`` only reads the right-edge tiles when it opens a log, so a
    truncated *complete* hash tile (``tile/0/000`` of a 300-entry log) goes unnoticed:
    ``log add --allow-duplicate`` (which skips the duplicate search that happens to read
    every level-0 tile) appends and signs a new checkpoint over the damaged log, and so does
    ``LogWriter(root, signer).append(...)``. Expected: refuse (exit 2), log unchanged."""
    _truncate(log / "tile/0/000")
    before = snapshot(log)
    refused(cli("log", "add", log, world.dir / "stmt", "--raw", "--allow-duplicate"), 2,
            "tile/0/000")
    assert snapshot(log) == before
    with pytest.raises(LogError, match="tile/0/000"), \
            LogWriter(log, world.signer, check_all=True) as writer:
        writer.append([b"library append"])
    assert snapshot(log) == before


def test_truncated_complete_entry_bundle_add_refuses(world, log):
    """Regression test for a fixed defect.
    a truncated *complete* entry bundle (``tile/entries/000`` of a 300-entry
    log) is not read when the writer opens the log, nor by the duplicate search (which reads
    hash tiles only): ``log add`` exits 0, appends entry 300 and signs a checkpoint for size
    301 over a log that ``log verify`` calls damaged. Expected: refuse (exit 2), log
    unchanged."""
    _truncate(log / "tile/entries/000")
    before = snapshot(log)
    refused(cli("log", "add", log, world.dir / "stmt", "--raw"), 2, "tile/entries/000")
    assert snapshot(log) == before


# -- checkpoint with a wrong size --------------------------------------------------------


@pytest.mark.parametrize("delta", [+1, -1])
def test_checkpoint_with_a_wrong_size_and_no_tiles_for_it(world, log, delta):
    cp, _ = read_checkpoint(directory_fetcher(log))
    (log / "checkpoint").write_bytes(
        signed_checkpoint(ORIGIN, cp.size + delta, cp.root_hash, world.signer))
    before = snapshot(log)
    refused(cli("log", "verify", log, "--key", world.log_vkey, "--no-state"), 1, str(log),
            "damaged log")
    refused(cli("log", "add", log, world.dir / "stmt", "--raw"), 2, str(log))
    with pytest.raises(LogFormatError):
        check_log(log)
    with pytest.raises(LogError):
        LogWriter(log, world.signer)
    assert snapshot(log) == before


@pytest.fixture
def grown(world, tmp_path) -> Path:
    """A log grown 299 -> 300, so the tiles of both sizes exist, whose checkpoint claims
    size 299 with the root of size 300 (validly signed with the log's own key)."""
    root = tmp_path / "grown"
    _build(root, world.signer, world.log_key, [299, 1])
    cp, _ = read_checkpoint(directory_fetcher(root))
    (root / "checkpoint").write_bytes(signed_checkpoint(ORIGIN, 299, cp.root_hash,
                                                        world.signer))
    return root


def test_checkpoint_with_a_wrong_size_whose_tiles_exist(world, grown, tmp_path):
    before = snapshot(grown)
    refused(cli("log", "verify", grown, "--key", world.log_vkey, "--no-state"), 1,
            str(grown), "damaged log", "differs from checkpoint root")
    refused(cli("log", "add", grown, world.dir / "stmt", "--raw"), 2, str(grown),
            "differs from the signed checkpoint")
    with pytest.raises(LogFormatError, match="differs"):
        check_log(grown)
    with pytest.raises(LogError, match="refusing to append"):
        LogWriter(grown, world.signer)
    assert snapshot(grown) == before


def test_prove_does_not_issue_a_proof_against_a_checkpoint_its_tiles_contradict(
        world, grown, tmp_path):
    """Regression test for a fixed defect.
    ``log prove`` builds the inclusion proof from the tiles and attaches the
    checkpoint without checking that the proof leads to the checkpoint's root. On a log
    whose checkpoint is for a wrong size it exits 0 ("p.proof: entry 5, 9 proof hashes")
    and writes a proof that ``log verify-proof`` then calls INVALID. Expected: no clear
    success for a damaged log (exit 1 or 2, one line, no proof written)."""
    out = tmp_path / "p.proof"
    result = cli("log", "prove", grown, world.dir / "e5", "-o", out)
    if out.exists():  # show what the proof is worth
        check = cli("log", "verify-proof", world.dir / "e5", out, "--key", world.log_vkey)
        assert check.exit_code == 1
    assert result.exit_code in (1, 2), (result.exit_code, result.output)
    refused(result, result.exit_code, str(grown))
    assert not out.exists()


# -- proof for another tree ------------------------------------------------------------


def test_proof_for_another_tree(world, tmp_path):
    e5, good = world.dir / "e5", (world.dir / "e5.proof").read_bytes()
    ok(cli("log", "verify-proof", e5, world.dir / "e5.proof", "--key", world.log_vkey))

    # Made in log A, checked with log B's key or origin.
    refused(cli("log", "verify-proof", e5, world.dir / "e5.proof", "--key", world.b_vkey), 1,
            "INVALID")
    refused(cli("log", "verify-proof", e5, world.dir / "e5.proof", "--key", world.log_vkey,
                "--origin", ORIGIN_B), 1, "INVALID", ORIGIN_B)

    # The checkpoint of another size of the same log spliced in (signature valid).
    for size in (3, 5):
        spliced = tmp_path / f"size{size}.proof"
        spliced.write_bytes(proof_with_checkpoint(good, world.checkpoints[size]))
        refused(cli("log", "verify-proof", e5, spliced, "--key", world.log_vkey), 1,
                str(spliced), "INVALID", "inclusion proof")
        proof = parse_proof(spliced.read_bytes())
        result = verify_proof(entry(5), proof,
                              log_keys=[parse_verifier_key(world.vkey)])
        assert not result.valid and "inclusion proof" in result.reason

    # Log B's checkpoint (same size, other entries) spliced in, checked with B's key.
    b_note = (world.log_b / "checkpoint").read_bytes()
    spliced = tmp_path / "b.proof"
    spliced.write_bytes(proof_with_checkpoint(good, b_note))
    refused(cli("log", "verify-proof", e5, spliced, "--key", world.b_vkey), 1, "INVALID",
            "inclusion proof")

    # The right proof for another entry.
    refused(cli("log", "verify-proof", world.dir / "e260", world.dir / "e5.proof", "--key",
                world.log_vkey), 1, "INVALID")

    # A different index in an otherwise good proof.
    moved = tmp_path / "moved.proof"
    moved.write_bytes(good.replace(b"index 5\n", b"index 4\n"))
    refused(cli("log", "verify-proof", e5, moved, "--key", world.log_vkey), 1, "INVALID")


# -- entry over 64 KiB -----------------------------------------------------------------


def test_entry_over_64_kib(world, log, tmp_path):
    big, limit = tmp_path / "big", tmp_path / "limit"
    big.write_bytes(b"a" * 65_536)
    limit.write_bytes(b"b" * 65_535)
    before = snapshot(log)
    refused(cli("log", "add", log, big, "--raw"), 2, str(big), "65,536 bytes")
    refused(cli("log", "add", log, world.dir / "stmt", big, "--raw"), 2, str(big))
    refused(cli("log", "add", log, world.dir / "stmt"), 2, "stmt", "not a DSSE envelope")
    refused(cli("log", "add", log, tmp_path / "missing", "--raw"), 2, "missing")
    assert snapshot(log) == before

    with LogWriter(log, world.signer) as writer:
        with pytest.raises(LogError, match="65,536 bytes"):
            writer.append([b"a" * 65_536])
        with pytest.raises(LogError, match="entry 1 "):
            writer.append([b"fine", b"a" * 70_000])  # all or nothing
    assert snapshot(log) == before

    ok(cli("log", "add", log, limit, "--raw"))
    ok(cli("log", "verify", log, "--key", world.log_vkey, "--no-state"))
    got: dict[int, bytes] = {}
    result = check_log(log, on_entry=lambda i, e: got.__setitem__(i, e))
    assert result.entries == 301 and got[300] == b"b" * 65_535


# -- a log directory that is not a log -----------------------------------------------------


def _not_a_log(kind: str, tmp_path: Path) -> Path:
    where = tmp_path / f"not-a-log-{kind}"
    if kind == "empty-dir":
        where.mkdir()
    elif kind == "random-files":
        (where / "sub").mkdir(parents=True)
        (where / "notes.txt").write_text("hello\n")
        (where / "sub" / "blob").write_bytes(bytes(range(256)))
    elif kind == "file":
        where.write_bytes(b"just a file\n")
    elif kind == "config-only":  # a log whose public part is gone
        (where / ".spyproof-log").mkdir(parents=True)
        (where / ".spyproof-log" / "config.json").write_text("{not json")
    return where


NOT_A_LOG = ["empty-dir", "random-files", "file", "nonexistent", "config-only"]
VERBS = ["verify", "add", "add-key", "prove", "cosign", "verify-image"]


def _verb(verb: str, where: Path, world: World, tmp_path: Path):
    d = world.dir
    state = tmp_path / "state.json"
    return {
        "verify": lambda: cli("log", "verify", where, "--key", world.log_vkey, "--state",
                              state),
        "add": lambda: cli("log", "add", where, d / "stmt", "--raw"),
        "add-key": lambda: cli("log", "add", where, d / "stmt", "--raw", "--key",
                               world.log_key),
        "prove": lambda: cli("log", "prove", where, d / "e5", "-o", tmp_path / "p.proof"),
        "cosign": lambda: cli("witness", "cosign", where, "--key", world.w_key, "--state",
                              state, "--log-key", world.log_vkey),
        "verify-image": lambda: cli("verify", d / "fw.bin", "--log", where, "--trust",
                                    d / "policy.trust", "--state", state),
    }[verb]()


@pytest.mark.parametrize("verb", VERBS)
@pytest.mark.parametrize("kind", NOT_A_LOG)
def test_not_a_log(world, tmp_path, kind, verb):
    where = _not_a_log(kind, tmp_path)
    before = snapshot(where)
    result = _verb(verb, where, world, tmp_path)
    refused(result, 2, str(where))
    assert snapshot(where) == before and where.exists() == (kind != "nonexistent")
    assert not (tmp_path / "state.json").exists() and not (tmp_path / "p.proof").exists()


@pytest.mark.parametrize("kind", ["random-files", "file", "config-only"])
def test_init_refuses_what_it_cannot_own(world, tmp_path, kind):
    where = _not_a_log(kind, tmp_path)
    before = snapshot(where)
    refused(cli("log", "init", where, "--origin", ORIGIN, "--key", world.log_key), 2,
            str(where))
    assert snapshot(where) == before


@pytest.mark.parametrize("content", [b"\xff\xfe random bytes\x00", b"", b"hello\n",
                                     b"hello\n\nworld\n"])
def test_checkpoint_file_that_is_not_a_checkpoint(world, tmp_path, content):
    where = tmp_path / "junk"
    where.mkdir()
    (where / "checkpoint").write_bytes(content)
    before = snapshot(where)
    state = tmp_path / "state.json"
    refused(cli("log", "verify", where, "--key", world.log_vkey, "--state", state), 1,
            str(where), "checkpoint")
    refused(cli("log", "add", where, world.dir / "stmt", "--raw", "--key", world.log_key),
            2, str(where))
    refused(cli("log", "prove", where, world.dir / "e5", "-o", tmp_path / "p"), 2,
            str(where), "checkpoint")
    refused(cli("verify", world.dir / "fw.bin", "--log", where, "--trust",
                world.dir / "policy.trust", "--state", state), 1, str(where))
    with pytest.raises(LogFormatError):
        check_log(where)
    assert snapshot(where) == before and not state.exists()


@pytest.mark.parametrize("content", [b"\xff\xfe random bytes\x00", b"", b"hello\n",
                                     b"hello\n\nworld\n"])
def test_witness_on_a_checkpoint_file_that_is_not_a_checkpoint(world, tmp_path, content):
    """Regression test for a fixed defect.
    ``witness.cosign`` calls ``parse_note`` on the checkpoint before
    ``verify_checkpoint_note``; the ``MalformedNote`` it raises is neither a
    ``LogTrustError`` nor a ``LogFormatError``, so ``spyproof witness cosign DIR`` on a
    directory whose ``checkpoint`` is not a signed note ends in "internal error ... this is
    a bug" with a traceback (exit 3). Expected: exit 1 (or 2), one line."""
    where = tmp_path / "junk"
    where.mkdir()
    (where / "checkpoint").write_bytes(content)
    before = snapshot(where)
    state = tmp_path / "state.json"
    result = cli("witness", "cosign", where, "--key", world.w_key, "--state", state,
                 "--log-key", world.log_vkey)
    assert result.exit_code in (1, 2), (result.exit_code, result.exception, result.output)
    refused(result, result.exit_code, str(where))
    assert snapshot(where) == before and not state.exists()


# -- malformed .tlog-proof files -----------------------------------------------------------


def _malformed_proofs(good: bytes) -> dict[str, bytes]:
    head, _, checkpoint = good.partition(b"\n\n")
    lines = head.split(b"\n")
    hash_line = lines[2]
    return {
        "wrong-header": b"c2sp.org/tlog-proof@v2\n" + good.split(b"\n", 1)[1],
        "bad-base64": good.replace(hash_line, b"!!not*base64!!"),
        "non-canonical-base64": good.replace(hash_line, hash_line[:-2] + b"B="),
        "index-01": good.replace(b"index 5\n", b"index 05\n"),
        "index-negative": good.replace(b"index 5\n", b"index -5\n"),
        "index-missing": good.replace(b"index 5\n", b""),
        "65-hashes": b"\n".join(lines[:2] + [hash_line] * 65) + b"\n\n" + checkpoint,
        "31-byte-hash": good.replace(hash_line, base64.b64encode(b"\x00" * 31)),
        "missing-blank-line": head + b"\n" + checkpoint,
        "non-utf8-header": b"\xff" + good,
        "non-utf8-checkpoint": head + b"\n\n" + checkpoint.replace(b"\n\n", b"\n\xc3\x28\n"),
        "empty": b"",
        "garbage-checkpoint": head + b"\n\nhello\n",
        "index-beyond-size": good.replace(b"index 5\n", b"index 300\n"),
        "index-huge": good.replace(b"index 5\n", b"index 99999999999999999999\n"),
        "truncated-proof": b"\n".join(lines[:-1]) + b"\n\n" + checkpoint,
    }


MALFORMED = list(_malformed_proofs(b"c2sp.org/tlog-proof@v1\nindex 5\nAAAA\n\nx").keys())


@pytest.mark.parametrize("case", MALFORMED)
def test_malformed_proof_file(world, tmp_path, case):
    good = (world.dir / "e5.proof").read_bytes()
    data = _malformed_proofs(good)[case]
    assert data != good
    proof = tmp_path / f"{case}.tlog-proof"
    proof.write_bytes(data)
    refused(cli("log", "verify-proof", world.dir / "e5", proof, "--key", world.log_vkey), 1,
            str(proof))
    refused(cli("log", "verify-proof", world.dir / "e5", proof, "--trust",
                world.dir / "policy.trust"), 1, str(proof))
    # Library: a format error, or a parsed proof that verify_proof calls invalid.
    try:
        parsed = parse_proof(data)
    except ProofFormatError:
        return
    result = verify_proof(entry(5), parsed, log_keys=[parse_verifier_key(world.vkey)])
    assert not result.valid and result.reason


def test_unreadable_proof_or_entry(world, tmp_path):
    refused(cli("log", "verify-proof", world.dir / "e5", tmp_path / "nope.proof", "--key",
                world.log_vkey), 2, "nope.proof")
    refused(cli("log", "verify-proof", tmp_path / "nope", world.dir / "e5.proof", "--key",
                world.log_vkey), 2, "nope")
    refused(cli("log", "verify-proof", world.dir / "e5", tmp_path, "--key", world.log_vkey),
            2, str(tmp_path))


# -- rollback and fork through the state file ----------------------------------------------


@pytest.fixture
def history(world, tmp_path) -> dict[str, Path]:
    """Logs of one origin and key: the true one at sizes 3, 5 and 7, and two forks built
    from other entries (size 5 and size 7)."""
    logs = {}
    for name, sizes, make in [("at3", [3], entry), ("at5", [3, 2], entry),
                              ("at7", [3, 2, 2], entry),
                              ("fork5", [5], lambda i: b"forked %d" % i),
                              ("fork7", [7], lambda i: b"forked %d" % i)]:
        logs[name] = tmp_path / name
        _build(logs[name], world.signer, world.log_key, sizes, make)
    return logs


def _serve(src: Path, dest: Path) -> Path:
    """The log at ``dest`` now shows what ``src`` holds (a server swapping its files)."""
    if dest.exists():
        shutil.rmtree(dest)
    shutil.copytree(src, dest, ignore=shutil.ignore_patterns("lock"))
    return dest


@pytest.mark.parametrize(("shown", "word"), [("at3", "ROLLBACK"), ("fork5", "FORK"),
                                             ("fork7", "FORK")])
def test_rollback_and_fork_are_refused_and_the_state_is_kept(world, history, tmp_path,
                                                             shown, word):
    served = tmp_path / "served"
    state = tmp_path / "state.json"
    ok(cli("log", "verify", _serve(history["at5"], served), "--key", world.log_vkey,
           "--state", state))
    remembered = state.read_bytes()
    _serve(history[shown], served)
    before = snapshot(served)
    refused(cli("log", "verify", served, "--key", world.log_vkey, "--state", state), 1,
            str(served), word)
    assert state.read_bytes() == remembered and snapshot(served) == before

    # A witness that cosigned size 5 refuses the same way and keeps its state.
    wstate = tmp_path / "witness.json"
    ok(cli("witness", "cosign", _serve(history["at5"], served), "--key", world.w_key,
           "--state", wstate, "--log-key", world.log_vkey))
    witnessed = wstate.read_bytes()
    _serve(history[shown], served)
    before = snapshot(served)
    refused(cli("witness", "cosign", served, "--key", world.w_key, "--state", wstate), 1,
            "refused", word)
    assert wstate.read_bytes() == witnessed and snapshot(served) == before

    # Library: the typed errors, and nothing saved.
    verifier = parse_verifier_key(world.vkey)
    error = RollbackError if word == "ROLLBACK" else ForkError
    with pytest.raises(error, match=word):
        verify_whole_log(str(served), [verifier], None, StateFile(state))
    assert state.read_bytes() == remembered

    # The honest log moving on is accepted and remembered.
    ok(cli("log", "verify", _serve(history["at7"], served), "--key", world.log_vkey,
           "--state", state))
    assert state.read_bytes() != remembered


def test_unreadable_state_file_is_a_usage_error(world, log, tmp_path):
    state = tmp_path / "state.json"
    state.write_text("{not json")
    refused(cli("log", "verify", log, "--key", world.log_vkey, "--state", state), 2,
            str(state))
    assert state.read_text() == "{not json"


# -- malformed trust policy -------------------------------------------------------------


def _policies(vkey: str) -> dict[str, bytes]:
    return {
        "garbage": b"hello world\n",
        "non-utf8": b"\xff\xfe log\n",
        "bad-log-key": b"log bad.example/log+zz+AAAA\nquorum none\n",
        "cosignature-key-as-log-key": b"",  # filled in by the test
        "no-quorum": f"log {vkey}\n".encode(),
        "two-quorums": f"log {vkey}\nquorum none\nquorum none\n".encode(),
        "control-byte": f"log {vkey}\x01\nquorum none\n".encode(),
        "bad-vendor-line": f"log {vkey}\nquorum none\nvendor a b\n".encode(),
        "undefined-quorum-name": f"log {vkey}\nquorum nobody\n".encode(),
        "empty": b"",
    }


POLICIES = list(_policies("k"))


@pytest.mark.parametrize("case", POLICIES + ["directory", "missing"])
def test_malformed_trust_policy(world, log, tmp_path, case):
    if case == "directory":
        policy = tmp_path / "dir.trust"
        policy.mkdir()
    elif case == "missing":
        policy = tmp_path / "missing.trust"
    else:
        text = _policies(world.vkey)[case]
        if case == "cosignature-key-as-log-key":
            text = f"log {world.w_vkey.read_text().strip()}\nquorum none\n".encode()
        policy = tmp_path / f"{case}.trust"
        policy.write_bytes(text)
        if case != "non-utf8":
            with pytest.raises(TrustFileError):
                parse_trust(text.decode())
    before = snapshot(log)
    state = tmp_path / "state.json"
    refused(cli("log", "verify-proof", world.dir / "e5", world.dir / "e5.proof", "--trust",
                policy), 2, str(policy))
    refused(cli("log", "verify", log, "--trust", policy, "--state", state), 2, str(policy))
    refused(cli("verify", world.dir / "fw.bin", "--log", log, "--trust", policy, "--state",
                state), 2, str(policy))
    assert snapshot(log) == before and not state.exists()


def test_the_good_log_is_fine(world, tmp_path):
    """Control: everything above fails for the reason it names, not because the fixtures
    are broken."""
    state = tmp_path / "state.json"
    ok(cli("log", "verify", world.log, "--key", world.log_vkey, "--state", state))
    ok(cli("log", "verify", world.log, "--trust", world.dir / "policy.trust", "--no-state"))
    ok(cli("log", "verify-proof", world.dir / "e5", world.dir / "e5.proof", "--trust",
           world.dir / "policy.trust"))
    result = check_log(world.log)
    assert result.entries == 300
    assert result.checkpoint.root_hash == merkle.root_from_entries(entry(i)
                                                                   for i in range(300))
