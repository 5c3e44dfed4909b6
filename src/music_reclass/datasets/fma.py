"""FMA, the Free Music Archive dataset (Defferrard et al., ISMIR 2017).

Layout of the release::

    DIR/fma_metadata/tracks.csv     2-row column header (e.g. ('track', 'genre_top')), index track_id
    DIR/fma_metadata/features.csv   3-row column header (feature, statistics, number): 518 columns
    DIR/fma_metadata/genres.csv     genre_id,#tracks,parent,title,top_level
    DIR/fma_metadata/checksums      sha1sum format
    DIR/fma_<size>/NNN/NNNNNN.mp3   audio, NNNNNN the zero-padded track id, NNN its first 3 digits
    DIR/fma_<size>/checksums

Subsets are nested (small ⊂ medium ⊂ large: a track in ``small`` has ``('set', 'subset')``
equal to ``small`` and belongs to all three). Labels are the top-level genre
``('track', 'genre_top')``; tracks without one (genres under several roots) are left out
and reported. The official split ``('set', 'split')`` (training/validation/test) is
artist-disjoint.

The tables are read as FMA's own ``utils.load`` reads them, so code written for FMA's
DataFrames works on the ones returned here.
"""

from __future__ import annotations

import ast
import os
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from music_reclass.datasets.base import Dataset, Problem, Track, file_digest
from music_reclass.errors import ParameterError

__all__ = [
    "SUBSETS",
    "FMADataset",
    "audio_path",
    "fma_feature_matrix",
    "load_features_table",
    "load_fma",
    "load_genres_table",
    "load_tracks_table",
    "top_level_titles",
]

SUBSETS = ("small", "medium", "large")
_SPLIT_NAMES = {"training": "train", "validation": "valid", "test": "test"}
_LIST_COLUMNS = [("track", "tags"), ("album", "tags"), ("artist", "tags"),
                 ("track", "genres"), ("track", "genres_all")]
_DATE_COLUMNS = [("track", "date_created"), ("track", "date_recorded"),
                 ("album", "date_created"), ("album", "date_released"),
                 ("artist", "date_created"), ("artist", "active_year_begin"),
                 ("artist", "active_year_end")]
_CATEGORY_COLUMNS = [("track", "genre_top"), ("track", "license"),
                     ("album", "type"), ("album", "information"), ("artist", "bio")]
_REQUIRED = [("set", "subset"), ("set", "split"), ("track", "genre_top"), ("artist", "name")]
_MAX_LISTED = 10


# ----------------------------------------------------------------------- tables
def load_tracks_table(path: str | os.PathLike) -> pd.DataFrame:
    """Read FMA's ``tracks.csv`` (two-row column header, index ``track_id``).

    Parsed like FMA's ``utils.load``: tag and genre columns become lists, dates become
    datetimes, ``('set', 'subset')`` an ordered categorical small < medium < large,
    ``('track', 'genre_top')`` and a few others categoricals.

    Raises
    ------
    ParameterError
        If the file lacks the columns the loader needs.
    """
    path = Path(path)
    if not path.is_file():
        raise ParameterError(f"FMA tracks table not found: {path}")
    tracks = pd.read_csv(path, index_col=0, header=[0, 1], low_memory=False)
    if not isinstance(tracks.columns, pd.MultiIndex) or tracks.columns.nlevels != 2:
        raise ParameterError(f"{path}: expected FMA's two-row column header")
    missing = [c for c in _REQUIRED if c not in tracks.columns]
    if missing:
        raise ParameterError(f"{path}: not FMA's tracks.csv, missing columns {missing}")
    for column in _LIST_COLUMNS:
        if column in tracks.columns:
            tracks[column] = tracks[column].map(_literal_list)
    for column in _DATE_COLUMNS:
        if column in tracks.columns:
            tracks[column] = pd.to_datetime(tracks[column], errors="coerce")
    tracks["set", "subset"] = tracks["set", "subset"].astype(
        pd.CategoricalDtype(categories=SUBSETS, ordered=True))
    for column in _CATEGORY_COLUMNS:
        if column in tracks.columns:
            tracks[column] = tracks[column].astype("category")
    tracks.index = tracks.index.astype(int)
    tracks.index.name = "track_id"
    return tracks


def _literal_list(value: Any) -> list:
    if isinstance(value, list):
        return value
    if not isinstance(value, str) or not value.strip():
        return []
    return list(ast.literal_eval(value))


def load_features_table(path: str | os.PathLike) -> pd.DataFrame:
    """Read FMA's ``features.csv``: index ``track_id``, columns (feature, statistics, number).

    Returns
    -------
    pandas.DataFrame
        518 float columns in the real file, e.g. ``('mfcc', 'mean', '01')``.
    """
    path = Path(path)
    if not path.is_file():
        raise ParameterError(f"FMA features table not found: {path}")
    features = pd.read_csv(path, index_col=0, header=[0, 1, 2])
    if not isinstance(features.columns, pd.MultiIndex) or features.columns.nlevels != 3:
        raise ParameterError(f"{path}: expected FMA's three-row column header")
    features.index = features.index.astype(int)
    features.index.name = "track_id"
    return features


def load_genres_table(path: str | os.PathLike | None = None) -> pd.DataFrame:
    """Read ``genres.csv`` (index ``genre_id``); default: the copy shipped with the package."""
    if path is None:
        with resources.as_file(resources.files("music_reclass.datasets").joinpath("data", "fma_genres.csv")) as p:
            return pd.read_csv(p, index_col=0)
    return pd.read_csv(path, index_col=0)


def top_level_titles(genres: pd.DataFrame) -> dict[int, str]:
    """Map every genre id to the title of its top-level genre (e.g. 25 Punk -> ``"Rock"``)."""
    titles = genres["title"].to_dict()
    return {int(gid): titles[int(top)] for gid, top in genres["top_level"].items()}


def audio_path(audio_dir: str | os.PathLike, track_id: int | str) -> Path:
    """Where FMA stores a track: ``audio_dir/NNN/NNNNNN.mp3``."""
    tid = f"{int(track_id):06d}"
    return Path(audio_dir) / tid[:3] / f"{tid}.mp3"


# ---------------------------------------------------------------------- dataset
class FMADataset(Dataset):
    """FMA index; keeps the parsed tables and checks the release's checksums."""

    metadata_dir: Path
    fma_subset: str
    table: pd.DataFrame
    features: pd.DataFrame | None
    audio_dir: Path | None

    def _extra_checks(self, *, checksums: bool) -> list[Problem]:
        problems: list[Problem] = []
        sums = self.metadata_dir / "checksums"
        used = {"tracks.csv", "genres.csv"} | ({"features.csv"} if self.features is not None else set())
        if checksums and sums.is_file():
            for name, expected in _read_sha1sums(sums).items():
                file = self.metadata_dir / name
                if name in used and file.is_file() and file_digest(file, "sha1") != expected:
                    problems.append(Problem("checksum-mismatch",
                                            f"{name} differs from the release's checksum", path=file))
        return problems


def load_fma(
    path: str | os.PathLike,
    *,
    subset: str = "small",
    source: str = "audio",
    audio_dir: str | os.PathLike | None = None,
    features: str | os.PathLike | pd.DataFrame | None = None,
) -> FMADataset:
    """Index an FMA subset with its top-level genre labels.

    Parameters
    ----------
    path : path-like
        The folder holding ``fma_metadata/`` (and ``fma_<subset>/``), or ``fma_metadata``.
    subset : {"small", "medium", "large"}
        Tracks of this subset (and of the smaller ones it contains).
    source : {"audio", "features"}
        ``"audio"``: one track per mp3 expected in ``audio_dir``. ``"features"``: one track
        per row of ``features.csv`` (``path`` None), to train straight from FMA's features.
    audio_dir : path-like, optional
        Default ``<path>/fma_<subset>``. Its ``checksums`` file (sha1), if any, is checked
        by :meth:`Dataset.validate`.
    features : path-like or DataFrame, optional
        The features table (default ``fma_metadata/features.csv``); only for ``source="features"``.

    Returns
    -------
    FMADataset
        Track ids are FMA's track ids as strings (``"2"``); ``extra`` holds
        ``fma_id`` (int), ``subset``, ``title``, ``artist_id``, ``genres`` (ids),
        ``genres_all`` and ``top_genres`` (titles of the roots of its genres).
    """
    if subset not in SUBSETS:
        raise ParameterError(f"subset must be one of {SUBSETS}, got {subset!r}")
    if source not in ("audio", "features"):
        raise ParameterError(f"source must be 'audio' or 'features', got {source!r}")
    root = Path(path)
    metadata_dir = root / "fma_metadata" if (root / "fma_metadata").is_dir() else root
    table = load_tracks_table(metadata_dir / "tracks.csv")
    genres_file = metadata_dir / "genres.csv"
    roots = top_level_titles(load_genres_table(genres_file if genres_file.is_file() else None))

    problems: list[Problem] = []
    selected = table[table["set", "subset"] <= subset]
    features_df: pd.DataFrame | None = None
    sha1: dict[str, str] = {}
    resolved_audio: Path | None = None
    if source == "features":
        features_df = (features if isinstance(features, pd.DataFrame)
                       else load_features_table(Path(features) if features else metadata_dir / "features.csv"))
        absent = selected.index.difference(features_df.index)
        if len(absent):
            problems.append(_listed("no-features", "track(s) of the subset have no row in features.csv",
                                    absent, "warning"))
        selected = selected[selected.index.isin(features_df.index)]
    else:
        if features is not None:
            raise ParameterError("features= is only used with source='features'")
        resolved_audio = Path(audio_dir) if audio_dir else metadata_dir.parent / f"fma_{subset}"
        if not resolved_audio.is_dir():
            raise ParameterError(
                f"FMA audio folder not found: {resolved_audio}; pass audio_dir= or use source='features'")
        if (resolved_audio / "checksums").is_file():
            sha1 = _read_sha1sums(resolved_audio / "checksums")

    genre_top = selected["track", "genre_top"]
    unlabelled = selected.index[genre_top.isna()]
    if len(unlabelled):
        problems.append(_listed("no-label", "track(s) without a top-level genre left out",
                                unlabelled, "info"))
    tracks: list[Track] = []
    labelled = selected[genre_top.notna()]
    # column lists, not iterrows: the large subset has over 100,000 rows
    for tid, label, genres, genres_all, split, subset_name, title, artist_id, artist in zip(
        labelled.index.tolist(),
        labelled["track", "genre_top"].astype(str).tolist(),
        labelled["track", "genres"].tolist(),
        _column(labelled, ("track", "genres_all"), []),
        labelled["set", "split"].astype(str).tolist(),
        labelled["set", "subset"].astype(str).tolist(),
        _column(labelled, ("track", "title"), None),
        _column(labelled, ("artist", "id"), None),
        labelled["artist", "name"].tolist(),
        strict=True,
    ):
        tid = int(tid)
        genre_ids = [int(g) for g in genres]
        top_genres = sorted({roots[g] for g in genre_ids if g in roots})
        if top_genres and label not in top_genres:
            problems.append(Problem("label-mismatch",
                                    f"genre_top {label!r} is not the root of its genres {genre_ids}",
                                    str(tid), severity="warning"))
        extra: dict[str, Any] = {
            "fma_id": tid,
            "subset": subset_name,
            "title": _text(title),
            "artist_id": _int(artist_id),
            "genres": genre_ids,
            "genres_all": [int(g) for g in (genres_all or [])],
            "top_genres": top_genres,
        }
        path_: Path | None = None
        if resolved_audio is not None:
            path_ = audio_path(resolved_audio, tid)
            rel = path_.relative_to(resolved_audio).as_posix()
            if rel in sha1:
                extra["sha1"] = sha1[rel]
        tracks.append(Track(str(tid), path_, label, _text(artist), _SPLIT_NAMES.get(split), extra))

    dataset = FMADataset(f"fma_{subset}", tracks, problems=problems, root=metadata_dir.parent)
    dataset.metadata_dir = metadata_dir
    dataset.fma_subset = subset
    dataset.table = selected
    dataset.features = features_df
    dataset.audio_dir = resolved_audio
    return dataset


def fma_feature_matrix(
    dataset: Dataset,
    features_df: pd.DataFrame | None = None,
    *,
    missing: str = "error",
) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """The feature matrix of a dataset's labelled tracks, in dataset order.

    Parameters
    ----------
    dataset : Dataset
        Usually from ``load_fma(..., source="features")``; track ids are FMA ids.
    features_df : DataFrame, optional
        From :func:`load_features_table`; default the table the dataset was built from.
    missing : {"error", "skip"}
        What to do with tracks that have no row in the table.

    Returns
    -------
    X : np.ndarray [n_tracks, n_features] float64
        Columns in the table's order (``features_df.columns``).
    y : np.ndarray [n_tracks] of str
        Labels (``dataset.classes`` gives the sorted label set).
    track_ids : list of str
    """
    if features_df is None:
        features_df = getattr(dataset, "features", None)
        if features_df is None:
            raise ParameterError("pass features_df= (the dataset was not built from a features table)")
    if missing not in ("error", "skip"):
        raise ParameterError(f"missing must be 'error' or 'skip', got {missing!r}")
    tracks = dataset.labelled
    ids = np.array([int(t.track_id) for t in tracks], dtype=np.int64)
    present = np.isin(ids, features_df.index.to_numpy())
    if not present.all():
        absent = [t.track_id for t, ok in zip(tracks, present, strict=True) if not ok]
        if missing == "error":
            raise ParameterError(f"{len(absent)} track(s) have no features: {absent[:_MAX_LISTED]}")
        tracks = [t for t, ok in zip(tracks, present, strict=True) if ok]
        ids = ids[present]
    X = features_df.loc[ids].to_numpy(dtype=np.float64)
    y = np.array([t.label for t in tracks], dtype=str)
    return X, y, [t.track_id for t in tracks]


# ----------------------------------------------------------------------- helpers
def _read_sha1sums(path: Path) -> dict[str, str]:
    """``sha1sum`` output as ``{relative path: digest}``."""
    out: dict[str, str] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        parts = line.strip().split(maxsplit=1)
        if len(parts) == 2:
            out[parts[1].lstrip("*").strip()] = parts[0].lower()
    return out


def _listed(code: str, what: str, ids, severity: str) -> Problem:
    shown = ", ".join(str(i) for i in list(ids)[:_MAX_LISTED])
    more = "..." if len(ids) > _MAX_LISTED else ""
    return Problem(code, f"{len(ids)} {what}: {shown}{more}", severity=severity)


def _column(table: pd.DataFrame, column: tuple[str, str], default: Any) -> list:
    """A column as a list, or ``default`` for every row when the table lacks it."""
    return table[column].tolist() if column in table.columns else [default] * len(table)


def _text(value: Any) -> str | None:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return None
    text = str(value).strip()
    return text or None


def _int(value: Any) -> int | None:
    try:
        return None if pd.isna(value) else int(value)
    except (TypeError, ValueError):
        return None
