"""Bad input gets one line and exit 2, never a traceback: databases, targets, patterns,
taxonomies, old ID3 versions; SQLite's own errors become one-line DatabaseErrors."""

from __future__ import annotations

import os
import sqlite3
import subprocess
from pathlib import Path

import pytest
from typer.testing import CliRunner

from act_fixtures import make_audio, register, snapshot
from music_reclass.cli import common
from music_reclass.cli.main import app
from music_reclass.errors import DatabaseError
from music_reclass.store import db as libdb
from test_scan import make_fake, tone


@pytest.fixture(autouse=True)
def fake(monkeypatch):
    monkeypatch.setattr(common, "classifier_factory", make_fake)


def _cli(*args):
    return CliRunner().invoke(app, [str(a) for a in args], catch_exceptions=False)


def _one_line_error(result, code: int = 2) -> str:
    """The single ``error:`` line of a command that failed cleanly with ``code``."""
    assert result.exit_code == code, result.output
    assert "Traceback" not in result.output
    errors = [line for line in result.output.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, result.output
    return errors[0]


@pytest.fixture
def music(tmp_path: Path) -> Path:
    root = tmp_path / "music"
    tone(root / "a.wav", 300.0)
    tone(root / "b.wav", 700.0)
    return root


@pytest.fixture
def read_only_dir(tmp_path: Path):
    """A folder on a read-only mount (root), or without write permission (others)."""
    folder = tmp_path / "ro"
    folder.mkdir()

    def make(source: Path | None = None) -> Path:
        if os.geteuid() == 0:
            src = source or folder
            done = subprocess.run(["mount", "--bind", str(src), str(folder)], capture_output=True)
            if done.returncode == 0:
                done = subprocess.run(["mount", "-o", "remount,ro,bind", str(folder)],
                                      capture_output=True)
            if done.returncode != 0:
                pytest.skip(f"cannot make a read-only mount: {done.stderr.decode().strip()}")
            mounted.append(folder)
        else:
            if source is not None:
                for item in source.iterdir():
                    (folder / item.name).write_bytes(item.read_bytes())
            folder.chmod(0o555)
        return folder

    mounted: list[Path] = []
    yield make
    for path in mounted:
        subprocess.run(["umount", "-l", str(path)], capture_output=True)
    folder.chmod(0o755)


COMMANDS = [["classify", "MUSIC"], ["list"], ["runs"], ["undo"],
            ["tag", "MUSIC", "--min-confidence", "0"]]


def _command(args: list[str], music: Path) -> list[str]:
    return [str(music) if a == "MUSIC" else a for a in args]


@pytest.mark.parametrize("args", COMMANDS, ids=lambda a: a[0])
@pytest.mark.parametrize("where", ["folder", "under-a-file"])
def test_db_that_is_a_folder_or_under_a_file(tmp_path: Path, music: Path, args, where):
    target = tmp_path / "adir"
    target.mkdir()
    if where == "under-a-file":
        (tmp_path / "afile").write_text("x")
        target = tmp_path / "afile" / "lib.sqlite"
    line = _one_line_error(_cli(*_command(args, music), "--db", target))
    assert ("is a folder" in line) or ("is a file" in line) or ("no library database" in line)


@pytest.mark.parametrize("args", COMMANDS, ids=lambda a: a[0])
def test_new_db_on_a_read_only_mount(music: Path, read_only_dir, args):
    folder = read_only_dir()
    line = _one_line_error(_cli(*_command(args, music), "--db", folder / "lib.sqlite"))
    assert "read-only" in line or "no library database" in line
    assert not (folder / "lib.sqlite").exists()


def test_existing_db_on_a_read_only_mount_is_listable(tmp_path: Path, music: Path,
                                                     read_only_dir):
    src = tmp_path / "src"
    src.mkdir()
    assert _cli("classify", music, "--db", src / "lib.sqlite").exit_code == 0
    db = read_only_dir(src) / "lib.sqlite"
    for args in (["list"], ["runs"], ["stats"], ["models"], ["show", music / "a.wav"],
                 ["tag", music, "--dry-run", "--min-confidence", "0"]):
        result = _cli(*args, "--db", db)
        assert result.exit_code == 0, (args, result.output)
    for args in (["tag", music, "--min-confidence", "0"], ["undo"],
                 ["organise", "--move", music, "--into", tmp_path / "sorted"]):
        assert "is read-only" in _one_line_error(_cli(*args, "--db", db))


@pytest.fixture
def analysed(tmp_path: Path):
    root, db = tmp_path / "lib", tmp_path / "lib.sqlite"
    files = [make_audio(root / "a.flac", seed=1), make_audio(root / "b.ogg", seed=2)]
    conn = libdb.connect(db)
    for path in files:
        register(conn, path, genres=[("jazz", 0.9)])
    conn.close()
    return root, db, files


@pytest.mark.parametrize("where", ["a-file", "under-a-file", "read-only"])
@pytest.mark.parametrize("dry_run", [False, True])
def test_organise_into_a_target_that_cannot_take_files(tmp_path: Path, analysed,
                                                       read_only_dir, where, dry_run):
    root, db, files = analysed
    before = snapshot(files)
    (tmp_path / "afile").write_text("x")
    into = {"a-file": tmp_path / "afile", "under-a-file": tmp_path / "afile" / "sorted",
            "read-only": None}[where]
    if into is None:
        into = read_only_dir() / "sorted"
    line = _one_line_error(_cli("organise", "--move", root, "--into", into, "--db", db,
                                *(["--dry-run"] if dry_run else [])))
    assert "--into" in line and ("is a file" in line or "cannot write into" in line)
    assert snapshot(files) == before
    assert sqlite3.connect(db).execute(
        "SELECT COUNT(*) FROM runs WHERE kind = 'organise'").fetchone()[0] == 0


@pytest.mark.parametrize("pattern", ["{genre:{artist}}/{filename}", "{genre!r}/{filename}",
                                     "{genre/{filename}", "{genre:>20}/{filename}"])
def test_pattern_with_format_specs_is_a_usage_error(tmp_path: Path, analysed, pattern):
    root, db, files = analysed
    line = _one_line_error(_cli("organise", "--move", root, "--into", tmp_path / "sorted", "--db", db,
                                "--pattern", pattern))
    assert "--pattern" in line
    assert all(p.exists() for p in files) and not (tmp_path / "sorted").exists()


def test_taxonomy_nested_100000_deep(tmp_path: Path, music: Path, monkeypatch):
    monkeypatch.setattr(common, "classifier_factory", None)  # the embedded model reads it
    deep = tmp_path / "deep.json"
    deep.write_text('{"genres": ' + "[" * 100_000 + "]" * 100_000 + "}")
    line = _one_line_error(_cli("classify", music, "--db", tmp_path / "lib.sqlite",
                                "--taxonomy", deep))
    assert "nested too deeply" in line and "deep.json" in line


def _id3v22(path: Path) -> None:
    """Prepend an ID3v2.2 tag (3-character frame ids: mutagen reads, never writes them)."""
    def frame(fid: bytes, text: str) -> bytes:
        data = b"\x00" + text.encode("latin-1")
        return fid + len(data).to_bytes(3, "big") + data

    frames = frame(b"TT2", "Song") + frame(b"TP1", "Band") + frame(b"TCO", "Rock") + b"\0" * 64
    size = len(frames)
    syncsafe = bytes([(size >> 21) & 0x7F, (size >> 14) & 0x7F, (size >> 7) & 0x7F, size & 0x7F])
    path.write_bytes(b"ID3\x02\x00\x00" + syncsafe + frames + path.read_bytes())


def test_id3v22_files_are_tagged_and_undone(tmp_path: Path):
    from music_reclass.audio.tags import read_tags

    path = make_audio(tmp_path / "lib" / "old.mp3")
    _id3v22(path)
    original = path.read_bytes()
    db = tmp_path / "lib.sqlite"
    conn = libdb.connect(db)
    register(conn, path, genres=[("jazz", 0.9)])
    conn.close()
    result = _cli("tag", path.parent, "--db", db, "--min-confidence", "0.5")
    assert result.exit_code == 0, result.output
    assert "changed 1 file(s)" in result.output
    tags = read_tags(path)
    assert tags.genres == ["Jazz"] and tags.title == "Song"
    result = _cli("undo", "--db", db)
    assert result.exit_code == 0, result.output
    assert path.read_bytes() == original


# ----------------------------------------------------------------------------- SQLite errors


def test_a_write_lock_held_beyond_the_busy_timeout_is_one_line(tmp_path: Path):
    db = tmp_path / "lib.sqlite"
    conn = libdb.connect(db)
    conn.execute("PRAGMA busy_timeout=50")
    other = sqlite3.connect(db, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    try:
        with pytest.raises(DatabaseError) as caught, libdb.transaction(conn):
            conn.execute("INSERT INTO settings (key, value) VALUES ('a', '1')")
    finally:
        other.rollback()
    assert caught.value.code == "database-locked"
    assert str(caught.value).startswith(f"the library database {db} is locked")
    assert "\n" not in str(caught.value)
    assert not conn.in_transaction
    with libdb.transaction(conn):  # usable again once the lock is gone
        conn.execute("INSERT INTO settings (key, value) VALUES ('a', '1')")


def test_a_full_database_is_one_line(tmp_path: Path):
    db = tmp_path / "lib.sqlite"
    conn = libdb.connect(db)
    pages = conn.execute("PRAGMA page_count").fetchone()[0]
    conn.execute(f"PRAGMA max_page_count={pages}")
    with pytest.raises(DatabaseError) as caught, libdb.transaction(conn):
        conn.execute("CREATE TABLE filler (x BLOB)")
        conn.execute("INSERT INTO filler VALUES (zeroblob(100000))")
    assert caught.value.code == "database-full"
    assert "is full (no space left on its disk)" in str(caught.value)


@pytest.mark.parametrize(("message", "code"), [
    ("disk I/O error", "database-io-error"),
    ("database is locked", "database-locked"),
    ("database or disk is full", "database-full"),
    ("something new", "database-error"),
])
def test_database_error_messages(message: str, code: str):
    error = libdb.database_error(sqlite3.OperationalError(message), "/x/lib.sqlite")
    assert error.code == code and str(error).startswith("the library database /x/lib.sqlite")
