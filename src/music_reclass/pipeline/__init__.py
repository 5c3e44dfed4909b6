"""Pipeline: one audio file in, one :class:`Prediction` out.

>>> from music_reclass.pipeline import load_classifier
>>> clf = load_classifier()                        # doctest: +SKIP
>>> clf.predict_file("song.mp3").genres[:2]        # doctest: +SKIP
[('rock', 0.71), ('metal', 0.12)]
"""

from __future__ import annotations

from pathlib import Path

from music_reclass.errors import ParameterError
from music_reclass.pipeline.prediction import Classifier, Prediction
from music_reclass.pipeline.raw import DEFAULT_MODEL, load_raw_classifier
from music_reclass.pipeline.zeroshot import MUSICNN_MODELS, MusicnnTagClassifier
from music_reclass.taxonomy import Taxonomy

__all__ = [
    "DEFAULT_MODEL",
    "MUSICNN_MODELS",
    "Classifier",
    "MusicnnTagClassifier",
    "Prediction",
    "load_classifier",
    "load_raw_classifier",
]




def load_classifier(
    model: str | Path | None = None,
    *,
    taxonomy: str | Path | Taxonomy = "default",
    top_k: int | None = None,
    top_tags: int | None = 10,
    trusted: bool = True,
    cascade: bool = False,
) -> Classifier:
    """Build a classifier: the embedded default or a trained model file.

    Parameters
    ----------
    model : None, str or Path
        None or ``"musicnn"``: the embedded zero-shot classifier (both musicnn
        taggers + a tag -> genre mapping). Otherwise the path of a trained model
        artifact: a scikit-learn head (``music_reclass.models.artifact``) or, when its
        sidecar says ``"kind": "deep"``, a deep model (``music_reclass.models.deep``).
    taxonomy : str, Path or Taxonomy
        For the embedded classifier: ``"default"`` (17 genres), ``"gtzan"`` (the
        10 GTZAN genres) or a JSON mapping file. Trained models carry their own
        classes: passing another taxonomy with one is an error.
    top_k : int or None
        Keep only the best ``top_k`` genres in each prediction (None: all).
    top_tags : int or None
        Embedded classifier: keep only the best ``top_tags`` tags (None: all 100).
    trusted : bool
        Calibrate the genres and fill each prediction's ``decided``/``abstain_reason``
        with the model's trust parameters (:mod:`music_reclass.trust`); False gives
        the raw model.
    cascade : bool
        The progressive cascade (:mod:`music_reclass.pipeline.cascade`) instead of the
        embedded default; it also fills ``stage``.

    Returns
    -------
    Classifier

    Raises
    ------
    ParameterError
        Unknown taxonomy or invalid mapping file; a taxonomy given with a trained model.
    ModelError
        A model file (or its sidecar) that is missing, damaged or names an unknown extractor.
    FeatureMismatchError
        The installed feature extractor differs from the one the model was trained on.
    """
    if cascade:
        if model is not None and model != DEFAULT_MODEL:
            raise ParameterError("--cascade runs the embedded models: it takes no model file")
        from music_reclass.pipeline.cascade import CascadeClassifier

        return CascadeClassifier(taxonomy, top_k=top_k, top_tags=top_tags)
    if trusted:
        from music_reclass.trust.classifier import load_trusted_classifier

        return load_trusted_classifier(model, taxonomy=taxonomy, top_k=top_k, top_tags=top_tags)
    return load_raw_classifier(model, taxonomy=taxonomy, top_k=top_k, top_tags=top_tags)
