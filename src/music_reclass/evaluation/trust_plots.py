"""Figures of the trust benchmark: reliability before/after calibration, precision against
coverage. Matplotlib's Agg backend, PNG files; each function returns the path written."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from music_reclass.errors import ParameterError

__all__ = ["plot_precision_coverage", "plot_reliability_panels"]


def _pyplot():
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def plot_reliability_panels(
    panels: Mapping[str, Sequence[Mapping[str, Any]]],
    path: str | os.PathLike,
    *,
    ece: Mapping[str, float] | None = None,
    title: str = "Reliability",
) -> Path:
    """One reliability diagram per panel (e.g. "before" and "after" calibration), side by side.

    Parameters
    ----------
    panels : mapping of str to bins
        Bins from :func:`~music_reclass.evaluation.metrics.calibration_bins`.
    path : path-like
    ece : mapping, optional
        ECE per panel, shown in its title.
    """
    if not panels:
        raise ParameterError("no reliability panels to plot")
    plt = _pyplot()
    fig, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 4.2), squeeze=False)
    for ax, (name, bins) in zip(axes[0], panels.items(), strict=True):
        lower = np.array([b["lower"] for b in bins])
        width = np.array([b["upper"] - b["lower"] for b in bins])
        counts = np.array([b["count"] for b in bins])
        accuracy = np.array([b["accuracy"] if b["count"] else 0.0 for b in bins])
        confidence = np.array([b["confidence"] if b["count"] else np.nan for b in bins])
        ax.bar(lower, accuracy, width=width, align="edge", edgecolor="black", color="tab:blue",
               alpha=0.8, label="accuracy")
        filled = counts > 0
        ax.bar(lower[filled], (confidence - accuracy)[filled], bottom=accuracy[filled],
               width=width[filled], align="edge", color="tab:red", alpha=0.3, hatch="//",
               label="gap to confidence")
        for x, w, n in zip(lower[filled], width[filled], counts[filled], strict=True):
            ax.text(x + w / 2, 0.02, str(int(n)), ha="center", fontsize=7)
        ax.plot([0, 1], [0, 1], "k--", linewidth=1)
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1)
        ax.set_xlabel("top-1 confidence (tracks per bin at the bottom)")
        value = (ece or {}).get(name)
        ax.set_title(name + (f" (ECE {value:.3f})" if value is not None else ""), fontsize=10)
    axes[0][0].set_ylabel("accuracy")
    axes[0][0].legend(loc="upper left", fontsize=8)
    fig.suptitle(title, fontsize=11)
    return _save(fig, path, plt)


def plot_precision_coverage(
    curves: Mapping[str, tuple[Sequence[float], Sequence[float]]],
    path: str | os.PathLike,
    *,
    points: Mapping[str, tuple[float, float]] | None = None,
    target: tuple[float, float] | None = None,
    title: str = "Precision against coverage",
) -> Path:
    """Precision of the decided tracks against the share decided, one curve per model.

    Parameters
    ----------
    curves : mapping of str to (coverage, precision)
        From :func:`~music_reclass.trust.policy.precision_coverage_curve`.
    points : mapping of str to (coverage, precision), optional
        Operating points (what the decision policy does), drawn as markers.
    target : (coverage, precision), optional
        The target corner, drawn as dotted lines.
    """
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(5.5, 4.2))
    for name, (coverage, precision) in curves.items():
        ax.step(coverage, precision, where="post", label=name)
    for name, (coverage, precision) in (points or {}).items():
        ax.plot([coverage], [precision], marker="o", markersize=7, linestyle="none", label=name)
    if target is not None:
        ax.axvline(target[0], color="gray", linestyle=":", linewidth=1)
        ax.axhline(target[1], color="gray", linestyle=":", linewidth=1)
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.02)
    ax.set_xlabel("coverage (share of tracks decided)")
    ax.set_ylabel("precision of the decided genre")
    ax.set_title(title, fontsize=10)
    ax.legend(loc="lower left", fontsize=7)
    return _save(fig, path, plt)


def _save(fig: Any, path: str | os.PathLike, plt: Any) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100, bbox_inches="tight")
    plt.close(fig)
    return path
