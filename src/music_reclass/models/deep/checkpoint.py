"""Training checkpoints: written atomically after every epoch, read back by ``resume``.

A run's checkpoint folder (``<model file>.ckpt/``) holds::

    epoch-0007.safetensors   model, best model and optimizer tensors after epoch 7
    state.json               everything else (epoch, history, early-stopping state,
                             split, config, batch size) and the sha256 of the tensors

Order of writes: the tensors go to a new file (temporary name, fsync, rename), then
``state.json`` is replaced the same way, then older tensor files are deleted. A kill at
any instant leaves a ``state.json`` naming a complete tensor file, so ``resume`` can
always continue from the last finished epoch. Only tensors and JSON are stored: reading
a checkpoint runs no code (no pickle).
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from music_reclass.durable import fsync_dir
from music_reclass.errors import ModelError

__all__ = ["Checkpoint", "checkpoint_dir", "load_checkpoint", "save_checkpoint"]

STATE_FILE = "state.json"
FORMAT = 1


def checkpoint_dir(model_path: str | os.PathLike) -> Path:
    """The checkpoint folder of a model file: ``<file>.ckpt``."""
    path = Path(model_path)
    return path.with_name(path.name + ".ckpt")


@dataclass
class Checkpoint:
    """A training state read back from disk.

    Attributes
    ----------
    state : dict
        The JSON part (``epoch`` = epochs completed, ``finished``, ``history``...).
    model : dict of str to Tensor
    best : dict of str to Tensor
        The weights of the best epoch so far (early stopping restores them).
    optimizer : dict
        ``torch.optim.Optimizer.state_dict()`` rebuilt from tensors + JSON.
    """

    state: dict[str, Any]
    model: dict[str, torch.Tensor]
    best: dict[str, torch.Tensor]
    optimizer: dict[str, Any]


def _fsync_write(path: Path, data: bytes) -> None:
    handle, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.replace(name, path)
    except BaseException:
        Path(name).unlink(missing_ok=True)
        raise


def _split_optimizer(opt_state: dict[str, Any]) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    tensors: dict[str, torch.Tensor] = {}
    scalars: dict[str, dict[str, Any]] = {}
    for index, values in opt_state["state"].items():
        for key, value in values.items():
            if isinstance(value, torch.Tensor):
                tensors[f"opt.{index}.{key}"] = value.detach().cpu().contiguous()
            else:
                scalars.setdefault(str(index), {})[key] = value
    return tensors, {"param_groups": opt_state["param_groups"], "scalars": scalars}


def _join_optimizer(tensors: dict[str, torch.Tensor], meta: dict[str, Any]) -> dict[str, Any]:
    state: dict[int, dict[str, Any]] = {}
    for name, value in tensors.items():
        if name.startswith("opt."):
            _, index, key = name.split(".", 2)
            state.setdefault(int(index), {})[key] = value
    for index, values in meta.get("scalars", {}).items():
        state.setdefault(int(index), {}).update(values)
    return {"state": state, "param_groups": meta["param_groups"]}


def save_checkpoint(folder: str | os.PathLike, state: dict[str, Any], model: dict[str, torch.Tensor],
                    best: dict[str, torch.Tensor], optimizer: dict[str, Any]) -> Path:
    """Write one epoch's checkpoint atomically (see the module docstring)."""
    from safetensors.torch import save

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    opt_tensors, opt_meta = _split_optimizer(optimizer)
    tensors = {f"model.{k}": v.detach().cpu().contiguous() for k, v in model.items()}
    tensors.update({f"best.{k}": v.detach().cpu().contiguous() for k, v in best.items()})
    tensors.update(opt_tensors)
    blob = save({k: v.clone() for k, v in tensors.items()})
    weights = folder / f"epoch-{int(state['epoch']):04d}.safetensors"
    _fsync_write(weights, blob)
    record = dict(state, format=FORMAT, weights=weights.name,
                  weights_sha256=hashlib.sha256(blob).hexdigest(), optimizer=opt_meta)
    _fsync_write(folder / STATE_FILE, json.dumps(record, indent=1).encode("utf-8"))
    fsync_dir(folder)
    for old in folder.glob("epoch-*.safetensors"):
        if old.name != weights.name:
            old.unlink(missing_ok=True)
    return folder / STATE_FILE


def load_checkpoint(folder: str | os.PathLike) -> Checkpoint | None:
    """The last complete checkpoint in ``folder``, or None when there is none.

    Raises
    ------
    ModelError
        A state file that is unreadable or names damaged tensors.
    """
    from safetensors.torch import load

    folder = Path(folder)
    state_path = folder / STATE_FILE
    if not state_path.is_file():
        return None
    try:
        record = json.loads(state_path.read_text(encoding="utf-8"))
        blob = (folder / record["weights"]).read_bytes()
    except (OSError, ValueError, KeyError) as exc:
        raise ModelError(f"checkpoint {state_path} is unreadable: {exc}") from exc
    if record.get("format") != FORMAT:
        raise ModelError(f"checkpoint {state_path} has format {record.get('format')!r}, not {FORMAT}")
    if hashlib.sha256(blob).hexdigest() != record.get("weights_sha256"):
        raise ModelError(f"checkpoint tensors {record['weights']} are damaged (sha256 differs)")
    tensors = load(blob)
    model = {k[6:]: v for k, v in tensors.items() if k.startswith("model.")}
    best = {k[5:]: v for k, v in tensors.items() if k.startswith("best.")}
    optimizer = _join_optimizer(tensors, record.pop("optimizer"))
    return Checkpoint(record, model, best, optimizer)
