"""The progressive cascade's parameters and its stage rule (pure numpy, no audio).

A cascade runs *components* (a model output on some audio: musicnn on 2 patches,
musicnn on the whole excerpt, the spectral head) in *stages*, cheapest first. Each
stage combines the components computed so far and decides with its own calibrated
trust parameters; the track stops at the first stage whose policy decides, and the
last stage decides or abstains. So the runtime classifier
(:class:`music_reclass.pipeline.cascade.CascadeClassifier`) and the cross-validated
simulation of the benchmarks (:mod:`.cascade_fit`) apply the same rule, from the
same raw component scores.

Scores:

- a component's raw scores: musicnn -> log genre evidence of the taxonomy (over
  the patches it saw); spectral -> log probabilities of the linear head;
- a one-component stage reads the raw scores (its trust: calibration with a
  background, evidence OOV, policy: exactly the zero-shot default's kind);
- a pooled stage reads ``sum_c w_c log q_c``, where ``q_c`` is component ``c``'s own
  calibrated probability (log-linear pooling of calibrated votes), and calibrates
  that again.

Format (``"music_reclass.cascade/1"``)::

    {"format": ..., "classes": [...], "taxonomy": {"name", "digest"},
     "components": {"musicnn-2p": {"kind": "musicnn", "patches": 2, "calibration": {...}},
                    "spectral": {"kind": "spectral", "calibration": {...}}, ...},
     "head": {...LinearHead...} | null,
     "stages": [{"name": ..., "pool": {"musicnn-2p": 1.0}, "trust": {...TrustModel...}}, ...],
     "fitted_on": {...}, "metrics": {...}}
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from music_reclass.errors import ParameterError
from music_reclass.models.linear import LinearHead
from music_reclass.trust.calibration import Calibration, log_scores
from music_reclass.trust.model import TrustModel
from music_reclass.trust.policy import Decision
from music_reclass.trust.vocabulary import EvidenceOOV

__all__ = ["FORMAT", "CascadeParams", "Component", "Stage"]

FORMAT = "music_reclass.cascade/1"
COMPONENT_KINDS = ("musicnn", "spectral")


@dataclass(frozen=True)
class Component:
    """One model output a stage can use.

    Attributes
    ----------
    name : str
    kind : {"musicnn", "spectral"}
    patches : int or None
        musicnn: number of patches, spread over the excerpt (None: all of them).
    calibration : Calibration or None
        Raw scores -> calibrated probabilities, for pooling.
    """

    name: str
    kind: str
    patches: int | None = None
    calibration: Calibration | None = None

    def calibrated_log(self, raw: np.ndarray) -> np.ndarray:
        """``log q`` of the calibrated probabilities (the component's vote)."""
        if self.calibration is None:
            raise ParameterError(f"component {self.name!r} has no calibration to pool it with")
        return log_scores(self.calibration.apply(raw))

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "patches": self.patches,
                "calibration": self.calibration.to_dict() if self.calibration else None}


@dataclass(frozen=True)
class Stage:
    """One stage: the components it pools (with their weights) and its trust parameters."""

    name: str
    pool: dict[str, float]
    trust: TrustModel

    @property
    def pooled(self) -> bool:
        return len(self.pool) > 1

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "pool": dict(self.pool), "trust": self.trust.to_dict()}


@dataclass(frozen=True)
class CascadeParams:
    """A fitted cascade: components, stages (cheapest first), the spectral head."""

    classes: tuple[str, ...]
    components: dict[str, Component]
    stages: tuple[Stage, ...]
    head: LinearHead | None = None
    taxonomy: dict[str, str] | None = None
    fitted_on: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.stages:
            raise ParameterError("a cascade needs at least one stage")
        for stage in self.stages:
            unknown = set(stage.pool) - set(self.components)
            if unknown:
                raise ParameterError(f"stage {stage.name!r} pools unknown components {unknown}")
        needs_head = any(c.kind == "spectral" for c in self.components.values())
        if needs_head and self.head is None:
            raise ParameterError("a cascade with a spectral component needs its head")

    @property
    def digest(self) -> str:
        """Hex sha256 of everything that changes outputs (not the metrics)."""
        document = self.to_dict()
        document.pop("metrics", None)
        document.pop("fitted_on", None)
        text = json.dumps(_strip(document), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()

    def components_of(self, stage: int) -> list[str]:
        """The components stage ``stage`` needs."""
        return list(self.stages[stage].pool)

    def stage_scores(self, stage: int, raw: Mapping[str, np.ndarray]) -> np.ndarray:
        """The scores ``[n, K]`` stage ``stage`` calibrates, from raw component scores."""
        spec = self.stages[stage]
        if not spec.pooled:
            (name,) = spec.pool
            return np.atleast_2d(np.asarray(raw[name], dtype=np.float64))
        return sum(weight * self.components[name].calibrated_log(np.atleast_2d(raw[name]))
                   for name, weight in spec.pool.items())

    def decide(self, stage: int, raw: Mapping[str, np.ndarray],
               vectors: Sequence[Mapping[str, np.ndarray]] | None = None
               ) -> tuple[np.ndarray, list[Decision]]:
        """Calibrated probabilities ``[n, K]`` and decisions of stage ``stage``.

        ``vectors`` (one mapping per row) feed a prototype OOV detector.
        """
        trust = self.stages[stage].trust
        scores = self.stage_scores(stage, raw)
        probabilities = trust.calibration.apply(scores) if trust.calibration else np.exp(scores)
        oov = trust.oov
        decisions = []
        for i, row in enumerate(probabilities):
            score = None
            if isinstance(oov, EvidenceOOV):
                score = oov.score(scores[i])
            elif oov is not None:
                score = oov.score(scores[i], vectors[i] if vectors is not None else None)
            ranked = sorted(zip(self.classes, row, strict=True), key=lambda gp: -gp[1])
            decisions.append(trust.policy.decide(ranked, score))
        return probabilities, decisions

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "classes": list(self.classes),
            "taxonomy": dict(self.taxonomy) if self.taxonomy else None,
            "components": {name: c.to_dict() for name, c in self.components.items()},
            "head": self.head.to_dict() if self.head else None,
            "stages": [s.to_dict() for s in self.stages],
            "fitted_on": dict(self.fitted_on),
            "metrics": dict(self.metrics),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CascadeParams:
        """Inverse of :meth:`to_dict`.

        Raises
        ------
        ParameterError
            Unknown format or invalid content.
        """
        if not isinstance(data, Mapping) or data.get("format") != FORMAT:
            raise ParameterError(f"cascade parameters must have format {FORMAT!r}")
        try:
            components = {}
            for name, c in data["components"].items():
                if c["kind"] not in COMPONENT_KINDS:
                    raise ParameterError(f"unknown component kind {c['kind']!r}")
                calibration = Calibration.from_dict(c["calibration"]) if c.get("calibration") else None
                components[name] = Component(name, c["kind"], c.get("patches"), calibration)
            stages = tuple(Stage(s["name"], {k: float(v) for k, v in s["pool"].items()},
                                 TrustModel.from_dict(s["trust"])) for s in data["stages"])
            head = LinearHead.from_dict(data["head"]) if data.get("head") else None
            return cls(tuple(str(c) for c in data["classes"]), components, stages, head,
                       dict(data["taxonomy"]) if data.get("taxonomy") else None,
                       dict(data.get("fitted_on") or {}), dict(data.get("metrics") or {}))
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise ParameterError(f"invalid cascade parameters: {exc!r}") from exc


def _strip(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: _strip(v) for k, v in value.items() if k not in ("metrics", "fitted_on", "meta")}
    if isinstance(value, list):
        return [_strip(v) for v in value]
    return value
