"""The configuration file: locations, precedence, validation, ``reclass config``."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from music_reclass.cli import common
from music_reclass.cli.main import app
from music_reclass.config import load_config
from music_reclass.errors import ParameterError
from test_scan import library, make_fake


def write(tmp_path, text: str):
    path = tmp_path / "config.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_missing_file_is_empty(tmp_path):
    config = load_config(tmp_path / "none.toml")
    assert not config.exists and config.get("tag", "top_k", 3) == 3


@pytest.mark.parametrize("text, message", [
    ("[tag\n", "not valid TOML"),
    ("[nonsense]\nx = 1\n", "unknown section"),
    ("[tag]\ntop_kk = 2\n", "unknown key 'top_kk'"),
    ("[classify]\njobs = true\n", "wrong type"),
    ("[genre_map]\n'Hip Hop' = 3\n", "must map to a name"),
])
def test_bad_files_are_one_line_errors(tmp_path, text, message):
    with pytest.raises(ParameterError, match=message):
        load_config(write(tmp_path, text))


def test_values_and_secrets(tmp_path):
    config = load_config(write(tmp_path, '[library]\ndb = "~/lib.sqlite"\n[plex]\ntoken = "s3cret"\n'
                                         '[genre_map]\n"Hip Hop" = "Hip-Hop"\n'))
    assert config.get("library", "db").endswith("/lib.sqlite") and "~" not in config.get("library", "db")
    assert config.genre_map() == {"Hip Hop": "Hip-Hop"}
    assert config.shown()["plex"]["token"] == "***"


def test_flags_beat_the_file_which_beats_defaults(tmp_path, monkeypatch):
    db = tmp_path / "from-config.sqlite"
    monkeypatch.setenv("RECLASS_CONFIG", str(write(tmp_path, f'[library]\ndb = "{db}"\n'
                                                              '[classify]\njobs = 0\n')))
    monkeypatch.setattr(common, "classifier_factory", make_fake)
    library(tmp_path / "music")
    runner = CliRunner()
    result = runner.invoke(app, ["classify", str(tmp_path / "music"), "-q"])
    assert db.exists(), result.output  # the file's database, created by classify
    flagged = tmp_path / "flag.sqlite"
    runner.invoke(app, ["classify", str(tmp_path / "music"), "-q", "--db", str(flagged)])
    assert flagged.exists()
    monkeypatch.setenv("RECLASS_DB", str(tmp_path / "env.sqlite"))
    shown = json.loads(runner.invoke(app, ["config", "--json"]).stdout)
    assert shown["database_from"] == "RECLASS_DB" and shown["exists"]


def test_a_bad_config_file_stops_every_command_with_one_line(tmp_path, monkeypatch):
    monkeypatch.setenv("RECLASS_CONFIG", str(write(tmp_path, "[tag]\nmode = 1\n")))
    result = CliRunner().invoke(app, ["list"])
    assert result.exit_code == 2 and "wrong type" in result.stderr
    assert "Traceback" not in result.output


def test_the_configured_taxonomy_never_overrides_the_model_the_owner_made_active(
        tmp_path, monkeypatch):
    from music_reclass.library import Library

    specs = []

    def recording_fake(spec=None):
        specs.append(spec)
        return make_fake(spec)

    monkeypatch.setenv("RECLASS_CONFIG", str(write(tmp_path, '[classify]\ntaxonomy = "default"\n'
                                                              'jobs = 0\n')))
    monkeypatch.setattr(common, "classifier_factory", recording_fake)
    library(tmp_path / "music")
    db = tmp_path / "lib.sqlite"
    lib = Library(db)
    lib.connection(create=True)
    lib.use_model("gtzan")  # what `reclass models --use gtzan` (or `learn`) leaves
    result = CliRunner().invoke(app, ["classify", str(tmp_path / "music"), "-q", "--db", str(db)])
    assert result.exit_code == 1 and "model    gtzan" in result.output  # its broken files fail
    assert specs and {s.taxonomy for s in specs} == {"gtzan"}
