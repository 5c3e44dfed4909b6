"""Evaluation: metrics, reports, plots, comparisons, dataset analysis and the
training orchestration behind ``reclass train/evaluate/compare/analyze``.

>>> from music_reclass.evaluation.metrics import classification_metrics
>>> from music_reclass.evaluation.reports import write_report
>>> from music_reclass.evaluation.training import choose_split, dataset_features, train_model
>>> from music_reclass.evaluation.compare import compare_models, cross_validate
>>> from music_reclass.evaluation.analysis import analyze_dataset
"""

from music_reclass.evaluation.metrics import (
    calibration_bins,
    classification_metrics,
    expected_calibration_error,
)

__all__ = ["calibration_bins", "classification_metrics", "expected_calibration_error"]
