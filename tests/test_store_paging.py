"""Pages of a listing (ids first, then the rows) hold exactly the rows of the full sorted
listing, whichever way the page is found (from the files, or from the analyses)."""

from __future__ import annotations

import itertools

import pytest

from music_reclass.store import queries
from music_reclass.store.queries import FileQuery
from web_fixtures import build_library

QUERIES = [
    {}, {"genre": "jazz"}, {"status": "review"}, {"status": "error"}, {"decided": True},
    {"min_confidence": 0.45, "max_confidence": 0.8}, {"disagree": True}, {"search": "band"},
    {"corrected": False}, {"status": "unanalysed"}, {"genre": "ROCK", "decided": False},
]
SORTS = [("path", False), ("confidence", True), ("genre", False), ("artist", True),
         ("duration", False)]


@pytest.mark.parametrize("selective", [1, 10**9])
def test_pages_match_the_full_listing(tmp_path, monkeypatch, selective):
    monkeypatch.setattr(queries, "SELECTIVE", selective)
    library, _ = build_library(tmp_path)
    model_id = library.model_id_for()[0]
    conn = library.connection()
    for filters, (sort, descending) in itertools.product(QUERIES, SORTS):
        base = FileQuery(model_id=model_id, sort=sort, descending=descending, **filters)
        full = [v.id for v in queries.iter_files(conn, base, check_missing=False)]
        assert queries.count_files(conn, base) == len(full), (filters, sort)
        for limit, offset in ((2, 0), (2, 1), (3, 4), (50, 0), (1, 99)):
            page = FileQuery(**{**base.__dict__, "limit": limit, "offset": offset})
            got = [v.id for v in queries.iter_files(conn, page, check_missing=False)]
            assert got == full[offset: offset + limit], (filters, sort, limit, offset)
    library.close()
