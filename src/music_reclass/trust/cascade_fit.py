"""Fit the cascade on held-out clips, and measure it by nested cross-validation.

Inputs are per-clip *raw component scores* (computed once from the audio, see
``benchmarks/bench_trust.py``) with the measured cost of each component, so that
fitting and the leave-one-artist-out simulation never touch audio again. Per fold:

1. each musicnn component gets its own calibration (for pooling);
2. each pooled stage gets log-linear pooling weights (multinomial log loss over
   the components' calibrated log probabilities);
3. each stage gets trust parameters (:func:`~.fitting.fit_trust`): the thresholds
   are fitted for the target precision on leave-one-group-out probabilities.

The spectral component's calibration and the prototype OOV detector come from
outside (the Kaggle table's validation split) and stay fixed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from music_reclass.errors import ParameterError
from music_reclass.models.linear import LinearHead
from music_reclass.trust.calibration import Calibration, fit_calibration, top_label_ece
from music_reclass.trust.cascade_params import CascadeParams, Component, Stage
from music_reclass.trust.fitting import HeldOut, TrustSettings, fit_trust
from music_reclass.trust.model import LOG_PROBABILITIES, TAXONOMY_EVIDENCE
from music_reclass.trust.policy import Decision, decision_metrics
from music_reclass.trust.vocabulary import EvidenceOOV, PrototypeOOV

__all__ = ["CascadeData", "CascadeRun", "StagePlan", "cross_validate_cascade", "fit_cascade",
           "fit_pool_weights", "run_cascade"]


@dataclass(frozen=True)
class StagePlan:
    """A stage to fit: its name and the components it pools."""

    name: str
    components: tuple[str, ...]


@dataclass(frozen=True)
class CascadeData:
    """Per-clip raw component scores, labels, artist groups and component costs.

    Attributes
    ----------
    classes : tuple of str
    labels, groups : list of str
    raw : dict of str to np.ndarray [shape=(n, K)]
        Raw scores per component (see :mod:`.cascade_params`).
    costs : dict of str to np.ndarray [shape=(n,)]
        Measured seconds each component adds for each clip.
    kinds : dict of str to (str, int or None)
        ``{component: (kind, patches)}``.
    vectors : list of dict
        Per-clip vectors (``"features.gtzan53"``) for a prototype OOV detector.
    """

    classes: tuple[str, ...]
    labels: list[str]
    groups: list[str]
    raw: dict[str, np.ndarray]
    costs: dict[str, np.ndarray]
    kinds: dict[str, tuple[str, int | None]]
    vectors: list[dict[str, np.ndarray]] = field(default_factory=list)

    def subset(self, index: np.ndarray) -> CascadeData:
        return CascadeData(self.classes, [self.labels[i] for i in index],
                           [self.groups[i] for i in index],
                           {k: v[index] for k, v in self.raw.items()},
                           {k: v[index] for k, v in self.costs.items()}, dict(self.kinds),
                           [self.vectors[i] for i in index] if self.vectors else [])


def fit_pool_weights(components: Sequence[np.ndarray], y: np.ndarray) -> np.ndarray:
    """Non-negative log-linear pooling weights (summing to 1) by multinomial log loss.

    Parameters
    ----------
    components : sequence of np.ndarray [shape=(n, K)]
        Each component's calibrated log probabilities.
    y : np.ndarray [shape=(n,)]
        True class indices (rows with -1 are ignored).
    """
    from scipy.optimize import minimize

    keep = y >= 0
    comps = [np.asarray(c, dtype=np.float64)[keep] for c in components]
    target = y[keep]
    rows = np.arange(len(target))

    def loss(a: np.ndarray) -> tuple[float, np.ndarray]:
        z = sum(ai * c for ai, c in zip(a, comps, strict=True))
        z = z - z.max(axis=1, keepdims=True)
        p = np.exp(z)
        p /= p.sum(axis=1, keepdims=True)
        value = -np.log(np.clip(p[rows, target], 1e-15, None)).mean()
        gradient = [np.mean((p * c).sum(axis=1) - c[rows, target]) for c in comps]
        return float(value), np.array(gradient)

    result = minimize(loss, np.ones(len(comps)), jac=True, method="SLSQP",
                      bounds=[(0.0, 50.0)] * len(comps))
    weights = np.clip(result.x, 0.0, None)
    return weights / weights.sum() if weights.sum() > 0 else np.full(len(comps), 1 / len(comps))


def _class_index(labels: Sequence[str], classes: Sequence[str]) -> np.ndarray:
    position = {c: i for i, c in enumerate(classes)}
    return np.array([position.get(label, -1) for label in labels], dtype=int)


def fit_cascade(
    data: CascadeData,
    plan: Sequence[StagePlan],
    *,
    fixed: Mapping[str, Calibration] | None = None,
    head: LinearHead | None = None,
    prototype: PrototypeOOV | None = None,
    prototype_threshold: float | None = None,
    single: TrustSettings = TrustSettings(),
    pooled: TrustSettings = TrustSettings(objective="nll", oov_retention=None),
    taxonomy: Mapping[str, str] | None = None,
    fitted_on: Mapping[str, Any] | None = None,
) -> CascadeParams:
    """Fit every stage of ``plan`` on ``data``.

    Parameters
    ----------
    data : CascadeData
    plan : sequence of StagePlan
        Cheapest first.
    fixed : mapping, optional
        Calibrations fitted elsewhere (the spectral head's), by component name.
    head : LinearHead, optional
        The spectral head (stored with the parameters).
    prototype, prototype_threshold : optional
        OOV detector (and its threshold) for the pooled final stage.
    single, pooled : TrustSettings
        For one-component stages (raw scores) and pooled stages.
    """
    classes = list(data.classes)
    y = _class_index(data.labels, classes)
    fixed = dict(fixed or {})
    components: dict[str, Component] = {}
    for name, (kind, patches) in data.kinds.items():
        calibration = fixed.get(name) or fit_calibration(
            data.raw[name], data.labels, classes, background=True, objective="top-label",
            fitted_on={"component": name})
        components[name] = Component(name, kind, patches, calibration)
    stages = []
    for index, step in enumerate(plan):
        last = index == len(plan) - 1
        if len(step.components) == 1:
            (name,) = step.components
            held = HeldOut(data.raw[name], data.labels, data.groups,
                           EvidenceOOV().scores(data.raw[name]) if data.kinds[name][0] == "musicnn"
                           else None)
            trust = fit_trust(held, classes, score_kind=TAXONOMY_EVIDENCE
                              if data.kinds[name][0] == "musicnn" else LOG_PROBABILITIES,
                              oov=EvidenceOOV(), settings=single, taxonomy=taxonomy,
                              fitted_on={"stage": step.name})
            stages.append(Stage(step.name, {name: 1.0}, trust))
            continue
        votes = [components[c].calibrated_log(data.raw[c]) for c in step.components]
        weights = fit_pool_weights(votes, y)
        pool = dict(zip(step.components, (float(w) for w in weights), strict=True))
        scores = sum(w * v for w, v in zip(weights, votes, strict=True))
        trust = fit_trust(HeldOut(scores, data.labels, data.groups), classes,
                          score_kind=LOG_PROBABILITIES, settings=pooled,
                          fitted_on={"stage": step.name})
        if last and prototype is not None and prototype_threshold is not None:
            trust = replace(trust, oov=prototype,
                            policy=replace(trust.policy, oov_threshold=float(prototype_threshold)))
        stages.append(Stage(step.name, pool, trust))
    return CascadeParams(tuple(classes), components, tuple(stages), head,
                         dict(taxonomy) if taxonomy else None,
                         {**dict(fitted_on or {}), "n": len(y),
                          "n_groups": len(set(data.groups))})


@dataclass
class CascadeRun:
    """What a cascade did on each clip."""

    stage: np.ndarray  # index of the stage that stopped each clip
    decisions: list[Decision]
    probabilities: np.ndarray
    cost: np.ndarray  # seconds of the components each clip needed
    full_probabilities: np.ndarray  # the last stage's answer on every clip (the full model)


def run_cascade(params: CascadeParams, data: CascadeData) -> CascadeRun:
    """Apply a fitted cascade to precomputed components, stage by stage.

    A clip leaves at the first stage whose policy decides; its cost is the sum of the
    costs of the components computed until then (each counted once).
    """
    n = len(data.labels)
    stage_of = np.full(n, len(params.stages) - 1)
    decisions: list[Decision | None] = [None] * n
    probabilities = np.zeros((n, len(params.classes)))
    active = np.arange(n)
    for k in range(len(params.stages)):
        last = k == len(params.stages) - 1
        vectors = [data.vectors[i] for i in active] if data.vectors else None
        p, decided = params.decide(k, {c: data.raw[c][active] for c in params.components_of(k)},
                                   vectors)
        stay = []
        for row, i in enumerate(active):
            if decided[row].decided or last:
                stage_of[i], decisions[i], probabilities[i] = k, decided[row], p[row]
            else:
                stay.append(i)
        active = np.array(stay, dtype=int)
        if not len(active):
            break
    cost = np.zeros(n)
    for i in range(n):
        used = {c for k in range(stage_of[i] + 1) for c in params.components_of(k)}
        cost[i] = sum(data.costs[c][i] for c in used)
    final = len(params.stages) - 1
    full, _ = params.decide(final, {c: data.raw[c] for c in params.components_of(final)},
                            data.vectors or None)
    return CascadeRun(stage_of, decisions, probabilities, cost, full)


def cross_validate_cascade(data: CascadeData, plan: Sequence[StagePlan], **fit_kwargs: Any
                           ) -> tuple[CascadeRun, dict[str, Any]]:
    """Nested leave-one-group-out: each group run through a cascade fitted without it.

    Returns
    -------
    run : CascadeRun
    metrics : dict
        Accuracy of the cascade and of the full model (last stage on every clip),
        precision/coverage of ``decided``, stage usage, mean cost against the cost of
        running every stage.
    """
    n = len(data.labels)
    if n < 2:
        raise ParameterError("cross-validation needs at least two clips")
    groups = np.asarray(data.groups)
    run = CascadeRun(np.zeros(n, int), [None] * n, np.zeros((n, len(data.classes))),
                     np.zeros(n), np.zeros((n, len(data.classes))))
    for group in dict.fromkeys(data.groups):
        held = np.nonzero(groups == group)[0]
        params = fit_cascade(data.subset(np.nonzero(groups != group)[0]), plan, **fit_kwargs)
        part = run_cascade(params, data.subset(held))
        run.stage[held], run.cost[held] = part.stage, part.cost
        run.probabilities[held], run.full_probabilities[held] = part.probabilities, part.full_probabilities
        for j, i in enumerate(held):
            run.decisions[i] = part.decisions[j]
    return run, cascade_metrics(run, data, [p.name for p in plan])


def cascade_metrics(run: CascadeRun, data: CascadeData, stage_names: Sequence[str]
                    ) -> dict[str, Any]:
    """Accuracy, decided precision/coverage, stage usage and cost of a cascade run."""
    classes = np.asarray(data.classes)
    labels = np.asarray(data.labels)
    every = sum(data.costs.values())
    accuracy = float((classes[run.probabilities.argmax(axis=1)] == labels).mean())
    full = float((classes[run.full_probabilities.argmax(axis=1)] == labels).mean())
    index = np.array([list(classes).index(label) if label in classes else -1 for label in labels])
    return {
        "n": len(labels),
        "ece": top_label_ece(run.probabilities, index),
        "accuracy": accuracy,
        "full_model_accuracy": full,
        "accuracy_lost_points": 100 * (full - accuracy),
        "decided": decision_metrics(run.decisions, data.labels),
        "stage_usage": {name: int((run.stage == k).sum()) for k, name in enumerate(stage_names)},
        "mean_cost_seconds": float(run.cost.mean()),
        "all_stages_cost_seconds": float(every.mean()),
        "cost_ratio": float(run.cost.mean() / every.mean()),
    }
