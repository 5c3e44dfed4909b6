"""Tests of the FMA index on fixtures in FMA's exact table formats (tests/data/fma)."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from music_reclass.datasets import load_dataset
from music_reclass.datasets.fma import (
    audio_path,
    fma_feature_matrix,
    load_features_table,
    load_fma,
    load_genres_table,
    load_tracks_table,
    top_level_titles,
)
from music_reclass.errors import ParameterError

FIXTURES = Path(__file__).parent / "data" / "fma"
METADATA = FIXTURES / "fma_metadata"


@pytest.fixture
def fma_copy(tmp_path) -> Path:
    """A writable copy of the fixture release: tmp/fma_metadata."""
    shutil.copytree(METADATA, tmp_path / "fma_metadata")
    return tmp_path


def write_mp3(path: Path, seconds: float = 0.3) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    t = np.arange(int(22050 * seconds)) / 22050
    sf.write(path, 0.3 * np.sin(2 * np.pi * 220 * t), 22050, format="MP3")
    return path


# ---------------------------------------------------------------------- tables
def test_tracks_table_parsed_like_fma_utils():
    tracks = load_tracks_table(METADATA / "tracks.csv")
    assert tracks.index.name == "track_id" and tracks.index.dtype.kind == "i"
    assert tracks.columns.nlevels == 2 and len(tracks.columns) == 52
    subset = tracks["set", "subset"]
    assert isinstance(subset.dtype, pd.CategoricalDtype) and subset.dtype.ordered
    assert list(subset.dtype.categories) == ["small", "medium", "large"]
    assert (subset <= "medium").sum() == (subset != "large").sum()
    assert tracks.loc[190, ("track", "genres")] == [236, 42]
    assert tracks.loc[2, ("artist", "tags")] == ["awol"]
    assert isinstance(tracks["track", "genre_top"].dtype, pd.CategoricalDtype)
    assert pd.api.types.is_datetime64_any_dtype(tracks["track", "date_created"])
    assert pd.isna(tracks.loc[20, ("track", "genre_top")])


def test_features_table_three_level_header():
    features = load_features_table(METADATA / "features.csv")
    assert features.shape[1] == 518
    assert list(features.columns.names) == ["feature", "statistics", "number"]
    assert ("mfcc", "mean", "20") in features.columns
    assert features.index.name == "track_id"
    # the fixture's first column holds each row's track id
    assert (features.iloc[:, 0].to_numpy() == features.index.to_numpy()).all()


def test_not_fma_tables(tmp_path):
    bad = tmp_path / "tracks.csv"
    bad.write_text("a,b\nx,y\n1,2\n")
    with pytest.raises(ParameterError):
        load_tracks_table(bad)
    with pytest.raises(ParameterError, match="not found"):
        load_features_table(tmp_path / "features.csv")


def test_genre_hierarchy():
    shipped = top_level_titles(load_genres_table())
    assert len(shipped) == 163
    assert shipped[25] == "Rock" and shipped[21] == "Hip-Hop" and shipped[236] == "Electronic"
    assert top_level_titles(load_genres_table(METADATA / "genres.csv")) == shipped


# --------------------------------------------------------------------- dataset
def test_subsets_are_nested_and_unlabelled_excluded():
    ids = {s: {t.track_id for t in load_fma(FIXTURES, subset=s, source="features")}
           for s in ("small", "medium", "large")}
    table = load_tracks_table(METADATA / "tracks.csv")
    assert ids["small"] < ids["medium"] < ids["large"]
    small = table[table["set", "subset"] == "small"].index.difference([141])
    assert ids["small"] == {str(i) for i in small}
    large = load_fma(FIXTURES, subset="large", source="features")
    assert "20" not in large  # no genre_top: several roots (Pop and Folk)
    assert any(p.code == "no-label" and "20" in p.message for p in large.validate().problems)


def test_labels_artists_and_official_split():
    ds = load_fma(METADATA, subset="large", source="features")
    table = load_tracks_table(METADATA / "tracks.csv")
    names = {"training": "train", "validation": "valid", "test": "test"}
    for t in ds:
        row = table.loc[int(t.track_id)]
        assert t.path is None
        assert t.label == row["track", "genre_top"]
        assert t.artist == row["artist", "name"]
        assert t.split == names[row["set", "split"]]
        assert t.label in t.extra["top_genres"]
    parts = ds.split("official")
    artists = {s: {t.artist for t in p} for s, p in parts.items()}
    assert not artists["train"] & artists["test"] and not artists["train"] & artists["valid"]
    assert ds.classes == sorted({t.label for t in ds})


def test_feature_matrix_rows_follow_track_ids():
    ds = load_dataset("fma", FIXTURES, subset="medium", source="features")
    X, y, ids = fma_feature_matrix(ds)
    assert X.shape == (len(ds.labelled), 518)
    assert list(X[:, 0].astype(int)) == [int(i) for i in ids]
    assert list(y) == [ds[i].label for i in ids]
    assert any(p.code == "no-features" and "141" in p.message for p in ds.validate().problems)


def test_feature_matrix_missing_rows(fma_copy):
    features = load_features_table(METADATA / "features.csv")
    ds = load_fma(fma_copy, subset="small", source="features", features=features)
    fewer = features.drop(index=[2])
    with pytest.raises(ParameterError, match="no features"):
        fma_feature_matrix(ds, fewer)
    X, _, ids = fma_feature_matrix(ds, fewer, missing="skip")
    assert "2" not in ids and X.shape[0] == len(ds) - 1
    with pytest.raises(ParameterError):
        fma_feature_matrix(load_fma(fma_copy, subset="small", source="features").subset(["2"]))


def test_audio_layout_validation_and_checksums(fma_copy):
    audio_dir = fma_copy / "fma_small"
    assert audio_path(audio_dir, 2) == audio_dir / "000" / "000002.mp3"
    assert audio_path(audio_dir, 1234) == audio_dir / "001" / "001234.mp3"
    good = write_mp3(audio_path(audio_dir, 2))
    write_mp3(audio_path(audio_dir, 10))
    audio_path(audio_dir, 5).write_bytes(b"<html>not found</html>")
    sha_good = hashlib.sha1(good.read_bytes()).hexdigest()
    (audio_dir / "checksums").write_text(f"{sha_good}  000/000002.mp3\n{'0' * 40}  000/000010.mp3\n")
    ds = load_fma(fma_copy)  # default: small subset, audio in fma_small
    assert ds["2"].path == good and ds["2"].extra["sha1"] == sha_good
    report = ds.validate()
    problems = {(p.track_id, p.code) for p in report.errors}
    assert ("10", "checksum-mismatch") in problems
    assert ("5", "not-audio") in problems
    assert ("140", "missing") in problems
    assert not [p for p in report.problems if p.track_id == "2"]
    assert report.n_present == 3
    # the fixture's metadata files match their checksums: only the audio one is flagged
    assert [p.track_id for p in report.by_code("checksum-mismatch")] == ["10"]


def test_metadata_checksum_mismatch(fma_copy):
    tracks_csv = fma_copy / "fma_metadata" / "tracks.csv"
    tracks_csv.write_text(tracks_csv.read_text().replace("Track 2", "Track two"))
    report = load_fma(fma_copy, source="features").validate()
    assert [p.path.name for p in report.by_code("checksum-mismatch")] == ["tracks.csv"]
    assert load_fma(fma_copy, source="features").validate(checksums=False).ok


def test_label_mismatch_with_hierarchy(fma_copy):
    tracks_csv = fma_copy / "fma_metadata" / "tracks.csv"
    tracks = pd.read_csv(tracks_csv, index_col=0, header=[0, 1])
    tracks.loc[10, ("track", "genre_top")] = "Jazz"  # its genres say Pop
    tracks.to_csv(tracks_csv)
    ds = load_fma(fma_copy, source="features")
    assert ds["10"].label == "Jazz"
    assert [p.track_id for p in ds.validate(checksums=False).by_code("label-mismatch")] == ["10"]


def test_bad_arguments(fma_copy):
    with pytest.raises(ParameterError, match="subset"):
        load_fma(fma_copy, subset="huge")
    with pytest.raises(ParameterError, match="source"):
        load_fma(fma_copy, source="spectrograms")
    with pytest.raises(ParameterError, match="audio folder not found"):
        load_fma(fma_copy, subset="medium")
    with pytest.raises(ParameterError, match="features="):
        load_fma(fma_copy, features=METADATA / "features.csv", audio_dir=fma_copy)
