"""Extraction caps, shared by the engine and by every extractor process.

unblob runs extractors in worker processes, so the caps travel in an environment
variable that the engine sets before extraction starts.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass

ENV_VAR = "SPYPROOF_UNPACK_LIMITS"


@dataclass(frozen=True)
class Limits:
    """Caps on what one scan may extract; each breach is a warning plus a partial result."""

    max_total_bytes: int = 4 * 1024**3  # all extracted trees together
    max_file_bytes: int = 1 * 1024**3  # any single extracted file
    max_files: int = 200_000  # files, directories and links together
    max_depth: int = 10  # nesting of containers within containers
    max_ratio: float = 200.0  # extracted bytes / input bytes

    def to_env(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_env(cls) -> Limits:
        raw = os.environ.get(ENV_VAR)
        if not raw:
            return cls()
        try:
            return cls(**json.loads(raw))
        except (TypeError, ValueError):
            return cls()


def current() -> Limits:
    """The caps in force for this process (set by the engine, defaults otherwise)."""
    return Limits.from_env()


class LimitExceeded(Exception):
    """Raised by an extractor that stops because a cap was reached."""

    def __init__(self, cap: str, detail: str):
        super().__init__(f"{cap}: {detail}")
        self.cap = cap
        self.detail = detail
