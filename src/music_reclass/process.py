"""Is the process that started a run still running? (pid plus its start time)

A run records its process id and start time; a later command uses :func:`pid_alive` to
tell a run in progress from a crashed one (a pid is reused after its process exits: the
start time tells them apart on Linux).
"""

from __future__ import annotations

import os

__all__ = ["pid_alive", "process_start_time"]


def process_start_time(pid: int) -> int | None:
    """When process ``pid`` started (clock ticks since boot), or None where unknown.

    Read from ``/proc/<pid>/stat`` (field 22) on Linux; elsewhere None, and
    :func:`pid_alive` then falls back to the pid alone.
    """
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            stat = fh.read()
    except OSError:
        return None
    # The command name (field 2) may hold spaces and ')': fields follow the last ')'.
    fields = stat[stat.rfind(b")") + 2 :].split()
    try:
        return int(fields[19])  # field 22 counted from 1; fields[0] is field 3
    except (IndexError, ValueError):
        return None


def pid_alive(pid: int | None, start_time: int | None = None) -> bool:
    """Is process ``pid`` running, and is it the one that started at ``start_time``?

    A pid is reused after its process exits; when the start time was recorded
    with it and differs now, the recorded process is dead.
    """
    if not pid:
        return False
    if pid == os.getpid():
        return start_time is None or start_time == process_start_time(pid)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # exists, owned by someone else
    except OSError:
        return False
    if start_time is not None:
        now = process_start_time(pid)
        if now is not None and now != start_time:
            return False
    return True
