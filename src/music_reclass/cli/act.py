"""reclass commands: act (being written)."""

from music_reclass.cli.app import app  # noqa: F401

