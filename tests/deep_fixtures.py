"""Synthetic audio datasets for the deep-model tests: three 'genres' a CNN tells apart."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import soundfile as sf

SR = 16000
KINDS = ("drone", "noise", "clicks")


def clip(kind: str, seed: int, seconds: float = 4.0, sr: int = SR) -> np.ndarray:
    """Low tones, bright gated noise, or sparse clicks."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * sr)) / sr
    if kind == "drone":
        f = 80 + 40 * rng.random()
        y = 0.4 * np.sin(2 * np.pi * f * t) + 0.2 * np.sin(2 * np.pi * 2 * f * t)
    elif kind == "noise":
        y = rng.normal(0, 0.3, len(t)) * (np.sin(2 * np.pi * (3 + rng.random()) * t) > 0)
    else:
        y = np.zeros(len(t))
        y[rng.integers(0, len(t), 40)] = 0.9
        y = np.convolve(y, np.exp(-np.arange(200) / 20.0), mode="same")
    return y.astype(np.float32)


def write_manifest(root: Path, *, per_kind: int = 5, seconds: float = 4.0) -> Path:
    """WAV files + ``manifest.csv`` (path,label,split,artist), one artist per clip."""
    audio = root / "audio"
    audio.mkdir(parents=True, exist_ok=True)
    rows = []
    for k, kind in enumerate(KINDS):
        for i in range(per_kind):
            name = f"{kind}{i}.wav"
            sf.write(audio / name, clip(kind, seed=10 * k + i, seconds=seconds), SR)
            rows.append({"path": f"audio/{name}", "label": kind,
                         "split": "test" if i >= per_kind - 2 else "train",
                         "artist": f"{kind}-artist-{i}"})
    path = root / "manifest.csv"
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=["path", "label", "split", "artist"])
        writer.writeheader()
        writer.writerows(rows)
    return path
