"""``spyproof attest``: signed in-toto statements (DSSE, Ed25519) for releases and
evaluations. The envelope's keyid is the signer's C2SP verifier key string, so a verifier
knows which key to check without a side channel."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Annotated

import typer

from spyproof.cli_output import State, emit_error, out

attest_app = typer.Typer(no_args_is_help=True, help="Signed release and evaluation "
                         "statements (in-toto Statement v1 in DSSE).")


def _signer(value: str):  # noqa: ANN202 - (private key, vkey string, name)
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from spyproof.cli_provenance import _key_text
    from spyproof.provenance.keys import ED25519, BadKey, parse_signer_key

    try:
        signer = parse_signer_key(_key_text(value))
    except BadKey as exc:
        emit_error(f"--key: {exc}")
        raise typer.Exit(2) from None
    if signer.kind != ED25519:
        emit_error("--key: statements are signed with an ed25519 key, not a cosignature key")
        raise typer.Exit(2)
    return Ed25519PrivateKey.from_private_bytes(signer.seed), signer.verifier.vkey, \
        signer.name


def _write(envelope: dict, output: Path) -> None:
    from spyproof.provenance.dsse import write_envelope

    try:
        write_envelope(output, envelope)
    except OSError as exc:
        emit_error(f"{output}: cannot write: {exc.strerror}")
        raise typer.Exit(2) from None
    if not State.quiet:
        out.print(f"{output}", soft_wrap=True)


@attest_app.command()
def release(
    image: Annotated[Path, typer.Argument(help="The released firmware image.")],
    key: Annotated[str, typer.Option("--key", help="Vendor signer key (string or file).")],
    version: Annotated[str, typer.Option(help="Release version, e.g. 5.2.1.")],
    output: Annotated[Path, typer.Option("--output", "-o")],
    vendor: Annotated[str | None, typer.Option(help="Default: the key's name.")] = None,
    product: Annotated[str | None, typer.Option(help="Default: the image file name.")] =
        None,
    source_digest: Annotated[str | None, typer.Option(
        help="sha256:<hex> of the source archive, or gitCommit:<hex>.")] = None,
    sbom_digest: Annotated[str | None, typer.Option(help="sha256:<hex> of the SBOM.")] =
        None,
    agreement: Annotated[Path | None, typer.Option(
        help="The agreement the release is made under (its digest is recorded).")] = None,
) -> None:
    """Scan IMAGE's inventory and sign a release statement: the image digests, the
    version, source/SBOM/agreement digests and the Merkle root of every file."""
    import hashlib

    from spyproof.provenance.statements import release_statement, sign_statement
    from spyproof.scan import ScanInputError, ScanOptions, run_scan

    private, vkey, name = _signer(key)
    agreement_digest = None
    if agreement is not None:
        try:
            agreement_digest = "sha256:" + hashlib.sha256(agreement.read_bytes()).hexdigest()
        except OSError as exc:
            emit_error(f"{agreement}: cannot read: {exc.strerror}")
            raise typer.Exit(2) from None
    with tempfile.TemporaryDirectory(prefix="spyproof-attest-") as tmp:
        try:
            outcome = run_scan(image, Path(tmp) / "out", ScanOptions(
                identify=False, vulns=False, checks=False))
        except ScanInputError as exc:
            emit_error(str(exc))
            raise typer.Exit(2) from None
    if outcome.problems:
        for problem in outcome.problems:
            emit_error(problem)
        emit_error(f"{image}: the inventory is partial; no release statement signed")
        raise typer.Exit(2)
    try:
        statement = release_statement(
            outcome.report, vendor=vendor or name, product=product or image.name,
            version=version, source_digest=source_digest, sbom_digest=sbom_digest,
            agreement_digest=agreement_digest)
    except ValueError as exc:
        emit_error(f"release statement: {exc}".splitlines()[0])
        raise typer.Exit(2) from None
    _write(sign_statement(statement, private, keyid=vkey), output)


@attest_app.command()
def evaluation(
    report: Annotated[Path, typer.Argument(help="report.json of the evaluated scan.")],
    key: Annotated[str, typer.Option("--key", help="Evaluator signer key.")],
    output: Annotated[Path, typer.Option("--output", "-o")],
    evaluator: Annotated[str | None, typer.Option(help="Default: the key's name.")] = None,
) -> None:
    """Sign an evaluation statement: the image digest, spyproof and knowledge-base
    versions, the report's digest and the verdict of every clause."""
    from pydantic import ValidationError

    from spyproof.models import Report
    from spyproof.provenance.statements import evaluation_statement, sign_statement

    private, vkey, name = _signer(key)
    try:
        data = report.read_bytes()
        parsed = Report.model_validate_json(data)
    except OSError as exc:
        emit_error(f"{report}: cannot read: {exc.strerror}")
        raise typer.Exit(2) from None
    except ValidationError as exc:
        emit_error(f"{report}: not a spyproof report ({exc.error_count()} problem(s))")
        raise typer.Exit(2) from None
    statement = evaluation_statement(parsed, data, evaluator=evaluator or name)
    _write(sign_statement(statement, private, keyid=vkey), output)


@attest_app.command("verify")
def verify_cmd(
    envelope: Annotated[Path, typer.Argument(help="A .dsse.json statement.")],
    key: Annotated[list[str], typer.Option("--key", help="Trusted verifier key(s).")],
) -> None:
    """Exit 0 and print the statement's type and subject when a trusted key signed it;
    exit 1 otherwise."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    from spyproof.cli_provenance import _key_text
    from spyproof.provenance.dsse import EnvelopeError, read_envelope
    from spyproof.provenance.keys import BadKey, parse_verifier_key
    from spyproof.provenance.statements import verify_statement

    try:
        keys = {}
        for k in key:
            v = parse_verifier_key(_key_text(k))
            keys[v.vkey] = Ed25519PublicKey.from_public_bytes(v.public_key)
    except BadKey as exc:
        emit_error(f"--key: {exc}")
        raise typer.Exit(2) from None
    try:
        statement = verify_statement(read_envelope(envelope), keys)
    except (EnvelopeError, ValueError) as exc:
        emit_error(f"{envelope}: not verified: {exc}".splitlines()[0])
        raise typer.Exit(1) from None
    if not State.quiet:
        subj = statement["subject"][0]
        out.print(f"{envelope}: {statement['predicateType']} for {subj['name']} "
                  f"sha256:{subj['digest']['sha256']}", soft_wrap=True)
