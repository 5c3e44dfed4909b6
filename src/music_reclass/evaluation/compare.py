"""Several (features x model) combinations on the same split, and grouped
cross-validation: tables of accuracy, balanced accuracy, macro-F1, ECE, training
time and inference time per track.
"""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from music_reclass.errors import ParameterError

__all__ = [
    "COLUMNS",
    "compare_models",
    "comparison_csv",
    "comparison_markdown",
    "cross_validate",
    "write_comparison",
]

#: columns of a comparison table, in order
COLUMNS = ("features", "model", "split", "n_train", "n_test", "accuracy", "balanced_accuracy",
           "macro_f1", "ece", "train_s", "infer_ms_per_track", "extract_ms_per_track")


def compare_models(
    dataset: Any,
    features: Sequence[str],
    models: Sequence[str],
    *,
    split: str = "official",
    seed: int = 0,
    n_jobs: int | None = None,
    cache: bool = True,
    progress: Callable[[int, int], None] | None = None,
    feature_sets: Mapping[str, Any] | None = None,
) -> tuple[list[dict[str, Any]], list[str]]:
    """Train and test every (features, model) pair on one split.

    Parameters
    ----------
    dataset : Dataset
    features : sequence of str
        Extractor names.
    models : sequence of str
        Head names.
    split : {"official", "random", "artist"}
        Chosen once (:func:`~music_reclass.evaluation.training.choose_split`) and
        shared by all pairs; tracks missing any feature set are dropped from all.
    seed, n_jobs, cache
        See :func:`~music_reclass.evaluation.training.dataset_features`.
    progress : callable, optional
        ``progress(done, total)`` after each file during feature extraction.
    feature_sets : mapping, optional
        Precomputed :class:`FeatureSet` by extractor name.

    Returns
    -------
    rows : list of dict
        One per pair, keys :data:`COLUMNS`. ``extract_ms_per_track`` is the time
        per computed (not cached) track, ``None`` when everything came from the cache.
    notes : list of str
        Split caveats.
    """
    from music_reclass.evaluation.training import choose_split, dataset_features, train_model

    if not features or not models:
        raise ParameterError("give at least one feature extractor and one model")
    sets = dict(feature_sets or {})
    for name in features:
        if name not in sets:
            sets[name] = dataset_features(dataset, name, n_jobs=n_jobs, cache=cache, progress=progress)
    common = set.intersection(*(set(sets[name].track_ids) for name in features))
    parts, kind, notes = choose_split(dataset, split, seed=seed)
    parts = {part: [t for t in tracks if t.track_id in common] for part, tracks in parts.items()}
    rows = []
    for name in features:
        feats = sets[name]
        extract_ms = (1000.0 * feats.extract_seconds / feats.n_computed) if feats.n_computed else None
        for model in models:
            result = train_model(dataset, feats, model, parts=parts, split=split, split_kind=kind,
                                 notes=notes, seed=seed)
            test = result.metrics.get("test")
            if test is None:
                raise ParameterError("the split has no test track")
            rows.append({
                "features": name, "model": model, "split": kind,
                "n_train": result.artifact.meta["training"]["n_train"], "n_test": test["n"],
                "accuracy": test["accuracy"], "balanced_accuracy": test["balanced_accuracy"],
                "macro_f1": test["macro_f1"], "ece": test["ece"],
                "train_s": result.train_seconds,
                "infer_ms_per_track": 1000.0 * (result.infer_seconds_per_track or 0.0),
                "extract_ms_per_track": extract_ms,
            })
    return rows, notes


def comparison_markdown(rows: Sequence[Mapping[str, Any]],
                        columns: Sequence[str] | None = None) -> str:
    """The comparison as a Markdown table (``columns`` default :data:`COLUMNS`)."""
    from music_reclass.evaluation.reports import markdown_table

    return markdown_table(rows, COLUMNS if columns is None else columns)


def comparison_csv(rows: Sequence[Mapping[str, Any]],
                   columns: Sequence[str] | None = None) -> str:
    """The comparison as CSV text (full precision; ``columns`` default :data:`COLUMNS`)."""
    columns = list(COLUMNS if columns is None else columns)
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: ("" if row.get(k) is None else row.get(k)) for k in columns})
    return buffer.getvalue()


def write_comparison(rows: Sequence[Mapping[str, Any]], out_dir: str | os.PathLike,
                     *, notes: Sequence[str] = (), columns: Sequence[str] | None = None,
                     title: str = "Comparison") -> dict[str, Path]:
    """Write ``comparison.md`` and ``comparison.csv`` into ``out_dir`` (``columns``
    default :data:`COLUMNS`)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    md = out / "comparison.md"
    md.write_text(f"# {title}\n\n" + "".join(f"> {n}\n" for n in notes) + ("\n" if notes else "")
                  + comparison_markdown(rows, columns) + "\n", encoding="utf-8")
    csv_path = out / "comparison.csv"
    csv_path.write_text(comparison_csv(rows, columns), encoding="utf-8")
    return {"markdown": md, "csv": csv_path}


def cross_validate(
    dataset: Any,
    feats: Any,
    model: str,
    *,
    n_splits: int = 5,
    seed: int = 0,
    params: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Grouped k-fold cross-validation of one head on one feature set.

    Folds come from :meth:`Dataset.group_kfold` (``StratifiedGroupKFold`` over
    artists: no artist in both the training and the held-out part of a fold;
    tracks of unknown artist are their own group). Classes unseen in a fold's
    training part count as errors in its held-out part.

    Returns
    -------
    dict
        ``folds`` (list of per-fold metric dicts) and ``mean``/``std`` of
        accuracy, balanced_accuracy, macro_f1 and ece.
    """
    from music_reclass.evaluation.metrics import classification_metrics
    from music_reclass.models.heads import fit_head, make_head

    folds = []
    for train, held in dataset.group_kfold(n_splits, seed=seed):
        X_train, y_train, _ = feats.rows([t.track_id for t in train])
        X_held, y_held, _ = feats.rows([t.track_id for t in held])
        if len(np.unique(y_train)) < 2 or len(y_held) == 0:
            continue
        head = fit_head(make_head(model, seed=seed, **(params or {})), X_train, y_train)
        metrics = classification_metrics(y_held, proba=head.predict_proba(X_held),
                                         classes=[str(c) for c in head.classes_])
        folds.append({k: metrics[k] for k in ("n", "accuracy", "balanced_accuracy", "macro_f1", "ece")})
    if not folds:
        raise ParameterError("no usable fold")
    keys = ("accuracy", "balanced_accuracy", "macro_f1", "ece")
    return {
        "n_splits": n_splits,
        "grouped_by": "artist",
        "folds": folds,
        "mean": {k: float(np.mean([f[k] for f in folds])) for k in keys},
        "std": {k: float(np.std([f[k] for f in folds])) for k in keys},
    }
