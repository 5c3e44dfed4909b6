"""Pool shapes for a classify run, measured outside the real runner (bench_speed.py).

The runner (``runner/classify.py`` with ``runner/pool.py``) gives each worker
process one whole file at a time. This module runs the same per-file work, hash,
excerpt decode and both networks through the embedded classifier, under other pool
shapes, so the runner's author can pick one from figures:

- ``procs``: N worker processes, one torch thread each, ``files_per_task`` files per
  task (1 = today's runner; more = one forward pass over several tracks' patches);
- ``threads``: one process, N Python threads sharing one model copy, one torch
  thread each (torch and most of NumPy release the GIL; the Python frame loop of the
  decoder does not).

No database is involved (that is the runner's own, small, cost): each variant returns
its wall time from the first task submitted to the last result, the same without the
start-up (wall from the first result on, scaled to all files), the workers' start-up
time and their peak memory.
"""

from __future__ import annotations

import multiprocessing
import os
import resource
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field, replace
from typing import Any

_classifier: Any = None
_ready_at = 0.0  # time.time() when this worker had its model loaded
_policy: Any = None


@dataclass
class PoolResult:
    """What one pool shape achieved on a list of files."""

    name: str
    files: int
    wall_s: float
    steady_wall_s: float  # from the moment every worker had its model to the last result
    startup_s: float  # pool creation to the moment every worker had its model
    worker_peak_rss_mb: list[float] = field(default_factory=list)
    labels: list[str] = field(default_factory=list)


def _load(torch_threads: int, n_segments: int | None = None) -> None:
    """Build the embedded classifier and load both networks (once per worker)."""
    global _classifier, _ready_at, _policy
    for variable in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[variable] = str(torch_threads)
    import torch

    torch.set_num_threads(torch_threads)
    from music_reclass.models.musicnn import MUSICNN_INPUT
    from music_reclass.pipeline import load_classifier

    base = MUSICNN_INPUT.policy
    _policy = replace(base, n_segments=n_segments) if n_segments else base
    _classifier = load_classifier(top_k=None)
    _classifier.ensure_loaded()
    _ready_at = time.time()


def classify_files(paths: Sequence[str]) -> tuple[list[str], float, float]:
    """Hash, decode and classify ``paths`` with one forward pass over all their patches.

    Returns the top genre of each file, when this worker had its model loaded
    (``time.time()``) and the worker's peak RSS (MB).
    """
    from music_reclass.audio.excerpt import AudioInput, load_excerpt
    from music_reclass.audio.hashing import content_hash

    waveforms = []
    for path in paths:
        content_hash(path)
        waveforms.append(load_excerpt(path, AudioInput(16000, _policy)).waveform)
    predictions = _classifier.predict_batch(waveforms)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return [p.genres[0][0] for p in predictions], _ready_at, rss


def _chunks(paths: Sequence[str], size: int) -> list[list[str]]:
    return [list(paths[i : i + size]) for i in range(0, len(paths), size)]


def _drain(futures: list, started: float, n_files: int, name: str) -> PoolResult:
    """Collect results; ``started`` is the ``time.time()`` of the pool's creation."""
    labels: list[str] = []
    ready, peaks = [], []
    for future in as_completed(futures):
        task_labels, ready_at, rss = future.result()
        labels += task_labels
        ready.append(ready_at)
        peaks.append(round(rss, 1))
    finished = time.time()
    all_ready = max(ready)  # the last worker to load its model
    return PoolResult(name, n_files, finished - started, finished - all_ready,
                      all_ready - started, sorted(set(peaks)), sorted(labels))


def run_procs(paths: Sequence[str], *, workers: int, files_per_task: int,
              n_segments: int | None = None) -> PoolResult:
    """``workers`` processes (forkserver, as the runner), one torch thread each."""
    context = multiprocessing.get_context("forkserver")
    started = time.time()
    with ProcessPoolExecutor(workers, mp_context=context, initializer=_load,
                             initargs=(1, n_segments)) as pool:
        futures = [pool.submit(classify_files, chunk)
                   for chunk in _chunks(paths, files_per_task)]
        name = f"procs{workers}x{files_per_task}file" + (f"-{n_segments}seg" if n_segments else "")
        return _drain(futures, started, len(paths), name)


def run_threads(paths: Sequence[str], *, threads: int, files_per_task: int = 1) -> PoolResult:
    """One process (this one), ``threads`` Python threads, one torch thread each."""
    started = time.time()
    _load(1)
    with ThreadPoolExecutor(threads) as pool:
        futures = [pool.submit(classify_files, chunk)
                   for chunk in _chunks(paths, files_per_task)]
        return _drain(futures, started, len(paths), f"threads{threads}")
