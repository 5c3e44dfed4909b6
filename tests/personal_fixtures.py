"""Synthetic libraries for the personal-model tests and benchmarks.

:func:`synthetic_library` writes a library database as classify would have left it:
files with artist, album and genre tags, and 500 musicnn-space values per track (the
vectors a classify run stores), drawn around one centre per genre and per artist, so a
model can learn the genres and artists matter. No audio and no network are involved.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from music_reclass.features.musicnn_embedding import VECTOR_LAYOUT
from music_reclass.store.db import connect
from music_reclass.store.files import StoredOutcome, record_file

DIM = sum(length for _, length in VECTOR_LAYOUT)


@pytest.fixture(autouse=True)
def isolated_config(tmp_path_factory, monkeypatch):
    """Never read the developer's own config file (import this fixture into a module)."""
    monkeypatch.delenv("RECLASS_CONFIG", raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path_factory.mktemp("config")))


def musicnn_space() -> str:
    from music_reclass.features import get_extractor

    return get_extractor("musicnn").space


def to_vectors(vector: np.ndarray) -> dict[str, np.ndarray]:
    out, start = {}, 0
    for name, length in VECTOR_LAYOUT:
        out[name] = np.asarray(vector[start : start + length], dtype=np.float32)
        start += length
    return out


@dataclass
class SyntheticTrack:
    path: str
    content_hash: str
    artist: str
    genres: list[str]  # the true genres
    tags: list[str]  # what the file's GENRE tag holds (may be empty)
    vector: np.ndarray


def make_tracks(n: int, genres: Sequence[str], *, artists: int = 40, labelled: float = 0.6,
                multi: float = 0.0, spell: Callable[[str, np.random.Generator], str] | None = None,
                separation: float = 0.25, artist_spread: float = 0.25, seed: int = 0,
                ) -> list[SyntheticTrack]:
    """``n`` tracks: each artist plays one main genre; ``multi`` of the tracks also a second.

    ``labelled`` of the tracks carry a GENRE tag, spelled by ``spell`` (default: as is).
    """
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(len(genres), DIM)) * separation
    artist_centres = rng.normal(size=(artists, DIM)) * artist_spread
    artist_genre = np.arange(artists) % len(genres)
    out = []
    for i in range(n):
        a = int(rng.integers(artists))
        main = int(artist_genre[a])
        names = [genres[main]]
        vector = centres[main] + artist_centres[a] + rng.normal(size=DIM)
        if multi and rng.random() < multi:
            second = (main + 1) % len(genres)
            names.append(genres[second])
            vector += 0.8 * centres[second]
        tags = []
        if rng.random() < labelled:
            written = [spell(g, rng) if spell else g for g in names]
            tags = ["; ".join(written)] if len(written) > 1 else written
        content = hashlib.sha256(f"{seed}:{i}".encode()).hexdigest()
        out.append(SyntheticTrack(f"/music/artist{a:03d}/track{i:06d}.mp3", content,
                                  f"Artist {a}", names, tags, vector.astype(np.float32)))
    return out


def synthetic_library(db: Path, tracks: Sequence[SyntheticTrack], *, bulk: bool = False) -> Path:
    """Write ``tracks`` into the library database ``db`` (vectors in the musicnn space).

    ``bulk`` turns off the per-commit fsync (a benchmark writing 100,000 rows).
    """
    conn = connect(db)
    if bulk:
        conn.execute("PRAGMA synchronous = OFF")
    space = musicnn_space()
    for track in tracks:
        outcome = StoredOutcome(track.path, "ok", track.content_hash, 1000, 1, track={
            "duration": 30.0, "sample_rate": 44100, "channels": 2, "codec": "mp3",
            "artist": track.artist, "album": f"{track.artist} - album",
            "title": Path(track.path).stem, "genre_tags": list(track.tags)})
        record_file(conn, outcome, run_id=None, vectors={space: to_vectors(track.vector)})
    conn.close()
    return db
