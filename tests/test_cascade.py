"""The progressive cascade: stage rule, early stopping, vote pooling, fitting, runtime."""

from __future__ import annotations

import json

import numpy as np
import pytest

from music_reclass.errors import ModelError, ParameterError
from music_reclass.models.linear import LinearHead
from music_reclass.pipeline import load_classifier
from music_reclass.pipeline.cascade import CascadeClassifier, patch_indices, shipped_cascade
from music_reclass.taxonomy import load_taxonomy
from music_reclass.trust.calibration import Calibration
from music_reclass.trust.cascade_fit import (
    CascadeData,
    StagePlan,
    cross_validate_cascade,
    fit_cascade,
    fit_pool_weights,
    run_cascade,
)
from music_reclass.trust.cascade_params import CascadeParams, Component, Stage
from music_reclass.trust.fitting import TrustSettings
from music_reclass.trust.model import LOG_PROBABILITIES, TAXONOMY_EVIDENCE, TrustModel
from music_reclass.trust.policy import DecisionPolicy
from music_reclass.trust.vocabulary import EvidenceOOV
from trust_fixtures import stand_in_nets, tone


def test_patch_indices_spread_over_the_excerpt():
    assert patch_indices(10, 2) == [2, 7]
    assert patch_indices(10, 3) == [1, 5, 8]
    assert patch_indices(3, 5) == [0, 1, 2]
    assert patch_indices(4, None) == [0, 1, 2, 3]


def two_stage_params(classes, *, first_min: float) -> CascadeParams:
    """musicnn on 2 patches, then on the whole excerpt (the default taxonomy's shape)."""
    def trust(min_confidence):
        return TrustModel(TAXONOMY_EVIDENCE, Calibration(tuple(classes), 2.0), EvidenceOOV(),
                          DecisionPolicy(min_confidence))
    components = {"musicnn-2p": Component("musicnn-2p", "musicnn", 2),
                  "musicnn": Component("musicnn", "musicnn", None)}
    stages = (Stage("musicnn-2p", {"musicnn-2p": 1.0}, trust(first_min)),
              Stage("full", {"musicnn": 1.0}, trust(0.0)))
    return CascadeParams(tuple(classes), components, stages)


def test_cascade_stops_at_the_first_confident_stage():
    classes = load_taxonomy("default").genres
    nets = stand_in_nets()
    cascade = CascadeClassifier("default", params=two_stage_params(classes, first_min=0.0),
                                nets=nets)
    prediction = cascade.predict_waveform(tone(20.0))  # 6 patches
    assert prediction.stage == "musicnn-2p" and prediction.decided
    assert prediction.n_patches == 2 and nets["MSD_musicnn"].patches_seen == 2
    # vectors of 2 patches live in their own space, apart from the full-excerpt means
    assert cascade.embedding_space.startswith("musicnn-2p/")
    assert prediction.vectors.keys() == {cascade.embedding_space}
    assert prediction.vectors[cascade.embedding_space]["msd.taggram"].shape == (50,)
    assert sum(p for _, p in prediction.genres) == pytest.approx(1.0)
    # without a spectral stage, the runner decodes musicnn's excerpt for it
    assert cascade.input.mode == "excerpt" and cascade.input.sample_rate == 16000


def test_cascade_answers_from_its_stored_first_stage_vectors():
    from music_reclass.store.vectors import _unpack, layout_of, pack

    classes = load_taxonomy("default").genres
    nets = stand_in_nets()
    sure = CascadeClassifier("default", params=two_stage_params(classes, first_min=0.0),
                             nets=nets)
    prediction = sure.predict_waveform(tone(20.0))
    stored = prediction.vectors[sure.embedding_space]
    layout = layout_of(stored)
    dtype, blob = pack(stored, layout, "float16")  # as the library keeps them
    again = sure.predict_vectors(_unpack(blob, dtype, layout))
    assert nets["MSD_musicnn"].patches_seen == 2  # no network ran for it
    assert again.stage == "musicnn-2p" and again.decided == prediction.decided
    assert dict(again.genres) == pytest.approx(dict(prediction.genres), abs=2e-3)
    assert again.vectors == {}
    unsure = CascadeClassifier("default", params=two_stage_params(classes, first_min=1.0),
                               nets=nets)
    with pytest.raises(ModelError, match="audio"):  # later stages need the audio
        unsure.predict_vectors(stored)
    with pytest.raises(ModelError, match="lack"):
        sure.predict_vectors({"msd.taggram": stored["msd.taggram"]})


def test_cascade_goes_on_when_unsure_and_reuses_work():
    classes = load_taxonomy("default").genres
    nets = stand_in_nets()
    cascade = CascadeClassifier("default", params=two_stage_params(classes, first_min=1.0),
                                nets=nets)
    trace_prediction = cascade.predict_waveform(tone(20.0))
    assert trace_prediction.stage == "full" and trace_prediction.n_patches == 6
    assert nets["MSD_musicnn"].patches_seen == 6  # 2 + the 4 others, none twice
    # the full-excerpt means go to the musicnn space (the default model's vectors) and the
    # first stage's to its own
    assert trace_prediction.vectors.keys() == {cascade.embedding_space, cascade.full_space}
    assert cascade.full_space.startswith("musicnn/")
    assert trace_prediction.vectors[cascade.full_space]["msd.taggram"].shape == (50,)
    # the full stage equals the zero-shot evidence over every patch, calibrated
    from music_reclass.pipeline import MusicnnTagClassifier

    raw = MusicnnTagClassifier("default", nets=stand_in_nets()).predict_waveform(tone(20.0))
    evidence = load_taxonomy("default").evidence(
        {"MSD_musicnn": raw.embeddings["msd.taggram"], "MTT_musicnn": raw.embeddings["mtt.taggram"]})
    for name, array in raw.vectors[cascade.full_space].items():
        assert trace_prediction.vectors[cascade.full_space][name] == pytest.approx(array,
                                                                                 abs=1e-5)
    expected = Calibration(tuple(classes), 2.0).apply(np.log(evidence))[0]
    assert dict(trace_prediction.genres) == pytest.approx(dict(zip(classes, expected, strict=True)))
    assert cascade.model_id.startswith("cascade/musicnn-zeroshot/default@")


def pooled_params(first_min: float) -> CascadeParams:
    classes = ("x", "y", "z")
    head = LinearHead(classes, {"name": "gtzan53", "version": "1"}, np.zeros(2), np.ones(2),
                      np.zeros((3, 2)), np.zeros(3))
    components = {"a": Component("a", "musicnn", 2, Calibration(classes, 1.0)),
                  "b": Component("b", "spectral", None, Calibration(classes, 0.5))}
    stages = (
        Stage("a", {"a": 1.0}, TrustModel(TAXONOMY_EVIDENCE, Calibration(classes, 1.0),
                                          EvidenceOOV(), DecisionPolicy(first_min))),
        Stage("a+b", {"a": 0.25, "b": 0.75}, TrustModel(
            LOG_PROBABILITIES, Calibration(classes, 1.5), None, DecisionPolicy(0.0))),
    )
    return CascadeParams(classes, components, stages, head)


def toy_data(raw_a, raw_b, labels, *, costs=(1.0, 3.0)) -> CascadeData:
    n = len(labels)
    return CascadeData(("x", "y", "z"), list(labels), [str(i) for i in range(n)],
                       {"a": np.asarray(raw_a, float), "b": np.asarray(raw_b, float)},
                       {"a": np.full(n, costs[0]), "b": np.full(n, costs[1])},
                       {"a": ("musicnn", 2), "b": ("spectral", None)})


def softmax(z):
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def test_pooled_stage_combines_the_votes_of_the_stages_that_ran():
    params = pooled_params(first_min=1.0)  # stage "a" never decides
    raw_a, raw_b = np.log([[0.5, 0.3, 0.2]]), np.log([[0.1, 0.7, 0.2]])
    run = run_cascade(params, toy_data(raw_a, raw_b, ["y"]))
    assert run.stage.tolist() == [1] and run.cost.tolist() == [4.0]  # a and b, each once
    q_a, q_b = softmax(1.0 * raw_a), softmax(0.5 * raw_b)
    expected = softmax(1.5 * (0.25 * np.log(q_a) + 0.75 * np.log(q_b)))
    assert run.probabilities == pytest.approx(expected)
    assert run.decisions[0].decided == ["y"]  # b's vote outweighs a's
    assert run.full_probabilities == pytest.approx(expected)


def test_early_stop_costs_only_the_first_component():
    params = pooled_params(first_min=0.0)
    run = run_cascade(params, toy_data(np.log([[0.5, 0.3, 0.2]]), np.log([[0.1, 0.7, 0.2]]),
                                       ["y"]))
    assert run.stage.tolist() == [0] and run.cost.tolist() == [1.0]
    assert run.decisions[0].decided == ["x"]


def test_params_round_trip_and_digest():
    params = pooled_params(first_min=0.4)
    again = CascadeParams.from_dict(json.loads(json.dumps(params.to_dict())))
    assert again.digest == params.digest
    assert again.stage_scores(1, {"a": np.zeros(3), "b": np.zeros(3)}).shape == (1, 3)
    assert pooled_params(first_min=0.5).digest != params.digest
    with pytest.raises(ParameterError):
        CascadeParams.from_dict({"format": "other"})
    with pytest.raises(ParameterError):
        CascadeParams(("x", "y"), {}, (Stage("s", {"missing": 1.0}, params.stages[0].trust),))


def test_pool_weights_favour_the_informative_component():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, size=400)
    good = np.log(softmax(3.0 * np.eye(3)[y] + rng.normal(size=(400, 3))))
    noise = np.log(softmax(rng.normal(size=(400, 3))))
    weights = fit_pool_weights([noise, good], y)
    assert weights.sum() == pytest.approx(1.0) and weights[1] > 0.8


def synthetic_cascade_data(n: int = 240, seed: int = 1) -> CascadeData:
    """A cheap component right and sure on a third of the clips, unsure elsewhere; a
    costly one moderately good everywhere."""
    rng = np.random.default_rng(seed)
    classes = ("x", "y", "z")
    y = rng.integers(0, 3, size=n)
    easy = rng.uniform(size=n) < 0.35
    cheap = rng.normal(scale=0.3, size=(n, 3))
    cheap[easy, y[easy]] += 3.0
    costly = 1.5 * np.eye(3)[y] + rng.normal(scale=0.8, size=(n, 3))
    data = CascadeData(classes, [classes[i] for i in y], [f"g{i // 24}" for i in range(n)],
                       {"cheap": np.log(softmax(cheap)), "costly": np.log(softmax(costly))},
                       {"cheap": np.full(n, 1.0), "costly": np.full(n, 4.0)},
                       {"cheap": ("musicnn", 2), "costly": ("spectral", None)})
    return data


def test_fitted_cascade_stops_early_and_keeps_the_full_models_accuracy():
    data = synthetic_cascade_data()
    plan = (StagePlan("cheap", ("cheap",)), StagePlan("both", ("cheap", "costly")))
    settings = TrustSettings(alpha=None, oov_retention=None)
    head = LinearHead(data.classes, {"name": "gtzan53", "version": "1"}, np.zeros(1),
                      np.ones(1), np.zeros((3, 1)), np.zeros(3))
    run, metrics = cross_validate_cascade(data, plan, single=settings, pooled=settings,
                                          head=head)
    assert metrics["stage_usage"]["cheap"] > 40  # the easy clips leave at the cheap stage
    assert metrics["stage_usage"]["cheap"] + metrics["stage_usage"]["both"] == len(data.labels)
    assert metrics["cost_ratio"] < 0.9
    assert metrics["accuracy_lost_points"] < 4.0
    assert metrics["decided"]["precision"] > 0.8
    stopped = run.stage == 0
    labels = np.asarray(data.labels)
    decided = np.array([bool(d.decided) for d in run.decisions])
    right = np.array([bool(d.decided) and d.decided[0] == label
                      for d, label in zip(run.decisions, labels, strict=True)])
    assert right[stopped & decided].mean() > 0.85
    params = fit_cascade(data, plan, single=settings, pooled=settings, head=head)
    assert [s.name for s in params.stages] == ["cheap", "both"]
    assert set(params.stages[1].pool) == {"cheap", "costly"}


def test_shipped_cascades_match_their_taxonomies():
    for name, stages in (("default", ["musicnn-2p", "full"]),
                         ("gtzan", ["musicnn-2p", "spectral", "full"])):
        taxonomy = load_taxonomy(name)
        params = shipped_cascade(taxonomy)
        assert [s.name for s in params.stages] == stages
        assert params.classes == taxonomy.genres
    assert shipped_cascade(load_taxonomy("gtzan")).head.feature["name"] == "gtzan53"


def test_cascade_needs_shipped_parameters_for_its_taxonomy(tmp_path):
    from importlib import resources

    document = json.loads(resources.files("music_reclass.taxonomy")
                          .joinpath("data", "gtzan.json").read_text())
    document["name"] = "mine"
    path = tmp_path / "mine.json"
    path.write_text(json.dumps(document))
    with pytest.raises(ModelError, match="no cascade"):
        CascadeClassifier(path, nets=stand_in_nets())
    with pytest.raises(ParameterError):
        load_classifier("model.joblib", cascade=True)
    assert isinstance(load_classifier(cascade=True, taxonomy="gtzan"), CascadeClassifier)


@pytest.mark.shared
def test_cascade_on_real_clips(shared_dir):
    import torch

    torch.set_num_threads(1)
    cascade = CascadeClassifier("gtzan")
    root = shared_dir / "audio" / "gtzan-dev"
    for clip in ("classical/classical.00000.wav", "reggae/reggae.00001.wav"):
        trace = cascade.trace_file(root / clip)
        prediction = trace.prediction
        assert prediction.stage == trace.stage_name in cascade.stage_names
        assert set(trace.seconds) <= {"musicnn-2p", "spectral", "musicnn"}
        assert "musicnn-2p" in trace.seconds
        assert prediction.decided in (None, *[[g] for g in cascade.classes])
        assert (prediction.abstain_reason is None) == bool(prediction.decided)
        assert cascade.embedding_space in prediction.vectors
        if prediction.stage == "full":  # the spectral features too, stored exactly
            space = cascade._spectral_extractor().space
            assert prediction.vectors[space]["features.gtzan53"].dtype == np.float32
            assert cascade.vector_dtype[space] == "float32"
        assert sum(p for _, p in prediction.genres) == pytest.approx(1.0)
    assert cascade.input.mode == "file"  # the spectral stage reads the file itself


def test_cascade_pickles_for_worker_processes():
    import pickle

    classes = load_taxonomy("default").genres
    cascade = CascadeClassifier("default", params=two_stage_params(classes, first_min=0.0),
                                nets=stand_in_nets())
    clone = pickle.loads(pickle.dumps(cascade))
    assert clone.model_id == cascade.model_id and clone.input == cascade.input
    assert clone.predict_waveform(tone(8.0)).genres == cascade.predict_waveform(tone(8.0)).genres
