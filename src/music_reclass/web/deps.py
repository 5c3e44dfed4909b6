"""What every route gets from the app: the library and the job manager."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from music_reclass.library import Library
from music_reclass.web.jobs import JobManager

__all__ = ["JobsDep", "LibraryDep"]


def _library(request: Request) -> Library:
    return request.app.state.library


def _jobs(request: Request) -> JobManager:
    return request.app.state.jobs


LibraryDep = Annotated[Library, Depends(_library)]
JobsDep = Annotated[JobManager, Depends(_jobs)]


def known_model(library: Library, model: str | None) -> str | None:
    """``model`` when it names a model the library has used (never a file path from a
    request: the server loads no file a caller names)."""
    if model is None:
        return None
    if model not in {m.name for m in library.models()}:
        from fastapi import HTTPException

        raise HTTPException(400, f"the library has not used a model named {model!r}")
    return model
