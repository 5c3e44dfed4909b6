"""Loading the shipped musicnn weights and running them on audio, log-mels or patches."""

from __future__ import annotations

import hashlib
import json
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch

from music_reclass.errors import ModelError, ParameterError, TooShortError

from .frontend import N_MELS, SR, log_mel
from .network import N_FRAMES, N_TAGS, MusicnnNet
from .spec import MIN_SAMPLES

MODEL_NAMES = ("MSD_musicnn", "MTT_musicnn")
WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"
OUTPUT_KEYS = ("taggram", "logits", "penultimate", "max_pool", "mean_pool")
DEFAULT_BATCH_SIZE = 32


def make_patches(logmel: np.ndarray) -> np.ndarray:
    """Cut a log-mel spectrogram into musicnn's input patches.

    Patches are 187 frames (about 3 s), back to back without overlap; the tail shorter
    than a patch is dropped, as ``musicnn.extractor`` does with ``input_overlap=False``.

    Parameters
    ----------
    logmel : np.ndarray [shape=(T, 96)]
        Output of :func:`log_mel`.

    Returns
    -------
    np.ndarray [shape=(T // 187, 187, 96), dtype=float32]
        A view when possible (no copy).

    Raises
    ------
    TooShortError
        Fewer than 187 frames.
    ParameterError
        Not a [T, 96] array of finite values.
    """
    logmel = np.asarray(logmel)
    if logmel.ndim != 2 or logmel.shape[1] != N_MELS:
        raise ParameterError(f"logmel must have shape [T, {N_MELS}], got {logmel.shape}")
    n_patches = logmel.shape[0] // N_FRAMES
    if n_patches == 0:
        raise TooShortError(
            f"audio shorter than one musicnn patch ({N_FRAMES} frames, "
            f"{MIN_SAMPLES / SR:.2f} s): got {logmel.shape[0]} frames"
        )
    logmel = logmel.astype(np.float32, copy=False)
    return logmel[: n_patches * N_FRAMES].reshape(n_patches, N_FRAMES, N_MELS)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


class Musicnn:
    """A loaded musicnn model (MSD_musicnn or MTT_musicnn), ready for inference.

    Obtain it with :func:`load_musicnn`. Outputs are per 187-frame patch; patches are
    independent (the PyPI extractor's bug of repeating patch 0's features is not
    reproduced).

    Attributes
    ----------
    name : str
        ``"MSD_musicnn"`` or ``"MTT_musicnn"``.
    labels : tuple of str
        The 50 tags, in output order.
    version : str
        Weights + port version, e.g. ``"musicnn-0.1.0-torch-1"``.
    device : torch.device
    network : MusicnnNet
        The underlying module (eval mode).
    """

    def __init__(
        self, name: str, labels: list[str], version: str, network: MusicnnNet, device: torch.device
    ) -> None:
        self.name = name
        self.labels = tuple(labels)
        self.version = version
        self.network = network
        self.device = device

    def __repr__(self) -> str:
        return f"Musicnn(name={self.name!r}, version={self.version!r}, device={str(self.device)!r})"

    make_patches = staticmethod(make_patches)

    def extract(
        self,
        *,
        waveform: np.ndarray | None = None,
        logmel: np.ndarray | None = None,
        patches: np.ndarray | None = None,
    ) -> dict[str, np.ndarray]:
        """Tags and embeddings of each patch of one input (give exactly one).

        Parameters
        ----------
        waveform : np.ndarray [shape=(n,)], optional
            Mono audio at 16 kHz (at least 47,616 samples, ~2.98 s).
        logmel : np.ndarray [shape=(T, 96)], optional
            Output of :func:`log_mel` (``T >= 187``).
        patches : np.ndarray [shape=(P, 187, 96)], optional
            Output of :func:`make_patches`.

        Returns
        -------
        dict of str to np.ndarray (float32)
            ``taggram`` [P, 50] (sigmoid), ``logits`` [P, 50], ``penultimate`` [P, 200],
            ``max_pool`` [P, 753], ``mean_pool`` [P, 753].

        Raises
        ------
        TooShortError
            Less than one patch of audio.
        ParameterError
            Not exactly one input given, or a malformed input.
        """
        given = [value is not None for value in (waveform, logmel, patches)]
        if sum(given) != 1:
            raise ParameterError("give exactly one of waveform=, logmel=, patches=")
        if waveform is not None:
            if np.asarray(waveform).size < MIN_SAMPLES:
                raise TooShortError(
                    f"audio shorter than one musicnn patch ({MIN_SAMPLES / SR:.2f} s): "
                    f"got {np.asarray(waveform).size / SR:.2f} s"
                )
            logmel = log_mel(waveform, sr=SR)
        if logmel is not None:
            patches = make_patches(logmel)
        return self.extract_patches(patches)

    def extract_patches(
        self, patches: np.ndarray, *, batch_size: int = DEFAULT_BATCH_SIZE
    ) -> dict[str, np.ndarray]:
        """Run many patches (from one or many tracks) through the network at once.

        Parameters
        ----------
        patches : np.ndarray [shape=(P, 187, 96)]
            Log-mel patches; rows are independent.
        batch_size : int > 0
            Patches per forward call (bounds memory; results do not depend on it
            beyond float rounding).

        Returns
        -------
        dict of str to np.ndarray
            As :meth:`extract`, one row per patch.
        """
        patches = self._check_patches(patches)
        if not isinstance(batch_size, int) or batch_size < 1:
            raise ParameterError(f"batch_size must be a positive integer, got {batch_size!r}")
        outputs: dict[str, list[np.ndarray]] = {key: [] for key in OUTPUT_KEYS}
        with torch.inference_mode():
            for start in range(0, len(patches), batch_size):
                batch = torch.from_numpy(patches[start : start + batch_size]).to(self.device)
                result = self.network(batch)
                for key in OUTPUT_KEYS:
                    outputs[key].append(result[key].cpu().numpy())
        return {key: np.concatenate(values, axis=0) for key, values in outputs.items()}

    @staticmethod
    def _check_patches(patches: np.ndarray) -> np.ndarray:
        patches = np.asarray(patches)
        if patches.ndim != 3 or patches.shape[1:] != (N_FRAMES, N_MELS):
            raise ParameterError(
                f"patches must have shape [P, {N_FRAMES}, {N_MELS}], got {patches.shape}"
            )
        if len(patches) == 0:
            raise TooShortError("no patch to analyse (audio shorter than one musicnn patch)")
        if not np.issubdtype(patches.dtype, np.floating):
            raise ParameterError(f"patches must be floating point, got {patches.dtype}")
        patches = np.ascontiguousarray(patches, dtype=np.float32)
        if not np.isfinite(patches).all():
            raise ParameterError("patches hold non-finite values")
        return patches


def read_sidecar(name: str, weights_dir: Path) -> dict:
    """The JSON sidecar of ``name`` (labels, version, checksums), validated."""
    path = weights_dir / f"{name}.json"
    try:
        sidecar = json.loads(path.read_text())
    except (OSError, ValueError) as error:
        raise ModelError(f"cannot read the musicnn sidecar {path}: {error}") from error
    labels = sidecar.get("labels")
    if sidecar.get("name") != name or not isinstance(labels, list) or len(labels) != N_TAGS:
        raise ModelError(
            f"the musicnn sidecar {path} does not describe {name} with {N_TAGS} labels"
        )
    if not isinstance(sidecar.get("safetensors_sha256"), str):
        raise ModelError(f"the musicnn sidecar {path} has no safetensors_sha256")
    return sidecar


def _load_network(path: Path, expected_sha256: str) -> MusicnnNet:
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    try:
        actual = _sha256(path)
    except OSError as error:
        raise ModelError(f"cannot read the musicnn weights {path}: {error}") from error
    if actual != expected_sha256:
        raise ModelError(
            f"musicnn weights {path.name} are damaged or replaced: sha256 {actual[:12]}... "
            f"differs from the sidecar's {expected_sha256[:12]}...; reinstall the package"
        )
    network = MusicnnNet()
    try:
        network.load_state_dict(load_file(str(path)), strict=True)
    except (SafetensorError, RuntimeError, OSError) as error:
        raise ModelError(f"musicnn weights {path.name} do not fit the network: {error}") from error
    return network.eval().requires_grad_(False)  # inference only


@lru_cache(maxsize=8)
def _load_cached(name: str, device: str, weights_dir: str) -> Musicnn:
    directory = Path(weights_dir)
    sidecar = read_sidecar(name, directory)
    network = _load_network(directory / f"{name}.safetensors", sidecar["safetensors_sha256"])
    torch_device = torch.device(device)
    network = network.to(torch_device)
    return Musicnn(name, sidecar["labels"], sidecar["version"], network, torch_device)


def load_musicnn(
    name: str = "MSD_musicnn",
    *,
    device: str | torch.device = "cpu",
    weights_dir: str | Path | None = None,
) -> Musicnn:
    """Load a musicnn model from the shipped weights (cached: repeated calls are free).

    Parameters
    ----------
    name : {"MSD_musicnn", "MTT_musicnn"}
        MSD: trained on the Million Song Dataset (genre/era/mood tags);
        MTT: trained on MagnaTagATune (instrument/mood tags).
    device : str or torch.device
        Where to run the network (``"cpu"``, ``"cuda"``...).
    weights_dir : path, optional
        A folder holding ``<name>.safetensors`` and ``<name>.json``; defaults to the
        weights shipped with the package.

    Returns
    -------
    Musicnn

    Raises
    ------
    ParameterError
        Unknown model name.
    ModelError
        Missing, damaged (sha256 mismatch) or incompatible weights.
    """
    if name not in MODEL_NAMES:
        raise ParameterError(f"unknown musicnn model {name!r}; choose one of {MODEL_NAMES}")
    directory = Path(weights_dir) if weights_dir is not None else WEIGHTS_DIR
    return _load_cached(name, str(torch.device(device)), str(directory.resolve()))
