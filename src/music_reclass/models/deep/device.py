"""Where training runs: device choice, mixed precision, and a batch size that adapts.

On CUDA the batch size starts small and doubles while a training step leaves less
than ``target_fraction`` of the device memory in use (peak allocated memory), up to
``max_batch``; any out-of-memory error during training halves it and the batch is
tried again, so a run never dies of it (it gives up only below one example). On CPU
and MPS, whose memory is shared with the system, the batch size is fixed (default 32)
and still halves on an allocation failure.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import torch

from music_reclass.errors import ParameterError

__all__ = ["BatchSizer", "autocast", "choose_device", "is_out_of_memory"]


def choose_device(device: str | None = "auto") -> torch.device:
    """``"auto"``: CUDA if available, then MPS, then CPU; or the device named.

    Raises
    ------
    ParameterError
        A device that is not available here.
    """
    name = (device or "auto").lower()
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ParameterError("device cuda requested but no CUDA GPU is available")
    if name == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise ParameterError("device mps requested but Apple's MPS backend is not available")
    try:
        return torch.device(name)
    except RuntimeError as exc:
        raise ParameterError(f"unknown device {device!r}: use auto, cuda, mps or cpu") from exc


def amp_dtype(device: torch.device) -> torch.dtype | None:
    """Mixed-precision type on GPUs (bfloat16 where supported, else float16); None on CPU."""
    if device.type == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return None


@contextlib.contextmanager
def autocast(device: torch.device, enabled: bool = True) -> Iterator[None]:
    """``torch.autocast`` on CUDA when ``enabled``; nothing elsewhere."""
    dtype = amp_dtype(device) if enabled else None
    if dtype is None:
        yield
        return
    with torch.autocast(device_type=device.type, dtype=dtype):
        yield


def is_out_of_memory(error: BaseException) -> bool:
    """True for CUDA/MPS/CPU allocation failures."""
    if isinstance(error, torch.OutOfMemoryError):
        return True
    text = str(error).lower()
    return isinstance(error, RuntimeError) and ("out of memory" in text
                                                or "failed to allocate" in text)


def _free_cache(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.empty_cache()
    elif device.type == "mps" and hasattr(torch, "mps"):
        torch.mps.empty_cache()


@dataclass
class BatchSizer:
    """The current batch size and how it changed.

    Attributes
    ----------
    size : int
    history : list of str
        One line per change (printed by the trainer, stored in the sidecar).
    """

    device: torch.device
    size: int = 32
    max_batch: int = 256
    target_fraction: float = 0.85
    history: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.size < 1 or self.max_batch < 1:
            raise ParameterError("batch sizes must be >= 1")
        if not 0.1 <= self.target_fraction <= 0.98:
            raise ParameterError("target_fraction must be in [0.1, 0.98]")

    def grow(self, try_step: Callable[[int], None]) -> int:
        """On CUDA, double the size while a step at that size stays under the target.

        ``try_step(n)`` runs one forward/backward pass on ``n`` examples (and discards
        it). Returns the size to train with.
        """
        if self.device.type != "cuda":
            return self.size
        total = torch.cuda.get_device_properties(self.device).total_memory
        size = self.size
        while size * 2 <= self.max_batch:
            torch.cuda.reset_peak_memory_stats(self.device)
            try:
                try_step(size * 2)
            except Exception as error:  # noqa: BLE001 - only OOM is expected here
                if not is_out_of_memory(error):
                    raise
                _free_cache(self.device)
                self.history.append(f"probe: {size * 2} ran out of memory, keeping {size}")
                break
            peak = torch.cuda.max_memory_allocated(self.device) / total
            if peak > self.target_fraction:
                self.history.append(f"probe: {size * 2} uses {peak:.0%} of memory, keeping {size}")
                break
            size *= 2
            self.history.append(f"probe: {size} uses {peak:.0%} of memory")
        self.size = size
        return size

    def run(self, step: Callable[[int, int], object], n_items: int) -> list[object]:
        """Run ``step(start, stop)`` over ``n_items`` in batches, halving on OOM.

        ``step`` receives the slice bounds and must be safe to retry (nothing is
        applied before it returns). Returns the steps' results in order.
        """
        results: list[object] = []
        start = 0
        while start < n_items:
            stop = min(n_items, start + self.size)
            try:
                results.append(step(start, stop))
            except Exception as error:  # noqa: BLE001 - only OOM is handled
                if not is_out_of_memory(error):
                    raise
                _free_cache(self.device)
                if self.size == 1:
                    raise
                self.size = max(1, self.size // 2)
                self.history.append(f"out of memory at batch {stop - start}: now {self.size}")
                continue
            start = stop
        return results
