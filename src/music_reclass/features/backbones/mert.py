"""MERT-v1 (Li et al., 2023; m-a-p/MERT-v1-95M and -330M) through ``transformers``.

MERT-v1 is HuBERT's architecture with a layer norm in the feature projection
(``feat_proj_layer_norm``); its published ``modeling_MERT.py`` subclasses
``HubertModel``. The published checkpoints have the CQT branch off
(``feature_extractor_cqt: false``) and DeepNorm off, so ``transformers.HubertModel``
built from the same configuration computes the same network without running the
repository's remote code. (``attention_relax``, set on 330M, only subtracts the row
maximum before the softmax, which does not change it, and is only used by MERT's
DeepNorm encoder anyway.) A checkpoint with the CQT branch or DeepNorm on is refused.

Folder layout (as published on the Hugging Face hub)::

    config.json               MERT's configuration
    preprocessor_config.json  Wav2Vec2FeatureExtractor settings: 24 kHz, do_normalize
    model.safetensors         weights (or pytorch_model.bin, read with weights_only=True)

Input: 24 kHz mono, each 5 s window normalised to zero mean and unit variance (the
processor's ``do_normalize``), 75 frames per second. Output: the 13 (95M) or 25 (330M)
hidden states, averaged over time, then over layers (see the package docstring).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from music_reclass.errors import ModelError
from music_reclass.features.backbones.common import (
    Backbone,
    BackboneExtractor,
    file_digest,
    load_tensors,
    locate,
    missing_message,
    need_transformers,
)

__all__ = ["MertBackbone", "hubert_config_from_mert", "mert_330m_extractor", "mert_extractor"]

SOURCES = {"95m": "https://huggingface.co/m-a-p/MERT-v1-95M",
           "330m": "https://huggingface.co/m-a-p/MERT-v1-330M"}
_HUBERT_KEYS = ("hidden_size", "num_hidden_layers", "num_attention_heads", "intermediate_size",
                "hidden_act", "layer_norm_eps", "feat_extract_norm", "feat_extract_activation",
                "conv_dim", "conv_stride", "conv_kernel", "conv_bias", "num_conv_pos_embeddings",
                "num_conv_pos_embedding_groups", "do_stable_layer_norm", "feat_proj_layer_norm")
WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin")


def hubert_config_from_mert(config: dict[str, Any]) -> Any:
    """A ``transformers.HubertConfig`` computing what MERT's configuration describes.

    Raises
    ------
    ModelError
        A configuration using the CQT branch or DeepNorm (not reproduced by HuBERT).
    """
    transformers = need_transformers("MERT")
    if config.get("feature_extractor_cqt"):
        raise ModelError("this MERT checkpoint uses the CQT feature branch, which is not supported")
    if config.get("deepnorm") and not config.get("do_stable_layer_norm"):
        raise ModelError("this MERT checkpoint uses DeepNorm residual scaling, which is not supported")
    missing = [k for k in ("hidden_size", "num_hidden_layers", "conv_dim") if k not in config]
    if missing:
        raise ModelError(f"MERT config.json lacks {', '.join(missing)}")
    kept = {k: config[k] for k in _HUBERT_KEYS if k in config}
    return transformers.HubertConfig(**kept, feat_proj_dropout=0.0, hidden_dropout=0.0,
                                     attention_dropout=0.0, activation_dropout=0.0, layerdrop=0.0,
                                     mask_time_prob=0.0, mask_feature_prob=0.0)


def _rename(state: dict[str, Any]) -> dict[str, Any]:
    """Published key names -> this transformers' (weight norm parametrisation, prefixes)."""
    out = {}
    for key, value in state.items():
        for prefix in ("mert_model.", "music_hubert.", "hubert.", "model."):
            if key.startswith(prefix):
                key = key[len(prefix):]
        key = key.replace("pos_conv_embed.conv.weight_g", "pos_conv_embed.conv.parametrizations.weight.original0")
        key = key.replace("pos_conv_embed.conv.weight_v", "pos_conv_embed.conv.parametrizations.weight.original1")
        out[key] = value
    return out


class MertBackbone(Backbone):
    """MERT-v1 loaded from a local folder (see the module docstring).

    Parameters
    ----------
    folder : path
    name : str
    window_seconds : float
        MERT-v1 was trained on 5 s excerpts.
    device : str
    """

    def __init__(self, folder: str | os.PathLike, *, name: str = "mert",
                 window_seconds: float = 5.0, device: str = "cpu", source: str = SOURCES["95m"]) -> None:
        import torch

        folder = Path(folder)
        weights = next((folder / f for f in WEIGHT_FILES if (folder / f).is_file()), None)
        missing = [f for f in ("config.json",) if not (folder / f).is_file()]
        if weights is None:
            missing.append(" or ".join(WEIGHT_FILES))
        if missing:
            raise ModelError(missing_message("MERT", folder, missing, source))
        config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
        pre_path = folder / "preprocessor_config.json"
        pre = json.loads(pre_path.read_text(encoding="utf-8")) if pre_path.is_file() else {}
        transformers = need_transformers("MERT")
        model = transformers.HubertModel(hubert_config_from_mert(config))
        state = _rename(load_tensors(weights))
        expected = model.state_dict()
        absent = sorted(set(expected) - set(state) - {"masked_spec_embed"})
        if absent:
            raise ModelError(f"{weights.name} does not fit MERT's architecture: missing {absent[:3]}"
                             f"{' ...' if len(absent) > 3 else ''}")
        model.load_state_dict({k: v for k, v in state.items() if k in expected}, strict=False)
        self.model = model.eval().requires_grad_(False).to(torch.device(device))
        self.device = device
        self.name = name
        self.sample_rate = int(pre.get("sampling_rate") or config.get("sample_rate") or 24000)
        self.normalise = bool(pre.get("do_normalize", True))
        self.window_seconds = float(window_seconds)
        self.n_layers = int(config["num_hidden_layers"]) + 1
        self.dim = int(config["hidden_size"])
        self.version = f"mert-{file_digest(weights)[:12]}-w{self.window_seconds:g}"

    def forward_layers(self, windows: np.ndarray) -> np.ndarray:
        import torch

        x = torch.from_numpy(np.ascontiguousarray(windows, dtype=np.float32))
        if self.normalise:  # Wav2Vec2FeatureExtractor: zero mean, unit variance per input
            x = (x - x.mean(dim=1, keepdim=True)) / torch.sqrt(x.var(dim=1, keepdim=True, unbiased=False) + 1e-7)
        with torch.inference_mode():
            out = self.model(x.to(self.device), output_hidden_states=True)
        hidden = torch.stack(out.hidden_states, dim=1)  # [B, L+1, T, H]
        return hidden.mean(dim=2).float().cpu().numpy()


def mert_extractor(folder: str | os.PathLike | None = None) -> BackboneExtractor:
    """The ``mert`` extractor: MERT-v1-95M from ``RECLASS_MERT_DIR`` or ``<backbones>/MERT-v1-95M``."""
    where = locate(folder, "RECLASS_MERT_DIR", "MERT-v1-95M")
    return BackboneExtractor("mert", lambda: MertBackbone(where, name="mert"))


def mert_330m_extractor(folder: str | os.PathLike | None = None) -> BackboneExtractor:
    """The ``mert-330m`` extractor (``RECLASS_MERT_330M_DIR`` or ``<backbones>/MERT-v1-330M``)."""
    where = locate(folder, "RECLASS_MERT_330M_DIR", "MERT-v1-330M")
    return BackboneExtractor("mert-330m", lambda: MertBackbone(where, name="mert-330m",
                                                               source=SOURCES["330m"]))
