"""A generic dataset described by a CSV manifest.

::

    path,label,split,artist
    audio/a.wav,rock,train,Some Band
    audio/b.flac,jazz,test,

``path`` and ``label`` are required columns; ``split`` (``train``/``valid``/``test``;
``training``, ``validation``, ``val`` and ``testing`` are accepted) and ``artist`` are
optional; other columns are kept in ``Track.extra``. Relative paths are relative to
the CSV's folder. Every row is checked and all problems are reported at once, with
line numbers.
"""

from __future__ import annotations

import csv
import os
from pathlib import Path

from music_reclass.datasets.base import Dataset, Problem, Track
from music_reclass.errors import ParameterError

__all__ = ["ManifestError", "load_manifest"]

_SPLIT_ALIASES = {"train": "train", "training": "train", "valid": "valid", "validation": "valid",
                  "val": "valid", "test": "test", "testing": "test"}
_REQUIRED = ("path", "label")
_MAX_SHOWN = 20


class ManifestError(ParameterError):
    """A manifest CSV has bad rows; ``problems`` lists each one with its line number."""

    code = "bad-manifest"

    def __init__(self, path: Path, problems: list[Problem]) -> None:
        self.path = path
        self.problems = problems
        shown = "\n".join(f"  {p.message}" for p in problems[:_MAX_SHOWN])
        more = f"\n  ... and {len(problems) - _MAX_SHOWN} more" if len(problems) > _MAX_SHOWN else ""
        super().__init__(f"{path}: {len(problems)} problem(s)\n{shown}{more}")


def load_manifest(
    path: str | os.PathLike,
    *,
    strict: bool = True,
    check_files: bool = True,
    name: str | None = None,
) -> Dataset:
    """Index the tracks listed in a CSV manifest.

    Parameters
    ----------
    path : path-like
        The CSV file (UTF-8, header row required).
    strict : bool
        Raise :class:`ManifestError` listing every bad row. With ``False`` bad rows are
        left out and reported by :meth:`Dataset.validate` instead.
    check_files : bool
        Treat rows whose audio file does not exist as bad rows.
    name : str, optional
        Dataset name; default the CSV's stem.

    Returns
    -------
    Dataset
        Track ids are the ``path`` values as written; ``extra`` has ``line`` and any
        extra columns.

    Raises
    ------
    ManifestError
        With ``strict=True``: unknown split names, missing files, empty labels or
        paths, duplicate paths (each with its line number); always: a missing
        required column.
    """
    csv_path = Path(path)
    if not csv_path.is_file():
        raise ParameterError(f"manifest not found: {csv_path}")
    base = csv_path.parent
    tracks: list[Track] = []
    problems: list[Problem] = []
    seen: dict[str, int] = {}
    with open(csv_path, newline="", encoding="utf-8-sig") as fh:
        reader = csv.DictReader(fh)
        fields = [f.strip().lower() for f in (reader.fieldnames or [])]
        missing = [c for c in _REQUIRED if c not in fields]
        if missing:
            raise ManifestError(csv_path, [Problem(
                "bad-header", f"line 1: missing column(s) {missing}; the header must name "
                "path,label[,split][,artist]")])
        reader.fieldnames = fields
        for row in reader:
            line = reader.line_num
            row_problems, track = _parse_row(row, line, base, seen, check_files=check_files)
            problems.extend(row_problems)
            if track is not None and not any(p.severity == "error" for p in row_problems):
                tracks.append(track)
                seen[track.track_id] = line
    errors = [p for p in problems if p.severity == "error"]
    if errors and strict:
        raise ManifestError(csv_path, errors)
    if not tracks:
        raise ManifestError(csv_path, errors or [Problem("empty", "no rows")])
    return Dataset(name or csv_path.stem, tracks, problems=problems, root=base)


def _parse_row(
    row: dict, line: int, base: Path, seen: dict[str, int], *, check_files: bool
) -> tuple[list[Problem], Track | None]:
    if None in row:  # more cells than header names
        return [Problem("bad-row", f"line {line}: more cells than columns in the header")], None
    rel = (row.get("path") or "").strip()
    label = (row.get("label") or "").strip()
    split_raw = (row.get("split") or "").strip()
    artist = (row.get("artist") or "").strip() or None
    problems: list[Problem] = []
    if not rel:
        return [Problem("bad-row", f"line {line}: empty path")], None
    file = Path(rel) if Path(rel).is_absolute() else base / rel
    if not label:
        problems.append(Problem("no-label", f"line {line}: empty label for {rel}", rel, file))
    split = None
    if split_raw:
        split = _SPLIT_ALIASES.get(split_raw.lower())
        if split is None:
            problems.append(Problem(
                "bad-split", f"line {line}: unknown split {split_raw!r} for {rel} "
                "(use train, valid or test)", rel, file))
    if rel in seen:
        problems.append(Problem("duplicate", f"line {line}: {rel} already listed on line {seen[rel]}",
                                rel, file))
    if check_files and not file.exists():
        problems.append(Problem("missing", f"line {line}: file not found: {file}", rel, file))
    extra = {k: v for k, v in row.items() if k not in ("path", "label", "split", "artist")}
    extra["line"] = line
    return problems, Track(rel, file, label or None, artist, split, extra)
