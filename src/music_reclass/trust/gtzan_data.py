"""The real data the shipped trust parameters are fitted on (``../shared``), read once.

- ``audio/gtzan-dev``: 50 GTZAN clips (5 per genre) with their labels; artists from
  Sturm's index, used as cross-validation groups;
- ``gtzan-features/features_30_sec.csv``: the Kaggle table's features of all 1000
  GTZAN files, with the fault-filtered split (artist-disjoint train / valid / test).

:func:`spectral_head_data` keeps the table honest for the cascade: rows by any artist
of gtzan-dev (and the gtzan-dev files themselves) are dropped from every split, so a
head trained on it has never heard the clips the cascade is measured on.

The default taxonomy's 17 genres cover 8 of GTZAN's 10 (:data:`DEFAULT_GENRE_OF`):
reggae has no genre there (out of vocabulary) and disco none unambiguously (dance,
funk, soul/r&b and pop all claim it), so disco clips are left out for that taxonomy.
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from music_reclass.errors import ParameterError

__all__ = ["DEFAULT_GENRE_OF", "DevClips", "SpectralTable", "dev_clips", "labels_for",
           "spectral_head_data"]

#: GTZAN genre -> the default taxonomy's genre (None: left out, see the module docstring)
DEFAULT_GENRE_OF: dict[str, str | None] = {
    "blues": "blues", "classical": "classical", "country": "country", "disco": None,
    "hiphop": "hip-hop", "jazz": "jazz", "metal": "metal", "pop": "pop",
    "reggae": "reggae", "rock": "rock",
}


@dataclass(frozen=True)
class DevClips:
    """The gtzan-dev clips: paths, GTZAN labels, track ids and artist groups."""

    paths: list[Path]
    labels: list[str]
    track_ids: list[str]
    groups: list[str]


def dev_clips(shared: str | Path) -> DevClips:
    """Read ``shared/audio/gtzan-dev/manifest.csv``; the group of a clip is its artist
    (Sturm's index), or the clip itself when the index names none."""
    from music_reclass.datasets.gtzan import sturm_index

    root = Path(shared) / "audio" / "gtzan-dev"
    manifest = root / "manifest.csv"
    if not manifest.is_file():
        raise ParameterError(f"gtzan-dev manifest not found: {manifest}")
    with manifest.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    index = sturm_index()
    paths = [root / row["path"] for row in rows]
    ids = [p.stem for p in paths]
    groups = [index.get(i, (None, None))[0] or i for i in ids]
    return DevClips(paths, [row["label"] for row in rows], ids, groups)


def labels_for(taxonomy_name: str, gtzan_labels: Sequence[str]) -> tuple[list[str], np.ndarray]:
    """Labels in a taxonomy's genre names and the mask of clips to use.

    ``gtzan``: unchanged, all clips. ``default``: :data:`DEFAULT_GENRE_OF` (reggae kept as
    an out-of-vocabulary label, disco left out).
    """
    if taxonomy_name == "gtzan":
        return list(gtzan_labels), np.ones(len(gtzan_labels), dtype=bool)
    if taxonomy_name == "default":
        mapped = [DEFAULT_GENRE_OF.get(label) for label in gtzan_labels]
        return [m or "" for m in mapped], np.array([m is not None for m in mapped])
    raise ParameterError(f"no GTZAN label mapping for the taxonomy {taxonomy_name!r}")


@dataclass(frozen=True)
class SpectralTable:
    """Kaggle table rows per split: features ``X`` (gtzan53 columns) and labels ``y``."""

    X: dict[str, np.ndarray]
    y: dict[str, np.ndarray]
    dropped: int


def spectral_head_data(shared: str | Path, exclude_artists: Sequence[str],
                       exclude_ids: Sequence[str]) -> SpectralTable:
    """The table's rows of the fault-filtered split, without the excluded artists and files."""
    import pandas as pd

    from music_reclass.datasets.gtzan import fault_filtered_split, sturm_index
    from music_reclass.features.gtzan_spectral import GTZAN53_COLUMNS

    path = Path(shared) / "gtzan-features" / "features_30_sec.csv"
    if not path.is_file():
        raise ParameterError(f"Kaggle GTZAN feature table not found: {path}")
    table = pd.read_csv(path)
    stems = table["filename"].str.replace(r"\.wav$", "", regex=True)
    index = sturm_index()
    artists = stems.map(lambda s: index.get(s, (None, None))[0])
    drop = artists.isin(set(exclude_artists)) | stems.isin(set(exclude_ids))
    split = stems.map(fault_filtered_split())
    X, y = {}, {}
    for part in ("train", "valid", "test"):
        rows = (split == part) & ~drop
        X[part] = table.loc[rows, list(GTZAN53_COLUMNS)].to_numpy(dtype=np.float64)
        y[part] = table.loc[rows, "label"].to_numpy().astype(str)
    return SpectralTable(X, y, int(drop.sum()))
