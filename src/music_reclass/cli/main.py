"""Entry point of the ``reclass`` command.

Each command lives in its own module and registers itself on :data:`app`;
importing the modules here is what makes them available.
"""

from __future__ import annotations

from music_reclass.cli import (  # noqa: F401  (imported for their @app.command side effects)
    act,
    classify,
    learn,
    query,
)
from music_reclass.cli.app import app

__all__ = ["app"]

if __name__ == "__main__":
    app()
