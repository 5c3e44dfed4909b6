"""Models: the musicnn port (``models.musicnn``), trainable heads and model artifacts.

>>> from music_reclass.models import make_head, fit_head, ModelArtifact, save_model, load_model
>>> head = fit_head(make_head("logreg"), X, y)                                  # doctest: +SKIP
>>> save_model(ModelArtifact(head, {"name": "m", "feature": {...}}), "m.joblib")  # doctest: +SKIP

Names are resolved lazily so that importing ``music_reclass.models.musicnn``
does not import scikit-learn.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "HEADS": "heads",
    "CalibratedSVMClassifier": "heads",
    "HeadPipeline": "head_pipeline",
    "TorchMLPClassifier": "torch_mlp",
    "XGBLabelClassifier": "heads",
    "fit_head": "heads",
    "make_head": "heads",
    "FORMAT_VERSION": "artifact",
    "ModelArtifact": "artifact",
    "load_model": "artifact",
    "save_model": "artifact",
    "sidecar_path": "artifact",
    "read_sidecar": "artifact",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        module = importlib.import_module(f"music_reclass.models.{_EXPORTS[name]}")
        return getattr(module, name)
    raise AttributeError(f"module 'music_reclass.models' has no attribute {name!r}")
