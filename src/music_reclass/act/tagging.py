"""A tag run: write the predicted genres of a library's analysed files into their tags.

Every write is journalled (planned before, done after; see :mod:`music_reclass.act.journal`);
the library's rows follow the file (new content hash, same analyses).
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from music_reclass.act import journal, safe_write
from music_reclass.act.each_file import act_on_each, close_act_run
from music_reclass.act.exact import capture_exact, why_not_exact
from music_reclass.act.iff import IFF_FORMATS, iff_layout
from music_reclass.act.outcome import FileOutcome
from music_reclass.act.payload import audio_digest, file_sha256
from music_reclass.act.selection import (
    AnalysedFile,
    analysed_files,
    choose_genres,
    require_analysed,
    taxonomy_normaliser,
)
from music_reclass.act.settle import (
    JournalStopped,
    repair_interrupted,
    settle_entry,
)
from music_reclass.act.tagio import TagChange, genre_state, genres_of_state, merge_genres
from music_reclass.act.tagwrite import plan_genres, write_genres
from music_reclass.audio.hashing import content_hash
from music_reclass.errors import DatabaseError, ParameterError
from music_reclass.store.analyses import find_analysis
from music_reclass.store.corrections import correction_for
from music_reclass.store.db import display_path, transaction
from music_reclass.store.journal import set_done, set_planned_after


@dataclass
class TagRunSummary:
    """What ``reclass tag`` did (or would do, with ``dry_run``).

    ``changes`` holds every file changed, including the ``unrecorded`` ones: changed,
    but the journal could not record it (the database was full, locked...); the next
    command settles them (see :mod:`~music_reclass.act.settle`) and undo covers them.
    ``error`` is the database error that stopped the run early, if any; ``settled`` the
    earlier unrecorded changes this run settled first.
    """

    run_id: int | None
    changes: list[TagChange] = field(default_factory=list)
    unchanged: list[Path] = field(default_factory=list)
    skipped: list[FileOutcome] = field(default_factory=list)
    failed: list[FileOutcome] = field(default_factory=list)
    unrecorded: list[FileOutcome] = field(default_factory=list)
    settled: list[str] = field(default_factory=list)
    error: str | None = None
    status: str = "done"  # done | failed | cancelled

    @property
    def ok(self) -> bool:
        return not self.failed and not self.unrecorded and self.error is None

    def counts(self) -> dict[str, int]:
        return {"changed": len(self.changes), "unchanged": len(self.unchanged),
                "skipped": len(self.skipped), "failed": len(self.failed),
                "unrecorded": len(self.unrecorded)}


def tag_library(
    conn: sqlite3.Connection,
    paths: Sequence[str | os.PathLike],
    *,
    model_id: str,
    min_confidence: float | None = None,
    top_k: int | None = 3,
    mode: str = "replace",
    dry_run: bool = False,
    normalise: Callable[[str], str | None] | None = None,
    echo: Callable[[str], None] | None = None,
    cancel: Callable[[], bool] | None = None,
    on_progress: Callable[[int, int], None] | None = None,
) -> TagRunSummary:
    """Write the genres of one model's analyses into the files under ``paths``.

    Every write is journalled (planned before, done after; see
    :mod:`~music_reclass.act.journal`), the files rows get the new content
    hash and the analyses follow it.

    Parameters
    ----------
    conn : sqlite3.Connection
        The library database.
    paths : sequence of path-like
        Files or folders; only files a classify run analysed are considered.
    model_id : str
        The model whose analyses are written (the library's active model).
    min_confidence : float, optional
        Write every genre with at least this confidence. None (default): follow the
        model's decision (its ``decided`` genres; nothing where it abstained).
    top_k : int, optional
        At most this many genres.
    mode : {"replace", "append", "fill"}
        See :func:`~music_reclass.act.tagio.merge_genres`.
    dry_run : bool
        Return (and echo) the changes; write nothing (not even the DB).
    normalise : callable, optional
        Genre name normaliser (default: :func:`taxonomy_normaliser`).
    echo : callable, optional
        Called with one line per change or problem.
    on_progress : callable, optional
        ``on_progress(done, total)`` after each file (``total``: the analysed files).
    cancel : callable, optional
        Checked before each file; when it returns True the run stops (status
        ``cancelled``), the files done so far stay done and journalled.

    A database error (full, locked beyond the busy timeout, I/O) stops the run: the
    files changed so far stay changed and journalled; a change the journal could not
    mark done is reported in ``unrecorded`` and settled by the next command.
    """
    if min_confidence is not None and not 0.0 <= min_confidence <= 1.0:
        raise ParameterError(f"--min-confidence must be between 0 and 1, not {min_confidence}")
    if top_k is not None and top_k < 1:
        raise ParameterError(f"--top-k must be at least 1, not {top_k}")
    merge_genres([], [], mode=mode)  # validates mode
    echo = echo or (lambda line: None)
    normalise = normalise or taxonomy_normaliser()
    summary = TagRunSummary(run_id=None)
    if not dry_run:
        summary.settled = repair_interrupted(conn)
        for message in summary.settled:
            echo(f"settled: {message}")
    rows = analysed_files(conn, paths)  # after repair: it may have moved rows
    require_analysed(rows, paths)
    if not dry_run:
        safe_write.cleanup_stale_temps({r.path.parent for r in rows})
        summary.run_id = journal.start_act_run(conn, "tag", {
            "paths": [display_path(p) for p in paths], "min_confidence": min_confidence,
            "top_k": top_k, "mode": mode, "model_id": model_id,
        })
    unrecorded: dict[int, FileOutcome] = {}
    act_on_each(rows, summary, lambda row: _tag_one(
        conn, summary, row, model_id=model_id, min_confidence=min_confidence, top_k=top_k,
        mode=mode, dry_run=dry_run, normalise=normalise, echo=echo, unrecorded=unrecorded),
        echo=echo, cancel=cancel, on_progress=on_progress)
    close_act_run(conn, summary, unrecorded, "tag")
    return summary


def _tag_one(conn: sqlite3.Connection, summary: TagRunSummary, row: AnalysedFile, *,
             model_id: str, min_confidence: float | None, top_k: int | None, mode: str,
             dry_run: bool, normalise: Callable[[str], str | None],
             echo: Callable[[str], None], unrecorded: dict[int, FileOutcome]) -> None:
    path = row.path
    if (
        not path.is_file()
        or path.stat().st_size != row.size
        or content_hash(path) != row.content_hash
    ):
        summary.skipped.append(FileOutcome(str(path), "changed-since-analysis",
                                           "changed or missing since it was analysed"))
        return
    corrected = correction_for(conn, row.content_hash)
    genres, why_not = choose_genres(find_analysis(conn, row.content_hash, model_id),
                                    correction=corrected.labels if corrected else None,
                                    min_confidence=min_confidence, top_k=top_k,
                                    normalise=normalise)
    if not genres:
        code = why_not.split(":")[0].replace(" ", "-") if why_not else "nothing-to-write"
        summary.skipped.append(FileOutcome(str(path), code, why_not or "nothing to write"))
        return
    names = [g for g, _ in genres]
    before, current, wanted = plan_genres(path, names, mode=mode)
    if wanted == current:
        summary.unchanged.append(path)
        return
    if before["format"] in IFF_FORMATS:  # refuse an unsafe WAV/AIFF layout (dry run too)
        iff_layout(path, before["format"])
    if dry_run:
        change = TagChange(path, before, {"planned": wanted}, current, wanted)
        summary.changes.append(change)
        echo(change.describe())
        return
    exact = capture_exact(path)
    entry = journal.plan(
        conn, summary.run_id, action="tag", path=path,
        before={"state": before, "exact": exact, "sha256": file_sha256(path),
                **({} if exact else {"exact_why": why_not_exact(path)})},
        after={"genres": wanted}, digest=audio_digest(path),
    )

    def prepare(tmp: Path) -> None:  # the journal knows the exact result before it exists
        set_planned_after(conn, entry, {"genres": wanted, "sha256": file_sha256(tmp)})

    try:
        change = write_genres(path, names, mode=mode, expected_before=before, prepare=prepare)
    except BaseException as exc:
        # the file may or may not have changed before the error: decide from the file
        # (KeyboardInterrupt too: settled now rather than by the next command)
        settled = settle_entry(conn, entry, "tag", reason=f"{type(exc).__name__}: {exc}")
        if settled.verdict not in ("unrecorded", "done") or not isinstance(exc, Exception):
            raise
        if settled.verdict == "done" or settled.changed:
            # the error came after the replace (e.g. syncing the folder): the change is
            # made (and journalled, unless the database failed too)
            state = genre_state(path)
            change = TagChange(path, before, state, current, genres_of_state(state))
            summary.changes.append(change)
            echo(f"{change.describe()} (then: {type(exc).__name__}: {exc})")
        if settled.verdict == "unrecorded":
            unrecorded[entry] = FileOutcome(str(path), "unrecorded", settled.message)
            raise JournalStopped(str(exc)) from exc
        return
    sha = file_sha256(path)
    try:
        with transaction(conn):
            journal.record_retag(conn, path, old_hash=row.content_hash, run_id=summary.run_id,
                                 genres=change.after_genres)
            set_done(conn, entry, after={"state": change.after, "sha256": sha,
                                         "genres": change.after_genres})
    except DatabaseError as exc:
        summary.changes.append(change)
        unrecorded[entry] = FileOutcome(str(path), exc.code,
                                        "changed, but the journal could not record it")
        echo(change.describe())
        raise JournalStopped(str(exc)) from exc
    safe_write.fault_point("done")
    summary.changes.append(change)
    echo(change.describe())
