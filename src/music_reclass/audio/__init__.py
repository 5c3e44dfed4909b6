"""Audio layer of music_reclass: sniff, discover, decode, excerpt and hash audio files.

See :mod:`.probe`, :mod:`.discover`, :mod:`.decode`, :mod:`.excerpt`, :mod:`.hashing`,
:mod:`.containers` (walking containers) and :mod:`.tags` (reading tags).
"""

from music_reclass.audio.decode import AudioInfo, audio_info, load_audio, open_audio
from music_reclass.audio.discover import Candidate, iter_candidates
from music_reclass.audio.excerpt import (
    AudioInput,
    Excerpt,
    ExcerptPolicy,
    load_excerpt,
    plan_segments,
)
from music_reclass.audio.hashing import content_hash
from music_reclass.audio.probe import describe_content, sniff_format

__all__ = [
    "AudioInfo", "AudioInput", "Candidate", "Excerpt", "ExcerptPolicy",
    "audio_info", "content_hash", "describe_content", "iter_candidates", "load_audio",
    "load_excerpt", "open_audio", "plan_segments", "sniff_format",
]
