"""The work done away from the database: hashing files, and decoding + classifying them.

These functions run in worker processes (a local pool or Dask workers) or, for
``jobs=0``, in the calling process. They never touch the database: the calling process
decides what needs doing from what is stored, and records what comes back. Each call
takes a batch of files (tens per Dask task, a few per local job) and never raises for a
bad file or a failing model: the error comes back in that file's result.

This module must not import torch (a forkserver preloads it); the classifier loads it
in each worker, once.
"""

from __future__ import annotations

import logging
import os
import pickle
import resource
import signal
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from music_reclass.errors import AudioError, ReclassError

__all__ = ["AnalyseJob", "Analysed", "Hashed", "analyse_files", "hash_files", "init_worker",
           "one_line", "worker_classifier"]


@dataclass(frozen=True)
class AnalyseJob:
    """A file to decode and classify (its content hash is already known)."""

    path: str
    content_hash: str
    size: int | None
    mtime_ns: int | None
    inode: int | None


@dataclass
class Hashed:
    """A file's content hash and stat, or why it could not be read."""

    path: str
    content_hash: str | None = None
    size: int | None = None
    mtime_ns: int | None = None
    inode: int | None = None
    error_code: str | None = None
    error: str | None = None
    seconds: float = 0.0


@dataclass
class Analysed:
    """What a worker hands back for one file: a prediction or an error."""

    job: AnalyseJob
    prediction: Any = None
    track: dict[str, Any] | None = None
    error_code: str | None = None
    error: str | None = None
    decode_seconds: float = 0.0
    inference_seconds: float = 0.0
    cpu_seconds: float = 0.0  # the worker's CPU time on this batch, shared by its files
    peak_rss_kb: int = 0  # the worker's peak resident memory so far
    worker_pid: int = 0


def one_line(text: object, limit: int = 300) -> str:
    """A message on one line, at most ``limit`` characters."""
    return " ".join(str(text).split())[:limit]


# ----------------------------------------------------------------------------- worker state

_classifier: Any = None
_load_error: str | None = None


def init_worker(lifeline: Any, classifier_blob: bytes, model_id: str) -> None:
    """Runs once in each local worker: die with the parent, ignore Ctrl-C, load the model.

    ``lifeline`` is the read end of a pipe whose only write end is held by the calling
    process: EOF on it means that process is gone (even killed with SIGKILL), and the
    worker exits rather than linger. A classifier that fails to load, or loads as
    another model than the caller's, makes every file a ``model-error``.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    logging.getLogger("music_reclass.audio.tags").setLevel(logging.ERROR)

    def watch_parent() -> None:
        try:
            while True:
                lifeline.recv()
        except (EOFError, OSError):
            os._exit(0)

    threading.Thread(target=watch_parent, daemon=True).start()
    load_classifier_blob(classifier_blob, model_id)


def load_classifier_blob(classifier_blob: bytes, model_id: str) -> None:
    """Unpickle and load the worker's classifier once (errors are kept, not raised)."""
    global _classifier, _load_error
    try:
        classifier = pickle.loads(classifier_blob)
        if str(classifier.model_id) != model_id:
            raise ReclassError(f"the model changed on disk: {classifier.model_id} is not {model_id}")
        classifier.ensure_loaded()
        one_thread_each()
        _classifier = classifier
    except Exception as exc:  # noqa: BLE001 - reported on every file, not a dead pool
        _load_error = one_line(f"cannot load the model in a worker: {exc}")


def worker_classifier() -> Any:
    """The classifier this worker loaded (None when loading failed)."""
    return _classifier


def one_thread_each() -> None:
    """One compute thread per worker: the workers themselves fill the cores.

    torch may be imported only later (a trained model's feature extractor loads it on
    its first file) and reads its default thread count at import: the environment
    variables cover that case. Two threads per worker on a loaded machine were seen
    to run 5-7x slower than one.
    """
    for variable in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[variable] = "1"
    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(1)
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - scikit-learn brings it
        return
    threadpool_limits(1)


# ----------------------------------------------------------------------------- hashing


def hash_files(paths: Sequence[str]) -> list[Hashed]:
    """Content hash and stat of each file (never raises for one file)."""
    from music_reclass.audio.hashing import content_hash

    out = []
    for path in paths:
        result = Hashed(path)
        start = time.perf_counter()
        try:
            before = os.stat(path)
            result.content_hash = content_hash(path)
            result.size, result.mtime_ns = before.st_size, before.st_mtime_ns
            result.inode = before.st_ino
        except ReclassError as exc:
            result.error_code, result.error = exc.code, one_line(exc) or exc.code
        except OSError as exc:
            result.error_code, result.error = "unreadable", one_line(exc.strerror or exc)
        result.seconds = time.perf_counter() - start
        out.append(result)
    return out


# ----------------------------------------------------------------------------- analysing


def analyse_files(jobs: Sequence[AnalyseJob], classifier: Any = None) -> list[Analysed]:
    """Decode and classify a batch of files with ``classifier`` (default: the worker's).

    Excerpts of the whole batch go through one ``predict_batch`` call (one forward pass
    per network for tens of tracks on a Dask worker); a model that reads files itself
    gets them one by one.
    """
    classifier = classifier if classifier is not None else _classifier
    cpu_start = time.process_time()
    results = [Analysed(job, worker_pid=os.getpid()) for job in jobs]
    if classifier is None:
        for result in results:
            result.error_code = "model-error"
            result.error = _load_error or "no model in this worker"
    elif classifier.input.mode == "file":
        for result in results:
            _guard(result, lambda result=result: _predict_file(result, classifier))
    else:
        _predict_excerpts(results, classifier)
    cpu = (time.process_time() - cpu_start) / max(1, len(results))
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    for result in results:
        result.cpu_seconds, result.peak_rss_kb = cpu, peak
    return results


def _guard(result: Analysed, work: Callable[[], None]) -> None:
    """Run ``work`` for one file; any failure becomes that file's error."""
    try:
        work()
    except ReclassError as exc:
        result.error_code, result.error = exc.code, one_line(exc) or exc.code
    except OSError as exc:
        result.error_code, result.error = "unreadable", one_line(exc.strerror or exc)
    except Exception as exc:  # noqa: BLE001 - one bad file must never stop a run
        result.error_code, result.error = "error", one_line(f"{type(exc).__name__}: {exc}")


def _predict_file(result: Analysed, classifier: Any) -> None:
    """A model that reads files itself (its feature extractor's own way)."""
    from music_reclass.audio.decode import audio_info

    start = time.perf_counter()
    result.track = _track(audio_info(result.job.path), result.job.path)
    result.decode_seconds = time.perf_counter() - start  # headers and tags; decoding is in inference
    _predict(result, lambda: classifier.predict_file(result.job.path))


def _predict_excerpts(results: list[Analysed], classifier: Any) -> None:
    """Decode each file's excerpt as the model asks, then one ``predict_batch`` call."""
    from music_reclass.audio.excerpt import load_excerpt

    decoded: list[tuple[Analysed, np.ndarray]] = []
    for result in results:
        start = time.perf_counter()

        def decode(result: Analysed = result) -> None:
            excerpt = load_excerpt(result.job.path, classifier.input)
            result.track = _track(excerpt.info, result.job.path,
                                  decoded_duration=excerpt.decoded_duration)
            decoded.append((result, np.ascontiguousarray(excerpt.waveform, dtype=np.float32)))

        _guard(result, decode)
        result.decode_seconds = time.perf_counter() - start
    if not decoded:
        return
    start = time.perf_counter()
    try:
        predictions = classifier.predict_batch([waveform for _, waveform in decoded])
    except Exception:  # noqa: BLE001 - find the file that fails: one by one
        for result, waveform in decoded:
            _predict(result, lambda waveform=waveform: classifier.predict_batch([waveform])[0])
        return
    share = (time.perf_counter() - start) / len(decoded)
    for (result, _), prediction in zip(decoded, predictions, strict=True):
        result.prediction, result.inference_seconds = prediction, share


def _predict(result: Analysed, predict: Callable[[], Any]) -> None:
    """Run the model; its failures are this file's error (audio ones are the content's)."""
    start = time.perf_counter()
    try:
        result.prediction = predict()
    except AudioError as exc:
        result.error_code, result.error = exc.code, one_line(exc) or exc.code
    except Exception as exc:  # noqa: BLE001 - a model failure is recorded as this file's
        code = getattr(exc, "code", "model-error")
        result.error_code = "model-error" if code == "error" else code
        result.error = one_line(exc) or f"{type(exc).__name__} in the model"
    finally:
        result.inference_seconds = time.perf_counter() - start


def _track(info: Any, path: str, *, decoded_duration: float | None = None) -> dict[str, Any]:
    """The ``tracks`` columns of a file; its duration as decoded where a read reached the
    end of the audio (a header may lie: 432 hours claimed for 7 s), else the header's."""
    from music_reclass.audio.tags import read_tags

    duration = float(decoded_duration if decoded_duration is not None else info.duration)
    tags = read_tags(path)
    return {
        "duration": duration if np.isfinite(duration) else None,
        "sample_rate": int(info.sample_rate),
        "channels": int(info.channels),
        "codec": info.codec,
        "title": tags.title,
        "artist": tags.artist,
        "album": tags.album,
        "genre_tags": list(tags.genres),
    }
