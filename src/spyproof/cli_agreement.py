"""``spyproof agreement``: write a commented template, validate a file."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from spyproof.cli_output import State, emit_error, out

agreement_app = typer.Typer(no_args_is_help=True, help="The no-spy agreement (TOML).")


@agreement_app.command()
def init(
    vendor: Annotated[str, typer.Option(help="The vendor's name.")],
    product: Annotated[str, typer.Option(help="The product's name.")],
) -> None:
    """Print a commented agreement with the built-in clauses NS-1 … NS-7."""
    from spyproof.agreement.template import render_template

    typer.echo(render_template(vendor, product), nl=False)


@agreement_app.command()
def check(
    path: Annotated[Path, typer.Argument(help="Agreement file (TOML).")],
) -> None:
    """Validate an agreement: one error per problem with its line; exit 2 if any."""
    from spyproof.agreement import AgreementError, load_agreement

    try:
        loaded = load_agreement(path)
    except AgreementError as exc:
        for line in str(exc).splitlines():
            emit_error(line)
        raise typer.Exit(2) from None
    ag = loaded.agreement
    if not State.quiet:
        out.print(f"{path}: valid agreement for {ag.agreement.vendor} {ag.agreement.product}: "
                  f"{len(ag.clauses) or 7} clauses, {len(ag.remote_access)} remote-access, "
                  f"{len(ag.accounts)} account and {len(ag.endpoints)} endpoint "
                  f"declarations; sha256 {loaded.sha256}", soft_wrap=True)
