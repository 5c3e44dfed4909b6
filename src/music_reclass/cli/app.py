"""The typer application object that every command module registers on."""

from __future__ import annotations

import typer

app = typer.Typer(
    name="reclass",
    help="Classify music by genre from its audio, and reclassify a library with it.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
