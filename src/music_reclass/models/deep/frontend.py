"""The input of the deep models: musicnn's log-mel patches (16 kHz, 96 bands, 187 frames).

Both deep models read exactly what musicnn reads (``models.musicnn.log_mel``), so the
fine-tuned musicnn gets the representation its weights were trained on, and the CNN
shares the front end, the excerpt policy and the patch length with everything else
that classifies a library. Patches are about 3 s (187 hops of 256 samples).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from music_reclass.audio.excerpt import AudioInput, ExcerptPolicy
from music_reclass.errors import ModelError, ParameterError, TooShortError
from music_reclass.models.musicnn.frontend import HOP_LENGTH, N_MELS, SR, log_mel
from music_reclass.models.musicnn.spec import MUSICNN_INPUT

__all__ = [
    "DEEP_INPUT",
    "FRONTEND",
    "HOP_LENGTH",
    "N_MELS",
    "PATCH_FRAMES",
    "PATCH_SAMPLES",
    "PATCH_SECONDS",
    "SR",
    "audio_input",
    "crop_samples",
    "input_spec",
    "patch_logmel",
    "track_patches",
]

PATCH_FRAMES = 187
#: samples giving exactly one patch with the centred front end: 1 + n // 256 = 187
PATCH_SAMPLES = (PATCH_FRAMES - 1) * HOP_LENGTH
PATCH_SECONDS = PATCH_FRAMES * HOP_LENGTH / SR
#: names the input representation in sidecars; bump when log_mel's output changes
FRONTEND = "musicnn-logmel-16k-96@1"
#: The excerpt the deep models analyse and train on: musicnn's (16 kHz, whole ~3 s patches,
#: about 30 s of a long track), since they read musicnn's log-mel patches.
DEEP_INPUT = MUSICNN_INPUT


def input_spec() -> dict[str, object]:
    """The sidecar's ``input`` block: what audio the model needs."""
    return {
        "frontend": FRONTEND,
        "sample_rate": SR,
        "n_mels": N_MELS,
        "hop_length": HOP_LENGTH,
        "patch_frames": PATCH_FRAMES,
        "patch_seconds": PATCH_SECONDS,
        "min_seconds": PATCH_SAMPLES / SR,
        "pooling": "mean of patch probabilities",
    }


def audio_input(spec: Mapping[str, object]) -> AudioInput:
    """The :class:`AudioInput` a model's sidecar ``input`` block declares.

    A model made with musicnn's patches gets musicnn's excerpt policy (so a library
    classified by both decodes the same excerpt); another patch length gets the same
    policy in its own patches.

    Raises
    ------
    ModelError
        A front end or sample rate this version cannot make.
    """
    if spec.get("frontend") != FRONTEND or int(spec.get("sample_rate", 0)) != SR:
        raise ModelError(f"the model needs input {spec.get('frontend')!r} at "
                         f"{spec.get('sample_rate')} Hz; this version makes {FRONTEND!r} at {SR} Hz")
    try:
        patch = float(spec["patch_seconds"])
        shortest = float(spec.get("min_seconds", PATCH_SAMPLES / SR))
    except (KeyError, TypeError, ValueError) as exc:
        raise ModelError(f"the model's input block lacks a valid patch length: {exc}") from exc
    if abs(patch - PATCH_SECONDS) < 1e-6 and abs(shortest - PATCH_SAMPLES / SR) < 1e-6:
        return DEEP_INPUT
    try:
        return AudioInput(SR, ExcerptPolicy(patch_seconds=patch, min_seconds=min(shortest, patch)))
    except ParameterError as exc:
        raise ModelError(f"the model's input block is invalid: {exc}") from exc


def _check(waveform: np.ndarray) -> np.ndarray:
    waveform = np.asarray(waveform)
    if waveform.ndim != 1:
        raise ParameterError(f"waveform must be mono 1-D audio, got shape {waveform.shape}")
    waveform = waveform.astype(np.float32, copy=False)
    if not np.all(np.isfinite(waveform)):
        raise ParameterError("waveform contains non-finite samples")
    return waveform


def track_patches(waveform: np.ndarray) -> np.ndarray:
    """All non-overlapping patches ``[P, 187, 96]`` of a 16 kHz waveform (tail dropped).

    Raises
    ------
    TooShortError
        Less audio than one patch (2.98 s).
    """
    waveform = _check(waveform)
    if waveform.size < PATCH_SAMPLES:
        raise TooShortError(
            f"audio lasts {waveform.size / SR:.2f} s, shorter than one {PATCH_SECONDS:.2f} s patch"
        )
    logmel = log_mel(waveform, sr=SR)
    n_patches = logmel.shape[0] // PATCH_FRAMES
    return logmel[: n_patches * PATCH_FRAMES].reshape(n_patches, PATCH_FRAMES, N_MELS)


def crop_samples(waveform: np.ndarray, rng: np.random.Generator, n_samples: int) -> np.ndarray:
    """A random crop of ``n_samples`` (zero-padded at the end when the audio is shorter)."""
    waveform = _check(waveform)
    if waveform.size <= n_samples:
        return np.pad(waveform, (0, n_samples - waveform.size))
    start = int(rng.integers(0, waveform.size - n_samples + 1))
    return waveform[start : start + n_samples]


def patch_logmel(crop: np.ndarray) -> np.ndarray:
    """The ``[187, 96]`` log-mel patch of a crop of at least :data:`PATCH_SAMPLES` samples."""
    logmel = log_mel(_check(crop), sr=SR)
    if logmel.shape[0] < PATCH_FRAMES:
        raise TooShortError(f"crop gives {logmel.shape[0]} frames, fewer than {PATCH_FRAMES}")
    return logmel[:PATCH_FRAMES]
