"""3-minute MP3s made of real music, for speed benchmarks (written to a temp dir at run time).

Each track is real GTZAN clips from ``../shared/audio/gtzan-dev`` (22,050 Hz mono,
~30 s) laid end to end until it lasts ``seconds`` (default 180 s), upsampled to
44.1 kHz, made stereo (the right channel 5 ms late, so the encoder sees two channels,
not one twice) and encoded as a 192 kbit/s constant bit rate MP3 by LAME (PyAV):
what a ripped or bought library holds. Track ``i`` starts at clip ``i`` of the sorted
clip list, so tracks differ from each other. The shared audio is never copied into
the repository: only these generated files, in a temporary folder, are read.
"""

from __future__ import annotations

import os
from pathlib import Path

import av
import numpy as np
import soundfile as sf
import soxr

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("RECLASS_SHARED", REPO.parent / "shared"))
GTZAN_DEV = SHARED / "audio" / "gtzan-dev"
RATE = 44100
BIT_RATE = 192_000


def gtzan_clips() -> list[Path]:
    """The gtzan-dev clips, sorted by path (empty when ../shared is absent)."""
    if not GTZAN_DEV.is_dir():
        return []
    return sorted(GTZAN_DEV.glob("*/*.wav"))


def track_audio(clips: list[Path], index: int, seconds: float) -> np.ndarray:
    """Stereo float32 [n, 2] at 44.1 kHz: clips from ``index`` on, looped to ``seconds``."""
    pieces, total = [], 0
    wanted = int(seconds * RATE)
    position = index
    while total < wanted:
        mono, sr = sf.read(str(clips[position % len(clips)]), dtype="float32", always_2d=False)
        if mono.ndim > 1:
            mono = mono.mean(axis=1)
        piece = soxr.resample(mono, sr, RATE).astype(np.float32)
        pieces.append(piece)
        total += len(piece)
        position += 7  # a different genre next (5 clips per genre, sorted by genre)
    mono = np.concatenate(pieces)[:wanted]
    delay = int(0.005 * RATE)
    right = np.concatenate([np.zeros(delay, np.float32), mono[:-delay]])
    return np.stack([mono, right], axis=1)


def write_mp3(path: Path, stereo: np.ndarray, sr: int = RATE) -> None:
    """Encode ``stereo`` [n, 2] float32 as a CBR MP3 (LAME through PyAV)."""
    with av.open(str(path), mode="w", format="mp3") as container:
        # LAME's quality 7 (of 0-9): encodes ~1.5x faster; same bit rate, same decoding work
        stream = container.add_stream("libmp3lame", rate=sr, layout="stereo",
                                      options={"compression_level": "7"})
        stream.bit_rate = BIT_RATE
        block = 1152 * 8
        for start in range(0, len(stereo), block):
            chunk = np.ascontiguousarray(stereo[start : start + block].T)
            frame = av.AudioFrame.from_ndarray(chunk, format="fltp", layout="stereo")
            frame.sample_rate = sr
            frame.pts = start
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)


def _write_one(folder: Path, index: int, seconds: float) -> Path:
    clips = gtzan_clips()
    path = folder / f"real {index:03d}.mp3"
    write_mp3(path, track_audio(clips, index, seconds))
    return path


def make_real_mp3s(folder: Path, tracks: int, seconds: float = 180.0) -> list[Path]:
    """Write ``tracks`` MP3s of ``seconds`` each into ``folder``; [] without ../shared.

    Encoded in two child processes, so the encoder's buffers never count in the
    caller's peak memory.
    """
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    if not gtzan_clips():
        return []
    folder.mkdir(parents=True, exist_ok=True)
    with ProcessPoolExecutor(2, mp_context=multiprocessing.get_context("spawn")) as pool:
        return list(pool.map(_write_one, [folder] * tracks, range(tracks), [seconds] * tracks))
