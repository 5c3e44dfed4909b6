"""``reclass plex status | push | pull`` and ``reclass undo`` against a fake Plex server."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
from pathlib import Path

import pytest

pytest.importorskip("plexapi")

from typer.testing import CliRunner  # noqa: E402

from fake_plex import OLD_VERSION, TOKEN, FakePlex  # noqa: E402
from fault_reclass import FAULT_RECLASS  # noqa: E402
from music_reclass import Library  # noqa: E402
from music_reclass.cli.main import app  # noqa: E402
from plex_fixtures import PATH_MAP, build, write_db  # noqa: E402

runner = CliRunner()
REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def _no_user_config(tmp_path, monkeypatch):
    monkeypatch.setenv("RECLASS_CONFIG", str(tmp_path / "absent.toml"))
    monkeypatch.delenv("RECLASS_PLEX_URL", raising=False)
    monkeypatch.delenv("RECLASS_PLEX_TOKEN", raising=False)


@pytest.fixture
def setup(tmp_path):
    with FakePlex() as fake:
        lib = build(fake)
        db = tmp_path / "lib.sqlite"
        write_db(db, lib.records)
        yield fake, lib, db


def _cli(*args: str):
    return runner.invoke(app, list(args), catch_exceptions=False)


def _conn_args(fake, db, token=TOKEN):
    return ["--url", fake.url, "--token", token, "--db", str(db), "--path-map", PATH_MAP]


def test_status_text_and_json(setup):
    fake, lib, db = setup
    result = _cli("plex", "status", *_conn_args(fake, db), "-v")
    assert result.exit_code == 0, result.output
    out = result.output
    assert "Plex tracks: 7; matched 5 (4 by path, 1 by title/artist/duration), 1 ambiguous" in out
    assert "ambiguous: Daft Punk - Digital Love: 2 library files" in out
    assert "would change: Nina Simone - Sinnerman: GENRE 'Pop' -> 'Jazz; Blues'" in out
    assert "would change 3 item(s)" in out and TOKEN not in out
    result = _cli("plex", "status", *_conn_args(fake, db), "--json")
    records = [json.loads(line) for line in result.stdout.splitlines()]
    totals = records[-1]
    assert totals["type"] == "totals" and totals["matched"] == 5 and totals["would_change"] == 3
    tracks = [r for r in records if r["type"] == "track"]
    assert {t["path"] for t in tracks} >= {lib.path("sinnerman"), lib.path("aerodynamic")}
    assert not fake.edits()


def test_push_dry_run_push_and_reclass_undo(setup, monkeypatch):
    fake, lib, db = setup
    result = _cli("plex", "push", *_conn_args(fake, db), "--dry-run")
    assert result.exit_code == 0, result.output
    assert "would change 3 item(s) (level track, mode replace), 1 already right" in result.output
    assert "(dry run: nothing sent)" in result.output and not fake.edits()

    result = _cli("plex", "push", *_conn_args(fake, db))
    assert result.exit_code == 0, result.output
    assert "changed 3 item(s)" in result.output and "undo with `reclass undo 2`" in result.output
    assert lib.plex["sinnerman"].genres == ["Jazz", "Blues"]
    assert "genre" in lib.plex["sinnerman"].locked
    assert TOKEN not in result.output
    assert TOKEN.encode() not in Path(db).read_bytes()  # nor in the run records

    # `reclass undo` reconnects with the run's URL and the token from the environment.
    result = _cli("undo", "--db", str(db))  # no token anywhere: a clear error
    assert result.exit_code == 2 and "RECLASS_PLEX_TOKEN" in result.output
    assert "reclass plex undo 2 --token" in result.output
    result = _cli("undo", "2", "--db", str(db))  # the run named: the same answer
    assert result.exit_code == 2 and "reclass plex undo 2 --token" in result.output
    assert lib.plex["sinnerman"].genres == ["Jazz", "Blues"]
    monkeypatch.setenv("RECLASS_PLEX_TOKEN", TOKEN)
    result = _cli("undo", "--db", str(db))
    assert result.exit_code == 0, result.output
    assert "run 2: undid 3 change(s), 0 refused" in result.output
    assert lib.plex["sinnerman"].genres == ["Pop"] and not lib.plex["sinnerman"].locked
    assert lib.plex["aerodynamic"].genres == ["Hip Hop"]
    assert _cli("undo", "--db", str(db)).output.strip() == "nothing to undo"
    runs = [json.loads(line)
            for line in _cli("runs", "--db", str(db), "--json").stdout.splitlines()]
    assert [(r["kind"], r["status"]) for r in runs] == [
        ("plex-undo", "done"), ("plex-push", "done"), ("classify", "done")]
    assert runs[0]["summary"] == {"undone": 3, "refused": 0}
    assert runs[0]["params"]["server_name"] == "Living Room Server"


def test_push_exit_codes_for_failures_and_setup_errors(setup, tmp_path):
    fake, lib, db = setup
    result = _cli("plex", "push", *_conn_args(fake, db, token="not-the-token"))
    assert result.exit_code == 2 and "401" in result.output and "not-the-token" not in result.output
    result = _cli("plex", "push", "--url", "ftp://nas", "--token", "t", "--db", str(db))
    assert result.exit_code == 2 and "http://" in result.output
    result = _cli("plex", "push", "--token", "t", "--db", str(db))
    assert result.exit_code == 2 and "RECLASS_PLEX_URL" in result.output
    result = _cli("plex", "push", *_conn_args(fake, db), "--mode", "overwrite")
    assert result.exit_code == 2 and "mode must be one of" in result.output
    # The server refuses one edit (400): that item fails, the others go on, exit 1.
    fake.reject_edits.add(lib.plex["husband"].rating_key)
    result = _cli("plex", "push", *_conn_args(fake, db))
    assert result.exit_code == 1, result.output
    assert "failed: Nina Simone - Be My Husband" in result.output
    assert "changed 2 item(s)" in result.output


def test_old_server_offers_album_rollup(tmp_path):
    with FakePlex(version=OLD_VERSION) as fake:
        lib = build(fake)
        db = tmp_path / "lib.sqlite"
        write_db(db, lib.records)
        result = _cli("plex", "push", *_conn_args(fake, db))
        assert result.exit_code == 2
        assert "1.40 or later" in result.output and "--level album" in result.output
        result = _cli("plex", "push", *_conn_args(fake, db), "--level", "album")
        assert result.exit_code == 0, result.output
        assert "changed: Nina Simone - Pastel Blues (album): GENRE 'Soul' -> 'Blues; Jazz'" in (
            result.output
        )
        assert lib.plex["pastel"].genres == ["Blues", "Jazz"]


def test_pull_writes_a_training_manifest(setup, tmp_path):
    fake, lib, db = setup
    out = tmp_path / "labels.csv"
    result = _cli("plex", "pull", *_conn_args(fake, db), "--out", str(out))
    assert result.exit_code == 0, result.output
    rows = {r["path"]: r for r in csv.DictReader(out.open(encoding="utf-8"))}
    assert rows[lib.path("sinnerman")]["label"] == "Pop"
    assert rows[lib.path("sinnerman")]["artist"] == "Nina Simone"
    assert rows[lib.path("crescendolls")]["genres"] == "Electronic; Dance"  # its album's
    from music_reclass.datasets.manifest import load_manifest

    dataset = load_manifest(out, check_files=False)
    assert len(dataset.tracks) == len(rows) == 5


def test_push_killed_after_planning_is_repaired_by_the_next_push(setup):
    fake, lib, db = setup
    env = {**os.environ, "RECLASS_TEST_KILL_POINT": "planned", "RECLASS_PLEX_TOKEN": TOKEN}
    command = [*FAULT_RECLASS, "plex", "push", "--url", fake.url, "--db", str(db),
               "--path-map", PATH_MAP]
    process = subprocess.run(command, env=env, cwd=REPO, capture_output=True, timeout=120)
    assert process.returncode == -signal.SIGKILL, process.stderr
    assert not fake.edits()  # killed after the first journal row, before its edit
    (run,) = Library(db).runs(kinds=("plex-push",))
    assert run.status == "running"
    assert [e.state for e in Library(db).journal_of(run.id)] == ["planned"]
    result = _cli("plex", "push", *_conn_args(fake, db))
    assert result.exit_code == 0, result.output
    assert "repaired: Nina Simone - Sinnerman: interrupted Plex edit not applied" in result.output
    assert "changed 3 item(s)" in result.output
    assert Library(db).run(run.id).status == "interrupted"
    assert [e.state for e in Library(db).journal_of(run.id)] == ["failed"]


def test_config_file_replaces_the_flags(setup, tmp_path, monkeypatch):
    fake, lib, db = setup
    config = tmp_path / "config.toml"
    config.write_text(f'[library]\ndb = "{db}"\n\n[plex]\nurl = "{fake.url}"\n'
                      f'token = "{TOKEN}"\npath_map = ["{PATH_MAP}"]\nsection = "Music"\n',
                      encoding="utf-8")
    monkeypatch.setenv("RECLASS_CONFIG", str(config))
    result = _cli("plex", "status")
    assert result.exit_code == 0, result.output
    assert "matched 5 (4 by path" in result.output and "would change 3 item(s)" in result.output
    result = _cli("plex", "push")
    assert result.exit_code == 0, result.output
    assert lib.plex["sinnerman"].genres == ["Jazz", "Blues"]
    result = _cli("undo")  # the token from the config file
    assert result.exit_code == 0, result.output
    assert lib.plex["sinnerman"].genres == ["Pop"]
    # a flag still wins over the file
    result = _cli("plex", "status", "--section", "Podcasts")
    assert result.exit_code == 2 and "no music library named 'Podcasts'" in result.output


def test_pull_as_corrections_then_undo_withdraws_them(setup):
    fake, lib, db = setup
    result = _cli("plex", "pull", *_conn_args(fake, db), "--as-corrections")
    assert result.exit_code == 0, result.output
    assert "recorded 5 correction(s) from Plex, 0 kept (run 2; withdraw with `reclass undo 2`)" in (
        result.output)
    assert {c.source for c in Library(db).corrections()} == {"plex"}
    result = _cli("undo", "2", "--db", str(db))
    assert result.exit_code == 0, result.output
    assert Library(db).corrections() == []


def test_decided_genres_follow_the_tag_settings_of_the_config_file(setup, tmp_path, monkeypatch):
    fake, lib, db = setup
    config = tmp_path / "config.toml"
    config.write_text("[tag]\nmin_confidence = 0.8\n", encoding="utf-8")
    monkeypatch.setenv("RECLASS_CONFIG", str(config))
    result = _cli("plex", "push", *_conn_args(fake, db), "--dry-run")
    assert result.exit_code == 0, result.output
    assert "would change: Nina Simone - Sinnerman: GENRE 'Pop' -> 'Jazz'" in result.output
    assert "would change 1 item(s)" in result.output
    result = _cli("plex", "push", *_conn_args(fake, db), "--dry-run", "--min-confidence", "0.5")
    assert "GENRE 'Pop' -> 'Jazz; Blues'" in result.output
    assert "would change 3 item(s)" in result.output
