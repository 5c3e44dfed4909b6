"""A 100,000-track library: database size per track, and the cost of listing it.

Builds a synthetic library database through the store's own functions (every track
with a file row, a track row, an analysis by the default model and its musicnn vectors,
as a classify run stores them), then measures, in one run:

- the database size per track;
- ``reclass list`` streamed to /dev/null (wall time, peak memory of the process);
- ``reclass list --genre jazz --json`` and ``reclass stats``;
- a filtered, sorted page of 50 (``Library.files(..., limit=50)``): p50/p95 latency.

    python benchmarks/bench_library_100k.py [--tracks 100000] [--keep lib.sqlite]
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from music_reclass.store.analyses import AnalysisRecord
from music_reclass.store.db import connect
from music_reclass.store.files import StoredOutcome, record_file
from music_reclass.store.models import register_model, set_setting

GENRES = ["rock", "pop", "electronic", "dance", "hip-hop", "soul/r&b", "funk", "jazz", "blues",
          "country", "folk", "metal", "punk", "indie/alternative", "classical",
          "ambient/new age", "world"]
MODEL = "musicnn-zeroshot/default@bench/MSD_musicnn@v+MTT_musicnn@v/zs1"
SPACE = "musicnn/MSD_musicnn@v+MTT_musicnn@v"


def build(db: Path, n: int) -> None:
    rng = np.random.default_rng(0)
    conn = connect(db)
    conn.execute("PRAGMA synchronous=OFF")  # building a benchmark fixture, not a library
    register_model(conn, MODEL, name="default", kind="zero-shot", source="default")
    set_setting(conn, "active_model", {"file": None, "taxonomy": "default"})
    for i in range(n):
        probs = rng.dirichlet(np.full(len(GENRES), 0.3))
        order = np.argsort(-probs)
        genres = [(GENRES[j], float(probs[j])) for j in order]
        vectors = {"msd.penultimate": rng.random(200), "mtt.penultimate": rng.random(200),
                   "msd.taggram": rng.random(50), "mtt.taggram": rng.random(50)}
        content = f"{i:032x}"
        record_file(
            conn,
            StoredOutcome(f"/music/artist{i % 3000:04d}/album{i % 9000:04d}/track{i:06d}.mp3",
                          "ok", content, 6_000_000 + i, 1_700_000_000_000_000_000 + i,
                          track={"duration": 180.0 + i % 120, "sample_rate": 44100,
                                 "channels": 2, "codec": "mp3", "title": f"Track {i}",
                                 "artist": f"Artist {i % 3000}", "album": f"Album {i % 9000}",
                                 "genre_tags": [GENRES[i % len(GENRES)].title()]}),
            run_id=None,
            analysis=AnalysisRecord(MODEL, "ok", genres=genres,
                                    tags=[("msd:rock", 0.5)] * 10, analysed_seconds=29.9,
                                    decided=[genres[0][0]] if genres[0][1] > 0.6 else None,
                                    abstain_reason=None if genres[0][1] > 0.6 else "low confidence"),
            vectors={SPACE: vectors},
        )
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()


def cli(db: Path, *args: str) -> tuple[float, float]:
    """Wall seconds and peak RSS (MB) of one ``reclass`` command, output to /dev/null."""
    code = ("import resource, sys; from music_reclass.cli.main import app\n"
            "try:\n    app()\nexcept SystemExit:\n    pass\n"
            "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, file=sys.stderr)")
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", code, *args, "--db", str(db)],
                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                          check=False, env={**os.environ, "COLUMNS": "120"})
    elapsed = time.perf_counter() - start
    return elapsed, float(done.stderr.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tracks", type=int, default=100_000)
    parser.add_argument("--keep", type=Path, help="build (or reuse) the database here")
    args = parser.parse_args()
    db = args.keep or Path(tempfile.mkdtemp()) / "lib.sqlite"
    if not db.exists():
        start = time.perf_counter()
        build(db, args.tracks)
        print(f"built {args.tracks} tracks in {time.perf_counter() - start:.0f} s")
    size = db.stat().st_size
    print(f"database: {size / 1e6:.1f} MB, {size / args.tracks / 1024:.2f} KB per track")
    for label, command in (("list (table)", ["list"]),
                           ("list --genre jazz --json", ["list", "--genre", "jazz", "--json"]),
                           ("stats", ["stats"])):
        seconds, peak = cli(db, *command)
        print(f"{label:<26} {seconds:6.1f} s   peak memory {peak:5.0f} MB")
    from music_reclass import Library
    from music_reclass.library import FileQuery

    lib = Library(db)
    latencies = []
    for offset in range(0, 2000, 100):
        start = time.perf_counter()
        page = lib.files(FileQuery(genre="jazz", min_confidence=0.3, sort="confidence",
                                   descending=True, limit=50, offset=offset))
        latencies.append(1000 * (time.perf_counter() - start))
        assert len(page) <= 50
    latencies.sort()
    print(f"filtered page of 50: p50 {statistics.median(latencies):.1f} ms, "
          f"p95 {latencies[int(0.95 * len(latencies)) - 1]:.1f} ms")
    print(f"this process: peak {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")


if __name__ == "__main__":
    main()
