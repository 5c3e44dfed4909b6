"""A multinomial logistic-regression head stored as plain JSON (no pickle).

Small heads that ship inside the package (the cascade's spectral stage) are kept
as numbers, not as a pickled scikit-learn object: they load under any library
version, cannot run code when read, and their content is readable. The head is
``softmax(((x - mean) / scale) @ coef.T + intercept)``, exactly what a fitted
``Pipeline(StandardScaler(), LogisticRegression())`` computes.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from music_reclass.errors import FeatureMismatchError, ParameterError

__all__ = ["LinearHead"]


@dataclass(frozen=True)
class LinearHead:
    """Standardise, then multinomial logistic regression.

    Attributes
    ----------
    classes : tuple of str
        Output column order.
    feature : dict
        ``{"name", "version", "columns"}`` of the features it reads.
    mean, scale : np.ndarray [shape=(d,)]
    coef : np.ndarray [shape=(K, d)]
    intercept : np.ndarray [shape=(K,)]
    meta : dict
        Training data, split and metrics (documentation).
    """

    classes: tuple[str, ...]
    feature: dict[str, Any]
    mean: np.ndarray
    scale: np.ndarray
    coef: np.ndarray
    intercept: np.ndarray
    meta: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_pipeline(cls, pipeline: Any, feature: Mapping[str, Any],
                      meta: Mapping[str, Any] | None = None) -> LinearHead:
        """From a fitted ``Pipeline(StandardScaler(), LogisticRegression())``."""
        scaler, model = pipeline[0], pipeline[-1]
        coef = np.asarray(model.coef_, dtype=np.float64)
        intercept = np.asarray(model.intercept_, dtype=np.float64)
        if coef.shape[0] == 1:  # binary logistic regression: one row for the second class
            coef, intercept = np.vstack([-coef / 2, coef / 2]), np.r_[-intercept / 2, intercept / 2]
        return cls(tuple(str(c) for c in model.classes_), dict(feature),
                   np.asarray(scaler.mean_, np.float64), np.asarray(scaler.scale_, np.float64),
                   coef, intercept, dict(meta or {}))

    def check_feature(self, name: str, version: str) -> None:
        """Raise :class:`FeatureMismatchError` unless these are the features it was trained on."""
        if (name, str(version)) != (self.feature.get("name"), str(self.feature.get("version"))):
            raise FeatureMismatchError(
                f"head trained on {self.feature.get('name')} v{self.feature.get('version')}, "
                f"got {name} v{version}")

    def decision_function(self, X: np.ndarray) -> np.ndarray:
        X = np.atleast_2d(np.asarray(X, dtype=np.float64))
        if X.shape[1] != self.mean.shape[0]:
            raise ParameterError(f"head expects {self.mean.shape[0]} features, got {X.shape[1]}")
        return ((X - self.mean) / self.scale) @ self.coef.T + self.intercept

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        """Class probabilities ``[n, K]``, columns in :attr:`classes` order."""
        z = self.decision_function(X)
        z -= z.max(axis=1, keepdims=True)
        p = np.exp(z)
        return p / p.sum(axis=1, keepdims=True)

    def to_dict(self) -> dict[str, Any]:
        return {"kind": "linear-head", "classes": list(self.classes), "feature": dict(self.feature),
                "mean": self.mean.tolist(), "scale": self.scale.tolist(),
                "coef": self.coef.tolist(), "intercept": self.intercept.tolist(),
                "meta": dict(self.meta)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> LinearHead:
        try:
            head = cls(tuple(str(c) for c in data["classes"]), dict(data["feature"]),
                       np.asarray(data["mean"], np.float64), np.asarray(data["scale"], np.float64),
                       np.asarray(data["coef"], np.float64),
                       np.asarray(data["intercept"], np.float64), dict(data.get("meta") or {}))
        except (KeyError, TypeError, ValueError) as exc:
            raise ParameterError(f"invalid linear head: {exc!r}") from exc
        k, d = len(head.classes), head.mean.shape[0]
        if head.coef.shape != (k, d) or head.intercept.shape != (k,) or head.scale.shape != (d,):
            raise ParameterError("invalid linear head: inconsistent shapes")
        return head
