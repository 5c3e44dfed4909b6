"""reclass organise: placement fields, sanitising, no-overwrite moves, copies, DB paths."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from act_fixtures import add_tags, make_audio, register, snapshot
from music_reclass.act import safe_write
from music_reclass.act.organise import check_pattern, sanitize_component, target_for
from music_reclass.act.payload import file_sha256
from music_reclass.cli.main import app
from music_reclass.errors import ParameterError
from music_reclass.store import db as libdb

runner = CliRunner()


def _cli(*args: str):
    return runner.invoke(app, list(args), catch_exceptions=False)


@pytest.fixture
def lib(tmp_path: Path):
    """Three analysed files: tagged+confident, tagged+unsure, untagged+unsure."""
    root = tmp_path / "music"
    a = make_audio(root / "in" / "a.mp3", seed=1)
    add_tags(a, genres=["Rock"], artist="AC/DC", album="Back in Black")
    b = make_audio(root / "in" / "b.flac", seed=2)
    add_tags(b, genres=["Folk"], artist="Nick Drake", album="Pink Moon")
    c = make_audio(root / "in" / "sub" / "c.ogg", seed=3)
    db = tmp_path / "lib.sqlite"
    conn = libdb.connect(db)
    register(conn, a, genres=[("jazz", 0.9), ("blues", 0.4)])
    register(conn, b, genres=[("jazz", 0.2)])
    register(conn, c, genres=[("rock", 0.1)])
    conn.close()
    return root, db, {"a": a, "b": b, "c": c}


def test_sanitize_component():
    assert sanitize_component("AC/DC", fallback="x") == "AC_DC"
    assert sanitize_component("..", fallback="Unknown Artist") == "Unknown Artist"
    assert sanitize_component(" .hidden. ", fallback="x") == "hidden"
    assert sanitize_component("a\x00b\nc\td", fallback="x") == "a_b_c_d"
    assert sanitize_component(None, fallback="Unknown Album") == "Unknown Album"
    assert sanitize_component("CON", fallback="x") == "_CON"
    long = sanitize_component("é" * 300 + ".flac", fallback="x", keep_suffix=True)
    assert long.endswith(".flac") and len(long.encode()) <= 255


def test_pattern_checks(tmp_path: Path):
    for bad in ("../{genre}/{filename}", "/abs/{filename}", "{genre}/{nope}", "plain"):
        with pytest.raises(ParameterError):
            check_pattern(bad)
    src = tmp_path / "x.mp3"
    target = target_for(
        src, {"genre": "../../etc", "artist": "/", "filename": "x.mp3"}, into=tmp_path / "out"
    )
    assert target == tmp_path / "out" / "_.._etc" / "Unknown Artist" / "Unknown Album" / "x.mp3"


def test_organise_moves_and_updates_db(lib, tmp_path: Path):
    root, db, files = lib
    data = snapshot(files.values())
    into = tmp_path / "sorted"
    result = _cli(
        "organise", "--move", str(root), "--into", str(into), "--db", str(db), "--min-confidence", "0.5"
    )
    assert result.exit_code == 0, result.output
    expected = {
        "a": into / "Jazz" / "AC_DC" / "Back in Black" / "a.mp3",  # predicted, confident
        "b": into / "Folk" / "Nick Drake" / "Pink Moon" / "b.flac",  # existing tag
        "c": into / "Unknown Genre" / "Unknown Artist" / "Unknown Album" / "c.ogg",
    }
    for key, target in expected.items():
        assert not files[key].exists()
        assert target.read_bytes() == data[str(files[key])]
    conn = libdb.connect(db)
    paths = {r[0] for r in conn.execute("SELECT path FROM files")}
    assert paths == {str(p) for p in expected.values()}
    journal = conn.execute("SELECT action, state FROM journal").fetchall()
    assert [tuple(r) for r in journal] == [("move", "done")] * 3


def test_never_overwrites_collisions_get_suffix(lib, tmp_path: Path):
    root, db, files = lib
    into = tmp_path / "sorted"
    occupied = into / "Jazz" / "AC_DC" / "Back in Black" / "a.mp3"
    occupied.parent.mkdir(parents=True)
    occupied.write_bytes(b"the user's own file")
    result = _cli(
        "organise", "--move", str(files["a"]), "--into", str(into), "--db", str(db), "--min-confidence", "0.5"
    )
    assert result.exit_code == 0, result.output
    assert occupied.read_bytes() == b"the user's own file"
    assert (occupied.parent / "a (1).mp3").exists()


def test_skip_existing(lib, tmp_path: Path):
    root, db, files = lib
    into = tmp_path / "sorted"
    occupied = into / "Jazz" / "AC_DC" / "Back in Black" / "a.mp3"
    occupied.parent.mkdir(parents=True)
    occupied.write_bytes(b"mine")
    result = _cli(
        "organise", "--move",
        str(files["a"]),
        "--into",
        str(into),
        "--db",
        str(db),
        "--min-confidence",
        "0.5",
        "--skip-existing",
    )
    assert result.exit_code == 0
    assert "skipped" in result.output and files["a"].exists()
    assert occupied.read_bytes() == b"mine"


def test_dry_run_changes_nothing(lib, tmp_path: Path):
    root, db, files = lib
    into = tmp_path / "sorted"
    result = _cli("organise", "--move", str(root), "--into", str(into), "--db", str(db), "--dry-run")
    assert result.exit_code == 0
    assert f"{files['a']} -> {into}" in result.output
    assert all(p.exists() for p in files.values()) and not into.exists()
    conn = libdb.connect(db)
    assert conn.execute("SELECT COUNT(*) FROM journal").fetchone()[0] == 0


def test_copy_then_undo_removes_only_unchanged_copies(lib, tmp_path: Path):
    root, db, files = lib
    into = tmp_path / "sorted"
    result = _cli(
        "organise",
        str(root),
        "--into",
        str(into),
        "--db",
        str(db),
        "--copy",
        "--pattern",
        "{genre}/{title} - {filename}",
    )
    assert result.exit_code == 0, result.output
    copies = sorted(p for p in into.rglob("*") if p.is_file())
    assert len(copies) == 3 and all(p.exists() for p in files.values())
    changed = next(p for p in copies if p.suffix == ".mp3")
    changed.write_bytes(changed.read_bytes() + b"user edit")
    result = _cli("undo", "--db", str(db))
    assert result.exit_code == 1  # one refusal
    assert "refused" in result.output and changed.exists()
    assert [p for p in into.rglob("*") if p.is_file()] == [changed]
    assert all(p.exists() for p in files.values())


def test_cross_device_move_is_verified_copy(tmp_path: Path, monkeypatch):
    monkeypatch.setattr(safe_write, "same_device", lambda a, b: False)
    src = make_audio(tmp_path / "a.wav")
    sha = file_sha256(src)
    dst = tmp_path / "other" / "a.wav"
    safe_write.move_file(src, dst)
    assert not src.exists() and file_sha256(dst) == sha
    src2 = make_audio(tmp_path / "b.wav")
    with pytest.raises(FileExistsError):
        safe_write.move_file(src2, dst)
    assert src2.exists() and file_sha256(dst) == sha
    assert not [p for p in dst.parent.iterdir() if p.name.startswith(safe_write.TEMP_PREFIX)]


# ----------------------------------------------------------------------------- review findings


def test_pattern_without_filename_keeps_the_extension(lib, tmp_path: Path):
    root, db, files = lib
    into = tmp_path / "sorted"
    a = files["a"]
    assert target_for(a, {"genre": "Rock", "title": "Song"}, into=into, pattern="{genre}/{title}") == (
        into / "Rock" / "Song.mp3"
    )
    assert target_for(a, {"genre": "Rock", "title": "x"}, into=into, pattern="{title}.{ext}") == (
        into / "x.mp3"
    )
    result = _cli(
        "organise", "--move", str(root), "--into", str(into), "--db", str(db), "--pattern", "{genre}/{title}"
    )
    assert result.exit_code == 0, result.output
    moved = sorted(p.suffix for p in into.rglob("*") if p.is_file())
    assert moved == [".flac", ".mp3", ".ogg"]


def test_symlinked_root_is_organised_and_symlinked_file_is_not_moved(lib, tmp_path: Path):
    root, db, files = lib
    linked_root = tmp_path / "Music"
    linked_root.symlink_to(root, target_is_directory=True)
    link = root / "in" / "link to c.ogg"
    link.symlink_to(files["c"])
    into = tmp_path / "sorted"
    result = _cli("organise", "--move", str(linked_root), "--into", str(into), "--db", str(db))
    assert result.exit_code == 0, result.output
    # a, b and c itself are moved (c is reached as a plain file too); the link stays a link
    assert not files["a"].exists() and not files["b"].exists() and not files["c"].exists()
    assert link.is_symlink()
    assert len([p for p in into.rglob("*") if p.is_file()]) == 3


def test_only_the_symlinked_file_given_is_skipped(lib, tmp_path: Path):
    root, db, files = lib
    link = tmp_path / "link.mp3"
    link.symlink_to(files["a"])
    into = tmp_path / "sorted"
    result = _cli("organise", "--move", str(link), "--into", str(into), "--db", str(db))
    assert result.exit_code == 0, result.output
    assert "symbolic link (not moved" in result.output
    assert files["a"].exists() and link.is_symlink()


def test_missing_path_and_nothing_analysed_start_no_run(lib, tmp_path: Path):
    root, db, files = lib
    into = tmp_path / "sorted"
    result = _cli("organise", "--move", str(tmp_path / "nope"), "--into", str(into), "--db", str(db))
    assert result.exit_code == 2 and "no such file or folder" in result.output
    assert not into.exists()
    fresh = tmp_path / "fresh"
    make_audio(fresh / "new.flac")
    for extra in ([], ["--dry-run"]):
        result = _cli("organise", "--move", str(fresh), "--into", str(into), "--db", str(db), *extra)
        assert result.exit_code == 1, result.output
        assert "nothing analysed under" in result.output and "reclass classify" in result.output
    assert not into.exists()
    conn = libdb.connect(db)
    assert conn.execute("SELECT COUNT(*) FROM runs WHERE kind = 'organise'").fetchone()[0] == 0


def test_unexpected_error_fails_one_file_not_the_run(lib, tmp_path: Path, monkeypatch):
    from music_reclass.act import organise

    root, db, files = lib
    real = organise.choose_fields

    def choose(conn, row, **kwargs):
        if row.path == files["b"]:
            raise RuntimeError("odd tags")
        return real(conn, row, **kwargs)

    monkeypatch.setattr(organise, "choose_fields", choose)
    into = tmp_path / "sorted"
    result = _cli("organise", "--move", str(root), "--into", str(into), "--db", str(db))
    assert result.exit_code == 1, result.output
    assert "unexpected RuntimeError: odd tags" in result.output
    assert "moved 2 file(s)" in result.output and files["b"].exists()


def test_rerun_on_an_emptied_folder_is_nothing_to_do(lib, tmp_path: Path):
    root, db, files = lib
    into = tmp_path / "sorted"
    assert _cli("organise", "--move", str(root), "--into", str(into), "--db", str(db)).exit_code == 0
    result = _cli("organise", "--move", str(root), "--into", str(into), "--db", str(db))
    assert result.exit_code == 0 and "no audio files under" in result.output
    conn = libdb.connect(db)
    assert conn.execute("SELECT COUNT(*) FROM runs WHERE kind = 'organise'").fetchone()[0] == 1


# ----------------------------------------------------------------------------- albums, companions


@pytest.fixture
def album(tmp_path: Path):
    """One album of three tracks the model splits 2 jazz / 1 blues, with cover art,
    a cue sheet, one track's lyrics and a stray note; plus a loose track."""
    root = tmp_path / "music"
    folder = root / "Kind of Blue"
    tracks = []
    db = tmp_path / "lib.sqlite"
    conn = libdb.connect(db)
    for i, genre in enumerate(("jazz", "blues", "jazz")):
        track = make_audio(folder / f"0{i + 1} track.mp3", seed=10 + i)
        add_tags(track, genres=[], artist="Miles Davis", album="Kind of Blue")
        register(conn, track, genres=[(genre, 0.9)])
        tracks.append(track)
    loose = make_audio(root / "single.mp3", seed=20)
    register(conn, loose, genres=[("rock", 0.9)])
    conn.close()
    (folder / "cover.jpg").write_bytes(b"\xff\xd8\xff\xe0 cover")
    (folder / "album.cue").write_text("FILE ...")
    (folder / "01 track.lrc").write_text("[00:01] words")
    return root, db, tracks, loose


def test_an_album_stays_together_with_its_companions(album, tmp_path: Path):
    root, db, tracks, loose = album
    into = tmp_path / "sorted"
    before = snapshot(p for p in root.rglob("*") if p.is_file())
    result = _cli("organise", str(root), "--into", str(into), "--db", str(db),
                  "--min-confidence", "0.5")
    assert result.exit_code == 0, result.output
    target = into / "Jazz" / "Miles Davis" / "Kind of Blue"  # the majority, for every track
    assert sorted(p.name for p in target.iterdir()) == [
        "01 track.lrc", "01 track.mp3", "02 track.mp3", "03 track.mp3", "album.cue", "cover.jpg"]
    assert (into / "Rock" / "Unknown Artist" / "Unknown Album" / "single.mp3").exists()
    # copy is the default: the originals stay
    assert snapshot(p for p in root.rglob("*") if p.is_file()) == before
    assert "3 companion(s)" in result.output
    undone = _cli("undo", "--db", str(db))
    assert undone.exit_code == 0, undone.output
    assert not any(p.is_file() for p in into.rglob("*"))


def test_group_by_track_and_no_companions(album, tmp_path: Path):
    root, db, tracks, _ = album
    into = tmp_path / "sorted"
    result = _cli("organise", str(root), "--into", str(into), "--db", str(db),
                  "--min-confidence", "0.5", "--group", "track", "--no-companions")
    assert result.exit_code == 0, result.output
    assert (into / "Blues" / "Miles Davis" / "Kind of Blue" / "02 track.mp3").exists()
    assert not list(into.rglob("cover.jpg"))
    assert _cli("organise", str(root), "--into", str(into), "--db", str(db),
                "--group", "decade").exit_code == 2


def test_moving_an_album_takes_its_companions_and_empties_the_folder(album, tmp_path: Path):
    root, db, tracks, _ = album
    into = tmp_path / "sorted"
    result = _cli("organise", "--move", str(root), "--into", str(into), "--db", str(db),
                  "--min-confidence", "0.5")
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in (root / "Kind of Blue").iterdir()) == []
    assert (into / "Jazz" / "Miles Davis" / "Kind of Blue" / "cover.jpg").exists()
    assert _cli("undo", "--db", str(db)).exit_code == 0
    assert sorted(p.name for p in (root / "Kind of Blue").iterdir()) == [
        "01 track.lrc", "01 track.mp3", "02 track.mp3", "03 track.mp3", "album.cue", "cover.jpg"]


def test_a_folder_of_loose_tracks_keeps_its_notes_and_each_track_takes_its_own(tmp_path: Path):
    """A download folder (tracks of several artists, a licence note per track and one
    README): each note follows its own track; the folder's README goes nowhere, rather
    than a copy landing in every genre folder."""
    root = tmp_path / "downloads"
    db = tmp_path / "lib.sqlite"
    conn = libdb.connect(db)
    for i, (name, genre) in enumerate((("Alpha_-_Song", "jazz"), ("Beta_-_Tune", "rock"))):
        track = make_audio(root / f"{name}.hq.mp3", seed=40 + i)
        add_tags(track, genres=[], artist=name.split("_")[0], album="")
        register(conn, track, genres=[(genre, 0.9)])
        (root / f"{name}.LICENSE.txt").write_text(f"licence of {name}")
    jones = make_audio(root / "Mr. Jones.mp3", seed=45)
    add_tags(jones, genres=[], artist="Counting Crows", album="")
    register(conn, jones, genres=[("rock", 0.9)])
    conn.close()
    (root / "README.txt").write_text("where these came from")
    (root / "Mr. Brightside (live).txt").write_text("not Mr. Jones's: a title, not a tag")
    into = tmp_path / "sorted"
    result = _cli("organise", str(root), "--into", str(into), "--db", str(db),
                  "--min-confidence", "0.5")
    assert result.exit_code == 0, result.output
    notes = sorted(p.relative_to(into).as_posix() for p in into.rglob("*.txt"))
    assert notes == ["Jazz/Alpha/Unknown Album/Alpha_-_Song.LICENSE.txt",
                     "Rock/Beta/Unknown Album/Beta_-_Tune.LICENSE.txt"]
    assert "2 companion(s)" in result.output and (into / "Rock" / "Counting Crows").is_dir()
