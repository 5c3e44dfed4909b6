"""The façade's personal-model jobs: learn the owner's genres, suggest, find inconsistencies.

``learn`` trains a model on the embeddings the library already stored for its labelled
tracks (no new network pass), in the owner's own words (see
:mod:`music_reclass.personal.labels`), measures it by artist-grouped cross-validation,
calibrates it, writes it beside the database and makes it the library's active model:
``classify`` then answers with it (``--model default`` goes back). ``suggest`` lists the
unlabelled tracks worth labelling next; ``inconsistencies`` the labelled tracks whose
genre the audio and the neighbours both contradict. Nothing here changes a file.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from music_reclass.errors import ReclassError
from music_reclass.library.core import LibraryBase
from music_reclass.library.models import ACTIVE_KEY, ModelSpec
from music_reclass.personal.config import GenreConfig, read_genre_config
from music_reclass.personal.labels import GenreCount, Labelling, TrackSource, build_labelling
from music_reclass.personal.train import TARGET_PRECISION, Cancelled, FitResult, fit_personal
from music_reclass.store import models as store_models
from music_reclass.store.runs import finish_run, start_run

__all__ = ["LearnReport", "PersonalMixin", "Prepared"]


@dataclass
class LearnReport:
    """What :meth:`Library.learn` learnt, how well, and where the model went."""

    status: str  # done | cancelled
    run_id: int | None
    task: str
    genres: list[GenreCount]
    rare: list[GenreCount]
    rare_action: str
    min_tracks: int
    tracks: int  # labelled tracks trained on
    sources: dict[str, int]
    ignored: dict[str, int]
    missing_vectors: int  # labelled tracks with no stored embedding (classify them)
    unlabelled: int
    model_path: Path | None = None
    sidecar_path: Path | None = None
    model_id: str | None = None
    model_name: str | None = None
    active: bool = False
    evaluation: dict[str, Any] | None = None
    calibration: dict[str, Any] = field(default_factory=dict)
    decision: dict[str, Any] = field(default_factory=dict)
    cv: dict[str, Any] = field(default_factory=dict)
    config: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0


@dataclass
class Prepared:
    """A library's labels and the embeddings of its labelled tracks."""

    sources: list[TrackSource]
    labelling: Labelling
    X: np.ndarray  # (labelled tracks, d), in labelling order
    missing_vectors: int
    config: GenreConfig
    extractor: Any


def _config(config: GenreConfig | str | os.PathLike | None) -> GenreConfig:
    return config if isinstance(config, GenreConfig) else read_genre_config(config)


class PersonalMixin(LibraryBase):
    """Learning the owner's genres from the library's own labels."""

    # -- data

    def prepare_labels(self, *, config: GenreConfig | str | os.PathLike | None = None,
                       min_tracks: int | None = None, rare: str | None = None,
                       multi_label: bool | None = None) -> Prepared:
        """The labels ``learn`` would train on, and their stored embeddings.

        Tracks whose embeddings are not stored (never classified by a musicnn model) are
        counted in ``missing_vectors`` and left out.
        """
        from music_reclass.act.tagio import genres_of_state
        from music_reclass.features import get_extractor
        from music_reclass.features.musicnn_embedding import VECTOR_LAYOUT
        from music_reclass.personal.sources import reclass_writes, track_sources
        from music_reclass.store import corrections as store_corrections
        from music_reclass.store import labels as store_labels

        conn = self.connection()
        settings = _config(config)
        extractor = get_extractor("musicnn")
        corrections = {c.content_hash: c.labels
                       for c in store_corrections.active_corrections(conn)}
        writes = reclass_writes(store_labels.tag_history(conn), genres_of_state)
        sources = track_sources(store_labels.library_tracks(conn), writes, corrections)
        options = {"config": settings, "min_tracks": min_tracks, "rare": rare,
                   "multi_label": multi_label}
        first = build_labelling(sources, **options)
        wanted = first.content_hashes + first.only_rare
        X, found = store_labels.vector_matrix(conn, wanted, extractor.space, VECTOR_LAYOUT)
        missing = {content for content, ok in zip(wanted, found, strict=True) if not ok}
        if not missing:  # the labelled tracks come first, in labelling order: a view
            return Prepared(sources, first, X[: len(first.content_hashes)], 0, settings,
                            extractor)
        usable = [s for s in sources if s.content_hash not in missing]
        labelling = build_labelling(usable, **options)
        row = {content: i for i, content in enumerate(wanted)}
        X = X[[row[content] for content in labelling.content_hashes]]
        return Prepared(usable, labelling, X, len(missing), settings, extractor)

    # -- jobs

    def learn(
        self,
        *,
        config: GenreConfig | str | os.PathLike | None = None,
        min_tracks: int | None = None,
        rare: str | None = None,
        multi_label: bool | None = None,
        out: str | os.PathLike | None = None,
        activate: bool = True,
        target_precision: float = TARGET_PRECISION,
        seed: int = 0,
        on_progress: Callable[[int, int], None] | None = None,
        cancel: Callable[[], bool] | None = None,
    ) -> LearnReport:
        """Train the library's personal model on its labelled tracks' stored embeddings.

        Parameters
        ----------
        config : GenreConfig or path-like, optional
            The genre map (default: the config file, see
            :mod:`music_reclass.personal.config`).
        min_tracks : int, optional
            The least number of tracks a genre needs (default: the config's, else 5,
            lowered with a note when fewer than two genres would reach it).
        rare : {"drop", "pool"}, optional
            Rarer genres are left out (default) or pooled into one "Other" genre.
        multi_label : bool, optional
            Learn several genres per track (default: when the owner's tags carry several
            on enough tracks).
        out : path-like, optional
            The model file (default: ``<db stem>.models/personal-<n>.safetensors``).
        activate : bool
            Make it the library's active model (what classify, list and tag use).
        target_precision : float
            Single-label: the precision its decisions must reach in cross-validation.
        seed : int
        on_progress, cancel : callable, optional
            ``on_progress(done, total)`` over the folds; ``cancel()`` True stops before
            anything is written.

        Raises
        ------
        MissingDatabaseError
            No library database (classify a folder first).
        ReclassError
            Nothing to learn: fewer than two genres with enough tracks.
        """
        start = time.perf_counter()
        conn = self.writable_connection()
        prepared = self.prepare_labels(config=config, min_tracks=min_tracks, rare=rare,
                                       multi_label=multi_label)
        labelling = prepared.labelling
        _check_learnable(prepared)
        report = _report(prepared)
        report.run_id = start_run(conn, "learn", {
            "min_tracks": labelling.min_tracks, "rare": labelling.rare_action,
            "task": labelling.task, "config": prepared.config.summary()["path"]})
        status = "failed"
        try:
            fit = fit_personal(prepared.X, labelling, seed=seed, copy=False,
                               target_precision=target_precision, on_progress=on_progress,
                               cancel=cancel)
            self._save(fit, prepared, report, out=out, activate=activate)
            status = "done"
        except Cancelled:
            status = "cancelled"
        finally:
            report.status = status
            report.seconds = time.perf_counter() - start
            finish_run(conn, report.run_id, status, _run_summary(report))
        return report

    def _save(self, fit: FitResult, prepared: Prepared, report: LearnReport, *,
              out: str | os.PathLike | None, activate: bool) -> None:
        from music_reclass.models.artifact import save_model
        from music_reclass.personal.artifact import (
            models_folder,
            next_model_path,
            personal_artifact,
        )

        path = Path(out) if out is not None else next_model_path(models_folder(self.path))
        if path.suffix.lower() == ".json":
            raise ReclassError("the model file must not end in .json (that is the sidecar's)")
        path = path.resolve()
        artifact = personal_artifact(fit, prepared.labelling, name=path.stem,
                                     extractor=prepared.extractor, db_path=self.path.resolve(),
                                     provenance={"sources": _nonzero(report.sources),
                                                 "config": prepared.config.summary(),
                                                 "left_out": _LEFT_OUT})
        report.sidecar_path = save_model(artifact, path)
        conn = self.writable_connection()
        store_models.register_model(conn, artifact.model_id, name=path.stem, kind="head",
                                    source=str(path), info={
                                        "classes": list(fit.head.classes_), "personal": True,
                                        "task": prepared.labelling.task})
        if activate:
            store_models.set_setting(conn, ACTIVE_KEY, ModelSpec(file=str(path)).as_setting())
        report.model_path, report.model_id, report.model_name = path, artifact.model_id, path.stem
        report.active = activate
        report.evaluation, report.calibration = fit.evaluation, fit.calibration
        report.decision, report.cv = fit.head.decision(), fit.cv
        report.notes += fit.notes


_LEFT_OUT = ("genres that reclass tag runs wrote into files (the journal), so the model "
             "never learns from its own output")


def _nonzero(counts: dict[str, int]) -> dict[str, int]:
    return {k: v for k, v in counts.items() if v}


def _check_learnable(prepared: Prepared) -> None:
    labelling = prepared.labelling
    if not labelling.content_hashes:
        if prepared.missing_vectors:
            # learning reads the embedded model's musicnn vectors: another active model
            # (a deep model, a head on other features) does not store them
            raise ReclassError(
                f"nothing to learn: {prepared.missing_vectors} labelled track(s) have no "
                "stored musicnn embedding: run `reclass classify --model default PATHS` on "
                "them first")
        raise ReclassError("nothing to learn: no track of the library has a genre tag or a "
                           "correction")
    if len(labelling.classes) < 2:
        have = ", ".join(f"{g.name} ({g.tracks})" for g in labelling.genres) or "none"
        raise ReclassError(
            f"nothing to learn: a model needs two genres with at least {labelling.min_tracks} "
            f"track(s) each; the library has {have}; label more tracks (`reclass correct FILE "
            "GENRE`) or lower --min-tracks")


def _report(prepared: Prepared) -> LearnReport:
    labelling = prepared.labelling
    return LearnReport(
        status="running", run_id=None, task=labelling.task, genres=labelling.genres,
        rare=labelling.rare, rare_action=labelling.rare_action,
        min_tracks=labelling.min_tracks, tracks=len(labelling.content_hashes),
        sources=_nonzero(labelling.sources), ignored=labelling.ignored,
        missing_vectors=prepared.missing_vectors, unlabelled=len(labelling.unlabelled),
        config=prepared.config.summary(), notes=list(labelling.notes))


def _run_summary(report: LearnReport) -> dict[str, Any]:
    evaluation = report.evaluation or {}
    return {"tracks": report.tracks, "genres": len(report.genres), "task": report.task,
            "model": report.model_name, "accuracy": evaluation.get("accuracy",
                                                                  evaluation.get("top1_accuracy")),
            "seconds": round(report.seconds, 3)}
