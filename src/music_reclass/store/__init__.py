"""The library database: schema, migrations and every SQL statement of music_reclass.

One SQLite file (WAL, ``synchronous=FULL``) holds everything ``reclass`` knows about a
library. Nothing outside this package writes SQL; the rooms above it call these
functions with a connection from :func:`~music_reclass.store.db.connect`.

- :mod:`~music_reclass.store.db`: connecting (read-only where it must), transactions,
  path encoding, SQLite errors as one-line :class:`~music_reclass.errors.DatabaseError`.
- :mod:`~music_reclass.store.schema`: the migrations (``PRAGMA user_version``).
- :mod:`~music_reclass.store.files`: files and tracks; recording a file's outcome.
- :mod:`~music_reclass.store.analyses`: one model's outcome on one content.
- :mod:`~music_reclass.store.vectors`: track-level vectors by embedding space.
- :mod:`~music_reclass.store.runs`: classify/tag/organise/undo runs.
- :mod:`~music_reclass.store.claims`: contents a live classify run is analysing.
- :mod:`~music_reclass.store.journal`: the journal of changes to files.
- :mod:`~music_reclass.store.models`: the models used, their short names, settings.
- :mod:`~music_reclass.store.queries`: listings, details and statistics.
"""
