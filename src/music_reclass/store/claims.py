"""Claims: which contents a live classify run is analysing, so that runs coordinate.

Two ``classify`` runs on one library (two terminals, a web server and a cron job) must
not both analyse the same content with the same model. Before a run sends a batch to
its workers it claims the batch's contents (one transaction); a content claimed by
another run that is still alive is left to that run, and the waiting run answers it
from the database once its analysis is recorded (the claim is released then). A claim is void as soon as its run has
ended (its status is no longer ``running``: :func:`~music_reclass.store.runs.finish_run`
also deletes the run's claims) or its process is gone (crashed: the pid and its start
time no longer match), so a crashed run never blocks another.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Sequence

from music_reclass.process import pid_alive, process_start_time
from music_reclass.store.db import transaction, utcnow

__all__ = ["claim_contents", "claimed_elsewhere", "release_claim", "release_claims"]

_BATCH = 900  # SQLite's bound-parameter limit, with room


def _holders(conn: sqlite3.Connection, hashes: Sequence[str], model_id: str
             ) -> dict[str, tuple[int, int | None, int | None, str | None]]:
    """content hash -> (run id, pid, pid start, run status) of the existing claims."""
    found = {}
    for start in range(0, len(hashes), _BATCH):
        batch = list(hashes[start:start + _BATCH])
        marks = ", ".join("?" * len(batch))
        for row in conn.execute(
            "SELECT c.content_hash, c.run_id, c.pid, c.pid_start, r.status FROM claims c"
            f" LEFT JOIN runs r ON r.id = c.run_id WHERE c.model_id = ? AND c.content_hash"
            f" IN ({marks})", (model_id, *batch)
        ):
            found[row[0]] = (int(row[1]), row[2], row[3], row[4])
    return found


def _live(run_id: int, pid: int | None, pid_start: int | None, status: str | None,
          own_run: int) -> bool:
    return run_id != own_run and status == "running" and pid_alive(pid, pid_start)


def claim_contents(conn: sqlite3.Connection, hashes: Sequence[str], model_id: str,
                   run_id: int) -> set[str]:
    """Claim ``hashes`` for ``run_id`` (one transaction); returns those another live run
    holds (left to it). Claims of ended or crashed runs are taken over."""
    pid = os.getpid()
    started = process_start_time(pid)
    with transaction(conn):
        holders = _holders(conn, hashes, model_id)
        busy = {h for h, holder in holders.items() if _live(*holder, own_run=run_id)}
        now = utcnow()
        conn.executemany(
            "INSERT OR REPLACE INTO claims (content_hash, model_id, run_id, pid, pid_start,"
            " claimed_at) VALUES (?, ?, ?, ?, ?, ?)",
            [(h, model_id, run_id, pid, started, now) for h in dict.fromkeys(hashes)
             if h not in busy],
        )
    return busy


def claimed_elsewhere(conn: sqlite3.Connection, content_hash: str, model_id: str,
                      run_id: int) -> int | None:
    """The live run (other than ``run_id``) that holds ``content_hash``, or None."""
    holder = _holders(conn, [content_hash], model_id).get(content_hash)
    return holder[0] if holder is not None and _live(*holder, own_run=run_id) else None


def release_claims(conn: sqlite3.Connection, run_id: int) -> None:
    """Drop a run's claims (call inside the transaction that ends the run)."""
    conn.execute("DELETE FROM claims WHERE run_id = ?", (run_id,))


def release_claim(conn: sqlite3.Connection, content_hash: str, model_id: str,
                  run_id: int) -> None:
    """Drop one claim once its content's outcome is recorded (its own transaction): a run
    waiting for it then answers from the analysis, or (no analysis: the file failed in a
    way that may not be the content's) tries it itself."""
    with transaction(conn):
        conn.execute("DELETE FROM claims WHERE content_hash = ? AND model_id = ? AND run_id = ?",
                     (content_hash, model_id, run_id))
