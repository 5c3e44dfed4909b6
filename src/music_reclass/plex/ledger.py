"""Journalling Plex edits like file tag writes: planned before, settled after, repaired after a crash.

A push is a run of kind ``plex-push``; its undo a run of kind ``plex-undo`` (kept
apart from file runs, whose settlement looks at files: :mod:`music_reclass.act.settle`
leaves these rows alone). Each edited Plex item gets one journal row, action
``plex-genre``, ``path`` = ``plex://<server id>/library/metadata/<rating key>``:

- ``before``: ``{"genres", "locked", "rating_key", "type", "title", "level", "paths"}``
  (``paths``: the library files behind the item);
- ``after``: ``{"genres", "locked"}`` as intended, replaced by what the server
  shows once the edit is checked.

The row is committed ``planned`` BEFORE the edit is sent (:func:`music_reclass.act.journal.plan`,
the write-ahead step of file writes). After the edit the item is read back (many per
request) and :func:`settle` decides from what the server shows: the intended genres ->
``done``; still the old ones -> ``failed``; something else -> ``done`` with the genres
actually there (so ``undo`` can still put the old ones back) and reported as a failure.

A run that died with ``planned`` rows is settled the same way by :func:`repair_runs`
the next time a push or undo reaches that server: as :func:`music_reclass.act.settle.repair_interrupted`
does for files, a run whose process is gone (or that this process ended without being
able to record it) is marked ``interrupted`` (or the status its process meant to
record), and the rows of runs that already ended are settled too. Runs still in
progress are left alone.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

from music_reclass.act import journal
from music_reclass.plex.connection import PlexSession
from music_reclass.plex.items import ItemState, read_states
from music_reclass.plex.plan import format_genres, same_genres
from music_reclass.process import pid_alive
from music_reclass.store import journal as rows
from music_reclass.store import runs as store_runs
from music_reclass.store.db import transaction
from music_reclass.store.journal import Entry

PUSH_KIND = "plex-push"
UNDO_KIND = "plex-undo"
PLEX_KINDS = (PUSH_KIND, UNDO_KIND)
ACTION = "plex-genre"

__all__ = ["ACTION", "PLEX_KINDS", "PUSH_KIND", "UNDO_KIND", "Settled", "plan_row", "repair_runs",
           "settle"]


def plan_row(
    conn: sqlite3.Connection,
    run_id: int,
    session: PlexSession,
    state: ItemState,
    *,
    after: dict,
    level: str,
    title: str,
    paths: tuple[str, ...] = (),
    extra: dict | None = None,
) -> int:
    """Commit the ``planned`` row of one item (call BEFORE sending its edit); returns its id."""
    before = {
        **state.journal(),
        "rating_key": state.rating_key,
        "type": state.type,
        "title": title,
        "level": level,
        "paths": list(paths),
    }
    return journal.plan(
        conn,
        run_id,
        action=ACTION,
        path=session.item_uri(state.rating_key),
        before=before,
        after={**after, **(extra or {})},
    )


@dataclass(frozen=True)
class Settled:
    """How one planned edit ended.

    ``outcome``: ``ok``; ``lock-differs`` (genres right, lock not); ``differs``
    (Plex shows other genres than intended); ``not-applied`` (still the old
    genres); ``missing`` (the item is gone). ``done``: the row is ``done``, the
    item's genres changed and undo can restore them.
    """

    outcome: str
    problem: str | None = None

    @property
    def done(self) -> bool:
        return self.outcome in ("ok", "lock-differs", "differs")


def settle(
    conn: sqlite3.Connection,
    entry_id: int,
    *,
    before: dict,
    after: dict,
    state: ItemState | None,
    interrupted: bool = False,
) -> Settled:
    """Mark a planned row from the item's state as the server shows it now."""
    when = "interrupted; " if interrupted else ""
    if state is None:
        rows.set_failed(conn, entry_id, f"{when}no longer in Plex")
        return Settled("missing", "no longer in Plex")
    if not same_genres(state.genres, after["genres"]) and same_genres(
        state.genres, before["genres"]
    ):
        reason = (
            "interrupted before the edit"
            if interrupted
            else f"Plex did not apply the edit (still {format_genres(state.genres)})"
        )
        rows.set_failed(conn, entry_id, reason)
        return Settled("not-applied", reason)
    shown = {"genres": list(state.genres), "locked": state.locked}
    extra = {k: v for k, v in after.items() if k not in ("genres", "locked")}
    with transaction(conn):
        rows.set_done(conn, entry_id, after={**shown, **extra})
        undoes = after.get("undoes_entry")
        if undoes is not None and same_genres(state.genres, after["genres"]):
            rows.mark_undone(conn, int(undoes))  # an undo row done: its push row is undone
    if not same_genres(state.genres, after["genres"]):
        return Settled(
            "differs",
            f"{when}Plex shows {format_genres(state.genres)}, not {format_genres(after['genres'])}",
        )
    if state.locked != after["locked"]:
        lock = "locked" if state.locked else "unlocked"
        return Settled("lock-differs", f"genres written, but Plex shows the field {lock}")
    return Settled("ok")


def rating_key(entry: Entry) -> int | None:
    """The Plex item of a ``plex-genre`` row (from ``before``, else from its path)."""
    value = (entry.before or {}).get("rating_key")
    if value is None and entry.path.rsplit("/", 1)[-1].isdigit():
        value = entry.path.rsplit("/", 1)[-1]
    return None if value is None else int(value)


def _in_progress(conn: sqlite3.Connection, run: store_runs.RunRow) -> bool:
    """A run still ``running`` whose process lives and has not ended it."""
    return (run.status == "running" and journal.ended_run(conn, run.id) is None
            and pid_alive(run.params.get("pid"), run.params.get("pid_start")))


def _settle_run_rows(conn: sqlite3.Connection, session: PlexSession, run_id: int) -> list[str]:
    planned = [e for e in rows.entries(conn, run_id) if e.state == "planned"]
    states = read_states(session, [k for k in map(rating_key, planned) if k is not None])
    messages = []
    for entry in planned:
        key = rating_key(entry)
        settled = settle(
            conn,
            entry.id,
            before=entry.before or {"genres": []},
            after=entry.after or {"genres": [], "locked": False},
            state=None if key is None else states.get(key),
            interrupted=True,
        )
        title = (entry.before or {}).get("title") or entry.path
        messages.append(f"{title}: interrupted Plex edit "
                        f"{'completed' if settled.done else 'not applied'}")
    return messages


def repair_runs(conn: sqlite3.Connection, session: PlexSession) -> list[str]:
    """Settle the Plex runs on this server whose outcome was not recorded.

    Returns one message per row settled. A run whose process is gone is marked
    ``interrupted`` (or the status its process meant to record, when the database could
    not take it then); its ``planned`` rows, and those of runs that ended early (the
    connection lost mid-run), are settled from what Plex shows now. A row of an undo
    that turns out done also marks the push row it undid ``undone``. Runs on another
    server are left for a command that reaches it (only their run status is settled).

    Raises
    ------
    DatabaseError
        The database cannot record the settlement (the rows stay planned).
    """
    messages: list[str] = []
    ended: list[store_runs.RunRow] = []
    for run in store_runs.running_runs(conn, PLEX_KINDS):
        if not _in_progress(conn, run):
            ended.append(run)
    with_planned = set(rows.runs_with_planned(conn, PLEX_KINDS))
    for run_id in sorted(with_planned):
        run = store_runs.get_run(conn, run_id)
        if run is None or _in_progress(conn, run):
            continue
        if run.params.get("server") == session.machine_identifier:
            messages += _settle_run_rows(conn, session, run_id)
    for run in ended:
        status, summary = journal.ended_run(conn, run.id) or ("interrupted", None)
        store_runs.finish_run(conn, run.id, status, summary)
    return messages
