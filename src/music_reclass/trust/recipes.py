"""How the shipped trust parameters are made: one recipe for the script that writes the
package data (``scripts/fit_trust.py``) and for the benchmark that measures the recipe
by nested leave-one-artist-out cross-validation (``benchmarks/bench_trust.py``).

Choices, and why:

- zero-shot calibration: temperature + background, top-label objective (the clips
  whose genre the taxonomy cannot name count as wrong answers): two parameters,
  because 50 clips by 29 artists support no more;
- decision policy: confidence threshold for a precision of 0.9 on cross-validated
  probabilities, reached both in observed and in expected precision; out of vocabulary
  when the best genre's evidence is below what 95 % of in-vocabulary clips reach;
  conformal sets at level 0.8 (``alpha = 0.2``) for the "ambiguous" reason. Looser rules
  (observed precision alone, no sets, or the rule chosen on held-out folds by
  :mod:`.selection`) decide more clips with ``--taxonomy gtzan`` but fall below a
  precision of 0.9 with the default taxonomy, measured by nested leave-one-artist-out
  (``bench_trust.py``, "decision rules"): this rule is the one that held the target on
  both;
- cascade stages, cheapest first (costs measured by ``bench_trust.py``): musicnn on
  2 patches -> + the spectral head (gtzan only) -> musicnn on the whole excerpt.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from music_reclass.trust.cascade_fit import CascadeData, StagePlan, fit_cascade
from music_reclass.trust.cascade_params import CascadeParams
from music_reclass.trust.fitting import HeldOut, TrustSettings, fit_trust
from music_reclass.trust.model import TAXONOMY_EVIDENCE, TrustModel
from music_reclass.trust.spectral_head import SpectralHead
from music_reclass.trust.vocabulary import EvidenceOOV

__all__ = ["CASCADE_PLANS", "POOLED_SETTINGS", "ZEROSHOT_SETTINGS", "cascade_plan",
           "fit_cascade_recipe", "fit_zeroshot_recipe", "zeroshot_heldout"]

ZEROSHOT_SETTINGS = TrustSettings(background=True, objective="top-label", target_precision=0.9,
                                  alpha=0.2, oov_retention=0.95, expected_precision=True)
POOLED_SETTINGS = TrustSettings(background=True, objective="top-label", target_precision=0.9,
                                alpha=0.2, oov_retention=None, expected_precision=True)

CASCADE_PLANS: dict[str, tuple[StagePlan, ...]] = {
    "gtzan": (StagePlan("musicnn-2p", ("musicnn-2p",)),
              StagePlan("spectral", ("musicnn-2p", "spectral")),
              StagePlan("full", ("musicnn", "spectral"))),
    "default": (StagePlan("musicnn-2p", ("musicnn-2p",)),
                StagePlan("full", ("musicnn",))),
}

DATA_NOTE = ("../shared/audio/gtzan-dev: 50 real GTZAN clips, 5 per genre, 29 artists "
             "(all blues by John Lee Hooker, classical by Bach, reggae by Bob Marley, rock by "
             "Morphine)")


def cascade_plan(taxonomy_name: str) -> tuple[StagePlan, ...]:
    return CASCADE_PLANS[taxonomy_name]


def zeroshot_heldout(data: CascadeData, taxonomy: Any) -> HeldOut:
    """The zero-shot default's held-out data: its raw scores are the full-excerpt musicnn
    component's (log evidence), its uncalibrated output the taxonomy's own scoring."""
    scores = data.raw["musicnn"]
    reference = np.array([taxonomy_probabilities(taxonomy, s) for s in scores])
    return HeldOut(scores, data.labels, data.groups, EvidenceOOV().scores(scores), reference)


def taxonomy_probabilities(taxonomy: Any, log_evidence: np.ndarray) -> np.ndarray:
    """What the uncalibrated zero-shot default outputs for these log evidences."""
    from music_reclass.taxonomy import normalise_evidence

    return normalise_evidence(np.exp(log_evidence), temperature=taxonomy.temperature)


def fit_zeroshot_recipe(data: CascadeData, taxonomy: Any,
                        settings: TrustSettings = ZEROSHOT_SETTINGS) -> TrustModel:
    """The zero-shot default's trust parameters for one taxonomy."""
    return fit_trust(zeroshot_heldout(data, taxonomy), taxonomy.genres,
                     score_kind=TAXONOMY_EVIDENCE, oov=EvidenceOOV(), settings=settings,
                     taxonomy={"name": taxonomy.name, "digest": taxonomy.digest},
                     fitted_on={"data": DATA_NOTE, "taxonomy": taxonomy.name,
                                "labels": sorted(set(data.labels))})


def fit_cascade_recipe(data: CascadeData, taxonomy: Any, spectral: SpectralHead | None,
                       plan: Sequence[StagePlan] | None = None) -> CascadeParams:
    """The cascade's parameters for one taxonomy (the spectral head only for gtzan)."""
    plan = tuple(plan or cascade_plan(taxonomy.name))
    kwargs: dict[str, Any] = {}
    if spectral is not None and "spectral" in data.raw:
        kwargs = {"fixed": {"spectral": spectral.calibration}, "head": spectral.head,
                  "prototype": spectral.prototype, "prototype_threshold": spectral.oov_threshold}
    return fit_cascade(data, plan, single=ZEROSHOT_SETTINGS, pooled=POOLED_SETTINGS,
                       taxonomy={"name": taxonomy.name, "digest": taxonomy.digest},
                       fitted_on={"data": DATA_NOTE, "taxonomy": taxonomy.name,
                                  "stages": [p.name for p in plan]}, **kwargs)
