"""The feature-extractor interface and the registry of extractors by name.

An extractor turns one audio file (or waveform) into one fixed-length float32
vector. Its ``version`` is part of every cache key: bump it whenever the output
of ``extract`` could change, so that stale cached vectors are never mixed with
new ones.

The built-in extractors are imported lazily (``musicnn`` pulls in torch), so
``available_extractors()`` is cheap.
"""

from __future__ import annotations

import abc
import importlib
import threading
from collections.abc import Callable, Mapping
from os import PathLike

import numpy as np

from music_reclass.audio.excerpt import AudioInput
from music_reclass.errors import ParameterError, TooShortError

__all__ = [
    "FeatureExtractor",
    "available_extractors",
    "get_extractor",
    "register_extractor",
]


class FeatureExtractor(abc.ABC):
    """One track -> one feature vector.

    Subclasses set ``name``, ``version`` and ``sample_rate`` and implement
    :meth:`feature_names` and :meth:`extract_waveform`; they may override
    :meth:`load` to choose how audio is read (rate, excerpt).

    Attributes
    ----------
    name : str
        Registry name, e.g. ``"fma518"``.
    version : str
        Changes whenever the output of :meth:`extract` changes.
    sample_rate : int or None
        Rate the audio is decoded at; ``None`` means the file's own rate.
    """

    name: str = ""
    version: str = ""
    sample_rate: int | None = None
    #: set by extractors that run torch, so worker processes can limit its threads
    uses_torch: bool = False
    #: how the library stores these features: exact float32 for handcrafted features
    #: (a model scales each one), float16 for learnt embeddings
    vector_dtype: str = "float32"

    @property
    @abc.abstractmethod
    def feature_names(self) -> list[str]:
        """One name per output dimension, in output order."""

    @property
    def dim(self) -> int:
        """Length of the feature vector."""
        return len(self.feature_names)

    @abc.abstractmethod
    def extract_waveform(self, y: np.ndarray, sr: int) -> np.ndarray:
        """Features of a mono waveform.

        Parameters
        ----------
        y : np.ndarray [shape=(n,)]
            Mono audio, float.
        sr : int > 0
            Its sample rate.

        Returns
        -------
        np.ndarray [shape=(dim,), dtype=float32]
        """

    @abc.abstractmethod
    def load(self, path: str | PathLike) -> tuple[np.ndarray, int]:
        """Decode ``path`` the way this extractor analyses it: ``(y, sr)``."""

    def extract(self, path: str | PathLike) -> np.ndarray:
        """Features of one audio file.

        Raises the audio layer's :class:`~music_reclass.errors.AudioError`
        subclasses for files that cannot be analysed.
        """
        y, sr = self.load(path)
        return self.extract_waveform(y, sr)

    # -- how the library stores these features ----------------------------------

    @property
    def space(self) -> str:
        """The embedding space of the stored vectors: name and version, so vectors of
        another version are never read as these."""
        return f"{self.name}@{self.version}"

    @property
    def audio_input(self) -> AudioInput:
        """What a classify run hands a model using these features: nothing but the path
        (the extractor reads audio its own way, see :meth:`load`)."""
        return AudioInput(self.sample_rate or 22050, None)

    def to_vectors(self, features: np.ndarray) -> dict[str, np.ndarray]:
        """The named vectors stored for one track's features."""
        return {f"features.{self.name}": np.asarray(features, dtype=np.float32)}

    def from_vectors(self, vectors: Mapping[str, np.ndarray]) -> np.ndarray:
        """Inverse of :meth:`to_vectors` (stored vectors back to a feature vector).

        Raises
        ------
        KeyError
            A vector of the layout is missing.
        """
        return self._finish(np.asarray(vectors[f"features.{self.name}"], dtype=np.float32))

    def __repr__(self) -> str:
        return f"<{type(self).__name__} name={self.name!r} version={self.version!r} dim={self.dim}>"

    # -- helpers for subclasses -------------------------------------------------

    @staticmethod
    def _check_waveform(y: np.ndarray, sr: int) -> np.ndarray:
        """Validate a mono waveform; return it as a contiguous float32 array."""
        y = np.asarray(y)
        if y.ndim != 1:
            raise ParameterError(f"expected a mono waveform (1-D), got shape {y.shape}")
        if y.size == 0:
            raise ParameterError("empty waveform")
        if not np.issubdtype(y.dtype, np.floating):
            raise ParameterError(f"expected a float waveform, got dtype {y.dtype}")
        if not (isinstance(sr, int | np.integer) and sr > 0):
            raise ParameterError(f"sr must be a positive integer, got {sr!r}")
        if not np.all(np.isfinite(y)):
            raise ParameterError("waveform contains NaN or infinite samples")
        return np.ascontiguousarray(y, dtype=np.float32)

    def _prepare(self, y: np.ndarray, sr: int) -> tuple[np.ndarray, int]:
        """Validate, and resample to ``self.sample_rate`` (soxr HQ) when it is set
        and differs: features are defined at one rate, whatever the caller has."""
        y = self._check_waveform(y, sr)
        if self.sample_rate is not None and int(sr) != self.sample_rate:
            import soxr

            y = np.ascontiguousarray(soxr.resample(y, int(sr), self.sample_rate, quality="HQ"))
            y = y.astype(np.float32, copy=False)
            sr = self.sample_rate
        return y, int(sr)

    def _finish(self, vector: np.ndarray) -> np.ndarray:
        """Check the output shape; return float32."""
        vector = np.asarray(vector, dtype=np.float32).reshape(-1)
        if vector.shape != (self.dim,):
            raise RuntimeError(
                f"{self.name} produced {vector.shape[0]} values, expected {self.dim}"
            )
        return vector


#: fewer samples than one 2048-sample analysis frame cannot be described
MIN_SAMPLES = 2048


def load_centred(
    path: str | PathLike,
    *,
    sr: int | None,
    max_duration: float | None,
    clip_duration: float | None,
) -> tuple[np.ndarray, int]:
    """Decode a file, keeping only its central ``clip_duration`` seconds when
    it is longer than ``max_duration``.

    Dataset clips (GTZAN 29.9-30.7 s, FMA) are analysed whole; a full-length
    track is reduced to a clip of the same length as the dataset's, taken from
    its middle (where FMA also cut its 30 s clips), which also bounds the cost.

    Parameters
    ----------
    path : str or PathLike
    sr : int or None
        Decoding rate; ``None`` keeps the file's own rate.
    max_duration, clip_duration : float or None
        ``None`` disables the cropping.
    """
    from music_reclass.audio.decode import audio_info, load_audio

    info = None
    if sr is None or max_duration is not None:
        info = audio_info(path)
    rate = int(info.sample_rate) if sr is None else int(sr)
    offset, duration = 0.0, None
    if (
        info is not None
        and max_duration is not None
        and clip_duration is not None
        and info.duration is not None
        and info.duration > max_duration
    ):
        offset = max(0.0, (float(info.duration) - clip_duration) / 2.0)
        duration = clip_duration
    y = load_audio(path, sr=rate, offset=offset, duration=duration)
    if len(y) < MIN_SAMPLES:
        raise TooShortError(f"too short: {len(y)} samples, need at least {MIN_SAMPLES}")
    return y, rate


# -- registry ------------------------------------------------------------------

#: built-in extractors: name -> (module, class), imported on first use
_BUILTIN: dict[str, tuple[str, str]] = {
    "fma518": ("music_reclass.features.fma518", "FMA518Extractor"),
    "gtzan58": ("music_reclass.features.gtzan58", "GTZAN58Extractor"),
    "gtzan53": ("music_reclass.features.gtzan_spectral", "GTZANSpectralExtractor"),
    "musicnn": ("music_reclass.features.musicnn_embedding", "MusicnnEmbeddingExtractor"),
    # large pretrained encoders, from local weights folders (features/backbones/)
    "mert": ("music_reclass.features.backbones.mert", "mert_extractor"),
    "mert-330m": ("music_reclass.features.backbones.mert", "mert_330m_extractor"),
    "openjmla": ("music_reclass.features.backbones.openjmla", "openjmla_extractor"),
}
#: name prefixes whose rest is an argument, e.g. ``hf:PATH`` (a Hugging Face audio model
#: saved in folder PATH): prefix -> (module, factory taking the argument)
_PREFIXED: dict[str, tuple[str, str]] = {
    "hf:": ("music_reclass.features.backbones.hf", "hf_extractor"),
}
_FACTORIES: dict[str, Callable[[], FeatureExtractor]] = {}
_INSTANCES: dict[str, FeatureExtractor] = {}
_LOCK = threading.Lock()


def register_extractor(
    name: str, factory: Callable[[], FeatureExtractor], *, overwrite: bool = False
) -> None:
    """Make ``get_extractor(name)`` return ``factory()``.

    Parameters
    ----------
    name : str
    factory : callable
        Called once, without arguments, on first use.
    overwrite : bool
        Replace an existing extractor of that name instead of raising.
    """
    if not name or not isinstance(name, str):
        raise ParameterError(f"invalid extractor name {name!r}")
    with _LOCK:
        if not overwrite and (name in _FACTORIES or name in _BUILTIN):
            raise ParameterError(f"extractor {name!r} is already registered")
        _FACTORIES[name] = factory
        _INSTANCES.pop(name, None)


def available_extractors() -> list[str]:
    """Names accepted by :func:`get_extractor`, sorted (``hf:PATH`` stands for any folder)."""
    return sorted(set(_BUILTIN) | set(_FACTORIES) | {f"{p}PATH" for p in _PREFIXED})


def get_extractor(name: str) -> FeatureExtractor:
    """The extractor registered under ``name`` (one shared instance per name).

    Raises
    ------
    ParameterError
        If no extractor has that name.
    """
    with _LOCK:
        if name in _INSTANCES:
            return _INSTANCES[name]
        if name in _FACTORIES:
            factory = _FACTORIES[name]
        elif name in _BUILTIN:
            module_name, class_name = _BUILTIN[name]
            factory = getattr(importlib.import_module(module_name), class_name)
        elif prefix := next((p for p in _PREFIXED if name.startswith(p) and len(name) > len(p)), None):
            module_name, function_name = _PREFIXED[prefix]
            function = getattr(importlib.import_module(module_name), function_name)

            def factory(argument: str = name[len(prefix):]) -> FeatureExtractor:
                return function(argument)
        else:
            raise ParameterError(
                f"unknown feature extractor {name!r}; available: {', '.join(available_extractors())}"
            )
        extractor = factory()
        _INSTANCES[name] = extractor
        return extractor
