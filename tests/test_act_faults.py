"""Faults during tag, organise and undo: a database full, locked or failing, I/O errors.

The promise: no change escapes the journal. A change whose ``done`` could not be
recorded is settled by the next command (whatever the run's status) and undo covers it;
the run's report says so; an organised file is never stranded. Faults are injected at
the steps of music_reclass.faults (the same points the kill -9 trials use); the full
counts are in benchmarks/fault_injection.py.
"""

from __future__ import annotations

import errno
import os
import sqlite3
import subprocess
from pathlib import Path

import pytest
from typer.testing import CliRunner

from act_fixtures import make_kill_library, snapshot
from fault_trials import check_after_fault, fill_disk, io_error_trial
from music_reclass import faults
from music_reclass.cli.main import app
from music_reclass.store import db as libdb


def _cli(*args: str):
    return CliRunner().invoke(app, [str(a) for a in args], catch_exceptions=False)


@pytest.fixture
def hooks():
    removers = []

    def install(hook):
        removers.append(faults.install(hook))

    yield install
    for remove in removers:
        remove()


@pytest.fixture
def small_fs(tmp_path: Path):
    """A 1 MiB tmpfs (the issue's reproduction); skipped where it cannot be mounted."""
    mount = tmp_path / "small"
    mount.mkdir()
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root")
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mount)],
                          capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
    yield mount
    subprocess.run(["umount", "-l", str(mount)], capture_output=True)


def _library_on(tmp_path: Path, db_dir: Path, count: int = 4):
    files, root, into, db = make_kill_library(tmp_path, count=count)
    moved = db_dir / "lib.sqlite"
    conn = libdb.connect(db)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    if moved != db:
        moved.write_bytes(db.read_bytes())
        db.unlink()
    return files, root, into, moved


def _disk_full_after_change(fill, *, step: str = "replaced"):
    """A hook: the first time a file has changed (``step``), the database's disk fills."""
    state = {"filled": False}

    def hook(name, context):
        if name == step and not state["filled"]:
            state["filled"] = True
            fill()

    return hook


@pytest.mark.parametrize("kind", ["tag", "organise"])
def test_database_full_after_the_file_changed_is_settled_and_undone(
        tmp_path: Path, small_fs: Path, hooks, kind: str):
    """The issue's reproduction: the database on a small tmpfs fills up while a file is
    being changed; the report is true; once space is freed, undo restores every file."""
    files, root, into, db = _library_on(tmp_path, small_fs)
    original = snapshot(files)
    filler = small_fs / "filler"
    hooks(_disk_full_after_change(lambda: fill_disk(filler), step="replaced" if kind == "tag"
                                  else "moved"))
    args = (["tag", root, "--min-confidence", "0.4"] if kind == "tag"
            else ["organise", "--move", root, "--into", into, "--min-confidence", "0.4"])
    result = _cli(*args, "--db", db)
    assert result.exit_code == 1, result.output
    verb = "changed" if kind == "tag" else "moved"
    assert f"{verb} 1 file(s); the journal could not record 1 of them" in result.output
    assert "error: the library database" in result.output and "is full" in result.output
    changed = [p for p in files if not p.exists() or p.read_bytes() != original[str(p)]]
    assert len(changed) == 1  # the run stopped at the full database
    filler.unlink()  # free the space
    result = _cli("undo", "--db", db)
    assert result.exit_code == 0, result.output
    assert "settled: " in result.output and "undid 1 change(s)" in result.output
    assert snapshot(files) == original
    assert not into.exists() or not [p for p in into.rglob("*") if p.is_file()]
    assert _integrity(db) == "ok"


class _Full:
    """SQLite's own "database or disk is full" at every commit from the first file
    change on, until ``freed``."""

    def __init__(self) -> None:
        self.on = self.freed = False

    def hook(self, name, context):
        if name in ("replaced", "moved", "placed") and not self.on:
            self.on = True
        elif name == "db-commit" and self.on and not self.freed:
            raise sqlite3.OperationalError("database or disk is full")


@pytest.mark.parametrize("kind", ["tag", "organise", "organise-copy"])
def test_database_full_reported_by_sqlite_after_the_change(tmp_path: Path, hooks, kind: str):
    """The same without a small filesystem: SQLite's error at the commit that records
    the change (and at every commit after it, until the space is freed)."""
    files, root, into, db = make_kill_library(tmp_path, count=4)
    original = snapshot(files)
    full = _Full()
    hooks(full.hook)
    args = {"tag": ["tag", root, "--min-confidence", "0.4"],
            "organise": ["organise", "--move", root, "--into", into, "--min-confidence", "0.4"],
            "organise-copy": ["organise", root, "--into", into, "--copy"]}[kind]
    result = _cli(*args, "--db", db)
    assert result.exit_code == 1, result.output
    assert "the journal could not record 1 of them" in result.output
    assert "is full (no space left on its disk)" in result.output
    full.freed = True
    result = _cli(*args, "--db", db)  # the next command settles it first
    assert result.exit_code == 0, result.output
    assert "settled: " in result.output
    rows = sqlite3.connect(db).execute("SELECT state FROM journal").fetchall()
    assert {r[0] for r in rows} == {"done"}
    for _ in range(3):
        result = _cli("undo", "--db", db)
        assert result.exit_code == 0, result.output
    assert snapshot(files) == original
    assert not into.exists() or not [p for p in into.rglob("*") if p.is_file()]


def test_database_locked_beyond_the_busy_timeout(tmp_path: Path, hooks):
    """Another program holds the write lock while a file changes: reported, settled by
    the next run, undone exactly."""
    files, root, _into, db = make_kill_library(tmp_path, count=4)
    original = snapshot(files)
    holder: list[sqlite3.Connection] = []

    def hook(name, context):
        if name == "db-connected":
            context["conn"].execute("PRAGMA busy_timeout=200")
        elif name == "replaced" and not holder:
            other = sqlite3.connect(db, isolation_level=None)
            other.execute("BEGIN IMMEDIATE")
            holder.append(other)

    hooks(hook)
    result = _cli("tag", root, "--db", db, "--min-confidence", "0.4")
    assert result.exit_code == 1, result.output
    assert "changed 1 file(s); the journal could not record 1 of them" in result.output
    assert "is locked by another program" in result.output
    holder[0].rollback()
    holder[0].close()
    result = _cli("tag", root, "--db", db, "--min-confidence", "0.4")
    assert result.exit_code == 0, result.output
    assert "settled: " in result.output and "changed 3 file(s)" in result.output
    for _ in range(3):
        assert _cli("undo", "--db", db).exit_code == 0
    assert snapshot(files) == original


def _integrity(db: Path) -> str:
    conn = sqlite3.connect(db)
    try:
        return conn.execute("PRAGMA integrity_check").fetchone()[0]
    finally:
        conn.close()


@pytest.mark.parametrize(("kind", "step"), [
    ("tag", "copied"), ("tag", "replaced"), ("tag", "done"),
    ("organise", "linked"), ("organise", "moved"),
    ("organise-copy", "copied"), ("organise-copy", "placed"),
    ("undo", "modified"), ("undo", "replaced"), ("undo-copy", "removed"),
])
def test_io_error_at_a_step(tmp_path: Path, kind: str, step: str):
    """An OSError (EIO) at one step of one file: the run goes on, nothing is lost or
    changed outside the journal, and undo restores every byte."""
    result = io_error_trial(tmp_path, kind, step=step, seed=1, count=4)
    assert result["hit"], result
    assert result["failures"] == [], result


def test_undo_refuses_a_run_in_progress(tmp_path: Path):
    files, root, _into, db = make_kill_library(tmp_path, count=2)
    assert _cli("tag", root, "--db", db, "--min-confidence", "0.4").exit_code == 0
    from music_reclass.process import process_start_time

    conn = libdb.connect(db)
    with libdb.transaction(conn):  # the tag run, as seen while its process still works
        conn.execute(
            "UPDATE runs SET status = 'running', params = json_set(params, '$.pid', ?,"
            " '$.pid_start', ?) WHERE kind = 'tag'", (os.getpid(), process_start_time(os.getpid())))
    conn.close()
    tagged = snapshot(files)
    result = _cli("undo", "--db", db)
    assert result.exit_code == 2, result.output
    assert "is still in progress" in result.output
    assert snapshot(files) == tagged


def test_checks_find_a_change_outside_the_journal(tmp_path: Path):
    """The trial's checks can fail: a file changed behind the journal's back is found."""
    from music_reclass.act.tagwrite import write_genres

    files, root, into, db = make_kill_library(tmp_path, count=2)
    original = snapshot(files)
    assert check_after_fault(files, original, root, into, db, moved=False) == []
    write_genres(files[0], ["Polka"])  # a change made behind the journal's back
    failures = check_after_fault(files, original, root, into, db, moved=False)
    assert failures == [f"{files[0]}: changed but not journalled"]


def test_oserror_code_is_reported(tmp_path: Path):
    files, root, _into, db = make_kill_library(tmp_path, count=2)

    def hook(name, context):
        if name == "copied":
            raise OSError(errno.EIO, "Input/output error")

    remove = faults.install(hook)
    try:
        result = _cli("tag", root, "--db", db, "--min-confidence", "0.4")
    finally:
        remove()
    assert result.exit_code == 1
    assert "failed: " in result.output and "Input/output error" in result.output
