"""Calibrated probabilities from a model's scores: temperature scaling, optionally
with a background level, fitted on held-out data and stored as plain JSON.

A model's *scores* are one value per class, larger for likelier classes: the
log of a head's probabilities, or for the zero-shot default the log of each
genre's tag evidence (see :meth:`music_reclass.taxonomy.Taxonomy.evidence`).
A :class:`Calibration` maps scores ``s`` to probabilities::

    z = w * s                                        (w = 1 / temperature)
    p_k = (exp(z_k) + exp(b) / K) / (sum_j exp(z_j) + exp(b))

Without a background (``b = None``) this is temperature scaling (Guo et al.,
2017), the calibration scikit-learn calls ``method="temperature"``. The
background ``b`` is a level of evidence that "something else" always has: when
every class scores far below it (the audio resembles none of them), the mass
spreads evenly and the top confidence falls; when one class scores well above
it, the background is negligible. Two parameters, so that a calibration fitted
on a few dozen clips generalises; the ranking of the classes never changes.

Objectives:

- ``"nll"``: multinomial log loss of the true class (every label must be a class);
- ``"top-label"``: binary log loss of "the top class is right" against the top
  probability. It also uses clips whose true genre is not one of the classes
  (every answer on them is wrong), which is what calibrates the confidence a
  user sees on music outside the model's vocabulary.

>>> cal = fit_calibration(scores, labels, classes, background=True)  # doctest: +SKIP
>>> cal.apply(new_scores).sum(axis=1)                                 # doctest: +SKIP
array([1., 1.])
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from music_reclass.errors import ParameterError

__all__ = [
    "OBJECTIVES",
    "SCORE_FLOOR",
    "Calibration",
    "calibrated_ece_range",
    "cross_validated_probabilities",
    "fit_calibration",
    "log_scores",
    "top_label_ece",
]

OBJECTIVES = ("nll", "top-label")
#: scores below this (log 1e-12) are clipped: a zero probability carries no more information
SCORE_FLOOR = float(np.log(1e-12))
_LOG_W_BOUNDS = (np.log(1e-3), np.log(1e3))
_B_BOUNDS = (-60.0, 60.0)


def log_scores(probabilities: np.ndarray) -> np.ndarray:
    """Scores of a probabilistic model: ``log p``, clipped at :data:`SCORE_FLOOR`."""
    p = np.asarray(probabilities, dtype=np.float64)
    with np.errstate(divide="ignore"):
        return np.maximum(np.log(np.clip(p, 0.0, None)), SCORE_FLOOR)


def _check_scores(scores: np.ndarray, n_classes: int | None = None) -> np.ndarray:
    s = np.asarray(scores, dtype=np.float64)
    if s.ndim == 1:
        s = s[None, :]
    if s.ndim != 2 or s.shape[1] < 2:
        raise ParameterError(f"scores must have shape (n, n_classes >= 2), got {s.shape}")
    if n_classes is not None and s.shape[1] != n_classes:
        raise ParameterError(f"scores have {s.shape[1]} columns for {n_classes} classes")
    if np.isnan(s).any() or np.isposinf(s).any():
        raise ParameterError("scores must not be NaN or +inf")
    return np.maximum(s, SCORE_FLOOR)


def _probabilities(scores: np.ndarray, weight: float, background: float | None) -> np.ndarray:
    z = weight * scores
    top = z.max(axis=1, keepdims=True)
    if background is not None:
        top = np.maximum(top, background)
    mass = np.exp(z - top)
    if background is not None:
        mass = mass + np.exp(background - top) / z.shape[1]
    return mass / mass.sum(axis=1, keepdims=True)


@dataclass(frozen=True)
class Calibration:
    """A fitted score -> probability map and what it was fitted on.

    Attributes
    ----------
    classes : tuple of str
        Column order of the scores and of the probabilities.
    weight : float
        ``1 / temperature``.
    background : float or None
        Log background level in units of ``weight * score`` (None: plain temperature).
    objective : str
        What the fit minimised (:data:`OBJECTIVES`).
    fitted_on : dict
        The data: name, number of examples and groups, labels used, split.
    metrics : dict
        ECE (top-1, 10 bins) before and after, in-sample and cross-validated, with
        the number of examples they were measured on.
    """

    classes: tuple[str, ...]
    weight: float
    background: float | None = None
    objective: str = "nll"
    fitted_on: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)

    @property
    def method(self) -> str:
        return "temperature" if self.background is None else "temperature+background"

    @property
    def temperature(self) -> float:
        return 1.0 / self.weight

    def apply(self, scores: np.ndarray) -> np.ndarray:
        """Calibrated probabilities ``[n, K]`` (rows sum to 1) of scores ``[n, K]`` or ``[K]``."""
        s = _check_scores(scores, len(self.classes))
        return _probabilities(s, self.weight, self.background)

    def params(self) -> dict[str, Any]:
        """The parameters alone (what changes the output), JSON-ready."""
        return {"method": self.method, "weight": self.weight, "background": self.background,
                "classes": list(self.classes)}

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form, as stored in a sidecar's ``calibration`` key."""
        return {**self.params(), "temperature": self.temperature, "objective": self.objective,
                "fitted_on": dict(self.fitted_on), "metrics": dict(self.metrics)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Calibration:
        """Inverse of :meth:`to_dict`.

        Raises
        ------
        ParameterError
            Missing or invalid parameters.
        """
        try:
            weight = float(data["weight"])
            classes = tuple(str(c) for c in data["classes"])
            background = None if data.get("background") is None else float(data["background"])
        except (KeyError, TypeError, ValueError) as exc:
            raise ParameterError(f"invalid calibration: {exc!r}") from exc
        if not (np.isfinite(weight) and weight > 0) or len(classes) < 2:
            raise ParameterError("invalid calibration: weight must be > 0, with >= 2 classes")
        return cls(classes, weight, background, str(data.get("objective", "nll")),
                   dict(data.get("fitted_on") or {}), dict(data.get("metrics") or {}))


def _label_index(labels: Sequence[str], classes: Sequence[str]) -> np.ndarray:
    """Index of each label in ``classes``; -1 for labels that are not classes."""
    position = {c: i for i, c in enumerate(classes)}
    return np.array([position.get(str(label), -1) for label in labels], dtype=int)


def _loss(theta: np.ndarray, scores: np.ndarray, y: np.ndarray, objective: str,
          background: bool) -> tuple[float, np.ndarray]:
    """The objective and its gradient in ``theta = (log w[, b])``.

    Both objectives are a log loss of one class's probability per row: the true class
    ("nll", rows whose label is a class) or the top class ("top-label", right or wrong).
    The top class comes from the scores, whose ranking calibration preserves: taken
    from ``p``, a flat enough ``p`` (ties at round-off) would let the fit pick which
    class is "top".
    """
    w = float(np.exp(theta[0]))
    b = float(theta[1]) if background else None
    if objective == "nll":
        rows = np.nonzero(y >= 0)[0]
        target, right = y[rows], np.ones(len(rows), dtype=bool)
    else:
        rows = np.arange(len(scores))
        target = scores.argmax(axis=1)
        right = target == y
    s = scores[rows]
    z = w * s
    top = z.max(axis=1, keepdims=True)
    if b is not None:
        top = np.maximum(top, b)
    e = np.exp(z - top)
    k = s.shape[1]
    beta = np.exp(b - top[:, 0]) if b is not None else np.zeros(len(rows))
    index = np.arange(len(rows))
    numerator = e[index, target] + beta / k
    denominator = e.sum(axis=1) + beta
    p = np.clip(numerator / denominator, 1e-12, 1 - 1e-12)
    loss = -np.where(right, np.log(p), np.log1p(-p))
    dloss_dp = np.where(right, -1.0 / p, 1.0 / (1.0 - p))
    # d p / d w and d p / d b of p = N / D
    dn_dw = e[index, target] * s[index, target]
    dd_dw = (e * s).sum(axis=1)
    dp_dw = (dn_dw * denominator - numerator * dd_dw) / denominator**2
    gradient = [float((dloss_dp * dp_dw).mean() * w)]  # chain rule for log w
    if b is not None:
        dp_db = (beta / k * denominator - numerator * beta) / denominator**2
        gradient.append(float((dloss_dp * dp_db).mean()))
    return float(loss.mean()), np.array(gradient)


def _fit_params(scores: np.ndarray, y: np.ndarray, objective: str,
                background: bool) -> tuple[float, float | None]:
    from scipy.optimize import minimize  # imported here: building a classifier needs no scipy

    starts = [np.array([0.0, -5.0]), np.array([np.log(2.0), 0.0])] if background else [np.zeros(1)]
    bounds = [_LOG_W_BOUNDS, _B_BOUNDS][: 2 if background else 1]
    best = None
    for start in starts:  # the background surface can have two basins: try both
        # SLSQP: bounded, and several times faster than L-BFGS-B on these tiny problems
        result = minimize(_loss, start, args=(scores, y, objective, background), jac=True,
                          method="SLSQP", bounds=bounds)
        if best is None or result.fun < best.fun:
            best = result
    weight = float(np.exp(best.x[0]))
    return weight, (float(best.x[1]) if background else None)


def top_label_ece(probabilities: np.ndarray, y: np.ndarray, *, n_bins: int = 10) -> float:
    """ECE of the top-1 confidence against correctness (labels as class indices, -1 = none).

    Same binning as :func:`music_reclass.evaluation.expected_calibration_error`.
    """
    p = np.asarray(probabilities, dtype=np.float64)
    if len(p) == 0:
        return float("nan")
    confidence = p.max(axis=1)
    right = p.argmax(axis=1) == np.asarray(y)
    # ``y`` of -1 (a label outside the classes) is never right
    index = np.clip(np.ceil(confidence * n_bins).astype(int) - 1, 0, n_bins - 1)
    total = 0.0
    for b in np.unique(index):
        members = index == b
        total += members.sum() * abs(right[members].mean() - confidence[members].mean())
    return float(total / len(p))


def fit_calibration(
    scores: np.ndarray,
    labels: Sequence[str],
    classes: Sequence[str],
    *,
    background: bool = False,
    objective: str = "nll",
    groups: Sequence[Any] | None = None,
    reference_probabilities: np.ndarray | None = None,
    fitted_on: Mapping[str, Any] | None = None,
) -> Calibration:
    """Fit a :class:`Calibration` on held-out scores and labels; measure ECE before and after.

    Parameters
    ----------
    scores : np.ndarray [shape=(n, K)]
        Held-out scores (data the model never trained on), columns in ``classes`` order.
    labels : sequence of str [shape=(n,)]
        True labels. With ``objective="top-label"`` they may lie outside ``classes``.
    classes : sequence of str [shape=(K,)]
    background : bool
        Fit a background level as well as the temperature.
    objective : {"nll", "top-label"}
    groups : sequence, optional
        A group per example (e.g. the artist): the after-calibration ECE is then also
        measured by leave-one-group-out cross-validation (``metrics["ece_after_cv"]``),
        the honest figure for examples from groups never seen.
    reference_probabilities : np.ndarray, optional
        The uncalibrated model's probabilities for ``metrics["ece_before"]``
        (default: a softmax of the scores).
    fitted_on : mapping, optional
        Description of the data, stored as is (plus ``n`` and ``n_groups``).

    Returns
    -------
    Calibration

    Raises
    ------
    ParameterError
        Bad shapes, an unknown objective, labels outside ``classes`` with ``"nll"``,
        or fewer than two usable examples.
    """
    classes = tuple(str(c) for c in classes)
    s = _check_scores(scores, len(classes))
    if objective not in OBJECTIVES:
        raise ParameterError(f"objective must be one of {OBJECTIVES}, got {objective!r}")
    if len(labels) != len(s):
        raise ParameterError(f"{len(labels)} labels for {len(s)} rows of scores")
    y = _label_index(labels, classes)
    if objective == "nll" and (y < 0).any():
        unknown = sorted({str(label) for label, i in zip(labels, y, strict=True) if i < 0})
        raise ParameterError(f"labels {unknown} are not classes: use objective='top-label'")
    if len(s) < 2:
        raise ParameterError("calibration needs at least two held-out examples")
    weight, level = _fit_params(s, y, objective, background)
    after = _probabilities(s, weight, level)
    before = (np.asarray(reference_probabilities, dtype=np.float64)
              if reference_probabilities is not None else _probabilities(s, 1.0, None))
    metrics: dict[str, Any] = {
        "n_bins": 10,
        "n": int(len(s)),
        "ece_before": top_label_ece(before, y),
        "ece_after_in_sample": top_label_ece(after, y),
        "accuracy": float((after.argmax(axis=1) == y).mean()),
        "mean_confidence_before": float(before.max(axis=1).mean()),
        "mean_confidence_after": float(after.max(axis=1).mean()),
    }
    described = {**dict(fitted_on or {}), "n": int(len(s))}
    if groups is not None:
        cv = cross_validated_probabilities(s, y, groups, objective=objective, background=background)
        metrics["ece_after_cv"] = top_label_ece(cv, y)
        metrics["cv"] = "leave-one-group-out"
        described["n_groups"] = len(set(groups))
    return Calibration(classes, weight, level, objective, described, metrics)


def cross_validated_probabilities(
    scores: np.ndarray, y: np.ndarray, groups: Sequence[Any], *, objective: str,
    background: bool,
) -> np.ndarray:
    """Leave-one-group-out calibrated probabilities: each group calibrated by a fit on
    the others (labels as class indices, -1 = not a class)."""
    s = _check_scores(scores)
    groups = np.asarray([str(g) for g in groups])
    out = np.zeros_like(s)
    for group in np.unique(groups):
        held = groups == group
        train_y = y[~held]
        if objective == "nll":
            usable = train_y >= 0
            weight, level = _fit_params(s[~held][usable], train_y[usable], objective, background)
        else:
            weight, level = _fit_params(s[~held], train_y, objective, background)
        out[held] = _probabilities(s[held], weight, level)
    return out


def calibrated_ece_range(confidence: Sequence[float], *, n_bins: int = 10, n_draws: int = 2000,
                         seed: int = 0) -> tuple[float, float, float]:
    """The ECE a *perfectly calibrated* model would show on this many tracks, by chance.

    Each track is drawn right with probability equal to its confidence; the ECE of such
    draws is pure sampling noise. On a few dozen tracks it is large, so an ECE target
    below it cannot be told apart from perfect calibration.

    Returns
    -------
    mean, low, high : float
        Mean and 5 %-95 % range over ``n_draws`` draws.
    """
    c = np.asarray(confidence, dtype=np.float64)
    rng = np.random.default_rng(seed)
    index = np.clip(np.ceil(c * n_bins).astype(int) - 1, 0, n_bins - 1)
    values = []
    for _ in range(n_draws):
        right = rng.uniform(size=c.size) < c
        total = sum(abs(right[index == b].mean() - c[index == b].mean()) * (index == b).sum()
                    for b in np.unique(index))
        values.append(total / c.size)
    low, high = np.quantile(values, [0.05, 0.95])
    return float(np.mean(values)), float(low), float(high)
