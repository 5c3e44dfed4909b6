"""Regenerate the tiny FMA fixtures in this folder (run by hand; not a test).

They follow the formats of FMA's release exactly (``fma_metadata`` of
https://github.com/mdeff/fma): ``tracks.csv`` with its 52 columns under a two-row
header and a ``track_id`` index row, ``features.csv`` with its 518 columns under a
three-row header (feature, statistics, number), FMA's own ``genres.csv`` and a
``checksums`` file in ``sha1sum`` format. Values are invented (12 tracks).

    python tests/data/fma/make_fixtures.py
"""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
OUT = HERE / "fma_metadata"
GENRES_SOURCE = Path(__file__).resolve().parents[3] / "src/music_reclass/datasets/data/fma_genres.csv"

COLUMNS = {
    "album": ["comments", "date_created", "date_released", "engineer", "favorites", "id",
              "information", "listens", "producer", "tags", "title", "tracks", "type"],
    "artist": ["active_year_begin", "active_year_end", "associated_labels", "bio", "comments",
               "date_created", "favorites", "id", "latitude", "location", "longitude", "members",
               "name", "related_projects", "tags", "website", "wikipedia_page"],
    "set": ["split", "subset"],
    "track": ["bit_rate", "comments", "composer", "date_created", "date_recorded", "duration",
              "favorites", "genre_top", "genres", "genres_all", "information", "interest",
              "language_code", "license", "listens", "lyricist", "number", "publisher", "tags",
              "title"],
}

# track_id, artist id, artist name, subset, split, genre_top (None: several roots), genres, genres_all
TRACKS = [
    (2, 1, "AWOL", "small", "training", "Hip-Hop", [21], [21]),
    (3, 1, "AWOL", "medium", "training", "Hip-Hop", [21], [21]),
    (5, 1, "AWOL", "small", "training", "Hip-Hop", [21], [21]),
    (10, 6, "Kurt Vile", "small", "training", "Pop", [10], [10]),
    (20, 4, "Nicky Cook", "large", "training", None, [76, 103], [17, 10, 76, 103]),
    (134, 1, "AWOL", "medium", "training", "Hip-Hop", [21], [21]),
    (140, 54, "Alec K. Redfearn & the Eyesores", "small", "validation", "Folk", [17], [17]),
    (141, 54, "Alec K. Redfearn & the Eyesores", "small", "validation", "Folk", [17], [17]),
    (148, 61, "Blue Dot Sessions", "small", "test", "Experimental", [1, 38], [1, 38]),
    (182, 70, "Ed Askew", "small", "test", "Rock", [25], [25, 12]),
    (190, 74, "Glass Candy", "large", "validation", "Electronic", [236, 42], [15, 236, 42]),
    (1234, 80, "Chris Zabriskie", "small", "training", "Electronic", [236], [236, 15]),
]


def tracks_table() -> pd.DataFrame:
    columns = pd.MultiIndex.from_tuples([(top, sub) for top, subs in COLUMNS.items() for sub in subs])
    rows = []
    for tid, aid, artist, subset, split, top, genres, genres_all in TRACKS:
        row = dict.fromkeys(columns, np.nan)
        row.update({
            ("album", "comments"): 0, ("album", "date_created"): "2008-11-26 01:44:45",
            ("album", "date_released"): "2009-01-05 00:00:00", ("album", "favorites"): 4,
            ("album", "id"): 1000 + aid, ("album", "information"): "<p></p>", ("album", "listens"): 6073,
            ("album", "tags"): "[]", ("album", "title"): f"Album of {artist}", ("album", "tracks"): 7,
            ("album", "type"): "Album",
            ("artist", "active_year_begin"): "2006-01-01 00:00:00", ("artist", "bio"): "<p>bio</p>",
            ("artist", "comments"): 0, ("artist", "date_created"): "2008-11-26 01:42:32",
            ("artist", "favorites"): 9, ("artist", "id"): aid, ("artist", "latitude"): 40.058324,
            ("artist", "location"): "New Jersey", ("artist", "longitude"): -74.405661,
            ("artist", "name"): artist, ("artist", "tags"): "['awol']" if aid == 1 else "[]",
            ("set", "split"): split, ("set", "subset"): subset,
            ("track", "bit_rate"): 256000, ("track", "comments"): 0,
            ("track", "date_created"): "2008-11-26 01:48:12", ("track", "date_recorded"): "2008-11-26 00:00:00",
            ("track", "duration"): 168, ("track", "favorites"): 2, ("track", "genre_top"): top,
            ("track", "genres"): str(genres), ("track", "genres_all"): str(genres_all),
            ("track", "interest"): 4656, ("track", "language_code"): "en",
            ("track", "license"): "Attribution-NonCommercial-ShareAlike 3.0 International",
            ("track", "listens"): 1293, ("track", "number"): 3, ("track", "tags"): "[]",
            ("track", "title"): f"Track {tid}",
        })
        rows.append(row)
    df = pd.DataFrame(rows, columns=columns, index=pd.Index([t[0] for t in TRACKS], name="track_id"))
    return df


def features_table() -> pd.DataFrame:
    sizes = {"chroma_cens": 12, "chroma_cqt": 12, "chroma_stft": 12, "mfcc": 20, "rmse": 1,
             "spectral_bandwidth": 1, "spectral_centroid": 1, "spectral_contrast": 7,
             "spectral_rolloff": 1, "tonnetz": 6, "zcr": 1}
    stats = ["kurtosis", "max", "mean", "median", "min", "skew", "std"]
    columns = pd.MultiIndex.from_tuples(
        [(f, s, f"{n:02d}") for f, k in sizes.items() for s in stats for n in range(1, k + 1)],
        names=["feature", "statistics", "number"])
    # every track in features.csv except 141 (to exercise the "no features" report)
    ids = [t[0] for t in TRACKS if t[0] != 141]
    rng = np.random.default_rng(0)
    values = rng.normal(size=(len(ids), len(columns))).round(6)
    values[:, 0] = ids  # makes rows identifiable in tests: first column equals the track id
    return pd.DataFrame(values, index=pd.Index(ids, name="track_id"), columns=columns)


def main() -> None:
    OUT.mkdir(exist_ok=True)
    tracks_table().to_csv(OUT / "tracks.csv")
    features_table().to_csv(OUT / "features.csv", float_format="%.6f")
    shutil.copyfile(GENRES_SOURCE, OUT / "genres.csv")
    lines = [f"{hashlib.sha1((OUT / n).read_bytes()).hexdigest()}  {n}"
             for n in ("tracks.csv", "genres.csv", "features.csv")]
    (OUT / "checksums").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
