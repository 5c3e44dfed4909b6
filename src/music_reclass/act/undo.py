"""Undo: revert a tag or organise run, keeping what the owner changed since.

:func:`undo_run` reverts a run's ``done`` rows newest first.

Tags
    A file exactly as the tag write left it (its SHA-256, recorded in the journal just
    before the write, is unchanged) is put back byte for byte where the original
    non-audio bytes were kept, and reported ``byte-exact`` only when the result has the
    original's SHA-256. A file the owner changed since (a title edited, cover art added)
    gets its genre field back and nothing else: every other tag stays as the owner left
    it, verified before the file is replaced. A file whose genre tags or audio changed
    since is refused with the reason.
Moves and copies
    Moved files go back; copies are removed only if byte-identical to what was copied
    (and the original is still there).

A file that cannot be undone is refused and reported; the rest go on. Undo refuses a
run still in progress. Undo is itself a journalled run (kind ``undo``; a database
error half-way is settled like a tag run's) and is idempotent.

A ``plex-push`` run is undone by the handler :mod:`music_reclass.plex` registers with
:func:`register_undo_handler` (its changes are on a Plex server, not in files).
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from music_reclass.act import safe_write
from music_reclass.act.exact import rebuild_exact
from music_reclass.act.journal import (
    UNDOABLE_KINDS,
    end_act_run,
    ended_run,
    genres_match,
    plan,
    record_retag,
    same_inode,
    start_act_run,
)
from music_reclass.act.outcome import FileOutcome
from music_reclass.act.payload import audio_digest, file_sha256
from music_reclass.act.settle import (
    JournalStopped,
    repair_interrupted,
    retry_unrecorded,
    settle_entry,
)
from music_reclass.act.tagio import genre_state, genres_of_state
from music_reclass.act.tagwrite import restore_genre_state, restore_genres_only
from music_reclass.errors import (
    DatabaseError,
    ParameterError,
    ReclassError,
    TagError,
    UndoError,
)
from music_reclass.process import pid_alive
from music_reclass.store import files as store_files
from music_reclass.store import journal as rows
from music_reclass.store import runs as store_runs
from music_reclass.store.db import display_path, transaction
from music_reclass.store.journal import Entry, entries, set_done, set_planned_after

__all__ = ["UndoReport", "latest_undoable_run", "register_undo_handler", "undo_run"]


@dataclass
class UndoReport:
    """What an undo did: one line per change undone, refused, skipped.

    ``inexact`` holds the lines of tag restores that are not byte for byte (the owner's
    later edits kept, or the original bytes not kept); ``unrecorded`` the changes undone
    whose journal rows could not be written (settled by the next command); ``error`` the
    database error that stopped the undo early; ``settled`` the earlier unrecorded
    changes settled first.
    """

    run_id: int | None
    undo_run_id: int | None = None
    undone: list[str] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    inexact: list[str] = field(default_factory=list)
    unrecorded: list[FileOutcome] = field(default_factory=list)
    settled: list[str] = field(default_factory=list)
    error: str | None = None

    @property
    def ok(self) -> bool:
        return not self.refused and not self.unrecorded and self.error is None


#: Undo of the run kinds whose changes are not files (``plex-push``), registered by the
#: room that makes them (:mod:`music_reclass.plex`, on import): act never imports it.
#: ``handler(conn, run_id, *, dry_run) -> UndoReport``.
UndoHandler = Callable[..., "UndoReport"]
_HANDLERS: dict[str, UndoHandler] = {}


def register_undo_handler(kind: str, handler: UndoHandler) -> None:
    """Let :func:`undo_run` undo runs of ``kind`` (one of ``UNDOABLE_KINDS``) with ``handler``."""
    _HANDLERS[kind] = handler


def latest_undoable_run(conn: sqlite3.Connection) -> int | None:
    """The newest tag/organise/plex-push run with ``done`` rows not yet undone."""
    return rows.latest_undoable_run(conn, UNDOABLE_KINDS)


def _current_location(conn: sqlite3.Connection, entry: Entry) -> Path:
    """Where the file of ``entry`` is now, following later moves (not undone)."""
    location = entry.new_path if entry.action in ("move", "copy") else entry.path
    for moved_from, moved_to in rows.later_moves(conn, entry.id):
        if moved_from == location:
            location = moved_to
    return Path(location)


def _check_undoable(conn: sqlite3.Connection, run: store_runs.RunRow | None,
                    run_id: int) -> None:
    if run is None:
        raise ParameterError(f"no run {run_id} in this library")
    if run.kind not in UNDOABLE_KINDS:
        raise ParameterError(
            f"run {run_id} is a {run.kind} run: only {', '.join(UNDOABLE_KINDS)} runs can be "
            "undone"
        )
    if run.kind not in ("tag", "organise") and run.kind not in _HANDLERS:
        raise ParameterError(f"run {run_id} is a {run.kind} run and nothing here can undo it "
                             "(the package that made it is not loaded)")
    pid = run.params.get("pid")
    if (run.status == "running" and ended_run(conn, run.id) is None
            and pid_alive(pid, run.params.get("pid_start"))):
        raise ParameterError(f"run {run_id} is still in progress (process {pid}): undo it "
                             "once it has finished")


def undo_run(
    conn: sqlite3.Connection, run_id: int | None = None, *, dry_run: bool = False
) -> UndoReport:
    """Undo the ``done`` changes of ``run_id`` (default: the latest undoable run).

    Parameters
    ----------
    conn : sqlite3.Connection
        The library database.
    run_id : int, optional
        A tag or organise run (or a plex-push run: see :func:`register_undo_handler`).
    dry_run : bool
        Report what would be undone; change nothing.

    Returns
    -------
    UndoReport
        What was undone, refused (file changed since, target occupied...) and
        skipped (already undone).

    Raises
    ------
    ParameterError
        No such run, not a tag or organise run, or a run still in progress.
    """
    settled = [] if dry_run else repair_interrupted(conn)
    if run_id is None:
        run_id = latest_undoable_run(conn)
        if run_id is None:
            return UndoReport(None, settled=settled)
    run = store_runs.get_run(conn, run_id)
    _check_undoable(conn, run, run_id)
    assert run is not None
    if run.kind in _HANDLERS:
        report = _HANDLERS[run.kind](conn, run_id, dry_run=dry_run)
        report.settled = settled + report.settled
        return report
    report = UndoReport(run_id, settled=settled)
    todo = [e for e in reversed(entries(conn, run_id)) if e.state == "done"]
    report.skipped = [
        f"{display_path(e.path)}: already undone" for e in entries(conn, run_id) if e.state == "undone"
    ]
    if not dry_run and todo:
        report.undo_run_id = start_act_run(conn, "undo", {"undoes": run_id})
    unrecorded: dict[int, FileOutcome] = {}
    for entry in todo:
        try:
            message = _undo_entry(conn, entry, report.undo_run_id, dry_run=dry_run,
                                  unrecorded=unrecorded)
        except JournalStopped as stop:
            report.error = str(stop)
            break
        except DatabaseError as exc:
            report.refused.append(f"{display_path(entry.path)}: {exc}")
            report.error = str(exc)
            break
        except (UndoError, ReclassError, OSError) as exc:
            report.refused.append(f"{display_path(entry.path)}: {exc}")
            continue
        except Exception as exc:  # noqa: BLE001 - one odd journal row must not stop the rest
            report.refused.append(
                f"{display_path(entry.path)}: unexpected {type(exc).__name__}: {exc}"
            )
            continue
        report.undone.append(message)
        if message.endswith(_INEXACT):
            report.inexact.append(message)
        if not dry_run:
            safe_write.fault_point("done")
    report.unrecorded = retry_unrecorded(conn, unrecorded, "undo")
    if report.undo_run_id is not None:
        error = end_act_run(conn, report.undo_run_id, "done" if report.ok else "failed",
                            {"undone": len(report.undone), "refused": len(report.refused),
                             "unrecorded": len(report.unrecorded)})
        report.error = report.error or error
    return report


def _undo_entry(conn: sqlite3.Connection, entry: Entry, undo_run: int | None, *,
                dry_run: bool, unrecorded: dict[int, FileOutcome]) -> str:
    if entry.action == "tag":
        return _undo_tag(conn, entry, undo_run, dry_run=dry_run, unrecorded=unrecorded)
    return _undo_move(conn, entry, undo_run, dry_run=dry_run, unrecorded=unrecorded)


@contextmanager
def _settled_on_error(conn: sqlite3.Connection, undo_id: int, path: Path,
                      unrecorded: dict[int, FileOutcome]) -> Iterator[None]:
    """On an error, settle the undo's planned row from the file (no orphan ``planned``).

    The error may come after the file changed (syncing the folder, recording it): then
    the row is done and the error is swallowed; when nothing changed, it is failed and
    the error raised; when the database cannot record either, the undo stops.
    """
    try:
        yield
    except BaseException as exc:
        if conn.in_transaction:
            conn.rollback()
        settled = settle_entry(conn, undo_id, "undo", reason=f"{type(exc).__name__}: {exc}")
        if settled.verdict == "unrecorded":
            unrecorded[undo_id] = FileOutcome(str(path), "unrecorded", settled.message)
            raise JournalStopped(str(exc)) from exc
        if settled.verdict != "done" or not isinstance(exc, Exception):
            raise


def _undo_tag(conn: sqlite3.Connection, entry: Entry, undo_run: int | None, *,
              dry_run: bool, unrecorded: dict[int, FileOutcome]) -> str:
    path = _current_location(conn, entry)
    shown = display_path(path)
    before, after = entry.before or {}, entry.after or {}
    before_state = before["state"]
    if not path.exists():
        raise UndoError("file missing; not restored")
    # exactly as our write left it? (the SHA-256 recorded just before the write)
    as_written = bool(after.get("sha256")) and file_sha256(path) == after["sha256"]
    if not as_written:
        if genres_match(path, before) and not genres_match(path, after):
            if not dry_run:
                with transaction(conn):
                    rows.mark_undone(conn, entry.id)
            return f"{shown}: tags already as before"
        if not genres_match(path, after):
            raise UndoError("genre tags changed since the run; not restored")
    if audio_digest(path) != entry.audio_digest:
        raise UndoError("audio changed since the run; not restored")
    genres = genres_of_state(before_state)
    if dry_run:
        return f"{shown}: GENRE -> {genres!r}" + (
            "" if as_written else " (genre only: the file changed since, your edits kept)")
    planned_after = {"state": before_state, "undoes": entry.id}
    undo_id = plan(conn, undo_run, action="tag", path=path, before=entry.after,
                   after=planned_after, digest=entry.audio_digest)

    def prepare(tmp: Path) -> None:
        set_planned_after(conn, undo_id, {**planned_after, "sha256": file_sha256(tmp)})

    how = "restored; recorded after an error"
    with _settled_on_error(conn, undo_id, path, unrecorded):
        how = _restore(path, before, as_written=as_written, prepare=prepare)
        with transaction(conn):
            record_retag(conn, path, old_hash=store_files.content_hash_of(conn, path),
                         run_id=undo_run, genres=genres)
            set_done(conn, undo_id)
            rows.mark_undone(conn, entry.id)
    return f"{shown}: GENRE restored ({how})" + ("" if how == "byte-exact" else _INEXACT)


#: The end of an undo line whose result is not the original file byte for byte.
_INEXACT = " [not byte for byte]"


def _restore(path: Path, before: dict, *, as_written: bool, prepare) -> str:  # noqa: ANN001
    """Put the journalled genres back; returns how, truthfully (see the module notes)."""
    before_state = before["state"]
    if not as_written:
        restore_genres_only(path, before_state, prepare=prepare)
        return "genre only: the file changed since, your later edits kept"
    exact = before.get("exact")
    if exact:
        try:
            _rebuild_original(path, exact, before_state, prepare)
            return "byte-exact"
        except (UndoError, ReclassError):
            pass
    restore_genre_state(path, before_state, prepare=prepare)
    if before.get("sha256") and file_sha256(path) == before["sha256"]:
        return "byte-exact"
    why = before.get("exact_why") or "the original bytes could not be rebuilt"
    return f"tags restored, not byte-exact: {why}"


def _rebuild_original(path: Path, exact: dict, before_state: dict, prepare) -> None:  # noqa: ANN001
    """Replace ``path`` by the original bytes (head/tail kept + current payload)."""
    def rebuild(tmp: Path) -> None:
        if not rebuild_exact(path, exact, tmp):
            raise UndoError("the original bytes cannot be rebuilt")

    def verify(tmp: Path) -> None:
        if file_sha256(tmp) != exact["sha256"]:
            raise UndoError("rebuilt file differs from the original")
        try:
            if genre_state(tmp) != before_state:
                raise UndoError("rebuilt file's tags differ from the journal")
        except TagError as exc:
            raise UndoError(str(exc)) from exc

    safe_write.modify_file(path, rebuild, verify=verify, prepare=prepare)


def _undo_move(conn: sqlite3.Connection, entry: Entry, undo_run: int | None, *,
               dry_run: bool, unrecorded: dict[int, FileOutcome]) -> str:
    src, dst = Path(entry.path), _current_location(conn, entry)
    shown_src, shown_dst = display_path(src), display_path(dst)
    copy = entry.action == "copy"
    sha = (entry.after or {}).get("sha256")
    if not dst.exists():
        if src.exists():
            # Already back, or the copy already removed (e.g. an undo killed just
            # after the unlink): nothing left to do.
            if not dry_run:
                with transaction(conn):
                    rows.mark_undone(conn, entry.id)
            return f"{shown_dst}: copy already removed" if copy else f"{shown_src}: already back"
        raise UndoError(f"{shown_dst} is missing; nothing to undo")
    # A copy is deleted, so it must be byte-identical to what was copied; a moved
    # file only has to be the same recording (its tags may have changed since).
    if copy and sha and file_sha256(dst) != sha:
        raise UndoError(f"{shown_dst} changed since the run; left in place")
    if entry.audio_digest and audio_digest(dst) != entry.audio_digest:
        raise UndoError(f"{shown_dst}: audio changed since the run; left in place")
    if copy:
        return _undo_copy(conn, entry, undo_run, src=src, dst=dst, sha=sha, dry_run=dry_run,
                          unrecorded=unrecorded)
    if os.path.lexists(src):
        raise UndoError(f"{shown_src} is occupied by another file; {shown_dst} left in place")
    if dry_run:
        return f"{shown_dst} -> {shown_src}"
    undo_id = plan(
        conn,
        undo_run,
        action="move",
        path=dst,
        new_path=src,
        after={"method": _move_method(dst, src), "sha256": sha, "undoes": entry.id},
        digest=entry.audio_digest,
    )
    with _settled_on_error(conn, undo_id, dst, unrecorded):
        safe_write.move_file(dst, src)
        with transaction(conn):
            store_files.record_moved(conn, dst, src, copy=False, run_id=undo_run)
            set_done(conn, undo_id)
            rows.mark_undone(conn, entry.id)
    _prune_empty_dirs(dst.parent, (entry.after or {}).get("root"))
    return f"{shown_dst} -> {shown_src}"


def _undo_copy(
    conn: sqlite3.Connection,
    entry: Entry,
    undo_run: int | None,
    *,
    src: Path,
    dst: Path,
    sha: str | None,
    dry_run: bool,
    unrecorded: dict[int, FileOutcome],
) -> str:
    """Remove the copy ``dst`` of ``src`` (journalled as action ``remove``)."""
    if not src.exists() or same_inode(src, dst) or file_sha256(src) != sha:
        raise UndoError(
            f"{display_path(src)} (the original) is missing or changed; copy {display_path(dst)} kept"
        )
    if dry_run:
        return f"{display_path(dst)}: copy would be removed"
    undo_id = plan(
        conn,
        undo_run,
        action="remove",
        path=dst,
        before={**(entry.after or {}), "entry": entry.id},
        digest=entry.audio_digest,
    )
    with _settled_on_error(conn, undo_id, dst, unrecorded):
        dst.unlink()
        safe_write.fsync_dir(dst.parent)
        safe_write.fault_point("removed")
        with transaction(conn):
            store_files.record_removed(conn, dst)
            set_done(conn, undo_id)
            rows.mark_undone(conn, entry.id)
    _prune_empty_dirs(dst.parent, (entry.after or {}).get("root"))
    return f"{display_path(dst)}: copy removed"


def _move_method(src: Path, dst: Path) -> str:
    """How :func:`safe_write.move_file` will move: ``link`` (same filesystem) or ``copy``."""
    folder = dst.parent
    while not folder.exists():
        folder = folder.parent
    return "link" if safe_write.same_device(src, folder) else "copy"


def _prune_empty_dirs(directory: Path, root: str | None) -> None:
    """Remove empty folders below the organise target ``root`` (never ``root`` itself)."""
    if not root:
        return
    root_path = Path(root)
    for folder in [directory, *directory.parents]:
        if folder == root_path or root_path not in folder.parents:
            return
        try:
            folder.rmdir()  # fails unless empty: never removes anything of the user's
        except OSError:
            return
