"""Commands that change a user's files or forget them: ``tag``, ``organise``, ``undo``, ``prune``.

Thin over the :class:`~music_reclass.Library`: the work, the journal and the crash
safety live in :mod:`music_reclass.act`. Exit status: 0 when every file went well, 1
when some file failed (or an undo was refused), or when audio under the paths was never
analysed; 0 when there is no audio under them at all (nothing to do); 2 for bad
arguments, a missing path or an unusable database.
"""

from __future__ import annotations

from pathlib import Path

import typer

from music_reclass.act.placement import DEFAULT_PATTERN
from music_reclass.act.tagio import MODES
from music_reclass.cli.app import app
from music_reclass.cli.common import (
    DB_HELP,
    EXIT_FAILED,
    EXIT_OK,
    echo,
    fail,
    handled,
    open_library,
    setting,
)

MODEL_HELP = "Use this model's genres (default: the library's active model)."
CONFIDENCE_HELP = ("Write every genre at least this confident (0-1). Default: the model's "
                   "decision: its decided genres, nothing where it abstains (see `list "
                   "--status review`).")


def _finish(ok: bool, lines: list[str]) -> None:
    for line in lines:
        echo(line)
    raise typer.Exit(EXIT_OK if ok else EXIT_FAILED)


def _unrecorded(summary: object) -> tuple[list[str], str]:
    """The lines and the summary clause of changes the journal could not record, and the
    database error that stopped the run."""
    unrecorded = getattr(summary, "unrecorded", [])
    lines = [f"not recorded: {outcome}" for outcome in unrecorded]
    error = getattr(summary, "error", None)
    if error:
        lines.append(f"error: {error}")
    clause = (f"; the journal could not record {len(unrecorded)} of them: settled on the "
              "next command (undo covers them then)" if unrecorded else "")
    return lines, clause


@app.command("tag")
def tag_command(
    paths: list[Path] = typer.Argument(..., help="Files or folders classified before."),
    min_confidence: float | None = typer.Option(None, "--min-confidence", min=0.0, max=1.0,
                                                help=CONFIDENCE_HELP),
    top_k: int | None = typer.Option(None, "--top-k", min=1,
                                     help="Write at most this many genres (default 3)."),
    mode: str | None = typer.Option(
        None, "--mode", help="replace (default) | append | fill (only files without a genre)."),
    dry_run: bool = typer.Option(
        False, "--dry-run", help="Print the exact change per file; write nothing."),
    model: str | None = typer.Option(None, "--model", help=MODEL_HELP),
    db: Path | None = typer.Option(None, "--db", help=DB_HELP),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Only failures and the summary."),
) -> None:
    """Write the predicted genres into the files' tags (journalled; `reclass undo` reverts)."""
    min_confidence = setting("tag", "min_confidence", min_confidence)
    top_k = setting("tag", "top_k", top_k, 3)
    mode = setting("tag", "mode", mode, "replace")
    if mode not in MODES:
        raise fail(f"--mode must be one of {', '.join(MODES)}, not {mode!r}")
    library = open_library(db)
    with handled():
        summary = library.tag(paths, model=model, min_confidence=min_confidence, top_k=top_k,
                              mode=mode, dry_run=dry_run,
                              echo=None if quiet else echo)
    verb = "would change" if dry_run else "changed"
    lines = [] if quiet else [f"skipped: {s}" for s in summary.skipped]
    lines += [f"failed: {f}" for f in summary.failed] if quiet else []
    extra, clause = _unrecorded(summary)
    lines += extra
    lines.append(
        f"{verb} {len(summary.changes)} file(s){clause}, {len(summary.unchanged)} already "
        f"right, {len(summary.skipped)} skipped, {len(summary.failed)} failed"
        + ("" if summary.run_id is None
           else f" (run {summary.run_id}; undo with `reclass undo {summary.run_id}`)"
           if summary.changes or summary.unrecorded else f" (run {summary.run_id})"))
    _finish(summary.ok, lines)


@app.command("organise")
def organise_command(
    paths: list[Path] = typer.Argument(..., help="Files or folders classified before."),
    into: Path = typer.Option(..., "--into", help="Target folder."),
    pattern: str | None = typer.Option(
        None, "--pattern",
        help="Fields: genre artist album title filename ext year (default: "
             "{genre}/{artist}/{album}/{filename}). When the last part has neither "
             "{filename} nor {ext}, the original extension is appended."),
    copy: bool | None = typer.Option(
        None, "--copy/--move", help="Copy, leaving the originals in place (default), or move."),
    group: str = typer.Option(
        "album", "--group",
        help="album: an album's tracks share its majority genre (one folder per album); "
             "track: each track its own."),
    no_companions: bool = typer.Option(
        False, "--no-companions", help="Leave cover art, cue sheets and lyrics where they are."),
    dry_run: bool = typer.Option(
        False, "--dry-run", help="Print where each file would go; change nothing."),
    min_confidence: float | None = typer.Option(
        None, "--min-confidence", min=0.0, max=1.0,
        help="Use the top genre when at least this confident (default: the decided genre); "
             "otherwise {genre} is the file's existing genre tag."),
    skip_existing: bool = typer.Option(
        False, "--skip-existing", help="Skip a file whose target name is taken (default: add ' (1)')."),
    model: str | None = typer.Option(None, "--model", help=MODEL_HELP),
    db: Path | None = typer.Option(None, "--db", help=DB_HELP),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Only failures and the summary."),
) -> None:
    """Copy (or move) files into genre folders, albums together, cover art and lyrics
    along (journalled; never overwrites; `reclass undo` puts everything back)."""
    library = open_library(db)
    copy = setting("organise", "copy", copy, True)
    pattern = setting("organise", "pattern", pattern, DEFAULT_PATTERN)
    with handled():
        summary = library.organise(paths, into=into, model=model, pattern=pattern, copy=copy,
                                   dry_run=dry_run, min_confidence=min_confidence,
                                   on_collision="skip" if skip_existing else "suffix",
                                   group=group, companions=not no_companions,
                                   echo=None if quiet else echo)
    verb = ("would copy" if copy else "would move") if dry_run else ("copied" if copy else "moved")
    lines = [] if quiet else [f"skipped: {s}" for s in summary.skipped]
    lines += [f"failed: {f}" for f in summary.failed] if quiet else []
    extra, clause = _unrecorded(summary)
    lines += extra
    lines.append(
        f"{verb} {len(summary.placed)} file(s){clause} and {len(summary.companions)} "
        f"companion(s), {len(summary.unchanged)} already in place, "
        f"{len(summary.skipped)} skipped, {len(summary.failed)} failed"
        + ("" if summary.run_id is None else f" (run {summary.run_id})"))
    _finish(summary.ok, lines)


@app.command("undo")
def undo_command(
    run: int | None = typer.Argument(None, help="Run id to undo (default: the latest tag/organise/plex-push run)."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Print what would be undone; change nothing."),
    db: Path | None = typer.Option(None, "--db", help=DB_HELP),
) -> None:
    """Undo a tag or organise run: byte for byte where a file is as the run left it, else its
    genre alone (your later edits kept); refuses, with the reason, what it cannot undo. A
    plex-push run gets Plex's genres and locks back; a correct run's corrections go."""
    library = open_library(db)
    with handled():
        report = library.undo(run, dry_run=dry_run)
    settled = [f"settled: {m}" for m in report.settled]
    if report.run_id is None:
        _finish(True, [*settled, "nothing to undo"])
    lines = settled + [("would undo: " if dry_run else "undone: ") + str(m)
                       for m in report.undone]
    lines += [f"refused: {m}" for m in report.refused]
    extra, clause = _unrecorded(report)
    lines += extra
    inexact = (f" ({len(report.inexact)} not byte for byte: see above)"
               if report.inexact else "")
    lines.append(
        f"run {report.run_id}: {'would undo' if dry_run else 'undid'} {len(report.undone)} "
        f"change(s){inexact}{clause}, {len(report.refused)} refused, {len(report.skipped)} "
        "already undone")
    _finish(report.ok, lines)


@app.command("prune")
def prune_command(
    paths: list[Path] = typer.Argument(None, help="Only files under this folder."),
    dry_run: bool = typer.Option(False, "--dry-run", help="List them; forget nothing."),
    db: Path | None = typer.Option(None, "--db", help=DB_HELP),
) -> None:
    """Forget the files the library records that are no longer on disk."""
    library = open_library(db)
    with handled():
        report = library.prune(dry_run=dry_run, under=paths[0] if paths else None)
    lines = [("would forget: " if dry_run else "forgot: ") + p for p in report.forgotten]
    lines.append(f"{'would forget' if dry_run else 'forgot'} {len(report.forgotten)} file(s)")
    _finish(True, lines)
