"""pipeline layer of music_reclass."""
