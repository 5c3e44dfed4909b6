"""Undoing a Plex push: each item gets back its genres and its lock as they were.

The push's run params hold the server URL and id (never the token); the token
comes from the environment or the config file (or the caller). Rows are undone
newest first. An item whose genres changed in Plex since the push (someone
edited them, a later push) is refused with the reason and left alone; an item
already back as before is only marked undone. The undo is itself a journalled
run (kind ``plex-undo``): each restore is planned, sent (old genres,
``genre.locked`` as before), read back and settled like a push edit; a row
restored marks the push row ``undone``, so undoing twice is harmless.
"""

from __future__ import annotations

import sqlite3

from music_reclass.act import journal
from music_reclass.act.undo import UndoReport
from music_reclass.errors import ParameterError
from music_reclass.plex.connection import PlexSession, connect
from music_reclass.plex.edits import edit_genres
from music_reclass.plex.errors import PlexServerError, PlexSetupError
from music_reclass.plex.items import fetch_items, read_states, state_of
from music_reclass.plex.ledger import PUSH_KIND, UNDO_KIND, plan_row, repair_runs, settle
from music_reclass.plex.plan import format_genres, same_genres
from music_reclass.plex.settings import PlexSettings, resolve_settings
from music_reclass.process import pid_alive
from music_reclass.store import journal as rows
from music_reclass.store import runs as store_runs
from music_reclass.store.db import transaction
from music_reclass.store.journal import Entry

__all__ = ["latest_push_run", "push_run", "settings_for_run", "undo_handler", "undo_push"]


def push_run(conn: sqlite3.Connection, run_id: int) -> store_runs.RunRow:
    """The ``plex-push`` run ``run_id``.

    Raises
    ------
    ParameterError
        No such run, another kind of run, or a push still in progress.
    """
    run = store_runs.get_run(conn, run_id)
    if run is None:
        raise ParameterError(f"no run {run_id} in this library")
    if run.kind != PUSH_KIND:
        raise ParameterError(f"run {run_id} is a {run.kind} run, not a {PUSH_KIND} run")
    pid = run.params.get("pid")
    if (run.status == "running" and journal.ended_run(conn, run_id) is None
            and pid_alive(pid, run.params.get("pid_start"))):
        raise ParameterError(f"run {run_id} is still in progress (process {pid}): undo it "
                             "once it has finished")
    return run


def latest_push_run(conn: sqlite3.Connection) -> int | None:
    """The newest ``plex-push`` run with changes not yet undone."""
    return rows.latest_undoable_run(conn, (PUSH_KIND,))


def _key(entry: Entry) -> int:
    return int(entry.before["rating_key"])


def undo_push(
    conn: sqlite3.Connection,
    run_id: int,
    *,
    session: PlexSession | None = None,
    settings: PlexSettings | None = None,
    dry_run: bool = False,
) -> UndoReport:
    """Put back the genres and locks that push run ``run_id`` changed.

    Parameters
    ----------
    conn : sqlite3.Connection
        The library database.
    run_id : int
        A ``plex-push`` run.
    session : PlexSession, optional
        A connection to the server pushed to; else made from ``settings``.
    settings : PlexSettings, optional
        Default: the run's URL with the token from ``RECLASS_PLEX_TOKEN`` or the config file.
    dry_run : bool
        Report what would be restored; send and write nothing.

    Returns
    -------
    UndoReport
        ``undone`` (restored, or already as before), ``refused`` (changed in
        Plex since, gone, or the edit failed), ``skipped`` (already undone).

    Raises
    ------
    PlexSetupError
        No token, server unreachable, or a different server at the URL.
    """
    params = push_run(conn, run_id).params
    if session is None:
        settings = settings or resolve_settings(url=params.get("url"))
        session = connect(settings)
    if params.get("server") and session.machine_identifier != params["server"]:
        raise PlexSetupError(
            f"{session.describe()} is not the server run {run_id} pushed to "
            f"({params.get('server_name', params['server'])}); pass its URL"
        )
    report = UndoReport(run_id, settled=[] if dry_run else repair_runs(conn, session))
    entries = rows.entries(conn, run_id)
    report.skipped = [f"{e.before['title']}: already undone" for e in entries
                      if e.state == "undone"]
    todo = [e for e in reversed(entries) if e.state == "done"]
    if not todo:
        return report
    items = fetch_items(session, [_key(e) for e in todo])
    if not dry_run:
        report.undo_run_id = journal.start_act_run(
            conn,
            UNDO_KIND,
            {"undoes": run_id, "url": session.url, "server": session.machine_identifier,
             "server_name": session.name},
        )
    sent: list[tuple[int, Entry]] = []
    status = "interrupted"
    try:
        for entry in todo:
            planned = _undo_entry(conn, session, report, entry, items.get(_key(entry)), dry_run)
            if planned is not None:
                sent.append((planned, entry))
        _settle_all(conn, session, report, sent)
        status = "done" if report.ok else "failed"
    finally:
        if report.undo_run_id is not None:
            report.error = journal.end_act_run(
                conn, report.undo_run_id, status,
                {"undone": len(report.undone), "refused": len(report.refused)})
    return report


def _undo_entry(
    conn: sqlite3.Connection,
    session: PlexSession,
    report: UndoReport,
    entry: Entry,
    item,
    dry_run: bool,
) -> int | None:
    """Check and send one restore; returns the undo row's id when an edit was sent."""
    title, before, after = entry.before["title"], entry.before, entry.after or {}
    if item is None:
        report.refused.append(f"{title}: no longer in Plex")
        return None
    state = state_of(item)
    if same_genres(state.genres, before["genres"]) and not same_genres(
        state.genres, after.get("genres", [])
    ):
        if not dry_run:
            with transaction(conn):
                rows.mark_undone(conn, entry.id)
        report.undone.append(f"{title}: genres already as before")
        return None
    if not same_genres(state.genres, after.get("genres", [])):
        report.refused.append(
            f"{title}: genres changed in Plex since the push (now {format_genres(state.genres)}); "
            "not restored"
        )
        return None
    if dry_run:
        report.undone.append(
            f"{title}: GENRE {format_genres(state.genres)} -> {format_genres(before['genres'])}"
            f"{', field unlocked' if not before['locked'] else ''}"
        )
        return None
    assert report.undo_run_id is not None
    wanted = {"genres": list(before["genres"]), "locked": bool(before["locked"])}
    undo_id = plan_row(
        conn, report.undo_run_id, session, state, after=wanted,
        level=before.get("level", "track"), title=title, paths=tuple(before.get("paths", ())),
        extra={"undoes_entry": entry.id},
    )  # fmt: skip
    remove = [g for g in state.genres if not _kept(g, before)]
    try:
        with session.errors():
            edit_genres(item, genres=before["genres"], remove=remove, locked=wanted["locked"])
    except PlexServerError as exc:
        rows.set_failed(conn, undo_id, str(exc))
        report.refused.append(f"{title}: {exc}")
        return None
    return undo_id


def _kept(genre: str, before: dict) -> bool:
    return any(same_genres([genre], [old]) for old in before["genres"])


def _settle_all(
    conn: sqlite3.Connection,
    session: PlexSession,
    report: UndoReport,
    sent: list[tuple[int, Entry]],
) -> None:
    shown = read_states(session, [_key(entry) for _, entry in sent])
    for undo_id, entry in sent:
        before = entry.before
        settled = settle(
            conn,
            undo_id,
            before={"genres": (entry.after or {}).get("genres", [])},
            after={"genres": before["genres"], "locked": bool(before["locked"]),
                   "undoes_entry": entry.id},
            state=shown.get(_key(entry)),
        )
        if settled.outcome in ("ok", "lock-differs"):  # settle marked the push row undone
            lock = "locked" if before["locked"] else "unlocked"
            report.undone.append(
                f"{before['title']}: GENRE restored to {format_genres(before['genres'])} ({lock})"
            )
        else:
            report.refused.append(f"{before['title']}: {settled.problem}")


def settings_for_run(conn: sqlite3.Connection, run_id: int, *, url: str | None = None,
                     token: str | None = None) -> PlexSettings:
    """The connection that undoes push run ``run_id``: its URL (or ``url``) and ``token``,
    else the environment's or the config file's.

    Raises
    ------
    PlexSetupError
        No token anywhere (the message says how to give one), or a malformed URL.
    ParameterError
        Not a push run, or one still in progress.
    """
    run = push_run(conn, run_id)
    try:
        return resolve_settings(url or run.params.get("url"), token)
    except PlexSetupError as exc:
        raise PlexSetupError(
            f"run {run_id} changed genres in Plex and undoing it needs the server: {exc}; "
            f"or run `reclass plex undo {run_id} --token T`"
        ) from None


def undo_handler(conn: sqlite3.Connection, run_id: int, *,
                 dry_run: bool = False) -> UndoReport:
    """What :func:`music_reclass.act.undo.undo_run` calls for a ``plex-push`` run
    (``reclass undo``; registered when :mod:`music_reclass.plex` is imported).

    The token comes from the environment or the config file; without one the
    error says how to give it.
    """
    return undo_push(conn, run_id, settings=settings_for_run(conn, run_id), dry_run=dry_run)
