"""Decoding: every format to mono float32 at any rate, seeking, and clean errors."""

from __future__ import annotations

import os
import stat

import numpy as np
import pytest
import soundfile as sf

from audio_fixtures import (
    FORMATS,
    expected_mono_peak,
    make_signal,
    ramp_rms_at,
    write_clip,
)
from music_reclass.audio.decode import AudioInfo, audio_info, load_audio
from music_reclass.errors import (
    CorruptAudioError,
    ParameterError,
    SilentAudioError,
    UnreadableFileError,
    UnsupportedFormatError,
)

SECONDS = 3.0
CHANNELS = 2


def _rate(fmt: str) -> int:
    rates = FORMATS[fmt].rates
    return 44100 if not rates or 44100 in rates else max(rates)


@pytest.fixture(scope="module")
def ramps(tmp_path_factory) -> dict:
    folder = tmp_path_factory.mktemp("decode")
    return {fmt: write_clip(folder / f"ramp_{fmt}{spec.extension}", fmt, kind="ramp",
                            seconds=SECONDS, sr=_rate(fmt), channels=CHANNELS)
            for fmt, spec in FORMATS.items()}


def _tolerance(fmt: str) -> float:
    return 0.08 if FORMATS[fmt].lossy else 0.002


@pytest.mark.parametrize("fmt", sorted(FORMATS))
def test_info(ramps, fmt):
    info = audio_info(ramps[fmt])
    assert isinstance(info, AudioInfo)
    assert info.sample_rate == _rate(fmt)
    assert info.channels == CHANNELS
    assert info.format == FORMATS[fmt].sniffed
    assert info.codec
    assert info.duration == pytest.approx(SECONDS, abs=0.1)


@pytest.mark.parametrize("sr", [16000, 22050, 48000])
@pytest.mark.parametrize("fmt", sorted(FORMATS))
def test_full_decode_length_rate_and_peak(ramps, fmt, sr):
    audio = load_audio(ramps[fmt], sr=sr)
    assert audio.dtype == np.float32 and audio.ndim == 1
    # lossy encoders add or trim a few frames at the edges (WMA up to ~70 ms)
    edge = 0.1 if FORMATS[fmt].lossy else 0.001
    assert len(audio) == pytest.approx(SECONDS * sr, abs=edge * sr)
    # a robust peak: lossy codecs ring (overshoot) where the clip stops abruptly
    peak = np.percentile(np.abs(audio[: int((SECONDS - 0.1) * sr)]), 99.9)
    gain = expected_mono_peak("sine", CHANNELS) / 0.5
    expected = ramp_rms_at(SECONDS - 0.1, SECONDS) * np.sqrt(2) * gain
    assert peak == pytest.approx(expected, abs=_tolerance(fmt) + 0.03)


@pytest.mark.parametrize("fmt", sorted(set(FORMATS) - {"mp3-sf"}))
@pytest.mark.parametrize("offset", [0.5, 1.7])
def test_seek_returns_the_right_part(ramps, fmt, offset):
    sr = 16000
    audio = load_audio(ramps[fmt], sr=sr, offset=offset, duration=0.5)
    assert len(audio) == int(0.5 * sr)
    window = audio[: int(0.1 * sr)]
    gain = float(np.mean(1.0 - 0.1 * np.arange(CHANNELS)))
    expected = ramp_rms_at(offset + 0.05, SECONDS) * gain
    assert np.sqrt(np.mean(window**2)) == pytest.approx(expected, rel=_tolerance(fmt) + 0.02)


@pytest.mark.parametrize("fmt", ["wav16", "flac", "opus", "ogg", "mp3", "m4a", "aac"])
def test_seek_matches_the_same_span_of_a_full_decode(ramps, fmt):
    sr = 16000
    full = load_audio(ramps[fmt], sr=sr)
    span = load_audio(ramps[fmt], sr=sr, offset=1.25, duration=1.0)
    start = int(1.25 * sr)
    # Vorbis seeks through FFmpeg timestamps, right to within ~30 ms; the rest exactly
    atol = 0.35 if fmt == "ogg" else 1e-3
    np.testing.assert_allclose(span, full[start: start + len(span)], atol=atol)


def test_lossless_samples_are_exact(tmp_path):
    data = make_signal("noise", seconds=1.0, sr=16000, channels=3)
    path = write_clip(tmp_path / "n.flac", "flac", data=data, sr=16000)
    audio = load_audio(path, sr=16000)
    # equal to the source within the PCM16 quantisation step (1 / 32768)
    np.testing.assert_allclose(audio, data.mean(axis=1), atol=1.0 / 32768 + 1e-6)


def test_offset_past_the_end_is_empty(ramps):
    assert load_audio(ramps["wav16"], sr=16000, offset=100.0).size == 0


def test_duration_limits_the_read(ramps):
    assert len(load_audio(ramps["mp3"], sr=8000, duration=1.0)) == 8000


@pytest.mark.parametrize("kwargs", [{"sr": 0}, {"sr": -1}, {"sr": 16000.5}, {"sr": True},
                                    {"sr": 16000, "offset": -1.0},
                                    {"sr": 16000, "offset": float("nan")},
                                    {"sr": 16000, "duration": 0.0},
                                    {"sr": 16000, "duration": float("inf")}])
def test_bad_parameters(ramps, kwargs):
    with pytest.raises(ParameterError):
        load_audio(ramps["wav16"], **kwargs)


def test_nan_and_inf_become_zero(tmp_path):
    data = make_signal("sine", seconds=1.0, sr=16000)
    data[::10] = np.nan
    data[5::10] = np.inf
    path = tmp_path / "nan.wav"
    sf.write(path, data, 16000, subtype="FLOAT")
    audio = load_audio(path, sr=16000)
    assert np.isfinite(audio).all()
    assert audio[0] == 0.0 and audio[5] == 0.0 and np.abs(audio).max() > 0.4


def test_all_nan_is_silent_error(tmp_path):
    path = tmp_path / "nan.wav"
    sf.write(path, np.full(16000, np.nan, np.float32), 16000, subtype="FLOAT")
    with pytest.raises(SilentAudioError, match="NaN"):
        load_audio(path, sr=16000)


def test_absurd_float_values_are_clipped(tmp_path):
    path = tmp_path / "huge.wav"
    sf.write(path, make_signal("sine", seconds=1.0, sr=16000) * 1e30, 16000, subtype="FLOAT")
    assert np.abs(load_audio(path, sr=16000)).max() <= 64.0


def test_many_channels_are_averaged(tmp_path):
    data = make_signal("sine", seconds=1.0, sr=16000, channels=8)
    path = write_clip(tmp_path / "8ch.wav", "wavf32", data=data, sr=16000)
    np.testing.assert_allclose(load_audio(path, sr=16000), data.mean(axis=1), atol=1e-6)


def test_not_audio(tmp_path):
    path = tmp_path / "page.mp3"
    path.write_bytes(b"<!DOCTYPE html><html><body>404</body></html>")
    with pytest.raises(UnsupportedFormatError, match="not audio: looks like an HTML page"):
        load_audio(path, sr=16000)


def test_empty_file(tmp_path):
    path = tmp_path / "empty.flac"
    path.touch()
    with pytest.raises(CorruptAudioError, match="empty file"):
        load_audio(path, sr=16000)


def test_missing_file_and_directory(tmp_path):
    with pytest.raises(UnreadableFileError, match="not found"):
        load_audio(tmp_path / "missing.wav", sr=16000)
    with pytest.raises(UnreadableFileError, match="directory"):
        load_audio(tmp_path, sr=16000)


def test_broken_symlink(tmp_path):
    (tmp_path / "link.wav").symlink_to(tmp_path / "nowhere.wav")
    with pytest.raises(UnreadableFileError, match="broken symlink"):
        audio_info(tmp_path / "link.wav")


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no fifos here")
def test_fifo_is_refused_without_blocking(tmp_path):
    fifo = tmp_path / "pipe.wav"
    os.mkfifo(fifo)
    assert stat.S_ISFIFO(os.stat(fifo).st_mode)
    with pytest.raises(UnreadableFileError, match="fifo"):
        load_audio(fifo, sr=16000)


@pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0,
                    reason="root reads files whatever their permissions")
def test_unreadable_file(tmp_path, ramps):
    path = tmp_path / "locked.wav"
    path.write_bytes(ramps["wav16"].read_bytes())
    path.chmod(0)
    with pytest.raises(UnreadableFileError, match="permission denied"):
        load_audio(path, sr=16000)


def test_truncated_flac_keeps_what_decodes(tmp_path):
    path = write_clip(tmp_path / "t.flac", "flac", kind="chord", seconds=6.0, sr=22050)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) * 2 // 3])
    audio = load_audio(path, sr=16000)
    assert 3.0 * 16000 < len(audio) < 5.0 * 16000


def test_header_only_wav_is_corrupt(tmp_path):
    path = tmp_path / "h.wav"
    sf.write(path, np.zeros((0, 1), np.float32), 16000)
    with pytest.raises(CorruptAudioError):
        load_audio(path, sr=16000)


def test_mp4_without_audio_stream_is_unsupported(tmp_path):
    # an MP4 with only a video stream
    import av

    path = tmp_path / "video.mp4"
    with av.open(str(path), "w") as container:
        stream = container.add_stream("mpeg4", rate=5)
        stream.width = stream.height = 16
        for index in range(3):
            frame = av.VideoFrame.from_ndarray(np.zeros((16, 16, 3), np.uint8), format="rgb24")
            frame.pts = index
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    with pytest.raises(UnsupportedFormatError, match="no audio stream"):
        load_audio(path, sr=16000)


@pytest.mark.shared
def test_every_real_file_decodes(shared_dir):
    folder = shared_dir / "audio" / "mixed-folder"
    audio_files = [p for p in sorted(folder.rglob("*"))
                   if p.suffix.lower() in {".mp3", ".ogg", ".flac", ".wav"}]
    assert len(audio_files) == 31
    for path in audio_files:
        info = audio_info(path)
        audio = load_audio(path, sr=16000, duration=5.0)
        assert len(audio) == pytest.approx(min(5.0, info.duration) * 16000, abs=400), path
        assert np.abs(audio).max() > 0.01, path


def test_permission_error_is_unreadable(ramps, monkeypatch):
    # as root chmod 000 does not stop reads: simulate what a normal user meets
    import errno

    from music_reclass.audio import decode

    def denied(path):
        raise PermissionError(errno.EACCES, "Permission denied", str(path))

    monkeypatch.setattr(decode, "sniff_format", denied)
    with pytest.raises(UnreadableFileError, match="permission denied"):
        load_audio(ramps["wav16"], sr=16000)


@pytest.mark.parametrize("fmt", ["mp3", "m4a", "wma"])
@pytest.mark.parametrize("channels", [1, 2])
def test_planar_float_frames_downmix_exactly_like_the_generic_path(tmp_path, fmt, channels):
    """Planar float frames (MP3, AAC, WMA) are read in place, without to_ndarray; the
    samples must be exactly those of the generic path: to_ndarray, then the float32
    mean of the channels as _downmix computes it."""
    import av

    path = write_clip(tmp_path / f"clip{FORMATS[fmt].extension}", fmt, kind="sine",
                      seconds=2.0, sr=44100, channels=channels)
    expected = []
    with av.open(str(path)) as container:
        for frame in container.decode(audio=0):
            planes = frame.to_ndarray().astype(np.float32)
            assert frame.format.name == "fltp"
            scaled = planes * np.float32(1.0 / planes.shape[0])
            expected.append(scaled.sum(axis=0, dtype=np.float32))
    expected = np.concatenate(expected)
    decoded = load_audio(path, sr=44100)
    assert decoded.dtype == np.float32
    np.testing.assert_array_equal(decoded, expected[: len(decoded)])
    assert len(expected) - len(decoded) <= 2048  # decoder priming aside, nothing is lost
