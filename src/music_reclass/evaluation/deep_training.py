"""From a dataset to a trained deep model file: split, decode, train, evaluate, save.

:func:`train_deep` is what ``reclass train --model cnn|musicnn-finetune`` and the
library façade call. The split is :func:`~music_reclass.evaluation.training.choose_split`'s
(official when it holds, else artist-disjoint, with its notes); early stopping needs a
validation part, so when the split has none (the artist-aware fallback), one is carved
out of the training part by whole artists (:func:`carve_validation`).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from music_reclass.errors import ParameterError, ReclassError

__all__ = ["DeepTrainResult", "carve_validation", "decode_tracks", "train_deep"]

#: above this many tracks, decoded audio is spooled to disk (memory-mapped), not held in memory
SPOOL_ABOVE = 2000
#: per-model defaults of :class:`TrainConfig` fields (``params`` overrides them). The
#: fine-tune's new head is a linear layer on musicnn's 200-d penultimate layer: at the
#: CNN's 1e-3 it was still near chance after a few epochs on a small dataset (under-
#: trained, not over-fitted: its training loss had barely moved); 1e-2 is a usual rate
#: for such a head, and the pretrained layers learn at ``backbone_lr_scale`` of it.
MODEL_PARAMS: dict[str, dict[str, Any]] = {"cnn": {}, "musicnn-finetune": {"lr": 1e-2}}


@dataclass
class DeepTrainResult:
    """What :func:`train_deep` produced.

    Attributes
    ----------
    path : Path or None
        The model file written (None when the run was cancelled).
    meta : dict
        Its sidecar.
    metrics : dict
        ``{"valid": {...}, "test": {...}}`` as :func:`classification_metrics` gives them.
    stopped : str
        ``"completed"``, ``"early-stopping"`` or ``"cancelled"``.
    errors : dict
        ``track_id -> "code: message"`` of tracks whose audio could not be used.
    """

    path: Path | None
    meta: dict[str, Any]
    metrics: dict[str, dict[str, Any]]
    history: list[dict[str, Any]]
    stopped: str
    split_kind: str
    notes: list[str]
    train_seconds: float
    seconds_per_epoch: float | None
    resumed_from: int
    errors: dict[str, str] = field(default_factory=dict)
    test_ids: list[str] = field(default_factory=list)
    test_proba: np.ndarray | None = None


def carve_validation(train: Sequence[Any], *, fraction: float = 0.2,
                     seed: int = 0) -> tuple[list[Any], list[Any], list[str]]:
    """Move whole artists from ``train`` to a validation part (about ``fraction`` of it).

    A class keeps at least one artist in training: a class whose training tracks all
    come from one artist gives none to validation.

    Returns
    -------
    train, valid : lists of tracks
    notes : list of str
    """
    from music_reclass.datasets.base import artist_group

    rng = np.random.default_rng(seed)
    by_class: dict[str, dict[str, list[Any]]] = {}
    for track in train:
        by_class.setdefault(track.label, {}).setdefault(artist_group(track), []).append(track)
    moved: set[str] = set()
    for label in sorted(by_class):
        groups = by_class[label]
        if len(groups) < 2:
            continue
        names = sorted(groups)
        order = [names[i] for i in rng.permutation(len(names))]
        target = fraction * sum(len(v) for v in groups.values())
        taken = 0
        for name in order[:-1]:  # the last one always stays in training
            if taken >= target or name in moved:
                continue
            moved.add(name)
            taken += len(groups[name])
    valid = [t for t in train if artist_group(t) in moved]
    kept = [t for t in train if artist_group(t) not in moved]
    # an artist moved for one class takes its tracks of every class: keep every class
    if {t.label for t in kept} != {t.label for t in train}:
        return list(train), [], ["no artist-disjoint validation part possible: early stopping off"]
    notes = [f"validation: {len(valid)} tracks of {len(moved)} artist(s) carved from training "
             "(artist-disjoint)"] if valid else [
        "no class has two training artists: no validation part, early stopping off"]
    return kept, valid, notes


def decode_tracks(tracks: Sequence[Any], *, on_each: Callable[[], None] | None = None,
                  cancel: Callable[[], bool] | None = None,
                  spool: str | os.PathLike | None = None) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """16 kHz excerpts (the policy ``classify`` uses) of tracks, by track id; errors apart.

    With ``spool`` (a folder), each excerpt is written there and memory-mapped back, so
    a large dataset does not have to fit in memory (about 1.9 MB per 30 s excerpt).
    """
    from music_reclass.audio.excerpt import load_excerpt
    from music_reclass.models.deep.frontend import DEEP_INPUT

    waves: dict[str, np.ndarray] = {}
    errors: dict[str, str] = {}
    for index, track in enumerate(tracks):
        if cancel is not None and cancel():
            break
        try:
            if track.path is None:
                raise ParameterError("no audio file")
            wave = load_excerpt(track.path, DEEP_INPUT).waveform.astype(np.float32)
            if spool is not None:
                target = Path(spool) / f"{index:07d}.npy"
                np.save(target, wave)
                wave = np.load(target, mmap_mode="r")
            waves[track.track_id] = wave
        except ReclassError as exc:
            errors[track.track_id] = f"{exc.code}: {exc}"
        if on_each is not None:
            on_each()
    return waves, errors


def _metrics(probs: np.ndarray, labels: Sequence[str], classes: Sequence[str]) -> dict[str, Any]:
    from music_reclass.evaluation.metrics import classification_metrics

    return classification_metrics(np.asarray(labels), proba=probs, classes=list(classes))


def train_deep(
    dataset: Any,
    model: str = "cnn",
    *,
    out: str | os.PathLike,
    epochs: int = 30,
    resume: bool = False,
    seed: int = 0,
    device: str = "auto",
    split: str = "official",
    parts: dict[str, list] | None = None,
    split_kind: str | None = None,
    notes: Sequence[str] = (),
    params: dict[str, Any] | None = None,
    architecture: dict[str, Any] | None = None,
    background: Sequence[np.ndarray] = (),
    waves: dict[str, np.ndarray] | None = None,
    dataset_path: str | None = None,
    on_progress: Callable[[int, int], None] | None = None,
    on_epoch: Callable[[dict[str, Any]], None] | None = None,
    cancel: Callable[[], bool] | None = None,
) -> DeepTrainResult:
    """Train a deep model on a dataset and write it (safetensors + sidecar).

    Parameters
    ----------
    dataset : Dataset
        With audio files.
    model : {"cnn", "musicnn-finetune"}
    out : path
        Model file to write; checkpoints go to ``<out>.ckpt/`` (removed once the model
        file is written).
    epochs, seed, device
        See :class:`~music_reclass.models.deep.loop.TrainConfig`; ``device`` is
        ``"auto"``, ``"cuda"``, ``"mps"`` or ``"cpu"``.
    resume : bool
        Continue the interrupted run whose checkpoint is in ``<out>.ckpt/``.
    split, parts, split_kind, notes
        As :func:`~music_reclass.evaluation.training.train_model`.
    params : dict, optional
        Other :class:`TrainConfig` fields (``lr``, ``batch_size``, ``crops_per_track``,
        ``patience``, ``augment`` ...).
    architecture : dict, optional
        Options of the architecture (``channels``, ``dropout``, ``unfreeze`` ...).
    background : sequence of arrays
        16 kHz background recordings for background-mixing augmentation.
    waves : dict, optional
        16 kHz excerpts already decoded, by track id (cross-validation decodes once);
        tracks absent from it are decoded here.
    on_progress : callable, optional
        ``on_progress(done, total)`` over decoding (one unit per track) then epochs.
    on_epoch : callable, optional
        Each epoch's record (losses, validation accuracy, learning rate, batch size).
    cancel : callable, optional
        Polled during decoding and between batches; a cancelled run writes no model
        and keeps its checkpoint.
    """
    from music_reclass.evaluation.training import choose_split
    from music_reclass.models.deep.loop import TrainConfig

    out = Path(out)
    config = TrainConfig(epochs=epochs, seed=seed, device=device,
                         **{**MODEL_PARAMS.get(model, {}), **(params or {})})
    notes = list(notes)
    if parts is None:
        parts, split_kind, notes = choose_split(dataset, split, seed=seed)
    parts = {k: list(v) for k, v in parts.items()}
    if not parts["valid"]:
        parts["train"], parts["valid"], carved = carve_validation(parts["train"], seed=seed)
        notes += carved
    all_tracks = [t for name in ("train", "valid", "test") for t in parts[name]]
    total = len(all_tracks) + config.epochs
    counter = {"done": 0}

    def tick() -> None:
        counter["done"] += 1
        if on_progress is not None:
            on_progress(counter["done"], total)

    known = dict(waves or {})
    missing = [t for t in all_tracks if t.track_id not in known]
    for _ in range(len(all_tracks) - len(missing)):
        tick()
    with contextlib.ExitStack() as stack:
        spool = None
        if len(missing) > SPOOL_ABOVE:  # keep the decoded audio on disk, memory-mapped
            from music_reclass.paths import cache_dir

            spool = stack.enter_context(tempfile.TemporaryDirectory(prefix="deep-audio-",
                                                                    dir=cache_dir()))
        decoded, errors = decode_tracks(missing, on_each=tick, cancel=cancel, spool=spool)
        return _train_decoded(dataset, model, out, config, parts, split, split_kind, notes,
                              {**known, **decoded}, errors, resume, seed, device, architecture,
                              background, dataset_path, on_progress, on_epoch, cancel, counter, total)


def _train_decoded(dataset, model, out, config, parts, split, split_kind, notes, waves, errors,
                   resume, seed, device, architecture, background, dataset_path, on_progress,
                   on_epoch, cancel, counter, total) -> DeepTrainResult:
    """:func:`train_deep` once the audio is decoded."""
    from music_reclass.models.deep.artifact import save_deep_model
    from music_reclass.models.deep.checkpoint import checkpoint_dir
    from music_reclass.models.deep.frontend import input_spec
    from music_reclass.models.deep.loop import fit, predict_tracks
    from music_reclass.models.deep.nets import build_network, default_architecture

    if cancel is not None and cancel():
        return DeepTrainResult(None, {}, {}, [], "cancelled", split_kind or split, notes, 0.0,
                               None, 0, errors)
    for name in parts:
        parts[name] = [t for t in parts[name] if t.track_id in waves]
    classes = sorted({t.label for t in parts["train"]})
    if len(classes) < 2:
        raise ParameterError(f"the training part has {len(parts['train'])} usable track(s) of "
                             f"{len(classes)} class(es): need at least two classes")
    index = {c: i for i, c in enumerate(classes)}
    arch = default_architecture(model, len(classes), **(architecture or {}))
    import torch

    torch.manual_seed(seed)  # the initial weights are part of the seeded run
    net = build_network(arch)
    train = [(waves[t.track_id], index[t.label]) for t in parts["train"]]
    valid = [(waves[t.track_id], index[t.label]) for t in parts["valid"] if t.label in index]
    split_ids = {k: [t.track_id for t in v] for k, v in parts.items()}
    base = counter["done"]
    fitted = fit(net, arch, classes, train, valid, config, split=split_ids,
                 checkpoints=checkpoint_dir(out), resume=resume, background=background,
                 on_progress=(lambda d, _t: on_progress(base + d, total)) if on_progress else None,
                 on_epoch=on_epoch, cancel=cancel)
    epochs_here = len(fitted.history) - fitted.resumed_from
    per_epoch = fitted.seconds / epochs_here if epochs_here > 0 else None
    result = DeepTrainResult(None, {}, {}, fitted.history, fitted.stopped, split_kind or split,
                             notes, fitted.seconds, per_epoch, fitted.resumed_from, errors)
    if fitted.stopped == "cancelled":
        return result
    net.load_state_dict(fitted.state)
    from music_reclass.models.deep.device import choose_device

    run_device = choose_device(device)
    for part in ("valid", "test"):
        tracks = [t for t in parts[part] if t.track_id in waves]
        if not tracks:
            continue
        probs = predict_tracks(net, [waves[t.track_id] for t in tracks], run_device)
        result.metrics[part] = _metrics(probs, [t.label for t in tracks], classes)
        if part == "test":
            result.test_ids, result.test_proba = [t.track_id for t in tracks], probs
    unseen = sorted({t.label for t in parts["test"]} - set(classes))
    if unseen:
        notes.append(f"test classes absent from training (always wrong): {', '.join(unseen)}")
    meta = {
        "name": out.stem if out.suffix else out.name,
        "model_type": model,
        "classes": classes,
        "architecture": arch,
        "input": input_spec(),
        "training": {
            "dataset": dataset.name, "dataset_path": dataset_path,
            "split": split_kind or split, "split_requested": split, "split_notes": notes,
            "n_train": len(train), "n_valid": len(valid), "n_test": len(parts["test"]),
            "n_without_audio": len(errors), "seed": seed,
            "class_counts": {k: dict(sorted(Counter(t.label for t in v).items()))
                             for k, v in parts.items()},
            "split_track_ids": split_ids,
            "config": replace(config, device=device).as_dict(),
            "device": fitted.device, "batch_size": fitted.batch_size,
            "batch_notes": fitted.batch_notes, "epochs_run": len(fitted.history),
            "best_epoch": fitted.best_epoch, "stopped": fitted.stopped,
            "resumed_from_epoch": fitted.resumed_from, "history": fitted.history,
            "train_seconds": round(fitted.seconds, 3),
        },
        "metrics": {part: {k: m[k] for k in ("n", "accuracy", "balanced_accuracy", "macro_f1", "ece")}
                    for part, m in result.metrics.items()},
    }
    save_deep_model(net.state_dict(), meta, out)
    shutil.rmtree(checkpoint_dir(out), ignore_errors=True)
    result.path = out
    from music_reclass.models.deep.artifact import read_deep_sidecar

    result.meta = read_deep_sidecar(out)
    return result
