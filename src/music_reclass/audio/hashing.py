"""Content hash of a file: the key of a track in the library database.

Streaming BLAKE2b (16-byte digest, 32 hex characters) over the raw file bytes, read in
1 MiB chunks: fast (hundreds of MB/s, disk-bound), constant memory, and the same bytes
anywhere give the same key, so a renamed or moved file keeps its analyses.
"""

from __future__ import annotations

import hashlib
import os

from music_reclass.errors import UnreadableFileError

__all__ = ["content_hash", "CHUNK_BYTES", "DIGEST_SIZE"]

CHUNK_BYTES = 1 << 20
DIGEST_SIZE = 16


def content_hash(path: str | os.PathLike) -> str:
    """BLAKE2b-128 hex digest of the file's bytes.

    Parameters
    ----------
    path : str or os.PathLike

    Returns
    -------
    str
        32 lowercase hex characters.

    Raises
    ------
    UnreadableFileError
        The file cannot be opened or read (missing, permission, a directory...).
    """
    digest = hashlib.blake2b(digest_size=DIGEST_SIZE)
    try:
        with open(path, "rb") as fh:
            buffer = bytearray(CHUNK_BYTES)
            view = memoryview(buffer)
            while n_read := fh.readinto(buffer):
                digest.update(view[:n_read])
    except IsADirectoryError as exc:
        raise UnreadableFileError("is a directory") from exc
    except PermissionError as exc:
        raise UnreadableFileError("permission denied") from exc
    except FileNotFoundError as exc:
        raise UnreadableFileError("file not found") from exc
    except OSError as exc:
        raise UnreadableFileError(" ".join(f"cannot read: {exc.strerror or exc}".split())) from exc
    return digest.hexdigest()
