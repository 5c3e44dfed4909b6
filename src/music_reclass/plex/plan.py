"""What a push wants each Plex item's genres to be, and what would change.

Levels
    ``track``: each matched track gets its file's decided genres (Plex Media
    Server 1.40 or later keeps genres per track). ``album`` / ``artist``: the
    roll-up for older servers (or by choice): each album (artist) gets the
    genre that the majority of its matched tracks have as their first decided
    genre; every genre with at least ``min_share`` of the votes is kept, so with
    the default 0.5 a tie of two halves keeps both and a split with no majority
    changes nothing (and says so).

Modes
    ``replace``: the item's genres become the wanted ones. ``merge``: the
    wanted ones are added to those Plex has. A genre Plex already has under
    another spelling ("Hip Hop" for "Hip-Hop", "rock" for "Rock": compared with
    :func:`~music_reclass.taxonomy.normalise.genre_key`) is kept as Plex spells
    it, so a push never churns an item over case or punctuation.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from music_reclass.errors import ParameterError
from music_reclass.plex.items import ItemState
from music_reclass.plex.matching import Match
from music_reclass.taxonomy.normalise import genre_key

MODES = ("replace", "merge")
LEVELS = ("track", "album", "artist")
MIN_SHARE = 0.5

__all__ = [
    "LEVELS",
    "MODES",
    "GenreChange",
    "Target",
    "check_choice",
    "format_genres",
    "plan_changes",
    "same_genres",
    "targets_for",
    "target_genres",
]


def check_choice(name: str, value: str, allowed: Sequence[str]) -> str:
    if value not in allowed:
        raise ParameterError(f"{name} must be one of {', '.join(allowed)}, got {value!r}")
    return value


def _key(name: str) -> str:
    return genre_key(name) or name.casefold()


def format_genres(genres: Iterable[str]) -> str:
    shown = "; ".join(genres)
    return repr(shown) if shown else "(none)"


def same_genres(a: Iterable[str], b: Iterable[str]) -> bool:
    """Do two genre lists hold the same genres (order, case and spelling variants aside)?"""
    return {_key(g) for g in a} == {_key(g) for g in b}


@dataclass(frozen=True)
class Target:
    """What a push wants one Plex item's genres to be."""

    rating_key: int
    level: str
    title: str
    wanted: tuple[str, ...]
    paths: tuple[str, ...]  # the library files behind it


@dataclass(frozen=True)
class GenreChange:
    """One Plex item whose genres a push changes (``after`` is locked by the push)."""

    rating_key: int
    level: str
    title: str
    before: tuple[str, ...]
    before_locked: bool
    after: tuple[str, ...]
    added: tuple[str, ...]
    removed: tuple[str, ...]
    paths: tuple[str, ...]

    def describe(self) -> str:
        lock = "" if self.before_locked else ", field locked"
        return (
            f"{self.title}: GENRE {format_genres(self.before)} -> {format_genres(self.after)}{lock}"
        )


def target_genres(
    current: Sequence[str], wanted: Sequence[str], mode: str
) -> tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]:
    """``(after, added, removed)`` for an item with ``current`` genres.

    Examples
    --------
    >>> target_genres(["Pop", "rock"], ["Rock", "Jazz"], "replace")
    (('rock', 'Jazz'), ('Jazz',), ('Pop',))
    >>> target_genres(["Pop"], ["Rock"], "merge")
    (('Pop', 'Rock'), ('Rock',), ())
    """
    check_choice("mode", mode, MODES)
    have = {}
    for name in current:
        have.setdefault(_key(name), name)
    base = list(current) if mode == "merge" else []
    after: dict[str, str] = {_key(name): name for name in base}
    for name in wanted:
        after.setdefault(_key(name), have.get(_key(name), name))
    added = tuple(name for key, name in after.items() if key not in have)
    removed = tuple(name for key, name in have.items() if key not in after)
    return tuple(after.values()), added, removed


def _track_targets(matches: Sequence[Match]) -> tuple[list[Target], list[str]]:
    targets, skipped = [], []
    for match in matches:
        title = match.plex.display()
        if not match.library.decided:
            why = match.library.undecided or "no genre decided"
            skipped.append(f"{title}: {why} ({match.library.path})")
            continue
        targets.append(
            Target(
                match.plex.rating_key, "track", title, match.library.decided, (match.library.path,)
            )
        )
    return targets, skipped


def _rollup_targets(
    matches: Sequence[Match], level: str, min_share: float
) -> tuple[list[Target], list[str]]:
    groups: dict[int, list[Match]] = defaultdict(list)
    for match in matches:
        key = match.plex.album_key if level == "album" else match.plex.artist_key
        if key is not None:
            groups[key].append(match)
    targets, skipped = [], []
    for key, members in groups.items():
        first = members[0].plex
        title = (
            f"{first.album_artist or '?'} - {first.album or '?'} (album)"
            if level == "album"
            else f"{first.album_artist or '?'} (artist)"
        )
        spellings: dict[str, str] = {}
        votes: Counter[str] = Counter()
        for match in members:
            if match.library.decided:
                best = match.library.decided[0]
                spellings.setdefault(_key(best), best)
                votes[_key(best)] += 1
        total = sum(votes.values())
        if not total:
            skipped.append(f"{title}: no genre decided for any of its {len(members)} track(s)")
            continue
        ranked = sorted(votes.items(), key=lambda kv: (-kv[1], spellings[kv[0]]))
        wanted = tuple(spellings[k] for k, n in ranked if n / total >= min_share)
        if not wanted:
            shares = ", ".join(f"{spellings[k]} {n}/{total}" for k, n in ranked[:4])
            skipped.append(f"{title}: no genre has a majority ({shares})")
            continue
        paths = tuple(sorted(m.library.path for m in members))
        targets.append(Target(key, level, title, wanted, paths))
    return targets, skipped


def targets_for(
    matches: Sequence[Match], *, level: str = "track", min_share: float = MIN_SHARE
) -> tuple[list[Target], list[str]]:
    """The items a push at ``level`` edits and the genres it wants for them.

    Returns
    -------
    targets : list of Target
    skipped : list of str
        One line per track/album/artist left alone, with why.
    """
    check_choice("level", level, LEVELS)
    if not 0.0 < min_share <= 1.0:
        raise ParameterError(f"min_share must be in (0, 1], got {min_share}")
    if level == "track":
        return _track_targets(matches)
    return _rollup_targets(matches, level, min_share)


def plan_changes(
    targets: Sequence[Target],
    states: Mapping[int, ItemState],
    *,
    mode: str = "replace",
    skip_locked: bool = False,
) -> tuple[list[GenreChange], list[Target], list[str]]:
    """Compare the wanted genres with Plex's.

    Parameters
    ----------
    targets : sequence of Target
    states : mapping of rating key to ItemState
        Plex's genres and locks now.
    mode : {"replace", "merge"}
    skip_locked : bool
        Leave alone the items whose genre field is locked (edited by hand in
        Plex, or by an earlier push).

    Returns
    -------
    changes : list of GenreChange
        The items whose genres would change.
    unchanged : list of Target
        Already right (their lock is left as it is).
    left : list of str
        Items left alone, with why: gone from the server, or locked with ``skip_locked``.
    """
    changes, unchanged, missing = [], [], []
    for target in targets:
        state = states.get(target.rating_key)
        if state is None:
            missing.append(f"{target.title}: no longer in Plex (rating key {target.rating_key})")
            continue
        if skip_locked and state.locked:
            missing.append(f"{target.title}: genre field locked in Plex (--skip-locked)")
            continue
        after, added, removed = target_genres(state.genres, target.wanted, mode)
        if not added and not removed:
            unchanged.append(target)
            continue
        changes.append(
            GenreChange(
                rating_key=target.rating_key,
                level=target.level,
                title=target.title,
                before=state.genres,
                before_locked=state.locked,
                after=after,
                added=added,
                removed=removed,
                paths=target.paths,
            )
        )
    return changes, unchanged, missing
