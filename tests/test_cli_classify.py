"""``reclass classify``, ``list``, ``show``, ``runs`` from the command line.

Most tests inject the fake classifier of test_scan as the CLI's classifier factory
(``tests/fake_reclass.py`` for subprocesses); ``test_real_default_model_end_to_end`` runs
the real default model.
"""

from __future__ import annotations

import csv
import io
import json
import sqlite3
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from fake_reclass import FAKE_RECLASS
from music_reclass.cli import common
from music_reclass.cli.main import app
from test_scan import FakeClassifier, library, make_fake, tone

TESTS = Path(__file__).resolve().parent
JSON_KEYS = {"path", "status", "genres", "decided", "error", "error_code", "cached",
             "content_hash", "duration", "model_id", "tags"}


@pytest.fixture
def fake(monkeypatch):
    monkeypatch.setattr(common, "classifier_factory", make_fake)


def invoke(*args: str):
    return CliRunner().invoke(app, [str(a) for a in args], catch_exceptions=False)


def json_lines(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def test_json_contract_and_exit_code_1(tmp_path, fake):
    library(tmp_path / "music")
    db = tmp_path / "lib.sqlite"
    result = invoke("classify", tmp_path / "music", "--db", db, "--json", "--jobs", "1")
    assert result.exit_code == 1
    records = json_lines(result.stdout)
    # ignored files (cover.jpg, notes.txt) are counted, never printed
    assert len(records) == 8
    assert not any(r["path"].endswith((".jpg", ".txt")) for r in records)
    for record in records:
        assert set(record) >= JSON_KEYS
        assert record["status"] in {"ok", "error", "skipped"}
        assert Path(record["path"]).is_absolute()
        if record["status"] == "ok":
            assert record["error"] is None and record["genres"]
            confidences = [g["confidence"] for g in record["genres"]]
            assert confidences == sorted(confidences, reverse=True)
            assert set(record["genres"][0]) == {"label", "confidence"}
            assert record["model_id"] == "fake-genre/1"
        else:
            assert record["genres"] == [] and record["error"] and record["error_code"]
    assert sum(r["status"] == "ok" for r in records) == 3
    # summary and failures are on stderr, not mixed into the JSON
    assert "2 ignored" in result.stderr
    assert "short.wav: too short" in result.stderr


def test_all_good_exits_0_then_cached(tmp_path, fake):
    tone(tmp_path / "m" / "a.wav", 220.0)
    tone(tmp_path / "m" / "b.wav", 880.0)
    db = tmp_path / "lib.sqlite"
    first = invoke("classify", tmp_path / "m", "--db", db, "--json", "--jobs", "0")
    assert first.exit_code == 0
    assert [r["cached"] for r in json_lines(first.stdout)] == [False, False]
    second = invoke("classify", tmp_path / "m", "--db", db, "--json")
    assert second.exit_code == 0
    records = json_lines(second.stdout)
    assert [(r["status"], r["cached"]) for r in records] == [("ok", True), ("ok", True)]
    assert records[0]["genres"][0]["label"] == "low"


def test_csv_with_strange_names(tmp_path, fake):
    names = ["new\nline.wav", 'comma, "quote".wav', "ünï 音楽.wav"]
    for i, name in enumerate(names):
        tone(tmp_path / "m" / name, 220.0 + 300 * i)
    result = invoke("classify", tmp_path / "m", "--db", tmp_path / "l.sqlite", "--csv",
                    "--top-k", "2", "--jobs", "0")
    assert result.exit_code == 0
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert {Path(r["path"]).name for r in rows} == set(names)
    assert list(rows[0])[:6] == ["path", "status", "genre1", "confidence1", "genre2",
                                 "confidence2"]
    assert all(r["status"] == "ok" and r["genre1"] in {"low", "high"} for r in rows)
    stored = {Path(r[0]).name for r in
              sqlite3.connect(tmp_path / "l.sqlite").execute("SELECT path FROM files")}
    assert stored == set(names)


def test_human_output_and_summary(tmp_path, fake):
    library(tmp_path / "music")
    result = invoke("classify", tmp_path / "music", "--db", tmp_path / "l.sqlite", "--jobs", "0")
    assert result.exit_code == 1
    assert "3 ok (0 cached), 5 failed, 2 ignored" in result.stdout
    assert "silent.wav: digital silence" in result.stdout
    quiet = invoke("classify", tmp_path / "music", "--db", tmp_path / "l.sqlite", "-q")
    assert "low.wav" not in quiet.stdout.split("classify summary")[0]
    assert "3 ok (3 cached)" in quiet.stdout


@pytest.mark.parametrize(
    "args",
    [
        ["classify", "{tmp}/does-not-exist"],
        ["classify", "{tmp}", "--json", "--csv"],
        ["classify", "{tmp}", "--top-k", "0"],
        ["classify", "{tmp}", "--jobs", "-1"],
        ["classify"],
        ["list", "--status", "weird"],
    ],
)
def test_usage_errors_exit_2(tmp_path, fake, args):
    result = invoke(*[a.format(tmp=tmp_path) for a in args], "--db", tmp_path / "l.sqlite")
    assert result.exit_code == 2


def test_missing_path_message(tmp_path, fake):
    result = invoke("classify", tmp_path / "nope.mp3", "--db", tmp_path / "l.sqlite")
    assert result.exit_code == 2
    assert "no such file or folder" in result.stderr and "nope.mp3" in result.stderr


def test_list_show_runs(tmp_path, fake):
    library(tmp_path / "music")
    db = tmp_path / "lib.sqlite"
    invoke("classify", tmp_path / "music", "--db", db, "--jobs", "0")
    listed = json_lines(invoke("list", "--db", db, "--json").stdout)
    assert len(listed) == 8
    low = json_lines(invoke("list", "--db", db, "--json", "--genre", "LOW").stdout)
    assert {Path(r["path"]).name for r in low} == {"low.wav", "song.mp3"}
    errors = json_lines(invoke("list", "--db", db, "--json", "--status", "error").stdout)
    assert len(errors) == 5 and all(r["error_code"] for r in errors)
    table = invoke("list", "--db", db)
    assert table.exit_code == 0 and "8 file(s)" in table.stdout

    shown = invoke("show", tmp_path / "music" / "a" / "high.flac", "--db", db, "--json")
    details = json.loads(shown.stdout)
    assert details["status"] == "ok" and details["content_hash"]
    assert details["track"]["duration"] == pytest.approx(4.0, abs=0.01)
    analysis = details["analyses"][0]
    assert analysis["genres"][0]["label"] == "high"
    assert details["vectors"] == [{"space": FakeClassifier.embedding_space, "length": 3}]
    assert details["run"]["kind"] == "classify"
    human = invoke("show", tmp_path / "music" / "b" / "short.wav", "--db", db)
    assert human.exit_code == 0 and "too-short" in human.stdout
    unknown = invoke("show", tmp_path / "nothing.wav", "--db", db)
    assert unknown.exit_code == 1

    runs = json_lines(invoke("runs", "--db", db, "--json").stdout)
    assert len(runs) == 1 and runs[0]["status"] == "done"
    assert (runs[0]["summary"]["ok"], runs[0]["summary"]["failed"]) == (3, 5)
    assert "classify" in invoke("runs", "--db", db).stdout


def test_subprocess_json_is_clean_stdout(tmp_path):
    """The installed entry point: stdout carries JSON only, workers run, exit codes hold."""
    tone(tmp_path / "m" / "a.wav", 220.0)
    env = {**__import__("os").environ, "PYTHONPATH": str(TESTS)}
    proc = subprocess.run(
        [*FAKE_RECLASS, "classify", str(tmp_path / "m"),
         "--db", str(tmp_path / "l.sqlite"), "--json", "--jobs", "1"],
        capture_output=True, text=True, env=env, timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    records = json_lines(proc.stdout)
    assert len(records) == 1 and records[0]["status"] == "ok"


def test_real_default_model_end_to_end(tmp_path):
    """The real classifier (musicnn, default taxonomy) on synthetic audio, through the CLI."""
    tone(tmp_path / "m" / "a.wav", 220.0, seconds=6.0)
    tone(tmp_path / "m" / "b.mp3", 660.0, seconds=6.0, fmt="mp3")
    tone(tmp_path / "m" / "short.wav", 660.0, seconds=1.0)
    db = tmp_path / "lib.sqlite"
    result = invoke("classify", tmp_path / "m", "--db", db, "--json", "--jobs", "1")
    assert result.exit_code == 1, result.stderr
    records = {Path(r["path"]).name: r for r in json_lines(result.stdout)}
    assert records["short.wav"]["error_code"] == "too-short"
    for name in ("a.wav", "b.mp3"):
        record = records[name]
        assert record["status"] == "ok"
        assert record["model_id"].startswith("musicnn-zeroshot/default")
        assert len(record["genres"]) == 3 and 0 < record["genres"][0]["confidence"] <= 1
        assert record["tags"]
    conn = sqlite3.connect(db)
    layout = json.loads(conn.execute("SELECT layout FROM spaces").fetchone()[0])
    assert ["msd.penultimate", 200] in layout and ["mtt.taggram", 50] in layout
    stored = json.loads(conn.execute("SELECT genres FROM analyses WHERE status='ok'").fetchone()[0])
    assert abs(sum(g["confidence"] for g in stored) - 1.0) < 1e-3  # every class stored
    again = invoke("classify", tmp_path / "m" / "a.wav", "--db", db, "--json")
    assert json_lines(again.stdout)[0]["cached"] is True


def _training_clip(path: Path, kind: str, seed: int, *, sr: int = 44100,
                   seconds: float = 3.5) -> Path:
    """Two easily told apart 'genres' with content above 8 kHz (lost at 16 kHz):
    low drones with a bright shimmer, and bright noise bursts."""
    import soundfile as sf

    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * sr)) / sr
    if kind == "drone":
        f = 80 + 40 * rng.random()
        y = 0.4 * np.sin(2 * np.pi * f * t) + 0.1 * np.sin(2 * np.pi * (9000 + 500 * rng.random()) * t)
    else:
        y = rng.normal(0, 0.3, len(t)) * (np.sin(2 * np.pi * (3 + rng.random()) * t) > 0)
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, y.astype(np.float32), sr, format="FLAC")
    return path


@pytest.fixture
def trained_gtzan58(tmp_path) -> Path:
    """A logistic regression on gtzan58 features of 12 synthetic clips (as `reclass train` makes it)."""
    rows = []
    for kind in ("drone", "noise"):
        for i in range(6):
            name = f"{kind}{i}.flac"
            _training_clip(tmp_path / "train" / name, kind, seed=i)
            rows.append({"path": f"train/{name}", "label": kind,
                         "split": "train" if i < 4 else "test", "artist": f"{kind}-{i}"})
    manifest = tmp_path / "manifest.csv"
    with manifest.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=["path", "label", "split", "artist"])
        writer.writeheader()
        writer.writerows(rows)
    model = tmp_path / "models" / "toy.joblib"
    result = invoke("train", "--dataset", "manifest", manifest, "--features", "gtzan58",
                    "--model", "logreg", "--out", model, "--jobs", "1")
    assert result.exit_code == 0, result.output
    return model


@pytest.mark.parametrize("jobs", ["0", "1"])
def test_trained_model_gets_the_extractors_own_features(tmp_path, trained_gtzan58, jobs):
    """--model: features come from the file read the extractor's way (22.05 kHz for gtzan58),
    exactly as `extractor.extract(path)` computes them, not from the 16 kHz excerpt."""
    from music_reclass.audio.excerpt import load_excerpt
    from music_reclass.features import get_extractor
    from music_reclass.models.musicnn import MUSICNN_INPUT
    from music_reclass.pipeline import load_classifier
    from music_reclass.store.db import connect
    from music_reclass.store.files import lookup_file
    from music_reclass.store.vectors import get_vectors

    folder = tmp_path / "library"
    files = [_training_clip(folder / "drone new.flac", "drone", seed=50),
             _training_clip(folder / "noise new.flac", "noise", seed=51)]
    db = tmp_path / "lib.sqlite"
    result = invoke("classify", folder, "--db", db, "--json", "--model", trained_gtzan58,
                    "--jobs", jobs)
    assert result.exit_code == 0, result.stderr
    records = {Path(r["path"]).name: r for r in json_lines(result.stdout)}
    # the library's model: the trained head with its trust parameters (uncalibrated here:
    # the manifest has no validation part, so its probabilities pass through)
    classifier = load_classifier(trained_gtzan58)
    extractor = get_extractor("gtzan58")
    conn = connect(db)
    for path in files:
        record = records[path.name]
        assert record["status"] == "ok" and record["model_id"] == classifier.model_id
        content = lookup_file(conn, path.resolve()).content_hash
        stored = get_vectors(conn, content, extractor.space)["features.gtzan58"]
        expected = extractor.extract(path)
        # handcrafted features are stored exactly (float32)
        np.testing.assert_allclose(stored, expected, rtol=1e-5, atol=1e-6)
        # the 16 kHz excerpt would have given other features (the test can tell them apart)
        excerpt = load_excerpt(path, MUSICNN_INPUT).waveform
        assert not np.allclose(extractor.extract_waveform(excerpt, 16000), expected,
                               rtol=1e-3, atol=1e-4)
        direct = classifier.predict_file(path)
        assert record["genres"][0]["label"] == direct.genres[0][0]
        assert record["genres"][0]["confidence"] == pytest.approx(direct.genres[0][1], abs=1e-6)
        assert record["decided"] == (direct.decided[0] if direct.decided else None)
    assert records["drone new.flac"]["genres"][0]["label"] == "drone"
    assert records["noise new.flac"]["genres"][0]["label"] == "noise"


def test_main_process_builds_the_default_classifier_without_torch():
    """The classify run's main process only records: building the default classifier
    (model id from the weights' sidecars) must not import torch; loading the networks
    (what each worker does) gives the versions the model id names."""
    code = (
        "import sys\n"
        "from music_reclass.pipeline import load_classifier\n"
        "clf = load_classifier()\n"
        "print('torch' in sys.modules)\n"
        "clf.ensure_loaded()\n"
        "print('torch' in sys.modules)\n"
        "print(all(f'{m}@{n.version}' in clf.model_id for m, n in clf.nets.items()))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["False", "True", "True"]


def test_a_usage_error_leaves_no_new_database_behind(tmp_path, fake):
    library(tmp_path / "music")
    db = tmp_path / "new.sqlite"
    result = invoke("classify", tmp_path / "music", "--db", db, "--model", tmp_path / "none.safetensors")
    assert result.exit_code == 2 and not db.exists()
