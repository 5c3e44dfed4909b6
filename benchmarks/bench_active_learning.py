"""Active learning: accuracy against the number of labels given, suggested vs random.

Usage::

    python benchmarks/bench_active_learning.py [--shared ../shared] [--db LIB]
        [--repeats 3] [--pool gtzan-dev,gtzan-features]

Two pools of real music, both with artist-grouped evaluation (GTZAN artists from
Sturm's index; tracks without a known artist are their own group):

- ``gtzan-dev``: the 50 clips of ``shared/audio/gtzan-dev``, embedded by the default
  musicnn model (classified into a temporary library, or read from ``--db`` when that
  library already classified them): the product's own input. A SMOKE TEST: 50 clips,
  and four genres (blues, classical, reggae, rock) come from a single artist each, so a
  model that never saw the artist cannot learn them; the ceiling is low and the curve
  noisy.
- ``gtzan-features``: the 1000 GTZAN tracks of the Kaggle feature table
  (``shared/gtzan-features``, 58 librosa statistics per track): real audio features, a
  pool large enough for a curve up to 200 labels.

Each trial: artists split into 5 folds; one fold is the test set, the others the pool
where labels are bought. Both strategies start from the same 2 random labels, then add
labels in steps: *suggested* takes the product's picks (``personal.active
.rank_unlabelled``: a personal model fitted on the labels so far, uncertainty and
diversity, exactly what ``reclass suggest`` runs), *random* takes random tracks. After
each step a personal model (``fit_personal``, what ``reclass learn`` fits) is trained on
the labels and scored on the test fold. Mean and spread over folds x repeats.
"""

from __future__ import annotations

import argparse
import csv
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))


def artist_of(name: str) -> str:
    from music_reclass.datasets.gtzan import sturm_index

    artist = sturm_index().get(name, (None, None))[0]
    return f"artist:{artist}" if artist else f"track:{name}"


def gtzan_dev_pool(shared: Path, db: Path | None) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """The 50 clips' musicnn embeddings (from a library), genres and artist groups."""
    from music_reclass import Library
    from music_reclass.features import get_extractor
    from music_reclass.features.musicnn_embedding import VECTOR_LAYOUT
    from music_reclass.store.labels import vector_matrix

    folder = shared / "audio" / "gtzan-dev"
    with tempfile.TemporaryDirectory() as tmp:
        library = Library(db or Path(tmp) / "lib.sqlite")
        start = time.perf_counter()
        run = library.classify([folder], model="default")
        print(f"gtzan-dev: {run.summary.ok} clips classified ({run.summary.cached} cached) in "
              f"{time.perf_counter() - start:.0f} s")
        views = [v for v in library.files() if v.status == "ok"]
        X, found = vector_matrix(library.connection(), [v.content_hash for v in views],
                                 get_extractor("musicnn").space, VECTOR_LAYOUT)
        library.close()
    y = np.array([Path(v.path).parent.name for v in views])
    groups = [artist_of(Path(v.path).stem) for v in views]
    return X[found], y[found], [g for g, ok in zip(groups, found, strict=True) if ok]


def gtzan_features_pool(shared: Path) -> tuple[np.ndarray, np.ndarray, list[str]]:
    table = shared / "gtzan-features" / "features_30_sec.csv"
    with table.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    skip = {"filename", "label", "length"}
    X = np.array([[float(v) for k, v in row.items() if k not in skip] for row in rows],
                 dtype=np.float32)
    y = np.array([row["label"] for row in rows])
    groups = [artist_of(Path(row["filename"]).stem) for row in rows]
    return X, y, groups


def labelling_of(y: np.ndarray, groups: list[str], rows: np.ndarray):
    from music_reclass.personal.labels import TrackSource, build_labelling

    sources = [TrackSource(f"r{i}", f"r{i}", artist=groups[i].split(":", 1)[1]
                           if groups[i].startswith("artist:") else None, tags=[str(y[i])])
               for i in rows]
    return build_labelling(sources, min_tracks=1, multi_label=False)


def accuracy(X: np.ndarray, y: np.ndarray, groups: list[str], labelled: np.ndarray,
             test: np.ndarray) -> float:
    from music_reclass.personal.train import fit_personal

    labelling = labelling_of(y, groups, labelled)
    if len(labelling.classes) < 2:
        return float(np.mean(y[test] == labelling.classes[0]))
    head = fit_personal(X[labelled], labelling).head
    return float(np.mean(head.predict(X[test]) == y[test]))


def suggested(X: np.ndarray, y: np.ndarray, groups: list[str], labelled: np.ndarray,
              pool: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    from music_reclass.personal.active import rank_unlabelled

    labelling = labelling_of(y, groups, labelled)
    picks, _ = rank_unlabelled(X[labelled], labelling, X[pool], n,
                               seed=int(rng.integers(1 << 30)))
    return pool[[p.index for p in picks]]


def trial(X, y, groups, test_fold, folds, budgets, strategy, seed) -> list[float]:
    rng = np.random.default_rng(seed)
    test = np.flatnonzero(folds == test_fold)
    pool = np.flatnonzero(folds != test_fold)
    labelled = rng.choice(pool, size=2, replace=False)
    scores = []
    for budget in budgets:
        remaining = np.setdiff1d(pool, labelled)
        need = budget - len(labelled)
        if need > 0:
            picks = (suggested(X, y, groups, labelled, remaining, need, rng)
                     if strategy == "suggested" else rng.choice(remaining, need, replace=False))
            labelled = np.concatenate([labelled, picks])
        scores.append(accuracy(X, y, groups, labelled, test))
    return scores


def curve(name: str, X, y, groups, budgets: list[int], repeats: int) -> None:
    from music_reclass.personal.folds import group_folds

    _, codes = np.unique(y, return_inverse=True)
    results: dict[str, list[list[float]]] = {"suggested": [], "random": []}
    start = time.perf_counter()
    for repeat in range(repeats):
        folds = group_folds(groups, codes, seed=repeat)
        for fold in range(int(folds.max()) + 1):
            pool_size = int((folds != fold).sum())
            usable = [b for b in budgets if b <= pool_size]
            for strategy in results:
                scores = trial(X, y, groups, fold, folds, usable, strategy,
                               seed=1000 * repeat + fold)
                results[strategy].append(scores + [np.nan] * (len(budgets) - len(scores)))
    seconds = time.perf_counter() - start
    print(f"\n{name}: {len(y)} tracks, {len(set(y))} genres, {len(set(groups))} artist groups;"
          f" {repeats} repeats x 5 artist folds; {seconds:.0f} s")
    print(f"{'labels':>7} {'suggested':>17} {'random':>17} {'gain':>7}")
    table = {k: np.array(v, dtype=float) for k, v in results.items()}
    for i, budget in enumerate(budgets):
        s, r = table["suggested"][:, i], table["random"][:, i]
        if np.isnan(s).all():
            continue
        print(f"{budget:>7} {np.nanmean(s):>9.3f} ± {np.nanstd(s):.3f} "
              f"{np.nanmean(r):>9.3f} ± {np.nanstd(r):.3f} {np.nanmean(s) - np.nanmean(r):>+7.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, default=REPO.parent / "shared")
    parser.add_argument("--db", type=Path, help="a library that classified gtzan-dev already")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--pool", default="gtzan-dev,gtzan-features")
    args = parser.parse_args()
    if not args.shared.is_dir():
        raise SystemExit(f"no shared data at {args.shared}")
    pools = args.pool.split(",")
    if "gtzan-dev" in pools:
        X, y, groups = gtzan_dev_pool(args.shared, args.db)
        curve("gtzan-dev (musicnn embeddings; SMOKE TEST)", X, y, groups,
              [2, 4, 6, 8, 10, 14, 18, 24, 30, 40], args.repeats)
    if "gtzan-features" in pools:
        X, y, groups = gtzan_features_pool(args.shared)
        curve("gtzan-features (58 librosa features)", X, y, groups,
              [2, 5, 10, 20, 30, 40, 60, 80, 100, 150, 200], args.repeats)


if __name__ == "__main__":
    main()
