"""Named fault points: where a test may inject a crash, an error or a delay.

The code that changes a user's files, and the database layer, call :func:`point` at
every step whose interruption matters ("planned", "copied", "replaced", "done"...).
In normal use no hook is installed and a point costs one empty loop. A test (or the
fault-injection benchmark) installs a hook with :func:`install` to sleep, raise an
``OSError``, hold a database lock or SIGKILL the process at one precise step; a
subprocess test does it from a small launcher in ``tests/`` before running the command.
Production code never reads a test setting: this module is the whole mechanism.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

__all__ = ["Hook", "install", "point"]

Hook = Callable[[str, dict[str, Any]], None]
"""``hook(name, context)``: called at each fault point (context: e.g. ``conn``)."""

_hooks: list[Hook] = []


def point(name: str, **context: Any) -> None:
    """A fault point named ``name``; runs the installed hooks (none in normal use)."""
    for hook in tuple(_hooks):
        hook(name, context)


def install(hook: Hook) -> Callable[[], None]:
    """Install ``hook`` at every fault point; returns the function that removes it."""
    _hooks.append(hook)

    def remove() -> None:
        if hook in _hooks:
            _hooks.remove(hook)

    return remove
