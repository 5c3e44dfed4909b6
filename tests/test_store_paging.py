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


def test_search_index_follows_tags_moves_and_forgetting(tmp_path, monkeypatch):
    """The trigram index answers as the plain scan does after files are retagged,
    moved and forgotten (its triggers keep it in step)."""
    library, music = build_library(tmp_path)
    library.tag([music], min_confidence=0.4)  # new content hashes
    library.organise([music / "jazz"], into=music / "Sorted")  # new paths
    (music / "rock" / "unsure.wav").unlink()
    library.prune()  # forgotten rows
    conn = library.connection()
    model_id = library.model_id_for()[0]
    assert queries._indexed_search(conn)

    def listing(search: str) -> list[str]:
        query = FileQuery(model_id=model_id, search=search)
        return [v.path for v in queries.iter_files(conn, query, check_missing=False)]

    searches = ["quartet", "Sorted/", "sure.wav", "band of", "CLASSICAL/", "late set", "ock",
                "unsure", 'quote\'s & "co"', "no such text", "a\x00b", '"', "'; --"]
    indexed = {s: listing(s) for s in searches}
    monkeypatch.setattr(queries, "_indexed_search", lambda conn: False)
    assert {s: listing(s) for s in searches} == indexed
    assert any("/Sorted/" in p for p in indexed["Sorted/"])
    assert indexed["unsure"] and all("rock/unsure" not in p for p in indexed["unsure"])
    library.close()
