"""``Library.learn``, ``suggest`` and ``inconsistencies`` through the façade and the CLI.

Fast: the audio is classified by test_scan's fake model, and the musicnn-space vectors a
real classify run would store are written for each content (synthetic embeddings that
follow the clip's pitch), so the personal model is real and answers from them.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from act_fixtures import add_tags
from music_reclass import Library
from music_reclass.cli import common
from music_reclass.cli.main import app
from music_reclass.errors import MissingDatabaseError, ReclassError
from music_reclass.library import CancelToken
from music_reclass.library.models import load_spec
from music_reclass.models.artifact import read_sidecar
from music_reclass.store.db import connect, transaction
from music_reclass.store.vectors import put_vectors
from personal_fixtures import (  # noqa: F401 - isolated_config is an autouse fixture
    DIM,
    isolated_config,
    make_tracks,
    musicnn_space,
    synthetic_library,
    to_vectors,
)
from test_scan import FakeClassifier, tone

#: (file stem, pitch, genre tag as the owner spelled it, artist); None: untagged
CLIPS = [(f"low{i}", 200 + 10 * i, tag, f"Low {i % 3}")
         for i, tag in enumerate(["Hip-Hop", "hip hop", "HIP-HOP", "Hip-Hop", None, None])]
CLIPS += [(f"high{i}", 900 + 10 * i, tag, f"High {i % 3}")
          for i, tag in enumerate(["ROCK", "Rock", "rock", "Rock", None, None])]


def factory(spec):
    """The fake for the embedded model; the real loader for model files (the personal one)."""
    return FakeClassifier() if spec.file is None else load_spec(spec)


def embed(pitch: float, seed: int) -> np.ndarray:
    """A 500-value "embedding" that separates low from high clips, with noise."""
    rng = np.random.default_rng(seed)
    centre = np.random.default_rng(0).normal(size=DIM) * (1.0 if pitch < 500 else -1.0)
    return (centre + 0.7 * rng.normal(size=DIM)).astype(np.float32)


@pytest.fixture
def tagged(tmp_path):
    """Twelve clips, eight tagged by their owner, classified, with musicnn-space vectors."""
    music = tmp_path / "music"
    for stem, pitch, tag, artist in CLIPS:
        path = tone(music / f"{stem}.wav", pitch)
        add_tags(path, genres=[tag] if tag else [], artist=artist, album=f"{artist} LP")
    db = tmp_path / "lib.sqlite"
    lib = Library(db, classifier_factory=factory)
    assert lib.classify([music], jobs=0).summary.ok == 12
    add_musicnn_vectors(db, lib)
    return music, db, lib


def add_musicnn_vectors(db: Path, lib: Library) -> None:
    conn = connect(db)
    with transaction(conn):
        for i, view in enumerate(lib.files()):
            pitch = next(p for s, p, _, _ in CLIPS if Path(view.path).stem == s)
            put_vectors(conn, view.content_hash, musicnn_space(), to_vectors(embed(pitch, i)))
    conn.close()


def test_learn_then_classify_answers_in_the_owners_words(tagged, tmp_path):
    music, db, lib = tagged
    report = lib.learn()
    assert report.status == "done" and report.active
    assert [g.name for g in report.genres] == ["Hip-Hop", "Rock"]
    assert report.genres[0].spellings == {"Hip-Hop": 2, "hip hop": 1, "HIP-HOP": 1}
    assert report.tracks == 8 and report.unlabelled == 4 and report.sources == {"file tags": 8}
    assert report.evaluation["protocol"].startswith("artist-grouped")
    assert report.model_path == db.parent / "lib.models" / "personal-1.safetensors"
    meta = read_sidecar(report.model_path)
    assert meta["kind"] == "head" and meta["classes"] == ["Hip-Hop", "Rock"]
    assert meta["labels"]["vocabulary"]["Rock"] == {"ROCK": 1, "Rock": 2, "rock": 1}
    assert meta["calibration"]["method"] == "temperature" and "fitted_on" in meta["calibration"]
    assert meta["metrics"]["cv"]["accuracy"] > 0.8 and meta["feature"]["name"] == "musicnn"
    assert lib.runs(kinds=("learn",))[0].status == "done"

    run = lib.classify([music], jobs=0)
    assert run.model_name == "personal-1" and run.summary.from_vectors == 12
    labels = {Path(r.path).stem: r.genres[0]["label"] for r in run.results}
    assert {labels[s] for s in ("low4", "low5")} == {"Hip-Hop"}
    assert {labels[s] for s in ("high4", "high5")} == {"Rock"}
    decided = [r.decided for r in run.results if r.decided]
    assert decided and all(d[0] in ("Hip-Hop", "Rock") for d in decided)
    back = lib.classify([music], model="default", jobs=0)
    assert {r.genres[0]["label"] for r in back.results} <= {"low", "high"}
    assert [m.name for m in lib.models() if m.active] == ["personal-1"]
    assert lib.learn(activate=False).model_name == "personal-2"
    assert [m.name for m in lib.models() if m.active] == ["personal-1"]


def test_corrections_are_labels_and_win_over_tags(tagged):
    music, db, lib = tagged
    lib.correct([music / "low4.wav", music / "low5.wav"], ["Trip Hop"])
    lib.correct([music / "high4.wav"], ["Trip-Hop"])
    prepared = lib.prepare_labels(min_tracks=1)
    assert prepared.labelling.classes == ["Hip-Hop", "Rock", "Trip Hop"]
    assert prepared.labelling.sources["corrections"] == 3
    report = lib.learn(min_tracks=3)
    assert "Trip Hop" in [g.name for g in report.genres]
    undo = lib.undo(lib.runs(kinds=("correct",))[0].id)
    assert undo.undone
    assert "Trip Hop" not in lib.prepare_labels(min_tracks=3).labelling.classes


def test_tags_reclass_wrote_never_become_labels(tagged):
    music, db, lib = tagged
    lib.use_model("default")
    summary = lib.tag([music], mode="fill")  # the fake's "low"/"high" into untagged files
    assert len(summary.changes) == 4
    prepared = lib.prepare_labels()
    assert prepared.labelling.classes == ["Hip-Hop", "Rock"]
    assert prepared.labelling.sources["tags written by reclass, left out"] == 4
    assert len(prepared.labelling.unlabelled) == 4 and prepared.missing_vectors == 0


def test_suggest_lists_untagged_tracks_with_reasons(tagged):
    music, db, lib = tagged
    report = lib.suggest(3)
    assert report.candidates == 4 and len(report.suggestions) == 3
    stems = [Path(s.path).stem for s in report.suggestions]
    assert len(set(stems)) == 3 and set(stems) <= {"low4", "low5", "high4", "high5"}
    assert all(s.reason and s.genres[0][0] in ("Hip-Hop", "Rock") for s in report.suggestions)
    assert report.model.startswith("coverage")  # 8 labels of 2 genres: still covering


def test_suggest_turns_to_the_model_once_genres_are_covered(tmp_path):
    tracks = make_tracks(300, ["Jazz", "Rock", "Reggae"], labelled=0.5, separation=0.15, seed=5)
    lib = Library(synthetic_library(tmp_path / "lib.sqlite", tracks))
    report = lib.suggest(5)
    assert report.model.startswith("the uncertainty of a model of 3 genres")
    assert len({s.path for s in report.suggestions}) == 5
    assert all(s.phase == "refine" and s.reason.startswith("torn between")
               for s in report.suggestions)
    untagged = {t.path for t in tracks if not t.tags}
    assert {s.path for s in report.suggestions} <= untagged
    # the suggestions are among the tracks the model is least sure of
    assert min(s.uncertainty for s in report.suggestions) > 0.5


@pytest.mark.parametrize("labelled", [0.0, 0.3])
def test_suggest_with_one_genre_covers_the_library(tmp_path, labelled):
    tracks = make_tracks(30, ["Rock"], labelled=labelled, seed=2)
    lib = Library(synthetic_library(tmp_path / "lib.sqlite", tracks))
    report = lib.suggest(4)
    assert report.model.startswith("coverage") and len(report.suggestions) == 4
    assert len({s.path for s in report.suggestions}) == 4
    assert report.suggestions[0].reason.startswith("typical of a group")


def test_inconsistencies_find_a_mislabelled_track_with_evidence(tmp_path):
    tracks = make_tracks(300, ["Jazz", "Rock", "Reggae"], labelled=1.0, separation=0.4,
                         seed=3)
    wrong = [t for t in tracks if t.genres == ["Jazz"]][:2]
    for track in wrong:
        track.tags = ["Rock"]
    lib = Library(synthetic_library(tmp_path / "lib.sqlite", tracks))
    report = lib.inconsistencies()
    found = {f.path for f in report.findings}
    assert {t.path for t in wrong} <= found and len(found) <= 4
    first = next(f for f in report.findings if f.path == wrong[0].path)
    assert first.labels == ["Rock"] and first.predicted[0][0] == "Jazz"
    assert "tagged Rock" in first.evidence and "Jazz" in first.evidence
    lib.correct([wrong[0].path], ["Rock"])  # the owner insists: not listed again
    assert wrong[0].path not in {f.path for f in lib.inconsistencies().findings}


def test_multi_genre_tags_give_a_model_that_decides_several(tmp_path):
    tracks = make_tracks(400, ["Rock", "Pop", "Jazz"], labelled=0.8, multi=0.4,
                         separation=0.5, seed=4)
    lib = Library(synthetic_library(tmp_path / "lib.sqlite", tracks))
    report = lib.learn()
    assert report.task == "multi-label"
    assert report.decision["rule"] == "every genre at or above its own threshold"
    head = load_spec(_active_spec(lib)).model.estimator
    several = [head.decide(p)[0] for p in head.predict_proba(np.stack([t.vector
                                                                       for t in tracks]))]
    assert any(d and len(d) > 1 for d in several)


def _active_spec(lib):
    from music_reclass.library.models import active_spec

    return active_spec(lib.connection())


def test_nothing_to_learn_and_no_library_are_one_line_errors(tmp_path):
    with pytest.raises(MissingDatabaseError):
        Library(tmp_path / "none.sqlite").learn()
    lib = Library(synthetic_library(tmp_path / "lib.sqlite",
                                    make_tracks(20, ["Rock"], labelled=1.0)))
    with pytest.raises(ReclassError, match="nothing to learn.*Rock \\(20\\)"):
        lib.learn()
    result = CliRunner().invoke(app, ["learn", "--db", str(tmp_path / "lib.sqlite")])
    assert result.exit_code == 2 and "error: nothing to learn" in result.stderr
    assert "Traceback" not in result.output


def test_a_cancelled_learn_writes_no_model(tmp_path):
    lib = Library(synthetic_library(tmp_path / "lib.sqlite",
                                    make_tracks(60, ["Rock", "Jazz"], labelled=1.0)))
    token = CancelToken()
    token.cancel()
    report = lib.learn(cancel=token)
    assert report.status == "cancelled" and report.model_path is None
    assert not (tmp_path / "lib.models").exists()
    assert lib.runs(kinds=("learn",))[0].status == "cancelled"
    assert lib.models() == []


def test_the_commands(tagged, monkeypatch):
    music, db, lib = tagged
    monkeypatch.setattr(common, "classifier_factory", factory)
    runner = CliRunner()
    result = runner.invoke(app, ["learn", "--db", str(db)])
    assert result.exit_code == 0, result.output
    assert "learnt 2 genres from 8 labelled tracks (file tags 8); single-label" in result.stdout
    assert "also spelled hip hop, HIP-HOP" in result.stdout
    assert "artist-grouped" in result.stdout and "now the library's active model" in result.stdout
    result = runner.invoke(app, ["learn", "--db", str(db), "--json", "--no-activate",
                                 "--pool-rare"])
    report = json.loads(result.stdout)
    assert report["model_name"] == "personal-2" and report["rare_action"] == "pool"
    assert runner.invoke(app, ["learn", "--db", str(db), "--pool-rare",
                               "--drop-rare"]).exit_code == 2
    result = runner.invoke(app, ["classify", str(music), "--db", str(db), "--json"])
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert {r["genres"][0]["label"] for r in rows} == {"Hip-Hop", "Rock"}
    result = runner.invoke(app, ["suggest", "2", "--db", str(db), "--json"])
    assert len(result.stdout.splitlines()) == 2
    assert json.loads(result.stdout.splitlines()[0])["reason"]
    result = runner.invoke(app, ["inconsistencies", "--db", str(db)])
    assert result.exit_code == 0 and "labelled track(s) look inconsistent" in result.stdout
