"""Datasets: one module per dataset (GTZAN, FMA, the user's library, a manifest CSV),
each building a :class:`Dataset` of :class:`Track` records with validated indexes.

>>> from music_reclass.datasets import load_dataset
>>> ds = load_dataset("gtzan", "/data/gtzan")                    # doctest: +SKIP
>>> ds.validate().summary()                                       # doctest: +SKIP
'gtzan: 1000 tracks, 1000 of 1000 present; no problems'
>>> parts = ds.split("artist", seed=0)                            # doctest: +SKIP
"""

from music_reclass.datasets.base import (
    SPLITS,
    Dataset,
    Problem,
    Track,
    ValidationReport,
    load_dataset,
)

__all__ = ["SPLITS", "Dataset", "Problem", "Track", "ValidationReport", "load_dataset"]
