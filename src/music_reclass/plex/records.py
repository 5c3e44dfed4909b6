"""The library side of the Plex sync, read from the store until the library façade hands it over.

:func:`library_tracks` builds one :class:`~music_reclass.plex.matching.LibraryTrack`
per analysed file from :mod:`music_reclass.library.store` (no SQL of its own):
path, duration, the file's title/artist/album tags, the latest analysis'
genres as the prediction and, as the decided genres, the genres that
``reclass tag`` would write with the same ``min_confidence`` and ``top_k``
(names through the taxonomy, written as tags show them: "Hip-Hop").
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable

from music_reclass.library import store
from music_reclass.plex.matching import LibraryTrack

__all__ = ["decided_genres", "library_tracks"]


def _taxonomy_name(label: str) -> str | None:
    from music_reclass.library.tags import display_genre
    from music_reclass.taxonomy import normalise_genre

    canonical = normalise_genre(" ".join(str(label).split()))
    return display_genre(canonical) if canonical else None


def decided_genres(
    predicted: list[tuple[str, float]],
    *,
    min_confidence: float,
    top_k: int | None,
    taxonomy: bool = True,
) -> tuple[str, ...]:
    """The genres at or above ``min_confidence``, best first, at most ``top_k``, deduplicated."""
    name_of: Callable[[str], str | None] = (
        _taxonomy_name if taxonomy else (lambda s: " ".join(s.split()) or None)
    )
    out: list[str] = []
    for label, confidence in predicted:
        name = name_of(label) if confidence >= min_confidence else None
        if name and name.casefold() not in {n.casefold() for n in out}:
            out.append(name)
    return tuple(out[:top_k] if top_k else out)


def library_tracks(
    conn: sqlite3.Connection,
    *,
    min_confidence: float = 0.5,
    top_k: int | None = 3,
    model_id: str | None = None,
    taxonomy: bool = True,
) -> list[LibraryTrack]:
    """Every successfully analysed file of the library as a :class:`LibraryTrack`."""
    records = []
    for row in store.list_files(conn, status="ok", model_id=model_id):
        details = store.file_details(conn, row["path"]) or {}
        track = details.get("track") or {}
        predicted = [(g["label"], float(g["confidence"])) for g in row["genres"]]
        records.append(
            LibraryTrack(
                path=row["path"],
                duration=row["duration"],
                title=track.get("title"),
                artist=track.get("artist"),
                album=track.get("album"),
                predicted=tuple(predicted),
                decided=decided_genres(
                    predicted, min_confidence=min_confidence, top_k=top_k, taxonomy=taxonomy
                ),
            )
        )
    return records
