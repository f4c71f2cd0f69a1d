"""``spyproof key`` and ``spyproof note``: C2SP keys and signed notes from the shell."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from spyproof.cli_output import State, emit_error, out

key_app = typer.Typer(no_args_is_help=True, help="Ed25519 keys in the C2SP key format.")
note_app = typer.Typer(no_args_is_help=True, help="C2SP signed notes.")


def _key_text(value: str) -> str:
    """A key given inline, or the path of a file that holds it."""
    path = Path(value)
    if "+" not in value or path.is_file():
        try:
            return path.read_text(encoding="utf-8").strip()
        except OSError as exc:
            emit_error(f"{value}: cannot read key: {exc.strerror}")
            raise typer.Exit(2) from None
    return value.strip()


def _write_private(path: Path, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text + "\n")


@key_app.command()
def generate(
    name: Annotated[str, typer.Argument(help="Key name, e.g. vendor.example/acme.")],
    kind: Annotated[str, typer.Option(help="ed25519 (logs, notes, statements) or "
                                      "cosignature (witnesses).")] = "ed25519",
    out_prefix: Annotated[Path | None, typer.Option(
        "--out", "-o", help="Write PREFIX.key (0600, never overwritten) and PREFIX.vkey "
        "instead of printing.")] = None,
) -> None:
    """Generate a signer key and its verifier key (C2SP signed-note key strings)."""
    from spyproof.provenance.keys import BadKey, generate_key

    try:
        signer, verifier = generate_key(name, kind)
    except (BadKey, ValueError) as exc:
        emit_error(f"key generate: {exc}")
        raise typer.Exit(2) from None
    if out_prefix is None:
        typer.echo(signer)
        typer.echo(verifier)
        return
    key_path = out_prefix.with_name(out_prefix.name + ".key")
    try:
        _write_private(key_path, signer)
    except FileExistsError:
        emit_error(f"{key_path}: exists; refusing to overwrite a private key")
        raise typer.Exit(2) from None
    except OSError as exc:
        emit_error(f"{key_path}: cannot write: {exc.strerror}")
        raise typer.Exit(2) from None
    out_prefix.with_name(out_prefix.name + ".vkey").write_text(verifier + "\n",
                                                               encoding="utf-8")
    if not State.quiet:
        out.print(f"{key_path} (signer, keep it secret)\n{verifier}", soft_wrap=True)


@note_app.command()
def sign(
    note: Annotated[Path, typer.Argument(help="Note text (or a signed note to add to).")],
    key: Annotated[list[str], typer.Option("--key", help="Signer key (string or file); "
                                           "repeatable.")],
    output: Annotated[Path | None, typer.Option("--output", "-o")] = None,
) -> None:
    """Sign a note; existing signatures by other keys are kept."""
    from spyproof.provenance.keys import BadKey, parse_signer_key
    from spyproof.provenance.note import NoteError, parse_note, sign_note

    try:
        signers = [parse_signer_key(_key_text(k)) for k in key]
        data = note.read_bytes()
        base = parse_note(data) if "\n\n\u2014 " in data.decode("utf-8", "replace") \
            else data.decode("utf-8")
        signed = sign_note(base, signers)
    except (BadKey, NoteError, ValueError, OSError) as exc:
        emit_error(f"{note}: {exc}")
        raise typer.Exit(2) from None
    if output is None:
        typer.echo(signed.decode("utf-8"), nl=False)
    else:
        output.write_bytes(signed)


@note_app.command()
def verify(
    note: Annotated[Path, typer.Argument(help="Signed note.")],
    key: Annotated[list[str], typer.Option("--key", help="Verifier key (string or file); "
                                           "repeatable.")],
) -> None:
    """Exit 0 when a signature by a known key verifies (and none by a known key is bad),
    1 otherwise; signatures by unknown keys are ignored."""
    from spyproof.provenance.keys import BadKey, parse_verifier_key
    from spyproof.provenance.note import NoteError, verify_note

    try:
        verifiers = [parse_verifier_key(_key_text(k)) for k in key]
        data = note.read_bytes()
    except (BadKey, OSError) as exc:
        emit_error(f"{note}: {exc}")
        raise typer.Exit(2) from None
    try:
        result = verify_note(data, verifiers)
    except NoteError as exc:
        emit_error(f"{note}: not verified: {exc}")
        raise typer.Exit(1) from None
    if not State.quiet:
        names = ", ".join(f"{v.key.name}" for v in result.verified)
        out.print(f"{note}: verified by {names}"
                  + (f"; {len(result.unverified)} signature(s) by unknown keys ignored"
                     if result.unverified else ""), soft_wrap=True)
