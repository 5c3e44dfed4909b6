"""``/api/review`` (the tracks waiting for the owner) and ``/api/corrections``."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query

from music_reclass.web.deps import LibraryDep
from music_reclass.web.schemas import AcceptBody, CorrectBody, file_item, jsonable

__all__ = ["router"]

router = APIRouter(prefix="/api", tags=["review"])


@router.get("/review", summary="Tracks waiting for review, least confident first")
def review_queue(
    library: LibraryDep,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    min_confidence: Annotated[float | None, Query(ge=0.0, le=1.0)] = None,
) -> dict[str, Any]:
    """The tracks the model abstained on that nobody corrected or accepted yet, each with
    the model's genres and the reason it abstained."""
    page = library.review_page(limit=limit, offset=offset, min_confidence=min_confidence)
    return {"total": page.total, "offset": offset, "limit": limit,
            "items": [file_item(v) for v in page.items]}


def _report(report: Any) -> dict[str, Any]:
    return {"run_id": report.run_id,
            "corrected": [{"path": p, "genres": g} for p, g in jsonable(report.corrected)],
            "refused": [{"path": p, "reason": r} for p, r in jsonable(report.refused)]}


@router.post("/corrections", summary="Say which genres some tracks have (single or bulk)")
def correct(library: LibraryDep, body: CorrectBody) -> dict[str, Any]:
    """Records the owner's genres for the files (one undoable run: undo it from the runs
    page or ``POST /api/jobs/undo``)."""
    return _report(library.correct(list(body.file_ids), body.genres))


@router.post("/accept", summary="Confirm the model's genres (listed files, or above a threshold)")
def accept(library: LibraryDep, body: AcceptBody) -> dict[str, Any]:
    """With ``file_ids``: accept those files. With ``min_confidence``: accept every track
    waiting for review at least that confident. One undoable run either way."""
    if (body.file_ids is None) == (body.min_confidence is None):
        raise HTTPException(400, "give either file_ids or min_confidence")
    if body.file_ids is not None:
        return _report(library.accept(list(body.file_ids)))
    return _report(library.accept_above(float(body.min_confidence or 0.0)))


@router.get("/corrections", summary="The current correction of every corrected track")
def corrections(
    library: LibraryDep,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> dict[str, Any]:
    every = library.corrections()
    return {"total": len(every), "items": jsonable(every[offset: offset + limit])}
