"""Per-clip model outputs and their costs, computed once from audio for fitting and benchmarks.

:func:`measure_clip` runs, on one file, everything a cascade could use: both musicnn
nets on every patch of the excerpt (kept per patch, so any subset of patches can be
scored later), and the 53 spectral features at 22.05 kHz, timing each step.
:func:`cascade_data` then builds, for one taxonomy, the raw component scores and the
cost of each component (:class:`~.cascade_fit.CascadeData`) without touching audio.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from music_reclass.trust.calibration import log_scores
from music_reclass.trust.cascade_fit import CascadeData

__all__ = ["ClipMeasure", "cascade_data", "load_measures", "measure_clip", "measure_clips",
           "save_measures"]

_MODELS = ("MSD_musicnn", "MTT_musicnn")


@dataclass
class ClipMeasure:
    """One clip's per-patch musicnn taggrams, spectral features and step timings (seconds)."""

    taggrams: dict[str, np.ndarray]  # model -> [P, 50]
    features: np.ndarray | None  # gtzan53 [53]
    seconds: dict[str, float]  # decode16, logmel, <model> (all patches), decode22, spectral

    @property
    def n_patches(self) -> int:
        return len(next(iter(self.taggrams.values())))

    def musicnn_cost(self, n_patches: int, *, first: bool) -> float:
        """Seconds of both nets on ``n_patches`` patches (+ decoding and log-mel when first)."""
        per_patch = sum(self.seconds[m] for m in _MODELS) / self.n_patches
        front = self.seconds["decode16"] + self.seconds["logmel"] if first else 0.0
        return front + per_patch * n_patches


def measure_clip(path: str | Path, nets: Mapping[str, Any], extractor: Any = None) -> ClipMeasure:
    """Outputs and timings of one file (``extractor``: the gtzan53 extractor, or None)."""
    from music_reclass.audio.excerpt import load_excerpt
    from music_reclass.models.musicnn import log_mel, make_patches
    from music_reclass.models.musicnn.spec import MUSICNN_INPUT

    seconds: dict[str, float] = {}

    def timed(name: str, work: Callable[[], Any]) -> Any:
        start = time.perf_counter()
        value = work()
        seconds[name] = time.perf_counter() - start
        return value

    waveform = timed("decode16", lambda: load_excerpt(path, MUSICNN_INPUT).waveform)
    patches = timed("logmel", lambda: make_patches(log_mel(waveform)))
    taggrams = {m: np.asarray(timed(m, lambda m=m: nets[m].extract_patches(patches)["taggram"]),
                              dtype=np.float64) for m in _MODELS}
    features = None
    if extractor is not None:
        y, sr = timed("decode22", lambda: extractor.load(path))
        features = timed("spectral", lambda: extractor.extract_waveform(y, sr))
    return ClipMeasure(taggrams, features, seconds)


def measure_clips(paths: Sequence[str | Path], *, spectral: bool = True,
                  on_progress: Callable[[int, int], None] | None = None) -> list[ClipMeasure]:
    """:func:`measure_clip` for each path, loading the models once.

    Timed as a classify worker runs: one compute thread, after a warm-up on the first
    clip (first calls pay one-off costs: lazy imports, JIT compilation, allocations).
    """
    import torch

    from music_reclass.features import get_extractor
    from music_reclass.models.musicnn import load_musicnn

    nets = {m: load_musicnn(m) for m in _MODELS}
    extractor = get_extractor("gtzan53") if spectral else None
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        if paths:
            measure_clip(paths[0], nets, extractor)
        out = []
        for i, path in enumerate(paths):
            out.append(measure_clip(path, nets, extractor))
            if on_progress is not None:
                on_progress(i + 1, len(paths))
    finally:
        torch.set_num_threads(threads)
    return out


def cascade_data(measures: Sequence[ClipMeasure], labels: Sequence[str], groups: Sequence[str],
                 taxonomy: Any, *, first_patches: int = 2, head: Any = None) -> CascadeData:
    """Raw component scores and costs for one taxonomy.

    Components: ``musicnn-<k>p`` (both nets on ``first_patches`` patches spread over the
    excerpt, paying the decoding and log-mel), ``musicnn`` (all patches; costs only the
    patches the first did not run) and, with a ``head``, ``spectral`` (decoding at
    22.05 kHz + the 53 features + the head).
    """
    from music_reclass.pipeline.cascade import patch_indices

    first = f"musicnn-{first_patches}p"
    raw: dict[str, list[np.ndarray]] = {first: [], "musicnn": []}
    costs: dict[str, list[float]] = {first: [], "musicnn": []}
    vectors = []
    if head is not None:
        raw["spectral"], costs["spectral"] = [], []
    for m in measures:
        subset = patch_indices(m.n_patches, first_patches)
        for name, index in ((first, subset), ("musicnn", list(range(m.n_patches)))):
            means = {model: m.taggrams[model][index].mean(axis=0) for model in _MODELS}
            raw[name].append(np.log(taxonomy.evidence(means)))
        costs[first].append(m.musicnn_cost(len(subset), first=True))
        costs["musicnn"].append(m.musicnn_cost(m.n_patches - len(subset), first=False))
        if head is not None:
            raw["spectral"].append(log_scores(head.predict_proba(m.features))[0])
            costs["spectral"].append(m.seconds["decode22"] + m.seconds["spectral"])
            vectors.append({"features.gtzan53": np.asarray(m.features, dtype=np.float64)})
    kinds = {first: ("musicnn", first_patches), "musicnn": ("musicnn", None)}
    if head is not None:
        kinds["spectral"] = ("spectral", None)
    return CascadeData(tuple(taxonomy.genres), [str(x) for x in labels], [str(g) for g in groups],
                       {k: np.array(v) for k, v in raw.items()},
                       {k: np.array(v) for k, v in costs.items()}, kinds, vectors)


def save_measures(path: str | Path, measures: Sequence[ClipMeasure], names: Sequence[str]) -> None:
    """Write measures to an ``.npz`` file (plain arrays, no pickle), one entry per name."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    keys = sorted({k for m in measures for k in m.seconds})
    np.savez_compressed(
        path,
        names=np.array(list(names)),
        counts=np.array([m.n_patches for m in measures]),
        **{f"taggram_{model}": np.concatenate([m.taggrams[model] for m in measures])
           for model in _MODELS},
        features=np.stack([m.features if m.features is not None else np.full(53, np.nan)
                           for m in measures]),
        seconds_keys=np.array(keys),
        seconds=np.array([[m.seconds.get(k, np.nan) for k in keys] for m in measures]),
    )


def load_measures(path: str | Path) -> tuple[list[str], list[ClipMeasure]]:
    """Inverse of :func:`save_measures`."""
    with np.load(path, allow_pickle=False) as data:
        ends = np.cumsum(data["counts"])
        starts = ends - data["counts"]
        keys = [str(k) for k in data["seconds_keys"]]
        measures = []
        for i, (a, b) in enumerate(zip(starts, ends, strict=True)):
            features = data["features"][i]
            measures.append(ClipMeasure(
                {model: data[f"taggram_{model}"][a:b] for model in _MODELS},
                None if np.isnan(features).all() else features,
                {k: float(v) for k, v in zip(keys, data["seconds"][i], strict=True)
                 if np.isfinite(v)}))
        return [str(n) for n in data["names"]], measures
