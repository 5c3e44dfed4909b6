"""GTZAN (Tzanetakis & Cook 2002): 1000 clips of 30 s, 10 genres, 100 each.

The index is built by scanning the layout GTZAN ships::

    DIR/genres/<genre>/<genre>.NNNNN.au      (original release)
    DIR/<genre>/<genre>.NNNNN.wav            (the genres folder itself; converted copies)

Labels come from the folder names, artists and titles from Sturm's index, and the
official split is the *fault-filtered* split (train 443 / valid 197 / test 290, no
artist shared between sets), shipped as package data with its citations
(``datasets/data/README.md``). The 70 files it leaves out (repetitions, distortions,
mislabelings) get ``split=None``; :meth:`Dataset.excluded_from_official` lists them.

A partial copy (e.g. a 50-clip dev subset) is fine: :meth:`Dataset.validate` reports
"N of 1000 present" and only counts files that the layout has but cannot be read.
"""

from __future__ import annotations

import csv
import os
import re
from functools import cache
from importlib import resources
from pathlib import Path

from music_reclass.datasets.base import SPLITS, Dataset, Problem, Track
from music_reclass.errors import ParameterError

__all__ = [
    "GENRES",
    "N_TRACKS",
    "GTZANDataset",
    "fault_filtered_split",
    "find_genres_dir",
    "load_gtzan",
    "sturm_index",
]

GENRES = ("blues", "classical", "country", "disco", "hiphop",
          "jazz", "metal", "pop", "reggae", "rock")
N_TRACKS = 1000
_PER_GENRE = 100
_AUDIO_SUFFIXES = (".au", ".wav")
_NAME = re.compile(r"^(?P<genre>[a-z]+)\.(?P<number>\d{5})$")
_PACKAGE = "music_reclass.datasets"


@cache
def sturm_index() -> dict[str, tuple[str | None, str | None]]:
    """Artist and title of every GTZAN file, from Sturm's index: ``{"blues.00000": (artist, title)}``."""
    out: dict[str, tuple[str | None, str | None]] = {}
    text = resources.files(_PACKAGE).joinpath("data", "gtzan_sturm_index.txt").read_text(encoding="utf-8")
    for line in text.splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        fields = [f.strip() for f in line.split(":::")]
        name = Path(fields[0]).stem
        artist = fields[1] if len(fields) > 1 and fields[1] else None
        title = fields[2] if len(fields) > 2 and fields[2] else None
        out[name] = (artist, title)
    return out


@cache
def fault_filtered_split() -> dict[str, str]:
    """The fault-filtered split: ``{"blues.00029": "train", ...}`` (930 entries)."""
    out: dict[str, str] = {}
    for split in SPLITS:
        text = resources.files(_PACKAGE).joinpath("data", f"gtzan_{split}_filtered.txt").read_text(encoding="utf-8")
        for line in text.split():
            out[Path(line).stem] = split
    return out


def find_genres_dir(path: str | os.PathLike) -> Path:
    """The folder whose sub-folders are the genres: ``path/genres``, ``path/genres_original`` or ``path``."""
    root = Path(path)
    if not root.is_dir():
        raise ParameterError(f"GTZAN folder not found: {root}")
    for candidate in (root / "genres", root / "genres_original", root / "Data" / "genres_original", root):
        if candidate.is_dir() and any((candidate / g).is_dir() for g in GENRES):
            return candidate
    raise ParameterError(
        f"{root} does not look like GTZAN: expected genre folders ({', '.join(GENRES[:3])}...) "
        "in it or in its genres/ folder")


class GTZANDataset(Dataset):
    """GTZAN index; adds the "N of 1000 present" and fault-filter facts to validation."""

    def _extra_checks(self, *, checksums: bool) -> list[Problem]:
        problems = [Problem("subset", f"{len(self.tracks)} of {N_TRACKS} GTZAN files present",
                            severity="info")] if len(self.tracks) < N_TRACKS else []
        excluded = self.excluded_from_official()
        if excluded:
            problems.append(Problem(
                "excluded",
                f"{len(excluded)} file(s) not in the fault-filtered split (repetitions, distortions "
                f"or mislabelings), left out of split('official'): "
                + ", ".join(t.track_id for t in excluded[:10]) + ("..." if len(excluded) > 10 else ""),
                severity="info"))
        return problems


def load_gtzan(
    path: str | os.PathLike,
    *,
    checksums: str | os.PathLike | None = None,
) -> GTZANDataset:
    """Index GTZAN (or a subset of it) by scanning its folders.

    Parameters
    ----------
    path : path-like
        A folder holding ``genres/`` or the genres folder itself.
    checksums : path-like, optional
        A CSV with columns ``path`` (relative to the genres folder) and ``sha256``, checked
        by :meth:`Dataset.validate`. Default: ``manifest.csv`` in the genres folder if it
        has those columns.

    Returns
    -------
    GTZANDataset
        Track ids are file stems (``"blues.00000"``); ``extra`` holds ``title``,
        ``index_artist`` and, where known, ``sha256``.
    """
    genres_dir = find_genres_dir(path)
    digests = _read_checksums(Path(checksums) if checksums else genres_dir / "manifest.csv",
                              required=checksums is not None)
    index = sturm_index()
    official = fault_filtered_split()
    tracks: list[Track] = []
    problems: list[Problem] = []
    seen: dict[str, Path] = {}
    for genre in GENRES:
        folder = genres_dir / genre
        if not folder.is_dir():
            continue
        for file in sorted(folder.iterdir()):
            if file.name.startswith(".") or not file.is_file() and not file.is_symlink():
                continue
            if file.suffix.lower() not in _AUDIO_SUFFIXES:
                if file.suffix.lower() not in {".txt", ".csv", ".md", ".mf"}:
                    problems.append(Problem("unknown-track", f"unexpected file {file.name} in {genre}/",
                                            path=file, severity="warning"))
                continue
            track_id = file.stem
            match = _NAME.match(track_id)
            if not match or int(match["number"]) >= _PER_GENRE or match["genre"] not in GENRES:
                problems.append(Problem("unknown-track", f"not a GTZAN file name: {genre}/{file.name}",
                                        path=file, severity="warning"))
                continue
            if match["genre"] != genre:
                problems.append(Problem("label-mismatch",
                                        f"{file.name} lies in {genre}/; labelled {genre} from its folder",
                                        track_id, file, "warning"))
            if track_id in seen:
                problems.append(Problem("duplicate", f"{file} duplicates {seen[track_id]}; kept the first",
                                        track_id, file, "warning"))
                continue
            seen[track_id] = file
            artist, title = index.get(track_id, (None, None))
            extra = {"title": title, "index_artist": artist}
            rel = file.relative_to(genres_dir).as_posix()
            if rel in digests:
                extra["sha256"] = digests[rel]
            tracks.append(Track(track_id, file, genre, artist, official.get(track_id), extra))
    if not tracks:
        raise ParameterError(f"no GTZAN audio files (<genre>.NNNNN.au/.wav) under {genres_dir}")
    return GTZANDataset("gtzan", tracks, problems=problems, n_expected=N_TRACKS, root=genres_dir)


def _read_checksums(path: Path, *, required: bool) -> dict[str, str]:
    if not path.is_file():
        if required:
            raise ParameterError(f"checksum file not found: {path}")
        return {}
    with open(path, newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        if not reader.fieldnames or not {"path", "sha256"} <= set(reader.fieldnames):
            if required:
                raise ParameterError(f"{path}: needs columns 'path' and 'sha256'")
            return {}
        return {row["path"]: row["sha256"].strip().lower() for row in reader if row.get("sha256")}
