"""``reclass train``, ``evaluate``, ``compare`` and ``analyze``: genre models from datasets.

Exit status: 0 done, 2 usage error (bad option, unreadable dataset, model that
does not fit the features).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import typer

from music_reclass.cli.app import app
from music_reclass.cli.output import progress_callback
from music_reclass.errors import ReclassError

EXIT_USAGE = 2
DATASET_KINDS = ("gtzan", "fma", "library", "manifest")

_DATASET_HELP = "Dataset kind and location: gtzan DIR | fma DIR | library DIR | manifest CSV."


def _fail(message: str) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(EXIT_USAGE)


def _info(message: str) -> None:
    typer.echo(message, err=True)


def _load(dataset: tuple[str, Path], *, fma_features: Path | None = None,
          fma_subset: str = "small") -> Any:
    from music_reclass.datasets import load_dataset

    kind, path = dataset
    if kind not in DATASET_KINDS:
        raise _fail(f"unknown dataset kind {kind!r}; use {', '.join(DATASET_KINDS)}")
    options: dict[str, Any] = {}
    if kind == "fma":
        options["subset"] = fma_subset
        if fma_features is not None:
            options.update(source="features", features=fma_features)
    elif fma_features is not None:
        raise _fail("--fma-features only applies to --dataset fma")
    return load_dataset(kind, path, **options)


def _counts(parts: dict[str, list]) -> str:
    return ", ".join(f"{name} {len(parts[name])}" for name in ("train", "valid", "test"))


def _report_dir(model_path: Path) -> Path:
    return model_path.with_name(model_path.name + ".report")


def _features_progress():
    """The feature-extraction progress bar on stderr, when it is a terminal."""
    return progress_callback("features", enabled=sys.stderr.isatty())


@app.command("train")
def train_command(
    dataset: tuple[str, Path] = typer.Option(..., "--dataset", help=_DATASET_HELP),
    features: str = typer.Option("musicnn", "--features", help="musicnn | fma518 | gtzan58."),
    model: str = typer.Option(
        "logreg", "--model", help="logreg | svm | xgboost | mlp | cnn | musicnn-finetune."),
    out: Path = typer.Option(..., "--out", help="Model file to write (its sidecar is OUT.json)."),
    split: str = typer.Option("official", "--split", help="official | random | artist."),
    seed: int = typer.Option(0, "--seed", help="Random seed (split and model)."),
    epochs: int = typer.Option(30, "--epochs", help="Deep models: most epochs (early stopping)."),
    resume: bool = typer.Option(False, "--resume", help="Deep models: continue an interrupted run."),
    device: str = typer.Option("auto", "--device", help="Deep models: auto | cuda | mps | cpu."),
    fma_features: Path | None = typer.Option(
        None, "--fma-features", help="FMA's features.csv: train on its rows instead of audio."),
    fma_subset: str = typer.Option("small", "--fma-subset", help="FMA subset: small | medium | large."),
    jobs: int | None = typer.Option(None, "--jobs", help="Feature-extraction processes."),
    no_cache: bool = typer.Option(False, "--no-cache", help="Do not use the feature cache."),
) -> None:
    """Train a genre model on a dataset; write the model, its sidecar and a report folder.

    Features are extracted in parallel and cached; the model is fitted on the
    train part (the valid part drives early stopping for mlp/xgboost) and
    evaluated on the test part. With --split official on a subset too small for
    the official split (e.g. 50 GTZAN clips), an artist-aware split is used
    instead, and the output and sidecar say so.
    """
    from music_reclass.cli.deep import DEEP_MODELS, train_deep_command
    from music_reclass.evaluation.reports import metrics_text, write_report
    from music_reclass.evaluation.training import choose_split, dataset_features, train_model
    from music_reclass.models.artifact import save_model, sidecar_path
    from music_reclass.models.heads import HEADS

    if model not in HEADS and model not in DEEP_MODELS:
        raise _fail(f"unknown model {model!r}; use {', '.join((*HEADS, *DEEP_MODELS))}")
    if out.suffix.lower() == ".json":
        raise _fail("--out must not end in .json (that name is the sidecar's)")
    if model in DEEP_MODELS:  # trained on log-mel patches: --features does not apply
        if features != "musicnn":
            _info(f"note: --features {features} is not used by {model} (it reads log-mel patches)")
        try:
            train_deep_command(_load(dataset), model, out, split=split, seed=seed, epochs=epochs,
                               resume=resume, device=device,
                               dataset_path=str(Path(dataset[1]).resolve()))
        except ReclassError as exc:
            raise _fail(str(exc)) from exc
        return
    try:
        data = _load(dataset, fma_features=fma_features, fma_subset=fma_subset)
        parts, kind, notes = choose_split(data, split, seed=seed)
        _info(f"{data.name}: {len(data.labelled)} labelled tracks, {len(data.classes)} classes; "
              f"split {kind} ({_counts(parts)})")
        for note in notes:
            _info(f"note: {note}")
        with _features_progress() as on_progress:
            feats = dataset_features(data, features, n_jobs=jobs, cache=not no_cache,
                                     progress=on_progress)
        if feats.errors:
            _info(f"{len(feats.errors)} track(s) without features (left out), e.g. "
                  + "; ".join(f"{k}: {v}" for k, v in list(feats.errors.items())[:3]))
        result = train_model(data, feats, model, parts=parts, split=split, split_kind=kind,
                             notes=notes, seed=seed, name=out.stem,
                             dataset_path=str(Path(dataset[1]).resolve()))
        save_model(result.artifact, out)
    except ReclassError as exc:
        raise _fail(str(exc)) from exc
    test = result.metrics.get("test")
    report = _report_dir(out)
    if test is not None:
        write_report(test, report, title=f"{out.name} on {data.name} test ({kind} split)",
                     notes=result.notes, extra={"model": str(out), "sidecar": result.artifact.meta})
        typer.echo(metrics_text(test, title=f"test ({kind} split, {test['n']} tracks)",
                                notes=result.notes))
    typer.echo(f"model:   {out}\nsidecar: {sidecar_path(out)}"
               + (f"\nreport:  {report}" if test is not None else "")
               + f"\ntrained in {result.train_seconds:.2f} s on {result.artifact.meta['training']['n_train']} tracks")


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
    fma_subset: str = typer.Option("small", "--fma-subset"),
    jobs: int | None = typer.Option(None, "--jobs", help="Feature-extraction processes."),
    json_output: bool = typer.Option(False, "--json", help="Print the metrics as JSON."),
) -> None:
    """Evaluate a trained model: per-class report, confusion matrix, ECE and reliability."""
    from music_reclass.evaluation.reports import metrics_text, write_report
    from music_reclass.evaluation.training import choose_split, dataset_features, evaluate_artifact
    from music_reclass.models.artifact import load_model

    if part not in ("auto", "test", "all"):
        raise _fail(f"--part must be test, all or auto, got {part!r}")
    try:
        artifact = load_model(model)
        training = artifact.meta.get("training", {})
        data = _load(dataset, fma_features=fma_features, fma_subset=fma_subset)
        same = training.get("dataset") == data.name
        use_test = part == "test" or (part == "auto" and same)
        notes: list[str] = []
        if use_test:
            split_used = split or training.get("split_requested") or training.get("split") or "official"
            parts, kind, notes = choose_split(data, split_used, seed=training.get("seed", 0) if seed is None else seed)
            tracks = parts["test"]
            where = f"test part ({kind} split)"
        else:
            tracks = data.labelled
            where = "all labelled tracks"
            if same:
                notes.append("evaluated on all tracks, including the ones the model was trained on")
        feature = artifact.feature
        artifact.check_features(feature["name"])  # before any costly extraction
        with _features_progress() as on_progress:
            feats = dataset_features(data, feature["name"], n_jobs=jobs, progress=on_progress)
        metrics = evaluate_artifact(artifact, feats, [t.track_id for t in tracks])
    except ReclassError as exc:
        raise _fail(str(exc)) from exc
    title = f"{model.name} on {data.name}, {where}"
    if json_output:
        typer.echo(json.dumps({"title": title, "notes": notes, **metrics}, default=str))
    else:
        typer.echo(metrics_text(metrics, title=title, notes=notes))
    report = out or model.with_name(model.name + f".eval-{data.name}")
    write_report(metrics, report, title=title, notes=notes, extra={"model": str(model)})
    _info(f"report: {report}")


@app.command("compare")
def compare_command(
    dataset: tuple[str, Path] = typer.Option(..., "--dataset", help=_DATASET_HELP),
    features: str = typer.Option("musicnn", "--features", help="Comma-separated extractors."),
    models: str = typer.Option("logreg", "--models", help="Comma-separated heads."),
    split: str = typer.Option("official", "--split", help="official | random | artist."),
    seed: int = typer.Option(0, "--seed"),
    out: Path | None = typer.Option(None, "--out", help="Folder for comparison.md and comparison.csv."),
    fma_features: Path | None = typer.Option(None, "--fma-features", help="FMA's features.csv."),
    fma_subset: str = typer.Option("small", "--fma-subset"),
    jobs: int | None = typer.Option(None, "--jobs", help="Feature-extraction processes."),
    folds: int = typer.Option(
        5, "--folds", help="With deep models (cnn, musicnn-finetune): artist-disjoint folds."),
    epochs: int = typer.Option(30, "--epochs", help="Deep models: most epochs per fold."),
    device: str = typer.Option("auto", "--device", help="Deep models: auto | cuda | mps | cpu."),
) -> None:
    """Train every (features x model) pair on the same split; print and save the table.

    With a deep model among --models, every model (deep, and each feature x head pair)
    is trained and tested on the same artist-disjoint folds instead.
    """
    from music_reclass.evaluation.compare import (
        compare_models,
        comparison_csv,
        comparison_markdown,
        write_comparison,
    )

    feature_names = [f.strip() for f in features.split(",") if f.strip()]
    model_names = [m.strip() for m in models.split(",") if m.strip()]
    from music_reclass.cli.deep import DEEP_MODELS, compare_deep_command

    if any(m in DEEP_MODELS for m in model_names):
        try:
            compare_deep_command(_load(dataset, fma_features=fma_features, fma_subset=fma_subset),
                                 feature_names, model_names, folds=folds, seed=seed,
                                 epochs=epochs, device=device, jobs=jobs, out=out)
        except ReclassError as exc:
            raise _fail(str(exc)) from exc
        return
    try:
        data = _load(dataset, fma_features=fma_features, fma_subset=fma_subset)
        with _features_progress() as on_progress:  # compare_models passes it through
            rows, notes = compare_models(data, feature_names, model_names, split=split,
                                         seed=seed, n_jobs=jobs, progress=on_progress)
    except ReclassError as exc:
        raise _fail(str(exc)) from exc
    for note in notes:
        typer.echo(f"note: {note}")
    typer.echo(comparison_markdown(rows))
    typer.echo("")
    typer.echo(comparison_csv(rows), nl=False)
    if out is not None:
        written = write_comparison(rows, out, notes=notes)
        _info(f"saved: {written['markdown']}, {written['csv']}")


@app.command("analyze")
def analyze_command(
    dataset: tuple[str, Path] = typer.Option(..., "--dataset", help=_DATASET_HELP),
    out: Path | None = typer.Option(None, "--out", help="Folder for the figures and analysis.json."),
    fma_features: Path | None = typer.Option(None, "--fma-features", help="FMA's features.csv."),
    fma_subset: str = typer.Option("small", "--fma-subset"),
    no_examples: bool = typer.Option(False, "--no-examples", help="Skip the example spectrograms."),
) -> None:
    """Class distribution and imbalance, durations, example mel-spectrograms per genre."""
    from music_reclass.evaluation.analysis import analysis_text, analyze_dataset

    try:
        data = _load(dataset, fma_features=fma_features, fma_subset=fma_subset)
        result = analyze_dataset(data, out, examples=not no_examples)
    except ReclassError as exc:
        raise _fail(str(exc)) from exc
    typer.echo(analysis_text(result))
