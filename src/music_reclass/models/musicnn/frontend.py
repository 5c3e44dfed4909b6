"""The log-mel front end of musicnn 0.1.0, reproduced without librosa.

musicnn computes (``extractor.batch_data``, librosa 0.8.1, NumPy 1.x)::

    mel = librosa.feature.melspectrogram(y, sr=16000, hop_length=256, n_fft=512, n_mels=96).T
    logmel = np.log10(10000 * mel.astype(np.float16) + 1)

i.e. a centred STFT with *reflect* padding (librosa >= 0.10 pads with zeros by default),
a periodic Hann window, power 2, 96 Slaney-normalised Slaney-scale mel bands on 0-8 kHz,
the mel power rounded to float16 and the log taken in float32 (NumPy 1's value-based
casting turned ``10000 * float16`` into float32; under NumPy 2 it stays float16 and
overflows to inf on loud audio, so the float32 step is explicit here).
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from music_reclass.errors import ParameterError

SR = 16000
N_FFT = 512
HOP_LENGTH = 256
N_MELS = 96
F_MAX = SR / 2


def _hz_to_mel(frequencies: np.ndarray) -> np.ndarray:
    """Slaney's auditory-toolbox mel scale: linear below 1 kHz, logarithmic above."""
    f_sp = 200.0 / 3
    min_log_hz = 1000.0
    min_log_mel = min_log_hz / f_sp
    logstep = np.log(6.4) / 27.0
    frequencies = np.asanyarray(frequencies, dtype=np.float64)
    mels = frequencies / f_sp
    above = frequencies >= min_log_hz
    mels[above] = min_log_mel + np.log(frequencies[above] / min_log_hz) / logstep
    return mels


def _mel_to_hz(mels: np.ndarray) -> np.ndarray:
    f_sp = 200.0 / 3
    min_log_hz = 1000.0
    min_log_mel = min_log_hz / f_sp
    logstep = np.log(6.4) / 27.0
    mels = np.asanyarray(mels, dtype=np.float64)
    freqs = f_sp * mels
    above = mels >= min_log_mel
    freqs[above] = min_log_hz * np.exp(logstep * (mels[above] - min_log_mel))
    return freqs


@lru_cache(maxsize=1)
def mel_filterbank() -> np.ndarray:
    """The [96, 257] float32 filterbank of ``librosa.filters.mel(sr=16000, n_fft=512, n_mels=96)``.

    Triangular filters on the Slaney mel scale with Slaney (area) normalisation,
    computed in float64 and rounded to float32 like librosa does.
    """
    fft_freqs = np.linspace(0, SR / 2, 1 + N_FFT // 2)
    mel_points = _mel_to_hz(
        np.linspace(_hz_to_mel(np.array([0.0]))[0], _hz_to_mel(np.array([F_MAX]))[0], N_MELS + 2)
    )
    widths = np.diff(mel_points)
    ramps = mel_points[:, None] - fft_freqs[None, :]
    lower = -ramps[:-2] / widths[:-1, None]
    upper = ramps[2:] / widths[1:, None]
    weights = np.maximum(0.0, np.minimum(lower, upper))
    weights *= (2.0 / (mel_points[2:] - mel_points[:-2]))[:, None]
    weights = weights.astype(np.float32)
    weights.setflags(write=False)
    return weights


@lru_cache(maxsize=1)
def _hann_window() -> np.ndarray:
    # periodic ("fftbins=True") Hann, as scipy.signal.get_window('hann', 512) gives it
    n = np.arange(N_FFT)
    return 0.5 - 0.5 * np.cos(2.0 * np.pi * n / N_FFT)


def _check_waveform(waveform: np.ndarray, sr: int) -> np.ndarray:
    if sr != SR:
        raise ParameterError(f"musicnn expects {SR} Hz audio, got sr={sr}; resample first")
    waveform = np.asarray(waveform)
    if waveform.ndim != 1:
        raise ParameterError(f"waveform must be mono (1-D), got shape {waveform.shape}")
    if waveform.size < 2:
        raise ParameterError("waveform must hold at least 2 samples")
    if not np.issubdtype(waveform.dtype, np.floating):
        raise ParameterError(f"waveform must be floating point, got {waveform.dtype}")
    waveform = waveform.astype(np.float32, copy=False)
    if not np.isfinite(waveform).all():
        raise ParameterError("waveform holds non-finite samples (NaN or inf)")
    return waveform


FLOAT16_MAX = np.float32(np.finfo(np.float16).max)


def mel_power(waveform: np.ndarray, *, sr: int = SR) -> np.ndarray:
    """Mel power spectrogram [T, 96] float32 (before musicnn's float16 rounding and log).

    Parameters
    ----------
    waveform : np.ndarray [shape=(n,)]
        Mono audio at 16 kHz (any float dtype; used as float32 like librosa.load gives it).
    sr : int
        Sample rate; must be 16000.

    Returns
    -------
    np.ndarray [shape=(T, 96), dtype=float32]
        ``T = 1 + len(waveform) // 256`` frames.
    """
    waveform = _check_waveform(waveform, sr)
    padded = np.pad(waveform, N_FFT // 2, mode="reflect")
    frames = np.lib.stride_tricks.sliding_window_view(padded, N_FFT)[::HOP_LENGTH]
    # librosa 0.8.1: float32 frames times a float64 window, an FFT in float64 stored as
    # complex64, then |.|**2 in float32; keeping those roundings keeps float16 ties rare.
    spectrum = np.fft.rfft(frames * _hann_window(), axis=1)
    power = np.abs(spectrum.astype(np.complex64)) ** 2
    return power @ mel_filterbank().T


def log_mel(waveform: np.ndarray, *, sr: int = SR) -> np.ndarray:
    """musicnn's input representation: ``log10(10000 * float16(mel) + 1)``.

    Parameters
    ----------
    waveform : np.ndarray [shape=(n,)]
        Mono audio at 16 kHz.
    sr : int
        Sample rate; must be 16000 (resample beforehand).

    Returns
    -------
    np.ndarray [shape=(T, 96), dtype=float32]
        One row per 256-sample hop (``T = 1 + n // 256``), 96 mel bands low to high.

    Raises
    ------
    ParameterError
        Wrong sample rate, not mono, fewer than 2 samples or non-finite samples.
    """
    power = mel_power(waveform, sr=sr)
    # Mel power above float16's largest value (very loud float audio, peaks past about
    # +20 dBFS) would round to inf and poison every tag of the patch; the original
    # did exactly that. Saturate instead: no effect on audio within full scale.
    np.minimum(power, FLOAT16_MAX, out=power)
    mel = power.astype(np.float16).astype(np.float32)
    return np.log10(np.float32(10000.0) * mel + np.float32(1.0))
