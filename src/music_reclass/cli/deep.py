"""The deep-model branches of ``reclass train`` and ``reclass compare``.

Parsing stays in ``learn.py``; these functions call the library
(:func:`~music_reclass.evaluation.deep_training.train_deep`,
:func:`~music_reclass.evaluation.deep_compare.compare_deep`) and print.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import typer

from music_reclass.cli.output import progress_callback

__all__ = ["DEEP_MODELS", "compare_deep_command", "train_deep_command"]

DEEP_MODELS = ("cnn", "musicnn-finetune")


def _info(message: str) -> None:
    typer.echo(message, err=True)


def _epoch_line(record: dict[str, Any]) -> None:
    valid = (f", valid loss {record['valid_loss']:.3f} acc {record['valid_accuracy']:.2f}"
             if "valid_loss" in record else "")
    _info(f"epoch {record['epoch']}: train loss {record['train_loss']:.3f}{valid}, "
          f"lr {record['lr']:.2e}, batch {record['batch_size']}")


def train_deep_command(data: Any, model: str, out: Path, *, split: str, seed: int, epochs: int,
                       resume: bool, device: str, dataset_path: str) -> None:
    """Train, print the test metrics, write the model (errors propagate as ReclassError)."""
    from music_reclass.evaluation.deep_training import train_deep
    from music_reclass.evaluation.reports import metrics_text, write_report
    from music_reclass.models.artifact import sidecar_path

    with progress_callback("training", enabled=sys.stderr.isatty()) as on_progress:
        result = train_deep(data, model, out=out, epochs=epochs, resume=resume, seed=seed,
                            device=device, split=split, dataset_path=dataset_path,
                            on_progress=on_progress, on_epoch=_epoch_line)
    if result.resumed_from:
        _info(f"resumed after epoch {result.resumed_from}")
    for note in result.notes:
        _info(f"note: {note}")
    if result.errors:
        _info(f"{len(result.errors)} track(s) without audio (left out), e.g. "
              + "; ".join(f"{k}: {v}" for k, v in list(result.errors.items())[:3]))
    test = result.metrics.get("test")
    report = out.with_name(out.name + ".report")
    if test is not None:
        write_report(test, report, title=f"{out.name} on {data.name} test ({result.split_kind} split)",
                     notes=result.notes, extra={"model": str(out), "sidecar": result.meta})
        typer.echo(metrics_text(test, title=f"test ({result.split_kind} split, {test['n']} tracks)",
                                notes=result.notes))
    per_epoch = (f", {result.seconds_per_epoch:.1f} s per epoch"
                 if result.seconds_per_epoch is not None else "")
    typer.echo(f"model:   {out}\nsidecar: {sidecar_path(out)}"
               + (f"\nreport:  {report}" if test is not None else "")
               + f"\n{result.stopped} after {len(result.history)} epoch(s) on "
               f"{result.meta['training']['n_train']} tracks in {result.train_seconds:.1f} s"
               f"{per_epoch} ({result.meta['training']['device']})")


def compare_deep_command(data: Any, features: list[str], models: list[str], *, folds: int,
                         seed: int, epochs: int, device: str, jobs: int | None,
                         out: Path | None) -> None:
    """Artist-disjoint k-fold comparison of deep models and feature heads; print the table."""
    from music_reclass.evaluation.deep_compare import (
        FOLD_COLUMNS,
        compare_deep,
        write_fold_comparison,
    )
    from music_reclass.evaluation.reports import markdown_table

    with progress_callback("compare", enabled=sys.stderr.isatty()) as on_progress:
        rows, notes = compare_deep(data, [m for m in models if m in DEEP_MODELS],
                                   heads=[(f, m) for f in features for m in models
                                          if m not in DEEP_MODELS],
                                   n_folds=folds, seed=seed, epochs=epochs, device=device,
                                   n_jobs=jobs, on_progress=on_progress)
    for note in notes:
        typer.echo(f"note: {note}")
    typer.echo(markdown_table(rows, FOLD_COLUMNS))
    if out is not None:
        written = write_fold_comparison(rows, out, notes=notes)
        _info(f"saved: {written['markdown']}, {written['csv']}")
