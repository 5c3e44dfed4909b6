"""Classify on a Dask LocalCluster: the same records as a local run, resumable, and a
worker killed mid-run has its tasks run again."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest

pytest.importorskip("distributed")

from fake_reclass import FAKE_RECLASS  # noqa: E402
from music_reclass.errors import ParameterError  # noqa: E402
from music_reclass.runner.classify import classify_paths  # noqa: E402
from music_reclass.runner.dask import DaskPool, parse_dask_address, parse_path_map  # noqa: E402
from music_reclass.store.db import connect  # noqa: E402
from test_scan import FAKE_DELAY_ENV, FakeClassifier, library, tone  # noqa: E402

TESTS = Path(__file__).resolve().parent


def _cli(*args: str, delay: float = 0.0) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(TESTS), FAKE_DELAY_ENV: str(delay)}
    return subprocess.run([*FAKE_RECLASS, *args], capture_output=True, text=True, env=env,
                          timeout=300)


def _records(text: str) -> dict[str, tuple]:
    out = {}
    for line in text.splitlines():
        record = json.loads(line)
        out[Path(record["path"]).name] = (record["status"], record["error_code"],
                                          record["genres"], record["content_hash"])
    return out


def test_contract_dask_gives_the_records_of_a_local_run(tmp_path):
    library(tmp_path / "music")
    local = _cli("classify", str(tmp_path / "music"), "--db", str(tmp_path / "a.sqlite"),
                 "--json", "--jobs", "1")
    dask = _cli("classify", str(tmp_path / "music"), "--dask", "local:2", "--db",
                str(tmp_path / "b.sqlite"), "--json")
    assert dask.returncode == local.returncode == 1, dask.stderr  # 5 bad files in the library
    assert _records(dask.stdout) == _records(local.stdout)
    assert len(_records(dask.stdout)) == 8
    again = _cli("classify", str(tmp_path / "music"), "--dask", "local:2", "--db",
                 str(tmp_path / "b.sqlite"), "--json")
    cached = [json.loads(line)["cached"] for line in again.stdout.splitlines()]
    assert cached.count(True) == 8 - 3  # every analysed content answered from the DB


def test_a_killed_worker_has_its_tasks_run_again(tmp_path, monkeypatch):
    for i in range(12):
        tone(tmp_path / "m" / f"t{i:02d}.wav", 200.0 + 40 * i)
    monkeypatch.setenv(FAKE_DELAY_ENV, "0.5")  # long enough to kill a worker mid-task
    conn = connect(tmp_path / "lib.sqlite")
    pool = DaskPool(FakeClassifier(), "local:2", batch_size=2)
    pids = pool.client.run(os.getpid)
    results, killed = [], []

    def kill_one_worker(result):
        results.append(result)
        if len(results) == 2 and not killed:
            victim = sorted(pids.values())[0]
            os.kill(victim, signal.SIGKILL)
            killed.append(victim)

    worker = threading.Thread(target=lambda: results.append(classify_paths(
        [tmp_path / "m"], conn=conn, classifier=FakeClassifier(), pool=pool,
        on_result=kill_one_worker)))
    worker.start()
    worker.join(timeout=240)
    assert not worker.is_alive()
    summary = results.pop()
    assert killed, "no worker was killed: the test did not exercise a loss"
    assert summary.status == "done" and summary.ok == 12 and summary.failed == 0
    assert len({r.path for r in results}) == 12
    conn.close()


def test_addresses_and_path_maps():
    assert parse_dask_address("local:3") == ("local", 3)
    assert parse_dask_address("tcp://10.0.0.5:8786") == ("tcp://10.0.0.5:8786", None)
    for bad in ("local:0", "local:x", "10.0.0.5:8786"):
        with pytest.raises(ParameterError):
            parse_dask_address(bad)
    mapping = parse_path_map(["/home/me/Music=/mnt/music", "/home/me=/mnt/home"])
    assert mapping.to_worker("/home/me/Music/a/b.mp3") == "/mnt/music/a/b.mp3"
    assert mapping.to_worker("/home/me/other.mp3") == "/mnt/home/other.mp3"
    assert mapping.to_worker("/home/meow/x.mp3") == "/home/meow/x.mp3"
    assert mapping.to_local("/mnt/music/a/b.mp3") == "/home/me/Music/a/b.mp3"
    with pytest.raises(ParameterError):
        parse_path_map(["no-equals-sign"])


def test_path_map_lets_workers_read_another_name_of_the_folder(tmp_path):
    """Workers see the library under another path (here: a symlink standing for a mount)."""
    library(tmp_path / "music")
    mount = tmp_path / "mnt"
    mount.symlink_to(tmp_path / "music")
    done = _cli("classify", str(tmp_path / "music"), "--dask", "local:1", "--dask-path-map",
                f"{tmp_path / 'music'}={mount}", "--db", str(tmp_path / "c.sqlite"), "--json")
    records = _records(done.stdout)
    assert len(records) == 8 and records["low.wav"][0] == "ok"
    assert all(str(tmp_path / "music") in json.loads(line)["path"]
               for line in done.stdout.splitlines())


def test_unreachable_scheduler_is_a_usage_error(tmp_path):
    tone(tmp_path / "m" / "a.wav", 220.0)
    done = _cli("classify", str(tmp_path / "m"), "--dask", "tcp://127.0.0.1:9",
                "--db", str(tmp_path / "d.sqlite"))
    assert done.returncode == 2 and "Dask scheduler" in done.stderr
    assert "Traceback" not in done.stderr
    assert sys.executable  # the subprocess ran with this interpreter
