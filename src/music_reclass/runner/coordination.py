"""Classify runs on one library coordinate: a content is analysed by one run at a time.

Before a batch goes to the workers, its contents are claimed in the database
(:mod:`music_reclass.store.claims`). Contents another live run holds are *deferred*:
when this run has nothing else to do, :func:`resume_deferred` answers each of them
from the database as soon as the other run has recorded its analysis (reported as
``cached``), or analyses it itself if that run ended or died without it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from music_reclass.runner.worker import AnalyseJob, Hashed
from music_reclass.store.analyses import find_analysis
from music_reclass.store.claims import claim_contents, claimed_elsewhere

__all__ = ["claim_batch", "resume_deferred"]

#: Seconds between two looks at the contents another run is analysing.
POLL_SECONDS = 0.25


def claim_batch(run: Any, batch: list[AnalyseJob]) -> list[AnalyseJob]:
    """The jobs of ``batch`` this run may analyse; the others wait in ``run.deferred``."""
    busy = claim_contents(run.conn, [job.content_hash for job in batch], run.model_id,
                          run.summary.run_id)
    if busy:
        run.deferred.extend(job for job in batch if job.content_hash in busy)
    return [job for job in batch if job.content_hash not in busy]


def resume_deferred(run: Any, *, cancel: Callable[[], bool] | None = None) -> None:
    """Settle the deferred jobs: answered from another run's analysis, or analysed here
    once no live run holds them. Returns when none is left (polls; honours ``cancel``
    through the caller's loop)."""
    waiting, run.deferred = run.deferred, []
    progressed = False
    for job in waiting:
        holder = claimed_elsewhere(run.conn, job.content_hash, run.model_id,
                                   run.summary.run_id)
        analysis = find_analysis(run.conn, job.content_hash, run.model_id)
        if analysis is not None and (not run.force or holder is None
                                     and analysis.run_id != run.summary.run_id):
            _answer(run, job, analysis)
            progressed = True
        elif holder is None:
            run.to_analyse.append(job)  # claimed again when it is submitted
            progressed = True
        else:
            run.deferred.append(job)
    if run.deferred and not progressed:
        time.sleep(POLL_SECONDS)


def _answer(run: Any, job: AnalyseJob, analysis: Any) -> None:
    """Record ``job`` (and the same content met meanwhile) from the stored analysis."""
    others = run.waiting.pop(job.content_hash, [])
    for item in (Hashed(job.path, job.content_hash, job.size, job.mtime_ns, job.inode),
                 *others):
        run.stored(item, analysis, cached=True)
