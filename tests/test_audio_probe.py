"""Content sniffing: formats are recognised from their bytes, never from their names."""

from __future__ import annotations

import shutil

import pytest

from audio_fixtures import FORMATS, write_clip
from malformed_corpus import NOT_AUDIO
from music_reclass.audio.probe import describe_bytes, describe_content, sniff_bytes, sniff_format


@pytest.fixture(scope="module")
def clips(tmp_path_factory) -> dict:
    folder = tmp_path_factory.mktemp("probe")
    written = {}
    for fmt, spec in FORMATS.items():
        rate = 22050 if not spec.rates or 22050 in spec.rates else 48000
        written[fmt] = write_clip(folder / f"clip{spec.extension}.{fmt}", fmt, seconds=1.0,
                                  sr=rate, channels=2)
    return written


@pytest.mark.parametrize("fmt", sorted(FORMATS))
def test_sniffs_every_format(clips, fmt):
    assert sniff_format(clips[fmt]) == FORMATS[fmt].sniffed


@pytest.mark.parametrize("fmt", sorted(FORMATS))
@pytest.mark.parametrize("name", ["song.mp3", "song.flac", "song", "cover.jpg", "x.txt"])
def test_extension_does_not_matter(clips, tmp_path, fmt, name):
    renamed = tmp_path / name
    shutil.copyfile(clips[fmt], renamed)
    assert sniff_format(renamed) == FORMATS[fmt].sniffed


@pytest.mark.parametrize("kind", sorted(NOT_AUDIO))
def test_non_audio_is_none_and_described(tmp_path, kind):
    data, looks_like = NOT_AUDIO[kind]
    path = tmp_path / "fake.mp3"
    path.write_bytes(data)
    assert sniff_format(path) is None
    assert looks_like in describe_content(path)


def test_ogg_codecs_are_told_apart():
    def first_page(packet: bytes) -> bytes:
        return b"OggS\x00\x02" + bytes(20) + bytes([1, len(packet)]) + packet
    assert sniff_bytes(first_page(b"\x01vorbis" + bytes(22))) == "ogg"
    assert sniff_bytes(first_page(b"OpusHead\x01\x02" + bytes(9))) == "opus"
    assert sniff_bytes(first_page(b"\x7fFLAC\x01\x00" + bytes(40))) == "ogg-flac"
    assert sniff_bytes(first_page(b"\x80theora" + bytes(30))) is None


def test_single_mpeg_sync_in_text_is_not_mp3():
    # one valid-looking MPEG header followed by text: needs a second frame to count
    header = bytes([0xFF, 0xFB, 0x90, 0x44])
    assert sniff_bytes(header + b"hello world " * 200) is None


def test_two_consecutive_mpeg_frames_are_mp3():
    header = bytes([0xFF, 0xFB, 0x90, 0x44])  # MPEG-1 layer III 128 kbit/s 44.1 kHz
    frame = header + bytes(417 - 4)
    assert sniff_bytes(frame * 3) == "mp3"


def test_id3_tag_is_skipped_by_seeking(tmp_path, clips):
    # a 1 MB tag (cover art) in front of a FLAC stream
    size = 1 << 20
    syncsafe = bytes([(size >> 21) & 0x7F, (size >> 14) & 0x7F, (size >> 7) & 0x7F,
                      size & 0x7F])
    path = tmp_path / "tagged.mp3"
    path.write_bytes(b"ID3\x04\x00\x00" + syncsafe + bytes(size) + clips["flac"].read_bytes())
    assert sniff_format(path) == "flac"


def test_image_brands_of_iso_bmff_are_not_audio():
    avif = b"\x00\x00\x00\x1cftypavif" + bytes(40)
    assert sniff_bytes(avif) is None
    assert "image" in describe_bytes(avif)
    assert sniff_bytes(b"\x00\x00\x00\x1cftypM4A " + bytes(40)) == "mp4"


def test_other_containers():
    assert sniff_bytes(b"wvpk" + bytes(40)) == "wavpack"
    assert sniff_bytes(b"MAC " + bytes(40)) == "ape"
    assert sniff_bytes(bytes.fromhex("3026b2758e66cf11a6d900aa0062ce6c") + bytes(40)) == "asf"
    assert sniff_bytes(b".snd" + bytes(40)) == "au"
    assert sniff_bytes(b"RF64\xff\xff\xff\xffWAVE" + bytes(40)) == "rf64"
    assert sniff_bytes(b"FORM\x00\x00\x00\x00AIFC" + bytes(40)) == "aiff"
    assert sniff_bytes(b"RIFF\x00\x00\x00\x00AVI " + bytes(40)) is None


def test_sniff_raises_oserror_for_missing_file(tmp_path):
    with pytest.raises(OSError):
        sniff_format(tmp_path / "missing.mp3")


def test_mp3_after_junk_needs_three_frames():
    header = bytes([0xFF, 0xFB, 0x90, 0x44])
    frame = header + bytes(417 - 4)
    junk = b"\x01garbage from a damaged tag" * 10
    assert sniff_bytes(junk + frame * 4) == "mp3"
    assert sniff_bytes(junk + frame * 2 + b"text" * 500) is None
