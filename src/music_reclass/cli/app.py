"""The typer application object that every command module registers on."""

from __future__ import annotations

import typer
from typer.core import TyperOption

_display_type = TyperOption.display_type_rich


def _no_placeholder_for_flags(self: TyperOption, ctx: typer.Context) -> str | None:
    # a flag takes no value: its help row shows no "<bool>" type column
    return None if self.is_flag else _display_type(self, ctx)


TyperOption.display_type_rich = _no_placeholder_for_flags  # type: ignore[method-assign]

app = typer.Typer(
    name="reclass",
    help="Classify music by genre from its audio, and reclassify a library with it.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
