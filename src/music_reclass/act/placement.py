"""Where ``reclass organise`` puts a file: the pattern, its fields, safe path components.

Fields of the pattern

=============  ==================================================================
``genre``      the model's decided genre, or its top genre with confidence >=
               ``--min-confidence``; when there is none, the file's first existing
               genre tag (so an already well-tagged file keeps its place); else
               "Unknown Genre"
``artist``     artist tag, else "Unknown Artist"
``album``      album tag, else "Unknown Album"
``title``      title tag, else the file name without extension
``filename``   the original file name (with extension)
``ext``        the extension without the dot, lower case
``year``       the first four characters of the date tag, else "0000"
=============  ==================================================================

Fields are written ``{genre}``: format specs and conversions (``{genre:>10}``,
``{genre!r}``) are refused as usage errors, as are unknown fields, absolute patterns
and ``..``. The last segment of the pattern names the file: when it has neither
``{filename}`` nor ``{ext}``, the original extension (``.mp3``...) is appended, so
``{genre}/{title}`` gives ``Rock/Song.mp3``, never an extension-less ``Rock/Song``.

Every field is sanitised into one safe path component: no ``/`` or ``\\``, no
control characters, none of ``<>:"|?*`` (Windows/SMB), no leading/trailing dots
or spaces (so never ``.`` or ``..``), Windows device names get a ``_``, and a
component is cut to 255 bytes of UTF-8 (keeping the extension). The joined
result must stay inside ``--into``, which must be a folder that can be written.
"""

from __future__ import annotations

import os
import re
import string
from pathlib import Path

from music_reclass.errors import ParameterError
from music_reclass.store.db import display_path

__all__ = ["DEFAULT_PATTERN", "FIELDS", "check_into", "check_pattern", "sanitize_component",
           "target_for"]

DEFAULT_PATTERN = "{genre}/{artist}/{album}/{filename}"
FIELDS = ("genre", "artist", "album", "title", "filename", "ext", "year")
_UNSAFE = re.compile(r'[\x00-\x1f\x7f<>:"/\\|?*]')
_WINDOWS_DEVICES = {"CON", "PRN", "AUX", "NUL"} | {
    f"{p}{i}" for p in ("COM", "LPT") for i in range(1, 10)
}
_MAX_COMPONENT_BYTES = 255


def _name_bytes(text: str) -> int:
    """Length on disk: UTF-8, undecodable bytes of a file name (surrogates) count once."""
    return len(os.fsencode(text))


def _truncate_utf8(text: str, limit: int) -> str:
    while _name_bytes(text) > limit:
        text = text[:-1]
    return text


def sanitize_component(value: str | None, *, fallback: str, keep_suffix: bool = False) -> str:
    """One safe path component from ``value`` (``fallback`` when nothing is left).

    Parameters
    ----------
    value : str or None
        A tag value or file name.
    fallback : str
        Used when ``value`` is empty or sanitises to nothing ("Unknown Artist").
    keep_suffix : bool
        Truncate before the extension (for file names).
    """
    text = _UNSAFE.sub("_", value or "")
    text = " ".join(text.split())  # collapse whitespace runs; no tabs/newlines
    text = text.strip(" .")
    if not text or set(text) <= {"_"}:
        text = fallback
    if text.split(".")[0].upper() in _WINDOWS_DEVICES:
        text = "_" + text
    if _name_bytes(text) > _MAX_COMPONENT_BYTES:
        suffix = Path(text).suffix if keep_suffix else ""
        if _name_bytes(suffix) > 32:
            suffix = ""
        stem = text[: len(text) - len(suffix)] if suffix else text
        text = (
            _truncate_utf8(stem, _MAX_COMPONENT_BYTES - _name_bytes(suffix)).rstrip(" .")
            + suffix
        )
    return text


def _names_file(segment: str) -> bool:
    """Does a pattern segment carry the file's extension (``{filename}`` or ``{ext}``)?"""
    names = {name for _, name, _, _ in string.Formatter().parse(segment) if name}
    return bool(names & {"filename", "ext"})


def check_pattern(pattern: str) -> None:
    """Refuse a pattern with unknown fields, format specs, absolute paths or ``..``."""
    try:
        parsed = list(string.Formatter().parse(pattern))
    except ValueError as exc:  # "{genre/{filename}": unbalanced braces
        raise ParameterError(f"bad --pattern {pattern!r}: {exc} (write fields as {{genre}}; "
                             "a literal brace as {{ or }})") from exc
    for _text, name, spec, conversion in parsed:
        if name is not None and (spec or conversion):
            field = "{" + name + (f"!{conversion}" if conversion else "") + (
                f":{spec}" if spec else "") + "}"
            raise ParameterError(f"bad --pattern field {field}: format specs and conversions "
                                 "are not supported (write fields as {genre})")
    names = [name for _, name, _, _ in parsed if name is not None]
    unknown = sorted(set(names) - set(FIELDS))
    if unknown:
        raise ParameterError(f"unknown pattern field(s) {unknown}; known: {list(FIELDS)}")
    if not names:
        raise ParameterError("pattern has no fields")
    literal = "".join(text for text, *_ in string.Formatter().parse(pattern))
    if pattern.startswith(("/", "\\")) or ".." in literal.replace("\\", "/").split("/"):
        raise ParameterError("pattern must be a relative path without '..'")


def check_into(into: str | os.PathLike) -> None:
    """Refuse a target folder that is a file, lies under a file, or cannot be written.

    Raises
    ------
    ParameterError
        With a one-line reason (before any run starts; a dry run says it too).
    """
    shown = display_path(into)
    path = Path(os.path.abspath(into))
    if path.exists() and not path.is_dir():
        raise ParameterError(f"--into {shown} is a file, not a folder")
    existing = path
    while not existing.exists():
        existing = existing.parent
    if not existing.is_dir():
        raise ParameterError(f"--into {shown}: {display_path(existing)} is a file, not a folder")
    if not os.access(existing, os.W_OK | os.X_OK):
        why = "read-only file system" if _read_only_fs(existing) else "no write permission"
        raise ParameterError(f"--into {shown}: cannot write into {display_path(existing)} ({why})")


def _read_only_fs(path: Path) -> bool:
    try:
        return bool(os.statvfs(path).f_flag & os.ST_RDONLY)
    except (OSError, AttributeError):
        return False


def target_for(path: Path, fields: dict, *, into: Path, pattern: str = DEFAULT_PATTERN) -> Path:
    """The target path of ``path`` (fields already chosen; sanitised here)."""
    fallbacks = {
        "genre": "Unknown Genre",
        "artist": "Unknown Artist",
        "album": "Unknown Album",
        "title": path.stem,
        "filename": path.name,
        "ext": path.suffix.lstrip(".").lower() or "audio",
        "year": "0000",
    }
    parts = []
    segments = [segment for segment in pattern.replace("\\", "/").split("/") if segment]
    for index, segment in enumerate(segments):
        if index == len(segments) - 1 and not _names_file(segment):
            # Keep the extension: players and taggers go by it. Doubled braces
            # escape it from format().
            segment += path.suffix.replace("{", "{{").replace("}", "}}")
        values = {
            key: sanitize_component(
                fields.get(key), fallback=fallbacks[key], keep_suffix=key == "filename"
            )
            for key in FIELDS
        }
        parts.append(sanitize_component(segment.format(**values), fallback="_", keep_suffix=True))
    target = into.joinpath(*parts)
    if into.resolve() not in target.resolve().parents:
        raise ParameterError(f"{target} would be outside {into}")
    return target
