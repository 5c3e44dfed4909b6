"""Acting on a user's files: genre tags, organising into folders, the journal and undo.

- :mod:`~music_reclass.act.safe_write`: copy, modify, verify, atomic replace; moves that
  never overwrite.
- :mod:`~music_reclass.act.payload`: digests of the audio payload (tags excluded), the
  exact non-audio bytes kept for byte-exact undo.
- :mod:`~music_reclass.act.tagio`: reading tags and writing genre tags (mutagen), with the
  exact before-state; :mod:`~music_reclass.act.iff` the WAV/AIFF chunk layouts.
- :mod:`~music_reclass.act.tagging`: a tag run over a library; :mod:`~music_reclass.act.organise`
  an organise run.
- :mod:`~music_reclass.act.journal`: write-ahead discipline, settlement after a crash or a
  failed database write, and undo.
"""
