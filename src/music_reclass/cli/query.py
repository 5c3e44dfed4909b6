r"""Read-only commands over the library DB: ``reclass list``, ``reclass show``, ``reclass runs``.

Thin over :mod:`music_reclass.library.store`. Exit status: 0, 1 when ``show`` does
not know the file, 2 for bad options or an unusable database.

``reclass list`` checks at list time whether each shown file still exists on disk
(one ``os.path.lexists`` per row; the DB itself is not changed): a vanished file is
shown with status ``missing`` (``"missing": true`` in JSON), and ``--missing`` lists
only those.

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
from music_reclass.cli.output import (
    display_path,
    format_duration,
    format_genres,
    key_value_table,
    stderr_console,
    stdout_console,
    write_json_line,
)
from music_reclass.errors import ReclassError
from music_reclass.library import db as libdb
from music_reclass.library import store
from music_reclass.paths import default_db_path

STATUSES = ("ok", "error")
JSON_HELP = (
    "JSON Lines, one object per file. Names that are not valid UTF-8 hold \\udcNN "
    "escapes (os.fsencode of the decoded string gives back the bytes)."
)


def _connect(db: Path | None):
    try:
        return libdb.connect(db or default_db_path())
    except ReclassError as exc:
        stderr_console().print(f"error: {exc}", markup=False)
        raise typer.Exit(2) from exc


@app.command("list")
def list_command(
    db: Path | None = typer.Option(None, "--db", help="Library database."),
    genre: str | None = typer.Option(None, "--genre", help="Only files whose top genre is this."),
    status: str | None = typer.Option(None, "--status", help="Only files with status ok | error."),
    model_id: str | None = typer.Option(
        None, "--model-id", help="Use this model's analyses (default: newest)."
    ),
    json_output: bool = typer.Option(False, "--json", help=JSON_HELP),
    top_k: int = typer.Option(3, "--top-k", min=1, help="Genres shown per file."),
    missing_only: bool = typer.Option(
        False, "--missing", help="Only files recorded in the DB but no longer on disk."
    ),
) -> None:
    """List the files of the library with their top genres.

    Files no longer on disk are shown with status "missing" (checked now; the DB keeps
    them until they are classified again or removed).
    """
    if status is not None and status not in STATUSES:
        raise typer.BadParameter(f"--status must be one of {', '.join(STATUSES)}")
    conn = _connect(db)
    try:
        rows = store.list_files(conn, genre=genre, status=status, model_id=model_id)
    finally:
        conn.close()
    for row in rows:
        row["missing"] = not os.path.lexists(row["path"])
    if missing_only:
        rows = [row for row in rows if row["missing"]]
    if json_output:
        for row in rows:
            write_json_line({**row, "genres": row["genres"][:top_k], "tags": row["tags"][:5]})
        return
    table = Table(show_lines=False)
    for column in ("path", "genres", "existing tags", "status"):
        table.add_column(column, overflow="fold")
    for row in rows:
        status_text = row["status"] if row["status"] != "error" else f"error: {row['error_code']}"
        if row["missing"]:
            status_text = f"missing ({status_text})"
        table.add_row(
            display_path(row["path"]),
            format_genres(row["genres"], top_k=top_k),
            ", ".join(row["genre_tags"]),
            status_text,
        )
    console = stdout_console()
    console.print(table)
    console.print(f"{len(rows)} file(s)")


@app.command("show")
def show_command(
    file: Path = typer.Argument(..., help="A file classified before."),
    db: Path | None = typer.Option(None, "--db", help="Library database."),
    json_output: bool = typer.Option(
        False, "--json", help="One JSON object (undecodable name bytes as \\udcNN escapes)."
    ),
) -> None:
    """Everything stored about one file: hash, duration, all genres and tags, errors, run."""
    conn = _connect(db)
    try:
        details = store.file_details(conn, str(file.resolve()))
        if details is None:  # a path that was never resolved the same way (a vanished file)
            details = store.file_details(conn, str(file.absolute()))
    finally:
        conn.close()
    if details is None:
        stderr_console().print(f"not in the library: {display_path(str(file))}", markup=False)
        raise typer.Exit(1)
    if json_output:
        write_json_line(details)
        return
    console = stdout_console()
    track = details["track"] or {}
    rows = [
        ("path", display_path(details["path"])),
        ("status", details["status"]
         + (f" ({details['error_code']}: {details['error']})" if details["error_code"] else "")),
        ("content hash", details["content_hash"]),
        ("size", details["size"]),
        ("duration", format_duration(track["duration"]) if track.get("duration") else None),
        ("format", ", ".join(
            str(v) for v in (track.get("codec"), track.get("sample_rate"), track.get("channels"))
            if v is not None) or None),
        ("genre tags", ", ".join(track.get("genre_tags") or []) or None),
        ("same content", ", ".join(display_path(p) for p in details["same_content"]) or None),
        ("last run", f"{details['run']['id']} ({details['run']['started_at']})"
         if details["run"] else None),
    ]
    console.print(key_value_table(rows))
    for analysis in details["analyses"]:
        console.print(f"\nmodel {analysis['model_id']}: {analysis['status']}", markup=False)
        if analysis["status"] == "error":
            console.print(f"  {analysis['error_code']}: {analysis['error']}", markup=False)
        for title, key in (("genres", "genres"), ("tags", "tags")):
            if analysis[key]:
                table = Table(title=title, show_header=False, box=None)
                for item in analysis[key]:
                    table.add_row(item["label"], f"{item['confidence']:.4f}")
                console.print(table)


@app.command("runs")
def runs_command(
    db: Path | None = typer.Option(None, "--db", help="Library database."),
    limit: int | None = typer.Option(None, "--limit", min=1, help="Newest N runs only."),
    json_output: bool = typer.Option(False, "--json", help="JSON Lines, one object per run."),
) -> None:
    """History of the runs (classify, tag, organise, undo), newest first."""
    conn = _connect(db)
    try:
        runs = store.list_runs(conn, limit=limit)
    finally:
        conn.close()
    if json_output:
        for run in runs:
            write_json_line(run)
        return
    table = Table()
    for column in ("id", "kind", "started", "finished", "status", "files"):
        table.add_column(column)
    for run in runs:
        files = ", ".join(f"{n} {s}" for s, n in sorted(run["files"].items()))
        table.add_row(str(run["id"]), run["kind"], run["started_at"], run["finished_at"] or "",
                      run["status"], files)
    stdout_console().print(table)
