"""Writing genre tags, and putting an exact before-state back.

Every write goes through :func:`music_reclass.act.safe_write.modify_file` (copy, modify
the copy, verify tags + audio digest + decoding, atomic replace): the original is never
half-written. ID3v2.3 keeps its version (values joined with ``"; "``), a new ID3 tag is
v2.4; WAV/AIFF tags go where :mod:`music_reclass.act.iff` says it is safe.
"""

from __future__ import annotations

import base64
import functools
import os
from collections.abc import Callable, Sequence
from pathlib import Path

import mutagen
from mutagen.id3 import ID3, TCON, ID3NoHeaderError

from music_reclass.act import safe_write
from music_reclass.act.iff import IFF_FORMATS, iff_layout, trailer_set_aside
from music_reclass.act.tagio import (
    ID3V23_SEPARATOR,
    TagChange,
    genre_state,
    genres_of_state,
    id3v1_raw,
    merge_genres,
    open_tags,
    other_metadata,
    writable_id3_version,
)
from music_reclass.errors import TagError
from music_reclass.store.db import display_path

__all__ = ["plan_genres", "restore_genre_state", "restore_genres_only", "write_genres"]


def _mutagen_errors_as_tag_errors(write):
    """Decorator: a mutagen failure while writing becomes a :class:`TagError` for that file."""

    @functools.wraps(write)
    def wrapped(path: Path, *args, **kwargs):
        try:
            return write(path, *args, **kwargs)
        except mutagen.MutagenError as exc:
            raise TagError(f"{display_path(path)}: cannot write tags ({exc})") from exc

    return wrapped


@_mutagen_errors_as_tag_errors
def _set_genres_in_place(path: Path, genres: list[str]) -> None:
    """Write ``genres`` into ``path`` directly (only ever called on a temp copy)."""
    audio, scheme, fmt = open_tags(path)
    if scheme == "id3":
        if fmt == "mp3":
            try:
                tags = ID3(str(path))
                version = writable_id3_version(tags.version[1]) if tags.version[0] == 2 else 4
            except ID3NoHeaderError:
                tags, version = ID3(), 4
            tags.delall("TCON")
            if genres:
                tags.add(TCON(encoding=3, text=list(genres)))
            # v1=1: an existing ID3v1 tag is updated to match, none is created.
            tags.save(str(path), v1=1, v2_version=version, v23_sep=ID3V23_SEPARATOR)
            return
        if audio.tags is None:
            audio.add_tags()
            version = 4
        else:
            version = writable_id3_version(audio.tags.version[1])
        audio.tags.delall("TCON")
        if genres:
            audio.tags.add(TCON(encoding=3, text=list(genres)))
        with trailer_set_aside(path, fmt):
            audio.save(v2_version=version, v23_sep=ID3V23_SEPARATOR)
        return
    if scheme == "vorbis":
        if audio.tags is None:
            audio.add_tags()
        kept = [(k, v) for k, v in audio.tags if k.lower() != "genre"]
        audio.tags.clear()
        audio.tags.extend(kept + [("GENRE", g) for g in genres])
        audio.save()
        return
    if audio.tags is None:
        audio.add_tags()
    audio.tags.pop("gnre", None)
    if genres:
        audio.tags["\xa9gen"] = list(genres)
    else:
        audio.tags.pop("\xa9gen", None)
    audio.save()


@_mutagen_errors_as_tag_errors
def _restore_in_place(path: Path, state: dict) -> None:
    """Write a :func:`genre_state` back into ``path`` (only ever a temp copy)."""
    audio, scheme, fmt = open_tags(path)
    if scheme != state["scheme"]:
        raise TagError(f"{path}: tag scheme is {scheme}, the journal recorded {state['scheme']}")
    if scheme == "id3":
        v2 = state["v2"]
        if fmt == "mp3":
            if v2 is None:
                mutagen.id3.delete(str(path), delete_v1=False, delete_v2=True)
            else:
                try:
                    tags = ID3(str(path))
                except ID3NoHeaderError:
                    tags = ID3()
                _restore_tcon(tags, v2)
                tags.save(str(path), v1=1, v2_version=writable_id3_version(v2["version"]),
                          v23_sep=ID3V23_SEPARATOR)
            _restore_id3v1(path, state["v1"])
            return
        if audio.tags is None and v2 is not None:
            audio.add_tags()
        if v2 is not None:
            _restore_tcon(audio.tags, v2)
        with trailer_set_aside(path, fmt):
            if v2 is None:
                audio.delete()
            else:
                audio.save(v2_version=writable_id3_version(v2["version"]),
                           v23_sep=ID3V23_SEPARATOR)
        return
    if scheme == "vorbis":
        if not state["present"] and fmt == "flac":
            audio.delete()
            return
        if audio.tags is None:
            audio.add_tags()
        audio.tags.clear()
        audio.tags.extend([(k, v) for k, v in state["comments"]])
        audio.save()
        return
    if not state["present"]:
        audio.delete()
        return
    if audio.tags is None:
        audio.add_tags()
    audio.tags.pop("gnre", None)
    if state["gen"] is None:
        audio.tags.pop("\xa9gen", None)
    else:
        audio.tags["\xa9gen"] = list(state["gen"])
    audio.save()


def _restore_tcon(tags: ID3, v2: dict) -> None:
    tags.delall("TCON")
    if v2["tcon"] is not None:
        tags.add(TCON(encoding=v2["tcon"]["encoding"], text=list(v2["tcon"]["text"])))


def _restore_id3v1(path: Path, raw_b64: str | None) -> None:
    current = id3v1_raw(path)
    if raw_b64 == current:
        return
    raw = base64.b64decode(raw_b64) if raw_b64 else b""
    with path.open("r+b") as fh:
        fh.seek(0, os.SEEK_END)
        end = fh.tell()
        if current is not None:
            end -= 128
            fh.truncate(end)
        fh.seek(end)
        fh.write(raw)


def plan_genres(
    path: str | os.PathLike, genres: Sequence[str], *, mode: str = "replace"
) -> tuple[dict, list[str], list[str]]:
    """``(before_state, before_genres, after_genres)`` for a write; writes nothing."""
    before = genre_state(path)
    current = genres_of_state(before)
    return before, current, merge_genres(current, genres, mode=mode)


def write_genres(
    path: str | os.PathLike,
    genres: Sequence[str],
    *,
    mode: str = "replace",
    dry_run: bool = False,
    expected_before: dict | None = None,
    prepare: Callable[[Path], None] | None = None,
) -> TagChange:
    """Write genre tags to ``path`` safely (copy, modify, verify, atomic replace).

    Parameters
    ----------
    path : str or path-like
        The audio file.
    genres : sequence of str
        Genre names, best first.
    mode : {"replace", "append", "fill"}
        See :func:`merge_genres`.
    dry_run : bool
        Compute the change without writing.
    expected_before : dict, optional
        The :func:`genre_state` the caller planned (and journalled) the change
        from. When the file's tags differ from it now, nothing is written.
    prepare : callable, optional
        Called with the finished, verified copy just before it replaces the file (see
        :func:`~music_reclass.act.safe_write.modify_file`).

    Returns
    -------
    TagChange
        ``before``/``after`` states; ``after == before`` when nothing changed
        (and then nothing was written).

    Raises
    ------
    TagError
        Unsupported format, unreadable tags, a WAV/AIFF chunk layout that
        cannot take a tag safely (the message says why; see the module notes),
        or the verification failed, or the tags are not ``expected_before``.
        The original file is then untouched.
    """
    path = Path(path)
    before, current, wanted = plan_genres(path, genres, mode=mode)
    if expected_before is not None and before != expected_before:
        raise TagError(f"{display_path(path)}: tags changed since planning; not written")
    if wanted == current:
        return TagChange(path, before, before, current, current)
    if before["format"] in IFF_FORMATS:
        iff_layout(path, before["format"])  # refuse an unsafe layout before copying
    if dry_run:
        return TagChange(path, before, {"planned": wanted}, current, wanted)

    def verify(tmp: Path) -> None:
        got = genres_of_state(genre_state(tmp))
        if got != wanted:
            raise TagError(f"{path}: wrote genres {wanted!r} but read back {got!r}")

    def modify(tmp: Path) -> None:
        # The copy is what replaces the original (modify_file refuses if the original
        # changes after the copy): check the state the change was planned from on it.
        if expected_before is not None and genre_state(tmp) != expected_before:
            raise TagError(f"{display_path(path)}: tags changed since planning; not written")
        _set_genres_in_place(tmp, wanted)

    safe_write.modify_file(path, modify, verify=verify, prepare=prepare)
    after = genre_state(path)
    return TagChange(path, before, after, current, genres_of_state(after))


def restore_genre_state(path: str | os.PathLike, state: dict, *,
                        prepare: Callable[[Path], None] | None = None) -> None:
    """Put ``state`` (from :func:`genre_state`) back into ``path`` exactly.

    Raises
    ------
    TagError
        The restored file's state would not compare equal to ``state`` (the
        original is then untouched).
    """
    path = Path(path)

    def verify(tmp: Path) -> None:
        got = genre_state(tmp)
        if _comparable(got) != _comparable(state):
            raise TagError(f"{path}: restored tags differ from the journal ({got!r} != {state!r})")

    safe_write.modify_file(path, lambda tmp: _restore_in_place(tmp, state), verify=verify,
                           prepare=prepare)


def _comparable(state: dict) -> dict:
    """A state with an ID3v2.2 version read as 2.3 (the version a write gives it)."""
    v2 = state.get("v2") if state.get("scheme") == "id3" else None
    if v2 and v2.get("version", 4) < 3:
        return {**state, "v2": {**v2, "version": 3}}
    return state


def restore_genres_only(path: str | os.PathLike, before: dict, *,
                        prepare: Callable[[Path], None] | None = None) -> None:
    """Put back the genres of ``before`` (a :func:`genre_state`) and nothing else.

    Every other tag value of the file as it is now (a title edited, cover art added
    since the genre write) is kept: verified on the copy before it replaces the file.

    Raises
    ------
    TagError
        The genres could not be restored alone (the original is then untouched).
    """
    path = Path(path)
    kept = other_metadata(path)
    wanted = genres_of_state(before)

    def verify(tmp: Path) -> None:
        if genres_of_state(genre_state(tmp)) != wanted:
            raise TagError(f"{display_path(path)}: restored genres differ from the journal")
        if other_metadata(tmp) != kept:
            raise TagError(f"{display_path(path)}: restoring the genre alone would change "
                           "other tags; not restored")

    safe_write.modify_file(path, lambda tmp: _restore_genres_in_place(tmp, before),
                           verify=verify, prepare=prepare)


@_mutagen_errors_as_tag_errors
def _restore_genres_in_place(path: Path, before: dict) -> None:
    """The genre fields of ``before`` into ``path`` (a temp copy); the rest as it is."""
    audio, scheme, fmt = open_tags(path)
    if scheme != before["scheme"]:
        raise TagError(f"{path}: tag scheme is {scheme}, the journal recorded {before['scheme']}")
    if scheme == "id3":
        tcon = (before.get("v2") or {}).get("tcon")
        tags = audio.tags
        if fmt == "mp3":
            try:
                tags = ID3(str(path))
            except ID3NoHeaderError:
                tags = None
        if tags is not None:
            tags.delall("TCON")
            if tcon is not None:
                tags.add(TCON(encoding=tcon["encoding"], text=list(tcon["text"])))
            version = writable_id3_version(tags.version[1])
            if fmt == "mp3":
                v1_now = id3v1_raw(path)
                # v1=0 drops the ID3v1 tag: it is put back as it is now, but its genre byte
                tags.save(str(path), v1=0, v2_version=version, v23_sep=ID3V23_SEPARATOR)
                _put_id3v1(path, v1_now, before.get("v1"))
            else:
                with trailer_set_aside(path, fmt):
                    audio.save(v2_version=version, v23_sep=ID3V23_SEPARATOR)
        return
    if scheme == "vorbis":
        if audio.tags is None:
            audio.add_tags()
        current = list(audio.tags)
        first = next((i for i, (k, _) in enumerate(current) if k.lower() == "genre"),
                     len(current))
        old = [(k, v) for k, v in before["comments"] if k.lower() == "genre"]
        kept = [(k, v) for k, v in current if k.lower() != "genre"]
        at = sum(1 for k, _ in current[:first] if k.lower() != "genre")
        audio.tags.clear()
        audio.tags.extend(kept[:at] + old + kept[at:])
        audio.save()
        return
    if audio.tags is None:
        audio.add_tags()
    audio.tags.pop("gnre", None)
    if before.get("gen") is None:
        audio.tags.pop("\xa9gen", None)
    else:
        audio.tags["\xa9gen"] = list(before["gen"])
    audio.save()


def _put_id3v1(path: Path, now_b64: str | None, before_b64: str | None) -> None:
    """Append the ID3v1 tag ``now_b64`` (the file's, as it was) with the genre byte of
    ``before_b64`` (the journalled one) when both exist: everything else in it is the
    owner's."""
    if now_b64 is None:
        return
    raw = bytearray(base64.b64decode(now_b64))
    if before_b64:
        raw[127] = base64.b64decode(before_b64)[127]
    with path.open("ab") as fh:
        fh.write(bytes(raw))

