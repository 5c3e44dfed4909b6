"""The web UI's pages (server-rendered templates; the scripts in ``static/`` call the API),
the login form and the API docs page."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import parse_qs

from fastapi import APIRouter, HTTPException, Request
from fastapi import Path as PathParam
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, FileSystemLoader, select_autoescape

from music_reclass.web import chartview
from music_reclass.web.deps import LibraryDep
from music_reclass.web.schemas import MAX_ID, file_item, jsonable
from music_reclass.web.security import COOKIE, session_value

__all__ = ["login_html", "router"]

router = APIRouter(include_in_schema=False)
TEMPLATES = Environment(loader=FileSystemLoader(Path(__file__).resolve().parent / "templates"),
                        autoescape=select_autoescape(["html"]))


def _summary(value: Any) -> str:
    """A journal state or a run's counts, short: ``genre: Jazz; Blues``."""
    if value is None:
        return ""
    if isinstance(value, dict):
        return ", ".join(f"{k}: {_summary(v)}" for k, v in value.items() if v not in (None, [], {}))
    if isinstance(value, (list, tuple)):
        return "; ".join(_summary(v) for v in value)
    return str(value)


def _when(stamp: str | None) -> str:
    """``2026-01-02T03:04:05+00:00`` as ``2026-01-02 03:04 UTC``."""
    if not stamp:
        return ""
    text = str(stamp).replace("T", " ")
    return text[:16] + " UTC" if text.endswith("+00:00") else text


def _paras(text: str | None) -> list[str]:
    """A docstring's paragraphs, each on one line, reST quoting dropped."""
    blocks = str(text or "").replace("``", "").split("\n\n")
    return [" ".join(b.split()) for b in blocks if b.strip()]


TEMPLATES.filters["summary"] = _summary
TEMPLATES.filters["when"] = _when
TEMPLATES.filters["paras"] = _paras
IdPath = Annotated[int, PathParam(ge=1, le=MAX_ID)]
#: a login form body is small; refuse anything larger before parsing it
MAX_FORM = 8192


def render(name: str, status: int = 200, **context: Any) -> HTMLResponse:
    html = TEMPLATES.get_template(name).render(**context)
    return HTMLResponse(html, status_code=status,
                        headers={"Content-Security-Policy": CSP, "X-Frame-Options": "DENY",
                                 "Referrer-Policy": "no-referrer"})


#: pages load scripts and styles from this server only; nothing inline
CSP = ("default-src 'self'; img-src 'self' data:; media-src 'self'; style-src 'self';"
       " script-src 'self'; frame-ancestors 'none'; form-action 'self'")


def _local(target: str | None) -> str:
    """A redirect target on this server (never another site)."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


def login_html(next_path: str, error: str | None = None) -> bytes:
    html = TEMPLATES.get_template("login.html").render(next=_local(next_path), error=error,
                                                       page="login", auth=False)
    return html.encode()


@router.get("/login", response_class=HTMLResponse)
def login_form(request: Request, next: str = "/") -> Response:  # noqa: A002
    if not request.app.state.token_required:
        return RedirectResponse(_local(next), status_code=303)
    return render("login.html", next=_local(next), error=None, page="login", auth=False)


@router.post("/login")
async def login(request: Request) -> Response:
    """Exchange the token (form field ``token``) for a session cookie."""
    guard = request.app.state.guard
    body = await request.body()
    form = parse_qs(body[:MAX_FORM].decode("utf-8", "replace")) if len(body) <= MAX_FORM else {}
    given = (form.get("token") or [""])[0]
    target = _local((form.get("next") or ["/"])[0])
    if guard.token is None:
        return RedirectResponse(target, status_code=303)
    if not guard.token_ok({"authorization": f"Bearer {given}"}):
        return HTMLResponse(login_html(target, "That token is not the server's."),
                            status_code=401)
    response = RedirectResponse(target, status_code=303)
    response.set_cookie(COOKIE, session_value(guard.token), httponly=True, samesite="strict",
                        max_age=30 * 24 * 3600, path="/")
    return response


@router.post("/logout")
def logout() -> Response:
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(COOKIE, path="/")
    return response


def _page(request: Request, name: str, page: str, **context: Any) -> HTMLResponse:
    return render(name, page=page, auth=request.app.state.token_required, **context)


@router.get("/", response_class=HTMLResponse)
def library_page(request: Request, library: LibraryDep) -> HTMLResponse:
    stats = library.stats()
    return _page(request, "library.html", "library", model=stats.model_name,
                 genres=[g for g, _, _ in stats.genres], counts=stats.files)


@router.get("/track/{file_id}", response_class=HTMLResponse)
def track_page(request: Request, library: LibraryDep, file_id: IdPath) -> HTMLResponse:
    story = library.file_story(file_id)
    if story is None:
        raise HTTPException(404, "no such file in the library")
    item = file_item(story["view"])
    details = jsonable(story["details"])
    names = {m.model_id: m.name for m in library.models()}
    return _page(request, "track.html", "library", item=item, details=details, model_names=names,
                 corrections=jsonable(story["corrections"]), folder=os.path.dirname(
                     item["path"]))


@router.get("/review", response_class=HTMLResponse)
def review_page(request: Request, library: LibraryDep) -> HTMLResponse:
    return _page(request, "review.html", "review", model=library.stats().model_name)


@router.get("/tag", response_class=HTMLResponse)
def tag_page(request: Request, library: LibraryDep) -> HTMLResponse:
    return _page(request, "tag.html", "tag", roots=jsonable(library.library_roots()),
                 model=library.stats().model_name)


@router.get("/runs", response_class=HTMLResponse)
def runs_page(request: Request, library: LibraryDep) -> HTMLResponse:
    return _page(request, "runs.html", "runs", runs=jsonable(library.runs(limit=200)))


@router.get("/runs/{run_id}", response_class=HTMLResponse)
def run_page(request: Request, library: LibraryDep, run_id: IdPath) -> HTMLResponse:
    run = library.run(run_id)
    if run is None:
        raise HTTPException(404, "no such run")
    changes = library.run_changes(run_id)
    return _page(request, "run.html", "runs", run=jsonable(run), total=len(changes),
                 changes=jsonable(changes[:1000]))


@router.get("/charts", response_class=HTMLResponse)
def charts_page(request: Request, library: LibraryDep) -> HTMLResponse:
    data = library.charts()
    genre_bars = chartview.bars([(g, n) for g, n, _ in data.genres])
    for row, (_, _, conf) in zip(genre_bars, data.genres, strict=False):
        row["conf"] = conf
    return _page(request, "charts.html", "charts", data=jsonable(data), genre_bars=genre_bars,
                 hist=chartview.histogram(data.confidence),
                 compare=chartview.before_after(data.tags_before, data.decided_after))


@router.get("/docs", response_class=HTMLResponse)
def docs_page(request: Request) -> HTMLResponse:
    """The API reference, rendered from the OpenAPI schema (no script from elsewhere)."""
    schema = request.app.openapi()
    return _page(request, "docs.html", "docs", schema=schema, operations=_operations(schema))


def _operations(schema: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for path, methods in schema.get("paths", {}).items():
        for method, op in methods.items():
            params = [{"name": p["name"], "in": p["in"], "required": p.get("required", False),
                       "schema": _describe(p.get("schema", {}), schema),
                       "description": p.get("description", "")}
                      for p in op.get("parameters", [])]
            body = op.get("requestBody", {}).get("content", {}).get("application/json", {})
            out.append({"method": method.upper(), "path": path, "summary": op.get("summary", ""),
                        "description": op.get("description", ""), "params": params,
                        "body": _body_fields(body.get("schema", {}), schema),
                        "tag": (op.get("tags") or ["other"])[0],
                        "responses": sorted(op.get("responses", {}))})
    return out


def _resolve(node: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    ref = node.get("$ref")
    if ref and ref.startswith("#/components/schemas/"):
        return schema["components"]["schemas"].get(ref.rsplit("/", 1)[1], {})
    return node


def _describe(node: dict[str, Any], schema: dict[str, Any]) -> str:
    node = _resolve(node, schema)
    if "anyOf" in node:
        return " | ".join(_describe(n, schema) for n in node["anyOf"])
    if "enum" in node:
        return " | ".join(map(str, node["enum"]))
    kind = str(node.get("type", "any"))
    if kind == "array":
        return f"list of {_describe(node.get('items', {}), schema)}"
    bounds = [f"{k} {node[k]}" for k in ("minimum", "maximum", "maxLength") if k in node]
    return kind + (f" ({', '.join(bounds)})" if bounds else "")


def _body_fields(node: dict[str, Any], schema: dict[str, Any]) -> list[dict[str, Any]]:
    node = _resolve(node, schema)
    required = set(node.get("required", []))
    return [{"name": name, "schema": _describe(sub, schema), "required": name in required,
             "default": sub.get("default"), "description": sub.get("description", "")}
            for name, sub in node.get("properties", {}).items()]
