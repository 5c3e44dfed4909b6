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


def reflow_help(typer_app: typer.Typer) -> None:
    """Join the hard-wrapped lines of every command's docstring into paragraphs.

    Typer keeps a docstring's single line breaks, so help written at 88 columns breaks
    mid-sentence in an 80-column terminal; rich wraps the joined paragraphs to fit.
    """
    for command in typer_app.registered_commands:
        text = command.help or (command.callback.__doc__ if command.callback else None)
        if text:
            command.help = _reflow(text)
    for group in typer_app.registered_groups:
        if group.typer_instance is not None:
            reflow_help(group.typer_instance)


def _reflow(text: str) -> str:
    import inspect

    paragraphs = inspect.cleandoc(text).split("\n\n")
    return "\n\n".join(" ".join(p.split()) for p in paragraphs)
