"""Learning at library scale: ``reclass learn`` on 100,000 stored embeddings.

Usage::

    python benchmarks/bench_learn_scale.py [--tracks 100000] [--labelled 0.6]
        [--genres 20] [--artists 2000] [--multi 0.0] [--keep DB]

Writes a synthetic library database as classify would have left it (every track with
500 musicnn-space values stored as float16, artist and album tags, and a GENRE tag on
``--labelled`` of them; ``--multi`` of the tracks carry two genres; ``--separation`` sets
how far apart the genres lie, which changes the accuracy, not the time), then, in a fresh
process, times ``Library.learn()`` (reading labels and vectors, artist-grouped 5-fold
cross-validation over 7 penalties, calibration, the final fit, saving) and measures that
process's peak resident memory against its size after the imports. ``suggest`` and
``inconsistencies`` are timed the same way. The machine may be shared with other jobs:
the load average is printed with the figures.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))
sys.path.insert(0, str(REPO / "tests"))  # the synthetic-library writer lives with the tests

GENRES = ["Rock", "Pop", "Jazz", "Hip-Hop", "Electronic", "Classical", "Reggae", "Metal",
          "Folk", "Blues", "Country", "Soul", "Punk", "Latin", "Soundtrack", "Ambient",
          "Funk", "Disco", "Gospel", "World", "Techno", "House", "Trance", "Ska"]


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def build(db: Path, args: argparse.Namespace) -> None:
    from personal_fixtures import make_tracks, synthetic_library

    start = time.perf_counter()
    tracks = make_tracks(args.tracks, GENRES[: args.genres], artists=args.artists,
                         labelled=args.labelled, multi=args.multi, seed=0,
                         separation=args.separation, artist_spread=args.artist_spread)
    synthetic_library(db, tracks, bulk=True)
    print(f"synthetic library: {args.tracks} tracks, {args.genres} genres, {args.artists} "
          f"artists, {args.labelled:.0%} tagged, {args.multi:.0%} with two genres; written "
          f"in {time.perf_counter() - start:.0f} s ({db.stat().st_size / 1e6:.0f} MB)")


def measure(db: Path) -> None:
    """Run in a fresh process: the jobs' times and this process's peak memory."""
    from music_reclass import Library
    from music_reclass.models.artifact import read_sidecar

    library = Library(db)
    library.connection()
    import sklearn.metrics  # noqa: F401

    import music_reclass.personal.train  # noqa: F401 - count imports in the baseline

    baseline = rss_mb()
    start = time.perf_counter()
    report = library.learn()
    learn_s = time.perf_counter() - start
    peak = rss_mb()
    sidecar = read_sidecar(report.model_path)
    ev = report.evaluation
    score = (f"accuracy {ev['accuracy']:.3f}" if "accuracy" in ev else
             f"micro F1 {ev['micro_f1']:.3f}")
    print(f"learn: {report.tracks} labelled tracks ({report.unlabelled} untagged), "
          f"{len(report.genres)} genres, {report.task}: {learn_s:.1f} s in all, of which "
          f"fit + 5-fold CV {sidecar['training']['train_seconds']:.1f} s")
    print(f"  {ev['protocol']} over {ev['groups']} artists: {score}, ECE "
          f"{ev['ece_before']:.3f} -> {ev['ece_after']:.3f} (synthetic data: a sanity check, "
          "not a result)")
    print(f"  peak memory {peak:.0f} MB (after imports {baseline:.0f} MB: learn added "
          f"{peak - baseline:.0f} MB; the float32 embeddings alone are "
          f"{report.tracks * 500 * 4 / 1e6:.0f} MB)")
    for name, job in (("suggest 20", lambda: library.suggest(20)),
                      ("inconsistencies", lambda: library.inconsistencies(limit=20))):
        start = time.perf_counter()
        job()
        print(f"{name}: {time.perf_counter() - start:.1f} s (peak memory so far {rss_mb():.0f} MB)")
    print(f"load average during the run: {', '.join(f'{x:.1f}' for x in os.getloadavg())} "
          f"on {os.cpu_count()} cores")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tracks", type=int, default=100_000)
    parser.add_argument("--labelled", type=float, default=0.6)
    parser.add_argument("--genres", type=int, default=20)
    parser.add_argument("--artists", type=int, default=2000)
    parser.add_argument("--multi", type=float, default=0.0)
    parser.add_argument("--separation", type=float, default=0.15,
                        help="spread of the genre centres (synthetic accuracy, not speed)")
    parser.add_argument("--artist-spread", type=float, default=0.15)
    parser.add_argument("--keep", type=Path, help="write (or reuse) the library here")
    parser.add_argument("--measure", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure is not None:
        measure(args.measure)
        return
    with tempfile.TemporaryDirectory() as tmp:
        db = args.keep or Path(tmp) / "lib.sqlite"
        if not db.exists():
            build(db, args)
        env = {**os.environ, "RECLASS_CONFIG": str(Path(tmp) / "none.toml")}
        Path(env["RECLASS_CONFIG"]).write_text("")  # no personal genre map
        subprocess.run([sys.executable, __file__, "--measure", str(db)], check=True, env=env)


if __name__ == "__main__":
    main()
