"""Tag -> genre mappings: turn musicnn tag probabilities into genre probabilities.

A mapping is a JSON data file (``taxonomy/data/default.json``, ``gtzan.json``, or
one of the user's): for each genre, which tags of which musicnn model indicate it,
each with a weight in (0, 1] that says *how strongly that tag alone indicates the
genre* (1: the tag names the genre; 0.5: a partial cue). ``taxonomy/data/README.md``
documents the format.

Scoring rule (:meth:`Taxonomy.score`), chosen for being explainable rather than
fitted (no labelled data was used to design it):

1. Track-level tag probabilities ``p[model][tag]`` are the per-patch sigmoid
   outputs of each model averaged over the track (musicnn's own ``tags_mean``).
2. Evidence of genre *g* from one model is a **weighted max**,
   ``max_t w[g,t] * p[t]``: tags listed under a genre are alternatives (a piano
   sonata fires 'classical' and 'piano' but not 'opera'), so an average would
   dilute a strong cue with silent ones, and a sum or noisy-OR would favour the
   genres that happen to have many tags in the vocabularies (rock has six in MSD,
   jazz one).
3. Evidence from the models that list the genre is **averaged** (MSD and MTT
   are two independently trained nets: agreement is worth more than either).
   A model is listed under a genre only where it has a tag that names the
   genre or a close cue, so that a weak proxy never dilutes a strong name.
4. Evidence is floored at ``evidence_floor`` (a genre without tags, like GTZAN's
   reggae, gets exactly the floor) and turned into a distribution by a
   temperature-scaled normalisation, ``P(g) = E_g**(1/T) / sum_h E_h**(1/T)``.
   With ``T = 1`` the probabilities are proportional to the evidence; evidence
   values are themselves probabilities of a tag, typically 0.3-0.7 for the
   right genre and 0.02-0.15 for each of 10-17 others, so ``T = 1`` would
   spread most of the mass over the wrong genres even when the evidence is
   clear. ``T = 0.5`` (squaring the evidence) was chosen a priori as a mild
   sharpening: a 0.5 vs 0.1 evidence ratio becomes 25:1. The temperature only
   changes confidences, never the ranking; it is not calibrated on data (there
   was none to calibrate on without tuning on the evaluation clips), so read
   the confidences as relative strength of evidence, and re-fit ``temperature``
   in the data file if calibrated probabilities are needed.

The mapping's :attr:`Taxonomy.digest` hashes its semantic content (genres, tags,
weights, temperature, floor; not the notes), so that classifiers built on a
changed mapping get a new ``model_id``.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from pathlib import Path

import numpy as np

from music_reclass.errors import ParameterError

__all__ = [
    "BUILTIN_TAXONOMIES",
    "MSD_LABELS",
    "MTT_LABELS",
    "VOCABULARIES",
    "Taxonomy",
    "load_taxonomy",
]

FORMAT = "music_reclass.taxonomy/1"
BUILTIN_TAXONOMIES = ("default", "gtzan")

# The two musicnn vocabularies (musicnn/configuration.py), in output order.
MTT_LABELS = (
    "guitar", "classical", "slow", "techno", "strings", "drums", "electronic", "rock",
    "fast", "piano", "ambient", "beat", "violin", "vocal", "synth", "female", "indian",
    "opera", "male", "singing", "vocals", "no vocals", "harpsichord", "loud", "quiet",
    "flute", "woman", "male vocal", "no vocal", "pop", "soft", "sitar", "solo", "man",
    "classic", "choir", "voice", "new age", "dance", "male voice", "female vocal", "beats",
    "harp", "cello", "no voice", "weird", "country", "metal", "female voice", "choral",
)  # fmt: skip
MSD_LABELS = (
    "rock", "pop", "alternative", "indie", "electronic", "female vocalists", "dance", "00s",
    "alternative rock", "jazz", "beautiful", "metal", "chillout", "male vocalists",
    "classic rock", "soul", "indie rock", "Mellow", "electronica", "80s", "folk", "90s",
    "chill", "instrumental", "punk", "oldies", "blues", "hard rock", "ambient", "acoustic",
    "experimental", "female vocalist", "guitar", "Hip-Hop", "70s", "party", "country",
    "easy listening", "sexy", "catchy", "funk", "electro", "heavy metal", "Progressive rock",
    "60s", "rnb", "indie pop", "sad", "House", "happy",
)  # fmt: skip
VOCABULARIES: dict[str, tuple[str, ...]] = {"MSD_musicnn": MSD_LABELS, "MTT_musicnn": MTT_LABELS}

DEFAULT_TEMPERATURE = 0.5
DEFAULT_EVIDENCE_FLOOR = 1e-3


@dataclass(frozen=True)
class Taxonomy:
    """A validated tag -> genre mapping.

    Attributes
    ----------
    name : str
        Short name (``"default"``, ``"gtzan"`` or the file's ``name``).
    genres : tuple of str
        The genres, in file order: the classes of a classifier built on it.
    weights : dict
        ``weights[genre][model][tag] = w``, ``0 < w <= 1``.
    temperature : float
        Normalisation temperature (see the module docstring).
    evidence_floor : float
        Smallest evidence a genre can have.
    source : str
        Where the mapping came from (built-in name or file path).
    notes : dict
        Free-text notes per genre, from the file (documentation only).
    """

    name: str
    genres: tuple[str, ...]
    weights: dict[str, dict[str, dict[str, float]]]
    temperature: float = DEFAULT_TEMPERATURE
    evidence_floor: float = DEFAULT_EVIDENCE_FLOOR
    source: str = ""
    notes: dict[str, str] = field(default_factory=dict, compare=False)

    @property
    def models(self) -> tuple[str, ...]:
        """The models whose tags the mapping reads, sorted."""
        return tuple(sorted({m for per_model in self.weights.values() for m in per_model}))

    @property
    def unrecognisable(self) -> tuple[str, ...]:
        """Genres with no tag at all: they always get the floor evidence."""
        return tuple(g for g in self.genres if not self.weights[g])

    @property
    def digest(self) -> str:
        """Hex SHA-256 of the mapping's semantic content (not its notes)."""
        content = {
            "genres": list(self.genres),
            "weights": self.weights,
            "temperature": self.temperature,
            "evidence_floor": self.evidence_floor,
        }
        canonical = json.dumps(content, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()

    def evidence(self, tag_probs: Mapping[str, np.ndarray]) -> np.ndarray:
        """Per-genre evidence in [floor, 1] from track-level tag probabilities.

        Parameters
        ----------
        tag_probs : mapping
            ``{model_name: probabilities [50]}`` (or ``[n, 50]`` for ``n`` tracks),
            in the order of :data:`VOCABULARIES` ``[model_name]``.

        Returns
        -------
        np.ndarray
            ``[n_genres]`` (or ``[n, n_genres]``), in the order of :attr:`genres`.
        """
        arrays = _check_tag_probs(tag_probs, self.models)
        lead = next(iter(arrays.values())).shape[:-1] if arrays else ()
        out = np.full((*lead, len(self.genres)), self.evidence_floor, dtype=np.float64)
        for j, genre in enumerate(self.genres):
            per_model = [
                _weighted_max(arrays[model], model, tags)
                for model, tags in self.weights[genre].items()
            ]
            if per_model:
                out[..., j] = np.maximum(np.mean(per_model, axis=0), self.evidence_floor)
        return out

    def score(self, tag_probs: Mapping[str, np.ndarray]) -> np.ndarray:
        """Genre probabilities (non-negative, summing to 1 over :attr:`genres`).

        Parameters
        ----------
        tag_probs : mapping
            As for :meth:`evidence`.

        Returns
        -------
        np.ndarray
            ``[n_genres]`` (or ``[n, n_genres]``) float64.
        """
        return normalise_evidence(self.evidence(tag_probs), temperature=self.temperature)


def normalise_evidence(evidence: np.ndarray, *, temperature: float) -> np.ndarray:
    """``E**(1/T)`` normalised to sum to 1 along the last axis (in log space, stable)."""
    if not temperature > 0:
        raise ParameterError(f"temperature must be > 0, got {temperature!r}")
    logits = np.log(np.asarray(evidence, dtype=np.float64)) / temperature
    logits -= logits.max(axis=-1, keepdims=True)
    weights = np.exp(logits)
    return weights / weights.sum(axis=-1, keepdims=True)


def _weighted_max(probs: np.ndarray, model: str, tags: Mapping[str, float]) -> np.ndarray:
    index = {label: i for i, label in enumerate(VOCABULARIES[model])}
    columns = [index[t] for t in tags]
    weights = np.array(list(tags.values()), dtype=np.float64)
    return (probs[..., columns] * weights).max(axis=-1)


def _check_tag_probs(
    tag_probs: Mapping[str, np.ndarray], models: tuple[str, ...]
) -> dict[str, np.ndarray]:
    missing = [m for m in models if m not in tag_probs]
    if missing:
        raise ParameterError(f"tag probabilities missing for model(s) {missing}")
    arrays = {m: np.asarray(tag_probs[m], dtype=np.float64) for m in models}
    shapes = {a.shape[:-1] for a in arrays.values()}
    if len(shapes) > 1:
        raise ParameterError(f"tag probability arrays disagree in shape: {sorted(shapes)}")
    for model, array in arrays.items():
        n_tags = len(VOCABULARIES[model])
        if array.shape[-1:] != (n_tags,):
            raise ParameterError(
                f"{model} tag probabilities must end in {n_tags}, got {array.shape}"
            )
        if not np.all(np.isfinite(array)) or array.min(initial=0) < 0 or array.max(initial=0) > 1:
            raise ParameterError(f"{model} tag probabilities must be finite and within [0, 1]")
    return arrays


def load_taxonomy(taxonomy: str | Path | Taxonomy = "default") -> Taxonomy:
    """Load and validate a tag -> genre mapping.

    Parameters
    ----------
    taxonomy : str, Path or Taxonomy
        A built-in name (``"default"``, ``"gtzan"``), the path of a JSON mapping
        file, or an already loaded :class:`Taxonomy` (returned as is).

    Returns
    -------
    Taxonomy

    Raises
    ------
    ParameterError
        Unknown name, unreadable file, or invalid content (unknown model or tag,
        weight outside (0, 1], bad temperature...): the message lists the valid names.
    """
    if isinstance(taxonomy, Taxonomy):
        return taxonomy
    if isinstance(taxonomy, str) and taxonomy in BUILTIN_TAXONOMIES:
        return _load_builtin(taxonomy)
    path = Path(taxonomy)
    if not path.is_file():
        raise ParameterError(
            f"unknown taxonomy {str(taxonomy)!r}: use one of {list(BUILTIN_TAXONOMIES)} "
            "or the path of a JSON mapping file"
        )
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ParameterError(f"cannot read taxonomy file {path}: {exc}") from exc
    except RecursionError as exc:  # e.g. [[[[...]]]] 100,000 deep
        raise ParameterError(f"cannot read taxonomy file {path}: JSON nested too deeply") from exc
    return parse_taxonomy(document, source=str(path))


@cache
def _load_builtin(name: str) -> Taxonomy:
    text = (
        resources.files("music_reclass.taxonomy")
        .joinpath("data", f"{name}.json")
        .read_text("utf-8")
    )
    return parse_taxonomy(json.loads(text), source=f"builtin:{name}")


def parse_taxonomy(document: object, *, source: str = "<memory>") -> Taxonomy:
    """Validate a mapping document (the parsed JSON) and build a :class:`Taxonomy`.

    Raises
    ------
    ParameterError
        On any invalid content, naming the place and the valid choices.
    """
    where = f"taxonomy {source}"
    if not isinstance(document, dict):
        raise ParameterError(f"{where}: the top level must be a JSON object")
    if document.get("format", FORMAT) != FORMAT:
        raise ParameterError(f"{where}: format must be {FORMAT!r}, got {document.get('format')!r}")
    genres_doc = document.get("genres")
    if not isinstance(genres_doc, dict) or len(genres_doc) < 2:
        raise ParameterError(f"{where}: 'genres' must be an object with at least two genres")
    weights: dict[str, dict[str, dict[str, float]]] = {}
    notes: dict[str, str] = {}
    for genre, entry in genres_doc.items():
        if not isinstance(genre, str) or not genre.strip():
            raise ParameterError(f"{where}: genre names must be non-empty strings")
        if not genre.isprintable() or len(genre) > 100:
            # they end up in tags, folder names and terminals
            raise ParameterError(f"{where}: genre {genre!r} holds control characters or is "
                                 "longer than 100 characters")
        if not isinstance(entry, dict) or not isinstance(entry.get("tags", {}), dict):
            raise ParameterError(f"{where}: genre {genre!r} must be an object with a 'tags' object")
        weights[genre] = _parse_genre_tags(entry.get("tags", {}), f"{where}, genre {genre!r}")
        if isinstance(entry.get("note"), str):
            notes[genre] = entry["note"]
    if all(not per_model for per_model in weights.values()):
        raise ParameterError(f"{where}: no genre lists any tag")
    temperature = _positive_number(
        document.get("temperature", DEFAULT_TEMPERATURE), f"{where}: temperature"
    )
    floor = _positive_number(
        document.get("evidence_floor", DEFAULT_EVIDENCE_FLOOR), f"{where}: evidence_floor"
    )
    if floor >= 1:
        raise ParameterError(f"{where}: evidence_floor must be < 1, got {floor}")
    name = document.get("name") or Path(source).stem
    return Taxonomy(
        name=str(name),
        genres=tuple(weights),
        weights=weights,
        temperature=temperature,
        evidence_floor=floor,
        source=source,
        notes=notes,
    )


def _parse_genre_tags(tags_doc: dict, where: str) -> dict[str, dict[str, float]]:
    parsed: dict[str, dict[str, float]] = {}
    for model, tags in tags_doc.items():
        if model not in VOCABULARIES:
            raise ParameterError(
                f"{where}: unknown model {model!r}; valid models: {sorted(VOCABULARIES)}"
            )
        if not isinstance(tags, dict):
            raise ParameterError(f"{where}: tags of {model} must be an object {{tag: weight}}")
        vocabulary = VOCABULARIES[model]
        for tag, weight in tags.items():
            if tag not in vocabulary:
                raise ParameterError(
                    f"{where}: unknown {model} tag {tag!r} (tags are case-sensitive); "
                    f"valid tags: {list(vocabulary)}"
                )
            if (
                isinstance(weight, bool)
                or not isinstance(weight, int | float)
                or not 0 < weight <= 1
            ):
                raise ParameterError(
                    f"{where}: weight of {model} tag {tag!r} must be in (0, 1], got {weight!r}"
                )
        if tags:
            parsed[model] = {tag: float(w) for tag, w in tags.items()}
    return parsed


def _positive_number(value: object, what: str) -> float:
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not value > 0
        or not np.isfinite(value)
    ):
        raise ParameterError(f"{what} must be a positive number, got {value!r}")
    return float(value)
