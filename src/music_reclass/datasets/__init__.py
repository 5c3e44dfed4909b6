"""datasets layer of music_reclass."""
