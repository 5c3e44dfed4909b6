"""Walk files and folders and sort what is found into audio, ignored and errors.

:func:`iter_candidates` yields one :class:`Candidate` per file, depth first, entries of
each folder in sorted (byte-wise) order, so two runs over the same tree agree.

- ``"audio"``: the content is audio (:func:`~music_reclass.audio.probe.sniff_format`),
  whatever the extension (a FLAC named ``.mp3``, an MP3 with no extension);
- ``"ignored"``: what normally sits in a music folder (covers, playlists, cue sheets,
  logs, hidden files such as ``.DS_Store`` or AppleDouble ``._song.mp3``,
  ``Thumbs.db``) and unknown files whose content is not audio; counted, not reported;
- ``"error"``: a file that claims to be audio (audio extension) but is not
  (``not audio: looks like a PNG image``), is empty, cannot be read, a broken
  symlink, a symlink loop or a folder cycle, or a special file (fifo, socket,
  device). A fifo is never opened (opening one for reading blocks).

Nothing raises: every problem becomes an ``"error"`` candidate with a one-line reason.
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from music_reclass.audio.probe import confirm_frame_stream, describe_content, sniff_format

__all__ = ["Candidate", "count_files", "error_code_of", "iter_candidates", "special_file_kind",
           "AUDIO_EXTENSIONS",
           "IGNORED_EXTENSIONS", "IGNORED_NAMES"]

#: Extensions that claim audio: a non-audio file with one of these is an error.
AUDIO_EXTENSIONS = frozenset({
    ".mp3", ".flac", ".ogg", ".oga", ".opus", ".wav", ".wave", ".aif", ".aiff", ".aifc",
    ".m4a", ".m4b", ".mp4", ".aac", ".au", ".snd", ".wma", ".wv", ".ape", ".mka", ".caf",
    ".rf64", ".w64", ".spx",
})
#: Extensions of the companions of music files: ignored without being opened.
IGNORED_EXTENSIONS = frozenset({
    # images
    ".jpg", ".jpeg", ".png", ".gif", ".webp", ".bmp", ".tif", ".tiff", ".ico", ".svg",
    ".heic", ".avif",
    # text and documents
    ".txt", ".nfo", ".log", ".pdf", ".md", ".rtf", ".doc", ".docx", ".html", ".htm",
    ".xml", ".json", ".csv", ".yaml", ".yml",
    # playlists, cue sheets, checksums
    ".cue", ".m3u", ".m3u8", ".pls", ".xspf", ".wpl", ".sfv", ".md5", ".ffp", ".sha1",
    ".sha256", ".accurip", ".par2",
    # databases, settings, lyrics, misc
    ".db", ".ini", ".lrc", ".url", ".lnk", ".torrent", ".tmp", ".part", ".bak",
    ".zip", ".rar", ".7z", ".tar", ".gz",
})
#: File names (lower case) ignored whatever their extension.
IGNORED_NAMES = frozenset({"thumbs.db", "desktop.ini", "folder.jpg", "albumartsmall.jpg",
                           "icon\r"})
_IGNORED_FOLDERS = frozenset({"__macosx", "@eadir", "$recycle.bin", "system volume information"})

Kind = Literal["audio", "ignored", "error"]


@dataclass(frozen=True)
class Candidate:
    """One file met while walking.

    Attributes
    ----------
    path : Path
        As reached (symlinks not resolved).
    kind : {"audio", "ignored", "error"}
    reason : str or None
        Why it is ignored or an error (one line); ``None`` for audio.
    format : str or None
        The sniffed format of an audio file (``"mp3"``, ``"flac"``...); ``"known"`` when
        the caller's ``known`` check recognised the file and it was not opened.
    stat : os.stat_result or None
        The file's status as the walk saw it (regular files).
    is_link : bool
        The path is a symbolic link (to a regular file).
    """

    path: Path
    kind: Kind
    reason: str | None = None
    format: str | None = None
    stat: os.stat_result | None = None
    is_link: bool = False


Known = Callable[[Path, os.stat_result, bool], bool]


def iter_candidates(paths: str | os.PathLike | Iterable[str | os.PathLike], *,
                    follow_symlinks: bool = True, known: Known | None = None,
                    ) -> Iterator[Candidate]:
    """Yield a :class:`Candidate` for every file under ``paths``.

    Parameters
    ----------
    paths : path or iterable of paths
        Files and folders, in the order given; folders are walked recursively.
    follow_symlinks : bool
        Follow symlinks to files and folders (folder cycles are detected and reported
        once). If ``False``, symlinks are ``"ignored"``.
    known : callable, optional
        ``known(path, stat, is_link)``: True for a file the caller already knows to be audio,
        unchanged since (e.g. size, mtime and inode match its records). Such a file is
        yielded as audio without being opened, so re-walking an unchanged library reads
        no file content.

    Yields
    ------
    Candidate
    """
    if isinstance(paths, str | bytes | os.PathLike):
        paths = [paths]
    visited_dirs: set[tuple[int, int]] = set()
    for given in paths:
        yield from _walk(Path(os.fsdecode(given)), follow_symlinks, visited_dirs, (),
                         top=True, known=known)


def _walk(path: Path, follow_symlinks: bool, visited: set[tuple[int, int]],
          ancestors: tuple[tuple[int, int], ...], *, top: bool,
          known: Known | None = None) -> Iterator[Candidate]:
    try:
        link_info = os.lstat(path)
    except FileNotFoundError:
        yield Candidate(path, "error", "no such file or folder")
        return
    except OSError as exc:
        yield Candidate(path, "error", _os_reason(exc))
        return
    is_link = stat.S_ISLNK(link_info.st_mode)
    if is_link and not follow_symlinks:
        yield Candidate(path, "ignored", "symlink (not followed)")
        return
    if not top and _is_hidden(path.name):
        yield Candidate(path, "ignored", "hidden")
        return
    try:
        info = os.stat(path) if is_link else link_info
    except OSError as exc:
        yield Candidate(path, "error", _link_reason(exc) if is_link else _os_reason(exc))
        return
    if stat.S_ISDIR(info.st_mode):
        yield from _walk_dir(path, info, follow_symlinks, visited, ancestors, top=top,
                             known=known)
    elif stat.S_ISREG(info.st_mode):
        if known is not None and known(path, info, is_link):
            yield Candidate(path, "audio", None, "known", info, is_link)
        else:
            yield _classify_file(path, info, is_link)
    else:
        yield Candidate(path, "error", f"not a regular file ({special_file_kind(info.st_mode)})")


def _walk_dir(path: Path, info: os.stat_result, follow_symlinks: bool,
              visited: set[tuple[int, int]], ancestors: tuple[tuple[int, int], ...],
              *, top: bool, known: Known | None = None) -> Iterator[Candidate]:
    key = (info.st_dev, info.st_ino)
    if key in ancestors:
        yield Candidate(path, "error", "symlink loop: folder contains itself")
        return
    if key in visited:
        yield Candidate(path, "ignored", "folder already scanned through another path")
        return
    if not top and path.name.lower() in _IGNORED_FOLDERS:
        yield Candidate(path, "ignored", "system folder")
        return
    visited.add(key)
    try:
        with os.scandir(path) as entries:
            names = sorted((entry.name for entry in entries), key=os.fsencode)
    except OSError as exc:
        yield Candidate(path, "error", f"cannot list folder: {_os_reason(exc)}")
        return
    for name in names:
        yield from _walk(path / name, follow_symlinks, visited, (*ancestors, key), top=False,
                         known=known)


def _classify_file(path: Path, info: os.stat_result, is_link: bool = False) -> Candidate:
    name = path.name.lower()
    extension = path.suffix.lower()
    if name in IGNORED_NAMES:
        return Candidate(path, "ignored", "system file")
    if extension in IGNORED_EXTENSIONS:
        return Candidate(path, "ignored", f"not music ({extension})")
    claims_audio = extension in AUDIO_EXTENSIONS
    if info.st_size == 0:
        return Candidate(path, "error" if claims_audio else "ignored", "empty file")
    try:
        fmt = sniff_format(path)
        looks_like = None if fmt else describe_content(path)
    except OSError as exc:
        return Candidate(path, "error", _os_reason(exc))
    if fmt in ("mp3", "aac") and not claims_audio and not _confirmed(path):
        # random bytes can look like two MPEG frames; a file not named as audio needs more
        return Candidate(path, "ignored", "not audio (no audio stream found)")
    if fmt:
        return Candidate(path, "audio", None, fmt, info, is_link)
    if claims_audio:
        return Candidate(path, "error", f"not audio: looks like {looks_like}")
    return Candidate(path, "ignored", f"not audio ({looks_like})")


def _confirmed(path: Path) -> bool:
    try:
        return confirm_frame_stream(path)
    except OSError:
        return False


def _is_hidden(name: str) -> bool:
    return name.startswith(".")


def special_file_kind(mode: int) -> str:
    """``"fifo"``, ``"socket"``, ``"device"`` or ``"special file"``: what a non-regular file is."""
    if stat.S_ISFIFO(mode):
        return "fifo"
    if stat.S_ISSOCK(mode):
        return "socket"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "device"
    return "special file"


def _link_reason(exc: OSError) -> str:
    if exc.errno == errno.ENOENT:
        return "broken symlink"
    if exc.errno == errno.ELOOP:
        return "symlink loop"
    return _os_reason(exc)


def _os_reason(exc: OSError) -> str:
    reasons = {errno.EACCES: "permission denied", errno.EPERM: "permission denied",
               errno.ENOENT: "no such file or folder", errno.ELOOP: "symlink loop",
               errno.ENAMETOOLONG: "name too long", errno.EIO: "input/output error"}
    reason = reasons.get(exc.errno) or exc.strerror or type(exc).__name__
    return " ".join(str(reason).split())


def count_files(paths: Iterable[str | os.PathLike]) -> int:
    """Number of files under ``paths`` (cheap: no content is read); for progress ETAs."""
    total = 0
    for given in paths:
        given = Path(given)
        if given.is_dir():
            for _root, _dirs, files in os.walk(given, followlinks=False):
                total += len(files)
        else:
            total += 1
    return total


def error_code_of(candidate: Candidate) -> str:
    """The stable error code of an ``"error"`` candidate (as stored and printed)."""
    reason = candidate.reason or ""
    if reason.startswith("not audio"):
        return "unsupported"
    if reason == "empty file":
        return "corrupt"
    return "unreadable"
