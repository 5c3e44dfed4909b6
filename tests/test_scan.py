"""The classify run (music_reclass.runner.classify) with a small fake classifier.

The fake (:class:`FakeClassifier`, also injected into the CLI and kill -9 tests as the
library's ``classifier_factory``) follows the Classifier contract: genres from the
pitch of the audio, so results differ between files and can be checked. The real
classifier is exercised end to end in tests/test_cli_classify.py.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import numpy as np
import pytest

from audio_fixtures import write_clip
from music_reclass.audio.excerpt import AudioInput, ExcerptPolicy
from music_reclass.audio.hashing import content_hash
from music_reclass.errors import ModelError, TooShortError
from music_reclass.pipeline.prediction import Prediction
from music_reclass.runner import classify as scan
from music_reclass.runner.pool import LocalPool, make_pool
from music_reclass.store import db as libdb
from music_reclass.store.queries import FileQuery, file_details, iter_files
from music_reclass.store.vectors import get_vectors

SR = 16000
MIN_SAMPLES = 186 * 256
FAKE_DELAY_ENV = "_RECLASS_FAKE_DELAY"


class FakeClassifier:
    """Deterministic stand-in: 'low' music below 400 Hz, 'high' above; counts its calls."""

    model_id = "fake-genre/1"
    classes = ("low", "high")
    input = AudioInput(SR, ExcerptPolicy(patch_seconds=187 * 256 / SR, min_seconds=MIN_SAMPLES / SR))
    embedding_space = "fake-space/1"

    def __init__(self) -> None:
        self.calls = 0
        self.tracks = 0
        self.delay = float(os.environ.get(FAKE_DELAY_ENV, "0"))

    def ensure_loaded(self) -> None:
        """Nothing to load."""

    def predict_file(self, path):
        from music_reclass.audio.excerpt import load_excerpt

        return self.predict_waveform(load_excerpt(path, self.input).waveform)

    def predict_vectors(self, vectors):
        """Genres from the stored pitch vector alone (what a head on embeddings does)."""
        if "fake.stats" not in vectors:
            raise ModelError("no fake.stats vector")
        return self._prediction(float(vectors["fake.stats"][2]), {})

    def predict_waveform(self, waveform: np.ndarray) -> Prediction:
        return self.predict_batch([waveform])[0]

    def predict_batch(self, waveforms):
        self.calls += 1
        self.tracks += len(waveforms)
        out = []
        for w in waveforms:
            if len(w) < MIN_SAMPLES:
                raise TooShortError(f"audio lasts {len(w) / SR:.2f} s")
            spectrum = np.abs(np.fft.rfft(w[: 4 * SR]))
            peak_hz = float(np.argmax(spectrum)) * SR / (2 * (len(spectrum) - 1))
            stats = np.array([w.mean(), w.std(), peak_hz], np.float32)
            prediction = self._prediction(peak_hz, {self.embedding_space: {"fake.stats": stats}})
            prediction.analysed_seconds = len(w) / SR
            prediction.n_patches = len(w) // (187 * 256)
            out.append(prediction)
            if self.delay:
                time.sleep(self.delay)
        return out

    def _prediction(self, peak_hz: float, vectors) -> Prediction:
        low = 0.8 if peak_hz < 400 else 0.2
        genres = sorted([("low", low), ("high", 1 - low)], key=lambda g: -g[1])
        return Prediction(genres=genres,
                          tags=[("fake:pitch", min(1.0, peak_hz / 1000)), ("fake:rms", 0.1)],
                          vectors=vectors, decided=[genres[0][0]] if genres[0][1] > 0.5 else None)


def make_fake(spec=None) -> FakeClassifier:
    """Factory injected as a library's ``classifier_factory``."""
    return FakeClassifier()


def tone(path: Path, freq: float, *, seconds: float = 4.0, fmt: str = "wav16",
         amplitude: float = 0.5) -> Path:
    """A sine clip (distinct content per frequency/length)."""
    sr = 22050
    t = np.arange(int(seconds * sr)) / sr
    data = (amplitude * np.sin(2 * np.pi * freq * t)).astype(np.float32)[:, None]
    path.parent.mkdir(parents=True, exist_ok=True)
    return write_clip(path, fmt, data=data, sr=sr)


def library(root: Path) -> dict[str, Path]:
    """Good files, companions and bad files, as a user's folder would hold them."""
    files = {
        "low": tone(root / "a" / "low.wav", 220.0),
        "high": tone(root / "a" / "high.flac", 880.0, fmt="flac"),
        "mp3": tone(root / "b" / "song.mp3", 300.0, seconds=5.0, fmt="mp3"),
        "short": tone(root / "b" / "short.wav", 440.0, seconds=1.0),
        "silent": tone(root / "b" / "silent.wav", 440.0, amplitude=0.0),
    }
    (root / "a" / "cover.jpg").write_bytes(b"\xff\xd8\xff\xe0" + bytes(100))
    (root / "a" / "notes.txt").write_text("liner notes")
    corrupt = root / "b" / "corrupt.mp3"
    corrupt.write_bytes(b"ID3\x04\x00\x00\x00\x00\x00\x00" + os.urandom(2000))
    files["corrupt"] = corrupt
    fake = root / "b" / "image.flac"
    fake.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(64))
    files["fake"] = fake
    empty = root / "b" / "empty.wav"
    empty.write_bytes(b"")
    files["empty"] = empty
    return files


def pool_for(clf, *, jobs=None, batch_size=1):
    return make_pool(clf, jobs=jobs, batch_size=batch_size)


def run(root, conn, clf=None, *, jobs=None, batch_size=1, **kwargs):
    clf = clf or FakeClassifier()
    results = []
    summary = scan.classify_paths([root], conn=conn, classifier=clf,
                                  pool=pool_for(clf, jobs=jobs, batch_size=batch_size),
                                  on_result=results.append, **kwargs)
    return summary, {Path(r.path).name: r for r in results}, clf


@pytest.fixture
def conn(tmp_path):
    connection = libdb.connect(tmp_path / "lib.sqlite")
    yield connection
    connection.close()


def test_first_run_records_everything(tmp_path, conn):
    library(tmp_path / "music")
    summary, by_name, _ = run(tmp_path / "music", conn, jobs=0)
    assert summary.status == "done"
    assert (summary.ok, summary.failed, summary.ignored, summary.cached) == (3, 5, 2, 0)
    assert by_name["low.wav"].genres[0]["label"] == "low"
    assert by_name["high.flac"].genres[0]["label"] == "high"
    codes = {name: by_name[name].error_code for name in
             ("short.wav", "silent.wav", "corrupt.mp3", "image.flac", "empty.wav")}
    assert codes["short.wav"] == "too-short"
    assert codes["silent.wav"] == "silent"
    assert codes["image.flac"] == "unsupported"
    assert codes["empty.wav"] == "corrupt"
    assert codes["corrupt.mp3"] in {"corrupt", "unsupported"}
    assert all(by_name[name].error for name in codes)
    assert {Path(p).name for p, _ in summary.failures} == set(codes)
    # DB: every ok file has its track, analysis and embeddings
    rows = conn.execute(
        "SELECT f.path, f.status, a.status AS astatus, t.duration, t.sample_rate"
        " FROM files f LEFT JOIN analyses a ON a.content_hash = f.content_hash"
        " LEFT JOIN tracks t ON t.content_hash = f.content_hash"
    ).fetchall()
    by_path = {Path(r["path"]).name: r for r in rows}
    assert by_path["low.wav"]["astatus"] == "ok"
    assert by_path["low.wav"]["duration"] == pytest.approx(4.0, abs=0.01)
    assert by_path["low.wav"]["sample_rate"] == 22050
    # undecodable content gets an error analysis (not retried); an unreadable path does not
    assert by_path["short.wav"]["astatus"] == "error"
    assert by_path["silent.wav"]["astatus"] == "error"
    assert by_path["image.flac"]["astatus"] is None
    assert all(Path(r["path"]).is_absolute() for r in rows)
    stored = conn.execute("SELECT content_hash FROM vectors").fetchall()
    assert len(stored) == 3
    vector = get_vectors(conn, stored[0][0], FakeClassifier.embedding_space)["fake.stats"]
    assert vector.dtype == np.float32 and vector.shape == (3,)
    run_row = conn.execute("SELECT status, finished_at FROM runs").fetchone()
    assert run_row["status"] == "done" and run_row["finished_at"]


def test_second_run_is_cached_and_calls_no_model(tmp_path, conn):
    library(tmp_path / "music")
    run(tmp_path / "music", conn, jobs=0)
    summary, by_name, clf = run(tmp_path / "music", conn, jobs=0)
    assert clf.calls == 0
    assert summary.cached == summary.ok == 3
    assert by_name["low.wav"].cached and by_name["low.wav"].genres[0]["label"] == "low"
    # content errors come back from the DB too, still as failures
    assert by_name["short.wav"].status == "error" and by_name["short.wav"].cached
    assert summary.failed == 5


def test_unchanged_file_is_not_hashed_again(tmp_path, conn, monkeypatch):
    library(tmp_path / "music")
    run(tmp_path / "music", conn, jobs=0)
    calls = []
    from music_reclass.audio import hashing

    real = hashing.content_hash
    monkeypatch.setattr(hashing, "content_hash", lambda p: calls.append(p) or real(p))
    summary, _, clf = run(tmp_path / "music", conn, jobs=0, force=True)
    assert clf.tracks == 3 and summary.cached == 0
    # only the files without a stored hash (never hashable: not audio, empty) may be read
    assert calls == []
    # touching a file (new mtime) makes it hashed again
    low = tmp_path / "music" / "a" / "low.wav"
    os.utime(low, ns=(time.time_ns(), time.time_ns() + 10**9))
    run(tmp_path / "music", conn, jobs=0)
    assert [Path(p).name for p in calls] == ["low.wav"]


def test_rename_and_copy_are_cached(tmp_path, conn):
    files = library(tmp_path / "music")
    run(tmp_path / "music", conn, jobs=0)
    files["low"].rename(files["low"].with_name("renamed low.wav"))
    copy = tmp_path / "music" / "copy.flac"
    copy.write_bytes(files["high"].read_bytes())
    summary, by_name, clf = run(tmp_path / "music", conn, jobs=0)
    assert clf.calls == 0
    assert by_name["renamed low.wav"].cached and by_name["copy.flac"].cached
    assert by_name["copy.flac"].genres[0]["label"] == "high"
    row = conn.execute("SELECT COUNT(*) FROM analyses WHERE status = 'ok'").fetchone()
    assert row[0] == 3


def test_existing_tags_are_stored(tmp_path, conn):
    import mutagen

    path = tone(tmp_path / "m" / "tagged.flac", 220.0, fmt="flac")
    audio = mutagen.File(path)
    audio["GENRE"] = ["Jazz", "Blues"]
    audio["TITLE"] = ["Night"]
    audio.save()
    run(tmp_path / "m", conn, jobs=0)
    row = conn.execute("SELECT title, genre_tags FROM tracks").fetchone()
    assert row["title"] == "Night"
    assert json.loads(row["genre_tags"]) == ["Jazz", "Blues"]
    listed = list(iter_files(conn, FileQuery(model_id=FakeClassifier.model_id)))
    assert listed[0].genre_tags == ["Jazz", "Blues"]


def test_duplicate_in_same_run_is_skipped(tmp_path, conn):
    folder = tmp_path / "music"
    original = tone(folder / "one.wav", 220.0)
    (folder / "two.wav").write_bytes(original.read_bytes())
    summary, by_name, clf = run(folder, conn, jobs=0)
    assert clf.tracks == 1
    assert by_name["one.wav"].status == "ok"
    assert by_name["two.wav"].status == "skipped"
    assert by_name["two.wav"].duplicate_of == str(original.resolve())
    assert by_name["two.wav"].genres == by_name["one.wav"].genres
    assert (summary.ok, summary.skipped) == (1, 1)
    statuses = [r[0] for r in conn.execute("SELECT status FROM files")]
    assert statuses == ["ok", "ok"]


def test_same_path_twice_is_processed_once(tmp_path, conn):
    path = tone(tmp_path / "x.wav", 220.0)
    clf = FakeClassifier()
    summary = scan.classify_paths([path, path], conn=conn, classifier=clf,
                                  pool=pool_for(clf, jobs=0))
    assert clf.tracks == 1 and summary.ok == 1 and summary.skipped == 1


def test_force_analyses_again(tmp_path, conn):
    tone(tmp_path / "m" / "x.wav", 220.0)
    run(tmp_path / "m", conn, jobs=0)
    first = conn.execute("SELECT run_id FROM analyses").fetchone()[0]
    summary, _, clf = run(tmp_path / "m", conn, jobs=0, force=True)
    assert clf.tracks == 1 and summary.cached == 0
    assert conn.execute("SELECT run_id FROM analyses").fetchone()[0] == summary.run_id != first
    assert conn.execute("SELECT COUNT(*) FROM vectors").fetchone()[0] == 1


def test_new_model_analyses_again(tmp_path, conn):
    tone(tmp_path / "m" / "x.wav", 220.0)
    run(tmp_path / "m", conn, jobs=0)
    other = FakeClassifier()
    other.model_id = "fake-genre/2"
    other.embedding_space = "another-space/1"
    summary, _, _ = run(tmp_path / "m", conn, other, jobs=0)
    assert other.tracks == 1 and summary.cached == 0 and summary.from_vectors == 0
    assert conn.execute("SELECT COUNT(*) FROM analyses").fetchone()[0] == 2
    assert conn.execute("SELECT COUNT(*) FROM vectors").fetchone()[0] == 2


def test_model_on_stored_vectors_answers_without_the_audio(tmp_path, conn):
    """Another model of the same embedding space (a new taxonomy, a head on the stored
    embeddings) is answered from the vectors: no decoding, no network."""
    tone(tmp_path / "m" / "x.wav", 220.0)
    tone(tmp_path / "m" / "y.wav", 880.0)
    run(tmp_path / "m", conn, jobs=0)
    other = FakeClassifier()
    other.model_id = "fake-genre/2"
    summary, by_name, _ = run(tmp_path / "m", conn, other, jobs=0)
    assert other.tracks == 0 and summary.from_vectors == 2 and summary.ok == 2
    assert by_name["x.wav"].from_vectors and by_name["x.wav"].genres[0]["label"] == "low"
    assert by_name["y.wav"].genres[0]["label"] == "high"
    assert conn.execute("SELECT COUNT(*) FROM analyses").fetchone()[0] == 4
    assert conn.execute("SELECT COUNT(*) FROM vectors").fetchone()[0] == 2  # one copy each
    again, _, _ = run(tmp_path / "m", conn, other, jobs=0)
    assert again.cached == 2 and again.from_vectors == 0


def test_worker_processes_agree_with_in_process(tmp_path):
    files = library(tmp_path / "music")
    del files
    results = {}
    for jobs in (0, 2):
        conn = libdb.connect(tmp_path / f"lib{jobs}.sqlite")
        summary, by_name, _ = run(tmp_path / "music", conn, jobs=jobs, batch_size=2)
        conn.close()
        results[jobs] = (
            (summary.ok, summary.failed, summary.ignored),
            {n: (r.status, r.error_code, r.genres, r.content_hash) for n, r in by_name.items()},
        )
    assert results[0] == results[2]
    assert summary.cpu["workers"] > 0


def test_workers_never_import_torch():
    """The forkserver is torch-free: workers only get torch if their classifier needs it."""
    pool = LocalPool(FakeClassifier(), jobs=1)
    try:
        executor = pool._executor
        loaded = executor.submit(eval, "'torch' in __import__('sys').modules").result(timeout=60)
        method = executor.submit(
            eval, "__import__('multiprocessing').get_start_method()"
        ).result(timeout=60)
    finally:
        pool.shutdown()
    assert loaded is False
    assert method in {"forkserver", "spawn"}


class _CountingLoads(FakeClassifier):
    """Appends the worker's pid to a file each time it is made ready (once per worker)."""

    def __init__(self, log: Path) -> None:
        super().__init__()
        self.log = str(log)

    def ensure_loaded(self) -> None:
        with open(self.log, "a") as handle:
            handle.write(f"{os.getpid()}\n")


def test_classifier_loaded_once_per_worker(tmp_path, conn):
    folder = tmp_path / "m"
    for i in range(8):
        tone(folder / f"t{i}.wav", 200.0 + 40 * i)
    log = tmp_path / "loads.txt"
    summary, by_name, clf = run(folder, conn, _CountingLoads(log), jobs=2)
    assert summary.ok == 8 and all(r.genres[0]["label"] == "low" for r in by_name.values()
                                   if r.path.endswith(("t0.wav", "t1.wav")))
    pids = log.read_text().split()
    assert 1 <= len(pids) <= 2 and len(set(pids)) == len(pids)
    assert str(os.getpid()) not in pids  # the main process classified nothing
    assert clf.tracks == 0
    assert summary.peak_rss_mb["worker"] > 0


class _UnloadableInWorkers(FakeClassifier):
    def __setstate__(self, state):
        raise RuntimeError("weights missing")


def test_model_that_cannot_load_in_workers_fails_each_file_as_model_error(tmp_path, conn):
    tone(tmp_path / "m" / "a.wav", 220.0)
    tone(tmp_path / "m" / "b.wav", 440.0)
    summary, by_name, _ = run(tmp_path / "m", conn, _UnloadableInWorkers(), jobs=1)
    assert summary.failed == 2
    assert {r.error_code for r in by_name.values()} == {"model-error"}
    assert "weights missing" in by_name["a.wav"].error
    # not the content's fault: no analysis stored, so the next run tries again
    assert conn.execute("SELECT COUNT(*) FROM analyses").fetchone()[0] == 0
    summary, _, _ = run(tmp_path / "m", conn, jobs=1)
    assert summary.ok == 2 and summary.cached == 0


def test_unpicklable_classifier_needs_jobs_0(tmp_path, conn):
    clf = FakeClassifier()
    clf.hook = lambda: None  # lambdas do not pickle
    tone(tmp_path / "m" / "a.wav", 220.0)
    with pytest.raises(ValueError, match="--jobs 0"):
        run(tmp_path / "m", conn, clf, jobs=1)
    summary, _, _ = run(tmp_path / "m", conn, clf, jobs=0)
    assert summary.ok == 1


class _Interrupting(FakeClassifier):
    def __init__(self, after: int) -> None:
        super().__init__()
        self.after = after

    def predict_batch(self, waveforms):
        if self.tracks >= self.after:
            raise KeyboardInterrupt
        return super().predict_batch(waveforms)


def test_interrupt_in_model_then_resume(tmp_path, conn):
    folder = tmp_path / "m"
    for i in range(5):
        tone(folder / f"t{i}.wav", 200.0 + 50 * i)
    clf = _Interrupting(after=2)
    summary = scan.classify_paths([folder], conn=conn, classifier=clf, pool=pool_for(clf, jobs=0))
    assert summary.status == "interrupted" and summary.ok == 2
    assert conn.execute("SELECT status FROM runs").fetchone()[0] == "interrupted"
    assert not conn.in_transaction
    summary, by_name, clf = run(folder, conn, jobs=0)
    assert summary.status == "done"
    assert (summary.ok, summary.cached, clf.tracks) == (5, 2, 3)


@pytest.mark.parametrize("jobs", [0, 1, 2])
def test_interrupt_then_resume(tmp_path, conn, jobs):
    """Ctrl-C in the main process (as the CLI's output callback sees it) with workers busy."""
    folder = tmp_path / "m"
    for i in range(6):
        tone(folder / f"t{i}.wav", 200.0 + 50 * i)
    seen = []

    def interrupt_after_two(result):
        seen.append(result)
        if len(seen) == 2:
            raise KeyboardInterrupt

    clf = FakeClassifier()
    summary = scan.classify_paths([folder], conn=conn, classifier=clf,
                                  pool=pool_for(clf, jobs=jobs), on_result=interrupt_after_two)
    assert summary.status == "interrupted" and summary.ok == 2
    assert conn.execute("SELECT status FROM runs").fetchone()[0] == "interrupted"
    assert not conn.in_transaction
    summary, by_name, _ = run(folder, conn, jobs=jobs)
    assert summary.status == "done"
    assert (summary.ok, summary.cached) == (6, 2)
    assert sum(not r.cached for r in by_name.values()) == 4


def test_strange_names_round_trip(tmp_path, conn):
    folder = tmp_path / "m"
    names = ["new\nline.wav", "ünïcødé 音楽 🎵.wav", ("x" * 200) + ".wav", "tab\tand 'quotes\".wav"]
    for i, name in enumerate(names):
        tone(folder / name, 200.0 + 100 * i)
    summary, by_name, _ = run(folder, conn, jobs=0)
    assert summary.ok == len(names)
    stored = {Path(r[0]).name for r in conn.execute("SELECT path FROM files")}
    assert stored == set(names)
    for name in names:
        details = file_details(conn, str((folder / name).resolve()))
        assert details is not None and details["status"] == "ok"


def test_bad_parameters(tmp_path, conn):
    with pytest.raises(ValueError):
        make_pool(FakeClassifier(), jobs=-1)
    with pytest.raises(ValueError):
        make_pool(FakeClassifier(), jobs=0, batch_size=0)


def test_model_failure_is_one_files_error(tmp_path, conn):
    class Broken(FakeClassifier):
        def predict_batch(self, waveforms):
            if any(abs(float(np.max(w)) - 0.25) < 0.05 for w in waveforms):
                raise RuntimeError("network exploded")
            return super().predict_batch(waveforms)

    tone(tmp_path / "m" / "good.wav", 220.0)
    tone(tmp_path / "m" / "bad.wav", 220.0, amplitude=0.25)
    summary, by_name, _ = run(tmp_path / "m", conn, Broken(), jobs=0, batch_size=4)
    assert by_name["good.wav"].status == "ok"
    assert by_name["bad.wav"].status == "error" and "exploded" in by_name["bad.wav"].error
    # a model failure is not the content's fault: no error analysis, retried next run
    assert conn.execute("SELECT COUNT(*) FROM analyses").fetchone()[0] == 1


@pytest.mark.parametrize("jobs", [0, 1])
def test_unexpected_error_in_the_main_process_fails_one_file_not_the_run(
    tmp_path, conn, monkeypatch, jobs
):
    tone(tmp_path / "m" / "good.wav", 220.0)
    tone(tmp_path / "m" / "cursed.wav", 330.0)
    real_lookup = scan.find_analysis

    def lookup(connection, content_hash, model_id):
        if content_hash == cursed_hash:
            raise RuntimeError("database said no")
        return real_lookup(connection, content_hash, model_id)

    cursed_hash = content_hash(tmp_path / "m" / "cursed.wav")
    monkeypatch.setattr(scan, "find_analysis", lookup)
    summary, by_name, _ = run(tmp_path / "m", conn, jobs=jobs)
    assert by_name["good.wav"].status == "ok"
    cursed = by_name["cursed.wav"]
    assert cursed.status == "error" and cursed.error_code == "internal"
    assert "RuntimeError: database said no" in cursed.error
    assert summary.failed == 1 and summary.ok == 1
    row = conn.execute(
        "SELECT status, error_code FROM files WHERE path LIKE '%cursed.wav'"
    ).fetchone()
    assert tuple(row) == ("error", "internal")
