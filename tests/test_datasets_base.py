"""Tests of the shared dataset API: Track, validation, splits, folds."""

from __future__ import annotations

import dataclasses
import hashlib
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from music_reclass.datasets import Dataset, Track, load_dataset
from music_reclass.datasets.base import artist_group
from music_reclass.datasets.splits import grouped_stratified_assignment
from music_reclass.errors import ParameterError

SR = 8000


def write_wav(path: Path, seconds: float = 0.2, *, freq: float = 440.0) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    t = np.arange(int(SR * seconds)) / SR
    sf.write(path, 0.3 * np.sin(2 * np.pi * freq * t), SR, subtype="PCM_16")
    return path


def synthetic_tracks(n_per_class: int = 12, classes=("a", "b", "c"), artists_per_class: int = 4):
    """Labelled tracks without files; artists nested in classes, some unknown."""
    tracks = []
    for c in classes:
        for i in range(n_per_class):
            artist = None if i % 6 == 5 else f"{c}-artist-{i % artists_per_class}"
            tracks.append(Track(f"{c}{i:03d}", None, c, artist))
    return tracks


# ----------------------------------------------------------------------------- Track
def test_track_is_frozen_and_hashable_with_extra():
    t = Track("x", None, "rock", extra={"title": "T"})
    assert hash(t) == hash(Track("x", None, "rock", extra={"other": 1}))
    with pytest.raises(dataclasses.FrozenInstanceError):
        t.label = "pop"  # type: ignore[misc]


def test_duplicate_ids_rejected():
    with pytest.raises(ParameterError, match="duplicate"):
        Dataset("d", [Track("x", None, "a"), Track("x", None, "b")])


def test_classes_sorted_and_unlabelled_excluded():
    ds = Dataset("d", [Track("1", None, "pop"), Track("2", None, None), Track("3", None, "jazz")])
    assert ds.classes == ["jazz", "pop"]
    assert [t.track_id for t in ds.unlabelled] == ["2"]
    assert "3" in ds and ds["3"].label == "jazz"


# ------------------------------------------------------------------------ validation
def test_validate_reports_each_file_problem(tmp_path):
    good = write_wav(tmp_path / "good.wav")
    empty = tmp_path / "empty.wav"
    empty.write_bytes(b"")
    text = tmp_path / "text.wav"
    text.write_text("this is not audio at all, just some text\n" * 5)
    truncated = tmp_path / "truncated.wav"
    truncated.write_bytes(good.read_bytes()[:20])  # RIFF/WAVE magic, broken header
    digest = hashlib.sha256(good.read_bytes()).hexdigest()
    tracks = [
        Track("good", good, "a", extra={"sha256": digest}),
        Track("bad-sum", good, "a", extra={"sha256": "0" * 64}),
        Track("missing", tmp_path / "nope.wav", "a"),
        Track("empty", empty, "a"),
        Track("text", text, "a"),
        Track("truncated", truncated, "a"),
        Track("nolabel", good, None),
        Track("folder", tmp_path, "a"),
    ]
    report = Dataset("d", tracks).validate()
    codes = {(p.track_id, p.code) for p in report.problems}
    assert ("bad-sum", "checksum-mismatch") in codes
    assert ("missing", "missing") in codes
    assert ("empty", "corrupt") in codes
    assert ("text", "not-audio") in codes
    assert ("truncated", "corrupt") in codes
    assert ("nolabel", "no-label") in codes
    assert ("folder", "unreadable") in codes
    assert not [p for p in report.problems if p.track_id == "good"]
    assert report.n_present == len(tracks) - 2  # missing and the folder
    assert not report.ok
    assert "8 tracks" in report.summary()
    # checksums can be skipped (they read whole files)
    assert not Dataset("d", tracks[:2]).validate(checksums=False).problems


def test_validate_clean_dataset_is_ok(tmp_path):
    tracks = [Track(str(i), write_wav(tmp_path / f"{i}.wav"), "a") for i in range(3)]
    report = Dataset("d", tracks).validate()
    assert report.ok and report.problems == [] and report.n_present == 3
    assert report.summary() == "d: 3 tracks, 3 of 3 present; no problems"


# --------------------------------------------------------------------------- splits
def test_random_split_is_stratified_disjoint_and_seeded():
    ds = Dataset("d", synthetic_tracks(n_per_class=20))
    parts = ds.split("random", seed=1, test_size=0.25, valid_size=0.25)
    ids = [t.track_id for p in parts.values() for t in p]
    assert sorted(ids) == sorted(t.track_id for t in ds.tracks)
    for name, frac in (("train", 0.5), ("valid", 0.25), ("test", 0.25)):
        counts = Counter(t.label for t in parts[name])
        assert all(abs(counts[c] - 20 * frac) <= 1 for c in ds.classes), (name, counts)
    again = ds.split("random", seed=1, test_size=0.25, valid_size=0.25)
    assert parts == again
    other = ds.split("random", seed=2, test_size=0.25, valid_size=0.25)
    assert {t.track_id for t in other["test"]} != {t.track_id for t in parts["test"]}


def test_artist_split_never_shares_an_artist():
    ds = Dataset("d", synthetic_tracks(n_per_class=24, artists_per_class=6))
    for seed in range(3):
        parts = ds.split("artist", seed=seed, test_size=0.2, valid_size=0.2)
        artists = {name: {t.artist for t in p if t.artist} for name, p in parts.items()}
        assert not artists["train"] & artists["test"]
        assert not artists["train"] & artists["valid"]
        assert not artists["valid"] & artists["test"]
        assert all(parts[name] for name in parts)
        assert sum(len(p) for p in parts.values()) == len(ds)
        # every class reaches the test set when artists allow it
        assert {t.label for t in parts["test"]} == set(ds.classes)


def test_valid_size_zero_leaves_valid_empty():
    parts = Dataset("d", synthetic_tracks()).split("random", valid_size=0.0, test_size=0.3)
    assert parts["valid"] == [] and parts["train"] and parts["test"]


def test_official_split_uses_track_split_and_lists_exclusions():
    tracks = [Track("1", None, "a", split="train"), Track("2", None, "a", split="test"),
              Track("3", None, "b", split=None), Track("4", None, None, split="train")]
    ds = Dataset("d", tracks)
    parts = ds.split("official")
    assert [t.track_id for t in parts["train"]] == ["1"]
    assert [t.track_id for t in parts["test"]] == ["2"]
    assert parts["valid"] == []
    assert [t.track_id for t in ds.excluded_from_official()] == ["3"]


@pytest.mark.parametrize("kwargs", [
    {"kind": "official"}, {"kind": "nonsense"}, {"kind": "random", "test_size": 0.0},
    {"kind": "random", "test_size": 0.6, "valid_size": 0.5}, {"kind": "random", "valid_size": -0.1},
])
def test_split_bad_arguments(kwargs):
    ds = Dataset("d", synthetic_tracks())  # no official split
    with pytest.raises(ParameterError):
        ds.split(**kwargs)


def test_grouped_assignment_keeps_groups_whole():
    labels = ["a"] * 10 + ["b"] * 10
    groups = [f"g{i // 2}" for i in range(20)]
    out = grouped_stratified_assignment(labels, groups, fractions={"x": 0.6, "y": 0.4}, seed=3)
    for g in set(groups):
        assert len({p for p, gg in zip(out, groups, strict=True) if gg == g}) == 1
    assert Counter(out) == {"x": 12, "y": 8}


def test_artist_group_is_case_insensitive():
    assert artist_group(Track("1", None, "a", "The  Band")) == artist_group(Track("2", None, "a", "the band"))
    assert artist_group(Track("1", None, "a")) != artist_group(Track("2", None, "a"))


# ---------------------------------------------------------------------------- folds
def test_group_kfold_is_artist_disjoint_and_covers_everything():
    ds = Dataset("d", synthetic_tracks(n_per_class=24, artists_per_class=6))
    held_out_all = []
    folds = list(ds.group_kfold(4, seed=0))
    assert len(folds) == 4
    for train, held in folds:
        assert not {t.artist for t in train if t.artist} & {t.artist for t in held if t.artist}
        assert not {t.track_id for t in train} & {t.track_id for t in held}
        assert len(train) + len(held) == len(ds)
        held_out_all += [t.track_id for t in held]
    assert sorted(held_out_all) == sorted(t.track_id for t in ds)


def test_group_kfold_too_many_folds():
    tracks = [Track(str(i), None, "ab"[i % 2], artist=f"x{i % 3}") for i in range(12)]
    with pytest.raises(ParameterError, match="artist groups"):
        list(Dataset("d", tracks).group_kfold(4))
    with pytest.raises(ParameterError):
        list(Dataset("d", tracks).group_kfold(1))


def test_load_dataset_unknown_kind(tmp_path):
    with pytest.raises(ParameterError, match="unknown dataset kind"):
        load_dataset("mnist", tmp_path)
