"""End-to-end throughput of ``reclass classify`` (the real default model).

Usage::

    python benchmarks/bench_classify.py [--tracks 20] [--seconds 180] [--jobs N]
                                        [--skip-mixed] [--skip-synthetic] [--json FILE]

Corpora: ``../shared/audio/mixed-folder`` (31 real files, when present) and
``--tracks`` synthetic music-like MP3s of ``--seconds`` each (generated into a temp
dir). For each corpus, measured in this one run:

- end to end: :func:`music_reclass.runner.classify.classify_paths` on a fresh DB, with
  ``--jobs`` workers (default: one per core) each doing hash, decode, log-mel and
  both networks with one torch thread, while this process only records: wall time,
  x realtime (audio duration / wall), cores kept busy, peak RSS of the main process
  and of each worker, and per-stage time (hash, decode, inference summed over the
  workers; DB in the main process);
- decode only: hash + excerpt decode of every file, one process, one core;
- stages in isolation (one thread): log-mel and network time on the same excerpts,
  to split the inference figure;
- ratios: end-to-end wall / decode-only wall, and the inference share.

Target: >= 200x realtime on 3-minute tracks with 2 cores (before workers did the
inference: 209.6x, 0.93 cores busy).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

import av
import numpy as np

from music_reclass.models.musicnn import MUSICNN_INPUT

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("RECLASS_SHARED", REPO.parent / "shared"))


def synth_track(seconds: float, *, seed: int, sr: int = 44100) -> np.ndarray:
    """Music-like stereo audio: a chord progression, a bass line, drums-ish noise bursts."""
    rng = np.random.default_rng(seed)
    n = int(seconds * sr)
    t = np.arange(n) / sr
    bpm = rng.uniform(70, 160)
    beat = 60.0 / bpm
    root = 110.0 * 2 ** (rng.integers(0, 12) / 12)
    chord_len = 4 * beat
    degree = (np.floor(t / chord_len) % 4).astype(int)
    shift = np.array([0, 5, 7, 3])[degree]
    base = root * 2 ** (shift / 12)
    phase = 2 * np.pi * np.cumsum(base) / sr
    tone = sum(np.sin(k * phase) / k for k in (1, 1.5, 2, 3)) * 0.2
    envelope = np.exp(-((t % beat) / (0.3 * beat)))
    kick = np.sin(2 * np.pi * 55 * t) * np.exp(-((t % beat) / 0.05)) * 0.6
    hats = rng.uniform(-1, 1, n) * np.exp(-(((t + beat / 2) % beat) / 0.02)) * 0.15
    mono = tone * (0.5 + 0.5 * envelope) + kick + hats
    mono /= np.max(np.abs(mono)) * 1.25
    return np.stack([mono, np.roll(mono, 200)], axis=1).astype(np.float32)


def write_mp3(path: Path, data: np.ndarray, sr: int = 44100) -> None:
    with av.open(str(path), mode="w", format="mp3") as container:
        stream = container.add_stream("libmp3lame", rate=sr, layout="stereo")
        stream.bit_rate = 192000
        block = 1152 * 8
        for start in range(0, len(data), block):
            chunk = np.ascontiguousarray(data[start : start + block].T)
            frame = av.AudioFrame.from_ndarray(chunk, format="fltp", layout="stereo")
            frame.sample_rate = sr
            frame.pts = start
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)


def _write_one(folder: Path, i: int, seconds: float) -> Path:
    path = folder / f"synthetic {i:03d}.mp3"
    write_mp3(path, synth_track(seconds, seed=i))
    return path


def make_synthetic(folder: Path, tracks: int, seconds: float) -> list[Path]:
    """Generated in a child process, so its big float64 buffers never count in our peak RSS."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    folder.mkdir(parents=True, exist_ok=True)
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
        return list(pool.map(_write_one, [folder] * tracks, range(tracks), [seconds] * tracks))


def audio_files(folder: Path) -> list[Path]:
    from music_reclass.audio.discover import iter_candidates

    return [c.path for c in iter_candidates([folder]) if c.kind == "audio"]


def decode_only(paths: list[Path]) -> dict:
    """Hash + excerpt decode of every file in this process; returns times and excerpts."""
    from music_reclass.audio.excerpt import load_excerpt
    from music_reclass.audio.hashing import content_hash
    from music_reclass.errors import AudioError

    hash_s = decode_s = 0.0
    excerpts, duration = [], 0.0
    for path in paths:
        start = time.perf_counter()
        content_hash(path)
        hash_s += time.perf_counter() - start
        start = time.perf_counter()
        try:
            excerpt = load_excerpt(path, MUSICNN_INPUT)
        except AudioError:
            continue
        decode_s += time.perf_counter() - start
        excerpts.append(excerpt.waveform)
        duration += excerpt.info.duration
    return {"hash_s": hash_s, "decode_s": decode_s, "wall_s": hash_s + decode_s,
            "excerpts": excerpts, "audio_s": duration}


def stage_split(classifier, excerpts: list[np.ndarray], batch_size: int) -> dict:
    """Log-mel and whole-inference time on the same excerpts (this process's threads)."""
    from music_reclass.models.musicnn import log_mel

    start, cpu = time.perf_counter(), time.process_time()
    for waveform in excerpts:
        log_mel(waveform)
    logmel_s, logmel_cpu = time.perf_counter() - start, time.process_time() - cpu
    start, cpu = time.perf_counter(), time.process_time()
    for i in range(0, len(excerpts), batch_size):
        classifier.predict_batch(excerpts[i : i + batch_size])
    inference_s, inference_cpu = time.perf_counter() - start, time.process_time() - cpu
    return {"logmel_s": logmel_s, "inference_s": inference_s,
            "network_s": inference_s - logmel_s, "logmel_cpu_s": logmel_cpu,
            "inference_cpu_s": inference_cpu}


def end_to_end(name: str, folder: Path, classifier, *, jobs: int, batch_size: int,
               workdir: Path) -> dict:
    from music_reclass.runner.classify import classify_paths
    from music_reclass.runner.pool import make_pool
    from music_reclass.store import db as libdb

    conn = libdb.connect(workdir / f"{name}.sqlite")
    summary = classify_paths([folder], conn=conn, classifier=classifier,
                             pool=make_pool(classifier, jobs=jobs, batch_size=batch_size))
    conn.close()
    return {"summary": summary, "main_has_torch": "torch" in sys.modules}


def bench_corpus(name: str, folder: Path, classifier, e2e_run: dict, *, batch_size: int,
                 threads: int) -> dict:
    import torch

    torch.set_num_threads(threads)
    paths = audio_files(folder)
    summary = e2e_run["summary"]
    decode = decode_only(paths)
    split = stage_split(classifier, decode.pop("excerpts"), batch_size)
    e2e = summary.as_dict()
    audio_s = summary.analysed_audio_seconds
    return {
        "corpus": name,
        "files": len(paths),
        "ok": summary.ok,
        "failed": summary.failed,
        "audio_s": round(audio_s, 1),
        "end_to_end": e2e,
        "main_imported_torch_during_run": e2e_run["main_has_torch"],
        "x_realtime": round(audio_s / summary.elapsed, 1),
        # perfect spread of the workers' CPU time over the cores
        "x_realtime_cpu_bound": round(
            audio_s / max(e2e["cpu"]["workers"] / (os.cpu_count() or 1), 1e-9), 1),
        "decode_only": {k: round(v, 3) for k, v in decode.items()},
        "decode_only_x_realtime": round(decode["audio_s"] / decode["wall_s"], 1),
        "ratio_e2e_to_decode_only": round(summary.elapsed / decode["wall_s"], 2),
        "stages_isolated": {k: round(v, 3) for k, v in split.items()},
        "per_track_ms": {
            "hash": round(1000 * decode["hash_s"] / max(1, len(paths)), 1),
            "decode": round(1000 * decode["decode_s"] / max(1, len(paths)), 1),
            "logmel": round(1000 * split["logmel_s"] / max(1, len(paths)), 1),
            "network": round(1000 * split["network_s"] / max(1, len(paths)), 1),
            "db": round(1000 * summary.stages["db"] / max(1, summary.ok), 1),
        },
        "per_track_ms_in_workers": {
            stage: round(1000 * summary.stages[stage] / max(1, summary.ok), 1)
            for stage in ("hash", "decode", "inference")
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tracks", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=180.0)
    parser.add_argument("--jobs", type=int, default=None)
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--threads", type=int, default=1,
                        help="torch threads of this process, for the isolated stage split")
    parser.add_argument("--skip-mixed", action="store_true")
    parser.add_argument("--skip-synthetic", action="store_true")
    parser.add_argument("--json", type=Path, default=None, help="Also write the results here.")
    args = parser.parse_args()

    from music_reclass.pipeline import load_classifier
    from music_reclass.runner.classify import default_jobs

    jobs = default_jobs() if args.jobs is None else args.jobs
    # as the CLI does: the classifier is built here (no torch: its networks load in
    # the workers), torch comes in only for the isolated stage split, after the runs
    classifier = load_classifier(top_k=None)
    results = {"cores": os.cpu_count(), "jobs": jobs, "torch_threads_per_worker": 1,
               "batch_size": args.batch_size, "corpora": []}
    with tempfile.TemporaryDirectory(prefix="bench_classify_") as tmp:
        workdir = Path(tmp)
        corpora = []
        if not args.skip_mixed and (SHARED / "audio" / "mixed-folder").is_dir():
            corpora.append(("mixed-folder", SHARED / "audio" / "mixed-folder"))
        if not args.skip_synthetic:
            start = time.perf_counter()
            make_synthetic(workdir / "synthetic", args.tracks, args.seconds)
            print(f"generated {args.tracks} x {args.seconds:.0f} s MP3s in "
                  f"{time.perf_counter() - start:.1f} s", file=sys.stderr)
            corpora.append((f"synthetic-{args.tracks}x{args.seconds:.0f}s",
                            workdir / "synthetic"))
        runs = [(name, folder, end_to_end(name, folder, classifier, jobs=jobs,
                                          batch_size=args.batch_size, workdir=workdir))
                for name, folder in corpora]
        for name, folder, e2e_run in runs:
            result = bench_corpus(name, folder, classifier, e2e_run,
                                  batch_size=args.batch_size, threads=args.threads)
            results["corpora"].append(result)
            print(json.dumps(result, indent=1), flush=True)
    results["bench_process_peak_rss_mb"] = round(
        resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    print("\nsummary")
    for r in results["corpora"]:
        e2e = r["end_to_end"]
        print(f"  {r['corpus']}: {r['files']} files, {r['audio_s']:.0f} s audio, "
              f"e2e {e2e['elapsed']:.1f} s = {r['x_realtime']}x realtime "
              f"({e2e['cpu'].get('busy_cores', 0):.2f} cores busy; CPU-bound "
              f"{r['x_realtime_cpu_bound']}x); decode-only "
              f"{r['decode_only']['wall_s']:.1f} s = {r['decode_only_x_realtime']}x; "
              f"e2e/decode-only = {r['ratio_e2e_to_decode_only']}; per track ms {r['per_track_ms']}; "
              f"peak RSS main {e2e['peak_rss_mb'].get('main')} MB, "
              f"worker {e2e['peak_rss_mb'].get('worker')} MB (all workers "
              f"{e2e['peak_rss_mb'].get('workers_total')} MB); "
              f"stages in workers ms/track {r['per_track_ms_in_workers']}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
