"""Any classifier, with calibrated genres and a decision: :class:`TrustedClassifier`.

It wraps a classifier of :mod:`music_reclass.pipeline` (the zero-shot default, a
trained model file), recalibrates every prediction's genres with the model's
:class:`~.model.TrustModel` and fills the prediction's ``decided`` and
``abstain_reason``. Its ``model_id`` is the wrapped model's plus the digest of the
trust parameters, so analyses before and after a (re)calibration never mix. It reads
and stores the same vectors as the wrapped model (same ``embedding_space``): a library
classified by the raw model, or under other trust parameters, is re-decided from its
stored vectors, without decoding the audio again.

>>> clf = load_trusted_classifier(taxonomy="gtzan")        # doctest: +SKIP
>>> p = clf.predict_file("song.mp3")                      # doctest: +SKIP
>>> p.genres[0], p.decided, p.abstain_reason              # doctest: +SKIP
(('jazz', 0.93), ['jazz'], None)
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from music_reclass.errors import ModelError, ParameterError
from music_reclass.pipeline.prediction import Prediction
from music_reclass.trust.model import (
    LOG_PROBABILITIES,
    TAXONOMY_EVIDENCE,
    TrustModel,
    read_sidecar_decision,
    read_trust,
    shipped_trust,
)
from music_reclass.trust.policy import DecisionPolicy

__all__ = ["UNCALIBRATED_MIN_CONFIDENCE", "TrustedClassifier", "load_trusted_classifier",
           "uncalibrated_trust"]

#: without calibration, only probabilities this high are decided (a cautious default)
UNCALIBRATED_MIN_CONFIDENCE = 0.9


def uncalibrated_trust(reason: str) -> TrustModel:
    """Trust parameters for a model nobody calibrated: probabilities unchanged, a
    decision only above :data:`UNCALIBRATED_MIN_CONFIDENCE`."""
    return TrustModel(LOG_PROBABILITIES, None, None, DecisionPolicy(
        UNCALIBRATED_MIN_CONFIDENCE, fitted_on={"uncalibrated": reason}))


class TrustedClassifier:
    """A classifier whose predictions are calibrated and decided (the ``Classifier`` protocol).

    Parameters
    ----------
    base : Classifier
        Built with ``top_k=None`` (the calibration needs every class).
    trust : TrustModel
    top_k : int or None
        Genres kept per prediction, after calibration.

    Attributes
    ----------
    model_id : str
        The base's id plus ``/trust@<digest>`` of the trust parameters (those of an
        uncalibrated pass-through too: its decisions are stored with the genres).
    input, embedding_space, vector_dtype
        The base's: a trusted model reads the same audio and stores and answers from the
        same vectors, so calibrating or re-deciding a library (a new ``model_id``, the
        same space) is answered from the stored vectors, without decoding again.

    Other attributes (``nets``, ``taxonomy``...) are the base's.
    """

    def __init__(self, base: Any, trust: TrustModel, *, top_k: int | None = None) -> None:
        self.base = base
        self.trust = trust
        self.top_k = top_k
        self.classes: tuple[str, ...] = tuple(base.classes)
        self.input = base.input
        self.embedding_space: str | None = getattr(base, "embedding_space", None)
        self.vector_dtype: str = getattr(base, "vector_dtype", "float16")
        # the decisions are stored with the genres: new trust parameters (a calibration,
        # another threshold) make new analyses, never mixed with the old ones
        self.model_id = f"{base.model_id}/trust@{trust.digest[:12]}"
        if trust.scores == TAXONOMY_EVIDENCE and getattr(base, "taxonomy", None) is None:
            raise ValueError("taxonomy-evidence calibration needs a zero-shot base classifier")

    def __getattr__(self, name: str) -> Any:
        # only reached for attributes this class lacks: delegate to the wrapped model
        if name.startswith("__") or "base" not in self.__dict__:
            raise AttributeError(name)
        return getattr(self.base, name)

    def __repr__(self) -> str:
        return f"TrustedClassifier(model_id={self.model_id!r})"

    def ensure_loaded(self) -> None:
        self.base.ensure_loaded()

    def predict_waveform(self, waveform: np.ndarray) -> Prediction:
        return self._trusted(self.base.predict_waveform(waveform))

    def predict_file(self, path: str | os.PathLike) -> Prediction:
        return self._trusted(self.base.predict_file(path))

    def predict_batch(self, waveforms: Sequence[np.ndarray]) -> list[Prediction]:
        return [self._trusted(p) for p in self.base.predict_batch(waveforms)]

    def predict_vectors(self, vectors: Mapping[str, np.ndarray]) -> Prediction:
        """Answer from a track's stored vectors of :attr:`embedding_space` (no audio).

        Raises
        ------
        ModelError
            A vector the base model or the trust parameters need is missing.
        """
        try:
            return self._trusted(self.base.predict_vectors(vectors), vectors)
        except ParameterError as exc:  # e.g. a taggram missing for the genre evidence
            raise ModelError(str(exc)) from exc

    def predict_tags(self, tag_probs: Mapping[str, np.ndarray]) -> Prediction:
        """Zero-shot only: from track-level tag probabilities (see the base's method)."""
        prediction = self.base.predict_tags(tag_probs)
        vectors = {f"{m.split('_')[0].lower()}.taggram": np.asarray(v, dtype=np.float32)
                   for m, v in tag_probs.items()}
        return self._trusted(prediction, vectors)

    def decide_stored(self, genres: Sequence[Any], vectors: Mapping[str, np.ndarray]) -> Any:
        """The decision for a stored analysis of this model (genres already calibrated)."""
        return self.trust.decide_stored(genres, self._with_features(vectors), self.classes,
                                        getattr(self.base, "taxonomy", None))

    def _with_features(self, vectors: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """``vectors`` plus the base's feature vector ``features.<extractor>`` when the base
        is a trained head (what a prototype out-of-vocabulary detector reads), whatever
        the names its extractor stores its features under."""
        out = dict(vectors)
        extractor = getattr(self.base, "extractor", None)
        name = f"features.{getattr(extractor, 'name', '')}"
        if extractor is not None and name not in out:
            # not there: the OOV rule is skipped for this track
            with contextlib.suppress(KeyError, ValueError, RuntimeError):
                out[name] = extractor.from_vectors(vectors)
        return out

    def _trusted(self, prediction: Prediction, vectors: Mapping[str, np.ndarray] | None = None
                 ) -> Prediction:
        flat = prediction.embeddings if vectors is None else vectors
        genres, decision = self.trust.assess(
            prediction.genres, self.classes, self._with_features(flat),
            getattr(self.base, "taxonomy", None))
        # the store's convention: decided None is an abstention (with its reason)
        return replace(prediction, genres=genres[: self.top_k],
                       decided=list(decision.decided) or None, abstain_reason=decision.reason)


def load_trusted_classifier(
    model: str | Path | None = None,
    *,
    taxonomy: Any = "default",
    top_k: int | None = None,
    top_tags: int | None = 10,
) -> TrustedClassifier:
    """The embedded default or a trained model file, calibrated and with its decision policy.

    The default's parameters ship with the package for the built-in taxonomies
    (``trust/data/zeroshot-<name>.json``, fitted on ``../shared/audio/gtzan-dev``);
    a trained model's are in its sidecar (``"trust"``, written by
    :func:`~.model.write_trust`). A model without them is passed through uncalibrated,
    with a cautious policy (:func:`uncalibrated_trust`).

    Parameters
    ----------
    model : None, "musicnn", str or Path
    taxonomy : str, Path or Taxonomy
        For the default model only.
    top_k, top_tags : int or None

    Raises
    ------
    ParameterError, ModelError, FeatureMismatchError
        As :func:`music_reclass.pipeline.load_classifier`.
    """
    from music_reclass.pipeline.zeroshot import MusicnnTagClassifier

    if model is None or (isinstance(model, str) and model == "musicnn"):
        base = MusicnnTagClassifier(taxonomy, top_k=None, top_tags=top_tags)
        tax = base.taxonomy
        trust = shipped_trust("zeroshot", tax.name, tax.digest) or uncalibrated_trust(
            f"no calibration ships for the taxonomy {tax.name!r} ({tax.source})")
        return TrustedClassifier(base, trust, top_k=top_k)
    if taxonomy != "default":
        raise ParameterError(
            "taxonomy applies to the embedded classifier only: a trained model has its own classes")
    from music_reclass.pipeline.raw import load_raw_classifier

    if read_sidecar_decision(model) is not None:
        # a model calibrated and decided by its own policy (the personal head, fitted by
        # cross-validation): wrapping it would re-decide with another, uncalibrated rule
        return load_raw_classifier(model, top_k=top_k)
    base = load_raw_classifier(model, top_k=None)  # a trained head or a deep model
    trust = read_trust(model) or uncalibrated_trust(f"{Path(model).name} has no calibration")
    return TrustedClassifier(base, trust, top_k=top_k)
