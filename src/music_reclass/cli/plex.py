"""``reclass plex status | push | pull | undo``: genres between the library and a Plex server.

Thin over :mod:`music_reclass.plex`. Connection options: ``--url`` and
``--token`` (else ``RECLASS_PLEX_URL`` / ``RECLASS_PLEX_TOKEN``, else the
``[plex]`` table of the config file), ``--path-map PLEX_PREFIX=LOCAL_PREFIX``
(repeatable), ``--section``. The token is never printed. Exit status: 0 when
everything went well, 1 when some item failed (or an undo was refused), 2 for
bad options, an unusable database or a server that cannot be used (unreachable,
token refused, no music library, too old for per-track genres).
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import typer

from music_reclass import plex
from music_reclass.cli.app import app
from music_reclass.cli.output import CsvWriter, display_path, progress_callback, write_json_line
from music_reclass.errors import ParameterError, ReclassError
from music_reclass.library import db as libdb
from music_reclass.paths import default_db_path
from music_reclass.plex.records import library_tracks
from music_reclass.plex.settings import ENV_TOKEN, ENV_URL

plex_app = typer.Typer(
    name="plex",
    help="Compare genres with a Plex Media Server, write them there (journalled), read them back.",
    no_args_is_help=True,
)
app.add_typer(plex_app, name="plex")

URL_HELP = f"Plex server, e.g. http://192.168.1.10:32400 (default: {ENV_URL} or the config file)."
TOKEN_HELP = f"X-Plex-Token (default: {ENV_TOKEN} or the config file; never printed)."
MAP_HELP = "PLEX_PREFIX=LOCAL_PREFIX: where Plex sees your files vs this machine (repeatable)."
LEVEL_HELP = "track (Plex 1.40+) | album | artist: albums/artists get their tracks' majority genre."


def _echo(line: str, *, err: bool = False) -> None:
    typer.echo(line.encode("utf-8", "backslashreplace").decode("utf-8"), err=err)


@contextmanager
def _errors() -> Iterator[None]:
    """Setup and connection errors: one line on stderr, exit 2."""
    try:
        yield
    except (ParameterError, ReclassError) as exc:
        _echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc


def _connect(url, token, path_map, section) -> tuple[plex.PlexSettings, plex.PlexSession]:
    settings = plex.resolve_settings(url, token, path_map, section)
    return settings, plex.connect(settings)


def _library(db: Path | None, **decision) -> tuple:
    conn = libdb.connect(db or default_db_path())
    records = library_tracks(conn, **decision)
    if not records:
        _echo("note: the library has no analysed files (run `reclass classify` first)", err=True)
    return conn, records


def _progress():
    return progress_callback("reading Plex", enabled=sys.stderr.isatty())


# Options shared by the commands (typer reads defaults from these objects).
URL = typer.Option(None, "--url", help=URL_HELP)
TOKEN = typer.Option(None, "--token", help=TOKEN_HELP)
PATH_MAP = typer.Option(None, "--path-map", help=MAP_HELP)
SECTION = typer.Option(None, "--section", help="Only this music library (default: all).")
DB = typer.Option(None, "--db", help="Library database (default: RECLASS_DB or the data dir).")
MIN_CONFIDENCE = typer.Option(
    0.5, "--min-confidence", help="Decided genres: predictions with at least this confidence."
)
TOP_K = typer.Option(3, "--top-k", min=1, help="Decided genres: at most this many per track.")
MODEL_ID = typer.Option(None, "--model-id", help="Use this model's analyses (default: latest).")
TAXONOMY = typer.Option(
    True, "--taxonomy/--no-taxonomy", help="Normalise genre names with the taxonomy."
)
MODE = typer.Option("replace", "--mode", help="replace | merge (add to Plex's genres).")


def _decision(min_confidence: float, top_k: int, model_id: str | None, taxonomy: bool) -> dict:
    return {
        "min_confidence": min_confidence,
        "top_k": top_k,
        "model_id": model_id,
        "taxonomy": taxonomy,
    }


def _match_line(matches: plex.MatchReport) -> str:
    total = len(matches.matched) + len(matches.ambiguous) + len(matches.unmatched)
    return (
        f"Plex tracks: {total}; matched {len(matches.matched)} ({matches.count('path')} by path, "
        f"{matches.count('tags')} by title/artist/duration), {len(matches.ambiguous)} ambiguous, "
        f"{len(matches.unmatched)} unmatched; library files not in Plex: "
        f"{len(matches.library_only)}"
    )


def _ambiguous_lines(matches: plex.MatchReport) -> list[str]:
    return [
        f"ambiguous: {a.plex.display()}: {a.reason}: "
        + ", ".join(display_path(p) for p in a.candidates)
        for a in matches.ambiguous
    ]


@plex_app.command("status")
def status_command(
    url: str | None = URL,
    token: str | None = TOKEN,
    path_map: list[str] | None = PATH_MAP,
    section: str | None = SECTION,
    db: Path | None = DB,
    mode: str = MODE,
    level: str | None = typer.Option(
        None, "--level", help=LEVEL_HELP + " Default: track on 1.40+."
    ),
    min_confidence: float = MIN_CONFIDENCE,
    top_k: int = TOP_K,
    model_id: str | None = MODEL_ID,
    taxonomy: bool = TAXONOMY,
    verbose: bool = typer.Option(False, "--verbose", "-v", help="One line per matched track."),
    json_output: bool = typer.Option(False, "--json", help="JSON Lines: tracks, changes, totals."),
) -> None:
    """Plex's genres against the predictions and decided genres; what a push would change."""
    with _errors():
        settings, session = _connect(url, token, path_map, section)
        conn, records = _library(db, **_decision(min_confidence, top_k, model_id, taxonomy))
        conn.close()
        with _progress() as on_progress:
            report = plex.plex_status(
                session, records, path_maps=settings.path_maps, mode=mode, level=level,
                on_progress=on_progress,
            )  # fmt: skip
    if json_output:
        _status_json(report)
    else:
        _status_text(report, verbose=verbose)
    raise typer.Exit(0)


def _status_json(report: plex.StatusReport) -> None:
    for row in report.rows:
        write_json_line({"type": "track", **{k: v for k, v in vars(row).items()}})
    for item in report.matches.ambiguous:
        write_json_line({"type": "ambiguous", "rating_key": item.plex.rating_key,
                         "title": item.plex.display(), "files": list(item.plex.files),
                         "candidates": list(item.candidates), "reason": item.reason})  # fmt: skip
    for track in report.matches.unmatched:
        write_json_line({"type": "unmatched", "rating_key": track.rating_key,
                         "title": track.display(), "files": list(track.files)})  # fmt: skip
    for change in report.changes:
        write_json_line({"type": "change", **vars(change)})
    write_json_line({"type": "totals", "server": report.server, "level": report.level,
                     "mode": report.mode, "notes": report.notes, **vars(report.totals)})  # fmt: skip


def _status_text(report: plex.StatusReport, *, verbose: bool) -> None:
    t = report.totals
    lines = [f"Plex: {report.server}", *[f"note: {n}" for n in report.notes]]
    lines.append(_match_line(report.matches))
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
            lines.append(
                f"{mark} {display_path(row.path)}: Plex {genres}{lock}; predicted {top}; "
                f"decided {'; '.join(row.decided) or '-'}"
            )
    lines += _ambiguous_lines(report.matches)
    lines += [f"would change: {c.describe()}" for c in report.changes]
    lines += [f"would skip: {s}" for s in report.skipped]
    lines.append(
        f"a push (level {report.level}, mode {report.mode}) would change "
        f"{len(report.changes)} item(s); {len(report.skipped)} skipped"
    )
    for line in lines:
        _echo(line)


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
    min_share: float = typer.Option(
        0.5, "--min-share", help="album/artist level: share of tracks a genre needs."
    ),
    skip_locked: bool = typer.Option(
        False, "--skip-locked", help="Leave items whose genre field is locked (hand-edited)."
    ),
    min_confidence: float = MIN_CONFIDENCE,
    top_k: int = TOP_K,
    model_id: str | None = MODEL_ID,
    taxonomy: bool = TAXONOMY,
) -> None:
    """Write the decided genres to Plex, locked against refreshes (journalled; `reclass undo`)."""
    with _errors():
        settings, session = _connect(url, token, path_map, section)
        conn, records = _library(db, **_decision(min_confidence, top_k, model_id, taxonomy))
        try:
            with _progress() as on_progress:
                report = plex.push_genres(
                    conn, session, records, path_maps=settings.path_maps, mode=mode, level=level,
                    dry_run=dry_run, min_share=min_share, skip_locked=skip_locked,
                    on_progress=on_progress,
                )  # fmt: skip
        finally:
            conn.close()
    lines = [f"Plex: {report.server}", *[f"repaired: {m}" for m in report.repaired]]
    lines.append(_match_line(report.matches))
    lines += _ambiguous_lines(report.matches)
    shown = report.changes if dry_run else report.done
    lines += [("would change: " if dry_run else "changed: ") + c.describe() for c in shown]
    lines += [f"skipped: {s}" for s in report.skipped]
    lines += [f"warning: {w}" for w in report.warnings]
    lines += [f"failed: {f}" for f in report.failed]
    verb = "would change" if dry_run else "changed"
    lines.append(
        f"{verb} {len(shown)} item(s) (level {report.level}, mode {report.mode}), "
        f"{report.unchanged} already right, {len(report.skipped)} skipped, "
        f"{len(report.failed)} failed"
        + (" (dry run: nothing sent)" if dry_run else "")
        + (" (cancelled)" if report.cancelled else "")
        + (
            ""
            if report.run_id is None
            else f" (run {report.run_id}; undo with `reclass undo {report.run_id}`)"
        )
    )
    for line in lines:
        _echo(line)
    raise typer.Exit(0 if report.ok else 1)


@plex_app.command("pull")
def pull_command(
    url: str | None = URL,
    token: str | None = TOKEN,
    path_map: list[str] | None = PATH_MAP,
    section: str | None = SECTION,
    db: Path | None = DB,
    out: Path | None = typer.Option(
        None, "--out", help="Write a manifest CSV (path,label,artist,genres) for `reclass train`."
    ),
    fallback: bool = typer.Option(
        True, "--fallback/--no-fallback", help="Use album/artist genres for tracks without."
    ),
    json_output: bool = typer.Option(False, "--json", help="JSON Lines: path and genres."),
) -> None:
    """Plex's genres of the matched tracks, as labels for training."""
    with _errors():
        settings, session = _connect(url, token, path_map, section)
        conn, records = _library(db, min_confidence=1.0, top_k=None)
        conn.close()
        with _progress() as on_progress:
            pairs = plex.pull_labels(
                session, records, path_maps=settings.path_maps, fallback=fallback,
                on_progress=on_progress,
            )  # fmt: skip
    artists = {r.path: r.artist for r in records}
    if out is not None:
        with out.open("w", encoding="utf-8", newline="") as handle:
            writer = CsvWriter(["path", "label", "artist", "genres"], stream=handle)
            for path, genres in pairs:
                writer.writerow([path, genres[0], artists.get(path) or "", "; ".join(genres)])
        _echo(f"wrote {len(pairs)} labelled track(s) to {out}", err=True)
    elif json_output:
        for path, genres in pairs:
            write_json_line({"path": path, "genres": genres})
    else:
        for path, genres in pairs:
            _echo(f"{display_path(path)}\t{'; '.join(genres)}")
    raise typer.Exit(0)


@plex_app.command("undo")
def undo_command(
    run: int | None = typer.Argument(None, help="plex-push run to undo (default: the latest)."),
    url: str | None = typer.Option(None, "--url", help="Server URL (default: the run's)."),
    token: str | None = TOKEN,
    db: Path | None = DB,
    dry_run: bool = typer.Option(False, "--dry-run", help="Print what would be restored."),
) -> None:
    """Restore the genres and locks a push changed (`reclass undo` does the same)."""
    from music_reclass.plex.undo import latest_push_run

    with _errors():
        conn = libdb.connect(db or default_db_path())
        try:
            run = run if run is not None else latest_push_run(conn)
            if run is None:
                _echo("nothing to undo")
                raise typer.Exit(0)
            settings = None
            if url or token:
                settings = plex.resolve_settings(url or _run_url(conn, run), token)
            report = plex.undo_push(conn, run, settings=settings, dry_run=dry_run)
        finally:
            conn.close()
    lines = [("would undo: " if dry_run else "undone: ") + m for m in report.undone]
    lines += [f"refused: {m}" for m in report.refused]
    lines.append(
        f"run {report.run_id}: {'would undo' if dry_run else 'undid'} {len(report.undone)} "
        f"change(s), {len(report.refused)} refused, {len(report.skipped)} already undone"
    )
    for line in lines:
        _echo(line)
    raise typer.Exit(0 if report.ok else 1)


def _run_url(conn, run: int) -> str | None:
    from music_reclass.plex.undo import run_params

    return run_params(conn, run).get("url")
