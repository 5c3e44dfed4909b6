"""A trained genre model (artifact + JSON sidecar) behind the :class:`Classifier` interface.

The artifact's sidecar names the feature extractor it was trained on (name,
version, dimension); this adapter gets that extractor from the registry, refuses
it if its version or dimension differ (:class:`FeatureMismatchError`), computes
exactly those features from the audio and calls the model's ``predict_proba``.

The features must be computed from audio read the way the training audio was read
(``fma518`` at 44.1 kHz, ``gtzan58`` at 22.05 kHz, each with its own excerpt rule, the
``musicnn`` embedding from the 16 kHz excerpt): the classifier's ``input`` is the
extractor's, so a classify run hands it exactly that (an excerpt, or just the path for
an extractor that reads files itself). Its ``embedding_space`` is the extractor's too:
a track whose features are already stored (a musicnn head on a library classified by
the default model) is answered from them, without the audio.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from music_reclass.errors import ModelError, ParameterError, SilentAudioError
from music_reclass.pipeline.prediction import Prediction
from music_reclass.pipeline.zeroshot import _check_top

__all__ = ["TrainedClassifier"]



class TrainedClassifier:
    """Classifier from a trained model file (see ``music_reclass.models.artifact``).

    Parameters
    ----------
    path : str or Path
        The model file; its sidecar ``<path>.json`` names the features and classes.
    top_k : int or None
        Keep only the best ``top_k`` genres (None: all classes).

    Attributes
    ----------
    model_id : str
        The artifact's id: name + model-file sha256 prefix (changes with every training).
    classes : tuple of str
        The model's classes, in ``predict_proba`` order.

    Raises
    ------
    ModelError
        The file or its sidecar is missing, damaged, or names an unknown extractor.
    FeatureMismatchError
        The registered extractor is not the version/dimension the model was trained on.
    """

    def __init__(self, path: str | Path, *, top_k: int | None = None) -> None:
        from music_reclass.features import get_extractor
        from music_reclass.models.artifact import load_model

        self.model = load_model(path)
        try:
            self.extractor = get_extractor(self.model.feature_extractor)
        except ParameterError as exc:
            raise ModelError(f"{Path(path).name}: {exc}") from exc
        self.model.check_extractor(self.extractor)
        self.classes: tuple[str, ...] = tuple(self.model.classes)
        self.model_id: str = self.model.model_id
        self.top_k = _check_top(top_k, "top_k")
        self.input = self.extractor.audio_input
        self.embedding_space: str | None = self.extractor.space
        self.vector_dtype = self.extractor.vector_dtype

    def __repr__(self) -> str:
        return f"TrainedClassifier(model_id={self.model_id!r}, features={self.extractor.name!r})"

    def ensure_loaded(self) -> None:
        """Nothing to do: the model is loaded by the constructor."""

    def predict_waveform(self, waveform: np.ndarray) -> Prediction:
        """Classify mono float audio at ``input.sample_rate`` (resampled by the extractor
        if it needs another rate).

        Prefer :meth:`predict_file` for a model whose extractor reads files itself: audio
        at a lower rate has lost what lies above its Nyquist frequency.
        """
        return self.predict_batch([waveform])[0]

    def predict_file(self, path: str | Path) -> Prediction:
        """Classify a file, read the way the feature extractor reads its training audio.

        The features are those of ``self.extractor.extract(path)``.

        Raises
        ------
        AudioError
            (a subclass) when the file cannot be decoded, is too short or is silent.
        """
        y, sr = self.extractor.load(path)
        if not np.any(y):
            raise SilentAudioError("digital silence (every sample is zero)")
        features = self.extractor.extract_waveform(y, sr)
        return self._predict_features(features[None, :], [len(y) / sr])[0]

    def predict_batch(self, waveforms: Sequence[np.ndarray]) -> list[Prediction]:
        """Classify several waveforms at ``input.sample_rate``: features one by one, one
        ``predict_proba`` call."""
        if not waveforms:
            return []
        sr = self.input.sample_rate
        features = np.stack(
            [self.extractor.extract_waveform(np.asarray(w, dtype=np.float32), sr)
             for w in waveforms]
        )
        return self._predict_features(features, [len(w) / sr for w in waveforms])

    def predict_vectors(self, vectors: Mapping[str, np.ndarray]) -> Prediction:
        """Classify from the stored vectors of :attr:`embedding_space` (no audio).

        Raises
        ------
        ModelError
            A vector the features need is missing.
        """
        try:
            features = self.extractor.from_vectors(vectors)
        except KeyError as exc:
            raise ModelError(f"stored vectors lack {exc.args[0]}") from exc
        prediction = self._predict_features(features[None, :], [0.0])[0]
        prediction.vectors = {}
        return prediction

    def _predict_features(self, features: np.ndarray, seconds: list[float]) -> list[Prediction]:
        what = (self.extractor.name, self.extractor.version)
        probabilities = self.model.predict_proba(features, feature=what)
        if probabilities.shape != (len(seconds), len(self.classes)):
            raise ModelError(f"{self.model_id}: predict_proba returned shape {probabilities.shape}")
        return [
            self._prediction(row, vector, s)
            for row, vector, s in zip(probabilities, features, seconds, strict=True)
        ]

    def _prediction(
        self, probabilities: np.ndarray, features: np.ndarray, seconds: float
    ) -> Prediction:
        order = np.argsort(-probabilities, kind="stable")[: self.top_k]
        return Prediction(
            genres=[(self.classes[i], float(probabilities[i])) for i in order],
            vectors={self.extractor.space: self.extractor.to_vectors(features)},
            analysed_seconds=float(seconds),
        )
