r"""Commands that read the library: ``list``, ``show``, ``runs``, ``stats``, ``models``.

Thin over the :class:`~music_reclass.Library` queries; every view shows one model's
results (the library's active model, or ``--model``). Exit status: 0, 1 when ``show``
does not know the file, 2 for bad options or a missing or unusable database.

File names that are not valid UTF-8 are shown with ``\xNN`` escapes in tables; in
JSON they are lone surrogates escaped as ``\udcNN``, which ``json.loads`` followed by
``os.fsencode`` turns back into the exact bytes.
"""

from __future__ import annotations

import os
from pathlib import Path

import typer
from rich.table import Table

from music_reclass.cli.app import app
from music_reclass.cli.common import DB_HELP, EXIT_FAILED, fail, handled, open_library
from music_reclass.cli.output import (
    CsvWriter,
    display_label,
    display_path,
    fit,
    format_duration,
    format_genres,
    key_value_table,
    stdout_console,
    terminal_width,
    write_json_line,
    write_text,
)
from music_reclass.store.queries import STATUSES, FileQuery

JSON_HELP = ("JSON Lines, one object per file. Names that are not valid UTF-8 hold \\udcNN "
             "escapes (os.fsencode of the decoded string gives back the bytes).")
MODEL_HELP = "Show this model's results (default: the library's active model)."


def _status_text(view) -> str:  # noqa: ANN001 - a FileView
    text = view.status if view.status != "error" else f"error: {view.error_code}"
    if view.status == "ok" and view.model_id is None:
        text = "not analysed"
    elif view.status == "ok" and view.decided is None and view.genres:
        # the reason is what the owner needs to judge the abstention
        text = f"review: {view.abstain_reason}" if view.abstain_reason else "review"
    return f"missing ({text})" if view.missing else text


def _short_status(view) -> str:  # noqa: ANN001 - a FileView
    """The status as the table shows it: the longest reason shortened to fit 80 columns."""
    return _status_text(view).replace("out-of-vocabulary", "out-of-vocab")


@app.command("list")
def list_command(
    paths: list[Path] = typer.Argument(None, help="Only files under these folders."),
    db: Path | None = typer.Option(None, "--db", help=DB_HELP),
    genre: str | None = typer.Option(None, "--genre", help="Only files whose top genre is this."),
    status: str | None = typer.Option(
        None, "--status", help=f"Only files with this status: {' | '.join(STATUSES)}."),
    min_confidence: float | None = typer.Option(
        None, "--min-confidence", min=0.0, max=1.0, help="Only top genres this confident."),
    search: str | None = typer.Option(None, "--search", help="Text in path, artist, title, album."),
    model: str | None = typer.Option(None, "--model", help=MODEL_HELP),
    json_output: bool = typer.Option(False, "--json", help=JSON_HELP),
    csv_output: bool = typer.Option(False, "--csv", help="CSV, one row per file."),
    top_k: int = typer.Option(3, "--top-k", min=1, help="Genres shown per file."),
    limit: int | None = typer.Option(None, "--limit", min=1, help="At most this many files."),
    missing_only: bool = typer.Option(False, "--missing", help="Same as --status missing."),
) -> None:
    """List the library's files with their top genres (streamed: any library size)."""
    if json_output and csv_output:
        raise fail("--json and --csv are exclusive")
    if status is not None and status not in STATUSES:
        raise fail(f"--status must be one of {', '.join(STATUSES)}, not {status!r}")
    library = open_library(db)
    shown = 0
    with handled():
        model_id, _ = library.model_id_for(model)
        views = []
        for under in (paths or [None]):
            query = FileQuery(model_id=model_id, under=None if under is None else str(under),
                              genre=genre, status="missing" if missing_only else status,
                              min_confidence=min_confidence, search=search, limit=limit,
                              with_tags=json_output)
            views.append(library.iter_files(query))
        if json_output:
            for stream in views:
                for view in stream:
                    record = view.as_dict()
                    write_json_line({**record, "genres": view.genres[:top_k],
                                     "tags": view.tags[:5]})
            return
        if csv_output:
            writer = CsvWriter(["path", "status", "top_genre", "confidence", "decided",
                                "genre_tags", "model_id"])
            for stream in views:
                for view in stream:
                    writer.writerow([display_path(view.path), _status_text(view),
                                     view.top_genre, view.top_confidence,
                                     "; ".join(view.decided or []), "; ".join(view.genre_tags),
                                     view.model_id])
            return
        shown = _print_rows(views, top_k)
    stdout_console().print(f"{shown} file(s)", markup=False)


def _fit_genres(genres: list, top_k: int, width: int) -> str:
    """As many of the top genres as fit ``width`` whole, the first one at least."""
    for k in range(top_k, 1, -1):
        text = format_genres(genres, top_k=k)
        if len(text) <= width:
            return text
    return format_genres(genres, top_k=1)


def _print_rows(views, top_k: int) -> int:  # noqa: ANN001 - streams of FileView
    """One line per file, columns cut to the terminal's width (paths from the left)."""
    width = terminal_width(120)
    genre_width = min(40, max(18, width // 3))
    status_width = 22  # "review: low-confidence", the longest status in the table
    path_width = max(20, width - genre_width - status_width - 2)
    count, lines = 0, []
    for stream in views:
        for view in stream:
            genres = _fit_genres(view.genres, top_k, genre_width) or (
                "tags: " + ", ".join(view.genre_tags) if view.genre_tags else "")
            lines.append(f"{fit(display_path(view.path), path_width):<{path_width}} "
                         f"{genres[:genre_width]:<{genre_width}} {_short_status(view)[:status_width]}\n")
            count += 1
            if len(lines) >= 500:  # written in chunks: one write per line is slow at 100k
                write_text("".join(lines))
                lines = []
    write_text("".join(lines))
    return count


@app.command("show")
def show_command(
    file: Path = typer.Argument(..., help="A file of the library."),
    db: Path | None = typer.Option(None, "--db", help=DB_HELP),
    json_output: bool = typer.Option(
        False, "--json", help="One JSON object (undecodable name bytes as \\udcNN escapes)."),
) -> None:
    """Everything stored about one file: hash, duration, every model's genres and tags
    (the tags are the "why" of the embedded model's genres), errors, changes made."""
    library = open_library(db)
    with handled():
        details = library.file(file)
    if details is None:
        why = ("ignored: not an audio file" if file.is_file() else "no such file") \
            if not file.exists() or file.is_file() else "a folder"
        raise fail(f"not in the library: {display_path(str(file))} ({why})", EXIT_FAILED)
    if json_output:
        write_json_line(details)
        return
    _print_details(details)


def _print_details(details: dict) -> None:
    console = stdout_console()
    track = details["track"] or {}
    size = details.get("size")
    rows = [
        ("path", display_path(details["path"])),
        ("status", details["status"]
         + (f" ({details['error_code']}: {details['error']})" if details["error_code"] else "")),
        ("content hash", details["content_hash"]),
        ("size", None if size is None else f"{size / 1e6:.1f} MB ({size} bytes)"),
        ("duration", format_duration(track["duration"]) if track.get("duration") else None),
        ("format", ", ".join(filter(None, (
            track.get("codec"),
            f"{track['sample_rate']} Hz" if track.get("sample_rate") else None,
            f"{track['channels']} channel(s)" if track.get("channels") else None))) or None),
        ("title / artist", " / ".join(str(track.get(k) or "-") for k in ("title", "artist"))),
        ("album", track.get("album")),
        ("genre tags", ", ".join(track.get("genre_tags") or []) or None),
        ("same content", ", ".join(display_path(p) for p in details["same_content"]) or None),
        ("last run", f"{details['run']['id']} ({details['run']['kind']}, "
                     f"{details['run']['started_at']})" if details["run"] else None),
    ]
    console.print(key_value_table(rows))
    for analysis in details["analyses"]:
        console.print(f"\nmodel {analysis['model_id']}: {analysis['status']}", markup=False)
        if analysis["status"] == "error":
            console.print(f"  {analysis['error_code']}: {analysis['error']}", markup=False)
            continue
        decided = analysis.get("decided")
        stage = f" (cascade stage {analysis['stage']})" if analysis.get("stage") else ""
        console.print("  decided: " + (", ".join(decided) if decided else
                                        f"abstained ({analysis.get('abstain_reason') or '-'})")
                      + stage, markup=False)
        for title, key in (("genres", "genres"), ("why: the tags heard", "tags")):
            if analysis[key]:
                table = Table(title=title, show_header=False, box=None, title_justify="left")
                for item in analysis[key][:10]:
                    table.add_row(display_label(item["label"]), f"{item['confidence']:.3f}")
                console.print(table)
    for change in details.get("journal", [])[:10]:
        console.print(f"change: run {change['run_id']} {change['action']} ({change['state']},"
                      f" {change['created_at']})", markup=False)


@app.command("runs")
def runs_command(
    db: Path | None = typer.Option(None, "--db", help=DB_HELP),
    limit: int | None = typer.Option(None, "--limit", min=1, help="Newest N runs only."),
    json_output: bool = typer.Option(False, "--json", help="JSON Lines, one object per run."),
) -> None:
    """History of the runs (classify, tag, organise, undo), newest first, with their counts."""
    library = open_library(db)
    with handled():
        runs = library.runs(limit=limit)
    if json_output:
        for run in runs:
            write_json_line(run.__dict__)
        return
    table = Table()
    for column in ("id", "kind", "started", "status", "what", "counts"):
        table.add_column(column, overflow="fold")
    for run in runs:
        params = run.params
        what = params.get("model") or params.get("server_name") or ""  # a Plex run: its server
        if params.get("paths"):
            what += (" " if what else "") + ", ".join(
                display_path(os.path.basename(str(p)) or str(p)) for p in params["paths"][:2])
        counts = ", ".join(f"{v} {k}" for k, v in run.summary.items()
                           if isinstance(v, int) and v and k != "run_id")
        table.add_row(str(run.id), run.kind, run.started_at.replace("T", " ")[:19],
                      run.status, what, counts)
    stdout_console().print(table)


@app.command("stats")
def stats_command(
    paths: list[Path] = typer.Argument(None, help="Only files under this folder."),
    db: Path | None = typer.Option(None, "--db", help=DB_HELP),
    model: str | None = typer.Option(None, "--model", help=MODEL_HELP),
    json_output: bool = typer.Option(False, "--json", help="One JSON object."),
) -> None:
    """Files per genre (top genre of the model) and per status."""
    library = open_library(db)
    with handled():
        stats = library.stats(model=model, under=paths[0] if paths else None)
    if json_output:
        write_json_line({"model_id": stats.model_id, "model": stats.model_name,
                         "files": stats.files,
                         "genres": [{"genre": g, "files": n, "mean_confidence": round(c, 4)}
                                    for g, n, c in stats.genres]})
        return
    console = stdout_console()
    console.print(f"model {stats.model_name}: {stats.model_id}", markup=False)
    table = Table("genre", "files", "mean confidence")
    for genre, count, confidence in stats.genres:
        table.add_row(display_label(genre), str(count), f"{confidence:.2f}")
    console.print(table)
    console.print(", ".join(f"{n} {k}" for k, n in stats.files.items()), markup=False)


@app.command("models")
def models_command(
    use: str | None = typer.Option(None, "--use", help="Make this model the active one."),
    taxonomy: str | None = typer.Option(None, "--taxonomy",
                                        help="With --use default: its taxonomy."),
    db: Path | None = typer.Option(None, "--db", help=DB_HELP),
    json_output: bool = typer.Option(False, "--json", help="JSON Lines, one object per model."),
) -> None:
    """The models the library has used; the active one (*) is what list, tag and organise use."""
    library = open_library(db)
    with handled():
        if use is not None:
            spec = library.use_model(use, taxonomy)
            stdout_console().print(f"active model: {spec.name}", markup=False)
        models = library.models()
    if json_output:
        for info in models:
            write_json_line(info.__dict__)
        return
    table = Table("", "name", "kind", "analyses", "classes", "id")
    for info in models:
        table.add_row("*" if info.active else "", info.name, info.kind, str(info.analyses),
                      str(len(info.classes)), info.model_id[:60])
    stdout_console().print(table)
