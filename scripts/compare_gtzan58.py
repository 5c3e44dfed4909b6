#!/usr/bin/env python3
"""Compare the gtzan58 extractor with the published Kaggle GTZAN feature table.

For each clip of ``../shared/audio/gtzan-dev`` (matched on file name with
``../shared/gtzan-features/features_30_sec.csv``) computes the 58 features and
prints, per feature, the median and maximum relative error against the
published rows and how many clips are within 1 %. With ``--naive`` it also
shows what today's librosa defaults give (zero-padded STFT frames,
``effects.hpss`` as it is now, ``feature.tempo``), which is what the gtzan58
extractor corrects for.

Usage::

    python scripts/compare_gtzan58.py [--shared ../shared] [--limit N] [--naive] [--n-jobs 1]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[1]

_TINY = "values ~1e-5 that the table writes with 3 significant digits (e.g. 8.39e-06)"
EXPLANATIONS = {
    "harmony_mean": "mean of a zero-mean waveform: " + _TINY,
    "perceptr_mean": "mean of a zero-mean waveform: " + _TINY,
    "perceptr_var": "max on quiet classical clips: " + _TINY,
}


def naive_features(path: Path) -> dict[str, float]:
    """The 58 values with librosa 0.11 defaults (no pinned 0.8 behaviour)."""
    import librosa

    y, sr = librosa.load(path, sr=22050)
    frames = {
        "chroma_stft": librosa.feature.chroma_stft(y=y, sr=sr),
        "rms": librosa.feature.rms(y=y),
        "spectral_centroid": librosa.feature.spectral_centroid(y=y, sr=sr),
        "spectral_bandwidth": librosa.feature.spectral_bandwidth(y=y, sr=sr),
        "rolloff": librosa.feature.spectral_rolloff(y=y, sr=sr),
        "zero_crossing_rate": librosa.feature.zero_crossing_rate(y),
    }
    frames["harmony"], frames["perceptr"] = librosa.effects.hpss(y)
    values = {"length": float(len(y))}
    for name, frame in frames.items():
        values[f"{name}_mean"], values[f"{name}_var"] = float(np.mean(frame)), float(np.var(frame))
    values["tempo"] = float(np.atleast_1d(librosa.feature.tempo(y=y, sr=sr))[0])
    mfcc = librosa.feature.mfcc(y=y, sr=sr, n_mfcc=20)
    for i in range(20):
        values[f"mfcc{i + 1}_mean"] = float(np.mean(mfcc[i]))
        values[f"mfcc{i + 1}_var"] = float(np.var(mfcc[i]))
    return values


def relative_error(computed: np.ndarray, published: np.ndarray) -> np.ndarray:
    return np.abs(computed - published) / np.maximum(np.abs(published), 1e-12)


def summarise(errors: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "median_rel": errors.median(),
            "max_rel": errors.max(),
            "within_1%": (errors < 0.01).sum().astype(str) + f"/{len(errors)}",
        }
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--shared", type=Path, default=REPO.parent / "shared")
    parser.add_argument("--limit", type=int, default=None, help="only the first N clips")
    parser.add_argument("--naive", action="store_true", help="also compare librosa 0.11 defaults")
    parser.add_argument("--n-jobs", type=int, default=1)
    args = parser.parse_args(argv)

    from music_reclass.features import extract_many, get_extractor

    table_path = args.shared / "gtzan-features" / "features_30_sec.csv"
    clips_dir = args.shared / "audio" / "gtzan-dev"
    if not table_path.is_file() or not clips_dir.is_dir():
        print(f"real data not found under {args.shared}", file=sys.stderr)
        return 2
    table = pd.read_csv(table_path).set_index("filename")
    clips = sorted(p for p in clips_dir.glob("*/*.wav") if p.name in table.index)[: args.limit]
    extractor = get_extractor("gtzan58")
    names = extractor.feature_names

    result = extract_many(clips, extractor, n_jobs=args.n_jobs, cache=False)
    for path, error in result.errors.items():
        print(f"FAILED {path}: {error}", file=sys.stderr)
    ok_names = [Path(p).name for p in result.ok_paths]
    computed = pd.DataFrame(result.X.astype(np.float64), index=ok_names, columns=names)
    published = table.loc[ok_names, names].astype(np.float64)
    errors = pd.DataFrame(
        relative_error(computed.to_numpy(), published.to_numpy()), index=ok_names, columns=names
    )
    report = summarise(errors)
    if args.naive:
        naive = pd.DataFrame(
            [naive_features(p) for p in clips if p.name in ok_names], index=ok_names
        )[names]
        naive_errors = pd.DataFrame(
            relative_error(naive.to_numpy(), published.to_numpy()), index=ok_names, columns=names
        )
        report["naive_median_rel"] = naive_errors.median()
        report["naive_within_1%"] = (naive_errors < 0.01).sum().astype(str) + f"/{len(ok_names)}"
    report["note"] = [EXPLANATIONS.get(name, "") for name in names]

    with pd.option_context(
        "display.width", 200, "display.max_rows", 100, "display.float_format", "{:.2e}".format
    ):
        print(f"gtzan58 vs features_30_sec.csv on {len(ok_names)} gtzan-dev clips")
        print(report.to_string())
    good = (errors.median() < 0.01).sum()
    print(
        f"\n{good}/{len(names)} features with median relative error < 1 %; "
        f"{(errors.to_numpy() < 0.01).mean():.1%} of all values within 1 %"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
