"""What every backbone shares: where weights live, loading tensors safely, windowing
audio, batching, layer pooling, and the feature-extractor adapter."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from os import PathLike
from pathlib import Path
from typing import Any

import numpy as np

from music_reclass.errors import ModelError, ParameterError, TooShortError
from music_reclass.features.registry import FeatureExtractor

__all__ = ["Backbone", "BackboneExtractor", "backbones_dir", "file_digest", "load_tensors",
           "locate", "need_transformers", "pool_layers"]


def backbones_dir() -> Path:
    """``RECLASS_BACKBONES_DIR``, else ``<data dir>/backbones`` (not created here)."""
    override = os.environ.get("RECLASS_BACKBONES_DIR")
    if override:
        return Path(override)
    from music_reclass.paths import data_dir

    return data_dir() / "backbones"


def locate(folder: str | PathLike | None, env: str, default_name: str) -> Path:
    """The folder of a backbone: the argument, else ``$env``, else ``backbones_dir()/default_name``."""
    if folder is not None:
        return Path(folder)
    if os.environ.get(env):
        return Path(os.environ[env])
    return backbones_dir() / default_name


def missing_message(what: str, folder: Path, missing: Sequence[str], source: str) -> str:
    return (f"{what} weights not found: {folder} lacks {', '.join(missing)}. Download them "
            f"yourself from {source} and put the files in that folder (nothing is downloaded "
            f"at run time).")


def need_transformers(what: str) -> Any:
    """``import transformers`` or a ModelError saying how to install it."""
    try:
        import transformers
    except ImportError as exc:
        raise ModelError(f"{what} needs the optional 'transformers' package: "
                         "pip install 'music-reclass[backbones]'") from exc
    return transformers


def file_digest(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def load_tensors(path: Path) -> dict[str, Any]:
    """A state dict from ``.safetensors`` or a PyTorch pickle, never running its code.

    Pickles (``.bin``/``.pth``) are read with ``torch.load(weights_only=True)``,
    whose unpickler accepts only tensors and plain containers. A checkpoint that
    wraps the state dict (``{"state_dict": ...}`` or ``{"model": ...}``) is unwrapped.
    """
    import torch

    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            state: Any = load_file(str(path))
        else:
            state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - report any unreadable file the same way
        raise ModelError(f"cannot read weights {path}: {type(exc).__name__}: {exc}") from exc
    for key in ("state_dict", "model", "module"):
        if isinstance(state, dict) and isinstance(state.get(key), dict):
            state = state[key]
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ModelError(f"{path} does not hold a state dict of tensors")
    return state


def pool_layers(layer_means: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """``[..., L, H]`` -> ``[..., H]``: weighted mean over layers (weights sum to 1)."""
    return np.tensordot(layer_means, weights, axes=([-2], [0])).astype(np.float32)


class Backbone:
    """A loaded encoder. Subclasses set the attributes and implement :meth:`forward_layers`.

    Attributes
    ----------
    name, version : str
        ``version`` names the weights (sha256 prefix) and the extraction code.
    sample_rate : int
    window_seconds : float
        Audio is analysed in windows of this length (the last, shorter one too when it
        is at least ``min_seconds``).
    min_seconds : float
    n_layers : int
        Hidden states per window (embedding output + each block).
    dim : int
    """

    name = ""
    version = ""
    sample_rate = 16000
    window_seconds = 5.0
    min_seconds = 1.0
    n_layers = 0
    dim = 0
    max_batch = 8

    def forward_layers(self, windows: np.ndarray) -> np.ndarray:
        """``[B, n]`` windows of equal length -> ``[B, n_layers, dim]`` time-means."""
        raise NotImplementedError

    def windows(self, waveform: np.ndarray) -> list[np.ndarray]:
        """The analysis windows of one waveform at :attr:`sample_rate`."""
        size = int(round(self.window_seconds * self.sample_rate))
        least = int(round(self.min_seconds * self.sample_rate))
        if waveform.size < least:
            raise TooShortError(f"audio lasts {waveform.size / self.sample_rate:.2f} s; "
                                f"{self.name} needs at least {self.min_seconds:.1f} s")
        cuts = [waveform[i : i + size] for i in range(0, waveform.size, size)]
        return [c for c in cuts if c.size >= least] or cuts[:1]

    def layer_means(self, waveforms: Sequence[np.ndarray]) -> np.ndarray:
        """``[n_tracks, n_layers, dim]``: per track, window time-means averaged with
        the windows' lengths as weights. Windows of equal length from all tracks are
        batched together (no padding, so batching does not change the result)."""
        per_track = [self.windows(np.asarray(w, dtype=np.float32)) for w in waveforms]
        flat = [(t, w) for t, ws in enumerate(per_track) for w in ws]
        by_length: dict[int, list[int]] = {}
        for index, (_, window) in enumerate(flat):
            by_length.setdefault(window.size, []).append(index)
        results: list[np.ndarray | None] = [None] * len(flat)
        for indices in by_length.values():
            for start in range(0, len(indices), self.max_batch):
                chunk = indices[start : start + self.max_batch]
                out = self.forward_layers(np.stack([flat[i][1] for i in chunk]))
                for i, row in zip(chunk, out, strict=True):
                    results[i] = row
        means = np.zeros((len(waveforms), self.n_layers, self.dim), dtype=np.float64)
        totals = np.zeros(len(waveforms))
        for (track, window), row in zip(flat, results, strict=True):
            means[track] += window.size * np.asarray(row, dtype=np.float64)
            totals[track] += window.size
        return (means / totals[:, None, None]).astype(np.float32)


class BackboneExtractor(FeatureExtractor):
    """A :class:`Backbone` as a registered feature extractor (lazy, never pickled loaded).

    Parameters
    ----------
    name : str
        Registry name (``"mert"``...).
    loader : callable
        Builds the backbone (called once, in the process that extracts).
    layers : sequence of int, optional
        Only these hidden states (default all).
    layer_weights : sequence of float, optional
        Weights of the chosen layers (normalised to sum 1; default uniform).
    """

    uses_torch = True

    def __init__(self, name: str, loader: Any, *, layers: Sequence[int] | None = None,
                 layer_weights: Sequence[float] | None = None) -> None:
        self.name = name
        self._loader = loader
        self._layers = None if layers is None else [int(i) for i in layers]
        self._layer_weights = None if layer_weights is None else [float(w) for w in layer_weights]
        self._backbone: Backbone | None = None

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_backbone": None}

    @property
    def backbone(self) -> Backbone:
        if self._backbone is None:
            self._backbone = self._loader()
        return self._backbone

    @property
    def sample_rate(self) -> int:  # type: ignore[override]
        return int(self.backbone.sample_rate)

    def _weights(self) -> np.ndarray:
        n = self.backbone.n_layers
        layers = self._layers if self._layers is not None else list(range(n))
        if not layers or any(not -n <= i < n for i in layers):
            raise ParameterError(f"{self.name}: layers must be in [-{n}, {n}), got {layers}")
        given = self._layer_weights or [1.0] * len(layers)
        if len(given) != len(layers) or min(given) < 0 or sum(given) <= 0:
            raise ParameterError(f"{self.name}: one non-negative weight per layer, not all zero")
        weights = np.zeros(n)
        for i, w in zip(layers, given, strict=True):
            weights[i % n] += w
        return weights / weights.sum()

    @property
    def version(self) -> str:  # type: ignore[override]
        pooling = hashlib.sha256(np.round(self._weights(), 6).tobytes()).hexdigest()[:8]
        return f"1+{self.backbone.version}+layers-{pooling}"

    @property
    def feature_names(self) -> list[str]:
        return [f"{self.name}_{i:04d}" for i in range(self.backbone.dim)]

    def load(self, path: str | PathLike) -> tuple[np.ndarray, int]:
        from music_reclass.audio.excerpt import AudioInput, ExcerptPolicy, load_excerpt

        # the same bounded excerpt classify reads, cut into the backbone's windows
        policy = ExcerptPolicy(patch_seconds=self.backbone.window_seconds,
                               min_seconds=self.backbone.min_seconds)
        excerpt = load_excerpt(path, AudioInput(self.sample_rate, policy))
        return excerpt.waveform, self.sample_rate

    def extract_waveform(self, y: np.ndarray, sr: int) -> np.ndarray:
        """Resampled to the backbone's rate (soxr HQ), windowed, layer-pooled."""
        y, _ = self._prepare(y, sr)
        return self._finish(pool_layers(self.backbone.layer_means([y])[0], self._weights()))

    def extract_batch(self, waveforms: Sequence[np.ndarray], sr: int) -> np.ndarray:
        """Several waveforms at once (windows batched across tracks): ``[n, dim]``."""
        prepared = [self._prepare(w, sr)[0] for w in waveforms]
        return pool_layers(self.backbone.layer_means(prepared), self._weights())
