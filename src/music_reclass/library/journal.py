"""The journal of changes to a user's files, crash repair, and undo.

Write-ahead discipline
    Every change is first recorded as a ``planned`` journal row (committed) with
    everything undo needs (the before-state, the audio digest), then the file is
    changed (atomically, see :mod:`~music_reclass.library.safe_write`), then the
    row becomes ``done`` in the same transaction that updates the ``files`` rows.
    So after a crash (kill -9, power loss) every changed file has a journal row.

Repair
    :func:`repair_interrupted` looks at the ``planned`` rows of runs whose
    process is gone and decides from the files themselves whether the change
    happened (-> ``done``, DB rows updated, a half-finished move completed) or
    not (-> ``failed``). Every command runs it first.

Undo
    :func:`undo_run` reverts a run's ``done`` rows newest first: tags are put
    back byte for byte where the original non-audio bytes were kept (else at
    the tag level, verified), moved files go back, copies are removed only if
    byte-identical to what was copied (and the original is still there). A file
    that changed since is refused and reported; the rest go on. Undo is itself
    a journalled run (kind ``undo``) and is idempotent.
"""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from music_reclass.audio.hashing import content_hash
from music_reclass.errors import ParameterError, ReclassError
from music_reclass.library import db as libdb
from music_reclass.library import safe_write
from music_reclass.library.db import display_path, path_from_db, path_to_db
from music_reclass.library.payload import audio_digest, file_sha256, rebuild_exact

__all__ = ["content_hash"]  # re-exported: the library's content hash (BLAKE2b key of the DB)

UNDOABLE_KINDS = ("tag", "organise", "plex-push")
#: The run kinds whose crashed runs repair settles (never a classify run: it has no journal).
ACT_KINDS = ("tag", "organise", "undo")
#: Journal actions: "remove" is undo deleting an organise copy (no new_path); "plex-genre"
#: is a Plex item's genres (music_reclass.plex, which also repairs and undoes those rows).
ACTIONS = ("tag", "move", "copy", "remove", "plex-genre")
#: Undo of the run kinds whose changes are not files (``plex-push``): registered by the
#: package that makes them (music_reclass.plex on import), so journal never imports it.
_UNDO_HANDLERS: dict[str, Callable[..., UndoReport]] = {}


def register_undo_handler(kind: str, handler: Callable[..., UndoReport]) -> None:
    """Let ``undo_run`` undo runs of ``kind`` with ``handler(conn, run_id, *, dry_run)``."""
    _UNDO_HANDLERS[kind] = handler


class UndoError(ReclassError):
    code = "undo-refused"


@dataclass
class Entry:
    id: int
    run_id: int
    action: str
    path: str
    new_path: str | None
    before: dict | None
    after: dict | None
    audio_digest: str | None
    state: str
    error: str | None

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> Entry:
        return cls(
            id=row["id"],
            run_id=row["run_id"],
            action=row["action"],
            path=path_from_db(row["path"]),
            new_path=None if row["new_path"] is None else path_from_db(row["new_path"]),
            before=json.loads(row["before"]) if row["before"] else None,
            after=json.loads(row["after"]) if row["after"] else None,
            audio_digest=row["audio_digest"],
            state=row["state"],
            error=row["error"],
        )


# ----------------------------------------------------------------------------- runs


def start_act_run(conn: sqlite3.Connection, kind: str, params: dict) -> int:
    """Start a run, recording our pid and its start time so that repair knows when it died."""
    pid = os.getpid()
    owner = {"pid": pid, "pid_start": safe_write.process_start_time(pid)}
    with libdb.transaction(conn):
        return libdb.start_run(conn, kind, {**params, **owner})


def _db_text(text: str) -> str:
    """``text`` (an error message that may quote an undecodable file name) as valid UTF-8."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


# ----------------------------------------------------------------------------- rows


def plan(
    conn: sqlite3.Connection,
    run_id: int,
    *,
    action: str,
    path: str | os.PathLike,
    new_path: str | os.PathLike | None = None,
    before: dict | None = None,
    after: dict | None = None,
    digest: str | None = None,
) -> int:
    """Commit a ``planned`` row BEFORE the file changes; returns its id."""
    if action not in ACTIONS:
        raise ParameterError(f"unknown journal action {action!r}")
    with libdb.transaction(conn):
        cur = conn.execute(
            "INSERT INTO journal (run_id, action, path, new_path, before, after, audio_digest,"
            " state, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, 'planned', ?)",
            (
                run_id,
                action,
                path_to_db(path),
                None if new_path is None else path_to_db(new_path),
                None if before is None else json.dumps(before),
                None if after is None else json.dumps(after),
                digest,
                libdb.utcnow(),
            ),
        )
    safe_write.fault_point("planned")
    return int(cur.lastrowid)


def set_done(conn: sqlite3.Connection, entry_id: int, *, after: dict | None = None) -> None:
    """Mark done (call inside the transaction that updates the files rows)."""
    if after is None:
        conn.execute("UPDATE journal SET state = 'done' WHERE id = ?", (entry_id,))
    else:
        conn.execute(
            "UPDATE journal SET state = 'done', after = ? WHERE id = ?",
            (json.dumps(after), entry_id),
        )


def set_failed(conn: sqlite3.Connection, entry_id: int, error: str) -> None:
    with libdb.transaction(conn):
        conn.execute(
            "UPDATE journal SET state = 'failed', error = ? WHERE id = ?",
            (_db_text(error), entry_id),
        )


def entries(conn: sqlite3.Connection, run_id: int) -> list[Entry]:
    rows = conn.execute("SELECT * FROM journal WHERE run_id = ? ORDER BY id", (run_id,))
    return [Entry.from_row(r) for r in rows]


# ----------------------------------------------------------------------------- DB bookkeeping


def record_retag(
    conn: sqlite3.Connection,
    path: Path,
    *,
    old_hash: str | None,
    run_id: int,
    genres: list[str] | None = None,
) -> str:
    """After a tag write: new hash/size/mtime for ``path``; analyses follow the content.

    The track's rows (tracks, analyses, embeddings) are copied to the new
    content hash so the next classify recognises the file and does not analyse
    it again. Call inside a transaction.
    """
    st = path.stat()
    new_hash = content_hash(path)
    if old_hash and old_hash != new_hash:
        conn.execute(
            "INSERT OR IGNORE INTO tracks (content_hash, duration, sample_rate, channels, codec,"
            " title, artist, album, genre_tags) SELECT ?, duration, sample_rate, channels, codec,"
            " title, artist, album, genre_tags FROM tracks WHERE content_hash = ?",
            (new_hash, old_hash),
        )
        conn.execute(
            "INSERT OR IGNORE INTO analyses (content_hash, model_id, status, error_code, error,"
            " genres, tags, analysed_seconds, created_at, run_id) SELECT ?, model_id, status,"
            " error_code, error, genres, tags, analysed_seconds, created_at, run_id"
            " FROM analyses WHERE content_hash = ?",
            (new_hash, old_hash),
        )
        conn.execute(
            "INSERT OR IGNORE INTO embeddings (content_hash, model_id, name, dtype, shape, data)"
            " SELECT ?, model_id, name, dtype, shape, data FROM embeddings WHERE content_hash = ?",
            (new_hash, old_hash),
        )
    conn.execute("INSERT OR IGNORE INTO tracks (content_hash) VALUES (?)", (new_hash,))
    if genres is not None:
        conn.execute(
            "UPDATE tracks SET genre_tags = ? WHERE content_hash = ?",
            (json.dumps(genres), new_hash),
        )
    conn.execute(
        "UPDATE files SET content_hash = ?, size = ?, mtime_ns = ?, last_seen = ?, last_run_id = ?"
        " WHERE path = ?",
        (new_hash, st.st_size, st.st_mtime_ns, libdb.utcnow(), run_id, path_to_db(path)),
    )
    return new_hash


def record_move(conn: sqlite3.Connection, src: Path, dst: Path, *, copy: bool, run_id: int) -> None:
    """After a move/copy: the files row follows the file (or is duplicated). In a transaction."""
    if copy:
        conn.execute(
            "INSERT OR REPLACE INTO files (path, content_hash, size, mtime_ns, first_seen,"
            " last_seen, status, error_code, error, last_run_id) SELECT ?, content_hash, size,"
            " ?, ?, ?, status, error_code, error, ? FROM files WHERE path = ?",
            (
                path_to_db(dst),
                dst.stat().st_mtime_ns,
                libdb.utcnow(),
                libdb.utcnow(),
                run_id,
                path_to_db(src),
            ),
        )
    else:
        conn.execute("DELETE FROM files WHERE path = ?", (path_to_db(dst),))
        conn.execute(
            "UPDATE files SET path = ?, last_seen = ?, last_run_id = ? WHERE path = ?",
            (path_to_db(dst), libdb.utcnow(), run_id, path_to_db(src)),
        )


def record_removed(conn: sqlite3.Connection, path: Path) -> None:
    conn.execute("DELETE FROM files WHERE path = ?", (path_to_db(path),))


# ----------------------------------------------------------------------------- state checks


def _tag_state_matches(path: Path, wanted: dict) -> bool:
    """Does ``path``'s genre state match ``wanted`` (a full state or ``{"genres": [...]}``)?"""
    from music_reclass.library.tags import TagError, genre_state, genres_of_state

    if not wanted:
        return False
    try:
        current = genre_state(path)
    except TagError:
        return False
    if "scheme" in wanted:
        return current == wanted
    return genres_of_state(current) == wanted.get("genres")


def _unwrap(state: dict) -> dict:
    """A tag-run ``before`` is ``{"state": ..., "exact": ...}``; the state itself."""
    return state.get("state", state)


def _same_inode(a: Path, b: Path) -> bool:
    try:
        return a.samefile(b)
    except OSError:
        return False


# ----------------------------------------------------------------------------- repair


def repair_interrupted(conn: sqlite3.Connection) -> list[str]:
    """Settle the ``planned`` rows of runs whose process died; returns messages.

    Decides from the files whether each change happened; completes a move whose
    target is in place (removes the source only when it is the same inode, or
    byte-identical for a cross-device copy); marks the run ``interrupted``.
    Only tag, organise and undo runs are settled (a classify run has no journal).
    A row that cannot be settled (unreadable, unexpected error) is marked
    ``failed`` with the reason: one bad row never blocks the library.
    """
    messages: list[str] = []
    placeholders = ", ".join("?" * len(ACT_KINDS))
    runs = conn.execute(
        f"SELECT id, kind, params FROM runs WHERE status = 'running' AND kind IN ({placeholders})",
        ACT_KINDS,
    ).fetchall()
    for run in runs:
        try:
            params = json.loads(run["params"] or "{}")
        except ValueError:
            params = {}
        if safe_write.pid_alive(params.get("pid"), params.get("pid_start")):
            continue
        for entry in entries(conn, run["id"]):
            if entry.state == "planned":
                messages.append(_repair_entry_safely(conn, entry, run["kind"]))
        with libdb.transaction(conn):
            libdb.finish_run(conn, run["id"], "interrupted")
        safe_write.cleanup_stale_temps(_dirs_of_run(conn, run["id"]))
    return messages


def _repair_entry_safely(conn: sqlite3.Connection, entry: Entry, kind: str) -> str:
    """:func:`_repair_entry`, marking the row failed (with why) when it cannot be settled."""
    try:
        return _repair_entry(conn, entry, kind)
    except Exception as exc:  # noqa: BLE001 - one odd row must never wedge every later command
        reason = f"repair failed: {type(exc).__name__}: {exc}"
        if conn.in_transaction:
            conn.rollback()
        set_failed(conn, entry.id, reason)
        return f"{display_path(entry.path)}: {reason}"


def _dirs_of_run(conn: sqlite3.Connection, run_id: int) -> set[Path]:
    dirs = set()
    for entry in entries(conn, run_id):
        dirs.add(Path(entry.path).parent)
        if entry.new_path:
            dirs.add(Path(entry.new_path).parent)
    return dirs


def _repair_entry(conn: sqlite3.Connection, entry: Entry, kind: str) -> str:
    path = Path(entry.path)
    shown = display_path(path)
    if entry.action == "remove":
        return _repair_remove(conn, entry, path)
    if entry.action == "tag":
        if not path.exists():
            set_failed(conn, entry.id, "interrupted; file missing")
            return f"{shown}: interrupted tag write, file missing"
        if entry.before and _tag_state_matches(path, _unwrap(entry.before)):
            set_failed(conn, entry.id, "interrupted before the write")
            return f"{shown}: interrupted before the write (unchanged)"
        if entry.after and _tag_state_matches(path, _unwrap(entry.after)):
            from music_reclass.library.tags import genre_state, genres_of_state

            state = genre_state(path)
            with libdb.transaction(conn):
                old = conn.execute(
                    "SELECT content_hash FROM files WHERE path = ?", (path_to_db(path),)
                )
                row = old.fetchone()
                record_retag(
                    conn,
                    path,
                    old_hash=row[0] if row else None,
                    run_id=entry.run_id,
                    genres=genres_of_state(state),
                )
                set_done(conn, entry.id, after=state if kind != "undo" else None)
            return f"{shown}: interrupted after the write (completed)"
        set_failed(conn, entry.id, "interrupted; file changed by someone else")
        return f"{shown}: interrupted; tags match neither before nor after"
    if entry.new_path is None:
        raise UndoError(f"{entry.action} row without a target path")
    src, dst = path, Path(entry.new_path)
    shown_src, shown_dst = shown, display_path(dst)
    copy = entry.action == "copy"
    method = (entry.after or {}).get("method", "link")
    if not dst.exists():
        set_failed(conn, entry.id, "interrupted before the move")
        return f"{shown_src}: interrupted before the {entry.action} (unchanged)"
    if copy or not src.exists():
        if copy and (not src.exists() or file_sha256(src) != file_sha256(dst)):
            set_failed(conn, entry.id, "interrupted; copy differs from its source")
            return f"{shown_dst}: interrupted copy differs from its source; left in place"
        with libdb.transaction(conn):
            record_move(conn, src, dst, copy=copy, run_id=entry.run_id)
            set_done(conn, entry.id)
        return f"{shown_src} -> {shown_dst}: interrupted after the {entry.action} (completed)"
    # Both names exist: finish the move only if dst is certainly our copy of src.
    ours = _same_inode(src, dst) if method == "link" else file_sha256(src) == file_sha256(dst)
    if not ours:
        set_failed(conn, entry.id, "interrupted; target is another file")
        return f"{shown_src} -> {shown_dst}: target is another file; both left in place"
    src.unlink()
    safe_write.fsync_dir(src.parent)
    with libdb.transaction(conn):
        record_move(conn, src, dst, copy=False, run_id=entry.run_id)
        set_done(conn, entry.id)
    return f"{shown_src} -> {shown_dst}: interrupted move completed"


def _repair_remove(conn: sqlite3.Connection, entry: Entry, path: Path) -> str:
    """An undo removing an organise copy was interrupted: did the copy go?"""
    if os.path.lexists(path):
        set_failed(conn, entry.id, "interrupted before the removal")
        return f"{display_path(path)}: interrupted before removing the copy (kept)"
    with libdb.transaction(conn):
        record_removed(conn, path)
        set_done(conn, entry.id)
    return f"{display_path(path)}: interrupted after removing the copy (completed)"


# ----------------------------------------------------------------------------- undo


@dataclass
class UndoReport:
    run_id: int | None
    undo_run_id: int | None = None
    undone: list[str] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.refused


def latest_undoable_run(conn: sqlite3.Connection) -> int | None:
    """The newest tag/organise run with ``done`` rows not yet undone."""
    placeholders = ", ".join("?" * len(UNDOABLE_KINDS))
    row = conn.execute(
        f"SELECT r.id FROM runs r WHERE r.kind IN ({placeholders}) AND EXISTS"
        " (SELECT 1 FROM journal j WHERE j.run_id = r.id AND j.state = 'done')"
        " ORDER BY r.id DESC LIMIT 1",
        UNDOABLE_KINDS,
    ).fetchone()
    return None if row is None else int(row[0])


def _current_location(conn: sqlite3.Connection, entry: Entry) -> Path:
    """Where the file of ``entry`` is now, following later moves (not undone)."""
    location = entry.new_path if entry.action in ("move", "copy") else entry.path
    for row in conn.execute(
        "SELECT path, new_path FROM journal WHERE id > ? AND action = 'move' AND state = 'done'"
        " ORDER BY id",
        (entry.id,),
    ):
        if path_from_db(row["path"]) == location:
            location = path_from_db(row["new_path"])
    return Path(location)


def undo_run(
    conn: sqlite3.Connection, run_id: int | None = None, *, dry_run: bool = False
) -> UndoReport:
    """Undo the ``done`` changes of ``run_id`` (default: the latest undoable run).

    Parameters
    ----------
    conn : sqlite3.Connection
        The library database.
    run_id : int, optional
        A tag or organise run.
    dry_run : bool
        Report what would be undone; change nothing.

    Returns
    -------
    UndoReport
        What was undone, refused (file changed since, target occupied...) and
        skipped (already undone).
    """
    repair_interrupted(conn)
    if run_id is None:
        run_id = latest_undoable_run(conn)
        if run_id is None:
            return UndoReport(None)
    run = conn.execute("SELECT kind FROM runs WHERE id = ?", (run_id,)).fetchone()
    if run is None:
        raise ParameterError(f"no run {run_id} in this database")
    if run["kind"] not in UNDOABLE_KINDS:
        raise ParameterError(
            f"run {run_id} is a {run['kind']} run: only tag, organise and plex-push runs can be"
            " undone"
        )
    if run["kind"] in _UNDO_HANDLERS:
        return _UNDO_HANDLERS[run["kind"]](conn, run_id, dry_run=dry_run)
    if run["kind"] not in ("tag", "organise"):
        raise ParameterError(
            f"run {run_id} is a {run['kind']} run and no undo is registered for it (importing"
            " music_reclass.plex registers the undo of plex-push runs)"
        )
    report = UndoReport(run_id)
    todo = [e for e in reversed(entries(conn, run_id)) if e.state == "done"]
    report.skipped = [
        f"{display_path(e.path)}: already undone" for e in entries(conn, run_id) if e.state == "undone"
    ]
    if not dry_run and todo:
        report.undo_run_id = start_act_run(conn, "undo", {"undoes": run_id})
    for entry in todo:
        try:
            message = _undo_entry(conn, entry, report.undo_run_id, dry_run=dry_run)
        except (UndoError, ReclassError, OSError) as exc:
            report.refused.append(f"{display_path(entry.path)}: {exc}")
            continue
        except Exception as exc:  # noqa: BLE001 - one odd journal row must not stop the rest
            report.refused.append(
                f"{display_path(entry.path)}: unexpected {type(exc).__name__}: {exc}"
            )
            continue
        report.undone.append(message)
    if report.undo_run_id is not None:
        with libdb.transaction(conn):
            libdb.finish_run(conn, report.undo_run_id, "done" if report.ok else "failed")
    return report


def mark_undone(conn: sqlite3.Connection, entry_id: int) -> None:
    """Mark a ``done`` row undone (call inside the transaction that records the undo)."""
    _mark_undone(conn, entry_id)


def _mark_undone(conn: sqlite3.Connection, entry_id: int) -> None:
    conn.execute(
        "UPDATE journal SET state = 'undone', undone_at = ? WHERE id = ?",
        (libdb.utcnow(), entry_id),
    )


def _undo_entry(
    conn: sqlite3.Connection, entry: Entry, undo_run: int | None, *, dry_run: bool
) -> str:
    if entry.action == "tag":
        return _undo_tag(conn, entry, undo_run, dry_run=dry_run)
    return _undo_move(conn, entry, undo_run, dry_run=dry_run)


@contextmanager
def _failed_on_error(conn: sqlite3.Connection, undo_id: int) -> Iterator[None]:
    """Mark the undo's planned row ``failed`` when its step raises (no orphan ``planned``)."""
    try:
        yield
    except Exception as exc:
        if conn.in_transaction:
            conn.rollback()
        set_failed(conn, undo_id, f"{type(exc).__name__}: {exc}")
        raise


def _undo_tag(
    conn: sqlite3.Connection, entry: Entry, undo_run: int | None, *, dry_run: bool
) -> str:
    from music_reclass.library.tags import genres_of_state, restore_genre_state

    path = _current_location(conn, entry)
    shown = display_path(path)
    before_state = entry.before["state"]
    if not path.exists():
        raise UndoError("file missing; not restored")
    if _tag_state_matches(path, before_state) and not _tag_state_matches(path, entry.after):
        if not dry_run:
            with libdb.transaction(conn):
                _mark_undone(conn, entry.id)
        return f"{shown}: tags already as before"
    if not _tag_state_matches(path, entry.after):
        raise UndoError("genre tags changed since the run; not restored")
    if audio_digest(path) != entry.audio_digest:
        raise UndoError("audio changed since the run; not restored")
    if dry_run:
        return f"{shown}: GENRE -> {genres_of_state(before_state)!r}"
    undo_id = plan(
        conn,
        undo_run,
        action="tag",
        path=path,
        before=entry.after,
        after={
            "state": before_state,
            **({"exact": entry.before["exact"]} if entry.before.get("exact") else {}),
        },
        digest=entry.audio_digest,
    )
    with _failed_on_error(conn, undo_id):
        exact = entry.before.get("exact")
        how = "tag-level"
        if exact:
            try:
                _rebuild_original(path, exact, before_state)
                how = "byte-exact"
            except (UndoError, ReclassError):
                restore_genre_state(path, before_state)
        else:
            restore_genre_state(path, before_state)
        row = conn.execute(
            "SELECT content_hash FROM files WHERE path = ?", (path_to_db(path),)
        ).fetchone()
        with libdb.transaction(conn):
            record_retag(
                conn,
                path,
                old_hash=row[0] if row else None,
                run_id=undo_run,
                genres=genres_of_state(before_state),
            )
            set_done(conn, undo_id)
            _mark_undone(conn, entry.id)
    return f"{shown}: GENRE restored ({how})"


def _rebuild_original(path: Path, exact: dict, before_state: dict) -> None:
    """Replace ``path`` by the original bytes (head/tail kept + current payload)."""
    from music_reclass.library.tags import TagError, genre_state

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

    safe_write.modify_file(path, rebuild, verify=verify)


def _undo_move(
    conn: sqlite3.Connection, entry: Entry, undo_run: int | None, *, dry_run: bool
) -> str:
    src, dst = Path(entry.path), _current_location(conn, entry)
    shown_src, shown_dst = display_path(src), display_path(dst)
    copy = entry.action == "copy"
    sha = (entry.after or {}).get("sha256")
    if not dst.exists():
        if src.exists():
            # Already back, or the copy already removed (e.g. an undo killed just
            # after the unlink): nothing left to do.
            if not dry_run:
                with libdb.transaction(conn):
                    _mark_undone(conn, entry.id)
            return f"{shown_dst}: copy already removed" if copy else f"{shown_src}: already back"
        raise UndoError(f"{shown_dst} is missing; nothing to undo")
    # A copy is deleted, so it must be byte-identical to what was copied; a moved
    # file only has to be the same recording (its tags may have changed since).
    if copy and sha and file_sha256(dst) != sha:
        raise UndoError(f"{shown_dst} changed since the run; left in place")
    if entry.audio_digest and audio_digest(dst) != entry.audio_digest:
        raise UndoError(f"{shown_dst}: audio changed since the run; left in place")
    if copy:
        return _undo_copy(conn, entry, undo_run, src=src, dst=dst, sha=sha, dry_run=dry_run)
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
        after={"method": _move_method(dst, src), "sha256": sha},
        digest=entry.audio_digest,
    )
    with _failed_on_error(conn, undo_id):
        safe_write.move_file(dst, src)
        with libdb.transaction(conn):
            record_move(conn, dst, src, copy=False, run_id=undo_run)
            set_done(conn, undo_id)
            _mark_undone(conn, entry.id)
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
) -> str:
    """Remove the copy ``dst`` of ``src`` (journalled as action ``remove``)."""
    if not src.exists() or _same_inode(src, dst) or file_sha256(src) != sha:
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
    with _failed_on_error(conn, undo_id):
        dst.unlink()
        safe_write.fsync_dir(dst.parent)
        safe_write.fault_point("removed")
        with libdb.transaction(conn):
            record_removed(conn, dst)
            set_done(conn, undo_id)
            _mark_undone(conn, entry.id)
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
