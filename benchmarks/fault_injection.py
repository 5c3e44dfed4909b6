"""Fault injection: SIGKILL `reclass tag`, `organise`, `undo` (and `classify`) at random times.

Usage::

    python benchmarks/fault_injection.py [--trials 20] [--files 10] [--delay 0.02]

Each trial builds a synthetic library of every format (tests/act_fixtures.py),
runs the command in a subprocess with ``RECLASS_FAULT_DELAY`` (a sleep between
every step, so kills land inside the dangerous windows), kills it with SIGKILL
at a uniformly random time, then checks: PRAGMA integrity_check, no audio
digest changed, no file lost, the next run completes, no temp file left, and
undoing every run restores every original byte. ``classify`` trials (when the
command exists) check integrity and that the next run completes.

Prints, per command: trials, kills that landed mid-run, trials with a failed
invariant, and the failures themselves.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from act_fixtures import _finish, _integrity, _reclass, kill_trial, make_library  # noqa: E402

WINDOWS = {"tag": 2.0, "organise": 1.5, "undo": 1.7}


def classify_available() -> bool:
    rc, out = _finish(["classify", "--help"])
    return rc == 0


def classify_trial(workdir: Path, *, seed: int, window: float) -> dict:
    """Kill `reclass classify` mid-run; the DB must stay sound and the next run finish."""
    import random
    import signal
    import subprocess

    rng = random.Random(seed)
    root, db = workdir / "music", workdir / "lib.sqlite"
    make_library(root, count=6, tagged=False)
    proc = _reclass(["classify", str(root), "--db", str(db)], env={"RECLASS_FAULT_DELAY": "0.02"})
    try:
        proc.wait(timeout=rng.uniform(0.0, window))
        killed = False
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        killed = True
    proc.stdout.close()
    failures = []
    if db.exists() and (status := _integrity(db)) != "ok":
        failures.append(f"integrity_check: {status}")
    rc, out = _finish(["classify", str(root), "--db", str(db)])
    if rc != 0:
        failures.append(f"next classify exited {rc}: {out[-400:]}")
    return {"killed": killed, "failures": failures}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--files", type=int, default=10)
    parser.add_argument("--delay", type=float, default=0.02)
    parser.add_argument("--classify-window", type=float, default=20.0)
    parser.add_argument("--no-classify", action="store_true")
    args = parser.parse_args()
    os.environ.setdefault("RECLASS_DATA_DIR", tempfile.mkdtemp(prefix="reclass-fi-data-"))

    kinds = ["tag", "organise", "undo"]
    if not args.no_classify and classify_available():
        kinds.append("classify")
    print(
        f"{args.trials} trials per command, {args.files} files per trial, "
        f"RECLASS_FAULT_DELAY={args.delay}s"
    )
    print(
        f"{'command':<10} {'trials':>6} {'killed mid-run':>15} {'failed trials':>14} {'seconds':>8}"
    )
    all_failures = []
    for kind in kinds:
        killed = failed = 0
        start = time.perf_counter()
        for seed in range(args.trials):
            with tempfile.TemporaryDirectory(prefix=f"reclass-fi-{kind}-") as tmp:
                if kind == "classify":
                    result = classify_trial(Path(tmp), seed=seed, window=args.classify_window)
                else:
                    result = kill_trial(
                        Path(tmp),
                        kind,
                        seed=seed,
                        count=args.files,
                        delay=args.delay,
                        window=WINDOWS[kind],
                    )
            killed += result["killed"]
            if result["failures"]:
                failed += 1
                all_failures.append((kind, seed, result["failures"]))
        elapsed = time.perf_counter() - start
        print(f"{kind:<10} {args.trials:>6} {killed:>15} {failed:>14} {elapsed:>8.1f}", flush=True)
    for kind, seed, failures in all_failures:
        print(f"FAIL {kind} seed={seed}:")
        for line in failures:
            print(f"    {line}")
    print("all invariants held" if not all_failures else f"{len(all_failures)} failed trial(s)")
    sys.exit(1 if all_failures else 0)


if __name__ == "__main__":
    main()
