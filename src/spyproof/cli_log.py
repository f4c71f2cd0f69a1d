"""``spyproof log``, ``spyproof witness`` and ``spyproof verify``: the transparency log
from the shell. Exit codes: 0 valid / done, 1 invalid (a proof, signature, rollback or
fork), 2 bad input or usage."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from spyproof.cli_output import State, emit_error, emit_warning, out

log_app = typer.Typer(no_args_is_help=True, help="A C2SP tlog-tiles transparency log of "
                      "release and evaluation statements.")
witness_app = typer.Typer(no_args_is_help=True, help="Cosign a log's checkpoints "
                          "(c2sp.org/tlog-cosignature), never two inconsistent ones.")


def _fail(message: str, code: int = 2) -> typer.Exit:
    emit_error(message.splitlines()[0] if message else "failed")
    return typer.Exit(code)


def _signer(value: str, kind: int, what: str):  # noqa: ANN202 - SignerKey
    from spyproof.cli_provenance import _key_text
    from spyproof.provenance.keys import NAME_BY_KIND, BadKey, parse_signer_key

    try:
        key = parse_signer_key(_key_text(value))
    except BadKey as exc:
        raise _fail(f"{what}: {exc}") from None
    if key.kind != kind:
        raise _fail(f"{what}: needs a {NAME_BY_KIND[kind]} key, got a "
                    f"{NAME_BY_KIND.get(key.kind, '?')} key")
    return key


def _verifiers(values: list[str] | None, what: str) -> list:
    from spyproof.cli_provenance import _key_text
    from spyproof.provenance.keys import BadKey, parse_verifier_key

    try:
        return [parse_verifier_key(_key_text(v)) for v in values or []]
    except BadKey as exc:
        raise _fail(f"{what}: {exc}") from None


def _trust(path: Path | None):  # noqa: ANN202 - Trust | None
    from spyproof.provenance.operator import TrustFileError, parse_trust

    if path is None:
        return None
    try:
        return parse_trust(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise _fail(f"{path}: cannot read: {exc.strerror}") from None
    except (TrustFileError, UnicodeDecodeError) as exc:
        raise _fail(f"{path}: bad trust policy: {exc}") from None


def _state(path: Path | None, disabled: bool = False):  # noqa: ANN202 - StateFile | None
    from spyproof.provenance.client import LogTrustError, StateFile, default_state_path

    if disabled:
        return None
    try:
        return StateFile(path or default_state_path())
    except LogTrustError as exc:
        raise _fail(str(exc)) from None


def _read(path: Path, what: str = "") -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise _fail(f"{path}: cannot read{what}: {exc.strerror}") from None


def _location(text: str) -> str:
    """A log is a directory or an http(s) URL; anything else is a usage error."""
    if text.startswith(("http://", "https://")):
        return text
    if not Path(text).is_dir():
        what = "does not exist" if not Path(text).exists() else "is not a directory"
        raise _fail(f"{text}: {what} (a tiles log is a directory or an http(s) URL)")
    if not Path(text, "checkpoint").is_file():
        raise _fail(f"{text}: not a tiles log (no checkpoint file)")
    return text


StateOpt = Annotated[Path | None, typer.Option(
    "--state", help="Where the largest checkpoint seen per log is kept (default "
    "~/.local/state/spyproof/tlog-state.json).")]
NoStateOpt = Annotated[bool, typer.Option("--no-state", help="Do not remember checkpoints "
                                          "(no rollback/fork detection across runs).")]


@log_app.command()
def init(
    directory: Annotated[Path, typer.Argument(help="New, empty directory for the log.")],
    origin: Annotated[str, typer.Option(help="The log's origin line, e.g. "
                                        "lab.example/spyproof-log.")],
    key: Annotated[Path, typer.Option("--key", help="The log's signer key file (its name "
                                      "must be the origin); its path is remembered.")],
) -> None:
    """Create an empty tiles log and sign its first checkpoint (size 0)."""
    from spyproof.provenance.keys import ED25519
    from spyproof.provenance.log import LogError, init_log

    signer = _signer(str(key), ED25519, "--key")
    try:
        init_log(directory, origin, signer, key if key.is_file() else None)
    except (LogError, OSError) as exc:
        raise _fail(f"log init: {exc}") from None
    if not State.quiet:
        out.print(f"{directory}: empty log {origin}\nverifier key: {signer.verifier.vkey}",
                  soft_wrap=True)


def _log_signer(directory: Path, key: str | None):  # noqa: ANN202 - SignerKey
    from spyproof.provenance.keys import ED25519
    from spyproof.provenance.log import LogError, read_config

    if key is None:
        try:
            config = read_config(directory)
        except LogError as exc:
            raise _fail(str(exc)) from None
        if not config.key_file:
            raise _fail(f"{directory}: no signer key recorded; give --key")
        key = config.key_file
    return _signer(key, ED25519, "--key")


@log_app.command()
def add(
    directory: Annotated[Path, typer.Argument(help="The log directory.")],
    statements: Annotated[list[Path], typer.Argument(help="DSSE statement files.")],
    key: Annotated[str | None, typer.Option("--key", help="Signer key (default: the one "
                                            "given to log init).")] = None,
    raw: Annotated[bool, typer.Option(help="Accept entries that are not DSSE "
                                      "envelopes.")] = False,
    duplicate: Annotated[bool, typer.Option("--allow-duplicate", help="Append even when "
                                            "the same bytes are already logged.")] = False,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Append statements as one atomic batch; print each index and the new checkpoint."""
    from spyproof.provenance import merkle
    from spyproof.provenance.log import LogError, LogWriter, find_leaf
    from spyproof.provenance.tiles import MAX_ENTRY_SIZE, LogFormatError, TileReader

    entries = []
    for path in statements:
        data = _read(path)
        if len(data) > MAX_ENTRY_SIZE:
            raise _fail(f"{path}: {len(data):,} bytes; log entries are at most "
                        f"{MAX_ENTRY_SIZE:,} bytes (c2sp.org/tlog-tiles)")
        if not raw:
            _check_envelope(path, data)
        entries.append(data)
    signer = _log_signer(directory, key)
    try:
        with LogWriter(directory, signer, check_all=True) as writer:
            from spyproof.provenance.tiles import directory_fetcher

            reader = TileReader(directory_fetcher(directory), writer.size)
            results: list[tuple[str, int, bool]] = []
            fresh: list[bytes] = []
            for path, data in zip(statements, entries, strict=True):
                known = [] if duplicate else find_leaf(reader, merkle.leaf_hash(data))
                batch_dup = not duplicate and data in fresh
                if known or batch_dup:
                    index = known[0] if known else writer.size + fresh.index(data)
                    results.append((str(path), index, False))
                    continue
                results.append((str(path), writer.size + len(fresh), True))
                fresh.append(data)
            appended = writer.append(fresh)
    except (LogError, LogFormatError) as exc:
        text = str(exc)
        named = text if text.startswith(str(directory)) else f"{directory}: {text}"
        raise _fail(f"log add: {named}") from None
    except OSError as exc:
        raise _fail(f"log add: {directory}: {exc}") from None
    if as_json:
        typer.echo(json.dumps({"size": appended.size, "checkpoint": appended.checkpoint
                               .decode(), "entries": [{"file": f, "index": i, "new": n}
                                                      for f, i, n in results]}, indent=2))
        return
    if not State.quiet:
        for name, index, new in results:
            typer.echo(f"{index}\t{name}" + ("" if new else "\t(already logged)"))
        typer.echo(appended.checkpoint.decode(), nl=False)


def _check_envelope(path: Path, data: bytes) -> None:
    try:
        envelope = json.loads(data)
        ok = isinstance(envelope, dict) and {"payload", "payloadType", "signatures"} <= \
            envelope.keys()
    except (ValueError, UnicodeDecodeError):
        ok = False
    if not ok:
        raise _fail(f"{path}: not a DSSE envelope (use --raw to log arbitrary bytes)")


@log_app.command()
def prove(
    location: Annotated[str, typer.Argument(help="Log directory or https:// URL.")],
    entry: Annotated[Path, typer.Argument(help="The logged file (e.g. release.dsse.json).")],
    output: Annotated[Path, typer.Option("--output", "-o")],
    index: Annotated[int | None, typer.Option(help="The entry's index (default: "
                                              "searched by leaf hash).")] = None,
) -> None:
    """Write an offline inclusion proof (c2sp.org/tlog-proof) against the current
    checkpoint, with whatever cosignatures it carries."""
    from spyproof.atomic import write_bytes_atomic
    from spyproof.provenance.proof import make_proof
    from spyproof.provenance.tiles import LogFormatError, fetcher_for

    data = _read(entry)
    _location(location)
    try:
        proof = make_proof(fetcher_for(location), data, index)
    except (LogFormatError, ValueError) as exc:
        raise _fail(f"log prove: {location}: {exc}", 1 if "not in the log" in str(exc)
                    else 2) from None
    try:
        write_bytes_atomic(output, proof.serialize())
    except OSError as exc:
        raise _fail(f"{output}: cannot write: {exc.strerror}") from None
    if not State.quiet:
        out.print(f"{output}: entry {proof.index}, {len(proof.hashes)} proof hashes",
                  soft_wrap=True)


@log_app.command("verify-proof")
def verify_proof_cmd(
    entry: Annotated[Path, typer.Argument(help="The logged file.")],
    proof_file: Annotated[Path, typer.Argument(help="Its .tlog-proof.")],
    key: Annotated[list[str] | None, typer.Option("--key", help="Trusted log verifier "
                                                  "key(s).")] = None,
    trust: Annotated[Path | None, typer.Option("--trust", help="Trust policy "
                                               "(c2sp.org/tlog-policy).")] = None,
    origin: Annotated[str | None, typer.Option(help="Require this log origin.")] = None,
) -> None:
    """Exit 0 when the proof shows the entry in a checkpoint signed by a trusted log
    (and cosigned per --trust); 1 when it does not."""
    from spyproof.provenance.proof import ProofFormatError, parse_proof, verify_proof

    log_keys = _verifiers(key, "--key")
    trusted = _trust(trust)
    if not log_keys and trusted is None:
        raise _fail("give the log's key (--key) or a trust policy (--trust)")
    data = _read(entry)
    try:
        proof = parse_proof(_read(proof_file))
    except ProofFormatError as exc:
        raise _fail(f"{proof_file}: not a tlog-proof: {exc}", 1) from None
    result = verify_proof(data, proof, log_keys=log_keys,
                          policy=trusted.policy if trusted else None, origin=origin)
    if not result.valid:
        raise _fail(f"{proof_file}: INVALID: {result.reason}", 1)
    if not State.quiet:
        out.print(f"{entry}: valid: {result.reason}", soft_wrap=True)


@log_app.command("verify")
def verify_log_cmd(
    location: Annotated[str, typer.Argument(help="Log directory or https:// URL.")],
    key: Annotated[list[str] | None, typer.Option("--key", help="Trusted log verifier "
                                                  "key(s).")] = None,
    trust: Annotated[Path | None, typer.Option("--trust")] = None,
    state: StateOpt = None,
    no_state: NoStateOpt = False,
) -> None:
    """Verify a whole tiles log: checkpoint signature (and witness quorum with --trust),
    every tile, every entry; consistency with the checkpoint seen last time."""
    from spyproof.provenance.client import LogTrustError, verify_whole_log
    from spyproof.provenance.tiles import LogFormatError

    log_keys = _verifiers(key, "--key")
    trusted = _trust(trust)
    if not log_keys and trusted is None:
        raise _fail("give the log's key (--key) or a trust policy (--trust)")
    _location(location)
    store = _state(state, no_state)
    try:
        opened, result = verify_whole_log(location, log_keys,
                                          trusted.policy if trusted else None, store)
    except LogTrustError as exc:
        raise _fail(f"{location}: {exc}", 1) from None
    except LogFormatError as exc:
        raise _fail(f"{location}: damaged log: {exc}", 1) from None
    if not State.quiet:
        cp = opened.checkpoint
        seen = f"; consistent with size {opened.previous.size} seen before" \
            if opened.previous else ""
        out.print(f"{location}: valid: {cp.origin} size {cp.size}, {result.tiles} tiles, "
                  f"{result.entries} entries, {len(opened.note.cosignatures())} "
                  f"trusted cosignature(s){seen}", soft_wrap=True)


@witness_app.command()
def cosign(
    location: Annotated[str, typer.Argument(help="Log directory or https:// URL.")],
    key: Annotated[Path, typer.Option("--key", help="The witness's cosignature signer "
                                      "key.")],
    state: Annotated[Path, typer.Option("--state", help="The witness's state file (last "
                                        "cosigned checkpoint per origin).")],
    log_key: Annotated[str | None, typer.Option("--log-key", help="The log's verifier key "
                                                "(needed the first time; then pinned).")]
        = None,
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Also write the "
                                                "cosigned checkpoint here.")] = None,
) -> None:
    """Cosign the log's checkpoint if it is consistent with the last one cosigned; a
    local log's checkpoint file gets the cosignature added."""
    from spyproof.atomic import write_bytes_atomic
    from spyproof.provenance.client import LogTrustError, StateFile
    from spyproof.provenance.keys import COSIGNATURE_V1
    from spyproof.provenance.tiles import LogFormatError
    from spyproof.provenance.witness import cosign as do_cosign

    _location(location)
    witness = _signer(str(key), COSIGNATURE_V1, "--key")
    logs = _verifiers([log_key] if log_key else None, "--log-key")
    try:
        store = StateFile(state)
        result = do_cosign(location, witness, store, logs[0] if logs else None)
    except LogTrustError as exc:
        raise _fail(f"witness: refused: {location}: {exc}", 1) from None
    except LogFormatError as exc:
        raise _fail(f"witness: {location}: {exc}", 1) from None
    if output is not None:
        write_bytes_atomic(output, result.note)
    if result.log_key_pinned_now and not State.quiet:
        emit_warning(f"pinned log key for {result.checkpoint.origin} in {state}")
    if not State.quiet:
        cp = result.checkpoint
        before = f"from size {result.previous_size}" if result.previous_size is not None \
            else "first checkpoint seen"
        where = "; added to the log's checkpoint" if result.published else ""
        out.print(f"cosigned {cp.origin} size {cp.size} ({before}){where}", soft_wrap=True)


def verify(
    image: Annotated[Path, typer.Argument(help="The firmware image running in the "
                                          "network.")],
    log: Annotated[str, typer.Option("--log", help="Log directory or https:// URL.")],
    trust: Annotated[Path, typer.Option("--trust", help="Trust policy: tlog-policy lines "
                                        "plus 'vendor <vkey>' / 'evaluator <vkey>'.")],
    vendor_key: Annotated[list[str] | None, typer.Option("--vendor-key")] = None,
    evaluator_key: Annotated[list[str] | None, typer.Option("--evaluator-key")] = None,
    state: StateOpt = None,
    no_state: NoStateOpt = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the verdict as JSON.")] =
        False,
) -> None:
    """Is this image released by the vendor, logged under a checkpoint that satisfies the
    trust policy, and evaluated with no failing clause? Exit 0 yes, 1 no."""
    from spyproof.provenance.client import LogTrustError
    from spyproof.provenance.operator import verify_image
    from spyproof.provenance.tiles import LogFormatError

    if not image.is_file():
        raise _fail(f"{image}: not a file")
    _location(log)
    trusted = _trust(trust)
    vendors = tuple(_verifiers(vendor_key, "--vendor-key"))
    evaluators = tuple(_verifiers(evaluator_key, "--evaluator-key"))
    store = _state(state, no_state)
    try:
        verdict = verify_image(image, log, trusted, store, extra_vendors=vendors,
                               extra_evaluators=evaluators)
    except LogTrustError as exc:
        raise _fail(f"{log}: NOT VERIFIED: {exc}", 1) from None
    except LogFormatError as exc:
        raise _fail(f"{log}: NOT VERIFIED: damaged log: {exc}", 1) from None
    except OSError as exc:
        raise _fail(f"{image}: cannot read: {exc.strerror}") from None
    if as_json:
        typer.echo(json.dumps(verdict.to_json(), indent=2, sort_keys=True))
    elif not State.quiet:
        _render(verdict)
    raise typer.Exit(0 if verdict.passed else 1)


def _render(verdict) -> None:  # noqa: ANN001 - OperatorVerdict
    from rich.table import Table

    table = Table(title=f"{Path(verdict.image).name}  sha256:{verdict.sha256}",
                  show_header=False, box=None)
    table.add_column()
    table.add_column(style="bold")
    table.add_column(overflow="fold")
    for check in verdict.checks:
        table.add_row("[green]✔[/]" if check.passed else "[red]✘[/]", check.name,
                      check.detail)
    out.print(table)
    if verdict.ignored:
        out.print(f"{verdict.ignored} statement(s) about this image are signed by keys "
                  "the trust file does not name; ignored.")
    out.print("[bold green]VERIFIED[/]" if verdict.passed else "[bold red]NOT VERIFIED[/]")
