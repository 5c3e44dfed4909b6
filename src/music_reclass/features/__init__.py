"""features layer of music_reclass."""
