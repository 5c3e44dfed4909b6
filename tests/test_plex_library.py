"""The ``Library`` façade's Plex jobs against the fake server, through the real plexapi client:
the library's side from one query, push and ``Library.undo``, pull into corrections."""

from __future__ import annotations

import pytest

pytest.importorskip("plexapi")

from fake_plex import TOKEN, FakePlex  # noqa: E402
from music_reclass import Library  # noqa: E402
from music_reclass.errors import ParameterError  # noqa: E402
from music_reclass.store.analyses import AnalysisRecord, put_analysis  # noqa: E402
from music_reclass.store.db import transaction  # noqa: E402
from plex_fixtures import MODEL_ID, PATH_MAP, build, write_db  # noqa: E402

CONNECTION = {"token": TOKEN, "path_maps": [PATH_MAP]}


@pytest.fixture(autouse=True)
def _no_user_config(tmp_path, monkeypatch):
    monkeypatch.setenv("RECLASS_CONFIG", str(tmp_path / "absent.toml"))
    monkeypatch.delenv("RECLASS_PLEX_URL", raising=False)
    monkeypatch.setenv("RECLASS_PLEX_TOKEN", TOKEN)  # what Library.undo reconnects with


@pytest.fixture
def setup(tmp_path):
    with FakePlex() as fake:
        lib = build(fake)
        db = tmp_path / "lib.sqlite"
        write_db(db, lib.records)
        with Library(db) as library:
            yield fake, lib, library


def _hash_of(library: Library, path: str) -> str:
    return library.file(path)["content_hash"]


def test_library_tracks_come_from_one_query_and_the_models_decision(setup):
    fake, lib, library = setup
    conn = library.connection()
    # The model decided Soul/R&B for Sinnerman although its top prediction is jazz: the
    # decision is the stored one, not recomputed from confidences.
    with transaction(conn):
        put_analysis(conn, _hash_of(library, lib.path("sinnerman")), AnalysisRecord(
            MODEL_ID, "ok", genres=[("jazz", 0.81), ("soul/r&b", 0.1)], decided=["soul/r&b"]),
            run_id=None)
    statements: list[str] = []
    conn.set_trace_callback(statements.append)
    tracks = {t.path: t for t in library.plex_tracks()}
    conn.set_trace_callback(None)
    assert len(tracks) == len(lib.records) == 8
    # a handful of statements (the active model, then the listing), whatever the size
    assert sum(s.lstrip().upper().startswith("SELECT") for s in statements) <= 4, statements
    sinnerman = tracks[lib.path("sinnerman")]
    assert sinnerman.decided == ("Soul/R&B",) and sinnerman.predicted[0] == ("jazz", 0.81)
    assert (sinnerman.title, sinnerman.artist, sinnerman.duration) == (
        "Sinnerman", "Nina Simone", 622.1)
    crescendolls = tracks[lib.path("crescendolls")]
    assert crescendolls.decided == () and crescendolls.undecided.startswith("abstained")
    # with a threshold, every genre at or above it, named as `tag` names them
    assert library.plex_tracks(min_confidence=0.5, top_k=None)[0].decided  # sanity
    by_threshold = {t.path: t for t in library.plex_tracks(min_confidence=0.5)}
    assert by_threshold[lib.path("aerodynamic")].decided == ("Dance", "Electronic")
    assert by_threshold[lib.path("crescendolls")].undecided == "no genre with confidence >= 0.5"


def test_status_and_dry_run_through_the_facade(setup):
    fake, lib, library = setup
    report = library.plex_status(url=fake.url, **CONNECTION)
    assert (report.totals.matched, report.totals.would_change) == (5, 3)
    assert any("Crescendolls: abstained: not confident enough" in s for s in report.skipped)
    dry = library.plex_push(url=fake.url, dry_run=True, **CONNECTION)
    assert len(dry.changes) == 3 and dry.run_id is None and not fake.edits()
    assert library.runs() and all(r.kind == "classify" for r in library.runs())


def test_push_then_library_undo_restores_genres_and_locks(setup):
    fake, lib, library = setup
    sinnerman, husband = lib.plex["sinnerman"], lib.plex["husband"]
    report = library.plex_push(url=fake.url, **CONNECTION)
    assert report.ok and len(report.done) == 3
    assert sinnerman.genres == ["Jazz", "Blues"] and "genre" in sinnerman.locked
    (run,) = library.runs(kinds=("plex-push",))
    assert run.status == "done" and run.summary["changed"] == 3
    assert TOKEN not in str(run.params)
    assert {e.action for e in library.journal_of(report.run_id)} == {"plex-genre"}

    dry = library.undo(report.run_id, dry_run=True)
    assert len(dry.undone) == 3 and sinnerman.genres == ["Jazz", "Blues"]
    undo = library.undo(report.run_id)  # a plex-push run: the façade reconnects to its URL
    assert undo.ok and len(undo.undone) == 3
    assert (sinnerman.genres, husband.genres) == (["Pop"], [])
    assert not sinnerman.locked and not husband.locked
    assert {e.state for e in library.journal_of(report.run_id)} == {"undone"}
    assert library.undo(report.run_id).undone == []  # twice is harmless
    assert library.undo().run_id is None  # nothing left


def test_library_undo_of_the_latest_run_reaches_plex_too(setup):
    fake, lib, library = setup
    library.plex_push(url=fake.url, **CONNECTION)
    undo = library.undo()  # no run named: the latest undoable run is the plex push
    assert undo.ok and len(undo.undone) == 3 and lib.plex["sinnerman"].genres == ["Pop"]


def test_undo_needs_the_token_and_says_how_to_give_it(setup, monkeypatch):
    fake, lib, library = setup
    report = library.plex_push(url=fake.url, **CONNECTION)
    monkeypatch.delenv("RECLASS_PLEX_TOKEN")
    with pytest.raises(ParameterError, match="RECLASS_PLEX_TOKEN"):
        library.undo()
    assert library.plex_undo(report.run_id, token=TOKEN).ok
    assert lib.plex["sinnerman"].genres == ["Pop"]


def test_pull_records_plex_genres_as_corrections(setup):
    fake, lib, library = setup
    # the owner corrected Aerodynamic here by hand: a pull keeps that
    library.correct([lib.path("aerodynamic")], ["French House"])
    report = library.plex_pull(url=fake.url, as_corrections=True, **CONNECTION)
    assert report.ok and len(report.labels) == 5
    assert not fake.edits()  # a pull writes nothing to Plex
    recorded = dict(report.corrections.corrected)
    assert recorded[lib.path("sinnerman")] == ["Pop"]
    assert recorded[lib.path("husband")] == ["Soul"]  # none of its own: its album's
    assert lib.path("aerodynamic") not in recorded
    assert any("your correction French House kept" in k for k in report.kept)
    corrections = {c.path: c for c in library.corrections()}
    assert corrections[lib.path("sinnerman")].source == "plex"
    assert corrections[lib.path("aerodynamic")].labels == ["French House"]
    (run,) = [r for r in library.runs(kinds=("correct",)) if r.params["source"] == "plex"]

    again = library.plex_pull(url=fake.url, as_corrections=True, **CONNECTION)
    assert again.corrections is None and len(again.kept) == 5  # nothing new: no new run
    assert sum(r.params["source"] == "plex" for r in library.runs(kinds=("correct",))) == 1

    replaced = library.plex_pull(url=fake.url, as_corrections=True, replace_own=True,
                                 **CONNECTION)
    assert dict(replaced.corrections.corrected) == {lib.path("aerodynamic"): ["Hip Hop"]}

    library.undo(run.id)  # withdraws the first pull's corrections
    corrections = {c.path: c for c in library.corrections()}
    assert lib.path("sinnerman") not in corrections
    assert corrections[lib.path("aerodynamic")].labels == ["Hip Hop"]


def test_pull_without_corrections_changes_nothing_here(setup):
    fake, lib, library = setup
    report = library.plex_pull(url=fake.url, **CONNECTION)
    assert report.corrections is None and len(report.labels) == 5
    label = next(x for x in report.labels if x.path == lib.path("sinnerman"))
    assert (label.genres, label.artist, label.title) == (["Pop"], "Nina Simone", "Sinnerman")
    assert library.corrections() == []
