"""The façade's jobs on the user's files: tag, organise, undo, and forgetting missing files."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from music_reclass.act.organise import DEFAULT_PATTERN, OrganiseSummary, organise_library
from music_reclass.act.selection import clean_label, display_genre, taxonomy_normaliser
from music_reclass.act.tagging import TagRunSummary, tag_library
from music_reclass.act.undo import UndoReport, undo_run
from music_reclass.library.core import LibraryBase
from music_reclass.store import files as store_files
from music_reclass.store import queries
from music_reclass.store.corrections import corrections_of_run, undo_corrections
from music_reclass.store.db import transaction
from music_reclass.store.journal import entries
from music_reclass.store.queries import FileQuery
from music_reclass.store.runs import get_run

__all__ = ["ActMixin", "PruneReport"]


@dataclass
class PruneReport:
    """Files the library forgot (they are no longer on disk)."""

    forgotten: list[str] = field(default_factory=list)
    dry_run: bool = False


class ActMixin(LibraryBase):
    """Jobs that change files (journalled, undoable) or the library's rows."""

    def _normaliser(self, model_id: str) -> Callable[[str], str | None]:
        """Genre names as written into tags and folder names.

        The embedded model's genres go through the taxonomy (``hip-hop`` -> ``Hip-Hop``);
        a trained model's classes are the user's own words and are only tidied.
        """
        if model_id.startswith("musicnn-zeroshot/"):
            return taxonomy_normaliser()
        return lambda name: display_genre(name) if name.islower() else (clean_label(name) or None)

    def tag(
        self,
        paths: Sequence[str | os.PathLike],
        *,
        model: str | None = None,
        min_confidence: float | None = None,
        top_k: int | None = 3,
        mode: str = "replace",
        dry_run: bool = False,
        echo: Callable[[str], None] | None = None,
        cancel: Callable[[], bool] | None = None,
        on_progress: Callable[[int, int], None] | None = None,
    ) -> TagRunSummary:
        """Write the genres of the active model (or ``model``) into the files' tags.

        Without ``min_confidence`` the model's decision is followed (its ``decided``
        genres; files where it abstained are skipped with the reason). Every write is
        journalled and verified; :meth:`undo` restores the files.

        Examples
        --------
        >>> lib.tag(["~/Music"], dry_run=True).changes[:1]   # doctest: +SKIP
        """
        model_id, _ = self.model_id_for(model)  # type: ignore[attr-defined]
        conn = self.connection() if dry_run else self.writable_connection()
        return tag_library(conn, paths, model_id=model_id, min_confidence=min_confidence,
                           top_k=top_k, mode=mode, dry_run=dry_run,
                           normalise=self._normaliser(model_id), echo=echo, cancel=cancel,
                           on_progress=on_progress)

    def organise(
        self,
        paths: Sequence[str | os.PathLike],
        *,
        into: str | os.PathLike,
        model: str | None = None,
        pattern: str = DEFAULT_PATTERN,
        copy: bool = True,
        dry_run: bool = False,
        min_confidence: float | None = None,
        on_collision: str = "suffix",
        group: str = "album",
        companions: bool = True,
        echo: Callable[[str], None] | None = None,
        cancel: Callable[[], bool] | None = None,
        on_progress: Callable[[int, int], None] | None = None,
    ) -> OrganiseSummary:
        """Copy (or move) the analysed files under ``paths`` into genre folders under ``into``.

        Albums stay together (their majority genre) and cover art, cue sheets and lyrics
        come along. Never overwrites: a taken name gets `` (1)`` (or the file is skipped).
        Every move or copy is journalled; :meth:`undo` puts everything back.
        """
        model_id, _ = self.model_id_for(model)  # type: ignore[attr-defined]
        conn = self.connection() if dry_run else self.writable_connection()
        return organise_library(conn, paths, into=into, model_id=model_id, pattern=pattern,
                                copy=copy, dry_run=dry_run, min_confidence=min_confidence,
                                on_collision=on_collision, group=group, companions=companions,
                                normalise=self._normaliser(model_id),
                                echo=echo, cancel=cancel, on_progress=on_progress)

    def undo(self, run_id: int | None = None, *, dry_run: bool = False) -> UndoReport:
        """Undo a tag or organise run (default: the latest), refusing files changed since;
        withdraw the corrections of a correct run; or restore the Plex genres and locks of
        a plex-push run (the token from the environment or the config file; see
        :meth:`plex_undo` to pass one)."""
        conn = self.connection() if dry_run else self.writable_connection()
        run = get_run(conn, run_id) if run_id is not None else None
        if run is not None and run.kind == "correct":
            return self._undo_correct_run(run.id, dry_run=dry_run)
        if run is not None and run.kind == "plex-push":
            return self.plex_undo(run.id, dry_run=dry_run)  # type: ignore[attr-defined]
        return undo_run(conn, run_id, dry_run=dry_run)  # the latest: plex-push ones included

    def _undo_correct_run(self, run_id: int, *, dry_run: bool) -> UndoReport:
        conn = self.connection()
        active = [c for c in corrections_of_run(conn, run_id) if c.state == "active"]
        report = UndoReport(run_id)
        report.undone = [f"{c.path or c.content_hash}: correction {', '.join(c.labels)} withdrawn"
                         for c in active]
        report.skipped = [f"{c.path or c.content_hash}: already withdrawn"
                          for c in corrections_of_run(conn, run_id) if c.state != "active"]
        if not dry_run and active:
            with transaction(conn):
                undo_corrections(conn, run_id)
        return report

    def prune(self, *, dry_run: bool = False, under: str | os.PathLike | None = None,
              ) -> PruneReport:
        """Forget the files recorded in the library that are no longer on disk."""
        conn = self.connection() if dry_run else self.writable_connection()
        query = FileQuery(model_id=None, status="missing",
                          under=None if under is None else os.path.realpath(under))
        gone = [view.path for view in queries.iter_files(conn, query)]
        if not dry_run and gone:
            with transaction(conn):
                for path in gone:
                    store_files.forget_file(conn, path)
                store_files.forget_orphans(conn)
        return PruneReport(gone, dry_run)

    def journal_of(self, run_id: int) -> list[Any]:
        """The journal rows of one run (what changed, and its state)."""
        return entries(self.connection(), run_id)
