"""A classify run: find audio, hash, decode, classify, record, resume.

Work is split over the cores: worker processes (a ``forkserver`` context whose server
preloads only this module, so no worker ever imports torch or inherits a forked
torch) hash each file and decode its excerpt, while the main process runs the
classifier on batches of decoded excerpts and writes the database. A bounded number
of jobs is in flight, so memory stays flat whatever the number of files.

Resumption comes from the database, not from a checkpoint: each file's outcome is
committed in one transaction (:func:`music_reclass.library.store.record_file`), and a
content whose ``(content_hash, model_id)`` analysis exists is not analysed again,
whatever its path (renamed, moved and copied files are "cached"). A file whose path,
size and mtime match its ``files`` row reuses the stored hash without reading it.

This module must not import torch (the workers import it).
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import resource
import signal
import sqlite3
import threading
import time
from collections import deque
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
class _Prepared:
    """What a worker hands back: a decoded excerpt, a cached verdict or an error."""

    path: str
    content_hash: str | None = None
    size: int | None = None
    mtime_ns: int | None = None
    cached: bool = False
    waveform: np.ndarray | None = None
    track: dict[str, Any] | None = None
    error_code: str | None = None
    error: str | None = None
    hash_seconds: float = 0.0
    decode_seconds: float = 0.0
    cpu_seconds: float = 0.0  # the worker's CPU time on this job (forkserver children are not ours to reap)
    peak_rss_kb: int = 0  # the worker's peak resident memory so far


_worker_db: sqlite3.Connection | None = None
_worker_db_path: str | None = None


def _worker_init(lifeline: Any) -> None:
    """Runs once in each worker: ignore Ctrl-C (the parent decides), die with the parent.

    ``lifeline`` is the read end of a pipe whose only write end is held by the main
    process: EOF on it means the main process is gone (even killed with SIGKILL, and
    even while it is an unreaped zombie), and the worker exits rather than linger.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    logging.getLogger("music_reclass.library.tags").setLevel(logging.ERROR)

    def watch_parent() -> None:
        try:
            while True:
                lifeline.recv()
        except (EOFError, OSError):
            os._exit(0)

    threading.Thread(target=watch_parent, daemon=True).start()


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


def prepare_file(job: _Job) -> _Prepared:
    """Hash a file and, unless its analysis is already stored, decode its excerpt.

    Runs in a worker process; never raises for a bad file (the error is returned).
    """
    from music_reclass.audio.excerpt import load_excerpt
    from music_reclass.audio.hashing import content_hash

    out = _Prepared(path=job.path, size=job.size, mtime_ns=job.mtime_ns)
    cpu_start = time.process_time()
    try:
        _prepare(job, out, content_hash, load_excerpt)
    finally:
        out.cpu_seconds = time.process_time() - cpu_start
        out.peak_rss_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return out


def _prepare(job: _Job, out: _Prepared, content_hash: Callable, load_excerpt: Callable) -> None:
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
        start = time.perf_counter()
        excerpt = load_excerpt(job.path, sr=SR)
        out.waveform = np.ascontiguousarray(excerpt.waveform, dtype=np.float32)
        info = excerpt.info
        out.track = {
            "duration": float(info.duration),
            "sample_rate": int(info.sample_rate),
            "channels": int(info.channels),
            "codec": info.codec,
            **_existing_tags(job.path),
        }
        out.decode_seconds = time.perf_counter() - start
    except ReclassError as exc:
        out.error_code, out.error = exc.code, _one_line(str(exc)) or exc.code
    except OSError as exc:
        out.error_code, out.error = "unreadable", _one_line(exc.strerror or str(exc))
    except Exception as exc:  # noqa: BLE001 - one bad file must never stop a run
        out.error_code, out.error = "error", _one_line(f"{type(exc).__name__}: {exc}")


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
    """Decode workers by default: all cores but one (the inference core), at least 1."""
    return max(1, (os.cpu_count() or 1) - 1)


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


def _executor(jobs: int) -> ProcessPoolExecutor:
    # forkserver (never fork after torch is imported: its thread pools do not survive
    # a fork); the server preloads only this module, so workers start warm and torch-free
    method = "forkserver" if "forkserver" in multiprocessing.get_all_start_methods() else "spawn"
    context = multiprocessing.get_context(method)
    if method == "forkserver":
        context.set_forkserver_preload(["music_reclass.library.scan"])
    lifeline, keep_alive = context.Pipe(duplex=False)
    executor = ProcessPoolExecutor(
        max_workers=jobs, mp_context=context, initializer=_worker_init, initargs=(lifeline,)
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
        self.worker_peak_rss_kb = 0
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

    # -- prepared files back from the workers

    def finish(self, prepared: Sequence[_Prepared]) -> None:
        """Classify and record a batch of prepared files."""
        to_classify: list[_Prepared] = []
        later: list[_Prepared] = []
        hashes: set[str] = set()
        for item in prepared:
            self.stages["hash"] += item.hash_seconds
            self.stages["decode"] += item.decode_seconds
            self.worker_cpu += item.cpu_seconds
            self.worker_peak_rss_kb = max(self.worker_peak_rss_kb, item.peak_rss_kb)
            if item.content_hash is not None and (
                item.content_hash in self.analysed or item.content_hash in hashes
            ):
                later.append(item)
            elif item.error_code is not None:
                self.failed(item)
            elif item.cached:
                if not self.cached(item.path, item.content_hash, item.size, item.mtime_ns):
                    # the analysis vanished between the worker's look and ours: rare; redo
                    later.append(item)
            else:
                to_classify.append(item)
                hashes.add(item.content_hash)
        if to_classify:
            self.classify(to_classify)
        for item in later:
            if item.content_hash in self.analysed:
                self.duplicate(item.path, item.content_hash, item.size, item.mtime_ns)
            elif item.waveform is not None:
                self.classify([item])
            else:
                self.failed(item)

    def failed(self, item: _Prepared) -> None:
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

    def classify(self, items: list[_Prepared]) -> None:
        start = time.perf_counter()
        try:
            predictions: list[Any] = list(
                self.classifier.predict_batch([item.waveform for item in items])
            )
        except Exception:  # noqa: BLE001 - isolate the file that fails, one by one
            predictions = []
            for item in items:
                try:
                    predictions.append(self.classifier.predict_batch([item.waveform])[0])
                except Exception as exc:  # noqa: BLE001 - recorded as this file's failure
                    predictions.append(exc)
        self.stages["inference"] += time.perf_counter() - start
        for item, prediction in zip(items, predictions, strict=True):
            if isinstance(prediction, BaseException):
                exc = prediction
                item.error_code = getattr(exc, "code", "model-error")
                item.error = _one_line(str(exc)) or item.error_code
                if not isinstance(exc, AudioError):
                    item.error_code = item.error_code if item.error_code != "error" else "model-error"
                self.failed(item)
                continue
            self.succeeded(item, prediction)

    def succeeded(self, item: _Prepared, prediction: Any) -> None:
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
        Anything with ``model_id`` and ``predict_batch(waveforms) -> [Prediction]``.
    jobs : int, optional
        Decode worker processes (default :func:`default_jobs`). 0 decodes in this
        process (no overlap; for debugging and tiny runs).
    force : bool
        Analyse again contents already analysed by this model.
    batch_size : int
        Tracks per ``predict_batch`` call at most.
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
        Bad ``jobs`` or ``batch_size``.
    """
    jobs = default_jobs() if jobs is None else jobs
    if isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 0:
        raise ParameterError(f"jobs must be an integer >= 0, got {jobs!r}")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ParameterError(f"batch_size must be an integer >= 1, got {batch_size!r}")
    started = time.perf_counter()
    cpu_before = _cpu_times()
    run_id = libdb.start_run(
        conn, "classify",
        {"paths": [os.path.abspath(p) for p in paths], "model_id": classifier.model_id,
         "force": force, "jobs": jobs, **(params or {})},
    )
    summary = ScanSummary(run_id=run_id)
    run = _Run(conn, classifier, summary, force=force, batch_size=batch_size,
               on_result=on_result)
    executor = _executor(jobs) if jobs > 0 else None
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
            "worker": run.worker_peak_rss_kb / 1024,
        }
    return summary


def _drive(run: _Run, paths: Sequence[str | os.PathLike],
           executor: ProcessPoolExecutor | None, jobs: int,
           on_ignored: Callable[[Candidate], None] | None) -> None:
    pending: set[Future] = set()
    ready: deque[_Prepared] = deque()
    # enough in flight to keep every worker busy while a batch is being classified
    max_in_flight = max(2, jobs * 2 + run.batch_size)

    def harvest(block: bool) -> None:
        done, _ = wait(pending, timeout=None if block else 0, return_when=FIRST_COMPLETED)
        for future in done:
            pending.discard(future)
            ready.append(future.result())

    def classify_some() -> None:
        run.finish([ready.popleft() for _ in range(min(run.batch_size, len(ready)))])

    for candidate in iter_candidates(paths):
        if candidate.kind == "ignored":
            run.summary.ignored += 1
            if on_ignored is not None:
                on_ignored(candidate)
            continue
        if candidate.kind == "error":
            run.error_candidate(candidate)
            continue
        job = run.audio_candidate(candidate)
        if job is None:
            continue
        if executor is None:
            run.finish([prepare_file(job)])
            continue
        pending.add(executor.submit(prepare_file, job))
        harvest(block=False)
        while len(ready) >= run.batch_size:
            classify_some()
        # bounded: memory stays flat however many files there are
        while len(pending) + len(ready) >= max_in_flight:
            if ready:
                classify_some()
            else:
                harvest(block=True)
    while pending or ready:
        if pending:
            harvest(block=not ready)
        if ready:
            classify_some()


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
