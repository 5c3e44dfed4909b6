"""reclass commands that change a user's files: ``tag``, ``organise``, ``undo``.

All three are thin: the work, the journal and the crash safety live in
``music_reclass.library`` (tags, organise, journal, safe_write). Exit status: 0
when every file went well, 1 when some file failed (or an undo was refused),
2 for bad arguments, a missing path or an unusable database; 1 also when audio
files under the paths were never analysed (dry runs included: nothing to show), 0
when there is no audio file under them at all (nothing to do). Neither starts a run.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import typer

from music_reclass.cli.app import app
from music_reclass.errors import ParameterError, ReclassError
from music_reclass.library import db as libdb
from music_reclass.paths import default_db_path

MODES = ("replace", "append", "fill")


def _echo(line: str, *, err: bool = False) -> None:
    """Print a line that may quote a file name that is not UTF-8 (escaped, never a crash)."""
    typer.echo(line.encode("utf-8", "backslashreplace").decode("utf-8"), err=err)


@contextmanager
def _library(db: Path | None) -> Iterator:
    """The open library DB; bad arguments exit 2, "nothing analysed" exits 1."""
    from music_reclass.library.tags import NothingAnalysedError

    try:
        conn = libdb.connect(db or default_db_path())
    except ReclassError as exc:
        _echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc
    try:
        yield conn
    except ParameterError as exc:
        _echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc
    except NothingAnalysedError as exc:
        # No audio at all under the paths: nothing to do. Audio never classified: a mistake.
        _echo(str(exc), err=exc.audio_found)
        raise typer.Exit(1 if exc.audio_found else 0) from exc
    finally:
        conn.close()


def _normaliser(taxonomy: bool):
    from music_reclass.library.tags import _clean_label, _default_normaliser

    return _default_normaliser() if taxonomy else (lambda name: _clean_label(name) or None)


def _finish(ok: bool, lines: list[str]) -> None:
    for line in lines:
        _echo(line)
    raise typer.Exit(0 if ok else 1)


@app.command("tag")
def tag_command(
    paths: list[Path] = typer.Argument(
        ..., help="Files or folders analysed by `reclass classify`."
    ),
    min_confidence: float = typer.Option(
        ..., "--min-confidence", help="Write genres with at least this confidence (0-1)."
    ),
    top_k: int = typer.Option(3, "--top-k", help="Write at most this many genres."),
    mode: str = typer.Option(
        "replace", "--mode", help="replace | append | fill (only files without a genre)."
    ),
    dry_run: bool = typer.Option(
        False, "--dry-run", help="Print the exact change per file; write nothing."
    ),
    taxonomy: bool = typer.Option(
        True, "--taxonomy/--no-taxonomy", help="Normalise genre names with the taxonomy."
    ),
    model_id: str | None = typer.Option(
        None, "--model-id", help="Use this model's analyses (default: latest)."
    ),
    db: Path | None = typer.Option(
        None, "--db", help="Library database (default: RECLASS_DB or the data dir)."
    ),
) -> None:
    """Write predicted genres into the files' tags (journalled; `reclass undo` reverts)."""
    from music_reclass.library.tags import tag_library

    if mode not in MODES:
        raise typer.BadParameter(f"--mode must be one of {', '.join(MODES)}")
    with _library(db) as conn:
        summary = tag_library(
            conn,
            paths,
            min_confidence=min_confidence,
            top_k=top_k,
            mode=mode,
            dry_run=dry_run,
            model_id=model_id,
            normalise=_normaliser(taxonomy),
            echo=_echo,
        )
    verb = "would change" if dry_run else "changed"
    lines = [f"skipped: {s}" for s in summary.skipped]
    lines.append(
        f"{verb} {len(summary.changes)} file(s), {len(summary.unchanged)} already right, "
        f"{len(summary.skipped)} skipped, {len(summary.failed)} failed"
        + (
            ""
            if summary.run_id is None
            else f" (run {summary.run_id}; undo with `reclass undo {summary.run_id}`)"
        )
    )
    _finish(summary.ok, lines)


@app.command("organise")
def organise_command(
    paths: list[Path] = typer.Argument(
        ..., help="Files or folders analysed by `reclass classify`."
    ),
    into: Path = typer.Option(..., "--into", help="Target folder."),
    pattern: str = typer.Option(
        "{genre}/{artist}/{album}/{filename}",
        "--pattern",
        help="Fields: genre artist album title filename ext year. When the last part has"
        " neither {filename} nor {ext}, the original extension is appended.",
    ),
    copy: bool = typer.Option(False, "--copy/--move", help="Copy instead of move (default: move)."),
    dry_run: bool = typer.Option(
        False, "--dry-run", help="Print where each file would go; change nothing."
    ),
    min_confidence: float = typer.Option(
        0.0, "--min-confidence", help="Below it, {genre} falls back to the existing genre tag."
    ),
    skip_existing: bool = typer.Option(
        False,
        "--skip-existing",
        help="Skip a file whose target name is taken (default: add ' (1)').",
    ),
    model_id: str | None = typer.Option(
        None, "--model-id", help="Use this model's analyses (default: latest)."
    ),
    db: Path | None = typer.Option(None, "--db", help="Library database."),
) -> None:
    """Move or copy files into genre folders (journalled; never overwrites)."""
    from music_reclass.library.organise import organise_library

    with _library(db) as conn:
        summary = organise_library(
            conn,
            paths,
            into=into,
            pattern=pattern,
            copy=copy,
            dry_run=dry_run,
            min_confidence=min_confidence,
            on_collision="skip" if skip_existing else "suffix",
            model_id=model_id,
            echo=_echo,
        )
    verb = ("would copy" if copy else "would move") if dry_run else ("copied" if copy else "moved")
    lines = [f"skipped: {s}" for s in summary.skipped]
    lines.append(
        f"{verb} {len(summary.placed)} file(s), {len(summary.unchanged)} already in place, "
        f"{len(summary.skipped)} skipped, {len(summary.failed)} failed"
        + ("" if summary.run_id is None else f" (run {summary.run_id})")
    )
    _finish(summary.ok, lines)


@app.command("undo")
def undo_command(
    run: int | None = typer.Argument(
        None, help="Run id to undo (default: the latest tag/organise run)."
    ),
    dry_run: bool = typer.Option(
        False, "--dry-run", help="Print what would be undone; change nothing."
    ),
    db: Path | None = typer.Option(None, "--db", help="Library database."),
) -> None:
    """Undo a tag or organise run exactly; refuses files changed since, goes on with the rest."""
    from music_reclass.library.journal import undo_run

    with _library(db) as conn:
        report = undo_run(conn, run, dry_run=dry_run)
    if report.run_id is None:
        _finish(True, ["nothing to undo"])
    lines = [("would undo: " if dry_run else "undone: ") + m for m in report.undone]
    lines += [f"refused: {m}" for m in report.refused]
    lines.append(
        f"run {report.run_id}: {'would undo' if dry_run else 'undid'} {len(report.undone)} change(s), "
        f"{len(report.refused)} refused, {len(report.skipped)} already undone"
    )
    _finish(report.ok, lines)
