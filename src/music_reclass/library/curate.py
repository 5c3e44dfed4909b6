"""The façade's curation jobs: which tracks to label next, and which labels look wrong.

Both fit a model on the library's current labels (corrections included, so they follow
the owner's latest word) from the stored embeddings, in seconds, and change nothing.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from music_reclass.library.personal import PersonalMixin
from music_reclass.personal.active import COVER_EXTRA, COVER_PER_GENRE
from music_reclass.personal.config import GenreConfig

__all__ = ["CurateMixin", "Inconsistency", "InconsistencyReport", "Suggestion", "SuggestReport"]


@dataclass(frozen=True)
class Suggestion:
    """An unlabelled track worth labelling, and why."""

    path: str
    content_hash: str
    genres: list[tuple[str, float]]  # the current model's best guesses (empty: no model)
    phase: str  # "cover": typical of tracks no label covers yet; "refine": the model is unsure
    uncertainty: float  # 0 sure .. 1 torn
    typicality: float  # 0 .. 1: how many tracks sound like it
    score: float
    reason: str


@dataclass
class SuggestReport:
    suggestions: list[Suggestion]
    labelled: int
    candidates: int  # unlabelled tracks with stored embeddings
    model: str  # what ranked them
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Inconsistency:
    """A labelled track whose genre the audio and its neighbours both contradict."""

    path: str
    content_hash: str
    labels: list[str]
    own_probability: float
    predicted: list[tuple[str, float]]
    agreement: float
    neighbour_genre: tuple[str, float]
    neighbours: list[tuple[str, list[str]]]  # (path, genres) of the nearest labelled tracks
    score: float
    evidence: str


@dataclass
class InconsistencyReport:
    findings: list[Inconsistency]
    checked: int
    protocol: str
    notes: list[str] = field(default_factory=list)


class CurateMixin(PersonalMixin):
    """Active learning and label checking over the library's labels."""

    def suggest(self, n: int = 10, *, config: GenreConfig | str | os.PathLike | None = None,
                min_tracks: int | None = None, rare: str | None = None,
                multi_label: bool | None = None, seed: int = 0) -> SuggestReport:
        """The ``n`` unlabelled tracks whose labels would help the model most.

        Ranked by the uncertainty of a model fitted on the current labels and by how
        unlike the labelled tracks (and each other) they are; with fewer than two genres
        labelled, by diversity alone.
        """
        from music_reclass.features.musicnn_embedding import VECTOR_LAYOUT
        from music_reclass.personal.active import rank_unlabelled
        from music_reclass.store.labels import vector_matrix

        prepared = self.prepare_labels(config=config, min_tracks=min_tracks, rare=rare,
                                       multi_label=multi_label)
        labelling = prepared.labelling
        X_new, found = vector_matrix(self.connection(), labelling.unlabelled,
                                     prepared.extractor.space, VECTOR_LAYOUT)
        hashes = [h for h, ok in zip(labelling.unlabelled, found, strict=True) if ok]
        by_hash = {s.content_hash: s.path for s in prepared.sources}
        notes: list[str] = []
        if not hashes:
            notes.append("no unlabelled track with a stored embedding: nothing to suggest")
        picks, proba = rank_unlabelled(prepared.X, labelling, X_new[found], n, seed=seed)
        model = _ranked_by(picks, labelling)
        out = []
        for pick in picks:
            guesses = [] if proba is None else _best(proba[pick.index], labelling.classes)
            out.append(Suggestion(by_hash[hashes[pick.index]], hashes[pick.index], guesses,
                                  pick.phase, pick.uncertainty, pick.typicality, pick.score,
                                  _why(guesses, pick, labelling.multi_label)))
        return SuggestReport(out, len(labelling.content_hashes), len(hashes), model, notes)

    def inconsistencies(self, *, limit: int | None = 50, neighbours: int = 10,
                        max_probability: float = 0.2, max_agreement: float = 0.3,
                        config: GenreConfig | str | os.PathLike | None = None,
                        min_tracks: int | None = None, rare: str | None = None,
                        multi_label: bool | None = None, seed: int = 0
                        ) -> InconsistencyReport:
        """Labelled tracks whose genre disagrees strongly with their audio and neighbours.

        The audio's verdict is the out-of-fold prediction of a model that never saw the
        track's artist; the neighbours are its nearest labelled tracks. Corrections are
        the owner's considered word and are not listed. Nothing is changed.
        """
        from music_reclass.personal.active import reduced
        from music_reclass.personal.consistency import find_inconsistencies
        from music_reclass.personal.train import fit_personal

        prepared = self.prepare_labels(config=config, min_tracks=min_tracks, rare=rare,
                                       multi_label=multi_label)
        labelling = prepared.labelling
        if len(labelling.classes) < 2:
            return InconsistencyReport([], len(labelling.content_hashes), "none",
                                       ["fewer than two genres labelled: nothing to compare"])
        fit = fit_personal(prepared.X, labelling, seed=seed)
        if fit.oof is None:
            return InconsistencyReport([], len(labelling.content_hashes), "none", fit.notes)
        Z = reduced(prepared.X.copy(), seed=seed)
        corrected = {s.content_hash for s in prepared.sources if s.correction}
        exclude = np.array([h in corrected for h in labelling.content_hashes])
        findings = find_inconsistencies(Z, labelling.Y, labelling.classes, fit.oof,
                                        k=neighbours, max_probability=max_probability,
                                        max_agreement=max_agreement, exclude=exclude)
        out = [self._inconsistency(f, labelling) for f in findings[:limit]]
        return InconsistencyReport(out, len(labelling.content_hashes), fit.cv["protocol"],
                                   list(fit.notes))

    @staticmethod
    def _inconsistency(finding: Any, labelling: Any) -> Inconsistency:
        def genres_of(row: int) -> list[str]:
            return [labelling.classes[j] for j in np.flatnonzero(labelling.Y[row])]

        near = [(labelling.paths[i], genres_of(i)) for i in finding.neighbours]
        genre, share = finding.neighbour_genre
        top, p_top = finding.predicted[0]
        evidence = (f"tagged {', '.join(finding.labels)}; a model that never heard this artist "
                    f"says {top} {p_top:.2f} ({', '.join(finding.labels)} "
                    f"{finding.own_probability:.2f}); {len(near) - round(finding.agreement * len(near))}"
                    f" of its {len(near)} nearest tagged tracks have none of its genres, "
                    f"{share:.0%} are {genre}")
        return Inconsistency(labelling.paths[finding.row], labelling.content_hashes[finding.row],
                             finding.labels, finding.own_probability, finding.predicted,
                             finding.agreement, finding.neighbour_genre, near, finding.score,
                             evidence)


def _best(proba: np.ndarray, classes: list[str], k: int = 3) -> list[tuple[str, float]]:
    order = np.argsort(-proba, kind="stable")[:k]
    return [(classes[i], float(proba[i])) for i in order]


def _ranked_by(picks: list[Any], labelling: Any) -> str:
    if picks and picks[0].phase == "refine":
        return (f"the uncertainty of a model of {len(labelling.classes)} genres fitted on "
                f"{len(labelling.content_hashes)} labelled tracks, and typicality")
    return (f"coverage: typical tracks of groups no label covers yet (until "
            f"{COVER_PER_GENRE} labels per genre, plus {COVER_EXTRA})")


def _why(guesses: list[tuple[str, float]], pick: Any, multi_label: bool) -> str:
    if pick.phase == "cover":
        return "typical of a group of similar tracks that no label covers yet"
    if multi_label:
        return "unsure about " + ", ".join(f"{g} {p:.2f}" for g, p in guesses[:2])
    return (f"torn between {guesses[0][0]} {guesses[0][1]:.2f} and {guesses[1][0]} "
            f"{guesses[1][1]:.2f}")
