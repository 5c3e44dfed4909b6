"""audio layer of music_reclass."""
