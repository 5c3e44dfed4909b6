"""The façade's read side: files, one file, runs, statistics, models; forgetting files."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from music_reclass.errors import ParameterError
from music_reclass.library.core import LibraryBase
from music_reclass.library.models import ACTIVE_KEY, ModelSpec, active_spec, load_spec, parse_spec
from music_reclass.store import models as store_models
from music_reclass.store import queries
from music_reclass.store import runs as store_runs
from music_reclass.store.queries import FileQuery, FileView
from music_reclass.store.runs import RunRow

__all__ = ["LibraryStats", "ModelInfo", "QueryMixin"]


@dataclass(frozen=True)
class ModelInfo:
    """A model the library has used."""

    model_id: str
    name: str
    kind: str
    source: str | None
    analyses: int
    active: bool
    classes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class LibraryStats:
    """Per-genre counts and file counts of the library, for one model."""

    model_id: str | None
    model_name: str
    files: dict[str, int]
    genres: list[tuple[str, int, float]]  # (genre, files, mean confidence)


class QueryMixin(LibraryBase):
    """Queries: they never create a database (a mistyped path is an error)."""

    # -- which model a view shows

    def model_id_for(self, model: str | os.PathLike | None = None,
                     taxonomy: str | None = None) -> tuple[str, str]:
        """``(model_id, short name)`` of the model a view shows (default: the active one).

        A model the library knows is named without loading it; a new one is loaded
        once to learn its id.
        """
        conn = self.connection()
        spec = parse_spec(conn, model, taxonomy) or active_spec(conn)
        for row in store_models.list_models(conn):
            if row.name == spec.name and _same(row, spec):
                return row.model_id, row.name
        factory = getattr(self, "classifier_factory", None)
        return str(load_spec(spec, factory=factory).model_id), spec.name

    def has_chosen_model(self) -> bool:
        """Whether a model was made this library's active one (``use_model``, ``learn``);
        False for a new library, whose jobs fall back to the configured defaults."""
        if not self.exists:
            return False
        return bool(store_models.get_setting(self.connection(), ACTIVE_KEY))

    def models(self) -> list[ModelInfo]:
        """Every model the library has used, newest first, the active one marked."""
        conn = self.connection()
        active = active_spec(conn)
        return [
            ModelInfo(row.model_id, row.name, row.kind, row.source, row.analyses,
                      _same(row, active), list(row.info.get("classes", [])))
            for row in store_models.list_models(conn)
        ]

    def use_model(self, model: str | os.PathLike | None = None,
                  taxonomy: str | None = None) -> ModelSpec:
        """Make a model the library's active one (what list, tag and organise show)."""
        conn = self.writable_connection()
        spec = parse_spec(conn, model, taxonomy)
        if spec is None:
            raise ParameterError("name the model to use (e.g. default, gtzan, a model file)")
        store_models.set_setting(conn, ACTIVE_KEY, spec.as_setting())
        return spec

    # -- files

    def iter_files(self, query: FileQuery | None = None, *,
                   check_missing: bool = True) -> Iterator[FileView]:
        """Stream the files matching ``query`` (bounded memory at any library size).

        ``query.model_id`` defaults to the active model's.
        """
        query = query or FileQuery()
        if query.model_id is None:
            query = FileQuery(**{**query.__dict__, "model_id": self.model_id_for()[0]})
        if query.under is not None:
            query = FileQuery(**{**query.__dict__, "under": os.path.realpath(query.under)})
        yield from queries.iter_files(self.connection(), query, check_missing=check_missing)

    def files(self, query: FileQuery | None = None, **filters: Any) -> list[FileView]:
        """The files matching ``query`` (or the same fields as keywords), as a list.

        Examples
        --------
        >>> lib.files(genre="jazz", status="ok")[:2]     # doctest: +SKIP
        """
        if filters:
            query = FileQuery(**{**(query or FileQuery()).__dict__, **filters})
        return list(self.iter_files(query))

    def count_files(self, query: FileQuery | None = None) -> int:
        query = query or FileQuery()
        if query.model_id is None:
            query = FileQuery(**{**query.__dict__, "model_id": self.model_id_for()[0]})
        return queries.count_files(self.connection(), query)

    def file(self, path: str | os.PathLike) -> dict[str, Any] | None:
        """Everything stored about one file, or None when the library does not know it."""
        conn = self.connection()
        details = queries.file_details(conn, str(Path(path).resolve()))
        if details is None:  # a vanished file, recorded under its path as given then
            details = queries.file_details(conn, str(Path(path).absolute()))
        return details

    def file_by_id(self, file_id: int) -> FileView | None:
        found = list(self.iter_files(FileQuery(file_ids=(int(file_id),))))
        return found[0] if found else None

    # -- runs and statistics

    def runs(self, *, limit: int | None = None, kinds: tuple[str, ...] | None = None,
             ) -> list[RunRow]:
        """Run history, newest first, each with the counts it reported."""
        return store_runs.list_runs(self.connection(), limit=limit, kinds=kinds)

    def run(self, run_id: int) -> RunRow | None:
        return store_runs.get_run(self.connection(), run_id)

    def stats(self, *, model: str | None = None, under: str | os.PathLike | None = None,
              ) -> LibraryStats:
        """Files by status and by top genre of a model (default: the active one)."""
        model_id, name = self.model_id_for(model)
        conn = self.connection()
        under_path = None if under is None else os.path.realpath(under)
        return LibraryStats(model_id, name, queries.status_counts(conn, model_id),
                            queries.genre_counts(conn, model_id, under=under_path))


def _same(row: store_models.ModelRow, spec: ModelSpec) -> bool:
    if spec.file is not None:
        return row.source == spec.file
    return row.kind == spec.kind and (row.source or "default") == spec.taxonomy
