"""The cascade's spectral stage: a logistic head over the 53 cheap Kaggle GTZAN features.

Fitted honestly on the published table (:func:`~.gtzan_data.spectral_head_data`):
trained on the fault-filtered *train* split, its regularisation chosen and its
calibration (temperature scaling) and out-of-vocabulary threshold fitted on the
*valid* split, and its figures measured on the *test* split; the three splits share
no artist, and no row is by an artist of gtzan-dev.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from music_reclass.models.linear import LinearHead
from music_reclass.trust.calibration import (
    Calibration,
    fit_calibration,
    log_scores,
    top_label_ece,
)
from music_reclass.trust.gtzan_data import SpectralTable
from music_reclass.trust.vocabulary import PrototypeOOV, retention_threshold

__all__ = ["SpectralHead", "fit_spectral_head"]

C_GRID = (0.01, 0.03, 0.1, 0.3, 1.0)


@dataclass(frozen=True)
class SpectralHead:
    """The fitted head with its calibration, OOV detector and measured figures."""

    head: LinearHead
    calibration: Calibration
    prototype: PrototypeOOV
    oov_threshold: float
    metrics: dict[str, Any]


def fit_spectral_head(table: SpectralTable, *, oov_retention: float = 0.99,
                      seed: int = 0) -> SpectralHead:
    """Train, choose C, calibrate and measure the head (see the module docstring)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import log_loss
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from music_reclass.features.gtzan_spectral import GTZAN53_COLUMNS, GTZANSpectralExtractor

    X, y = table.X, table.y
    best = None
    for c in C_GRID:  # chosen on the valid split, never on test
        model = make_pipeline(StandardScaler(), LogisticRegression(C=c, max_iter=5000,
                                                                   random_state=seed))
        model.fit(X["train"], y["train"])
        loss = log_loss(y["valid"], model.predict_proba(X["valid"]), labels=model.classes_)
        if best is None or loss < best[0]:
            best = (loss, c, model)
    _, chosen_c, model = best
    classes = [str(c) for c in model.classes_]
    extractor = GTZANSpectralExtractor()
    feature = {"name": extractor.name, "version": extractor.version,
               "columns": list(GTZAN53_COLUMNS)}
    split_note = ("Kaggle GTZAN table (features_30_sec.csv), fault-filtered split, rows by "
                  "gtzan-dev artists removed")
    calibration = fit_calibration(
        log_scores(model.predict_proba(X["valid"])), list(y["valid"]), classes,
        objective="nll", fitted_on={"data": split_note, "split": "valid"})
    prototype = PrototypeOOV.from_training("features.gtzan53", X["train"], y["train"], classes)
    threshold = retention_threshold(prototype.distances(X["valid"]), oov_retention)
    metrics = _test_metrics(model, calibration, prototype, threshold, X["test"], y["test"],
                            classes)
    metrics.update({"C": chosen_c, "oov_retention": oov_retention,
                    "n": {part: int(len(y[part])) for part in ("train", "valid", "test")}})
    head = LinearHead.from_pipeline(model, feature, {
        "model": "StandardScaler + LogisticRegression (multinomial, L2)",
        "training": {"data": split_note, "split": "train", "C_chosen_on": "valid log loss",
                     "n_train": int(len(y["train"])), "rows_dropped": table.dropped},
        "metrics": metrics})
    return SpectralHead(head, calibration, prototype, threshold, metrics)


def _test_metrics(model: Any, calibration: Calibration, prototype: PrototypeOOV,
                  threshold: float, X: np.ndarray, y: np.ndarray, classes: list[str]
                  ) -> dict[str, Any]:
    raw = model.predict_proba(X)
    calibrated = calibration.apply(log_scores(raw))
    index = np.array([classes.index(label) for label in y])
    return {"test": {
        "n": int(len(y)),
        "accuracy": float((raw.argmax(axis=1) == index).mean()),
        "ece_before": top_label_ece(raw, index),
        "ece_after": top_label_ece(calibrated, index),
        "oov_flagged_share": float((prototype.distances(X) > threshold).mean()),
    }}
