"""The shipped trust parameters and the cascade on the real clips of ../shared (skipped without).

These check the product path on real audio. The shipped thresholds were fitted on these
same clips, so the figures that matter (clips of artists not in the calibration data)
come from ``benchmarks/bench_trust.py``; here only what holds regardless is asserted.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from music_reclass.cli.main import app
from music_reclass.pipeline import load_classifier

pytestmark = pytest.mark.shared


@pytest.fixture(scope="module")
def one_thread():
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def test_default_decides_clear_clips_and_abstains_on_what_it_cannot_name(shared_dir, one_thread):
    root = shared_dir / "audio" / "gtzan-dev"
    classifier = load_classifier(taxonomy="gtzan")
    classical = classifier.predict_file(root / "classical" / "classical.00000.wav")
    assert classical.decided == ["classical"] and classical.abstain_reason is None
    assert classical.genres[0][0] == "classical"
    reggae = [classifier.predict_file(root / "reggae" / f"reggae.0000{i}.wav") for i in range(3)]
    # the vocabulary has no reggae tag: a decision would be wrong, so none is taken
    assert all(p.decided is None for p in reggae)
    assert {p.abstain_reason for p in reggae} <= {"out-of-vocabulary", "ambiguous",
                                                   "low-confidence"}
    assert any(p.abstain_reason == "out-of-vocabulary" for p in reggae)
    # calibrated: the confidence of an unnameable clip is far below the old 0.73 average
    assert np.mean([p.genres[0][1] for p in reggae]) < 0.6


def test_classify_cascade_from_the_command_line(shared_dir, tmp_path, one_thread):
    root = shared_dir / "audio" / "gtzan-dev"
    folder = tmp_path / "clips"
    folder.mkdir()
    for clip in ("hiphop/hiphop.00001.wav", "metal/metal.00002.wav"):
        (folder / clip.split("/")[1]).symlink_to(root / clip)
    db = tmp_path / "lib.sqlite"
    result = CliRunner().invoke(app, ["classify", str(folder), "--db", str(db), "--json",
                                      "--taxonomy", "gtzan", "--cascade", "--jobs", "0"],
                                catch_exceptions=False)
    assert result.exit_code == 0, result.output
    records = [json.loads(line) for line in result.stdout.splitlines() if line.strip()]
    assert len(records) == 2
    classes = load_classifier(taxonomy="gtzan").classes
    for record in records:  # the contract: "decided" on every object, "stage" with --cascade
        assert record["status"] == "ok" and record["model_id"].startswith("cascade/")
        assert record["genres"][0]["label"] in classes
        assert "decided" in record and record["decided"] in (None, *classes)
        assert record["stage"] in ("musicnn-2p", "spectral", "full")
        assert (record["decided"] is None) == (record["abstain_reason"] is not None)
    full = sum(record["stage"] == "full" for record in records)
    # without --cascade: "decided" too, no "stage"
    result = CliRunner().invoke(app, ["classify", str(folder), "--db", str(db), "--json",
                                      "--taxonomy", "gtzan", "--jobs", "0"],
                                catch_exceptions=False)
    assert result.exit_code == 0, result.output
    records = [json.loads(line) for line in result.stdout.splitlines() if line.strip()]
    assert len(records) == 2
    for record in records:
        assert "/trust@" in record["model_id"] and "stage" not in record
        assert "decided" in record and record["decided"] in (None, *classes)
    # the full-excerpt vectors the cascade stored answered the default without decoding
    from music_reclass import Library

    last = Library(db).runs()[0]
    assert last.summary["from_vectors"] == full
