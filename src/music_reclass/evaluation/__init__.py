"""evaluation layer of music_reclass."""
