"""Chart data shaped for drawing: bars scaled to the largest value (the SVG in
``templates/charts.html`` only places them)."""

from __future__ import annotations

from typing import Any

__all__ = ["before_after", "bars", "histogram"]


def bars(pairs: list[tuple[str, int]], limit: int = 25) -> list[dict[str, Any]]:
    """``[(label, n)]`` as bars with ``share`` in [0, 1] of the largest; top ``limit``."""
    top = pairs[:limit]
    peak = max((n for _, n in top), default=0) or 1
    return [{"label": label, "n": n, "share": n / peak} for label, n in top]


def histogram(bins: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Confidence bins with the decided and abstained shares of the tallest bin."""
    peak = max((b["decided"] + b["abstained"] for b in bins), default=0) or 1
    return [{**b, "decided_share": b["decided"] / peak, "abstained_share": b["abstained"] / peak}
            for b in bins]


def before_after(before: list[tuple[str, int]], after: list[tuple[str, int]],
                 limit: int = 20) -> list[dict[str, Any]]:
    """Genres in the files' tags now against what the library would write, side by side.

    Names that differ only in case, spaces, hyphens or underscores are one genre.
    """
    rows: dict[str, dict[str, Any]] = {}
    for side, pairs in (("before", before), ("after", after)):
        for label, n in pairs:
            key = "".join(ch for ch in label.casefold() if ch not in " -_")
            row = rows.setdefault(key, {"label": label, "before": 0, "after": 0})
            row[side] += n
    ordered = sorted(rows.values(), key=lambda r: (-(r["before"] + r["after"]), r["label"]))
    top = ordered[:limit]
    peak = max((max(r["before"], r["after"]) for r in top), default=0) or 1
    return [{**r, "before_share": r["before"] / peak, "after_share": r["after"] / peak}
            for r in top]
