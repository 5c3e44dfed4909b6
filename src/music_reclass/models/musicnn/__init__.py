"""PyTorch port of musicnn 0.1.0 (MSD_musicnn, MTT_musicnn) with its log-mel front end.

musicnn is by Jordi Pons and Xavier Serra (Music Technology Group, Universitat Pompeu
Fabra), ISC license; the converted weights and their license are in ``weights/``.

>>> from music_reclass.models.musicnn import load_musicnn, log_mel
>>> net = load_musicnn("MSD_musicnn")
>>> out = net.extract(waveform=audio_16k)        # doctest: +SKIP
>>> out["taggram"].shape                         # doctest: +SKIP
(10, 50)
"""

from __future__ import annotations

import importlib
from typing import Any

from .frontend import N_FFT, N_MELS, SR, log_mel, mel_filterbank
from .spec import MIN_SAMPLES, MUSICNN_INPUT, PATCH_FRAMES, PATCH_SAMPLES, PATCH_SECONDS

# The network side needs torch, whose import costs seconds and hundreds of MB: it is
# imported on first use of one of these names (PEP 562), so the numpy front end
# (``log_mel``) and the classify run's main process stay torch-free.
_LAZY = {
    "MODEL_NAMES": ".model",
    "OUTPUT_KEYS": ".model",
    "Musicnn": ".model",
    "load_musicnn": ".model",
    "make_patches": ".model",
    "N_FRAMES": ".network",
    "MusicnnNet": ".network",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name], __name__), name)
        globals()[name] = value  # later lookups skip this hook
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


__all__ = [
    "MIN_SAMPLES",
    "MODEL_NAMES",
    "MUSICNN_INPUT",
    "PATCH_FRAMES",
    "PATCH_SAMPLES",
    "PATCH_SECONDS",
    "N_FFT",
    "N_FRAMES",
    "N_MELS",
    "OUTPUT_KEYS",
    "SR",
    "Musicnn",
    "MusicnnNet",
    "load_musicnn",
    "log_mel",
    "make_patches",
    "mel_filterbank",
]
