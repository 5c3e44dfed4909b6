"""music_reclass.store: one-transaction writes, vectors, queries, runs, migrations."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys

import numpy as np
import pytest

from music_reclass.errors import DatabaseError, MissingDatabaseError
from music_reclass.store import db as libdb
from music_reclass.store import models as store_models
from music_reclass.store.analyses import AnalysisRecord, find_analysis
from music_reclass.store.files import FileRow, StoredOutcome, lookup_file, record_file
from music_reclass.store.queries import FileQuery, count_files, file_details, iter_files
from music_reclass.store.runs import finish_run, list_runs, start_run
from music_reclass.store.schema import MIGRATIONS, SCHEMA_V1
from music_reclass.store.vectors import get_vectors, iter_vectors, put_vectors

SPACE = "space/1"


@pytest.fixture
def conn(tmp_path):
    connection = libdb.connect(tmp_path / "lib.sqlite")
    yield connection
    connection.close()


def _run(conn) -> int:
    return start_run(conn, "classify", {})


def _ok(conn, path, chash, genres, *, run_id, model_id="m/1", vectors=None, decided=None):
    record_file(
        conn,
        StoredOutcome(path, "ok", chash, 10, 20,
                      track={"duration": 4.0, "sample_rate": 22050, "channels": 2,
                             "codec": "flac"}),
        run_id=run_id,
        analysis=AnalysisRecord(model_id, "ok", genres=genres, tags=[("msd:rock", 0.5)],
                                analysed_seconds=4.0, decided=decided),
        vectors={SPACE: vectors if vectors is not None else {"e": np.arange(3.0)}},
    )


def _list(conn, **query):
    query.setdefault("model_id", "m/1")
    return [view.path for view in iter_files(conn, FileQuery(**query))]


def test_vectors_round_trip_as_float16(conn):
    array = np.random.default_rng(0).standard_normal(5).astype(np.float32)
    with libdb.transaction(conn):
        put_vectors(conn, "h1", SPACE, {"a": array, "b": np.ones(2)})
    back = get_vectors(conn, "h1", SPACE)
    assert set(back) == {"a", "b"} and back["a"].dtype == np.float32
    np.testing.assert_allclose(back["a"], array, rtol=1e-3, atol=1e-4)
    blob = conn.execute("SELECT data FROM vectors").fetchone()[0]
    assert len(blob) == 2 * 7  # float16, one row for both vectors
    assert get_vectors(conn, "h1", "other/1") is None
    assert dict(iter_vectors(conn, ["h1", "h2"], SPACE)).keys() == {"h1"}


def test_a_space_keeps_its_layout(conn):
    with libdb.transaction(conn):
        put_vectors(conn, "h1", SPACE, {"a": np.zeros(3)})
    with pytest.raises(DatabaseError, match="layout"), libdb.transaction(conn):
        put_vectors(conn, "h2", SPACE, {"a": np.zeros(4)})


def test_record_and_read_back(conn):
    run_id = _run(conn)
    _ok(conn, "/m/a.flac", "h1", [("rock", 0.7), ("pop", 0.3)], run_id=run_id,
        decided=["rock"])
    row = lookup_file(conn, "/m/a.flac")
    assert row == FileRow("/m/a.flac", "h1", 10, 20, "ok")
    analysis = find_analysis(conn, "h1", "m/1")
    assert analysis.status == "ok" and analysis.run_id == run_id
    assert analysis.genres == [{"label": "rock", "confidence": 0.7},
                               {"label": "pop", "confidence": 0.3}]
    assert analysis.decided == ["rock"]
    assert conn.execute("SELECT top_genre, top_confidence FROM analyses").fetchone()[:] == (
        "rock", 0.7)
    assert find_analysis(conn, "h1", "m/2") is None
    assert lookup_file(conn, "/m/missing") is None
    details = file_details(conn, "/m/a.flac")
    assert details["track"]["codec"] == "flac" and details["track"]["genre_tags"] == []
    assert details["vectors"] == [{"space": SPACE, "length": 3}]
    assert details["run"]["id"] == run_id


def test_upsert_replaces_file_row_analysis_and_vectors(conn):
    run1 = _run(conn)
    _ok(conn, "/m/a.flac", "h1", [("rock", 0.7)], run_id=run1, vectors={"e": np.zeros(3)})
    run2 = _run(conn)
    _ok(conn, "/m/a.flac", "h1", [("jazz", 0.9)], run_id=run2, vectors={"e": np.ones(3)})
    for table in ("files", "analyses", "vectors"):
        assert conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0] == 1
    np.testing.assert_array_equal(get_vectors(conn, "h1", SPACE)["e"], np.ones(3))
    assert find_analysis(conn, "h1", "m/1").genres[0]["label"] == "jazz"
    first_seen, last_run = conn.execute("SELECT first_seen, last_run_id FROM files").fetchone()
    assert first_seen and last_run == run2


def test_failed_write_leaves_nothing(conn):
    run_id = _run(conn)
    with pytest.raises((TypeError, ValueError)):
        _ok(conn, "/m/bad.flac", "h9", [("rock", 1.0)], run_id=run_id, vectors={"e": object()})
    assert not conn.in_transaction
    for table in ("files", "tracks", "analyses", "vectors"):
        assert conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0] == 0


def test_error_outcome_without_analysis(conn):
    run_id = _run(conn)
    record_file(conn, StoredOutcome("/m/x.mp3", "error", error_code="unreadable",
                                    error="permission denied"), run_id=run_id)
    row = conn.execute("SELECT status, error_code, content_hash FROM files").fetchone()
    assert tuple(row) == ("error", "unreadable", None)
    assert conn.execute("SELECT COUNT(*) FROM tracks").fetchone()[0] == 0


def test_listing_shows_one_model_and_filters(conn):
    run_id = _run(conn)
    _ok(conn, "/m/a.flac", "h1", [("rock", 0.7), ("pop", 0.3)], run_id=run_id, decided=["rock"])
    _ok(conn, "/m/b.flac", "h2", [("jazz", 0.6), ("rock", 0.4)], run_id=run_id)
    _ok(conn, "/m/sub/c.flac", "h3", [("Rock", 0.9)], run_id=run_id, model_id="m/2")
    record_file(conn, StoredOutcome("/other/d.mp3", "error", "h4", error_code="corrupt",
                                    error="bad"), run_id=run_id,
                analysis=AnalysisRecord("m/1", "error", error_code="corrupt", error="bad"))
    assert _list(conn) == ["/m/a.flac", "/m/b.flac", "/m/sub/c.flac", "/other/d.mp3"]
    # results of another model never mix in: c.flac has none by m/1
    views = {v.path: v for v in iter_files(conn, FileQuery(model_id="m/1"))}
    assert views["/m/sub/c.flac"].genres == [] and views["/m/sub/c.flac"].model_id is None
    assert _list(conn, genre="ROCK") == ["/m/a.flac"]
    assert _list(conn, genre="rock", model_id="m/2") == ["/m/sub/c.flac"]
    assert _list(conn, status="error") == ["/other/d.mp3"]
    assert _list(conn, status="review") == ["/m/b.flac"]
    assert _list(conn, decided=True) == ["/m/a.flac"]
    assert _list(conn, status="unanalysed") == ["/m/sub/c.flac"]
    assert _list(conn, min_confidence=0.65) == ["/m/a.flac"]
    assert _list(conn, under="/m/sub") == ["/m/sub/c.flac"]
    assert _list(conn, under="/m/su") == []
    assert _list(conn, search="SUB") == ["/m/sub/c.flac"]
    assert _list(conn, search="%") == []
    assert _list(conn, sort="confidence", descending=True, limit=2) == ["/m/a.flac", "/m/b.flac"]
    assert _list(conn, limit=2, offset=1) == ["/m/b.flac", "/m/sub/c.flac"]
    assert count_files(conn, FileQuery(model_id="m/1", status="review")) == 1


def test_runs_keep_the_counts_they_reported(conn):
    first = _run(conn)
    finish_run(conn, first, "interrupted", {"ok": 3})
    second = _run(conn)
    _ok(conn, "/m/a.flac", "h1", [("rock", 0.7)], run_id=second)
    runs = list_runs(conn)
    assert [(r.id, r.status) for r in runs] == [(second, "running"), (first, "interrupted")]
    assert runs[1].summary == {"ok": 3}  # a later run seeing the file does not erase them
    assert len(list_runs(conn, limit=1)) == 1


def test_models_and_settings(conn):
    store_models.register_model(conn, "m/1", name="default", kind="zero-shot", source="default")
    store_models.register_model(conn, "m/2", name="gtzan", kind="zero-shot", source="gtzan")
    assert [m.name for m in store_models.find_models(conn, "gtzan")] == ["gtzan"]
    assert [m.model_id for m in store_models.find_models(conn, "m/")] == ["m/2", "m/1"]
    assert store_models.get_setting(conn, "active_model") is None
    store_models.set_setting(conn, "active_model", {"file": None, "taxonomy": "gtzan"})
    assert store_models.get_setting(conn, "active_model")["taxonomy"] == "gtzan"


LATIN1_NAME = os.fsdecode(b"/m/caf\xe9.wav")  # not valid UTF-8: a lone surrogate in Python


def test_undecodable_file_name_round_trips(conn):
    run_id = _run(conn)
    _ok(conn, LATIN1_NAME, "h9", [("jazz", 0.9)], run_id=run_id)
    _ok(conn, "/m/b.flac", "h9", [("jazz", 0.9)], run_id=run_id)
    assert lookup_file(conn, LATIN1_NAME) == FileRow(LATIN1_NAME, "h9", 10, 20, "ok")
    assert _list(conn) == ["/m/b.flac", LATIN1_NAME]
    assert _list(conn, under="/m") == ["/m/b.flac", LATIN1_NAME]
    assert _list(conn, under="/other") == []
    details = file_details(conn, LATIN1_NAME)
    assert details["path"] == LATIN1_NAME and details["same_content"] == ["/m/b.flac"]
    assert file_details(conn, "/m/b.flac")["same_content"] == [LATIN1_NAME]


# ----------------------------------------------------------------------------- connecting


def test_missing_database_is_an_error_unless_created(tmp_path):
    with pytest.raises(MissingDatabaseError, match="no library database"):
        libdb.connect(tmp_path / "typo.sqlite", create=False)
    assert not (tmp_path / "typo.sqlite").exists()


@pytest.mark.parametrize("where", ["folder", "under-a-file"])
def test_unusable_paths_are_one_line_errors(tmp_path, where):
    (tmp_path / "file").write_text("x")
    path = tmp_path if where == "folder" else tmp_path / "file" / "lib.sqlite"
    with pytest.raises(DatabaseError) as info:
        libdb.connect(path)
    assert "\n" not in str(info.value)


def test_read_only_database_is_listed_but_not_written(tmp_path):
    path = tmp_path / "ro" / "lib.sqlite"
    conn = libdb.connect(path)
    _ok(conn, "/m/a.flac", "h1", [("rock", 0.7)], run_id=_run(conn))
    conn.close()
    os.chmod(path, 0o444)
    os.chmod(path.parent, 0o555)
    try:
        if os.access(path, os.W_OK):
            pytest.skip("root writes whatever the permissions")
        ro = libdb.connect(path)
        assert libdb.is_readonly(ro) and _list(ro) == ["/m/a.flac"]
        with pytest.raises(DatabaseError, match="read-only"), libdb.transaction(ro):
            pass
    finally:
        os.chmod(path.parent, 0o755)


# ----------------------------------------------------------------------------- migrations


def test_version_1_database_is_migrated_with_its_vectors(tmp_path):
    """A library written by music_reclass 0.1.0 keeps its analyses; its musicnn vectors
    move to the packed float16 table, the pooling layers are dropped."""
    path = tmp_path / "v1.sqlite"
    old = sqlite3.connect(path)
    old.executescript(SCHEMA_V1 + "PRAGMA user_version=1;")
    model = ("musicnn-zeroshot/default@abc/MSD_musicnn@v1+MTT_musicnn@v1/zs1")
    old.execute("INSERT INTO tracks (content_hash) VALUES ('h1')")
    old.execute("INSERT INTO files (path, content_hash, first_seen, last_seen, status)"
                " VALUES ('/m/a.mp3', 'h1', 'x', 'x', 'ok')")
    old.execute("INSERT INTO analyses (content_hash, model_id, status, genres, tags, created_at)"
                " VALUES ('h1', ?, 'ok', ?, '[]', 'x')",
                (model, json.dumps([{"label": "jazz", "confidence": 0.8}])))
    for name, size in (("msd.penultimate", 200), ("mtt.penultimate", 200), ("msd.taggram", 50),
                       ("mtt.taggram", 50), ("msd.max_pool", 753)):
        data = np.full(size, 0.5, dtype="<f4")
        old.execute("INSERT INTO embeddings VALUES ('h1', ?, ?, 'float32', ?, ?)",
                    (model, name, json.dumps([size]), data.tobytes()))
    old.commit()
    old.close()
    conn = libdb.connect(path)
    assert libdb.schema_version(conn) == len(MIGRATIONS)
    vectors = get_vectors(conn, "h1", "musicnn/MSD_musicnn@v1+MTT_musicnn@v1")
    assert sorted(vectors) == ["msd.penultimate", "msd.taggram", "mtt.penultimate", "mtt.taggram"]
    assert vectors["msd.taggram"].shape == (50,) and np.allclose(vectors["msd.taggram"], 0.5)
    assert conn.execute("SELECT top_genre FROM analyses").fetchone()[0] == "jazz"
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert "embeddings" not in tables


def test_newer_schema_is_refused(tmp_path):
    path = tmp_path / "new.sqlite"
    libdb.connect(path).close()
    raw = sqlite3.connect(path)
    raw.execute(f"PRAGMA user_version={len(MIGRATIONS) + 1}")
    raw.close()
    with pytest.raises(DatabaseError, match="newer"):
        libdb.connect(path)


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
    store_models.register_model(connection, "m/1", name="t", kind="zero-shot", source="t")
    store_models.set_setting(connection, "active_model", {"file": None, "taxonomy": "t"})
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
    # \udcXX escapes round-trip; names that are not UTF-8 are listed after the others
    assert [r["path"] for r in records] == [gone, odd]
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
    assert "gone.wav" in text and "missing (review)" in text and "caf" not in text
