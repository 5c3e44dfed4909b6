"""Training-time augmentation: on the waveform (numpy) and on log-mel batches (torch).

Waveform, per training crop, each with its own probability:

- random crop: every epoch draws new crops of each track (:func:`frontend.crop_samples`);
- gain: +-6 dB;
- pitch shift (+-2 semitones) and time stretch (x0.9-1.1) with librosa's phase
  vocoder (``librosa.effects``; librosa is already a dependency). audiomentations was
  considered and left out: its release pins ``soxr < 1``, which would downgrade the
  resampler every other part of the package uses;
- background mixing: another training crop, or a file from ``background`` (a folder of
  noise/ambience recordings, decoded at 16 kHz), added at 10-25 dB below the signal;
  without any it is white noise at that level.

Batches: SpecAugment-style masks (up to two time bands of <= 20 frames and two mel
bands of <= 12 bands, set to the patch mean) and mixup (Beta(0.2, 0.2) weights, mixed
one-hot targets).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from music_reclass.models.deep.frontend import SR

__all__ = ["AugmentConfig", "WaveAugmenter", "mixup", "spec_augment"]


@dataclass(frozen=True)
class AugmentConfig:
    """Probabilities and ranges of the augmentations (0 disables one)."""

    gain_p: float = 0.5
    gain_db: float = 6.0
    pitch_p: float = 0.2
    pitch_semitones: float = 2.0
    stretch_p: float = 0.2
    stretch_range: tuple[float, float] = (0.9, 1.1)
    background_p: float = 0.3
    background_snr_db: tuple[float, float] = (10.0, 25.0)
    spec_masks: bool = True
    mixup_alpha: float = 0.2

    @classmethod
    def none(cls) -> AugmentConfig:
        """No augmentation at all (crops are still random)."""
        return cls(gain_p=0.0, pitch_p=0.0, stretch_p=0.0, background_p=0.0,
                   spec_masks=False, mixup_alpha=0.0)


def _rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(x, dtype=np.float64)) + 1e-12))


class WaveAugmenter:
    """Applies :class:`AugmentConfig`'s waveform augmentations to one crop.

    Parameters
    ----------
    config : AugmentConfig
    background : sequence of np.ndarray
        Background recordings at 16 kHz (optional).
    """

    def __init__(self, config: AugmentConfig, background: Sequence[np.ndarray] = ()) -> None:
        self.config = config
        self.background = [np.asarray(b, dtype=np.float32) for b in background if len(b)]

    def __call__(self, crop: np.ndarray, rng: np.random.Generator, n_samples: int,
                 other: np.ndarray | None = None) -> np.ndarray:
        """Augment ``crop`` (longer than ``n_samples``) and cut it to ``n_samples``.

        ``other`` is a crop of another training track, used for background mixing when
        no background recording was given.
        """
        import librosa

        c = self.config
        y = np.asarray(crop, dtype=np.float32)
        if c.stretch_p and rng.random() < c.stretch_p:
            rate = float(rng.uniform(*c.stretch_range))
            y = librosa.effects.time_stretch(y, rate=rate)
        if c.pitch_p and rng.random() < c.pitch_p:
            steps = float(rng.uniform(-c.pitch_semitones, c.pitch_semitones))
            y = librosa.effects.pitch_shift(y, sr=SR, n_steps=steps)
        y = _fit_length(y, n_samples, rng)
        if c.gain_p and rng.random() < c.gain_p:
            y = y * np.float32(10.0 ** (rng.uniform(-c.gain_db, c.gain_db) / 20.0))
        if c.background_p and rng.random() < c.background_p:
            y = self._mix(y, rng, other)
        return np.ascontiguousarray(y, dtype=np.float32)

    def _mix(self, y: np.ndarray, rng: np.random.Generator, other: np.ndarray | None) -> np.ndarray:
        if self.background:
            source = self.background[int(rng.integers(len(self.background)))]
            noise = _fit_length(source, y.size, rng)
        elif other is not None:
            noise = _fit_length(np.asarray(other, dtype=np.float32), y.size, rng)
        else:
            noise = rng.standard_normal(y.size).astype(np.float32)
        snr = float(rng.uniform(*self.config.background_snr_db))
        scale = _rms(y) / (_rms(noise) * 10.0 ** (snr / 20.0))
        return y + np.float32(scale) * noise


def _fit_length(y: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """A random ``n``-sample window of ``y`` (looped when shorter)."""
    if y.size < n:
        y = np.tile(y, int(np.ceil(n / max(1, y.size))) + 1)
    start = int(rng.integers(0, y.size - n + 1))
    return y[start : start + n]


def spec_augment(batch: torch.Tensor, generator: torch.Generator, *, time_masks: int = 2,
                 max_time: int = 20, freq_masks: int = 2, max_freq: int = 12) -> torch.Tensor:
    """SpecAugment-style masks on ``[B, T, F]`` log-mel patches (a new tensor).

    Masked cells take the patch's mean value (log-mel patches are not zero-mean).
    """
    out = batch.clone()
    n, frames, bands = out.shape
    fill = out.mean(dim=(1, 2))
    for axis, count, width_max, size in ((1, time_masks, max_time, frames),
                                         (2, freq_masks, max_freq, bands)):
        for _ in range(count):
            widths = torch.randint(0, width_max + 1, (n,), generator=generator)
            starts = torch.randint(0, size, (n,), generator=generator)
            for i in range(n):
                lo = int(starts[i].clamp(max=max(0, size - int(widths[i]))))
                hi = lo + int(widths[i])
                if axis == 1:
                    out[i, lo:hi, :] = fill[i]
                else:
                    out[i, :, lo:hi] = fill[i]
    return out


def mixup(batch: torch.Tensor, targets: torch.Tensor, alpha: float,
          rng: np.random.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Mix each example with a shuffled partner: ``lam * x + (1 - lam) * x[perm]``.

    Parameters
    ----------
    targets : torch.Tensor
        One-hot (or soft) targets ``[B, C]``, mixed with the same weights.
    alpha : float
        Beta(alpha, alpha) weights; 0 disables mixup.
    rng : np.random.Generator
        Source of the weights and partners (seeded: runs are reproducible).
    """
    if alpha <= 0 or len(batch) < 2:
        return batch, targets
    lam = rng.beta(alpha, alpha, size=len(batch))
    lam = torch.from_numpy(np.maximum(lam, 1.0 - lam)).to(batch)  # the original dominates
    perm = torch.from_numpy(rng.permutation(len(batch)))
    shape = (-1,) + (1,) * (batch.ndim - 1)
    mixed = lam.view(shape) * batch + (1 - lam.view(shape)) * batch[perm]
    mixed_targets = lam[:, None] * targets + (1 - lam[:, None]) * targets[perm]
    return mixed, mixed_targets
