"""Deep genre models trained end to end on log-mel patches: a CNN from scratch and a
fine-tuned musicnn, their training loop, augmentation, checkpoints and model files.

The dataset-level entry point is :func:`music_reclass.evaluation.deep_training.train_deep`
(split, decoding, training, evaluation, model file); this package holds the parts
that know nothing about datasets.

Everything here imports torch, so names are resolved lazily (PEP 562): importing the
package itself stays cheap.
"""

from __future__ import annotations

import importlib
from typing import Any

#: the deep models (``models.deep.nets``): a plain constant, so naming them loads no torch
DEEP_MODELS = ("cnn", "musicnn-finetune")

_EXPORTS = {
    "build_network": "nets",
    "DeepModelFile": "artifact",
    "load_deep_model": "artifact",
    "save_deep_model": "artifact",
    "is_deep_model": "artifact",
    "FitResult": "loop",
    "fit": "loop",
    "predict_tracks": "loop",
    "TrainConfig": "loop",
}

__all__ = sorted([*_EXPORTS, "DEEP_MODELS"])


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        module = importlib.import_module(f"{__name__}.{_EXPORTS[name]}")
        return getattr(module, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
