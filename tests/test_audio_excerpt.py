"""Excerpt policy: bounded cost, whole patches, too-short and silent tracks."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

from audio_fixtures import make_signal, write_clip, write_sparse_wav
from music_reclass.audio import decode
from music_reclass.audio.excerpt import (
    AudioInput,
    ExcerptPolicy,
    load_excerpt,
    plan_segments,
)
from music_reclass.errors import ParameterError, SilentAudioError, TooShortError
from music_reclass.models.musicnn import (
    MIN_SAMPLES,
    MUSICNN_INPUT,
    PATCH_SAMPLES,
    PATCH_SECONDS,
    SR,
)

MUSICNN_POLICY = MUSICNN_INPUT.policy


def test_constants_follow_musicnn():
    assert PATCH_SAMPLES == 187 * 256
    assert MIN_SAMPLES == 186 * 256
    assert MUSICNN_POLICY.patch_samples(SR) == PATCH_SAMPLES
    assert MUSICNN_POLICY.min_samples(SR) == MIN_SAMPLES


def test_the_model_sets_the_patch_and_rate():
    """A 24 kHz model with 5 s patches gets 24 kHz audio in whole 5 s patches."""
    policy = ExcerptPolicy(patch_seconds=5.0, segment_seconds=10.0, n_segments=3)
    assert policy.segment_length == 10.0 and policy.patch_samples(24000) == 120000
    assert plan_segments(600.0, policy=policy)[0][1] == 10.0
    with pytest.raises(ParameterError):
        ExcerptPolicy(patch_seconds=0.0)
    with pytest.raises(ParameterError):
        AudioInput(0, policy)
    with pytest.raises(ParameterError, match="reads audio files itself"):
        load_excerpt("x.wav", AudioInput(22050, None))


def test_min_samples_give_exactly_one_musicnn_patch():
    from music_reclass.models.musicnn import frontend

    noise = np.random.default_rng(0).uniform(-0.5, 0.5, MIN_SAMPLES).astype(np.float32)
    assert frontend.log_mel(noise).shape[0] == 187
    assert frontend.log_mel(noise[:-1]).shape[0] == 186
    # k segments of whole patches back to back: exactly k patches, none straddling
    assert frontend.log_mel(np.tile(noise[:1], 3 * PATCH_SAMPLES)).shape[0] // 187 == 3


def test_default_policy_numbers():
    policy = MUSICNN_POLICY
    assert policy.patches_per_segment == 2
    assert policy.segment_length == pytest.approx(5.984)
    assert policy.max_analysed_seconds == pytest.approx(35.0)


@pytest.mark.parametrize("duration", [0.0, 3.0, 30.0, 35.0])
def test_short_tracks_are_whole(duration):
    assert plan_segments(duration, policy=MUSICNN_POLICY) == [(0.0, duration)]


@pytest.mark.parametrize("duration", [35.1, 40.0, 180.0, 600.0, 3 * 3600.0])
def test_long_tracks_give_bounded_segments_inside_the_track(duration):
    policy = MUSICNN_POLICY
    segments = plan_segments(duration, policy=policy)
    assert len(segments) == policy.n_segments
    starts = [start for start, _ in segments]
    assert starts == sorted(starts)
    for (start, length), nxt in zip(segments, [*starts[1:], None], strict=True):
        assert length == pytest.approx(policy.segment_length)
        assert start >= 0 and start + length <= duration + 1e-9
        if nxt is not None:
            assert start + length <= nxt + 1e-9  # no overlap
    if 0.8 * duration >= policy.n_segments * policy.segment_length:
        assert starts[0] == pytest.approx(0.1 * duration)
        assert segments[-1][0] + segments[-1][1] == pytest.approx(0.9 * duration)


def test_policy_rejects_inconsistent_numbers():
    with pytest.raises(ParameterError):
        ExcerptPolicy(patch_seconds=PATCH_SECONDS, max_seconds=10.0)  # cannot hold 5 x 6 s
    with pytest.raises(ParameterError):
        ExcerptPolicy(patch_seconds=PATCH_SECONDS, segment_seconds=0)
    with pytest.raises(ParameterError):
        ExcerptPolicy(patch_seconds=PATCH_SECONDS, skip_fraction=0.5)
    with pytest.raises(ParameterError):
        plan_segments(float("nan"), policy=MUSICNN_POLICY)


def test_short_track_excerpt_is_the_whole_track(tmp_path):
    path = write_clip(tmp_path / "a.flac", "flac", kind="chord", seconds=12.0, sr=44100,
                      channels=2)
    excerpt = load_excerpt(path, MUSICNN_INPUT)
    assert excerpt.sr == SR and excerpt.whole
    assert len(excerpt.waveform) == 12 * SR
    assert excerpt.segments == ((0.0, 12.0),)
    assert excerpt.info.duration == pytest.approx(12.0)


def test_long_track_excerpt_is_whole_patches_from_the_planned_places(tmp_path):
    # a ramp tells where each segment came from
    seconds = 120.0
    path = write_clip(tmp_path / "long.wav", "wav16", kind="ramp", seconds=seconds, sr=22050)
    policy = MUSICNN_POLICY
    excerpt = load_excerpt(path, AudioInput(SR, policy))
    assert not excerpt.whole
    assert len(excerpt.waveform) == policy.n_segments * policy.patches_per_segment * PATCH_SAMPLES
    assert [s for s, _ in excerpt.segments] == [s for s, _ in plan_segments(seconds, policy=MUSICNN_POLICY)]
    per_segment = policy.patches_per_segment * PATCH_SAMPLES
    for index, (start, length) in enumerate(excerpt.segments):
        assert length * SR == pytest.approx(per_segment)
        piece = excerpt.waveform[index * per_segment: index * per_segment + SR // 10]
        amplitude = np.sqrt(2 * np.mean(piece**2))
        assert amplitude == pytest.approx(0.1 + 0.8 * (start + 0.05) / seconds, rel=0.02)


def test_hours_long_file_reads_only_the_segments(tmp_path, monkeypatch):
    hours = 3 * 3600.0
    bursts = [(start, start + length) for start, length in plan_segments(hours, policy=MUSICNN_POLICY)]
    path = write_sparse_wav(tmp_path / "long.wav", seconds=hours, sr=44100, channels=2,
                            bursts=bursts)
    assert path.stat().st_blocks * 512 < 50_000_000  # sparse on disk
    requested = []
    original = decode.AudioReader.read

    def spy(self, sr, *, offset=0.0, duration=None):
        requested.append(duration)
        return original(self, sr, offset=offset, duration=duration)

    monkeypatch.setattr(decode.AudioReader, "read", spy)
    excerpt = load_excerpt(path, MUSICNN_INPUT)
    assert None not in requested and sum(requested) < 40.0
    assert excerpt.info.duration == pytest.approx(hours)
    assert np.abs(excerpt.waveform).max() > 0.1  # the bursts were found: not silence


def test_header_longer_than_file_falls_back_to_what_decodes(tmp_path):
    path = tmp_path / "cut.wav"
    rate, seconds_claimed = 22050, 600
    pcm = (make_signal("chord", seconds=5.0, sr=rate)[:, 0] * 20000).astype("<i2").tobytes()
    data_bytes = seconds_claimed * rate * 2
    header = (b"RIFF" + (36 + data_bytes).to_bytes(4, "little") + b"WAVEfmt "
              + (16).to_bytes(4, "little") + (1).to_bytes(2, "little") + (1).to_bytes(2, "little")
              + rate.to_bytes(4, "little") + (rate * 2).to_bytes(4, "little")
              + (2).to_bytes(2, "little") + (16).to_bytes(2, "little")
              + b"data" + data_bytes.to_bytes(4, "little"))
    path.write_bytes(header + pcm)
    excerpt = load_excerpt(path, MUSICNN_INPUT)
    assert len(excerpt.waveform) >= MIN_SAMPLES


@pytest.mark.parametrize("seconds", [0.5, 1.2, 2.9])
def test_too_short(tmp_path, seconds):
    path = write_clip(tmp_path / "s.wav", "wav16", kind="chord", seconds=seconds, sr=22050)
    with pytest.raises(TooShortError, match=rf"too short: {seconds:.1f} s, need at least 3.0 s"):
        load_excerpt(path, MUSICNN_INPUT)


def test_just_long_enough(tmp_path):
    path = write_clip(tmp_path / "s.wav", "wav16", kind="chord", seconds=3.0, sr=44100)
    assert len(load_excerpt(path, MUSICNN_INPUT).waveform) == 3 * SR


@pytest.mark.parametrize("level", [0.0, 3e-5])
def test_silence(tmp_path, level):
    rng = np.random.default_rng(0)
    data = (level * np.sign(rng.uniform(-1, 1, 5 * 22050))).astype(np.float32)
    path = tmp_path / "quiet.wav"
    sf.write(path, data, 22050, subtype="FLOAT")
    with pytest.raises(SilentAudioError, match="silence"):
        load_excerpt(path, MUSICNN_INPUT)


def test_quiet_music_is_not_silence(tmp_path):
    path = tmp_path / "quiet.wav"
    sf.write(path, make_signal("chord", seconds=5.0, sr=22050) * 0.003, 22050, subtype="PCM_24")
    assert len(load_excerpt(path, MUSICNN_INPUT).waveform) == 5 * SR


def test_other_sample_rates(tmp_path):
    path = write_clip(tmp_path / "a.wav", "wav16", kind="chord", seconds=60.0, sr=22050)
    excerpt = load_excerpt(path, AudioInput(22050, MUSICNN_POLICY))
    assert excerpt.sr == 22050
    assert excerpt.analysed_seconds == pytest.approx(5 * 5.984, abs=0.01)
