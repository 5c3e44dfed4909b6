"""Fault injection: kill -9, a full or locked database, I/O errors, in tag/organise/undo.

Usage::

    python benchmarks/fault_injection.py [--trials 20] [--files 6] [--faults kill io full locked]

Each trial builds a synthetic library of every format (tests/act_fixtures.py), runs one
command with one fault, then checks: PRAGMA integrity_check, no audio changed, no file
lost, the next run completes (settling what the fault left), no temp file left, no
change outside the journal, and undoing every run restores every original byte.

Faults (see tests/fault_trials.py and tests/fault_reclass.py):

- ``kill``: SIGKILL at a random step of the command (a subprocess), or a few random ms
  after one; a trial whose kill did not land mid-run fails;
- ``io``: an ``OSError`` (EIO) at one step of one random file; trial *i* uses step
  *i mod (number of steps)*, so every step of every command is hit;
- ``full``: at a random step, the database's disk fills up: a 1 MiB tmpfs filled to a
  random 0-32 KiB free (as root), else SQLite's ``max_page_count`` set a random 0-6 pages
  above the database's size;
- ``locked``: another connection takes the write lock at a random step and holds it
  past the busy timeout (150 ms here) until the command ends;
- ``classify`` kill trials (the real default model, 6 files of 4.5 s) check integrity
  and that the next run completes with every file reported ok.

Prints one row per (fault, command): trials, trials where the fault landed (the kill
mid-run, the error raised, the database reported full or locked), failed trials, and
seconds; then every failure. CI runs a few of these trials (tests/test_act_kill9.py,
tests/test_act_faults.py, tests/test_classify_kill9.py); this script runs the full
counts. The machine may be shared: the seconds are only indicative.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from act_fixtures import (  # noqa: E402
    KILL_KINDS,
    _finish,
    _integrity,
    _reclass,
    command_args,
    kill_trial,
    last_run_status,
    make_kill_library,
    make_library,
    run_and_kill,
)
from fault_trials import (  # noqa: E402
    STEPS,
    can_mount_tmpfs,
    db_full_trial,
    db_locked_trial,
    io_error_trial,
    small_tmpfs,
)

CLASSIFY_SECONDS = 4.5  # per file of a classify trial: one whole 3 s patch and some


def classify_available() -> bool:
    rc, out = _finish(["classify", "--help"])
    return rc == 0


def classify_trial(workdir: Path, *, seed: int, window: float) -> dict:
    """Kill `reclass classify` mid-run; the DB must stay sound and the next run finish."""
    import random

    rng = random.Random(seed)
    root, db = workdir / "music", workdir / "lib.sqlite"
    # classify rejects clips shorter than one 3 s patch: give it whole patches
    files = make_library(root, count=6, tagged=False, seconds=CLASSIFY_SECONDS)
    killed = run_and_kill(["classify", str(root), "--db", str(db)], rng=rng, window=window,
                          delay=0.0)
    # mid-run: the run row exists and is still marked running
    killed = killed and db.exists() and last_run_status(db, "classify") == "running"
    failures = []
    if db.exists() and (status := _integrity(db)) != "ok":
        failures.append(f"integrity_check: {status}")
    rc, out = _finish(["classify", str(root), "--db", str(db), "--json"])
    if rc != 0:
        failures.append(f"next classify exited {rc}: {out[-400:]}")
    else:
        failures += _classify_report_problems(out, files)
    if (status := _integrity(db)) != "ok":
        failures.append(f"integrity_check after the next run: {status}")
    return {"killed": killed, "failures": failures}


def _classify_report_problems(out: str, files: list[Path]) -> list[str]:
    """Every file reported ok by the run after the kill (the summary is on stderr)."""
    import json

    statuses = {}
    for line in out.splitlines():
        if line.startswith("{"):
            record = json.loads(line)
            statuses[record["path"]] = record["status"]
    wanted = {str(path.resolve()) for path in files}
    problems = [f"{path}: not reported" for path in sorted(wanted - statuses.keys())]
    problems += [f"{path}: {status}" for path, status in statuses.items() if status != "ok"]
    return problems


def startup_seconds() -> float:
    """Wall time of ``reclass --help``: a kill before this lands before any work."""
    start = time.perf_counter()
    _finish(["--help"])
    return time.perf_counter() - start


def reference_seconds(kind: str, workdir: Path, *, count: int) -> float:
    """Wall time of one un-killed run of ``kind`` on a trial's library."""
    if kind == "classify":
        root, db = workdir / "music", workdir / "lib.sqlite"
        make_library(root, count=6, tagged=False, seconds=CLASSIFY_SECONDS)
        args = ["classify", str(root), "--db", str(db)]
    else:
        _files, root, into, db = make_kill_library(workdir, count=count)
        args, setup = command_args(kind, root, into, db)
        if setup is not None:
            _finish(setup)
    start = time.perf_counter()
    proc = _reclass(args)
    proc.communicate(timeout=600)
    return time.perf_counter() - start


def act_trial(fault: str, kind: str, workdir: Path, *, seed: int, count: int) -> dict:
    """One trial of ``fault`` on command ``kind`` (see the module docstring)."""
    if fault == "kill":
        return kill_trial(workdir, kind, seed=seed, count=count)
    if fault == "io":
        step = STEPS[kind][seed % len(STEPS[kind])]
        return {**io_error_trial(workdir, kind, step=step, seed=seed, count=count), "step": step}
    if fault == "locked":
        return db_locked_trial(workdir, kind, seed=seed, count=count)
    if can_mount_tmpfs():
        with small_tmpfs(workdir / "small") as mount:
            return db_full_trial(workdir, kind, seed=seed, count=count, tmpfs=mount)
    return db_full_trial(workdir, kind, seed=seed, count=count)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--files", type=int, default=6)
    parser.add_argument("--faults", nargs="+", default=["kill", "io", "full", "locked"],
                        choices=["kill", "io", "full", "locked"])
    parser.add_argument("--only", nargs="+", choices=[*KILL_KINDS, "classify"],
                        help="run only these commands")
    parser.add_argument("--classify-window", type=float, default=None,
                        help="kill window of classify (default: one full run's time)")
    parser.add_argument("--no-classify", action="store_true")
    args = parser.parse_args()
    os.environ.setdefault("RECLASS_DATA_DIR", tempfile.mkdtemp(prefix="reclass-fi-data-"))

    kinds = args.only or [*KILL_KINDS, "classify"]
    if "classify" in kinds and (args.no_classify or "kill" not in args.faults
                                or not classify_available()):
        kinds.remove("classify")
    full = "a 1 MiB tmpfs" if can_mount_tmpfs() else "SQLite max_page_count"
    print(f"{args.trials} trials per (fault, command), {args.files} files per trial "
          f"(classify: 6 files of {CLASSIFY_SECONDS} s); database full: {full}; "
          f"interpreter start-up {startup_seconds():.2f} s")
    print(f"{'fault':<7} {'command':<14} {'trials':>6} {'fault landed':>13} "
          f"{'failed trials':>14} {'seconds':>8}")
    all_failures = []
    for fault in args.faults:
        for kind in kinds:
            if kind == "classify" and fault != "kill":
                continue
            landed = failed = 0
            window = args.classify_window
            if kind == "classify" and window is None:  # one un-killed run's time
                with tempfile.TemporaryDirectory(prefix="reclass-fi-ref-") as tmp:
                    window = reference_seconds("classify", Path(tmp), count=6)
            start = time.perf_counter()
            for seed in range(args.trials):
                with tempfile.TemporaryDirectory(prefix=f"reclass-fi-{fault}-{kind}-") as tmp:
                    if kind == "classify":
                        result = classify_trial(Path(tmp), seed=seed, window=window)
                    else:
                        result = act_trial(fault, kind, Path(tmp), seed=seed, count=args.files)
                landed += bool(result.get("killed", result.get("hit")))
                if result["failures"]:
                    failed += 1
                    all_failures.append((fault, kind, seed, result["failures"]))
            elapsed = time.perf_counter() - start
            print(f"{fault:<7} {kind:<14} {args.trials:>6} {landed:>13} {failed:>14} "
                  f"{elapsed:>8.1f}", flush=True)
    for fault, kind, seed, failures in all_failures:
        print(f"FAIL {fault} {kind} seed={seed}:")
        for line in failures:
            print(f"    {line}")
    print("all invariants held" if not all_failures else f"{len(all_failures)} failed trial(s)")
    sys.exit(1 if all_failures else 0)


if __name__ == "__main__":
    main()
