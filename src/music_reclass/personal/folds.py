"""Cross-validation folds that keep an artist's tracks together.

Every track of one group (its artist; see :mod:`.labels`) lands in the same fold, so a
model is always evaluated on artists it never saw in training: accuracy measured with
the same artist on both sides of the split is inflated by the artist's sound, not the
genre's. Folds are also balanced by genre as far as the groups allow.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = ["MAX_FOLDS", "group_folds"]

MAX_FOLDS = 5
#: above this many groups, random assignment balances genres as well as the greedy one
_GREEDY_GROUPS = 2000


def group_folds(groups: Sequence[str], strata: np.ndarray, *, max_folds: int = MAX_FOLDS,
                seed: int = 0) -> np.ndarray | None:
    """The fold of every track (0..k-1), or None when there are fewer than two groups.

    Parameters
    ----------
    groups : sequence of str
        The group of each track (tracks of one group share a fold).
    strata : np.ndarray [shape=(n,)] of int
        Each track's class, balanced across folds as far as the groups allow.
    max_folds : int
        At most this many folds (fewer when there are fewer groups).
    seed : int
        Ties and the order of equal groups are drawn from this seed.
    """
    names, inverse = np.unique(np.asarray(groups, dtype=object).astype(str), return_inverse=True)
    n_groups = len(names)
    if n_groups < 2:
        return None
    k = min(max_folds, n_groups)
    rng = np.random.default_rng(seed)
    sizes = np.bincount(inverse, minlength=n_groups)
    order = rng.permutation(n_groups)
    order = order[np.argsort(-sizes[order], kind="stable")]  # largest groups first
    if n_groups > _GREEDY_GROUPS:
        fold_of_group = _balanced_sizes(order, sizes, k)
    else:
        fold_of_group = _stratified(order, inverse, np.asarray(strata, dtype=np.int64), k)
    return fold_of_group[inverse]


def _balanced_sizes(order: np.ndarray, sizes: np.ndarray, k: int) -> np.ndarray:
    """Each group (largest first) into the fold with the fewest tracks so far."""
    out = np.empty(len(sizes), dtype=np.int64)
    totals = np.zeros(k, dtype=np.int64)
    for group in order:
        fold = int(np.argmin(totals))
        out[group] = fold
        totals[fold] += sizes[group]
    return out


def _stratified(order: np.ndarray, inverse: np.ndarray, strata: np.ndarray, k: int
                ) -> np.ndarray:
    """Each group (largest first) into the fold where its genres are rarest so far."""
    n_classes = int(strata.max()) + 1 if strata.size else 1
    per_group = np.zeros((len(order), n_classes))
    np.add.at(per_group, (inverse, strata), 1.0)
    totals = np.maximum(per_group.sum(axis=0), 1.0)
    held = np.zeros((k, n_classes))
    sizes = np.zeros(k)
    out = np.empty(len(order), dtype=np.int64)
    for group in order:
        share = per_group[group] / totals
        # how much of these genres each fold would hold, then the smaller fold
        cost = (held + share) @ (per_group[group] > 0) + 1e-6 * sizes
        fold = int(np.argmin(cost))
        out[group] = fold
        held[fold] += share
        sizes[fold] += per_group[group].sum()
    return out
