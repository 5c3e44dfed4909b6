"""Track-level musicnn embedding: 500 values from the two musicnn models.

musicnn (Pons & Serra, 2019) analyses 3 s patches (187 log-mel frames at 16 kHz).
The track's vector concatenates, averaged over its patches:

====================  ====  =================================================
block                 size  what
====================  ====  =================================================
``msd_penult_NNN``    200   MSD_musicnn penultimate layer (dense + ReLU + BN)
``mtt_penult_NNN``    200   MTT_musicnn penultimate layer
``msd_tag_<tag>``      50   MSD_musicnn tag probabilities (taggram mean)
``mtt_tag_<tag>``      50   MTT_musicnn tag probabilities
====================  ====  =================================================

The penultimate layers are the usual musicnn embeddings for transfer learning
(the two models were trained on different tag vocabularies, so they complement
each other); the tag means are the same information squeezed through each
model's own tags, cheap to add and readable. A head can select any block by
name. Audio is read with :func:`music_reclass.audio.excerpt.load_excerpt`, the
same bounded excerpt the classifier analyses, so training and classification
see the same kind of input.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from os import PathLike
from typing import Any

import numpy as np

from music_reclass.audio.excerpt import AudioInput
from music_reclass.errors import TooShortError
from music_reclass.features.registry import FeatureExtractor
from music_reclass.models.musicnn.spec import (
    MIN_SAMPLES,
    MUSICNN_INPUT,
    musicnn_space,
    read_sidecar,
    shipped_versions,
    versions_text,
)

__all__ = ["MusicnnEmbeddingExtractor", "MODELS"]

MODELS: tuple[tuple[str, str], ...] = (("MSD_musicnn", "msd"), ("MTT_musicnn", "mtt"))
MODELS_ONLY = tuple(model for model, _ in MODELS)
_SR = MUSICNN_INPUT.sample_rate
_PENULTIMATE = 200
#: the stored vectors that make up the 500 values, in feature order
VECTOR_LAYOUT = (("msd.penultimate", 200), ("mtt.penultimate", 200),
                 ("msd.taggram", 50), ("mtt.taggram", 50))


def _tag_slug(tag: str) -> str:
    return "".join(c if c.isalnum() else "_" for c in tag.strip().lower())


class MusicnnEmbeddingExtractor(FeatureExtractor):
    """Mean over patches of MSD and MTT musicnn penultimate layers and tag probabilities."""

    name = "musicnn"
    #: bump whenever the pooling or the layout changes; model versions are appended
    base_version = "1"
    sample_rate = _SR
    uses_torch = True
    vector_dtype = "float16"

    def __init__(self) -> None:
        self._nets: dict[str, Any] | None = None
        self._lock = threading.Lock()

    # The models are loaded on first use and never pickled: worker processes load
    # their own copy once.
    def __getstate__(self) -> dict[str, Any]:
        return {}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__()

    def _models(self) -> dict[str, Any]:
        with self._lock:
            if self._nets is None:
                from music_reclass.models.musicnn import load_musicnn

                self._nets = {prefix: load_musicnn(model) for model, prefix in MODELS}
            return self._nets

    @property
    def version(self) -> str:  # type: ignore[override]
        return "+".join([self.base_version, *shipped_versions(MODELS_ONLY).values()])

    @property
    def space(self) -> str:
        """The same space as the zero-shot classifier's: classify's stored vectors are
        exactly this extractor's features, so training reads them instead of decoding."""
        return musicnn_space(versions_text(shipped_versions(MODELS_ONLY)))

    @property
    def audio_input(self) -> AudioInput:
        return MUSICNN_INPUT

    def to_vectors(self, features: np.ndarray) -> dict[str, np.ndarray]:
        features = np.asarray(features, dtype=np.float32)
        out, start = {}, 0
        for name, length in VECTOR_LAYOUT:
            out[name] = features[start : start + length]
            start += length
        return out

    def from_vectors(self, vectors: Mapping[str, np.ndarray]) -> np.ndarray:
        return self._finish(np.concatenate(
            [np.asarray(vectors[name], dtype=np.float32).ravel() for name, _ in VECTOR_LAYOUT]))

    @property
    def feature_names(self) -> list[str]:
        # from the weights' sidecars: naming the features needs no network (nor torch)
        names = [f"{p}_penult_{i:03d}" for _, p in MODELS for i in range(_PENULTIMATE)]
        names += [f"{p}_tag_{_tag_slug(tag)}" for model, p in MODELS
                  for tag in read_sidecar(model)["labels"]]
        return names

    def load(self, path: str | PathLike) -> tuple[np.ndarray, int]:
        from music_reclass.audio.excerpt import load_excerpt

        return load_excerpt(path, MUSICNN_INPUT).waveform, _SR

    def extract_waveform(self, y: np.ndarray, sr: int) -> np.ndarray:
        """Embedding of a waveform; resampled to 16 kHz when ``sr`` differs.

        Raises
        ------
        TooShortError
            If the audio is shorter than one 3 s patch.
        """
        from music_reclass.models.musicnn import log_mel

        y, _ = self._prepare(y, sr)
        nets = self._models()
        if y.size < MIN_SAMPLES:
            raise TooShortError(f"audio shorter than one musicnn patch: {y.size / _SR:.2f} s")
        logmel = log_mel(y, sr=_SR)  # both models share the front end: compute it once
        outputs = [nets[prefix].extract(logmel=logmel) for _, prefix in MODELS]
        return self._finish(
            np.concatenate(
                [out["penultimate"].mean(axis=0, dtype=np.float64) for out in outputs]
                + [out["taggram"].mean(axis=0, dtype=np.float64) for out in outputs]
            )
        )
