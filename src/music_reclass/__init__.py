"""music_reclass: classify music by genre from its audio and reclassify a library.

Layers, from the core outwards:

- :mod:`music_reclass.audio`: decode any file to mono float32 at a model's rate.
- :mod:`music_reclass.features`: handcrafted features (fma518, gtzan58) and the cache.
- :mod:`music_reclass.models`: the embedded musicnn network, trained heads, artifacts.
- :mod:`music_reclass.taxonomy`: tag-to-genre maps and genre-name normalisation.
- :mod:`music_reclass.pipeline`: audio -> embeddings -> genres for one file.
- :mod:`music_reclass.store`: the SQLite library database (every SQL statement).
- :mod:`music_reclass.runner`: classify runs over worker pools.
- :mod:`music_reclass.act`: tags, organising, the journal and undo.
- :mod:`music_reclass.datasets` / :mod:`music_reclass.evaluation`: training and honest reports.
- :mod:`music_reclass.library`: the :class:`Library` façade every front end calls.
- :mod:`music_reclass.cli`: the ``reclass`` command, a thin layer over the façade.

>>> from music_reclass import Library
>>> run = Library("lib.sqlite").classify(["folder"], taxonomy="gtzan")   # doctest: +SKIP
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"

__all__ = ["Library", "__version__"]


def __getattr__(name: str) -> Any:
    # imported on first use: ``import music_reclass`` stays cheap for the CLI's --version
    if name == "Library":
        from music_reclass.library import Library

        return Library
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
