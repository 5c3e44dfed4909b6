"""The library's side of the Plex sync at scale: building the tracks, and matching them.

On a synthetic library database (built as ``bench_library_100k.py`` builds it, through the
store's own functions), measured in one run:

- ``Library.plex_tracks()`` (one listing query over files, tracks and the active model's
  analyses) against the per-file reading it replaced (the listing, then
  ``store.queries.file_details`` per file for the tags): wall time and the ratio;
- ``plex.match_tracks`` of as many Plex tracks (90 % matched by path through a path
  map, 10 % by title, artist and duration): wall time.

    python benchmarks/bench_plex.py [--tracks 20000]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_library_100k import build  # noqa: E402
from music_reclass import Library  # noqa: E402
from music_reclass.plex import LibraryTrack, PlexTrack, match_tracks, parse_path_map  # noqa: E402
from music_reclass.store import queries  # noqa: E402
from music_reclass.store.queries import FileQuery  # noqa: E402


def per_file(library: Library) -> list[LibraryTrack]:
    """The earlier way: list the files, then every file's details for its tags."""
    conn = library.connection()
    model_id, _ = library.model_id_for()
    tracks = []
    for view in queries.iter_files(conn, FileQuery(model_id=model_id, status="ok",
                                                   with_tags=False), check_missing=False):
        track = (queries.file_details(conn, view.path) or {}).get("track") or {}
        tracks.append(LibraryTrack(view.path, track.get("duration"), track.get("title"),
                                   track.get("artist"), track.get("album")))
    return tracks


def plex_side(tracks: list[LibraryTrack]) -> list[PlexTrack]:
    """One Plex track per library track: Docker paths, every tenth file elsewhere."""
    out = []
    for key, track in enumerate(tracks, start=1):
        file = ("/data" + track.path[len("/music"):] if key % 10 else f"/incoming/{key}.mp3")
        out.append(PlexTrack(key, 3, track.title or "", track.artist, track.artist,
                             track.album, None, None, (track.duration or 0) + 0.4, (file,)))
    return out


def timed(job):  # noqa: ANN001, ANN201
    start = time.perf_counter()
    result = job()
    return result, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tracks", type=int, default=20000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "lib.sqlite"
        build(db, args.tracks)
        with Library(db) as library:
            library.plex_tracks()  # warm the page cache for both
            tracks, one_query = timed(library.plex_tracks)
            _, details = timed(lambda: per_file(library))
            plex = plex_side(tracks)
            report, matching = timed(lambda: match_tracks(
                plex, tracks, path_maps=[parse_path_map("/data=/music")]))
    print(f"tracks: {len(tracks)}")
    print(f"plex_tracks (one query): {one_query:.2f} s; per-file details: {details:.2f} s; "
          f"ratio {details / one_query:.1f}x")
    print(f"match_tracks: {matching:.2f} s; matched {len(report.matched)} "
          f"({report.count('path')} by path, {report.count('tags')} by tags), "
          f"{len(report.ambiguous)} ambiguous, {len(report.unmatched)} unmatched")


if __name__ == "__main__":
    main()
