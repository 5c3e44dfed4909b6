"""Datasets: one module per dataset (GTZAN, FMA, the user's library, a manifest CSV),
each building a :class:`Dataset` of :class:`Track` records with validated indexes.

>>> from music_reclass.datasets import load_dataset
>>> ds = load_dataset("gtzan", "/data/gtzan")                    # doctest: +SKIP
>>> ds.validate().summary()                                       # doctest: +SKIP
'gtzan: 1000 tracks, 1000 of 1000 present; no problems'
>>> parts = ds.split("artist", seed=0)                            # doctest: +SKIP
"""

from __future__ import annotations

import importlib
import os
from typing import Any

from music_reclass.datasets.base import SPLITS, Dataset, Problem, Track, ValidationReport
from music_reclass.errors import ParameterError

__all__ = ["DATASETS", "SPLITS", "Dataset", "Problem", "Track", "ValidationReport",
           "load_dataset"]

#: The registry: dataset kind -> "module:loader" (loaded on first use).
DATASETS = {
    "gtzan": "music_reclass.datasets.gtzan:load_gtzan",
    "fma": "music_reclass.datasets.fma:load_fma",
    "library": "music_reclass.datasets.library:load_library",
    "manifest": "music_reclass.datasets.manifest:load_manifest",
}


def load_dataset(kind: str, path: str | os.PathLike, **options: Any) -> Dataset:
    """Index a dataset.

    Parameters
    ----------
    kind : {"gtzan", "fma", "library", "manifest"}
    path : path-like
        GTZAN: the folder holding ``genres/`` or the genres folder itself.
        FMA: the folder holding ``fma_metadata/`` (and ``fma_<size>/``) or
        ``fma_metadata`` itself. Library: the music folder. Manifest: the CSV file.
    **options
        Passed to the loader (:func:`~music_reclass.datasets.gtzan.load_gtzan`,
        :func:`~music_reclass.datasets.fma.load_fma`,
        :func:`~music_reclass.datasets.library.load_library`,
        :func:`~music_reclass.datasets.manifest.load_manifest`).

    Returns
    -------
    Dataset
    """
    if kind not in DATASETS:
        raise ParameterError(f"unknown dataset kind {kind!r}; use {', '.join(DATASETS)}")
    module, _, loader = DATASETS[kind].partition(":")
    return getattr(importlib.import_module(module), loader)(path, **options)
