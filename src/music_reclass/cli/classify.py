"""``reclass classify``: classify the audio under PATHS into the library (``Library.classify``).

Output: one line per file (or ``--json`` JSON Lines / ``--csv`` rows on stdout), a
progress bar when the terminal shows one (per-file lines are printed above it), then a
summary and one line per failed file (on stderr with ``--json``/``--csv``). Exit status:
0 every file ok, 1 some file failed, 2 usage error (missing path, bad option, unusable
database or model), 130 interrupted (Ctrl-C / SIGTERM: the files done so far stay
recorded and the next run resumes after them).
"""

from __future__ import annotations

import os
import signal
import sys
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Any

import typer

from music_reclass.cli.app import app
from music_reclass.cli.common import (
    DB_HELP,
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_OK,
    fail,
    handled,
    open_library,
    setting,
)
from music_reclass.cli.output import (
    CsvWriter,
    LineSink,
    display_path,
    fit,
    format_duration,
    format_genres,
    key_value_table,
    progress_bar,
    stderr_console,
    stdout_console,
    terminal_width,
    write_json_line,
    write_text,
)
from music_reclass.store.db import display_path as utf8_path

EXIT_BROKEN_PIPE = 141  # 128 + SIGPIPE, what a shell reports for a writer whose reader left


@contextmanager
def _sigterm_as_interrupt():
    """SIGTERM stops a run like Ctrl-C does (run marked interrupted, summary printed)."""

    def handler(signum, frame):  # noqa: ARG001
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _csv_header(top_k: int) -> list[str]:
    header = ["path", "status"]
    for i in range(1, top_k + 1):
        header += [f"genre{i}", f"confidence{i}"]
    return header + ["decided", "cached", "content_hash", "duration", "model_id", "tags",
                     "error_code", "error"]


def _csv_row(record: dict[str, Any], top_k: int) -> list[Any]:
    # valid UTF-8 whatever the name: undecodable bytes as \xNN (JSON is the lossless form)
    row: list[Any] = [utf8_path(record["path"]), record["status"]]
    genres = record["genres"]
    for i in range(top_k):
        if i < len(genres):
            row += [genres[i]["label"], f"{genres[i]['confidence']:.6f}"]
        else:
            row += ["", ""]
    tags = "; ".join(f"{t['label']}={t['confidence']:.4f}" for t in record["tags"])
    return row + [record.get("decided") or "", "true" if record["cached"] else "false",
                  record["content_hash"], record["duration"], record["model_id"], tags,
                  record["error_code"], record["error"]]


def _human_line(record: dict[str, Any], top_k: int, width: int) -> str:
    status = record["status"] + (" (cached)" if record.get("cached") else "")
    if record["status"] == "error":
        detail = f"{record['error_code']}: {record['error']}"
    else:
        detail = format_genres(record["genres"], top_k=top_k)
    head = f"{status:<13} {detail[:44]:<44} "
    return head + fit(display_path(record["path"]), max(20, width - len(head))) + "\n"


def _print_summary(run: Any, *, to_stderr: bool) -> None:
    summary = run.summary
    console = stderr_console() if to_stderr else stdout_console()
    files = (f"{summary.ok} ok ({summary.cached} cached"
             + (f", {summary.from_vectors} from stored vectors" if summary.from_vectors else "")
             + f"), {summary.failed} failed, {summary.ignored} ignored (not audio), "
             f"{summary.skipped} skipped (duplicates)")
    rows = [
        ("run", f"{summary.run_id} ({summary.status})"),
        ("model", run.model_name + ("" if run.active else
                                    "  (not the active model: `reclass models --use "
                                    f"{run.model_name}` to list/tag with it)")),
        ("files", files),
        ("audio", format_duration(summary.audio_seconds)
         + f" in total, {format_duration(summary.analysed_audio_seconds)} analysed now"),
        ("elapsed", f"{summary.elapsed:.1f} s"),
    ]
    if summary.analysed_audio_seconds > 0:
        rows.append(("speed", f"{summary.realtime_factor:.0f}x realtime, "
                              f"{summary.cpu.get('busy_cores', 0):.2f} cores busy"))
    console.print(key_value_table(rows, title="classify summary"))
    for path, reason in summary.failures:
        write_text(f"{display_path(path)}: {reason}\n",
                   stream=sys.stderr if to_stderr else sys.stdout)


@app.command("classify")
def classify_command(
    paths: list[Path] = typer.Argument(..., help="Audio files and folders (searched recursively)."),
    db: Path | None = typer.Option(None, "--db", help=DB_HELP + " Created when missing."),
    json_output: bool = typer.Option(
        False, "--json",
        help="JSON Lines on stdout: one object per file as it finishes. Names that are not "
             "valid UTF-8 hold \\udcNN escapes (os.fsencode of the string gives the bytes)."),
    csv_output: bool = typer.Option(
        False, "--csv",
        help="CSV on stdout: one row per file (UTF-8; undecodable name bytes as \\xNN)."),
    model: str | None = typer.Option(
        None, "--model",
        help="default, a taxonomy name (gtzan), a model file, or a model the library knows "
             "(`reclass models`). Default: the library's active model."),
    taxonomy: str | None = typer.Option(
        None, "--taxonomy", help="Genres of the embedded model: default | gtzan | a mapping file."),
    cascade: bool | None = typer.Option(
        None, "--cascade/--no-cascade",
        help="Progressive cascade of the embedded models: cheap stages first, later ones only "
             "where unsure; each result says which stage decided."),
    top_k: int = typer.Option(3, "--top-k", min=1, help="Genres shown per file."),
    jobs: int | None = typer.Option(
        None, "--jobs", min=0,
        help="Worker processes (default: one per core); 0 works in this process."),
    force: bool = typer.Option(False, "--force", help="Analyse again files already analysed."),
    quiet: bool = typer.Option(False, "--quiet", "-q",
                               help="No per-file lines, no progress bar: the summary and "
                                    "the failures only."),
    dask: str | None = typer.Option(
        None, "--dask",
        help="Run on a Dask cluster: local:N (N worker processes here) or a scheduler "
             "address (tcp://host:8786). Workers must see the files (shared filesystem)."),
    dask_path_map: list[str] = typer.Option(
        [], "--dask-path-map", help="LOCAL=REMOTE: how Dask workers name this machine's paths."),
    batch_size: int = typer.Option(1, "--batch-size", min=1, hidden=True,
                                   help="Files per worker task."),
) -> None:
    """Classify the genre of every audio file under PATHS and record it in the library."""
    if json_output and csv_output:
        raise fail("--json and --csv are exclusive")
    library = open_library(db)
    jobs = setting("classify", "jobs", jobs)
    dask = setting("classify", "dask", dask)
    if model is None and taxonomy is None and not cascade and not library.has_chosen_model():
        # the config file's defaults never override the model the owner made active
        taxonomy = setting("classify", "taxonomy", taxonomy)
        cascade = setting("classify", "cascade", cascade, False)
    machine = json_output or csv_output
    csv_writer = CsvWriter(_csv_header(top_k)) if csv_output else None
    show_progress = not quiet and sys.stderr.isatty()
    bar_on_stdout = show_progress and not machine and sys.stdout.isatty()
    width = terminal_width()
    broken_pipe: list[bool] = []
    if not library.exists and not library.path.is_dir() and not quiet:
        # said before the live bar starts: a line printed beside it would land in its row
        stderr_console().print(f"creating the library database {library.path}", markup=False)
    bar = progress_bar("classifying", on_stdout=bar_on_stdout) if show_progress else None
    sink = LineSink(bar if bar_on_stdout else None)
    with bar if bar is not None else nullcontext(), _sigterm_as_interrupt(), handled():
        task = bar.add_task("classify", total=None) if bar is not None else None

        def on_result(result: Any) -> None:
            record = result.as_json(top_k=top_k)
            try:
                if json_output:
                    write_json_line(record)
                elif csv_writer is not None:
                    csv_writer.writerow(_csv_row(record, top_k))
                elif not quiet:
                    sink(_human_line(record, top_k, width))
            except BrokenPipeError:
                # the reader went away (`| head`): stop like Ctrl-C, what is done stays done
                broken_pipe.append(True)
                raise KeyboardInterrupt from None

        def on_progress(done: int, total: int) -> None:
            if bar is not None:
                bar.update(task, completed=done, total=total)

        run = library.classify(paths, model=model, taxonomy=taxonomy, cascade=cascade,
                               jobs=jobs,
                               batch_size=batch_size, force=force, keep_results=False,
                               on_result=on_result, on_progress=on_progress, dask=dask,
                               dask_path_map=dask_path_map)
        if bar is not None:
            bar.update(task, completed=bar.tasks[0].total or 0)
    if broken_pipe:
        # silence the interpreter's final flush of the closed stdout
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        raise typer.Exit(EXIT_BROKEN_PIPE)
    _print_summary(run, to_stderr=machine)
    if run.summary.status in ("interrupted", "cancelled"):
        raise typer.Exit(EXIT_INTERRUPTED)
    raise typer.Exit(EXIT_FAILED if run.summary.failed else EXIT_OK)
