"""Runs on one library coordinate: two classify runs never analyse one content twice;
claims of ended or crashed runs do not block; classify --force alongside tag leaves no
stale rows."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import time
from pathlib import Path

from typer.testing import CliRunner

from act_fixtures import make_audio, register
from fake_reclass import FAKE_RECLASS
from music_reclass.cli.main import app
from music_reclass.store import claims
from music_reclass.store import db as libdb
from music_reclass.store.files import StoredOutcome, lookup_file, record_file
from music_reclass.store.runs import finish_run, start_run
from test_scan import FAKE_DELAY_ENV, tone

N_FILES = 8


def _classify(paths: list[Path], db: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [*FAKE_RECLASS, "classify", *map(str, paths), "--db", str(db), "--json", "--jobs", "1",
         "--batch-size", "1"],
        env={**os.environ, FAKE_DELAY_ENV: "1.0"}, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True)


def test_two_classify_runs_analyse_each_content_once(tmp_path: Path):
    folder, db = tmp_path / "music", tmp_path / "lib.sqlite"
    files = [tone(folder / f"t{i}.wav", 200.0 + 90 * i) for i in range(N_FILES)]
    first = _classify(files, db)
    assert first.stdout.readline()  # the first run is under way (one file recorded)
    second = _classify(files[::-1], db)  # from the other end: the two runs meet midway
    outs = [first.communicate(timeout=300), second.communicate(timeout=300)]
    assert first.returncode == 0 and second.returncode == 0, outs
    conn = sqlite3.connect(db)
    summaries = [json.loads(row[0]) for row in
                 conn.execute("SELECT summary FROM runs WHERE kind = 'classify' ORDER BY id")]
    assert [s["ok"] for s in summaries] == [N_FILES, N_FILES]
    analysed = [s["ok"] - s["cached"] - s["from_vectors"] for s in summaries]
    assert sum(analysed) == N_FILES, summaries  # no content analysed by both runs
    assert conn.execute("SELECT COUNT(*) FROM claims").fetchone()[0] == 0
    records = [json.loads(line) for line in outs[1][0].splitlines()]
    assert sorted(r["path"] for r in records) == sorted(
        str(p.resolve()) for p in folder.iterdir())


def test_claims_of_ended_or_crashed_runs_do_not_block(tmp_path: Path):
    conn = libdb.connect(tmp_path / "lib.sqlite")
    mine, other, ended = (start_run(conn, "classify", {}) for _ in range(3))
    assert claims.claim_contents(conn, ["h1", "h2"], "m/1", other) == set()
    assert claims.claim_contents(conn, ["h1", "h3"], "m/1", mine) == {"h1"}  # alive: ours
    assert claims.claimed_elsewhere(conn, "h1", "m/1", mine) == other
    with libdb.transaction(conn):  # the other run's process died: its claims are void
        conn.execute("UPDATE claims SET pid = ?, pid_start = NULL WHERE run_id = ?",
                     (2**22 + 7, other))
    assert claims.claimed_elsewhere(conn, "h1", "m/1", mine) is None
    assert claims.claim_contents(conn, ["h1"], "m/1", mine) == set()
    assert claims.claim_contents(conn, ["h4"], "m/1", ended) == set()
    finish_run(conn, ended, "done")  # an ended run's claims go with it
    assert claims.claimed_elsewhere(conn, "h4", "m/1", mine) is None
    assert conn.execute("SELECT COUNT(*) FROM claims WHERE run_id = ?",
                        (ended,)).fetchone()[0] == 0


def test_classify_force_recording_after_a_tag_write_leaves_no_stale_row(tmp_path: Path):
    """classify --force read the file, tag rewrote it, then classify recorded what it had
    read: the row keeps the new bytes, so the next tag does not skip the file."""
    root, db = tmp_path / "music", tmp_path / "lib.sqlite"
    path = make_audio(root / "a.flac")
    conn = libdb.connect(db)
    register(conn, path, genres=[("jazz", 0.9)])
    seen = lookup_file(conn, str(path))  # what the forced classify read
    conn.close()
    runner = CliRunner()
    result = runner.invoke(app, ["tag", str(root), "--db", str(db), "--min-confidence", "0.5"])
    assert result.exit_code == 0, result.output
    time.sleep(0.01)
    conn = libdb.connect(db)
    run_id = start_run(conn, "classify", {"force": True})
    record_file(conn, StoredOutcome(str(path), "ok", seen.content_hash, seen.size,
                                    seen.mtime_ns, inode=seen.inode), run_id=run_id)
    row = lookup_file(conn, str(path))
    st = path.stat()
    assert (row.size, row.mtime_ns) == (st.st_size, st.st_mtime_ns)
    assert row.content_hash != seen.content_hash
    conn.close()
    result = runner.invoke(app, ["tag", str(root), "--db", str(db), "--min-confidence", "0.5",
                                 "--mode", "append"])
    assert result.exit_code == 0, result.output
    assert "changed since" not in result.output and "1 already right" in result.output
