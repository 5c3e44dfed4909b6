"""Journalling Plex edits like file tag writes: planned before, settled after, repaired after a crash.

A push is a run of kind ``plex-push``; its undo a run of kind ``plex-undo``
(kept apart from file runs, whose crash repair looks at files). Each edited
Plex item gets one journal row, action ``plex-genre``, ``path`` =
``plex://<server id>/library/metadata/<rating key>``:

- ``before``: ``{"genres", "locked", "rating_key", "type", "title", "level", "paths"}``
  (``paths``: the library files behind the item);
- ``after``: ``{"genres", "locked"}`` as intended, replaced by what the server
  shows once the edit is checked.

The row is committed as ``planned`` BEFORE the edit is sent. After the edit
the item is read back (many per request) and :func:`settle` decides from what
the server shows: the intended genres -> ``done``; still the old ones ->
``failed``; something else -> ``done`` with the genres actually there (so
``undo`` can still put the old ones back) and reported as a failure. A run
that died with ``planned`` rows is settled the same way by
:func:`repair_runs` the next time a push or undo reaches that server.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass

from music_reclass.library import db as libdb
from music_reclass.library import journal, safe_write
from music_reclass.plex.connection import PlexSession
from music_reclass.plex.items import ItemState, read_states
from music_reclass.plex.plan import format_genres, same_genres

PUSH_KIND = "plex-push"
UNDO_KIND = "plex-undo"
ACTION = "plex-genre"

__all__ = ["ACTION", "PUSH_KIND", "UNDO_KIND", "Settled", "plan_row", "repair_runs", "settle"]


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
        journal.set_failed(conn, entry_id, f"{when}no longer in Plex")
        return Settled("missing", "no longer in Plex")
    if not same_genres(state.genres, after["genres"]) and same_genres(
        state.genres, before["genres"]
    ):
        reason = (
            "interrupted before the edit"
            if interrupted
            else f"Plex did not apply the edit (still {format_genres(state.genres)})"
        )
        journal.set_failed(conn, entry_id, reason)
        return Settled("not-applied", reason)
    shown = {"genres": list(state.genres), "locked": state.locked}
    extra = {k: v for k, v in after.items() if k not in ("genres", "locked")}
    with libdb.transaction(conn):
        journal.set_done(conn, entry_id, after={**shown, **extra})
    if not same_genres(state.genres, after["genres"]):
        return Settled(
            "differs",
            f"{when}Plex shows {format_genres(state.genres)}, not {format_genres(after['genres'])}",
        )
    if state.locked != after["locked"]:
        lock = "locked" if state.locked else "unlocked"
        return Settled("lock-differs", f"genres written, but Plex shows the field {lock}")
    return Settled("ok")


def _rating_key(entry: journal.Entry) -> int | None:
    value = (entry.before or {}).get("rating_key")
    if value is None and entry.path.rsplit("/", 1)[-1].isdigit():
        value = entry.path.rsplit("/", 1)[-1]
    return None if value is None else int(value)


def repair_runs(conn: sqlite3.Connection, session: PlexSession) -> list[str]:
    """Settle the ``planned`` rows left by Plex runs on this server whose process is gone.

    A run still ``running`` whose process died is marked ``interrupted``; a run
    that ended early (connection lost mid-run) keeps its status. A row of an
    undo that turns out done also marks the push row it undid ``undone``.
    Returns one message per row settled.
    """
    messages: list[str] = []
    rows = conn.execute(
        "SELECT id, status, params FROM runs WHERE kind IN (?, ?) AND EXISTS"
        " (SELECT 1 FROM journal j WHERE j.run_id = runs.id AND j.state = 'planned')",
        (PUSH_KIND, UNDO_KIND),
    ).fetchall()
    for run in rows:
        params = json.loads(run["params"] or "{}")
        if params.get("server") != session.machine_identifier:
            continue
        if run["status"] == "running" and safe_write.pid_alive(
            params.get("pid"), params.get("pid_start")
        ):
            continue
        planned = [e for e in journal.entries(conn, run["id"]) if e.state == "planned"]
        states = read_states(session, [k for k in map(_rating_key, planned) if k is not None])
        for entry in planned:
            key = _rating_key(entry)
            settled = settle(
                conn,
                entry.id,
                before=entry.before or {"genres": []},
                after=entry.after or {"genres": [], "locked": False},
                state=None if key is None else states.get(key),
                interrupted=True,
            )
            undoes = (entry.after or {}).get("undoes_entry")
            if settled.outcome in ("ok", "lock-differs") and undoes is not None:
                with libdb.transaction(conn):
                    journal.mark_undone(conn, int(undoes))
            title = (entry.before or {}).get("title") or entry.path
            outcome = "completed" if settled.done else "not applied"
            messages.append(f"{title}: interrupted Plex edit {outcome}")
        if run["status"] == "running":
            with libdb.transaction(conn):
                libdb.finish_run(conn, run["id"], "interrupted")
    return messages
