"""Feature cache and extract_many: hits, misses, versions, errors, parallel == serial."""

from __future__ import annotations

import os
import shutil

import numpy as np
import pytest
import soundfile as sf

from music_reclass import paths
from music_reclass.errors import ParameterError
from music_reclass.features import FeatureCache, FeatureExtractor, extract_many, get_extractor
from music_reclass.features.registry import load_centred

SR = 8000


class LevelExtractor(FeatureExtractor):
    """Cheap extractor for cache tests: [rms, peak, seconds]; counts its calls in a file."""

    name = "test-level"
    sample_rate = SR

    def __init__(self, version: str = "1", calls_log: str | None = None):
        self.version = version
        self.calls_log = calls_log

    @property
    def feature_names(self):
        return ["rms", "peak", "seconds"]

    def load(self, path):
        return load_centred(path, sr=SR, max_duration=None, clip_duration=None)

    def extract_waveform(self, y, sr):
        y, sr = self._prepare(y, sr)
        if self.calls_log:  # appending one line is atomic enough across processes
            with open(self.calls_log, "a") as log:
                log.write("x\n")
        return self._finish([np.sqrt(np.mean(y**2)), np.max(np.abs(y)), len(y) / sr])


def write_tone(path, freq: float, *, seconds: float = 1.0, amplitude: float = 0.5, sr: int = SR):
    t = np.arange(int(seconds * sr)) / sr
    sf.write(path, (amplitude * np.sin(2 * np.pi * freq * t)).astype(np.float32), sr)
    return path


@pytest.fixture
def clips(tmp_path):
    folder = tmp_path / "clips"
    folder.mkdir()
    return [
        str(write_tone(folder / f"tone{i}.wav", 200.0 * (i + 1), amplitude=0.1 * (i + 1)))
        for i in range(4)
    ]


def count_calls(log) -> int:
    return len(log.read_text().splitlines()) if log.exists() else 0


# -- FeatureCache --------------------------------------------------------------------


def test_cache_round_trip_and_layout(tmp_path):
    cache = FeatureCache(tmp_path / "c")
    extractor = LevelExtractor("7")
    key = "ab" * 16
    assert cache.load(extractor, key) is None
    vector = np.array([0.1, 0.2, 0.3], dtype=np.float32)
    path = cache.store(extractor, key, vector)
    assert path == tmp_path / "c" / "test-level" / "7" / "ab" / f"{key}.npy"
    np.testing.assert_array_equal(cache.load(extractor, key), vector)
    assert not [p for p in path.parent.iterdir() if p.suffix == ".tmp"]  # no temp left over


def test_cache_versions_never_mix(tmp_path):
    cache = FeatureCache(tmp_path)
    key = "cd" * 16
    cache.store(LevelExtractor("1"), key, np.ones(3, dtype=np.float32))
    assert cache.load(LevelExtractor("2"), key) is None
    cache.store(LevelExtractor("2"), key, np.zeros(3, dtype=np.float32))
    np.testing.assert_array_equal(cache.load(LevelExtractor("1"), key), np.ones(3))
    np.testing.assert_array_equal(cache.load(LevelExtractor("2"), key), np.zeros(3))


def test_cache_discards_wrong_dim_and_corrupt_files(tmp_path):
    cache = FeatureCache(tmp_path)
    extractor = LevelExtractor()
    key = "ef" * 16
    path = cache.path_for(extractor, key)
    path.parent.mkdir(parents=True)
    np.save(path, np.ones(5, dtype=np.float32))  # wrong dim
    assert cache.load(extractor, key) is None
    assert not path.exists()
    path.write_bytes(b"not a numpy file")
    assert cache.load(extractor, key) is None
    assert not path.exists()
    with pytest.raises(ParameterError):
        cache.store(extractor, key, np.ones(4, dtype=np.float32))


def test_cache_rejects_keys_that_escape_the_folder(tmp_path):
    cache = FeatureCache(tmp_path)
    for key in ["../../etc/passwd", "", "a/b"]:
        with pytest.raises(ParameterError):
            cache.path_for(LevelExtractor(), key)


def test_default_cache_lives_under_cache_dir():
    assert FeatureCache().root == paths.cache_dir() / "features"


# -- extract_many --------------------------------------------------------------------


def test_extract_many_caches_by_content(clips, tmp_path):
    log = tmp_path / "calls.log"
    extractor = LevelExtractor("1", calls_log=str(log))
    cache = FeatureCache(tmp_path / "cache")
    first = extract_many(clips, extractor, n_jobs=1, cache=cache)
    assert first.errors == {} and first.ok_paths == clips and first.n_cached == 0
    assert first.X.shape == (4, 3) and first.X.dtype == np.float32
    np.testing.assert_allclose(
        first.X[:, 0], [0.1 * (i + 1) / np.sqrt(2) for i in range(4)], rtol=0.02
    )
    assert count_calls(log) == 4

    second = extract_many(clips, extractor, n_jobs=1, cache=cache)
    assert second.n_cached == 4 and count_calls(log) == 4  # all hits: no new extraction
    np.testing.assert_array_equal(second.X, first.X)

    # a moved copy has the same content: still a hit
    moved = str(tmp_path / "moved.wav")
    shutil.copy(clips[0], moved)
    third = extract_many([moved], extractor, n_jobs=1, cache=cache)
    assert third.n_cached == 1 and count_calls(log) == 4

    # a new version misses and recomputes
    bumped = LevelExtractor("2", calls_log=str(log))
    fourth = extract_many(clips, bumped, n_jobs=1, cache=cache)
    assert fourth.n_cached == 0 and count_calls(log) == 8


def test_extract_many_reports_progress_and_draws_nothing(clips, tmp_path, capsys):
    calls: list[tuple[int, int]] = []
    extract_many([*clips[:2], clips[0]], LevelExtractor(), n_jobs=1, cache=False,
                 on_progress=lambda done, total: calls.append((done, total)))
    assert calls == [(0, 2), (1, 2), (2, 2)]  # duplicates analysed and counted once
    assert capsys.readouterr() == ("", "")  # the features layer has no terminal UI


def test_features_layer_does_not_import_rich():
    import subprocess
    import sys

    code = ("import sys, music_reclass.features, music_reclass.features.extract; "
            "sys.exit('rich' in sys.modules)")
    assert subprocess.run([sys.executable, "-c", code], timeout=120).returncode == 0


def test_extract_many_without_cache_recomputes(clips, tmp_path):
    log = tmp_path / "calls.log"
    extractor = LevelExtractor("1", calls_log=str(log))
    for _ in range(2):
        result = extract_many(clips[:2], extractor, n_jobs=1, cache=False)
        assert result.n_cached == 0
    assert count_calls(log) == 4
    assert not (paths.cache_dir() / "features" / "test-level").exists()


def test_extract_many_collects_errors_and_keeps_order(clips, tmp_path):
    not_audio = tmp_path / "notes.mp3"
    not_audio.write_text("this is not audio\n" * 100)
    missing = tmp_path / "missing.wav"
    short = write_tone(tmp_path / "short.wav", 440.0, seconds=0.01)
    inputs = [clips[2], str(not_audio), clips[0], str(missing), clips[0], str(short)]
    result = extract_many(inputs, LevelExtractor(), n_jobs=1, cache=False)
    assert result.ok_paths == [clips[2], clips[0]]  # input order, duplicates once
    assert result.X.shape == (2, 3)
    assert set(result.errors) == {str(not_audio), str(missing), str(short)}
    assert result.errors[str(short)].startswith("too-short:")
    assert all(":" in message for message in result.errors.values())


def test_extract_many_empty_input_and_bad_arguments():
    result = extract_many([], LevelExtractor())
    assert result.X.shape == (0, 3) and result.ok_paths == [] and result.errors == {}
    with pytest.raises(ParameterError):
        extract_many([], LevelExtractor(), n_jobs=-1)
    with pytest.raises(ParameterError):
        extract_many([], "no-such-extractor")


def test_extract_many_parallel_equals_serial(tmp_path, clips):
    # the real gtzan58 in two spawned worker processes, through the cache
    extractor = get_extractor("gtzan58")
    serial = extract_many(clips, extractor, n_jobs=1, cache=False)
    cache = FeatureCache(tmp_path / "cache")
    calls: list[tuple[int, int]] = []
    parallel = extract_many(clips, extractor, n_jobs=2, cache=cache,
                            on_progress=lambda done, total: calls.append((done, total)))
    assert calls == [(i, len(clips)) for i in range(len(clips) + 1)]
    assert parallel.errors == {} == serial.errors
    assert parallel.ok_paths == serial.ok_paths == clips
    # workers run one BLAS thread each, this process several: sums are ordered differently,
    # so the last float32 bit may differ (seen: 9e-7 relative); anything more is a bug
    np.testing.assert_allclose(parallel.X, serial.X, rtol=1e-5, atol=0)
    assert parallel.n_cached == 0
    assert len(list((tmp_path / "cache" / "gtzan58").rglob("*.npy"))) == len(clips)
    again = extract_many(clips, extractor, n_jobs=2, cache=cache)
    assert again.n_cached == len(clips)
    np.testing.assert_array_equal(again.X, parallel.X)  # the cache returns what was stored


class CrashingExtractor(LevelExtractor):
    """Kills its own worker process on files named crash*: a segfaulting decoder."""

    name = "test-crashing"

    def extract(self, path):
        if os.path.basename(path).startswith("crash"):
            os._exit(1)
        return super().extract(path)


def test_extract_many_survives_a_dying_worker(clips, tmp_path):
    crash = str(write_tone(tmp_path / "crash.wav", 440.0))
    # more files than the 8 kept in flight by 2 workers, so some wait in the queue
    more = [str(write_tone(tmp_path / f"more{i}.wav", 300.0 + i)) for i in range(8)]
    inputs = [clips[0], crash, *clips[1:], *more]
    result = extract_many(inputs, CrashingExtractor(), n_jobs=2, cache=False)
    # only the culprit fails: the files in flight with it are retried, the queue goes on
    assert list(result.errors) == [crash]
    assert result.errors[crash].startswith("crashed:")
    expected = [p for p in inputs if p != crash]
    assert result.ok_paths == expected and result.X.shape == (len(expected), 3)


def test_extract_many_with_dask(clips, tmp_path):
    pytest.importorskip("dask.distributed")
    from dask.distributed import Client, LocalCluster

    extractor = LevelExtractor()
    serial = extract_many(clips, extractor, n_jobs=1, cache=False)
    with (
        LocalCluster(n_workers=1, processes=False, dashboard_address=None) as cluster,
        Client(cluster) as client,
    ):
        result = extract_many(
            clips + [str(tmp_path / "missing.wav")],
            extractor,
            cache=FeatureCache(tmp_path / "cache"),
            dask_client=client,
        )
    assert result.ok_paths == clips and list(result.errors) == [str(tmp_path / "missing.wav")]
    np.testing.assert_array_equal(result.X, serial.X)


def test_default_n_jobs_is_cpu_count(monkeypatch, clips):
    seen = {}

    def fake_pool(paths, extractor, cache_root, n_jobs):
        seen["n_jobs"] = n_jobs
        return iter(())

    import music_reclass.features.extract as extract_module

    monkeypatch.setattr(extract_module.os, "cpu_count", lambda: 3)
    monkeypatch.setattr(extract_module, "_iter_pool", fake_pool)
    result = extract_many(clips, LevelExtractor(), cache=False)
    assert seen["n_jobs"] == 3
    # files the pool never answered for are reported, not silently dropped
    assert list(result.errors) == clips and result.X.shape == (0, 3)


def test_cli_progress_callback_drives_extract_many(clips):
    from music_reclass.cli.output import progress_callback

    with progress_callback("features", enabled=False) as callback:
        assert callback is None
    with progress_callback("features", enabled=True) as callback:
        result = extract_many(clips[:2], LevelExtractor(), n_jobs=1, cache=False,
                              on_progress=callback)
        callback(0, 1)  # a second batch starts a new bar
        callback(1, 1)
    assert result.ok_paths == clips[:2]
