"""The real ``reclass`` command with test faults installed at its fault points.

``python tests/fault_reclass.py tag DIR ...`` runs exactly what the installed entry
point runs, after installing a :mod:`music_reclass.faults` hook configured by these
environment variables (read here, never by production code):

``RECLASS_TEST_FAULT_DELAY``
    seconds to sleep at every step (stretches the dangerous windows);
``RECLASS_TEST_KILL_AT``
    SIGKILL this process at the N-th step of the command (1-based);
``RECLASS_TEST_KILL_AFTER``
    with ``RECLASS_TEST_KILL_AT``: kill that many seconds after the N-th step instead,
    while the work goes on (the next step waits for the kill, so it lands before it);
``RECLASS_TEST_KILL_POINT``
    SIGKILL this process at the first fault point of this name (e.g. ``planned``: a
    journal row committed, its change not yet made);
``RECLASS_TEST_BUSY_MS``
    the busy timeout of every database connection (a short one makes a held write
    lock fail fast);
``RECLASS_TEST_FAKE_MODEL``
    ``1``: classify with test_scan's fast fake model (as tests/fake_reclass.py).

``FAULT_RECLASS`` is the command line prefix for a subprocess.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any

TESTS = Path(__file__).resolve().parent
if str(TESTS) not in sys.path:
    sys.path.insert(0, str(TESTS))

from music_reclass import faults  # noqa: E402

#: the command line for a subprocess: ``[*FAULT_RECLASS, "tag", ...]``
FAULT_RECLASS = [sys.executable, str(Path(__file__).resolve())]

#: fault points that are not steps of a change (not counted, never delayed)
DB_POINTS = ("db-connected",)


def _kill() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def make_hook(env: dict[str, str]) -> faults.Hook:
    """The hook the environment asks for (see the module docstring)."""
    delay = float(env.get("RECLASS_TEST_FAULT_DELAY") or 0)
    kill_at = int(env.get("RECLASS_TEST_KILL_AT") or 0)
    kill_after = float(env.get("RECLASS_TEST_KILL_AFTER") or 0)
    kill_point = env.get("RECLASS_TEST_KILL_POINT")
    busy_ms = env.get("RECLASS_TEST_BUSY_MS")
    steps = 0

    def hook(name: str, context: dict[str, Any]) -> None:
        nonlocal steps
        if name in DB_POINTS:
            if busy_ms and context.get("conn") is not None:
                context["conn"].execute(f"PRAGMA busy_timeout={int(busy_ms)}")
            return
        if kill_point and name == kill_point:
            _kill()
        steps += 1
        if kill_at and steps == kill_at:
            if kill_after <= 0:
                _kill()
            threading.Timer(kill_after, _kill).start()
        elif kill_at and steps > kill_at:
            time.sleep(60)  # the timer kills us before this step goes on
        if delay:
            time.sleep(delay)

    return hook


def main() -> None:
    faults.install(make_hook(dict(os.environ)))
    if os.environ.get("RECLASS_TEST_FAKE_MODEL") == "1":
        from fake_reclass import main as fake_main

        fake_main()
        return
    from music_reclass.cli.main import app

    app()


if __name__ == "__main__":
    main()
