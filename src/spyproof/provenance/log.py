"""A C2SP tlog-tiles transparency log on local disk: create it, append to it, resume it.

Why: evaluation labs need an append-only record that a plain static web server can
publish and anybody can check. The public part of the directory is exactly the
tlog-tiles layout (``checkpoint``, ``tile/<L>/<N>[.p/<W>]``, ``tile/entries/…``); the
only private file is ``.spyproof-log/config.json`` (origin, verifier key, where the
signer key lives: never the key itself) plus a lock file.

Crash safety: one append writes every new entry bundle and hash tile first (each via
write, fsync, rename), fsyncs their directories, and only then replaces ``checkpoint``
(write, fsync, rename, fsync). A crash before the last rename leaves the old checkpoint,
whose tiles were never touched: a grown tile gets a new ``.p/<width>`` path and complete
tiles are never rewritten. Files written beyond the checkpoint's size are simply
overwritten by the next append. Opening a log recomputes the root from its tiles and
refuses to append unless it equals the signed checkpoint's root, so a checkpoint for size
n is only ever followed by one that extends it.
"""

from __future__ import annotations

import fcntl
import json
import os
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass
from hashlib import sha256 as _sha256
from pathlib import Path

from . import merkle
from .checkpoint import Checkpoint
from .keys import ED25519, BadKey, SignerKey, VerifierKey, parse_verifier_key
from .note import NoteError, sign_note, verify_note
from .tiles import (
    CHECKPOINT_PATH,
    MAX_ENTRY_SIZE,
    TILE_HEIGHT,
    TILE_WIDTH,
    LogFormatError,
    TileReader,
    directory_fetcher,
    encode_entry_bundle,
    entries_path,
    fold_tile_hashes,
    read_checkpoint,
    tile_path,
)

PRIVATE_DIR = ".spyproof-log"
CONFIG_NAME = "config.json"
LOCK_NAME = "lock"
CONFIG_FORMAT = "spyproof-log/v1"


class LogError(Exception):
    """The log cannot be created, opened or appended to (one-line message)."""


@dataclass(frozen=True)
class LogConfig:
    origin: str
    vkey: str
    key_file: str | None

    @property
    def verifier(self) -> VerifierKey:
        return parse_verifier_key(self.vkey)


@dataclass(frozen=True)
class Appended:
    """What one append produced: the first new index, the new size, the signed checkpoint."""

    first_index: int
    size: int
    checkpoint: bytes


def _config_path(root: Path) -> Path:
    return root / PRIVATE_DIR / CONFIG_NAME


def read_config(root: Path) -> LogConfig:
    path = _config_path(root)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise LogError(f"{root}: not a spyproof log (no {PRIVATE_DIR}/{CONFIG_NAME}; "
                       "create one with `spyproof log init`)") from None
    except (OSError, ValueError) as exc:
        raise LogError(f"{path}: unreadable log configuration: {exc}") from None
    if not isinstance(data, dict) or data.get("format") != CONFIG_FORMAT:
        raise LogError(f"{path}: not a {CONFIG_FORMAT} configuration")
    try:
        config = LogConfig(str(data["origin"]), str(data["vkey"]), data.get("key_file"))
        config.verifier  # noqa: B018 - parse now, fail early
    except (KeyError, BadKey) as exc:
        raise LogError(f"{path}: bad log configuration: {exc}") from None
    return config


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


_POOL: ThreadPoolExecutor | None = None


def _all_done(function: Callable[..., None], calls: list[tuple]) -> None:
    """Run the calls on a thread pool (fsync releases the GIL); wait for every one and
    re-raise the first failure, so nothing after this runs unless all succeeded."""
    global _POOL  # noqa: PLW0603 - one pool per process, created on first use
    if len(calls) <= 1:
        for args in calls:
            function(*args)
        return
    if _POOL is None:
        _POOL = ThreadPoolExecutor(max_workers=16, thread_name_prefix="spyproof-log-io")
    futures = [_POOL.submit(function, *args) for args in calls]
    wait(futures)
    for future in futures:
        future.result()


def _remove_stale_temporaries(directory: Path) -> None:
    """Temporary files a killed append left behind (never referenced by a checkpoint;
    only the lock holder writes here)."""
    for stale in directory.glob(".*.tmp"):
        stale.unlink(missing_ok=True)


def _write_durable(path: Path, data: bytes) -> None:
    """tmp + fsync + rename into an existing directory; the caller fsyncs the directory
    (once per batch)."""
    from spyproof.atomic import write_bytes_atomic

    write_bytes_atomic(path, data)


def signed_checkpoint(origin: str, size: int, root: bytes, signer: SignerKey) -> bytes:
    return sign_note(Checkpoint(origin, size, root).body(), [signer])


def init_log(root: Path, origin: str, signer: SignerKey, key_file: Path | None) -> bytes:
    """Create an empty log (size 0, signed checkpoint). Refuses a directory that already
    holds a checkpoint or other files; resumes an init that crashed before its checkpoint."""
    if signer.kind != ED25519:
        raise LogError("a log signs its checkpoints with an ed25519 key, not a cosignature key")
    if signer.name != origin:
        # C2SP tlog-checkpoint: the log's key name SHOULD be the origin; verifiers rely on it.
        raise LogError(f"the log key is named {signer.name!r} but the origin is {origin!r}; "
                       "generate the key with the origin as its name")
    Checkpoint(origin, 0, merkle.EMPTY_ROOT)  # validates the origin line
    created = not root.exists()
    root.mkdir(parents=True, exist_ok=True)
    if created:
        _fsync_dir(root.resolve().parent)
    if (root / CHECKPOINT_PATH).exists():
        raise LogError(f"{root}: already a log (it has a checkpoint)")
    stray = sorted(p.name for p in root.iterdir() if p.name != PRIVATE_DIR)
    if stray:
        raise LogError(f"{root}: not empty ({', '.join(stray[:3])}…); a log needs its own "
                       "directory")
    config = {"format": CONFIG_FORMAT, "origin": origin, "vkey": signer.verifier.vkey,
              "key_file": str(key_file.resolve()) if key_file else None}
    if _config_path(root).exists():
        existing = read_config(root)
        if (existing.origin, existing.vkey) != (origin, signer.verifier.vkey):
            raise LogError(f"{root}: holds the configuration of another log "
                           f"({existing.origin})")
    (root / PRIVATE_DIR).mkdir(exist_ok=True)
    _fsync_dir(root)
    _write_durable(_config_path(root),
                   (json.dumps(config, indent=2, sort_keys=True) + "\n").encode())
    _fsync_dir(root / PRIVATE_DIR)
    note = signed_checkpoint(origin, 0, merkle.EMPTY_ROOT, signer)
    _write_durable(root / CHECKPOINT_PATH, note)
    _fsync_dir(root)
    return note


class LogWriter:
    """The single appender of a local log (holds an exclusive lock while open)."""

    def __init__(self, root: Path, signer: SignerKey, *, check_all: bool = False) -> None:
        """``check_all`` re-reads every tile and entry first (O(n), ~4 s per million
        entries) so that no checkpoint is ever signed over damage anywhere in the log;
        without it only the right edge the append builds on is read and checked."""
        self.root = Path(root)
        self._check_all = check_all
        self._known_dirs: set[Path] = set()
        self.config = read_config(self.root)
        if signer.verifier.vkey != self.config.vkey:
            raise LogError(f"{self.root}: the key given is not this log's key "
                           f"({self.config.vkey.split('+')[0]})")
        self._signer = signer
        lock_path = self.root / PRIVATE_DIR / LOCK_NAME
        self._lock = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(self._lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(self._lock)
            raise LogError(f"{self.root}: another process is appending to this log") from None
        try:
            self._load()
        except BaseException:
            self.close()
            raise

    # -- state ------------------------------------------------------------------------

    def _load(self) -> None:
        """Rebuild the right edge from the tiles of the latest signed checkpoint."""
        fetch = directory_fetcher(self.root)
        try:
            checkpoint, _ = read_checkpoint(fetch)
            data = fetch(CHECKPOINT_PATH) or b""
            verify_note(data, [self.config.verifier])
        except (LogFormatError, NoteError) as exc:
            raise LogError(f"{self.root}: latest checkpoint unusable: {exc}") from None
        if checkpoint.origin != self.config.origin:
            raise LogError(f"{self.root}: checkpoint origin {checkpoint.origin!r} is not "
                           f"the configured {self.config.origin!r}")
        size = checkpoint.size
        reader = TileReader(fetch, size)
        try:
            # Partial (right-edge) tile at each tile level, and the partial entry bundle.
            self._edge: list[list[bytes]] = []
            level = 0
            while size >> (TILE_HEIGHT * level):
                count = size >> (TILE_HEIGHT * level)
                width = count % TILE_WIDTH
                self._edge.append(reader.tile(level, count // TILE_WIDTH) if width else [])
                level += 1
            self._bundle = reader.entry_bundle(size // TILE_WIDTH) if size % TILE_WIDTH \
                else []
        except LogFormatError as exc:
            raise LogError(f"{self.root}: tiles do not match checkpoint: {exc}") from None
        if root_from_edge(self._edge) != checkpoint.root_hash:
            raise LogError(f"{self.root}: root recomputed from tiles differs from the "
                           f"signed checkpoint at size {size}; refusing to append")
        if self._check_all:
            from .client import pinned
            from .tiles import check_log

            try:
                check_log(fetch=pinned(fetch)[0])
            except LogFormatError as exc:
                raise LogError(f"{self.root}: damaged log, refusing to append: {exc}") \
                    from None
        self.size = size
        self.root_hash = checkpoint.root_hash

    # -- appending --------------------------------------------------------------------

    def append(self, entries: Sequence[bytes]) -> Appended:
        """Append entries durably and atomically (all or none) and sign a checkpoint."""
        for n, entry in enumerate(entries):
            if not isinstance(entry, bytes | bytearray):
                raise TypeError(f"entry {n} is not bytes")
            if len(entry) > MAX_ENTRY_SIZE:
                raise LogError(f"entry {n} is {len(entry):,} bytes; a tiles log holds "
                               f"entries of at most {MAX_ENTRY_SIZE:,} bytes")
        first = self.size
        if not entries:
            data = (self.root / CHECKPOINT_PATH).read_bytes()
            return Appended(first, first, data)
        files: dict[str, bytes] = {}
        size = first + len(entries)
        # Entry bundles: the partial one grows, full ones are written once.
        pending = self._bundle + [bytes(e) for e in entries]
        index = first // TILE_WIDTH
        for start in range(0, len(pending) - TILE_WIDTH + 1, TILE_WIDTH):
            files[entries_path(index)] = encode_entry_bundle(pending[start : start + TILE_WIDTH])
            index += 1
        bundle = pending[len(pending) - len(pending) % TILE_WIDTH :]
        if bundle:
            files[entries_path(index, len(bundle))] = encode_entry_bundle(bundle)
        # Hash tiles, level by level: complete tiles are written and folded into the level
        # above; the remainder is the new right edge of that level.
        new = [_sha256(b"\x00" + e).digest() for e in entries]
        edge: list[list[bytes]] = []
        level = 0
        while new or level < len(self._edge):
            old = self._edge[level] if level < len(self._edge) else []
            if not new:
                edge.append(list(old))
                level += 1
                continue
            hashes = old + new
            index = (first >> (TILE_HEIGHT * level)) // TILE_WIDTH
            new = []
            full = len(hashes) - len(hashes) % TILE_WIDTH
            for start in range(0, full, TILE_WIDTH):
                tile = hashes[start : start + TILE_WIDTH]
                files[tile_path(level, index)] = b"".join(tile)
                new.append(fold_tile_hashes(tile))
                index += 1
            rest = hashes[full:]
            if rest:
                files[tile_path(level, index, len(rest))] = b"".join(rest)
            edge.append(rest)
            level += 1
        # Every directory whose entries change gets fsynced, deepest first: the parent of
        # each file, and the parent of each directory this append creates.
        dirty: set[Path] = set()
        for rel in sorted(files):
            path = self.root / rel
            if path.parent not in self._known_dirs:
                missing = [d for d in path.parents if d != self.root
                           and self.root in d.parents and not d.exists()]
                path.parent.mkdir(parents=True, exist_ok=True)
                dirty.update(d.parent for d in missing)
                _remove_stale_temporaries(path.parent)  # once per directory and writer
                self._known_dirs.add(path.parent)
            dirty.add(path.parent)
        # Writes and fsyncs run concurrently: the filesystem journal then commits them
        # together instead of once per file. All must finish before the checkpoint.
        _all_done(_write_durable, [(self.root / rel, files[rel]) for rel in sorted(files)])
        _all_done(_fsync_dir, [(d,) for d in sorted(dirty, key=str)])
        root_hash = root_from_edge(edge)
        note = signed_checkpoint(self.config.origin, size, root_hash, self._signer)
        _write_durable(self.root / CHECKPOINT_PATH, note)
        # Published once renamed: the in-memory state follows before anything else can
        # fail, so a later append never builds on (and rolls back to) the old size.
        self._edge, self._bundle = edge, bundle
        self.size, self.root_hash = size, root_hash
        _fsync_dir(self.root)
        return Appended(first, size, note)

    def close(self) -> None:
        if self._lock >= 0:
            os.close(self._lock)
            self._lock = -1

    def __enter__(self) -> LogWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def root_from_edge(edge: Sequence[Sequence[bytes]]) -> bytes:
    """RFC 6962 root from the right-edge (partial) tile of every level: the tree's size
    is the sum of width x 256^level, so its complete subtrees are the power-of-two spans
    of those tiles, highest level and leftmost first."""
    subtrees = []
    for tile in reversed(edge):
        pos, width = 0, len(tile)
        for bit in range(width.bit_length() - 1, -1, -1):
            if width >> bit & 1:
                subtrees.append(fold_tile_hashes(tile[pos : pos + (1 << bit)]))
                pos += 1 << bit
    return merkle.fold_right(subtrees)


def find_leaf(reader: TileReader, leaf: bytes) -> list[int]:
    """Indices whose leaf hash is ``leaf``, read from the level-0 hash tiles (no entry
    bundle is fetched, so finding an entry in a million-entry log reads 32 MB)."""
    found = []
    for tile_index in range(-(-reader.size // TILE_WIDTH)):
        data = reader.raw_tile(0, tile_index)
        at = data.find(leaf)
        while at >= 0:
            if at % merkle.HASH_SIZE == 0:
                found.append(tile_index * TILE_WIDTH + at // merkle.HASH_SIZE)
            at = data.find(leaf, at + 1)
    return found


def append_all(root: Path, signer: SignerKey, entries: Iterable[bytes]) -> Appended:
    """Convenience: open, append everything as one batch, close."""
    with LogWriter(root, signer) as writer:
        return writer.append(list(entries))
