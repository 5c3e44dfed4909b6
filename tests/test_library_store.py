"""music_reclass.store.records: one-transaction writes, queries, embeddings."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from music_reclass.store import db as libdb
from music_reclass.store import records as store


@pytest.fixture
def conn(tmp_path):
    connection = libdb.connect(tmp_path / "lib.sqlite")
    yield connection
    connection.close()


def _run(conn) -> int:
    return libdb.start_run(conn, "classify", {})


def _ok(conn, path, chash, genres, *, run_id, model_id="m/1", embeddings=None):
    store.record_file(
        conn,
        store.StoredOutcome(path, "ok", chash, 10, 20,
                            track={"duration": 4.0, "sample_rate": 22050, "channels": 2,
                                   "codec": "flac"}),
        run_id=run_id, model_id=model_id, genres=genres, tags=[("msd:rock", 0.5)],
        embeddings=embeddings if embeddings is not None else {"e": np.arange(3, dtype=np.float64)},
        analysed_seconds=4.0, analysis_status="ok",
    )


def test_embedding_round_trip():
    array = np.random.default_rng(0).standard_normal((4, 5))
    dtype, shape, data = store.encode_embedding(array)
    assert (dtype, shape, len(data)) == ("float32", "[4, 5]", 80)
    back = store.decode_embedding(dtype, shape, data)
    np.testing.assert_array_equal(back, array.astype(np.float32))
    with pytest.raises(ValueError):
        store.decode_embedding("int8", shape, data)


def test_record_and_read_back(conn):
    run_id = _run(conn)
    _ok(conn, "/m/a.flac", "h1", [("rock", 0.7), ("pop", 0.3)], run_id=run_id)
    row = store.lookup_file(conn, "/m/a.flac")
    assert row == store.FileRow("/m/a.flac", "h1", 10, 20, "ok")
    analysis = store.find_analysis(conn, "h1", "m/1")
    assert analysis.status == "ok" and analysis.run_id == run_id
    assert analysis.genres == [{"label": "rock", "confidence": 0.7},
                               {"label": "pop", "confidence": 0.3}]
    assert store.find_analysis(conn, "h1", "m/2") is None
    assert store.lookup_file(conn, "/m/missing") is None
    details = store.file_details(conn, "/m/a.flac")
    assert details["track"]["codec"] == "flac" and details["track"]["genre_tags"] == []
    assert details["analyses"][0]["embeddings"] == {"e": [3]}
    assert details["run"]["id"] == run_id


def test_upsert_replaces_file_row_and_analysis(conn):
    run1 = _run(conn)
    _ok(conn, "/m/a.flac", "h1", [("rock", 0.7)], run_id=run1,
        embeddings={"e": np.zeros(3), "f": np.ones(2)})
    run2 = _run(conn)
    _ok(conn, "/m/a.flac", "h1", [("jazz", 0.9)], run_id=run2, embeddings={"e": np.ones(3)})
    assert conn.execute("SELECT COUNT(*) FROM files").fetchone()[0] == 1
    assert conn.execute("SELECT COUNT(*) FROM analyses").fetchone()[0] == 1
    # the re-analysis replaced every vector of the old one
    names = [r[0] for r in conn.execute("SELECT name FROM embeddings")]
    assert names == ["e"]
    assert store.find_analysis(conn, "h1", "m/1").genres[0]["label"] == "jazz"
    first_seen, last_run = conn.execute("SELECT first_seen, last_run_id FROM files").fetchone()
    assert first_seen and last_run == run2


def test_failed_write_leaves_nothing(conn):
    run_id = _run(conn)
    with pytest.raises((TypeError, ValueError)):
        _ok(conn, "/m/bad.flac", "h9", [("rock", 1.0)], run_id=run_id,
            embeddings={"e": object()})
    assert not conn.in_transaction
    for table in ("files", "tracks", "analyses", "embeddings"):
        assert conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0] == 0


def test_error_outcome_without_analysis(conn):
    run_id = _run(conn)
    store.record_file(conn, store.StoredOutcome("/m/x.mp3", "error", error_code="unreadable",
                                                error="permission denied"), run_id=run_id)
    row = conn.execute("SELECT status, error_code, content_hash FROM files").fetchone()
    assert tuple(row) == ("error", "unreadable", None)
    assert conn.execute("SELECT COUNT(*) FROM tracks").fetchone()[0] == 0


def test_list_files_filters(conn):
    run_id = _run(conn)
    _ok(conn, "/m/a.flac", "h1", [("rock", 0.7), ("pop", 0.3)], run_id=run_id)
    _ok(conn, "/m/b.flac", "h2", [("jazz", 0.6), ("rock", 0.4)], run_id=run_id)
    _ok(conn, "/m/sub/c.flac", "h3", [("Rock", 0.9)], run_id=run_id, model_id="m/2")
    store.record_file(conn, store.StoredOutcome("/other/d.mp3", "error", "h4",
                                                error_code="corrupt", error="bad"),
                      run_id=run_id, model_id="m/1", analysis_status="error")
    everything = store.list_files(conn)
    assert [r["path"] for r in everything] == ["/m/a.flac", "/m/b.flac", "/m/sub/c.flac",
                                                "/other/d.mp3"]
    assert [r["path"] for r in store.list_files(conn, genre="rock")] == ["/m/a.flac",
                                                                        "/m/sub/c.flac"]
    assert [r["path"] for r in store.list_files(conn, genre="rock", model_id="m/1")] == [
        "/m/a.flac"]
    errors = store.list_files(conn, status="error")
    assert [(r["path"], r["error_code"], r["genres"]) for r in errors] == [
        ("/other/d.mp3", "corrupt", [])]
    assert [r["path"] for r in store.list_files(conn, under="/m/sub")] == ["/m/sub/c.flac"]


def test_list_runs_counts(conn):
    first = _run(conn)
    libdb.finish_run(conn, first, "interrupted")
    second = _run(conn)
    _ok(conn, "/m/a.flac", "h1", [("rock", 0.7)], run_id=second)
    runs = store.list_runs(conn)
    assert [(r["id"], r["status"]) for r in runs] == [(second, "running"), (first, "interrupted")]
    assert runs[0]["files"] == {"ok": 1} and runs[1]["files"] == {}
    assert len(store.list_runs(conn, limit=1)) == 1


LATIN1_NAME = os.fsdecode(b"/m/caf\xe9.wav")  # not valid UTF-8: a lone surrogate in Python


def test_undecodable_file_name_round_trips(conn):
    run_id = _run(conn)
    _ok(conn, LATIN1_NAME, "h9", [("jazz", 0.9)], run_id=run_id)
    _ok(conn, "/m/b.flac", "h9", [("jazz", 0.9)], run_id=run_id)
    assert store.lookup_file(conn, LATIN1_NAME) == store.FileRow(LATIN1_NAME, "h9", 10, 20, "ok")
    assert [row["path"] for row in store.list_files(conn)] == ["/m/b.flac", LATIN1_NAME]
    assert [row["path"] for row in store.list_files(conn, under="/m")] == ["/m/b.flac",
                                                                          LATIN1_NAME]
    assert store.list_files(conn, under="/other") == []
    details = store.file_details(conn, LATIN1_NAME)
    assert details["path"] == LATIN1_NAME and details["same_content"] == ["/m/b.flac"]
    assert store.file_details(conn, "/m/b.flac")["same_content"] == [LATIN1_NAME]


# ----------------------------------------------------------------------------- reclass list/show


def _cli(*args: str) -> subprocess.CompletedProcess:
    # a real UTF-8 stdout: a lone surrogate written as text would raise UnicodeEncodeError
    env = {**os.environ, "PYTHONIOENCODING": "utf-8", "COLUMNS": "1000"}
    return subprocess.run([sys.executable, "-m", "music_reclass.cli.main", *args],
                          env=env, capture_output=True, timeout=120)


@pytest.fixture
def library_with_odd_names(tmp_path):
    """A DB holding one existing file with a latin-1 name and one vanished file."""
    folder = os.fsencode(tmp_path)
    odd = os.fsdecode(folder + b"/caf\xe9.wav")
    with open(odd, "wb") as handle:
        handle.write(b"RIFF")
    gone = os.fsdecode(folder + b"/gone.wav")
    db_path = tmp_path / "lib.sqlite"
    connection = libdb.connect(db_path)
    run_id = _run(connection)
    _ok(connection, odd, "h1", [("jazz", 0.9)], run_id=run_id)
    _ok(connection, gone, "h2", [("rock", 0.8)], run_id=run_id)
    connection.close()
    return db_path, odd, gone


def test_list_and_show_undecodable_names(library_with_odd_names):
    db_path, odd, gone = library_with_odd_names
    done = _cli("list", "--db", str(db_path))
    assert done.returncode == 0, done.stderr
    text = done.stdout.decode("utf-8")  # valid UTF-8: the odd byte shown escaped
    assert "caf\\xe9.wav" in text and "jazz" in text
    done = _cli("list", "--db", str(db_path), "--json")
    assert done.returncode == 0, done.stderr
    records = [json.loads(line) for line in done.stdout.decode("utf-8").splitlines()]
    assert [r["path"] for r in records] == [odd, gone]  # \udcXX escapes round-trip
    done = _cli("show", odd, "--db", str(db_path))
    assert done.returncode == 0, done.stderr
    assert "caf\\xe9.wav" in done.stdout.decode("utf-8")
    done = _cli("show", odd, "--db", str(db_path), "--json")
    assert json.loads(done.stdout)["path"] == odd


def test_list_marks_and_filters_missing_files(library_with_odd_names):
    db_path, odd, gone = library_with_odd_names
    done = _cli("list", "--db", str(db_path), "--json")
    missing = {r["path"]: r["missing"] for r in map(json.loads, done.stdout.splitlines())}
    assert missing == {odd: False, gone: True}
    done = _cli("list", "--db", str(db_path), "--missing", "--json")
    assert [json.loads(line)["path"] for line in done.stdout.splitlines()] == [gone]
    done = _cli("list", "--db", str(db_path), "--missing")
    text = done.stdout.decode("utf-8")
    assert "gone.wav" in text and "missing (ok)" in text and "caf" not in text
