"""Audio layer of music_reclass: sniff, discover, decode, excerpt and hash audio files.

See :mod:`.probe`, :mod:`.discover`, :mod:`.decode`, :mod:`.excerpt`, :mod:`.hashing`.
"""

from music_reclass.audio.decode import AudioInfo, audio_info, load_audio, open_audio
from music_reclass.audio.discover import Candidate, iter_candidates
from music_reclass.audio.excerpt import (
    MIN_SAMPLES,
    PATCH_SAMPLES,
    Excerpt,
    ExcerptPolicy,
    load_excerpt,
    plan_segments,
)
from music_reclass.audio.hashing import content_hash
from music_reclass.audio.probe import describe_content, sniff_format

__all__ = [
    "AudioInfo", "Candidate", "Excerpt", "ExcerptPolicy", "MIN_SAMPLES", "PATCH_SAMPLES",
    "audio_info", "content_hash", "describe_content", "iter_candidates", "load_audio",
    "load_excerpt", "open_audio", "plan_segments", "sniff_format",
]
