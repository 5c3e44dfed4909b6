"""Where the training loop's examples come from: fresh crops, or a frozen trunk's bank.

:class:`CropSource` (the CNN, and ``musicnn-finetune`` with ``unfreeze=2``): every
epoch makes new augmented crops of the training tracks and runs the whole network.
:class:`BankSource` (``musicnn-finetune`` with a frozen trunk): the crops are made and
passed through the trunk once (:mod:`~music_reclass.models.deep.bank`), and every epoch
trains the tail on them.

Both are deterministic: each example has its own generator seeded by (seed, epoch,
position), and each batch's masks and mixup by (seed, epoch, batch start), so neither
the batch size nor a batch retried after an out-of-memory error changes a run.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch

from music_reclass.models.deep.augment import WaveAugmenter, spec_augment
from music_reclass.models.deep.bank import bank_crops_for, build_bank, trunk_tracks
from music_reclass.models.deep.frontend import (
    N_MELS,
    PATCH_FRAMES,
    PATCH_SAMPLES,
    crop_samples,
    patch_logmel,
)

__all__ = ["BANK_EPOCH", "BankSource", "CropSource", "make_examples"]

#: extra samples read around a crop so that time stretching can still fill a patch
CROP_MARGIN = 1.15
#: the "epoch" that seeds the bank's crops (no real epoch reaches it)
BANK_EPOCH = 1_000_000


def make_examples(tracks: Sequence[tuple[np.ndarray, int]], plan: np.ndarray, start: int,
                  stop: int, seed: int, epoch: int,
                  augmenter: WaveAugmenter) -> tuple[np.ndarray, np.ndarray]:
    """Augmented patches ``[stop - start, 187, 96]`` and labels of ``plan[start:stop]``.

    Each example has its own generator, seeded by (seed, epoch, position): examples are
    made a batch at a time (memory stays bounded on big datasets), and neither a batch
    retried at half size after an out-of-memory error nor the batch size changes them.
    """
    long = int(PATCH_SAMPLES * CROP_MARGIN)
    patches = np.empty((stop - start, PATCH_FRAMES, N_MELS), dtype=np.float32)
    labels = np.empty(stop - start, dtype=np.int64)
    for row, position in enumerate(range(start, stop)):
        rng = np.random.default_rng([seed, epoch, position])
        waveform, label = tracks[plan[position]]
        crop = crop_samples(np.asarray(waveform, dtype=np.float32), rng, long)
        other = tracks[int(rng.integers(len(tracks)))][0]
        other = crop_samples(np.asarray(other, dtype=np.float32), rng, PATCH_SAMPLES)
        patches[row] = patch_logmel(augmenter(crop, rng, PATCH_SAMPLES, other))
        labels[row] = label
    return patches, labels


def _masks(x: torch.Tensor, seed: int, epoch: int, start: int) -> torch.Tensor:
    rng = np.random.default_rng([seed, epoch, start, 2])
    return spec_augment(x, torch.Generator().manual_seed(int(rng.integers(2**62))))


class CropSource:
    """Fresh augmented crops every epoch, through the whole network."""

    banked = False

    def __init__(self, train: Sequence[tuple[np.ndarray, int]], config: Any,
                 augmenter: WaveAugmenter) -> None:
        self.train = train
        self.config = config
        self.augmenter = augmenter

    def prepare(self, net: torch.nn.Module, device: torch.device,
                cancel: Callable[[], bool] | None) -> bool:
        """Nothing to prepare (True: go on)."""
        return True

    def plan(self, epoch: int) -> np.ndarray:
        """Track indices in this epoch's order, each :meth:`TrainConfig.crops_for` times."""
        rng = np.random.default_rng([self.config.seed, epoch])
        crops = self.config.crops_for(len(self.train))
        return rng.permutation(np.repeat(np.arange(len(self.train)), crops))

    def batch(self, plan: np.ndarray, start: int, stop: int,
              epoch: int) -> tuple[torch.Tensor, np.ndarray]:
        patches, labels = make_examples(self.train, plan, start, stop, self.config.seed, epoch,
                                        self.augmenter)
        x = torch.from_numpy(patches)
        if self.config.augment.spec_masks:
            x = _masks(x, self.config.seed, epoch, start)
        return x, labels

    @staticmethod
    def forward(net: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
        return net(x)


class BankSource:
    """Augmented crops made once and kept as the frozen trunk's outputs."""

    banked = True

    def __init__(self, train: Sequence[tuple[np.ndarray, int]], config: Any,
                 augmenter: WaveAugmenter, valid: Sequence[tuple[np.ndarray, int]] = ()) -> None:
        self.train = train
        self.valid = valid
        self.config = config
        self.augmenter = augmenter
        self.bank: Any = None
        self.valid_trunk: list[torch.Tensor] = []
        self.notes: list[str] = []

    def prepare(self, net: torch.nn.Module, device: torch.device,
                cancel: Callable[[], bool] | None) -> bool:
        """Build the bank and the validation tracks' trunk outputs (False: cancelled)."""
        config = self.config
        n = len(self.train)
        with torch.no_grad():  # the size of one trunk output
            probe = net.trunk(torch.zeros(1, PATCH_FRAMES, N_MELS, device=device))
        crops = bank_crops_for(n, int(probe[0].numel()), config.bank_crops)
        if crops < config.bank_crops:
            self.notes.append(f"bank: {crops} crops per track (not {config.bank_crops}) "
                              "to stay within its memory budget")
        plan = np.tile(np.arange(n), crops)  # position p: crop p // n of track p % n

        def make(positions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            return make_examples(self.train, plan, int(positions[0]), int(positions[-1]) + 1,
                                 config.seed, BANK_EPOCH, self.augmenter)

        spec = ((lambda x, start: _masks(x, config.seed, BANK_EPOCH, start))
                if config.augment.spec_masks else None)
        self.bank = build_bank(net, n, crops, make, device, batch_size=config.batch_size,
                               amp=config.amp, spec=spec, cancel=cancel)
        if self.bank is None:
            return False
        self.valid_trunk = trunk_tracks(net, [w for w, _ in self.valid], device, amp=config.amp)
        return True

    def plan(self, epoch: int) -> np.ndarray:
        """Every bank row once in a new order; several times (each pass shuffled) when the
        bank is smaller than ``min_epoch_examples``."""
        rng = np.random.default_rng([self.config.seed, epoch])
        passes = max(1, -(-self.config.min_epoch_examples // len(self.bank)))
        return np.concatenate([rng.permutation(len(self.bank)) for _ in range(passes)])

    def batch(self, plan: np.ndarray, start: int, stop: int,
              epoch: int) -> tuple[torch.Tensor, np.ndarray]:
        rows = plan[start:stop]
        return self.bank.features[torch.from_numpy(rows)], self.bank.labels[rows]

    @staticmethod
    def forward(net: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
        return net.tail(x)

    def valid_probs(self, net: torch.nn.Module) -> np.ndarray:
        """Track-level probabilities of the validation tracks (mean of patch softmaxes)."""
        net.eval()
        with torch.no_grad():
            return np.stack([torch.softmax(net.tail(t).float(), dim=1).mean(dim=0).cpu().numpy()
                             for t in self.valid_trunk]).astype(np.float64)
