"""Content hashing: stable, content-only, streaming."""

from __future__ import annotations

import hashlib

import pytest

from music_reclass.audio.hashing import CHUNK_BYTES, content_hash
from music_reclass.errors import UnreadableFileError


def test_matches_blake2b_of_the_bytes(tmp_path):
    data = bytes(range(256)) * (CHUNK_BYTES // 256 * 2 + 17)  # spans three chunks
    path = tmp_path / "a.bin"
    path.write_bytes(data)
    assert content_hash(path) == hashlib.blake2b(data, digest_size=16).hexdigest()
    assert len(content_hash(path)) == 32


def test_name_does_not_matter_content_does(tmp_path):
    (tmp_path / "a.mp3").write_bytes(b"same")
    (tmp_path / "b.flac").write_bytes(b"same")
    (tmp_path / "c.mp3").write_bytes(b"diff")
    assert content_hash(tmp_path / "a.mp3") == content_hash(tmp_path / "b.flac")
    assert content_hash(tmp_path / "a.mp3") != content_hash(tmp_path / "c.mp3")


def test_empty_file(tmp_path):
    (tmp_path / "e").touch()
    assert content_hash(tmp_path / "e") == hashlib.blake2b(b"", digest_size=16).hexdigest()


def test_errors(tmp_path):
    with pytest.raises(UnreadableFileError, match="not found"):
        content_hash(tmp_path / "missing")
    with pytest.raises(UnreadableFileError, match="directory"):
        content_hash(tmp_path)
