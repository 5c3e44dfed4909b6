"""The façade's jobs for front ends that browse: pages of files, one track's story, its
audio, the review queue as a person works through it, charts, and the folders a remote
caller may act on.

The web server (``music_reclass.web``) calls only these and the other mixins' methods.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from music_reclass.act.tagio import genres_of_state
from music_reclass.audio.probe import sniff_format
from music_reclass.errors import ParameterError
from music_reclass.library.core import LibraryBase
from music_reclass.store import charts
from music_reclass.store.corrections import corrections_of_run
from music_reclass.store.db import display_path
from music_reclass.store.queries import FileQuery, FileView

__all__ = ["AudioSource", "ChangeView", "ChartData", "FilePage", "ServeMixin"]

#: browsers play these containers; the MIME type a <audio> element is given for each
MEDIA_TYPES = {
    "mp3": "audio/mpeg", "flac": "audio/flac", "wav": "audio/wav", "rf64": "audio/wav",
    "w64": "audio/wav", "aiff": "audio/aiff", "au": "audio/basic", "mp4": "audio/mp4",
    "aac": "audio/aac", "ogg": "audio/ogg", "opus": "audio/ogg", "ogg-flac": "audio/ogg",
    "speex": "audio/ogg", "matroska": "audio/webm", "asf": "audio/x-ms-wma",
    "wavpack": "audio/x-wavpack", "ape": "audio/x-ape", "caf": "audio/x-caf",
}


@dataclass(frozen=True)
class FilePage:
    """One page of a listing and how many files match in all."""

    total: int | None  # None: not counted (asked without the total)
    items: list[FileView]


@dataclass(frozen=True)
class AudioSource:
    """A library file's audio, ready to stream: where it is, its size and MIME type."""

    file_id: int
    path: Path
    size: int
    media_type: str


@dataclass(frozen=True)
class ChangeView:
    """One change a run made to a file, for people: genres before and after a tag write,
    the new place of a move or copy."""

    id: int
    action: str
    path: str
    new_path: str | None
    before: list[str] | None
    after: list[str] | None
    state: str
    error: str | None = None


@dataclass(frozen=True)
class ChartData:
    """What the charts page draws, for one model."""

    model_id: str | None
    model_name: str
    genres: list[tuple[str, int, float]]  # (top genre, files, mean confidence)
    confidence: list[dict[str, Any]]  # bins: lo, hi, decided, abstained
    tags_before: list[tuple[str, int]]  # genre tags in the files now
    decided_after: list[tuple[str, int]]  # what the model (or the owner) says per genre
    statuses: dict[str, int] = field(default_factory=dict)


class ServeMixin(LibraryBase):
    """Queries and guards for browsing front ends (the web UI, its REST API)."""

    # -- listings

    def file_page(self, query: FileQuery, *, with_total: bool = True) -> FilePage:
        """The files of ``query`` (its ``limit``/``offset`` page) and the total matching.

        Counting reads every match (seconds for a broad filter over 100,000 files),
        the page only what it shows: a front end can ask the page ``with_total=False``
        and the count separately, to show the page at once.
        """
        if query.model_id is None:
            query = replace(query, model_id=self.model_id_for()[0])  # type: ignore[attr-defined]
        total = (self.count_files(replace(query, limit=None, offset=0))  # type: ignore[attr-defined]
                 if with_total else None)
        return FilePage(total, list(self.iter_files(query)))  # type: ignore[attr-defined]

    def review_page(self, *, limit: int = 50, offset: int = 0,
                    min_confidence: float | None = None, model: str | None = None) -> FilePage:
        """The tracks still waiting for the owner: the model abstained and nobody has
        corrected or accepted them yet; least confident first."""
        model_id, _ = self.model_id_for(model)  # type: ignore[attr-defined]
        return self.file_page(FileQuery(
            model_id=model_id, status="review", corrected=False, sort="confidence",
            min_confidence=min_confidence, limit=limit, offset=offset))

    def accept_above(self, threshold: float, *, model: str | None = None,
                     source: str = "user") -> Any:
        """Accept every track waiting for review whose top confidence is at least
        ``threshold`` (one undoable run); returns the :class:`CorrectionReport`."""
        if not 0.0 <= threshold <= 1.0:
            raise ParameterError(f"the threshold must be between 0 and 1, not {threshold}")
        model_id, _ = self.model_id_for(model)  # type: ignore[attr-defined]
        query = FileQuery(model_id=model_id, status="review", corrected=False,
                          min_confidence=threshold)
        ids = [view.id for view in self.iter_files(query, check_missing=False)]  # type: ignore[attr-defined]
        if not ids:
            raise ParameterError(f"no track waiting for review is at least {threshold:.2f} "
                                 "confident")
        return self.accept(ids, source=source, model=model)  # type: ignore[attr-defined]

    # -- one file

    def file_story(self, file_id: int) -> dict[str, Any] | None:
        """Everything about one file by id: its listing view (genres, the "why" tags,
        the owner's correction), what is stored (``details``) and the history of its
        corrections; None when the library has no such file."""
        view = self.file_by_id(file_id)  # type: ignore[attr-defined]
        if view is None:
            return None
        details = self.file(view.path) or {}  # type: ignore[attr-defined]
        history = []
        if view.content_hash:
            history = charts.correction_history(self.connection(), view.content_hash)
        for entry in details.get("journal", []):
            entry["after"] = _genres(entry.get("after"))
        return {"view": view, "details": details, "corrections": history}

    def audio_source(self, file_id: int) -> AudioSource | None:
        """The audio of a library file (by id only: never a path from a caller).

        None when the id is unknown, the file is gone, or it is not a regular file.
        """
        view = self.file_by_id(file_id)  # type: ignore[attr-defined]
        if view is None or view.status != "ok":
            return None
        path = Path(view.path)
        try:
            if not path.is_file():
                return None
            size = path.stat().st_size
            kind = sniff_format(path)
        except OSError:
            return None
        return AudioSource(view.id, path, size,
                           MEDIA_TYPES.get(kind or "", "application/octet-stream"))

    # -- charts

    def charts(self, *, model: str | None = None) -> ChartData:
        """Genre distribution, confidence histogram and genres before (the files' tags)
        and after (the model's decisions, the owner's corrections first)."""
        stats = self.stats(model=model)  # type: ignore[attr-defined]
        conn = self.connection()
        histogram = ([] if stats.model_id is None
                     else charts.confidence_histogram(conn, stats.model_id))
        return ChartData(stats.model_id, stats.model_name, stats.genres, histogram,
                         charts.tag_genre_counts(conn),
                         [] if stats.model_id is None
                         else charts.decided_genre_counts(conn, stats.model_id),
                         dict(stats.files))

    def run_changes(self, run_id: int) -> list[Any]:
        """What a run changed: its journal rows, or the corrections of a correct run."""
        run = self.run(run_id)  # type: ignore[attr-defined]
        if run is not None and run.kind == "correct":
            return corrections_of_run(self.connection(), run_id)
        return [ChangeView(e.id, e.action, e.path, e.new_path, _genres(e.before),
                           _genres(e.after), e.state, e.error)
                for e in self.journal_of(run_id)]  # type: ignore[attr-defined]

    # -- where remote jobs may act

    def library_roots(self) -> list[str]:
        """The files and folders the library's classify runs were given (that still
        exist), outermost only: what a remote caller may classify, tag or organise."""
        seen: list[str] = []
        for run in self.runs(kinds=("classify",)):  # type: ignore[attr-defined]
            for given in run.params.get("paths", []) or []:
                if isinstance(given, str) and os.path.exists(given):
                    seen.append(os.path.realpath(given))
        roots: list[str] = []
        for path in sorted(set(seen), key=len):
            if not any(_inside(path, root) for root in roots):
                roots.append(path)
        return sorted(roots)

    def job_paths(self, paths: Sequence[str] | None) -> list[str]:
        """``paths`` checked to lie under :meth:`library_roots` (default: all of them).

        Raises
        ------
        ParameterError
            A path outside the library's folders, or no folder classified yet.
        """
        roots = self.library_roots()
        if not roots:
            raise ParameterError("the library has no folder yet: classify one with "
                                 "`reclass classify FOLDER` first")
        if not paths:
            return roots
        out = []
        for given in paths:
            if not isinstance(given, str) or not given or "\x00" in given:
                raise ParameterError("a path must be a non-empty string")
            real = os.path.realpath(os.path.join(roots[0], given))
            if not any(_inside(real, root) for root in roots):
                raise ParameterError(f"{display_path(given)} is not under a folder of this "
                                     "library")
            if not os.path.exists(real):
                raise ParameterError(f"no such file or folder: {display_path(given)}")
            out.append(real)
        return out

    def job_target(self, into: str) -> str:
        """An organise target folder, checked to lie under a library folder."""
        roots = self.library_roots()
        if not isinstance(into, str) or not into.strip() or "\x00" in into:
            raise ParameterError("name the folder to organise into")
        real = os.path.realpath(os.path.join(roots[0] if roots else "/", into))
        if not any(_inside(real, root) and real != root for root in roots):
            raise ParameterError(f"{display_path(into)} is not inside a folder of this library")
        return real

    # -- progress for act jobs

    def tag_job(self, paths: Sequence[str], *, on_progress: Callable[[int, int], None],
                cancel: Callable[[], bool], **options: Any) -> Any:
        """:meth:`tag` with progress: ``on_progress(done, total)`` per file."""
        return self.tag(paths, cancel=cancel, on_progress=on_progress,  # type: ignore[attr-defined]
                        **options)

    def organise_job(self, paths: Sequence[str], *, on_progress: Callable[[int, int], None],
                     cancel: Callable[[], bool], **options: Any) -> Any:
        """:meth:`organise` with progress: ``on_progress(done, total)`` per file."""
        return self.organise(paths, cancel=cancel, on_progress=on_progress,  # type: ignore[attr-defined]
                             **options)


def _genres(value: Any) -> list[str] | None:
    """The genres a journal ``before``/``after`` value records (None: not a tag state)."""
    if not isinstance(value, dict):
        return None
    if isinstance(value.get("genres"), list):
        return [str(g) for g in value["genres"]]
    state = value.get("state", value)
    if not isinstance(state, dict) or "scheme" not in state:
        return None
    try:
        return genres_of_state(state)
    except Exception:  # noqa: BLE001 - an odd old state is shown as unknown, never an error
        return None


def _inside(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip("/") + "/")
