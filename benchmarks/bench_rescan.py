"""Re-scanning an unchanged library: the cost per file against the library's size.

Builds N tiny distinct WAV files, classifies them once with a trivial model (the
classification is not what is measured), then classifies them again and times that
second run: every file is unchanged, so it must be recognised by size, mtime and inode
without reading it, and nothing needs writing. Prints seconds and microseconds per file
for each size, measured in one run.

    python benchmarks/bench_rescan.py --sizes 1000 10000 [--keep DIR]
"""

from __future__ import annotations

import argparse
import resource
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf

from music_reclass.audio.excerpt import AudioInput, ExcerptPolicy
from music_reclass.pipeline.prediction import Prediction
from music_reclass.runner.classify import classify_paths
from music_reclass.runner.pool import make_pool
from music_reclass.store.db import connect

SR = 8000


class LevelModel:
    """A model of no interest: 'loud' or 'quiet' from the RMS of 0.05 s of audio."""

    model_id = "bench-level/1"
    classes = ("loud", "quiet")
    input = AudioInput(SR, ExcerptPolicy(patch_seconds=0.05))
    embedding_space = None

    def ensure_loaded(self) -> None:
        """Nothing to load."""

    def predict_batch(self, waveforms):
        out = []
        for w in waveforms:
            loud = float(np.sqrt(np.mean(np.square(w)))) > 0.1
            out.append(Prediction(genres=[("loud", 0.9), ("quiet", 0.1)] if loud
                                  else [("quiet", 0.9), ("loud", 0.1)]))
        return out


def make_library(root: Path, n: int) -> None:
    """``n`` distinct 0.06 s WAV files, 100 per folder."""
    t = np.arange(int(0.06 * SR)) / SR
    for i in range(n):
        folder = root / f"album{i // 100:04d}"
        folder.mkdir(parents=True, exist_ok=True)
        y = (0.05 + 0.4 * (i % 7) / 7) * np.sin(2 * np.pi * (100 + i) * t)
        sf.write(folder / f"track{i:06d}.wav", y.astype(np.float32), SR, subtype="PCM_16")


def timed_run(root: Path, db: Path, jobs: int) -> tuple[float, object]:
    conn = connect(db)
    model = LevelModel()
    start = time.perf_counter()
    summary = classify_paths([root], conn=conn, classifier=model,
                             pool=make_pool(model, jobs=jobs, batch_size=16))
    elapsed = time.perf_counter() - start
    conn.close()
    return elapsed, summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000])
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--keep", type=Path, help="build the libraries here (kept)")
    args = parser.parse_args()
    base = args.keep or Path(tempfile.mkdtemp(prefix="bench-rescan-"))
    print(f"{'files':>8} {'first run s':>12} {'rescan s':>9} {'us/file':>8} {'cached':>7}")
    for n in args.sizes:
        root, db = base / f"lib{n}", base / f"lib{n}.sqlite"
        if not root.exists():
            make_library(root, n)
        first, _ = timed_run(root, db, args.jobs)
        again, summary = timed_run(root, db, args.jobs)
        print(f"{n:>8} {first:>12.1f} {again:>9.2f} {1e6 * again / n:>8.0f} "
              f"{summary.cached:>7}")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak memory of this process: {peak:.0f} MB")


if __name__ == "__main__":
    main()
