"""Figures of evaluations and dataset analyses, drawn with matplotlib's Agg backend
(no display needed) and written as PNG files.

Every function takes the data and an output path, writes the PNG and returns the path.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from music_reclass.errors import ParameterError

__all__ = [
    "plot_class_distribution",
    "plot_confusion_matrix",
    "plot_duration_histogram",
    "plot_mel_examples",
    "plot_reliability",
]


def _pyplot():
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path: str | os.PathLike) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110, bbox_inches="tight")
    _pyplot().close(fig)
    return path


def plot_confusion_matrix(
    confusion: Sequence[Sequence[int]] | np.ndarray,
    labels: Sequence[str],
    path: str | os.PathLike,
    *,
    title: str = "Confusion matrix",
) -> Path:
    """Confusion matrix: colours normalised per true class (row recall), counts written in cells.

    Parameters
    ----------
    confusion : array [shape=(k, k)]
        Counts, rows true class, columns predicted class.
    labels : sequence of str [shape=(k,)]
    path : path-like
        PNG to write.
    title : str
    """
    plt = _pyplot()
    cm = np.asarray(confusion, dtype=float)
    if cm.ndim != 2 or cm.shape[0] != cm.shape[1] or cm.shape[0] != len(labels):
        raise ParameterError(f"confusion must be square with one row per label, got {cm.shape}")
    rows = cm.sum(axis=1, keepdims=True)
    normalised = np.divide(cm, rows, out=np.zeros_like(cm), where=rows > 0)
    size = max(4.0, 0.55 * len(labels) + 2.5)
    fig, ax = plt.subplots(figsize=(size + 1.2, size))
    image = ax.imshow(normalised, cmap="Blues", vmin=0.0, vmax=1.0)
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04, label="share of true class")
    ax.set_xticks(range(len(labels)), labels, rotation=45, ha="right")
    ax.set_yticks(range(len(labels)), labels)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title)
    for i in range(cm.shape[0]):
        for j in range(cm.shape[1]):
            if cm[i, j]:
                ax.text(j, i, f"{int(cm[i, j])}", ha="center", va="center", fontsize=8,
                        color="white" if normalised[i, j] > 0.5 else "black")
    return _save(fig, path)


def plot_reliability(
    bins: Sequence[Mapping[str, Any]],
    path: str | os.PathLike,
    *,
    ece: float | None = None,
    title: str = "Reliability diagram",
) -> Path:
    """Reliability diagram: accuracy per confidence bin vs the diagonal, with bin counts.

    Parameters
    ----------
    bins : sequence of dict
        From :func:`~music_reclass.evaluation.metrics.calibration_bins`.
    path : path-like
    ece : float, optional
        Printed in the title.
    """
    plt = _pyplot()
    if not bins:
        raise ParameterError("no calibration bins to plot")
    fig, (ax, ax_count) = plt.subplots(2, 1, figsize=(5, 6), sharex=True,
                                       gridspec_kw={"height_ratios": [3, 1]})
    lower = np.array([b["lower"] for b in bins])
    width = np.array([b["upper"] - b["lower"] for b in bins])
    accuracy = np.array([b["accuracy"] if b["count"] else 0.0 for b in bins])
    confidence = np.array([b["confidence"] if b["count"] else np.nan for b in bins])
    counts = np.array([b["count"] for b in bins])
    ax.bar(lower, accuracy, width=width, align="edge", edgecolor="black", color="tab:blue",
           alpha=0.8, label="accuracy")
    filled = counts > 0
    ax.bar(lower[filled], (confidence - accuracy)[filled], bottom=accuracy[filled],
           width=width[filled], align="edge", color="tab:red", alpha=0.3, hatch="//",
           edgecolor="tab:red", linewidth=1, label="gap to confidence")
    ax.plot([0, 1], [0, 1], "k--", linewidth=1, label="perfect calibration")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_ylabel("accuracy")
    ax.set_title(title + (f" (ECE {ece:.3f})" if ece is not None and np.isfinite(ece) else ""))
    ax.legend(loc="upper left", fontsize=8)
    ax_count.bar(lower, counts, width=width, align="edge", color="gray", edgecolor="black")
    ax_count.set_xlabel("top-1 confidence")
    ax_count.set_ylabel("tracks")
    return _save(fig, path)


def plot_class_distribution(
    counts: Mapping[str, int],
    path: str | os.PathLike,
    *,
    title: str = "Tracks per class",
) -> Path:
    """Bar chart of the number of tracks per class, largest first."""
    plt = _pyplot()
    if not counts:
        raise ParameterError("no classes to plot")
    items = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    fig, ax = plt.subplots(figsize=(max(5.0, 0.45 * len(items) + 2), 4))
    bars = ax.bar([k for k, _ in items], [v for _, v in items], color="tab:blue")
    ax.bar_label(bars, fontsize=8)
    ax.set_ylabel("tracks")
    ax.set_title(title)
    ax.tick_params(axis="x", rotation=45)
    for label in ax.get_xticklabels():
        label.set_horizontalalignment("right")
    return _save(fig, path)


def plot_duration_histogram(
    durations: Sequence[float],
    path: str | os.PathLike,
    *,
    bins: int = 30,
    title: str = "Track durations",
) -> Path:
    """Histogram of durations in seconds, with the median marked."""
    plt = _pyplot()
    values = np.asarray([d for d in durations if d is not None and np.isfinite(d)], dtype=float)
    if values.size == 0:
        raise ParameterError("no durations to plot")
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.hist(values, bins=bins, color="tab:green", edgecolor="black")
    median = float(np.median(values))
    ax.axvline(median, color="black", linestyle="--", label=f"median {median:.1f} s")
    ax.set_xlabel("duration (s)")
    ax.set_ylabel("tracks")
    ax.set_title(title)
    ax.legend()
    return _save(fig, path)


def plot_mel_examples(
    examples: Mapping[str, tuple[np.ndarray, int]],
    path: str | os.PathLike,
    *,
    n_mels: int = 96,
    title: str = "Example mel-spectrograms",
) -> Path:
    """One log-mel spectrogram per class in a grid.

    Parameters
    ----------
    examples : mapping label -> (waveform, sample_rate)
        Usually a few seconds of one track per class.
    path : path-like
    n_mels : int
    """
    import librosa
    import librosa.display

    plt = _pyplot()
    if not examples:
        raise ParameterError("no examples to plot")
    n = len(examples)
    n_cols = min(n, 4)
    n_rows = int(np.ceil(n / n_cols))
    fig, axes = plt.subplots(n_rows, n_cols, figsize=(3.4 * n_cols + 1.2, 2.8 * n_rows),
                             squeeze=False, sharey=True, layout="constrained")
    for ax in axes.flat[n:]:
        ax.axis("off")
    image = None
    for index, (ax, (label, (y, sr))) in enumerate(zip(axes.flat, examples.items(), strict=False)):
        mel = librosa.feature.melspectrogram(y=np.asarray(y, dtype=np.float32), sr=sr, n_mels=n_mels)
        db = librosa.power_to_db(mel, ref=np.max)
        # frequencies on a mel scale, labelled in Hz; time in seconds
        image = librosa.display.specshow(db, sr=sr, x_axis="time", y_axis="mel", ax=ax,
                                         cmap="magma", vmin=-80, vmax=0)
        ax.set_title(label, fontsize=10)
        ax.set_xlabel("time (s)" if index >= n - n_cols else "", fontsize=8)
        ax.set_ylabel("frequency (Hz)" if index % n_cols == 0 else "", fontsize=8)
        ax.tick_params(labelsize=7)
    if image is not None:
        fig.colorbar(image, ax=axes.ravel().tolist(), format="%+.0f dB", label="level (dB)")
    fig.suptitle(title)
    return _save(fig, path)
