"""From a dataset to a trained, evaluated model: features, split, fit, metrics, artifact.

Used by ``reclass train``, ``reclass evaluate`` and ``reclass compare``.

Honest evaluation needs artist-disjoint sets: GTZAN clips with neighbouring
numbers mostly share an artist (all blues in gtzan-dev are John Lee Hooker), and
a model tested on the artist it was trained on is rewarded for recognising the
artist, not the genre. The official GTZAN split is the fault-filtered,
artist-disjoint one; on small subsets where it leaves too few tracks,
:func:`choose_split` falls back to an artist-aware split and says so.
"""

from __future__ import annotations

import os
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from music_reclass.errors import ParameterError

__all__ = [
    "FeatureSet",
    "TrainResult",
    "artist_aware_split",
    "choose_split",
    "dataset_features",
    "evaluate_artifact",
    "subset_features",
    "train_model",
]

#: fewest tracks per class in train and in test for the official split to be used
MIN_PER_CLASS = 2


@dataclass
class FeatureSet:
    """Feature rows of a dataset's tracks.

    Attributes
    ----------
    X : np.ndarray [shape=(n, dim)]
    track_ids : list of str
        Track of each row (tracks whose features failed are absent).
    labels : np.ndarray of str
    feature : dict
        ``{"name", "version", "dim", "sample_rate"}`` (the artifact's ``feature``).
    errors : dict
        ``track_id -> "code: message"`` for tracks without features.
    extract_seconds : float
        Wall time of the extraction.
    n_computed : int
        Rows actually computed (not read from the cache, a table or the library).
    n_stored : int
        Rows read from the vectors a classify run stored in the library.
    """

    X: np.ndarray
    track_ids: list[str]
    labels: np.ndarray
    feature: dict[str, Any]
    errors: dict[str, str] = field(default_factory=dict)
    extract_seconds: float = 0.0
    n_computed: int = 0
    n_stored: int = 0

    def rows(self, track_ids: Sequence[str]) -> tuple[np.ndarray, np.ndarray, list[str]]:
        """``(X, labels, ids)`` of those tracks that have features, in the given order."""
        index = {tid: i for i, tid in enumerate(self.track_ids)}
        keep = [tid for tid in track_ids if tid in index]
        rows = np.array([index[tid] for tid in keep], dtype=int)
        if not keep:
            return np.zeros((0, self.X.shape[1]), self.X.dtype), np.zeros(0, dtype=str), []
        return self.X[rows], self.labels[rows], keep


def dataset_features(
    dataset: Any,
    features: str,
    *,
    n_jobs: int | None = None,
    cache: bool = True,
    progress: Callable[[int, int], None] | bool | None = None,
    stored: Callable[[Sequence[str]], dict[str, np.ndarray]] | None = None,
    dask_client: Any = None,
) -> FeatureSet:
    """Features of every labelled track of a dataset.

    Parameters
    ----------
    dataset : Dataset
        With audio paths, or an FMA dataset built from ``features.csv``
        (``source="features"``: then ``features`` must be ``"fma518"`` and the
        table's rows are used as they are).
    features : str
        Extractor name (``"musicnn"``, ``"fma518"``, ``"gtzan58"``).
    n_jobs : int, optional
        Worker processes for the extraction.
    cache : bool
        Use the feature cache.
    progress : callable, optional
        ``progress(done, total)`` callback of the extraction (see
        :func:`music_reclass.features.extract_many`'s ``on_progress``); ``False`` or
        None: none. This layer draws nothing itself.
    stored : callable, optional
        ``stored(paths) -> {path: feature vector}``: features already known for some
        paths (the library's stored vectors, see ``Library.train``); only the rest is
        extracted.
    dask_client : distributed.Client, optional
        Extract on this Dask cluster instead of local processes.
    """
    from music_reclass.features import extract_many, get_extractor

    extractor = get_extractor(features)
    meta = {"name": extractor.name, "version": str(extractor.version), "dim": int(extractor.dim),
            "sample_rate": extractor.sample_rate}
    tracks = dataset.labelled
    table = getattr(dataset, "features", None)
    if table is not None and all(t.path is None for t in tracks):
        return _table_features(dataset, table, features, meta)
    missing = [t.track_id for t in tracks if t.path is None]
    if missing:
        raise ParameterError(f"{len(missing)} track(s) have no audio file (e.g. {missing[0]})")
    start = time.perf_counter()
    if progress is True:
        raise ParameterError("progress must be a (done, total) callback, not True")
    paths = [os.fspath(t.path) for t in tracks]
    known = stored(paths) if stored is not None else {}
    result = extract_many([p for p in paths if p not in known], extractor, n_jobs=n_jobs,
                          cache=cache, on_progress=progress or None, dask_client=dask_client)
    seconds = time.perf_counter() - start
    rows = dict(zip(result.ok_paths, np.asarray(result.X, dtype=np.float32), strict=True))
    rows.update({p: np.asarray(v, dtype=np.float32) for p, v in known.items()})
    by_path = {os.fspath(t.path): t for t in tracks}
    ok = [by_path[p] for p in dict.fromkeys(paths) if p in rows]
    X = (np.stack([rows[os.fspath(t.path)] for t in ok]) if ok
         else np.zeros((0, int(extractor.dim)), dtype=np.float32))
    return FeatureSet(
        X=X,
        track_ids=[t.track_id for t in ok],
        labels=np.array([t.label for t in ok], dtype=str),
        feature=meta,
        errors={by_path[p].track_id: message for p, message in result.errors.items()},
        extract_seconds=seconds,
        n_computed=len(result.ok_paths) - result.n_cached,
        n_stored=len(known),
    )


def _table_features(dataset: Any, table: Any, features: str, meta: dict[str, Any]) -> FeatureSet:
    from music_reclass.datasets.fma import fma_feature_matrix
    from music_reclass.features import fma518_columns

    if features != "fma518":
        raise ParameterError(f"this FMA dataset holds FMA's features.csv (fma518), not {features!r} "
                             "features; use --features fma518 or index the audio")
    columns = fma518_columns()
    absent = [c for c in columns if c not in table.columns]
    if absent:
        raise ParameterError(f"features table lacks {len(absent)} of FMA's 518 columns, e.g. {absent[0]}")
    X, y, ids = fma_feature_matrix(dataset, table[columns], missing="skip")
    finite = np.all(np.isfinite(X), axis=1)
    errors = {tid: "bad-row: non-finite values in features.csv"
              for tid, ok in zip(ids, finite, strict=True) if not ok}
    return FeatureSet(
        X=X[finite].astype(np.float32),
        track_ids=[tid for tid, ok in zip(ids, finite, strict=True) if ok],
        labels=np.asarray(y)[finite].astype(str),
        feature={**meta, "source": "FMA features.csv"},
        errors=errors,
    )


def subset_features(result: FeatureSet, track_ids: Sequence[str]) -> FeatureSet:
    """The rows of some tracks only."""
    X, labels, ids = result.rows(track_ids)
    return FeatureSet(X, ids, labels, dict(result.feature))


# ----------------------------------------------------------------------------- splits
def artist_aware_split(
    dataset: Any, *, seed: int = 0, test_size: float = 0.25, valid_size: float = 0.0,
) -> tuple[dict[str, list], list[str]]:
    """Artist-disjoint split in which every class has training tracks.

    :meth:`Dataset.split` ``("artist")`` first; then, for each class with no
    training track, its artists' tracks move to train (whole artists, so the sets
    stay artist-disjoint). A class whose tracks all come from one artist can
    therefore not be tested honestly: it is trained on and left out of the test.

    Returns
    -------
    parts : dict
        ``{"train", "valid", "test"}`` -> tracks.
    notes : list of str
        What was moved and why.
    """
    from music_reclass.datasets.base import artist_group

    parts = dataset.split("artist", seed=seed, test_size=test_size, valid_size=valid_size)
    notes: list[str] = []
    for label in dataset.classes:
        if any(t.label == label for t in parts["train"]):
            continue
        groups = {artist_group(t) for name in ("valid", "test") for t in parts[name] if t.label == label}
        # move the smallest artist group of the class: keeps the most for testing
        sizes = Counter(artist_group(t) for name in ("valid", "test") for t in parts[name])
        chosen = min(groups, key=lambda g: (sizes[g], g))
        for name in ("valid", "test"):
            moving = [t for t in parts[name] if artist_group(t) == chosen]
            parts[name] = [t for t in parts[name] if artist_group(t) != chosen]
            parts["train"].extend(moving)
        artist = chosen.split(":", 1)[1]
        only = " (its only artist: this genre cannot be tested artist-disjointly)" if len(groups) == 1 else ""
        notes.append(f"{label}: no training track, moved artist {artist!r} to train{only}")
    return parts, notes


def choose_split(
    dataset: Any, kind: str = "official", *, seed: int = 0, min_per_class: int = MIN_PER_CLASS,
) -> tuple[dict[str, list], str, list[str]]:
    """The split to train and test on, with the reason for any fallback.

    ``"official"`` uses the dataset's own split when it leaves at least
    ``min_per_class`` tracks of every class in train and in test; otherwise (a
    small subset such as the 50-clip gtzan-dev, or a dataset without an official
    split) it falls back to :func:`artist_aware_split`.

    Returns
    -------
    parts : dict
    kind_used : str
        ``"official"``, ``"artist"`` or ``"random"``.
    notes : list of str
        Human-readable reasons and caveats (printed, and stored in the sidecar).
    """
    if kind not in ("official", "random", "artist"):
        raise ParameterError(f"unknown split {kind!r}; use official, random or artist")
    notes: list[str] = []
    if kind == "official":
        reason = None
        try:
            parts = dataset.split("official")
        except ParameterError as exc:
            reason = str(exc)
        else:
            thin = [label for label in dataset.classes
                    if min(sum(t.label == label for t in parts[s]) for s in ("train", "test")) < min_per_class]
            if thin:
                sizes = ", ".join(f"{s} {len(parts[s])}" for s in ("train", "valid", "test"))
                reason = (f"the official split leaves fewer than {min_per_class} tracks of "
                          f"{len(thin)} class(es) in train or test ({sizes})")
        if reason is None:
            return parts, "official", notes
        notes.append(f"fell back to an artist-aware split: {reason}")
        kind = "artist"
    if kind == "artist":
        parts, moved = artist_aware_split(dataset, seed=seed)
        notes += moved
        notes.append("artist-disjoint: no artist is in both train and test")
        return parts, "artist", notes
    parts = dataset.split("random", seed=seed, test_size=0.25, valid_size=0.0)
    notes.append("random split: tracks of one artist may be in train and test, "
                 "which inflates the accuracy (prefer --split artist)")
    return parts, "random", notes


# ---------------------------------------------------------------------------- training
@dataclass
class TrainResult:
    """What :func:`train_model` produced."""

    artifact: Any
    metrics: dict[str, dict[str, Any]]
    split_kind: str
    notes: list[str]
    train_seconds: float
    infer_seconds_per_track: float | None
    test_ids: list[str]
    test_proba: np.ndarray | None


def train_model(
    dataset: Any,
    feats: FeatureSet,
    model: str,
    *,
    parts: dict[str, list] | None = None,
    split: str = "official",
    split_kind: str | None = None,
    notes: Sequence[str] = (),
    seed: int = 0,
    name: str | None = None,
    dataset_path: str | None = None,
    params: dict[str, Any] | None = None,
) -> TrainResult:
    """Fit a head on the train part, evaluate it on valid and test, build the artifact.

    Parameters
    ----------
    dataset : Dataset
    feats : FeatureSet
        From :func:`dataset_features`.
    model : {"logreg", "svm", "xgboost", "mlp"}
    parts : dict, optional
        A split already chosen (``choose_split``); default ``choose_split(dataset, split)``.
    split, split_kind, notes
        How the split was made (``split_kind``/``notes`` come with ``parts``).
    seed : int
    name : str, optional
        Model name in the sidecar; default ``"<dataset>-<features>-<model>"``.
    dataset_path : str, optional
        Recorded in the sidecar.
    params : dict, optional
        Passed to :func:`~music_reclass.models.heads.make_head`.
    """
    from music_reclass.evaluation.metrics import classification_metrics
    from music_reclass.models.artifact import ModelArtifact
    from music_reclass.models.heads import fit_head, make_head

    notes = list(notes)
    if parts is None:
        parts, split_kind, notes = choose_split(dataset, split, seed=seed)
    split_kind = split_kind or split
    X_train, y_train, _ = feats.rows([t.track_id for t in parts["train"]])
    X_valid, y_valid, _ = feats.rows([t.track_id for t in parts["valid"]])
    X_test, y_test, test_ids = feats.rows([t.track_id for t in parts["test"]])
    if len(np.unique(y_train)) < 2:
        raise ParameterError(f"the training part has {len(y_train)} track(s) of "
                             f"{len(np.unique(y_train))} class(es): need at least two classes")
    head = make_head(model, seed=seed, **(params or {}))
    start = time.perf_counter()
    fit_head(head, X_train, y_train, X_valid=X_valid, y_valid=y_valid)
    train_seconds = time.perf_counter() - start

    classes = [str(c) for c in head.classes_]
    metrics: dict[str, dict[str, Any]] = {}
    test_proba = None
    infer = None
    for part, X, y in (("valid", X_valid, y_valid), ("test", X_test, y_test)):
        if len(y) == 0:
            continue
        start = time.perf_counter()
        proba = head.predict_proba(X)
        if part == "test":
            infer = (time.perf_counter() - start) / len(y)
            test_proba = proba
        metrics[part] = classification_metrics(y, proba=proba, classes=classes)

    unseen = sorted(set(y_test) - set(classes))
    if unseen:
        notes.append(f"test classes absent from training (always wrong): {', '.join(unseen)}")
    meta = {
        "name": name or f"{dataset.name}-{feats.feature['name']}-{model}",
        "model_type": model,
        "feature": feats.feature,
        "training": {
            "dataset": dataset.name,
            "dataset_path": dataset_path,
            "split": split_kind,
            "split_requested": split,
            "split_notes": notes,
            "n_train": len(y_train),
            "n_valid": len(y_valid),
            "n_test": len(y_test),
            "n_without_features": len(feats.errors),
            "seed": seed,
            "class_counts": {part: dict(sorted(Counter(map(str, y)).items()))
                             for part, y in (("train", y_train), ("valid", y_valid), ("test", y_test))},
            "params": params or {},
            "train_seconds": round(train_seconds, 4),
        },
        "metrics": {part: {k: m[k] for k in ("n", "accuracy", "balanced_accuracy", "macro_f1", "ece")}
                    for part, m in metrics.items()},
    }
    return TrainResult(ModelArtifact(head, meta), metrics, split_kind, notes, train_seconds,
                       infer, test_ids, test_proba)


def evaluate_artifact(artifact: Any, feats: FeatureSet, track_ids: Sequence[str]) -> dict[str, Any]:
    """Metrics of a loaded model on some tracks (features must be the model's)."""
    from music_reclass.evaluation.metrics import classification_metrics

    artifact.check_features(feats.feature["name"], feats.feature["version"], feats.feature["dim"])
    X, y, _ = feats.rows(track_ids)
    if len(y) == 0:
        raise ParameterError("no track to evaluate on")
    proba = artifact.predict_proba(X, feature=(feats.feature["name"], feats.feature["version"]))
    return classification_metrics(y, proba=proba, classes=artifact.classes)
