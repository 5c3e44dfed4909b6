"""Tag reading/writing on every format, exact before-states, and safe writes."""

from __future__ import annotations

import os
from pathlib import Path

import mutagen
import pytest
from mutagen.id3 import ID3

from act_fixtures import FORMATS, add_id3, add_id3v1, add_tags, make_audio
from music_reclass.errors import ParameterError
from music_reclass.library import safe_write, tags
from music_reclass.library.payload import audio_digest
from music_reclass.library.tags import (
    genre_state,
    genres_of_state,
    merge_genres,
    read_tags,
    restore_genre_state,
    write_genres,
)


@pytest.fixture(params=FORMATS)
def audio_file(request, tmp_path: Path) -> Path:
    return make_audio(tmp_path / f"song.{request.param}")


def test_write_read_restore_every_format(audio_file: Path):
    digest = audio_digest(audio_file)
    assert read_tags(audio_file).genres == []
    change = write_genres(audio_file, ["Jazz", "Blues"])
    assert (
        change.changed and change.before_genres == [] and change.after_genres == ["Jazz", "Blues"]
    )
    got = read_tags(audio_file)
    assert got.genres == ["Jazz", "Blues"]
    assert got.format == audio_file.suffix.lstrip(".")
    assert audio_digest(audio_file) == digest
    restore_genre_state(audio_file, change.before)
    assert genre_state(audio_file) == change.before
    assert read_tags(audio_file).genres == []
    assert audio_digest(audio_file) == digest
    assert not [p for p in audio_file.parent.iterdir() if p.name.startswith(safe_write.TEMP_PREFIX)]


def test_existing_tags_are_read_and_other_fields_kept(audio_file: Path):
    add_tags(audio_file, genres=["Rock", "Pop"], title="T", artist="A", album="B")
    before = read_tags(audio_file)
    assert (before.title, before.artist, before.album, before.genres) == (
        "T",
        "A",
        "B",
        ["Rock", "Pop"],
    )
    write_genres(audio_file, ["Jazz"])
    after = read_tags(audio_file)
    assert (after.title, after.artist, after.album, after.genres) == ("T", "A", "B", ["Jazz"])


def test_one_vorbis_field_per_genre(tmp_path: Path):
    path = make_audio(tmp_path / "a.flac")
    write_genres(path, ["Jazz", "Blues"])
    assert mutagen.File(path).tags["genre"] == ["Jazz", "Blues"]


def test_id3v24_multi_value_is_null_separated(tmp_path: Path):
    path = make_audio(tmp_path / "a.mp3")
    add_id3(path, version=4, genres=["Rock"])
    write_genres(path, ["Jazz", "Blues"])
    assert ID3(path).version[:2] == (2, 4)
    assert b"Jazz\x00Blues" in path.read_bytes()[:4096]


def test_id3v23_keeps_version_and_joins_with_semicolon(tmp_path: Path):
    path = make_audio(tmp_path / "a.mp3")
    add_id3(path, version=3, genres=["Rock/Pop"])  # another tagger's "/"-joined v2.3 value
    assert read_tags(path).genres == ["Rock/Pop"]  # "/" is never split: "R&B/Soul" stays one
    change = write_genres(path, ["Jazz", "Blues"])
    assert ID3(path).version[:2] == (2, 3)
    assert ID3(path)["TCON"].text == ["Jazz; Blues"]
    assert read_tags(path).genres == ["Jazz", "Blues"]
    restore_genre_state(path, change.before)
    assert ID3(path).version[:2] == (2, 3)
    assert ID3(path)["TCON"].text == ["Rock/Pop"]


def test_id3v1_only_file(tmp_path: Path):
    path = make_audio(tmp_path / "a.mp3")
    add_id3v1(path, genre_index=17)
    v1_before = path.read_bytes()[-128:]
    got = read_tags(path)
    assert got.genres == ["Rock"] and got.title == "Old Song"
    change = write_genres(path, ["Jazz"])
    assert change.before["v2"] is None and change.before["v1"]
    assert read_tags(path).genres == ["Jazz"]
    assert path.read_bytes()[-1] == 8  # the ID3v1 genre byte follows (8 = Jazz)
    restore_genre_state(path, change.before)
    assert not path.read_bytes().startswith(b"ID3")  # the v2 tag we added is gone again
    assert path.read_bytes()[-128:] == v1_before


def test_absent_tag_block_is_restored_as_absent(tmp_path: Path):
    path = make_audio(tmp_path / "a.wav")
    change = write_genres(path, ["Jazz"])
    assert change.before["v2"] is None
    restore_genre_state(path, change.before)
    assert mutagen.File(path).tags is None


def test_modes(tmp_path: Path):
    assert merge_genres(["Rock"], ["Jazz", "rock"], mode="append") == ["Rock", "Jazz"]
    assert merge_genres(["Rock"], ["Jazz"], mode="fill") == ["Rock"]
    assert merge_genres([], ["Jazz"], mode="fill") == ["Jazz"]
    assert merge_genres(["Rock"], ["Jazz"], mode="replace") == ["Jazz"]
    with pytest.raises(ParameterError):
        merge_genres([], [], mode="merge")
    path = make_audio(tmp_path / "a.ogg")
    add_tags(path, genres=["Rock"])
    change = write_genres(path, ["Jazz"], mode="fill")
    assert not change.changed and read_tags(path).genres == ["Rock"]
    write_genres(path, ["Jazz"], mode="append")
    assert read_tags(path).genres == ["Rock", "Jazz"]


def test_dry_run_writes_nothing(tmp_path: Path):
    path = make_audio(tmp_path / "a.flac")
    add_tags(path, genres=["Rock"])
    data = path.read_bytes()
    change = write_genres(path, ["Jazz", "Blues"], dry_run=True)
    assert change.describe() == f"{path}: GENRE 'Rock' -> 'Jazz; Blues'"
    assert path.read_bytes() == data


@pytest.mark.parametrize(
    "content",
    [b"ID3\x04\x00\x00\x7f\x7f\x7f\x7f" + b"\xff" * 50, b"not audio at all", b""],
    ids=["bad-id3-header", "text", "empty"],
)
def test_damaged_tags_never_crash(tmp_path: Path, content: bytes):
    path = tmp_path / "broken.mp3"
    path.write_bytes(content)
    got = read_tags(path)
    assert got.genres == [] and got.title is None
    assert got.warnings


def test_failed_verification_leaves_original_untouched(tmp_path: Path, monkeypatch):
    path = make_audio(tmp_path / "a.flac")
    data = path.read_bytes()

    real_writer = tags._set_genres_in_place

    def corrupt(tmp: Path, genres) -> None:  # a buggy writer that damages the audio
        real_writer(tmp, genres)
        raw = bytearray(tmp.read_bytes())
        raw[-100] ^= 0xFF
        tmp.write_bytes(bytes(raw))

    monkeypatch.setattr(tags, "_set_genres_in_place", corrupt)
    with pytest.raises(safe_write.SafeWriteError, match="audio payload"):
        write_genres(path, ["Jazz"])
    assert path.read_bytes() == data
    assert [p.name for p in tmp_path.iterdir()] == ["a.flac"]


def test_permissions_kept_mtime_updated(tmp_path: Path):
    path = make_audio(tmp_path / "a.mp3")
    os.chmod(path, 0o640)
    os.utime(path, ns=(1_000_000_000, 1_000_000_000))
    write_genres(path, ["Jazz"])
    st = path.stat()
    assert st.st_mode & 0o777 == 0o640
    assert st.st_mtime_ns != 1_000_000_000


def test_stale_temp_files_are_cleaned(tmp_path: Path):
    dead = tmp_path / f"{safe_write.TEMP_PREFIX}999999999-abcd-x.mp3"
    alive = tmp_path / f"{safe_write.TEMP_PREFIX}{os.getpid()}-abcd-x.mp3"
    user = tmp_path / "x.mp3"
    for p in (dead, alive, user):
        p.write_bytes(b"x")
    assert safe_write.cleanup_stale_temps([tmp_path]) == [dead]
    assert alive.exists() and user.exists() and not dead.exists()


def test_genres_of_state_roundtrip(audio_file: Path):
    write_genres(audio_file, ["Hip-Hop", "Soul"])
    assert genres_of_state(genre_state(audio_file)) == ["Hip-Hop", "Soul"]


def test_read_only_files_are_not_modified(tmp_path: Path):
    path = make_audio(tmp_path / "a.ogg")
    os.chmod(path, 0o444)
    data = path.read_bytes()
    with pytest.raises(safe_write.SafeWriteError, match="read-only"):
        write_genres(path, ["Jazz"])
    assert path.read_bytes() == data


def test_symlinked_file_is_changed_through_the_link(tmp_path: Path):
    target = make_audio(tmp_path / "real" / "a.flac")
    link = tmp_path / "link.flac"
    link.symlink_to(target)
    write_genres(link, ["Jazz"])
    assert link.is_symlink()
    assert read_tags(target).genres == ["Jazz"]
