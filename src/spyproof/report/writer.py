"""Durable report writing: a reader never sees a half-written report."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel

from spyproof.atomic import write_bytes_atomic


def write_text_atomic(path: Path, text: str) -> None:
    """Write, fsync, then rename over the target, so the file is whole or absent."""
    write_bytes_atomic(path, text.encode("utf-8"))


def write_json_atomic(path: Path, model: BaseModel) -> None:
    write_text_atomic(path, model.model_dump_json(indent=2) + "\n")
