"""models layer of music_reclass."""
