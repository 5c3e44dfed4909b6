#!/usr/bin/env python3
"""Feature extraction speed: x realtime for fma518, gtzan58 and musicnn, 1 vs 2 processes.

Runs :func:`music_reclass.features.extract_many` without cache on real GTZAN
clips (``../shared/audio/gtzan-dev``, 30 s each) and prints, per extractor and
number of processes, the wall time and the audio seconds analysed per second of
wall time (x realtime). Each extractor is first warmed up in this process
(imports, model loading); the times with 2 processes include starting the
worker pool (forkserver + imports and model loading in each worker), as a real
run pays it; that start-up cost is also printed on its own.

Usage::

    python benchmarks/bench_features.py [--clips 6] [--extractors fma518 gtzan58 musicnn]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--shared", type=Path, default=REPO.parent / "shared")
    parser.add_argument("--clips", type=int, default=6, help="number of clips (one per genre)")
    parser.add_argument("--extractors", nargs="+", default=["fma518", "gtzan58", "musicnn"])
    parser.add_argument("--jobs", nargs="+", type=int, default=[1, 2])
    args = parser.parse_args(argv)

    import torch

    from music_reclass.audio.decode import audio_info
    from music_reclass.features import extract_many, get_extractor

    torch.set_num_threads(1)  # one core per process, as in the pool's workers
    folder = args.shared / "audio" / "gtzan-dev"
    if not folder.is_dir():
        print(f"real clips not found: {folder}", file=sys.stderr)
        return 2
    genres = sorted(p for p in folder.iterdir() if p.is_dir())
    clips = [sorted(g.glob("*.wav"))[1] for g in genres][: args.clips]
    audio_seconds = sum(audio_info(p).duration for p in clips)
    print(
        f"{len(clips)} clips, {audio_seconds:.0f} s of audio; {os.cpu_count()} CPUs; "
        f"load average {os.getloadavg()[0]:.1f}"
    )
    print(f"{'extractor':10s} {'jobs':>4s} {'wall s':>8s} {'x realtime':>11s} {'speed-up':>9s}")
    for name in args.extractors:
        extractor = get_extractor(name)
        extractor.extract(sorted(genres[0].glob("*.wav"))[0])  # warm-up, not timed
        baseline = None
        for jobs in args.jobs:
            start = time.perf_counter()
            result = extract_many(clips, extractor, n_jobs=jobs, cache=False, progress=False)
            wall = time.perf_counter() - start
            if result.errors:
                print(f"  errors: {result.errors}", file=sys.stderr)
            baseline = baseline or wall
            print(
                f"{name:10s} {jobs:4d} {wall:8.1f} {audio_seconds / wall:11.1f} "
                f"{baseline / wall:8.2f}x"
            )
        print(f"{'':10s} pool start-up with 2 workers: {pool_startup(extractor):.1f} s")
    return 0


def pool_startup(extractor) -> float:
    """Seconds a 2-worker pool costs beyond the work: two 4 s clips, 2 jobs vs 1."""
    import tempfile

    import numpy as np
    import soundfile as sf

    from music_reclass.features import extract_many

    with tempfile.TemporaryDirectory() as folder:
        t = np.arange(4 * 22050) / 22050
        files = []
        for i, freq in enumerate((220.0, 330.0)):
            files.append(os.path.join(folder, f"tone{i}.wav"))
            sf.write(files[-1], (0.3 * np.sin(2 * np.pi * freq * t)).astype(np.float32), 22050)
        times = {}
        for jobs in (1, 2):
            start = time.perf_counter()
            extract_many(files, extractor, n_jobs=jobs, cache=False, progress=False)
            times[jobs] = time.perf_counter() - start
    return times[2] - times[1] / 2


if __name__ == "__main__":
    sys.exit(main())
