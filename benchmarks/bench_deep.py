"""Deep models vs. feature heads on gtzan-dev: artist-disjoint folds, and CPU time per epoch.

Usage::

    python benchmarks/bench_deep.py [--shared ../shared] [--folds 5] [--epochs 20]
                                    [--models cnn,musicnn-finetune] [--heads musicnn:logreg]

Every model is trained and tested on the same folds of
:meth:`Dataset.group_kfold` (no artist in both the training and the held-out part).
This is a 50-clip SMOKE TEST, not a benchmark: 5 clips per genre, and 4 genres
(blues, classical, reggae, rock) are a single artist each in gtzan-dev, so the fold
holding that artist out has no training track of the genre: those 20 clips are always
wrong and accuracy cannot exceed 60 %. ``accuracy_seen`` counts only held-out clips
whose genre was trained on. For real figures run the same comparison on the full GTZAN
fault-filtered split (README, "Deep models").

Timings are wall-clock seconds on this machine in this run (other processes may share
the cores): compare the ratios between rows, not the absolute values.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, default=REPO.parent / "shared")
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--models", default="cnn,musicnn-finetune")
    parser.add_argument("--heads", default="musicnn:logreg,gtzan58:logreg")
    args = parser.parse_args(argv)
    root = args.shared / "audio" / "gtzan-dev"
    if not root.is_dir():
        print(f"skipped: {root} not found (the real clips live in ../shared)")
        return 0
    from music_reclass.datasets import load_dataset
    from music_reclass.evaluation.deep_compare import FOLD_COLUMNS, compare_deep
    from music_reclass.evaluation.reports import markdown_table

    data = load_dataset("gtzan", root)
    heads = [tuple(h.split(":", 1)) for h in args.heads.split(",") if h]
    models = [m for m in args.models.split(",") if m]
    start = time.perf_counter()
    rows, notes = compare_deep(data, models, heads=heads, n_folds=args.folds, epochs=args.epochs,
                               device="cpu", n_jobs=os.cpu_count(),
                               on_progress=lambda d, t: print(f"  {d}/{t} model-folds done "
                                                              f"({time.perf_counter() - start:.0f} s)",
                                                              flush=True))
    print(f"\ngtzan-dev (50 clips), {args.folds} artist-disjoint folds, up to {args.epochs} epochs "
          f"(early stopping), CPU ({os.cpu_count()} cores, shared machine); "
          f"total {time.perf_counter() - start:.0f} s\n")
    for note in notes:
        print(f"> {note}")
    print()
    print(markdown_table(rows, FOLD_COLUMNS))
    deep = [r for r in rows if r.get("s_per_epoch")]
    if len(deep) == 2:
        a, b = deep
        print(f"\nCPU time per epoch: {a['model']} {a['s_per_epoch']:.1f} s, {b['model']} "
              f"{b['s_per_epoch']:.1f} s (ratio {b['s_per_epoch'] / a['s_per_epoch']:.2f}); "
              "an epoch = 4 augmented 3 s crops per training clip (~160 crops) + validation")
    print("\nSmoke test on 50 clips: figures are not comparable with published GTZAN results.")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
