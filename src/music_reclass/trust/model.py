"""A model's trust parameters: calibration + out-of-vocabulary detector + decision policy.

They travel with the model as plain JSON: in a trained model's sidecar under the key
``"trust"`` (:func:`write_trust`, :func:`read_trust`), and for the embedded
zero-shot default as package data, one file per built-in taxonomy
(``trust/data/zeroshot-<taxonomy>.json``, :func:`shipped_trust`), which applies only
to the mapping content it was fitted on (its digest is checked).

Format (``format`` ``"music_reclass.trust/1"``)::

    {"format": "music_reclass.trust/1",
     "scores": "log-probabilities" | "taxonomy-evidence",
     "taxonomy": {"name": "gtzan", "digest": "..."},         # taxonomy-evidence only
     "calibration": {...},   # Calibration.to_dict(): method, weight, background, data, ECE
     "oov": {...} | null,    # EvidenceOOV / PrototypeOOV .to_dict()
     "policy": {...}}        # DecisionPolicy.to_dict()
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from music_reclass.errors import ModelError, ParameterError
from music_reclass.trust.calibration import Calibration, log_scores
from music_reclass.trust.policy import Decision, DecisionPolicy
from music_reclass.trust.vocabulary import EvidenceOOV, PrototypeOOV, oov_from_dict

__all__ = [
    "FORMAT",
    "LOG_PROBABILITIES",
    "TAXONOMY_EVIDENCE",
    "TrustModel",
    "read_sidecar_decision",
    "read_trust",
    "shipped_document",
    "shipped_trust",
    "taggram_vectors",
    "write_trust",
]

FORMAT = "music_reclass.trust/1"
LOG_PROBABILITIES, TAXONOMY_EVIDENCE = "log-probabilities", "taxonomy-evidence"
_TAGGRAMS = {"MSD_musicnn": "msd.taggram", "MTT_musicnn": "mtt.taggram"}


def taggram_vectors(vectors: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """``{"MSD_musicnn": [50], "MTT_musicnn": [50]}`` from a track's stored vectors.

    Raises
    ------
    ParameterError
        A taggram is missing.
    """
    missing = [name for name in _TAGGRAMS.values() if name not in vectors]
    if missing:
        raise ParameterError(f"track vectors lack {missing}: cannot compute genre evidence")
    return {model: np.asarray(vectors[name], dtype=np.float64) for model, name in _TAGGRAMS.items()}


@dataclass(frozen=True)
class TrustModel:
    """Everything that turns one model's raw output into calibrated genres and a decision.

    Attributes
    ----------
    scores : str
        What the calibration reads: ``"log-probabilities"`` (log of the model's
        probabilities) or ``"taxonomy-evidence"`` (log of the zero-shot genre evidence,
        computed from the track's ``msd.taggram``/``mtt.taggram`` vectors).
    calibration : Calibration or None
        None: the model's probabilities are passed through unchanged (uncalibrated).
    oov : EvidenceOOV, PrototypeOOV or None
    policy : DecisionPolicy
    taxonomy : dict or None
        ``{"name", "digest"}`` of the mapping the parameters were fitted for.
    """

    scores: str
    calibration: Calibration | None
    oov: EvidenceOOV | PrototypeOOV | None
    policy: DecisionPolicy
    taxonomy: dict[str, str] | None = None

    @property
    def calibrated(self) -> bool:
        return self.calibration is not None

    @property
    def digest(self) -> str:
        """Hex sha256 of the parameters that change outputs (not the metrics)."""
        content = {
            "scores": self.scores,
            "calibration": self.calibration.params() if self.calibration else None,
            "oov": _strip_metrics(self.oov.to_dict()) if self.oov else None,
            "policy": _strip_metrics(self.policy.to_dict()),
        }
        text = json.dumps(content, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()

    # -- applying ------------------------------------------------------------------------
    def raw_scores(self, genres: Sequence[tuple[str, float]], classes: Sequence[str],
                   vectors: Mapping[str, np.ndarray], evidence: Any = None) -> np.ndarray:
        """The calibration's input ``[K]`` (in ``classes`` order) for one track.

        ``evidence`` is the taxonomy (anything with ``evidence(tag_probs)``), needed for
        ``"taxonomy-evidence"`` scores.
        """
        if self.scores == TAXONOMY_EVIDENCE:
            if evidence is None:
                raise ParameterError("taxonomy-evidence scores need the taxonomy")
            return np.log(np.asarray(evidence.evidence(taggram_vectors(vectors)), np.float64))
        probability = {str(g): float(p) for g, p in genres}
        missing = [c for c in classes if c not in probability]
        if missing:
            raise ParameterError(f"calibration needs every class's probability; missing {missing}")
        return log_scores(np.array([probability[c] for c in classes]))

    def probabilities(self, scores: np.ndarray, classes: Sequence[str]) -> np.ndarray:
        """Calibrated probabilities ``[K]`` from raw scores ``[K]``."""
        if self.calibration is None:
            z = np.asarray(scores, dtype=np.float64)
            p = np.exp(z - z.max())
            return p / p.sum()
        if tuple(classes) != self.calibration.classes:
            raise ModelError("the calibration was fitted for other classes than the model's")
        return self.calibration.apply(scores)[0]

    def assess(self, genres: Sequence[tuple[str, float]], classes: Sequence[str],
               vectors: Mapping[str, np.ndarray], evidence: Any = None
               ) -> tuple[list[tuple[str, float]], Decision]:
        """Calibrated genres (best first) and the decision for one raw prediction."""
        scores = self.raw_scores(genres, classes, vectors, evidence)
        p = self.probabilities(scores, classes)
        # by probability, ties (a background-flattened p) by score: calibration keeps the ranking
        order = np.lexsort((-scores, -p))
        calibrated = [(str(classes[i]), float(p[i])) for i in order]
        oov_score = self.oov.score(scores, vectors) if self.oov is not None else None
        return calibrated, self.policy.decide(calibrated, oov_score)

    def decide_stored(self, genres: Sequence[tuple[str, float]] | Sequence[Mapping[str, Any]],
                      vectors: Mapping[str, np.ndarray], classes: Sequence[str] | None = None,
                      evidence: Any = None) -> Decision:
        """The decision for a stored analysis: its (already calibrated) genres and vectors.

        ``genres`` as stored: ``(label, probability)`` pairs or ``{"label", "confidence"}``
        records. The OOV score is recomputed from the vectors (the zero-shot taggrams, or
        the head's feature vector); without them that rule is skipped.
        """
        pairs = [(str(g["label"]), float(g["confidence"])) if isinstance(g, Mapping)
                 else (str(g[0]), float(g[1])) for g in genres]
        oov_score = None
        if self.oov is not None:
            try:
                if self.scores == TAXONOMY_EVIDENCE:
                    oov_score = self.oov.score(
                        self.raw_scores(pairs, classes or [], vectors, evidence), vectors)
                else:
                    oov_score = self.oov.score(np.zeros(0), vectors)
            except ParameterError:
                oov_score = None
        return self.policy.decide(pairs, oov_score)

    # -- storing -------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "scores": self.scores,
            "taxonomy": dict(self.taxonomy) if self.taxonomy else None,
            "calibration": self.calibration.to_dict() if self.calibration else None,
            "oov": self.oov.to_dict() if self.oov else None,
            "policy": self.policy.to_dict(),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TrustModel:
        """Inverse of :meth:`to_dict`.

        Raises
        ------
        ParameterError
            Unknown format or score kind, or invalid parts.
        """
        if not isinstance(data, Mapping) or data.get("format") != FORMAT:
            raise ParameterError(f"trust parameters must have format {FORMAT!r}")
        scores = data.get("scores")
        if scores not in (LOG_PROBABILITIES, TAXONOMY_EVIDENCE):
            raise ParameterError(f"unknown trust score kind {scores!r}")
        calibration = Calibration.from_dict(data["calibration"]) if data.get("calibration") else None
        return cls(scores, calibration, oov_from_dict(data.get("oov")),
                   DecisionPolicy.from_dict(data.get("policy") or {}),
                   dict(data["taxonomy"]) if data.get("taxonomy") else None)


def _strip_metrics(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: _strip_metrics(v) for k, v in value.items() if k not in ("metrics", "fitted_on")}
    return value


def _sidecar(model_path: str | os.PathLike) -> Path:
    path = Path(model_path)
    return path.with_name(path.name + ".json")


def read_trust(model_path: str | os.PathLike) -> TrustModel | None:
    """The trust parameters in a model file's sidecar (None when it has none).

    Raises
    ------
    ModelError
        Sidecar missing, unreadable, or with invalid trust parameters.
    """
    side = _sidecar(model_path)
    try:
        meta = json.loads(side.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelError(f"cannot read model sidecar {side}: {exc}") from exc
    if not isinstance(meta, dict) or meta.get("trust") is None:
        return None
    try:
        return TrustModel.from_dict(meta["trust"])
    except ParameterError as exc:
        raise ModelError(f"model sidecar {side.name}: {exc}") from exc


def read_sidecar_decision(model_path: str | os.PathLike) -> dict[str, Any] | None:
    """The model's own decision policy (sidecar key ``"decision"``, written by a head that
    decides for itself, as the personal head does), or None."""
    try:
        meta = json.loads(_sidecar(model_path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError, RecursionError):
        return None  # loading the model gives the precise error
    decision = meta.get("decision") if isinstance(meta, dict) else None
    return decision if isinstance(decision, dict) else None


def write_trust(model_path: str | os.PathLike, trust: TrustModel) -> Path:
    """Store ``trust`` in the sidecar of ``model_path`` (key ``"trust"``), atomically.

    The model file and its sha256 are untouched; a classifier built on the model
    names the trust digest in its ``model_id``, so analyses before and after
    calibration are never mixed.

    Returns
    -------
    Path
        The sidecar.
    """
    side = _sidecar(model_path)
    try:
        meta = json.loads(side.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelError(f"cannot read model sidecar {side}: {exc}") from exc
    meta["trust"] = trust.to_dict()
    handle, temporary = tempfile.mkstemp(prefix=f".{side.name}.", suffix=".tmp", dir=side.parent)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            json.dump(meta, out, indent=2, ensure_ascii=False)
            out.write("\n")
        os.replace(temporary, side)
    finally:
        Path(temporary).unlink(missing_ok=True)
    return side


@cache
def shipped_document(name: str) -> dict[str, Any] | None:
    """A JSON document of ``music_reclass/trust/data`` (None when there is none)."""
    try:
        text = resources.files("music_reclass.trust").joinpath("data", name).read_text("utf-8")
    except FileNotFoundError:
        return None
    return json.loads(text)


def shipped_trust(kind: str, taxonomy_name: str, taxonomy_digest: str | None = None
                  ) -> TrustModel | None:
    """Packaged trust parameters of a built-in model (``kind`` ``"zeroshot"``...).

    Returns None when there are none for that taxonomy, or when they were fitted for
    another content of the mapping (digest mismatch: a replaced or edited mapping).
    """
    document = shipped_document(f"{kind}-{taxonomy_name}.json")
    if document is None:
        return None
    trust = TrustModel.from_dict(document)
    if taxonomy_digest is not None and (trust.taxonomy or {}).get("digest") != taxonomy_digest:
        return None
    return trust
