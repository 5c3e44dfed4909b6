"""What input musicnn takes, declared for the audio layer and the runner (no torch here).

musicnn cuts its log-mel input (16 kHz, hop 256) into non-overlapping patches of 187
frames: 187 x 256 = 47,872 samples (2.992 s) per patch. Its front end is centred
(``T = 1 + n // 256`` frames), so 186 x 256 = 47,616 samples (2.976 s) give exactly one
patch; shorter audio cannot be analysed.
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

from music_reclass.audio.excerpt import AudioInput, ExcerptPolicy
from music_reclass.errors import ModelError

from .frontend import HOP_LENGTH, SR

__all__ = ["MIN_SAMPLES", "MUSICNN_INPUT", "PATCH_FRAMES", "PATCH_SAMPLES", "PATCH_SECONDS",
           "WEIGHTS_DIR", "musicnn_space", "read_sidecar", "shipped_versions", "versions_text"]

WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"
PATCH_FRAMES = 187
PATCH_SAMPLES = PATCH_FRAMES * HOP_LENGTH  # 47,872
MIN_SAMPLES = (PATCH_FRAMES - 1) * HOP_LENGTH  # 47,616
PATCH_SECONDS = PATCH_SAMPLES / SR  # 2.992 s

#: The excerpt both musicnn models analyse: about 30 s of 16 kHz mono, in whole patches.
MUSICNN_INPUT = AudioInput(
    SR, ExcerptPolicy(patch_seconds=PATCH_SECONDS, min_seconds=MIN_SAMPLES / SR)
)


def musicnn_space(versions: str) -> str:
    """The embedding space of the two networks at these versions
    (``"MSD_musicnn@v+MTT_musicnn@v"``): the key of their stored vectors."""
    return f"musicnn/{versions}"


@lru_cache(maxsize=4)
def read_sidecar(name: str) -> dict:
    """The JSON sidecar of a shipped network (labels, version, checksums), read once.

    Raises
    ------
    ModelError
        The sidecar is missing or unreadable.
    """
    path = WEIGHTS_DIR / f"{name}.json"
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise ModelError(f"cannot read the musicnn model {name}: {exc}") from exc


def shipped_versions(names: tuple[str, ...]) -> dict[str, str]:
    """``{network: version}`` of the shipped networks, from their sidecars (no torch)."""
    return {name: str(read_sidecar(name).get("version", "unknown")) for name in names}


def versions_text(versions: dict[str, str]) -> str:
    """``"MSD_musicnn@v+MTT_musicnn@v"``: how model ids and spaces name network versions."""
    return "+".join(f"{name}@{version}" for name, version in versions.items())
