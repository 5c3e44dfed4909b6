"""Tag reading/writing on every format, exact before-states, and safe writes."""

from __future__ import annotations

import os
from pathlib import Path

import mutagen
import pytest
from mutagen.id3 import ID3

from act_fixtures import (
    FORMATS,
    ODD_IFF_LAYOUTS,
    add_id3,
    add_id3v1,
    add_tags,
    make_audio,
    make_odd_iff,
)
from music_reclass.act import safe_write, tagging, tagwrite
from music_reclass.act.exact import capture_exact, rebuild_exact
from music_reclass.act.iff import iff_layout
from music_reclass.act.payload import audio_digest, decoded_sample_count
from music_reclass.act.tagio import genre_state, genres_of_state, merge_genres
from music_reclass.act.tagwrite import restore_genre_state, write_genres
from music_reclass.audio.tags import read_tags
from music_reclass.errors import ParameterError, SafeWriteError, TagError


@pytest.fixture(params=FORMATS)
def audio_file(request, tmp_path: Path) -> Path:
    return make_audio(tmp_path / f"song.{request.param}")


def test_write_read_restore_every_format(audio_file: Path):
    digest = audio_digest(audio_file)
    assert read_tags(audio_file).genres == []
    change = write_genres(audio_file, ["Jazz", "Blues"])
    assert (
        change.changed and change.before_genres == [] and change.after_genres == ["Jazz", "Blues"]
    )
    got = read_tags(audio_file)
    assert got.genres == ["Jazz", "Blues"]
    assert got.format == audio_file.suffix.lstrip(".")
    assert audio_digest(audio_file) == digest
    restore_genre_state(audio_file, change.before)
    assert genre_state(audio_file) == change.before
    assert read_tags(audio_file).genres == []
    assert audio_digest(audio_file) == digest
    assert not [p for p in audio_file.parent.iterdir() if p.name.startswith(safe_write.TEMP_PREFIX)]


def test_existing_tags_are_read_and_other_fields_kept(audio_file: Path):
    add_tags(audio_file, genres=["Rock", "Pop"], title="T", artist="A", album="B")
    before = read_tags(audio_file)
    assert (before.title, before.artist, before.album, before.genres) == (
        "T",
        "A",
        "B",
        ["Rock", "Pop"],
    )
    write_genres(audio_file, ["Jazz"])
    after = read_tags(audio_file)
    assert (after.title, after.artist, after.album, after.genres) == ("T", "A", "B", ["Jazz"])


def test_one_vorbis_field_per_genre(tmp_path: Path):
    path = make_audio(tmp_path / "a.flac")
    write_genres(path, ["Jazz", "Blues"])
    assert mutagen.File(path).tags["genre"] == ["Jazz", "Blues"]


def test_id3v24_multi_value_is_null_separated(tmp_path: Path):
    path = make_audio(tmp_path / "a.mp3")
    add_id3(path, version=4, genres=["Rock"])
    write_genres(path, ["Jazz", "Blues"])
    assert ID3(path).version[:2] == (2, 4)
    assert b"Jazz\x00Blues" in path.read_bytes()[:4096]


def test_id3v23_keeps_version_and_joins_with_semicolon(tmp_path: Path):
    path = make_audio(tmp_path / "a.mp3")
    add_id3(path, version=3, genres=["Rock/Pop"])  # another tagger's "/"-joined v2.3 value
    assert read_tags(path).genres == ["Rock/Pop"]  # "/" is never split: "R&B/Soul" stays one
    change = write_genres(path, ["Jazz", "Blues"])
    assert ID3(path).version[:2] == (2, 3)
    assert ID3(path)["TCON"].text == ["Jazz; Blues"]
    assert read_tags(path).genres == ["Jazz", "Blues"]
    restore_genre_state(path, change.before)
    assert ID3(path).version[:2] == (2, 3)
    assert ID3(path)["TCON"].text == ["Rock/Pop"]


def test_id3v1_only_file(tmp_path: Path):
    path = make_audio(tmp_path / "a.mp3")
    add_id3v1(path, genre_index=17)
    v1_before = path.read_bytes()[-128:]
    got = read_tags(path)
    assert got.genres == ["Rock"] and got.title == "Old Song"
    change = write_genres(path, ["Jazz"])
    assert change.before["v2"] is None and change.before["v1"]
    assert read_tags(path).genres == ["Jazz"]
    assert path.read_bytes()[-1] == 8  # the ID3v1 genre byte follows (8 = Jazz)
    restore_genre_state(path, change.before)
    assert not path.read_bytes().startswith(b"ID3")  # the v2 tag we added is gone again
    assert path.read_bytes()[-128:] == v1_before


def test_absent_tag_block_is_restored_as_absent(tmp_path: Path):
    path = make_audio(tmp_path / "a.wav")
    change = write_genres(path, ["Jazz"])
    assert change.before["v2"] is None
    restore_genre_state(path, change.before)
    assert mutagen.File(path).tags is None


def test_modes(tmp_path: Path):
    assert merge_genres(["Rock"], ["Jazz", "rock"], mode="append") == ["Rock", "Jazz"]
    assert merge_genres(["Rock"], ["Jazz"], mode="fill") == ["Rock"]
    assert merge_genres([], ["Jazz"], mode="fill") == ["Jazz"]
    assert merge_genres(["Rock"], ["Jazz"], mode="replace") == ["Jazz"]
    with pytest.raises(ParameterError):
        merge_genres([], [], mode="merge")
    path = make_audio(tmp_path / "a.ogg")
    add_tags(path, genres=["Rock"])
    change = write_genres(path, ["Jazz"], mode="fill")
    assert not change.changed and read_tags(path).genres == ["Rock"]
    write_genres(path, ["Jazz"], mode="append")
    assert read_tags(path).genres == ["Rock", "Jazz"]


def test_dry_run_writes_nothing(tmp_path: Path):
    path = make_audio(tmp_path / "a.flac")
    add_tags(path, genres=["Rock"])
    data = path.read_bytes()
    change = write_genres(path, ["Jazz", "Blues"], dry_run=True)
    assert change.describe() == f"{path}: GENRE 'Rock' -> 'Jazz; Blues'"
    assert path.read_bytes() == data


@pytest.mark.parametrize(
    "content",
    [b"ID3\x04\x00\x00\x7f\x7f\x7f\x7f" + b"\xff" * 50, b"not audio at all", b""],
    ids=["bad-id3-header", "text", "empty"],
)
def test_damaged_tags_never_crash(tmp_path: Path, content: bytes):
    path = tmp_path / "broken.mp3"
    path.write_bytes(content)
    got = read_tags(path)
    assert got.genres == [] and got.title is None
    assert got.warnings


def test_failed_verification_leaves_original_untouched(tmp_path: Path, monkeypatch):
    path = make_audio(tmp_path / "a.flac")
    data = path.read_bytes()

    real_writer = tagwrite._set_genres_in_place

    def corrupt(tmp: Path, genres) -> None:  # a buggy writer that damages the audio
        real_writer(tmp, genres)
        raw = bytearray(tmp.read_bytes())
        raw[-100] ^= 0xFF
        tmp.write_bytes(bytes(raw))

    monkeypatch.setattr(tagwrite, "_set_genres_in_place", corrupt)
    with pytest.raises(SafeWriteError, match="audio payload"):
        write_genres(path, ["Jazz"])
    assert path.read_bytes() == data
    assert [p.name for p in tmp_path.iterdir()] == ["a.flac"]


def test_permissions_kept_mtime_updated(tmp_path: Path):
    path = make_audio(tmp_path / "a.mp3")
    os.chmod(path, 0o640)
    os.utime(path, ns=(1_000_000_000, 1_000_000_000))
    write_genres(path, ["Jazz"])
    st = path.stat()
    assert st.st_mode & 0o777 == 0o640
    assert st.st_mtime_ns != 1_000_000_000


def test_stale_temp_files_are_cleaned(tmp_path: Path):
    dead = tmp_path / f"{safe_write.TEMP_PREFIX}999999999-abcd-x.mp3"
    alive = tmp_path / f"{safe_write.TEMP_PREFIX}{os.getpid()}-abcd-x.mp3"
    user = tmp_path / "x.mp3"
    for p in (dead, alive, user):
        p.write_bytes(b"x")
    assert safe_write.cleanup_stale_temps([tmp_path]) == [dead]
    assert alive.exists() and user.exists() and not dead.exists()


def test_genres_of_state_roundtrip(audio_file: Path):
    write_genres(audio_file, ["Hip-Hop", "Soul"])
    assert genres_of_state(genre_state(audio_file)) == ["Hip-Hop", "Soul"]


def test_read_only_files_are_not_modified(tmp_path: Path):
    path = make_audio(tmp_path / "a.ogg")
    os.chmod(path, 0o444)
    data = path.read_bytes()
    with pytest.raises(SafeWriteError, match="read-only"):
        write_genres(path, ["Jazz"])
    assert path.read_bytes() == data


def test_symlinked_file_is_changed_through_the_link(tmp_path: Path):
    target = make_audio(tmp_path / "real" / "a.flac")
    link = tmp_path / "link.flac"
    link.symlink_to(target)
    write_genres(link, ["Jazz"])
    assert link.is_symlink()
    assert read_tags(target).genres == ["Jazz"]


# ----------------------------------------------------------------------------- odd WAV/AIFF layouts

# layout -> None (tagged) or the refusal's reason (regex)
IFF_EXPECTED = {
    "wav-trailing-nul-chunk": None,
    "wav-trailing-zeros-odd": None,
    "wav-trailing-junk": None,
    "wav-junk-outside-riff": None,
    "wav-odd-chunk-padded": None,
    "wav-odd-data-no-pad-at-end": None,
    "wav-odd-chunk-no-pad-before-data": r"'LIST' chunk at offset 36 has an odd size \(17\) but no pad",
    "wav-odd-data-no-pad-then-list": None,
    "wav-riff-size-larger": None,
    "wav-riff-size-smaller": None,
    "wav-riff-size-inside-data": r"RIFF size field \(4036\) ends inside the audio chunks",
    "wav-list-info": None,
    "wav-id3-lowercase": None,
    "wav-id3-uppercase-and-nul": None,
    "wav-truncated-data": r"'data' chunk at offset 36 claims 8000 bytes but the file ends 5000",
    "wav-id3-behind-junk": r"ID3 chunk at offset 8052 where mutagen cannot read it",
    "aiff-trailing-junk": None,
    "aiff-odd-chunk-no-pad-before-ssnd": r"'NAME' chunk at offset 38 has an odd size \(3\) but no pad",
}


def test_every_odd_layout_has_an_expectation():
    assert set(IFF_EXPECTED) == set(ODD_IFF_LAYOUTS)


def _odd_file(tmp_path: Path, layout: str) -> Path:
    ext = "aiff" if layout.startswith("aiff") else "wav"
    return make_odd_iff(tmp_path / f"odd.{ext}", layout)


def _container_size(data: bytes) -> int:
    return int.from_bytes(data[4:8], "big" if data.startswith(b"FORM") else "little")


@pytest.mark.parametrize("layout", [k for k, v in IFF_EXPECTED.items() if v is None])
def test_odd_layout_is_tagged_and_undone_exactly(tmp_path: Path, layout: str):
    path = _odd_file(tmp_path, layout)
    original = path.read_bytes()
    fmt = path.suffix.lstrip(".")
    layout_before = iff_layout(path, fmt)
    digest, samples = audio_digest(path), decoded_sample_count(path)
    exact = capture_exact(path)
    assert exact is not None
    old_genres = read_tags(path).genres

    change = write_genres(path, ["Jazz", "Blues"])
    data = path.read_bytes()
    assert read_tags(path).genres == ["Jazz", "Blues"]
    assert audio_digest(path) == digest and decoded_sample_count(path) == samples
    # Only an insertion: the bytes before the insertion point (but the size
    # field) and the trailer behind it are the original ones, in order.
    cut = layout_before.insert_at - layout_before.add_pad
    id3_at = [original.find(c, 12, cut) for c in (b"id3 ", b"ID3 ")]
    same = min([cut] + [at for at in id3_at if at >= 0])  # an existing tag chunk changes
    assert data[8:same] == original[8:same] and data[:4] == original[:4]
    assert data.endswith(original[cut:])
    if layout_before.add_pad:
        assert data[cut] == 0  # the missing pad byte was added
    growth = len(data) - len(original)
    assert _container_size(data) == _container_size(original) + growth
    # a second write goes into the same chunk, the trailer stays behind it
    write_genres(path, ["Rock", "x" * 500])
    assert read_tags(path).genres == ["Rock", "x" * 500]
    assert path.read_bytes().endswith(original[cut:])

    rebuilt = tmp_path / f"rebuilt.{fmt}"
    assert rebuild_exact(path, exact, rebuilt)
    assert rebuilt.read_bytes() == original
    restore_genre_state(path, change.before)  # the tag-level undo
    assert genre_state(path) == change.before
    assert read_tags(path).genres == old_genres
    assert audio_digest(path) == digest
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(safe_write.TEMP_PREFIX)]


@pytest.mark.parametrize("layout", ["wav-id3-lowercase", "wav-id3-uppercase-and-nul"])
def test_existing_id3_chunk_keeps_its_id(tmp_path: Path, layout: str):
    path = _odd_file(tmp_path, layout)
    chunk_id, other_id = (b"id3 ", b"ID3 ") if "lower" in layout else (b"ID3 ", b"id3 ")
    assert read_tags(path).genres == ["Rock"]
    write_genres(path, ["Jazz"])
    data = path.read_bytes()
    assert data.count(chunk_id) == 1 and other_id not in data  # rewritten in place, same id
    assert read_tags(path).genres == ["Jazz"]


@pytest.mark.parametrize("layout", [k for k, v in IFF_EXPECTED.items() if v is not None])
def test_unsafe_odd_layout_is_refused_with_its_reason(tmp_path: Path, layout: str):
    path = _odd_file(tmp_path, layout)
    original = path.read_bytes()
    kind = "AIFF" if layout.startswith("aiff") else "WAV"
    with pytest.raises(TagError, match=f"{kind} not tagged: .*{IFF_EXPECTED[layout]}"):
        write_genres(path, ["Jazz"])
    with pytest.raises(TagError, match=IFF_EXPECTED[layout]):
        write_genres(path, ["Jazz"], dry_run=True)  # a dry run says so too
    assert path.read_bytes() == original
    assert [p.name for p in tmp_path.iterdir()] == [path.name]


def test_real_wav_with_trailing_nul_chunk(shared_dir: Path, tmp_path: Path):
    """The ballroom WAV whose data chunk is followed by NUL bytes (mutagen stopped there)."""
    source = (
        shared_dir / "audio/mixed-folder/mirdata/tests/resources/mir_datasets/ballroom/B_1.0"
        "/audio/Waltz/Media-105901.wav"
    )
    if not source.is_file():
        pytest.skip("ballroom WAV not in the shared data")
    path = tmp_path / "a.wav"
    path.write_bytes(source.read_bytes())
    original = path.read_bytes()
    layout = iff_layout(path, "wav")
    assert layout.trailer > 0 and set(original[layout.insert_at :]) == {0}
    digest, exact = audio_digest(path), capture_exact(path)
    write_genres(path, ["Jazz"])
    assert read_tags(path).genres == ["Jazz"]
    assert audio_digest(path) == digest
    assert path.read_bytes().endswith(original[layout.insert_at :])
    assert rebuild_exact(path, exact, tmp_path / "b.wav")
    assert (tmp_path / "b.wav").read_bytes() == original


def _mutagen_chunk_ids(path: Path) -> list[str]:
    from mutagen._riff import RiffFile

    with path.open("rb") as fh:
        return [chunk.id for chunk in RiffFile(fh).root.subchunks()]


def test_missing_pad_byte_after_audio_is_added_and_realigns_later_chunks(tmp_path: Path):
    path = make_odd_iff(tmp_path / "a.wav", "wav-odd-data-no-pad-then-list")
    assert "LIST" not in _mutagen_chunk_ids(path)  # misaligned: mutagen reads garbage
    original = path.read_bytes()
    data_end = 12 + 24 + 8 + 4001
    write_genres(path, ["Jazz"])
    data = path.read_bytes()
    assert _mutagen_chunk_ids(path) == ["fmt", "data", "id3", "LIST"]
    assert data[8:data_end] == original[8:data_end]
    assert data[data_end : data_end + 5] == b"\0id3 "  # the pad byte, then the tag chunk
    assert data.endswith(original[data_end:])  # the LIST chunk, unchanged


# ----------------------------------------------------------------------------- tag runs (review)

RUN_GENRES = [("jazz", 0.8), ("blues", 0.5)]


def _cli(*args: str):
    from typer.testing import CliRunner

    from music_reclass.cli.main import app

    return CliRunner().invoke(app, list(args), catch_exceptions=False)


def _library(root: Path, db: Path, count: int = 8) -> list[Path]:
    from act_fixtures import make_library, register
    from music_reclass.store import db as libdb

    files = make_library(root, count=count)
    conn = libdb.connect(db)
    for path in files:
        register(conn, path, genres=RUN_GENRES)
    conn.close()
    return files


def _runs(db: Path, kind: str) -> int:
    from music_reclass.store import db as libdb

    conn = libdb.connect(db)
    try:
        return conn.execute("SELECT COUNT(*) FROM runs WHERE kind = ?", (kind,)).fetchone()[0]
    finally:
        conn.close()


def test_mutagen_error_fails_one_file_not_the_run(tmp_path: Path, monkeypatch):
    from mutagen.flac import FLAC

    root, db = tmp_path / "music", tmp_path / "lib.sqlite"
    files = _library(root, db)
    flac = [p for p in files if p.suffix == ".flac"]
    flac_bytes = {p: p.read_bytes() for p in flac}

    def broken_save(self, *args, **kwargs):
        raise mutagen.MutagenError("simulated mutagen failure")

    monkeypatch.setattr(FLAC, "save", broken_save)
    result = _cli("tag", str(root), "--db", str(db), "--min-confidence", "0.4")
    assert result.exit_code == 1, result.output
    assert f"changed {len(files) - len(flac)} file(s)" in result.output
    assert "cannot write tags" in result.output and "simulated mutagen failure" in result.output
    assert all(p.read_bytes() == flac_bytes[p] for p in flac)


def test_unexpected_error_fails_one_file_not_the_run(tmp_path: Path, monkeypatch):
    from music_reclass.audio.hashing import content_hash

    root, db = tmp_path / "music", tmp_path / "lib.sqlite"
    files = _library(root, db)
    victim_hash = content_hash(files[2])
    real_choose = tagging.choose_genres

    def choose(analysis, **kwargs):
        if analysis is not None and analysis.content_hash == victim_hash:
            raise RuntimeError("odd analysis row")
        return real_choose(analysis, **kwargs)

    monkeypatch.setattr(tagging, "choose_genres", choose)
    result = _cli("tag", str(root), "--db", str(db), "--min-confidence", "0.4")
    assert result.exit_code == 1, result.output
    assert "unexpected RuntimeError: odd analysis row" in result.output
    assert f"changed {len(files) - 1} file(s)" in result.output


def test_tag_through_symlinked_root_and_album(tmp_path: Path):
    real_root, db = tmp_path / "real", tmp_path / "lib.sqlite"
    files = _library(real_root, db, count=4)
    elsewhere = _library(tmp_path / "elsewhere", db, count=7)[-1:]  # one album elsewhere
    linked_root = tmp_path / "Music"
    linked_root.symlink_to(real_root, target_is_directory=True)
    (real_root / "linked album").symlink_to(elsewhere[0].parent, target_is_directory=True)
    result = _cli("tag", str(linked_root), "--db", str(db), "--min-confidence", "0.4")
    assert result.exit_code == 0, result.output
    wanted = files + [p for p in elsewhere[0].parent.iterdir() if p.suffix]
    assert f"changed {len(wanted)} file(s)" in result.output
    assert all(read_tags(p).genres == ["Jazz", "Blues"] for p in wanted)
    assert _cli("undo", "--db", str(db)).exit_code == 0


def test_tag_missing_path_and_nothing_analysed(tmp_path: Path):
    db = tmp_path / "lib.sqlite"
    _library(tmp_path / "music", db, count=2)
    result = _cli("tag", str(tmp_path / "nope"), "--db", str(db), "--min-confidence", "0.4")
    assert result.exit_code == 2
    assert "no such file or folder" in result.output
    fresh = tmp_path / "fresh"
    make_audio(fresh / "new.flac")
    for extra in ([], ["--dry-run"]):
        result = _cli("tag", str(fresh), "--db", str(db), "--min-confidence", "0.4", *extra)
        assert result.exit_code == 1, result.output
        assert f"nothing analysed under {fresh}: run `reclass classify {fresh}` first" in (
            result.output
        )
    assert _runs(db, "tag") == 0


def test_file_name_that_is_not_utf8_tag_undo_organise_undo(tmp_path: Path):
    from music_reclass.store import db as libdb

    root, db, into = tmp_path / "music", tmp_path / "lib.sqlite", tmp_path / "sorted"
    name = os.fsdecode(b"caf\xe9.wav")  # latin-1 bytes: not valid UTF-8
    plain = make_audio(root / "plain.wav")  # soundfile cannot create such a name itself
    path = root / name
    try:
        plain.rename(path)
    except OSError:
        pytest.skip("this filesystem refuses non-UTF-8 file names")
    original = path.read_bytes()
    from act_fixtures import register

    conn = libdb.connect(db)
    register(conn, path, genres=RUN_GENRES)
    conn.close()
    result = _cli("tag", str(root), "--db", str(db), "--min-confidence", "0.4")
    assert result.exit_code == 0, result.output
    assert "caf\\xe9.wav" in result.output and read_tags(path).genres == ["Jazz", "Blues"]
    result = _cli("undo", "--db", str(db))
    assert result.exit_code == 0, result.output
    assert path.read_bytes() == original
    result = _cli("organise", "--move", str(root), "--into", str(into), "--db", str(db),
                  "--min-confidence", "0.4")
    assert result.exit_code == 0, result.output
    moved = [p for p in into.rglob("*") if p.is_file()]
    assert [os.fsencode(p.name) for p in moved] == [b"caf\xe9.wav"] and not path.exists()
    conn = libdb.connect(db)
    stored = conn.execute("SELECT path FROM files").fetchall()
    assert [libdb.path_from_db(r[0]) for r in stored] == [str(moved[0])]
    conn.close()
    result = _cli("undo", "--db", str(db))
    assert result.exit_code == 0, result.output
    assert path.read_bytes() == original and not [p for p in into.rglob("*") if p.is_file()]


def test_file_name_that_is_not_utf8_from_classify_on(tmp_path: Path, monkeypatch):
    """classify -> tag -> undo with a latin-1 file name, through the real classify run."""
    from music_reclass.cli import common
    from test_scan import make_fake, tone

    monkeypatch.setattr(common, "classifier_factory", make_fake)
    root, db = tmp_path / "music", tmp_path / "lib.sqlite"
    plain = tone(root / "plain.wav", 330.0)
    path = root / os.fsdecode(b"caf\xe9.wav")
    try:
        plain.rename(path)
    except OSError:
        pytest.skip("this filesystem refuses non-UTF-8 file names")
    original = path.read_bytes()
    result = _cli("classify", str(root), "--db", str(db))
    assert result.exit_code == 0, result.output
    # the fake model's genres ("low", "high") are its own words: written as they are
    result = _cli("tag", str(root), "--db", str(db), "--min-confidence", "0")
    assert result.exit_code == 0, result.output
    assert "changed 1 file(s)" in result.output and path.read_bytes() != original
    assert read_tags(path).genres == ["Low", "High"]
    assert _cli("undo", "--db", str(db)).exit_code == 0
    assert path.read_bytes() == original
