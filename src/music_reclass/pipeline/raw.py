"""The model itself, without calibration or decisions: which classifier a model names.

:func:`music_reclass.pipeline.load_classifier` wraps this in the model's trust
parameters (:mod:`music_reclass.trust`); the trust layer calls it for its base model.
"""

from __future__ import annotations

from pathlib import Path

from music_reclass.errors import ModelError, ParameterError
from music_reclass.pipeline.prediction import Classifier
from music_reclass.pipeline.zeroshot import MusicnnTagClassifier
from music_reclass.taxonomy import Taxonomy

__all__ = ["DEFAULT_MODEL", "load_raw_classifier"]

DEFAULT_MODEL = "musicnn"


def load_raw_classifier(model: str | Path | None = None, *,
                        taxonomy: str | Path | Taxonomy = "default",
                        top_k: int | None = None, top_tags: int | None = 10) -> Classifier:
    """The model itself, uncalibrated and without decisions: the embedded zero-shot
    classifier, a trained head or a deep model (by its sidecar's ``"kind"``). See
    :func:`load_classifier` for the parameters and errors."""
    if model is None or (isinstance(model, str) and model == DEFAULT_MODEL):
        return MusicnnTagClassifier(taxonomy, top_k=top_k, top_tags=top_tags)
    if taxonomy != "default":
        raise ParameterError(
            "taxonomy applies to the embedded classifier only: a trained model has its own classes"
        )
    from music_reclass.models.artifact import model_kind

    kind = model_kind(model)  # the sidecar says what the file is
    if kind == "deep":
        from music_reclass.pipeline.deep import DeepClassifier

        return DeepClassifier(model, top_k=top_k)
    if kind != "head":
        raise ModelError(f"{Path(model).name}: unknown model kind {kind!r} (this version "
                         "reads 'head' and 'deep' models)")
    from music_reclass.pipeline.trained import TrainedClassifier

    return TrainedClassifier(model, top_k=top_k)
