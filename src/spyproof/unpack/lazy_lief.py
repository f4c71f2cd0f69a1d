"""Load LIEF only when an extractor really parses an ELF.

unblob imports LIEF at start-up (its ELF handler) and calls `lief.logging.disable()` at
import time; loading LIEF costs most of a second, on the critical path of every scan,
while most scans never need it in the extraction worker (dynamically linked programs are
not searched there; the inventory parses ELFs in the main process). This stand-in module
remembers the logging call and loads the real LIEF on first real use.
"""

from __future__ import annotations

import importlib
import sys
import types


class _LoggingStub:
    def __init__(self, owner: _LazyLief):
        self._owner = owner

    def disable(self) -> None:
        self._owner._pending_disable = True

    def __getattr__(self, name: str):
        return getattr(self._owner._load().logging, name)


class _LazyLief(types.ModuleType):
    def __init__(self) -> None:
        super().__init__("lief")
        self._pending_disable = False
        self._real: types.ModuleType | None = None
        self.logging = _LoggingStub(self)

    def _load(self) -> types.ModuleType:
        if self._real is None:
            del sys.modules["lief"]
            try:
                real = importlib.import_module("lief")
            except BaseException:
                sys.modules["lief"] = self
                raise
            if self._pending_disable:
                real.logging.disable()
            self._real = real
        return self._real

    def __getattr__(self, name: str):
        return getattr(self._load(), name)


def install() -> None:
    """Make the next `import lief` return the lazy stand-in (no-op if LIEF is loaded)."""
    if "lief" not in sys.modules:
        sys.modules["lief"] = _LazyLief()
