"""Classify runs: walking a library, answering from the store, analysing the rest in a pool.

- :mod:`~music_reclass.runner.classify`: the run in the calling process (it alone writes
  the database).
- :mod:`~music_reclass.runner.worker`: hashing, decoding and classifying batches of files,
  away from the database.
- :mod:`~music_reclass.runner.pool`: where that work runs: local worker processes, or
  inline.
- :mod:`~music_reclass.runner.results`: what a run reports.
"""
