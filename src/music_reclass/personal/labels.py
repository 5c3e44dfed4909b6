"""The owner's genre labels, cleaned but kept in the owner's own vocabulary.

Each track brings the genre tags read from its file and, when the owner corrected it,
their correction (which wins over the file's tags). Genres that reclass itself wrote
into a file (journalled tag runs) are not the owner's word and are left out, so a
model never learns from its own output; when everything a file carries came from
reclass, the tags it had before reclass first wrote are used instead.

Cleaning keeps the owner's words: one field may hold several genres (``"Rock; Pop"``,
``"Rock / Pop"``, ``"Rock, Pop"``, but ``"R&B/Soul"`` and ``"Folk, World, & Country"``
stay whole); spellings that differ only in case, spacing or punctuation (``"Hip-Hop"``,
``"hip hop"``, ``"HIP HOP"``) are one genre, named as the owner spells it most often;
ID3v1 numbers become names; placeholders (``"Unknown"``, ``"genre"``) are dropped; the
config file's genre map renames, merges and ignores (:mod:`.config`). Genres with too
few tracks are reported, and pooled into one "Other" genre or left out.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from music_reclass.errors import ParameterError
from music_reclass.personal.config import RARE_ACTIONS, GenreConfig
from music_reclass.taxonomy import genre_key, id3v1_genre

__all__ = ["DEFAULT_MIN_TRACKS", "PLACEHOLDERS", "GenreCount", "Labelling", "TrackSource",
           "build_labelling", "split_genres"]

#: the default least number of tracks a genre needs (lowered when fewer than two
#: genres would reach it, with a warning)
DEFAULT_MIN_TRACKS = 5
#: share of tracks carrying several genres from which the library is multi-label
MULTI_SHARE = 0.05
MULTI_MIN_TRACKS = 3
#: keys of names taggers write when they know no genre
PLACEHOLDERS = frozenset({"unknown", "unknowngenre", "genre", "none", "nogenre", "na", "null",
                          "undefined", "empty"})

_FIELDS = re.compile(r"\s*(?:;|\||\\|\x00|\s/\s)\s*")
_COMMA = re.compile(r"\s*,\s*")
_NUMBER = re.compile(r"^\(?\s*(\d{1,3})\s*\)?$")
_QUOTES = "\"'`\u2018\u2019\u201c\u201d"


@dataclass(frozen=True)
class TrackSource:
    """What the library knows about one content's genres.

    Attributes
    ----------
    content_hash : str
    path : str
        One file holding it.
    artist, album : str or None
        From its tags: the groups that keep evaluation honest.
    tags : list of str
        The genre tags in the file now.
    reclass_added : list of str
        Genres that reclass tag runs added to the file (not undone).
    before_reclass : list of str or None
        The file's genre tags before reclass first wrote them (None: never written).
    correction : list of str or None
        The owner's correction, which wins over the tags.
    """

    content_hash: str
    path: str
    artist: str | None = None
    album: str | None = None
    tags: Sequence[str] = ()
    reclass_added: Sequence[str] = ()
    before_reclass: Sequence[str] | None = None
    correction: Sequence[str] | None = None


@dataclass(frozen=True)
class GenreCount:
    """One genre as learnt: its name, tracks, artists and the spellings it merged."""

    name: str
    tracks: int
    artists: int
    spellings: dict[str, int]
    pooled: tuple[str, ...] = ()  # the rare genres pooled into it


@dataclass
class Labelling:
    """The training labels of a library.

    ``Y[i, k]`` says track ``content_hashes[i]`` has genre ``classes[k]``; ``primary[i]``
    is its first genre (what a single-label model learns); ``groups[i]`` its artist
    (or album, or the track itself when neither is tagged).
    """

    classes: list[str]
    content_hashes: list[str]
    paths: list[str]
    Y: np.ndarray
    primary: np.ndarray
    groups: list[str]
    genres: list[GenreCount]
    task: str
    min_tracks: int
    rare_action: str
    rare: list[GenreCount] = field(default_factory=list)
    sources: dict[str, int] = field(default_factory=dict)
    ignored: dict[str, int] = field(default_factory=dict)
    unlabelled: list[str] = field(default_factory=list)  # content hashes without a label
    only_rare: list[str] = field(default_factory=list)  # labelled only with dropped genres
    notes: list[str] = field(default_factory=list)

    @property
    def multi_label(self) -> bool:
        return self.task == "multi-label"

    def subset(self, rows: np.ndarray) -> Labelling:
        """The same labelling restricted to some tracks (genre statistics unchanged)."""
        rows = np.asarray(rows, dtype=int)
        return Labelling(
            classes=self.classes, content_hashes=[self.content_hashes[i] for i in rows],
            paths=[self.paths[i] for i in rows], Y=self.Y[rows], primary=self.primary[rows],
            groups=[self.groups[i] for i in rows], genres=self.genres, task=self.task,
            min_tracks=self.min_tracks, rare_action=self.rare_action, rare=self.rare,
            sources=self.sources, ignored=self.ignored, unlabelled=self.unlabelled,
            only_rare=self.only_rare, notes=self.notes)


def split_genres(value: str) -> list[str]:
    """The genre names of one tag value, tidied (``"Rock; Pop"`` -> ``["Rock", "Pop"]``).

    Separators are ``;``, ``|``, ``\\``, NUL, ``" / "`` with spaces and commas; a slash
    inside a word (``"R&B/Soul"``) is kept, and so is a comma list whose last part starts
    with ``&`` or "and" (``"Folk, World, & Country"``, one Discogs genre).
    """
    names: list[str] = []
    for part in _FIELDS.split(str(value)):
        pieces = _COMMA.split(part)
        if len(pieces) > 1 and re.match(r"(?i)(&|and\b)", pieces[-1]):
            pieces = [part]
        names.extend(tidy for piece in pieces if (tidy := _tidy(piece)))
    return names


def _tidy(name: str) -> str:
    text = " ".join(str(name).split()).strip(_QUOTES + " ")
    number = _NUMBER.match(text)
    if number:  # an ID3v1 genre number, "17" or "(17)"
        return id3v1_genre(int(number.group(1))) or text
    return text


def _group(source: TrackSource) -> tuple[str, bool]:
    """The evaluation group of a track and whether it is a real artist."""
    for prefix, value in (("artist", source.artist), ("album", source.album)):
        key = " ".join(str(value or "").casefold().split())
        if key:
            return f"{prefix}:{key}", prefix == "artist"
    return f"track:{source.content_hash}", False


class _Collector:
    """Per-track genre keys and the spellings seen for each key."""

    def __init__(self, config: GenreConfig) -> None:
        self.config = config
        self.spellings: dict[str, Counter[str]] = {}
        self.forced: dict[str, str] = {}  # key -> the config map's spelling
        self.ignored: Counter[str] = Counter()
        self.sources: Counter[str] = Counter()
        self._cache: dict[str, list[tuple[str, str | None, str]]] = {}

    def _parsed(self, value: str) -> list[tuple[str, str | None, str]]:
        """``(name, label or None, key)`` of each genre in a tag value (memoised: a
        library holds few distinct tag values)."""
        found = self._cache.get(value)
        if found is None:
            found = []
            for name in split_genres(value):
                resolved = self.config.resolve(name)
                key = genre_key(resolved) if resolved is not None else ""
                if not key or key in PLACEHOLDERS:
                    resolved = None
                found.append((name, resolved, key))
            self._cache[value] = found
        return found

    def keys_of(self, values: Sequence[str]) -> list[str]:
        keys: list[str] = []
        for value in values:
            for name, resolved, key in self._parsed(value):
                if resolved is None:
                    self.ignored[name] += 1
                    continue
                if resolved != name:
                    self.forced.setdefault(key, resolved)
                self.spellings.setdefault(key, Counter())[resolved] += 1
                if key not in keys:
                    keys.append(key)
        return keys

    def labels(self, source: TrackSource) -> list[str]:
        """The track's genre keys, and count where they came from."""
        if source.correction:
            keys = self.keys_of(source.correction)
            self.sources["corrections"] += bool(keys)
            return keys
        added = {genre_key(g) for g in source.reclass_added}
        own = [t for t in source.tags if genre_key(t) not in added] if added else source.tags
        self.sources["tags written by reclass, left out"] += len(source.tags) - len(own)
        if not own and source.tags and source.before_reclass:
            keys = self.keys_of(source.before_reclass)
            self.sources["tags from before reclass wrote"] += bool(keys)
            return keys
        keys = self.keys_of(own)
        self.sources["file tags"] += bool(keys)
        return keys

    def name(self, key: str) -> str:
        """The owner's spelling of a genre: the map's, else the most frequent one.

        The most frequent form first ("Hip-Hop" against "Hip Hop", whatever the case),
        then its most frequent case; ties go to a mixed-case spelling, then A-Z.
        """
        if key in self.forced:
            return self.forced[key]
        counts = self.spellings[key]
        forms: Counter[str] = Counter()
        for spelling, n in counts.items():
            forms[spelling.casefold()] += n
        form = min(forms, key=lambda f: (-forms[f], f))
        same = [s for s in counts if s.casefold() == form]
        return min(same, key=lambda s: (-counts[s], s.islower() or s.isupper(), s))


def build_labelling(
    sources: Sequence[TrackSource],
    *,
    config: GenreConfig | None = None,
    min_tracks: int | None = None,
    rare: str | None = None,
    multi_label: bool | None = None,
) -> Labelling:
    """Clean the owner's labels and choose the genres to learn.

    Parameters
    ----------
    sources : sequence of TrackSource
        One per content of the library.
    config : GenreConfig, optional
        The genre map and defaults of the config file.
    min_tracks : int, optional
        The least number of tracks a genre needs (default: the config's, else 5,
        lowered with a note when fewer than two genres would reach it).
    rare : {"drop", "pool"}, optional
        What becomes of rarer genres (default: the config's, else ``"drop"``).
    multi_label : bool, optional
        Learn several genres per track (default: when at least 5 % of the labelled
        tracks, and at least 3, carry several genres).

    Raises
    ------
    ParameterError
        A bad ``min_tracks`` or ``rare``.
    """
    config = config or GenreConfig()
    rare = rare or config.rare or "drop"
    if rare not in RARE_ACTIONS:
        raise ParameterError(f"rare genres are pooled or dropped, not {rare!r}")
    if min_tracks is not None and min_tracks < 1:
        raise ParameterError("--min-tracks must be at least 1")
    collector = _Collector(config)
    found = [collector.labels(source) for source in sources]
    counts = Counter(key for keys in found for key in keys)
    notes: list[str] = []
    threshold = min_tracks or config.min_tracks or _auto_min_tracks(counts, notes)
    rare_keys = {key for key, n in counts.items() if n < threshold}
    other_key = genre_key(config.other) or "other"
    if rare == "pool" and rare_keys:
        if other_key not in collector.spellings:
            collector.forced[other_key] = config.other
        kept = [list(dict.fromkeys(other_key if k in rare_keys else k for k in keys))
                for keys in found]
    else:
        kept = [[k for k in keys if k not in rare_keys] for keys in found]
    groups = [_group(source) for source in sources]
    rare_list = _rare_counts(collector, rare_keys, found, groups, counts)
    labelling = _assemble(sources, kept, groups, collector, rare_keys if rare == "pool" else set(),
                          other_key=other_key, multi_label=multi_label, notes=notes)
    labelling.min_tracks = threshold
    labelling.rare_action = rare
    labelling.rare = rare_list
    labelling.only_rare = [s.content_hash for s, before, after in zip(sources, found, kept,
                                                                        strict=True)
                           if before and not after]
    labelling.unlabelled = [s.content_hash for s, before in zip(sources, found, strict=True)
                            if not before]
    return labelling


def _auto_min_tracks(counts: Counter[str], notes: list[str]) -> int:
    for threshold in range(DEFAULT_MIN_TRACKS, 0, -1):
        if sum(n >= threshold for n in counts.values()) >= 2:
            if threshold < DEFAULT_MIN_TRACKS:
                notes.append(f"fewer than two genres have {DEFAULT_MIN_TRACKS} tracks: genres "
                             f"with {threshold} track(s) were kept; label more tracks for a "
                             "model worth trusting")
            return threshold
    return DEFAULT_MIN_TRACKS


def _rare_counts(collector: _Collector, rare_keys: set[str], per_track: list[list[str]],
                 groups: list[tuple[str, bool]], counts: Counter[str]) -> list[GenreCount]:
    """The rare genres with their tracks and artists, most tracks first (one pass)."""
    artists: dict[str, set[str]] = {key: set() for key in rare_keys}
    for keys, (group, _) in zip(per_track, groups, strict=True):
        for key in keys:
            if key in artists:
                artists[key].add(group)
    ordered = sorted(rare_keys, key=lambda k: (-counts[k], collector.name(k)))
    return [GenreCount(collector.name(k), int(counts[k]), len(artists[k]),
                       dict(collector.spellings.get(k, {}))) for k in ordered]


def _assemble(sources: Sequence[TrackSource], per_track: list[list[str]],
              groups: list[tuple[str, bool]], collector: _Collector, pooled_keys: set[str], *,
              other_key: str, multi_label: bool | None, notes: list[str]) -> Labelling:
    keys = sorted({k for ks in per_track for k in ks}, key=lambda k: collector.name(k).casefold())
    column = {key: i for i, key in enumerate(keys)}
    rows = [i for i, ks in enumerate(per_track) if ks]
    Y = np.zeros((len(rows), len(keys)), dtype=bool)
    primary = np.zeros(len(rows), dtype=np.int64)
    for row, i in enumerate(rows):
        Y[row, [column[key] for key in per_track[i]]] = True
        primary[row] = column[per_track[i][0]]
    several = int((Y.sum(axis=1) >= 2).sum())
    if multi_label is None:
        multi_label = several >= MULTI_MIN_TRACKS and several >= MULTI_SHARE * len(rows)
    if several and not multi_label:
        notes.append(f"{several} track(s) carry several genres: a single-label model learns "
                     "their first one")
    unknown = sum(not groups[i][1] for i in rows)
    if unknown:
        notes.append(f"{unknown} labelled track(s) have no artist tag: grouped by album, or "
                     "kept apart one by one, for evaluation")
    pooled = tuple(sorted(collector.name(k) for k in pooled_keys))
    row_groups = [groups[i][0] for i in rows]
    genres = [GenreCount(collector.name(key), int(Y[:, j].sum()),
                         len({row_groups[r] for r in np.flatnonzero(Y[:, j])}),
                         dict(collector.spellings.get(key, {})),
                         pooled if key == other_key else ())
              for j, key in enumerate(keys)]
    return Labelling(
        classes=[collector.name(k) for k in keys],
        content_hashes=[sources[i].content_hash for i in rows],
        paths=[sources[i].path for i in rows], Y=Y, primary=primary,
        groups=row_groups, genres=genres,
        task="multi-label" if multi_label else "single-label",
        min_tracks=0, rare_action="drop",
        sources={k: int(v) for k, v in collector.sources.items()},
        ignored=dict(collector.ignored), notes=notes,
    )
