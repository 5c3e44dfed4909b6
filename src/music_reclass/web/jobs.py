"""Background jobs of the web server: one library job at a time, in its own thread, with
progress that the browser follows (Server-Sent Events) and a cancel button.

A job is a function ``work(on_progress, cancel) -> dict`` calling one façade method;
the manager records its state, progress and result in memory (the library's runs and
journal keep the durable record). Only one job runs at a time: two tag runs on one
library must not interleave, and a second request gets 409 with the running job's id.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from music_reclass.library import CancelToken

__all__ = ["Busy", "Job", "JobManager"]

Work = Callable[[Callable[[int, int], None], CancelToken], dict[str, Any]]
FINISHED = ("done", "failed", "cancelled")


class Busy(Exception):
    """Another job is running."""

    def __init__(self, job: Job) -> None:
        super().__init__(f"job {job.id} ({job.kind}) is running: wait for it or cancel it")
        self.job = job


@dataclass
class Job:
    """One background job and what is known of it so far."""

    id: int
    kind: str
    params: dict[str, Any]
    state: str = "queued"  # queued | running | done | failed | cancelled
    done: int = 0
    total: int = 0
    result: dict[str, Any] | None = None
    error: str | None = None
    created: float = field(default_factory=time.time)
    finished: float | None = None
    version: int = 0
    token: CancelToken = field(default_factory=CancelToken, repr=False)

    def snapshot(self) -> dict[str, Any]:
        """The job as JSON-able data."""
        return {"id": self.id, "kind": self.kind, "params": self.params, "state": self.state,
                "done": self.done, "total": self.total, "result": self.result,
                "error": self.error, "created": self.created, "finished": self.finished,
                "cancel_requested": self.token.cancelled}


class JobManager:
    """Runs jobs one at a time in threads; keeps the last ``keep`` finished ones."""

    def __init__(self, keep: int = 50) -> None:
        self._jobs: dict[int, Job] = {}
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._keep = keep

    def start(self, kind: str, params: dict[str, Any], work: Work) -> Job:
        """Start ``work`` in a thread as a job of ``kind``.

        Raises
        ------
        Busy
            A job is already queued or running.
        """
        with self._lock:
            running = self._running()
            if running is not None:
                raise Busy(running)
            job = Job(next(self._ids), kind, params)
            self._jobs[job.id] = job
            self._forget_old()
        thread = threading.Thread(target=self._run, args=(job, work), daemon=True,
                                  name=f"reclass-job-{job.id}")
        thread.start()
        return job

    def get(self, job_id: int) -> Job | None:
        with self._lock:
            return self._jobs.get(job_id)

    def list(self) -> list[Job]:
        with self._lock:
            return sorted(self._jobs.values(), key=lambda j: -j.id)

    def cancel(self, job_id: int) -> Job | None:
        """Ask a job to stop (it stops between files, keeping what it did)."""
        with self._lock:
            job = self._jobs.get(job_id)
            if job is not None and job.state not in FINISHED:
                job.token.cancel()
                self._touch(job)
            return job

    def cancel_all(self) -> None:
        for job in self.list():
            self.cancel(job.id)

    def wait(self, job_id: int, version: int, timeout: float) -> dict[str, Any] | None:
        """The job's snapshot once its version passes ``version`` (or ``timeout`` ends)."""
        with self._changed:
            job = self._jobs.get(job_id)
            if job is None:
                return None
            self._changed.wait_for(lambda: job.version > version, timeout=timeout)
            return {**job.snapshot(), "version": job.version}

    # -- internals

    def _running(self) -> Job | None:
        return next((j for j in self._jobs.values() if j.state not in FINISHED), None)

    def _forget_old(self) -> None:
        finished = sorted((j for j in self._jobs.values() if j.state in FINISHED),
                          key=lambda j: j.id)
        for job in finished[: max(0, len(finished) - self._keep)]:
            del self._jobs[job.id]

    def _touch(self, job: Job) -> None:
        job.version += 1
        self._changed.notify_all()

    def _progress(self, job: Job) -> Callable[[int, int], None]:
        def report(done: int, total: int) -> None:
            with self._lock:
                job.done, job.total = int(done), int(total)
                self._touch(job)
        return report

    def _run(self, job: Job, work: Work) -> None:
        with self._lock:
            job.state = "running"
            self._touch(job)
        try:
            result = work(self._progress(job), job.token)
            state = "cancelled" if job.token.cancelled else "done"
            error = None
        except Exception as exc:  # noqa: BLE001 - a job's failure is reported, not raised
            result, state, error = None, "failed", " ".join(str(exc).split()) or type(exc).__name__
        with self._lock:
            job.result, job.error, job.state = result, error, state
            if result is not None and result.get("status") == "cancelled":
                job.state = "cancelled"
            job.finished = time.time()
            self._touch(job)
