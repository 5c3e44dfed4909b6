"""Any Hugging Face audio encoder saved in a local folder (``--features hf:PATH``).

The folder is what ``save_pretrained`` writes (or a hub snapshot): ``config.json``,
the weights (``model.safetensors`` preferred) and ``preprocessor_config.json``. The
model is built by ``AutoModel`` with ``local_files_only=True`` and
``trust_remote_code=False``: architectures that need the repository's own Python code
are refused with a message (MERT has its own extractor, ``mert``). The feature
extractor (``AutoFeatureExtractor``) gives the sampling rate and prepares each window
as the model expects (normalised waveform, or a spectrogram for AST-like models).
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import numpy as np

from music_reclass.errors import ModelError
from music_reclass.features.backbones.common import (
    Backbone,
    BackboneExtractor,
    file_digest,
    missing_message,
    need_transformers,
)

__all__ = ["HFAudioBackbone", "hf_extractor"]


class HFAudioBackbone(Backbone):
    """A local Hugging Face audio model.

    Parameters
    ----------
    folder : path
    window_seconds : float
        Analysis window (10 s by default; the model's own limit may be lower).
    """

    def __init__(self, folder: str | os.PathLike, *, window_seconds: float = 10.0,
                 device: str = "cpu") -> None:
        import torch

        folder = Path(folder)
        missing = [f for f in ("config.json", "preprocessor_config.json") if not (folder / f).is_file()]
        weights = sorted(folder.glob("*.safetensors")) or sorted(folder.glob("pytorch_model*.bin"))
        if not weights:
            missing.append("model.safetensors (or pytorch_model.bin)")
        if missing:
            raise ModelError(missing_message("Hugging Face model", folder, missing,
                                             "the model's hub page (save_pretrained's output)"))
        config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
        if config.get("auto_map"):
            raise ModelError(f"{folder} needs its repository's own Python code (auto_map); "
                             "music_reclass does not run downloaded code. For MERT use --features mert")
        transformers = need_transformers("hf: models")
        try:
            self.processor = transformers.AutoFeatureExtractor.from_pretrained(
                str(folder), local_files_only=True)
            self.model = transformers.AutoModel.from_pretrained(
                str(folder), local_files_only=True, trust_remote_code=False)
        except (OSError, ValueError, KeyError) as exc:
            raise ModelError(f"cannot load the Hugging Face model in {folder}: {exc}") from exc
        self.model.eval().requires_grad_(False).to(torch.device(device))
        self.device = device
        self.name = f"hf:{folder.name}"
        self.sample_rate = int(getattr(self.processor, "sampling_rate", 16000))
        self.window_seconds = float(window_seconds)
        probe = self.forward_layers(np.zeros((1, self.sample_rate), dtype=np.float32))
        self.n_layers, self.dim = probe.shape[1:]
        digest = hashlib.sha256("".join(file_digest(w) for w in weights).encode()).hexdigest()
        self.version = f"hf-{config.get('model_type', 'model')}-{digest[:12]}-w{self.window_seconds:g}"

    def forward_layers(self, windows: np.ndarray) -> np.ndarray:
        import torch

        inputs = self.processor(list(np.asarray(windows, dtype=np.float32)),
                                sampling_rate=self.sample_rate, return_tensors="pt")
        inputs = {k: v.to(self.device) for k, v in inputs.items() if isinstance(v, torch.Tensor)}
        with torch.inference_mode():
            out = self.model(**inputs, output_hidden_states=True)
        states = out.hidden_states if getattr(out, "hidden_states", None) else (out.last_hidden_state,)
        return torch.stack([s.mean(dim=1) for s in states], dim=1).float().cpu().numpy()


def hf_extractor(folder: str | os.PathLike) -> BackboneExtractor:
    """The ``hf:PATH`` extractor of the model saved in ``folder``."""
    path = Path(folder).expanduser()
    return BackboneExtractor(f"hf:{path}", lambda: HFAudioBackbone(path))
