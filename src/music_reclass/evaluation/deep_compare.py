"""Deep models and feature heads compared on the same artist-disjoint folds.

Every model (``cnn``, ``musicnn-finetune``, and each ``(features, head)`` pair) is
trained and tested on the folds of :meth:`Dataset.group_kfold` (no artist in both the
training and the held-out part of a fold). A class all of whose tracks come from one
artist has no training track in the fold that holds that artist out: its tracks are
then always wrong. ``accuracy_seen`` is the accuracy on held-out tracks whose class
was trained on, so the two effects can be told apart.
"""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from music_reclass.errors import ParameterError

__all__ = ["FOLD_COLUMNS", "compare_deep", "write_fold_comparison"]

FOLD_COLUMNS = ("model", "features", "folds", "n_tracks", "accuracy", "accuracy_std",
                "accuracy_seen", "balanced_accuracy", "macro_f1", "ece", "train_s_per_fold",
                "s_per_epoch", "epochs_mean")
_KEYS = ("accuracy", "balanced_accuracy", "macro_f1", "ece")


def _seen_accuracy(labels: Sequence[str], proba: np.ndarray, classes: Sequence[str]) -> tuple[int, int]:
    seen = [i for i, label in enumerate(labels) if label in set(classes)]
    correct = sum(classes[int(np.argmax(proba[i]))] == labels[i] for i in seen)
    return int(correct), len(seen)


def _row(model: str, features: str, folds: list[dict[str, Any]], extra: dict[str, Any]) -> dict[str, Any]:
    weights = np.array([f["n"] for f in folds], dtype=float)
    row: dict[str, Any] = {"model": model, "features": features, "folds": len(folds),
                           "n_tracks": int(weights.sum())}
    for key in _KEYS:  # pooled over folds: each held-out track counts once
        row[key] = float(np.average([f[key] for f in folds], weights=weights))
    row["accuracy_std"] = float(np.std([f["accuracy"] for f in folds]))
    seen = sum(f["seen"] for f in folds)
    row["accuracy_seen"] = sum(f["seen_correct"] for f in folds) / seen if seen else None
    row.update(extra)
    return row


def _fold_metrics(labels: Sequence[str], proba: np.ndarray, classes: Sequence[str]) -> dict[str, Any]:
    from music_reclass.evaluation.metrics import classification_metrics

    metrics = classification_metrics(np.asarray(labels), proba=proba, classes=list(classes))
    correct, seen = _seen_accuracy(labels, proba, classes)
    return {**{k: metrics[k] for k in ("n", *_KEYS)}, "seen": seen, "seen_correct": correct}


def compare_deep(
    dataset: Any,
    models: Sequence[str] = ("cnn", "musicnn-finetune"),
    *,
    heads: Sequence[tuple[str, str]] = (("musicnn", "logreg"),),
    n_folds: int = 5,
    seed: int = 0,
    epochs: int = 30,
    device: str = "auto",
    params: Mapping[str, Mapping[str, Any]] | None = None,
    n_jobs: int | None = None,
    cache: bool = True,
    feature_sets: Mapping[str, Any] | None = None,
    on_progress: Callable[[int, int], None] | None = None,
    cancel: Callable[[], bool] | None = None,
) -> tuple[list[dict[str, Any]], list[str]]:
    """Cross-validate deep models and feature heads on the same artist-disjoint folds.

    Parameters
    ----------
    models : sequence of {"cnn", "musicnn-finetune"}
    heads : sequence of (features, head)
        E.g. ``("musicnn", "logreg")``; features are extracted once (cached).
    n_folds : int
        Folds of :meth:`Dataset.group_kfold` (at most the number of artists).
    params : mapping, optional
        ``{model: {TrainConfig field: value}}`` for the deep models.
    feature_sets : mapping, optional
        Precomputed :class:`FeatureSet` by extractor name (e.g. the library's stored
        vectors); the others are extracted here.
    on_progress : callable, optional
        ``on_progress(done, total)``, one unit per (model, fold).
    cancel : callable, optional
        Stops between folds (and inside a deep model's training); the rows of the
        models completed so far are returned.

    Returns
    -------
    rows : list of dict
        One per model, keys :data:`FOLD_COLUMNS`; metrics pooled over all held-out tracks.
    notes : list of str
    """
    from music_reclass.evaluation.deep_training import decode_tracks, train_deep
    from music_reclass.evaluation.training import dataset_features
    from music_reclass.models.heads import fit_head, make_head

    if not models and not heads:
        raise ParameterError("give at least one deep model or (features, head) pair")
    folds = list(dataset.group_kfold(n_folds, seed=seed))
    total = len(folds) * (len(models) + len(heads))
    done = 0
    notes = [f"{n_folds} artist-disjoint folds (grouped by artist; tracks without an artist "
             "are their own group); metrics pooled over every held-out track"]
    single = sorted({t.label for t in dataset.labelled} - _multi_artist_classes(dataset))
    if single:
        notes.append(f"single-artist classes ({', '.join(single)}) have no training track in the "
                     "fold holding their artist out: those tracks are always wrong; see accuracy_seen")
    rows: list[dict[str, Any]] = []
    waves: dict[str, np.ndarray] = {}
    if models:
        waves, errors = decode_tracks(dataset.labelled, cancel=cancel)
        if errors:
            notes.append(f"{len(errors)} track(s) without audio left out of the deep models")
    with tempfile.TemporaryDirectory(prefix="reclass-compare-") as scratch:
        for model in models:
            per_fold, seconds, epochs_run, per_epoch = [], 0.0, [], []
            for k, (train, held) in enumerate(folds):
                if cancel is not None and cancel():
                    return rows, notes + ["cancelled"]
                result = train_deep(dataset, model, out=Path(scratch) / f"{model}-{k}.safetensors",
                                    epochs=epochs, seed=seed, device=device,
                                    parts={"train": train, "valid": [], "test": held},
                                    split_kind="artist-fold", params=dict((params or {}).get(model, {})),
                                    waves=waves, cancel=cancel)
                if result.stopped == "cancelled":
                    return rows, notes + ["cancelled"]
                labels = [dataset[tid].label for tid in result.test_ids]
                per_fold.append(_fold_metrics(labels, result.test_proba, result.meta["classes"]))
                seconds += result.train_seconds
                epochs_run.append(len(result.history))
                if result.seconds_per_epoch:
                    per_epoch.append(result.seconds_per_epoch)
                done += 1
                if on_progress is not None:
                    on_progress(done, total)
            rows.append(_row(model, "log-mel", per_fold, {
                "train_s_per_fold": seconds / len(folds),
                "s_per_epoch": float(np.mean(per_epoch)) if per_epoch else None,
                "epochs_mean": float(np.mean(epochs_run))}))
    for features, head in heads:
        feats = (feature_sets or {}).get(features)
        if feats is None:
            feats = dataset_features(dataset, features, n_jobs=n_jobs, cache=cache)
        per_fold, seconds = [], 0.0
        for train, held in folds:
            if cancel is not None and cancel():
                return rows, notes + ["cancelled"]
            X_train, y_train, _ = feats.rows([t.track_id for t in train])
            X_held, y_held, _ = feats.rows([t.track_id for t in held])
            start = time.perf_counter()
            fitted = fit_head(make_head(head, seed=seed), X_train, y_train)
            seconds += time.perf_counter() - start
            classes = [str(c) for c in fitted.classes_]
            per_fold.append(_fold_metrics(list(y_held), fitted.predict_proba(X_held), classes))
            done += 1
            if on_progress is not None:
                on_progress(done, total)
        rows.append(_row(head, features, per_fold, {"train_s_per_fold": seconds / len(folds),
                                                    "s_per_epoch": None, "epochs_mean": None}))
    return rows, notes


def _multi_artist_classes(dataset: Any) -> set[str]:
    from music_reclass.datasets.base import artist_group

    groups: dict[str, set[str]] = {}
    for track in dataset.labelled:
        groups.setdefault(track.label, set()).add(artist_group(track))
    return {label for label, g in groups.items() if len(g) > 1}


def write_fold_comparison(rows: Sequence[Mapping[str, Any]], out_dir: str | os.PathLike,
                          *, notes: Sequence[str] = ()) -> dict[str, Path]:
    """Write ``comparison.md`` and ``comparison.csv`` (fold columns) into ``out_dir``."""
    from music_reclass.evaluation.compare import write_comparison

    return write_comparison(rows, out_dir, notes=notes, columns=FOLD_COLUMNS,
                            title="Comparison (artist-disjoint folds)")
