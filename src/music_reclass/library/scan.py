"""A classify run: find audio, hash, decode, classify, record, resume.

Work is split over the cores: each worker process (a ``forkserver`` context whose
server preloads only this module, so no worker inherits a forked torch) gets the
classifier once, when it starts, and then does a whole file: hash, decode the
excerpt (or, for a trained model, read the audio its own feature extractor's way),
log-mel, networks. The main process only walks the folders, answers what the
database already knows (unchanged, renamed and copied files) and writes each file's
outcome. A bounded number of files is in flight, so memory stays flat whatever their
number. (Measured on 2 cores: one torch thread per process beats two threads in one
process, and batching tracks in a forward pass gains about 2%, so a worker classifies
one track at a time.)

Resumption comes from the database, not from a checkpoint: each file's outcome is
committed in one transaction (:func:`music_reclass.library.store.record_file`), and a
content whose ``(content_hash, model_id)`` analysis exists is not analysed again,
whatever its path (renamed, moved and copied files are "cached"). A file whose path,
size and mtime match its ``files`` row reuses the stored hash without reading it.

This module must not import torch (the forkserver preloads it); workers import it
when they build their classifier.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import pickle
import resource
import signal
import sqlite3
import sys
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from music_reclass.audio.discover import Candidate, iter_candidates
from music_reclass.errors import AudioError, ParameterError, ReclassError
from music_reclass.library import db as libdb
from music_reclass.library import store

__all__ = [
    "FileResult",
    "ScanSummary",
    "classify_paths",
    "count_files",
    "default_jobs",
]

#: Codes of failures that belong to the content itself: they get an ``analyses`` row
#: with status error, so the content is not retried on every run (unless --force or
#: a new model). Unreadable files (permissions...) are retried: that can change.
CONTENT_ERROR_CODES = frozenset({"corrupt", "too-short", "silent", "unsupported"})

SR = 16000


# ----------------------------------------------------------------------------- results


@dataclass
class FileResult:
    """The outcome of one file in a run (what ``--json`` prints).

    ``status`` is ``"ok"``, ``"error"`` or ``"skipped"`` (the same content met twice
    in this run, or the same path given twice); ``cached`` means the outcome came
    from the database without analysing.
    """

    path: str
    status: str
    model_id: str
    genres: list[dict[str, Any]] = field(default_factory=list)
    tags: list[dict[str, Any]] = field(default_factory=list)
    error: str | None = None
    error_code: str | None = None
    cached: bool = False
    content_hash: str | None = None
    duration: float | None = None
    duplicate_of: str | None = None

    def as_json(self, *, top_k: int = 3, top_tags: int = 5) -> dict[str, Any]:
        """The JSON Lines object of this file (genres and tags best first)."""
        record: dict[str, Any] = {
            "path": self.path,
            "status": self.status,
            "genres": self.genres[:top_k] if self.status != "error" else [],
            "error": self.error,
            "error_code": self.error_code,
            "cached": self.cached,
            "content_hash": self.content_hash,
            "duration": None if self.duration is None else round(self.duration, 3),
            "model_id": self.model_id,
            "tags": self.tags[:top_tags] if self.status != "error" else [],
        }
        if self.duplicate_of is not None:
            record["duplicate_of"] = self.duplicate_of
        return record


@dataclass
class ScanSummary:
    """Counts and timings of one run."""

    run_id: int
    status: str = "running"
    ok: int = 0
    cached: int = 0
    failed: int = 0
    ignored: int = 0
    skipped: int = 0
    audio_seconds: float = 0.0  # duration of every ok file (cached included)
    analysed_audio_seconds: float = 0.0  # duration of the files analysed in this run
    elapsed: float = 0.0
    failures: list[tuple[str, str]] = field(default_factory=list)
    stages: dict[str, float] = field(default_factory=dict)
    cpu: dict[str, float] = field(default_factory=dict)
    peak_rss_mb: dict[str, float] = field(default_factory=dict)

    @property
    def files(self) -> int:
        return self.ok + self.failed + self.skipped

    @property
    def realtime_factor(self) -> float:
        """Seconds of audio analysed in this run per second of wall time."""
        return self.analysed_audio_seconds / self.elapsed if self.elapsed > 0 else 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "status": self.status,
            "ok": self.ok,
            "cached": self.cached,
            "failed": self.failed,
            "ignored": self.ignored,
            "skipped": self.skipped,
            "audio_seconds": round(self.audio_seconds, 3),
            "analysed_audio_seconds": round(self.analysed_audio_seconds, 3),
            "elapsed": round(self.elapsed, 3),
            "realtime_factor": round(self.realtime_factor, 2),
            "stages": {k: round(v, 3) for k, v in self.stages.items()},
            "cpu": {k: round(v, 3) for k, v in self.cpu.items()},
            "peak_rss_mb": {k: round(v, 1) for k, v in self.peak_rss_mb.items()},
        }


# ----------------------------------------------------------------------------- worker side


@dataclass
class _Job:
    path: str
    known_hash: str | None
    size: int | None
    mtime_ns: int | None
    db_path: str | None
    model_id: str
    force: bool


@dataclass
class _Analysed:
    """What a worker hands back: a prediction, a cached verdict or an error."""

    path: str
    content_hash: str | None = None
    size: int | None = None
    mtime_ns: int | None = None
    cached: bool = False
    prediction: Any = None
    track: dict[str, Any] | None = None
    error_code: str | None = None
    error: str | None = None
    hash_seconds: float = 0.0
    decode_seconds: float = 0.0
    inference_seconds: float = 0.0
    cpu_seconds: float = 0.0  # the worker's CPU time on this job (forkserver children are not ours to reap)
    peak_rss_kb: int = 0  # the worker's peak resident memory so far
    worker_pid: int = 0


_worker_db: sqlite3.Connection | None = None
_worker_db_path: str | None = None
_worker_classifier: Any = None
_worker_load_error: str | None = None


def _worker_init(lifeline: Any, classifier_blob: bytes, model_id: str) -> None:
    """Runs once in each worker: die with the parent, ignore Ctrl-C, load the classifier.

    ``lifeline`` is the read end of a pipe whose only write end is held by the main
    process: EOF on it means the main process is gone (even killed with SIGKILL, and
    even while it is an unreaped zombie), and the worker exits rather than linger.
    ``classifier_blob`` is the pickled classifier (shipped networks are not in it:
    the worker loads them here, once); a classifier that fails to load, or loads as
    another model than the main process's, makes every job a ``model-error``.
    """
    global _worker_classifier, _worker_load_error
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    logging.getLogger("music_reclass.library.tags").setLevel(logging.ERROR)

    def watch_parent() -> None:
        try:
            while True:
                lifeline.recv()
        except (EOFError, OSError):
            os._exit(0)

    threading.Thread(target=watch_parent, daemon=True).start()
    try:
        classifier = pickle.loads(classifier_blob)
        if str(classifier.model_id) != model_id:
            raise ReclassError(f"the model changed on disk: {classifier.model_id} is not {model_id}")
        ensure_loaded = getattr(classifier, "ensure_loaded", None)
        if ensure_loaded is not None:
            ensure_loaded()
        _one_thread_each()
        _worker_classifier = classifier
    except Exception as exc:  # noqa: BLE001 - reported on every file, not a dead pool
        _worker_load_error = _one_line(f"cannot load the model in a worker: {exc}")


def _one_thread_each() -> None:
    """One compute thread per worker: the workers themselves fill the cores.

    torch may be imported only later (a trained model's feature extractor loads it on
    its first file), and reads its default thread count at import: the environment
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


def _has_analysis(db_path: str | None, content_hash: str, model_id: str) -> bool:
    global _worker_db, _worker_db_path
    if db_path is None:
        return False
    if _worker_db is None or _worker_db_path != db_path:
        _worker_db = sqlite3.connect(db_path, timeout=30.0)
        _worker_db.execute("PRAGMA busy_timeout=30000")
        _worker_db_path = db_path
    row = _worker_db.execute(
        "SELECT 1 FROM analyses WHERE content_hash = ? AND model_id = ?", (content_hash, model_id)
    ).fetchone()
    return row is not None


def analyse_file(job: _Job, classifier: Any = None) -> _Analysed:
    """Hash a file and, unless its analysis is already stored, classify it.

    Runs in a worker process (with the worker's classifier) or, for ``jobs=0``, in
    the main process with ``classifier``. Never raises for a bad file or a failing
    model: the error is returned.
    """
    out = _Analysed(path=job.path, size=job.size, mtime_ns=job.mtime_ns, worker_pid=os.getpid())
    cpu_start = time.process_time()
    try:
        if classifier is None and _worker_classifier is None:
            out.error_code = "model-error"
            out.error = _worker_load_error or "no model in this worker"
        else:
            _analyse(job, out, classifier if classifier is not None else _worker_classifier)
    finally:
        out.cpu_seconds = time.process_time() - cpu_start
        out.peak_rss_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return out


def _analyse(job: _Job, out: _Analysed, classifier: Any) -> None:
    from music_reclass.audio.hashing import content_hash

    try:
        start = time.perf_counter()
        if job.known_hash is None:
            before = os.stat(job.path)
            out.content_hash = content_hash(job.path)
            out.size, out.mtime_ns = before.st_size, before.st_mtime_ns
        else:
            out.content_hash = job.known_hash
        out.hash_seconds = time.perf_counter() - start
        if not job.force and _has_analysis(job.db_path, out.content_hash, job.model_id):
            out.cached = True
            return
        if getattr(classifier, "audio_input", "excerpt") == "file":
            _predict_from_file(job.path, out, classifier)
        else:
            _predict_from_excerpt(job.path, out, classifier)
    except ReclassError as exc:
        out.error_code, out.error = exc.code, _one_line(str(exc)) or exc.code
    except OSError as exc:
        out.error_code, out.error = "unreadable", _one_line(exc.strerror or str(exc))
    except Exception as exc:  # noqa: BLE001 - one bad file must never stop a run
        out.error_code, out.error = "error", _one_line(f"{type(exc).__name__}: {exc}")


def _predict_from_excerpt(path: str, out: _Analysed, classifier: Any) -> None:
    """The zero-shot way: a bounded 16 kHz excerpt, then ``predict_batch``."""
    from music_reclass.audio.excerpt import load_excerpt

    start = time.perf_counter()
    excerpt = load_excerpt(path, sr=SR)
    out.track = _track(excerpt.info, path)
    out.decode_seconds = time.perf_counter() - start
    waveform = np.ascontiguousarray(excerpt.waveform, dtype=np.float32)
    _predict(out, lambda: classifier.predict_batch([waveform])[0])


def _predict_from_file(path: str, out: _Analysed, classifier: Any) -> None:
    """A trained model: its feature extractor reads the file the way it read its training audio."""
    from music_reclass.audio.decode import audio_info

    start = time.perf_counter()
    out.track = _track(audio_info(path), path)
    out.decode_seconds = time.perf_counter() - start  # headers and tags; decoding is in inference
    _predict(out, lambda: classifier.predict_file(path))


def _predict(out: _Analysed, predict: Callable[[], Any]) -> None:
    """Run the model; its failures are this file's error (audio ones are the content's)."""
    start = time.perf_counter()
    try:
        out.prediction = predict()
    except AudioError as exc:
        out.error_code, out.error = exc.code, _one_line(str(exc)) or exc.code
    except Exception as exc:  # noqa: BLE001 - a model failure is recorded as this file's
        code = getattr(exc, "code", "model-error")
        out.error_code = "model-error" if code == "error" else code
        out.error = _one_line(str(exc)) or f"{type(exc).__name__} in the model"
    finally:
        out.inference_seconds = time.perf_counter() - start


def _track(info: Any, path: str) -> dict[str, Any]:
    duration = float(info.duration)
    return {
        "duration": duration if np.isfinite(duration) else None,
        "sample_rate": int(info.sample_rate),
        "channels": int(info.channels),
        "codec": info.codec,
        **_existing_tags(path),
    }


def _existing_tags(path: str) -> dict[str, Any]:
    """Title, artist, album and genre tags already in the file (never raises)."""
    from music_reclass.library.tags import read_tags

    tags = read_tags(path)
    return {"title": tags.title, "artist": tags.artist, "album": tags.album,
            "genre_tags": list(tags.genres)}


def _one_line(text: str) -> str:
    return " ".join(str(text).split())[:300]


# ----------------------------------------------------------------------------- main side


def default_jobs() -> int:
    """Worker processes by default: one per core (each runs one compute thread)."""
    return max(1, os.cpu_count() or 1)


def count_files(paths: Iterable[str | os.PathLike]) -> int:
    """Number of files under ``paths`` (cheap: no content is read); for progress ETAs."""
    total = 0
    for given in paths:
        given = Path(given)
        if given.is_dir():
            for _root, _dirs, files in os.walk(given, followlinks=False):
                total += len(files)
        else:
            total += 1
    return total


def _error_code_of(candidate: Candidate) -> str:
    reason = candidate.reason or ""
    if reason.startswith("not audio"):
        return "unsupported"
    if reason == "empty file":
        return "corrupt"
    return "unreadable"


def _db_path(conn: sqlite3.Connection) -> str | None:
    for row in conn.execute("PRAGMA database_list"):
        if row[1] == "main":
            return row[2] or None
    return None


def _executor(jobs: int, classifier: Any) -> ProcessPoolExecutor:
    """A pool of ``jobs`` workers, each holding its own copy of ``classifier``.

    Raises
    ------
    ParameterError
        The classifier cannot be sent to another process (not picklable).
    """
    try:
        blob = pickle.dumps(classifier, protocol=pickle.HIGHEST_PROTOCOL)
    except Exception as exc:  # noqa: BLE001 - pickling raises many types
        raise ParameterError(
            f"the classifier cannot be sent to worker processes ({exc}); use jobs=0"
        ) from exc
    # forkserver (never fork after torch is imported: its thread pools do not survive
    # a fork); the server preloads only this module, so workers start torch-free
    method = "forkserver" if "forkserver" in multiprocessing.get_all_start_methods() else "spawn"
    context = multiprocessing.get_context(method)
    if method == "forkserver":
        context.set_forkserver_preload(["music_reclass.library.scan"])
    lifeline, keep_alive = context.Pipe(duplex=False)
    executor = ProcessPoolExecutor(
        max_workers=jobs, mp_context=context, initializer=_worker_init,
        initargs=(lifeline, blob, str(classifier.model_id)),
    )
    executor._reclass_keep_alive = keep_alive  # type: ignore[attr-defined] # the write end lives as long as the pool
    return executor


class _Run:
    """State of one classify run in the main process."""

    def __init__(
        self,
        conn: sqlite3.Connection,
        classifier: Any,
        summary: ScanSummary,
        *,
        force: bool,
        batch_size: int,
        on_result: Callable[[FileResult], None] | None,
    ) -> None:
        self.conn = conn
        self.classifier = classifier
        self.model_id = str(classifier.model_id)
        self.summary = summary
        self.force = force
        self.batch_size = batch_size
        self.on_result = on_result
        self.seen_paths: set[str] = set()
        self.analysed: dict[str, FileResult] = {}  # content hash -> first result this run
        self.stages = dict.fromkeys(("hash", "decode", "inference", "db"), 0.0)
        self.worker_cpu = 0.0
        self.worker_peak_rss_kb: dict[int, int] = {}  # worker pid -> its peak RSS
        self.db_path = _db_path(conn)

    # -- reporting

    def emit(self, result: FileResult) -> None:
        summary = self.summary
        if result.status == "ok":
            summary.ok += 1
            summary.cached += result.cached
            summary.audio_seconds += result.duration or 0.0
        elif result.status == "skipped":
            summary.skipped += 1
        else:
            summary.failed += 1
            summary.failures.append((result.path, result.error or result.error_code or "error"))
        if self.on_result is not None:
            self.on_result(result)

    def record(self, outcome: store.StoredOutcome, **analysis: Any) -> None:
        start = time.perf_counter()
        store.record_file(self.conn, outcome, run_id=self.summary.run_id, **analysis)
        self.stages["db"] += time.perf_counter() - start

    # -- files met while walking

    def error_candidate(self, candidate: Candidate) -> None:
        path = os.path.abspath(candidate.path)
        code = _error_code_of(candidate)
        reason = candidate.reason or code
        self.record(store.StoredOutcome(path, "error", error_code=code, error=reason))
        self.emit(FileResult(path, "error", self.model_id, error=reason, error_code=code))

    def audio_candidate(self, candidate: Candidate) -> _Job | None:
        """Handle what can be answered from the DB; return the job a worker must do."""
        path = str(Path(candidate.path).resolve())
        if path in self.seen_paths:
            self.emit(FileResult(path, "skipped", self.model_id, duplicate_of=path))
            return None
        self.seen_paths.add(path)
        try:
            info = os.stat(path)
        except OSError as exc:
            reason = _one_line(exc.strerror or str(exc))
            self.record(store.StoredOutcome(path, "error", error_code="unreadable", error=reason))
            self.emit(FileResult(path, "error", self.model_id, error=reason,
                                 error_code="unreadable"))
            return None
        row = store.lookup_file(self.conn, path)
        known = (
            row.content_hash
            if row is not None and row.size == info.st_size and row.mtime_ns == info.st_mtime_ns
            else None
        )
        if known is not None:
            if known in self.analysed:
                self.duplicate(path, known, info.st_size, info.st_mtime_ns)
                return None
            if not self.force and self.cached(path, known, info.st_size, info.st_mtime_ns):
                return None
        return _Job(path, known, info.st_size, info.st_mtime_ns, self.db_path,
                    self.model_id, self.force)

    def cached(self, path: str, content_hash: str, size: int | None,
               mtime_ns: int | None) -> bool:
        analysis = store.find_analysis(self.conn, content_hash, self.model_id)
        if analysis is None:
            return False
        row = self.conn.execute(
            "SELECT duration FROM tracks WHERE content_hash = ?", (content_hash,)
        ).fetchone()
        duration = row[0] if row is not None else None
        status = "ok" if analysis.status == "ok" else "error"
        self.record(store.StoredOutcome(path, status, content_hash, size, mtime_ns,
                                        analysis.error_code, analysis.error))
        self.emit(FileResult(path, status, self.model_id, analysis.genres, analysis.tags,
                             analysis.error, analysis.error_code, True, content_hash, duration))
        return True

    def duplicate(self, path: str, content_hash: str, size: int | None,
                  mtime_ns: int | None) -> None:
        first = self.analysed[content_hash]
        status = "ok" if first.status == "ok" else "error"
        self.record(store.StoredOutcome(path, status, content_hash, size, mtime_ns,
                                        first.error_code, first.error))
        self.emit(FileResult(path, "skipped", self.model_id, first.genres, first.tags,
                             first.error, first.error_code, False, content_hash,
                             first.duration, duplicate_of=first.path))

    # -- analysed files back from the workers

    def finish(self, item: _Analysed) -> None:
        """Record one analysed file (or answer it from the DB / this run)."""
        self.stages["hash"] += item.hash_seconds
        self.stages["decode"] += item.decode_seconds
        self.stages["inference"] += item.inference_seconds
        self.worker_cpu += item.cpu_seconds
        if item.worker_pid != os.getpid():
            self.worker_peak_rss_kb[item.worker_pid] = item.peak_rss_kb
        if item.content_hash is not None and item.content_hash in self.analysed:
            # the same content met twice in this run (possibly analysed twice in flight)
            self.duplicate(item.path, item.content_hash, item.size, item.mtime_ns)
        elif item.error_code is not None:
            self.failed(item)
        elif item.cached:
            if not self.cached(item.path, item.content_hash, item.size, item.mtime_ns):
                # the analysis vanished between the worker's look and ours: rare; redo here
                job = _Job(item.path, item.content_hash, item.size, item.mtime_ns, None,
                           self.model_id, True)
                self.finish(analyse_file(job, self.classifier))
        else:
            self.succeeded(item, item.prediction)

    def failed(self, item: _Analysed) -> None:
        code = item.error_code or "error"
        message = item.error or code
        outcome = store.StoredOutcome(item.path, "error", item.content_hash, item.size,
                                      item.mtime_ns, code, message, item.track)
        content_error = code in CONTENT_ERROR_CODES and item.content_hash is not None
        self.record(outcome, model_id=self.model_id if content_error else None,
                    analysis_status="error" if content_error else None)
        result = FileResult(item.path, "error", self.model_id, error=message, error_code=code,
                            content_hash=item.content_hash,
                            duration=item.track["duration"] if item.track else None)
        if item.content_hash is not None:
            self.analysed[item.content_hash] = result
        self.emit(result)

    def succeeded(self, item: _Analysed, prediction: Any) -> None:
        genres = [(str(g), float(c)) for g, c in prediction.genres]
        tags = [(str(t), float(c)) for t, c in prediction.tags]
        outcome = store.StoredOutcome(item.path, "ok", item.content_hash, item.size,
                                      item.mtime_ns, track=item.track)
        self.record(outcome, model_id=self.model_id, genres=genres, tags=tags,
                    embeddings=prediction.embeddings,
                    analysed_seconds=float(prediction.analysed_seconds),
                    analysis_status="ok")
        duration = item.track["duration"] if item.track else None
        result = FileResult(
            item.path, "ok", self.model_id,
            genres=[{"label": g, "confidence": round(c, 6)} for g, c in genres],
            tags=[{"label": t, "confidence": round(c, 6)} for t, c in tags],
            content_hash=item.content_hash, duration=duration,
        )
        self.analysed[item.content_hash] = result
        self.summary.analysed_audio_seconds += duration or 0.0
        self.emit(result)


def classify_paths(
    paths: Sequence[str | os.PathLike],
    *,
    conn: sqlite3.Connection,
    classifier: Any,
    jobs: int | None = None,
    force: bool = False,
    batch_size: int = 4,
    on_result: Callable[[FileResult], None] | None = None,
    on_ignored: Callable[[Candidate], None] | None = None,
    params: dict[str, Any] | None = None,
) -> ScanSummary:
    """Classify every audio file under ``paths`` and record the outcomes in ``conn``.

    Parameters
    ----------
    paths : sequence of path
        Files and folders (walked recursively; audio is recognised by content).
    conn : sqlite3.Connection
        The library database (:func:`music_reclass.library.db.connect`).
    classifier : Classifier
        Anything with ``model_id`` and ``predict_batch(waveforms) -> [Prediction]``
        (16 kHz excerpts), or with ``audio_input = "file"`` and
        ``predict_file(path) -> Prediction`` (trained models: their extractor reads
        the file). With workers it must be picklable; each worker unpickles it once
        and calls its ``ensure_loaded()`` if it has one.
    jobs : int, optional
        Worker processes (default :func:`default_jobs`, one per core), each doing
        whole files with one compute thread. 0 does everything in this process (for
        debugging and tiny runs).
    force : bool
        Analyse again contents already analysed by this model.
    batch_size : int
        Files queued per worker beyond the one it is working on (bounds memory and
        keeps workers fed); tracks are classified one per forward pass.
    on_result : callable, optional
        Called with each :class:`FileResult` as soon as the file is recorded.
    on_ignored : callable, optional
        Called with each ignored :class:`~music_reclass.audio.discover.Candidate`.
    params : dict, optional
        Stored as the run's parameters.

    Returns
    -------
    ScanSummary
        ``status`` is ``"done"`` or ``"interrupted"`` (Ctrl-C: the run stops after
        the files already committed, and :class:`KeyboardInterrupt` is NOT re-raised).

    Raises
    ------
    ParameterError
        Bad ``jobs`` or ``batch_size``; a classifier that cannot be pickled for workers.
    """
    jobs = default_jobs() if jobs is None else jobs
    if isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 0:
        raise ParameterError(f"jobs must be an integer >= 0, got {jobs!r}")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ParameterError(f"batch_size must be an integer >= 1, got {batch_size!r}")
    started = time.perf_counter()
    cpu_before = _cpu_times()
    executor = _executor(jobs, classifier) if jobs > 0 else None
    run_id = libdb.start_run(
        conn, "classify",
        {"paths": [os.path.abspath(p) for p in paths], "model_id": classifier.model_id,
         "force": force, "jobs": jobs, **(params or {})},
    )
    summary = ScanSummary(run_id=run_id)
    run = _Run(conn, classifier, summary, force=force, batch_size=batch_size,
               on_result=on_result)
    try:
        _drive(run, paths, executor, jobs, on_ignored)
        summary.status = "done"
    except KeyboardInterrupt:
        summary.status = "interrupted"
    except BaseException:
        summary.status = "failed"
        raise
    finally:
        if executor is not None:
            executor.shutdown(wait=True, cancel_futures=True)
        if conn.in_transaction:  # interrupted between BEGIN and its try block
            conn.execute("ROLLBACK")
        libdb.finish_run(conn, run_id, summary.status)
        summary.elapsed = time.perf_counter() - started
        summary.stages = dict(run.stages)
        summary.cpu = _cpu_delta(cpu_before, _cpu_times(), summary.elapsed,
                                 worker_cpu=run.worker_cpu if executor is not None else 0.0)
        summary.peak_rss_mb = {
            "main": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "worker": max(run.worker_peak_rss_kb.values(), default=0) / 1024,
            "workers_total": sum(run.worker_peak_rss_kb.values()) / 1024,
        }
    return summary


def _drive(run: _Run, paths: Sequence[str | os.PathLike],
           executor: ProcessPoolExecutor | None, jobs: int,
           on_ignored: Callable[[Candidate], None] | None) -> None:
    pending: set[Future] = set()
    # bounded: memory stays flat however many files there are, and each worker has
    # its next files queued while it works (the main process only records)
    max_in_flight = max(2, jobs * (1 + run.batch_size))

    def harvest(block: bool) -> None:
        done, _ = wait(pending, timeout=None if block else 0, return_when=FIRST_COMPLETED)
        for future in done:
            pending.discard(future)
            item = future.result()
            _one_file_safely(run, item.path, lambda item=item: run.finish(item))

    for candidate in iter_candidates(paths):
        if candidate.kind == "ignored":
            run.summary.ignored += 1
            if on_ignored is not None:
                on_ignored(candidate)
            continue
        if candidate.kind == "error":
            _one_file_safely(run, candidate.path,
                             lambda candidate=candidate: run.error_candidate(candidate))
            continue
        job = _one_file_safely(run, candidate.path,
                               lambda candidate=candidate: run.audio_candidate(candidate))
        if job is None:
            continue
        if executor is None:
            _one_file_safely(run, job.path,
                             lambda job=job: run.finish(analyse_file(job, run.classifier)))
            continue
        pending.add(executor.submit(analyse_file, job))
        harvest(block=False)
        while len(pending) >= max_in_flight:
            harvest(block=True)
    while pending:
        harvest(block=True)


def _one_file_safely(run: _Run, path: str | os.PathLike, handle: Callable[[], Any]) -> Any:
    """Run ``handle`` for one file; an unexpected error fails that file, not the run.

    The workers already turn every decoding or model error into a per-file result;
    this guards the main process's own steps (DB lookups and writes, bookkeeping), so
    that a bug or an odd path met there costs one file, reported with its reason.
    """
    try:
        return handle()
    except Exception as exc:  # noqa: BLE001 - one bad file must never stop a run
        path = os.path.abspath(path)
        reason = _one_line(f"internal error: {type(exc).__name__}: {exc}")
        try:
            run.record(store.StoredOutcome(path, "error", error_code="internal", error=reason))
        except Exception:  # noqa: BLE001 - still reported below, only not stored
            reason += " (not stored in the database)"
        run.emit(FileResult(path, "error", run.model_id, error=reason, error_code="internal"))
        return None


def _cpu_times() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF)
    return own.ru_utime + own.ru_stime


def _cpu_delta(before: float, after: float, elapsed: float, *,
               worker_cpu: float) -> dict[str, float]:
    """CPU seconds of the main process and of the workers' jobs, and cores kept busy."""
    main, workers = after - before, worker_cpu
    return {
        "main": main,
        "workers": workers,
        "busy_cores": (main + workers) / elapsed if elapsed > 0 else 0.0,
    }
