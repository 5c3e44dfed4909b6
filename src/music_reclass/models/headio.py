"""A trained head on disk as data only: safetensors arrays plus a JSON structure.

Loading a model must never run code from the file (a pickle can run anything it
likes while it loads). A head is therefore written as:

- every numeric array of the fitted estimators (scaler means, logistic-regression
  coefficients, support vectors and dual coefficients, MLP weights...) as one tensor of
  a ``.safetensors`` file (a flat, data-only container);
- the structure, in the file's metadata as JSON: which estimator holds which values,
  by class name (``sklearn.svm._classes.SVC``...), numbers, strings and the names of
  the tensors;
- an XGBoost booster in XGBoost's own JSON model format (a tensor of its bytes), loaded
  with ``XGBClassifier.load_model``.

Loading rebuilds the estimators from this data only: a class name must be one of
:data:`allowed_types` (the scikit-learn estimators our heads are made of, the three
heads of :mod:`music_reclass.models.heads` and their
:class:`~music_reclass.models.head_pipeline.HeadPipeline`); anything else in a file is
refused before any object is made. Files written before a class moved keep loading:
its former name stays allowed (heads saved as a scikit-learn ``Pipeline`` before
``HeadPipeline`` existed load as such). Objects are rebuilt the way unpickling rebuilds them
(``cls.__new__`` then ``__setstate__`` with the saved state), but the state comes from
numbers, strings and tensors, never from a callable named by the file.
"""

from __future__ import annotations

import json
import math
import os
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np

from music_reclass.errors import ModelError

__all__ = ["FORMAT", "allowed_types", "load_head", "save_head"]

#: The ``format`` value in the safetensors metadata of a head file.
FORMAT = "music_reclass-head/1"
_XGB = "xgboost.XGBClassifier"


@cache
def allowed_types() -> dict[str, type]:
    """Qualified class name -> class, for every type a head file may contain."""
    from sklearn.calibration import (
        CalibratedClassifierCV,
        _CalibratedClassifier,
        _SigmoidCalibration,
    )
    from sklearn.frozen import FrozenEstimator
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import LabelEncoder, StandardScaler
    from sklearn.svm import SVC

    from music_reclass.models.head_pipeline import HeadPipeline
    from music_reclass.models.heads import CalibratedSVMClassifier, XGBLabelClassifier
    from music_reclass.models.torch_mlp import TorchMLPClassifier

    types = (Pipeline, StandardScaler, LabelEncoder, LogisticRegression, SVC,
             CalibratedClassifierCV, _CalibratedClassifier, _SigmoidCalibration,
             StratifiedKFold, FrozenEstimator, CalibratedSVMClassifier, TorchMLPClassifier,
             XGBLabelClassifier, HeadPipeline)
    # where the MLP head lived until it moved to its own module (files name it so)
    legacy = {"music_reclass.models.heads.TorchMLPClassifier": TorchMLPClassifier}
    return {**legacy, **{_name(t): t for t in types}}


def _name(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


# ----------------------------------------------------------------------------- saving


class _Writer:
    """Turns an estimator into a JSON-able tree plus named arrays."""

    def __init__(self) -> None:
        self.arrays: dict[str, np.ndarray] = {}

    def array(self, value: np.ndarray) -> str:
        key = f"a{len(self.arrays)}"
        self.arrays[key] = np.ascontiguousarray(value)
        return key

    def encode(self, value: Any) -> Any:  # noqa: PLR0911 - one case per kind of value
        if value is None or isinstance(value, bool | int | str):
            return value
        if isinstance(value, float):
            return value if math.isfinite(value) else {"__float__": repr(value)}
        if isinstance(value, np.generic):
            return self.encode(value.item())
        if isinstance(value, np.ndarray):
            return self.ndarray(value)
        if isinstance(value, bytes | bytearray):
            return {"__bytes__": self.array(np.frombuffer(bytes(value), np.uint8))}
        if isinstance(value, tuple):
            return {"__tuple__": [self.encode(v) for v in value]}
        if isinstance(value, list):
            return [self.encode(v) for v in value]
        if isinstance(value, dict):
            if not all(isinstance(k, str) for k in value):
                raise ModelError("cannot save a mapping with non-text keys safely")
            return {"__dict__": {k: self.encode(v) for k, v in value.items()}}
        return self.instance(value)

    def ndarray(self, value: np.ndarray) -> dict[str, Any]:
        if value.dtype.kind in "biuf":
            return {"__array__": self.array(value)}
        if value.dtype.kind == "U" or (value.dtype.kind == "O"
                                       and all(isinstance(v, str) for v in value.flat)):
            return {"__strings__": value.tolist(), "dtype": value.dtype.str}
        raise ModelError(f"cannot save an array of {value.dtype} safely")

    def instance(self, value: Any) -> dict[str, Any]:
        cls = type(value)
        if _name(cls).startswith("xgboost.") and hasattr(value, "get_booster"):
            raw = value.get_booster().save_raw(raw_format="json")
            params = {k: v for k, v in value.get_params().items() if _plain(v)}
            return {"__object__": _XGB, "params": self.encode(params),
                    "model": self.array(np.frombuffer(bytes(raw), np.uint8))}
        if _name(cls) not in allowed_types():
            raise ModelError(f"cannot save a {_name(cls)} safely (not a known head part)")
        state = value.__getstate__() if hasattr(value, "__getstate__") else vars(value)
        return {"__object__": _name(cls), "state": self.encode(state)}


def _plain(value: Any) -> bool:
    return value is None or isinstance(value, bool | int | float | str)


def save_head(estimator: Any, path: str | os.PathLike) -> None:
    """Write ``estimator`` (a head of :mod:`~music_reclass.models.heads`) to ``path``.

    Raises
    ------
    ModelError
        It holds a part that cannot be written as data (an unknown estimator type).
    """
    from safetensors.numpy import save_file

    writer = _Writer()
    structure = writer.encode(estimator)
    save_file(writer.arrays, str(path),
              metadata={"format": FORMAT, "structure": json.dumps(structure)})


# ----------------------------------------------------------------------------- loading


class _Reader:
    def __init__(self, arrays: dict[str, np.ndarray]) -> None:
        self.arrays = arrays

    def array(self, key: Any) -> np.ndarray:
        if not isinstance(key, str) or key not in self.arrays:
            raise ModelError(f"head file names a missing tensor {key!r}")
        return self.arrays[key]

    def decode(self, node: Any) -> Any:  # noqa: PLR0911 - one case per kind of node
        if node is None or isinstance(node, bool | int | float | str):
            return node
        if isinstance(node, list):
            return [self.decode(v) for v in node]
        if not isinstance(node, dict) or len(node) not in (1, 2, 3):
            raise ModelError("head file structure is not valid")
        if "__array__" in node:
            return self.array(node["__array__"]).copy()
        if "__strings__" in node:
            return np.array(node["__strings__"], dtype=np.dtype(str(node.get("dtype", "U"))))
        if "__float__" in node:
            return float(str(node["__float__"]))
        if "__bytes__" in node:
            return bytearray(self.array(node["__bytes__"]).tobytes())
        if "__tuple__" in node:
            return tuple(self.decode(v) for v in node["__tuple__"])
        if "__dict__" in node:
            return {str(k): self.decode(v) for k, v in node["__dict__"].items()}
        if "__object__" in node:
            return self.instance(node)
        raise ModelError("head file structure is not valid")

    def instance(self, node: dict[str, Any]) -> Any:
        name = node["__object__"]
        if name == _XGB:
            from xgboost import XGBClassifier

            model = XGBClassifier(**self.decode(node.get("params") or {"__dict__": {}}))
            model.load_model(bytearray(self.array(node.get("model")).tobytes()))
            return model
        cls = allowed_types().get(name)
        if cls is None:
            raise ModelError(f"head file holds a {name!r}: not a type a head is made of; "
                             "refused (nothing was loaded)")
        state = self.decode(node.get("state"))
        if not isinstance(state, dict):
            raise ModelError(f"head file: the state of {name} is not a mapping")
        obj = cls.__new__(cls)
        setstate = getattr(obj, "__setstate__", None)
        if setstate is not None:
            setstate(state)
        else:
            obj.__dict__.update(state)
        return obj


def load_head(path: str | os.PathLike) -> Any:
    """Rebuild the head saved by :func:`save_head` (data only; see the module notes).

    Raises
    ------
    ModelError
        Not a head file, a damaged one, or one naming a type heads are not made of.
    """
    from safetensors import SafetensorError, safe_open

    path = Path(path)
    try:
        with safe_open(str(path), framework="np") as handle:
            metadata = handle.metadata() or {}
            arrays = {key: handle.get_tensor(key) for key in handle.keys()}  # noqa: SIM118
    except (SafetensorError, OSError, ValueError) as exc:
        raise ModelError(f"model file {path.name} is not a readable head file: {exc}") from exc
    if metadata.get("format") != FORMAT:
        raise ModelError(f"model file {path.name} is not a music_reclass head "
                         f"(format {metadata.get('format')!r})")
    try:
        structure = json.loads(metadata.get("structure", "null"))
    except (ValueError, RecursionError) as exc:
        raise ModelError(f"model file {path.name}: its structure is not readable JSON") from exc
    try:
        return _Reader(arrays).decode(structure)
    except ModelError:
        raise
    except RecursionError as exc:
        raise ModelError(f"model file {path.name}: structure nested too deeply") from exc
    except Exception as exc:  # noqa: BLE001 - a damaged file: one line, never a traceback
        raise ModelError(f"model file {path.name} cannot be rebuilt: "
                         f"{type(exc).__name__}: {exc}") from exc
