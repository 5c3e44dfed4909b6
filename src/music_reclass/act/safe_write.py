"""Crash-safe file operations: every change to a user's file goes through here.

Modifying a file (:func:`modify_file`)
    1. copy the original to ``.reclass-tmp-<pid>-<random>-<name>`` in the SAME
       directory (same filesystem, so the final rename is atomic);
    2. modify the copy;
    3. verify the copy: the caller's check (tags read back as intended), the
       audio payload digest unchanged, and the copy decodes to as many samples
       as the original;
    4. fsync the copy, check the original was not changed meanwhile, then
       ``os.replace`` it over the original and fsync the directory.

    A crash at any point leaves the original or the new file under the name,
    never a half-written one; at worst a stale temp file remains, recognisable
    by :data:`TEMP_PREFIX` and removed by :func:`cleanup_stale_temps` (which the
    commands run on the folders they touch).

    Permissions (mode bits, and owner where allowed) and extended attributes
    are copied to the new file. The modification time is NOT preserved by default: the file did
    change, and backup/sync tools (rsync, restic) that trust size+mtime would
    otherwise skip it; beets and Picard behave the same. ``preserve_mtime=True``
    keeps it. The replace gives the file a new inode: other hard links to it keep
    the old content (nothing is lost; the link is split).

Moving or copying (:func:`move_file`)
    Never overwrites: the target name is taken with ``os.link`` (fails if the
    name exists, atomically) and collisions get `` (1)``, `` (2)``... suffixes or
    are skipped. Within one filesystem a move is ``link`` + ``unlink`` (a crash in
    between leaves two names for the same inode, never zero). Across
    filesystems: copy to a temp file beside the target, fsync, verify the
    SHA-256 of every byte, link into place, fsync, and only then remove the
    source.

Fault points
    Every step calls :func:`fault_point` (see :mod:`music_reclass.faults`): a test
    installs a hook there to sleep, raise an ``OSError`` or SIGKILL the process
    inside the dangerous windows. No hook in normal use (no cost).
"""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
import shutil
from collections.abc import Callable, Iterable
from pathlib import Path

from music_reclass import faults
from music_reclass.act.payload import audio_digest, decoded_sample_count, file_sha256
from music_reclass.durable import fsync_dir
from music_reclass.errors import ParameterError, SafeWriteError
from music_reclass.process import pid_alive, process_start_time

__all__ = ["COLLISION_POLICIES", "TEMP_PREFIX", "cleanup_stale_temps", "fault_point",
           "free_target", "fsync_dir", "modify_file", "move_file", "pid_alive",
           "process_start_time", "same_device", "temp_path_for", "with_suffix_number"]

TEMP_PREFIX = ".reclass-tmp-"
COLLISION_POLICIES = ("suffix", "skip")
_MAX_NAME_BYTES = 255


def fault_point(name: str) -> None:
    """A step of a change to a user's file (see :mod:`music_reclass.faults`)."""
    faults.point(name)


# ----------------------------------------------------------------------------- helpers


def _fsync_file(path: Path) -> None:
    with path.open("rb+") as fh:
        fh.flush()
        os.fsync(fh.fileno())


def temp_path_for(path: Path) -> Path:
    """A fresh temp name beside ``path``: ``.reclass-tmp-<pid>-<hex>-<name>``."""
    stem = f"{TEMP_PREFIX}{os.getpid()}-{secrets.token_hex(4)}-"
    name = path.name
    # Keep the extension (mutagen and PyAV look at it) within the name limit.
    budget = _MAX_NAME_BYTES - len(stem.encode())
    while len(os.fsencode(name)) > budget:  # bytes on disk (names need not be UTF-8)
        name = name[1:]
    return path.with_name(stem + name)


def _copy_metadata(src_stat: os.stat_result, dst: Path) -> None:
    os.chmod(dst, src_stat.st_mode & 0o7777)
    if hasattr(os, "chown"):
        # Not root: the new file belongs to us, as any editor would leave it.
        with contextlib.suppress(OSError):
            os.chown(dst, src_stat.st_uid, src_stat.st_gid)


def copy_xattrs(src: Path, dst: Path) -> None:
    """Give ``dst`` the extended attributes of ``src`` (Finder tags, ``user.*`` notes,
    ACLs...): a tag write must not drop what other tools keep there.

    Raises
    ------
    SafeWriteError
        A ``user.*`` attribute cannot be set on the copy (the write is then refused);
        attributes of other namespaces that we may not set (``security.*`` as a normal
        user) are left to the system, as any editor does.
    """
    if not hasattr(os, "listxattr"):
        return
    try:
        names = os.listxattr(src)
    except OSError as exc:
        if exc.errno in (errno.ENOTSUP, errno.EOPNOTSUPP, errno.ENOSYS):
            return  # the filesystem keeps none
        raise
    for name in names:
        try:
            os.setxattr(dst, name, os.getxattr(src, name))
        except OSError as exc:
            if name.startswith("user."):
                raise SafeWriteError(
                    f"{src}: its extended attribute {name} cannot be kept ({exc.strerror}); "
                    "not modified") from exc


def _unchanged(path: Path, before: os.stat_result) -> bool:
    now = path.stat()
    return (now.st_size, now.st_mtime_ns, now.st_ino) == (
        before.st_size,
        before.st_mtime_ns,
        before.st_ino,
    )


def _remove_quietly(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        path.unlink()


# ----------------------------------------------------------------------------- modify


def modify_file(
    path: str | os.PathLike,
    modify: Callable[[Path], None],
    *,
    verify: Callable[[Path], None] | None = None,
    prepare: Callable[[Path], None] | None = None,
    preserve_mtime: bool = False,
    check_decode: bool = True,
) -> None:
    """Apply ``modify`` to a verified copy of ``path`` and atomically replace it.

    Parameters
    ----------
    path : str or path-like
        The file to change.
    modify : callable
        ``modify(tmp_path)`` changes the temp copy in place.
    verify : callable, optional
        ``verify(tmp_path)`` raises if the copy is not as intended.
    prepare : callable, optional
        ``prepare(tmp_path)`` runs last before the replace, on the finished copy (the
        journal records the SHA-256 the file is about to have); raising cancels.
    preserve_mtime : bool
        Give the new file the original's modification time (default: no).
    check_decode : bool
        Also check the copy decodes to the same number of samples.

    Raises
    ------
    SafeWriteError
        The file is read-only (no write bit set), the audio payload changed,
        the copy does not decode, or the original changed during the
        operation. The original is untouched.
    """
    # Change a symlinked file's target (the link stays a link): replacing the
    # name itself would turn the user's link into a detached copy.
    path = Path(os.path.realpath(path))
    st = path.stat()
    if not path.is_file():
        raise SafeWriteError(f"{path}: not a regular file")
    if not st.st_mode & 0o222:
        # A read-only file is the user's "do not touch" (and Picard/beets fail on it);
        # the atomic replace would otherwise succeed in a writable folder.
        raise SafeWriteError(f"{path}: read-only file; not modified")
    digest = audio_digest(path)
    samples = decoded_sample_count(path) if check_decode else None
    tmp = temp_path_for(path)
    try:
        fault_point("before-copy")
        shutil.copyfile(path, tmp)
        _copy_metadata(st, tmp)
        copy_xattrs(path, tmp)
        fault_point("copied")
        modify(tmp)
        fault_point("modified")
        if verify is not None:
            verify(tmp)
        if audio_digest(tmp) != digest:
            raise SafeWriteError(f"{path}: the audio payload would change; refused")
        if check_decode and decoded_sample_count(tmp) != samples:
            raise SafeWriteError(f"{path}: the rewritten file does not decode fully; refused")
        if preserve_mtime:
            os.utime(tmp, ns=(st.st_atime_ns, st.st_mtime_ns))
        _fsync_file(tmp)
        fault_point("verified")
        if prepare is not None:
            prepare(tmp)
        if not _unchanged(path, st):
            raise SafeWriteError(f"{path}: changed by someone else during the write; refused")
        os.replace(tmp, path)
        fsync_dir(path.parent)
        fault_point("replaced")
    except BaseException:
        _remove_quietly(tmp)
        raise


# ----------------------------------------------------------------------------- moves


def with_suffix_number(path: Path, n: int) -> Path:
    """``dir/name (n).ext`` for collision number ``n``."""
    return path.with_name(f"{path.stem} ({n}){path.suffix}")


def free_target(path: Path, *, on_collision: str = "suffix", limit: int = 1000) -> Path | None:
    """``path`` or the first free ``path (n)``; None when skipping a taken name."""
    if on_collision not in COLLISION_POLICIES:
        raise ParameterError(f"on_collision must be one of {COLLISION_POLICIES}")
    if not os.path.lexists(path):
        return path
    if on_collision == "skip":
        return None
    for n in range(1, limit):
        candidate = with_suffix_number(path, n)
        if not os.path.lexists(candidate):
            return candidate
    raise SafeWriteError(f"{path}: more than {limit} files with this name")


def _link_no_clobber(src: Path, dst: Path) -> None:
    """Give ``src``'s inode the name ``dst``; FileExistsError when ``dst`` exists."""
    try:
        os.link(src, dst)
    except OSError as exc:
        if exc.errno in (errno.EEXIST,):
            raise FileExistsError(errno.EEXIST, "target exists", str(dst)) from exc
        if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EMLINK):
            raise
        # Filesystem without hard links (FAT, some network shares): a verified
        # copy renamed into place after checking the name is free. Not atomic
        # against a concurrent writer, but never clobbers a file that existed
        # when we looked, and never leaves a partial file under ``dst``.
        tmp = temp_path_for(dst)
        try:
            shutil.copy2(src, tmp)
            _fsync_file(tmp)
            _verify_copy(src, tmp)
            if os.path.lexists(dst):
                raise FileExistsError(errno.EEXIST, "target exists", str(dst)) from exc
            os.rename(tmp, dst)
        finally:
            _remove_quietly(tmp)


def move_file(src: str | os.PathLike, dst: str | os.PathLike, *, copy: bool = False) -> None:
    """Move (or copy) ``src`` to ``dst`` without ever overwriting ``dst``.

    Parameters
    ----------
    src, dst : str or path-like
        ``dst`` must not exist (choose it with :func:`free_target`).
    copy : bool
        Copy instead of move (the source stays).

    Raises
    ------
    FileExistsError
        ``dst`` appeared meanwhile; nothing was changed.
    SafeWriteError
        The copy did not verify; the source is untouched.
    """
    src, dst = Path(src), Path(dst)
    if not src.is_file():
        raise SafeWriteError(f"{src}: not a regular file")
    dst.parent.mkdir(parents=True, exist_ok=True)
    if same_device(src, dst.parent) and not copy:
        fault_point("before-link")
        _link_no_clobber(src, dst)
        fsync_dir(dst.parent)
        fault_point("linked")
        if dst.exists() and dst.samefile(src):
            src.unlink()
        else:  # the no-hard-link fallback copied: verify before removing the source
            _verify_copy(src, dst)
            src.unlink()
        fsync_dir(src.parent)
        fault_point("moved")
        return
    expected = file_sha256(src)
    tmp = temp_path_for(dst)
    try:
        fault_point("before-copy")
        shutil.copy2(src, tmp)
        _fsync_file(tmp)
        fault_point("copied")
        if file_sha256(tmp) != expected:
            raise SafeWriteError(f"{src}: copy to {dst} is not byte-identical; refused")
        _link_no_clobber(tmp, dst)
        fsync_dir(dst.parent)
    finally:
        _remove_quietly(tmp)
    fault_point("placed")
    if not copy:
        src.unlink()
        fsync_dir(src.parent)
        fault_point("moved")


def same_device(a: str | os.PathLike, b: str | os.PathLike) -> bool:
    """Are ``a`` and ``b`` on one filesystem (so a rename/link is possible)?"""
    return os.stat(a).st_dev == os.stat(b).st_dev


def _verify_copy(src: Path, dst: Path) -> None:
    if file_sha256(src) != file_sha256(dst):
        raise SafeWriteError(f"{src}: copy to {dst} is not byte-identical; refused")


# ----------------------------------------------------------------------------- cleanup


def cleanup_stale_temps(directories: Iterable[str | os.PathLike]) -> list[Path]:
    """Remove temp files left by a crashed run in ``directories`` (not recursive).

    A temp file is stale when the process named in it is gone. Temp files are
    always copies (the original is still in place), so removing them loses
    nothing.

    Returns
    -------
    list of Path
        The files removed.
    """
    removed: list[Path] = []
    for directory in {Path(d) for d in directories}:
        try:
            entries = list(os.scandir(directory))
        except OSError:
            continue
        for entry in entries:
            if not entry.name.startswith(TEMP_PREFIX) or not entry.is_file(follow_symlinks=False):
                continue
            pid_text = entry.name[len(TEMP_PREFIX) :].split("-", 1)[0]
            if pid_text.isdigit() and pid_alive(int(pid_text)):
                continue
            _remove_quietly(Path(entry.path))
            removed.append(Path(entry.path))
    return removed
