#!/usr/bin/env python
"""Throughput of the musicnn port: log-mel front end and the two networks.

Synthetic audio (harmonic notes over noise), 30 s excerpts as the pipeline analyses
them. Prints seconds and "x realtime" (audio seconds per wall second) on 1 and 2
threads, a per-stage breakdown of the network, and the fast path against the plain
layer-by-layer path. Times are the best of ``--repeats`` runs (the machine is shared;
the minimum is the least disturbed), medians in brackets, then the best CPU time of
the process (robust to other processes taking the cores; sums all threads).

    python benchmarks/bench_musicnn.py [--seconds 30] [--repeats 5]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections.abc import Callable

import numpy as np
import torch

from music_reclass.models.musicnn import SR, load_musicnn, log_mel, make_patches


def synthetic_audio(seconds: float, *, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * SR)) / SR
    audio = 0.02 * rng.standard_normal(t.size)
    for start in np.arange(0.0, seconds, 0.25):
        f0 = rng.uniform(80, 1000)
        envelope = np.where(t >= start, np.exp(-(t - start) * 4), 0.0)
        for harmonic in range(1, 6):
            audio += envelope * np.sin(2 * np.pi * f0 * harmonic * t) / (4 * harmonic)
    return (0.8 * audio / np.abs(audio).max()).astype(np.float32)


def timed(function: Callable[[], object], repeats: int) -> tuple[float, float, float]:
    """Best and median wall time, and best CPU time of this process (all threads)."""
    function()  # warm-up (first call prepares the FFT-domain filters)
    walls, cpus = [], []
    for _ in range(repeats):
        start, start_cpu = time.perf_counter(), time.process_time()
        function()
        walls.append(time.perf_counter() - start)
        cpus.append(time.process_time() - start_cpu)
    return min(walls), statistics.median(walls), min(cpus)


def report(label: str, seconds_of_audio: float, timing: tuple[float, float, float]) -> None:
    best, median, cpu = timing
    print(
        f"  {label:<34} {best * 1e3:8.1f} ms  [{median * 1e3:8.1f}]  cpu {cpu * 1e3:8.1f} ms"
        f"  {seconds_of_audio / best:7.0f}x realtime"
    )


def stage_breakdown(seconds: float, patches: np.ndarray, repeats: int) -> None:
    network = load_musicnn("MSD_musicnn").network
    batch = torch.from_numpy(patches)
    with torch.inference_mode():
        fast = network._fast_weights()
        normalised = network._normalise_input(batch)
        timbral = network._timbral_fft(normalised, fast)
        temporal = network._temporal(normalised, fast)
        front = torch.cat([timbral, temporal], dim=1)
        stages = {
            "input batch norm": lambda: network._normalise_input(batch),
            "timbral 7x38 + 7x67 (FFT)": lambda: network._timbral_fft(normalised, fast),
            "temporal 128/64/32 (matmul)": lambda: network._temporal(normalised, fast),
            "mid-end + back-end": lambda: network._midend_backend(front),
            "whole network (fast path)": lambda: network(batch),
            "whole network (reference path)": lambda: network.forward_reference(batch),
        }
        for label, function in stages.items():
            report(label, seconds, timed(function, repeats))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=30.0, help="excerpt length")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()

    audio = synthetic_audio(args.seconds)
    logmel = log_mel(audio)
    patches = make_patches(logmel)
    nets = {name: load_musicnn(name) for name in ("MSD_musicnn", "MTT_musicnn")}
    print(
        f"musicnn port, {args.seconds:.0f} s excerpt = {len(patches)} patches, torch {torch.__version__}"
    )

    totals = {}
    for threads in (1, 2):
        torch.set_num_threads(threads)
        print(f"\n{threads} thread(s):")
        t_mel = timed(lambda: log_mel(audio), args.repeats)
        report("log-mel", args.seconds, t_mel)
        t_nets = []
        for name, net in nets.items():
            t_net = timed(lambda net=net: net.extract_patches(patches), args.repeats)
            report(f"{name} network", args.seconds, t_net)
            t_nets.append(t_net)
        t_all = timed(
            lambda: [net.extract(logmel=log_mel(audio)) for net in nets.values()], args.repeats
        )
        report("log-mel + MSD + MTT (per model mel)", args.seconds, t_all)
        shared = t_mel[0] + sum(t[0] for t in t_nets)
        shared_cpu = t_mel[2] + sum(t[2] for t in t_nets)
        report("log-mel once + MSD + MTT", args.seconds, (shared, shared, shared_cpu))
        totals[threads] = shared
        totals[f"cpu{threads}"] = shared_cpu

    torch.set_num_threads(1)
    print("\nper stage, MSD_musicnn, 1 thread:")
    stage_breakdown(args.seconds, patches, args.repeats)

    track = 180.0
    print(
        f"\nprojection for {track:.0f} s tracks analysed through one {args.seconds:.0f} s excerpt"
        " (decode not included):"
    )
    print(f"  one process, 1 thread : {track / totals[1]:6.0f}x realtime")
    print(f"  two processes, 1 thread each (2 cores): {2 * track / totals[1]:6.0f}x realtime")
    print(f"  one process, 2 threads: {track / totals[2]:6.0f}x realtime")
    print(f"  from CPU time, per core: {track / totals['cpu1']:6.0f}x realtime")
    print(f"  load average while measuring: {os.getloadavg()[0]:.1f} (2 cores on the dev machine)")


if __name__ == "__main__":
    main()
