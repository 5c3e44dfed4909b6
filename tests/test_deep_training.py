"""Training deep models end to end on synthetic audio: splits, determinism, resume after
a cancel and after ``kill -9``, the CLI contract, and the fold comparison."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from deep_fixtures import write_manifest
from music_reclass.cli.main import app
from music_reclass.datasets import load_dataset
from music_reclass.evaluation.deep_training import carve_validation, train_deep
from music_reclass.models.artifact import sidecar_path
from music_reclass.models.deep.artifact import load_deep_model
from music_reclass.models.deep.checkpoint import checkpoint_dir, load_checkpoint

FAST = {"crops_per_track": 2, "batch_size": 8, "min_epoch_examples": 24, "bank_crops": 2}


@pytest.fixture
def dataset(tmp_path):
    return load_dataset("manifest", write_manifest(tmp_path / "data"))


def test_carve_validation_is_artist_disjoint_and_keeps_every_class(dataset):
    train = [t for t in dataset.labelled if t.split == "train"]
    kept, valid, notes = carve_validation(train, fraction=0.3, seed=0)
    assert valid and notes
    assert {t.label for t in kept} == {t.label for t in train}
    assert not {t.artist for t in kept} & {t.artist for t in valid}
    assert sorted(t.track_id for t in kept + valid) == sorted(t.track_id for t in train)


def test_train_deep_writes_a_documented_model(tmp_path, dataset):
    epochs_seen = []
    out = tmp_path / "m.safetensors"
    result = train_deep(dataset, "cnn", out=out, epochs=2, params=FAST,
                        on_epoch=epochs_seen.append)
    assert result.path == out and out.is_file() and not checkpoint_dir(out).exists()
    meta = json.loads(sidecar_path(out).read_text())
    assert meta["kind"] == "deep" and meta["model_type"] == "cnn"
    assert meta["classes"] == ["clicks", "drone", "noise"]
    training = meta["training"]
    assert training["split"] == "official" and training["n_valid"] > 0
    assert any("carved" in n for n in training["split_notes"])
    assert training["epochs_run"] == 2 and len(training["history"]) == 2
    assert set(meta["metrics"]) == {"valid", "test"} and meta["metrics"]["test"]["n"] == 6
    assert [r["epoch"] for r in epochs_seen] == [1, 2]
    assert result.seconds_per_epoch is not None and result.stopped == "completed"


def test_same_seed_same_model_and_resume_after_cancel_is_identical(tmp_path, dataset):
    straight = train_deep(dataset, "cnn", out=tmp_path / "a.safetensors", epochs=3, params=FAST)
    again = train_deep(dataset, "cnn", out=tmp_path / "b.safetensors", epochs=3, params=FAST)
    done = []
    out = tmp_path / "c.safetensors"
    cancelled = train_deep(dataset, "cnn", out=out, epochs=3, params=FAST,
                           on_epoch=done.append, cancel=lambda: len(done) >= 1)
    assert cancelled.stopped == "cancelled" and cancelled.path is None and not out.exists()
    assert load_checkpoint(checkpoint_dir(out)).state["epoch"] == 1
    resumed = train_deep(dataset, "cnn", out=out, epochs=3, params=FAST, resume=True)
    assert resumed.resumed_from == 1 and resumed.stopped == "completed"
    weights = [load_deep_model(r.path).state for r in (straight, again, resumed)]
    for key in weights[0]:
        torch.testing.assert_close(weights[1][key], weights[0][key], rtol=0, atol=0)
        torch.testing.assert_close(weights[2][key], weights[0][key], rtol=1e-5, atol=1e-6)


def test_resume_refuses_a_checkpoint_of_another_run(tmp_path, dataset):
    from music_reclass.errors import ModelError

    done = []
    out = tmp_path / "c.safetensors"
    train_deep(dataset, "cnn", out=out, epochs=3, params=FAST, on_epoch=done.append,
               cancel=lambda: len(done) >= 1)
    with pytest.raises(ModelError, match="different run"):
        train_deep(dataset, "cnn", out=out, epochs=3, seed=7, params=FAST, resume=True)


def test_musicnn_finetune_trains_on_cpu(tmp_path, dataset):
    result = train_deep(dataset, "musicnn-finetune", out=tmp_path / "f.safetensors", epochs=1,
                        params=FAST, architecture={"unfreeze": 2})
    assert result.meta["architecture"]["unfreeze"] == 2
    assert result.meta["metrics"]["test"]["n"] == 6


def test_frozen_musicnn_with_a_head_learns_what_logreg_on_musicnn_learns(tmp_path, dataset):
    """With a frozen trunk the fine-tune is a head on musicnn's penultimate layer: it must
    do at least as well as logistic regression on the musicnn embedding, on the same test
    part (it once stayed near chance: too few optimiser steps, pretrained layers at the
    head's learning rate)."""
    from music_reclass import Library

    deep = train_deep(dataset, "musicnn-finetune", out=tmp_path / "f.safetensors", epochs=4,
                      params={**FAST, "bank_crops": 4}, architecture={"unfreeze": 0})
    head = Library(tmp_path / "lib.sqlite").train(
        ("manifest", tmp_path / "data" / "manifest.csv"), out=tmp_path / "h.safetensors",
        features="musicnn", model="logreg", jobs=0)
    assert deep.test_ids and len(deep.test_ids) == head.test_metrics["n"] == 6
    assert deep.metrics["test"]["accuracy"] >= head.test_metrics["accuracy"] - 1 / 6
    assert deep.metrics["test"]["accuracy"] > 0.5  # three classes: chance is 1/3


def _reclass(*args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "music_reclass.cli.main", *args],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=dict(os.environ))


def test_cli_train_killed_mid_run_then_resumed_then_classify(tmp_path):
    manifest = write_manifest(tmp_path / "data")
    out = tmp_path / "model.safetensors"
    args = ["train", "--dataset", "manifest", str(manifest), "--model", "cnn", "--epochs", "3",
            "--out", str(out), "--device", "cpu"]
    state = checkpoint_dir(out) / "state.json"
    proc = _reclass(*args)
    deadline = time.monotonic() + 240
    while not state.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    time.sleep(0.2)  # into the next epoch
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    proc.stdout.close()
    # the kill landed mid-run: a checkpoint of an unfinished run, no model file yet
    assert state.exists(), "no checkpoint was written before the kill"
    saved = json.loads(state.read_text())
    assert 1 <= saved["epoch"] < 3 and not out.exists()
    runner = CliRunner()
    resumed = runner.invoke(app, [*args, "--resume"])
    assert resumed.exit_code == 0, resumed.output
    assert f"resumed after epoch {saved['epoch']}" in resumed.output
    meta = json.loads(sidecar_path(out).read_text())
    assert meta["training"]["resumed_from_epoch"] == saved["epoch"]
    assert len(meta["training"]["history"]) == 3 or meta["training"]["stopped"] == "early-stopping"
    clip = tmp_path / "data" / "audio" / "drone3.wav"
    db = tmp_path / "lib.sqlite"
    classified = runner.invoke(app, ["classify", str(clip), "--model", str(out), "--json",
                                     "--db", str(db), "--jobs", "1"])
    assert classified.exit_code == 0, classified.output
    record = json.loads([line for line in classified.output.splitlines() if line.startswith("{")][0])
    assert record["status"] == "ok"
    assert {g["label"] for g in record["genres"]} <= {"clicks", "drone", "noise"}
    # the network's id, then its trust parameters (none fitted: the cautious default)
    assert record["model_id"].startswith(f"model@{meta['sha256'][:12]}/trust@")
    evaluated = runner.invoke(app, ["evaluate", str(out), "--dataset", "manifest",
                                    str(tmp_path / "data" / "manifest.csv")])
    assert evaluated.exit_code == 2 and "deep model" in evaluated.output


def test_cli_rejects_unknown_model(tmp_path):
    manifest = write_manifest(tmp_path / "data", per_kind=2)
    result = CliRunner().invoke(app, ["train", "--dataset", "manifest", str(manifest),
                                      "--model", "resnet", "--out", str(tmp_path / "m")])
    assert result.exit_code == 2 and "cnn" in result.output


def test_compare_deep_and_heads_on_the_same_folds(tmp_path, dataset):
    from music_reclass.evaluation.deep_compare import FOLD_COLUMNS, compare_deep

    progress = []
    rows, notes = compare_deep(dataset, ["cnn"], heads=[("gtzan58", "logreg")], n_folds=2,
                               epochs=1, params={"cnn": FAST}, n_jobs=1,
                               on_progress=lambda d, t: progress.append((d, t)))
    assert [r["model"] for r in rows] == ["cnn", "logreg"]
    assert all(r["n_tracks"] == 15 and r["folds"] == 2 for r in rows)
    assert all(set(FOLD_COLUMNS) <= set(r) for r in rows)
    assert progress[-1] == (4, 4) and notes
    assert 0.0 <= rows[0]["accuracy"] <= 1.0 and rows[0]["s_per_epoch"] > 0


def test_cli_compare_with_deep_models(tmp_path):
    manifest = write_manifest(tmp_path / "data", per_kind=3)
    result = CliRunner().invoke(app, ["compare", "--dataset", "manifest", str(manifest),
                                      "--features", "gtzan58", "--models", "cnn,logreg",
                                      "--folds", "2", "--epochs", "1", "--jobs", "1",
                                      "--out", str(tmp_path / "cmp")])
    assert result.exit_code == 0, result.output
    assert "artist-disjoint folds" in result.output and "| cnn |" in result.output
    assert (tmp_path / "cmp" / "comparison.csv").read_text().startswith("model,features,folds")


@pytest.mark.slow
@pytest.mark.parametrize("model", ["cnn", "musicnn-finetune"])
def test_gtzan_dev_trains_on_cpu(tmp_path, shared_dir, model):
    data = load_dataset("gtzan", shared_dir / "audio" / "gtzan-dev")
    result = train_deep(data, model, out=tmp_path / f"{model}.safetensors", epochs=3)
    assert result.meta["training"]["split"] == "artist"
    assert result.metrics["test"]["n"] >= 5
    assert np.isfinite(result.history[-1]["train_loss"])


def test_large_datasets_spool_decoded_audio_to_disk(tmp_path, dataset, monkeypatch):
    from music_reclass.evaluation import deep_training

    monkeypatch.setattr(deep_training, "SPOOL_ABOVE", 3)
    waves, errors = deep_training.decode_tracks(dataset.labelled[:2], spool=tmp_path)
    assert not errors and len(list(tmp_path.glob("*.npy"))) == 2
    assert all(isinstance(w, np.memmap) for w in waves.values())
    result = train_deep(dataset, "cnn", out=tmp_path / "s.safetensors", epochs=1, params=FAST)
    assert result.path is not None and result.metrics["test"]["n"] == 6
