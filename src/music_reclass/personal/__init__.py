"""The owner's library teaches the model: a personal genre model from their own labels.

A room between the models and the store: it holds no SQL and changes no file; the
:class:`~music_reclass.Library` façade (``library/personal.py``, ``library/curate.py``)
reads the store and calls it.

- :mod:`.labels`: the owner's genre labels, cleaned but kept in their own words;
  :mod:`.config`: the ``[genre_map]`` of the config file; :mod:`.sources`: each track's
  tags, what reclass wrote (journal replay) and corrections.
- :mod:`.fit`, :mod:`.folds`, :mod:`.calibrate`, :mod:`.evaluate`, :mod:`.train`: the
  personal head (:class:`music_reclass.models.personal.PersonalHead`) fitted in closed form
  from per-fold statistics, measured by artist-grouped cross-validation, calibrated.
- :mod:`.artifact`: where the model file goes and what its sidecar says.
- :mod:`.active`: which unlabelled tracks to label next; :mod:`.consistency`: labelled
  tracks whose genre the audio and the neighbours both contradict.
"""
