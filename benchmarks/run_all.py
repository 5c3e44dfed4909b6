"""Run every benchmark in turn (``make bench``), each in its own process.

Each script prints its own figures, measured in that run. Scripts that need the real
audio in ``../shared`` say so and skip the parts they cannot run.
Usage: ``python benchmarks/run_all.py [NAME ...]`` (names without ``bench_``/``.py``).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ORDER = [
    "bench_decode.py",
    "bench_musicnn.py",
    "bench_classify.py",
    "bench_speed.py",
    "bench_accuracy_gtzan_dev.py",
    "bench_trust.py",
    "bench_features.py",
    "bench_training.py",
    "bench_plex.py",
    "fault_injection.py",
    "bench_web.py",
]


def main(argv: list[str]) -> int:
    wanted = set(argv)
    failures = []
    for script in ORDER:
        name = script.removesuffix(".py").removeprefix("bench_")
        if wanted and name not in wanted:
            continue
        print(f"\n=== {script} ===", flush=True)
        if subprocess.run([sys.executable, str(HERE / script)]).returncode != 0:
            failures.append(script)
    if failures:
        print(f"\nfailed: {', '.join(failures)}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
