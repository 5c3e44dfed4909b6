"""Deep models through the façade: Library.train / compare dispatch, cancel and resume,
and a classify run that stores the model's vectors and answers from them."""

from __future__ import annotations

import json

import pytest

from deep_fixtures import write_manifest
from music_reclass import Library
from music_reclass.errors import ParameterError
from music_reclass.library import DeepTrainOutcome
from music_reclass.models.artifact import sidecar_path
from music_reclass.models.deep.checkpoint import checkpoint_dir

FAST = {"crops_per_track": 2, "batch_size": 8, "min_epoch_examples": 24, "bank_crops": 2}


@pytest.fixture
def manifest(tmp_path):
    return write_manifest(tmp_path / "data")


def test_train_a_deep_model_through_the_facade_then_classify_with_it(tmp_path, manifest):
    from music_reclass.pipeline import load_classifier

    db = tmp_path / "lib.sqlite"
    out = tmp_path / "cnn.safetensors"
    epochs, progress, info = [], [], []
    outcome = Library(db).train(("manifest", manifest), out=out, model="cnn", epochs=2,
                                device="cpu", params=FAST, on_epoch=epochs.append,
                                on_progress=lambda d, t: progress.append((d, t)),
                                on_info=info.append)
    assert isinstance(outcome, DeepTrainOutcome) and outcome.stopped == "completed"
    assert outcome.model_path == out and outcome.sidecar_path == sidecar_path(out)
    assert outcome.epochs_run == 2 and [r["epoch"] for r in epochs] == [1, 2]
    assert outcome.counts["valid"] > 0 and outcome.counts["test"] == 6
    assert outcome.test_metrics["n"] == 6 and (outcome.report_dir / "metrics.json").is_file()
    assert progress[-1] == (15 + 2, 15 + 2) and info and "split official" in info[0]
    assert json.loads(sidecar_path(out).read_text())["training"]["config"]["batch_size"] == 8

    audio = manifest.parent / "audio"
    first = Library(db).classify([audio], model=str(out), jobs=0)
    assert first.summary.ok == 15 and first.summary.from_vectors == 0
    # the run stored the model's vectors: a model of the same space answers from them
    twin = load_classifier(str(out))
    twin.model_id += "-twin"
    second = Library(db, classifier_factory=lambda spec: twin).classify([audio], model=str(out),
                                                                        jobs=0)
    assert second.summary.ok == 15 and second.summary.from_vectors == 15
    before = {r.path: r.genres[0]["label"] for r in first.results}
    assert {r.path: r.genres[0]["label"] for r in second.results} == before


def test_cancelled_training_keeps_its_checkpoint_and_resumes(tmp_path, manifest):
    out = tmp_path / "ft.safetensors"
    lib = Library(tmp_path / "lib.sqlite")
    done = []
    cancelled = lib.train(("manifest", manifest), out=out, model="musicnn-finetune", epochs=2,
                          params=FAST, architecture={"unfreeze": 0}, on_epoch=done.append,
                          cancel=lambda: len(done) >= 1)
    assert cancelled.stopped == "cancelled" and cancelled.model_path is None
    assert cancelled.checkpoint == checkpoint_dir(out) and not out.exists()
    resumed = lib.train(("manifest", manifest), out=out, model="musicnn-finetune", epochs=2,
                        params=FAST, architecture={"unfreeze": 0}, resume=True)
    assert resumed.resumed_from == 1 and resumed.model_path == out and out.is_file()
    meta = json.loads(sidecar_path(out).read_text())
    assert meta["architecture"]["unfreeze"] == 0 and meta["training"]["resumed_from_epoch"] == 1


def test_deep_options_do_not_apply_to_heads(tmp_path, manifest):
    lib = Library(tmp_path / "lib.sqlite")
    for option in ({"epochs": 3}, {"resume": True}, {"device": "cpu"}, {"params": {"lr": 1}}):
        with pytest.raises(ParameterError, match="deep models"):
            lib.train(("manifest", manifest), out=tmp_path / "m", model="logreg", **option)
    with pytest.raises(ParameterError, match="cnn"):
        lib.train(("manifest", manifest), out=tmp_path / "m", model="resnet")
    with pytest.raises(ParameterError, match="deep models"):
        lib.compare(("manifest", manifest), features=["gtzan58"], models=["logreg"], epochs=2)


def test_compare_with_folds_uses_the_fold_table(tmp_path, manifest):
    from music_reclass.evaluation.deep_compare import FOLD_COLUMNS

    outcome = Library(tmp_path / "lib.sqlite").compare(
        ("manifest", manifest), features=["gtzan58"], models=["logreg"], folds=3, jobs=0,
        out=tmp_path / "cmp")
    assert outcome.columns == FOLD_COLUMNS
    assert [(r["model"], r["folds"], r["n_tracks"]) for r in outcome.rows] == [("logreg", 3, 15)]
    assert outcome.written["csv"].read_text().startswith("model,features,folds")
    with pytest.raises(ParameterError, match="folds"):
        Library(tmp_path / "lib.sqlite").compare(("manifest", manifest), features=["gtzan58"],
                                                 models=["logreg"], folds=1)
