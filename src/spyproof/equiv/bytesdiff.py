"""Where two byte strings (or two files) differ: first offset, differing ranges, counts.

Equal blocks are skipped with one slice comparison each, so sections and files of many
megabytes that differ in a few bytes cost little.
"""

from __future__ import annotations

from pathlib import Path

BLOCK = 4096
READ = 1024 * 1024


def first_difference(a: bytes, b: bytes) -> int | None:
    """Offset of the first differing byte; the shorter length when one is a prefix of the
    other; None when equal."""
    n = min(len(a), len(b))
    for start in range(0, n, BLOCK):
        end = min(start + BLOCK, n)
        if a[start:end] != b[start:end]:
            for i in range(start, end):
                if a[i] != b[i]:
                    return i
    return None if len(a) == len(b) else n


def differing_ranges(a: bytes, b: bytes, cap: int = 16) -> tuple[int, list[tuple[int, int]]]:
    """Bytes that differ over the common length, and the first ``cap`` ranges of them."""
    n = min(len(a), len(b))
    count = 0
    ranges: list[tuple[int, int]] = []
    open_start: int | None = None
    for start in range(0, n, BLOCK):
        end = min(start + BLOCK, n)
        if a[start:end] == b[start:end]:
            if open_start is not None:
                if len(ranges) < cap:
                    ranges.append((open_start, start))
                open_start = None
            continue
        for i in range(start, end):
            if a[i] != b[i]:
                count += 1
                if open_start is None:
                    open_start = i
            elif open_start is not None:
                if len(ranges) < cap:
                    ranges.append((open_start, i))
                open_start = None
    if open_start is not None and len(ranges) < cap:
        ranges.append((open_start, n))
    return count, ranges


def file_first_difference(path_a: Path, path_b: Path) -> int | None:
    """First differing offset of two files, read in step; None when equal."""
    offset = 0
    with path_a.open("rb") as fa, path_b.open("rb") as fb:
        while True:
            block_a, block_b = fa.read(READ), fb.read(READ)
            if block_a != block_b:
                diff = first_difference(block_a, block_b)
                return offset + (diff if diff is not None else 0)
            if not block_a:
                return None
            offset += len(block_a)
