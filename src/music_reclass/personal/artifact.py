"""The personal model on disk: where it goes, and what its sidecar says.

A library's personal models live beside its database, in ``<db stem>.models/``, one
file per ``learn`` (``personal-1.safetensors``, ``personal-2.safetensors``...): an earlier one stays
usable (``reclass models --use personal-1``) and every stored result names the model
that made it. The sidecar (see :mod:`music_reclass.models.artifact`) holds, besides the
usual keys, ``"kind": "head"``, the task, the labels' provenance and vocabulary, the
cross-validated metrics, the calibration and the decision policy.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from music_reclass.models.artifact import ModelArtifact
from music_reclass.personal.labels import Labelling
from music_reclass.personal.train import FitResult

__all__ = ["MODEL_PREFIX", "models_folder", "next_model_path", "personal_artifact"]

MODEL_PREFIX = "personal"
_NUMBERED = re.compile(rf"^{MODEL_PREFIX}-(\d+)\.(?:safetensors|joblib)$")


def models_folder(db_path: Path) -> Path:
    """Where a library's personal models are written: beside its database."""
    return db_path.parent / f"{db_path.stem}.models"


def next_model_path(folder: Path) -> Path:
    """``personal-<n>.safetensors`` with ``n`` one above every existing one."""
    taken = [int(m.group(1)) for p in (folder.iterdir() if folder.is_dir() else [])
             if (m := _NUMBERED.match(p.name))]
    return folder / f"{MODEL_PREFIX}-{max(taken, default=0) + 1}.safetensors"


def personal_artifact(fit: FitResult, labelling: Labelling, *, name: str, extractor: Any,
                      db_path: Path, provenance: dict[str, Any]) -> ModelArtifact:
    """The artifact to save: the head and its sidecar metadata."""
    head = fit.head
    counts = {g.name: g.tracks for g in labelling.genres}
    meta: dict[str, Any] = {
        "name": name,
        "kind": "head",
        "model_type": "personal-lda" if labelling.task == "single-label" else "personal-ridge",
        "task": labelling.task,
        "probabilities": ("a distribution over the genres" if labelling.task == "single-label"
                          else "one independent probability per genre (they do not sum to 1)"),
        "feature": {"name": extractor.name, "version": extractor.version, "dim": extractor.dim,
                    "sample_rate": extractor.sample_rate, "space": extractor.space},
        "training": {
            "dataset": "library", "dataset_path": str(db_path), "split": fit.cv["protocol"],
            "n_train": len(labelling.content_hashes), "n_valid": 0, "n_test": 0,
            "seed": fit.cv.get("seed", 0), "groups": fit.cv.get("groups"),
            "class_counts": {"train": counts},
            "params": {"penalty": fit.cv.get("penalty")},
            "train_seconds": round(fit.seconds, 3),
        },
        "labels": {
            **provenance,
            "vocabulary": {g.name: g.spellings for g in labelling.genres},
            "artists": {g.name: g.artists for g in labelling.genres},
            "pooled": {g.name: list(g.pooled) for g in labelling.genres if g.pooled},
            "rare": {"min_tracks": labelling.min_tracks, "action": labelling.rare_action,
                     "genres": {g.name: g.tracks for g in labelling.rare}},
            "ignored": labelling.ignored,
        },
        "metrics": {"cv": fit.evaluation} if fit.evaluation is not None else {},
        "calibration": fit.calibration,
        "decision": head.decision(),
        "notes": [*labelling.notes, *fit.notes],
    }
    return ModelArtifact(head, meta)
