"""music_reclass: classify music by genre from its audio and reclassify a library.

Layers, from the core outwards:

- :mod:`music_reclass.audio`: decode any file to mono float32 at a model's rate.
- :mod:`music_reclass.features`: handcrafted features (fma518, gtzan58) and the cache.
- :mod:`music_reclass.models`: the embedded musicnn network, trained heads, artifacts.
- :mod:`music_reclass.taxonomy`: tag-to-genre maps and genre-name normalisation.
- :mod:`music_reclass.pipeline`: audio -> embeddings -> genres for one file.
- :mod:`music_reclass.library`: the SQLite library database, scanning, tags, organising.
- :mod:`music_reclass.datasets` / :mod:`music_reclass.evaluation`: training and honest reports.
- :mod:`music_reclass.cli`: the ``reclass`` command, a thin layer over the above.
"""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__"]
