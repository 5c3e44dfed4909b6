"""What a dataset looks like before training: classes and their balance,
durations, and an example mel-spectrogram per class."""

from __future__ import annotations

import json
import os
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["analyze_dataset", "analysis_text"]


def analyze_dataset(
    dataset: Any,
    out_dir: str | os.PathLike | None = None,
    *,
    durations: bool = True,
    examples: bool = True,
    example_seconds: float = 10.0,
    seed: int = 0,
) -> dict[str, Any]:
    """Class distribution, imbalance, duration statistics and example spectrograms.

    Parameters
    ----------
    dataset : Dataset
    out_dir : path-like, optional
        Where to write ``analysis.json``, ``class_distribution.png``,
        ``durations.png`` and ``mel_examples.png``; nothing is written when None.
    durations : bool
        Read every file's duration from its header (cheap, no decoding).
    examples : bool
        Decode ``example_seconds`` from the middle of one track per class.
    seed : int
        Which track is the example of its class.

    Returns
    -------
    dict
        ``n_tracks``, ``n_labelled``, ``class_counts``, ``imbalance_ratio``
        (largest class / smallest class), ``artists`` (number known), ``splits``
        (official split sizes), ``durations`` (count, min, max, mean, median,
        total_hours, unreadable), ``figures``.
    """
    labelled = dataset.labelled
    counts = dict(sorted(Counter(t.label for t in labelled).items()))
    out: dict[str, Any] = {
        "dataset": dataset.name,
        "n_tracks": len(dataset.tracks),
        "n_labelled": len(labelled),
        "class_counts": counts,
        "imbalance_ratio": (max(counts.values()) / min(counts.values())) if counts else None,
        "artists": len({t.artist for t in labelled if t.artist}),
        "tracks_without_artist": sum(1 for t in labelled if not t.artist),
        "splits": dict(Counter(t.split or "none" for t in labelled)),
        "figures": {},
    }
    values: list[float] = []
    if durations:
        values, unreadable = _durations(labelled)
        out["durations"] = _duration_stats(values, unreadable)
    if out_dir is None:
        return out
    from music_reclass.evaluation import plots

    folder = Path(out_dir)
    folder.mkdir(parents=True, exist_ok=True)
    if counts:
        out["figures"]["class_distribution"] = str(plots.plot_class_distribution(
            counts, folder / "class_distribution.png", title=f"{dataset.name}: tracks per class"))
    if values:
        out["figures"]["durations"] = str(plots.plot_duration_histogram(
            values, folder / "durations.png", title=f"{dataset.name}: durations"))
    if examples:
        chosen = _examples(labelled, example_seconds, seed)
        if chosen:
            out["figures"]["mel_examples"] = str(plots.plot_mel_examples(
                chosen, folder / "mel_examples.png",
                title=f"{dataset.name}: {example_seconds:g} s of one track per class"))
    (folder / "analysis.json").write_text(json.dumps(out, indent=2) + "\n", encoding="utf-8")
    return out


def _durations(tracks: list) -> tuple[list[float], int]:
    from music_reclass.audio.decode import audio_info

    values: list[float] = []
    unreadable = 0
    for track in tracks:
        if track.path is None:
            continue
        try:
            duration = float(audio_info(track.path).duration)
        except Exception:  # noqa: BLE001 - one bad file must not stop the analysis
            unreadable += 1
            continue
        if np.isfinite(duration):
            values.append(duration)
        else:
            unreadable += 1
    return values, unreadable


def _duration_stats(values: list[float], unreadable: int) -> dict[str, Any]:
    if not values:
        return {"count": 0, "unreadable": unreadable}
    array = np.asarray(values)
    return {"count": len(values), "unreadable": unreadable, "min": float(array.min()),
            "max": float(array.max()), "mean": float(array.mean()), "median": float(np.median(array)),
            "total_hours": float(array.sum() / 3600.0)}


def _examples(tracks: list, seconds: float, seed: int) -> dict[str, tuple[np.ndarray, int]]:
    from music_reclass.audio.decode import audio_info, load_audio

    rng = np.random.default_rng(seed)
    sr = 22050
    chosen: dict[str, tuple[np.ndarray, int]] = {}
    for label in sorted({t.label for t in tracks}):
        candidates = [t for t in tracks if t.label == label and t.path is not None]
        for index in rng.permutation(len(candidates)):
            track = candidates[index]
            try:
                duration = float(audio_info(track.path).duration)
                offset = max(0.0, (duration - seconds) / 2) if np.isfinite(duration) else 0.0
                y = load_audio(track.path, sr=sr, offset=offset, duration=seconds)
            except Exception:  # noqa: BLE001 - try another track of the class
                continue
            if y.size:
                chosen[label] = (y, sr)
                break
    return chosen


def analysis_text(result: dict[str, Any]) -> str:
    """A terminal summary of :func:`analyze_dataset`'s result."""
    lines = [f"{result['dataset']}: {result['n_tracks']} tracks, {result['n_labelled']} labelled, "
             f"{len(result['class_counts'])} classes, {result['artists']} known artists"]
    ratio = result.get("imbalance_ratio")
    if ratio is not None:
        lines.append(f"imbalance ratio (largest / smallest class): {ratio:.2f}")
    width = max([len(k) for k in result["class_counts"]] + [5])
    total = max(1, result["n_labelled"])
    for label, n in sorted(result["class_counts"].items(), key=lambda kv: -kv[1]):
        lines.append(f"  {label:<{width}} {n:>6}  {100 * n / total:5.1f}%")
    d = result.get("durations")
    if d and d.get("count"):
        lines.append(f"durations: {d['count']} files, min {d['min']:.1f} s, median {d['median']:.1f} s, "
                     f"mean {d['mean']:.1f} s, max {d['max']:.1f} s, total {d['total_hours']:.2f} h"
                     + (f"; {d['unreadable']} unreadable" if d["unreadable"] else ""))
    for name, path in result.get("figures", {}).items():
        lines.append(f"{name}: {path}")
    return "\n".join(lines)
