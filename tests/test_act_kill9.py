"""kill -9 in the middle of `reclass tag`, `reclass organise [--copy]` and `reclass undo`.

Each trial runs the command in a subprocess with ``RECLASS_FAULT_DELAY`` (a
test-only sleep between every step, see ``safe_write.fault_point``) so that a
SIGKILL at a random time lands inside the dangerous windows, then checks (see
``act_fixtures.kill_trial``): DB integrity, no audio changed, no file lost, the
next run completes, temp files are cleaned, and undo restores every byte.
``undo-copy`` kills the undo of an ``organise --copy`` run (removing copies).
A few trials run by default; the full counts run with ``--run-slow``.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from act_fixtures import kill_trial

# ~ each command's run time with the delay
WINDOWS = {"tag": 2.0, "organise": 1.5, "organise-copy": 1.5, "undo": 1.7, "undo-copy": 1.2}
KINDS = list(WINDOWS)


def _trial(tmp_path: Path, kind: str, seed: int) -> None:
    result = kill_trial(tmp_path, kind, seed=seed, window=WINDOWS[kind])
    assert result["failures"] == [], result


@pytest.mark.parametrize("seed", [1, 2])
@pytest.mark.parametrize("kind", KINDS)
def test_kill9_few(tmp_path: Path, kind: str, seed: int):
    _trial(tmp_path, kind, seed)


@pytest.mark.slow
@pytest.mark.parametrize("seed", range(100, 120))
@pytest.mark.parametrize("kind", KINDS)
def test_kill9_full(tmp_path: Path, kind: str, seed: int):
    _trial(tmp_path, kind, seed)
