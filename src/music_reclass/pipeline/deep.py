"""A deep model file (``"kind": "deep"``) behind the :class:`Classifier` interface.

The model says what it needs (sidecar ``input``, read by
:func:`~music_reclass.models.deep.frontend.audio_input`): 16 kHz mono excerpts, cut
into ~3 s log-mel patches, musicnn's excerpt policy. The track's probabilities are
the mean of its patches' softmax outputs. The weights load on
:meth:`DeepClassifier.ensure_loaded` (once per worker process) and are never pickled
to workers; building the classifier reads only the sidecar (no torch).

Stored vectors: the model's own embedding space ``deep/<model_id>`` holds, per
track, the mean of the patches' embeddings (``deep.<type>``, the layer the head reads)
and the track's class probabilities (``deep.<type>.probs``). The probabilities are
what :meth:`DeepClassifier.predict_vectors` answers from: the head itself cannot
answer from the pooled embedding, because the mean of patch softmaxes is not the
softmax of the mean embedding. So a classify run with this model answers a track
whose analysis is gone but whose vectors are stored without decoding it again.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from music_reclass.errors import ModelError, ParameterError
from music_reclass.pipeline.prediction import Prediction

__all__ = ["DeepClassifier"]


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

    Attributes
    ----------
    model_id : str
        Name + the first 12 hex digits of the weights' sha256.
    input : AudioInput
        What a classify run decodes for it (16 kHz, musicnn's excerpt policy).
    embedding_space : str
        ``deep/<model_id>``: its own vectors (embedding and probabilities).

    Raises
    ------
    ModelError
        Missing/damaged file or sidecar, or an input the installed code cannot make.
    """

    kind = "deep"
    #: embeddings and probabilities are stored at half precision, like musicnn's
    vector_dtype = "float16"

    def __init__(self, path: str | os.PathLike, *, top_k: int | None = None,
                 device: str = "cpu", max_batch_patches: int = 64) -> None:
        from music_reclass.models.deep.artifact import read_deep_sidecar
        from music_reclass.models.deep.frontend import audio_input
        from music_reclass.pipeline.zeroshot import _check_top

        self.path = Path(path)
        meta = read_deep_sidecar(self.path)
        try:
            self.input = audio_input(meta["input"])
        except ModelError as exc:
            raise ModelError(f"{self.path.name}: {exc}") from exc
        if not self.path.is_file():
            raise ModelError(f"model file missing: {self.path}")
        self.meta = meta
        self.classes: tuple[str, ...] = tuple(str(c) for c in meta["classes"])
        self.model_id: str = f"{meta['name']}@{str(meta['sha256'])[:12]}"
        self.embedding_space: str | None = f"deep/{self.model_id}"
        self._vector = f"deep.{meta.get('model_type') or meta['architecture'].get('type')}"
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
        """Classify a file: the excerpt :attr:`input` asks for, at 16 kHz.

        Raises
        ------
        AudioError
            (a subclass) when the file cannot be turned into analysable audio.
        """
        from music_reclass.audio.excerpt import load_excerpt

        return self.predict_waveform(load_excerpt(path, self.input).waveform)

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
            vectors = {self._vector: all_embeds[start:stop].mean(axis=0),
                       f"{self._vector}.probs": mean.astype(np.float32)}
            out.append(self._prediction(mean, vectors, len(p) * PATCH_SECONDS, len(p)))
            start = stop
        return out

    def predict_vectors(self, vectors: Mapping[str, np.ndarray]) -> Prediction:
        """The stored track of :attr:`embedding_space`: its probabilities, no audio.

        Raises
        ------
        ModelError
            The probabilities are missing or do not fit the classes.
        """
        key = f"{self._vector}.probs"
        if key not in vectors:
            raise ModelError(f"stored vectors lack {key}")
        probs = np.asarray(vectors[key], dtype=np.float64)
        if probs.shape != (len(self.classes),) or not np.all(np.isfinite(probs)):
            raise ModelError(f"stored {key} has shape {probs.shape}, not ({len(self.classes)},)")
        # stored at half precision: renormalise so the genres still sum to 1
        return self._prediction(probs / max(probs.sum(), 1e-12), {}, 0.0, 0)

    def _prediction(self, probs: np.ndarray, vectors: dict[str, np.ndarray], seconds: float,
                    n_patches: int) -> Prediction:
        order = np.argsort(-probs, kind="stable")[: self.top_k]
        return Prediction(
            genres=[(self.classes[i], float(probs[i])) for i in order],
            vectors={self.embedding_space: vectors} if vectors else {},
            analysed_seconds=float(seconds),
            n_patches=int(n_patches),
        )
