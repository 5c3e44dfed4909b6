"""Calibrated decisions and the cascade through the ``Library`` façade and the store:
decisions stored and listed for review, re-deciding from stored vectors, the cascade as a
library model, and ``train`` calibrating on the validation part."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from music_reclass import Library
from music_reclass.errors import ParameterError
from music_reclass.pipeline.cascade import CascadeClassifier
from music_reclass.taxonomy import load_taxonomy
from music_reclass.trust.calibration import Calibration
from music_reclass.trust.classifier import TrustedClassifier
from music_reclass.trust.model import LOG_PROBABILITIES, TrustModel
from music_reclass.trust.policy import DecisionPolicy
from test_cascade import two_stage_params
from test_scan import FakeClassifier, tone
from trust_fixtures import stand_in_nets


def clips(root: Path) -> list[Path]:
    """Three clips of 3 musicnn patches (10 s) or more."""
    return [tone(root / "low.wav", 220.0, seconds=10.0),
            tone(root / "high.flac", 880.0, seconds=10.0, fmt="flac"),
            tone(root / "mid.wav", 300.0, seconds=12.0)]


class TrustedFactory:
    """A library's classifier factory: the fake model with given trust parameters."""

    def __init__(self, min_confidence: float) -> None:
        calibration = Calibration(FakeClassifier.classes, 0.5)  # flattens 0.8 to 0.67
        self.trust = TrustModel(LOG_PROBABILITIES, calibration, None,
                                DecisionPolicy(min_confidence))
        self.base = FakeClassifier()

    def __call__(self, spec) -> TrustedClassifier:
        return TrustedClassifier(self.base, self.trust)


def test_decisions_reach_the_store_and_abstentions_the_review_queue(tmp_path):
    clips(tmp_path / "m")
    sure = TrustedFactory(min_confidence=0.5)
    lib = Library(tmp_path / "lib.sqlite", classifier_factory=sure)
    run = lib.classify([tmp_path / "m"], jobs=0)
    assert run.ok and len(run.results) == 3
    for result in run.results:
        assert result.decided == [result.genres[0]["label"]] and result.abstain_reason is None
        assert result.genres[0]["confidence"] == pytest.approx(0.667, abs=1e-3)  # calibrated
        assert result.as_json()["decided"] == result.genres[0]["label"]
    assert all(view.decided for view in lib.files())
    assert sure.base.tracks == 3

    # stricter thresholds: a new model id, answered from the stored vectors (no audio)
    strict = TrustedFactory(min_confidence=0.9)
    lib = Library(tmp_path / "lib.sqlite", classifier_factory=strict)
    run = lib.classify([tmp_path / "m"], jobs=0)
    assert run.summary.from_vectors == 3 and strict.base.tracks == 0
    assert run.model_id != sure(None).model_id
    for result in run.results:
        assert result.decided is None and result.abstain_reason == "low-confidence"
        assert result.as_json()["decided"] is None
    lib.use_model(run.model_id)
    queue = lib.files(status="review")
    assert len(queue) == 3 and {view.abstain_reason for view in queue} == {"low-confidence"}


def cascade_factory(first_min: float, nets: dict):
    def build(spec):
        assert spec.cascade, spec
        params = two_stage_params(load_taxonomy(spec.taxonomy).genres, first_min=first_min)
        return CascadeClassifier(spec.taxonomy, params=params, nets=nets)
    return build


def test_the_cascade_is_a_library_model(tmp_path):
    clips(tmp_path / "m")
    nets = stand_in_nets()
    lib = Library(tmp_path / "lib.sqlite", classifier_factory=cascade_factory(0.0, nets))
    run = lib.classify([tmp_path / "m"], cascade=True, jobs=0)
    assert run.ok and run.model_name == "cascade" and run.model_id.startswith("cascade/")
    assert {r.stage for r in run.results} == {"musicnn-2p"}
    assert all(r.decided and r.as_json()["stage"] == "musicnn-2p" for r in run.results)
    (model,) = lib.models()
    assert model.kind == "cascade" and model.active
    assert {view.stage for view in lib.files()} == {"musicnn-2p"}
    seen = nets["MSD_musicnn"].patches_seen
    assert seen == 2 * 3  # two patches of each clip, not its 3 or 4

    # refitted parameters: the first stage answers from its stored vectors, no network runs
    refitted = Library(tmp_path / "lib.sqlite", classifier_factory=cascade_factory(0.01, nets))
    again = refitted.classify([tmp_path / "m"], cascade=True, jobs=0)
    assert again.model_id != run.model_id and again.summary.from_vectors == 3
    assert nets["MSD_musicnn"].patches_seen == seen
    assert {r.stage for r in again.results} == {"musicnn-2p"}
    from typer.testing import CliRunner

    from music_reclass.cli.main import app
    shown = CliRunner().invoke(app, ["show", "--db", str(tmp_path / "lib.sqlite"),
                                     str(tmp_path / "m" / "low.wav")], catch_exceptions=False)
    assert shown.exit_code == 0 and "(cascade stage musicnn-2p)" in shown.stdout

    # named like any model; never with a model file
    assert lib.use_model("cascade").cascade
    assert lib.use_model("cascade-gtzan").taxonomy == "gtzan"
    model_file = tmp_path / "head.safetensors"
    model_file.write_bytes(b"x")
    with pytest.raises(ParameterError, match="cascade"):
        lib.classify([tmp_path / "m"], model=model_file, cascade=True, jobs=0)


# ------------------------------------------------------------------------ train calibrates
SR = 22050


def _clip(path: Path, kind: str, seed: int) -> None:
    """Two 'genres' a head tells apart, not perfectly: low tones vs noise bursts, each
    with some of the other mixed in."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(2.5 * SR)) / SR
    drone = 0.4 * np.sin(2 * np.pi * (80 + 200 * rng.random()) * t)
    noise = rng.normal(0, 0.3, len(t)) * (np.sin(2 * np.pi * (3 + rng.random()) * t) > 0)
    mix = rng.uniform(0.2, 0.5)
    y = (1 - mix) * drone + mix * noise if kind == "drone" else (1 - mix) * noise + mix * drone
    sf.write(path, y.astype(np.float32), SR)


def _manifest(root: Path, *, valid: bool) -> Path:
    (root / "audio").mkdir(parents=True)
    rows = []
    for kind in ("drone", "noise"):
        for i in range(14):
            name = f"{kind}{i}.wav"
            _clip(root / "audio" / name, kind, seed=100 * (kind == "noise") + i)
            split = "train" if i < 6 else ("valid" if i < 11 and valid else "test")
            rows.append({"path": f"audio/{name}", "label": kind, "split": split,
                         "artist": f"{kind}-{i // 2}"})
    path = root / "manifest.csv"
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=["path", "label", "split", "artist"])
        writer.writeheader()
        writer.writerows(rows)
    return path


def test_train_calibrates_the_head_on_the_validation_part(tmp_path):
    from music_reclass.pipeline import load_classifier

    manifest = _manifest(tmp_path / "data", valid=True)
    lib = Library(tmp_path / "lib.sqlite")
    out = tmp_path / "models" / "toy.safetensors"
    outcome = lib.train(("manifest", manifest), out=out, features="gtzan53", jobs=1)
    calibration = outcome.calibration
    assert calibration is not None and calibration["n"] == 10
    assert calibration["method"].startswith("temperature")
    assert "validation part" in calibration["data"]
    for key in ("ece_before", "ece_after_in_sample", "ece_after_cv"):
        assert 0.0 <= calibration[key] <= 1.0
    trust = json.loads(outcome.sidecar_path.read_text())["trust"]
    assert trust["calibration"]["method"] == calibration["method"]
    assert "validation part" in trust["calibration"]["fitted_on"]["data"]
    assert {"ece_before", "ece_after_cv"} <= set(trust["calibration"]["metrics"])
    assert trust["policy"]["target_precision"] == 0.9
    assert trust["oov"]["kind"] == "prototype-distance"
    classifier = load_classifier(out)
    assert classifier.trust.calibrated and "/trust@" in classifier.model_id
    prediction = classifier.predict_file(manifest.parent / "audio" / "drone13.wav")
    assert (prediction.decided is None) == (prediction.abstain_reason is not None)


def test_train_without_a_validation_part_says_it_is_uncalibrated(tmp_path):
    manifest = _manifest(tmp_path / "data", valid=False)
    out = tmp_path / "toy.safetensors"
    outcome = Library(tmp_path / "lib.sqlite").train(("manifest", manifest), out=out,
                                                     features="gtzan53", jobs=1)
    assert outcome.calibration is None
    assert any("not calibrated" in note for note in outcome.notes)
    assert json.loads(outcome.sidecar_path.read_text()).get("trust") is None


def test_cli_list_and_show_give_the_reason_of_an_abstention(tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from music_reclass.cli import common
    from music_reclass.cli.main import app

    clips(tmp_path / "m")
    monkeypatch.setattr(common, "classifier_factory", TrustedFactory(min_confidence=0.9))
    db = tmp_path / "lib.sqlite"

    def invoke(*args):
        return CliRunner().invoke(app, [str(a) for a in args], catch_exceptions=False)

    classified = invoke("classify", tmp_path / "m", "--db", db, "--json", "--jobs", "0")
    rows = [json.loads(line) for line in classified.stdout.splitlines() if line.strip()]
    assert len(rows) == 3
    assert all(r["decided"] is None and r["abstain_reason"] == "low-confidence" for r in rows)
    listed = invoke("list", "--db", db, "--status", "review")
    assert listed.exit_code == 0 and listed.stdout.count("review: low-confidence") == 3
    table = list(csv.DictReader(invoke("list", "--db", db, "--csv").stdout.splitlines()))
    assert {row["status"] for row in table} == {"review: low-confidence"}
    shown = invoke("show", "--db", db, tmp_path / "m" / "low.wav")
    assert "decided: abstained (low-confidence)" in shown.stdout


def test_config_defaults_never_override_the_active_model_and_no_cascade_means_it(
        tmp_path, monkeypatch):
    """`[classify] taxonomy`/`cascade` in the config are defaults for a library with no
    chosen model; `--no-cascade` leaves an active cascade for the plain embedded model."""
    from music_reclass.library import Library
    from music_reclass.library.models import parse_spec

    config = tmp_path / "config.toml"
    config.write_text('[classify]\ntaxonomy = "default"\ncascade = true\n')
    monkeypatch.setenv("RECLASS_CONFIG", str(config))
    library = Library(tmp_path / "lib.sqlite")
    assert not library.has_chosen_model()
    library.connection(create=True)
    library.use_model("gtzan")
    assert library.has_chosen_model()
    conn = library.connection()
    assert parse_spec(conn, None, None, cascade=None) is None  # the active model (gtzan)
    library.use_model("cascade")
    plain = parse_spec(conn, None, None, cascade=False)
    assert plain is not None and not plain.cascade and plain.taxonomy == "default"
