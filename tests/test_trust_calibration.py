"""Calibration (music_reclass.trust.calibration) and conformal sets, on synthetic models.

A synthetic "true" model draws labels from known probabilities; a miscalibrated model
reports sharpened (over-confident) or flattened versions of them. Calibration fitted
on held-out draws must bring the expected calibration error down on fresh draws.
"""

from __future__ import annotations

import numpy as np
import pytest

from music_reclass.errors import ParameterError
from music_reclass.trust.calibration import (
    Calibration,
    _loss,
    cross_validated_probabilities,
    fit_calibration,
    log_scores,
    top_label_ece,
)
from music_reclass.trust.conformal import ConformalSets, fit_conformal

CLASSES = ("a", "b", "c", "d", "e")


def draw(n: int, seed: int, *, sharpen: float = 3.0):
    """True probabilities, labels drawn from them, and an over-confident model's scores."""
    rng = np.random.default_rng(seed)
    logits = rng.normal(scale=1.2, size=(n, len(CLASSES)))
    true = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    labels = [CLASSES[rng.choice(len(CLASSES), p=p)] for p in true]
    return sharpen * logits, labels, true


def ece(probabilities, labels):
    return top_label_ece(probabilities, np.array([CLASSES.index(x) for x in labels]))


def softmax(z):
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def test_temperature_scaling_repairs_an_overconfident_model():
    scores, labels, _ = draw(3000, seed=1)
    calibration = fit_calibration(scores, labels, CLASSES)
    assert calibration.method == "temperature"
    assert calibration.weight == pytest.approx(1 / 3, rel=0.1)  # undoes the sharpening
    test_scores, test_labels, _ = draw(3000, seed=2)
    before, after = ece(softmax(test_scores), test_labels), ece(calibration.apply(test_scores),
                                                                test_labels)
    assert before > 0.15 and after < 0.03
    assert calibration.metrics["ece_before"] > 0.15 > calibration.metrics["ece_after_in_sample"]


def test_an_underconfident_model_is_sharpened():
    scores, labels, _ = draw(3000, seed=3, sharpen=0.3)
    calibration = fit_calibration(scores, labels, CLASSES)
    assert calibration.weight == pytest.approx(1 / 0.3, rel=0.15)


def test_calibration_keeps_the_ranking_and_sums_to_one():
    scores, labels, _ = draw(200, seed=4)
    for background in (False, True):
        calibration = fit_calibration(scores, labels, CLASSES, background=background)
        p = calibration.apply(scores)
        assert np.allclose(p.sum(axis=1), 1.0)
        assert (p.argmax(axis=1) == scores.argmax(axis=1)).all()
        single = calibration.apply(scores[0])
        assert single.shape == (1, len(CLASSES)) and np.allclose(single[0], p[0])


def test_same_temperature_as_scikit_learn():
    """Without background, the fit is scikit-learn's temperature scaling."""
    from sklearn.calibration import CalibratedClassifierCV
    from sklearn.frozen import FrozenEstimator
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(5)
    X = rng.normal(size=(900, 6))
    y = np.array(CLASSES)[(X[:, :5] + rng.normal(scale=1.5, size=(900, 5))).argmax(axis=1)]
    base = LogisticRegression(C=100.0, max_iter=2000).fit(X[:150], y[:150])  # over-fitted
    theirs = CalibratedClassifierCV(FrozenEstimator(base), method="temperature")
    theirs.fit(X[150:600], y[150:600])
    ours = fit_calibration(log_scores(base.predict_proba(X[150:600])), y[150:600], base.classes_)
    assert np.allclose(ours.apply(log_scores(base.predict_proba(X[600:]))),
                       theirs.predict_proba(X[600:]), atol=2e-3)


def test_background_lowers_confidence_when_no_class_scores_well():
    """Out-of-vocabulary items: every class weak in absolute terms, the label none of them."""
    rng = np.random.default_rng(6)
    known = np.log(rng.uniform(0.02, 0.1, size=(400, 4)))
    truth = rng.integers(0, 4, size=400)
    known[np.arange(400), truth] = np.log(rng.uniform(0.5, 0.9, size=400))
    unknown = np.log(rng.uniform(0.02, 0.12, size=(100, 4)))
    scores = np.vstack([known, unknown])
    labels = [CLASSES[i] for i in truth] + ["z"] * 100  # "z" is no class
    classes = CLASSES[:4]
    with pytest.raises(ParameterError, match="top-label"):
        fit_calibration(scores, labels, classes)
    plain = fit_calibration(scores, labels, classes, objective="top-label")
    with_background = fit_calibration(scores, labels, classes, objective="top-label",
                                      background=True)
    assert with_background.background is not None
    assert with_background.method == "temperature+background"
    y = np.array([classes.index(x) if x in classes else -1 for x in labels])
    assert (top_label_ece(with_background.apply(scores), y)
            < top_label_ece(plain.apply(scores), y))
    assert with_background.apply(unknown).max(axis=1).mean() < 0.45
    assert with_background.apply(known).max(axis=1).mean() > 0.8


def test_gradient_of_the_objective():
    from scipy.optimize import check_grad

    scores, labels, _ = draw(60, seed=7)
    y = np.array([CLASSES.index(x) for x in labels])
    y[:5] = -1
    for objective in ("nll", "top-label"):
        for theta in (np.array([0.3, -1.0]), np.array([-0.5])):
            background = len(theta) == 2
            error = check_grad(lambda t, o=objective, b=background: _loss(t, scores, y, o, b)[0],
                               lambda t, o=objective, b=background: _loss(t, scores, y, o, b)[1],
                               theta)
            assert error < 1e-5


def test_grouped_cross_validation_holds_each_group_out():
    scores, labels, _ = draw(300, seed=8)
    groups = [i // 10 for i in range(300)]
    calibration = fit_calibration(scores, labels, CLASSES, groups=groups)
    assert calibration.metrics["cv"] == "leave-one-group-out"
    assert calibration.fitted_on["n_groups"] == 30
    y = np.array([CLASSES.index(x) for x in labels])
    cv = cross_validated_probabilities(scores, y, groups, objective="nll", background=False)
    assert calibration.metrics["ece_after_cv"] == pytest.approx(top_label_ece(cv, y))
    assert not np.allclose(cv, calibration.apply(scores))  # each group fitted without itself


def test_calibration_round_trips_through_json():
    import json

    scores, labels, _ = draw(100, seed=9)
    calibration = fit_calibration(scores, labels, CLASSES, background=True,
                                  fitted_on={"data": "synthetic"})
    again = Calibration.from_dict(json.loads(json.dumps(calibration.to_dict())))
    assert again == calibration
    assert np.allclose(again.apply(scores), calibration.apply(scores))
    with pytest.raises(ParameterError):
        Calibration.from_dict({"weight": -1, "classes": ["a", "b"]})
    with pytest.raises(ParameterError):
        calibration.apply(scores[:, :3])


def test_bad_inputs_are_refused():
    scores, labels, _ = draw(10, seed=10)
    with pytest.raises(ParameterError):
        fit_calibration(scores, labels[:5], CLASSES)
    with pytest.raises(ParameterError):
        fit_calibration(scores, labels, CLASSES, objective="brier")
    with pytest.raises(ParameterError):
        fit_calibration(np.full((10, 5), np.nan), labels, CLASSES)


# ------------------------------------------------------------------------------ conformal
def test_conformal_sets_cover_at_the_level_asked():
    scores, labels, _ = draw(4000, seed=11, sharpen=1.0)
    p = softmax(scores)
    sets = fit_conformal(p[:2000], labels[:2000], CLASSES, alpha=0.2)
    members = sets.sets(p[2000:])
    y = np.array([CLASSES.index(x) for x in labels[2000:]])
    coverage = members[np.arange(2000), y].mean()
    assert 0.78 <= coverage <= 0.86
    assert sets.n == 2000 and sets.threshold == pytest.approx(1 - sets.qhat)
    assert ConformalSets.from_dict(sets.to_dict()) == sets


def test_conformal_sets_equal_mapie_lac_sets():
    pytest.importorskip("mapie")
    from mapie.classification import SplitConformalClassifier
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(12)
    X = rng.normal(size=(1200, 5))
    y = np.array(CLASSES)[(X + rng.normal(scale=1.0, size=(1200, 5))).argmax(axis=1)]
    model = LogisticRegression(max_iter=2000).fit(X[:400], y[:400])
    mapie = SplitConformalClassifier(estimator=model, confidence_level=0.8,
                                     conformity_score="lac", prefit=True)
    mapie.conformalize(X[400:800], y[400:800])
    _, theirs = mapie.predict_set(X[800:])
    ours = fit_conformal(model.predict_proba(X[400:800]), y[400:800], model.classes_, alpha=0.2)
    assert (ours.sets(model.predict_proba(X[800:])) == theirs[:, :, 0]).mean() > 0.995


def test_too_few_examples_give_sets_of_every_genre():
    sets = fit_conformal(np.full((3, 5), 0.2), ["a", "b", "c"], CLASSES, alpha=0.1)
    assert sets.qhat == 1.0
    assert sets.members([("a", 0.9), ("b", 0.1)]) == ["a", "b"]
    with pytest.raises(ParameterError):
        fit_conformal(np.full((3, 5), 0.2), ["a", "b", "c"], CLASSES, alpha=1.5)


def test_ece_noise_floor_shrinks_with_the_number_of_tracks():
    from music_reclass.trust.calibration import calibrated_ece_range

    rng = np.random.default_rng(13)
    few = calibrated_ece_range(rng.uniform(0.2, 1.0, size=50), n_draws=300)
    many = calibrated_ece_range(rng.uniform(0.2, 1.0, size=5000), n_draws=100)
    assert few[1] <= few[0] <= few[2]
    assert few[0] > 0.05 > many[0]  # 50 tracks cannot show an ECE of 0.05; 5000 can
