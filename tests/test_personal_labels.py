"""The owner's labels: cleaning in their own vocabulary, the genre map, what reclass wrote,
corrections, rare genres, groups for evaluation."""

from __future__ import annotations

import pytest

from music_reclass.errors import ParameterError
from music_reclass.personal.config import GenreConfig, read_genre_config
from music_reclass.personal.labels import TrackSource, build_labelling, split_genres
from music_reclass.personal.sources import reclass_writes, track_sources
from music_reclass.store.labels import JournalWrite, TrackRow
from personal_fixtures import isolated_config  # noqa: F401 - autouse: no developer config


def source(i: int, tags: list[str], **extra) -> TrackSource:
    return TrackSource(f"h{i}", f"/m/{i}.mp3", artist=extra.pop("artist", f"A{i}"), tags=tags,
                       **extra)


@pytest.mark.parametrize(("value", "names"), [
    ("Rock; Pop", ["Rock", "Pop"]),
    ("Rock / Pop", ["Rock", "Pop"]),
    ("Rock, Pop", ["Rock", "Pop"]),
    ("Rock|Pop\\Jazz", ["Rock", "Pop", "Jazz"]),
    ("R&B/Soul", ["R&B/Soul"]),
    ("Folk, World, & Country", ["Folk, World, & Country"]),
    ("  Hip   Hop ", ["Hip Hop"]),
    ('"Jazz"', ["Jazz"]),
    ("(17)", ["Rock"]),
    ("17", ["Rock"]),
    ("2 Step", ["2 Step"]),
    (";;", []),
])
def test_split_genres(value, names):
    assert split_genres(value) == names


def test_spellings_merge_and_the_owner_spelling_wins():
    tags = ["Hip-Hop", "hip-hop", "Hip-Hop", "hip hop", "HIP HOP", "ROCK", "Rock", "rock", "Rock"]
    labelling = build_labelling([source(i, [t]) for i, t in enumerate(tags)], min_tracks=1)
    assert labelling.classes == ["Hip-Hop", "Rock"]
    hip = labelling.genres[0]
    assert hip.tracks == 5 and hip.spellings == {"Hip-Hop": 2, "hip-hop": 1, "hip hop": 1,
                                                  "HIP HOP": 1}
    assert labelling.Y.sum(axis=0).tolist() == [5, 4]


def test_a_tie_goes_to_the_mixed_case_spelling():
    labelling = build_labelling([source(0, ["JAZZ"]), source(1, ["Jazz"]), source(2, ["Rock"]),
                                 source(3, ["Rock"])], min_tracks=1)
    assert labelling.classes == ["Jazz", "Rock"]


def test_placeholders_are_not_genres_and_untagged_tracks_are_unlabelled():
    labelling = build_labelling([source(0, ["Unknown"]), source(1, []), source(2, ["Rock"]),
                                 source(3, ["Jazz"]), source(4, ["genre"])], min_tracks=1)
    assert labelling.classes == ["Jazz", "Rock"]
    assert sorted(labelling.unlabelled) == ["h0", "h1", "h4"]
    assert labelling.ignored == {"Unknown": 1, "genre": 1}


def test_corrections_win_over_the_file_tags():
    labelling = build_labelling([source(0, ["Rock"], correction=["Reggae"]), source(1, ["Rock"]),
                                 source(2, ["Reggae"])], min_tracks=1)
    row = labelling.content_hashes.index("h0")
    assert labelling.classes[labelling.primary[row]] == "Reggae"
    assert labelling.sources == {"corrections": 1, "file tags": 2,
                                 "tags written by reclass, left out": 0}


def test_genres_reclass_wrote_are_left_out():
    tracks = [
        source(0, ["Jazz", "Rock"], reclass_added=["rock"], before_reclass=["Jazz"]),  # append
        source(1, ["Pop"], reclass_added=["Pop"], before_reclass=["Reggae"]),  # replaced
        source(2, ["Pop"], reclass_added=["Pop"], before_reclass=[]),  # filled
        source(3, ["Rock"]), source(4, ["Reggae"]), source(5, ["Jazz"]),
    ]
    labelling = build_labelling(tracks, min_tracks=1)
    assert "Pop" not in labelling.classes
    genres = {h: [labelling.classes[k] for k in row.nonzero()[0]]
              for h, row in zip(labelling.content_hashes, labelling.Y, strict=True)}
    assert genres["h0"] == ["Jazz"]
    assert genres["h1"] == ["Reggae"]  # the owner's tags from before reclass wrote
    assert "h2" in labelling.unlabelled
    assert labelling.sources["tags written by reclass, left out"] == 3
    assert labelling.sources["tags from before reclass wrote"] == 1


def test_rare_genres_are_dropped_or_pooled():
    tags = ["Rock"] * 5 + ["Jazz"] * 5 + ["Polka"] * 2 + ["Ska"]
    tracks = [source(i, [t]) for i, t in enumerate(tags)]
    dropped = build_labelling(tracks)
    assert dropped.classes == ["Jazz", "Rock"] and dropped.min_tracks == 5
    assert [(g.name, g.tracks) for g in dropped.rare] == [("Polka", 2), ("Ska", 1)]
    assert len(dropped.only_rare) == 3 and not dropped.unlabelled
    pooled = build_labelling(tracks, rare="pool")
    assert pooled.classes == ["Jazz", "Other", "Rock"]
    other = pooled.genres[1]
    assert other.tracks == 3 and other.pooled == ("Polka", "Ska")
    strict = build_labelling(tracks, min_tracks=2)
    assert strict.classes == ["Jazz", "Polka", "Rock"]


def test_the_default_minimum_is_lowered_for_a_small_library_with_a_note():
    tracks = [source(i, [t]) for i, t in enumerate(["Rock"] * 3 + ["Jazz"] * 3 + ["Pop"])]
    labelling = build_labelling(tracks)
    assert labelling.min_tracks == 3 and labelling.classes == ["Jazz", "Rock"]
    assert any("fewer than two genres have 5 tracks" in n for n in labelling.notes)
    with pytest.raises(ParameterError):
        build_labelling(tracks, rare="keep")


def test_several_genres_make_a_multi_label_library():
    tags = ["Rock; Pop"] * 4 + ["Rock"] * 4 + ["Pop"] * 4
    labelling = build_labelling([source(i, [t]) for i, t in enumerate(tags)])
    assert labelling.task == "multi-label"
    assert labelling.Y.sum(axis=1).tolist()[:4] == [2, 2, 2, 2]
    single = build_labelling([source(i, [t]) for i, t in enumerate(tags)], multi_label=False)
    assert single.task == "single-label"
    assert any("learns their first one" in n for n in single.notes)
    assert single.classes[single.primary[0]] == "Rock"


def test_groups_follow_artist_then_album_then_the_track():
    labelling = build_labelling([
        source(0, ["Rock"], artist="The Band"), source(1, ["Rock"], artist="the  band"),
        source(2, ["Jazz"], artist=None, album="Kind of Blue"), source(3, ["Jazz"], artist=None),
    ], min_tracks=1)
    assert labelling.groups == ["artist:the band", "artist:the band", "album:kind of blue",
                                "track:h3"]
    assert labelling.genres[1].artists == 1  # Rock: one artist
    assert any("no artist tag" in n for n in labelling.notes)


def test_the_config_file_maps_merges_and_ignores(tmp_path, monkeypatch):
    config = tmp_path / "config.toml"
    config.write_text("""
[genre_map]
"Hip Hop" = "Hip-Hop"
"Rap" = "hip hop"
"Misc" = false
"Various" = ""

[genres]
ignore = ["Other"]
min_tracks = 1
rare = "pool"
other = "Everything Else"
""")
    monkeypatch.setenv("RECLASS_CONFIG", str(config))
    settings = read_genre_config()
    assert settings.path == config and settings.min_tracks == 1 and settings.rare == "pool"
    tags = ["hip hop", "Rap", "Misc", "Various", "Other", "Rock"]
    labelling = build_labelling([source(i, [t]) for i, t in enumerate(tags)], config=settings)
    assert labelling.classes == ["Hip-Hop", "Rock"]
    assert labelling.genres[0].tracks == 2
    assert sorted(labelling.ignored) == ["Misc", "Other", "Various"]


def test_genres_map_table_and_errors(tmp_path, monkeypatch):
    good = tmp_path / "good.toml"
    good.write_text('[genre_map]\n"Electronica" = "Electronic"\n')
    assert read_genre_config(good).resolve("electronica") == "Electronic"
    loop = tmp_path / "loop.toml"
    loop.write_text('[genre_map]\n"A" = "B"\n"B" = "A"\n')
    with pytest.raises(ParameterError, match="loops"):
        read_genre_config(loop).resolve("A")
    bad = tmp_path / "bad.toml"
    bad.write_text("[genre_map\n")
    with pytest.raises(ParameterError, match="not valid TOML"):
        read_genre_config(bad)
    wrong = tmp_path / "wrong.toml"
    wrong.write_text('[genres]\nrare = "keep"\n')
    with pytest.raises(ParameterError, match="pool, drop|drop, pool"):
        read_genre_config(wrong)
    with pytest.raises(ParameterError, match="not found"):
        read_genre_config(tmp_path / "missing.toml")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "empty"))
    monkeypatch.delenv("RECLASS_CONFIG", raising=False)
    assert read_genre_config() == GenreConfig()  # no default file: no settings, no error


def _state(genres: list[str]) -> dict:
    return {"scheme": "vorbis", "format": "flac", "present": True,
            "comments": [["GENRE", g] for g in genres]}


def test_the_journal_replay_follows_tag_writes_moves_and_copies():
    from music_reclass.act.tagio import genres_of_state

    history = [
        JournalWrite(1, "tag", "/m/a.flac", None, {"state": _state(["Jazz"])},
                     _state(["Jazz", "Rock"])),
        JournalWrite(2, "move", "/m/a.flac", "/sorted/a.flac", None, None),
        JournalWrite(3, "copy", "/sorted/a.flac", "/copy/a.flac", None, None),
        JournalWrite(4, "tag", "/m/b.flac", None, {"state": _state([])}, {"genres": ["Pop"]}),
    ]
    writes = reclass_writes(history, genres_of_state)
    assert set(writes) == {"/sorted/a.flac", "/copy/a.flac", "/m/b.flac"}
    assert writes["/sorted/a.flac"].added == ["Rock"] and writes["/sorted/a.flac"].before == ["Jazz"]
    assert writes["/m/b.flac"].added == ["Pop"]
    sources = track_sources([TrackRow("h1", "/sorted/a.flac", "X", None, ["Jazz", "Rock"])],
                            writes, {"h1": ["Blues"]})
    assert sources[0].reclass_added == ["Rock"] and sources[0].correction == ["Blues"]
