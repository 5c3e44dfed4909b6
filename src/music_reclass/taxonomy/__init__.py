"""taxonomy layer of music_reclass."""
