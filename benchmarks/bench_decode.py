"""Decode throughput per format, full decode vs excerpt, printed as ratios.

Usage: ``python benchmarks/bench_decode.py [--repeat N] [--shared PATH]``

1. the real files of ``../shared/audio/mixed-folder`` (skipped if absent), by format:
   seconds of audio per second of wall time (x realtime) for a full decode at 16 kHz
   and for :func:`load_excerpt`;
2. synthetic 3-minute stereo 44.1 kHz files of every format: the same two numbers and
   their ratio (how much the excerpt saves);
3. a sparse 3-hour WAV against a 3-minute WAV: excerpt time ratio (1.0 = bounded cost);
4. MP3 through libsndfile vs FFmpeg (the backend choice in ``backends._PYAV_FIRST``).

All figures are measured in this run (best of ``--repeat``) on this machine.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

from music_reclass.models.musicnn import MUSICNN_INPUT

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))  # the synthetic-audio writers live with the tests

from audio_fixtures import FORMATS, write_clip, write_sparse_wav  # noqa: E402
from music_reclass.audio.backends import PyAVBackend, SoundfileBackend  # noqa: E402
from music_reclass.audio.decode import audio_info, load_audio  # noqa: E402
from music_reclass.audio.discover import iter_candidates  # noqa: E402
from music_reclass.audio.excerpt import load_excerpt, plan_segments  # noqa: E402


def best_time(function, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return min(times)


def bench_real(folder: Path, repeat: int) -> None:
    print(f"\n1. real files in {folder}")
    totals: dict[str, list[float]] = defaultdict(lambda: [0.0, 0.0, 0.0, 0.0])
    for candidate in iter_candidates(folder):
        if candidate.kind != "audio":
            continue
        path = candidate.path
        duration = audio_info(path).duration
        full = best_time(lambda p=path: load_audio(p, sr=16000), repeat)
        excerpt = best_time(lambda p=path: load_excerpt(p, MUSICNN_INPUT), repeat)
        row = totals[candidate.format]
        row[0] += duration
        row[1] += full
        row[2] += excerpt
        row[3] += 1
    print(f"{'format':8s} {'files':>5s} {'audio s':>8s} {'full x RT':>10s} {'excerpt x RT':>13s}")
    for fmt, (duration, full, excerpt, count) in sorted(totals.items()):
        print(f"{fmt:8s} {int(count):5d} {duration:8.1f} {duration / full:10.0f} "
              f"{duration / excerpt:13.0f}")


def bench_synthetic(folder: Path, repeat: int) -> None:
    print("\n2. synthetic 3-minute stereo files (44.1 kHz; Opus 48 kHz)")
    seconds = 180.0
    print(f"{'format':14s} {'full x RT':>10s} {'excerpt x RT':>13s} {'full/excerpt time':>18s}")
    for fmt, spec in FORMATS.items():
        rate = 44100 if not spec.rates or 44100 in spec.rates else max(spec.rates)
        path = write_clip(folder / f"three_min_{fmt}{spec.extension}", fmt, kind="chord",
                          seconds=seconds, sr=rate, channels=2)
        full = best_time(lambda p=path: load_audio(p, sr=16000), repeat)
        excerpt = best_time(lambda p=path: load_excerpt(p, MUSICNN_INPUT), repeat)
        print(f"{fmt:14s} {seconds / full:10.0f} {seconds / excerpt:13.0f} "
              f"{full / excerpt:18.1f}")


def bench_long(folder: Path, repeat: int) -> None:
    print("\n3. bounded cost: excerpt of a sparse 3-hour WAV vs a 3-minute WAV")
    hours = 3 * 3600.0
    bursts = [(start, start + length) for start, length in plan_segments(hours, policy=MUSICNN_INPUT.policy)]
    long_path = write_sparse_wav(folder / "three_hours.wav", seconds=hours, bursts=bursts)
    short_path = write_clip(folder / "three_min.wav", "wav16", kind="chord", seconds=180.0,
                            sr=44100, channels=2)
    long_time = best_time(lambda: load_excerpt(long_path, MUSICNN_INPUT), repeat)
    short_time = best_time(lambda: load_excerpt(short_path, MUSICNN_INPUT), repeat)
    print(f"3 h: {long_time * 1000:.1f} ms, 3 min: {short_time * 1000:.1f} ms, "
          f"ratio {long_time / short_time:.2f} (audio length ratio 60)")


def bench_mp3_backends(paths: list[Path], repeat: int) -> None:
    print("\n4. MP3 full decode: libsndfile (mpg123) vs FFmpeg (PyAV)")
    if not paths:
        print("no MP3 files")
        return
    sndfile_time = ffmpeg_time = 0.0
    for path in paths:
        def with_sndfile(p=path):
            backend = SoundfileBackend(p, "mp3")
            backend.read(0, None)
            backend.close()

        def with_ffmpeg(p=path):
            backend = PyAVBackend(p, "mp3")
            backend.read(0, None)
            backend.close()

        sndfile_time += best_time(with_sndfile, repeat)
        ffmpeg_time += best_time(with_ffmpeg, repeat)
    print(f"{len(paths)} files: FFmpeg takes {ffmpeg_time / sndfile_time:.2f}x libsndfile's time")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--shared", type=Path, default=REPO.parent / "shared")
    args = parser.parse_args()
    mixed = args.shared / "audio" / "mixed-folder"
    if mixed.is_dir():
        bench_real(mixed, args.repeat)
    else:
        print(f"\n1. skipped: {mixed} not found")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        bench_synthetic(folder, args.repeat)
        bench_long(folder, args.repeat)
        mp3s = sorted(mixed.rglob("*.mp3")) if mixed.is_dir() else []
        if not mp3s:
            mp3s = [write_clip(folder / "x.mp3", "mp3", kind="chord", seconds=180.0, sr=44100,
                               channels=2)]
        bench_mp3_backends(mp3s, args.repeat)


if __name__ == "__main__":
    main()
