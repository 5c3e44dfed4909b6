"""cli layer of music_reclass."""
