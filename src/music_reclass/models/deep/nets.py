"""The two deep architectures, built from the plain dict a sidecar stores.

``cnn``
    A CNN trained from scratch on ``[187, 96]`` log-mel patches: an input batch norm,
    four blocks of (3x3 conv, batch norm, ReLU, 2x2 max-pool), then global max and
    mean pooling over time and frequency, dropout and a linear layer. About 100 k
    parameters with the default widths: small enough to train on CPU in minutes and
    not to memorise a 50-clip set in one epoch.
``musicnn-finetune``
    The shipped MSD_musicnn weights with a new linear head on its 200-d penultimate
    layer (transfer learning). ``unfreeze`` chooses what trains besides the head:
    0 nothing, 1 the back end (pooled batch norm + dense 200), 2 also the mid end
    (three 7-tap convolutions). The front end (the five timbral/temporal branches)
    always stays frozen: its fast FFT path derives its filters without gradient, and
    its features are the most general part of the network. musicnn's batch norms
    keep their published statistics (no running-statistics update on small data).
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from music_reclass.errors import ModelError, ParameterError
from music_reclass.models.deep import DEEP_MODELS
from music_reclass.models.deep.frontend import N_MELS, PATCH_FRAMES

__all__ = ["DEEP_MODELS", "LogMelCNN", "MusicnnFinetune", "build_network", "default_architecture"]



class LogMelCNN(nn.Module):
    """CNN over log-mel patches ``[B, 187, 96]`` -> logits ``[B, n_classes]``.

    Parameters
    ----------
    n_classes : int
    channels : sequence of int
        Output channels of the conv blocks.
    dropout : float
        Before the linear layer.
    """

    def __init__(self, n_classes: int, channels: tuple[int, ...] = (16, 32, 64, 128),
                 dropout: float = 0.3) -> None:
        super().__init__()
        self.input_bn = nn.BatchNorm2d(1)
        blocks = []
        previous = 1
        for width in channels:
            blocks += [nn.Conv2d(previous, width, 3, padding=1, bias=False),
                       nn.BatchNorm2d(width), nn.ReLU(inplace=True), nn.MaxPool2d(2)]
            previous = width
        self.blocks = nn.Sequential(*blocks)
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(2 * previous, n_classes)

    #: no frozen trunk: every layer trains (see :attr:`MusicnnFinetune.cacheable`)
    cacheable = False

    def embed(self, patches: torch.Tensor) -> torch.Tensor:
        """Pooled features ``[B, 2 * channels[-1]]`` (global max and mean)."""
        x = self.blocks(self.input_bn(patches.unsqueeze(1)))
        return torch.cat([x.amax(dim=(2, 3)), x.mean(dim=(2, 3))], dim=1)

    def head(self, embedding: torch.Tensor) -> torch.Tensor:
        """Logits from :meth:`embed`'s output."""
        return self.classifier(self.dropout(embedding))

    def forward(self, patches: torch.Tensor) -> torch.Tensor:
        return self.head(self.embed(patches))

    def pretrained_parameters(self) -> list[nn.Parameter]:
        """None: trained from scratch."""
        return []


class MusicnnFinetune(nn.Module):
    """MSD_musicnn with a new head; see the module docstring for ``unfreeze``.

    Parameters
    ----------
    n_classes : int
    unfreeze : {0, 1, 2}
    dropout : float
    pretrained : bool
        Load the shipped MSD_musicnn weights (False only when a model file's own
        state dict is loaded right after).
    """

    def __init__(self, n_classes: int, unfreeze: int = 1, dropout: float = 0.3,
                 pretrained: bool = True) -> None:
        super().__init__()
        from music_reclass.models.musicnn.network import MusicnnNet

        if unfreeze not in (0, 1, 2):
            raise ParameterError(f"unfreeze must be 0, 1 or 2, got {unfreeze!r}")
        self.unfreeze = unfreeze
        self.musicnn = MusicnnNet()
        if pretrained:
            self.musicnn.load_state_dict(_shipped_musicnn_state())
        self.musicnn.requires_grad_(False)
        trainable = [] if unfreeze == 0 else [self.musicnn.pool_bn, self.musicnn.dense]
        if unfreeze == 2:
            trainable += [self.musicnn.midend_1, self.musicnn.midend_2, self.musicnn.midend_3]
        for module in trainable:
            module.requires_grad_(True)
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(200, n_classes)

    @property
    def cacheable(self) -> bool:
        """Whether :meth:`trunk`'s output is small enough to keep per training crop
        (``unfreeze`` 0: 200 values, 1: 1506; 2 would be the front end's 105k)."""
        return self.unfreeze < 2

    def trunk(self, patches: torch.Tensor) -> torch.Tensor:
        """The frozen part: musicnn up to where training starts (no gradient).

        ``unfreeze`` 0: the penultimate layer ``[B, 200]``; 1: the pooled mid end
        ``[B, 1506]`` (the back end's input); 2: the front end ``[B, 561, 187]``. The
        front end runs in float32 even under mixed precision: its FFT path is written
        for it, and it gets no gradient anyway.
        """
        with torch.no_grad(), torch.autocast(device_type=patches.device.type, enabled=False):
            front = self.musicnn.front_end(patches.float())
            if self.unfreeze == 0:
                return self.musicnn.mid_back_end(front)["penultimate"]
            if self.unfreeze == 1:
                return self.musicnn.pooled(front)
        return front

    def tail(self, features: torch.Tensor) -> torch.Tensor:
        """Logits from :meth:`trunk`'s output: the trained layers and the head."""
        return self.head(self._penultimate(features))

    def _penultimate(self, features: torch.Tensor) -> torch.Tensor:
        if self.unfreeze == 0:
            return features
        if self.unfreeze == 1:
            return self.musicnn.back_end(features)["penultimate"]
        return self.musicnn.mid_back_end(features)["penultimate"]

    def embed(self, patches: torch.Tensor) -> torch.Tensor:
        """musicnn's 200-d penultimate layer of each patch."""
        return self._penultimate(self.trunk(patches))

    def head(self, embedding: torch.Tensor) -> torch.Tensor:
        """Logits from :meth:`embed`'s output."""
        return self.classifier(self.dropout(F.relu(embedding)))

    def forward(self, patches: torch.Tensor) -> torch.Tensor:
        return self.tail(self.trunk(patches))

    def pretrained_parameters(self) -> list[nn.Parameter]:
        """The trainable parameters that start from musicnn's weights (a lower LR)."""
        return [p for p in self.musicnn.parameters() if p.requires_grad]


def _shipped_musicnn_state() -> dict[str, torch.Tensor]:
    from music_reclass.models.musicnn import load_musicnn

    net = load_musicnn("MSD_musicnn")  # checks the weights' sha256
    return {k: v.detach().clone() for k, v in net.network.state_dict().items()}


def default_architecture(model: str, n_classes: int, **options: Any) -> dict[str, Any]:
    """The architecture dict of a new model (stored in the sidecar as it is)."""
    if model == "cnn":
        arch = {"type": "cnn", "n_classes": n_classes, "channels": [16, 32, 64, 128],
                "dropout": 0.3}
    elif model == "musicnn-finetune":
        arch = {"type": "musicnn-finetune", "n_classes": n_classes, "unfreeze": 1,
                "dropout": 0.3, "base": "MSD_musicnn"}
    else:
        raise ParameterError(f"unknown deep model {model!r}; use {', '.join(DEEP_MODELS)}")
    unknown = set(options) - set(arch)
    if unknown:
        raise ParameterError(f"unknown option(s) for {model}: {', '.join(sorted(unknown))}")
    arch.update(options)
    return arch


def build_network(arch: dict[str, Any], *, pretrained: bool = True) -> nn.Module:
    """The module an architecture dict describes (weights initialised, not trained)."""
    kind = arch.get("type")
    try:
        n_classes = int(arch["n_classes"])
        if kind == "cnn":
            return LogMelCNN(n_classes, tuple(int(c) for c in arch["channels"]),
                             float(arch.get("dropout", 0.3)))
        if kind == "musicnn-finetune":
            return MusicnnFinetune(n_classes, int(arch.get("unfreeze", 1)),
                                   float(arch.get("dropout", 0.3)), pretrained=pretrained)
    except (KeyError, TypeError, ValueError) as exc:
        raise ModelError(f"invalid architecture {arch!r}: {exc}") from exc
    raise ModelError(f"unknown deep architecture type {kind!r}; known: {', '.join(DEEP_MODELS)}")


def check_input(patches: torch.Tensor) -> None:
    """Raise ParameterError unless ``patches`` is ``[B, 187, 96]``."""
    if patches.ndim != 3 or tuple(patches.shape[1:]) != (PATCH_FRAMES, N_MELS):
        raise ParameterError(f"expected patches [B, {PATCH_FRAMES}, {N_MELS}], "
                             f"got {tuple(patches.shape)}")
