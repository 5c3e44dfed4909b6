"""The per-file outcome of an act run (tag, organise, undo): a code and a reason."""

from __future__ import annotations

import os
from dataclasses import dataclass

from music_reclass.errors import ReclassError
from music_reclass.store.db import display_path

__all__ = ["FileOutcome", "failure"]


@dataclass(frozen=True)
class FileOutcome:
    """Why one file was skipped, refused or failed.

    ``code`` is stable and machine-readable (``abstained``, ``below-threshold``,
    ``changed-since-analysis``, ``missing``, ``symlink``, ``target-exists``,
    ``tag-error``, ``write-failed``, ``undo-refused``, ``unexpected``...); ``reason`` is
    one line for a person. ``str()`` gives ``"path: reason"``.
    """

    path: str
    code: str
    reason: str

    def __str__(self) -> str:
        return f"{display_path(self.path)}: {self.reason}"


def failure(path: str | os.PathLike, exc: BaseException) -> FileOutcome:
    """The outcome of an exception raised while acting on ``path`` (one line)."""
    if isinstance(exc, ReclassError):
        code, reason = exc.code, str(exc)
    elif isinstance(exc, OSError):
        code, reason = "os-error", exc.strerror or str(exc)
        if exc.filename is not None and exc.strerror:
            reason = f"{exc.strerror}: {display_path(exc.filename)}"
    else:
        code, reason = "unexpected", f"unexpected {type(exc).__name__}: {exc}"
    text = " ".join(str(reason).split())
    shown = display_path(path)
    if text.startswith(shown + ": "):  # messages that already quote the path
        text = text[len(shown) + 2:]
    return FileOutcome(os.fspath(path), code, text)
