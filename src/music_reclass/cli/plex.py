"""``reclass plex status | push | pull | undo``: genres between the library and a Plex server.

Thin over the :class:`~music_reclass.Library`'s Plex jobs (``plex_status``,
``plex_push``, ``plex_pull``, ``plex_undo``). Connection options: ``--url`` and
``--token`` (else ``RECLASS_PLEX_URL`` / ``RECLASS_PLEX_TOKEN``, else the ``[plex]``
table of the config file), ``--path-map PLEX_PREFIX=LOCAL_PREFIX`` (repeatable),
``--section``. The token is never printed. Exit status: 0 when everything went well,
1 when some item failed (or an undo was refused), 2 for bad options, an unusable
database or a server that cannot be used (unreachable, token refused, no music
library, too old for per-track genres), 130 interrupted.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import typer

from music_reclass.cli.app import app
from music_reclass.cli.common import (
    DB_HELP,
    EXIT_FAILED,
    EXIT_OK,
    echo,
    handled,
    open_library,
    setting,
)
from music_reclass.cli.output import CsvWriter, display_path, progress_callback, write_json_line

plex_app = typer.Typer(
    name="plex",
    help="Compare genres with a Plex Media Server, write them there (journalled), read them back.",
    no_args_is_help=True,
)
app.add_typer(plex_app, name="plex")

LEVEL_HELP = "track (Plex 1.40+) | album | artist: albums/artists get their tracks' majority genre."
CONFIDENCE_HELP = ("Decided genres: every genre at least this confident (0-1). Default: as "
                   "`reclass tag` (the config file's [tag] min_confidence, else the model's "
                   "decision).")

# Options shared by the commands (typer reads defaults from these objects).
URL = typer.Option(None, "--url", help="Plex server, e.g. http://192.168.1.10:32400 "
                   "(default: RECLASS_PLEX_URL or the config file).")
TOKEN = typer.Option(None, "--token", help="X-Plex-Token (default: RECLASS_PLEX_TOKEN or the "
                     "config file; never printed).")
PATH_MAP = typer.Option(None, "--path-map", help="PLEX_PREFIX=LOCAL_PREFIX: where Plex sees "
                        "your files vs this machine (repeatable; default: the config file's).")
SECTION = typer.Option(None, "--section", help="Only this music library (default: all).")
DB = typer.Option(None, "--db", help=DB_HELP)
MODEL = typer.Option(None, "--model", help="Use this model's genres (default: the active one).")
MIN_CONFIDENCE = typer.Option(None, "--min-confidence", min=0.0, max=1.0, help=CONFIDENCE_HELP)
TOP_K = typer.Option(None, "--top-k", min=1, help="Decided genres: at most this many per "
                     "track (default: as `reclass tag`, [tag] top_k or 3).")
MODE = typer.Option("replace", "--mode", help="replace | merge (add to Plex's genres).")


def _connection(url: str | None, token: str | None, path_map: list[str] | None,
                section: str | None) -> dict[str, Any]:
    """The connection flags; what is not given the façade takes from env, then config."""
    return {"url": url, "token": token, "path_maps": path_map or None, "section": section}


def _decision(model: str | None, min_confidence: float | None, top_k: int | None,
              ) -> dict[str, Any]:
    """The genres a push writes: those `reclass tag` would, with the same defaults."""
    return {"model": model, "min_confidence": setting("tag", "min_confidence", min_confidence),
            "top_k": setting("tag", "top_k", top_k, 3)}


def _progress():  # noqa: ANN202 - a context manager yielding the callback or None
    return progress_callback("reading Plex", enabled=sys.stderr.isatty())


def _print(lines: list[str], ok: bool = True) -> None:
    for line in lines:
        echo(line)
    raise typer.Exit(EXIT_OK if ok else EXIT_FAILED)


def _match_line(matches: Any) -> str:
    total = len(matches.matched) + len(matches.ambiguous) + len(matches.unmatched)
    return (
        f"Plex tracks: {total}; matched {len(matches.matched)} ({matches.count('path')} by path, "
        f"{matches.count('tags')} by title/artist/duration), {len(matches.ambiguous)} ambiguous, "
        f"{len(matches.unmatched)} unmatched; library files not in Plex: "
        f"{len(matches.library_only)}"
    )


def _ambiguous_lines(matches: Any) -> list[str]:
    return [f"ambiguous: {a.plex.display()}: {a.reason}: "
            + ", ".join(display_path(p) for p in a.candidates) for a in matches.ambiguous]


@plex_app.command("status")
def status_command(
    url: str | None = URL,
    token: str | None = TOKEN,
    path_map: list[str] | None = PATH_MAP,
    section: str | None = SECTION,
    db: Path | None = DB,
    mode: str = MODE,
    level: str | None = typer.Option(None, "--level", help=LEVEL_HELP + " Default: track on "
                                     "1.40+."),
    model: str | None = MODEL,
    min_confidence: float | None = MIN_CONFIDENCE,
    top_k: int | None = TOP_K,
    verbose: bool = typer.Option(False, "--verbose", "-v", help="One line per matched track."),
    json_output: bool = typer.Option(False, "--json", help="JSON Lines: tracks, changes, totals."),
) -> None:
    """Plex's genres against the predictions and decided genres; what a push would change."""
    library = open_library(db)
    with handled(), _progress() as on_progress:
        report = library.plex_status(**_connection(url, token, path_map, section),
                                     **_decision(model, min_confidence, top_k), mode=mode,
                                     level=level, on_progress=on_progress)
    if json_output:
        _status_json(report)
        raise typer.Exit(EXIT_OK)
    _print(_status_lines(report, verbose=verbose))


def _status_json(report: Any) -> None:
    for row in report.rows:
        write_json_line({"type": "track", **vars(row)})
    for item in report.matches.ambiguous:
        write_json_line({"type": "ambiguous", "rating_key": item.plex.rating_key,
                         "title": item.plex.display(), "files": list(item.plex.files),
                         "candidates": list(item.candidates), "reason": item.reason})
    for track in report.matches.unmatched:
        write_json_line({"type": "unmatched", "rating_key": track.rating_key,
                         "title": track.display(), "files": list(track.files)})
    for change in report.changes:
        write_json_line({"type": "change", **vars(change)})
    write_json_line({"type": "totals", "server": report.server, "level": report.level,
                     "mode": report.mode, "notes": report.notes, **vars(report.totals)})


def _status_lines(report: Any, *, verbose: bool) -> list[str]:
    t = report.totals
    lines = [f"Plex: {report.server}", *[f"note: {n}" for n in report.notes],
             _match_line(report.matches)]
    lines.append(
        f"Plex genres ({report.rows[0].genre_level if report.rows else 'track'} level): "
        f"{t.with_plex_genre} of {t.matched} matched tracks have some ({t.locked} locked); "
        f"top prediction: {t.agree_prediction} agree, {t.disagree_prediction} differ; "
        f"decided genres: {t.agree_decided} same, {t.disagree_decided} differ"
    )
    if verbose:
        for row in report.rows:
            mark = {True: "=", False: "≠", None: " "}[row.agrees_decided]
            genres = "; ".join(row.plex_genres or ()) or "-"
            lock = " (locked)" if row.locked else ""
            top = f"{row.predicted[0][0]} {row.predicted[0][1]:.2f}" if row.predicted else "-"
            lines.append(f"{mark} {display_path(row.path)}: Plex {genres}{lock}; predicted {top}; "
                         f"decided {'; '.join(row.decided) or '-'}")
    lines += _ambiguous_lines(report.matches)
    lines += [f"would change: {c.describe()}" for c in report.changes]
    lines += [f"would skip: {s}" for s in report.skipped]
    lines.append(f"a push (level {report.level}, mode {report.mode}) would change "
                 f"{len(report.changes)} item(s); {len(report.skipped)} skipped")
    return lines


@plex_app.command("push")
def push_command(
    url: str | None = URL,
    token: str | None = TOKEN,
    path_map: list[str] | None = PATH_MAP,
    section: str | None = SECTION,
    db: Path | None = DB,
    dry_run: bool = typer.Option(False, "--dry-run", help="Show each change; send nothing."),
    mode: str = MODE,
    level: str = typer.Option("track", "--level", help=LEVEL_HELP),
    min_share: float = typer.Option(0.5, "--min-share", min=0.0, max=1.0,
                                    help="album/artist level: share of tracks a genre needs."),
    skip_locked: bool = typer.Option(False, "--skip-locked", help="Leave items whose genre "
                                     "field is locked (hand-edited)."),
    model: str | None = MODEL,
    min_confidence: float | None = MIN_CONFIDENCE,
    top_k: int | None = TOP_K,
) -> None:
    """Write the decided genres to Plex, locked against refreshes (journalled; `reclass undo`)."""
    library = open_library(db)
    with handled(), _progress() as on_progress:
        report = library.plex_push(**_connection(url, token, path_map, section),
                                   **_decision(model, min_confidence, top_k), mode=mode,
                                   level=level, min_share=min_share, skip_locked=skip_locked,
                                   dry_run=dry_run, on_progress=on_progress)
    lines = [f"Plex: {report.server}", *[f"repaired: {m}" for m in report.repaired],
             _match_line(report.matches), *_ambiguous_lines(report.matches)]
    shown = report.changes if dry_run else report.done
    lines += [("would change: " if dry_run else "changed: ") + c.describe() for c in shown]
    lines += [f"skipped: {s}" for s in report.skipped]
    lines += [f"warning: {w}" for w in report.warnings]
    lines += [f"failed: {f}" for f in report.failed]
    if report.error:
        lines.append(f"error: the run's end was not recorded ({report.error}); the next push "
                     "or undo settles it")
    lines.append(
        f"{'would change' if dry_run else 'changed'} {len(shown)} item(s) (level {report.level}, "
        f"mode {report.mode}), {report.unchanged} already right, {len(report.skipped)} skipped, "
        f"{len(report.failed)} failed"
        + (" (dry run: nothing sent)" if dry_run else "")
        + (" (cancelled)" if report.cancelled else "")
        + ("" if report.run_id is None
           else f" (run {report.run_id}; undo with `reclass undo {report.run_id}`)"))
    _print(lines, report.ok)


@plex_app.command("pull")
def pull_command(
    url: str | None = URL,
    token: str | None = TOKEN,
    path_map: list[str] | None = PATH_MAP,
    section: str | None = SECTION,
    db: Path | None = DB,
    out: Path | None = typer.Option(None, "--out", help="Write a manifest CSV "
                                    "(path,label,artist,genres) for `reclass train`."),
    as_corrections: bool = typer.Option(False, "--as-corrections", help="Record them as "
                                        "corrections (source plex): labels `reclass learn` "
                                        "trains on; `reclass undo RUN` withdraws them."),
    replace_own: bool = typer.Option(False, "--replace-own", help="With --as-corrections: "
                                     "also replace the corrections you made here by hand."),
    fallback: bool = typer.Option(True, "--fallback/--no-fallback",
                                  help="Use album/artist genres for tracks without."),
    json_output: bool = typer.Option(False, "--json", help="JSON Lines: path and genres."),
) -> None:
    """Plex's genres of the matched tracks, as labels for training (nothing sent to Plex)."""
    library = open_library(db)
    with handled(), _progress() as on_progress:
        report = library.plex_pull(**_connection(url, token, path_map, section),
                                   fallback=fallback, as_corrections=as_corrections,
                                   replace_own=replace_own, on_progress=on_progress)
        if out is not None:
            with out.open("w", encoding="utf-8", newline="") as handle:
                writer = CsvWriter(["path", "label", "artist", "genres"], stream=handle)
                for label in report.labels:
                    writer.writerow([label.path, label.genres[0], label.artist or "",
                                     "; ".join(label.genres)])
            echo(f"wrote {len(report.labels)} labelled track(s) to {out}", err=True)
    if json_output:
        for label in report.labels:
            write_json_line({"path": label.path, "genres": label.genres})
    elif out is None:
        for label in report.labels:
            echo(f"{display_path(label.path)}\t{'; '.join(label.genres)}")
    _print(_correction_lines(report), report.ok)


def _correction_lines(report: Any) -> list[str]:
    corrections = report.corrections
    if corrections is None and not report.kept:
        return []
    lines = [f"kept: {k}" for k in report.kept]
    recorded = [] if corrections is None else corrections.corrected
    if corrections is not None:
        lines += [f"refused: {display_path(p)}: {why}" for p, why in corrections.refused]
    run = "" if corrections is None or corrections.run_id is None else (
        f" (run {corrections.run_id}; withdraw with `reclass undo {corrections.run_id}`)")
    lines.append(f"recorded {len(recorded)} correction(s) from Plex, {len(report.kept)} kept"
                 f"{run}")
    return lines


@plex_app.command("undo")
def undo_command(
    run: int | None = typer.Argument(None, help="plex-push run to undo (default: the latest)."),
    url: str | None = typer.Option(None, "--url", help="Server URL (default: the run's)."),
    token: str | None = TOKEN,
    db: Path | None = DB,
    dry_run: bool = typer.Option(False, "--dry-run", help="Print what would be restored."),
) -> None:
    """Restore the genres and locks a push changed (`reclass undo` does the same)."""
    library = open_library(db)
    with handled():
        report = library.plex_undo(run, url=url, token=token, dry_run=dry_run)
    if report.run_id is None:
        _print(["nothing to undo"])
    lines = [f"settled: {m}" for m in report.settled]
    lines += [("would undo: " if dry_run else "undone: ") + m for m in report.undone]
    lines += [f"refused: {m}" for m in report.refused]
    if report.error:
        lines.append(f"error: {report.error}")
    lines.append(f"run {report.run_id}: {'would undo' if dry_run else 'undid'} "
                 f"{len(report.undone)} change(s), {len(report.refused)} refused, "
                 f"{len(report.skipped)} already undone")
    _print(lines, report.ok)
