"""What acting on files keeps: copies are not made twice, extended attributes survive."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from act_fixtures import make_audio, register, snapshot
from music_reclass.cli.main import app
from music_reclass.store import db as libdb


def _cli(*args):
    return CliRunner().invoke(app, [str(a) for a in args], catch_exceptions=False)


@pytest.fixture
def lib(tmp_path: Path):
    root, db = tmp_path / "music", tmp_path / "lib.sqlite"
    files = [make_audio(root / "a.flac", seed=1), make_audio(root / "b.mp3", seed=2),
             make_audio(root / "c.wav", seed=3)]
    conn = libdb.connect(db)
    for path in files:
        register(conn, path, genres=[("jazz", 0.9)])
    conn.close()
    return root, db, files


def _placed(into: Path) -> list[Path]:
    return sorted(p for p in into.rglob("*") if p.is_file())


def test_organise_copy_twice_copies_nothing_the_second_time(lib, tmp_path: Path):
    root, db, files = lib
    into = tmp_path / "sorted"
    # the user's own, different file where a.flac will go: the copy gets " (1)"
    taken = into / "Jazz" / "Unknown Artist" / "Unknown Album" / "a.flac"
    taken.parent.mkdir(parents=True)
    taken.write_bytes(b"the user's own file")
    args = ["organise", root, "--into", into, "--db", db, "--copy", "--min-confidence", "0.5"]
    first = _cli(*args)
    assert first.exit_code == 0, first.output
    assert "copied 3 file(s) and 0 companion(s), 0 already in place" in first.output
    placed = _placed(into)
    assert taken.with_name("a (1).flac") in placed and len(placed) == 4
    second = _cli(*args)
    assert second.exit_code == 0, second.output
    assert "copied 0 file(s) and 0 companion(s), 3 already in place" in second.output
    assert "already in place as" in second.output
    assert _placed(into) == placed  # no "x (1).ext" / "x (2).ext"
    assert taken.read_bytes() == b"the user's own file"


def test_organise_copy_of_a_changed_source_is_not_already_in_place(lib, tmp_path: Path):
    from music_reclass.act.organise import copied_before

    root, _db, files = lib
    target = tmp_path / "t" / "a.flac"
    target.parent.mkdir()
    assert copied_before(files[0], target) is None
    target.write_bytes(files[0].read_bytes())
    assert copied_before(files[0], target) == target
    target.write_bytes(files[0].read_bytes()[:-1] + b"\0")  # same size, other bytes
    assert copied_before(files[0], target) is None
    (target.parent / "a (1).flac").write_bytes(files[0].read_bytes())
    assert copied_before(files[0], target) == target.parent / "a (1).flac"


def _supports_user_xattrs(folder: Path) -> bool:
    probe = folder / "xattr-probe"
    probe.write_bytes(b"x")
    try:
        os.setxattr(probe, "user.probe", b"1")
    except (OSError, AttributeError):
        return False
    finally:
        probe.unlink()
    return True


def test_extended_attributes_survive_tag_and_undo(lib, tmp_path: Path):
    root, db, files = lib
    if not _supports_user_xattrs(root):
        pytest.skip("this filesystem keeps no user extended attributes")
    for path in files:
        os.setxattr(path, "user.xdg.comment", b"from my old tagger")
        os.setxattr(path, "user.rating", b"5")
    original = snapshot(files)
    result = _cli("tag", root, "--db", db, "--min-confidence", "0.5")
    assert result.exit_code == 0, result.output
    for path in files:
        assert os.getxattr(path, "user.xdg.comment") == b"from my old tagger"
        assert os.getxattr(path, "user.rating") == b"5"
    result = _cli("undo", "--db", db)
    assert result.exit_code == 0, result.output
    assert snapshot(files) == original
    for path in files:
        assert sorted(os.listxattr(path)) == ["user.rating", "user.xdg.comment"]
        assert os.getxattr(path, "user.rating") == b"5"
