"""The web application: REST API, web UI and docs, over one :class:`~music_reclass.Library`.

>>> from music_reclass import Library
>>> from music_reclass.web import create_app
>>> app = create_app(Library("lib.sqlite"))          # doctest: +SKIP
>>> import uvicorn; uvicorn.run(app, port=8750)       # doctest: +SKIP
"""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles

from music_reclass import __version__
from music_reclass.errors import MissingDatabaseError, ParameterError, ReclassError
from music_reclass.library import Library
from music_reclass.web import api_files, api_jobs, api_review, api_runs, pages
from music_reclass.web.jobs import JobManager
from music_reclass.web.security import Guard, GuardMiddleware

__all__ = ["create_app"]

HERE = Path(__file__).resolve().parent

DESCRIPTION = """Browse, listen to, review and correct a music library classified by
`reclass`, write genre tags (with a preview and undo) and follow jobs live.

When the server was started with a token, every request carries it:
`Authorization: Bearer TOKEN` (or `X-Reclass-Token: TOKEN`); the browser UI logs in once
and keeps a session cookie."""


def create_app(library: Library, *, token: str | None = None,
               allowed_hosts: Iterable[str] | None = None,
               classify_jobs: int | None = None) -> FastAPI:
    """The FastAPI application serving ``library``.

    Parameters
    ----------
    library : Library
        The library every route calls (its methods are thread-safe).
    token : str, optional
        When given, every request must carry it (header, or the login cookie).
    allowed_hosts : iterable of str, optional
        Host names the ``Host`` header may carry (None: any; the CLI passes the
        loopback names when serving loopback without a token).
    classify_jobs : int, optional
        Worker processes for classify jobs (None: one per core; 0: in the server).
    """
    jobs = JobManager()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        jobs.cancel_all()  # a job stops between files; what it did stays recorded

    app = FastAPI(title="Music ReClass", version=__version__, description=DESCRIPTION,
                  docs_url=None, redoc_url=None, lifespan=lifespan)
    app.state.library = library
    app.state.jobs = jobs
    app.state.classify_jobs = classify_jobs
    app.state.token_required = bool(token)
    for router in (api_files.router, api_review.router, api_runs.router, api_jobs.router,
                   pages.router):
        app.include_router(router)
    if callable(getattr(library, "learn", None)):  # the personal-model job, once it exists
        app.include_router(api_jobs.learn_router)
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    _add_error_handlers(app)
    guard = Guard.make(token, allowed_hosts)
    app.state.guard = guard
    app.add_middleware(GuardMiddleware, guard=guard, login_page=pages.login_html)
    return app


def _add_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ParameterError)
    async def bad_parameter(request: Request, exc: ParameterError) -> JSONResponse:
        return JSONResponse({"detail": _one_line(exc)}, status_code=400)

    @app.exception_handler(MissingDatabaseError)
    async def no_database(request: Request, exc: MissingDatabaseError) -> JSONResponse:
        return JSONResponse({"detail": _one_line(exc)}, status_code=503)

    @app.exception_handler(ReclassError)
    async def refused(request: Request, exc: ReclassError) -> JSONResponse:
        return JSONResponse({"detail": _one_line(exc)}, status_code=409)

    @app.exception_handler(sqlite3.OperationalError)
    async def busy(request: Request, exc: sqlite3.OperationalError) -> JSONResponse:
        text = _one_line(exc)
        if "locked" not in text and "busy" not in text:  # not a busy database: a bug
            raise exc
        return JSONResponse({"detail": f"library database busy: {text}"},
                            status_code=503, headers={"Retry-After": "2"})

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [{"loc": [str(part) for part in e.get("loc", ())], "msg": str(e.get("msg")),
                   "type": str(e.get("type"))} for e in exc.errors()]
        return JSONResponse({"detail": errors}, status_code=422)


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())
