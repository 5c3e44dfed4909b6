"""The outcome of classifying one track, and the interface every classifier offers."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np

__all__ = ["Classifier", "Prediction"]


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
    embeddings : dict of str to np.ndarray
        Track-level vectors (float32), e.g. ``"msd.penultimate"`` [200]: the mean
        over patches of each model's layer.
    analysed_seconds : float
        Seconds of audio the model actually looked at.
    n_patches : int
        Number of model patches (about 3 s each for musicnn).
    decided : list of str or None
        The genres the decision policy lets ``reclass tag`` write by default (best
        first; empty when it abstains); None when no policy was applied
        (see :mod:`music_reclass.trust`).
    abstain_reason : str or None
        Why the policy abstained: ``"out-of-vocabulary"``, ``"ambiguous"`` or
        ``"low-confidence"``; None when it decided (or was not applied).
    stage : str or None
        The cascade stage that decided the track (None outside a cascade).
    """

    genres: list[tuple[str, float]]
    tags: list[tuple[str, float]] = field(default_factory=list)
    embeddings: dict[str, np.ndarray] = field(default_factory=dict)
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
    def decided_label(self) -> str | None:
        """The first decided genre, or None (abstained, or no policy applied)."""
        return self.decided[0] if self.decided else None

    def as_records(self) -> dict[str, object]:
        """JSON-ready summary (no embeddings), in the DB's ``{"label", "confidence"}`` form.

        ``decided`` is the first decided genre or None (the ``"decided"`` of
        ``reclass classify --json``); ``decided_genres`` all of them.
        """
        return {
            "genres": [{"label": g, "confidence": round(float(c), 6)} for g, c in self.genres],
            "tags": [{"label": t, "confidence": round(float(c), 6)} for t, c in self.tags],
            "analysed_seconds": float(self.analysed_seconds),
            "n_patches": int(self.n_patches),
            "decided": self.decided_label,
            "decided_genres": list(self.decided or []),
            "abstain_reason": self.abstain_reason,
            "stage": self.stage,
        }


@runtime_checkable
class Classifier(Protocol):
    """One audio track in, one :class:`Prediction` out.

    ``model_id`` names the model *and* everything that changes its output (model
    version, mapping content hash): it is the key of analyses in the library DB.
    """

    model_id: str
    classes: tuple[str, ...]

    def predict_waveform(self, waveform: np.ndarray) -> Prediction:
        """Classify mono float audio at 16 kHz."""
        ...

    def predict_file(self, path: str | Path) -> Prediction:
        """Classify an audio file (a bounded excerpt of it, see ``audio.excerpt``)."""
        ...

    def predict_batch(self, waveforms: Sequence[np.ndarray]) -> list[Prediction]:
        """Classify several 16 kHz waveforms, batching the model's forward passes."""
        ...
