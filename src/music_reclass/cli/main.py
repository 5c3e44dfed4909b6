"""Entry point of the ``reclass`` command.

Each command lives in its own module and registers itself on :data:`app`;
importing the modules here is what makes them available. The import order is the
order of ``reclass --help``: the main job first.
"""

from __future__ import annotations

import importlib

import typer

from music_reclass import __version__
from music_reclass.cli.app import app

# Importing a command module registers its commands; this order is `reclass --help`'s.
COMMAND_MODULES = ("classify", "query", "act", "review", "learn", "plex", "serve", "settings")
for _name in COMMAND_MODULES:
    importlib.import_module(f"music_reclass.cli.{_name}")

__all__ = ["app"]


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"reclass {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    version: bool = typer.Option(
        False, "--version", callback=_print_version, is_eager=True, help="Print the version."
    ),
) -> None:
    """Classify music by genre from its audio, and reclassify a library with it."""


if __name__ == "__main__":
    app()
