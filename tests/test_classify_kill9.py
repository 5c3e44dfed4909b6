"""Fault injection: ``reclass classify`` killed with SIGKILL at random instants.

The real command runs in a subprocess with the fast fake model (tests/fake_reclass.py,
a fixed delay per file). The kill lands after a random number of files were reported
plus a random fraction of a file's time, so always mid-run: a trial checks that the run
is still marked running and fewer files than the total were recorded (a kill after
the run ended fails the trial). After each kill the database must pass ``PRAGMA
integrity_check``, hold no half-recorded file (every ok file has its track, analysis
and vectors), and the next run must complete with every file ok, analysing only what
was not committed. A few trials run normally; ``--run-slow`` runs 24.
"""

from __future__ import annotations

import json
import os
import random
import signal
import sqlite3
import subprocess
import time
from pathlib import Path

import pytest

from fake_reclass import FAKE_RECLASS
from test_scan import FAKE_DELAY_ENV, tone

N_FILES = 10
FILE_DELAY = 0.15  # seconds the fake model takes per file


def _command(folder: Path, db: Path) -> list[str]:
    return [*FAKE_RECLASS, "classify", str(folder), "--db", str(db), "--json", "--jobs", "1",
            "--batch-size", "2"]


def _env(delay: float) -> dict[str, str]:
    return {**os.environ, FAKE_DELAY_ENV: str(delay)}


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("kill9") / "music"
    for i in range(N_FILES):
        tone(root / f"d{i % 3}" / f"track {i:02d}.wav", 150.0 + 60 * i)
    (root / "cover.jpg").write_bytes(b"\xff\xd8\xff" + bytes(50))
    return root


def _check_consistent(db: Path) -> int:
    conn = sqlite3.connect(db)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert conn.execute("PRAGMA foreign_key_check").fetchall() == []
        # no half-recorded file: ok file -> track + ok analysis + embeddings
        broken = conn.execute(
            "SELECT f.path FROM files f WHERE f.status = 'ok' AND ("
            " NOT EXISTS (SELECT 1 FROM tracks t WHERE t.content_hash = f.content_hash)"
            " OR NOT EXISTS (SELECT 1 FROM analyses a WHERE a.content_hash = f.content_hash"
            "   AND a.status = 'ok')"
            " OR NOT EXISTS (SELECT 1 FROM vectors v WHERE v.content_hash = f.content_hash))"
        ).fetchall()
        assert broken == []
        orphans = conn.execute(
            "SELECT COUNT(*) FROM analyses a WHERE NOT EXISTS"
            " (SELECT 1 FROM files f WHERE f.content_hash = a.content_hash)"
        ).fetchone()[0]
        assert orphans == 0
        return conn.execute("SELECT COUNT(*) FROM files WHERE status = 'ok'").fetchone()[0]
    finally:
        conn.close()


def _descendants(pid: int) -> set[int]:
    found: set[int] = set()
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return found
    for tid in tasks:
        try:
            children = Path(f"/proc/{pid}/task/{tid}/children").read_text().split()
        except OSError:
            continue
        for child in map(int, children):
            found |= {child} | _descendants(child)
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _last_run(db: Path) -> str:
    conn = sqlite3.connect(db)
    try:
        return conn.execute("SELECT status FROM runs ORDER BY id DESC LIMIT 1").fetchone()[0]
    finally:
        conn.close()


def _trial(folder: Path, db: Path, seed: int) -> None:
    rng = random.Random(seed)
    proc = subprocess.Popen(_command(folder, db), env=_env(FILE_DELAY), stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL)
    # mid-run for sure: after 1 to N-2 reported files, plus part of one file's time
    for _ in range(rng.randint(1, N_FILES - 2)):
        assert proc.stdout.readline(), "classify ended before the kill"
    time.sleep(rng.uniform(0.0, FILE_DELAY))
    helpers = _descendants(proc.pid)
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=60)
    assert proc.returncode == -signal.SIGKILL
    assert _last_run(db) == "running"  # the kill landed mid-run, not after the run ended
    # the decode workers and their server do not outlive a killed run
    deadline = time.monotonic() + 10
    while any(_alive(pid) for pid in helpers) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(_alive(pid) for pid in helpers)
    committed = _check_consistent(db)
    assert committed < N_FILES
    done = subprocess.run(_command(folder, db), env=_env(0.0), capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr
    records = [json.loads(line) for line in done.stdout.splitlines()]
    assert len(records) == N_FILES
    assert all(r["status"] == "ok" for r in records)
    # everything committed before the kill is reused, not analysed again
    assert sum(r["cached"] for r in records) >= committed
    assert _check_consistent(db) == N_FILES
    runs = sqlite3.connect(db).execute("SELECT status FROM runs ORDER BY id").fetchall()
    assert runs[-1][0] == "done"


@pytest.mark.parametrize("seed", range(3))
def test_kill9_then_resume(folder, tmp_path, seed):
    _trial(folder, tmp_path / "lib.sqlite", seed)


@pytest.mark.slow
@pytest.mark.parametrize("seed", range(100, 124))
def test_kill9_then_resume_many(folder, tmp_path, seed):
    _trial(folder, tmp_path / "lib.sqlite", seed)


def test_sigint_marks_run_interrupted_and_exits_130(folder, tmp_path):
    db = tmp_path / "lib.sqlite"
    # Ctrl-C reaches a command in a terminal's foreground; a test run started in the
    # background of a shell inherits SIGINT ignored, so the child gets the default back
    proc = subprocess.Popen(_command(folder, db), env=_env(0.3), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    # wait until some file is done, then Ctrl-C
    first = proc.stdout.readline()
    assert json.loads(first)["status"] == "ok"
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130
    assert "interrupted" in err
    status = sqlite3.connect(db).execute("SELECT status FROM runs").fetchone()[0]
    assert status == "interrupted"
    assert _check_consistent(db) >= 1
