"""The training loop: epochs of augmented crops, validation, early stopping, checkpoints.

Determinism: every epoch seeds its own generators from ``(seed, epoch)``, so the run
after a resume is the run that was interrupted (same crops, augmentations, dropout
masks and batches; checked by the tests on CPU).

Examples: the CNN gets fresh augmented crops every epoch, ``crops_per_track`` of each
track, more on a small dataset so that an epoch has at least ``min_epoch_examples``
(with 30 tracks and 4 crops an epoch was 4 optimiser steps: nothing is learnt in a few
epochs). ``musicnn-finetune`` with a frozen trunk trains on a bank of augmented crops
made once (:mod:`~music_reclass.models.deep.bank`).

Learning rate: linear warm-up over ``warmup_epochs``, then cosine decay to 1 % of
``lr`` at ``epochs``, as a function of the fraction of the run done (so it does not
depend on the batch size). Layers that start from pretrained weights (musicnn's back
end when unfrozen) learn at ``backbone_lr_scale`` times that rate: at the head's rate,
AdamW's first steps move them as far as a random initialisation and the pretrained
features are lost. AdamW with decoupled weight decay (biases and batch-norm
parameters are not decayed). Early stopping watches the validation loss of whole
tracks (patch probabilities averaged per track) with ``patience`` epochs; the weights
of the best epoch are the ones kept.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from music_reclass.errors import ModelError, ParameterError
from music_reclass.models.deep.augment import AugmentConfig, WaveAugmenter, mixup
from music_reclass.models.deep.checkpoint import load_checkpoint, save_checkpoint
from music_reclass.models.deep.device import BatchSizer, autocast, choose_device
from music_reclass.models.deep.examples import BankSource, CropSource
from music_reclass.models.deep.frontend import (
    PATCH_SAMPLES,
    crop_samples,
    patch_logmel,
    track_patches,
)

__all__ = ["FitResult", "TrainConfig", "fit", "predict_tracks"]

@dataclass(frozen=True)
class TrainConfig:
    """Hyper-parameters of a run (recorded in the sidecar)."""

    epochs: int = 30
    batch_size: int = 32
    max_batch: int = 256
    lr: float = 1e-3
    #: learning-rate factor of the layers that start from pretrained weights
    backbone_lr_scale: float = 0.1
    weight_decay: float = 1e-2
    warmup_epochs: float = 1.0
    patience: int = 6
    crops_per_track: int = 4
    #: fresh crops: at least this many examples per epoch (more crops per track when few tracks)
    min_epoch_examples: int = 256
    #: frozen trunk: augmented crops per track in the bank (0: fresh crops every epoch)
    bank_crops: int = 16
    seed: int = 0
    device: str = "auto"
    amp: bool = True
    augment: AugmentConfig = field(default_factory=AugmentConfig)

    def __post_init__(self) -> None:
        if self.epochs < 1 or self.crops_per_track < 1 or self.patience < 1:
            raise ParameterError("epochs, crops_per_track and patience must be >= 1")
        if not (self.lr > 0 and self.weight_decay >= 0 and self.warmup_epochs >= 0):
            raise ParameterError("lr must be > 0, weight_decay and warmup_epochs >= 0")
        if not (0 <= self.backbone_lr_scale <= 1 and self.min_epoch_examples >= 0
                and self.bank_crops >= 0):
            raise ParameterError("backbone_lr_scale must be in [0, 1], min_epoch_examples "
                                 "and bank_crops >= 0")

    def crops_for(self, n_tracks: int) -> int:
        """Fresh crops per track and epoch: ``crops_per_track``, or more for few tracks."""
        return max(self.crops_per_track, math.ceil(self.min_epoch_examples / max(1, n_tracks)))

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class FitResult:
    """What :func:`fit` did.

    ``stopped`` is ``"completed"`` (all epochs), ``"early-stopping"`` or ``"cancelled"``
    (the last checkpoint is kept; ``resume=True`` continues it).
    """

    state: dict[str, torch.Tensor]
    history: list[dict[str, Any]]
    best_epoch: int
    stopped: str
    resumed_from: int
    batch_size: int
    batch_notes: list[str]
    device: str
    seconds: float


def _lr_factor(progress: float, config: TrainConfig) -> float:
    warm = config.warmup_epochs
    if warm > 0 and progress < warm:
        return max(1e-3, progress / warm)
    span = max(1e-9, config.epochs - warm)
    done = min(1.0, max(0.0, (progress - warm) / span))
    return 0.01 + 0.99 * 0.5 * (1.0 + math.cos(math.pi * done))


def _optimizer(net: torch.nn.Module, config: TrainConfig) -> torch.optim.Optimizer:
    """AdamW; four groups: (new | pretrained) x (decayed | not: biases, norms)."""
    pretrained = {id(p) for p in getattr(net, "pretrained_parameters", list)()}
    groups: dict[tuple[bool, bool], list[torch.nn.Parameter]] = {}
    for name, param in net.named_parameters():
        if not param.requires_grad:
            continue
        decayed = not (param.ndim <= 1 or "bn" in name)
        groups.setdefault((id(param) in pretrained, decayed), []).append(param)
    return torch.optim.AdamW(
        [{"params": params, "weight_decay": config.weight_decay if decayed else 0.0,
          "lr_scale": config.backbone_lr_scale if old else 1.0}
         for (old, decayed), params in sorted(groups.items())], lr=config.lr)


def _set_lr(optimizer: torch.optim.Optimizer, lr: float) -> None:
    for group in optimizer.param_groups:
        group["lr"] = lr * group.get("lr_scale", 1.0)


def predict_tracks(net: torch.nn.Module, waveforms: Sequence[np.ndarray], device: torch.device,
                   *, batch_size: int = 64, amp: bool = False) -> np.ndarray:
    """Per-track class probabilities ``[n_tracks, C]``: softmax of every patch, averaged."""
    net.eval()
    out = []
    with torch.inference_mode():
        for waveform in waveforms:
            patches = torch.from_numpy(np.ascontiguousarray(track_patches(np.asarray(waveform, np.float32))))
            probs = []
            for start in range(0, len(patches), batch_size):
                with autocast(device, amp):
                    logits = net(patches[start : start + batch_size].to(device))
                probs.append(torch.softmax(logits.float(), dim=1).cpu())
            out.append(torch.cat(probs).mean(dim=0).numpy())
    return np.stack(out).astype(np.float64)


def _validate(net: torch.nn.Module, valid: Sequence[tuple[np.ndarray, int]], source: Any,
              device: torch.device, amp: bool) -> dict[str, float]:
    if not valid:
        return {}
    if source.banked:
        probs = source.valid_probs(net)
    else:
        probs = predict_tracks(net, [w for w, _ in valid], device, amp=amp)
    labels = np.array([label for _, label in valid])
    loss = float(-np.mean(np.log(np.clip(probs[np.arange(len(labels)), labels], 1e-7, 1.0))))
    return {"valid_loss": loss, "valid_accuracy": float(np.mean(probs.argmax(axis=1) == labels))}


def _train_step(net, optimizer, scaler, device, config, source, plan, n_classes, epoch,
                progress_of: Callable[[int], float]) -> Callable[[int, int], float]:
    def step(start: int, stop: int) -> float:
        optimizer.zero_grad(set_to_none=True)
        x, labels = source.batch(plan, start, stop, epoch)
        targets = F.one_hot(torch.from_numpy(labels), n_classes).float()
        # batch-level randomness seeded by the batch's position, like the examples'
        x, targets = mixup(x, targets, config.augment.mixup_alpha,
                           np.random.default_rng([config.seed, epoch, start, 1]))
        x, targets = x.to(device), targets.to(device)
        _set_lr(optimizer, config.lr * _lr_factor(progress_of(start), config))
        with autocast(device, config.amp):
            logits = source.forward(net, x)
        loss = torch.sum(-targets * torch.log_softmax(logits.float(), dim=1), dim=1).mean()
        if scaler is not None:
            scaler.scale(loss).backward()
            scaler.step(optimizer)
            scaler.update()
        else:
            loss.backward()
            optimizer.step()
        return float(loss.detach()) * (stop - start)
    return step


def _fingerprint(arch: dict[str, Any], classes: Sequence[str], split: dict[str, list[str]],
                 config: TrainConfig) -> dict[str, Any]:
    kept = {k: v for k, v in config.as_dict().items() if k not in ("epochs", "device", "max_batch")}
    fingerprint = {"architecture": arch, "classes": list(classes), "split": split, "config": kept}
    return json.loads(json.dumps(fingerprint))  # as read back from state.json (tuples -> lists)


def fit(
    net: torch.nn.Module,
    arch: dict[str, Any],
    classes: Sequence[str],
    train: Sequence[tuple[np.ndarray, int]],
    valid: Sequence[tuple[np.ndarray, int]],
    config: TrainConfig,
    *,
    split: dict[str, list[str]],
    checkpoints: str | Path,
    resume: bool = False,
    background: Sequence[np.ndarray] = (),
    on_progress: Callable[[int, int], None] | None = None,
    on_epoch: Callable[[dict[str, Any]], None] | None = None,
    cancel: Callable[[], bool] | None = None,
) -> FitResult:
    """Train ``net`` on ``train`` (waveforms at 16 kHz and class indices).

    Parameters
    ----------
    split : dict
        Track ids per part: stored in the checkpoint, and a resume with another split
        (or architecture, classes, seed, hyper-parameters) is refused.
    checkpoints : path
        Checkpoint folder; written after every epoch.
    resume : bool
        Continue from the last checkpoint there (a fresh run when there is none).
    on_progress : callable, optional
        ``on_progress(epochs_done, epochs)`` after every epoch.
    on_epoch : callable, optional
        Receives each epoch's history record (loss, validation loss/accuracy, lr...).
    cancel : callable, optional
        Polled between batches; when it returns True the run stops after the batch
        (the last completed epoch's checkpoint stays for a resume).

    Raises
    ------
    ModelError
        ``resume`` with a checkpoint of a different run.
    """
    start_time = time.perf_counter()
    device = choose_device(config.device)
    net.to(device)
    optimizer = _optimizer(net, config)
    scaler = torch.amp.GradScaler("cuda") if (device.type == "cuda" and config.amp
                                              and not torch.cuda.is_bf16_supported()) else None
    sizer = BatchSizer(device, size=config.batch_size, max_batch=config.max_batch)
    fingerprint = _fingerprint(arch, classes, split, config)
    state: dict[str, Any] = {"epoch": 0, "history": [], "best_epoch": 0, "best_loss": None,
                             "bad_epochs": 0, "fingerprint": fingerprint}
    best = {k: v.detach().clone() for k, v in net.state_dict().items()}
    resumed_from = 0
    saved = load_checkpoint(checkpoints) if resume else None
    if saved is not None:
        if saved.state.get("fingerprint") != fingerprint:
            raise ModelError(f"the checkpoint in {checkpoints} was made by a different run "
                             "(model, classes, split, seed or hyper-parameters differ): "
                             "remove it, or train without --resume")
        net.load_state_dict(saved.model)
        optimizer.load_state_dict(saved.optimizer)
        best = saved.best
        state.update({k: saved.state[k] for k in ("epoch", "history", "best_epoch", "best_loss",
                                                  "bad_epochs")})
        sizer.size = int(saved.state.get("batch_size", sizer.size))
        resumed_from = int(state["epoch"])
    augmenter = WaveAugmenter(config.augment, background)
    source = (BankSource(train, config, augmenter, valid)
              if config.bank_crops > 0 and getattr(net, "cacheable", False) and train
              else CropSource(train, config, augmenter))
    if state["epoch"] < config.epochs and not source.prepare(net, device, cancel):
        return FitResult(best, state["history"], int(state["best_epoch"]), "cancelled",
                         resumed_from, sizer.size, [], str(device),
                         time.perf_counter() - start_time)
    stopped = "completed"
    if device.type == "cuda" and resumed_from == 0 and train and not source.banked:
        _grow_batch(net, sizer, train, config, len(classes), device)
    while state["epoch"] < config.epochs:
        epoch = int(state["epoch"])
        if state["bad_epochs"] >= config.patience:
            stopped = "early-stopping"
            break
        torch.manual_seed(config.seed * 100_003 + epoch)  # dropout masks
        plan = source.plan(epoch)
        net.train()
        n = len(plan)
        step = _train_step(net, optimizer, scaler, device, config, source, plan, len(classes),
                           epoch, lambda start, e=epoch, n=n: e + start / max(1, n))

        def guarded(start: int, stop: int, step=step) -> float:
            if cancel is not None and cancel():
                raise _Cancelled
            return step(start, stop)

        try:
            losses = sizer.run(guarded, n)
        except _Cancelled:
            stopped = "cancelled"
            break
        record = {"epoch": epoch + 1, "train_loss": float(np.sum(losses) / max(1, n)),
                  "examples": n, "lr": config.lr * _lr_factor(epoch + 1, config),
                  "batch_size": sizer.size, **_validate(net, valid, source, device, config.amp)}
        state["history"].append(record)
        _early_stopping(state, record)
        if state["best_epoch"] == epoch + 1 or not valid:
            best = {k: v.detach().clone() for k, v in net.state_dict().items()}
        state["epoch"] = epoch + 1
        state["batch_size"] = sizer.size
        save_checkpoint(checkpoints, state, net.state_dict(), best, optimizer.state_dict())
        if on_epoch is not None:
            on_epoch(record)
        if on_progress is not None:
            on_progress(epoch + 1, config.epochs)
    if stopped == "early-stopping" and on_progress is not None:
        on_progress(config.epochs, config.epochs)
    return FitResult(best, state["history"], int(state["best_epoch"] or state["epoch"]), stopped,
                     resumed_from, sizer.size, [*getattr(source, "notes", []), *sizer.history],
                     str(device), time.perf_counter() - start_time)


class _Cancelled(Exception):
    pass


def _early_stopping(state: dict[str, Any], record: dict[str, Any]) -> None:
    loss = record.get("valid_loss")
    if loss is None:
        state["best_epoch"] = record["epoch"]
        return
    if state["best_loss"] is None or loss < state["best_loss"] - 1e-4:
        state["best_loss"] = loss
        state["best_epoch"] = record["epoch"]
        state["bad_epochs"] = 0
    else:
        state["bad_epochs"] += 1


def _grow_batch(net, sizer, train, config, n_classes, device) -> None:
    """CUDA only: probe bigger batches with throw-away steps (weights restored after)."""
    saved = {k: v.detach().clone() for k, v in net.state_dict().items()}
    rng = np.random.default_rng([config.seed, 10**6])
    sample = np.stack([patch_logmel(crop_samples(np.asarray(train[i % len(train)][0], np.float32),
                                                 rng, PATCH_SAMPLES)) for i in range(8)])

    def try_step(size: int) -> None:
        x = torch.from_numpy(np.resize(sample, (size, *sample.shape[1:]))).to(device)
        net.train()
        with autocast(device, config.amp):
            logits = net(x)
        loss = logits.float().logsumexp(dim=1).mean()
        loss.backward()
        net.zero_grad(set_to_none=True)

    sizer.grow(try_step)
    net.load_state_dict(saved)
