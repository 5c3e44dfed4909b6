"""A classify run: find audio, answer what the library knows, analyse the rest, record it.

The calling process walks the folders and owns the database; the pool's workers hash,
decode and classify (:mod:`music_reclass.runner.worker`). For each audio file:

1. size, mtime and inode match its stored row (the rows under the given folders are
   read in one query when the run starts): its content hash is known without reading
   a byte, not even to sniff its format; otherwise a worker hashes it (a renamed,
   copied or changed file);
2. the content already has this model's analysis: the file is answered from the
   database (``cached``); the content has stored vectors of the model's embedding
   space (another taxonomy of the default model, a head trained on musicnn
   embeddings): the model answers from them here, without the audio (``from_vectors``);
3. otherwise a worker decodes the excerpt the model asks for and classifies it.

Each file's outcome is committed in one transaction (an unchanged file answered from
the database only gets its "last seen" mark, in batches), so a run killed at any instant
resumes from what was committed: resumption comes from the database, not from a
checkpoint. A bounded number of tasks is in flight and per-file results are streamed
to ``on_result`` and never kept, so memory stays flat whatever the library's size.
"""

from __future__ import annotations

import contextlib
import os
import resource
import sqlite3
import time
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, wait
from typing import Any

from music_reclass.audio.discover import Candidate, count_files, error_code_of, iter_candidates
from music_reclass.runner.coordination import claim_batch, resume_deferred
from music_reclass.runner.known import KnownFiles
from music_reclass.runner.pool import Pool
from music_reclass.runner.results import FileResult, RunSummary
from music_reclass.runner.worker import Analysed, AnalyseJob, Hashed, one_line
from music_reclass.store.analyses import AnalysisRecord, AnalysisRow, find_analysis
from music_reclass.store.claims import release_claim
from music_reclass.store.files import StoredOutcome, record_file, touch_files, track_duration
from music_reclass.store.runs import finish_run, start_run
from music_reclass.store.vectors import get_vectors

__all__ = ["CONTENT_ERROR_CODES", "classify_paths", "count_files"]

#: Codes of failures that belong to the content itself: they get an ``analyses`` row
#: with status error, so the content is not retried on every run (unless --force or
#: a new model). Unreadable files (permissions...) are retried: that can change.
CONTENT_ERROR_CODES = frozenset({"corrupt", "too-short", "silent", "unsupported"})

#: Files hashed per worker task (hashing is quick: batches keep the queues short).
HASH_BATCH = 8
#: Unchanged files marked as seen per transaction.
TOUCH_BATCH = 1000


class _Cancelled(Exception):
    """The caller's cancel check said stop."""


class _Run:
    """State of one classify run in the calling process."""

    def __init__(self, conn: sqlite3.Connection, classifier: Any, pool: Pool,
                 summary: RunSummary, *, force: bool,
                 on_result: Callable[[FileResult], None] | None,
                 cancel: Callable[[], bool] | None = None) -> None:
        self.conn = conn
        self.classifier = classifier
        self.model_id = str(classifier.model_id)
        self.space: str | None = getattr(classifier, "embedding_space", None)
        self.pool = pool
        self.summary = summary
        self.force = force
        self.on_result = on_result
        self.cancel = cancel
        self.seen_paths: set[str] = set()
        #: the library's rows under the run's paths: what a rescan checks files against
        self.known = KnownFiles()
        self.touched: list[str] = []
        #: content hash -> path of its first file analysed in this run (done or in flight)
        self.contents: dict[str, str] = {}
        #: content hash -> files waiting for that content's analysis in flight
        self.waiting: dict[str, list[Hashed]] = {}
        self.to_hash: list[str] = []
        self.to_analyse: list[AnalyseJob] = []
        #: jobs whose content another live run is analysing (see runner.coordination)
        self.deferred: list[AnalyseJob] = []
        self.pending: set[Future] = set()
        self.stages = dict.fromkeys(("hash", "decode", "inference", "db"), 0.0)
        self.worker_cpu = 0.0
        self.worker_peak_rss_kb: dict[int, int] = {}

    # -- reporting and recording

    def emit(self, result: FileResult) -> None:
        summary = self.summary
        if result.status == "ok":
            summary.ok += 1
            summary.cached += result.cached
            summary.from_vectors += result.from_vectors
            summary.audio_seconds += result.duration or 0.0
        elif result.status == "skipped":
            summary.skipped += 1
        else:
            summary.add_failure(result.path, result.error or result.error_code or "error")
        if self.on_result is not None:
            self.on_result(result)

    def record(self, outcome: StoredOutcome, **analysis: Any) -> None:
        start = time.perf_counter()
        record_file(self.conn, outcome, run_id=self.summary.run_id, **analysis)
        self.stages["db"] += time.perf_counter() - start

    def result_of(self, path: str, analysis: AnalysisRow, content_hash: str, *,
                  status: str | None = None, **extra: Any) -> FileResult:
        ok = analysis.status == "ok"
        return FileResult(
            path, status or ("ok" if ok else "error"), self.model_id,
            genres=analysis.genres, tags=analysis.tags, error=analysis.error,
            error_code=analysis.error_code, content_hash=content_hash,
            duration=track_duration(self.conn, content_hash), decided=analysis.decided,
            abstain_reason=analysis.abstain_reason, stage=analysis.stage, **extra,
        )

    # -- files met while walking

    def error_candidate(self, candidate: Candidate) -> None:
        path = os.path.abspath(candidate.path)
        code = error_code_of(candidate)
        reason = candidate.reason or code
        self.record(StoredOutcome(path, "error", error_code=code, error=reason))
        self.emit(FileResult(path, "error", self.model_id, error=reason, error_code=code))

    def audio_candidate(self, candidate: Candidate) -> None:
        """Answer what the database knows; queue a hash for the rest."""
        path = self.known.real_path(candidate.path, candidate.is_link)
        if path in self.seen_paths:
            self.emit(FileResult(path, "skipped", self.model_id, duplicate_of=path))
            return
        self.seen_paths.add(path)
        try:
            info = candidate.stat or os.stat(path)
        except OSError as exc:
            self.unreadable(path, one_line(exc.strerror or exc))
            return
        row = self.known.unchanged(path, info)
        if row is None:
            self.to_hash.append(path)
            return
        self.resolve(Hashed(path, row.content_hash, info.st_size, info.st_mtime_ns, info.st_ino))

    def unreadable(self, path: str, reason: str) -> None:
        self.record(StoredOutcome(path, "error", error_code="unreadable", error=reason))
        self.emit(FileResult(path, "error", self.model_id, error=reason, error_code="unreadable"))

    def resolve(self, item: Hashed) -> None:
        """A file whose content hash is known: duplicate, cached, from vectors, or analyse."""
        content = item.content_hash
        assert content is not None
        if content in self.contents:
            if content in self.waiting:
                self.waiting[content].append(item)
            else:
                self.duplicate(item)
            return
        if not self.force:
            analysis = find_analysis(self.conn, content, self.model_id)
            if analysis is not None:  # every path of a stored content is "cached"
                self.stored(item, analysis, cached=True)
                return
            if self.space is not None and self.from_vectors(item):
                return
        self.contents[content] = item.path
        self.waiting[content] = []
        self.to_analyse.append(AnalyseJob(item.path, content, item.size, item.mtime_ns,
                                          item.inode))

    def outcome(self, item: Hashed, status: str, **fields: Any) -> StoredOutcome:
        return StoredOutcome(item.path, status, item.content_hash, item.size, item.mtime_ns,
                             inode=item.inode, **fields)

    def stored(self, item: Hashed, analysis: AnalysisRow, *, cached: bool) -> None:
        status = "ok" if analysis.status == "ok" else "error"
        row = self.known.get(item.path)
        if (row is not None and row.content_hash == item.content_hash and row.status == status
                and row.size == item.size and row.mtime_ns == item.mtime_ns):
            self.touch(item.path)  # nothing changed: no per-file write
        else:
            self.record(self.outcome(item, status, error_code=analysis.error_code,
                                     error=analysis.error))
        self.emit(self.result_of(item.path, analysis, item.content_hash, cached=cached))

    def touch(self, path: str | None = None) -> None:
        """Queue ``path`` as seen; write the queue when full (or when ``path`` is None)."""
        if path is not None:
            self.touched.append(path)
        if self.touched and (path is None or len(self.touched) >= TOUCH_BATCH):
            start = time.perf_counter()
            touch_files(self.conn, self.touched, self.summary.run_id)
            self.stages["db"] += time.perf_counter() - start
            self.touched = []

    def from_vectors(self, item: Hashed) -> bool:
        """Answer from the content's stored vectors, when the model can (no audio)."""
        vectors = get_vectors(self.conn, item.content_hash, self.space)
        if vectors is None:
            return False
        start = time.perf_counter()
        try:
            prediction = self.classifier.predict_vectors(vectors)
        except Exception:  # noqa: BLE001 - vectors the model cannot use: analyse the audio
            return False
        self.stages["inference"] += time.perf_counter() - start
        self.contents[item.content_hash] = item.path
        self.record(self.outcome(item, "ok"),
                    analysis=self.analysis_record(prediction))
        analysis = find_analysis(self.conn, item.content_hash, self.model_id)
        self.emit(self.result_of(item.path, analysis, item.content_hash, from_vectors=True))
        return True

    def duplicate(self, item: Hashed) -> None:
        """The same content met again in this run: recorded, reported as skipped."""
        first = self.contents[item.content_hash]
        analysis = find_analysis(self.conn, item.content_hash, self.model_id)
        if analysis is None:  # the first one failed without a content verdict
            self.record(self.outcome(item, "error", error_code="skipped",
                                     error=f"same content as {first}"))
            self.emit(FileResult(item.path, "skipped", self.model_id, duplicate_of=first,
                                 content_hash=item.content_hash))
            return
        status = "ok" if analysis.status == "ok" else "error"
        self.record(self.outcome(item, status, error_code=analysis.error_code,
                                 error=analysis.error))
        self.emit(self.result_of(item.path, analysis, item.content_hash, status="skipped",
                                 duplicate_of=first))

    # -- results back from the workers

    def hashed(self, item: Hashed) -> None:
        self.stages["hash"] += item.seconds
        if item.error_code is not None:
            self.record(StoredOutcome(item.path, "error", error_code=item.error_code,
                                      error=item.error))
            self.emit(FileResult(item.path, "error", self.model_id, error=item.error,
                                 error_code=item.error_code))
            return
        self.resolve(item)

    def analysed(self, item: Analysed) -> None:
        self.stages["decode"] += item.decode_seconds
        self.stages["inference"] += item.inference_seconds
        self.worker_cpu += item.cpu_seconds
        if item.worker_pid != os.getpid():
            self.worker_peak_rss_kb[item.worker_pid] = item.peak_rss_kb
        job = item.job
        hashed = Hashed(job.path, job.content_hash, job.size, job.mtime_ns, job.inode)
        others = self.waiting.pop(job.content_hash, [])
        if item.error_code is not None:
            for failing in (hashed, *others):  # the same bytes fail the same way
                self.failed(failing, item)
        else:
            self.succeeded(hashed, item)
            for other in others:
                self.duplicate(other)
        release_claim(self.conn, job.content_hash, self.model_id, self.summary.run_id)

    def failed(self, item: Hashed, analysed: Analysed) -> None:
        code = analysed.error_code or "error"
        message = analysed.error or code
        content_error = code in CONTENT_ERROR_CODES
        record = AnalysisRecord(self.model_id, "error", error_code=code, error=message)
        self.record(self.outcome(item, "error", error_code=code, error=message,
                                 track=analysed.track),
                    analysis=record if content_error else None)
        if not content_error:  # retried next run: not a verdict on the content
            self.contents.pop(item.content_hash, None)
        duration = analysed.track["duration"] if analysed.track else None
        self.emit(FileResult(item.path, "error", self.model_id, error=message, error_code=code,
                             content_hash=item.content_hash, duration=duration))

    def analysis_record(self, prediction: Any) -> AnalysisRecord:
        return AnalysisRecord(
            self.model_id, "ok",
            genres=[(str(g), float(c)) for g, c in prediction.genres],
            tags=[(str(t), float(c)) for t, c in prediction.tags],
            analysed_seconds=float(prediction.analysed_seconds),
            decided=prediction.decided, abstain_reason=prediction.abstain_reason,
            stage=prediction.stage,
        )

    def succeeded(self, item: Hashed, analysed: Analysed) -> None:
        prediction = analysed.prediction
        self.record(self.outcome(item, "ok", track=analysed.track),
                    analysis=self.analysis_record(prediction), vectors=prediction.vectors,
                    vector_dtype=getattr(self.classifier, "vector_dtype", "float16"))
        analysis = find_analysis(self.conn, item.content_hash, self.model_id)
        result = self.result_of(item.path, analysis, item.content_hash)
        self.summary.analysed_audio_seconds += result.duration or 0.0
        self.emit(result)

    # -- dispatching

    def flush(self, *, final: bool = False) -> None:
        """Submit full batches (every batch when ``final``) while there is room."""
        while self.to_hash and (final or len(self.to_hash) >= HASH_BATCH):
            batch, self.to_hash = self.to_hash[:HASH_BATCH], self.to_hash[HASH_BATCH:]
            self.submit(self.pool.submit_hash(batch))
        size = self.pool.batch_size
        while self.to_analyse and (final or len(self.to_analyse) >= size):
            batch, self.to_analyse = self.to_analyse[:size], self.to_analyse[size:]
            batch = claim_batch(self, batch)  # another live run's contents wait
            if batch:
                self.submit(self.pool.submit_analyse(batch))

    def check_cancel(self) -> None:
        if self.cancel is not None and self.cancel():
            raise _Cancelled

    def submit(self, future: Future) -> None:
        self.check_cancel()
        self.pending.add(future)
        while len(self.pending) >= self.pool.capacity:
            self.harvest(block=True)

    def harvest(self, *, block: bool) -> None:
        if not self.pending:
            return
        done, _ = wait(self.pending, timeout=None if block else 0, return_when=FIRST_COMPLETED)
        for future in done:
            self.pending.discard(future)
            for item in future.result():
                handle = self.analysed if isinstance(item, Analysed) else self.hashed
                _one_file_safely(self, item.job.path if isinstance(item, Analysed) else item.path,
                                 lambda item=item, handle=handle: handle(item))


def classify_paths(
    paths: Sequence[str | os.PathLike],
    *,
    conn: sqlite3.Connection,
    classifier: Any,
    pool: Pool,
    force: bool = False,
    on_result: Callable[[FileResult], None] | None = None,
    on_ignored: Callable[[Candidate], None] | None = None,
    cancel: Callable[[], bool] | None = None,
    params: dict[str, Any] | None = None,
) -> RunSummary:
    """Classify every audio file under ``paths`` and record the outcomes in ``conn``.

    Parameters
    ----------
    paths : sequence of path
        Files and folders (walked recursively; audio is recognised by content).
    conn : sqlite3.Connection
        The library database.
    classifier : Classifier
        See :class:`music_reclass.pipeline.Classifier`.
    pool : Pool
        Where the work runs (:func:`music_reclass.runner.pool.make_pool`, or Dask).
    force : bool
        Analyse again contents already analysed by this model.
    on_result : callable, optional
        Called with each :class:`FileResult` as soon as the file is recorded.
    on_ignored : callable, optional
        Called with each ignored :class:`~music_reclass.audio.discover.Candidate`.
    cancel : callable, optional
        Polled between files: True stops the run (status ``cancelled``); what was
        recorded stays recorded and the next run resumes after it.
    params : dict, optional
        Stored as the run's parameters.

    Returns
    -------
    RunSummary
        ``status`` is ``"done"``, ``"cancelled"`` or ``"interrupted"`` (Ctrl-C: the run
        stops after the files already committed; :class:`KeyboardInterrupt` is NOT
        re-raised).
    """
    started = time.perf_counter()
    cpu_before = _cpu_time()
    model_id = str(classifier.model_id)
    run_id = start_run(conn, "classify", {
        "paths": [os.path.abspath(p) for p in paths], "model_id": model_id, "force": force,
        **(params or {}),
    })
    summary = RunSummary(run_id=run_id, model_id=model_id)
    run = _Run(conn, classifier, pool, summary, force=force, on_result=on_result, cancel=cancel)
    try:
        run.known.load(conn, paths)
        _drive(run, paths, on_ignored)
        summary.status = "done"
    except _Cancelled:
        summary.status = "cancelled"
    except KeyboardInterrupt:
        summary.status = "interrupted"
    except BaseException:
        summary.status = "failed"
        raise
    finally:
        pool.shutdown()
        if conn.in_transaction:  # interrupted between BEGIN and its try block
            conn.execute("ROLLBACK")
        with contextlib.suppress(Exception):  # the marks are a courtesy, never a failure
            run.touch()
        summary.elapsed = time.perf_counter() - started
        summary.stages = dict(run.stages)
        summary.cpu = _cpu(cpu_before, summary.elapsed, run)
        summary.peak_rss_mb = {
            "main": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "worker": max(run.worker_peak_rss_kb.values(), default=0) / 1024,
            "workers_total": sum(run.worker_peak_rss_kb.values()) / 1024,
        }
        finish_run(conn, run_id, summary.status, summary.counts())
    return summary


def _drive(run: _Run, paths: Sequence[str | os.PathLike],
           on_ignored: Callable[[Candidate], None] | None) -> None:
    for candidate in iter_candidates(paths, known=run.known.known_audio):
        run.check_cancel()
        if candidate.kind == "ignored":
            run.summary.ignored += 1
            if on_ignored is not None:
                on_ignored(candidate)
            continue
        handle = run.error_candidate if candidate.kind == "error" else run.audio_candidate
        _one_file_safely(run, candidate.path, lambda c=candidate, h=handle: h(c))
        run.flush()
        run.harvest(block=False)
    while run.to_hash or run.to_analyse or run.pending or run.deferred:
        run.check_cancel()
        run.flush(final=True)
        run.harvest(block=True)
        if run.deferred and not (run.to_hash or run.to_analyse or run.pending):
            resume_deferred(run)


def _one_file_safely(run: _Run, path: str | os.PathLike, handle: Callable[[], Any]) -> Any:
    """Run ``handle`` for one file; an unexpected error fails that file, not the run.

    The workers already turn every decoding or model error into a per-file result;
    this guards the calling process's own steps (DB lookups and writes, bookkeeping),
    so that a bug or an odd path met there costs one file, reported with its reason.
    """
    try:
        return handle()
    except (KeyboardInterrupt, _Cancelled):
        raise
    except Exception as exc:  # noqa: BLE001 - one bad file must never stop a run
        path = os.path.abspath(path)
        reason = one_line(f"internal error: {type(exc).__name__}: {exc}")
        try:
            run.record(StoredOutcome(path, "error", error_code="internal", error=reason))
        except Exception:  # noqa: BLE001 - still reported below, only not stored
            reason += " (not stored in the database)"
        run.emit(FileResult(path, "error", run.model_id, error=reason, error_code="internal"))
        return None


def _cpu_time() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF)
    return own.ru_utime + own.ru_stime


def _cpu(before: float, elapsed: float, run: _Run) -> dict[str, float]:
    """CPU seconds of the calling process and of the workers' tasks, and cores kept busy."""
    main = _cpu_time() - before
    workers = run.worker_cpu if run.worker_peak_rss_kb else 0.0
    return {"main": main, "workers": workers,
            "busy_cores": (main + workers) / elapsed if elapsed > 0 else 0.0}
