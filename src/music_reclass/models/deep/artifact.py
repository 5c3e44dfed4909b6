"""Deep model files: safetensors weights + the JSON sidecar (``"kind": "deep"``).

Layout (one model = two files)::

    genres.safetensors        the network's state dict (tensors only: loading runs no code)
    genres.safetensors.json   the sidecar

Sidecar (``format_version`` 1)::

    {"format_version": 1, "kind": "deep", "name": "genres", "model_type": "cnn",
     "model_file": "genres.safetensors", "serialization": "safetensors",
     "classes": [...], "architecture": {"type": "cnn", "n_classes": 10, ...},
     "input": {"frontend": "musicnn-logmel-16k-96@1", "sample_rate": 16000,
               "patch_frames": 187, "patch_seconds": 2.992, ...},
     "training": {"dataset": "gtzan", "split": "artist", "split_notes": [...],
                  "n_train": ..., "epochs_run": ..., "best_epoch": ..., "history": [...]},
     "metrics": {"valid": {...}, "test": {...}}, "versions": {...},
     "created_at": "...", "sha256": "<sha256 of the .safetensors file>"}

:func:`load_deep_model` checks the sidecar, the sha256 and that the tensors fit the
architecture, and never unpickles anything.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from music_reclass.errors import ModelError, ParameterError
from music_reclass.models.artifact import _jsonable, library_versions, model_kind, sidecar_path

if TYPE_CHECKING:  # torch loads only when weights are read or written
    import torch

__all__ = ["FORMAT_VERSION", "DeepModelFile", "is_deep_model", "load_deep_model", "save_deep_model"]

FORMAT_VERSION = 1
KIND = "deep"
_REQUIRED = ("format_version", "kind", "name", "classes", "architecture", "input", "sha256")


@dataclass
class DeepModelFile:
    """A deep model read from disk: its sidecar and its state dict."""

    meta: dict[str, Any]
    state: dict[str, torch.Tensor]
    path: Path

    @property
    def classes(self) -> tuple[str, ...]:
        return tuple(str(c) for c in self.meta["classes"])

    @property
    def model_id(self) -> str:
        """Name + the first 12 hex digits of the weights' sha256."""
        return f"{self.meta['name']}@{str(self.meta['sha256'])[:12]}"

    def network(self) -> torch.nn.Module:
        """The network with these weights, in eval mode.

        Raises
        ------
        ModelError
            The tensors do not fit the architecture.
        """
        from music_reclass.models.deep.nets import build_network

        net = build_network(self.meta["architecture"], pretrained=False)
        try:
            net.load_state_dict(self.state, strict=True)
        except RuntimeError as exc:
            raise ModelError(f"{self.path.name}: weights do not fit the architecture: "
                             f"{str(exc).splitlines()[0]}") from exc
        return net.eval()


def read_deep_sidecar(path: str | os.PathLike) -> dict[str, Any]:
    """The validated sidecar of a deep model file.

    Raises
    ------
    ModelError
        Missing, unreadable, not a deep model, or incomplete.
    """
    side = sidecar_path(path)
    try:
        meta = json.loads(side.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ModelError(f"model sidecar missing: {side} (every model file needs its .json sidecar)") from exc
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise ModelError(f"model sidecar {side.name} is not readable JSON: {exc}") from exc
    if not isinstance(meta, dict) or meta.get("kind") != KIND:
        raise ModelError(f"{side.name} does not describe a deep model (kind {meta.get('kind')!r})"
                         if isinstance(meta, dict) else f"{side.name} must hold a JSON object")
    missing = [k for k in _REQUIRED if k not in meta]
    if missing:
        raise ModelError(f"model sidecar {side.name} lacks {', '.join(missing)}")
    if meta["format_version"] != FORMAT_VERSION:
        raise ModelError(f"{side.name} has format_version {meta['format_version']!r}; "
                         f"this version of music_reclass reads {FORMAT_VERSION}")
    return meta


def is_deep_model(path: str | os.PathLike) -> bool:
    """True when ``path``'s sidecar exists and says ``"kind": "deep"``."""
    return model_kind(path) == KIND


def save_deep_model(state: Mapping[str, torch.Tensor], meta: Mapping[str, Any],
                    path: str | os.PathLike) -> Path:
    """Write the weights and the sidecar, each atomically, the sidecar last.

    ``meta`` needs ``classes``, ``architecture``, ``input``; ``name`` defaults to the
    file's stem. ``format_version``, ``kind``, ``model_file``, ``serialization``,
    ``versions``, ``created_at`` and ``sha256`` are filled here.

    Returns
    -------
    Path
        The sidecar path.
    """
    from safetensors.torch import save

    from music_reclass.models.deep.checkpoint import _fsync_write

    path = Path(path)
    if path.suffix.lower() == ".json":
        raise ParameterError(f"model path must not end in .json (that is the sidecar): {path}")
    for key in ("classes", "architecture", "input"):
        if key not in meta:
            raise ParameterError(f"deep model metadata needs {key!r}")
    path.parent.mkdir(parents=True, exist_ok=True)
    blob = save({k: v.detach().cpu().contiguous().clone() for k, v in state.items()},
                metadata={"format": "music_reclass.deep", "name": str(meta.get("name") or path.stem)})
    full = {
        "format_version": FORMAT_VERSION,
        "kind": KIND,
        "name": meta.get("name") or path.stem,
        **{k: v for k, v in meta.items() if k not in ("format_version", "kind", "name")},
        "model_file": path.name,
        "serialization": "safetensors",
        "versions": library_versions(),
        "created_at": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        "sha256": hashlib.sha256(blob).hexdigest(),
    }
    _fsync_write(path, blob)
    text = json.dumps(_jsonable(full), indent=2, ensure_ascii=False) + "\n"
    _fsync_write(sidecar_path(path), text.encode("utf-8"))
    return sidecar_path(path)


def load_deep_model(path: str | os.PathLike) -> DeepModelFile:
    """Read and check a deep model file.

    Raises
    ------
    ModelError
        Missing file or sidecar, sha256 mismatch (changed or damaged after training),
        unreadable tensors, or classes that do not match the architecture.
    """
    from safetensors import SafetensorError
    from safetensors.torch import load

    path = Path(path)
    meta = read_deep_sidecar(path)
    try:
        blob = path.read_bytes()
    except OSError as exc:
        raise ModelError(f"cannot read model file {path}: {exc}") from exc
    if hashlib.sha256(blob).hexdigest() != meta["sha256"]:
        raise ModelError(f"model file {path.name} does not match its sidecar's sha256: "
                         "it was changed or damaged after training")
    try:
        state = load(blob)
    except (SafetensorError, ValueError) as exc:
        raise ModelError(f"model file {path.name} is not a readable safetensors file: {exc}") from exc
    if int(meta["architecture"].get("n_classes", -1)) != len(meta["classes"]):
        raise ModelError(f"{path.name}: {len(meta['classes'])} classes but the architecture "
                         f"has {meta['architecture'].get('n_classes')} outputs")
    return DeepModelFile(meta, state, path)
