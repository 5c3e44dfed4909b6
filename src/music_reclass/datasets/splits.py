"""Split helpers: stratified assignment of whole groups (artists) to train/valid/test.

Used by :meth:`music_reclass.datasets.Dataset.split`; independent of the Track type so
that other layers can reuse it on plain label/group lists.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence

import numpy as np

from music_reclass.errors import ParameterError

__all__ = ["check_sizes", "grouped_stratified_assignment"]


def check_sizes(test_size: float, valid_size: float) -> None:
    """Raise ParameterError unless 0 < test_size, 0 <= valid_size and their sum < 1."""
    for name, value in (("test_size", test_size), ("valid_size", valid_size)):
        if not 0.0 <= value < 1.0:
            raise ParameterError(f"{name} must be in [0, 1), got {value!r}")
    if test_size <= 0.0:
        raise ParameterError("test_size must be > 0")
    if test_size + valid_size >= 1.0:
        raise ParameterError(f"test_size + valid_size must be < 1, got {test_size + valid_size}")


def grouped_stratified_assignment(
    labels: Sequence[str],
    groups: Sequence[str],
    *,
    fractions: Mapping[str, float],
    seed: int = 0,
) -> list[str]:
    """Assign whole groups to named parts so that each part gets its share of each label.

    Greedy: groups are visited largest first (ties in seeded random order) and each
    goes to the part that most lacks the group's labels relative to its targets.
    With one item per group this is a plain stratified split.

    Parameters
    ----------
    labels, groups : sequences of str, same length
    fractions : mapping part name -> fraction (sum 1; zero-fraction parts get nothing)
    seed : int

    Returns
    -------
    list of str
        The part of each item.
    """
    rng = np.random.default_rng(seed)
    parts = [p for p, f in fractions.items() if f > 0]
    members: dict[str, list[int]] = defaultdict(list)
    for i, g in enumerate(groups):
        members[g].append(i)
    label_totals = Counter(labels)
    target = {p: {c: fractions[p] * n for c, n in label_totals.items()} for p in parts}
    size_target = {p: fractions[p] * len(labels) for p in parts}
    current = {p: Counter() for p in parts}
    size = dict.fromkeys(parts, 0)

    keys = list(members)
    order = rng.permutation(len(keys))
    keys = sorted((keys[i] for i in order), key=lambda g: -len(members[g]))
    assignment = [""] * len(labels)
    for g in keys:
        counts = Counter(labels[i] for i in members[g])

        def need(p: str, counts: Counter = counts) -> tuple[float, float]:
            # relative shortfall of this group's labels in part p, then of its size
            by_label = sum(n * (target[p][c] - current[p][c]) / target[p][c] for c, n in counts.items())
            by_size = (size_target[p] - size[p]) / size_target[p]
            return by_label, by_size

        best = max(parts, key=need)
        for i in members[g]:
            assignment[i] = best
        current[best].update(counts)
        size[best] += len(members[g])
    return assignment
