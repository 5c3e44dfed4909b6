"""``reclass classify``: find the audio under PATHs, classify it, record it in the library DB.

Output: one line per file (or ``--json`` JSON Lines / ``--csv`` rows on stdout),
a progress bar on stderr when it is a terminal, then a summary and one line per
failed file (on stderr with ``--json``/``--csv``). Exit status: 0 every file ok,
1 some file failed, 2 usage error (missing path, bad option, unusable DB or model),
130 interrupted (Ctrl-C / SIGTERM: the files done so far stay recorded and the next
run resumes after them).
"""

from __future__ import annotations

import importlib
import os
import signal
import sys
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Any

import typer

from music_reclass.cli.app import app
from music_reclass.cli.output import (
    CsvWriter,
    display_path,
    format_duration,
    format_genres,
    key_value_table,
    progress_bar,
    stderr_console,
    stdout_console,
    write_json_line,
    write_text,
)
from music_reclass.errors import ReclassError
from music_reclass.library import db as libdb
from music_reclass.paths import default_db_path

#: Test hook ("module:callable"): build the classifier with this factory instead of
#: the real one. Used only by the test suite to keep fault-injection runs fast; the
#: real classifier is covered end to end by its own tests.
TEST_CLASSIFIER_ENV = "_RECLASS_TEST_CLASSIFIER"

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130
EXIT_BROKEN_PIPE = 141  # 128 + SIGPIPE, what a shell reports for a writer whose reader left


def _usage_error(message: str) -> typer.Exit:
    stderr_console().print(f"error: {message}", markup=False)
    return typer.Exit(EXIT_USAGE)


def make_classifier(model: Path | None, taxonomy: str, cascade: bool = False) -> Any:
    """The classifier of a run (the real one unless the test hook is set)."""
    hook = os.environ.get(TEST_CLASSIFIER_ENV)
    if hook:
        module, _, attribute = hook.partition(":")
        return getattr(importlib.import_module(module), attribute)(model=model, taxonomy=taxonomy)
    from music_reclass.pipeline import load_classifier

    return load_classifier(model, taxonomy=taxonomy, top_k=None, cascade=cascade)


def _set_inference_threads(jobs: int) -> None:
    """Give inference the cores the decode workers leave free."""
    if "torch" in sys.modules:
        import torch

        torch.set_num_threads(max(1, (os.cpu_count() or 1) - jobs))


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


def _progress(total: int, enabled: bool):
    return progress_bar("classifying") if enabled else nullcontext(None)


CSV_HEADER_FIXED = ("path", "status")


def _csv_header(top_k: int) -> list[str]:
    header = list(CSV_HEADER_FIXED)
    for i in range(1, top_k + 1):
        header += [f"genre{i}", f"confidence{i}"]
    return header + ["cached", "content_hash", "duration", "error_code", "error"]


def _csv_row(record: dict[str, Any], top_k: int) -> list[Any]:
    # valid UTF-8 whatever the name: undecodable bytes as \xNN (JSON is the lossless form)
    row: list[Any] = [libdb.display_path(record["path"]), record["status"]]
    genres = record["genres"]
    for i in range(top_k):
        if i < len(genres):
            row += [genres[i]["label"], f"{genres[i]['confidence']:.6f}"]
        else:
            row += ["", ""]
    return row + [
        "true" if record["cached"] else "false",
        record["content_hash"],
        record["duration"],
        record["error_code"],
        record["error"],
    ]


def _human_line(record: dict[str, Any], top_k: int) -> str:
    status = record["status"] + (" (cached)" if record.get("cached") else "")
    detail = (
        f"{record['error_code']}: {record['error']}"
        if record["status"] == "error"
        else format_genres(record["genres"], top_k=top_k)
    )
    return f"{status:<14} {detail:<48} {display_path(record['path'])}\n"


def _print_summary(summary, *, to_stderr: bool) -> None:
    console = stderr_console() if to_stderr else stdout_console()
    cpu = summary.cpu
    rows = [
        ("run", f"{summary.run_id} ({summary.status})"),
        ("files", f"{summary.ok} ok ({summary.cached} cached), {summary.failed} failed, "
                  f"{summary.ignored} ignored, {summary.skipped} skipped"),
        ("audio", format_duration(summary.audio_seconds)
         + f" in total, {format_duration(summary.analysed_audio_seconds)} analysed now"),
        ("elapsed", f"{summary.elapsed:.1f} s"),
        ("speed", f"{summary.realtime_factor:.0f}x realtime"
                  + (f", {cpu['busy_cores']:.2f} cores busy" if cpu else "")),
    ]
    console.print(key_value_table(rows, title="classify summary"))
    for path, reason in summary.failures:
        write_text(f"{display_path(path)}: {reason}\n",
                   stream=sys.stderr if to_stderr else sys.stdout)


@app.command("classify")
def classify_command(
    paths: list[Path] = typer.Argument(..., help="Audio files and folders (searched recursively)."),
    db: Path | None = typer.Option(
        None, "--db", help="Library database (default: RECLASS_DB or the data dir)."
    ),
    json_output: bool = typer.Option(
        False,
        "--json",
        help=(
            "JSON Lines on stdout: one object per file as it finishes. Names that are not "
            "valid UTF-8 hold \\udcNN escapes (os.fsencode of the string gives the bytes)."
        ),
    ),
    csv_output: bool = typer.Option(
        False,
        "--csv",
        help="CSV on stdout: one row per file (UTF-8; undecodable name bytes as \\xNN).",
    ),
    taxonomy: str = typer.Option(
        "default", "--taxonomy", help="Genres of the default model: default | gtzan."
    ),
    model: Path | None = typer.Option(
        None, "--model", help="A trained model file instead of the default model."
    ),
    top_k: int = typer.Option(3, "--top-k", min=1, help="Genres shown per file."),
    jobs: int | None = typer.Option(
        None, "--jobs", min=0, help=(
            "Decode worker processes (default: one per core); "
            "0 decodes and classifies in this process, without workers."
        ),
    ),
    force: bool = typer.Option(False, "--force", help="Analyse again files already analysed."),
    quiet: bool = typer.Option(
        False, "--quiet", "-q", help="No per-file lines, no progress bar: summary only."
    ),
    batch_size: int = typer.Option(
        4, "--batch-size", min=1, help="Tracks per network forward pass.", hidden=True
    ),
    cascade: bool = typer.Option(
        False, "--cascade", help="Progressive cascade: cheap stages first, more only if unsure."
    ),
) -> None:
    """Classify the genre of every audio file under PATHS and record it in the library DB."""
    from music_reclass.library.scan import classify_paths, count_files, default_jobs

    if json_output and csv_output:
        raise _usage_error("--json and --csv are exclusive")
    missing = [p for p in paths if not os.path.lexists(p)]
    if missing:
        raise _usage_error(
            "no such file or folder: " + ", ".join(display_path(str(p)) for p in missing)
        )
    jobs = default_jobs() if jobs is None else jobs
    try:
        classifier = make_classifier(model, taxonomy, cascade)
    except ReclassError as exc:
        raise _usage_error(str(exc)) from exc
    except KeyboardInterrupt:
        raise typer.Exit(EXIT_INTERRUPTED) from None
    _set_inference_threads(jobs)
    try:
        conn = libdb.connect(db or default_db_path())
    except ReclassError as exc:
        raise _usage_error(str(exc)) from exc

    machine = json_output or csv_output
    broken_pipe: list[bool] = []
    csv_writer = CsvWriter(_csv_header(top_k)) if csv_output else None
    show_progress = not quiet and sys.stderr.isatty()
    total = count_files(paths) if show_progress else 0

    with _progress(total, show_progress) as progress, _sigterm_as_interrupt():
        task = progress.add_task("classify", total=total) if progress is not None else None

        def on_result(result) -> None:
            record = result.as_json(top_k=top_k)
            try:
                if json_output:
                    write_json_line(record)
                elif csv_writer is not None:
                    csv_writer.writerow(_csv_row(record, top_k))
                elif not quiet:
                    write_text(_human_line(record, top_k))
            except BrokenPipeError:
                # the reader went away (`| head`): stop like Ctrl-C, what is done stays done
                broken_pipe.append(True)
                raise KeyboardInterrupt from None
            if progress is not None:
                progress.advance(task)

        def on_ignored(_candidate) -> None:
            if progress is not None:
                progress.advance(task)

        try:
            summary = classify_paths(
                paths,
                conn=conn,
                classifier=classifier,
                jobs=jobs,
                force=force,
                batch_size=batch_size,
                on_result=on_result,
                on_ignored=on_ignored,
                params={"taxonomy": taxonomy, "model": str(model) if model else None,
                        "cascade": cascade},
            )
        finally:
            conn.close()
    if broken_pipe:
        # silence the interpreter's final flush of the closed stdout
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        raise typer.Exit(EXIT_BROKEN_PIPE)
    _print_summary(summary, to_stderr=machine)
    if summary.status == "interrupted":
        raise typer.Exit(EXIT_INTERRUPTED)
    raise typer.Exit(EXIT_FAILED if summary.failed else EXIT_OK)
