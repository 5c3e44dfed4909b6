"""Metrics against scikit-learn, ECE, reports, plots, splits, comparison and analysis."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from sklearn.metrics import (
    accuracy_score,
    balanced_accuracy_score,
    confusion_matrix,
    f1_score,
    precision_recall_fscore_support,
)

from music_reclass.datasets import Dataset, Track
from music_reclass.errors import ParameterError
from music_reclass.evaluation.compare import (
    COLUMNS,
    compare_models,
    comparison_csv,
    cross_validate,
    write_comparison,
)
from music_reclass.evaluation.metrics import (
    calibration_bins,
    classification_metrics,
    expected_calibration_error,
)
from music_reclass.evaluation.plots import (
    plot_class_distribution,
    plot_confusion_matrix,
    plot_duration_histogram,
    plot_mel_examples,
    plot_reliability,
)
from music_reclass.evaluation.reports import metrics_markdown, metrics_text, write_report
from music_reclass.evaluation.training import FeatureSet, artist_aware_split, choose_split

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"

Y_TRUE = ["rock", "rock", "rock", "jazz", "jazz", "pop", "pop", "pop", "pop", "blues"]
Y_PRED = ["rock", "jazz", "rock", "jazz", "pop", "pop", "pop", "rock", "pop", "rock"]
CLASSES = ["blues", "jazz", "pop", "rock"]


def assert_png(path: Path) -> None:
    data = Path(path).read_bytes()
    assert data[:8] == PNG_MAGIC
    assert len(data) > 5000  # a drawn figure, not an empty canvas


# ----------------------------------------------------------------------------- metrics
def test_metrics_match_sklearn():
    m = classification_metrics(Y_TRUE, Y_PRED, classes=CLASSES)
    assert m["accuracy"] == pytest.approx(accuracy_score(Y_TRUE, Y_PRED))
    assert m["balanced_accuracy"] == pytest.approx(balanced_accuracy_score(Y_TRUE, Y_PRED))
    assert m["macro_f1"] == pytest.approx(f1_score(Y_TRUE, Y_PRED, average="macro"))
    p, r, f, s = precision_recall_fscore_support(Y_TRUE, Y_PRED, labels=CLASSES, zero_division=0)
    for i, label in enumerate(CLASSES):
        assert m["per_class"][label] == pytest.approx(
            {"precision": p[i], "recall": r[i], "f1": f[i], "support": s[i]})
    np.testing.assert_array_equal(m["confusion"], confusion_matrix(Y_TRUE, Y_PRED, labels=CLASSES))
    assert m["accuracy"] == pytest.approx(0.6)  # 6 of 10 by hand


def test_macro_f1_over_the_classes_present():
    # the model knows "metal" but the test set has none: it must not count as F1 = 0
    m = classification_metrics(["rock", "jazz"], ["rock", "jazz"], classes=["jazz", "metal", "rock"])
    assert m["macro_f1"] == 1.0
    assert m["labels"] == ["jazz", "metal", "rock"]


def test_unknown_true_label_gets_a_row():
    m = classification_metrics(["rock", "reggae"], ["rock", "rock"], classes=["jazz", "rock"])
    assert m["labels"] == ["jazz", "rock", "reggae"]
    assert m["confusion"][2] == [0, 1, 0]


def test_ece_zero_for_perfect_calibration():
    # 10 answers at confidence 0.8 of which 8 right, 10 at 0.6 of which 6 right
    proba = np.array([[0.8, 0.2]] * 10 + [[0.6, 0.4]] * 10)
    y = ["a"] * 8 + ["b"] * 2 + ["a"] * 6 + ["b"] * 4
    assert expected_calibration_error(y, proba, ["a", "b"], n_bins=10) == pytest.approx(0.0, abs=1e-12)


def test_ece_of_overconfident_model():
    proba = np.array([[0.9, 0.1]] * 10)
    y = ["a"] * 5 + ["b"] * 5  # half right at 0.9 confidence
    assert expected_calibration_error(y, proba, ["a", "b"]) == pytest.approx(0.4)
    bins = calibration_bins(y, proba, ["a", "b"], n_bins=5)
    assert [b["count"] for b in bins] == [0, 0, 0, 0, 10]
    assert bins[4]["accuracy"] == 0.5 and bins[4]["confidence"] == pytest.approx(0.9)


def test_metrics_from_probabilities():
    proba = np.array([[0.7, 0.3], [0.2, 0.8], [0.6, 0.4]])
    m = classification_metrics(["a", "b", "b"], proba=proba, classes=["a", "b"])
    assert m["accuracy"] == pytest.approx(2 / 3)
    assert m["mean_confidence"] == pytest.approx(0.7)
    with pytest.raises(ParameterError):
        classification_metrics(["a"], ["a", "b"])
    with pytest.raises(ParameterError):
        classification_metrics([], [])


# ----------------------------------------------------------------------- reports, plots
def test_reports_and_plots(tmp_path):
    rng = np.random.default_rng(0)
    proba = rng.dirichlet(np.ones(4), size=len(Y_TRUE))
    m = classification_metrics(Y_TRUE, proba=proba, classes=CLASSES)
    text = metrics_text(m, title="toy", notes=["artist-disjoint"])
    assert "balanced accuracy" in text and "note: artist-disjoint" in text
    assert "| macro F1 |" in metrics_markdown(m)
    written = write_report(m, tmp_path / "report", title="toy")
    for key in ("confusion", "reliability"):
        assert_png(written[key])
    saved = json.loads(written["json"].read_text())
    assert saved["accuracy"] == m["accuracy"] and len(saved["calibration"]) == 10
    assert "![confusion matrix](confusion.png)" in written["markdown"].read_text()


def test_standalone_plots(tmp_path):
    assert_png(plot_confusion_matrix([[3, 1], [0, 4]], ["a", "b"], tmp_path / "cm.png"))
    bins = calibration_bins(["a", "b", "a"], np.array([[0.9, 0.1], [0.3, 0.7], [0.55, 0.45]]), ["a", "b"])
    assert_png(plot_reliability(bins, tmp_path / "rel.png", ece=0.1))
    assert_png(plot_class_distribution({"rock": 10, "jazz": 3}, tmp_path / "dist.png"))
    assert_png(plot_duration_histogram([30.0, 29.9, 31.2, 180.0], tmp_path / "dur.png"))
    sr = 22050
    t = np.arange(2 * sr) / sr
    examples = {"low": (np.sin(2 * np.pi * 110 * t), sr), "high": (np.sin(2 * np.pi * 3000 * t), sr)}
    assert_png(plot_mel_examples(examples, tmp_path / "mel.png"))
    with pytest.raises(ParameterError):
        plot_confusion_matrix([[1, 2]], ["a"], tmp_path / "bad.png")


# ------------------------------------------------------------------------------ splits
def _toy_dataset(artists_per_class: dict[str, list[str]], per_artist: int = 3) -> Dataset:
    tracks = []
    for label, artists in artists_per_class.items():
        for artist in artists:
            for i in range(per_artist):
                tracks.append(Track(f"{label}-{artist}-{i}", None, label, artist))
    return Dataset("toy", tracks)


def test_artist_aware_split_is_disjoint_and_trains_every_class():
    ds = _toy_dataset({"blues": ["hooker"], "pop": ["a", "b", "c", "d"], "rock": ["e", "f", "g"]})
    parts, notes = artist_aware_split(ds, seed=0)
    train_artists = {t.artist for t in parts["train"]}
    assert not train_artists & {t.artist for t in parts["test"] + parts["valid"]}
    assert {t.label for t in parts["train"]} == {"blues", "pop", "rock"}
    assert parts["test"]
    # the single-artist genre is trained on, and cannot be tested honestly
    assert not any(t.label == "blues" for t in parts["test"])
    assert all(isinstance(n, str) for n in notes)


def test_choose_split_falls_back_when_official_is_thin():
    tracks = [Track(f"t{i}", None, "ab"[i % 2], f"artist{i}", "train" if i < 18 else "test")
              for i in range(20)]  # the official test part has one track per class
    parts, kind, notes = choose_split(Dataset("toy", tracks), "official")
    assert kind == "artist"
    assert any("fell back" in n for n in notes)
    tracks = [Track(f"t{i}", None, "ab"[i % 2], f"artist{i}", "train" if i < 12 else "test")
              for i in range(20)]
    parts, kind, notes = choose_split(Dataset("toy", tracks), "official")
    assert kind == "official" and len(parts["test"]) == 8 and not notes


# ------------------------------------------------------------------ compare, cross-val
def _toy_features(ds: Dataset, dim: int = 6, seed: int = 0, shift: float = 3.0) -> FeatureSet:
    rng = np.random.default_rng(seed)
    classes = ds.classes
    ids = [t.track_id for t in ds.labelled]
    labels = np.array([t.label for t in ds.labelled])
    X = rng.normal(size=(len(ids), dim)) + shift * np.array(
        [np.eye(dim)[classes.index(label)] for label in labels])
    return FeatureSet(X.astype(np.float32), ids, labels, {"name": "toy", "version": "1", "dim": dim})


def test_compare_models_table(tmp_path):
    ds = _toy_dataset({c: [f"{c}{i}" for i in range(5)] for c in ("jazz", "pop", "rock")})
    sets = {"good": _toy_features(ds), "noise": _toy_features(ds, shift=0.0)}
    rows, notes = compare_models(ds, ["good", "noise"], ["logreg", "xgboost"], split="artist",
                                 feature_sets=sets)
    assert [(r["features"], r["model"]) for r in rows] == [
        ("good", "logreg"), ("good", "xgboost"), ("noise", "logreg"), ("noise", "xgboost")]
    assert all(set(COLUMNS) <= set(r) for r in rows)
    assert rows[0]["accuracy"] > rows[2]["accuracy"]  # informative features beat noise
    assert len({r["n_test"] for r in rows}) == 1  # one split for all
    written = write_comparison(rows, tmp_path, notes=notes)
    assert written["csv"].read_text() == comparison_csv(rows)
    assert "| good | logreg |" in written["markdown"].read_text()


def test_cross_validate_grouped():
    ds = _toy_dataset({c: [f"{c}{i}" for i in range(4)] for c in ("jazz", "rock")})
    result = cross_validate(ds, _toy_features(ds), "logreg", n_splits=4)
    assert len(result["folds"]) == 4
    assert result["mean"]["accuracy"] > 0.8
    assert sum(f["n"] for f in result["folds"]) == len(ds)


# ----------------------------------------------------------------------------- analysis
def test_analyze_dataset(tmp_path):
    from music_reclass.evaluation.analysis import analysis_text, analyze_dataset

    sr = 22050
    tracks = []
    for label, freq, n in (("low", 110.0, 3), ("high", 2000.0, 1)):
        for i in range(n):
            path = tmp_path / f"{label}{i}.wav"
            seconds = 2.0 + i
            t = np.arange(int(seconds * sr)) / sr
            sf.write(path, (0.3 * np.sin(2 * np.pi * freq * t)).astype(np.float32), sr)
            tracks.append(Track(path.stem, path, label, None))
    result = analyze_dataset(Dataset("toy", tracks), tmp_path / "out")
    assert result["class_counts"] == {"high": 1, "low": 3}
    assert result["imbalance_ratio"] == 3.0
    assert result["durations"]["count"] == 4
    assert result["durations"]["max"] == pytest.approx(4.0, abs=0.01)
    for name in ("class_distribution", "durations", "mel_examples"):
        assert_png(Path(result["figures"][name]))
    assert "imbalance ratio" in analysis_text(result)
    assert json.loads((tmp_path / "out" / "analysis.json").read_text())["n_tracks"] == 4


def test_training_from_an_fma_features_table():
    """FMA's published features.csv rows train a model tagged as fma518 features."""
    import pandas as pd

    from music_reclass.evaluation.training import dataset_features, train_model
    from music_reclass.features import fma518_columns, get_extractor

    columns = fma518_columns()
    rng = np.random.default_rng(0)
    labels = ["Rock", "Electronic"] * 15
    tracks = [Track(str(i + 1), None, label, f"artist{i}", "train" if i < 20 else "test")
              for i, label in enumerate(labels)]
    ds = Dataset("fma_small", tracks)
    X = rng.normal(size=(30, len(columns))) + 2.0 * np.array([[label == "Rock"] for label in labels])
    table = pd.DataFrame(X, index=pd.Index(range(1, 31), name="track_id"), columns=columns)
    ds.features = table.iloc[:, ::-1]  # column order of the file must not matter
    feats = dataset_features(ds, "fma518")
    assert feats.feature["name"] == "fma518" and feats.feature["dim"] == 518
    assert feats.feature["version"] == get_extractor("fma518").version
    np.testing.assert_allclose(feats.X[0], X[0].astype(np.float32))  # reordered back
    result = train_model(ds, feats, "logreg", split="official")
    assert result.split_kind == "official"
    assert result.metrics["test"]["accuracy"] > 0.8
    with pytest.raises(ParameterError, match="fma518"):
        dataset_features(ds, "gtzan58")


def test_confusion_text_fits_80_columns_and_never_runs_counts_together():
    from music_reclass.evaluation.reports import confusion_text

    genres = ["blues", "classical", "country", "disco", "hiphop", "jazz", "metal", "pop",
              "reggae", "rock"]
    text = confusion_text([[3 if i == j else 0 for j in range(10)] for i in range(10)], genres)
    assert max(len(line) for line in text.splitlines()) <= 80
    big = confusion_text([[1234] * 16 for _ in range(16)], [f"genre{i}" for i in range(16)])
    assert big.splitlines()[2].split()[1:] == ["1234"] * 16
