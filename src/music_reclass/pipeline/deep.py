"""A deep model file (``"kind": "deep"``) behind the :class:`Classifier` interface.

The model says what it needs (sidecar ``input``): 16 kHz mono excerpts, cut into
~3 s log-mel patches; the track's probabilities are the mean of its patches'
softmax outputs. The weights load on :meth:`DeepClassifier.ensure_loaded` (once per
worker process) and are never pickled to workers.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from music_reclass.errors import ModelError, ParameterError
from music_reclass.pipeline.prediction import Prediction

__all__ = ["DeepClassifier", "ModelInput"]


@dataclass(frozen=True)
class ModelInput:
    """What audio the model wants (the fields of the lead's ``AudioInput``).

    ``policy`` is the :class:`~music_reclass.audio.excerpt.ExcerptPolicy` of long
    tracks; ``mode`` is ``"excerpt"``: a run decodes the excerpt and calls
    :meth:`DeepClassifier.predict_batch`.
    """

    sample_rate: int
    patch_seconds: float
    policy: Any

    @property
    def mode(self) -> str:
        return "excerpt" if self.policy is not None else "file"


def _model_input(sample_rate: int, patch_seconds: float) -> Any:
    from music_reclass.audio.excerpt import ExcerptPolicy

    try:  # the lead's AudioInput, once it is on main
        from music_reclass.pipeline.prediction import AudioInput  # type: ignore[attr-defined]
    except ImportError:
        AudioInput = ModelInput  # noqa: N806
    return AudioInput(sample_rate=sample_rate, patch_seconds=patch_seconds, policy=ExcerptPolicy())


class DeepClassifier:
    """Classifier from a deep model file (see ``music_reclass.models.deep.artifact``).

    Parameters
    ----------
    path : str or Path
    top_k : int or None
        Keep only the best ``top_k`` genres.
    device : str
        ``"cpu"`` (default: a classify run's workers share the cores), ``"cuda"``...
    max_batch_patches : int
        Patches per forward call (bounds memory, not results).

    Raises
    ------
    ModelError
        Missing/damaged file or sidecar, or an input the installed code cannot make.
    """

    #: a classify run (today's scan) hands :meth:`predict_batch` the 16 kHz excerpt
    audio_input = "excerpt"
    embedding_space = None

    def __init__(self, path: str | os.PathLike, *, top_k: int | None = None,
                 device: str = "cpu", max_batch_patches: int = 64) -> None:
        from music_reclass.models.deep.artifact import read_deep_sidecar
        from music_reclass.models.deep.frontend import FRONTEND, SR
        from music_reclass.pipeline.zeroshot import _check_top

        self.path = Path(path)
        meta = read_deep_sidecar(self.path)
        spec = meta["input"]
        if spec.get("frontend") != FRONTEND or int(spec.get("sample_rate", 0)) != SR:
            raise ModelError(f"{self.path.name} needs input {spec.get('frontend')!r} at "
                             f"{spec.get('sample_rate')} Hz; this version makes {FRONTEND!r}")
        if not self.path.is_file():
            raise ModelError(f"model file missing: {self.path}")
        self.meta = meta
        self.classes: tuple[str, ...] = tuple(str(c) for c in meta["classes"])
        self.model_id: str = f"{meta['name']}@{str(meta['sha256'])[:12]}"
        self.input = _model_input(SR, float(spec["patch_seconds"]))
        self.top_k = _check_top(top_k, "top_k")
        self.device = device
        if max_batch_patches < 1:
            raise ParameterError(f"max_batch_patches must be >= 1, got {max_batch_patches}")
        self.max_batch_patches = int(max_batch_patches)
        self._net: Any = None

    def __repr__(self) -> str:
        return f"DeepClassifier(model_id={self.model_id!r}, type={self.meta.get('model_type')!r})"

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_net"] = None  # each worker loads (and checks) the weights itself
        return state

    def ensure_loaded(self) -> None:
        """Load and check the weights (sha256, shapes) once."""
        if self._net is None:
            import torch

            from music_reclass.models.deep.artifact import load_deep_model

            model = load_deep_model(self.path)
            if model.meta["sha256"] != self.meta["sha256"]:
                raise ModelError(f"{self.path.name} changed since the classifier was built")
            self._net = model.network().to(torch.device(self.device))

    def predict_waveform(self, waveform: np.ndarray) -> Prediction:
        """Classify mono float audio at 16 kHz."""
        return self.predict_batch([waveform])[0]

    def predict_file(self, path: str | os.PathLike) -> Prediction:
        """Classify a file: the bounded excerpt ``classify`` analyses, at 16 kHz."""
        from music_reclass.audio.excerpt import load_excerpt

        excerpt = load_excerpt(path, sr=self.input.sample_rate, policy=self.input.policy)
        return self.predict_waveform(excerpt.waveform)

    def predict_batch(self, waveforms: Sequence[np.ndarray]) -> list[Prediction]:
        """Classify several 16 kHz waveforms; patches of all go through the network together.

        Raises
        ------
        TooShortError
            A waveform shorter than one patch (nothing is returned then).
        """
        import torch

        from music_reclass.models.deep.frontend import PATCH_SECONDS, track_patches

        if not waveforms:
            return []
        self.ensure_loaded()
        patches = [track_patches(np.asarray(w)) for w in waveforms]
        stacked = torch.from_numpy(np.ascontiguousarray(np.concatenate(patches)))
        probs, embeds = [], []
        with torch.inference_mode():
            for start in range(0, len(stacked), self.max_batch_patches):
                batch = stacked[start : start + self.max_batch_patches].to(self.device)
                embedding = self._net.embed(batch)
                logits = self._net.head(embedding)
                probs.append(torch.softmax(logits.float(), dim=1).cpu().numpy())
                embeds.append(embedding.float().cpu().numpy())
        all_probs, all_embeds = np.concatenate(probs), np.concatenate(embeds)
        out, start = [], 0
        for p in patches:
            stop = start + len(p)
            mean = all_probs[start:stop].mean(axis=0, dtype=np.float64)
            order = np.argsort(-mean, kind="stable")[: self.top_k]
            out.append(Prediction(
                genres=[(self.classes[i], float(mean[i])) for i in order],
                embeddings={f"deep.{self.meta['model_type']}": all_embeds[start:stop].mean(axis=0)},
                analysed_seconds=len(p) * PATCH_SECONDS,
                n_patches=len(p),
            ))
            start = stop
        return out
