"""Fit the shipped trust parameters (package data of ``music_reclass.trust``) on ``../shared``.

Usage::

    python scripts/fit_trust.py [--shared ../shared] [--cache out/trust/gtzan-dev.npz]

Writes ``src/music_reclass/trust/data/``:

- ``zeroshot-gtzan.json``, ``zeroshot-default.json``: calibration, OOV detector and
  decision policy of the embedded default, fitted on the 50 gtzan-dev clips (default
  taxonomy: the 45 clips whose GTZAN genre it covers or, for reggae, cannot name);
- ``cascade-gtzan.json``, ``cascade-default.json``: the cascade's stages; the gtzan one
  holds the spectral head, trained on the Kaggle GTZAN table without any gtzan-dev artist.

The musicnn outputs of the clips are computed once and cached (``--cache``). The recipe
is :mod:`music_reclass.trust.recipes`; ``benchmarks/bench_trust.py`` measures it by
nested leave-one-artist-out cross-validation. Deterministic: same data, same files.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DATA = REPO / "src" / "music_reclass" / "trust" / "data"


def load_or_measure(shared: Path, cache: Path):
    """gtzan-dev clips and their measures (from the cache when it matches)."""
    from music_reclass.trust.components import load_measures, measure_clips, save_measures
    from music_reclass.trust.gtzan_data import dev_clips

    clips = dev_clips(shared)
    if cache.is_file():
        names, measures = load_measures(cache)
        if names == clips.track_ids:
            return clips, measures
    print(f"measuring {len(clips.paths)} clips (musicnn on every patch, gtzan53)...", flush=True)
    measures = measure_clips(clips.paths, on_progress=lambda d, t: print(f"  {d}/{t}", end="\r"))
    save_measures(cache, measures, clips.track_ids)
    return clips, measures


def taxonomy_data(name: str, clips, measures, spectral):
    """The cascade data of one taxonomy (clips it can be judged on, its labels)."""
    import numpy as np

    from music_reclass.taxonomy import load_taxonomy
    from music_reclass.trust.components import cascade_data
    from music_reclass.trust.gtzan_data import labels_for

    taxonomy = load_taxonomy(name)
    labels, mask = labels_for(name, clips.labels)
    keep = np.nonzero(mask)[0]
    data = cascade_data([measures[i] for i in keep], [labels[i] for i in keep],
                        [clips.groups[i] for i in keep], taxonomy,
                        head=spectral.head if name == "gtzan" else None)
    return taxonomy, data


def write(name: str, document: dict) -> None:
    DATA.mkdir(parents=True, exist_ok=True)
    (DATA / name).write_text(json.dumps(document, indent=1, sort_keys=False) + "\n", "utf-8")
    print(f"wrote {DATA / name}")


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, default=REPO.parent / "shared")
    parser.add_argument("--cache", type=Path, default=REPO / "out" / "trust" / "gtzan-dev.npz")
    args = parser.parse_args(argv)
    if not args.shared.is_dir():
        print(f"real data not available: {args.shared}", file=sys.stderr)
        return 1
    from music_reclass.trust.gtzan_data import spectral_head_data
    from music_reclass.trust.recipes import fit_cascade_recipe, fit_zeroshot_recipe
    from music_reclass.trust.spectral_head import fit_spectral_head

    clips, measures = load_or_measure(args.shared, args.cache)
    spectral = fit_spectral_head(spectral_head_data(args.shared, clips.groups, clips.track_ids))
    print("spectral head:", json.dumps(spectral.metrics))
    for name in ("gtzan", "default"):
        taxonomy, data = taxonomy_data(name, clips, measures, spectral)
        trust = fit_zeroshot_recipe(data, taxonomy)
        write(f"zeroshot-{name}.json", trust.to_dict())
        print(f"  {name}: calibration {json.dumps(trust.calibration.metrics)}")
        print(f"  {name}: policy min_confidence {trust.policy.min_confidence:.3f}, "
              f"in-sample {json.dumps(trust.policy.metrics)}")
        cascade = fit_cascade_recipe(data, taxonomy, spectral if name == "gtzan" else None)
        write(f"cascade-{name}.json", cascade.to_dict())
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
