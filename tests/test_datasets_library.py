"""Tests of the user's library as a dataset: labels from tags or folders, artists from tags."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from mutagen.flac import FLAC

from music_reclass.datasets import load_dataset
from music_reclass.datasets.library import load_library
from music_reclass.errors import ParameterError

SR = 8000


def write_flac(path: Path, *, genre: str | list[str] | None = None, artist: str | None = None,
               title: str | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    t = np.arange(int(SR * 0.2)) / SR
    sf.write(path, 0.3 * np.sin(2 * np.pi * 440 * t), SR, format="FLAC")
    audio = FLAC(path)
    if genre is not None:
        audio["genre"] = genre if isinstance(genre, list) else [genre]
    if artist:
        audio["artist"] = artist
    if title:
        audio["title"] = title
    audio.save()
    return path


@pytest.fixture
def library(tmp_path) -> Path:
    root = tmp_path / "Music"
    write_flac(root / "Hip Hop" / "A" / "1.flac", genre="Hip Hop", artist="Artist A", title="One")
    write_flac(root / "Hip Hop" / "B" / "2.flac", genre="hiphop", artist="Artist B")
    write_flac(root / "Rap" / "C" / "3.flac", genre="Rap", artist="Artist C")
    write_flac(root / "Jazz" / "D" / "4.flac", genre=["Zzzz unknown", "Jazz"], artist="Artist D")
    write_flac(root / "Jazz" / "E" / "5.flac", genre="Jazz", artist="artist d")
    write_flac(root / "Misc" / "6.flac", artist="Artist F")  # no genre tag
    write_flac(root / "Misc" / "7.flac", genre="Zzzz unknown", artist="Artist G")
    (root / "Misc" / "cover.jpg").write_bytes(b"\xff\xd8\xff")
    write_flac(root / ".hidden" / "8.flac", genre="Rock")
    return root


def test_labels_from_tags_are_normalised(library):
    ds = load_dataset("library", library)
    labels = {t.track_id: t.label for t in ds}
    assert set(labels) == {"Hip Hop/A/1.flac", "Hip Hop/B/2.flac", "Rap/C/3.flac", "Jazz/D/4.flac",
                           "Jazz/E/5.flac", "Misc/6.flac", "Misc/7.flac"}
    assert labels["Hip Hop/A/1.flac"] == labels["Hip Hop/B/2.flac"] == labels["Rap/C/3.flac"]
    assert labels["Jazz/D/4.flac"] == labels["Jazz/E/5.flac"]  # first recognised genre wins
    assert labels["Misc/6.flac"] is None and labels["Misc/7.flac"] is None
    assert len(ds.classes) == 2
    assert ds["Hip Hop/A/1.flac"].artist == "Artist A"
    assert ds["Hip Hop/A/1.flac"].extra["title"] == "One"
    assert ds["Jazz/D/4.flac"].extra["raw_genres"] == ["Zzzz unknown", "Jazz"]


def test_unlabelled_files_are_reported_not_dropped(library):
    ds = load_library(library)
    report = ds.validate()
    no_label = {p.track_id: p.message for p in report.by_code("no-label")}
    assert set(no_label) == {"Misc/6.flac", "Misc/7.flac"}
    assert "no genre tag" in no_label["Misc/6.flac"]
    assert "Zzzz" in no_label["Misc/7.flac"]
    assert report.ok  # unlabelled files are warnings; the audio is fine
    parts = ds.split("random", test_size=0.4, valid_size=0.0)
    assert sum(map(len, parts.values())) == 5  # only labelled tracks are split


def test_taxonomy_none_keeps_raw_labels(library):
    ds = load_library(library, taxonomy=None)
    assert {t.label for t in ds} == {"Hip Hop", "hiphop", "Rap", "Zzzz unknown", "Jazz", None}


def test_labels_from_folders(library):
    top = load_library(library, label_from="folder", folder_level=0, taxonomy=None)
    assert top["Jazz/D/4.flac"].label == "Jazz" and top["Misc/6.flac"].label == "Misc"
    normalised = load_library(library, label_from="folder", folder_level=0)
    assert normalised["Rap/C/3.flac"].label == normalised["Hip Hop/A/1.flac"].label
    parent = load_library(library, label_from="folder", folder_level=-1, taxonomy=None)
    assert parent["Jazz/D/4.flac"].label == "D" and parent["Misc/6.flac"].label == "Misc"
    deep = load_library(library, label_from="folder", folder_level=1, taxonomy=None)
    assert deep["Misc/6.flac"].label is None  # no second-level folder above it
    assert deep["Hip Hop/B/2.flac"].label == "B"
    assert deep["Hip Hop/B/2.flac"].artist == "Artist B"  # artists still from tags


def test_artist_split_uses_tag_artists(library):
    ds = load_library(library)
    for seed in range(4):
        parts = ds.split("artist", seed=seed, test_size=0.3, valid_size=0.0)
        train = {t.artist.casefold() for t in parts["train"]}
        test = {t.artist.casefold() for t in parts["test"]}
        assert not train & test  # "Artist D" and "artist d" are one artist


def test_bad_arguments(tmp_path, library):
    with pytest.raises(ParameterError):
        load_library(library, label_from="filename")
    with pytest.raises(ParameterError):
        load_library(tmp_path / "absent")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ParameterError, match="no audio"):
        load_library(tmp_path / "empty")
    with pytest.raises(ParameterError):
        load_library(library, taxonomy="no-such-taxonomy")


def test_files_are_found_like_classify_finds_them(tmp_path):
    root = tmp_path / "Music"
    write_flac(root / "Jazz" / "ok.flac", genre="Jazz")
    # an audio extension on something else: a problem, not a track (classify says the same)
    (root / "Jazz" / "fake.mp3").write_text("not music at all\n" * 20)
    (root / "Jazz" / "cover.jpg").write_bytes(b"\xff\xd8\xff\xe0" + b"\x00" * 64)
    write_flac(root / ".hidden" / "x.flac", genre="Jazz")
    (root / "Jazz" / "dangling.flac").symlink_to(tmp_path / "nowhere.flac")
    dataset = load_library(root)
    assert [t.track_id for t in dataset.tracks] == ["Jazz/ok.flac"]
    report = dataset.validate()
    errors = {p.track_id: p.code for p in report.errors}
    assert errors == {"Jazz/fake.mp3": "not-audio", "Jazz/dangling.flac": "unreadable"}
