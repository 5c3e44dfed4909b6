"""Genre taxonomies: tag -> genre maps (data files in ``taxonomy/data/``), the GTZAN
taxonomy, and genre-name normalisation.

>>> from music_reclass.taxonomy import load_taxonomy, normalise_genre
>>> load_taxonomy("gtzan").genres[:3]
('blues', 'classical', 'country')
>>> normalise_genre("Hip Hop")
'hip-hop'
"""

from music_reclass.taxonomy.mapping import (
    BUILTIN_TAXONOMIES,
    MSD_LABELS,
    MTT_LABELS,
    VOCABULARIES,
    Taxonomy,
    load_taxonomy,
    normalise_evidence,
    parse_taxonomy,
)
from music_reclass.taxonomy.normalise import genre_key, id3v1_genre, known_aliases, normalise_genre

__all__ = [
    "BUILTIN_TAXONOMIES",
    "MSD_LABELS",
    "MTT_LABELS",
    "VOCABULARIES",
    "Taxonomy",
    "genre_key",
    "id3v1_genre",
    "known_aliases",
    "load_taxonomy",
    "normalise_evidence",
    "normalise_genre",
    "parse_taxonomy",
]
