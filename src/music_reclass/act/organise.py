"""Organising files into genre folders: move or copy, journalled, never overwriting.

Where each file goes (the pattern, its fields, sanitising) is in
:mod:`~music_reclass.act.placement`. Only audio files found under the given paths
(symlinked folders followed, like classify) that a classify run analysed are organised;
a file that is itself a symbolic link is not moved (that would break or orphan the
link): it is reported as skipped.

Albums are kept together and cover art, cue sheets and lyrics come along
(:mod:`~music_reclass.act.companions`). Moves and copies go through :func:`music_reclass.act.safe_write.move_file`
(never overwrite; collisions get `` (1)``... or are skipped) and are journalled
like tag writes; ``files.path`` follows a moved file, a copy gets its own row. A copy
whose exact bytes are already at the target (or one of its `` (n)`` names) is
"already in place": ``organise --copy`` run twice copies nothing the second time.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from music_reclass.act import journal, safe_write
from music_reclass.act.companions import GROUPS, keep_albums_together, plan_companions
from music_reclass.act.each_file import act_on_each, close_act_run
from music_reclass.act.outcome import FileOutcome, failure
from music_reclass.act.payload import audio_digest, file_sha256
from music_reclass.act.placement import (
    DEFAULT_PATTERN,
    FIELDS,
    check_into,
    check_pattern,
    sanitize_component,
    target_for,
)
from music_reclass.act.selection import (
    AnalysedFile,
    analysed_files,
    choose_genres,
    require_analysed,
    taxonomy_normaliser,
)
from music_reclass.act.settle import (
    JournalStopped,
    repair_interrupted,
    settle_entry,
)
from music_reclass.audio.tags import read_tags
from music_reclass.errors import DatabaseError, ParameterError, ReclassError
from music_reclass.store.analyses import find_analysis
from music_reclass.store.corrections import correction_for
from music_reclass.store.db import display_path, transaction
from music_reclass.store.files import record_moved
from music_reclass.store.journal import retarget, set_done

__all__ = ["DEFAULT_PATTERN", "FIELDS", "OrganiseSummary", "Placement", "check_into",
           "check_pattern", "choose_fields", "copied_before", "organise_library",
           "sanitize_component", "target_for"]

@dataclass(frozen=True)
class Placement:
    """Where one file goes."""

    source: Path
    target: Path
    fields: dict


@dataclass
class OrganiseSummary:
    """What ``reclass organise`` did (or would do, with ``dry_run``).

    ``placed`` holds every file moved or copied, including the ``unrecorded`` ones
    (placed, but the journal could not record it; the next command settles them and
    undo covers them). ``error`` is the database error that stopped the run early.
    """

    run_id: int | None
    placed: list[tuple[Path, Path]] = field(default_factory=list)
    companions: list[tuple[Path, Path]] = field(default_factory=list)
    unchanged: list[Path] = field(default_factory=list)
    skipped: list[FileOutcome] = field(default_factory=list)
    failed: list[FileOutcome] = field(default_factory=list)
    unrecorded: list[FileOutcome] = field(default_factory=list)
    settled: list[str] = field(default_factory=list)
    error: str | None = None
    status: str = "done"  # done | failed | cancelled

    @property
    def ok(self) -> bool:
        return not self.failed and not self.unrecorded and self.error is None

    def counts(self) -> dict[str, int]:
        return {"placed": len(self.placed), "companions": len(self.companions),
                "unchanged": len(self.unchanged),
                "skipped": len(self.skipped), "failed": len(self.failed),
                "unrecorded": len(self.unrecorded)}


def choose_fields(
    conn: sqlite3.Connection,
    row: AnalysedFile,
    *,
    model_id: str,
    min_confidence: float | None,
    normalise: Callable[[str], str | None],
) -> dict:
    """The pattern fields of one analysed file (see the module docstring)."""
    path = row.path
    tags = read_tags(path)
    corrected = correction_for(conn, row.content_hash)
    predicted, _why_not = choose_genres(find_analysis(conn, row.content_hash, model_id),
                                        correction=corrected.labels if corrected else None,
                                        min_confidence=min_confidence, top_k=1,
                                        normalise=normalise)
    if predicted:
        genre = predicted[0][0]
    elif tags.genres:  # the existing tag, named like predictions are ("Hip Hop" -> "Hip-Hop")
        genre = normalise(tags.genres[0]) or tags.genres[0]
    else:
        genre = None
    return {
        "genre": genre,
        "artist": tags.artist,
        "album": tags.album,
        "title": tags.title,
        "filename": path.name,
        "ext": path.suffix.lstrip(".").lower(),
        "year": tags.year,
    }


def organise_library(
    conn: sqlite3.Connection,
    paths: Sequence[str | os.PathLike],
    *,
    into: str | os.PathLike,
    model_id: str,
    pattern: str = DEFAULT_PATTERN,
    copy: bool = True,
    dry_run: bool = False,
    min_confidence: float | None = None,
    on_collision: str = "suffix",
    group: str = "album",
    companions: bool = True,
    normalise: Callable[[str], str | None] | None = None,
    echo: Callable[[str], None] | None = None,
    cancel: Callable[[], bool] | None = None,
    on_progress: Callable[[int, int], None] | None = None,
) -> OrganiseSummary:
    """Move (or copy) the analysed files under ``paths`` into ``into`` by ``pattern``.

    Parameters
    ----------
    conn : sqlite3.Connection
        The library database.
    paths : sequence of path-like
        Files or folders; only files a classify run analysed are considered.
    into : path-like
        The target root (created).
    model_id : str
        The model whose genres name the folders (the library's active model).
    pattern : str
        Relative target path with fields (see the module docstring); the
        original extension is appended when the last segment has neither
        ``{filename}`` nor ``{ext}``.
    copy : bool
        Copy (default: the originals stay where they are) or move.
    dry_run : bool
        Return (and echo) the placements; change nothing.
    min_confidence : float, optional
        None (default): ``{genre}`` is the model's decided genre; a number: its top
        genre when at least that confident. Otherwise the existing genre tag is used.
    on_collision : {"suffix", "skip"}
        A taken target name gets " (1)", " (2)"... or the file is skipped.
        Existing files are never replaced.
    group : {"album", "track"}
        ``album``: the tracks of an album share its majority genre (one folder per
        album); ``track``: each track its own genre.
    companions : bool
        Bring cover art, cue sheets, lyrics and notes along (see
        :mod:`~music_reclass.act.companions`).
    on_progress : callable, optional
        ``on_progress(done, total)`` after each file (``total``: the analysed files).
    cancel : callable, optional
        Checked before each file; True stops the run (status ``cancelled``).

    Raises
    ------
    ParameterError
        A bad pattern or option, or a path that does not exist.
    NothingAnalysedError
        No file under ``paths`` was analysed (no run is started, nothing created).
    """
    check_pattern(pattern)
    check_into(into)
    if group not in GROUPS:
        raise ParameterError(f"--group must be one of {', '.join(GROUPS)}, not {group!r}")
    if on_collision not in safe_write.COLLISION_POLICIES:
        raise ParameterError(f"on_collision must be one of {safe_write.COLLISION_POLICIES}")
    into = Path(into).resolve()  # the DB stores resolved absolute paths
    echo = echo or (lambda line: None)
    normalise = normalise or taxonomy_normaliser()
    summary = OrganiseSummary(run_id=None)
    if not dry_run:
        summary.settled = repair_interrupted(conn)
        for message in summary.settled:
            echo(f"settled: {message}")
    rows = analysed_files(conn, paths)  # after repair: it may have moved rows
    require_analysed(rows, paths)
    if not dry_run:
        into.mkdir(parents=True, exist_ok=True)
        summary.run_id = journal.start_act_run(conn, "organise", {
            "paths": [display_path(p) for p in paths], "into": display_path(into),
            "pattern": pattern, "copy": copy, "min_confidence": min_confidence,
            "model_id": model_id, "group": group,
        })
        safe_write.cleanup_stale_temps({r.path.parent for r in rows})
    taken: set[Path] = set()  # targets chosen in this run (for dry runs and clashes)
    unrecorded: dict[int, FileOutcome] = {}
    fields = _all_fields(conn, summary, rows, echo, model_id=model_id,
                         min_confidence=min_confidence, normalise=normalise)
    if group == "album":
        keep_albums_together(fields)
    act_on_each(rows, summary, lambda row: _organise_one(
        conn, summary, row, fields.get(row.path), into=into, pattern=pattern, copy=copy,
        dry_run=dry_run, on_collision=on_collision, taken=taken, echo=echo,
        unrecorded=unrecorded), echo=echo, cancel=cancel, on_progress=on_progress)
    if companions and summary.status != "cancelled" and summary.error is None:
        _bring_companions(conn, summary, into=into, copy=copy, dry_run=dry_run, taken=taken,
                          echo=echo, unrecorded=unrecorded)
    close_act_run(conn, summary, unrecorded, "organise")
    return summary


def _all_fields(conn: sqlite3.Connection, summary: OrganiseSummary,
                rows: Sequence[AnalysedFile], echo: Callable[[str], None],
                **how: object) -> dict[Path, dict]:
    """The pattern fields of every file still there; a file whose fields fail is a failure."""
    fields: dict[Path, dict] = {}
    for row in rows:
        if not row.path.is_file():
            continue
        try:
            fields[row.path] = choose_fields(conn, row, **how)  # type: ignore[arg-type]
        except Exception as exc:  # noqa: BLE001 - one odd file must not abort the run
            outcome = failure(row.path, exc)
            summary.failed.append(outcome)
            echo(f"failed: {outcome}")
    return fields


def _organise_one(conn: sqlite3.Connection, summary: OrganiseSummary, row: AnalysedFile,
                  fields: dict | None, *, into: Path, pattern: str, copy: bool, dry_run: bool,
                  on_collision: str, taken: set[Path], echo: Callable[[str], None],
                  unrecorded: dict[int, FileOutcome]) -> None:
    src = row.path
    shown = display_path(src)
    if row.given.is_symlink():  # moving the link's target would orphan the link
        summary.skipped.append(FileOutcome(str(row.given), "symlink",
                                           f"symbolic link (not moved; organise {shown})"))
        return
    if fields is None:
        if not src.is_file():
            summary.skipped.append(FileOutcome(str(src), "missing", "missing"))
        return  # its fields failed: already reported
    wanted = target_for(src, fields, into=into, pattern=pattern)
    if wanted == src or (wanted.exists() and src.exists() and wanted.samefile(src)):
        summary.unchanged.append(src)
        return
    if copy and (done := copied_before(src, wanted)) is not None:
        # the same bytes already copied there (an earlier `organise --copy`): never again
        # as "x (1).ext"
        summary.unchanged.append(src)
        echo(f"{shown}: already in place as {display_path(done)}")
        return
    target = _free(wanted, taken, on_collision=on_collision)
    if target is None:
        summary.skipped.append(FileOutcome(str(src), "target-exists",
                                           f"{display_path(wanted)} exists (skipped)"))
        return
    taken.add(target)
    if not dry_run:
        target = _place(conn, summary, src, target, copy=copy, into=into,
                        unrecorded=unrecorded)
    else:
        summary.placed.append((src, target))
    echo(f"{shown} -> {display_path(target)}")


def copied_before(src: Path, wanted: Path, *, limit: int = 1000) -> Path | None:
    """``wanted`` or the first of its `` (n)`` names holding exactly the bytes of ``src``
    (a copy made by an earlier run, or by hand), else None."""
    size, sha = src.stat().st_size, None
    for n in range(limit):
        candidate = wanted if n == 0 else safe_write.with_suffix_number(wanted, n)
        if not os.path.lexists(candidate):
            return None
        if candidate.is_file() and not candidate.is_symlink() \
                and candidate.stat().st_size == size:
            sha = sha or file_sha256(src)
            if file_sha256(candidate) == sha:
                return candidate
    return None


def _free(wanted: Path, taken: set[Path], *, on_collision: str) -> Path | None:
    candidate = wanted
    n = 0
    while True:
        candidate = safe_write.free_target(candidate, on_collision=on_collision)
        if candidate is None or candidate not in taken:
            return candidate
        if on_collision == "skip":
            return None
        n += 1
        candidate = safe_write.with_suffix_number(wanted, n)


def _bring_companions(conn: sqlite3.Connection, summary: OrganiseSummary, *, into: Path,
                      copy: bool, dry_run: bool, taken: set[Path],
                      echo: Callable[[str], None], unrecorded: dict[int, FileOutcome]) -> None:
    """Place the companions of the folders whose tracks were placed (journalled too)."""
    for move in plan_companions(summary.placed, copy=copy):
        shown = display_path(move.source)
        try:
            if (done := copied_before(move.source, move.target)) is not None:
                echo(f"{shown}: already in place as {display_path(done)}")
                continue
            target = _free(move.target, taken, on_collision="suffix")
            taken.add(target)
            if not dry_run:
                target = _place(conn, summary, move.source, target, copy=move.copy, into=into,
                                unrecorded=unrecorded, audio=False)
            summary.companions.append((move.source, target))
            echo(f"{shown} -> {display_path(target)} ({'copy' if move.copy else 'move'})")
        except JournalStopped as stop:
            summary.error = str(stop)
            return
        except Exception as exc:  # noqa: BLE001 - a companion never stops the run
            outcome = failure(move.source, exc)
            summary.failed.append(outcome)
            echo(f"failed: {outcome}")


def _place(conn: sqlite3.Connection, summary: OrganiseSummary, src: Path, target: Path, *,
           copy: bool, into: Path, unrecorded: dict[int, FileOutcome],
           audio: bool = True) -> Path:
    """Move or copy ``src`` to ``target`` (journalled); returns where it went.

    ``audio`` False: a companion file (no audio digest; not in ``summary.placed``).
    """
    placed = summary.placed if audio else []
    same_device = safe_write.same_device(src, into)
    sha = file_sha256(src)
    entry = journal.plan(
        conn,
        summary.run_id,
        action="copy" if copy else "move",
        path=src,
        new_path=target,
        after={
            "method": "link" if same_device and not copy else "copy",
            "sha256": sha,
            "root": str(into),
        },
        digest=audio_digest(src) if audio else None,
    )
    try:
        target = _move_retargeting(conn, entry, src, target, copy=copy)
    except BaseException as exc:
        # the file may be half-moved: settle from what is on disk (completes a move
        # whose target is in place, so a file is never stranded)
        settled = settle_entry(conn, entry, "organise", reason=f"{type(exc).__name__}: {exc}")
        if settled.verdict not in ("unrecorded", "done") or not isinstance(exc, Exception):
            raise
        if settled.verdict == "done" or settled.changed:
            placed.append((src, target))
        if settled.verdict == "unrecorded":
            unrecorded[entry] = FileOutcome(str(src), "unrecorded", settled.message)
            raise JournalStopped(str(exc)) from exc
        return target
    try:
        with transaction(conn):
            record_moved(conn, src, target, copy=copy, run_id=summary.run_id)
            set_done(conn, entry)
    except DatabaseError as exc:
        placed.append((src, target))
        unrecorded[entry] = FileOutcome(str(src), exc.code,
                                        f"{'copied' if copy else 'moved'} to "
                                        f"{display_path(target)}, but the journal could not "
                                        "record it")
        raise JournalStopped(str(exc)) from exc
    safe_write.fault_point("done")
    placed.append((src, target))
    return target


def _move_retargeting(conn: sqlite3.Connection, entry: int, src: Path, target: Path, *,
                      copy: bool) -> Path:
    """:func:`safe_write.move_file`; a target name taken meanwhile gets the next free one."""
    for _attempt in range(3):
        try:
            safe_write.move_file(src, target, copy=copy)
            return target
        except FileExistsError:
            # Someone took the name between our check and the link: pick the next
            # free one and re-journal (the planned row names the target).
            target = _free(target, {target}, on_collision="suffix")
            retarget(conn, entry, target)
    raise ReclassError(f"{display_path(src)}: could not find a free target name")
