"""``reclass train``, ``evaluate``, ``compare`` and ``analyze``: genre models from datasets.

Thin over :class:`~music_reclass.Library`'s learning jobs. With ``--db`` (or the default
library), tracks that library already classified take their features from the vectors
it stored. Exit status: 0 done, 2 usage error (bad option, unreadable dataset, model
that does not fit the features).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import typer

from music_reclass.cli.app import app
from music_reclass.cli.common import DB_HELP, echo, fail, handled, open_library
from music_reclass.cli.output import comparison_table, progress_callback, stdout_console
from music_reclass.library import DEEP_MODELS, DeepTrainOutcome

_DATASET_HELP = "Dataset kind and location, two words: gtzan DIR | fma DIR | library DIR | manifest CSV."
_DB_HELP = DB_HELP + " Features of tracks it classified are read from it."


def _info(message: str) -> None:
    echo(message, err=True)


def _features_progress():
    """The feature-extraction progress bar on stderr, when it is a terminal."""
    return progress_callback("features", enabled=sys.stderr.isatty())


def _epoch_line(record: dict[str, Any]) -> None:
    """One line per epoch of a deep model's training, on stderr."""
    valid = (f", valid loss {record['valid_loss']:.3f} acc {record['valid_accuracy']:.2f}"
             if "valid_loss" in record else "")
    _info(f"epoch {record['epoch']}: train loss {record['train_loss']:.3f}{valid}, "
          f"lr {record['lr']:.2e}, batch {record['batch_size']}")


def _dataset(dataset: tuple[str, Path]) -> tuple[str, Path]:
    kind, path = dataset
    if str(path).startswith("--"):  # `--dataset gtzan --out x` took --out as the folder
        raise fail(f"--dataset takes two words, a kind and a location: --dataset {kind} FOLDER")
    return kind, path


@app.command("train")
def train_command(
    dataset: tuple[str, Path] = typer.Option(..., "--dataset", help=_DATASET_HELP),
    features: str = typer.Option("musicnn", "--features", help="musicnn | fma518 | gtzan58."),
    model: str = typer.Option(
        "logreg", "--model", help="logreg | svm | xgboost | mlp (heads on --features) | "
        "cnn | musicnn-finetune (deep models on log-mel patches)."),
    out: Path = typer.Option(..., "--out", help="Model file to write (its sidecar is OUT.json)."),
    split: str = typer.Option("official", "--split", help="official | random | artist."),
    seed: int = typer.Option(0, "--seed", help="Random seed (split and model)."),
    fma_features: Path | None = typer.Option(
        None, "--fma-features", help="FMA's features.csv: train on its rows instead of audio."),
    fma_subset: str = typer.Option("small", "--fma-subset", help="FMA subset: small | medium | large."),
    jobs: int | None = typer.Option(None, "--jobs", min=0, help="Feature-extraction processes."),
    no_cache: bool = typer.Option(False, "--no-cache", help="Do not use the feature cache."),
    db: Path | None = typer.Option(None, "--db", help=_DB_HELP),
    dask: str | None = typer.Option(
        None, "--dask", help="Extract features on a Dask cluster: local:N or tcp://host:8786."),
    epochs: int | None = typer.Option(
        None, "--epochs", min=1, help="Deep models: most epochs (default 30; early stopping)."),
    resume: bool = typer.Option(
        False, "--resume", help="Deep models: continue the interrupted run (checkpoint OUT.ckpt/)."),
    device: str = typer.Option("auto", "--device", help="Deep models: auto | cuda | mps | cpu."),
) -> None:
    """Train a genre model on a dataset; write the model, its sidecar and a report folder.

    The model is fitted on the train part (the valid part drives early stopping for
    mlp/xgboost and the deep models; for these it is carved from the train part by
    artist when the split has none) and evaluated on the test part. With --split
    official on a subset too small for the official split (e.g. 50 GTZAN clips), an
    artist-aware split is used instead, and the output and sidecar say so. A deep model
    writes a checkpoint after every epoch: after an interruption, the same command with
    --resume continues it.
    """
    from music_reclass.evaluation.reports import metrics_text

    library = open_library(db)
    with handled(), progress_callback("training" if model in DEEP_MODELS else "features",
                                      enabled=sys.stderr.isatty()) as on_progress:
        outcome = library.train(_dataset(dataset), out=out, features=features, model=model,
                                split=split, seed=seed, fma_features=fma_features,
                                fma_subset=fma_subset, jobs=jobs, cache=not no_cache,
                                on_progress=on_progress, on_info=_info, dask=dask,
                                epochs=epochs, resume=resume, device=device, on_epoch=_epoch_line)
    if isinstance(outcome, DeepTrainOutcome) and outcome.resumed_from:
        _info(f"resumed after epoch {outcome.resumed_from}")
    for note in outcome.notes:
        _info(f"note: {note}")
    if outcome.features_stored:
        _info(f"features of {outcome.features_stored} track(s) read from the library "
              f"{library.path} (computed: {outcome.features_computed})")
    if outcome.feature_errors:
        _info(f"{len(outcome.feature_errors)} track(s) without "
              f"{'audio' if model in DEEP_MODELS else 'features'} (left out), e.g. "
              + "; ".join(f"{k}: {v}" for k, v in list(outcome.feature_errors.items())[:3]))
    test = outcome.test_metrics
    if test is None:
        _info("warning: no test tracks: the model was not evaluated (use --split artist or a "
              "larger dataset)")
    else:
        typer.echo(metrics_text(test, title=f"test ({outcome.split} split, {test['n']} tracks)",
                                notes=[]))
    typer.echo(f"model:   {outcome.model_path}\nsidecar: {outcome.sidecar_path}"
               + (f"\nreport:  {outcome.report_dir}" if outcome.report_dir else ""))
    if isinstance(outcome, DeepTrainOutcome):
        per_epoch = (f", {outcome.seconds_per_epoch:.1f} s per epoch"
                     if outcome.seconds_per_epoch is not None else "")
        typer.echo(f"{outcome.stopped} after {outcome.epochs_run} epoch(s) (best {outcome.best_epoch}) "
                   f"on {outcome.n_train} tracks in {outcome.train_seconds:.1f} s{per_epoch} "
                   f"({outcome.device})")
    else:
        typer.echo(f"trained in {outcome.train_seconds:.2f} s on {outcome.n_train} tracks")


@app.command("evaluate")
def evaluate_command(
    model: Path = typer.Argument(..., help="Model file (with its .json sidecar)."),
    dataset: tuple[str, Path] = typer.Option(..., "--dataset", help=_DATASET_HELP),
    split: str | None = typer.Option(
        None, "--split", help="official | random | artist (default: the one the model was trained with)."),
    part: str = typer.Option(
        "auto", "--part", help="test | all | auto (test part when the model was trained on this dataset)."),
    seed: int | None = typer.Option(None, "--seed", help="Split seed (default: the training seed)."),
    out: Path | None = typer.Option(None, "--out", help="Report folder (metrics, confusion, reliability)."),
    fma_features: Path | None = typer.Option(None, "--fma-features", help="FMA's features.csv."),
    fma_subset: str = typer.Option("small", "--fma-subset", help="FMA subset: small | medium | large."),
    jobs: int | None = typer.Option(None, "--jobs", min=0, help="Feature-extraction processes."),
    json_output: bool = typer.Option(False, "--json", help="Print the metrics as JSON."),
    db: Path | None = typer.Option(None, "--db", help=_DB_HELP),
) -> None:
    """Evaluate a trained model: per-class report, confusion matrix, ECE and reliability."""
    from music_reclass.evaluation.reports import metrics_text

    library = open_library(db)
    with handled(), _features_progress() as on_progress:
        outcome = library.evaluate(model, _dataset(dataset), split=split, part=part, seed=seed,
                                   out=out, fma_features=fma_features, fma_subset=fma_subset,
                                   jobs=jobs, on_progress=on_progress)
    if json_output:
        typer.echo(json.dumps({"title": outcome.title, "notes": outcome.notes,
                               **outcome.metrics}, default=str))
    else:
        typer.echo(metrics_text(outcome.metrics, title=outcome.title, notes=outcome.notes))
    _info(f"report: {outcome.report_dir}")


@app.command("compare")
def compare_command(
    dataset: tuple[str, Path] = typer.Option(..., "--dataset", help=_DATASET_HELP),
    features: str = typer.Option("musicnn", "--features", help="Comma-separated extractors."),
    model: str = typer.Option("logreg", "--model", "--models", help="Comma-separated models (heads)."),
    split: str = typer.Option("official", "--split", help="official | random | artist."),
    seed: int = typer.Option(0, "--seed", help="Random seed (split and models)."),
    out: Path | None = typer.Option(None, "--out", help="Folder for comparison.md and comparison.csv."),
    fma_features: Path | None = typer.Option(None, "--fma-features", help="FMA's features.csv."),
    fma_subset: str = typer.Option("small", "--fma-subset", help="FMA subset: small | medium | large."),
    jobs: int | None = typer.Option(None, "--jobs", min=0, help="Feature-extraction processes."),
    db: Path | None = typer.Option(None, "--db", help=_DB_HELP),
    folds: int | None = typer.Option(
        None, "--folds", min=2, help="Artist-disjoint folds instead of one split "
        "(default 5 with a deep model)."),
    epochs: int | None = typer.Option(None, "--epochs", min=1, help="Deep models: most epochs per fold."),
    device: str = typer.Option("auto", "--device", help="Deep models: auto | cuda | mps | cpu."),
) -> None:
    """Train every (features x model) pair on the same split; print and save the table.

    With a deep model among --model (cnn, musicnn-finetune) or with --folds, every model
    (each deep model, and each features x head pair) is trained and tested on the same
    artist-disjoint folds instead.
    """
    from music_reclass.evaluation.compare import comparison_markdown

    library = open_library(db)
    models = [m.strip() for m in model.split(",") if m.strip()]
    with handled(), progress_callback("compare" if folds or set(models) & set(DEEP_MODELS)
                                      else "features", enabled=sys.stderr.isatty()) as on_progress:
        outcome = library.compare(
            _dataset(dataset), features=[f.strip() for f in features.split(",") if f.strip()],
            models=models, split=split, seed=seed,
            out=out, fma_features=fma_features, fma_subset=fma_subset, jobs=jobs,
            on_progress=on_progress, folds=folds, epochs=epochs, device=device)
    for note in outcome.notes:
        typer.echo(f"note: {note}")
    if sys.stdout.isatty():  # a table that fits the terminal; Markdown for pipes and files
        stdout_console().print(comparison_table(outcome.rows, outcome.columns))
    else:
        typer.echo(comparison_markdown(outcome.rows, outcome.columns))
    if outcome.written:
        _info(f"saved: {outcome.written['markdown']}, {outcome.written['csv']}")


@app.command("analyze")
def analyze_command(
    dataset: tuple[str, Path] = typer.Option(..., "--dataset", help=_DATASET_HELP),
    out: Path | None = typer.Option(None, "--out", help="Folder for the figures and analysis.json."),
    fma_features: Path | None = typer.Option(None, "--fma-features", help="FMA's features.csv."),
    fma_subset: str = typer.Option("small", "--fma-subset", help="FMA subset: small | medium | large."),
    no_examples: bool = typer.Option(False, "--no-examples", help="Skip the example spectrograms."),
) -> None:
    """Class distribution and imbalance, durations, example mel-spectrograms per genre."""
    from music_reclass.evaluation.analysis import analysis_text

    library = open_library(None)
    with handled():
        result = library.analyze(_dataset(dataset), out=out, examples=not no_examples,
                                 fma_features=fma_features, fma_subset=fma_subset)
    typer.echo(analysis_text(result))
