"""What every command shares: opening the library, one-line errors, exit codes.

Exit codes: 0 done, 1 some file failed (or an undo was refused), 2 usage error (bad
option, missing path, unusable database or model), 130 interrupted.
"""

from __future__ import annotations

import os
import sqlite3
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import typer

from music_reclass.errors import NothingAnalysedError, ReclassError

__all__ = [
    "DB_HELP",
    "EXIT_FAILED",
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "EXIT_USAGE",
    "echo",
    "fail",
    "handled",
    "open_library",
]

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130
DB_HELP = "Library database (default: RECLASS_DB, the config file, or the data folder)."

#: Builds classifiers for the libraries this process opens (None: the real models).
#: A test harness sets it to run the real CLI with a fast fake model.
classifier_factory: Callable[[Any], Any] | None = None


def open_library(db: Path | None) -> Any:
    """The :class:`~music_reclass.Library` of ``--db``, else ``RECLASS_DB``, else the config
    file's ``[library] db``, else the data folder's ``library.sqlite``."""
    from music_reclass.library import Library

    if db is None and not os.environ.get("RECLASS_DB"):
        configured = setting("library", "db")
        db = Path(configured) if configured else None
    return Library(db, classifier_factory=classifier_factory)


def config() -> Any:
    """The configuration file (a bad file is a usage error). Read at each use: a few
    small reads per command, and tests point RECLASS_CONFIG elsewhere each time."""
    from music_reclass.config import load_config

    try:
        return load_config()
    except ReclassError as exc:
        raise fail(str(exc)) from exc


def setting(section: str, key: str, given: Any = None, default: Any = None) -> Any:
    """A flag's value: as given, else the config file's, else ``default``."""
    if given is not None:
        return given
    return config().get(section, key, default)


def echo(line: str, *, err: bool = False) -> None:
    """Print a line that may quote a file name that is not UTF-8 (escaped, never a crash)."""
    typer.echo(line.encode("utf-8", "backslashreplace").decode("utf-8"), err=err)


def fail(message: str, code: int = EXIT_USAGE) -> typer.Exit:
    """Print ``error: message`` on stderr; the exception to raise for exit ``code``."""
    echo(f"error: {_one_line(message)}", err=True)
    return typer.Exit(code)


def _one_line(message: str) -> str:
    return " ".join(str(message).split())


@contextmanager
def handled() -> Iterator[None]:
    """Library errors as one line and an exit code, never a traceback.

    Usage errors (bad arguments, an unusable database or model) exit 2; "nothing
    analysed under these paths" exits 1 (0 when there is no audio there at all);
    Ctrl-C exits 130.
    """
    try:
        yield
    except NothingAnalysedError as exc:
        echo(str(exc), err=exc.audio_found)
        raise typer.Exit(EXIT_FAILED if exc.audio_found else EXIT_OK) from exc
    except ReclassError as exc:
        raise fail(str(exc)) from exc
    except RecursionError as exc:
        raise fail("input nested too deeply to read") from exc
    except sqlite3.Error as exc:  # a read outside a transaction: locked, I/O error...
        from music_reclass.store.db import database_error

        raise fail(str(database_error(exc))) from exc
    except KeyboardInterrupt:
        echo("interrupted", err=True)
        raise typer.Exit(EXIT_INTERRUPTED) from None
    except OSError as exc:
        where = f": {exc.filename}" if getattr(exc, "filename", None) else ""
        raise fail(f"{exc.strerror or exc}{where}") from exc


def stdout_is_terminal() -> bool:
    return sys.stdout.isatty()


def env_flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in ("1", "true", "yes", "on")
