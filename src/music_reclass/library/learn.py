"""The façade's learning jobs: train, evaluate, compare and analyse genre models.

A dataset is named by its kind and location (``("gtzan", "/data/gtzan")``). Features
of tracks this library already classified are read from the vectors the classify run
stored (when the model's features are the classifier's embedding, e.g. ``musicnn``):
training on an analysed folder needs no second pass through the networks.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from music_reclass.errors import ParameterError
from music_reclass.library.core import LibraryBase
from music_reclass.library.learn_outcomes import (
    CompareOutcome,
    DeepTrainOutcome,
    EvaluateOutcome,
    TrainOutcome,
)

__all__ = ["CompareOutcome", "DeepTrainOutcome", "EvaluateOutcome", "LearnMixin", "TrainOutcome"]

DATASET_KINDS = ("gtzan", "fma", "library", "manifest")


class LearnMixin(LibraryBase):
    """Training and evaluation; the library's stored vectors are reused when they fit."""

    # -- datasets and features

    @staticmethod
    def load_dataset(dataset: tuple[str, str | os.PathLike], *,
                     fma_features: str | os.PathLike | None = None,
                     fma_subset: str = "small") -> Any:
        """Index a dataset given as ``(kind, location)``.

        Raises
        ------
        ParameterError
            An unknown kind, an option that does not apply, or an unreadable dataset.
        """
        from music_reclass.datasets import load_dataset

        kind, path = dataset
        if kind not in DATASET_KINDS:
            raise ParameterError(f"unknown dataset kind {kind!r}; use {', '.join(DATASET_KINDS)}")
        options: dict[str, Any] = {}
        if kind == "fma":
            options["subset"] = fma_subset
            if fma_features is not None:
                options.update(source="features", features=fma_features)
        elif fma_features is not None:
            raise ParameterError("--fma-features only applies to --dataset fma")
        return load_dataset(kind, path, **options)

    def stored_features(self, extractor_name: str
                        ) -> Callable[[Sequence[str]], dict[str, np.ndarray]] | None:
        """``paths -> {path: features}`` from the library's stored vectors (None: no library).

        A path counts only while its file is unchanged since it was classified (size,
        mtime and inode match), so stale vectors are never used.
        """
        if not self.exists:
            return None
        from music_reclass.features import get_extractor
        from music_reclass.store.files import known_file
        from music_reclass.store.vectors import iter_vectors

        extractor = get_extractor(extractor_name)
        conn = self.connection()

        def provide(paths: Sequence[str]) -> dict[str, np.ndarray]:
            by_hash: dict[str, list[str]] = {}
            for path in paths:
                real = os.path.realpath(path)
                try:
                    content = known_file(conn, real, os.stat(real))
                except OSError:
                    continue
                if content is not None:
                    by_hash.setdefault(content, []).append(path)
            found: dict[str, np.ndarray] = {}
            for content, vectors in iter_vectors(conn, list(by_hash), extractor.space):
                try:
                    features = extractor.from_vectors(vectors)
                except (KeyError, RuntimeError):  # another layout: extract those again
                    continue
                for path in by_hash[content]:
                    found[path] = features
            return found

        return provide

    def dataset_features(self, data: Any, features: str, *, jobs: int | None = None,
                         cache: bool = True, use_library: bool = True,
                         on_progress: Callable[[int, int], None] | None = None,
                         dask: str | None = None) -> Any:
        """Features of a dataset's labelled tracks, stored vectors first; the rest on local
        processes or, with ``dask`` (``local:N`` or a scheduler address), a Dask cluster."""
        from music_reclass.evaluation.training import dataset_features

        stored = self.stored_features(features) if use_library else None
        if dask is None:
            return dataset_features(data, features, n_jobs=jobs, cache=cache,
                                    progress=on_progress, stored=stored)
        from music_reclass.runner.dask import DaskClient

        with DaskClient(dask) as cluster:
            return dataset_features(data, features, cache=cache, progress=on_progress,
                                    stored=stored, dask_client=cluster.client)

    # -- jobs

    def train(
        self,
        dataset: tuple[str, str | os.PathLike],
        *,
        out: str | os.PathLike,
        features: str = "musicnn",
        model: str = "logreg",
        split: str = "official",
        seed: int = 0,
        fma_features: str | os.PathLike | None = None,
        fma_subset: str = "small",
        jobs: int | None = None,
        cache: bool = True,
        use_library: bool = True,
        on_progress: Callable[[int, int], None] | None = None,
        on_info: Callable[[str], None] | None = None,
        dask: str | None = None,
        epochs: int | None = None,
        resume: bool = False,
        device: str = "auto",
        on_epoch: Callable[[dict[str, Any]], None] | None = None,
        cancel: Callable[[], bool] | None = None,
        params: Mapping[str, Any] | None = None,
        architecture: Mapping[str, Any] | None = None,
    ) -> TrainOutcome:
        """Train a model on a dataset; write the model, its sidecar and a report folder.

        ``model`` is a head on ``features`` (``logreg``, ``svm``, ``xgboost``, ``mlp``) or
        a deep model trained on the audio's log-mel patches (``cnn``,
        ``musicnn-finetune``; ``features`` does not apply). Only deep models take
        ``epochs`` (default 30, early stopping on an artist-disjoint validation part),
        ``resume`` (continue the interrupted run whose checkpoint is ``<out>.ckpt/``),
        ``device`` (``auto``, ``cuda``, ``mps``, ``cpu``), ``on_epoch`` (each epoch's
        record), ``cancel`` (polled between batches; the checkpoint stays), ``params``
        (other :class:`~music_reclass.models.deep.loop.TrainConfig` fields: ``lr``,
        ``batch_size``, ``bank_crops``...) and ``architecture`` (``unfreeze``,
        ``channels``, ``dropout``...); they return a :class:`DeepTrainOutcome`.
        ``on_progress(done, total)`` counts tracks decoded, then epochs.

        Examples
        --------
        >>> lib.train(("gtzan", "gtzan-dev"), out="m.joblib").test_metrics["accuracy"]  # doctest: +SKIP
        >>> lib.train(("gtzan", "gtzan-dev"), out="cnn.safetensors", model="cnn", epochs=20)  # doctest: +SKIP
        """
        from music_reclass.evaluation.reports import write_report
        from music_reclass.evaluation.training import choose_split, train_model
        from music_reclass.library.deep import DEEP_MODELS, train_deep_model
        from music_reclass.models.artifact import save_model, sidecar_path
        from music_reclass.models.heads import HEADS

        out = Path(out)
        if model not in HEADS and model not in DEEP_MODELS:
            raise ParameterError(f"unknown model {model!r}; use {', '.join((*HEADS, *DEEP_MODELS))}")
        if out.suffix.lower() == ".json":
            raise ParameterError("--out must not end in .json (that name is the sidecar's)")
        info = on_info or (lambda message: None)
        if model in DEEP_MODELS:
            if features != "musicnn":
                info(f"note: --features {features} is not used by {model} (it reads log-mel patches)")
            if epochs is not None and epochs < 1:
                raise ParameterError(f"--epochs must be at least 1, got {epochs}")
            data = self.load_dataset(dataset, fma_features=fma_features, fma_subset=fma_subset)
            return train_deep_model(data, dataset[1], out=out, model=model, split=split, seed=seed,
                                    epochs=epochs, resume=resume, device=device,
                                    on_progress=on_progress, on_epoch=on_epoch, on_info=info,
                                    cancel=cancel, params=params, architecture=architecture)
        for given, name in ((epochs is not None, "--epochs"), (resume, "--resume"),
                            (device != "auto", "--device"), (bool(params), "params"),
                            (bool(architecture), "architecture")):
            if given:
                raise ParameterError(f"{name} applies to the deep models ({', '.join(DEEP_MODELS)}), "
                                     f"not to {model}")
        data = self.load_dataset(dataset, fma_features=fma_features, fma_subset=fma_subset)
        parts, kind, notes = choose_split(data, split, seed=seed)
        counts = {name: len(parts[name]) for name in ("train", "valid", "test")}
        info(f"{data.name}: {len(data.labelled)} labelled tracks, {len(data.classes)} classes; "
             f"split {kind} (" + ", ".join(f"{k} {v}" for k, v in counts.items()) + ")")
        feats = self.dataset_features(data, features, jobs=jobs, cache=cache,
                                      use_library=use_library, on_progress=on_progress,
                                      dask=dask)
        result = train_model(data, feats, model, parts=parts, split=split, split_kind=kind,
                             notes=notes, seed=seed, name=out.stem,
                             dataset_path=str(Path(dataset[1]).resolve()))
        save_model(result.artifact, out)
        calibration = calibrate_on_valid(out, feats, parts, dataset=data.name, split=kind,
                                         early_stopping=model in ("mlp", "xgboost"))
        if calibration is None:
            result.notes.append("not calibrated: the split has no validation part (its "
                                "probabilities are used as they are; a decision needs >= 0.9)")
        else:
            info(f"calibrated on the validation part ({calibration['n']} tracks): ECE "
                 f"{calibration['ece_before']:.3f} -> {calibration['ece_after_cv']:.3f} "
                 "(cross-validated)")
        test = result.metrics.get("test")
        report = out.with_name(out.name + ".report") if test is not None else None
        if test is not None:
            write_report(test, report, title=f"{out.name} on {data.name} test ({kind} split)",
                         notes=result.notes, extra={"model": str(out),
                                                    "sidecar": result.artifact.meta})
        return TrainOutcome(
            model_path=out, sidecar_path=sidecar_path(out), report_dir=report,
            dataset=data.name, n_labelled=len(data.labelled), n_classes=len(data.classes),
            split=kind, counts=counts, notes=result.notes, test_metrics=test,
            train_seconds=result.train_seconds,
            n_train=int(result.artifact.meta["training"]["n_train"]),
            features_stored=feats.n_stored, features_computed=feats.n_computed,
            feature_errors=dict(feats.errors), calibration=calibration,
        )

    def evaluate(
        self,
        model: str | os.PathLike,
        dataset: tuple[str, str | os.PathLike],
        *,
        split: str | None = None,
        part: str = "auto",
        seed: int | None = None,
        out: str | os.PathLike | None = None,
        fma_features: str | os.PathLike | None = None,
        fma_subset: str = "small",
        jobs: int | None = None,
        use_library: bool = True,
        on_progress: Callable[[int, int], None] | None = None,
    ) -> EvaluateOutcome:
        """Evaluate a trained model: on its test part when it was trained on this dataset
        (the same split and seed), else on every labelled track."""
        from music_reclass.evaluation.reports import write_report
        from music_reclass.evaluation.training import choose_split, evaluate_artifact
        from music_reclass.models.artifact import load_model, model_kind

        if part not in ("auto", "test", "all"):
            raise ParameterError(f"--part must be test, all or auto, not {part!r}")
        model = Path(model)
        if model_kind(model) == "deep":
            raise ParameterError(
                f"{model.name} is a deep model: evaluate reads heads on features; a deep "
                "model's test figures are in the report `train` wrote, and `compare --models "
                "cnn,musicnn-finetune --folds 5` measures deep models on artist-disjoint folds")
        artifact = load_model(model)
        training = artifact.meta.get("training", {})
        data = self.load_dataset(dataset, fma_features=fma_features, fma_subset=fma_subset)
        same = training.get("dataset") == data.name
        notes: list[str] = []
        if part == "test" or (part == "auto" and same):
            split_used = (split or training.get("split_requested") or training.get("split")
                          or "official")
            parts, kind, notes = choose_split(
                data, split_used, seed=training.get("seed", 0) if seed is None else seed)
            tracks, where = parts["test"], f"test part ({kind} split)"
        else:
            tracks, where = data.labelled, "all labelled tracks"
            if same:
                notes.append("evaluated on all tracks, including the ones the model was "
                             "trained on")
        artifact.check_features(artifact.feature["name"])  # before any costly extraction
        feats = self.dataset_features(data, artifact.feature["name"], jobs=jobs,
                                      use_library=use_library, on_progress=on_progress)
        metrics = evaluate_artifact(artifact, feats, [t.track_id for t in tracks])
        title = f"{model.name} on {data.name}, {where}"
        report = Path(out) if out is not None else model.with_name(
            model.name + f".eval-{data.name}")
        write_report(metrics, report, title=title, notes=notes, extra={"model": str(model)})
        return EvaluateOutcome(title, notes, metrics, report)

    def compare(
        self,
        dataset: tuple[str, str | os.PathLike],
        *,
        features: Sequence[str] = ("musicnn",),
        models: Sequence[str] = ("logreg",),
        split: str = "official",
        seed: int = 0,
        out: str | os.PathLike | None = None,
        fma_features: str | os.PathLike | None = None,
        fma_subset: str = "small",
        jobs: int | None = None,
        use_library: bool = True,
        on_progress: Callable[[int, int], None] | None = None,
        folds: int | None = None,
        epochs: int | None = None,
        device: str = "auto",
        cancel: Callable[[], bool] | None = None,
    ) -> CompareOutcome:
        """Train every (features x model) pair on one split; the comparison table.

        With a deep model among ``models`` (``cnn``, ``musicnn-finetune``), or with
        ``folds``, every model (each deep model, and each features x head pair) is
        trained and tested on the same ``folds`` (default 5) artist-disjoint folds
        instead, ``split`` does not apply, and the table has the fold columns
        (:data:`~music_reclass.evaluation.deep_compare.FOLD_COLUMNS`). ``epochs`` and
        ``device`` are the deep models'; ``on_progress`` then counts (model, fold)
        pairs and ``cancel`` is polled between folds and batches (the rows finished so
        far are returned, with a "cancelled" note).
        """
        from music_reclass.evaluation.compare import compare_models, write_comparison
        from music_reclass.library.deep import DEEP_MODELS, compare_folds

        data = self.load_dataset(dataset, fma_features=fma_features, fma_subset=fma_subset)
        if folds is not None or any(m in DEEP_MODELS for m in models):
            return compare_folds(
                data, features=list(features), models=list(models),
                folds=5 if folds is None else folds, seed=seed, epochs=epochs, device=device,
                jobs=jobs, out=out, on_progress=on_progress, cancel=cancel,
                feature_sets=lambda name: self.dataset_features(data, name, jobs=jobs,
                                                                use_library=use_library))
        if epochs is not None or device != "auto":
            raise ParameterError("--epochs and --device apply to the deep models "
                                 f"({', '.join(DEEP_MODELS)})")
        sets = None
        if getattr(data, "features", None) is None:  # audio: stored vectors where they fit
            sets = {name: self.dataset_features(data, name, jobs=jobs, use_library=use_library,
                                                on_progress=on_progress)
                    for name in features}
        rows, notes = compare_models(data, list(features), list(models), split=split, seed=seed,
                                     n_jobs=jobs, progress=on_progress, feature_sets=sets)
        written = write_comparison(rows, Path(out), notes=notes) if out is not None else None
        return CompareOutcome(rows, notes, written)

    def analyze(self, dataset: tuple[str, str | os.PathLike], *,
                out: str | os.PathLike | None = None, examples: bool = True,
                fma_features: str | os.PathLike | None = None,
                fma_subset: str = "small") -> Any:
        """Class distribution and imbalance, durations, example mel-spectrograms per genre."""
        from music_reclass.evaluation.analysis import analyze_dataset

        data = self.load_dataset(dataset, fma_features=fma_features, fma_subset=fma_subset)
        return analyze_dataset(data, out, examples=examples)


#: artists are grouped into at most this many folds to fit the decision thresholds on
#: cross-validated probabilities (leave-one-artist-out would refit once per artist)
CALIBRATION_FOLDS = 10


def calibrate_on_valid(path: Path, feats: Any, parts: dict[str, list], *, dataset: str,
                       split: str, early_stopping: bool = False) -> dict[str, Any] | None:
    """Calibrate a saved head on the validation part; its trust parameters go into the
    sidecar (``"trust"``: calibration with method, data and ECE before/after, decision
    policy, out-of-vocabulary prototypes). None when there is no validation part.

    The decision thresholds are fitted on probabilities calibrated without the artist's
    fold (artists grouped into :data:`CALIBRATION_FOLDS` folds), so they reflect music by
    artists the calibration never saw.
    """
    from music_reclass.trust.heads import calibrate_model_file

    valid = [t for t in parts.get("valid", [])]
    X_valid, y_valid, ids = feats.rows([t.track_id for t in valid])
    if len(ids) < 2 or len(set(map(str, y_valid))) < 2:
        return None
    artists = {t.track_id: str(t.artist or t.track_id) for t in valid}
    fold = {a: i % CALIBRATION_FOLDS for i, a in enumerate(sorted(set(artists.values())))}
    X_train, y_train, _ = feats.rows([t.track_id for t in parts["train"]])
    note = f"{dataset}: validation part of the {split} split, {len(ids)} tracks"
    if early_stopping:
        note += " (also used for early stopping)"
    trust = calibrate_model_file(path, X_valid, y_valid,
                                 groups=[fold[artists[i]] for i in ids],
                                 X_train=X_train, y_train=y_train, data=note)
    calibration = trust.calibration
    metrics = calibration.metrics
    return {"method": calibration.method, "data": note, "n": len(ids),
            "ece_before": metrics.get("ece_before"),
            "ece_after_in_sample": metrics.get("ece_after_in_sample"),
            "ece_after_cv": metrics.get("ece_after_cv"),
            "min_confidence": trust.policy.min_confidence,
            "target_precision": trust.policy.target_precision}

