"""Sending one item's genre edit through python-plexapi: one request per item.

python-plexapi's batch mode (``item.batchEdits()`` ... ``item.saveEdits()``)
gathers the edits into ONE ``PUT /library/sections/<section>/all`` with
``type=<10 track | 9 album | 8 artist>&id=<rating key>`` and:

- ``genre[0].tag.tag=Rock&genre[1].tag.tag=Jazz``: the item's genre list
  (Plex takes the indexed tags as the whole list, which is why plexapi's
  ``addGenre`` sends the current genres followed by the new ones);
- ``genre[].tag.tag-=Pop,Blues``: genres to take away (each name
  percent-encoded, then the whole value encoded again by plexapi);
- ``genre.locked=1``: lock the field, so a metadata refresh or a re-scan of
  the file's tags does not bring the old genres back (``0`` unlocks).

``merge`` uses ``addGenre`` (current + additions); ``replace`` and undo send
the full list with ``edit`` plus ``removeGenre`` for what goes, so the
request is right whether the server treats the indexed list as a
replacement or as additions.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

__all__ = ["edit_genres"]


def edit_genres(
    item: Any,
    *,
    genres: Sequence[str],
    remove: Sequence[str] = (),
    locked: bool = True,
    add: Sequence[str] | None = None,
) -> None:
    """Set ``item``'s genres in one request.

    Parameters
    ----------
    item : plexapi Track, Album or Artist
        A full item (its current genres loaded).
    genres : sequence of str
        The genre list the item should end with.
    remove : sequence of str
        Genres it has now and should lose.
    locked : bool
        Lock (True) or unlock the genre field.
    add : sequence of str, optional
        Merge: only add these to the current genres (``genres`` and ``remove``
        are then what that amounts to, and are not sent).
    """
    item.batchEdits()
    if add is not None:
        item.addGenre(list(add), locked=locked)
    else:
        fields: dict[str, Any] = {
            f"genre[{index}].tag.tag": name for index, name in enumerate(genres)
        }
        fields["genre.locked"] = 1 if locked else 0
        item.edit(**fields)
        if remove:
            item.removeGenre(list(remove), locked=locked)
    item.saveEdits()
