"""OpenJMLA's audio encoder (UniMus/OpenJMLA, a re-implementation of JMLA, Du et al. 2023):
a masked-autoencoder ViT over log-mel spectrograms, used frozen as a feature extractor.

The published ``epoch_20.pth`` is the encoder's state dict (float32, ~86 M parameters,
768-d tokens). This module builds the ViT from the checkpoint itself: embedding width,
patch size, input channels, depth and MLP width come from the tensor shapes, the token
grid from ``pos_embed``. Two key layouts are read: OpenMMLab's (``patch_embed.projection``,
``layers.N.ln1``, ``layers.N.attn.qkv``, ``layers.N.ffn.layers.0.0`` ..., ``ln1``) and
timm/AudioMAE's (``patch_embed.proj``, ``blocks.N.norm1``, ``blocks.N.mlp.fc1`` ...,
``norm``); prefixes such as ``backbone.`` or ``audio_encoder.`` are stripped.

What the checkpoint cannot say is written in ``frontend.json`` in the same folder
(defaults in :data:`DEFAULT_FRONTEND`: 16 kHz, 128 mel bands, 25 ms windows, 10 ms hop,
log mel normalised as AudioMAE does, 12 heads, mel bands as the spectrogram's height).
These defaults follow AudioMAE's published recipe; they were not checked against
OpenJMLA's own preprocessing code, so set them there if yours differs.

Folder layout::

    epoch_20.pth (or encoder.safetensors)   the encoder weights
    frontend.json                           optional: front-end settings
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from music_reclass.errors import ModelError
from music_reclass.features.backbones.common import (
    Backbone,
    BackboneExtractor,
    file_digest,
    load_tensors,
    locate,
    missing_message,
)

__all__ = ["DEFAULT_FRONTEND", "AudioViT", "OpenJMLABackbone", "convert_state", "openjmla_extractor"]

SOURCE = "https://huggingface.co/UniMus/OpenJMLA (file epoch_20.pth)"
WEIGHT_FILES = ("encoder.safetensors", "epoch_20.pth")
DEFAULT_FRONTEND = {"sample_rate": 16000, "n_mels": 128, "n_fft": 512, "win_length": 400,
                    "hop_length": 160, "mean": -4.2677393, "std": 4.5689974, "heads": None,
                    "mels_axis": "height", "layer_norm_eps": 1e-6}


class _Block(nn.Module):
    def __init__(self, dim: int, heads: int, hidden: int, eps: float) -> None:
        super().__init__()
        self.heads = heads
        self.norm1 = nn.LayerNorm(dim, eps=eps)
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)
        self.norm2 = nn.LayerNorm(dim, eps=eps)
        self.fc1 = nn.Linear(dim, hidden)
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, n, d = x.shape
        q, k, v = self.qkv(self.norm1(x)).view(b, n, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        attn = torch.nn.functional.scaled_dot_product_attention(q, k, v)
        x = x + self.proj(attn.transpose(1, 2).reshape(b, n, d))
        return x + self.fc2(torch.nn.functional.gelu(self.fc1(self.norm2(x))))


class AudioViT(nn.Module):
    """Plain ViT encoder (pre-norm blocks, cls token, learned/fixed position table)."""

    def __init__(self, *, dim: int, depth: int, heads: int, hidden: int, patch: tuple[int, int],
                 in_chans: int, n_tokens: int, cls_token: bool, eps: float = 1e-6) -> None:
        super().__init__()
        self.patch_embed = nn.Conv2d(in_chans, dim, kernel_size=patch, stride=patch)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, dim)) if cls_token else None
        self.pos_embed = nn.Parameter(torch.zeros(1, n_tokens + int(cls_token), dim))
        self.blocks = nn.ModuleList(_Block(dim, heads, hidden, eps) for _ in range(depth))
        self.norm = nn.LayerNorm(dim, eps=eps)

    def hidden_states(self, images: torch.Tensor) -> list[torch.Tensor]:
        """``[B, C, H, W]`` -> the token states after embedding and after each block
        (the last through the final norm), cls token excluded: ``depth + 1`` of ``[B, N, D]``."""
        x = self.patch_embed(images).flatten(2).transpose(1, 2)
        if x.shape[1] + int(self.cls_token is not None) != self.pos_embed.shape[1]:
            raise ModelError(f"spectrogram gives {x.shape[1]} patches, the encoder expects "
                             f"{self.pos_embed.shape[1] - int(self.cls_token is not None)}")
        start = 0
        if self.cls_token is not None:
            x = torch.cat([self.cls_token.expand(len(x), -1, -1), x], dim=1)
            start = 1
        x = x + self.pos_embed
        states = [x[:, start:]]
        for i, block in enumerate(self.blocks):
            x = block(x)
            states.append((self.norm(x) if i == len(self.blocks) - 1 else x)[:, start:])
        return states


_MM = [(r"^patch_embed\.projection\.", "patch_embed."), (r"^patch_embed\.proj\.", "patch_embed."),
       (r"^layers\.(\d+)\.ln1\.", r"blocks.\1.norm1."), (r"^layers\.(\d+)\.ln2\.", r"blocks.\1.norm2."),
       (r"^layers\.(\d+)\.attn\.", r"blocks.\1."), (r"^layers\.(\d+)\.ffn\.layers\.0\.0\.", r"blocks.\1.fc1."),
       (r"^layers\.(\d+)\.ffn\.layers\.1\.", r"blocks.\1.fc2."), (r"^blocks\.(\d+)\.attn\.", r"blocks.\1."),
       (r"^blocks\.(\d+)\.mlp\.", r"blocks.\1."), (r"^ln1\.", "norm."), (r"^fc_norm\.", "norm.")]


def convert_state(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """OpenMMLab or timm key names -> :class:`AudioViT`'s (decoder/head tensors dropped)."""
    anchor = next((k for k in state if k.endswith(("patch_embed.projection.weight",
                                                   "patch_embed.proj.weight"))), None)
    if anchor is None:
        raise ModelError("no ViT patch embedding (patch_embed.projection/proj.weight) in the checkpoint")
    prefix = anchor[: anchor.index("patch_embed")]
    out = {}
    for key, value in state.items():
        if not key.startswith(prefix):
            continue
        key = key[len(prefix):]
        for pattern, repl in _MM:
            key = re.sub(pattern, repl, key)
        if key.startswith(("patch_embed.", "blocks.", "norm.")) or key in ("cls_token", "pos_embed"):
            out[key] = value
    return out


def build_vit(state: dict[str, torch.Tensor], heads: int | None, eps: float) -> AudioViT:
    """The :class:`AudioViT` whose shapes ``state`` (converted) has."""
    weight = state["patch_embed.weight"]
    dim, in_chans, ph, pw = weight.shape
    depth = 1 + max(int(k.split(".")[1]) for k in state if k.startswith("blocks."))
    cls = "cls_token" in state
    vit = AudioViT(dim=dim, depth=depth, heads=heads or max(1, dim // 64),
                   hidden=state["blocks.0.fc1.weight"].shape[0], patch=(ph, pw), in_chans=in_chans,
                   n_tokens=state["pos_embed"].shape[1] - int(cls), cls_token=cls, eps=eps)
    try:
        vit.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise ModelError(f"the checkpoint does not fit a ViT: {str(exc).splitlines()[0]}") from exc
    return vit


class OpenJMLABackbone(Backbone):
    """OpenJMLA's encoder from a local folder (see the module docstring)."""

    def __init__(self, folder: str | os.PathLike, *, name: str = "openjmla", device: str = "cpu") -> None:
        folder = Path(folder)
        weights = next((folder / f for f in WEIGHT_FILES if (folder / f).is_file()), None)
        if weights is None:
            raise ModelError(missing_message("OpenJMLA", folder, [" or ".join(WEIGHT_FILES)], SOURCE))
        settings: dict[str, Any] = dict(DEFAULT_FRONTEND)
        if (folder / "frontend.json").is_file():
            settings.update(json.loads((folder / "frontend.json").read_text(encoding="utf-8")))
        self.settings = settings
        self.vit = build_vit(convert_state(load_tensors(weights)), settings["heads"],
                             float(settings["layer_norm_eps"])).eval().requires_grad_(False)
        self.vit.to(torch.device(device))
        self.device = device
        self.name = name
        self.sample_rate = int(settings["sample_rate"])
        ph, pw = self.vit.patch_embed.kernel_size
        n_tokens = self.vit.pos_embed.shape[1] - int(self.vit.cls_token is not None)
        mel_patches = int(settings["n_mels"]) // (ph if settings["mels_axis"] == "height" else pw)
        self.frames = n_tokens // max(1, mel_patches) * (pw if settings["mels_axis"] == "height" else ph)
        self.window_seconds = self.frames * int(settings["hop_length"]) / self.sample_rate
        self.min_seconds = min(1.0, self.window_seconds)
        self.n_layers = len(self.vit.blocks) + 1
        self.dim = self.vit.pos_embed.shape[2]
        self.max_batch = 4
        digest = json.dumps(settings, sort_keys=True).encode()
        self.version = f"openjmla-{file_digest(weights)[:12]}-{file_digest_bytes(digest)[:8]}"

    def spectrogram(self, window: np.ndarray) -> np.ndarray:
        """Normalised log mel ``[n_mels, frames]`` of one window, padded/cut to the grid."""
        import librosa

        s = self.settings
        mel = librosa.feature.melspectrogram(y=window, sr=self.sample_rate, n_fft=int(s["n_fft"]),
                                             win_length=int(s["win_length"]), hop_length=int(s["hop_length"]),
                                             n_mels=int(s["n_mels"]), htk=True, power=2.0)
        logmel = (np.log(mel + 1e-6) - float(s["mean"])) / (2.0 * float(s["std"]))
        logmel = logmel[:, : self.frames]
        if logmel.shape[1] < self.frames:  # a short last window: pad with silence's value
            fill = (np.log(1e-6) - float(s["mean"])) / (2.0 * float(s["std"]))
            logmel = np.pad(logmel, ((0, 0), (0, self.frames - logmel.shape[1])), constant_values=fill)
        return logmel.astype(np.float32)

    def forward_layers(self, windows: np.ndarray) -> np.ndarray:
        images = np.stack([self.spectrogram(w) for w in windows])[:, None]
        if self.settings["mels_axis"] != "height":
            images = images.transpose(0, 1, 3, 2)
        images = np.repeat(images, self.vit.patch_embed.in_channels, axis=1)
        with torch.inference_mode():
            states = self.vit.hidden_states(torch.from_numpy(np.ascontiguousarray(images)).to(self.device))
        return torch.stack([s.mean(dim=1) for s in states], dim=1).float().cpu().numpy()


def file_digest_bytes(data: bytes) -> str:
    import hashlib

    return hashlib.sha256(data).hexdigest()


def openjmla_extractor(folder: str | os.PathLike | None = None) -> BackboneExtractor:
    """The ``openjmla`` extractor (``RECLASS_OPENJMLA_DIR`` or ``<backbones>/OpenJMLA``)."""
    where = locate(folder, "RECLASS_OPENJMLA_DIR", "OpenJMLA")
    return BackboneExtractor("openjmla", lambda: OpenJMLABackbone(where))
