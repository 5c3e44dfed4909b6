"""Plex sync without a server: settings, path maps, matching, planning, roll-up."""

from __future__ import annotations

import sys

import pytest

from music_reclass.errors import ParameterError
from music_reclass.plex.errors import PlexSetupError, PlexURLError
from music_reclass.plex.items import PlexTrack
from music_reclass.plex.matching import LibraryTrack, Match, match_tracks, text_key
from music_reclass.plex.plan import target_genres, targets_for
from music_reclass.plex.settings import (
    ENV_TOKEN,
    ENV_URL,
    check_url,
    parse_path_map,
    resolve_settings,
)


@pytest.fixture(autouse=True)
def _no_user_config(tmp_path, monkeypatch):
    monkeypatch.setenv("RECLASS_CONFIG", str(tmp_path / "absent.toml"))
    monkeypatch.delenv(ENV_URL, raising=False)
    monkeypatch.delenv(ENV_TOKEN, raising=False)


# ----------------------------------------------------------------------------- settings


@pytest.mark.parametrize(
    "url",
    ["ftp://nas:32400", "localhost:32400", "http://", "http://:32400", "http://nas:99999",
     "http://nas:port", "file:///tmp/x", "http://nas:32400/?X-Plex-Token=abc", ""],
)  # fmt: skip
def test_bad_urls_are_refused_with_one_line(url):
    with pytest.raises(PlexURLError) as info:
        check_url(url)
    message = str(info.value)
    assert "\n" not in message and "http://" in message
    assert "abc" not in message  # a token pasted into the URL is not echoed


def test_good_urls_lose_the_trailing_slash():
    assert check_url("http://192.168.1.10:32400/") == "http://192.168.1.10:32400"
    assert check_url(" HTTPS://plex.example.org ") == "HTTPS://plex.example.org"


def test_path_map_parsing_and_component_boundaries():
    mapping = parse_path_map("/data/music=/home/me/Music")
    assert mapping.apply("/data/music/a/b.mp3") == "/home/me/Music/a/b.mp3"
    assert mapping.apply("/data/music") == "/home/me/Music"
    assert mapping.apply("/data/musicals/b.mp3") is None
    windows = parse_path_map("D:\\Music=/mnt/music")
    assert windows.apply("D:\\Music\\Artist\\t.flac") == "/mnt/music/Artist/t.flac"
    for bad in ("/data/music", "=/home", "/data="):
        with pytest.raises(PlexSetupError, match="PLEX_PREFIX=LOCAL_PREFIX"):
            parse_path_map(bad)


def test_settings_precedence_flags_env_config(tmp_path, monkeypatch):
    config = tmp_path / "config.toml"
    config.write_text(
        '[plex]\nurl = "http://from-config:32400"\ntoken = "config-token"\n'
        'path_map = ["/data=/srv"]\nsection = "Music"\n',
        encoding="utf-8",
    )
    monkeypatch.setenv("RECLASS_CONFIG", str(config))
    settings = resolve_settings()
    assert (settings.url, settings.token, settings.section) == (
        "http://from-config:32400", "config-token", "Music",
    )  # fmt: skip
    assert [str(m) for m in settings.path_maps] == ["/data=/srv"]
    monkeypatch.setenv(ENV_URL, "http://from-env:32400")
    monkeypatch.setenv(ENV_TOKEN, "env-token")
    settings = resolve_settings()
    assert (settings.url, settings.token) == ("http://from-env:32400", "env-token")
    settings = resolve_settings("http://flag:32400", "flag-token", ["/x=/y"])
    assert (settings.url, settings.token) == ("http://flag:32400", "flag-token")
    assert [str(m) for m in settings.path_maps] == ["/x=/y"]
    assert "flag-token" not in repr(settings)


def test_missing_url_or_token_says_where_to_put_it():
    with pytest.raises(PlexSetupError, match="--url.*RECLASS_PLEX_URL"):
        resolve_settings()
    with pytest.raises(PlexSetupError, match="--token.*RECLASS_PLEX_TOKEN"):
        resolve_settings("http://nas:32400")


def test_without_plexapi_the_error_says_which_extra(monkeypatch):
    from music_reclass.plex import PlexMissingError, PlexSettings, connect

    monkeypatch.setitem(sys.modules, "plexapi.server", None)  # as if not installed
    with pytest.raises(PlexMissingError, match=r"music-reclass\[plex\]"):
        connect(PlexSettings("http://127.0.0.1:9", "t"))


def test_broken_config_file_is_one_clear_error(tmp_path, monkeypatch):
    config = tmp_path / "config.toml"
    monkeypatch.setenv("RECLASS_CONFIG", str(config))
    config.write_text("[plex\nurl = 3", encoding="utf-8")
    with pytest.raises(ParameterError, match="not valid TOML"):
        resolve_settings()
    config.write_text('[plex]\nurl = "http://nas:32400"\nfolder = "x"\n', encoding="utf-8")
    with pytest.raises(ParameterError, match="unknown key 'folder' in \\[plex\\]"):
        resolve_settings()
    config.write_text('[plex]\nurl = "http://nas:32400"\ntoken = "t"\npath_map = [3]\n',
                      encoding="utf-8")
    with pytest.raises(PlexSetupError, match="path_map must be a list"):
        resolve_settings()


# ----------------------------------------------------------------------------- matching


def _plex(key, title, artist, seconds, file, album_key=1, artist_key=2, album_artist=None):
    return PlexTrack(key, 3, title, artist, album_artist or artist, "Album", album_key,
                     artist_key, seconds, (file,))  # fmt: skip


def test_text_key_ignores_case_accents_punctuation():
    assert text_key("Beyoncé & Jay-Z") == text_key("BEYONCE and jay z") == "beyonceandjayz"
    assert text_key(None) == ""


def test_match_by_path_with_the_longest_map_then_by_tags():
    maps = [parse_path_map("/data=/elsewhere"), parse_path_map("/data/music=/home/me/Music")]
    library = [
        LibraryTrack("/home/me/Music/a.mp3", 100.0, "A", "X"),
        LibraryTrack("/home/me/Music/b.mp3", 200.0, "Song B", "Artist"),
        LibraryTrack("/elsewhere/other/c.mp3", 50.0, "C", "Y"),
        LibraryTrack("/home/me/Music/lonely.mp3", 10.0, "Lonely", "Z"),
    ]
    plex = [
        _plex(1, "A", "X", 100.0, "/data/music/a.mp3"),
        _plex(2, "Song B!", "artist", 201.5, "/somewhere/else/b.mp3"),
        _plex(3, "C", "Y", 50.0, "/data/other/c.mp3"),
        _plex(4, "Gone", "Q", 5.0, "/data/music/gone.mp3"),
    ]
    report = match_tracks(plex, library, path_maps=maps)
    methods = {m.plex.rating_key: (m.method, m.library.path) for m in report.matched}
    assert methods == {
        1: ("path", "/home/me/Music/a.mp3"),
        2: ("tags", "/home/me/Music/b.mp3"),
        3: ("path", "/elsewhere/other/c.mp3"),
    }
    assert [t.rating_key for t in report.unmatched] == [4]
    assert report.library_only == ["/home/me/Music/lonely.mp3"]


def test_tag_match_needs_duration_within_tolerance_and_uses_album_artist_too():
    library = [LibraryTrack("/m/t.mp3", 180.0, "Title", "Album Artist")]
    far = _plex(1, "Title", "Featured Singer", 183.0, "/x/t.mp3", album_artist="Album Artist")
    near = _plex(1, "Title", "Featured Singer", 181.5, "/x/t.mp3", album_artist="Album Artist")
    assert match_tracks([far], library).unmatched
    assert match_tracks([near], library).matched[0].method == "tags"
    assert match_tracks([far], library, duration_tolerance=3.5).matched
    no_duration = [LibraryTrack("/m/t.mp3", None, "Title", "Album Artist")]
    assert match_tracks([near], no_duration).unmatched


def test_ambiguous_both_ways_and_path_matches_never_reused():
    library = [
        LibraryTrack("/m/album/x.mp3", 120.0, "X", "Band"),
        LibraryTrack("/m/best-of/x.mp3", 120.4, "X", "Band"),
        LibraryTrack("/m/y.mp3", 90.0, "Y", "Band"),
        LibraryTrack("/m/z.mp3", 60.0, "Z", "Band"),
    ]
    plex = [
        _plex(1, "X", "Band", 120.2, "/p/x.mp3"),  # two files fit
        _plex(2, "Y", "Band", 90.0, "/p/y1.mp3"),  # two Plex tracks fit one file
        _plex(3, "Y", "Band", 90.5, "/p/y2.mp3"),
        _plex(4, "Z", "Band", 60.0, "/m/z.mp3"),  # by path (same machine, no map)
        _plex(5, "Z", "Band", 60.0, "/p/z-copy.mp3"),  # its only candidate is taken by path
    ]
    report = match_tracks(plex, library)
    ambiguous = {a.plex.rating_key: a for a in report.ambiguous}
    assert set(ambiguous) == {1, 2, 3}
    assert ambiguous[1].candidates == ("/m/album/x.mp3", "/m/best-of/x.mp3")
    assert "2 library files" in ambiguous[1].reason
    assert "2 Plex tracks" in ambiguous[2].reason
    assert [(m.plex.rating_key, m.method) for m in report.matched] == [(4, "path")]
    assert [t.rating_key for t in report.unmatched] == [5]


# ----------------------------------------------------------------------------- planning


def test_replace_and_merge_keep_plex_spellings():
    assert target_genres(["Pop", "rock"], ["Rock", "Jazz"], "replace") == (
        ("rock", "Jazz"), ("Jazz",), ("Pop",),
    )  # fmt: skip
    assert target_genres(["Hip Hop"], ["Hip-Hop"], "replace") == (("Hip Hop",), (), ())
    assert target_genres(["Pop"], ["Rock", "pop"], "merge") == (("Pop", "Rock"), ("Rock",), ())
    assert target_genres([], ["Blues"], "replace") == (("Blues",), ("Blues",), ())


def _match(key, album, artist, decided):
    plex = _plex(key, f"t{key}", "A", 1.0, f"/p/{key}", album_key=album, artist_key=artist)
    return Match(plex, LibraryTrack(f"/m/{key}", 1.0, decided=tuple(decided)), "path")


def test_album_rollup_majority_tie_and_no_majority():
    matches = [
        _match(1, 10, 100, ["Jazz", "Blues"]),
        _match(2, 10, 100, ["Jazz"]),
        _match(3, 10, 100, ["Blues"]),
        _match(4, 11, 100, ["Rock"]),
        _match(5, 11, 100, ["Pop"]),
        _match(6, 12, 100, ["Rock"]),
        _match(7, 12, 100, ["Pop"]),
        _match(8, 12, 100, ["Folk"]),
        _match(9, 13, 100, []),
    ]
    targets, skipped = targets_for(matches, level="album")
    wanted = {t.rating_key: t.wanted for t in targets}
    assert wanted == {10: ("Jazz",), 11: ("Pop", "Rock")}  # 2/3; a 1/2 tie keeps both
    assert any("no genre has a majority" in s and "1/3" in s for s in skipped)
    assert any("no genre decided" in s for s in skipped)
    undecided = Match(_plex(20, "t", "A", 1.0, "/p/20"),
                      LibraryTrack("/m/20", 1.0, undecided="abstained: two genres too close"),
                      "path")
    assert targets_for([undecided])[1] == ["A - t: abstained: two genres too close (/m/20)"]
    artist_targets, _ = targets_for(matches, level="artist", min_share=0.25)
    assert artist_targets[0].wanted == ("Jazz", "Pop", "Rock")  # 2 of 8 votes each
    assert targets_for(matches, level="artist", min_share=0.3)[0] == []
    track_targets, skipped = targets_for(matches, level="track")
    assert len(track_targets) == 8 and len(skipped) == 1
