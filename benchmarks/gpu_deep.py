"""A short device check: train the CNN a few epochs and run a backbone; throughput and memory.

Usage::

    python benchmarks/gpu_deep.py [--device auto|cuda|cpu] [--epochs 3] [--tracks 64]
                                  [--backbone mert|openjmla|hf:PATH|tiny] [--seconds 30]

Runs on synthetic audio (no dataset needed): ``--tracks`` 30 s clips of 10 classes. On
a GPU it reports the batch size the adaptive sizer settled on, training throughput
(patches/s), peak GPU memory, and the backbone's inference speed (x realtime). On CPU
use small settings (``--tracks 16 --epochs 1``). ``--backbone tiny`` builds a small
random MERT-shaped model in a temporary folder (no weights needed), ``mert`` etc. read
real weights from their folders (see README).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def _synthetic(n_tracks: int, seconds: float, sr: int = 16000) -> list[tuple[np.ndarray, int]]:
    rng = np.random.default_rng(0)
    t = np.arange(int(seconds * sr)) / sr
    out = []
    for i in range(n_tracks):
        label = i % 10
        tone = np.sin(2 * np.pi * (110 * (1 + label)) * t)
        noise = rng.standard_normal(t.size) * (0.05 + 0.02 * label)
        out.append(((0.3 * tone + noise).astype(np.float32), label))
    return out


def _tiny_mert(folder: Path) -> None:
    import transformers
    from safetensors.torch import save_file

    shape = {"hidden_size": 256, "num_hidden_layers": 4, "num_attention_heads": 4,
             "intermediate_size": 1024, "conv_dim": [256] * 7, "conv_kernel": [10, 3, 3, 3, 3, 2, 2],
             "conv_stride": [5, 2, 2, 2, 2, 2, 2], "conv_bias": False, "feat_proj_layer_norm": True}
    model = transformers.HubertModel(transformers.HubertConfig(**shape))
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(folder / "model.safetensors"))
    (folder / "config.json").write_text(json.dumps({**shape, "model_type": "mert_model"}))
    (folder / "preprocessor_config.json").write_text(json.dumps({"sampling_rate": 24000,
                                                                  "do_normalize": True}))


def train_check(args) -> None:
    import torch

    from music_reclass.models.deep.checkpoint import checkpoint_dir
    from music_reclass.models.deep.loop import TrainConfig, fit
    from music_reclass.models.deep.nets import build_network, default_architecture

    tracks = _synthetic(args.tracks, args.seconds)
    valid = _synthetic(max(4, args.tracks // 8), args.seconds)
    classes = [f"c{i}" for i in range(10)]
    arch = default_architecture("cnn", 10)
    config = TrainConfig(epochs=args.epochs, device=args.device, batch_size=args.batch,
                         max_batch=args.max_batch, patience=args.epochs + 1)
    device_name = config.device
    with tempfile.TemporaryDirectory() as scratch:
        net = build_network(arch)
        if torch.cuda.is_available():
            torch.cuda.reset_peak_memory_stats()
        result = fit(net, arch, classes, tracks, valid, config, split={"train": [], "valid": []},
                     checkpoints=checkpoint_dir(Path(scratch) / "m"))
    crops = len(tracks) * config.crops_per_track * len(result.history)
    print(f"CNN on {result.device}: {len(result.history)} epoch(s), {crops} crops in "
          f"{result.seconds:.1f} s = {crops / result.seconds:.1f} crops/s (augmentation included); "
          f"batch size {result.batch_size} (asked {device_name})")
    for line in result.batch_notes:
        print(f"  batch sizer: {line}")
    if torch.cuda.is_available() and result.device.startswith("cuda"):
        peak = torch.cuda.max_memory_allocated() / 2**30
        total = torch.cuda.get_device_properties(0).total_memory / 2**30
        print(f"  peak GPU memory {peak:.2f} GiB of {total:.1f} GiB")
    print(f"  last epoch: {result.history[-1]}")


def backbone_check(args) -> None:
    import torch

    from music_reclass.features import get_extractor
    from music_reclass.features.backbones.common import BackboneExtractor
    from music_reclass.features.backbones.mert import MertBackbone

    device = "cuda" if (args.device in ("auto", "cuda") and torch.cuda.is_available()) else "cpu"
    with tempfile.TemporaryDirectory() as scratch:
        if args.backbone == "tiny":
            _tiny_mert(Path(scratch))
            ex = BackboneExtractor("tiny-mert", lambda: MertBackbone(Path(scratch), device=device))
        else:
            ex = get_extractor(args.backbone)
        waves = [w for w, _ in _synthetic(8, args.seconds)]
        ex.extract_batch(waves[:1], 16000)  # load + warm up
        if torch.cuda.is_available():
            torch.cuda.reset_peak_memory_stats()
        start = time.perf_counter()
        X = ex.extract_batch(waves, 16000)
        seconds = time.perf_counter() - start
    audio = len(waves) * args.seconds
    print(f"backbone {ex.name} on {device}: {len(waves)} x {args.seconds:.0f} s in {seconds:.2f} s = "
          f"{audio / seconds:.1f}x realtime, vectors {X.shape}")
    if device == "cuda":
        print(f"  peak GPU memory {torch.cuda.max_memory_allocated() / 2**30:.2f} GiB")


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="auto")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--tracks", type=int, default=64)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--max-batch", type=int, default=1024)
    parser.add_argument("--backbone", default="tiny")
    args = parser.parse_args(argv)
    import torch

    print(f"torch {torch.__version__}, cuda available: {torch.cuda.is_available()}"
          + (f" ({torch.cuda.get_device_name(0)})" if torch.cuda.is_available() else ""))
    train_check(args)
    try:
        backbone_check(args)
    except ImportError as exc:
        print(f"backbone check skipped: {exc}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
