"""What the façade's learning jobs return (:mod:`music_reclass.library.learn`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["CompareOutcome", "DeepTrainOutcome", "EvaluateOutcome", "TrainOutcome"]


@dataclass
class TrainOutcome:
    """What :meth:`Library.train` wrote and measured."""

    model_path: Path
    sidecar_path: Path
    report_dir: Path | None
    dataset: str
    n_labelled: int
    n_classes: int
    split: str
    counts: dict[str, int]
    notes: list[str]
    test_metrics: dict[str, Any] | None
    train_seconds: float
    n_train: int
    features_stored: int  # tracks whose features came from the library's stored vectors
    features_computed: int
    feature_errors: dict[str, str] = field(default_factory=dict)
    #: how the head's probabilities were calibrated on the validation part (method, data,
    #: ECE before and after, the decision threshold), as in the sidecar's ``"trust"``;
    #: None when the split has no validation part (the model is then uncalibrated)
    calibration: dict[str, Any] | None = None


@dataclass
class DeepTrainOutcome(TrainOutcome):
    """:class:`TrainOutcome` of a deep model (``cnn``, ``musicnn-finetune``), with how the
    training went. ``feature_errors`` holds the tracks whose audio could not be used;
    ``features_stored``/``features_computed`` are 0 (deep models read the audio).

    When the run was cancelled, no model is written: ``model_path``, ``sidecar_path``
    and ``report_dir`` are None, and ``checkpoint`` holds the last finished epoch
    (train again with ``resume=True`` to continue it).
    """

    stopped: str = "completed"  # "completed" | "early-stopping" | "cancelled"
    epochs_run: int = 0
    best_epoch: int = 0
    resumed_from: int = 0
    seconds_per_epoch: float | None = None
    device: str = "cpu"
    history: list[dict[str, Any]] = field(default_factory=list)
    checkpoint: Path | None = None


@dataclass
class EvaluateOutcome:
    title: str
    notes: list[str]
    metrics: dict[str, Any]
    report_dir: Path


@dataclass
class CompareOutcome:
    """The comparison table; ``columns`` are the table's (None: the one-split
    comparison's, :data:`music_reclass.evaluation.compare.COLUMNS`)."""

    rows: list[dict[str, Any]]
    notes: list[str]
    written: dict[str, Path] | None
    columns: tuple[str, ...] | None = None
