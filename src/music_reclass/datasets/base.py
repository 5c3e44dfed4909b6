"""Shared API of the dataset modules: :class:`Track`, :class:`Dataset`, validation, splits.

Every dataset module (GTZAN, FMA, the user's library, a manifest CSV) builds a
:class:`Dataset`: an index of :class:`Track` records with labels, artists and, where
the dataset defines one, its official split. Training and evaluation only see this API.

>>> from music_reclass.datasets import load_dataset
>>> ds = load_dataset("gtzan", "/data/gtzan")                   # doctest: +SKIP
>>> parts = ds.split("official")                                 # doctest: +SKIP
>>> sorted(parts)                                                # doctest: +SKIP
['test', 'train', 'valid']
"""

from __future__ import annotations

import hashlib
import os
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from music_reclass.datasets.splits import check_sizes, grouped_stratified_assignment
from music_reclass.errors import ParameterError

__all__ = [
    "SPLITS",
    "Dataset",
    "Problem",
    "Track",
    "ValidationReport",
    "file_digest",
]

#: Canonical split names, in order.
SPLITS = ("train", "valid", "test")

#: Formats whose header soundfile can read without decoding the stream.
_SOUNDFILE_FORMATS = {"wav", "rf64", "w64", "aiff", "au", "flac", "ogg", "caf"}


@dataclass(frozen=True)
class Track:
    """One item of a dataset.

    Parameters
    ----------
    track_id : str
        Identifier unique within the dataset (``"blues.00000"``, FMA's ``"2"``...).
    path : Path or None
        The audio file, or ``None`` when the item is a row of a feature table.
    label : str or None
        Genre label, ``None`` when the item has no usable one.
    artist : str or None
        Artist name, used for artist-disjoint splits.
    split : str or None
        ``"train"``, ``"valid"`` or ``"test"`` in the dataset's official split, or ``None``.
    extra : Mapping
        Dataset-specific metadata (title, checksums, raw tags...). Not hashed.
    """

    track_id: str
    path: Path | None
    label: str | None
    artist: str | None = None
    split: str | None = None
    extra: Mapping[str, Any] = field(default_factory=dict, hash=False, compare=False)


@dataclass(frozen=True)
class Problem:
    """One problem found by :meth:`Dataset.validate` or while indexing.

    ``code`` is stable and machine-readable: ``missing``, ``unreadable``, ``corrupt``,
    ``not-audio``, ``checksum-mismatch``, ``no-label``, ``label-mismatch``,
    ``unknown-track``, ``excluded``, ``subset``, ``bad-row``...
    ``severity`` is ``"error"`` (the track cannot be used), ``"warning"`` (usable, but
    look at it) or ``"info"`` (a fact worth knowing, e.g. a partial copy of a dataset).
    """

    code: str
    message: str
    track_id: str | None = None
    path: Path | None = None
    severity: str = "error"

    def __str__(self) -> str:
        where = f"{self.track_id}: " if self.track_id else ""
        return f"[{self.severity}] {self.code}: {where}{self.message}"


@dataclass
class ValidationReport:
    """What :meth:`Dataset.validate` found: one :class:`Problem` per issue.

    Attributes
    ----------
    dataset : str
        Name of the dataset.
    n_tracks : int
        Tracks in the index.
    n_present : int
        Tracks whose audio file exists (equal to ``n_tracks`` for feature-table rows).
    n_expected : int or None
        Size of the complete dataset when known (1000 for GTZAN), else ``None``.
    problems : list of Problem
    """

    dataset: str
    n_tracks: int
    n_present: int
    n_expected: int | None = None
    problems: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """``True`` when no problem has severity ``"error"``."""
        return not self.errors

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "error"]

    @property
    def warnings(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "warning"]

    def by_code(self, code: str) -> list[Problem]:
        """Problems with this ``code``."""
        return [p for p in self.problems if p.code == code]

    def counts(self) -> dict[str, int]:
        """Number of problems per code."""
        return dict(Counter(p.code for p in self.problems))

    def summary(self) -> str:
        """One line: presence and counts of errors and warnings by code (facts marked info are left out)."""
        present = f"{self.n_present} of {self.n_expected} present" if self.n_expected else (
            f"{self.n_present} of {self.n_tracks} present")
        serious = Counter(p.code for p in self.problems if p.severity != "info")
        counts = ", ".join(f"{n} {code}" for code, n in sorted(serious.items()))
        return f"{self.dataset}: {self.n_tracks} tracks, {present}; " + (counts or "no problems")

    def __str__(self) -> str:
        return "\n".join([self.summary(), *(f"  {p}" for p in self.problems)])


class Dataset:
    """An index of tracks with labels, artists and splits.

    Parameters
    ----------
    name : str
        Dataset name (``"gtzan"``, ``"fma_small"``, ``"library"``...).
    tracks : sequence of Track
        Track ids must be unique.
    problems : sequence of Problem, optional
        Problems met while indexing (unparsable rows, unlabelled files...); they are
        repeated in every :meth:`validate` report.
    n_expected : int, optional
        Size of the complete dataset, to report partial copies.
    root : Path, optional
        Where the dataset lives.
    """

    def __init__(
        self,
        name: str,
        tracks: Sequence[Track],
        *,
        problems: Sequence[Problem] = (),
        n_expected: int | None = None,
        root: Path | None = None,
    ) -> None:
        ids = Counter(t.track_id for t in tracks)
        duplicates = [tid for tid, n in ids.items() if n > 1]
        if duplicates:
            raise ParameterError(f"{name}: duplicate track ids {duplicates[:5]}")
        self.name = name
        self.tracks: list[Track] = list(tracks)
        self.index_problems: list[Problem] = list(problems)
        self.n_expected = n_expected
        self.root = root
        self._by_id = {t.track_id: t for t in self.tracks}

    # ------------------------------------------------------------------ access
    def __len__(self) -> int:
        return len(self.tracks)

    def __iter__(self) -> Iterator[Track]:
        return iter(self.tracks)

    def __getitem__(self, track_id: str) -> Track:
        return self._by_id[track_id]

    def __contains__(self, track_id: object) -> bool:
        return track_id in self._by_id

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r}: {len(self)} tracks, {len(self.classes)} classes>"

    @property
    def classes(self) -> list[str]:
        """Sorted distinct labels of the labelled tracks."""
        return sorted({t.label for t in self.tracks if t.label is not None})

    @property
    def labelled(self) -> list[Track]:
        """Tracks that have a label (the ones splits and folds are made of)."""
        return [t for t in self.tracks if t.label is not None]

    @property
    def unlabelled(self) -> list[Track]:
        return [t for t in self.tracks if t.label is None]

    def subset(self, track_ids: Iterable[str], *, name: str | None = None) -> Dataset:
        """A dataset of the given tracks only (same class, problems not carried over)."""
        wanted = set(track_ids)
        out = Dataset(name or self.name, [t for t in self.tracks if t.track_id in wanted],
                      root=self.root)
        return out

    # -------------------------------------------------------------- validation
    def validate(self, *, checksums: bool = True, headers: bool = True) -> ValidationReport:
        """Check every track: file present, readable, header sane, checksum, label.

        Parameters
        ----------
        checksums : bool
            Compare file digests with those known in ``track.extra``
            (``"sha256"`` or ``"sha1"``). Reads every file in full.
        headers : bool
            Sniff the format from the content and, for PCM/FLAC/Ogg files, read the
            header with soundfile (cheap: no decoding).

        Returns
        -------
        ValidationReport
        """
        problems = list(self.index_problems)
        present = 0
        for track in self.tracks:
            if track.label is None and not any(
                p.code == "no-label" and p.track_id == track.track_id for p in problems
            ):
                problems.append(Problem("no-label", "no usable label", track.track_id,
                                        track.path, "warning"))
            if track.path is None:
                present += 1
                continue
            file_problems = check_audio_file(track, checksums=checksums, headers=headers)
            if not any(p.code in ("missing", "unreadable") for p in file_problems):
                present += 1
            problems.extend(file_problems)
        problems.extend(self._extra_checks(checksums=checksums))
        return ValidationReport(self.name, len(self.tracks), present, self.n_expected, problems)

    def _extra_checks(self, *, checksums: bool) -> list[Problem]:
        """Dataset-specific checks, added to :meth:`validate`'s report."""
        return []

    # ------------------------------------------------------------------ splits
    def split(
        self,
        kind: str = "official",
        *,
        seed: int = 0,
        test_size: float = 0.2,
        valid_size: float = 0.1,
    ) -> dict[str, list[Track]]:
        """Split the labelled tracks into ``train``, ``valid`` and ``test``.

        Parameters
        ----------
        kind : {"official", "random", "artist"}
            ``"official"``: the dataset's own split (``track.split``); tracks without
            one (e.g. GTZAN's faulty files) are left out, see :meth:`excluded_from_official`.
            ``"random"``: stratified by label. ``"artist"``: no artist in two sets,
            stratified as far as the artist groups allow; tracks of unknown artist
            are each their own group.
        seed : int
            Random seed for ``"random"`` and ``"artist"``.
        test_size, valid_size : float
            Fractions of the labelled tracks for test and validation (``valid_size``
            may be 0).

        Returns
        -------
        dict
            ``{"train": [...], "valid": [...], "test": [...]}``, each in dataset order.
        """
        if kind == "official":
            return self._official_split()
        check_sizes(test_size, valid_size)
        tracks = self.labelled
        if not tracks:
            raise ParameterError(f"{self.name}: no labelled tracks to split")
        if kind == "random":
            groups = [t.track_id for t in tracks]
        elif kind == "artist":
            groups = [artist_group(t) for t in tracks]
        else:
            raise ParameterError(f"unknown split {kind!r}; use --split official, artist or random")
        assignment = grouped_stratified_assignment(
            [t.label for t in tracks], groups,
            fractions={"train": 1.0 - test_size - valid_size, "valid": valid_size, "test": test_size},
            seed=seed,
        )
        return {name: [t for t, a in zip(tracks, assignment, strict=True) if a == name]
                for name in SPLITS}

    def _official_split(self) -> dict[str, list[Track]]:
        tracks = self.labelled
        if not any(t.split for t in tracks):
            raise ParameterError(
                f"{self.name} has no official split; use --split artist (or --split random)")
        return {name: [t for t in tracks if t.split == name] for name in SPLITS}

    def excluded_from_official(self) -> list[Track]:
        """Labelled tracks that the official split leaves out."""
        return [t for t in self.labelled if t.split is None]

    def group_kfold(self, n_splits: int = 5, *, seed: int = 0) -> Iterator[tuple[list[Track], list[Track]]]:
        """Cross-validation folds over the labelled tracks, grouped by artist.

        Tracks of the same artist are never in both the training and the held-out
        part of a fold; tracks of unknown artist are each their own group. Folds are
        stratified by label as far as the groups allow.

        Parameters
        ----------
        n_splits : int
            Number of folds (at least 2, at most the number of groups).
        seed : int
            Shuffling seed.

        Yields
        ------
        (train, held_out) : tuple of lists of Track
        """
        from sklearn.model_selection import StratifiedGroupKFold

        tracks = self.labelled
        groups = [artist_group(t) for t in tracks]
        n_groups = len(set(groups))
        if not isinstance(n_splits, int | np.integer) or n_splits < 2:
            raise ParameterError(f"n_splits must be an integer >= 2, got {n_splits!r}")
        if n_splits > n_groups:
            raise ParameterError(
                f"{self.name}: n_splits={n_splits} exceeds the {n_groups} artist groups")
        labels = [t.label for t in tracks]
        splitter = StratifiedGroupKFold(n_splits=n_splits, shuffle=True, random_state=seed)
        for train_idx, test_idx in splitter.split(np.zeros(len(tracks)), labels, groups):
            yield [tracks[i] for i in train_idx], [tracks[i] for i in test_idx]


# ---------------------------------------------------------------------- helpers
def artist_group(track: Track) -> str:
    """Group key of a track for artist-aware splits (case-insensitive artist name)."""
    if track.artist:
        return "artist:" + " ".join(track.artist.casefold().split())
    return "track:" + track.track_id


def file_digest(path: Path, algorithm: str = "sha256", *, chunk: int = 1 << 20) -> str:
    """Hex digest of a file, read in chunks."""
    h = hashlib.new(algorithm)
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()


def check_audio_file(track: Track, *, checksums: bool = True, headers: bool = True) -> list[Problem]:
    """Problems of one track's audio file: missing, unreadable, corrupt header, bad digest."""
    path = track.path
    assert path is not None
    tid = track.track_id
    try:
        st = path.stat()
    except FileNotFoundError:
        return [Problem("missing", f"file not found: {path}", tid, path)]
    except OSError as exc:
        return [Problem("unreadable", f"cannot stat {path}: {exc}", tid, path)]
    if not path.is_file():
        return [Problem("unreadable", f"not a regular file: {path}", tid, path)]
    if not os.access(path, os.R_OK):
        return [Problem("unreadable", f"no read permission: {path}", tid, path)]
    if st.st_size == 0:
        return [Problem("corrupt", f"empty file: {path}", tid, path)]
    problems: list[Problem] = []
    if headers:
        problems.extend(_check_header(track))
    if checksums:
        for algorithm in ("sha256", "sha1", "md5"):
            expected = track.extra.get(algorithm)
            if expected:
                actual = file_digest(path, algorithm)
                if actual != str(expected).lower():
                    problems.append(Problem(
                        "checksum-mismatch",
                        f"{algorithm} {actual[:12]}... differs from the expected {str(expected)[:12]}...",
                        tid, path))
                break
    return problems


def _check_header(track: Track) -> list[Problem]:
    from music_reclass.audio.probe import describe_content, sniff_format

    path = track.path
    tid = track.track_id
    try:
        fmt = sniff_format(path)
    except OSError as exc:
        return [Problem("unreadable", f"cannot read {path}: {exc}", tid, path)]
    if fmt is None:
        return [Problem("not-audio", f"not audio: looks like {describe_content(path)}", tid, path)]
    if fmt in _SOUNDFILE_FORMATS:
        import soundfile as sf

        try:
            info = sf.info(str(path))
        except Exception as exc:  # noqa: BLE001 - libsndfile raises several types
            return [Problem("corrupt", f"{fmt} header unreadable: {exc}", tid, path)]
        if info.frames <= 0:
            return [Problem("corrupt", f"{fmt} file holds no audio frames", tid, path)]
    return []
