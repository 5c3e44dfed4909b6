"""Which files an act run works on, and which genres it writes for each.

Both ``tag`` and ``organise`` act on the audio files under the given paths that a
classify run analysed, and both take the genres of ONE model (the library's active
model): its decision by default, or every genre above a confidence threshold.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from music_reclass.audio.discover import iter_candidates
from music_reclass.errors import NothingAnalysedError, ParameterError
from music_reclass.store.analyses import AnalysisRow
from music_reclass.store.db import display_path
from music_reclass.store.files import lookup_file

__all__ = ["AnalysedFile", "analysed_files", "choose_genres", "clean_label", "display_genre",
           "require_analysed", "taxonomy_normaliser"]


def clean_label(label: str) -> str:
    return " ".join(str(label).replace("\x00", " ").split())


def display_genre(canonical: str) -> str:
    """How a canonical genre key is written into tags: ``"hip-hop"`` -> ``"Hip-Hop"``.

    The taxonomy's keys are lower case; players show tag text as is, so each
    word is capitalised (``"soul/r&b"`` -> ``"Soul/R&B"``).
    """
    return clean_label(canonical).title().replace("'S", "'s").replace("'N'", "'n'")


def taxonomy_normaliser() -> Callable[[str], str | None]:
    """``taxonomy.normalise_genre`` then :func:`display_genre`; None drops a label."""
    from music_reclass.taxonomy import normalise_genre

    def normalise(name: str) -> str | None:
        canonical = normalise_genre(clean_label(name))
        return display_genre(canonical) if canonical else None

    return normalise


def choose_genres(
    analysis: AnalysisRow | None,
    *,
    min_confidence: float | None,
    top_k: int | None = None,
    normalise: Callable[[str], str | None] | None = None,
    correction: Sequence[str] | None = None,
) -> tuple[list[tuple[str, float]], str | None]:
    """The genres to write for one analysis, best first, or ``([], why not)``.

    The owner's word wins: with a ``correction`` (the genres they gave the track, or
    accepted), those are written, in their own words (tidied, never renamed), whatever
    the model says. Otherwise, with ``min_confidence`` None the model's decision is
    followed: its ``decided`` genres, or nothing when it abstained (the reason is
    returned); with a number, every genre at least that confident. Names go through
    ``normalise`` (None drops a label); duplicates after normalisation keep their best
    confidence.
    """
    if correction:
        owned = [(name, 1.0) for name in dict.fromkeys(filter(None, map(clean_label, correction)))]
        return (owned[:top_k] if top_k else owned), None
    if analysis is None or analysis.status != "ok":
        return [], "not analysed by this model"
    confidence = {item["label"]: float(item.get("confidence", 0.0)) for item in analysis.genres}
    if min_confidence is None:
        if analysis.decided is None:
            return [], f"abstained: {analysis.abstain_reason or 'not confident enough'}"
        candidates = [(label, confidence.get(label, 0.0)) for label in analysis.decided]
    else:
        candidates = [(g, c) for g, c in confidence.items() if c >= min_confidence]
        if not candidates:
            return [], f"no genre with confidence >= {min_confidence}"
    out: list[tuple[str, float]] = []
    for label, conf in candidates:
        name = (normalise or clean_label)(label)
        if name and name.casefold() not in {n.casefold() for n, _ in out}:
            out.append((name, conf))
    out.sort(key=lambda pair: -pair[1])
    if not out:
        return [], "no genre name left after normalisation"
    return (out[:top_k] if top_k else out), None


@dataclass(frozen=True)
class AnalysedFile:
    """A file to act on: found by walking the given paths, known to the library."""

    given: Path  # as reached under the given paths (may be, or lie under, a symlink)
    path: Path  # resolved: the ``files.path`` key (classify stores resolved paths)
    content_hash: str
    size: int | None


def analysed_files(conn: sqlite3.Connection, paths: Sequence[str | os.PathLike]) -> list[AnalysedFile]:
    """The analysed audio files under ``paths`` (walked like classify walks them).

    Every audio file found under ``paths`` (symlinked files and folders
    followed) is resolved and looked up in ``files`` (status ok); files never
    analysed are left out. A file reached twice is listed once.

    Raises
    ------
    ParameterError
        A path does not exist.
    """
    for given in paths:
        if not os.path.exists(given):
            raise ParameterError(f"no such file or folder: {display_path(given)}")
    found: dict[Path, AnalysedFile] = {}
    for candidate in iter_candidates(list(paths)):
        if candidate.kind != "audio":
            continue
        resolved = Path(os.path.realpath(candidate.path))
        if resolved in found:
            # Reached both through a symlinked file and as itself: keep the file itself
            # (organise does not move a file reached only through a link to it).
            if found[resolved].given.is_symlink() and not candidate.path.is_symlink():
                found[resolved] = replace(found[resolved], given=candidate.path)
            continue
        row = lookup_file(conn, resolved)
        if row is not None and row.status == "ok" and row.content_hash is not None:
            found[resolved] = AnalysedFile(candidate.path, resolved, row.content_hash, row.size)
    return list(found.values())


def require_analysed(found: Sequence[AnalysedFile], paths: Sequence[str | os.PathLike]) -> None:
    """Raise :class:`NothingAnalysedError` when ``found`` is empty (before any run starts)."""
    if found:
        return
    shown = " ".join(display_path(p) for p in paths)
    if not any(c.kind == "audio" for c in iter_candidates(list(paths))):
        raise NothingAnalysedError(f"no audio files under {shown}", audio_found=False)
    raise NothingAnalysedError(
        f"nothing analysed under {shown}: run `reclass classify {shown}` first"
    )
