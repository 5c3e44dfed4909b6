"""The façade's deep-model jobs: training ``cnn`` / ``musicnn-finetune`` and comparing
models on artist-disjoint folds.

:meth:`Library.train <music_reclass.library.learn.LearnMixin.train>` and
:meth:`Library.compare <music_reclass.library.learn.LearnMixin.compare>` call these
when a deep model is asked for (or, for compare, folds): front ends never call them
directly. Training reads log-mel patches of the audio (no feature extractor, no stored
vectors); the head rows of a fold comparison still read the library's stored vectors.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from music_reclass.errors import ParameterError
from music_reclass.library.learn_outcomes import CompareOutcome, DeepTrainOutcome
from music_reclass.models.deep import DEEP_MODELS

__all__ = ["DEEP_MODELS", "compare_folds", "train_deep_model"]


def train_deep_model(
    data: Any,
    dataset_path: str | os.PathLike,
    *,
    out: Path,
    model: str,
    split: str,
    seed: int,
    epochs: int | None,
    resume: bool,
    device: str,
    params: Mapping[str, Any] | None = None,
    architecture: Mapping[str, Any] | None = None,
    on_progress: Callable[[int, int], None] | None = None,
    on_epoch: Callable[[dict[str, Any]], None] | None = None,
    on_info: Callable[[str], None] | None = None,
    cancel: Callable[[], bool] | None = None,
) -> DeepTrainOutcome:
    """Train a deep model on a loaded dataset; write the model, its sidecar and a report.

    See :func:`~music_reclass.evaluation.deep_training.train_deep` (which this wraps)
    for the split, the validation part, checkpoints and ``resume``.
    """
    from music_reclass.evaluation.deep_training import train_deep
    from music_reclass.evaluation.reports import write_report
    from music_reclass.evaluation.training import choose_split
    from music_reclass.models.artifact import sidecar_path
    from music_reclass.models.deep.checkpoint import checkpoint_dir

    info = on_info or (lambda message: None)
    parts, kind, notes = choose_split(data, split, seed=seed)
    info(f"{data.name}: {len(data.labelled)} labelled tracks, {len(data.classes)} classes; "
         f"split {kind} (" + ", ".join(f"{k} {len(v)}" for k, v in parts.items()) + ")")
    result = train_deep(data, model, out=out, resume=resume, seed=seed, device=device,
                        split=split, parts=parts, split_kind=kind, notes=notes,
                        params=dict(params or {}), architecture=dict(architecture or {}),
                        dataset_path=str(Path(dataset_path).resolve()),
                        on_progress=on_progress, on_epoch=on_epoch, cancel=cancel,
                        **({} if epochs is None else {"epochs": epochs}))
    training = result.meta.get("training", {})
    test = result.metrics.get("test")
    report = None
    if result.path is not None and test is not None:
        report = out.with_name(out.name + ".report")
        write_report(test, report, title=f"{out.name} on {data.name} test ({result.split_kind} split)",
                     notes=result.notes, extra={"model": str(out), "sidecar": result.meta})
    written = result.path is not None
    return DeepTrainOutcome(
        model_path=out if written else None, sidecar_path=sidecar_path(out) if written else None,
        report_dir=report, dataset=data.name, n_labelled=len(data.labelled),
        n_classes=len(data.classes), split=result.split_kind,
        counts={"train": int(training.get("n_train", 0)), "valid": int(training.get("n_valid", 0)),
                "test": int(training.get("n_test", 0))},
        notes=list(result.notes), test_metrics=test, train_seconds=result.train_seconds,
        n_train=int(training.get("n_train", 0)), features_stored=0, features_computed=0,
        feature_errors=dict(result.errors), stopped=result.stopped,
        epochs_run=len(result.history), best_epoch=int(training.get("best_epoch", 0)),
        resumed_from=result.resumed_from, seconds_per_epoch=result.seconds_per_epoch,
        device=str(training.get("device", device)), history=list(result.history),
        checkpoint=None if written else checkpoint_dir(out),
    )


def compare_folds(
    data: Any,
    *,
    features: Sequence[str],
    models: Sequence[str],
    folds: int,
    seed: int,
    epochs: int | None,
    device: str,
    jobs: int | None,
    out: str | os.PathLike | None,
    feature_sets: Callable[[str], Any] | None = None,
    on_progress: Callable[[int, int], None] | None = None,
    cancel: Callable[[], bool] | None = None,
) -> CompareOutcome:
    """Deep models and every (features x head) pair on the same artist-disjoint folds.

    ``feature_sets(name)`` gives a head's :class:`FeatureSet` (the library's stored
    vectors first); the table's columns are
    :data:`~music_reclass.evaluation.deep_compare.FOLD_COLUMNS`.
    """
    from music_reclass.evaluation.deep_compare import (
        FOLD_COLUMNS,
        compare_deep,
        write_fold_comparison,
    )
    from music_reclass.models.heads import HEADS

    unknown = [m for m in models if m not in DEEP_MODELS and m not in HEADS]
    if unknown:
        raise ParameterError(f"unknown model(s) {', '.join(map(repr, unknown))}; use "
                             f"{', '.join((*HEADS, *DEEP_MODELS))}")
    if folds < 2:
        raise ParameterError(f"--folds must be at least 2, got {folds}")
    deep = [m for m in models if m in DEEP_MODELS]
    heads = [(f, m) for f in features for m in models if m in HEADS]
    sets = ({f: feature_sets(f) for f in dict.fromkeys(f for f, _ in heads)}
            if feature_sets is not None and getattr(data, "features", None) is None else None)
    rows, notes = compare_deep(data, deep, heads=heads, n_folds=folds, seed=seed,
                               device=device, n_jobs=jobs, feature_sets=sets,
                               on_progress=on_progress, cancel=cancel,
                               **({} if epochs is None else {"epochs": epochs}))
    written = write_fold_comparison(rows, out, notes=notes) if out is not None else None
    return CompareOutcome(rows, notes, written, columns=FOLD_COLUMNS)
