"""Output helpers shared by the commands: JSON Lines, CSV, tables, safe path display.

Machine output (JSON Lines, CSV) goes to stdout only; progress, summaries of machine
runs and diagnostics go to stderr, so ``reclass classify --json ... | jq`` always
reads clean JSON.

File names are arbitrary bytes on POSIX; Python holds undecodable bytes as lone
surrogates (``surrogateescape``). JSON escapes them (``\\udcxx``), CSV and plain
text write the original bytes back, and the one-line displays escape control
characters (a newline in a name never splits a summary line).
"""

from __future__ import annotations

import csv
import io
import json
import os
import sys
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any, TextIO

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

__all__ = [
    "CsvWriter",
    "comparison_table",
    "LineSink",
    "display_label",
    "fit",
    "terminal_width",
    "display_path",
    "format_duration",
    "format_genres",
    "progress_bar",
    "progress_callback",
    "stderr_console",
    "stdout_console",
    "write_json_line",
    "write_text",
]


def stdout_console() -> Console:
    """A rich console on stdout (no colour codes when stdout is not a terminal)."""
    return Console(file=sys.stdout, highlight=False, soft_wrap=True)


def stderr_console() -> Console:
    """A rich console on stderr."""
    return Console(file=sys.stderr, highlight=False, soft_wrap=True)


def write_text(text: str, *, stream: TextIO | None = None) -> None:
    """Write ``text`` as is, undecodable file-name bytes restored; flush."""
    stream = stream or sys.stdout
    buffer = getattr(stream, "buffer", None)
    if buffer is not None:
        stream.flush()
        buffer.write(text.encode(stream.encoding or "utf-8", "surrogateescape"))
        buffer.flush()
    else:  # a redirected stream (rich Live) has no buffer: keep it readable
        stream.write(text.encode("utf-8", "surrogateescape").decode("utf-8", "replace"))
        stream.flush()


def json_line(record: dict[str, Any]) -> str:
    """One JSON Lines record (UTF-8 text; ASCII escapes if a name is not valid UTF-8)."""
    text = json.dumps(record, ensure_ascii=False)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # lone surrogates from undecodable bytes
        text = json.dumps(record, ensure_ascii=True)
    return text


def write_json_line(record: dict[str, Any], *, stream: TextIO | None = None) -> None:
    """Write one JSON object on one line and flush (consumers read it as it comes)."""
    write_text(json_line(record) + "\n", stream=stream)


class CsvWriter:
    """CSV rows to stdout, flushed row by row; fields with newlines are quoted."""

    def __init__(self, header: Sequence[str], *, stream: TextIO | None = None) -> None:
        self.stream = stream
        self.writerow(header)

    def writerow(self, row: Iterable[Any]) -> None:
        text = io.StringIO()
        csv.writer(text, lineterminator="\n").writerow(["" if v is None else v for v in row])
        write_text(text.getvalue(), stream=self.stream)


def progress_bar(label: str, *, transient: bool = True, on_stdout: bool = False) -> Progress:
    """The progress bar of the commands: label, bar, n/total, elapsed, ETA.

    On stderr, or on stdout when stdout is the terminal the per-file lines go to (then
    print those through :class:`LineSink`, above the bar).
    """
    return Progress(
        TextColumn(label),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
        console=stdout_console() if on_stdout else stderr_console(),
        transient=transient,
        redirect_stdout=False,
        redirect_stderr=False,
    )


@contextmanager
def progress_callback(
    label: str, *, enabled: bool = True
) -> Iterator[Callable[[int, int], None] | None]:
    """A ``(done, total)`` callback drawing a :func:`progress_bar` (None when disabled).

    For the layers that report progress through a callback and show nothing themselves
    (``extract_many(..., on_progress=...)``). A callback reused for a second batch
    (``done`` back to 0) starts a new bar line.
    """
    if not enabled:
        yield None
        return
    bar = progress_bar(label, transient=False)
    task: list[Any] = []

    def update(done: int, total: int) -> None:
        if not task or done == 0:
            task[:] = [bar.add_task(label, total=total)]
        bar.update(task[0], completed=done, total=total)

    with bar:
        yield update


class LineSink:
    """Per-file lines of a command, printed so they never mix with its progress bar.

    With a live bar on the terminal, lines are printed through the bar's console (above
    the bar, which redraws below them); otherwise they are written to stdout as they are.
    """

    def __init__(self, progress: Progress | None) -> None:
        self.progress = progress

    def __call__(self, line: str) -> None:
        if self.progress is not None and self.progress.console.file is sys.stdout:
            self.progress.console.print(line.rstrip("\n"), markup=False, highlight=False,
                                        soft_wrap=True, crop=False)
        else:
            write_text(line if line.endswith("\n") else line + "\n")


def terminal_width(default: int = 100) -> int:
    """Columns of the terminal the lines end up on: stdout's, else (``reclass list | head``)
    the terminal on stderr, else ``default`` (``COLUMNS`` overrides)."""
    import shutil

    if sys.stdout.isatty() or os.environ.get("COLUMNS"):
        return shutil.get_terminal_size((default, 24)).columns
    try:
        return os.get_terminal_size(sys.stderr.fileno()).columns
    except (OSError, ValueError, AttributeError):  # no terminal at all: a file, a pipe, CI
        return default


def fit(text: str, width: int) -> str:
    """``text`` cut to ``width`` columns from the left (``...`` in front), for paths."""
    if width <= 3 or len(text) <= width:
        return text
    return "..." + text[-(width - 3):]


def display_path(path: str) -> str:
    """``path`` on one line: control characters escaped, undecodable bytes as ``\\xNN``."""
    if path.isprintable() and path.isascii():  # nearly every name: one C-level check
        return path
    shown = path.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    return "".join(
        char if char.isprintable() or char == " " else char.encode("unicode_escape").decode()
        for char in shown
    )


def format_genres(genres: Sequence[dict[str, Any]], *, top_k: int = 3) -> str:
    """``"rock 0.71, metal 0.12"`` (best first; confidences under 0.01 left out)."""
    shown = [g for g in genres[:top_k] if float(g["confidence"]) >= 0.005] or list(genres[:1])
    return ", ".join(f"{display_label(g['label'])} {float(g['confidence']):.2f}" for g in shown)


def display_label(label: str) -> str:
    """A genre label on one line, control characters escaped (labels come from files)."""
    return display_path(str(label))


def format_duration(seconds: float) -> str:
    """``"1:02:03"`` or ``"2:03"``."""
    seconds = int(round(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def key_value_table(rows: Iterable[tuple[str, Any]], *, title: str | None = None) -> Table:
    """A two-column table without header."""
    table = Table(title=title, show_header=False, box=None, pad_edge=False)
    table.add_column(style="bold")
    table.add_column(overflow="fold")
    for key, value in rows:
        table.add_row(key, "" if value is None else str(value))
    return table


#: short headings for the comparison's columns in a terminal
_COMPARE_HEADINGS = {
    "n_train": "train", "n_test": "test", "accuracy": "acc", "balanced_accuracy": "bal acc",
    "macro_f1": "F1", "ece": "ECE", "train_s": "fit s", "infer_ms_per_track": "ms",
    "extract_ms_per_track": "feat ms",
}


def comparison_table(rows: Sequence[Mapping[str, Any]], columns: Sequence[str] | None) -> Table:
    """A comparison (``Library.compare``'s rows) as a table for the terminal: short
    headings, no column that is empty in every row, values never cut."""
    columns = [c for c in (columns or (rows[0].keys() if rows else []))
               if any(row.get(c) is not None for row in rows)]
    cells = [[_cell(row.get(column)) for column in columns] for row in rows]
    table = Table(box=None, pad_edge=False, header_style="bold", padding=(0, 1, 0, 0))
    for i, column in enumerate(columns):
        table.add_column(_COMPARE_HEADINGS.get(column, column.replace("_", " ")),
                         justify="left" if column in ("features", "model", "split") else "right",
                         min_width=max(len(row[i]) for row in cells) if cells else None,
                         no_wrap=True)
    for row in cells:
        table.add_row(*row)
    return table


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    return f"{value:.3f}" if isinstance(value, float) else str(value)
