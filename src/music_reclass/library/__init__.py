"""library layer of music_reclass."""
