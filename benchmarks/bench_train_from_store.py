"""Training on files the library already classified: features from the stored vectors.

Classifies the 50 gtzan-dev clips of ../shared into a fresh library (the default
model), then trains the same head twice on them: from the library's stored vectors
(``reclass train --db``) and from the audio (``--no-cache``, no library), and prints
both times against the classify time, measured in one run.

    python benchmarks/bench_train_from_store.py [--gtzan ../shared/audio/gtzan-dev]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gtzan", type=Path, default=REPO.parent / "shared" / "audio" / "gtzan-dev")
    parser.add_argument("--model", default="logreg")
    args = parser.parse_args()
    if not args.gtzan.is_dir():
        raise SystemExit(f"no GTZAN folder at {args.gtzan}")
    from music_reclass import Library

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        lib = Library(tmp / "lib.sqlite")
        start = time.perf_counter()
        run = lib.classify([args.gtzan])
        classify_s = time.perf_counter() - start
        print(f"classify: {run.summary.ok} clips in {classify_s:.1f} s "
              f"({run.summary.realtime_factor:.0f}x realtime)")
        start = time.perf_counter()
        stored = lib.train(("gtzan", args.gtzan), out=tmp / "stored.joblib", model=args.model,
                           cache=False)
        stored_s = time.perf_counter() - start
        start = time.perf_counter()
        fresh = Library(tmp / "none.sqlite").train(("gtzan", args.gtzan), out=tmp / "fresh.joblib",
                                                    model=args.model, cache=False)
        fresh_s = time.perf_counter() - start
    print(f"train --db (stored vectors): {stored_s:.2f} s, features of {stored.features_stored} "
          f"tracks read, {stored.features_computed} computed; test accuracy "
          f"{stored.test_metrics['accuracy']:.3f}")
    print(f"train from audio:            {fresh_s:.2f} s, {fresh.features_computed} computed; "
          f"test accuracy {fresh.test_metrics['accuracy']:.3f}")
    print(f"ratio train --db / classify: {stored_s / classify_s:.3f}; "
          f"train from audio / classify: {fresh_s / classify_s:.3f}")


if __name__ == "__main__":
    main()
