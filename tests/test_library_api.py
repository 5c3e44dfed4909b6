"""The ``Library`` façade: the contract the front ends rely on, one model per view, the
embedding store shared by classify and training, threads, errors."""

from __future__ import annotations

import csv
import threading
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from typer.testing import CliRunner

from music_reclass import Library
from music_reclass.cli.main import app
from music_reclass.errors import MissingDatabaseError, ParameterError
from music_reclass.library import CancelToken, FileQuery
from test_scan import FakeClassifier, library, make_fake, tone

SR = 22050


def test_contract_classify_then_files(tmp_path):
    """``Library(db).classify([...], taxonomy=...)`` blocks; results and files carry
    path, status and genres."""
    library(tmp_path / "music")
    lib = Library(tmp_path / "lib.sqlite", classifier_factory=make_fake)
    run = lib.classify([tmp_path / "music"], taxonomy="gtzan", jobs=0)
    assert run.summary.status == "done" and run.active
    assert len(run.results) == 8
    for result in run.results:
        assert result.path and result.status in {"ok", "error", "skipped"}
        assert isinstance(result.genres, list)
    files = lib.files()
    assert len(files) == 8
    ok = [f for f in files if f.status == "ok"]
    assert len(ok) == 3 and all(f.genres and f.top_genre in {"low", "high"} for f in ok)
    assert {f.model_id for f in ok} == {FakeClassifier.model_id}
    assert lib.count_files(FileQuery(status="error")) == 5


def test_queries_never_create_a_database(tmp_path):
    lib = Library(tmp_path / "typo" / "lib.sqlite")
    with pytest.raises(MissingDatabaseError):
        lib.files()
    with pytest.raises(MissingDatabaseError):
        lib.runs()
    assert not (tmp_path / "typo").exists()


def test_missing_database_is_a_one_line_error_on_the_command_line(tmp_path):
    result = CliRunner().invoke(app, ["list", "--db", str(tmp_path / "nope.sqlite")])
    assert result.exit_code == 2
    assert "no library database" in result.stderr and "Traceback" not in result.output
    assert not (tmp_path / "nope.sqlite").exists()


def test_views_show_the_active_model_only(tmp_path):
    tone(tmp_path / "m" / "a.wav", 220.0)
    lib = Library(tmp_path / "lib.sqlite", classifier_factory=_two_models)
    lib.classify([tmp_path / "m"], jobs=0)  # the first model becomes the active one
    lib.classify([tmp_path / "m"], taxonomy="gtzan", jobs=0)  # another model, same file
    assert [m.active for m in lib.models()] == [False, True]
    (view,) = lib.files()
    assert view.model_id == "fake-genre/default"
    lib.use_model("gtzan")
    (view,) = lib.files()
    assert view.model_id == "fake-genre/gtzan"
    with pytest.raises(ParameterError, match="no model file or known model"):
        lib.use_model("no-such-model")


def _two_models(spec):
    classifier = FakeClassifier()
    classifier.model_id = f"fake-genre/{spec.taxonomy}"
    return classifier


def test_cancel_stops_a_run_and_the_next_one_resumes(tmp_path):
    for i in range(6):
        tone(tmp_path / "m" / f"t{i}.wav", 200.0 + 50 * i)
    lib = Library(tmp_path / "lib.sqlite", classifier_factory=make_fake)
    token = CancelToken()
    seen = []

    def cancel_after_two(result):
        seen.append(result)
        if len(seen) == 2:
            token.cancel()

    run = lib.classify([tmp_path / "m"], jobs=0, on_result=cancel_after_two, cancel=token)
    assert run.status == "cancelled" and run.summary.ok == 2
    assert lib.runs()[0].status == "cancelled"
    again = lib.classify([tmp_path / "m"], jobs=0)
    assert again.status == "done" and again.summary.cached == 2 and again.summary.ok == 6


def test_progress_reaches_the_total(tmp_path):
    library(tmp_path / "music")
    calls = []
    Library(tmp_path / "lib.sqlite", classifier_factory=make_fake).classify(
        [tmp_path / "music"], jobs=0, on_progress=lambda done, total: calls.append((done, total)))
    assert calls[-1] == (10, 10)  # 8 audio candidates and 2 ignored companions
    assert [done for done, _ in calls] == list(range(1, 11))


def test_one_connection_per_thread(tmp_path):
    library(tmp_path / "music")
    lib = Library(tmp_path / "lib.sqlite", classifier_factory=make_fake)
    lib.classify([tmp_path / "music"], jobs=0)
    counts, errors = [], []

    def read() -> None:
        try:
            for _ in range(20):
                counts.append(len(lib.files()))
        except Exception as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=read) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    lib.close()
    assert not errors and set(counts) == {8}
    assert len(lib._all) == 0  # every thread's connection was closed


# ----------------------------------------------------------------------------- one embedding store


def _clip(path: Path, kind: str, seed: int) -> None:
    rng = np.random.default_rng(seed)
    t = np.arange(int(3.5 * SR)) / SR
    if kind == "drone":
        f = 80 + 40 * rng.random()
        y = 0.4 * np.sin(2 * np.pi * f * t) + 0.2 * np.sin(2 * np.pi * 2 * f * t)
    else:
        y = rng.normal(0, 0.3, len(t)) * (np.sin(2 * np.pi * (3 + rng.random()) * t) > 0)
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, y.astype(np.float32), SR)


@pytest.fixture(scope="module")
def classified(tmp_path_factory):
    """Eight clips classified by the real default model, and their manifest."""
    root = tmp_path_factory.mktemp("store")
    rows = []
    for kind in ("drone", "noise"):
        for i in range(4):
            _clip(root / "audio" / f"{kind}{i}.wav", kind, seed=i)
            rows.append({"path": f"audio/{kind}{i}.wav", "label": kind,
                         "split": "train" if i < 3 else "test", "artist": f"{kind}-{i}"})
    manifest = root / "manifest.csv"
    with manifest.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=["path", "label", "split", "artist"])
        writer.writeheader()
        writer.writerows(rows)
    db = root / "lib.sqlite"
    run = Library(db).classify([root / "audio"], jobs=1)
    assert run.summary.ok == 8
    return root, manifest, db


def test_training_reads_the_vectors_classify_stored(classified, tmp_path):
    """`train --db` on classified files: no second pass through the networks, and the
    features are the extractor's own within float16 rounding."""
    from music_reclass.features import get_extractor

    root, manifest, db = classified
    outcome = Library(db).train(("manifest", manifest), out=tmp_path / "m.joblib",
                                features="musicnn", model="logreg", cache=False, jobs=0)
    assert outcome.features_stored == 8 and outcome.features_computed == 0
    provide = Library(db).stored_features("musicnn")
    path = str(root / "audio" / "drone0.wav")
    stored = provide([path])[path]
    direct = get_extractor("musicnn").extract(path)
    np.testing.assert_allclose(stored, direct, rtol=2e-3, atol=2e-3)


def test_train_on_the_command_line_says_where_features_came_from(classified, tmp_path):
    root, manifest, db = classified
    result = CliRunner().invoke(app, [
        "train", "--dataset", "manifest", str(manifest), "--features", "musicnn", "--model",
        "logreg", "--out", str(tmp_path / "m.joblib"), "--db", str(db), "--no-cache",
        "--jobs", "0"])
    assert result.exit_code == 0, result.output
    assert "features of 8 track(s) read from the library" in result.stderr


def test_a_changed_file_is_not_read_from_the_store(classified, tmp_path):
    root, _manifest, db = classified
    copy = tmp_path / "changed.wav"
    copy.write_bytes((root / "audio" / "noise0.wav").read_bytes())
    provide = Library(db).stored_features("musicnn")
    assert provide([str(copy)]) == {}  # never classified under this path
    assert provide([str(root / "audio" / "noise0.wav")])


def test_a_model_on_stored_embeddings_classifies_without_decoding(classified, tmp_path):
    """`classify --model M` where M reads musicnn features: answered from the vectors."""
    root, manifest, db = classified
    model = tmp_path / "m.joblib"
    Library(db).train(("manifest", manifest), out=model, features="musicnn", jobs=0)
    run = Library(db).classify([root / "audio"], model=str(model), jobs=0)
    assert run.summary.ok == 8 and run.summary.from_vectors == 8
    assert not run.active  # the default model stays the active one
    labels = {Path(r.path).stem[:5]: r.genres[0]["label"] for r in run.results}
    assert labels["drone"] == "drone" and labels["noise"] == "noise"


def test_tag_writes_the_owners_correction_over_the_model(tmp_path):
    """A corrected track gets the owner's genres, in their words, even where the model
    abstained; withdrawing the correction gives the model's decision back."""
    from mutagen.flac import FLAC

    low = tone(tmp_path / "m" / "low.flac", 220.0, fmt="flac")
    lib = Library(tmp_path / "lib.sqlite", classifier_factory=make_fake)
    lib.classify([tmp_path / "m"], jobs=0)
    report = lib.correct([low], ["Dub Techno", "ambient"])
    preview = lib.tag([tmp_path / "m"], dry_run=True)
    assert [c.after_genres for c in preview.changes] == [["Dub Techno", "ambient"]]
    lib.undo(report.run_id)
    preview = lib.tag([tmp_path / "m"], dry_run=True)
    assert [c.after_genres for c in preview.changes] == [["Low"]]
    assert FLAC(low).get("genre") is None  # dry runs wrote nothing
