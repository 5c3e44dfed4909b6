"""The personal head and its fitting: closed-form folds, calibration, thresholds, decisions,
artist-grouped folds, active learning and the inconsistency finder, on synthetic data."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

from music_reclass.models.personal import PersonalHead, PlattCalibrator, TemperatureCalibrator
from music_reclass.personal.active import cover, reduce, refine, typicality, uncertainty
from music_reclass.personal.calibrate import (
    f1_threshold,
    fit_platt,
    fit_temperature,
    precision_threshold,
)
from music_reclass.personal.consistency import find_inconsistencies
from music_reclass.personal.fit import fold_stats, lda, out_of_fold_scores, ridge
from music_reclass.personal.folds import group_folds
from music_reclass.personal.labels import TrackSource, build_labelling
from music_reclass.personal.train import fit_personal

GENRES = ["Jazz", "Reggae", "Rock"]


def blobs(n=240, d=20, *, separation=2.0, artists=30, seed=0, multi=0.0):
    """Tracks around one centre per genre, each artist playing one genre."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(len(GENRES), d)) * separation
    artist = rng.integers(artists, size=n)
    genre = artist % len(GENRES)
    X = centres[genre] + 0.3 * rng.normal(size=(artists, d))[artist] + rng.normal(size=(n, d))
    sources = []
    for i in range(n):
        tags = GENRES[genre[i]]
        if multi and rng.random() < multi:
            other = (genre[i] + 1) % len(GENRES)
            X[i] += centres[other]
            tags += "; " + GENRES[other]
        sources.append(TrackSource(f"h{i}", f"/m/{i}", artist=f"A{artist[i]}", tags=[tags]))
    return X.astype(np.float32), build_labelling(sources)


def test_fold_statistics_give_the_model_fitted_on_the_other_folds():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(90, 6)).astype(np.float32)
    Y = np.eye(3, dtype=bool)[rng.integers(3, size=90)]
    folds = np.arange(90) % 3
    stats = fold_stats(X, Y, folds, 3)
    for task, solver, penalty in (("single-label", lda, 0.3), ("multi-label", ridge, 0.1)):
        scores = out_of_fold_scores(task, X, folds, stats, [penalty])[0]
        train = folds != 0
        direct = fold_stats(X[train], Y[train], None, 1)[0]
        coef, intercept = solver(direct, penalty)
        np.testing.assert_allclose(scores[folds == 0], X[folds == 0] @ coef + intercept,
                                   rtol=1e-4, atol=1e-6)


def test_ridge_matches_scikit_learn():
    from sklearn.linear_model import Ridge

    rng = np.random.default_rng(2)
    X = rng.normal(size=(200, 5)).astype(np.float32)
    Y = rng.random((200, 2)) < 0.4
    coef, intercept = ridge(fold_stats(X, Y, None, 1)[0], 0.0)
    reference = Ridge(alpha=1e-9).fit(X, Y.astype(float))
    np.testing.assert_allclose(coef, reference.coef_.T, rtol=1e-3, atol=1e-5)
    np.testing.assert_allclose(intercept, reference.intercept_, rtol=1e-3, atol=1e-5)


def test_folds_keep_groups_together_and_use_every_fold():
    groups = [f"a{i % 17}" for i in range(200)]
    strata = np.array([i % 3 for i in range(200)])
    folds = group_folds(groups, strata, seed=3)
    assert set(folds) == set(range(5))
    for group in set(groups):
        assert len({folds[i] for i, g in enumerate(groups) if g == group}) == 1
    assert group_folds(["one"] * 10, np.zeros(10, int)) is None
    assert set(group_folds(["a", "b", "a"], np.zeros(3, int))) == {0, 1}
    many = [f"t{i}" for i in range(5000)]  # the large-library path
    sizes = np.bincount(group_folds(many, np.zeros(5000, int)))
    assert sizes.tolist() == [1000] * 5


def test_temperature_recovers_a_known_temperature():
    rng = np.random.default_rng(4)
    logits = rng.normal(size=(4000, 4)) * 3
    proba = np.exp(logits / 2.5)
    proba /= proba.sum(axis=1, keepdims=True)
    truth = np.array([rng.choice(4, p=p) for p in proba])
    assert fit_temperature(logits, truth).temperature == pytest.approx(2.5, rel=0.1)


def test_platt_and_thresholds():
    rng = np.random.default_rng(5)
    score = rng.normal(size=3000)
    y = rng.random(3000) < 1 / (1 + np.exp(-(2 * score - 1)))
    calibrator = fit_platt(score[:, None], y[:, None])
    assert calibrator.a[0] == pytest.approx(2.0, rel=0.15)
    assert calibrator.b[0] == pytest.approx(-1.0, abs=0.15)
    confidence = np.array([0.99, 0.95, 0.9, 0.8, 0.7, 0.6])
    correct = np.array([True, True, True, False, True, False])
    assert precision_threshold(confidence, correct, 0.75) == 0.7
    assert precision_threshold(confidence, correct, 1.0) == 0.9
    assert precision_threshold(confidence[3:], correct[3:], 0.9) is None
    assert f1_threshold(np.array([0.9, 0.8, 0.3, 0.1]), np.array([1, 1, 0, 0], bool)) == 0.8
    assert f1_threshold(np.array([0.15, 0.1]), np.array([1, 0], bool)) == 0.2  # the floor


def test_single_label_fit_is_accurate_calibrated_and_decides_with_precision():
    X, labelling = blobs()
    result = fit_personal(X, labelling, seed=0)
    ev = result.evaluation
    assert ev["protocol"] == "artist-grouped 5-fold cross-validation"
    assert ev["accuracy"] > 0.9 and ev["ece_after"] < 0.1
    assert set(ev["per_genre"]) == set(GENRES) and ev["per_genre"]["Rock"]["artists"] == 10
    decisions = ev["decisions"]
    assert decisions["precision"] >= 0.85 and decisions["coverage"] > 0.5
    head = result.head
    assert head.classes_.tolist() == GENRES and head.min_confidence is not None
    proba = head.predict_proba(X)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    assert (head.predict(X) == np.array(GENRES)[labelling.primary]).mean() > 0.9
    assert result.oof.shape == (len(X), 3) and result.seen.all()


def test_a_model_that_misses_its_precision_never_decides():
    X, labelling = blobs(separation=0.0, seed=6)  # nothing to learn: chance level
    result = fit_personal(X, labelling, target_precision=0.99)
    assert result.head.never_decides and "never decides" in result.notes[0]
    assert result.head.decide(result.head.predict_proba(X[:1])[0])[0] is None


def test_multi_label_fit_decides_several_genres():
    X, labelling = blobs(n=300, multi=0.4, seed=7)
    assert labelling.task == "multi-label"
    result = fit_personal(X, labelling)
    ev = result.evaluation
    assert ev["micro_f1"] > 0.8 and ev["top1_accuracy"] > 0.9
    assert ev["decisions"]["genres_per_decided_track"] > 1.1
    head = result.head
    several = [head.decide(p)[0] for p in head.predict_proba(X)]
    assert any(d and len(d) >= 2 for d in several)
    assert head.calibrator.method == "platt" and len(head.thresholds_) == 3


def test_one_artist_gives_a_model_that_never_decides():
    sources = [TrackSource(f"h{i}", f"/m/{i}", artist="Solo", tags=[GENRES[i % 2]])
               for i in range(12)]
    X = np.random.default_rng(0).normal(size=(12, 8)).astype(np.float32)
    result = fit_personal(X, build_labelling(sources))
    assert result.evaluation is None and result.oof is None
    assert "same artist" in result.head.decide(result.head.predict_proba(X[:1])[0])[1]


def test_the_head_pickles_without_heavy_objects_and_checks_its_input():
    head = PersonalHead(classes=["a", "b"], task="single-label", mean=np.zeros(3),
                        scale=np.ones(3), coef=np.array([[1.0, -1.0], [0, 0], [0, 0]]),
                        intercept=np.zeros(2), calibrator=TemperatureCalibrator(2.0),
                        min_confidence=0.6)
    again = pickle.loads(pickle.dumps(head))
    proba = again.predict_proba(np.array([[2.0, 0, 0]]))
    assert proba[0, 0] == pytest.approx(np.exp(1) / (np.exp(1) + np.exp(-1)))
    assert again.decide(proba[0]) == (["a"], None)
    assert again.decide(np.array([0.55, 0.45]))[1] == "low-confidence"
    with pytest.raises(Exception, match="expected 3 inputs"):
        again.predict_proba(np.zeros((1, 4)))
    multi = PersonalHead(classes=["a", "b", "c"], task="multi-label", mean=np.zeros(1),
                         scale=np.ones(1), coef=np.ones((1, 3)), intercept=np.zeros(3),
                         calibrator=PlattCalibrator([1, 1, 1], [0, 0, 0]),
                         thresholds=[0.5, 0.6, 0.9])
    assert multi.decide(np.array([0.7, 0.65, 0.8])) == (["a", "b"], None)
    assert multi.decide(np.array([0.1, 0.2, 0.3]))[0] is None


def test_uncertainty_typicality_and_spread():
    proba = np.array([[0.5, 0.5], [0.99, 0.01], [0.51, 0.49], [0.6, 0.4]])
    assert uncertainty(proba, multi_label=False).round(2).tolist() == [1.0, 0.02, 0.98, 0.8]
    multi = uncertainty(np.array([[0.5, 0.0], [0.95, 0.05]]), multi_label=True,
                        thresholds=np.array([0.5, 0.5]))
    assert multi[0] == 1.0 and multi[1] < 0.2
    rng = np.random.default_rng(0)
    Z = np.concatenate([rng.normal(size=(40, 2)) * 0.1, [[6.0, 6.0]]])
    typical = typicality(Z)
    assert typical.max() == 1.0 and typical[-1] < 0.1  # the outlier is not typical
    # equally unsure: the outlier loses to typical tracks, and one of two twins is enough
    unsure = np.ones(len(Z))
    picks = refine(Z, unsure, 3)
    assert 40 not in [p.index for p in picks] and len({p.index for p in picks}) == 3
    twins = np.array([[0.0, 0.0], [0.0, 0.0], [3.0, 0.0], [3.1, 0.0], [1.5, 0.1]])
    picked = [p.index for p in refine(twins, np.array([1.0, 1.0, 0.9, 0.9, 0.5]), 2)]
    assert picked[0] in (0, 1) and picked[1] not in (0, 1)
    assert reduce(rng.normal(size=(50, 6)), dims=3).shape == (6, 3)


def test_cover_picks_a_typical_track_of_each_uncovered_group():
    rng = np.random.default_rng(1)
    centres = np.array([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0]])
    groups = np.repeat(np.arange(3), [60, 30, 10])
    Z = centres[groups] + rng.normal(size=(100, 2))
    labelled = Z[groups == 0][:1]  # the largest group already has a label
    picks = cover(labelled, Z, 2, seed=0)
    chosen = groups[[p.index for p in picks]]
    assert sorted(chosen.tolist()) == [1, 2] and all(p.phase == "cover" for p in picks)
    for pick, group in zip(picks, chosen, strict=True):  # near the middle of its group
        assert np.linalg.norm(Z[pick.index] - centres[group]) < 1.5
    assert len({p.index for p in cover(np.zeros((0, 2)), Z, 5)}) == 5


def test_inconsistencies_need_both_the_audio_and_the_neighbours():
    X, labelling = blobs(seed=8)
    rock, jazz = GENRES.index("Rock"), GENRES.index("Jazz")
    planted = np.flatnonzero(labelling.primary == jazz)[:3]
    labelling.Y[planted] = False
    labelling.Y[planted, rock] = True  # three jazz recordings tagged Rock
    labelling.primary[planted] = rock
    result = fit_personal(X, labelling)
    Z = X @ reduce(X, dims=8)
    found = find_inconsistencies(Z, labelling.Y, labelling.classes, result.oof)
    assert {f.row for f in found} == set(planted.tolist())
    first = found[0]
    assert first.labels == ["Rock"] and first.predicted[0][0] == "Jazz"
    assert first.neighbour_genre[0] == "Jazz" and first.agreement <= 0.3
    exclude = np.zeros(len(X), bool)
    exclude[planted[0]] = True
    again = find_inconsistencies(Z, labelling.Y, labelling.classes, result.oof, exclude=exclude)
    assert planted[0] not in {f.row for f in again}
