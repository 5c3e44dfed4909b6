"""Fault trials of tag, organise and undo, run in this process through the real CLI.

Shared by tests/test_act_faults.py (a few trials) and benchmarks/fault_injection.py
(the full counts). Each trial builds a synthetic library of every format
(act_fixtures), injects one fault through music_reclass.faults while a command runs,
then checks: PRAGMA integrity_check, no audio changed, no file lost, the next run
completes (settling what the fault left), no change outside the journal, and undoing
every run restores every original byte at its original path.

Faults:

- ``io``: an ``OSError`` (EIO) at one step of one file (:func:`io_error_trial`);
- ``full``: the database's disk fills up at a random step (a small tmpfs filled to a
  random few KiB free, or SQLite's ``max_page_count`` where no tmpfs can be mounted)
  (:func:`db_full_trial`);
- ``locked``: another connection holds the write lock, longer than the busy timeout,
  from a random step on (:func:`db_locked_trial`).
"""

from __future__ import annotations

import errno
import os
import random
import sqlite3
import subprocess
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from act_fixtures import (
    STEPS_PER_FILE,
    _integrity,
    _temp_files,
    check_journal_covers,
    check_library,
    command_args,
    make_kill_library,
    snapshot,
)
from music_reclass import faults

#: The steps (fault points) of each command, in order, for one file.
STEPS = {
    "tag": ("planned", "before-copy", "copied", "modified", "verified", "replaced", "done"),
    "organise": ("planned", "before-link", "linked", "moved", "done"),
    "organise-copy": ("planned", "before-copy", "copied", "placed", "done"),
    "undo": ("planned", "before-copy", "copied", "modified", "verified", "replaced", "done"),
    "undo-copy": ("planned", "removed", "done"),
}
assert all(len(STEPS[k]) == STEPS_PER_FILE[k] for k in STEPS)


def cli(args: list[str]) -> tuple[int, str]:
    """Run ``reclass ARGS`` in this process; ``(exit code, output)``."""
    from typer.testing import CliRunner

    from music_reclass.cli.main import app

    result = CliRunner().invoke(app, [str(a) for a in args], catch_exceptions=True)
    output = result.output
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        output += f"\nEXCEPTION {type(result.exception).__name__}: {result.exception}"
        return 99, output
    return result.exit_code, output


@contextmanager
def installed(hook: faults.Hook):
    remove = faults.install(hook)
    try:
        yield
    finally:
        remove()


def fill_disk(filler: Path, *, leave: int = 0) -> None:
    """Fill the filesystem of ``filler`` up (``leave`` bytes free, about)."""
    block = b"\0" * 4096
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    try:
        while True:
            try:
                if os.write(fd, block) <= 0:
                    break
            except OSError as exc:
                if exc.errno != errno.ENOSPC:
                    raise
                break
    finally:
        os.close(fd)
    size = filler.stat().st_size
    if leave:
        os.truncate(filler, max(0, size - leave))


def can_mount_tmpfs() -> bool:
    return os.geteuid() == 0


@contextmanager
def small_tmpfs(where: Path, size: str = "1m"):
    """A small tmpfs mounted at ``where`` (root only); unmounted after."""
    where.mkdir(parents=True, exist_ok=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where)],
                   check=True, capture_output=True)
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], capture_output=True)


def check_after_fault(files: list[Path], original: dict[str, bytes], root: Path, into: Path,
                      db: Path, *, moved: bool, digests: dict[str, str] | None = None,
                      samples: dict[str, int] | None = None) -> list[str]:
    """The invariants right after a fault (before the next run settles it)."""
    from music_reclass.act.payload import audio_digest, decoded_sample_count

    failures = []
    if (status := _integrity(db)) != "ok":
        failures.append(f"integrity_check after the fault: {status}")
    if digests is None:
        digests = {str(p): audio_digest(p) for p in files if p.exists()}
        samples = {str(p): decoded_sample_count(p) for p in files if p.exists()}
    failures += check_library(files, original, digests, samples or {}, root, into, moved=moved)
    failures += check_journal_covers(files, original, into, db, settled=False)
    return failures


def _undo_all(db: Path) -> list[str]:
    for _ in range(8):
        rc, out = cli(["undo", "--db", db])
        if rc != 0:
            return [f"undo exited {rc}: {out[-800:]}"]
        if "nothing to undo" in out:
            return []
    return ["undo never ran out of runs"]


def run_trial(workdir: Path, kind: str, *, count: int,
              during: Callable[[list[str], Path], dict[str, Any]],
              db_dir: Path | None = None) -> dict[str, Any]:
    """Build a library, run ``kind``'s set-up, then ``during(args, db)`` (the command with a
    fault); then every check. Returns ``during``'s dict plus ``failures``."""
    from music_reclass.act.payload import audio_digest, decoded_sample_count

    files, root, into, db = make_kill_library(workdir, count=count)
    if db_dir is not None:
        db = _move_db(db, db_dir)
    original = snapshot(files)
    digests = {str(p): audio_digest(p) for p in files}
    samples = {str(p): decoded_sample_count(p) for p in files}
    args, setup = command_args(kind, root, into, db)
    failures: list[str] = []
    if setup is not None:
        rc, out = cli(setup)
        if rc != 0:
            failures.append(f"setup {setup[0]} run failed: {out[-500:]}")
    result = during(args, db)
    failures += check_after_fault(files, original, root, into, db,
                                  moved=kind == "organise", digests=digests, samples=samples)
    rc, out = cli(args)
    if rc != 0:
        failures.append(f"next {kind} run exited {rc}: {out[-800:]}")
    if temps := _temp_files(root, into):
        failures.append(f"stale temp files left: {temps}")
    failures += check_journal_covers(files, original, into, db)
    failures += _undo_all(db)
    if snapshot(files) != original:
        changed = [p for p in files if not p.exists() or p.read_bytes() != original[str(p)]]
        failures.append(f"not restored byte for byte: {changed}")
    if into.exists() and (left := [p for p in into.rglob("*") if p.is_file()]):
        failures.append(f"files left in the organise folder: {left}")
    if (status := _integrity(db)) != "ok":
        failures.append(f"integrity_check at the end: {status}")
    return {**result, "failures": failures}


def _move_db(db: Path, db_dir: Path) -> Path:
    conn = sqlite3.connect(db)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    moved = db_dir / db.name
    moved.write_bytes(db.read_bytes())
    for suffix in ("", "-wal", "-shm"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)
    return moved


def io_error_trial(workdir: Path, kind: str, *, step: str, seed: int, count: int = 10
                   ) -> dict[str, Any]:
    """An ``OSError(EIO)`` at ``step`` of a random file of the run (see the module)."""
    rng = random.Random(seed)
    target = rng.randint(1, count)
    state = {"seen": 0, "hit": False}

    def hook(name: str, context: dict[str, Any]) -> None:
        if name != step or state["hit"]:
            return
        state["seen"] += 1
        if state["seen"] == target:
            state["hit"] = True
            raise OSError(errno.EIO, f"injected I/O error at {step}")

    def during(args: list[str], db: Path) -> dict[str, Any]:
        with installed(hook):
            rc, out = cli(args)
        return {"rc": rc, "output": out, "hit": state["hit"]}

    return run_trial(workdir, kind, count=count, during=during)


def db_locked_trial(workdir: Path, kind: str, *, seed: int, count: int = 10,
                    busy_ms: int = 150) -> dict[str, Any]:
    """From a random step on, another connection holds the write lock for longer than
    the busy timeout (``busy_ms``) until the command ends."""
    rng = random.Random(seed)
    at = rng.randint(1, STEPS_PER_FILE[kind] * count - 1)
    state: dict[str, Any] = {"steps": 0, "holder": None}

    def during(args: list[str], db: Path) -> dict[str, Any]:
        def hook(name: str, context: dict[str, Any]) -> None:
            if name == "db-connected":
                context["conn"].execute(f"PRAGMA busy_timeout={busy_ms}")
                return
            if name in ("db-commit",):
                return
            state["steps"] += 1
            if state["steps"] == at and state["holder"] is None:
                holder = sqlite3.connect(db, isolation_level=None)
                holder.execute("BEGIN IMMEDIATE")
                state["holder"] = holder

        with installed(hook):
            rc, out = cli(args)
        hit = state["holder"] is not None
        if hit:
            state["holder"].rollback()
            state["holder"].close()
        return {"rc": rc, "output": out, "hit": hit and "is locked" in out}

    return run_trial(workdir, kind, count=count, during=during)


def db_full_trial(workdir: Path, kind: str, *, seed: int, count: int = 10,
                  tmpfs: Path | None = None) -> dict[str, Any]:
    """The database's disk fills up at a random step of the command: a 1 MiB tmpfs
    (``tmpfs``, mounted by the caller) filled to a random 0-32 KiB free, or, without one,
    SQLite's ``max_page_count`` set a random 0-6 pages above the database's size."""
    rng = random.Random(seed)
    leave = rng.randint(0, 16) * 2048
    extra_pages = rng.randint(0, 6)
    at = rng.randint(1, STEPS_PER_FILE[kind] * count - 1)
    state: dict[str, Any] = {"steps": 0, "conns": []}

    def during(args: list[str], db: Path) -> dict[str, Any]:
        filler = None if tmpfs is None else tmpfs / "filler"

        def hook(name: str, context: dict[str, Any]) -> None:
            if name == "db-connected":
                state["conns"].append(context["conn"])
                return
            if name == "db-commit":
                return
            state["steps"] += 1
            if state["steps"] != at:
                return
            if filler is not None:
                fill_disk(filler, leave=leave)
                return
            for conn in state["conns"]:
                pages = conn.execute("PRAGMA page_count").fetchone()[0]
                conn.execute(f"PRAGMA max_page_count={pages + extra_pages}")

        try:
            with installed(hook):
                rc, out = cli(args)
        finally:
            if filler is not None:
                filler.unlink(missing_ok=True)
        return {"rc": rc, "output": out, "hit": "is full" in out}

    return run_trial(workdir, kind, count=count, during=during, db_dir=tmpfs)
