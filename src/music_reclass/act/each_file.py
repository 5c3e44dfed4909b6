"""The loop every act run shares: one file at a time, progress, cancel, which failures
end the run, and how the run is closed.

A failure of one file (unreadable, refused, an odd tag) is recorded and the run goes
on; a journal that can take no more rows ends it, because every later change would be
one undo does not know about.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from typing import Any, Protocol, TypeVar

from music_reclass.act import journal
from music_reclass.act.outcome import FileOutcome, failure
from music_reclass.act.settle import JournalStopped, retry_unrecorded
from music_reclass.errors import DatabaseError

__all__ = ["ActSummary", "act_on_each", "close_act_run"]

Row = TypeVar("Row")


class ActSummary(Protocol):
    """What the loop fills in: the summaries of tag and organise runs."""

    run_id: int | None
    status: str
    error: str | None
    failed: list[FileOutcome]
    unrecorded: list[FileOutcome]

    @property
    def ok(self) -> bool: ...

    def counts(self) -> dict[str, int]: ...


def act_on_each(
    rows: Sequence[Row],
    summary: ActSummary,
    act_one: Callable[[Row], Any],
    *,
    echo: Callable[[str], None],
    cancel: Callable[[], bool] | None = None,
    on_progress: Callable[[int, int], None] | None = None,
) -> None:
    """Call ``act_one(row)`` for each row, in order, recording failures in ``summary``.

    ``on_progress(done, total)`` is called before each file and once at the end (with
    the files that went through); ``cancel()`` is asked before each file and ends the
    run as ``cancelled``.
    """
    done = 0
    for done, row in enumerate(rows):
        if on_progress is not None:
            on_progress(done, len(rows))
        if cancel is not None and cancel():
            summary.status = "cancelled"
            break
        try:
            act_one(row)
        except JournalStopped as stop:
            summary.error = str(stop)
            break
        except DatabaseError as exc:  # nothing was changed: the journal cannot take more
            summary.failed.append(failure(row.path, exc))  # type: ignore[attr-defined]
            summary.error = str(exc)
            break
        except Exception as exc:  # noqa: BLE001 - one odd file must not abort the run
            outcome = failure(row.path, exc)  # type: ignore[attr-defined]
            summary.failed.append(outcome)
            echo(f"failed: {outcome}")
    else:
        done = len(rows)  # every file went through (no cancel, no stop)
    if on_progress is not None:
        on_progress(done if rows else 0, len(rows))


def close_act_run(conn: sqlite3.Connection, summary: ActSummary,
                  unrecorded: dict[int, FileOutcome], kind: str) -> None:
    """Settle what the journal could not record yet, set the run's final status and
    record its end (a run that did not finish cleanly is ``failed``)."""
    summary.unrecorded = retry_unrecorded(conn, unrecorded, kind)
    if summary.status != "cancelled" and not summary.ok:
        summary.status = "failed"
    if summary.run_id is not None:
        error = journal.end_act_run(conn, summary.run_id, summary.status, summary.counts())
        summary.error = summary.error or error
