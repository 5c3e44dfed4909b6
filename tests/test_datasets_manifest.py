"""Tests of CSV-manifest datasets: parsing, relative paths, errors with line numbers."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from music_reclass.datasets import load_dataset
from music_reclass.datasets.manifest import ManifestError, load_manifest
from music_reclass.errors import ParameterError


def write_wav(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, np.zeros(800) + 0.1, 8000)
    return path


@pytest.fixture
def folder(tmp_path) -> Path:
    for name in ("a.wav", "b.wav", "c.wav", "sub/d.wav"):
        write_wav(tmp_path / "audio" / name)
    return tmp_path


def test_good_manifest(folder):
    csv_path = folder / "set.csv"
    csv_path.write_text(
        "path,label,split,artist,comment\n"
        "audio/a.wav,rock,train,Band A,first\n"
        "audio/b.wav,jazz,validation,,\n"
        "audio/c.wav, rock ,TEST,Band A,\n"
        f"{folder / 'audio/sub/d.wav'},jazz,,Band B,\n"
    )
    ds = load_dataset("manifest", csv_path)
    assert ds.name == "set" and len(ds) == 4
    assert ds["audio/a.wav"].path == folder / "audio" / "a.wav"
    assert ds["audio/c.wav"].label == "rock" and ds["audio/c.wav"].split == "test"
    assert ds["audio/b.wav"].split == "valid" and ds["audio/b.wav"].artist is None
    assert ds["audio/a.wav"].extra == {"comment": "first", "line": 2}
    assert ds.classes == ["jazz", "rock"]
    parts = ds.split("official")
    assert [len(parts[s]) for s in ("train", "valid", "test")] == [1, 1, 1]
    assert len(ds.excluded_from_official()) == 1
    assert ds.validate().ok


def test_minimal_columns_and_no_official_split(folder):
    csv_path = folder / "m.csv"
    csv_path.write_text("Path,Label\naudio/a.wav,pop\naudio/b.wav,rock\n")
    ds = load_manifest(csv_path)
    assert ds.classes == ["pop", "rock"]
    with pytest.raises(ParameterError, match="no official split"):
        ds.split("official")


def test_every_bad_row_is_reported_with_its_line(folder):
    csv_path = folder / "bad.csv"
    csv_path.write_text(
        "path,label,split\n"
        "audio/a.wav,rock,train\n"
        "audio/missing.wav,rock,train\n"   # line 3
        "audio/b.wav,,test\n"               # line 4
        "audio/c.wav,jazz,holdout\n"        # line 5
        "audio/a.wav,rock,train\n"          # line 6
        ",rock,train\n"                     # line 7
        "audio/sub/d.wav,jazz,test,extra\n"  # line 8
    )
    with pytest.raises(ManifestError) as info:
        load_manifest(csv_path)
    message = str(info.value)
    for expected in ("line 3: file not found", "line 4: empty label", "line 5: unknown split 'holdout'",
                     "line 6: audio/a.wav already listed on line 2", "line 7: empty path",
                     "line 8: more cells"):
        assert expected in message, message
    assert len(info.value.problems) == 6

    lenient = load_manifest(csv_path, strict=False)
    assert [t.track_id for t in lenient] == ["audio/a.wav"]
    report = lenient.validate()
    assert {p.code for p in report.errors} == {"missing", "no-label", "bad-split", "duplicate", "bad-row"}
    # without the load-time file check the row is kept; validate() still finds the gap
    unchecked = load_manifest(csv_path, strict=False, check_files=False)
    assert "audio/missing.wav" in unchecked
    assert [p.track_id for p in unchecked.validate().by_code("missing")] == ["audio/missing.wav"]


def test_missing_columns_and_files(tmp_path):
    csv_path = tmp_path / "x.csv"
    csv_path.write_text("file,genre\na.wav,rock\n")
    with pytest.raises(ManifestError, match="line 1: missing column"):
        load_manifest(csv_path)
    with pytest.raises(ParameterError, match="not found"):
        load_manifest(tmp_path / "absent.csv")
    csv_path.write_text("path,label\n")
    with pytest.raises(ManifestError):
        load_manifest(csv_path)
