"""The progressive cascade: cheap components first, more only for the tracks that need them.

Stages (fitted in :mod:`music_reclass.trust.cascade_fit`, shipped as package data
``trust/data/cascade-<taxonomy>.json``, rule in :mod:`music_reclass.trust.cascade_params`):

- ``--taxonomy gtzan``: ``musicnn-2p`` (both musicnn nets on 2 patches spread over
  the excerpt) -> ``spectral`` (+ a logistic head over 53 features of the Kaggle GTZAN
  table, trained on its fault-filtered split, pooled with the first) -> ``full``
  (musicnn on the whole excerpt, pooled with the spectral head);
- ``--taxonomy default``: ``musicnn-2p`` -> ``full`` (the spectral head knows only
  the 10 GTZAN genres).

A track stops at the first stage whose calibrated decision policy decides (at the
target precision); the last stage decides or abstains. The prediction says which
stage answered (:attr:`Prediction.stage`). Work already done is reused: the full
stage only runs the patches the first one did not.

What it needs and stores (the :class:`~music_reclass.pipeline.prediction.Classifier`
protocol):

- ``input``: with a spectral stage, the file itself (``AudioInput(16000, None)``: the
  spectral features are read from the file at 22.05 kHz, as GTZAN's table was, and
  musicnn's 16 kHz excerpt is decoded only by the cascade); without one, musicnn's
  excerpt (the runner decodes it, :meth:`CascadeClassifier.predict_batch`);
- ``vectors``: the first stage's means over its few patches in their own embedding
  space (``musicnn-2p/<versions>``), so they never mix with full-excerpt means; the
  full-excerpt means, when the last stage ran, in the musicnn space itself (the same
  vectors the default model stores: it then answers from them without the audio); the
  spectral features in their extractor's space (float32);
- ``embedding_space`` is the first stage's space: :meth:`CascadeClassifier.predict_vectors`
  answers a track from its stored first-stage vectors when that stage decides (another
  taxonomy, refitted thresholds), and refuses otherwise, so the runner decodes the audio.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from music_reclass.audio.excerpt import AudioInput
from music_reclass.errors import ModelError, ParameterError, TooShortError
from music_reclass.models.musicnn.spec import MIN_SAMPLES, MUSICNN_INPUT, PATCH_SECONDS
from music_reclass.pipeline.prediction import Prediction
from music_reclass.pipeline.zeroshot import MUSICNN_MODELS, MusicnnTagClassifier
from music_reclass.taxonomy import VOCABULARIES, Taxonomy
from music_reclass.trust.calibration import log_scores
from music_reclass.trust.cascade_params import CascadeParams
from music_reclass.trust.model import shipped_document

__all__ = ["CascadeClassifier", "CascadeTrace", "patch_indices", "shipped_cascade"]

_PREFIX = {"MSD_musicnn": "msd", "MTT_musicnn": "mtt"}
_LAYERS = ("penultimate", "taggram")
SR = MUSICNN_INPUT.sample_rate


def patch_indices(n_patches: int, wanted: int | None) -> list[int]:
    """``wanted`` patch indices spread evenly over ``n_patches`` (all when None or more)."""
    if wanted is None or wanted >= n_patches:
        return list(range(n_patches))
    return sorted({int((i + 0.5) * n_patches / wanted) for i in range(wanted)})


def shipped_cascade(taxonomy: Taxonomy) -> CascadeParams:
    """The packaged cascade of a built-in taxonomy.

    Raises
    ------
    ModelError
        No cascade ships for this taxonomy, or it was fitted for another mapping content.
    """
    document = shipped_document(f"cascade-{taxonomy.name}.json")
    if document is None:
        raise ModelError(f"no cascade is available for the taxonomy {taxonomy.name!r} "
                         "(built-in: default, gtzan)")
    params = CascadeParams.from_dict(document)
    if (params.taxonomy or {}).get("digest") != taxonomy.digest:
        raise ModelError(f"the shipped cascade was fitted for another content of the "
                         f"{taxonomy.name!r} mapping")
    return params


@dataclass
class CascadeTrace:
    """One track through the cascade: what ran, what it cost, where it stopped."""

    stage: int
    stage_name: str
    seconds: dict[str, float] = field(default_factory=dict)  # per component, decoding included
    prediction: Prediction | None = None


class _Track:
    """The audio and component outputs of one track, computed on demand and timed."""

    def __init__(self, load16: Callable[[], np.ndarray],
                 load22: Callable[[], tuple[np.ndarray, int]]) -> None:
        self.load16, self.load22 = load16, load22
        self.patches: np.ndarray | None = None
        self.outputs: dict[str, dict[int, dict[str, np.ndarray]]] = {m: {} for m in MUSICNN_MODELS}
        self.features: np.ndarray | None = None
        self.seconds: dict[str, float] = {}


class CascadeClassifier:
    """Classifier that runs the progressive cascade (see the module docstring).

    Parameters
    ----------
    taxonomy : str, Path or Taxonomy
        ``"default"`` or ``"gtzan"`` (a cascade ships for each).
    params : CascadeParams, optional
        Fitted parameters (default: the shipped ones for the taxonomy).
    top_k, top_tags : int or None
        As for :class:`~music_reclass.pipeline.zeroshot.MusicnnTagClassifier`.
    nets : mapping, optional
        Already loaded musicnn networks (tests).
    """

    kind = "cascade"

    def __init__(self, taxonomy: str | Path | Taxonomy = "default", *,
                 params: CascadeParams | None = None, top_k: int | None = None,
                 top_tags: int | None = 10, nets: Mapping[str, Any] | None = None) -> None:
        self.zeroshot = MusicnnTagClassifier(taxonomy, top_tags=None, nets=nets)
        self.taxonomy = self.zeroshot.taxonomy
        self.params = params if params is not None else shipped_cascade(self.taxonomy)
        if tuple(self.params.classes) != tuple(self.taxonomy.genres):
            raise ModelError("cascade parameters were fitted for other genres than the taxonomy's")
        self.classes: tuple[str, ...] = self.taxonomy.genres
        self.top_k, self.top_tags = top_k, top_tags
        self.model_id = f"cascade/{self.zeroshot.model_id}/{self.params.digest[:12]}"
        self._extractor: Any = None
        #: a spectral stage reads the file itself; musicnn alone takes the runner's excerpt
        self.input = AudioInput(SR, None) if self.params.head is not None else MUSICNN_INPUT
        self.full_space: str = self.zeroshot.embedding_space
        versions = self.full_space.split("/", 1)[1]
        self.first_patches = _first_patches(self.params)
        #: the first stage's vectors: what :meth:`predict_vectors` answers from
        self.embedding_space = f"musicnn-{self.first_patches}p/{versions}"
        self.vector_dtype = {self.embedding_space: "float16", self.full_space: "float16"}
        if self.params.head is not None:
            from music_reclass.features import get_extractor

            # handcrafted features are stored exactly (a head scales each one)
            spectral = get_extractor(str(self.params.head.feature["name"]))
            self.vector_dtype[spectral.space] = "float32"

    def __repr__(self) -> str:
        return f"CascadeClassifier(model_id={self.model_id!r})"

    @property
    def stage_names(self) -> list[str]:
        return [s.name for s in self.params.stages]

    def ensure_loaded(self) -> None:
        """Load the networks (and the spectral extractor) once per worker."""
        self.zeroshot.ensure_loaded()
        if self.params.head is not None:
            self._spectral_extractor()

    def _spectral_extractor(self) -> Any:
        if self._extractor is None:
            from music_reclass.features import get_extractor

            head = self.params.head
            self._extractor = get_extractor(str(head.feature["name"]))
            head.check_feature(self._extractor.name, self._extractor.version)
        return self._extractor

    # -- entry points ---------------------------------------------------------------------
    def predict_file(self, path: str | Path) -> Prediction:
        """Classify a file: its 16 kHz excerpt for musicnn, its 22.05 kHz centre for the
        spectral head, each decoded only if a stage needs it.

        Raises
        ------
        AudioError
            (a subclass) when the file cannot be turned into analysable audio.
        """
        return self.trace_file(path).prediction

    def trace_file(self, path: str | Path, *, every_stage: bool = False) -> CascadeTrace:
        """:meth:`predict_file` with the stage reached and the seconds each component took.

        ``every_stage`` computes every component first (the cost of running all stages,
        for benchmarks); the answer is the same.
        """
        from music_reclass.audio.excerpt import load_excerpt

        return self._run(_Track(lambda: load_excerpt(path, MUSICNN_INPUT).waveform,
                                lambda: self._spectral_extractor().load(path)),
                         every_stage=every_stage)

    def predict_waveform(self, waveform: np.ndarray) -> Prediction:
        """Classify mono 16 kHz audio. The spectral features are then computed from it
        resampled to 22.05 kHz, which lacks what lies above 8 kHz: prefer
        :meth:`predict_file`."""
        audio = np.asarray(waveform, dtype=np.float32)
        return self._run(_Track(lambda: audio, lambda: (audio, SR))).prediction

    def predict_batch(self, waveforms: Sequence[np.ndarray]) -> list[Prediction]:
        """:meth:`predict_waveform` for each waveform (stages differ per track)."""
        return [self.predict_waveform(w) for w in waveforms]

    def predict_vectors(self, vectors: Mapping[str, np.ndarray]) -> Prediction:
        """Answer from a track's stored first-stage vectors (:attr:`embedding_space`),
        when the first stage decides.

        Raises
        ------
        ModelError
            Vectors missing, or the first stage does not decide: the track needs the
            later stages, hence its audio (the runner then decodes it).
        """
        first = self.params.stages[0]
        musicnn = {n for n, c in self.params.components.items()
                   if c.kind == "musicnn" and c.patches == self.first_patches}
        if not set(first.pool) <= musicnn:
            raise ModelError("the cascade's first stage needs more than its stored vectors")
        try:
            taggrams = {m: np.asarray(vectors[f"{_PREFIX[m]}.taggram"], dtype=np.float64)
                        for m in MUSICNN_MODELS}
        except KeyError as exc:
            raise ModelError(f"stored vectors lack {exc.args[0]}") from exc
        scores = np.log(self.taxonomy.evidence(taggrams))
        probabilities, decisions = self.params.decide(0, dict.fromkeys(first.pool, scores), [{}])
        if not decisions[0].decided:
            raise ModelError("the cascade's first stage is unsure: the track needs its audio")
        tags = self._tags({m: taggrams[m] for m in MUSICNN_MODELS})
        return self._answer(probabilities[0], decisions[0], first.name, tags, {}, 0)

    # -- the stages -------------------------------------------------------------------------
    def _run(self, track: _Track, *, every_stage: bool = False) -> CascadeTrace:
        params = self.params
        raw: dict[str, np.ndarray] = {}
        if every_stage:
            for stage in params.stages:
                for name in stage.pool:
                    if name not in raw:
                        raw[name] = self._component(name, track)
        for k, stage in enumerate(params.stages):
            for name in stage.pool:
                if name not in raw:
                    raw[name] = self._component(name, track)
            vectors = [self._vectors(track)]
            probabilities, decisions = params.decide(k, {n: raw[n] for n in stage.pool}, vectors)
            if decisions[0].decided or k == len(params.stages) - 1:
                prediction = self._prediction(track, probabilities[0], decisions[0], stage.name)
                return CascadeTrace(k, stage.name, dict(track.seconds), prediction)
        raise AssertionError("unreachable: the last stage always answers")

    def _component(self, name: str, track: _Track) -> np.ndarray:
        component = self.params.components[name]
        start = time.perf_counter()
        if component.kind == "musicnn":
            value = self._musicnn_scores(track, component.patches)
        else:
            value = self._spectral_scores(track)
        track.seconds[name] = time.perf_counter() - start
        return value

    def _musicnn_scores(self, track: _Track, wanted: int | None) -> np.ndarray:
        if track.patches is None:
            track.patches = _patches(track.load16())
        index = patch_indices(len(track.patches), wanted)
        for model in MUSICNN_MODELS:
            todo = [i for i in index if i not in track.outputs[model]]
            if todo:
                out = self.zeroshot.nets[model].extract_patches(
                    track.patches[todo], batch_size=self.zeroshot.max_batch_patches)
                for j, i in enumerate(todo):
                    track.outputs[model][i] = {k: np.asarray(out[k][j], np.float32) for k in _LAYERS}
        taggrams = {m: np.mean([track.outputs[m][i]["taggram"] for i in index], axis=0)
                    for m in MUSICNN_MODELS}
        return np.log(self.taxonomy.evidence(taggrams))

    def _spectral_scores(self, track: _Track) -> np.ndarray:
        extractor = self._spectral_extractor()
        y, sr = track.load22()
        track.features = extractor.extract_waveform(np.asarray(y, dtype=np.float32), int(sr))
        return log_scores(self.params.head.predict_proba(track.features))[0]

    def _vectors(self, track: _Track) -> dict[str, np.ndarray]:
        vectors = {}
        if track.features is not None:
            vectors[f"features.{self._spectral_extractor().name}"] = track.features
        return vectors

    def _prediction(self, track: _Track, probabilities: np.ndarray, decision: Any,
                    stage: str) -> Prediction:
        computed = sorted(track.outputs[MUSICNN_MODELS[0]])
        n_total = 0 if track.patches is None else len(track.patches)
        vectors: dict[str, dict[str, np.ndarray]] = {}
        first = patch_indices(n_total, self.first_patches)
        if computed and set(first) <= set(computed):
            vectors[self.embedding_space] = self._means(track, first)
        if computed and len(computed) == n_total:  # the full excerpt: the default's vectors
            vectors[self.full_space] = self._means(track, computed)
        if track.features is not None:
            extractor = self._spectral_extractor()
            vectors[extractor.space] = extractor.to_vectors(track.features)
        tags = []
        if computed:
            means = self._means(track, computed)
            tags = self._tags({m: means[f"{_PREFIX[m]}.taggram"] for m in MUSICNN_MODELS})
        return self._answer(probabilities, decision, stage, tags, vectors, len(computed))

    @staticmethod
    def _means(track: _Track, index: Sequence[int]) -> dict[str, np.ndarray]:
        """Per-layer means of both networks over the patches ``index``."""
        return {f"{_PREFIX[m]}.{layer}": np.mean(
                    [track.outputs[m][i][layer] for i in index], axis=0).astype(np.float32)
                for m in MUSICNN_MODELS for layer in _LAYERS}

    def _tags(self, taggrams: Mapping[str, np.ndarray]) -> list[tuple[str, float]]:
        tags = [(f"{_PREFIX[m]}:{t}", float(p)) for m in MUSICNN_MODELS
                for t, p in zip(VOCABULARIES[m], np.asarray(taggrams[m]), strict=True)]
        tags.sort(key=lambda pair: -pair[1])
        return tags[: self.top_tags]

    def _answer(self, probabilities: np.ndarray, decision: Any, stage: str,
                tags: list[tuple[str, float]], vectors: dict[str, dict[str, np.ndarray]],
                n_patches: int) -> Prediction:
        order = np.argsort(-probabilities, kind="stable")[: self.top_k]
        return Prediction(
            genres=[(self.classes[i], float(probabilities[i])) for i in order],
            tags=tags, vectors=vectors, analysed_seconds=n_patches * PATCH_SECONDS,
            n_patches=n_patches, decided=list(decision.decided) or None,
            abstain_reason=decision.reason, stage=stage)


def _first_patches(params: CascadeParams) -> int:
    """Patches of the first stage's musicnn component (what its stored vectors average)."""
    for name in params.stages[0].pool:
        component = params.components[name]
        if component.kind == "musicnn" and component.patches is not None:
            return int(component.patches)
    raise ModelError("the cascade's first stage must be musicnn on a few patches")


def _patches(waveform: np.ndarray) -> np.ndarray:
    from music_reclass.models.musicnn import log_mel, make_patches

    waveform = np.asarray(waveform, dtype=np.float32)
    if waveform.ndim != 1:
        raise ParameterError(f"waveform must be mono 1-D audio, got shape {waveform.shape}")
    if not np.all(np.isfinite(waveform)):
        raise ParameterError("waveform contains non-finite samples")
    if waveform.size < MIN_SAMPLES:
        raise TooShortError(f"audio lasts {waveform.size / SR:.2f} s, "
                            f"shorter than one {PATCH_SECONDS:.2f} s patch")
    return make_patches(log_mel(waveform))
