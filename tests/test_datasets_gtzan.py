"""Tests of the GTZAN index: layouts, Sturm's artists, the fault-filtered split."""

from __future__ import annotations

import csv
import hashlib
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from music_reclass.datasets import load_dataset
from music_reclass.datasets.gtzan import (
    GENRES,
    fault_filtered_split,
    find_genres_dir,
    load_gtzan,
    sturm_index,
)
from music_reclass.errors import ParameterError

SR = 8000


def write_clip(path: Path, *, fmt: str = "WAV", seconds: float = 0.2) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    t = np.arange(int(SR * seconds)) / SR
    sf.write(path, 0.3 * np.sin(2 * np.pi * 330 * t), SR, format=fmt, subtype="PCM_16")
    return path


def make_gtzan(genres_dir: Path, names: list[str], *, suffix: str = ".wav") -> list[Path]:
    fmt = "AU" if suffix == ".au" else "WAV"
    return [write_clip(genres_dir / n.split(".")[0] / f"{n}{suffix}", fmt=fmt) for n in names]


# ------------------------------------------------------------------- package data
def test_package_split_has_published_sizes_and_no_shared_artist():
    split = fault_filtered_split()
    sizes = {s: sum(1 for v in split.values() if v == s) for s in ("train", "valid", "test")}
    assert sizes == {"train": 443, "valid": 197, "test": 290}
    index = sturm_index()
    assert len(index) == 1000
    artists = {s: {index[k][0] for k, v in split.items() if v == s and index[k][0]} for s in sizes}
    assert not artists["train"] & artists["valid"]
    assert not artists["train"] & artists["test"]
    assert not artists["valid"] & artists["test"]


def test_sturm_index_parses_artist_and_missing_fields():
    index = sturm_index()
    assert index["blues.00000"][0] == "John Lee Hooker"
    assert all(len(k.split(".")) == 2 for k in index)
    assert any(artist is None for artist, _ in index.values())  # unknown artists stay None


# ------------------------------------------------------------------------ layouts
@pytest.mark.parametrize("suffix", [".au", ".wav"])
@pytest.mark.parametrize("nested", [True, False])
def test_both_layouts_and_formats(tmp_path, suffix, nested):
    genres_dir = tmp_path / "genres" if nested else tmp_path / "flat"
    make_gtzan(genres_dir, ["blues.00000", "rock.00042", "jazz.00099"], suffix=suffix)
    ds = load_dataset("gtzan", tmp_path if nested else genres_dir)
    assert find_genres_dir(tmp_path if nested else genres_dir) == genres_dir
    assert sorted(t.track_id for t in ds) == ["blues.00000", "jazz.00099", "rock.00042"]
    assert ds.classes == ["blues", "jazz", "rock"]
    for t in ds:
        assert t.label == t.track_id.split(".")[0]
        assert t.artist == sturm_index()[t.track_id][0]
        assert t.split == fault_filtered_split().get(t.track_id)
    report = ds.validate()
    assert report.ok, report
    assert report.n_present == 3 and report.n_expected == 1000
    assert "3 of 1000 present" in report.summary()
    assert report.by_code("subset")


def test_not_gtzan_folder(tmp_path):
    (tmp_path / "music").mkdir()
    with pytest.raises(ParameterError, match="does not look like GTZAN"):
        load_gtzan(tmp_path)
    with pytest.raises(ParameterError, match="not found"):
        load_gtzan(tmp_path / "absent")
    (tmp_path / "blues").mkdir()
    with pytest.raises(ParameterError, match="no GTZAN audio"):
        load_gtzan(tmp_path)


def test_faulty_files_excluded_from_official_split_and_reported(tmp_path):
    split = fault_filtered_split()
    excluded = sorted(f"{g}.{n:05d}" for g in GENRES for n in range(100) if f"{g}.{n:05d}" not in split)
    assert len(excluded) == 70
    in_split = {s: next(k for k, v in sorted(split.items()) if v == s) for s in ("train", "valid", "test")}
    make_gtzan(tmp_path, [excluded[0], *in_split.values()])
    ds = load_gtzan(tmp_path)
    parts = ds.split("official")
    for s, name in in_split.items():
        assert [t.track_id for t in parts[s]] == [name]
    assert [t.track_id for t in ds.excluded_from_official()] == [excluded[0]]
    report = ds.validate()
    assert excluded[0] in report.by_code("excluded")[0].message


def test_misplaced_and_foreign_files_reported(tmp_path):
    make_gtzan(tmp_path, ["blues.00001"])
    write_clip(tmp_path / "blues" / "rock.00001.wav")  # a rock file in the blues folder
    write_clip(tmp_path / "blues" / "mysong.wav")
    write_clip(tmp_path / "blues" / "blues.00100.wav")  # GTZAN numbers stop at 99
    ds = load_gtzan(tmp_path)
    assert ds["rock.00001"].label == "blues"  # label from the folder, as documented
    codes = [(p.code, p.track_id) for p in ds.validate().problems]
    assert ("label-mismatch", "rock.00001") in codes
    assert sum(c == "unknown-track" for c, _ in codes) == 2
    assert "blues.00100" not in ds


def test_corrupt_and_checksum_problems(tmp_path):
    files = make_gtzan(tmp_path, ["pop.00010", "pop.00011", "pop.00012"])
    files[1].write_bytes(files[1].read_bytes()[:30])  # header cut short
    with open(tmp_path / "manifest.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["path", "label", "sha256"])
        w.writerow(["pop/pop.00010.wav", "pop", hashlib.sha256(files[0].read_bytes()).hexdigest()])
        w.writerow(["pop/pop.00012.wav", "pop", "f" * 64])
    report = load_gtzan(tmp_path).validate()
    codes = {(p.track_id, p.code) for p in report.problems if p.severity == "error"}
    assert codes == {("pop.00011", "corrupt"), ("pop.00012", "checksum-mismatch")}
    with pytest.raises(ParameterError):
        load_gtzan(tmp_path, checksums=tmp_path / "absent.csv")


def test_artist_split_on_synthetic_copy_is_artist_disjoint(tmp_path):
    names = [f"{g}.{n:05d}" for g in ("blues", "disco", "pop", "hiphop") for n in range(0, 40, 2)]
    make_gtzan(tmp_path, names, suffix=".au")
    ds = load_gtzan(tmp_path)
    parts = ds.split("artist", seed=0)
    groups = {s: {t.artist for t in p if t.artist} for s, p in parts.items()}
    assert not groups["train"] & groups["test"] and not groups["train"] & groups["valid"]
    assert not groups["valid"] & groups["test"]
    assert sum(map(len, parts.values())) == len(ds) == 80


# ---------------------------------------------------------------- real gtzan-dev
@pytest.mark.shared
def test_gtzan_dev_loads_with_artists_and_official_split(shared_dir):
    ds = load_dataset("gtzan", shared_dir / "audio" / "gtzan-dev")
    assert len(ds) == 50 and ds.classes == sorted(GENRES)
    index, split = sturm_index(), fault_filtered_split()
    assert all(t.artist == index[t.track_id][0] for t in ds)
    assert ds["blues.00000"].artist == "John Lee Hooker"
    assert sum(t.artist is not None for t in ds) >= 45
    parts = ds.split("official")
    for name, tracks in parts.items():
        assert all(split[t.track_id] == name for t in tracks)
    excluded = {t.track_id for t in ds.excluded_from_official()}
    assert excluded == {t.track_id for t in ds if t.track_id not in split}
    assert sum(map(len, parts.values())) + len(excluded) == 50
    # the three official parts never share an artist
    artists = {n: {t.artist for t in p if t.artist} for n, p in parts.items()}
    assert not artists["train"] & artists["valid"] and not artists["train"] & artists["test"]
    assert not artists["valid"] & artists["test"]

    report = ds.validate()  # includes the sha256 of gtzan-dev's manifest.csv
    assert report.ok, report
    assert report.n_present == 50 and "50 of 1000 present" in report.summary()
    assert all("sha256" in t.extra for t in ds)


@pytest.mark.shared
def test_gtzan_dev_artist_split_and_folds_are_artist_disjoint(shared_dir):
    ds = load_gtzan(shared_dir / "audio" / "gtzan-dev")
    for seed in (0, 1):
        parts = ds.split("artist", seed=seed)
        groups = {s: {t.artist.casefold() for t in p if t.artist} for s, p in parts.items()}
        assert not groups["train"] & groups["test"] and not groups["train"] & groups["valid"]
        assert not groups["valid"] & groups["test"]
    for train, held in ds.group_kfold(5):
        assert not {t.artist for t in train if t.artist} & {t.artist for t in held if t.artist}
