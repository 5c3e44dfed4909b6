"""The façade's review jobs: the queue of tracks the model abstained on, and corrections.

A correction is the owner's word on a track's genres, in their own vocabulary. Each call
of :meth:`ReviewMixin.correct` or :meth:`ReviewMixin.accept` is one run (kind
``correct``) that ``undo`` withdraws; corrections are training labels for ``learn`` and
what ``tag`` writes for those tracks.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from music_reclass.errors import ParameterError
from music_reclass.library.core import LibraryBase
from music_reclass.store import corrections as store_corrections
from music_reclass.store.analyses import find_analysis
from music_reclass.store.db import display_path, transaction
from music_reclass.store.files import lookup_file
from music_reclass.store.queries import FileQuery, FileView
from music_reclass.store.runs import finish_run, start_run

__all__ = ["CorrectionReport", "ReviewMixin"]

#: the most labels one correction holds (a track is rarely more than a few genres)
MAX_LABELS = 8
MAX_LABEL_CHARS = 100


@dataclass
class CorrectionReport:
    """What a correct/accept run recorded."""

    run_id: int | None
    corrected: list[tuple[str, list[str]]] = field(default_factory=list)  # (path, labels)
    refused: list[tuple[str, str]] = field(default_factory=list)  # (path, why)

    @property
    def ok(self) -> bool:
        return not self.refused


def clean_labels(labels: Sequence[str]) -> list[str]:
    """Genre names as the owner typed them, tidied: spaces collapsed, duplicates dropped.

    Raises
    ------
    ParameterError
        No label, too many, a label too long or with control characters.
    """
    out: list[str] = []
    for label in labels:
        text = " ".join(str(label).split())
        if not text:
            continue
        if any(ord(c) < 32 or ord(c) == 127 for c in text):
            raise ParameterError(f"genre {label!r} holds control characters")
        if len(text) > MAX_LABEL_CHARS:
            raise ParameterError(f"genre names are at most {MAX_LABEL_CHARS} characters")
        if text.casefold() not in {o.casefold() for o in out}:
            out.append(text)
    if not out:
        raise ParameterError("give at least one genre")
    if len(out) > MAX_LABELS:
        raise ParameterError(f"at most {MAX_LABELS} genres per track")
    return out


class ReviewMixin(LibraryBase):
    """Review queue and corrections."""

    def review_queue(self, *, model: str | None = None, limit: int | None = None,
                     offset: int = 0) -> Iterator[FileView]:
        """Tracks the model abstained on (with its reason) that nobody has corrected or
        accepted yet, least confident first."""
        model_id, _ = self.model_id_for(model)  # type: ignore[attr-defined]
        query = FileQuery(model_id=model_id, status="review", corrected=False,
                          sort="confidence", limit=limit, offset=offset)
        yield from self.iter_files(query)  # type: ignore[attr-defined]

    def correct(self, items: Sequence[str | os.PathLike | int], genres: Sequence[str], *,
                source: str = "user", model: str | None = None) -> CorrectionReport:
        """Record the owner's genres for some files (paths or file ids); one undoable run."""
        labels = clean_labels(genres)
        return self._record(items, lambda view: labels, source=source, model=model,
                            kind="correct")

    def correct_each(self, labelled: Sequence[tuple[str | os.PathLike, Sequence[str]]], *,
                     source: str = "user", model: str | None = None) -> CorrectionReport:
        """Record each file's own genres (e.g. imported from Plex); one undoable run.

        A file whose genres are unusable (too many, control characters) is refused
        with the reason; the others are recorded.
        """
        wanted: dict[str, list[str]] = {}
        refused: list[tuple[str, str]] = []
        for item, genres in labelled:
            try:
                wanted[os.fspath(item)] = clean_labels(genres)
            except ParameterError as exc:
                refused.append((display_path(os.fspath(item)), str(exc)))
        if not wanted:
            if not refused:
                raise ParameterError("name at least one file")
            return CorrectionReport(None, refused=refused)
        by_path = {str(Path(item).resolve()): labels for item, labels in wanted.items()}
        report = self._record(list(wanted), lambda view: by_path.get(view.path) or wanted.get(
            view.path), source=source, model=model, kind="import")
        report.refused[:0] = refused
        return report

    def accept(self, items: Sequence[str | os.PathLike | int], *, source: str = "user",
               model: str | None = None) -> CorrectionReport:
        """Confirm the model's genres for some files: its decision, else its top genre."""

        def accepted(view: FileView) -> list[str] | None:
            if view.decided:
                return list(view.decided)
            return [view.top_genre] if view.top_genre else None

        return self._record(items, accepted, source=source, model=model, kind="accept")

    def corrections(self) -> list[store_corrections.Correction]:
        """Every track's current correction, oldest first."""
        return list(store_corrections.active_corrections(self.connection()))

    def undo_corrections(self, run_id: int) -> int:
        """Withdraw the corrections of a correct run; how many were withdrawn."""
        conn = self.writable_connection()
        with transaction(conn):
            count = store_corrections.undo_corrections(conn, run_id)
        return count

    # -- internals

    def _record(self, items: Sequence[str | os.PathLike | int], labels_of: Any, *, source: str,
                model: str | None, kind: str) -> CorrectionReport:
        if not items:
            raise ParameterError("name at least one file")
        conn = self.writable_connection()
        model_id, _ = self.model_id_for(model)  # type: ignore[attr-defined]
        views = [self._view(item, model_id) for item in items]
        report = CorrectionReport(run_id=start_run(conn, "correct", {
            "kind": kind, "source": source, "model_id": model_id, "files": len(items)}))
        status = "failed"
        try:
            self._add_all(conn, report, items, views, labels_of, source=source,
                          model_id=model_id)
            status = "done" if report.ok else "failed"
        finally:
            finish_run(conn, report.run_id, status,
                       {"corrected": len(report.corrected), "refused": len(report.refused)})
        return report

    def _add_all(self, conn: Any, report: CorrectionReport,
                 items: Sequence[str | os.PathLike | int], views: list[FileView | None],
                 labels_of: Any, *, source: str, model_id: str) -> None:
        for item, view in zip(items, views, strict=True):
            shown = display_path(str(item))
            if view is None or view.content_hash is None:
                report.refused.append((shown, "not in the library (classify it first)"))
                continue
            labels = labels_of(view)
            if not labels:
                report.refused.append((shown, "the model has no genre to accept"))
                continue
            analysis = find_analysis(conn, view.content_hash, model_id)
            replaced = {"genres": analysis.genres[:3] if analysis else [],
                        "decided": analysis.decided if analysis else None,
                        "tags_in_file": view.genre_tags}
            with transaction(conn):
                store_corrections.add_correction(
                    conn, view.content_hash, labels, path=view.path, source=source,
                    replaced=replaced, model_id=model_id, run_id=report.run_id)
            report.corrected.append((view.path, labels))

    def _view(self, item: str | os.PathLike | int, model_id: str) -> FileView | None:
        if isinstance(item, int):
            return self.file_by_id(item)  # type: ignore[attr-defined]
        conn = self.connection()
        path = str(Path(item).resolve())
        row = lookup_file(conn, path) or lookup_file(conn, str(Path(item).absolute()))
        if row is None:
            return None
        found = list(self.iter_files(FileQuery(model_id=model_id, under=row.path,  # type: ignore[attr-defined]
                                               limit=1)))
        return found[0] if found else None
