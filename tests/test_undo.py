"""reclass tag + undo: journal, DB bookkeeping, exact restore, refusals, repair."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from act_fixtures import (
    MODEL_ID,
    ODD_IFF_LAYOUTS,
    make_library,
    make_odd_iff,
    register,
    snapshot,
)
from music_reclass.act import journal, tagging
from music_reclass.act.exact import capture_exact
from music_reclass.act.payload import audio_digest
from music_reclass.act.settle import repair_interrupted
from music_reclass.act.tagio import genre_state
from music_reclass.act.tagwrite import write_genres
from music_reclass.act.undo import undo_run
from music_reclass.audio.hashing import content_hash
from music_reclass.audio.tags import read_tags
from music_reclass.cli.main import app
from music_reclass.store import db as libdb

runner = CliRunner()
GENRES = [("jazz", 0.8), ("blues", 0.5), ("rock", 0.2)]


def _cli(*args: str):
    return runner.invoke(app, list(args), catch_exceptions=False)


@pytest.fixture
def lib(tmp_path: Path):
    root = tmp_path / "music"
    files = make_library(root, count=8)
    db = tmp_path / "lib.sqlite"
    conn = libdb.connect(db)
    hashes = {str(p): register(conn, p, genres=GENRES) for p in files}
    conn.close()
    return root, db, files, hashes


def test_tag_then_undo_is_byte_identical(lib):
    root, db, files, hashes = lib
    original = snapshot(files)
    digests = {str(p): audio_digest(p) for p in files}
    result = _cli("tag", str(root), "--db", str(db), "--min-confidence", "0.4")
    assert result.exit_code == 0, result.output
    assert "changed 8 file(s)" in result.output
    for path in files:
        assert read_tags(path).genres == ["Jazz", "Blues"]  # 0.2 < 0.4 left out
        assert audio_digest(path) == digests[str(path)]
        assert path.read_bytes() != original[str(path)]
    conn = libdb.connect(db)
    # the files rows follow the new bytes; analyses and embeddings follow the content
    for path in files:
        row = conn.execute(
            "SELECT content_hash, size FROM files WHERE path = ?", (str(path),)
        ).fetchone()
        assert row["content_hash"] == content_hash(path) != hashes[str(path)]
        assert row["size"] == path.stat().st_size
        analyses = conn.execute(
            "SELECT COUNT(*) FROM analyses WHERE content_hash = ? AND model_id = ?",
            (row["content_hash"], MODEL_ID),
        ).fetchone()[0]
        vectors = conn.execute(
            "SELECT COUNT(*) FROM vectors WHERE content_hash = ?", (row["content_hash"],)
        ).fetchone()[0]
        assert (analyses, vectors) == (1, 1)
    assert {r[0] for r in conn.execute("SELECT state FROM journal")} == {"done"}
    conn.close()

    result = _cli("undo", "--db", str(db))
    assert result.exit_code == 0, result.output
    assert snapshot(files) == original
    conn = libdb.connect(db)
    for path in files:
        row = conn.execute("SELECT content_hash FROM files WHERE path = ?", (str(path),)).fetchone()
        assert row[0] == hashes[str(path)]
    states = conn.execute(
        "SELECT r.kind, j.state FROM journal j JOIN runs r ON r.id = j.run_id"
    ).fetchall()
    assert sorted({tuple(s) for s in states}) == [("tag", "undone"), ("undo", "done")]
    conn.close()
    # idempotent
    again = _cli("undo", "--db", str(db))
    assert again.exit_code == 0 and "nothing to undo" in again.output
    assert snapshot(files) == original


def test_dry_run_prints_exact_change_and_writes_nothing(lib):
    root, db, files, _ = lib
    original = snapshot(files)
    result = _cli("tag", str(root), "--db", str(db), "--min-confidence", "0.6", "--dry-run")
    assert result.exit_code == 0, result.output
    assert f"{files[0]}: GENRE 'Rock' -> 'Jazz'" in result.output
    assert f"{files[1]}: GENRE (none) -> 'Jazz'" in result.output
    assert f"{files[2]}: GENRE 'Pop; Dance' -> 'Jazz'" in result.output
    assert "would change 8 file(s)" in result.output
    assert snapshot(files) == original
    conn = libdb.connect(db)
    assert conn.execute("SELECT COUNT(*) FROM journal").fetchone()[0] == 0
    assert conn.execute("SELECT COUNT(*) FROM runs WHERE kind = 'tag'").fetchone()[0] == 0


def test_modes_top_k_and_skips(lib):
    root, db, files, _ = lib
    files[3].write_bytes(files[3].read_bytes() + b"\0")  # changed since it was analysed
    result = _cli(
        "tag",
        str(root),
        "--db",
        str(db),
        "--min-confidence",
        "0.1",
        "--top-k",
        "1",
        "--mode",
        "fill",
    )
    assert result.exit_code == 0, result.output
    assert "changed or missing since it was analysed" in result.output
    assert read_tags(files[0]).genres == ["Rock"]  # fill keeps an existing genre
    assert read_tags(files[1]).genres == ["Jazz"]  # top-1 into an untagged file


def test_undo_refuses_changed_files_and_goes_on(lib):
    root, db, files, _ = lib
    original = snapshot(files)
    assert _cli("tag", str(root), "--db", str(db), "--min-confidence", "0.4").exit_code == 0
    write_genres(files[0], ["Polka"])  # the user re-tagged one file since
    result = _cli("undo", "--db", str(db))
    assert result.exit_code == 1
    assert f"refused: {files[0]}" in result.output and "changed since" in result.output
    assert read_tags(files[0]).genres == ["Polka"]
    assert {p: b for p, b in snapshot(files[1:]).items()} == {
        str(p): original[str(p)] for p in files[1:]
    }


def test_undo_follows_a_later_organise(lib, tmp_path: Path):
    root, db, files, _ = lib
    original = snapshot(files)
    assert _cli("tag", str(root), "--db", str(db), "--min-confidence", "0.4").exit_code == 0
    conn = libdb.connect(db)
    tag_run = conn.execute("SELECT MAX(id) FROM runs WHERE kind = 'tag'").fetchone()[0]
    conn.close()
    assert (
        _cli("organise", "--move", str(root), "--into", str(tmp_path / "sorted"), "--db", str(db)).exit_code
        == 0
    )
    assert not any(p.exists() for p in files)
    # undo the TAG run first, while the files sit in their new folders
    result = _cli("undo", str(tag_run), "--db", str(db))
    assert result.exit_code == 0, result.output
    result = _cli("undo", "--db", str(db))  # then the organise run
    assert result.exit_code == 0, result.output
    assert snapshot(files) == original
    assert not (tmp_path / "sorted").exists() or not any((tmp_path / "sorted").rglob("*.*"))


def _dead_run(conn, kind: str) -> int:
    run_id = journal.start_act_run(conn, kind, {})
    with libdb.transaction(conn):
        conn.execute(
            "UPDATE runs SET params = ? WHERE id = ?", (json.dumps({"pid": 2**22 + 7}), run_id)
        )
    return run_id


def test_repair_settles_interrupted_rows(lib):
    root, db, files, hashes = lib
    conn = libdb.connect(db)
    run_id = _dead_run(conn, "tag")
    written, untouched = files[0], files[1]
    entries = {}
    for path in (written, untouched):
        entries[path] = journal.plan(
            conn,
            run_id,
            action="tag",
            path=path,
            before={"state": genre_state(path), "exact": capture_exact(path)},
            after={"genres": ["Jazz"]},
            digest=audio_digest(path),
        )
    original = written.read_bytes()
    write_genres(written, ["Jazz"])  # "crash" after the replace, before the row became done
    messages = repair_interrupted(conn)
    assert len(messages) == 2
    states = dict(conn.execute("SELECT id, state FROM journal").fetchall())
    assert states[entries[written]] == "done" and states[entries[untouched]] == "failed"
    row = conn.execute("SELECT content_hash FROM files WHERE path = ?", (str(written),)).fetchone()
    assert row[0] == content_hash(written)
    assert (
        conn.execute("SELECT status FROM runs WHERE id = ?", (run_id,)).fetchone()[0]
        == "interrupted"
    )
    report = undo_run(conn, run_id)
    assert report.ok and written.read_bytes() == original


def test_repair_completes_half_done_move(tmp_path: Path, lib):
    root, db, files, _ = lib
    conn = libdb.connect(db)
    run_id = _dead_run(conn, "organise")
    src = files[0]
    dst = tmp_path / "sorted" / src.name
    dst.parent.mkdir()
    entry = journal.plan(
        conn,
        run_id,
        action="move",
        path=src,
        new_path=dst,
        after={"method": "link", "root": str(tmp_path / "sorted")},
        digest=audio_digest(src),
    )
    dst.hardlink_to(src)  # "crash" between link and unlink
    repair_interrupted(conn)
    assert dst.exists() and not src.exists()
    assert conn.execute("SELECT state FROM journal WHERE id = ?", (entry,)).fetchone()[0] == "done"
    assert conn.execute("SELECT COUNT(*) FROM files WHERE path = ?", (str(dst),)).fetchone()[0] == 1
    assert undo_run(conn, run_id).ok
    assert src.exists() and not dst.exists()


def _hint_genres(hint: str) -> list[tuple[str, float]]:
    labels = [part.strip() for part in hint.replace("/", ",").split(",") if part.strip()]
    return [(label, round(0.9 - 0.3 * i, 2)) for i, label in enumerate(labels)] or [("rock", 0.5)]


@pytest.mark.shared
def test_mixed_folder_tag_then_undo_is_byte_identical(shared_dir: Path, tmp_path: Path):
    """Every format of the real mixed folder: dry run, tag, verify, undo, byte-identical."""
    import csv
    import os
    import shutil

    from music_reclass.act.payload import decoded_sample_count
    from music_reclass.act.selection import choose_genres
    from music_reclass.audio.discover import iter_candidates
    from music_reclass.library import Library
    from music_reclass.store.analyses import find_analysis

    source = shared_dir / "audio" / "mixed-folder"
    root = tmp_path / "mixed"
    shutil.copytree(source, root)
    for folder, dirs, names in os.walk(root):  # a user's library is writable
        for name in [*dirs, *names]:
            os.chmod(Path(folder) / name, 0o755 if name in dirs else 0o644)
    os.chmod(root, 0o755)
    audio = sorted(c.path for c in iter_candidates([root]) if c.kind == "audio")
    assert {p.suffix for p in audio} >= {".mp3", ".ogg", ".flac", ".wav"}
    db = tmp_path / "lib.sqlite"
    if "classify" in {c.name for c in app.registered_commands}:
        result = _cli("classify", str(root), "--db", str(db))
        assert result.exit_code in (0, 1), result.output
    else:  # classify not available: rows from the folder's weak genre hints
        hints = {
            row["path"]: row["genre_hint"] for row in csv.DictReader((source / "hints.csv").open())
        }
        conn = libdb.connect(db)
        for path in audio:
            register(conn, path, genres=_hint_genres(hints.get(str(path.relative_to(root)), "")))
        conn.close()
    originals = {p: (source / p.relative_to(root)).read_bytes() for p in audio}
    digests = {p: audio_digest(p) for p in audio}
    samples = {p: decoded_sample_count(p) for p in audio}

    dry = _cli("tag", str(root), "--db", str(db), "--min-confidence", "0.3", "--dry-run")
    assert dry.exit_code == 0, dry.output
    assert dry.output.count(": GENRE ") >= len(audio) // 2
    assert all(p.read_bytes() == originals[p] for p in audio)

    library = Library(db)
    model_id, _ = library.model_id_for()
    normalise = library._normaliser(model_id)
    conn = libdb.connect(db)
    rows = {
        Path(r["path"]): r["content_hash"]
        for r in conn.execute("SELECT path, content_hash FROM files WHERE status = 'ok'")
    }
    expected = {
        p: [g for g, _ in choose_genres(find_analysis(conn, h, model_id), min_confidence=0.3,
                                        top_k=3, normalise=normalise)[0]]
        for p, h in rows.items()
    }
    conn.close()
    library.close()
    result = _cli("tag", str(root), "--db", str(db), "--min-confidence", "0.3")
    assert result.exit_code == 0, result.output
    tagged = [p for p in audio if expected.get(p)]
    assert len(tagged) >= len(audio) // 2
    for path in audio:
        assert audio_digest(path) == digests[path], path
        assert decoded_sample_count(path) == samples[path], path
        if path in tagged:
            assert read_tags(path).genres == expected[path], path

    result = _cli("undo", "--db", str(db))
    assert result.exit_code == 0, result.output
    changed = [p for p in audio if p.read_bytes() != originals[p]]
    assert changed == []


def test_undo_dry_run_and_bad_run_ids(lib):
    root, db, files, _ = lib
    assert _cli("tag", str(root), "--db", str(db), "--min-confidence", "0.4").exit_code == 0
    tagged = snapshot(files)
    result = _cli("undo", "--dry-run", "--db", str(db))
    assert result.exit_code == 0, result.output
    assert result.output.count("would undo: ") == len(files)
    assert snapshot(files) == tagged
    assert _cli("undo", "999", "--db", str(db)).exit_code == 2
    conn = libdb.connect(db)
    classify_run = conn.execute("SELECT MIN(id) FROM runs WHERE kind = 'classify'").fetchone()[0]
    conn.close()
    assert _cli("undo", str(classify_run), "--db", str(db)).exit_code == 2


def test_odd_wav_layouts_tag_then_undo_is_byte_identical(tmp_path: Path):
    """Trailing junk, odd chunks, odd RIFF sizes: tagged and undone exactly, or refused clearly."""
    root = tmp_path / "odd"
    files = [
        make_odd_iff(root / f"{layout}.{'aiff' if layout.startswith('aiff') else 'wav'}", layout)
        for layout in ODD_IFF_LAYOUTS
    ]
    db = tmp_path / "lib.sqlite"
    conn = libdb.connect(db)
    for path in files:
        register(conn, path, genres=GENRES)
    conn.close()
    original = snapshot(files)
    refused = {p for p in files if "no-pad-before" in p.name}
    refused |= {p for p in files if "inside-data" in p.name or "truncated" in p.name}
    refused |= {p for p in files if "behind-junk" in p.name}
    digests = {p: audio_digest(p) for p in files if "no-pad-before" not in p.name}  # undecodable

    dry = _cli("tag", str(root), "--db", str(db), "--min-confidence", "0.4", "--dry-run")
    assert dry.exit_code == 1, dry.output  # the dry run already names the refusals
    assert " ".join(dry.output.split()).count(" not tagged: ") == len(refused)
    result = _cli("tag", str(root), "--db", str(db), "--min-confidence", "0.4")
    assert result.exit_code == 1, result.output  # the refused files fail the run
    output = " ".join(result.output.split())  # long lines may be wrapped
    assert output.count(" not tagged: ") == len(refused)
    for path in files:
        if path in digests:
            assert audio_digest(path) == digests[path]
        if path in refused:
            assert path.read_bytes() == original[str(path)]
            kind = "AIFF" if path.suffix == ".aiff" else "WAV"
            assert f"{path.name}: {kind} not tagged" in output
        else:
            assert read_tags(path).genres == ["Jazz", "Blues"], path.name
    result = _cli("undo", "--db", str(db))
    assert result.exit_code == 0, result.output
    assert snapshot(files) == original


# ----------------------------------------------------------------------------- review findings


def _organise_copy(tmp_path: Path, root: Path, db: Path) -> Path:
    into = tmp_path / "sorted"
    result = _cli("organise", str(root), "--into", str(into), "--db", str(db), "--copy")
    assert result.exit_code == 0, result.output
    return into


def _make_run_dead(conn, run_id: int) -> None:
    with libdb.transaction(conn):
        conn.execute(
            "UPDATE runs SET params = ? WHERE id = ?", (json.dumps({"pid": 2**22 + 7}), run_id)
        )


def test_undo_of_copy_interrupted_after_unlink_is_repaired(lib, tmp_path: Path, monkeypatch):
    """An undo killed right after removing a copy must not wedge later commands."""
    from music_reclass.act import safe_write

    root, db, files, _ = lib
    original = snapshot(files)
    into = _organise_copy(tmp_path, root, db)
    real_fault_point = safe_write.fault_point

    def crash_after_removal(name: str) -> None:
        if name == "removed":
            raise KeyboardInterrupt  # like kill -9: the planned row stays planned
        real_fault_point(name)

    monkeypatch.setattr(safe_write, "fault_point", crash_after_removal)
    conn = libdb.connect(db)
    with pytest.raises(KeyboardInterrupt):
        undo_run(conn)
    undo_run_id = conn.execute("SELECT MAX(id) FROM runs WHERE kind = 'undo'").fetchone()[0]
    _make_run_dead(conn, undo_run_id)
    conn.close()
    monkeypatch.setattr(safe_write, "fault_point", real_fault_point)
    result = _cli("undo", "--db", str(db))
    assert result.exit_code == 0, result.output
    assert not [p for p in into.rglob("*") if p.is_file()]
    assert snapshot(files) == original
    conn = libdb.connect(db)
    assert conn.execute("SELECT COUNT(*) FROM journal WHERE state = 'planned'").fetchone()[0] == 0
    removed = conn.execute(
        "SELECT state FROM journal WHERE action = 'remove' AND run_id = ?", (undo_run_id,)
    ).fetchall()
    assert [r[0] for r in removed] == ["done"]


def test_one_bad_journal_row_never_wedges_the_library(lib, tmp_path: Path):
    """A planned row repair cannot settle (the old copy row without a target) is failed."""
    root, db, files, _ = lib
    conn = libdb.connect(db)
    run_id = _dead_run(conn, "undo")
    with libdb.transaction(conn):
        bad = conn.execute(
            "INSERT INTO journal (run_id, action, path, new_path, state, created_at)"
            " VALUES (?, 'copy', ?, NULL, 'planned', ?)",
            (run_id, str(tmp_path / "gone.mp3"), libdb.utcnow()),
        ).lastrowid
    conn.close()
    result = _cli("tag", str(root), "--db", str(db), "--min-confidence", "0.4")
    assert result.exit_code == 0, result.output
    assert "changed 8 file(s)" in result.output
    conn = libdb.connect(db)
    state, error = conn.execute("SELECT state, error FROM journal WHERE id = ?", (bad,)).fetchone()
    assert state == "failed" and "repair failed" in error


def test_failed_undo_step_leaves_no_planned_row(lib, tmp_path: Path, monkeypatch):
    from music_reclass.act import safe_write

    root, db, files, _ = lib
    into = tmp_path / "sorted"
    result = _cli("organise", "--move", str(root), "--into", str(into), "--db", str(db),
                  "--min-confidence", "0.4")
    assert result.exit_code == 0, result.output

    def broken_move(src, dst, *, copy=False):
        raise OSError("disk on fire")

    monkeypatch.setattr(safe_write, "move_file", broken_move)
    result = _cli("undo", "--db", str(db))
    assert result.exit_code == 1 and "disk on fire" in result.output
    conn = libdb.connect(db)
    assert conn.execute("SELECT COUNT(*) FROM journal WHERE state = 'planned'").fetchone()[0] == 0
    errors = conn.execute(
        "SELECT error FROM journal j JOIN runs r ON r.id = j.run_id"
        " WHERE r.kind = 'undo' AND j.state = 'failed'"
    ).fetchall()
    assert len(errors) == 8 and all("disk on fire" in e[0] for e in errors)
    monkeypatch.undo()
    result = _cli("undo", "--db", str(db))  # the organise run is still undoable
    assert result.exit_code == 0, result.output
    assert all(p.exists() for p in files)


def test_tag_refuses_when_tags_change_after_planning(lib, monkeypatch):
    """The file changed between plan and write: the original stays as the other writer left it."""
    root, db, files, _ = lib
    target = files[1]
    real_plan = journal.plan

    def plan_then_someone_edits(conn, run_id, **kwargs):
        entry = real_plan(conn, run_id, **kwargs)
        if Path(kwargs["path"]) == target:
            write_genres(target, ["Polka"])  # another tagger, between plan and write
        return entry

    monkeypatch.setattr(journal, "plan", plan_then_someone_edits)
    result = _cli("tag", str(root), "--db", str(db), "--min-confidence", "0.4")
    assert result.exit_code == 1, result.output
    edited = target.read_bytes()
    assert read_tags(target).genres == ["Polka"]
    assert "tags changed since planning" in result.output
    conn = libdb.connect(db)
    state = conn.execute(
        "SELECT state FROM journal WHERE path = ? AND action = 'tag'", (str(target),)
    ).fetchone()[0]
    assert state == "failed"
    monkeypatch.undo()
    assert _cli("undo", "--db", str(db)).exit_code == 0
    assert target.read_bytes() == edited  # the failed row is not undone: the edit stays


def test_repair_treats_a_reused_pid_as_dead(lib):
    from music_reclass.act import safe_write

    root, db, files, _ = lib
    conn = libdb.connect(db)
    me = os.getpid()
    started = safe_write.process_start_time(me)
    assert safe_write.pid_alive(me, started)
    if started is None:
        pytest.skip("no process start times on this platform")
    assert not safe_write.pid_alive(me, started + 1)
    run_id = journal.start_act_run(conn, "tag", {})
    assert json.loads(
        conn.execute("SELECT params FROM runs WHERE id = ?", (run_id,)).fetchone()[0]
    )["pid_start"] == started
    repair_interrupted(conn)  # our own live run: left alone
    assert conn.execute("SELECT status FROM runs WHERE id = ?", (run_id,)).fetchone()[0] == "running"
    with libdb.transaction(conn):  # the same pid, another process (start time differs)
        conn.execute(
            "UPDATE runs SET params = ? WHERE id = ?",
            (json.dumps({"pid": me, "pid_start": started + 1}), run_id),
        )
    repair_interrupted(conn)
    status = conn.execute("SELECT status FROM runs WHERE id = ?", (run_id,)).fetchone()[0]
    assert status == "interrupted"


def test_repair_never_settles_a_classify_run(lib):
    root, db, files, _ = lib
    conn = libdb.connect(db)
    run_id = _dead_run(conn, "classify")
    repair_interrupted(conn)
    assert conn.execute("SELECT status FROM runs WHERE id = ?", (run_id,)).fetchone()[0] == "running"


def test_journal_uses_the_library_content_hash():
    from music_reclass.act import safe_write
    from music_reclass.audio import hashing

    assert journal.content_hash is hashing.content_hash
    assert tagging.content_hash is hashing.content_hash
    assert not hasattr(journal, "_pid_alive") and not hasattr(safe_write, "_pid_alive")
