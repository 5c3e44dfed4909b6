"""A small classified library for the web tests, and a real uvicorn server in a thread.

The library holds synthetic tones with tags (title, artist, genre) and one broken file;
:class:`GenreFake` answers jazz / rock / classical / folk from the tone's pitch, with a
confidence that decides some files and abstains on others, so that the review queue,
the filters and tagging all have something to show.
"""

from __future__ import annotations

import socket
import threading
import time
from pathlib import Path

from act_fixtures import add_tags
from music_reclass.library import Library
from music_reclass.pipeline.prediction import Prediction
from test_scan import FakeClassifier, tone

#: (relative path, frequency, title, artist, genre tags): see GenreFake for the answers
TRACKS = (
    ("jazz/sure.wav", 290.0, "Blue Hour", "The Quartet", ["Jazz"]),
    ("jazz/unsure.wav", 220.0, "Late Set", "The Quartet", ["Rock"]),
    ("rock/sure.wav", 480.0, "Loud Song", "Band of Noise", ["Hip-Hop"]),
    ("rock/unsure.wav", 410.0, "Maybe Rock", "Band of Noise", []),
    ("classical/sure.wav", 760.0, "Adagio", "Strings", []),
    ("classical/unsure.wav", 630.0, "<script>alert('x')</script>", "Quote's & \"Co\"", ["classical"]),
)
DECIDE_AT = 0.7


class GenreFake(FakeClassifier):
    """Genres from pitch: < 300 Hz jazz, < 600 rock, < 1000 classical, else folk.

    The confidence of the top genre is ``0.35 + 0.6 * (Hz mod 100) / 100``; the model
    decides at 0.7 or more and abstains (reason ``low confidence``) below.
    """

    model_id = "fake-genres/1"
    classes = ("jazz", "rock", "classical", "folk")

    def _prediction(self, peak_hz: float, vectors) -> Prediction:  # noqa: ANN001
        band = 0 if peak_hz < 300 else 1 if peak_hz < 600 else 2 if peak_hz < 1000 else 3
        top = round(0.35 + 0.6 * (round(peak_hz) % 100) / 100, 4)
        rest = [c for i, c in enumerate(self.classes) if i != band]
        genres = [(self.classes[band], top)] + [(c, round((1 - top) / 3, 4)) for c in rest]
        decided = [self.classes[band]] if top >= DECIDE_AT else None
        return Prediction(genres=genres,
                          tags=[(f"{self.classes[band]} feel", top), ("fake:pitch", 0.5)],
                          vectors=vectors, decided=decided,
                          abstain_reason=None if decided else "low confidence")


def make_genre_fake(spec=None) -> GenreFake:  # noqa: ANN001
    return GenreFake()


def build_library(root: Path) -> tuple[Library, Path]:
    """Write the tracks under ``root/music``, classify them, return (library, music dir)."""
    music = root / "music"
    for rel, freq, title, artist, genres in TRACKS:
        path = tone(music / rel, freq, seconds=4.0)
        add_tags(path, genres=genres, title=title, artist=artist, album="Test Album")
    (music / "rock" / "broken.mp3").write_bytes(b"ID3\x04\x00\x00\x00\x00\x00\x00" + bytes(900))
    library = Library(root / "lib.sqlite", classifier_factory=make_genre_fake)
    library.classify([music], jobs=0)
    return library, music


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class ServerThread:
    """A real uvicorn server on 127.0.0.1 in a thread; ``url`` once started."""

    def __init__(self, app) -> None:  # noqa: ANN001
        import uvicorn

        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning",
                                timeout_graceful_shutdown=2)
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> ServerThread:
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("the test server did not start")
            time.sleep(0.05)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)
