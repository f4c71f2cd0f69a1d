"""C2SP tlog-tiles paths, reading the tessera sample log, writing tiles, bad input;
and C2SP checkpoint bodies."""

from __future__ import annotations

import base64
import json
import shutil
from pathlib import Path

import pytest

from spyproof.provenance import merkle, tiles
from spyproof.provenance.checkpoint import (
    Checkpoint,
    CheckpointError,
    parse_checkpoint_body,
    read_checkpoint_note,
    split_note,
)

DATA = Path(__file__).parent / "data" / "provenance" / "tlog-tiles"
LOG = DATA / "log"
KEYS = json.loads((DATA / "keys.json").read_text())
ENTRIES = [e.encode() for e in KEYS["entries_in_order"]]


@pytest.fixture
def log_copy(tmp_path):
    dest = tmp_path / "log"
    shutil.copytree(LOG, dest)
    return dest


def _checkpoint(size: int) -> Checkpoint:
    return read_checkpoint_note((LOG / f"checkpoint.{size}").read_bytes())[0]


# -- paths ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("n", "encoded"),
    [(0, "000"), (7, "007"), (999, "999"), (1000, "x001/000"), (1234067, "x001/x234/067")],
)
def test_encode_index(n, encoded):
    assert tiles.encode_index(n) == encoded


def test_paths_from_spec():
    assert tiles.tile_path(0, 1234067) == "tile/0/x001/x234/067"
    assert tiles.tile_path(1, 1234067, 5) == "tile/1/x001/x234/067.p/5"
    assert tiles.tile_path(0, 0, 15) == "tile/0/000.p/15"
    assert tiles.entries_path(1234067) == "tile/entries/x001/x234/067"
    assert tiles.entries_path(0, 15) == "tile/entries/000.p/15"
    for bad in (0, 257):
        with pytest.raises(ValueError):
            tiles.tile_path(0, 0, bad)
    with pytest.raises(ValueError):
        tiles.tile_path(64, 0)
    with pytest.raises(ValueError):
        tiles.encode_index(-1)


def test_tile_width():
    assert tiles.tile_width(0, 0, 15) == 15
    assert tiles.tile_width(0, 0, 256) == 256
    assert tiles.tile_width(0, 1, 300) == 44
    assert tiles.tile_width(1, 0, 300) == 1
    assert tiles.tile_width(1, 0, 255) == 0
    assert tiles.tile_width(0, 2, 300) == 0


# -- the tessera sample log ----------------------------------------------------------


def test_read_tessera_log():
    seen = []
    result = tiles.check_log(LOG, on_entry=lambda i, e: seen.append((i, e)))
    assert result.checkpoint.origin == KEYS["origin"] == "example.com/log/testdata"
    assert result.checkpoint.size == 15 == result.entries
    assert result.tiles == 1
    assert seen == list(enumerate(ENTRIES))
    assert len(result.signature_lines) == 1
    assert result.signature_lines[0].startswith("\u2014 example.com/log/testdata ")
    assert result.checkpoint.root_hash == merkle.root_from_entries(ENTRIES)


@pytest.mark.parametrize("size", range(16))
def test_every_tessera_checkpoint(size):
    checkpoint = _checkpoint(size)
    assert checkpoint.size == size
    assert checkpoint.root_hash == merkle.root_from_entries(ENTRIES[:size])
    reader = tiles.TileReader(tiles.directory_fetcher(LOG), size)
    assert reader.root() == checkpoint.root_hash
    assert list(reader.entries()) == ENTRIES[:size]
    for index in range(size):
        proof = merkle.inclusion_proof(index, size, reader.get)
        merkle.verify_inclusion(
            index, size, merkle.leaf_hash(ENTRIES[index]), proof, checkpoint.root_hash
        )
    for old in range(1, size):
        proof = merkle.consistency_proof(old, size, reader.get)
        merkle.verify_consistency(
            old, size, _checkpoint(old).root_hash, checkpoint.root_hash, proof
        )


def test_checkpoint_roundtrip_is_byte_exact():
    for size in range(16):
        text = (LOG / f"checkpoint.{size}").read_text()
        note = split_note(text)
        assert parse_checkpoint_body(note.body).body() == note.body
        assert note.body + "\n" + "".join(s + "\n" for s in note.signature_lines) == text


# -- writing -------------------------------------------------------------------------


def _files(root: Path) -> dict[str, bytes]:
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in (root / "tile").rglob("*")
        if p.is_file()
    }


def test_writer_reproduces_tessera_layout(tmp_path):
    store = merkle.MemoryHashStore()
    for entry in ENTRIES:
        old = store.size
        store.append_entry(entry)
        tiles.write_tiles(tmp_path, store.get, old, store.size)
        tiles.write_entry_bundles(tmp_path, ENTRIES.__getitem__, old, store.size)
    ours, theirs = _files(tmp_path), _files(LOG)
    assert sorted(ours) == sorted(theirs)
    assert ours == theirs


def _write_log(root: Path, entries: list[bytes], steps: list[int]) -> merkle.MemoryHashStore:
    store = merkle.MemoryHashStore()
    for target in steps:
        old = store.size
        while store.size < target:
            store.append_entry(entries[store.size])
        tiles.write_tiles(root, store.get, old, store.size)
        tiles.write_entry_bundles(root, entries.__getitem__, old, store.size)
    body = Checkpoint("test.example/log", store.size, store.root()).body()
    (root / "checkpoint").write_text(body + "\n\u2014 test.example/log AAAA\n")
    return store


def test_multi_level_log_and_full_tile_fallback(tmp_path):
    entries = [f"entry {i}".encode() for i in range(600)]
    store = _write_log(tmp_path, entries, [300, 600])
    assert (tmp_path / "tile/0/001.p/44").exists() and (tmp_path / "tile/0/001").exists()
    assert (tmp_path / "tile/1/000.p/2").exists()
    result = tiles.check_log(tmp_path)
    assert result.entries == 600 and result.tiles == 4
    # a reader at size 300 falls back to the full tile when the partial one is gone
    (tmp_path / "tile/0/001.p/44").unlink()
    (tmp_path / "tile/entries/001.p/44").unlink()
    reader = tiles.TileReader(tiles.directory_fetcher(tmp_path), 300)
    assert reader.root() == store.root(300)
    assert list(reader.entries()) == entries[:300]
    proof = merkle.inclusion_proof(
        299, 600, tiles.TileReader(tiles.directory_fetcher(tmp_path), 600).get
    )
    merkle.verify_inclusion(299, 600, merkle.leaf_hash(entries[299]), proof, store.root())


def test_entry_bundle_roundtrip_and_limits():
    entries = [b"", b"x", bytes(range(256)) * 255]
    data = tiles.encode_entry_bundle(entries)
    assert data[:4] == b"\x00\x00\x00\x01"
    assert tiles.parse_entry_bundle(data, 3) == entries
    with pytest.raises(ValueError):
        tiles.encode_entry_bundle([b"x" * 65536])


# -- bad input -----------------------------------------------------------------------


def _corrupt(log: Path, rel: str, data: bytes | None) -> None:
    path = log / rel
    if data is None:
        path.unlink()
    else:
        path.write_bytes(data)


@pytest.mark.parametrize(
    ("rel", "mutate", "message"),
    [
        ("tile/0/000.p/15", lambda d: d[:-1], "479 bytes, expected 480"),
        ("tile/0/000.p/15", lambda d: d[:-32], "expected 480"),
        ("tile/0/000.p/15", lambda d: d + b"\0" * 32, "expected 480"),
        ("tile/0/000.p/15", lambda d: b"", "0 bytes"),
        ("tile/0/000.p/15", lambda d: None, "tile/0/000.p/15: missing"),
        ("tile/0/000.p/15", lambda d: bytes([d[0] ^ 1]) + d[1:], "root from tiles"),
        ("tile/entries/000.p/15", lambda d: None, "missing"),
        ("tile/entries/000.p/15", lambda d: d[:-1], "claims"),
        ("tile/entries/000.p/15", lambda d: d + b"\x00", "truncated length prefix"),
        ("tile/entries/000.p/15", lambda d: d + b"\x00\x00", "holds 16 entries"),
        ("tile/entries/000.p/15", lambda d: b"\xff\xff garbage", "claims 65535"),
        ("tile/entries/000.p/15", lambda d: d.replace(b"nain", b"nine"), "entry 8: leaf hash"),
        ("checkpoint", lambda d: None, "checkpoint: missing"),
        ("checkpoint", lambda d: b"\xff\xfe garbage", "not valid UTF-8"),
        ("checkpoint", lambda d: d.replace(b"\n15\n", b"\n015\n"), "canonical decimal"),
        ("checkpoint", lambda d: d.replace(b"rKbD", b"rKbE"), "differs from checkpoint root"),
        ("checkpoint", lambda d: d.replace(b"\n15\n", b"\n16\n"), "missing"),
    ],
)
def test_bad_log_raises_log_format_error(log_copy, rel, mutate, message):
    _corrupt(log_copy, rel, mutate((log_copy / rel).read_bytes()))
    with pytest.raises(tiles.LogFormatError, match=message) as info:
        tiles.check_log(log_copy)
    assert "\n" not in str(info.value)


def test_inconsistent_upper_tile(tmp_path):
    _write_log(tmp_path, [b"%d" % i for i in range(256)], [256])
    assert tiles.check_log(tmp_path).entries == 256
    (tmp_path / "tile/1/000.p/1").write_bytes(b"\x01" * 32)
    with pytest.raises(tiles.LogFormatError, match="does not match tile 0/0"):
        tiles.check_log(tmp_path)


def test_unsafe_paths_and_garbage_location(tmp_path):
    fetch = tiles.directory_fetcher(tmp_path)
    with pytest.raises(tiles.LogFormatError):
        fetch("../etc/passwd")
    assert fetch("checkpoint") is None
    (tmp_path / "checkpoint").mkdir()
    with pytest.raises(tiles.LogFormatError, match="cannot read"):
        tiles.check_log(tmp_path)
    with pytest.raises(ValueError):
        tiles.http_fetcher("ftp://example.com/log")


# -- checkpoint bodies ---------------------------------------------------------------


def test_checkpoint_body_with_extensions():
    root = bytes(range(32))
    cp = Checkpoint("example.com/origin", 42, root, ("ext one", "ext two"))
    body = cp.body()
    assert body == (
        "example.com/origin\n42\n" + base64.b64encode(root).decode() + "\next one\next two\n"
    )
    assert parse_checkpoint_body(body) == cp


@pytest.mark.parametrize(
    "body",
    [
        "origin\n1\n" + base64.b64encode(bytes(32)).decode(),  # no final newline
        "origin\n1\n",
        "\n1\n" + base64.b64encode(bytes(32)).decode() + "\n",
        "origin\n-1\n" + base64.b64encode(bytes(32)).decode() + "\n",
        "origin\n01\n" + base64.b64encode(bytes(32)).decode() + "\n",
        "origin\n1\n" + base64.b64encode(bytes(31)).decode() + "\n",
        "origin\n1\n" + base64.b64encode(bytes(32)).decode().rstrip("=") + "\n",
        "origin\n1\n" + base64.b64encode(bytes(32)).decode() + "\n\n",
        "origin \n1\n" + base64.b64encode(bytes(32)).decode() + "\n",
        "origin\n1\n" + base64.b64encode(bytes(32)).decode() + "\next\r\n",
    ],
)
def test_bad_checkpoint_bodies(body):
    with pytest.raises(CheckpointError):
        parse_checkpoint_body(body)


def test_split_note_errors():
    with pytest.raises(CheckpointError, match="no blank line"):
        split_note("origin\n1\n")
    with pytest.raises(CheckpointError, match="not a signature line"):
        split_note("origin\n\n- dash AAAA\n")
    with pytest.raises(CheckpointError, match="end with a newline"):
        split_note("origin\n\n\u2014 k AAAA")
