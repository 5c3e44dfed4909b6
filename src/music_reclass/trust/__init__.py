"""Labels a user can trust: calibrated probabilities, abstention, out-of-vocabulary detection.

- :mod:`.calibration`: temperature scaling (with an optional background level) fitted
  on held-out data, stored as JSON (:class:`Calibration`);
- :mod:`.conformal`: split-conformal (LAC) prediction sets (:class:`ConformalSets`);
- :mod:`.vocabulary`: out-of-vocabulary scores (:class:`EvidenceOOV`, :class:`PrototypeOOV`);
- :mod:`.policy`: the decision rule, ``decided`` or an abstention with its reason
  (:class:`DecisionPolicy`, :class:`Decision`);
- :mod:`.model`: the three together, as stored with a model (:class:`TrustModel`);
- :mod:`.classifier`: any classifier with calibrated, decided predictions
  (:func:`load_trusted_classifier`);
- :mod:`.fitting`, :mod:`.cascade_fit`: fitting on held-out data and honest
  (leave-one-artist-out) measurement; :mod:`.cascade_params`: the cascade's stage rule.

>>> from music_reclass.trust import load_trusted_classifier
>>> clf = load_trusted_classifier(taxonomy="gtzan")      # doctest: +SKIP
>>> clf.predict_file("song.mp3").decided                # doctest: +SKIP
['jazz']
"""

from music_reclass.trust.calibration import Calibration, fit_calibration
from music_reclass.trust.classifier import TrustedClassifier, load_trusted_classifier
from music_reclass.trust.conformal import ConformalSets, fit_conformal
from music_reclass.trust.model import TrustModel, read_trust, shipped_trust, write_trust
from music_reclass.trust.policy import REASONS, Decision, DecisionPolicy, fit_policy
from music_reclass.trust.vocabulary import EvidenceOOV, PrototypeOOV

__all__ = [
    "REASONS",
    "Calibration",
    "ConformalSets",
    "Decision",
    "DecisionPolicy",
    "EvidenceOOV",
    "PrototypeOOV",
    "TrustModel",
    "TrustedClassifier",
    "fit_calibration",
    "fit_conformal",
    "fit_policy",
    "load_trusted_classifier",
    "read_trust",
    "shipped_trust",
    "write_trust",
]
