"""Discovery: what is audio, what is ignored, what is an error, in a stable order."""

from __future__ import annotations

import os

import numpy as np
import pytest

from audio_fixtures import write_clip
from music_reclass.audio.discover import Candidate, iter_candidates


def _kinds(candidates: list[Candidate], root) -> dict[str, tuple[str, str | None]]:
    return {str(c.path.relative_to(root)): (c.kind, c.reason) for c in candidates}


@pytest.fixture
def library(tmp_path):
    root = tmp_path / "music"
    album = root / "Artist" / "Album"
    album.mkdir(parents=True)
    write_clip(album / "01 track.flac", "flac", seconds=0.5)
    write_clip(album / "02 track.mp3", "mp3", seconds=0.5)
    write_clip(album / "03 no extension", "ogg", seconds=0.5)
    write_clip(album / "04 flac named.mp3", "flac", seconds=0.5)
    (album / "cover.jpg").write_bytes(b"\xff\xd8\xff\xe0" + bytes(100))
    (album / "album.cue").write_text("FILE x")
    (album / "fake.mp3").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(100))
    (album / "empty.flac").touch()
    (album / "notes.unknown").write_text("just text")
    (album / ".DS_Store").write_bytes(bytes(64))
    (album / "._01 track.flac").write_bytes(bytes(64))
    (album / "Thumbs.db").write_bytes(bytes(64))
    return root


def test_classifies_a_typical_album(library):
    found = _kinds(list(iter_candidates(library)), library)
    album = "Artist/Album/"
    assert found[album + "01 track.flac"] == ("audio", None)
    assert found[album + "02 track.mp3"] == ("audio", None)
    assert found[album + "03 no extension"] == ("audio", None)
    assert found[album + "04 flac named.mp3"] == ("audio", None)
    assert found[album + "fake.mp3"] == ("error", "not audio: looks like a PNG image")
    assert found[album + "empty.flac"] == ("error", "empty file")
    for name in ("cover.jpg", "album.cue", "notes.unknown", ".DS_Store", "._01 track.flac",
                 "Thumbs.db"):
        assert found[album + name][0] == "ignored", name


def test_formats_are_reported(library):
    formats = {c.path.name: c.format for c in iter_candidates(library) if c.kind == "audio"}
    assert formats == {"01 track.flac": "flac", "02 track.mp3": "mp3",
                       "03 no extension": "ogg", "04 flac named.mp3": "flac"}


def test_order_is_sorted_and_stable(library):
    first = [c.path for c in iter_candidates(library)]
    second = [c.path for c in iter_candidates([library])]
    assert first == second
    names = [p.name for p in first]
    assert names == sorted(names, key=os.fsencode)


def test_files_and_folders_given_directly(library):
    album = library / "Artist" / "Album"
    found = list(iter_candidates([album / "01 track.flac", album / "missing.mp3", album]))
    assert found[0].path == album / "01 track.flac" and found[0].kind == "audio"
    assert found[1].kind == "error" and "no such file" in found[1].reason
    assert len(found) == 2 + len(list(album.iterdir()))


def test_symlinks(tmp_path):
    write_clip(tmp_path / "real.wav", "wav16", seconds=0.5)
    (tmp_path / "good.wav").symlink_to("real.wav")
    (tmp_path / "broken.wav").symlink_to("nowhere.wav")
    (tmp_path / "loop.wav").symlink_to("loop.wav")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "up").symlink_to("..")
    found = _kinds(list(iter_candidates(tmp_path)), tmp_path)
    assert found["good.wav"] == ("audio", None)
    assert found["broken.wav"] == ("error", "broken symlink")
    assert found["loop.wav"] == ("error", "symlink loop")
    assert found["sub/up"][0] == "error" and "symlink loop" in found["sub/up"][1]
    not_followed = _kinds(list(iter_candidates(tmp_path, follow_symlinks=False)), tmp_path)
    assert not_followed["good.wav"][0] == "ignored"
    assert not_followed["sub/up"][0] == "ignored"


def test_same_folder_through_two_links_is_walked_once(tmp_path):
    (tmp_path / "a").mkdir()
    write_clip(tmp_path / "a" / "x.wav", "wav16", seconds=0.5)
    (tmp_path / "b").symlink_to("a")
    found = list(iter_candidates(tmp_path))
    assert [c.kind for c in found if c.path.name == "x.wav"] == ["audio"]
    assert any(c.path.name == "b" and c.kind == "ignored" for c in found)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no fifos here")
def test_fifo_is_an_error_and_never_opened(tmp_path):
    os.mkfifo(tmp_path / "pipe.mp3")
    os.mkfifo(tmp_path / "pipe_no_ext")
    found = _kinds(list(iter_candidates(tmp_path)), tmp_path)
    assert found["pipe.mp3"] == ("error", "not a regular file (fifo)")
    assert found["pipe_no_ext"] == ("error", "not a regular file (fifo)")


def test_folder_named_like_a_file(tmp_path):
    (tmp_path / "song.mp3").mkdir()
    write_clip(tmp_path / "song.mp3" / "inner.wav", "wav16", seconds=0.5)
    found = list(iter_candidates(tmp_path))
    assert [(c.path.name, c.kind) for c in found] == [("inner.wav", "audio")]


@pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0,
                    reason="root reads files whatever their permissions")
def test_unreadable_file_and_folder(tmp_path):
    write_clip(tmp_path / "locked.wav", "wav16", seconds=0.5)
    (tmp_path / "locked.wav").chmod(0)
    (tmp_path / "closed").mkdir()
    (tmp_path / "closed").chmod(0)
    try:
        found = _kinds(list(iter_candidates(tmp_path)), tmp_path)
    finally:
        (tmp_path / "closed").chmod(0o755)
    assert found["locked.wav"] == ("error", "permission denied")
    assert found["closed"] == ("error", "cannot list folder: permission denied")


def test_hidden_folder_given_directly_is_walked(tmp_path):
    hidden = tmp_path / ".hidden"
    hidden.mkdir()
    write_clip(hidden / "x.flac", "flac", seconds=0.5)
    assert [c.kind for c in iter_candidates(hidden)] == ["audio"]
    assert [c.kind for c in iter_candidates(tmp_path)] == ["ignored"]


def test_permission_error_while_sniffing_is_an_error(tmp_path, monkeypatch):
    # as root chmod 000 does not stop reads: simulate what a normal user meets
    import errno

    from music_reclass.audio import discover

    write_clip(tmp_path / "a.wav", "wav16", seconds=0.5)

    def denied(path):
        raise PermissionError(errno.EACCES, "Permission denied", str(path))

    monkeypatch.setattr(discover, "sniff_format", denied)
    assert [(c.kind, c.reason) for c in iter_candidates(tmp_path)] == [
        ("error", "permission denied")]


def test_random_bytes_without_an_audio_name_are_ignored_not_failed(tmp_path):
    """Two MPEG frame headers appear by chance in random data; a file whose name does not
    claim audio needs a real frame stream, so a folder of odd files never fails a run."""
    rng = np.random.default_rng(7)
    for i in range(600):
        (tmp_path / f"blob{i}").write_bytes(rng.bytes(6000))
    kinds = {c.kind for c in iter_candidates(tmp_path)}
    assert kinds == {"ignored"}


def test_a_real_mp3_without_extension_is_still_audio(tmp_path):
    clip = write_clip(tmp_path / "song.mp3", "mp3", seconds=2.0)
    bare = tmp_path / "song"
    bare.write_bytes(clip.read_bytes())
    clip.unlink()
    (candidate,) = list(iter_candidates(tmp_path))
    assert candidate.kind == "audio" and candidate.format == "mp3"


def test_known_files_are_not_opened(tmp_path, monkeypatch):
    """A rescan's ``known`` check: recognised files are yielded as audio without sniffing."""
    write_clip(tmp_path / "a.wav", "wav16", seconds=1.0)
    import music_reclass.audio.discover as discover

    monkeypatch.setattr(discover, "sniff_format", lambda path: pytest.fail("opened"))
    (candidate,) = list(iter_candidates(tmp_path, known=lambda path, info, is_link: True))
    assert candidate.kind == "audio" and candidate.format == "known" and candidate.stat
