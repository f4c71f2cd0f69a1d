"""C2SP tlog-tiles: paths, hash tiles, entry bundles; reading and writing a tiled log.

Why: a tiled log is a tree of static files, so any web server or object store can
serve it read-only and any client can check it (https://c2sp.org/tlog-tiles). Reading
verifies everything it can without signatures: tile sizes, the root recomputed from
tiles against the checkpoint, and every entry's leaf hash against the level-0 tiles.
Malformed input of any kind raises ``LogFormatError`` with a one-line message.
"""

from __future__ import annotations

import os
import struct
import urllib.error
import urllib.parse
import urllib.request
from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from hashlib import sha256 as _sha256
from pathlib import Path

from spyproof.atomic import write_bytes_atomic

from . import merkle
from .checkpoint import Checkpoint, CheckpointError, read_checkpoint_note

TILE_HEIGHT = 8
TILE_WIDTH = 1 << TILE_HEIGHT  # 256 hashes or entries per full tile
HASH_SIZE = merkle.HASH_SIZE
MAX_ENTRY_SIZE = 0xFFFF  # uint16 length prefix
MAX_LEVEL = 63
CHECKPOINT_PATH = "checkpoint"
# The largest file a tiles log holds: a full entry bundle (256 entries of 2 + 65,535 bytes).
MAX_FETCH = TILE_WIDTH * (2 + MAX_ENTRY_SIZE)

_U16 = struct.Struct(">H").pack

Fetch = Callable[[str], bytes | None]
"""``fetch(path)`` -> file bytes, or None when the file does not exist."""


class LogFormatError(Exception):
    """The log is missing a file or a file is malformed or inconsistent."""


# -- paths -------------------------------------------------------------------------


def encode_index(n: int) -> str:
    """Tile index as zero-padded 3-digit groups, non-final groups prefixed with ``x``
    (1234067 -> ``x001/x234/067``)."""
    if n < 0:
        raise ValueError(f"tile index must be non-negative, got {n}")
    groups = [f"{n % 1000:03d}"]
    n //= 1000
    while n:
        groups.append(f"x{n % 1000:03d}")
        n //= 1000
    return "/".join(reversed(groups))


def _width_suffix(width: int) -> str:
    if not 1 <= width <= TILE_WIDTH:
        raise ValueError(f"tile width must be 1..{TILE_WIDTH}, got {width}")
    return "" if width == TILE_WIDTH else f".p/{width}"


def tile_path(level: int, index: int, width: int = TILE_WIDTH) -> str:
    """Path of hash tile (level, index), partial when width < 256."""
    if not 0 <= level <= MAX_LEVEL:
        raise ValueError(f"tile level must be 0..{MAX_LEVEL}, got {level}")
    return f"tile/{level}/{encode_index(index)}{_width_suffix(width)}"


def entries_path(index: int, width: int = TILE_WIDTH) -> str:
    """Path of entry bundle ``index``, partial when width < 256."""
    return f"tile/entries/{encode_index(index)}{_width_suffix(width)}"


def tile_width(level: int, index: int, size: int) -> int:
    """Hashes in tile (level, index) of a tree of ``size`` leaves (0: tile absent)."""
    count = size >> (TILE_HEIGHT * level)
    return max(0, min(TILE_WIDTH, count - index * TILE_WIDTH))


# -- tile and bundle contents --------------------------------------------------------


def parse_hash_tile(
    data: bytes, width: int, where: str = "hash tile", stored_width: int | None = None
) -> list[bytes]:
    """Split a hash tile of ``stored_width`` hashes (default ``width``) and return the
    first ``width`` — a full tile stands in for a partial one that was removed."""
    stored = width if stored_width is None else stored_width
    if len(data) == stored * HASH_SIZE:
        return [bytes(data[i : i + HASH_SIZE]) for i in range(0, width * HASH_SIZE, HASH_SIZE)]
    raise LogFormatError(
        f"{where}: {len(data)} bytes, expected {stored * HASH_SIZE} ({stored} hashes)"
    )


def encode_entry_bundle(entries: Sequence[bytes]) -> bytes:
    """Entries each prefixed with a big-endian uint16 length."""
    if len(entries) > TILE_WIDTH:
        raise ValueError(f"an entry bundle holds at most {TILE_WIDTH} entries")
    try:
        return b"".join([_U16(len(entry)) + entry for entry in entries])
    except struct.error:
        longest = max(len(entry) for entry in entries)
        raise ValueError(f"entry of {longest} bytes exceeds {MAX_ENTRY_SIZE}") from None


def parse_entry_bundle(
    data: bytes, width: int, where: str = "entry bundle", stored_width: int | None = None
) -> list[bytes]:
    """Parse a bundle of exactly ``stored_width`` entries (default ``width``) and return
    the first ``width`` — a full bundle stands in for a partial one that was removed."""
    stored = width if stored_width is None else stored_width
    data = bytes(data)
    entries: list[bytes] = []
    append = entries.append
    pos, end_of_data = 0, len(data)
    while pos < end_of_data:
        if pos + 2 > end_of_data:
            raise LogFormatError(f"{where}: truncated length prefix at byte {pos}")
        end = pos + 2 + ((data[pos] << 8) | data[pos + 1])
        if end > end_of_data:
            raise LogFormatError(
                f"{where}: entry {len(entries)} at byte {pos} claims {end - pos - 2} bytes, "
                f"only {end_of_data - pos - 2} left"
            )
        append(data[pos + 2 : end])
        pos = end
    if len(entries) == stored:
        return entries[:width]
    raise LogFormatError(f"{where}: holds {len(entries)} entries, expected {stored}")


def fold_tile_hashes(hashes: Sequence[bytes]) -> bytes:
    """Root of a complete subtree from its 2**k bottom hashes (pairwise, left to right)."""
    level = list(hashes)
    while len(level) > 1:
        level = [_sha256(b"\x01" + level[i] + level[i + 1]).digest()
                 for i in range(0, len(level), 2)]
    return level[0]


# -- fetching ------------------------------------------------------------------------


def directory_fetcher(root: str | os.PathLike[str]) -> Fetch:
    """Fetch files of a log stored in a local directory."""
    base = Path(root)

    def fetch(path: str) -> bytes | None:
        if path.startswith("/") or ".." in path.split("/"):
            raise LogFormatError(f"refusing unsafe log path {path!r}")
        try:
            return (base / path).read_bytes()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise LogFormatError(f"{path}: cannot read: {exc.strerror or exc}") from exc

    return fetch


def http_fetcher(base_url: str, timeout: float = 30.0) -> Fetch:
    """Fetch files of a log served over HTTP(S) as static files."""
    if urllib.parse.urlsplit(base_url).scheme not in ("http", "https"):
        raise ValueError(f"not an http(s) URL: {base_url}")
    prefix = base_url.rstrip("/") + "/"

    def fetch(path: str) -> bytes | None:
        url = prefix + path
        try:
            with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310
                data = response.read(MAX_FETCH + 1)
        except urllib.error.HTTPError as exc:
            if exc.code == 404:
                return None
            raise LogFormatError(f"{url}: HTTP {exc.code}") from exc
        except (urllib.error.URLError, OSError) as exc:
            raise LogFormatError(f"{url}: fetch failed: {exc}") from exc
        if len(data) > MAX_FETCH:
            raise LogFormatError(f"{url}: larger than any tiles-log file ({MAX_FETCH:,} "
                                 "bytes); refusing")
        return data

    return fetch


def fetcher_for(location: str | os.PathLike[str]) -> Fetch:
    """A fetcher for a directory path or an http(s) base URL."""
    text = os.fspath(location)
    if text.startswith(("http://", "https://")):
        return http_fetcher(text)
    return directory_fetcher(text)


# -- reading -------------------------------------------------------------------------


@dataclass(frozen=True)
class LogCheck:
    """Result of a full read of a tiled log (signatures not yet checked)."""

    checkpoint: Checkpoint
    signature_lines: tuple[str, ...]
    entries: int
    tiles: int


class TileReader:
    """Read hash tiles and entry bundles of a tiled log of a given tree size.

    ``get(level, index)`` is a ``merkle.HashLookup`` backed by tiles, so inclusion and
    consistency proofs for that size come straight from the log's files.
    """

    RAW_CACHE = 4096  # tiles kept as raw bytes (8 KiB each at most)
    LEVEL_CACHE = 1024  # tiles kept with their internal nodes (16 KiB each at most)

    def __init__(self, fetch: Fetch, size: int) -> None:
        self._fetch = fetch
        self.size = size
        # Bounded caches: reading a whole million-entry log stays in tens of MB.
        self._raw: OrderedDict[tuple[int, int], bytes] = OrderedDict()
        self._levels: OrderedDict[tuple[int, int], list[bytes]] = OrderedDict()

    def _fetch_required(self, partial: str, full: str) -> tuple[bytes, str, int | None]:
        """(data, path it came from, stored width override when the full file stood in)."""
        data = self._fetch(partial)
        if data is not None:
            return data, partial, None
        if partial != full:
            data = self._fetch(full)  # partial tiles may be removed once the full one exists
            if data is not None:
                return data, full, TILE_WIDTH
        raise LogFormatError(f"{partial}: missing")

    def raw_tile(self, level: int, index: int) -> bytes:
        """Tile (level, index) for this tree size as concatenated 32-byte hashes."""
        key = (level, index)
        cached = self._raw.get(key)
        if cached is not None:
            self._raw.move_to_end(key)
            return cached
        width = tile_width(level, index, self.size)
        if width == 0:
            raise LogFormatError(f"tile {level}/{index} lies beyond tree size {self.size}")
        path = tile_path(level, index, width)
        data, where, stored = self._fetch_required(path, tile_path(level, index))
        if len(data) != (stored or width) * HASH_SIZE:
            parse_hash_tile(data, width, where=where, stored_width=stored)  # raises
        data = bytes(data[: width * HASH_SIZE])
        self._raw[key] = data
        if len(self._raw) > self.RAW_CACHE:
            self._raw.popitem(last=False)
        return data

    def tile(self, level: int, index: int) -> list[bytes]:
        """Hashes of tile (level, index) for this tree size."""
        data = self.raw_tile(level, index)
        return [data[i : i + HASH_SIZE] for i in range(0, len(data), HASH_SIZE)]

    def tile_levels(self, level: int, index: int) -> list[bytes]:
        """The tile's hashes and every complete internal node above them: element k holds
        the concatenated roots of its complete 2**k-hash spans (element 8 of a full tile
        is the tile's root). Computed once per tile, so a proof costs no refolding."""
        key = (level, index)
        cached = self._levels.get(key)
        if cached is not None:
            self._levels.move_to_end(key)
            return cached
        levels = [self.raw_tile(level, index)]
        row = levels[0]
        while len(row) >= 2 * HASH_SIZE:
            pairs = len(row) // (2 * HASH_SIZE)
            row = b"".join(_sha256(b"\x01" + row[i : i + 2 * HASH_SIZE]).digest()
                           for i in range(0, pairs * 2 * HASH_SIZE, 2 * HASH_SIZE))
            levels.append(row)
        self._levels[key] = levels
        if len(self._levels) > self.LEVEL_CACHE:
            self._levels.popitem(last=False)
        return levels

    def get(self, level: int, index: int) -> bytes:
        """Hash of the complete subtree at Merkle (level, index), from tiles."""
        tile_level, sub = divmod(level, TILE_HEIGHT)
        first = index << sub
        levels = self.tile_levels(tile_level, first // TILE_WIDTH)
        node = (first % TILE_WIDTH) >> sub
        row = levels[sub] if sub < len(levels) else b""
        if (node + 1) * HASH_SIZE > len(row):
            raise LogFormatError(f"subtree {level}/{index} is not complete at size {self.size}")
        return row[node * HASH_SIZE : (node + 1) * HASH_SIZE]

    __call__ = get

    def root(self) -> bytes:
        return merkle.range_hash(0, self.size, self.get)

    def entry_bundle(self, index: int) -> list[bytes]:
        width = tile_width(0, index, self.size)
        if width == 0:
            raise LogFormatError(f"entry bundle {index} lies beyond tree size {self.size}")
        path = entries_path(index, width)
        data, where, stored = self._fetch_required(path, entries_path(index))
        return parse_entry_bundle(data, width, where=where, stored_width=stored)

    def entries(self) -> Iterator[bytes]:
        """Every entry in order, each checked against its leaf hash in the level-0 tiles."""
        for bundle_index in range((self.size + TILE_WIDTH - 1) // TILE_WIDTH):
            hashes = self.raw_tile(0, bundle_index)
            for offset, entry in enumerate(self.entry_bundle(bundle_index)):
                at = offset * HASH_SIZE
                if _sha256(b"\x00" + entry).digest() != hashes[at : at + HASH_SIZE]:
                    n = bundle_index * TILE_WIDTH + offset
                    raise LogFormatError(f"entry {n}: leaf hash does not match tile/0")
                yield entry

    def check_tiles(self) -> int:
        """Check every tile above level 0 against the tiles below it; returns tile count."""
        count = 0
        level = 0
        while self.size >> (TILE_HEIGHT * level):
            tiles_here = -(-(self.size >> (TILE_HEIGHT * level)) // TILE_WIDTH)
            for index in range(tiles_here):
                hashes = self.tile(level, index)
                count += 1
                if level == 0:
                    continue
                for offset, h in enumerate(hashes):
                    below = self.tile_levels(level - 1, index * TILE_WIDTH + offset)
                    if below[-1] != h or len(below[0]) != TILE_WIDTH * HASH_SIZE:
                        raise LogFormatError(
                            f"{tile_path(level, index, len(hashes))}: hash {offset} does not "
                            f"match tile {level - 1}/{index * TILE_WIDTH + offset}"
                        )
            level += 1
        return count


def read_checkpoint(fetch: Fetch) -> tuple[Checkpoint, tuple[str, ...]]:
    """The log's latest checkpoint (body parsed, signatures returned unverified)."""
    data = fetch(CHECKPOINT_PATH)
    if data is None:
        raise LogFormatError("checkpoint: missing")
    try:
        return read_checkpoint_note(data)
    except CheckpointError as exc:
        raise LogFormatError(f"checkpoint: {exc}") from exc


def check_log(
    location: str | os.PathLike[str] | None = None,
    *,
    fetch: Fetch | None = None,
    on_entry: Callable[[int, bytes], None] | None = None,
) -> LogCheck:
    """Read a whole tiled log: checkpoint, every tile, every entry; verify the tile
    tree, the root against the checkpoint and each entry against its leaf hash."""
    if fetch is None:
        if location is None:
            raise ValueError("give a log location or a fetch function")
        fetch = fetcher_for(location)
    checkpoint, signatures = read_checkpoint(fetch)
    reader = TileReader(fetch, checkpoint.size)
    tiles = reader.check_tiles()
    root = reader.root()
    if root != checkpoint.root_hash:
        raise LogFormatError(
            f"root from tiles {root.hex()} differs from checkpoint root "
            f"{checkpoint.root_hash.hex()} at size {checkpoint.size}"
        )
    count = 0
    for entry in reader.entries():
        if on_entry is not None:
            on_entry(count, entry)
        count += 1
    return LogCheck(checkpoint, signatures, count, tiles)


# -- writing -------------------------------------------------------------------------


def write_atomic(path: Path, data: bytes) -> None:
    """Write via a temporary file, fsync and rename, so readers never see a torn file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    write_bytes_atomic(path, data)


def changed_tiles(old_size: int, new_size: int) -> Iterator[tuple[int, int, int]]:
    """(level, index, width) of every hash tile that growing old_size -> new_size
    creates or widens."""
    level = 0
    while new_size >> (TILE_HEIGHT * level):
        old_count = old_size >> (TILE_HEIGHT * level)
        new_count = new_size >> (TILE_HEIGHT * level)
        for index in range(old_count // TILE_WIDTH, -(-new_count // TILE_WIDTH)):
            width = tile_width(level, index, new_size)
            if width > tile_width(level, index, old_size):
                yield level, index, width
        level += 1


def write_tiles(
    root: str | os.PathLike[str], get: merkle.HashLookup, old_size: int, new_size: int
) -> list[str]:
    """Write the hash tiles a tree grown from old_size to new_size needs; returns paths."""
    written = []
    for level, index, width in changed_tiles(old_size, new_size):
        base = index * TILE_WIDTH
        data = b"".join(get(level * TILE_HEIGHT, base + i) for i in range(width))
        path = tile_path(level, index, width)
        write_atomic(Path(root) / path, data)
        written.append(path)
    return written


def write_entry_bundles(
    root: str | os.PathLike[str],
    get_entry: Callable[[int], bytes],
    old_size: int,
    new_size: int,
) -> list[str]:
    """Write the entry bundles covering entries appended from old_size to new_size."""
    written = []
    for _, index, width in (t for t in changed_tiles(old_size, new_size) if t[0] == 0):
        base = index * TILE_WIDTH
        data = encode_entry_bundle([get_entry(base + i) for i in range(width)])
        path = entries_path(index, width)
        write_atomic(Path(root) / path, data)
        written.append(path)
    return written
