"""The unblob handler set spyproof extracts with.

``SPYPROOF_HANDLERS`` is unblob's built-in set with:

* the U-Boot legacy image handler added (unblob has none),
* unblob's SquashFS v4 LE/BE handlers replaced by spyproof's own
  (``spyproof.unpack.handlers.squashfs.SQUASHFS_HANDLERS``) when that module is present;
  without it unblob's handlers stay in place, and
* the tar, cpio, zip, ext and UBIFS handlers wrapped so that they write a metadata
  manifest of what they extract (``spyproof.unpack.handlers.metadata``).
"""

from __future__ import annotations

import importlib

from unblob.handlers import BUILTIN_DIR_HANDLERS, BUILTIN_HANDLERS
from unblob.handlers.filesystem import squashfs as _unblob_squashfs
from unblob.models import DirectoryHandlers, Handlers

from .metadata import with_manifests
from .uimage import UIMAGE_HANDLERS

_SQUASHFS_MODULE = f"{__name__}.squashfs"
_REPLACED_SQUASHFS = (
    _unblob_squashfs.SquashFSv4LEHandler,
    _unblob_squashfs.SquashFSv4BEHandler,
)


def _own_squashfs_handlers() -> Handlers | None:
    """spyproof's SquashFS handlers, or None while that module does not exist."""
    try:
        module = importlib.import_module(_SQUASHFS_MODULE)
    except ModuleNotFoundError as exc:
        if exc.name == _SQUASHFS_MODULE:
            return None
        raise  # the module exists but one of its own imports is missing: surface it
    return tuple(module.SQUASHFS_HANDLERS)


def build_handlers() -> Handlers:
    own_squashfs = _own_squashfs_handlers()
    handlers: list = list(UIMAGE_HANDLERS)
    if own_squashfs is None:
        handlers.extend(BUILTIN_HANDLERS)
        return tuple(handlers)
    own_names = {handler.NAME for handler in own_squashfs}
    inserted = False
    for handler in BUILTIN_HANDLERS:
        if handler in _REPLACED_SQUASHFS or handler.NAME in own_names:
            if not inserted:  # keep our handlers where unblob's v4 handlers were
                handlers.extend(own_squashfs)
                inserted = True
            continue
        handlers.append(handler)
    if not inserted:
        handlers.extend(own_squashfs)
    return tuple(handlers)


SPYPROOF_HANDLERS: Handlers = with_manifests(build_handlers())
SPYPROOF_DIR_HANDLERS: DirectoryHandlers = BUILTIN_DIR_HANDLERS

__all__ = ["SPYPROOF_DIR_HANDLERS", "SPYPROOF_HANDLERS", "UIMAGE_HANDLERS", "build_handlers"]
