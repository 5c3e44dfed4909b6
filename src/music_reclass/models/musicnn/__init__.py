"""PyTorch port of musicnn 0.1.0 (MSD_musicnn, MTT_musicnn) with its log-mel front end.

musicnn is by Jordi Pons and Xavier Serra (Music Technology Group, Universitat Pompeu
Fabra), ISC license; the converted weights and their license are in ``weights/``.

>>> from music_reclass.models.musicnn import load_musicnn, log_mel
>>> net = load_musicnn("MSD_musicnn")
>>> out = net.extract(waveform=audio_16k)        # doctest: +SKIP
>>> out["taggram"].shape                         # doctest: +SKIP
(10, 50)
"""

from .frontend import N_FFT, N_MELS, SR, log_mel, mel_filterbank
from .model import MODEL_NAMES, OUTPUT_KEYS, Musicnn, load_musicnn, make_patches
from .network import N_FRAMES, MusicnnNet

__all__ = [
    "MODEL_NAMES",
    "N_FFT",
    "N_FRAMES",
    "N_MELS",
    "OUTPUT_KEYS",
    "SR",
    "Musicnn",
    "MusicnnNet",
    "load_musicnn",
    "log_mel",
    "make_patches",
    "mel_filterbank",
]
