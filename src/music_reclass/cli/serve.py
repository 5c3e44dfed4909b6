"""``reclass serve``: the REST API and the web UI over a library, in one process.

Loopback only by default. Any other address needs a token (``--token``, the
``RECLASS_TOKEN`` environment variable, or ``token`` under ``[serve]`` in the config
file ``RECLASS_CONFIG`` / ``<config dir>/music-reclass/config.toml``): every request must
then carry it, and the browser logs in once.
"""

from __future__ import annotations

import ipaddress
import os
from pathlib import Path

import typer

from music_reclass.cli.app import app
from music_reclass.cli.common import (
    DB_HELP,
    EXIT_USAGE,
    echo,
    fail,
    handled,
    open_library,
    setting,
)

__all__ = ["is_loopback"]

TOKEN_ENV = "RECLASS_TOKEN"


def is_loopback(host: str) -> bool:
    """Whether ``host`` is a loopback address or name (only this machine can connect)."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


@app.command("serve")
def serve_command(
    db: Path | None = typer.Option(None, "--db", help=DB_HELP),
    host: str | None = typer.Option(None, "--host", help="Address to listen on (default "
                                    "127.0.0.1; any other needs a token)."),
    port: int | None = typer.Option(None, "--port", min=0, max=65535,
                                    help="Port to listen on (default 8750)."),
    token: str | None = typer.Option(None, "--token", help=f"Require this token on every "
                                     f"request (also from {TOKEN_ENV} or the config file)."),
    jobs: int | None = typer.Option(None, "--jobs", min=0, help="Worker processes for "
                                    "classify jobs (default: one per core)."),
) -> None:
    """Serve the web UI and the REST API (docs at /docs) over the library."""
    token = token or os.environ.get(TOKEN_ENV) or setting("serve", "token")
    host = setting("serve", "host", host, "127.0.0.1")
    port = setting("serve", "port", port, 8750)
    if token is not None and len(token) < 8:
        raise fail("the token must be at least 8 characters long")
    loopback = is_loopback(host)
    if not loopback and not token:
        raise fail(f"refusing to serve on {host} without a token: anyone who can reach it "
                   f"could change your files. Give --token (or set {TOKEN_ENV}), or serve "
                   "on 127.0.0.1", EXIT_USAGE)
    try:
        import uvicorn

        from music_reclass.web import create_app
    except ImportError as exc:
        raise fail(f"the web server needs the 'web' extra ({exc.name} is missing): "
                   "pip install 'music-reclass[web]'") from exc
    library = open_library(db)
    with handled():
        library.connection()  # a missing or unusable database: one line, exit 2, now
    allowed = None if token else {"127.0.0.1", "localhost", "::1", "[::1]", host.lower()}
    application = create_app(library, token=token, allowed_hosts=allowed, classify_jobs=jobs)
    shown = f"[{host}]" if ":" in host else host
    echo(f"serving {library.path} on http://{shown}:{port}/ (API docs at /docs)"
         + ("; token required" if token else "") + " — Ctrl-C stops")
    uvicorn.run(application, host=host, port=port, log_level="warning",
                timeout_graceful_shutdown=5)
