"""One small music library seen from both sides: a fake Plex server's and the library's.

Plex (in Docker) sees the files under ``/data/music``; this machine under
``/home/me/Music`` (``--path-map /data/music=/home/me/Music``). Tracks:

- ``sinnerman``: matched by path; Plex ``Pop``; decided ``Jazz; Blues``.
- ``husband``: matched by path; Plex has no genre; decided ``Blues``.
- ``one_more_time``: matched by path; Plex ``Electronic`` (locked); decided the same.
- ``crescendolls``: matched by path; nothing decided (the model abstained).
- ``aerodynamic``: Plex's file is elsewhere; matched by title, artist and duration
  (0.9 s apart); Plex ``Hip Hop``; decided ``Dance; Electronic``.
- ``digital_love``: two library files (album and best-of copies) with its title,
  artist and duration: ambiguous.
- ``voyager``: no library file: unmatched. The library also has a file Plex lacks.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from fake_plex import FakePlex, Item
from music_reclass.plex.matching import LibraryTrack
from music_reclass.store.analyses import AnalysisRecord
from music_reclass.store.db import connect
from music_reclass.store.files import StoredOutcome, record_file
from music_reclass.store.models import register_model
from music_reclass.store.runs import finish_run, start_run

PLEX_ROOT = "/data/music"
LOCAL_ROOT = "/home/me/Music"
PATH_MAP = f"{PLEX_ROOT}={LOCAL_ROOT}"
MODEL_ID = "musicnn-zeroshot/test@1/default"


@dataclass
class Library:
    plex: dict[str, Item]  # fake server items by short name (tracks, albums, artists)
    records: list[LibraryTrack]

    def path(self, name: str) -> str:
        return next(r.path for r in self.records if Path(r.path).stem.endswith(name))


def _record(path: str, seconds: float, title: str, artist: str, album: str, predicted):
    decided = tuple(name for name, confidence in predicted if confidence >= 0.5)
    predicted = tuple((name.lower(), confidence) for name, confidence in predicted)
    return LibraryTrack(path, seconds, title, artist, album, predicted, decided)


def build(fake: FakePlex, *, album_genres: tuple[str, ...] = ("Soul",)) -> Library:
    """Fill ``fake`` with the library above; return its items and the library records."""
    nina = fake.add_artist("Nina Simone", genres=["Jazz"])
    pastel = fake.add_album(nina, "Pastel Blues", genres=list(album_genres))
    daft = fake.add_artist("Daft Punk", genres=["Electronic"])
    discovery = fake.add_album(daft, "Discovery", genres=["Electronic", "Dance"])
    nina_dir = f"{PLEX_ROOT}/Nina Simone/Pastel Blues"
    daft_dir = f"{PLEX_ROOT}/Daft Punk/Discovery"
    items = {
        "nina": nina,
        "pastel": pastel,
        "daft": daft,
        "discovery": discovery,
        "sinnerman": fake.add_track(
            pastel, "Sinnerman", file=f"{nina_dir}/01 sinnerman.flac", seconds=622.3,
            genres=["Pop"],
        ),
        "husband": fake.add_track(
            pastel, "Be My Husband", file=f"{nina_dir}/02 husband.flac", seconds=200.0
        ),
        "one_more_time": fake.add_track(
            discovery, "One More Time", file=f"{daft_dir}/01 one_more_time.mp3", seconds=320.0,
            genres=["Electronic"], locked=True,
        ),
        "aerodynamic": fake.add_track(
            discovery, "Aerodynamic", file="/data/incoming/aero.mp3", seconds=213.4,
            genres=["Hip Hop"],
        ),
        "digital_love": fake.add_track(
            discovery, "Digital Love", file="/data/incoming/dl.mp3", seconds=301.0
        ),
        "voyager": fake.add_track(
            discovery, "Voyager", file="/data/incoming/voyager.mp3", seconds=227.0
        ),
        "crescendolls": fake.add_track(
            discovery, "Crescendolls", file=f"{daft_dir}/07 crescendolls.mp3", seconds=211.0
        ),
    }  # fmt: skip
    local_nina = f"{LOCAL_ROOT}/Nina Simone/Pastel Blues"
    local_daft = f"{LOCAL_ROOT}/Daft Punk/Discovery"
    records = [
        _record(f"{local_nina}/01 sinnerman.flac", 622.1, "Sinnerman", "Nina Simone",
                "Pastel Blues", [("Jazz", 0.81), ("Blues", 0.55), ("Soul/R&B", 0.1)]),
        _record(f"{local_nina}/02 husband.flac", 200.0, "Be My Husband", "Nina Simone",
                "Pastel Blues", [("Blues", 0.7), ("Jazz", 0.2)]),
        _record(f"{local_daft}/01 one_more_time.mp3", 320.0, "One More Time", "Daft Punk",
                "Discovery", [("Electronic", 0.9), ("Dance", 0.3)]),
        _record(f"{local_daft}/07 crescendolls.mp3", 211.0, "Crescendolls", "Daft Punk",
                "Discovery", [("Electronic", 0.3), ("Dance", 0.3)]),
        _record(f"{LOCAL_ROOT}/misc/aerodynamic.mp3", 212.5, "Aerodynamic", "Daft Punk",
                "Discovery", [("Dance", 0.6), ("Electronic", 0.52)]),
        _record(f"{local_daft}/03 digital_love.mp3", 301.0, "Digital Love", "Daft Punk",
                "Discovery", [("Electronic", 0.8)]),
        _record(f"{LOCAL_ROOT}/Best Of/digital_love.mp3", 300.5, "Digital Love", "DAFT PUNK",
                "Best Of", [("Electronic", 0.8)]),
        _record(f"{LOCAL_ROOT}/unknown/not_in_plex.mp3", 100.0, "Other", "Someone", "X",
                [("Rock", 0.9)]),
    ]  # fmt: skip
    return Library(items, records)


def write_db(db: Path, records: list[LibraryTrack]) -> None:
    """The rows a classify run would have left for ``records`` (no audio needed).

    The model is the library's default (zero-shot) one; its decision is the predictions
    at 0.5 or above (None, "abstained", when there are none), its labels lower case as
    the embedded model's are: the façade names them as ``tag`` writes them ("Jazz").
    """
    conn = connect(db)
    run_id = start_run(conn, "classify", {})
    finish_run(conn, run_id)
    register_model(conn, MODEL_ID, name="default", kind="zero-shot", source="default")
    for number, record in enumerate(records):
        decided = [name for name, confidence in record.predicted if confidence >= 0.5]
        track = {"duration": record.duration, "title": record.title, "artist": record.artist,
                 "album": record.album}
        record_file(
            conn,
            StoredOutcome(record.path, "ok", f"{number:064x}", 1000, 0, track=track),
            run_id=run_id,
            analysis=AnalysisRecord(MODEL_ID, "ok", genres=record.predicted,
                                    decided=decided or None,
                                    abstain_reason=None if decided else "not confident enough"),
        )
    conn.close()
