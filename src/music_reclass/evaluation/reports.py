"""Evaluation reports: plain text for the terminal, Markdown and JSON for files,
and :func:`write_report` that writes them with the figures into a folder."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

__all__ = [
    "confusion_text",
    "markdown_table",
    "metrics_markdown",
    "metrics_text",
    "write_report",
]


def _fmt(value: Any, digits: int = 3) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def confusion_text(confusion: Sequence[Sequence[int]], labels: Sequence[str], *,
                   max_width: int = 80) -> str:
    """The confusion matrix as aligned text (rows true, columns predicted), names cut
    so that it fits ``max_width`` columns where it can (10 genres fit 80; counts are
    never cut, so large ones widen it)."""
    n = max(len(labels), 1)
    width = min(max([len(label) for label in labels] + [4]), 12) + 1
    fits = (max_width - width) // n - 1  # letters a column heading can have
    short = [label[:max(3, min(7, fits))] for label in labels]
    digits = max((len(str(int(v))) for row in confusion for v in row), default=1)
    cell = max([len(s) for s in short] + [3, digits]) + 1  # counts never run together
    lines = ["rows: true genre; columns: predicted",
             " " * width + "".join(f"{s:>{cell}}" for s in short)]
    for label, row in zip(labels, confusion, strict=True):
        lines.append(f"{label[:width - 1]:<{width}}"
                     + "".join(f"{int(v) if v else '.':>{cell}}" for v in row))
    return "\n".join(lines)


def markdown_table(rows: Sequence[Mapping[str, Any]], columns: Sequence[str] | None = None) -> str:
    """A Markdown table of dict rows (floats with 3 decimals)."""
    if not rows:
        return "(no rows)"
    columns = list(columns or rows[0].keys())
    lines = ["| " + " | ".join(columns) + " |", "|" + "|".join("---" for _ in columns) + "|"]
    for row in rows:
        lines.append("| " + " | ".join(_fmt(row.get(c)) for c in columns) + " |")
    return "\n".join(lines)


def _summary_rows(metrics: Mapping[str, Any]) -> list[tuple[str, str]]:
    rows = [("tracks", _fmt(metrics["n"])), ("accuracy", _fmt(metrics["accuracy"])),
            ("balanced accuracy", _fmt(metrics["balanced_accuracy"])),
            ("macro F1", _fmt(metrics["macro_f1"]))]
    if "ece" in metrics:
        rows += [("ECE", _fmt(metrics["ece"])), ("mean confidence", _fmt(metrics["mean_confidence"]))]
    return rows


def _per_class_rows(metrics: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Classes that occur in the evaluation (as truth or prediction); a model's other
    classes would only add rows of zeros."""
    predicted = [sum(column) for column in zip(*metrics["confusion"], strict=True)]
    return [{"class": label, **scores}
            for (label, scores), n_predicted in zip(metrics["per_class"].items(), predicted, strict=True)
            if scores["support"] or n_predicted]


def metrics_text(metrics: Mapping[str, Any], *, title: str | None = None,
                 notes: Sequence[str] = ()) -> str:
    """A terminal report: summary, per-class table, confusion matrix."""
    lines = [title, "=" * len(title)] if title else []
    lines += [f"note: {note}" for note in notes]
    lines += [f"{name:<18} {value}" for name, value in _summary_rows(metrics)]
    lines.append("")
    lines.append(f"{'class':<14}{'precision':>10}{'recall':>8}{'f1':>8}{'support':>9}")
    for row in _per_class_rows(metrics):
        lines.append(f"{row['class']:<14}{row['precision']:>10.3f}{row['recall']:>8.3f}"
                     f"{row['f1']:>8.3f}{row['support']:>9d}")
    lines += ["", confusion_text(metrics["confusion"], metrics["labels"])]
    return "\n".join(lines)


def metrics_markdown(metrics: Mapping[str, Any], *, title: str = "Evaluation",
                     notes: Sequence[str] = (), figures: Mapping[str, str] | None = None) -> str:
    """A Markdown report: summary, notes, per-class table, confusion matrix, figures."""
    parts = [f"# {title}", ""]
    parts += [f"> {note}" for note in notes]
    if notes:
        parts.append("")
    parts += ["| metric | value |", "|---|---|"]
    parts += [f"| {name} | {value} |" for name, value in _summary_rows(metrics)]
    parts += ["", "## Per class", "", markdown_table(
        _per_class_rows(metrics), ["class", "precision", "recall", "f1", "support"])]
    parts += ["", "## Confusion matrix (rows: true, columns: predicted)", "", "```",
              confusion_text(metrics["confusion"], metrics["labels"]), "```"]
    for caption, file in (figures or {}).items():
        parts += ["", f"![{caption}]({file})"]
    return "\n".join(parts) + "\n"


def write_report(
    metrics: Mapping[str, Any],
    out_dir: str | os.PathLike,
    *,
    title: str = "Evaluation",
    notes: Sequence[str] = (),
    extra: Mapping[str, Any] | None = None,
) -> dict[str, Path]:
    """Write ``metrics.json``, ``report.md``, ``report.txt``, ``confusion.png`` and
    (when the metrics have calibration bins) ``reliability.png`` into ``out_dir``.

    Parameters
    ----------
    metrics : dict
        From :func:`~music_reclass.evaluation.metrics.classification_metrics`.
    out_dir : path-like
        Created if needed.
    title : str
    notes : sequence of str
        Caveats printed at the top (split used, artist overlap...).
    extra : dict, optional
        Added to ``metrics.json`` under ``"context"``.

    Returns
    -------
    dict
        ``{"json", "markdown", "text", "confusion", "reliability"?}`` -> path.
    """
    from music_reclass.evaluation.plots import plot_confusion_matrix, plot_reliability

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written: dict[str, Path] = {}
    written["confusion"] = plot_confusion_matrix(metrics["confusion"], metrics["labels"],
                                                 out / "confusion.png", title=title)
    figures = {"confusion matrix": "confusion.png"}
    if metrics.get("calibration"):
        written["reliability"] = plot_reliability(metrics["calibration"], out / "reliability.png",
                                                  ece=metrics.get("ece"))
        figures["reliability diagram"] = "reliability.png"
    payload = {"title": title, "notes": list(notes), **metrics, "context": dict(extra or {})}
    written["json"] = out / "metrics.json"
    written["json"].write_text(json.dumps(payload, indent=2, default=str) + "\n", encoding="utf-8")
    written["markdown"] = out / "report.md"
    written["markdown"].write_text(metrics_markdown(metrics, title=title, notes=notes, figures=figures),
                                   encoding="utf-8")
    written["text"] = out / "report.txt"
    written["text"].write_text(metrics_text(metrics, title=title, notes=notes) + "\n", encoding="utf-8")
    return written
