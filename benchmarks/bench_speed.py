"""Where the time of a classify run goes, and how it compares with the original musicnn.

Usage::

    python benchmarks/bench_speed.py [--tracks 12] [--seconds 180] [--repeats 3]
        [--jobs 2] [--original-tracks 3] [--original-repeats 1] [--skip-original]
        [--skip-pools]
        [--corpus-dir DIR] [--json FILE]

Corpus: ``--tracks`` MP3s of ``--seconds`` (3 minutes) made of real GTZAN clips from
``../shared/audio/gtzan-dev`` (``real_mp3s.py``), written to a temporary folder (or
``--corpus-dir``, kept and reused between runs). Measured in this one run, each
figure the best and the median of ``--repeats`` repetitions (the machine is shared:
the best is the least disturbed):

1. stages, one process, one torch thread, per track: hash, native MP3 decode of the
   excerpt's segments, their resampling to 16 kHz, the whole excerpt load, log-mel,
   each network, the whole classification of the excerpt;
2. decode only: hash + excerpt of every file in one process;
3. end to end: the real runner (``classify_paths``, ``--jobs`` workers, fresh
   database each time): x realtime, cores kept busy, peak memory;
4. pool shapes (``speed_pool.py``): processes with 1 or 4 files per task, threads,
   and 6 instead of 10 patches per track, each with and without start-up (one
   process with 2 torch threads was 7x realtime against 47x for 2 processes on the
   shared machine, as the runner's own notes found: it is left out);
5. the ORIGINAL musicnn 0.1.0 (TensorFlow, in the virtualenv that
   ``setup_original_musicnn.sh`` builds; skipped cleanly when it is absent) on the
   first ``--original-tracks`` of the same files, and the ratios.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from music_reclass.models.musicnn import MUSICNN_INPUT

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import real_mp3s  # noqa: E402
import speed_pool  # noqa: E402

ORIGINAL_PYTHON = HERE / ".musicnn-orig-venv" / "bin" / "python"


def progress(what: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {what}...", file=sys.stderr, flush=True)


def best_median(samples: list[float]) -> dict[str, float]:
    return {"best": min(samples), "median": statistics.median(samples)}


def timed(function: Callable[[], object], repeats: int) -> dict[str, float]:
    """Best and median wall seconds of ``function`` (after one warm-up call)."""
    function()
    walls = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        walls.append(time.perf_counter() - start)
    return best_median(walls)


def stage_times(paths: list[Path], repeats: int) -> dict[str, dict[str, float]]:
    """Per-track seconds of each stage, summed over ``paths`` (one process, one thread)."""
    import numpy as np
    import soxr
    import torch

    from music_reclass.audio.decode import open_audio
    from music_reclass.audio.excerpt import SR, load_excerpt, plan_segments
    from music_reclass.audio.hashing import content_hash
    from music_reclass.models.musicnn import load_musicnn, log_mel, make_patches
    from music_reclass.pipeline import load_classifier

    torch.set_num_threads(1)
    classifier = load_classifier(top_k=None)
    classifier.ensure_loaded()
    nets = {name: load_musicnn(name) for name in ("MSD_musicnn", "MTT_musicnn")}
    totals: dict[str, list[float]] = {}
    for path in paths:
        with open_audio(path) as reader:
            native = reader.info.sample_rate
            spans = plan_segments(reader.info.duration)
        excerpt = load_excerpt(path, MUSICNN_INPUT).waveform
        patches = make_patches(log_mel(excerpt))

        def native_decode(path=path, spans=spans, native=native):
            with open_audio(path) as reader:
                return [reader.read(native, offset=s, duration=d + 0.05) for s, d in spans]

        pieces = native_decode()
        stages = {
            "hash": lambda path=path: content_hash(path),
            "decode (native rate)": native_decode,
            "resample to 16 kHz": lambda pieces=pieces, native=native: [
                soxr.resample(p, native, SR, quality="HQ") for p in pieces],
            "excerpt (decode + resample)": lambda path=path: load_excerpt(path, MUSICNN_INPUT),
            "log-mel": lambda excerpt=excerpt: log_mel(excerpt),
        }
        for name, net in nets.items():
            stages[f"{name} network"] = lambda net=net, patches=patches: net.extract_patches(
                np.ascontiguousarray(patches))
        stages["classify excerpt (log-mel + both)"] = (
            lambda excerpt=excerpt: classifier.predict_batch([excerpt]))
        with torch.inference_mode():
            for stage, function in stages.items():
                times = timed(function, repeats)
                totals.setdefault(stage, [0.0, 0.0])
                totals[stage][0] += times["best"]
                totals[stage][1] += times["median"]
    n = len(paths)
    return {stage: {"best": best / n, "median": median / n}
            for stage, (best, median) in totals.items()}


def decode_only(paths: list[Path], seconds: float, repeats: int) -> dict[str, float]:
    from music_reclass.audio.excerpt import load_excerpt
    from music_reclass.audio.hashing import content_hash

    def run() -> None:
        for path in paths:
            content_hash(path)
            load_excerpt(path, MUSICNN_INPUT)

    walls = timed(run, repeats)
    return {k: len(paths) * seconds / v for k, v in walls.items()}


def end_to_end(folder: Path, jobs: int, repeats: int, workdir: Path) -> dict:
    """The real runner on a fresh database each time."""
    from music_reclass.pipeline import load_classifier
    from music_reclass.runner.classify import classify_paths
    from music_reclass.runner.pool import make_pool
    from music_reclass.store.db import connect

    classifier = load_classifier(top_k=None)
    runs = []
    for index in range(repeats):
        conn = connect(workdir / f"e2e-{index}.sqlite")
        summary = classify_paths([folder], conn=conn, classifier=classifier,
                                 pool=make_pool(classifier, jobs=jobs))
        conn.close()
        runs.append({"x_realtime": summary.analysed_audio_seconds / summary.elapsed,
                     "elapsed_s": summary.elapsed, "ok": summary.ok,
                     "busy_cores": summary.cpu["busy_cores"],
                     "peak_rss_mb": summary.peak_rss_mb})
    xs = [run["x_realtime"] for run in runs]
    return {"x_realtime": {"best": max(xs), "median": statistics.median(xs)}, "runs": runs}


def pool_shapes(paths: list[Path], jobs: int, repeats: int, seconds: float) -> list[dict]:
    """Each pool shape ``repeats`` times; x realtime with and without start-up."""
    names = [str(p) for p in paths]
    variants = {
        f"procs{jobs}x1file": lambda: speed_pool.run_procs(names, workers=jobs, files_per_task=1),
        f"procs{jobs}x4files": lambda: speed_pool.run_procs(names, workers=jobs, files_per_task=4),
        f"threads{jobs}": lambda: speed_pool.run_threads(names, threads=jobs),
        f"procs{jobs}x1file, 6 patches/track": lambda: speed_pool.run_procs(
            names, workers=jobs, files_per_task=1, n_segments=3),
    }
    results: dict[str, list[speed_pool.PoolResult]] = {name: [] for name in variants}
    for _ in range(repeats):  # interleaved, so that load changes hit every variant alike
        for name, run in variants.items():
            results[name].append(run())
    audio = len(paths) * seconds
    out = []
    for name, runs in results.items():
        out.append({
            "pool": name,
            "x_realtime": best_median_x(audio, [r.wall_s for r in runs]),
            "x_realtime_steady": best_median_x(audio, [r.steady_wall_s for r in runs]),
            "startup_s": min(r.startup_s for r in runs),
            "worker_peak_rss_mb": max(max(r.worker_peak_rss_mb, default=0) for r in runs),
            "labels": runs[0].labels,
        })
    return out


def best_median_x(audio_s: float, walls: list[float]) -> dict[str, float]:
    return {"best": audio_s / min(walls), "median": audio_s / statistics.median(walls)}


def original_musicnn(paths: list[Path], repeats: int) -> dict | None:
    """The original musicnn through its own interpreter; None when it is not built."""
    if not ORIGINAL_PYTHON.is_file():
        print(f"original musicnn skipped: {ORIGINAL_PYTHON} is absent "
              "(bash benchmarks/setup_original_musicnn.sh builds it)", file=sys.stderr)
        return None
    command = [str(ORIGINAL_PYTHON), str(HERE / "original_musicnn.py"),
               *map(str, paths), "--repeats", str(repeats)]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        print(f"original musicnn failed:\n{done.stderr[-2000:]}", file=sys.stderr)
        return None
    return json.loads(done.stdout.strip().splitlines()[-1])


def our_same_files(paths: list[Path], repeats: int) -> dict[str, float]:
    """Our whole per-file work (hash, excerpt, both networks), one process, one thread."""
    import torch

    from music_reclass.audio.excerpt import load_excerpt
    from music_reclass.audio.hashing import content_hash
    from music_reclass.pipeline import load_classifier

    torch.set_num_threads(1)
    classifier = load_classifier(top_k=None)
    classifier.ensure_loaded()

    def run() -> None:
        for path in paths:
            content_hash(path)
            classifier.predict_batch([load_excerpt(path, MUSICNN_INPUT).waveform])

    return timed(run, repeats)


def compare_original(paths: list[Path], original_repeats: int, repeats: int,
                     e2e: dict) -> dict | None:
    original = original_musicnn(paths, original_repeats)
    if original is None:
        return None
    audio = sum(entry["duration_s"] for entry in original["files"])
    ours = our_same_files(paths, repeats)
    result = {"files": len(paths), "original": original}
    for way in ("warm", "shipped"):
        if way not in original["files"][0]:
            continue
        wall = sum(entry[way]["best_s"] for entry in original["files"])
        median = sum(entry[way]["median_s"] for entry in original["files"])
        result[f"original_{way}_x_realtime"] = {"best": audio / wall, "median": audio / median}
        result[f"ratio_e2e_vs_original_{way}"] = {
            "best": e2e["x_realtime"]["best"] * wall / audio,
            "median": e2e["x_realtime"]["median"] * median / audio}
        result[f"ratio_one_process_vs_original_{way}"] = {
            "best": wall / ours["best"], "median": median / ours["median"]}
    result["ours_one_process_x_realtime"] = {k: audio / v for k, v in ours.items()}
    patches = sum(entry["warm"]["patches"] for entry in original["files"])
    result["patches_analysed"] = {"original": patches, "ours": 10 * len(paths)}
    return result


def print_summary(results: dict) -> None:
    seconds = results["seconds"]
    print(f"\n== bench_speed: {results['tracks']} x {seconds:.0f} s real-music MP3s, "
          f"{results['cores']} cores (shared machine: best [median] of {results['repeats']})")
    print("stages, one process, one torch thread, per track:")
    for stage, t in results["stages"].items():
        print(f"  {stage:<36} {1000 * t['best']:7.1f} ms [{1000 * t['median']:7.1f}]"
              f"  {seconds / t['best']:8.0f}x realtime on one core")
    d = results["decode_only_x_realtime"]
    print(f"decode only (hash + excerpt, one process): {d['best']:.0f}x [{d['median']:.0f}x]")
    e = results["end_to_end"]
    run = max(e["runs"], key=lambda r: r["x_realtime"])
    print(f"end to end, runner, {results['jobs']} workers: {e['x_realtime']['best']:.0f}x "
          f"[{e['x_realtime']['median']:.0f}x] realtime, {run['busy_cores']:.2f} cores busy, "
          f"peak RSS main {run['peak_rss_mb']['main']:.0f} MB, worker "
          f"{run['peak_rss_mb']['worker']:.0f} MB; e2e / decode-only = "
          f"{d['best'] / e['x_realtime']['best']:.2f}")
    for pool in results.get("pools", []):
        x, s = pool["x_realtime"], pool["x_realtime_steady"]
        print(f"  pool {pool['pool']:<34} {x['best']:5.0f}x [{x['median']:5.0f}x], "
              f"without start-up {s['best']:5.0f}x [{s['median']:5.0f}x]; start-up "
              f"{pool['startup_s']:.1f} s, worker peak {pool['worker_peak_rss_mb']:.0f} MB")
    o = results.get("original")
    if o:
        print(f"original musicnn 0.1.0 on {o['files']} of the same files "
              f"({o['patches_analysed']['original']} patches; ours "
              f"{o['patches_analysed']['ours']}):")
        for way in ("warm", "shipped"):
            if f"original_{way}_x_realtime" in o:
                ox = o[f"original_{way}_x_realtime"]
                r1, r2 = o[f"ratio_e2e_vs_original_{way}"], o[f"ratio_one_process_vs_original_{way}"]
                print(f"  {way:<8} {ox['best']:6.1f}x [{ox['median']:6.1f}x] realtime; ours end "
                      f"to end {r1['best']:.0f}x faster [{r1['median']:.0f}x], ours in one process "
                      f"one thread {r2['best']:.0f}x faster [{r2['median']:.0f}x]")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tracks", type=int, default=12)
    parser.add_argument("--seconds", type=float, default=180.0)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--jobs", type=int, default=None)
    parser.add_argument("--original-tracks", type=int, default=3)
    parser.add_argument("--original-repeats", type=int, default=1,
                        help="repetitions of the original (about 80 s per 3-minute file)")
    parser.add_argument("--skip-original", action="store_true")
    parser.add_argument("--skip-pools", action="store_true")
    parser.add_argument("--corpus-dir", type=Path, default=None,
                        help="keep the generated MP3s here and reuse them next time")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    if not real_mp3s.gtzan_clips():
        print(f"bench_speed skipped: no gtzan-dev clips under {real_mp3s.GTZAN_DEV}")
        return
    jobs = args.jobs or os.cpu_count() or 1
    with tempfile.TemporaryDirectory(prefix="bench_speed_") as tmp:
        folder = args.corpus_dir or Path(tmp) / "corpus"
        paths = sorted(folder.glob("*.mp3")) if folder.is_dir() else []
        if len(paths) < args.tracks:
            start = time.perf_counter()
            paths = real_mp3s.make_real_mp3s(folder, args.tracks, args.seconds)
            print(f"encoded {len(paths)} MP3s in {time.perf_counter() - start:.0f} s",
                  file=sys.stderr)
        paths = paths[: args.tracks]
        if len(paths) < len(list(folder.glob("*.mp3"))):
            folder = Path(tmp) / "subset"  # the runner walks a folder: only these files
            folder.mkdir()
            for path in paths:
                (folder / path.name).symlink_to(path)
        results = {"tracks": len(paths), "seconds": args.seconds, "cores": os.cpu_count(),
                   "jobs": jobs, "repeats": args.repeats}
        progress("end to end (the runner)")
        results["end_to_end"] = end_to_end(folder, jobs, args.repeats, Path(tmp))
        if not args.skip_pools:
            progress("pool shapes")
            results["pools"] = pool_shapes(paths, jobs, args.repeats, args.seconds)
        progress("decode only, then stages")
        results["decode_only_x_realtime"] = decode_only(paths, args.seconds, args.repeats)
        results["stages"] = stage_times(paths, args.repeats)
        if not args.skip_original:
            progress("the original musicnn")
            results["original"] = compare_original(paths[: args.original_tracks],
                                                   args.original_repeats, args.repeats,
                                                   results["end_to_end"])
    results["bench_process_peak_rss_mb"] = resource.getrusage(
        resource.RUSAGE_SELF).ru_maxrss / 1024
    print_summary(results)
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
