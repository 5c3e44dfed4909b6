"""Feature extractors for training genre models, their registry and cache.

>>> from music_reclass.features import get_extractor, extract_many
>>> fx = get_extractor("gtzan58")            # or "fma518", "musicnn"
>>> vector = fx.extract("song.mp3")          # np.ndarray [fx.dim] float32
>>> result = extract_many(paths, fx)         # parallel, cached: result.X, .ok_paths, .errors

Heavy modules (librosa, torch) are imported only when an extractor is used.
"""

from music_reclass.features.cache import FeatureCache
from music_reclass.features.extract import FeatureResult, extract_many
from music_reclass.features.registry import (
    FeatureExtractor,
    available_extractors,
    get_extractor,
    register_extractor,
)


def fma518_columns():
    """FMA's ``features.csv`` column index (see :func:`music_reclass.features.fma518.fma518_columns`)."""
    from music_reclass.features.fma518 import fma518_columns as columns

    return columns()


__all__ = [
    "FeatureCache",
    "FeatureExtractor",
    "FeatureResult",
    "available_extractors",
    "extract_many",
    "fma518_columns",
    "get_extractor",
    "register_extractor",
]
