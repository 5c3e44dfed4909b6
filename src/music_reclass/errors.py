"""Exceptions shared by every layer of music_reclass.

Every failure a user can meet on one file is a subclass of :class:`ReclassError`
with a short message that fits on one line of a run summary. ``code`` is the
stable machine-readable reason stored in the database and printed in JSON output.
"""

from __future__ import annotations


class ReclassError(Exception):
    """Base class of all music_reclass errors."""

    code = "error"


class ParameterError(ReclassError, ValueError):
    """A function or command received an invalid argument (like librosa's)."""

    code = "bad-parameter"


class AudioError(ReclassError):
    """A file could not be turned into analysable audio."""

    code = "audio-error"


class UnreadableFileError(AudioError):
    """The file cannot be opened (permissions, vanished, broken link, a directory...)."""

    code = "unreadable"


class UnsupportedFormatError(AudioError):
    """The file is not audio, or is audio in a format we cannot decode."""

    code = "unsupported"


class CorruptAudioError(AudioError):
    """The file claims to be audio but its stream is damaged or empty."""

    code = "corrupt"


class TooShortError(AudioError):
    """The audio is shorter than one model patch (about 3 s)."""

    code = "too-short"


class SilentAudioError(AudioError):
    """The audio is digital silence (or all non-finite samples)."""

    code = "silent"


class ModelError(ReclassError):
    """A model artifact is missing, damaged or incompatible."""

    code = "model-error"


class FeatureMismatchError(ModelError):
    """A model was asked to predict from features it was not trained on."""

    code = "feature-mismatch"


class DatabaseError(ReclassError):
    """The library database is unusable (missing, read-only, newer schema, not a database...)."""

    code = "database-error"


class MissingDatabaseError(DatabaseError):
    """No library database at the given path (only ``classify`` creates one)."""

    code = "no-database"


class TagError(ReclassError):
    """A file's tags cannot be read or written (unsupported, damaged...)."""

    code = "tag-error"


class SafeWriteError(ReclassError):
    """A change to a file was refused or failed verification; the original is untouched."""

    code = "write-failed"


class UndoError(ReclassError):
    """Undo refused one change (the file changed since, its target is occupied...)."""

    code = "undo-refused"


class NothingAnalysedError(ReclassError):
    """No file under the given paths has a successful classify analysis.

    ``audio_found`` is False when there is no audio file under the paths at all
    (e.g. a folder already organised away): nothing to do rather than a mistake.
    """

    code = "nothing-analysed"

    def __init__(self, message: str, *, audio_found: bool = True) -> None:
        super().__init__(message)
        self.audio_found = audio_found
