"""The outcome of classifying one track, and the interface every classifier offers."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

import numpy as np

from music_reclass.audio.excerpt import AudioInput

__all__ = ["AudioInput", "Classifier", "Prediction"]


@dataclass(eq=False)
class Prediction:
    """What a classifier says about one track.

    Attributes
    ----------
    genres : list of (str, float)
        ``(genre, probability)`` best first; the probabilities of all the
        classifier's classes sum to 1 (fewer pairs when ``top_k`` truncated them).
    tags : list of (str, float)
        ``("msd:rock", probability)`` best first: the track-level tag probabilities
        of the tagging models, merged (empty for classifiers without tags).
    vectors : dict of str to dict of str to np.ndarray
        Track-level vectors by embedding space, e.g.
        ``{"musicnn/...": {"msd.penultimate": [200], ...}}``: what the library stores,
        so that other models on the same space answer without the audio.
    analysed_seconds : float
        Seconds of audio the model actually looked at.
    n_patches : int
        Number of model patches (about 3 s each for musicnn).
    decided : list of str or None
        The genre(s) the decision policy commits to (what ``reclass tag`` writes by
        default), or None when it abstains.
    abstain_reason : str or None
        Why it abstained (one line), when it did.
    stage : str or None
        The cascade stage that decided, for a cascade.
    """

    genres: list[tuple[str, float]]
    tags: list[tuple[str, float]] = field(default_factory=list)
    vectors: dict[str, dict[str, np.ndarray]] = field(default_factory=dict)
    analysed_seconds: float = 0.0
    n_patches: int = 0
    decided: list[str] | None = None
    abstain_reason: str | None = None
    stage: str | None = None

    @property
    def top(self) -> tuple[str, float]:
        """The best ``(genre, probability)``."""
        return self.genres[0]

    @property
    def embeddings(self) -> dict[str, np.ndarray]:
        """Every track-level vector by name, whatever its space."""
        return {name: array for arrays in self.vectors.values() for name, array in arrays.items()}

    def as_records(self) -> dict[str, object]:
        """JSON-ready summary (no vectors), in the DB's ``{"label", "confidence"}`` form."""
        return {
            "genres": [{"label": g, "confidence": round(float(c), 6)} for g, c in self.genres],
            "tags": [{"label": t, "confidence": round(float(c), 6)} for t, c in self.tags],
            "analysed_seconds": float(self.analysed_seconds),
            "n_patches": int(self.n_patches),
            "decided": self.decided,
            "abstain_reason": self.abstain_reason,
            "stage": self.stage,
        }


@runtime_checkable
class Classifier(Protocol):
    """One audio track in, one :class:`Prediction` out: what the runner calls.

    ``model_id`` names the model *and* everything that changes its output (model
    version, mapping content hash, calibration): it is the key of analyses in the
    library DB. ``input`` says what audio it needs; the runner decodes exactly that.
    ``embedding_space`` names the vectors it stores and can answer from
    (:meth:`predict_vectors`); None when it cannot answer without the audio.
    """

    model_id: str
    classes: tuple[str, ...]
    input: AudioInput
    embedding_space: str | None

    def ensure_loaded(self) -> None:
        """Load weights now (a worker process does it once, before its first file)."""
        ...

    def predict_batch(self, waveforms: Sequence[np.ndarray]) -> list[Prediction]:
        """Classify several excerpts at ``input.sample_rate`` (``input.mode == "excerpt"``)."""
        ...

    def predict_file(self, path: str | os.PathLike) -> Prediction:
        """Classify an audio file, reading it as ``input`` says."""
        ...

    def predict_vectors(self, vectors: Mapping[str, np.ndarray]) -> Prediction:
        """Classify from the stored vectors of ``embedding_space`` (no audio)."""
        ...
