"""Helpers of the trust and cascade tests: stand-in musicnn nets and synthetic audio.

The stand-in nets (like test_pipeline's) give per-patch outputs that depend only on the
patch, deterministic and fast, so plumbing tests need no real network.
"""

from __future__ import annotations

import numpy as np

from music_reclass.taxonomy import VOCABULARIES

SR = 16000
LAYER_SIZES = {"taggram": 50, "penultimate": 200, "max_pool": 753, "mean_pool": 753}


class PatchwiseNet:
    """Stand-in for a musicnn net, counting the patches it is asked to run."""

    def __init__(self, name: str, seed: int) -> None:
        self.name = name
        self.labels = list(VOCABULARIES[name])
        self.version = "stand-in-1"
        rng = np.random.default_rng(seed)
        self.projection = {k: rng.normal(size=(96, n)) for k, n in LAYER_SIZES.items()}
        self.patches_seen = 0

    def extract_patches(self, patches: np.ndarray, *, batch_size: int = 32) -> dict[str, np.ndarray]:
        self.patches_seen += len(patches)
        means = patches.mean(axis=1)
        out = {k: means @ p for k, p in self.projection.items()}
        out["taggram"] = 1 / (1 + np.exp(-out["taggram"] / 10.0))
        return out


def stand_in_nets() -> dict[str, PatchwiseNet]:
    return {"MSD_musicnn": PatchwiseNet("MSD_musicnn", 1), "MTT_musicnn": PatchwiseNet("MTT_musicnn", 2)}


def tone(seconds: float, freq: float = 440.0, *, seed: int = 0, sr: int = SR) -> np.ndarray:
    t = np.arange(int(seconds * sr)) / sr
    noise = np.random.default_rng(seed).normal(scale=0.01, size=t.size)
    return (0.3 * np.sin(2 * np.pi * freq * t) * (1 + 0.5 * np.sin(2 * np.pi * 2 * t))
            + noise).astype(np.float32)
