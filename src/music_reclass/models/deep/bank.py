"""A bank of frozen-trunk features: fine-tuning musicnn's top at the cost of a head.

When the first part of a network is frozen (``musicnn-finetune`` with ``unfreeze`` 0 or
1: musicnn up to its pooled mid end), that part's output for a given input never
changes during training. It is also where nearly all the work is: musicnn's front end
costs about 180 ms of CPU per 3 s patch, its back end and the new head under 5 ms.
Recomputing it for fresh crops every epoch made an epoch on CPU cost minutes and left
the head a handful of optimiser steps per epoch on a small dataset, far too few to
learn (10 % on gtzan-dev's folds, where logistic regression on the same embedding
reaches 34 %).

So the training crops are made once: ``bank_crops`` augmented crops per training track
(random crop, gain, pitch shift, time stretch, background mixing, SpecAugment masks,
each seeded by (seed, crop)), passed once through the trunk; every epoch then visits
the whole bank in a new order, with mixup on the trunk's output (manifold mixup). The
validation tracks' trunk outputs are computed once too. The bank is rebuilt, identically,
when a run resumes.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch

from music_reclass.errors import ParameterError
from music_reclass.models.deep.device import autocast
from music_reclass.models.deep.frontend import track_patches

__all__ = ["MAX_BANK_BYTES", "TrunkBank", "bank_crops_for", "build_bank", "trunk_tracks"]

#: the bank's memory budget: fewer crops per track when a dataset would need more
MAX_BANK_BYTES = 1 << 30


class TrunkBank:
    """Trunk outputs ``[N, ...]`` of ``N`` augmented training crops and their labels."""

    def __init__(self, features: torch.Tensor, labels: np.ndarray, crops_per_track: int) -> None:
        self.features = features
        self.labels = labels
        self.crops_per_track = crops_per_track

    def __len__(self) -> int:
        return len(self.labels)


def bank_crops_for(n_tracks: int, feature_values: int, wanted: int) -> int:
    """Crops per track that fit :data:`MAX_BANK_BYTES` (at least 1, at most ``wanted``)."""
    per_crop = 4 * max(1, feature_values)
    return max(1, min(wanted, MAX_BANK_BYTES // max(1, n_tracks * per_crop)))


def build_bank(
    net: torch.nn.Module,
    n_tracks: int,
    crops_per_track: int,
    make: Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]],
    device: torch.device,
    *,
    batch_size: int = 32,
    amp: bool = False,
    spec: Callable[[torch.Tensor, int], torch.Tensor] | None = None,
    cancel: Callable[[], bool] | None = None,
) -> TrunkBank | None:
    """Pass ``crops_per_track`` augmented crops of every training track through
    ``net.trunk``.

    Parameters
    ----------
    make : callable
        ``make(positions) -> (patches [n, 187, 96], labels [n])``: the augmented crops
        at these bank positions (position ``p`` is crop ``p // n_tracks`` of track
        ``p % n_tracks``), each seeded by its position.
    spec : callable, optional
        ``spec(patches, first_position)``: SpecAugment masks, seeded by the batch.
    cancel : callable, optional
        Polled between batches; None is returned when it says stop.

    Returns
    -------
    TrunkBank or None
    """
    if n_tracks < 1 or crops_per_track < 1:
        raise ParameterError("a bank needs at least one track and one crop per track")
    total = n_tracks * crops_per_track
    outputs, labels = [], []
    net.eval()  # the trunk is frozen: no dropout, inference statistics
    with torch.no_grad():
        for start in range(0, total, batch_size):
            if cancel is not None and cancel():
                return None
            positions = np.arange(start, min(total, start + batch_size))
            patches, batch_labels = make(positions)
            x = torch.from_numpy(patches)
            if spec is not None:
                x = spec(x, start)
            with autocast(device, amp):
                outputs.append(net.trunk(x.to(device)).float().cpu())
            labels.append(batch_labels)
    return TrunkBank(torch.cat(outputs), np.concatenate(labels), crops_per_track)


def trunk_tracks(net: torch.nn.Module, waveforms: Sequence[np.ndarray], device: torch.device,
                 *, batch_size: int = 64, amp: bool = False) -> list[torch.Tensor]:
    """The trunk output of every patch of every track (for validation each epoch)."""
    net.eval()
    out = []
    with torch.no_grad():
        for waveform in waveforms:
            patches = torch.from_numpy(np.ascontiguousarray(
                track_patches(np.asarray(waveform, np.float32))))
            parts = []
            for start in range(0, len(patches), batch_size):
                with autocast(device, amp):
                    parts.append(net.trunk(patches[start : start + batch_size].to(device)).float())
            out.append(torch.cat(parts))
    return out
