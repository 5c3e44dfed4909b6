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
    parser.add_argument("--finetune-epochs", type=int, default=None,
                        help="epochs of musicnn-finetune when not --epochs")
    parser.add_argument("--models", default="cnn,musicnn-finetune")
    parser.add_argument("--heads", default="musicnn:logreg,gtzan58:logreg")
    args = parser.parse_args(argv)
    root = args.shared / "audio" / "gtzan-dev"
    if not root.is_dir():
        print(f"skipped: {root} not found (the real clips live in ../shared)")
        return 0
    from music_reclass.datasets import load_dataset
    from music_reclass.evaluation.deep_compare import FOLD_COLUMNS, compare_deep

    COLUMNS = (*FOLD_COLUMNS, "epochs_max", "wall_s")  # noqa: N806
    from music_reclass.evaluation.reports import markdown_table

    data = load_dataset("gtzan", root)
    heads = [tuple(h.split(":", 1)) for h in args.heads.split(",") if h]
    models = [m for m in args.models.split(",") if m]
    print(f"gtzan-dev (50 clips), {args.folds} artist-disjoint folds (the same for every row), "
          f"CPU ({os.cpu_count()} cores, shared machine); rows print as they finish\n", flush=True)
    rows, notes = [], []
    # one model per call: the folds (group_kfold with the same seed) are identical across calls
    jobs = [([], [h]) for h in heads] + [([m], []) for m in models]
    for deep, head in jobs:
        start = time.perf_counter()
        epochs = args.finetune_epochs if deep == ["musicnn-finetune"] and args.finetune_epochs else args.epochs
        got, notes = compare_deep(data, deep, heads=head, n_folds=args.folds, epochs=epochs,
                                  device="cpu", n_jobs=os.cpu_count())
        for row in got:
            row["epochs_max"] = epochs if deep else None
            row["wall_s"] = time.perf_counter() - start
        rows += got
        print(markdown_table(got, COLUMNS), flush=True)
    print()
    for note in notes:
        print(f"> {note}")
    print()
    print(markdown_table(rows, COLUMNS))
    deep_rows = [r for r in rows if r.get("s_per_epoch")]
    if len(deep_rows) == 2:
        a, b = deep_rows
        print(f"\nCPU time per epoch: {a['model']} {a['s_per_epoch']:.1f} s, {b['model']} "
              f"{b['s_per_epoch']:.1f} s (ratio {b['s_per_epoch'] / a['s_per_epoch']:.2f}); "
              "an epoch = 4 augmented 3 s crops per training clip (~130 crops) + validation")
    print("\nSmoke test on 50 clips: figures are not comparable with published GTZAN results.")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
