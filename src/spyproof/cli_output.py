"""Console output shared by the CLI's command groups: stdout, stderr, one-line errors."""

from __future__ import annotations

import json
import sys

from rich.console import Console

err = Console(stderr=True, highlight=False)
out = Console(highlight=False)


class State:
    """Global flags (``--quiet``, ``--log-json``), set once per invocation."""

    quiet = False
    log_json = False


def emit_error(message: str) -> None:
    """One line on stderr: plain for people, JSON with ``--log-json``."""
    if State.log_json:
        sys.stderr.write(json.dumps({"level": "error", "message": message}) + "\n")
    else:
        err.print(f"[bold red]error:[/] {message}", soft_wrap=True)


def emit_warning(message: str) -> None:
    if State.log_json:
        sys.stderr.write(json.dumps({"level": "warning", "message": message}) + "\n")
    elif not State.quiet:
        err.print(f"[yellow]warning:[/] {message}", soft_wrap=True)
