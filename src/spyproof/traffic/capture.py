"""Capture inputs: pcap, pcapng, gzip-compressed either, and directories of rotated files.

Why spyproof reads the containers itself rather than through dpkt's readers (dpkt 1.9.8):
dpkt's pcapng reader takes the link type and timestamp resolution of the *first*
interface only, ignores later sections, has no notion of a corrupt block (a bad length
ends or derails the iteration), and neither reader reports the record's byte offset or its
original (wire) length — all of which evidence needs. Both formats are small (a 24-byte
file header and 16-byte records; 12-byte block frames), so a streaming reader over
1 MiB chunks is short, and faster than building a dpkt object per record.

Formats: pcap (https://www.ietf.org/archive/id/draft-ietf-opsawg-pcap-04.html, micro- and
nanosecond magic, either byte order, the "modified" Kuznetzov variant) and pcapng
(https://www.ietf.org/archive/id/draft-ietf-opsawg-pcapng-02.html: sections, interfaces
each with their own link type, ``if_tsresol`` and ``if_tsoffset``; Enhanced, Simple and
obsolete Packet blocks). Bad input never raises past ``open_inputs``: damage is recorded in
``CaptureStats`` and reading goes on where that is sound.
"""

from __future__ import annotations

import struct
import zlib
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from spyproof.digests import file_sha256
from spyproof.traffic.decode import LINK_NAMES, SUPPORTED_LINK_TYPES, decode_frame
from spyproof.traffic.model import Packet

CHUNK = 1 << 20
GZIP_MAGIC = b"\x1f\x8b"
PCAPNG_MAGIC = b"\x0a\x0d\x0d\x0a"
# pcap magic as it appears in the file → (byte order, fraction divisor, record header size)
PCAP_MAGICS = {
    b"\xd4\xc3\xb2\xa1": ("<", 1e6, 16),
    b"\xa1\xb2\xc3\xd4": (">", 1e6, 16),
    b"\x4d\x3c\xb2\xa1": ("<", 1e9, 16),
    b"\xa1\xb2\x3c\x4d": (">", 1e9, 16),
    b"\x34\xcd\xb2\xa1": ("<", 1e6, 24),  # "modified pcap" (Alexey Kuznetzov's patches)
    b"\xa1\xb2\xcd\x34": (">", 1e6, 24),
}
MAX_RECORD = 1 << 24  # a record (or block) claiming more than 16 MiB is corrupt, not real
MAX_SNAPLEN = 262144  # libpcap's MAXIMUM_SNAPLEN

# pcapng block types
SHB, IDB, PB, SPB, EPB = 0x0A0D0D0A, 1, 2, 3, 6
BOM = 0x1A2B3C4D
OPT_TSRESOL, OPT_TSOFFSET = 9, 14

_DAMAGED = -1  # pseudo link type of a frame whose block was damaged: it keeps its number

# skip/notice reasons (counted in CaptureStats)
TRUNCATED_RECORD = "truncated record"
CORRUPT_RECORD = "corrupt record header"
CORRUPT_BLOCK = "corrupt block"
SNAPLEN_CUT = "snaplen cut"
UNDECLARED_INTERFACE = "packet for an undeclared interface"
NO_TIMESTAMP = "simple packet block (no timestamp; previous one used)"


class CaptureError(Exception):
    """An input that is not a readable capture at all; the message is one line."""


@dataclass
class CaptureFile:
    """One capture file among the inputs, in reading order."""

    path: Path
    format: str  # pcap | pcapng
    compressed: bool  # gzip
    size: int  # bytes of the file as given
    sha256: str  # of the file as given (the .gz itself when compressed)
    first_ts: float | None = None  # first packet's timestamp (directory ordering)


@dataclass
class CaptureSet:
    """The capture files to read, plus what was passed over while listing directories."""

    files: list[CaptureFile]
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (path, reason)


@dataclass
class FileStats:
    """What reading one file found: evidence of what was (and was not) analysed."""

    path: str
    format: str
    compressed: bool
    size: int
    sha256: str
    link_types: list[int] = field(default_factory=list)
    frames: int = 0  # records read (packets in pcapng terms)
    packets: int = 0  # frames that became IP packets
    bytes: int = 0  # captured bytes of those frames
    first_ts: float | None = None
    last_ts: float | None = None
    problems: list[str] = field(default_factory=list)  # one line each, with offsets
    complete: bool = True  # False when reading stopped before the end of the file
    skipped: Counter = field(default_factory=Counter)  # reason → frames not decoded
    notices: Counter = field(default_factory=Counter)  # reason → frames kept with a flaw

    @property
    def name(self) -> str:
        return self.path


@dataclass
class CaptureStats:
    """Per-file statistics and counted reasons, for the report's "what was skipped"."""

    files: list[FileStats] = field(default_factory=list)
    skipped: Counter = field(default_factory=Counter)  # frames not turned into packets
    notices: Counter = field(default_factory=Counter)  # kept, but worth saying (snaplen cut)
    skipped_inputs: list[tuple[str, str]] = field(default_factory=list)

    @property
    def frames(self) -> int:
        return sum(f.frames for f in self.files)

    @property
    def packets(self) -> int:
        return sum(f.packets for f in self.files)

    def summary(self) -> list[str]:
        """Human-readable lines, sorted, for reports and the CLI."""
        lines = []
        for f in self.files:
            links = ", ".join(f"{LINK_NAMES.get(lt, 'unknown')} ({lt})" for lt in f.link_types)
            gz = " (gzip)" if f.compressed else ""
            lines.append(f"{f.path}: {f.format}{gz}, {f.frames} frames, {f.packets} IP packets,"
                         f" link types: {links or '-'}")
            lines.extend(f"{f.path}: {p}" for p in f.problems)
        lines.extend(f"skipped {n} frame(s): {r}" for r, n in sorted(self.skipped.items()))
        lines.extend(f"kept {n} frame(s) with: {r}" for r, n in sorted(self.notices.items()))
        lines.extend(f"skipped input {p}: {r}" for p, r in self.skipped_inputs)
        return lines


# ---------------------------------------------------------------------------- streams


class _Truncated(Exception):
    pass


class _Chunks:
    """Raw or gunzipped bytes of a file, a chunk at a time (gzip detected by magic).

    Decompression is bounded per call (``max_length``) so a small hostile .gz cannot
    expand into memory at once; concatenated gzip members are read in turn.
    """

    def __init__(self, path: Path, compressed: bool):
        self._f = open(path, "rb")  # noqa: SIM115 - closed by close()
        self._gz = zlib.decompressobj(31) if compressed else None
        self._pending = b""
        self._done = False
        self.problem: str | None = None

    def read(self) -> bytes:
        """Next chunk; b"" at the end (``problem`` says if the end was premature)."""
        gz = self._gz
        if gz is None:
            return self._f.read(CHUNK)
        while not self._done:
            data = self._pending or gz.unconsumed_tail or self._f.read(CHUNK)
            self._pending = b""
            if not data:
                self._done = True
                if not gz.eof:
                    self.problem = "compressed stream ends early (truncated .gz)"
                break
            try:
                out = gz.decompress(data, 4 * CHUNK)
            except zlib.error as exc:
                self._done = True
                self.problem = f"corrupt compressed data ({exc})"
                break
            if gz.eof:
                rest = gz.unused_data or self._f.read(CHUNK)
                if rest[:2] == GZIP_MAGIC:  # the next of concatenated members
                    gz = self._gz = zlib.decompressobj(31)
                    self._pending = rest
                else:
                    self._done = True
                    if rest.strip(b"\0"):
                        self.problem = "data after the end of the compressed stream ignored"
            if out:
                return out
        return b""

    def close(self) -> None:
        self._f.close()


class _Buffer:
    """A sliding window over a chunked stream, tracking absolute offsets."""

    __slots__ = ("buf", "base", "src", "eof")

    def __init__(self, src: _Chunks):
        self.src = src
        self.buf = b""
        self.base = 0  # absolute offset of buf[0]
        self.eof = False

    def fill(self, pos: int, need: int) -> int:
        """Make buf[pos:pos+need] available; return the new pos (-1 if the stream ended)."""
        buf = self.buf[pos:]
        self.base += pos
        parts = [buf]
        have = len(buf)
        while have < need and not self.eof:
            chunk = self.src.read()
            if not chunk:
                self.eof = True
                break
            parts.append(chunk)
            have += len(chunk)
        self.buf = b"".join(parts) if len(parts) > 1 else buf
        return 0 if have >= need else -1


# ---------------------------------------------------------------------------- sniffing


def _head(path: Path, n: int = 64) -> tuple[bytes, bool]:
    """The first bytes of the (decompressed) content, and whether it is gzip."""
    with open(path, "rb") as f:
        raw = f.read(4096)
    if raw[:2] != GZIP_MAGIC:
        return raw[:n], False
    src = _Chunks(path, True)
    try:
        out = b""
        while len(out) < n:
            chunk = src.read()
            if not chunk:
                break
            out += chunk
    finally:
        src.close()
    return out[:n], True


def _kind(head: bytes) -> str | None:
    if head[:4] == PCAPNG_MAGIC:
        return "pcapng"
    if head[:4] in PCAP_MAGICS:
        return "pcap"
    return None


def _describe_non_capture(path: Path, head: bytes, compressed: bool) -> str:
    if not head:
        return f"{path}: empty{' after decompression' if compressed else ''} file, not a capture"
    sample = head[:8].hex(" ")
    what = "gzip-compressed data" if compressed else "file"
    return f"{path}: not a pcap or pcapng capture ({what} starts with {sample})"


def _header_problem(kind: str, head: bytes) -> str | None:
    if kind == "pcap" and len(head) < 24:
        return f"truncated pcap file header ({len(head)} of 24 bytes)"
    if kind == "pcapng" and len(head) < 28:
        return f"truncated pcapng section header ({len(head)} of 28 bytes)"
    return None


def _capture_file(path: Path, head: bytes, compressed: bool, kind: str) -> CaptureFile:
    return CaptureFile(path, kind, compressed, path.stat().st_size, file_sha256(path))


def _first_ts(cf: CaptureFile) -> float | None:
    fs = FileStats(str(cf.path), cf.format, cf.compressed, cf.size, cf.sha256)
    for _link, ts, _frame, _wire, _off in _records(cf, fs):
        return ts
    return None


def open_inputs(paths: list[Path]) -> CaptureSet:
    """Resolve the inputs into capture files in reading order.

    A file given explicitly that is not a capture raises ``CaptureError`` (one line naming
    it); inside a directory such files are skipped and listed in ``CaptureSet.skipped``.
    A directory's captures are ordered by their first packet's timestamp, then name.
    """
    files: list[CaptureFile] = []
    skipped: list[tuple[str, str]] = []
    for path in paths:
        path = Path(path)
        if path.is_dir():
            found: list[CaptureFile] = []
            for entry in sorted(path.iterdir()):
                if entry.is_dir():
                    skipped.append((str(entry), "subdirectory (not descended into)"))
                    continue
                if not entry.is_file():
                    skipped.append((str(entry), "not a regular file"))
                    continue
                try:
                    head, gz = _head(entry)
                except OSError as exc:
                    skipped.append((str(entry), f"unreadable ({exc.strerror or exc})"))
                    continue
                kind = _kind(head)
                if kind is None:
                    skipped.append((str(entry), "not a capture file"))
                    continue
                problem = _header_problem(kind, head)
                if problem:
                    skipped.append((str(entry), problem))
                    continue
                cf = _capture_file(entry, head, gz, kind)
                cf.first_ts = _first_ts(cf)
                found.append(cf)
            inf = float("inf")
            found.sort(key=lambda c: (c.first_ts if c.first_ts is not None else inf, c.path.name))
            files.extend(found)
            continue
        if not path.exists():
            raise CaptureError(f"{path}: no such file or directory")
        if not path.is_file():
            raise CaptureError(f"{path}: not a regular file")
        try:
            head, gz = _head(path)
        except OSError as exc:
            raise CaptureError(f"{path}: cannot read ({exc.strerror or exc})") from None
        kind = _kind(head)
        if kind is None:
            raise CaptureError(_describe_non_capture(path, head, gz))
        problem = _header_problem(kind, head)
        if problem:
            raise CaptureError(f"{path}: {problem}")
        files.append(_capture_file(path, head, gz, kind))
    return CaptureSet(files, skipped)


# ---------------------------------------------------------------------------- records


def _records(cf: CaptureFile, fs: FileStats) -> Iterator[tuple[int, float, bytes, int, int]]:
    """(link type, timestamp, frame bytes, wire length, record offset) for each record."""
    src = _Chunks(cf.path, cf.compressed)
    try:
        if cf.format == "pcap":
            yield from _pcap_records(_Buffer(src), fs)
        else:
            yield from _pcapng_records(_Buffer(src), fs)
    finally:
        if src.problem:
            fs.problems.append(src.problem)
            fs.complete = False
        src.close()


def _stop(fs: FileStats, problem: str) -> None:
    fs.problems.append(problem)
    fs.complete = False


def _pcap_records(b: _Buffer, fs: FileStats) -> Iterator[tuple[int, float, bytes, int, int]]:
    if b.fill(0, 24) < 0:
        _stop(fs, f"truncated pcap file header ({len(b.buf)} of 24 bytes)")
        return
    endian, divisor, rec_len = PCAP_MAGICS[b.buf[:4]]
    snaplen, linktype = struct.unpack_from(endian + "II", b.buf, 16)
    link = linktype & 0xFFFF  # upper bits may carry the FCS length
    fs.link_types = [link]
    limit = max(snaplen, MAX_SNAPLEN)
    rec = struct.Struct(endian + "IIII").unpack_from
    pos = 24
    buf = b.buf
    while True:
        if pos + rec_len > len(buf):
            pos = b.fill(pos, rec_len)
            buf = b.buf
            if pos < 0:
                if buf:
                    _stop(fs, f"truncated record header at offset {b.base}"
                              f" ({len(buf)} of {rec_len} bytes)")
                    fs.skipped[TRUNCATED_RECORD] += 1
                return
        sec, frac, caplen, wire = rec(buf, pos)
        if caplen > limit:
            _stop(fs, f"corrupt record header at offset {b.base + pos}"
                      f" (captured length {caplen} > {limit}); rest of the file not read")
            fs.skipped[CORRUPT_RECORD] += 1
            return
        start = pos + rec_len
        end = start + caplen
        if end > len(buf):
            pos = b.fill(pos, rec_len + caplen)
            buf = b.buf
            if pos < 0:
                _stop(fs, f"truncated record at offset {b.base}"
                          f" ({len(buf) - rec_len} of {caplen} bytes)")
                fs.frames += 1
                fs.skipped[TRUNCATED_RECORD] += 1
                return
            start = rec_len
            end = start + caplen
        yield link, sec + frac / divisor, buf[start:end], wire, b.base + pos
        pos = end


class _Interface:
    __slots__ = ("link", "snaplen", "divisor", "offset")

    def __init__(self, link: int, snaplen: int, divisor: float, offset: int):
        self.link = link
        self.snaplen = snaplen
        self.divisor = divisor
        self.offset = offset


def _idb(body: bytes, endian: str) -> _Interface:
    link, _reserved, snaplen = struct.unpack_from(endian + "HHI", body, 0)
    divisor, tsoffset = 1e6, 0
    pos = 8
    while pos + 4 <= len(body):
        code, length = struct.unpack_from(endian + "HH", body, pos)
        value = body[pos + 4 : pos + 4 + length]
        if code == 0:
            break
        if code == OPT_TSRESOL and length >= 1:
            r = value[0]
            divisor = float(2 ** (r & 0x7F)) if r & 0x80 else float(10 ** r)
        elif code == OPT_TSOFFSET and length >= 8:
            tsoffset = struct.unpack_from(endian + "q", value)[0]
        pos += 4 + ((length + 3) & ~3)
    return _Interface(link, snaplen, divisor, tsoffset)


def _pcapng_records(b: _Buffer, fs: FileStats) -> Iterator[tuple[int, float, bytes, int, int]]:
    endian = "<"
    hdr = struct.Struct("<II").unpack_from
    u32 = struct.Struct("<I").unpack_from
    epb = struct.Struct("<IIIII").unpack_from
    ifaces: list[_Interface] = []
    links: list[int] = []
    last_ts = 0.0
    pos = 0
    buf = b.buf
    while True:
        if pos + 12 > len(buf):
            pos = b.fill(pos, 12)
            buf = b.buf
            if pos < 0:
                if buf:
                    _stop(fs, f"truncated block at offset {b.base} ({len(buf)} bytes left)")
                break
        btype, blen = hdr(buf, pos)
        if btype == SHB:
            bom = buf[pos + 8 : pos + 12]
            if bom == b"\x4d\x3c\x2b\x1a":
                endian = "<"
            elif bom == b"\x1a\x2b\x3c\x4d":
                endian = ">"
            else:
                _stop(fs, f"corrupt section header at offset {b.base + pos} (byte-order"
                          " magic); rest of the file not read")
                break
            hdr = struct.Struct(endian + "II").unpack_from
            u32 = struct.Struct(endian + "I").unpack_from
            epb = struct.Struct(endian + "IIIII").unpack_from
            btype, blen = hdr(buf, pos)
            ifaces = []
        if blen < 12 or blen % 4 or blen > MAX_RECORD:
            _stop(fs, f"corrupt block at offset {b.base + pos} (length field {blen});"
                      " rest of the file not read")
            fs.skipped[CORRUPT_BLOCK] += 1
            break
        if pos + blen > len(buf):
            pos = b.fill(pos, blen)
            buf = b.buf
            if pos < 0:
                _stop(fs, f"truncated block at offset {b.base}"
                          f" ({len(buf)} of {blen} bytes)")
                if btype in (EPB, SPB, PB):
                    fs.frames += 1
                    fs.skipped[TRUNCATED_RECORD] += 1
                break
        at = b.base + pos
        if u32(buf, pos + blen - 4)[0] != blen:
            fs.problems.append(f"corrupt block at offset {at} (trailing length differs);"
                               " skipped to the next block")
            fs.skipped[CORRUPT_BLOCK] += 1
            if btype in (EPB, SPB, PB):
                yield _DAMAGED, 0.0, b"", 0, at
            pos += blen
            continue
        if btype in (EPB, PB):
            if btype == EPB:
                iface, tsh, tsl, caplen, wire = epb(buf, pos + 8)
            else:
                iface = struct.unpack_from(endian + "H", buf, pos + 8)[0]
                tsh, tsl, caplen, wire = struct.unpack_from(endian + "IIII", buf, pos + 12)
            start = pos + 28
            if start + caplen > pos + blen - 4:
                fs.problems.append(f"corrupt block at offset {at} (packet length {caplen}"
                                   f" exceeds the block); skipped")
                fs.skipped[CORRUPT_BLOCK] += 1
                yield _DAMAGED, 0.0, b"", 0, at
                pos += blen
                continue
            if iface >= len(ifaces):
                fs.skipped[UNDECLARED_INTERFACE] += 1
                yield _DAMAGED, 0.0, b"", 0, at
                pos += blen
                continue
            ifc = ifaces[iface]
            last_ts = ((tsh << 32) | tsl) / ifc.divisor + ifc.offset
            yield ifc.link, last_ts, buf[start : start + caplen], wire, at
        elif btype == SPB:
            if not ifaces:
                fs.skipped[UNDECLARED_INTERFACE] += 1
                yield _DAMAGED, 0.0, b"", 0, at
                pos += blen
                continue
            wire = u32(buf, pos + 8)[0]
            caplen = min(wire, blen - 16)
            if ifaces[0].snaplen:
                caplen = min(caplen, ifaces[0].snaplen)
            fs.notices[NO_TIMESTAMP] += 1
            yield ifaces[0].link, last_ts, buf[pos + 12 : pos + 12 + caplen], wire, at
        elif btype == IDB:
            if blen < 20:
                fs.problems.append(f"corrupt interface block at offset {at}; skipped")
                fs.skipped[CORRUPT_BLOCK] += 1
            else:
                ifc = _idb(buf[pos + 8 : pos + blen - 4], endian)
                ifaces.append(ifc)
                if ifc.link not in links:
                    links.append(ifc.link)
                    fs.link_types = list(links)
        pos += blen


# ---------------------------------------------------------------------------- packets


def iter_packets(capture_set: CaptureSet, stats: CaptureStats) -> Iterator[Packet]:
    """Decode every frame of every input in order; streaming, counted into ``stats``.

    Frame numbers are 1-based across all inputs (every record counts, decoded or not), so
    a number names the same frame as Wireshark does for a single file.
    """
    stats.skipped_inputs.extend(capture_set.skipped)
    number = 0
    for index, cf in enumerate(capture_set.files):
        fs = FileStats(str(cf.path), cf.format, cf.compressed, cf.size, cf.sha256)
        stats.files.append(fs)
        skipped = fs.skipped
        frames = packets = nbytes = cut = 0
        first = last = None
        unknown: dict[int, str] = {}
        try:
            for link, ts, frame, wire, offset in _records(cf, fs):
                number += 1
                frames += 1
                if link not in SUPPORTED_LINK_TYPES:
                    if link == _DAMAGED:  # already counted with its reason
                        continue
                    reason = unknown.get(link)
                    if reason is None:
                        reason = unknown[link] = f"unknown link type {link}"
                    skipped[reason] += 1
                    continue
                caplen = len(frame)
                if caplen < wire:
                    cut += 1
                pkt = decode_frame(frame, link, number, ts, index, offset, wire)
                if pkt.__class__ is str:
                    skipped[pkt] += 1
                    continue
                packets += 1
                nbytes += caplen
                if first is None:
                    first = ts
                last = ts
                yield pkt
        finally:
            fs.frames += frames
            fs.packets = packets
            fs.bytes = nbytes
            fs.first_ts = first
            fs.last_ts = last
            if cut:
                fs.notices[SNAPLEN_CUT] += cut
            stats.skipped.update(fs.skipped)
            stats.notices.update(fs.notices)


def read_flows(paths, inspector=None, **table_args):  # noqa: ANN001, ANN201 - see flows
    """Captures → (flows, DNS answers, ``CaptureStats``); the same as ``flows.read_flows``."""
    from spyproof.traffic.flows import read_flows as _read_flows

    return _read_flows(paths, inspector, **table_args)
