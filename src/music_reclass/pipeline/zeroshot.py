"""The embedded default classifier: both musicnn taggers + a tag -> genre mapping.

No training: MSD_musicnn and MTT_musicnn tag the track (per ~3 s patch, averaged
over the track), and a :class:`~music_reclass.taxonomy.Taxonomy` turns the 100 tag
probabilities into genre probabilities (rule in :mod:`music_reclass.taxonomy.mapping`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from music_reclass.errors import ModelError, ParameterError, TooShortError
from music_reclass.models.musicnn.spec import (
    MIN_SAMPLES,
    MUSICNN_INPUT,
    PATCH_SECONDS,
    musicnn_space,
)
from music_reclass.pipeline.prediction import Prediction
from music_reclass.taxonomy import VOCABULARIES, Taxonomy, load_taxonomy

__all__ = ["MUSICNN_MODELS", "MusicnnTagClassifier"]

MUSICNN_MODELS = ("MSD_musicnn", "MTT_musicnn")
SR = MUSICNN_INPUT.sample_rate
#: the layers whose per-patch mean is kept as a track-level vector (and stored): the
#: penultimate layers are the usual musicnn embeddings, the tag probabilities are what
#: every taxonomy maps to genres
LAYERS = ("penultimate", "taggram")
SCORING_VERSION = "zs1"  # bump when the way tags become genres changes in code


@dataclass(frozen=True)
class _ShippedNet:
    """What the sidecar of a shipped network says (no weights loaded)."""

    labels: tuple[str, ...]
    version: str


def _describe_shipped_nets() -> dict[str, _ShippedNet]:
    """Labels and versions of the shipped networks from their sidecars, without torch.

    The weights' sha256 is checked against the sidecar here too, so damaged weights
    are reported when the classifier is built, not on every file.
    """
    import hashlib
    import json

    import music_reclass.models.musicnn as package

    weights = Path(package.__file__).resolve().parent / "weights"
    described = {}
    for model in MUSICNN_MODELS:
        sidecar_path = weights / f"{model}.json"
        try:
            sidecar = json.loads(sidecar_path.read_text())
            digest = hashlib.sha256((weights / f"{model}.safetensors").read_bytes()).hexdigest()
        except (OSError, ValueError) as error:
            raise ModelError(f"cannot read the musicnn model {model}: {error}") from error
        if digest != sidecar.get("safetensors_sha256"):
            raise ModelError(
                f"musicnn weights {model}.safetensors are damaged or replaced "
                "(sha256 differs from the sidecar); reinstall the package"
            )
        described[model] = _ShippedNet(tuple(sidecar.get("labels") or ()),
                                       str(sidecar.get("version", "unknown")))
    return described


def _load_net(name: str) -> Any:
    from music_reclass.models.musicnn import load_musicnn  # cached there; torch loads lazily

    return load_musicnn(name)


def _log_mel(waveform: np.ndarray) -> np.ndarray:
    from music_reclass.models.musicnn import log_mel

    return log_mel(waveform)


def _make_patches(logmel: np.ndarray) -> np.ndarray:
    from music_reclass.models.musicnn import make_patches

    return make_patches(logmel)


def _prefix(model: str) -> str:
    return model.split("_")[0].lower()  # "MSD_musicnn" -> "msd"


class MusicnnTagClassifier:
    """Zero-shot genre classifier from musicnn tags.

    Parameters
    ----------
    taxonomy : str, Path or Taxonomy
        ``"default"``, ``"gtzan"`` or a mapping file (see :func:`~music_reclass.taxonomy.load_taxonomy`).
    top_k : int or None
        Keep only the best ``top_k`` genres in predictions (None: all classes).
    top_tags : int or None
        Keep only the best ``top_tags`` tags (None: all 100).
    nets : mapping, optional
        ``{"MSD_musicnn": net, "MTT_musicnn": net}`` already loaded (default: load them).
    max_batch_patches : int
        Patches per forward call of a network (bounds memory, not results).
    """

    #: a classify run hands :meth:`predict_batch` the 16 kHz excerpt it decoded
    input = MUSICNN_INPUT
    #: its vectors (network layers, tag probabilities) are stored at half precision
    vector_dtype = "float16"

    def __init__(
        self,
        taxonomy: str | Path | Taxonomy = "default",
        *,
        top_k: int | None = None,
        top_tags: int | None = 10,
        nets: Mapping[str, Any] | None = None,
        max_batch_patches: int = 64,
    ) -> None:
        self.taxonomy = load_taxonomy(taxonomy)
        self.top_k = _check_top(top_k, "top_k")
        self.top_tags = _check_top(top_tags, "top_tags")
        if max_batch_patches < 1:
            raise ParameterError(f"max_batch_patches must be >= 1, got {max_batch_patches}")
        self.max_batch_patches = int(max_batch_patches)
        # Shipped networks load on first use: the model id, labels and weights
        # checksums come from the sidecars, so building a classifier (e.g. in the main
        # process of a classify run, whose workers do the inference) needs no torch.
        self._own_nets = nets is None
        self._nets: dict[str, Any] | None = dict(nets) if nets is not None else None
        described = self._nets if self._nets is not None else _describe_shipped_nets()
        for model in MUSICNN_MODELS:
            if model not in described:
                raise ModelError(f"musicnn model {model} is missing")
            if tuple(described[model].labels) != VOCABULARIES[model]:
                raise ModelError(
                    f"{model} does not output the expected 50 tags in the expected order"
                )
        self.classes: tuple[str, ...] = self.taxonomy.genres
        versions = "+".join(
            f"{m}@{getattr(described[m], 'version', 'unknown')}" for m in MUSICNN_MODELS
        )
        # the DB key: a new mapping content, model version or scoring rule means a new analysis
        self.model_id = f"musicnn-zeroshot/{self.taxonomy.name}@{self.taxonomy.digest[:12]}/{versions}/{SCORING_VERSION}"
        #: the stored vectors it makes and can answer from: any taxonomy maps the same tags
        self.embedding_space = musicnn_space(versions)

    @property
    def nets(self) -> dict[str, Any]:
        """The two networks, ``{"MSD_musicnn": net, "MTT_musicnn": net}`` (loaded on first use)."""
        if self._nets is None:
            self._nets = {m: _load_net(m) for m in MUSICNN_MODELS}
        return self._nets

    def ensure_loaded(self) -> None:
        """Load the networks now (a worker does it once, before its first file)."""
        self.nets  # noqa: B018 - the property loads them

    def __getstate__(self) -> dict[str, Any]:
        # shipped networks are not pickled: a worker process loads its own copy
        state = dict(self.__dict__)
        if self._own_nets:
            state["_nets"] = None
        return state

    def __repr__(self) -> str:
        return f"MusicnnTagClassifier(model_id={self.model_id!r})"

    def predict_waveform(self, waveform: np.ndarray) -> Prediction:
        """Classify mono float audio at 16 kHz (all complete ~3 s patches of it).

        Raises
        ------
        TooShortError
            If the audio is shorter than one patch.
        ParameterError
            If the waveform is not 1-D finite audio.
        """
        return self.predict_batch([waveform])[0]

    def predict_file(self, path: str | Path) -> Prediction:
        """Classify a file: a bounded excerpt of it, decoded to 16 kHz mono.

        Raises
        ------
        AudioError
            (a subclass) when the file cannot be turned into analysable audio.
        """
        from music_reclass.audio.excerpt import load_excerpt

        excerpt = load_excerpt(path, self.input)
        return self.predict_waveform(excerpt.waveform)

    def predict_batch(self, waveforms: Sequence[np.ndarray]) -> list[Prediction]:
        """Classify several waveforms with batched forward passes.

        The log-mel patches of all tracks are cut (non-overlapping, tail dropped, as
        musicnn does per track), stacked, and sent through each network at once
        (``extract_patches``, in forward calls of at most ``max_batch_patches``);
        results are then split back per track.

        Raises
        ------
        TooShortError
            If any waveform is shorter than one patch (nothing is returned then).
        """
        if not waveforms:
            return []
        patches = [self._patches(w, i) for i, w in enumerate(waveforms)]
        counts = [len(p) for p in patches]
        stacked = np.concatenate(patches, axis=0)
        outputs = {model: self._extract(model, stacked) for model in MUSICNN_MODELS}
        predictions = []
        start = 0
        for count in counts:
            per_track = {
                m: {k: v[start : start + count] for k, v in out.items()}
                for m, out in outputs.items()
            }
            predictions.append(self._predict_from_patches(per_track, count))
            start += count
        return predictions

    def predict_tags(self, tag_probs: Mapping[str, np.ndarray]) -> Prediction:
        """Genres and tags from track-level tag probabilities alone (no audio, no embeddings).

        Parameters
        ----------
        tag_probs : mapping
            ``{"MSD_musicnn": [50], "MTT_musicnn": [50]}`` probabilities.
        """
        return self._prediction(tag_probs, vectors={}, n_patches=0)

    def predict_vectors(self, vectors: Mapping[str, np.ndarray]) -> Prediction:
        """Genres and tags from the stored vectors of :attr:`embedding_space` (no audio).

        Raises
        ------
        ModelError
            The tag probabilities of a network are missing from ``vectors``.
        """
        try:
            tag_probs = {m: np.asarray(vectors[f"{_prefix(m)}.taggram"]) for m in MUSICNN_MODELS}
        except KeyError as exc:
            raise ModelError(f"stored vectors lack {exc.args[0]}") from exc
        return self._prediction(tag_probs, vectors={}, n_patches=0)

    def _patches(self, waveform: np.ndarray, index: int) -> np.ndarray:
        """musicnn's input patches ``[P, 187, 96]`` of one waveform."""
        waveform = np.asarray(waveform, dtype=np.float32)
        if waveform.ndim != 1:
            raise ParameterError(
                f"waveform {index} must be mono 1-D audio, got shape {waveform.shape}"
            )
        if not np.all(np.isfinite(waveform)):
            raise ParameterError(f"waveform {index} contains non-finite samples")
        if waveform.size < MIN_SAMPLES:
            raise TooShortError(
                f"audio {index} lasts {waveform.size / SR:.2f} s, "
                f"shorter than one {PATCH_SECONDS:.2f} s patch"
            )
        return _make_patches(_log_mel(waveform))

    def _extract(self, model: str, patches: np.ndarray) -> dict[str, np.ndarray]:
        out = self.nets[model].extract_patches(patches, batch_size=self.max_batch_patches)
        merged = {k: np.asarray(out[k], dtype=np.float32) for k in LAYERS}
        if len(merged["taggram"]) != len(patches):
            raise ModelError(
                f"{model} returned {len(merged['taggram'])} patches for {len(patches)}"
            )
        return merged

    def _predict_from_patches(
        self, outputs: Mapping[str, Mapping[str, np.ndarray]], n_patches: int
    ) -> Prediction:
        embeddings = {
            f"{_prefix(model)}.{layer}": out[layer].mean(axis=0).astype(np.float32)
            for model, out in outputs.items()
            for layer in LAYERS
        }
        tag_probs = {model: embeddings[f"{_prefix(model)}.taggram"] for model in outputs}
        return self._prediction(tag_probs, vectors={self.embedding_space: embeddings},
                                n_patches=n_patches)

    def _prediction(
        self,
        tag_probs: Mapping[str, np.ndarray],
        *,
        vectors: dict[str, dict[str, np.ndarray]],
        n_patches: int,
    ) -> Prediction:
        scores = self.taxonomy.score(tag_probs)
        order = np.argsort(-scores, kind="stable")[: self.top_k]
        genres = [(self.classes[i], float(scores[i])) for i in order]
        tags = [
            (f"{_prefix(model)}:{label}", float(p))
            for model in MUSICNN_MODELS
            for label, p in zip(VOCABULARIES[model], np.asarray(tag_probs[model]), strict=True)
        ]
        tags.sort(key=lambda pair: -pair[1])
        return Prediction(
            genres=genres,
            tags=tags[: self.top_tags],
            vectors=vectors,
            analysed_seconds=n_patches * PATCH_SECONDS,
            n_patches=n_patches,
        )


def _check_top(value: int | None, name: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ParameterError(f"{name} must be a positive integer or None, got {value!r}")
    return value
