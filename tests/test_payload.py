"""Audio payload digests: blind to tags, sensitive to one audio byte."""

from __future__ import annotations

from pathlib import Path

import mutagen
import numpy as np
import pytest
import soundfile as sf

from act_fixtures import FORMATS, add_id3v1, add_tags, make_audio, make_odd_iff
from music_reclass.act.exact import capture_exact, payload_span, rebuild_exact
from music_reclass.act.payload import audio_digest, file_sha256
from music_reclass.act.tagwrite import write_genres
from music_reclass.audio.containers import ogg_pages


def _flip_audio_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    span = payload_span(path)
    if span is None:  # Ogg: a byte inside the last page's body (audio packet data)
        offset, length, _ = ogg_pages(bytes(data))[-1]
        index = offset + length - 3
    else:
        index = (span[0] + span[1]) // 2
    data[index] ^= 0x5A
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("fmt", FORMATS)
def test_digest_ignores_tags(tmp_path: Path, fmt: str):
    path = make_audio(tmp_path / f"a.{fmt}")
    digest = audio_digest(path)
    add_tags(path, genres=["Rock"], title="x" * 5000)  # big comments: Ogg pages are repacked
    assert audio_digest(path) == digest
    write_genres(path, ["Jazz", "Blues", "Soul"])
    assert audio_digest(path) == digest
    mutagen.File(path).delete()
    assert audio_digest(path) == digest


@pytest.mark.parametrize("fmt", FORMATS)
def test_digest_sees_one_audio_byte(tmp_path: Path, fmt: str):
    path = make_audio(tmp_path / f"a.{fmt}")
    digest = audio_digest(path)
    assert not digest.startswith("pcm:")  # every format has a container parser
    _flip_audio_byte(path)
    assert audio_digest(path) != digest


def test_mp3_trailing_tags_are_excluded(tmp_path: Path):
    path = make_audio(tmp_path / "a.mp3")
    digest = audio_digest(path)
    add_id3v1(path)
    assert audio_digest(path) == digest
    ape = b"APETAGEX" + (2000).to_bytes(4, "little") + (32).to_bytes(4, "little")
    ape += (0).to_bytes(4, "little") + (0).to_bytes(4, "little") + b"\0" * 8
    raw = path.read_bytes()
    path.write_bytes(raw[:-128] + ape + raw[-128:])  # [APE footer-only][ID3v1]
    assert audio_digest(path) == digest


def test_pcm_fallback_for_other_containers(tmp_path: Path):
    path = tmp_path / "a.au"
    sf.write(str(path), (np.sin(np.arange(8000) / 5) * 0.3).astype(np.float32), 8000, format="AU")
    digest = audio_digest(path)
    assert digest.startswith("pcm:")
    data = bytearray(path.read_bytes())
    data[-2000] ^= 0x40
    path.write_bytes(bytes(data))
    assert audio_digest(path) != digest


@pytest.mark.parametrize("fmt", FORMATS)
def test_exact_rebuild_after_a_tag_write(tmp_path: Path, fmt: str):
    path = make_audio(tmp_path / f"a.{fmt}")
    add_tags(path, genres=["Rock"])
    original = path.read_bytes()
    exact = capture_exact(path)
    assert exact is not None
    write_genres(path, ["Jazz", "x" * 3000])  # grows the tag region
    assert path.read_bytes() != original
    out = tmp_path / f"rebuilt.{fmt}"
    assert rebuild_exact(path, exact, out)
    assert out.read_bytes() == original
    assert file_sha256(out) == exact["sha256"]


def test_rebuild_refuses_other_audio(tmp_path: Path):
    path = make_audio(tmp_path / "a.flac")
    exact = capture_exact(path)
    other = make_audio(tmp_path / "b.flac", seed=3)
    assert not rebuild_exact(other, exact, tmp_path / "out.flac")


@pytest.mark.parametrize(
    "layout", ["wav-trailing-nul-chunk", "wav-trailing-junk", "wav-odd-data-no-pad-at-end"]
)
def test_digest_of_odd_wav_layouts(tmp_path: Path, layout: str):
    """Junk behind the audio is not audio; one audio byte still counts."""
    path = make_odd_iff(tmp_path / "a.wav", layout)
    digest = audio_digest(path)
    assert digest.startswith("riff:")
    data = bytearray(path.read_bytes())
    start, end = payload_span(path)
    assert end == start + int.from_bytes(data[start - 4 : start], "little")
    if end < len(data):
        data[-1] ^= 0x21  # a junk byte behind the data chunk
        path.write_bytes(bytes(data))
        assert audio_digest(path) == digest
    _flip_audio_byte(path)
    assert audio_digest(path) != digest
