"""``/api/files``, one file, its audio, statistics, charts, models and the library's folders."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Path, Query
from fastapi.responses import FileResponse

from music_reclass.library import FileQuery
from music_reclass.web.deps import LibraryDep, known_model
from music_reclass.web.schemas import MAX_ID, ModelBody, file_item, jsonable

__all__ = ["router"]

router = APIRouter(prefix="/api", tags=["library"])

SortKey = Literal["path", "confidence", "genre", "duration", "artist", "title", "album", "seen"]
Status = Literal["ok", "error", "missing", "review", "unanalysed"]
Confidence = Annotated[float | None, Query(ge=0.0, le=1.0)]
FileIdPath = Annotated[int, Path(ge=1, le=MAX_ID, description="The file's id in the library.")]
ShortText = Annotated[str | None, Query(min_length=1, max_length=200)]


def _query(library: LibraryDep, offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
           limit: Annotated[int, Query(ge=1, le=500)] = 50, sort: SortKey = "path",
           order: Literal["asc", "desc"] = "asc", genre: ShortText = None,
           status: Status | None = None, min_confidence: Confidence = None,
           max_confidence: Confidence = None,
           decided: Annotated[bool | None, Query(
               description="true: the model decided; false: it abstained")] = None,
           disagree: Annotated[bool | None, Query(
               description="true: the top genre is none of the file's genre tags")] = None,
           corrected: Annotated[bool | None, Query(
               description="true: the owner corrected or accepted the track")] = None,
           search: Annotated[str | None, Query(
               min_length=1, max_length=200,
               description="text in the path, artist, title or album")] = None,
           model: ShortText = None) -> FileQuery:
    """The filters of a listing, shared by the page and its count."""
    model_id = library.model_id_for(known_model(library, model))[0] if model else None
    return FileQuery(model_id=model_id, genre=genre, status=status,
                     min_confidence=min_confidence, max_confidence=max_confidence,
                     decided=decided, disagree=disagree, corrected=corrected, search=search,
                     sort=sort, descending=order == "desc", limit=limit, offset=offset)


Filters = Annotated[FileQuery, Depends(_query)]


@router.get("/files", summary="A page of the library's files, filtered and sorted")
def list_files(
    library: LibraryDep, query: Filters,
    total: Annotated[bool, Query(description="count every match (false: only the page, "
                                 "faster; ask /api/files/count)")] = True,
) -> dict[str, Any]:
    """Files with one model's results (the active model unless `model` is given).
    Filters combine."""
    page = library.file_page(query, with_total=total)
    return {"total": page.total, "offset": query.offset, "limit": query.limit,
            "items": [file_item(v) for v in page.items]}


@router.get("/files/count", summary="How many files match the filters")
def count_files(library: LibraryDep, query: Filters) -> dict[str, int]:
    return {"total": library.count_files(query)}


@router.get("/files/{file_id}", summary="Everything about one file")
def get_file(library: LibraryDep, file_id: FileIdPath) -> dict[str, Any]:
    """Its genres with confidences, the top tags (why the model chose them), the tags
    already in the file, the owner's corrections and the history of changes."""
    story = library.file_story(file_id)
    if story is None:
        raise HTTPException(404, "no such file in the library")
    details = story["details"]
    return {
        **file_item(story["view"]),
        "track": jsonable(details.get("track")),
        "analyses": jsonable(details.get("analyses", [])),
        "same_content": jsonable(details.get("same_content", [])),
        "journal": jsonable(details.get("journal", [])),
        "run": jsonable(details.get("run")),
        "first_seen": details.get("first_seen"),
        "last_seen": details.get("last_seen"),
        "corrections": jsonable(story["corrections"]),
    }


@router.get("/files/{file_id}/audio", summary="The file's audio (HTTP range requests)",
            response_class=FileResponse, responses={206: {"description": "A byte range"},
                                                    404: {"description": "No such file"}})
def get_audio(library: LibraryDep, file_id: FileIdPath) -> FileResponse:
    """Streams a library file by id (never a path taken from the request); honours
    ``Range`` (206 Partial Content), as audio players need to seek."""
    source = library.audio_source(file_id)
    if source is None:
        raise HTTPException(404, "no playable file with this id in the library")
    return FileResponse(source.path, media_type=source.media_type,
                        headers={"Cache-Control": "private, max-age=60"})


@router.get("/stats", summary="Files by status and by genre")
def get_stats(library: LibraryDep, model: ShortText = None) -> dict[str, Any]:
    stats = library.stats(model=known_model(library, model))
    return {"model_id": stats.model_id, "model": stats.model_name, "files": stats.files,
            "genres": [{"genre": g, "files": n, "mean_confidence": c}
                       for g, n, c in stats.genres]}


@router.get("/charts", summary="Genre distribution, confidence histogram, before and after")
def get_charts(library: LibraryDep, model: ShortText = None) -> dict[str, Any]:
    data = library.charts(model=known_model(library, model))
    return {
        "model_id": data.model_id, "model": data.model_name, "statuses": data.statuses,
        "genres": [{"genre": g, "files": n, "mean_confidence": c} for g, n, c in data.genres],
        "confidence": data.confidence,
        "tags_before": [{"genre": g, "files": n} for g, n in data.tags_before],
        "decided_after": [{"genre": g, "files": n} for g, n in data.decided_after],
    }


@router.get("/models", summary="The models the library has used; the active one marked")
def get_models(library: LibraryDep) -> list[dict[str, Any]]:
    return [jsonable(m) for m in library.models()]


@router.post("/models/active", summary="Make a model the library's active one")
def set_model(library: LibraryDep, body: ModelBody) -> dict[str, Any]:
    spec = library.use_model(known_model(library, body.model))
    return {"active": spec.name}


@router.get("/roots", summary="The folders of the library (where jobs may act)")
def get_roots(library: LibraryDep) -> dict[str, Any]:
    return {"roots": jsonable(library.library_roots())}
