"""``/api/runs``: the history of classify, tag, organise, correct and undo runs."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Path, Query

from music_reclass.web.deps import LibraryDep
from music_reclass.web.schemas import MAX_ID, jsonable

__all__ = ["router"]

router = APIRouter(prefix="/api", tags=["runs"])
RunKind = Literal["classify", "tag", "organise", "undo", "correct", "learn", "train"]
RunIdPath = Annotated[int, Path(ge=1, le=MAX_ID)]


@router.get("/runs", summary="Runs, newest first, with the counts each reported")
def list_runs(
    library: LibraryDep,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    kind: RunKind | None = None,
) -> list[dict[str, Any]]:
    runs = library.runs(limit=limit, kinds=(kind,) if kind else None)
    return [jsonable(r) for r in runs]


@router.get("/runs/{run_id}", summary="One run")
def get_run(library: LibraryDep, run_id: RunIdPath) -> dict[str, Any]:
    run = library.run(run_id)
    if run is None:
        raise HTTPException(404, "no such run")
    return jsonable(run)


@router.get("/runs/{run_id}/journal", summary="What a run changed in the files")
def get_journal(
    library: LibraryDep,
    run_id: RunIdPath,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
) -> dict[str, Any]:
    """The journal rows of a tag or organise run (before and after, state), or the
    corrections of a correct run."""
    run = library.run(run_id)
    if run is None:
        raise HTTPException(404, "no such run")
    entries = library.run_changes(run_id)
    return {"run": jsonable(run), "total": len(entries),
            "items": jsonable(entries[offset: offset + limit])}
