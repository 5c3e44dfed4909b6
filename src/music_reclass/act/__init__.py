"""Acting on a user's files: genre tags, organising into folders, the journal and undo.

- :mod:`~music_reclass.act.safe_write`: copy, modify, verify, atomic replace (mode, owner and
  extended attributes kept); moves that never overwrite.
- :mod:`~music_reclass.act.payload`: digests of the audio payload (tags excluded);
  :mod:`~music_reclass.act.exact` the exact non-audio bytes kept for a byte-exact undo.
- :mod:`~music_reclass.act.tagio`: genre states (what a write changes);
  :mod:`~music_reclass.act.tagwrite` writing genres, restoring a state or the genre alone;
  :mod:`~music_reclass.act.iff` the WAV/AIFF chunk layouts.
- :mod:`~music_reclass.act.selection`: which files and genres; :mod:`~music_reclass.act.tagging`
  a tag run; :mod:`~music_reclass.act.organise` an organise run, placed by
  :mod:`~music_reclass.act.placement`.
- :mod:`~music_reclass.act.journal`: the write-ahead discipline; :mod:`~music_reclass.act.settle`
  settling planned changes whose outcome was not recorded; :mod:`~music_reclass.act.undo`.
- :mod:`~music_reclass.act.outcome`: the per-file outcome codes.

Every step of a change calls a fault point (:mod:`music_reclass.faults`) where tests inject
crashes, errors and locks.
"""
