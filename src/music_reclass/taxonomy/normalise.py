"""Genre-name normalisation: map a free-text genre (a file's tag, a user's label)
onto a canonical genre of a taxonomy.

The alias tables live in ``taxonomy/data/aliases.json`` and the ID3v1 genre numbers
in ``taxonomy/data/id3v1_genres.json``. Names are compared by :func:`genre_key`
(accents stripped, case folded, ``&``/``+`` read as "and", punctuation and spaces
dropped), so "Hip Hop", "hip-hop" and "HIPHOP" are one name.

Resolution order for one name:

1. ID3v1 numeric genres, ``"17"``, ``"(17)"`` or ``"(17)Rock"``, become the ID3v1 name.
2. The taxonomy's own alias table.
3. For a taxonomy other than the default: the default taxonomy's answer, mapped
   through ``from_default`` (so "Punk" -> "punk" -> GTZAN "rock").
4. Multi-genre strings ("Rock; Pop", "Jazz / Funk"): the first part that resolves.
5. The last word ("Progressive Death Metal" -> "metal", "Gypsy Jazz" -> "jazz").

Anything else returns ``None``: the name has no counterpart in the taxonomy.
"""

from __future__ import annotations

import json
import re
import unicodedata
from functools import cache
from importlib import resources

from music_reclass.errors import ParameterError

__all__ = ["genre_key", "id3v1_genre", "known_aliases", "normalise_genre"]

_ID3_NUMERIC = re.compile(r"^\s*\(?\s*(\d{1,3})\s*\)?\s*(.*)$")
_SEPARATORS = re.compile(r"\s*(?:;|,|/|\||\\|\s-\s)\s*")


def genre_key(name: str) -> str:
    """The comparison key of a genre name: ``"Hip-Hop"`` -> ``"hiphop"``, ``"R&B"`` -> ``"randb"``."""
    text = unicodedata.normalize("NFKD", name)
    text = "".join(c for c in text if not unicodedata.combining(c)).casefold()
    text = text.replace("&", " and ").replace("+", " and ")
    return "".join(c for c in text if c.isalnum())


@cache
def _data(file: str) -> dict:
    text = resources.files("music_reclass.taxonomy").joinpath("data", file).read_text("utf-8")
    return json.loads(text)


@cache
def _alias_table(taxonomy: str) -> dict[str, str]:
    tables = _data("aliases.json")["taxonomies"]
    if taxonomy not in tables:
        raise ParameterError(
            f"unknown taxonomy {taxonomy!r} for genre names; valid: {sorted(tables)}"
        )
    table: dict[str, str] = {}
    for genre, aliases in tables[taxonomy].items():
        for alias in [genre, *aliases]:
            key = genre_key(alias)
            if table.setdefault(key, genre) != genre:
                raise ParameterError(
                    f"aliases.json: {alias!r} is an alias of both {table[key]!r} and {genre!r} in {taxonomy!r}"
                )
    return table


def known_aliases(*, taxonomy: str = "default") -> dict[str, str]:
    """All ``{alias key: canonical genre}`` pairs of a taxonomy's own table (a copy)."""
    return dict(_alias_table(taxonomy))


def id3v1_genre(number: int) -> str | None:
    """The ID3v1 (with Winamp extensions) genre name of a number, or None if out of range."""
    return _data("id3v1_genres.json")["genres"].get(str(number))


def normalise_genre(name: str, *, taxonomy: str = "default") -> str | None:
    """Map a free-text genre name onto a canonical genre of a taxonomy.

    Parameters
    ----------
    name : str
        A genre as found in a tag or typed by a user: ``"Hip Hop"``, ``"R&B"``,
        ``"(17)"``, ``"Rock; Pop"``...
    taxonomy : str
        ``"default"`` or ``"gtzan"``.

    Returns
    -------
    str or None
        The canonical genre (``"hip-hop"``; ``"hiphop"`` for GTZAN), or None when
        the name has no counterpart in the taxonomy.

    Raises
    ------
    ParameterError
        If ``name`` is not a string or ``taxonomy`` is unknown.

    Examples
    --------
    >>> normalise_genre("Hip Hop"), normalise_genre("(17)"), normalise_genre("RnB")
    ('hip-hop', 'rock', 'soul/r&b')
    >>> normalise_genre("Hip-Hop", taxonomy="gtzan")
    'hiphop'
    """
    if not isinstance(name, str):
        raise ParameterError(f"genre name must be a string, got {type(name).__name__}")
    _alias_table(taxonomy)  # validates the taxonomy name
    return _resolve(name, taxonomy, split=True)


def _resolve(name: str, taxonomy: str, *, split: bool) -> str | None:
    name = _expand_id3_number(name)
    found = _lookup(genre_key(name), taxonomy)
    if found is not None or not genre_key(name):
        return found
    if split:
        for part in _SEPARATORS.split(name):
            if part.strip() and part.strip() != name.strip():
                found = _resolve(part, taxonomy, split=False)
                if found is not None:
                    return found
    words = re.findall(r"[^\W_]+", name)
    if len(words) > 1:
        return _lookup(genre_key(words[-1]), taxonomy)
    return None


def _lookup(key: str, taxonomy: str) -> str | None:
    if not key:
        return None
    found = _alias_table(taxonomy).get(key)
    if found is not None or taxonomy == "default":
        return found
    default = _alias_table("default").get(key)
    if default is None:
        return None
    return _data("aliases.json")["from_default"].get(taxonomy, {}).get(default)


def _expand_id3_number(name: str) -> str:
    """``"(17)"``/``"17"`` -> ``"Rock"``; ``"(17)Rock"`` keeps the refinement text."""
    match = _ID3_NUMERIC.match(name)
    if match is None:
        return name
    number, rest = int(match.group(1)), match.group(2).strip()
    if rest and not name.lstrip().startswith("("):
        return name  # "80s pop" or "2 Unlimited": a number followed by text is not ID3v1
    if rest:
        return rest  # ID3v2.3 "(17)Rock": the text refines the number
    return id3v1_genre(number) or name
