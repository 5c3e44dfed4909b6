"""Fault injection: SIGKILL `reclass tag`, `organise`, `undo` (and `classify`) at random times.

Usage::

    python benchmarks/fault_injection.py [--trials 20] [--files 10] [--delay 0.02]

Each trial builds a synthetic library of every format (tests/act_fixtures.py),
runs the command in a subprocess with ``RECLASS_FAULT_DELAY`` (a sleep between
every step, so kills land inside the dangerous windows), kills it with SIGKILL
at a uniformly random time, then checks: PRAGMA integrity_check, no audio
digest changed, no file lost, the next run completes, no temp file left, and
undoing every run restores every original byte. ``classify`` trials (the real
default model, 6 files of 4.5 s: classify rejects clips under one 3 s patch)
check integrity and that the next run completes with every file reported ok.

Prints, per command: trials, kills that landed mid-run, trials with a failed
invariant, the kill window, the time of one un-killed run (so one can tell which
share of the kills landed inside the work; the interpreter start-up is printed
too: a kill before it ends lands before any work), and the failures themselves.
CI runs a few of these trials (tests/test_act_kill9.py, tests/test_classify_kill9.py);
this script runs the full counts.
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--files", type=int, default=10)
    parser.add_argument("--classify-window", type=float, default=None,
                        help="kill window of classify (default: one full run's time)")
    parser.add_argument("--no-classify", action="store_true")
    parser.add_argument("--only", nargs="+", choices=[*KILL_KINDS, "classify"],
                        help="run only these commands")
    args = parser.parse_args()
    os.environ.setdefault("RECLASS_DATA_DIR", tempfile.mkdtemp(prefix="reclass-fi-data-"))

    kinds = args.only or [*KILL_KINDS, "classify"]
    if "classify" in kinds and (args.no_classify or not classify_available()):
        kinds.remove("classify")
    print(
        f"{args.trials} trials per command, {args.files} files per trial "
        f"(classify: 6 files of {CLASSIFY_SECONDS} s); act commands are killed at a random "
        f"step, classify at a uniform time in [0, window]; interpreter start-up "
        f"{startup_seconds():.2f} s"
    )
    print(f"{'command':<14} {'trials':>6} {'killed mid-run':>15} {'failed trials':>14} "
          f"{'full run s':>11} {'seconds':>8}")
    all_failures = []
    for kind in kinds:
        with tempfile.TemporaryDirectory(prefix=f"reclass-fi-ref-{kind}-") as tmp:
            full_run = reference_seconds(kind, Path(tmp), count=args.files)
        killed = failed = 0
        start = time.perf_counter()
        for seed in range(args.trials):
            with tempfile.TemporaryDirectory(prefix=f"reclass-fi-{kind}-") as tmp:
                if kind == "classify":
                    result = classify_trial(Path(tmp), seed=seed,
                                            window=args.classify_window or full_run)
                else:
                    result = kill_trial(Path(tmp), kind, seed=seed, count=args.files)
            killed += result["killed"]
            if result["failures"]:
                failed += 1
                all_failures.append((kind, seed, result["failures"]))
        elapsed = time.perf_counter() - start
        print(f"{kind:<14} {args.trials:>6} {killed:>15} {failed:>14} {full_run:>11.1f} "
              f"{elapsed:>8.1f}", flush=True)
    for kind, seed, failures in all_failures:
        print(f"FAIL {kind} seed={seed}:")
        for line in failures:
            print(f"    {line}")
    print("all invariants held" if not all_failures else f"{len(all_failures)} failed trial(s)")
    sys.exit(1 if all_failures else 0)


if __name__ == "__main__":
    main()
