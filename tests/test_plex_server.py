"""The Plex sync through the real python-plexapi client against a fake server on 127.0.0.1."""

from __future__ import annotations

import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

pytest.importorskip("plexapi")

from fake_plex import OLD_VERSION, TOKEN, FakePlex  # noqa: E402
from music_reclass.act import journal  # noqa: E402
from music_reclass.act.settle import repair_interrupted  # noqa: E402
from music_reclass.act.undo import undo_run  # noqa: E402
from music_reclass.errors import ParameterError  # noqa: E402
from music_reclass.plex import (  # noqa: E402
    NoMusicSectionError,
    NotPlexError,
    PlexAuthError,
    PlexSettings,
    PlexUnreachableError,
    PlexUnsupportedError,
    connect,
    parse_path_map,
    plex_status,
    pull_labels,
    push_genres,
    undo_push,
)
from music_reclass.store import db as store_db  # noqa: E402
from music_reclass.store.db import transaction  # noqa: E402
from music_reclass.store.journal import entries, set_done  # noqa: E402
from music_reclass.store.runs import finish_run, get_run, list_runs, start_run  # noqa: E402
from plex_fixtures import PATH_MAP, build  # noqa: E402

MAPS = (parse_path_map(PATH_MAP),)


@pytest.fixture(autouse=True)
def _no_user_config(tmp_path, monkeypatch):
    monkeypatch.setenv("RECLASS_CONFIG", str(tmp_path / "absent.toml"))
    monkeypatch.delenv("RECLASS_PLEX_URL", raising=False)
    monkeypatch.setenv("RECLASS_PLEX_TOKEN", TOKEN)  # what `reclass undo` reconnects with


@pytest.fixture
def fake():
    with FakePlex() as server:
        yield server


@pytest.fixture
def conn(tmp_path):
    connection = store_db.connect(tmp_path / "lib.sqlite")
    yield connection
    connection.close()


def _session(fake: FakePlex, token: str = TOKEN):
    return connect(PlexSettings(fake.url, token, timeout=5.0))


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# ----------------------------------------------------------------------------- connecting


def test_connect_reads_version_and_music_sections(fake):
    session = _session(fake)
    assert session.version_tuple[:2] == (1, 40) and session.track_genres
    assert [s.title for s in session.sections] == ["Music"]
    assert [r.path for r in fake.requests] == ["/", "/library", "/library/sections"]
    assert all(r.token == TOKEN for r in fake.requests)


def test_unreachable_server_is_one_clear_error():
    url = f"http://127.0.0.1:{_free_port()}"
    with pytest.raises(PlexUnreachableError) as info:
        connect(PlexSettings(url, TOKEN, timeout=5.0))
    assert "Connection refused" in str(info.value) and url in str(info.value)
    assert TOKEN not in str(info.value)


def test_wrong_token_is_401_and_never_echoed(fake):
    with pytest.raises(PlexAuthError) as info:
        _session(fake, token="wrong-token-42")
    assert "401" in str(info.value)
    assert "wrong-token-42" not in str(info.value)
    assert fake.requests[0].status == 401


def test_no_music_section(tmp_path):
    with FakePlex(music=False) as server, pytest.raises(NoMusicSectionError) as info:
        _session(server)
    assert "Movies (movie)" in str(info.value)


def test_a_web_server_that_is_not_plex():
    class NotFound(BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(404)
            self.send_header("Content-Length", "9")
            self.end_headers()
            self.wfile.write(b"not found")

        def log_message(self, *args):
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), NotFound)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        with pytest.raises(NotPlexError, match="not as a Plex Media Server"):
            connect(PlexSettings(f"http://127.0.0.1:{httpd.server_address[1]}", TOKEN))
    finally:
        httpd.shutdown()
        httpd.server_close()


# ----------------------------------------------------------------------------- status


def test_status_compares_plex_predictions_and_decisions(fake):
    lib = build(fake)
    report = plex_status(_session(fake), lib.records, path_maps=MAPS)
    totals = report.totals
    assert (totals.plex_tracks, totals.matched, totals.matched_by_path, totals.matched_by_tags) == (
        7, 5, 4, 1,
    )  # fmt: skip
    assert (totals.ambiguous, totals.unmatched, totals.library_only) == (1, 1, 3)
    rows = {r.rating_key: r for r in report.rows}
    sinnerman = rows[lib.plex["sinnerman"].rating_key]
    assert sinnerman.plex_genres == ("Pop",) and sinnerman.locked is False
    assert sinnerman.agrees_prediction is False and sinnerman.agrees_decided is False
    one_more = rows[lib.plex["one_more_time"].rating_key]
    assert one_more.agrees_prediction is True and one_more.agrees_decided and one_more.locked
    assert rows[lib.plex["husband"].rating_key].agrees_prediction is None  # Plex has none
    assert {c.rating_key for c in report.changes} == {
        lib.plex[n].rating_key for n in ("sinnerman", "husband", "aerodynamic")
    }
    assert any("Crescendolls" in s for s in report.skipped)
    assert not fake.edits()


# ----------------------------------------------------------------------------- push and undo


def test_dry_run_sends_no_edit_and_writes_no_journal(fake, conn):
    lib = build(fake)
    report = push_genres(conn, _session(fake), lib.records, path_maps=MAPS, dry_run=True)
    assert len(report.changes) == 3 and report.run_id is None
    assert not fake.edits()
    assert list_runs(conn) == []  # no run, so no journal row either


def _params(request) -> dict[str, str]:
    return dict(request.query)


def test_push_sends_exact_locked_edits_then_undo_restores(fake, conn):
    lib = build(fake)
    sinnerman, husband, aero = (lib.plex[n] for n in ("sinnerman", "husband", "aerodynamic"))
    session = _session(fake)
    report = push_genres(conn, session, lib.records, path_maps=MAPS)
    assert report.ok and len(report.done) == 3 and report.unchanged == 1
    edits = {int(_params(r)["id"]): _params(r) for r in fake.edits()}
    assert all(r.path == "/library/sections/3/all" for r in fake.edits())
    assert edits == {
        sinnerman.rating_key: {
            "genre.locked": "1", "genre[0].tag.tag": "Jazz", "genre[1].tag.tag": "Blues",
            "genre[].tag.tag-": "Pop", "id": str(sinnerman.rating_key), "type": "10",
        },
        husband.rating_key: {
            "genre.locked": "1", "genre[0].tag.tag": "Blues",
            "id": str(husband.rating_key), "type": "10",
        },
        aero.rating_key: {
            "genre.locked": "1", "genre[0].tag.tag": "Dance", "genre[1].tag.tag": "Electronic",
            # plexapi quotes each name, then the whole value: the server decodes once
            "genre[].tag.tag-": "Hip%20Hop", "id": str(aero.rating_key), "type": "10",
        },
    }  # fmt: skip
    # A fresh read through plexapi shows the genres, locked.
    for item, genres in ((sinnerman, ["Jazz", "Blues"]), (aero, ["Dance", "Electronic"])):
        track = session.server.fetchItem(item.rating_key)
        assert [g.tag for g in track.genres] == genres
        assert track.isLocked("genre")
    rows = entries(conn, report.run_id)
    assert [r.state for r in rows] == ["done"] * 3 and {r.action for r in rows} == {"plex-genre"}
    first = next(r for r in rows if r.before["rating_key"] == sinnerman.rating_key)
    assert first.before["genres"] == ["Pop"] and first.before["locked"] is False
    assert first.after == {"genres": ["Jazz", "Blues"], "locked": True}
    assert first.path.endswith(f"/library/metadata/{sinnerman.rating_key}")
    params = get_run(conn, report.run_id).params
    assert params["url"] == fake.url and TOKEN not in str(params)

    fake.requests.clear()
    undo = undo_run(conn)  # what `reclass undo` does: token from RECLASS_PLEX_TOKEN
    assert undo.ok and len(undo.undone) == 3 and undo.run_id == report.run_id
    assert (sinnerman.genres, husband.genres, aero.genres) == (["Pop"], [], ["Hip Hop"])
    assert not any("genre" in i.locked for i in (sinnerman, husband, aero))
    undo_edits = {int(_params(r)["id"]): _params(r) for r in fake.edits()}
    assert undo_edits[husband.rating_key] == {
        "genre.locked": "0", "genre[].tag.tag-": "Blues",
        "id": str(husband.rating_key), "type": "10",
    }  # fmt: skip
    assert undo_edits[sinnerman.rating_key]["genre[0].tag.tag"] == "Pop"
    assert undo_edits[sinnerman.rating_key]["genre.locked"] == "0"
    assert {r.state for r in entries(conn, report.run_id)} == {"undone"}
    assert {r.state for r in entries(conn, undo.undo_run_id)} == {"done"}
    assert undo_run(conn).run_id is None  # nothing left to undo


def test_undo_refuses_an_item_edited_in_plex_since(fake, conn):
    lib = build(fake)
    session = _session(fake)
    report = push_genres(conn, session, lib.records, path_maps=MAPS)
    lib.plex["sinnerman"].genres = ["Gospel"]  # the owner changed it in Plex afterwards
    undo = undo_push(conn, report.run_id, session=session)
    assert not undo.ok and len(undo.refused) == 1 and "changed in Plex" in undo.refused[0]
    assert lib.plex["sinnerman"].genres == ["Gospel"]
    assert lib.plex["husband"].genres == []
    states = {r.before["title"]: r.state for r in entries(conn, report.run_id)}
    assert states["Nina Simone - Sinnerman"] == "done"


def test_merge_adds_to_plex_genres(fake, conn):
    lib = build(fake)
    report = push_genres(conn, _session(fake), lib.records, path_maps=MAPS, mode="merge")
    sinnerman = lib.plex["sinnerman"]
    assert sinnerman.genres == ["Pop", "Jazz", "Blues"] and "genre" in sinnerman.locked
    edit = next(_params(r) for r in fake.edits() if _params(r)["id"] == str(sinnerman.rating_key))
    assert "genre[].tag.tag-" not in edit and edit["genre[0].tag.tag"] == "Pop"
    assert report.ok


def test_skip_locked_leaves_hand_edited_items_alone(fake, conn):
    lib = build(fake)
    lib.plex["sinnerman"].locked.add("genre")  # the owner set "Pop" by hand in Plex
    report = push_genres(conn, _session(fake), lib.records, path_maps=MAPS, skip_locked=True)
    assert lib.plex["sinnerman"].genres == ["Pop"]
    assert any("Sinnerman: genre field locked" in s for s in report.skipped)
    assert {int(r.param("id")) for r in fake.edits()} == {
        lib.plex["husband"].rating_key, lib.plex["aerodynamic"].rating_key,
    }  # fmt: skip


def test_cancel_between_batches_keeps_what_was_written_undoable(fake, conn):
    lib = build(fake)
    report = push_genres(
        conn, _session(fake), lib.records, path_maps=MAPS, batch_size=1,
        cancel=lambda: len(fake.edits()) >= 1,  # the owner presses Ctrl-C after one edit
    )  # fmt: skip
    assert report.cancelled and len(report.done) == 1 and len(fake.edits()) == 1
    assert get_run(conn, report.run_id).status == "interrupted"
    assert lib.plex["sinnerman"].genres == ["Jazz", "Blues"] and lib.plex["husband"].genres == []
    assert undo_push(conn, report.run_id, session=_session(fake)).ok
    assert lib.plex["sinnerman"].genres == ["Pop"]


def test_cancel_while_reading_plex_edits_nothing(fake, conn):
    lib = build(fake)
    report = push_genres(conn, _session(fake), lib.records, path_maps=MAPS, cancel=lambda: True)
    assert report.cancelled and report.run_id is None and not fake.edits()


def test_old_server_refuses_track_level_and_rolls_up_albums(conn):
    with FakePlex(version=OLD_VERSION) as fake:
        lib = build(fake)
        session = _session(fake)
        assert not session.track_genres
        with pytest.raises(PlexUnsupportedError, match="1.40.*--level album"):
            push_genres(conn, session, lib.records, path_maps=MAPS, dry_run=True)
        status = plex_status(session, lib.records, path_maps=MAPS)
        assert status.level == "album" and "keeps no genres per track" in status.notes[0]
        assert {r.genre_level for r in status.rows} == {"album"}
        report = push_genres(conn, session, lib.records, path_maps=MAPS, level="album")
        pastel = lib.plex["pastel"]
        # Sinnerman votes Jazz, Be My Husband Blues: a tie of halves keeps both.
        assert [c.rating_key for c in report.done] == [pastel.rating_key]
        assert pastel.genres == ["Blues", "Jazz"] and "genre" in pastel.locked
        (edit,) = fake.edits()
        assert edit.param("type") == "9" and edit.param("genre[].tag.tag-") == "Soul"
        assert undo_push(conn, report.run_id, session=session).ok
        assert pastel.genres == ["Soul"] and not pastel.locked


def test_pull_returns_plex_genres_as_labels(fake):
    lib = build(fake)
    session = _session(fake)
    pairs = dict(pull_labels(session, lib.records, path_maps=MAPS))
    assert pairs[lib.path("sinnerman")] == ["Pop"]
    assert pairs[lib.path("husband")] == ["Soul"]  # none of its own: its album's
    assert pairs[lib.path("aerodynamic")] == ["Hip Hop"]
    assert lib.path("not_in_plex") not in pairs
    own_only = dict(pull_labels(session, lib.records, path_maps=MAPS, fallback=False))
    assert lib.path("husband") not in own_only and len(own_only) == 3
    assert not fake.edits()


# ----------------------------------------------------------------------------- crash repair


def test_interrupted_push_rows_are_settled_from_what_plex_shows(fake, conn):
    lib = build(fake)
    session = _session(fake)
    sinnerman, husband = lib.plex["sinnerman"], lib.plex["husband"]
    # A push that lost the server mid-run (it ended "interrupted"), two rows still
    # planned. Plex got the first edit (it shows the new genres), never the second.
    run_id = start_run(
        conn, "plex-push", {"url": fake.url, "server": session.machine_identifier,
                            "pid": 2**22 + 12345, "pid_start": 1},
    )  # fmt: skip
    for item, after in ((sinnerman, ["Jazz"]), (husband, ["Blues"])):
        journal.plan(
            conn, run_id, action="plex-genre", path=session.item_uri(item.rating_key),
            before={"genres": list(item.genres), "locked": False, "rating_key": item.rating_key,
                    "type": "track", "title": item.title, "level": "track", "paths": []},
            after={"genres": after, "locked": True},
        )  # fmt: skip
    finish_run(conn, run_id, "interrupted")
    sinnerman.genres, sinnerman.locked = ["Jazz"], {"genre"}
    # Another push killed between two batches (no row in flight): only its status is left.
    between = start_run(conn, "plex-push", {"url": fake.url, "pid": 2**22 + 12346,
                                            "pid_start": 1, "server": "another server"})
    # The settlement of file runs (every command's first step) leaves Plex rows alone:
    # it cannot see Plex, and would fail them for want of a file.
    assert repair_interrupted(conn) == []
    assert [e.state for e in entries(conn, run_id)] == ["planned", "planned"]
    assert get_run(conn, between).status == "running"
    report = push_genres(conn, session, lib.records, path_maps=MAPS, dry_run=False)
    assert len(report.repaired) == 2
    assert get_run(conn, between).status == "interrupted"
    states = [e.state for e in entries(conn, run_id)]
    assert states == ["done", "failed"]
    assert get_run(conn, run_id).status == "interrupted"
    # The repaired run is undoable: Sinnerman goes back to Pop (the later push changed it
    # again, so it is refused there; undo the later push first).
    assert undo_push(conn, report.run_id, session=session).ok
    undo = undo_push(conn, run_id, session=session)
    assert undo.ok and sinnerman.genres == ["Pop"] and not sinnerman.locked


def test_a_push_in_progress_is_not_undone(fake, conn):
    lib = build(fake)
    session = _session(fake)
    run_id = journal.start_act_run(conn, "plex-push", {"url": fake.url,
                                                       "server": session.machine_identifier})
    item = lib.plex["sinnerman"]
    entry = journal.plan(
        conn, run_id, action="plex-genre", path=session.item_uri(item.rating_key),
        before={"genres": ["Pop"], "locked": False, "rating_key": item.rating_key,
                "type": "track", "title": item.title, "level": "track", "paths": []},
        after={"genres": ["Jazz"], "locked": True},
    )  # fmt: skip
    with transaction(conn):
        set_done(conn, entry)
    # this process is alive: the run is in progress, whichever way undo is asked for
    with pytest.raises(ParameterError, match="still in progress"):
        undo_run(conn, run_id)
    with pytest.raises(ParameterError, match="still in progress"):
        undo_push(conn, run_id, session=session)
    assert not fake.edits()
    journal.end_act_run(conn, run_id, "done", {})
    item.genres, item.locked = ["Jazz"], {"genre"}
    assert undo_run(conn, run_id).ok and item.genres == ["Pop"] and not item.locked
