"""``/api/jobs``: classify, tag (preview, apply), organise, undo and learn in the
background, their progress as Server-Sent Events, and cancel."""

from __future__ import annotations

import asyncio
import inspect
import json
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Path, Request
from fastapi.responses import JSONResponse, StreamingResponse

from music_reclass.web.deps import JobsDep, LibraryDep
from music_reclass.web.jobs import FINISHED, Busy, JobManager, Work
from music_reclass.web.schemas import (
    LEARN_OPTIONS,
    MAX_ID,
    ClassifyBody,
    LearnBody,
    OrganiseBody,
    TagBody,
    UndoBody,
    jsonable,
)

__all__ = ["learn_router", "router"]

router = APIRouter(prefix="/api/jobs", tags=["jobs"])
#: included only when the library has a learn job
learn_router = APIRouter(prefix="/api/jobs", tags=["jobs"])
JobIdPath = Annotated[int, Path(ge=1, le=MAX_ID)]
#: at most this many per-file lines are kept in a job's result (the counts are exact)
MAX_LINES = 2000


def _start(jobs: JobManager, kind: str, params: dict[str, Any], work: Work) -> JSONResponse:
    try:
        job = jobs.start(kind, params, work)
    except Busy as exc:
        raise HTTPException(409, str(exc)) from exc
    return JSONResponse(job.snapshot(), status_code=202,
                        headers={"Location": f"/api/jobs/{job.id}"})


def _capped(items: list[Any]) -> dict[str, Any]:
    return {"count": len(items), "items": jsonable(items[:MAX_LINES]),
            "truncated": len(items) > MAX_LINES}


def _outcomes(items: list[Any]) -> dict[str, Any]:
    return _capped([{"path": o.path, "code": o.code, "reason": o.reason} for o in items])


@router.post("/classify", status_code=202, summary="Classify the library's folders again")
def classify(library: LibraryDep, jobs: JobsDep, request: Request, body: ClassifyBody,
             ) -> JSONResponse:
    """New and changed files are classified; files already analysed are answered from
    the database (``force`` analyses them again)."""
    paths = library.job_paths(body.paths)
    workers = request.app.state.classify_jobs

    def work(progress: Any, cancel: Any) -> dict[str, Any]:
        run = library.classify(paths, jobs=workers, force=body.force, keep_results=False,
                               on_progress=progress, cancel=cancel)
        return {"run_id": run.run_id, "status": run.status, "summary": jsonable(run.summary)}

    return _start(jobs, "classify", {"paths": paths, "force": body.force}, work)


@router.post("/tag", status_code=202, summary="Write genres into tags (dry run: the preview)")
def tag(library: LibraryDep, jobs: JobsDep, body: TagBody) -> JSONResponse:
    """With ``dry_run`` (the default) nothing is written: the result lists every change
    (before and after) and every file skipped with the reason. Without it the changes
    are journalled and written; undo reverts them."""
    paths = library.job_paths(body.paths)
    options = {"min_confidence": body.min_confidence, "top_k": body.top_k, "mode": body.mode,
               "dry_run": body.dry_run}

    def work(progress: Any, cancel: Any) -> dict[str, Any]:
        summary = library.tag_job(paths, on_progress=progress, cancel=cancel, **options)
        return {
            "run_id": summary.run_id, "status": summary.status, "dry_run": body.dry_run,
            "changes": _capped([{"path": c.path, "before": c.before_genres,
                                 "after": c.after_genres} for c in summary.changes]),
            "unchanged": len(summary.unchanged),
            "skipped": _outcomes(summary.skipped), "failed": _outcomes(summary.failed),
        }

    return _start(jobs, "tag", {"paths": paths, **options}, work)


@router.post("/organise", status_code=202, summary="Move or copy files into genre folders")
def organise(library: LibraryDep, jobs: JobsDep, body: OrganiseBody) -> JSONResponse:
    paths = library.job_paths(body.paths)
    into = library.job_target(body.into)
    options: dict[str, Any] = {"into": into, "copy": body.copy_files, "dry_run": body.dry_run,
                               "min_confidence": body.min_confidence,
                               "on_collision": body.on_collision}
    if body.pattern is not None:
        options["pattern"] = body.pattern

    def work(progress: Any, cancel: Any) -> dict[str, Any]:
        summary = library.organise_job(paths, on_progress=progress, cancel=cancel, **options)
        return {
            "run_id": summary.run_id, "status": summary.status, "dry_run": body.dry_run,
            "placed": _capped([{"from": a, "to": b} for a, b in summary.placed]),
            "unchanged": len(summary.unchanged),
            "skipped": _outcomes(summary.skipped), "failed": _outcomes(summary.failed),
        }

    return _start(jobs, "organise", {"paths": paths, **options}, work)


@router.post("/undo", status_code=202, summary="Undo a tag/organise run or a correction run")
def undo(library: LibraryDep, jobs: JobsDep, body: UndoBody) -> JSONResponse:
    """Default: the latest undoable run. Files changed since are refused, not overwritten."""
    if body.run_id is not None and library.run(body.run_id) is None:
        raise HTTPException(404, "no such run")

    def work(progress: Any, cancel: Any) -> dict[str, Any]:
        progress(0, 1)
        report = library.undo(body.run_id, dry_run=body.dry_run)
        progress(1, 1)
        return {"run_id": report.run_id, "undo_run_id": report.undo_run_id,
                "status": "done" if report.ok else "failed", "dry_run": body.dry_run,
                "undone": _capped(report.undone), "refused": _capped(report.refused),
                "skipped": _capped(report.skipped)}

    return _start(jobs, "undo", {"run_id": body.run_id, "dry_run": body.dry_run}, work)


@learn_router.post("/learn", status_code=202,
                   summary="Learn the owner's genres (personal model)")
def learn(library: LibraryDep, jobs: JobsDep, body: LearnBody) -> JSONResponse:
    """Runs the library's ``learn`` job with ``options`` as its keyword arguments."""
    method = library.learn  # type: ignore[attr-defined]
    accepted = inspect.signature(method).parameters
    unknown = sorted(set(body.options) - (set(LEARN_OPTIONS) & set(accepted)))
    if unknown:
        raise HTTPException(400, f"unknown learn option(s): {', '.join(unknown)} (known: "
                                 f"{', '.join(o for o in LEARN_OPTIONS if o in accepted)})")

    def work(progress: Any, cancel: Any) -> dict[str, Any]:
        hooks = {"on_progress": progress, "cancel": cancel}
        outcome = method(**body.options, **{k: v for k, v in hooks.items() if k in accepted})
        return {"status": "done", "outcome": jsonable(outcome)}

    return _start(jobs, "learn", dict(body.options), work)


@router.get("", summary="Recent jobs, newest first")
def list_jobs(jobs: JobsDep) -> list[dict[str, Any]]:
    return [jsonable(j.snapshot()) for j in jobs.list()]


@router.get("/{job_id}", summary="One job: state, progress, result")
def get_job(jobs: JobsDep, job_id: JobIdPath) -> dict[str, Any]:
    job = jobs.get(job_id)
    if job is None:
        raise HTTPException(404, "no such job")
    return jsonable(job.snapshot())


@router.post("/{job_id}/cancel", summary="Ask a job to stop (between files)")
def cancel_job(jobs: JobsDep, job_id: JobIdPath) -> dict[str, Any]:
    job = jobs.cancel(job_id)
    if job is None:
        raise HTTPException(404, "no such job")
    return jsonable(job.snapshot())


@router.get("/{job_id}/events", summary="The job's progress as Server-Sent Events",
            response_class=StreamingResponse,
            responses={200: {"content": {"text/event-stream": {}}}})
async def job_events(jobs: JobsDep, request: Request, job_id: JobIdPath) -> StreamingResponse:
    """``event: progress`` with the job's state as JSON each time it changes, then
    ``event: end`` when it has finished."""
    if jobs.get(job_id) is None:
        raise HTTPException(404, "no such job")
    return StreamingResponse(_events(jobs, request, job_id), media_type="text/event-stream",
                             headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})


async def _events(jobs: JobManager, request: Request, job_id: int) -> AsyncIterator[str]:
    version = -1
    while True:
        snap = await asyncio.to_thread(jobs.wait, job_id, version, 1.0)
        if snap is None:
            return
        if snap["version"] != version:
            version = snap["version"]
            yield f"event: progress\ndata: {json.dumps(jsonable(snap))}\n\n"
        else:
            yield ": keep-alive\n\n"
        if snap["state"] in FINISHED:
            yield f"event: end\ndata: {json.dumps(jsonable(snap))}\n\n"
            return
        if await request.is_disconnected():
            return
