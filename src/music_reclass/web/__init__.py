"""The web front end: a REST API and a browser UI over the :class:`~music_reclass.Library`.

Needs the optional extra ``web`` (FastAPI, uvicorn, Jinja2): ``pip install
'music-reclass[web]'``. Start it with ``reclass serve``. Like every front end it only
calls the library façade: no SQL, no logic of its own.
"""

from __future__ import annotations

from music_reclass.web.app import create_app

__all__ = ["create_app"]
