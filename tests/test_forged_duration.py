"""A forged header does not set a track's duration: the decoded stream does.

A FLAC whose STREAMINFO claims 432 hours for 6.85 s of audio used to be stored with a
432-hour duration; the classify run now records the length it decoded.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import numpy as np
import soundfile as sf
from typer.testing import CliRunner

from music_reclass.audio.decode import audio_info
from music_reclass.audio.excerpt import load_excerpt
from music_reclass.cli import common
from music_reclass.cli.main import app
from test_scan import FakeClassifier, make_fake

SECONDS, SR = 6.85, 22050
CLAIMED = 432 * 3600


def forged_flac(path: Path) -> Path:
    """A 6.85 s FLAC whose STREAMINFO says 432 hours."""
    t = np.arange(int(SECONDS * SR)) / SR
    sf.write(str(path), (0.4 * np.sin(2 * np.pi * 330 * t)).astype(np.float32), SR,
             subtype="PCM_16")
    data = bytearray(path.read_bytes())
    info = 8  # "fLaC" + the block header: STREAMINFO's body
    packed = int.from_bytes(data[info + 10:info + 18], "big")
    total = CLAIMED * SR  # 36 bits: fits
    packed = (packed & ~((1 << 36) - 1)) | total
    data[info + 10:info + 18] = packed.to_bytes(8, "big")
    path.write_bytes(bytes(data))
    return path


def test_the_header_lies_and_the_excerpt_knows(tmp_path: Path):
    path = forged_flac(tmp_path / "forged.flac")
    assert audio_info(path).duration > 400 * 3600  # the header's word
    excerpt = load_excerpt(path, FakeClassifier.input)
    assert abs(excerpt.decoded_duration - SECONDS) < 0.05


def test_a_short_honest_file_reports_its_length(tmp_path: Path):
    path = tmp_path / "honest.wav"
    sf.write(str(path), np.full(int(4.0 * SR), 0.3, np.float32), SR)
    excerpt = load_excerpt(path, FakeClassifier.input)
    assert abs(excerpt.decoded_duration - 4.0) < 0.05


def test_classify_stores_the_decoded_duration(tmp_path: Path, monkeypatch):
    monkeypatch.setattr(common, "classifier_factory", make_fake)
    (tmp_path / "music").mkdir()
    path = forged_flac(tmp_path / "music" / "forged.flac")
    db = tmp_path / "lib.sqlite"
    result = CliRunner().invoke(app, ["classify", str(path.parent), "--db", str(db)])
    assert result.exit_code == 0, result.output
    (duration,) = sqlite3.connect(db).execute("SELECT duration FROM tracks").fetchone()
    assert abs(duration - SECONDS) < 0.05
