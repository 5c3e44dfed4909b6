"""``reclass review``, ``correct`` and ``accept``: the tracks to look at, and the owner's word.

Thin over :class:`~music_reclass.Library`'s review jobs. A correction is one undoable run
(``reclass undo RUN``). Exit status: 0, 1 when some file was refused (not in the
library), 2 for bad arguments or a missing database.
"""

from __future__ import annotations

from pathlib import Path

import typer

from music_reclass.cli.app import app
from music_reclass.cli.common import DB_HELP, EXIT_FAILED, EXIT_OK, echo, handled, open_library
from music_reclass.cli.output import (
    display_label,
    display_path,
    fit,
    format_genres,
    terminal_width,
    write_json_line,
)


@app.command("review")
def review_command(
    db: Path | None = typer.Option(None, "--db", help=DB_HELP),
    model: str | None = typer.Option(None, "--model", help="The model whose abstentions to list."),
    limit: int | None = typer.Option(50, "--limit", min=1, help="At most this many tracks."),
    json_output: bool = typer.Option(False, "--json", help="JSON Lines, one object per track."),
) -> None:
    """The tracks the model would not decide, least confident first, with the reason.

    Correct them with `reclass correct FILE GENRE...` or confirm with `reclass accept FILE`.
    """
    library = open_library(db)
    width = terminal_width()
    count = 0
    with handled():
        for view in library.review_queue(model=model, limit=limit):
            count += 1
            if json_output:
                write_json_line({"id": view.id, "path": view.path, "genres": view.genres[:3],
                                 "reason": view.abstain_reason, "genre_tags": view.genre_tags})
                continue
            echo(f"{fit(display_path(view.path), max(30, width - 50)):<{max(30, width - 50)}} "
                 f"{format_genres(view.genres, top_k=2)[:26]:<26} "
                 f"{(view.abstain_reason or '')[:22]}")
    if not json_output:
        echo(f"{count} track(s) to review")


@app.command("correct")
def correct_command(
    file: Path = typer.Argument(..., help="A file of the library."),
    genres: list[str] = typer.Argument(..., help="Its genres, in your own words."),
    db: Path | None = typer.Option(None, "--db", help=DB_HELP),
) -> None:
    """Say which genres a track has: a training label for `reclass learn`, and what
    `reclass tag` writes for it (`reclass undo RUN` withdraws it)."""
    library = open_library(db)
    with handled():
        report = library.correct([file], genres)
    _report(report, verb="corrected")


@app.command("accept")
def accept_command(
    files: list[Path] = typer.Argument(..., help="Files of the library."),
    db: Path | None = typer.Option(None, "--db", help=DB_HELP),
) -> None:
    """Confirm the model's genres for these tracks (recorded like a correction)."""
    library = open_library(db)
    with handled():
        report = library.accept(files)
    _report(report, verb="accepted")


def _report(report, *, verb: str) -> None:  # noqa: ANN001 - a CorrectionReport
    for path, labels in report.corrected:
        echo(f"{verb}: {display_path(path)}: {', '.join(display_label(g) for g in labels)}")
    for path, why in report.refused:
        echo(f"refused: {path}: {why}", err=True)
    echo(f"{verb} {len(report.corrected)} file(s), {len(report.refused)} refused"
         + (f" (run {report.run_id}; undo with `reclass undo {report.run_id}`)"
            if report.corrected else ""))
    raise typer.Exit(EXIT_OK if report.ok else EXIT_FAILED)
