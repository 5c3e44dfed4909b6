"""kill -9 in the middle of `reclass tag`, `reclass organise [--copy]` and `reclass undo`.

Each trial runs the command in a subprocess through tests/fault_reclass.py, which
SIGKILLs it at a random step of the run (a fault point of music_reclass.faults) or a
few random milliseconds after one, so the kill lands inside the dangerous windows and
always mid-run: a trial whose kill came after the run ended fails. Then it checks (see
``act_fixtures.kill_trial``): DB integrity, no audio changed, no file lost, the next
run completes, temp files are cleaned, no change outside the journal, and undo
restores every byte. ``undo-copy`` kills the undo of an ``organise --copy`` run
(removing copies). A few trials run by default; the full counts run with ``--run-slow``.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from act_fixtures import KILL_KINDS, kill_trial


def _trial(tmp_path: Path, kind: str, seed: int) -> None:
    result = kill_trial(tmp_path, kind, seed=seed)
    assert result["killed"], result
    assert result["failures"] == [], result


@pytest.mark.parametrize("seed", [1, 2])
@pytest.mark.parametrize("kind", KILL_KINDS)
def test_kill9_few(tmp_path: Path, kind: str, seed: int):
    _trial(tmp_path, kind, seed)


@pytest.mark.slow
@pytest.mark.parametrize("seed", range(100, 120))
@pytest.mark.parametrize("kind", KILL_KINDS)
def test_kill9_full(tmp_path: Path, kind: str, seed: int):
    _trial(tmp_path, kind, seed)
