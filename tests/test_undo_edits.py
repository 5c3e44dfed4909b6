"""Undo keeps what the owner changed after the tag run, and never claims more than it did.

A file exactly as the tag write left it is restored byte for byte ("byte-exact"); a
file edited since (a title, cover art) gets its genre back and keeps every later edit
("genre only"); a restore that cannot be byte-exact (more than 16 MiB of non-audio
data) says so.
"""

from __future__ import annotations

import os
from pathlib import Path

import mutagen
import pytest
from mutagen.flac import FLAC, Picture
from mutagen.id3 import APIC, ID3, TIT2
from typer.testing import CliRunner

from act_fixtures import add_id3, add_id3v1, add_tags, make_audio, register
from music_reclass.act.payload import audio_digest
from music_reclass.audio.tags import read_tags
from music_reclass.cli.main import app
from music_reclass.store import db as libdb

GENRES = [("jazz", 0.8), ("blues", 0.5)]


def _cli(*args):
    return CliRunner().invoke(app, [str(a) for a in args], catch_exceptions=False)


def _tagged(tmp_path: Path, path: Path) -> Path:
    """Register ``path``, tag it (Jazz; Blues); returns the database."""
    db = tmp_path / "lib.sqlite"
    conn = libdb.connect(db)
    register(conn, path, genres=GENRES)
    conn.close()
    result = _cli("tag", path.parent, "--db", db, "--min-confidence", "0.4")
    assert result.exit_code == 0, result.output
    assert read_tags(path).genres == ["Jazz", "Blues"]
    return db


def _edit_title(path: Path, title: str) -> None:
    """What another tagger does: a new title, the rest as it is (same ID3 version)."""
    audio = mutagen.File(path)
    if path.suffix in (".mp3",):
        tags = ID3(path)
        tags.add(TIT2(encoding=3, text=[title]))
        tags.save(path, v2_version=tags.version[1], v1=1)
    elif path.suffix in (".wav", ".aiff"):
        audio.tags.add(TIT2(encoding=3, text=[title]))
        audio.save()
    elif path.suffix == ".m4a":
        audio.tags["\xa9nam"] = [title]
        audio.save()
    else:
        audio.tags["TITLE"] = [title]
        audio.save()


def _undo_genre_only(db: Path, path: Path) -> str:
    result = _cli("undo", "--db", db)
    assert result.exit_code == 0, result.output
    assert "genre only" in result.output and "byte-exact" not in result.output
    assert "1 not byte for byte" in result.output
    return result.output


@pytest.mark.parametrize("kind", ["mp3-id3v23", "wav", "m4a", "flac", "ogg", "aiff"])
def test_a_title_edited_since_is_kept(tmp_path: Path, kind: str):
    ext = kind.split("-")[0]
    path = make_audio(tmp_path / "music" / f"song.{ext}")
    if kind == "mp3-id3v23":
        add_id3(path, version=3, genres=["Rock"], title="Song")
    else:
        add_tags(path, genres=["Rock"], title="Song")
    digest = audio_digest(path)
    db = _tagged(tmp_path, path)
    _edit_title(path, "A Better Title")
    _undo_genre_only(db, path)
    tags = read_tags(path)
    assert tags.genres == ["Rock"]
    assert tags.title == "A Better Title" and (tags.artist, tags.album) == ("Band", "LP")
    assert audio_digest(path) == digest
    if kind == "mp3-id3v23":
        assert ID3(path).version[:2] == (2, 3)


def test_flac_cover_art_added_since_is_kept(tmp_path: Path):
    path = make_audio(tmp_path / "music" / "song.flac")
    add_tags(path, genres=["Rock"])
    db = _tagged(tmp_path, path)
    audio = FLAC(path)
    picture = Picture()
    picture.type, picture.mime, picture.data = 3, "image/jpeg", b"\xff\xd8\xff" + os.urandom(5000)
    audio.add_picture(picture)
    audio.save()
    _undo_genre_only(db, path)
    assert read_tags(path).genres == ["Rock"]
    pictures = FLAC(path).pictures
    assert [p.data for p in pictures] == [picture.data]


def test_mp3_with_id3v1_keeps_the_owners_v1_but_restores_its_genre(tmp_path: Path):
    path = make_audio(tmp_path / "music" / "song.mp3")
    add_id3(path, version=4, genres=["Rock"], title="Song")
    add_id3v1(path, genre_index=17)  # Rock
    db = _tagged(tmp_path, path)
    assert path.read_bytes()[-1] == 8  # Jazz, kept in step
    _edit_title(path, "Edited")  # v1=1: the tagger updates the ID3v1 title too
    v1_title = path.read_bytes()[-125:-95]
    _undo_genre_only(db, path)
    data = path.read_bytes()
    assert data[-1] == 17 and data[-125:-95] == v1_title
    assert read_tags(path).title == "Edited" and read_tags(path).genres == ["Rock"]


def test_an_unchanged_file_is_restored_byte_exact(tmp_path: Path):
    path = make_audio(tmp_path / "music" / "song.m4a")
    add_tags(path, genres=["Rock"])
    original = path.read_bytes()
    db = _tagged(tmp_path, path)
    result = _cli("undo", "--db", db)
    assert result.exit_code == 0, result.output
    assert "(byte-exact)" in result.output and "not byte for byte" not in result.output
    assert path.read_bytes() == original


def test_genres_edited_since_are_refused(tmp_path: Path):
    path = make_audio(tmp_path / "music" / "song.flac")
    add_tags(path, genres=["Rock"])
    db = _tagged(tmp_path, path)
    audio = mutagen.File(path)
    audio.tags["GENRE"] = ["Polka"]
    audio.save()
    edited = path.read_bytes()
    result = _cli("undo", "--db", db)
    assert result.exit_code == 1
    assert "refused: " in result.output and "genre tags changed since the run" in result.output
    assert path.read_bytes() == edited


def test_more_than_16_mib_of_cover_art_is_never_called_byte_exact(tmp_path: Path):
    path = make_audio(tmp_path / "music" / "song.mp3")
    add_id3(path, version=4, genres=["Rock"])
    tags = ID3(path)
    tags.add(APIC(encoding=3, mime="image/png", type=3, desc="cover",
                  data=b"\x89PNG" + os.urandom(17 << 20)))
    # no padding: the tag write grows the tag, and a tag-level restore keeps the padding
    # it got, so the restored file cannot be the original byte for byte
    tags.save(path, v2_version=4, padding=lambda info: 0)
    original = path.read_bytes()
    db = _tagged(tmp_path, path)
    result = _cli("undo", "--db", db)
    assert result.exit_code == 0, result.output
    assert read_tags(path).genres == ["Rock"]
    assert path.read_bytes() != original
    assert "(byte-exact)" not in result.output
    assert "not byte-exact" in result.output and "over the 16 MiB" in result.output
    assert "1 not byte for byte" in result.output
