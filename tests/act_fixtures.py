"""Synthetic audio files of every format, with and without tags, and DB rows.

Shared by the tests of tags, payload, organise, undo and the kill -9 tests (and
the fault-injection benchmark), so that all of them see the same kinds of files.
"""

from __future__ import annotations

import os
import struct
from pathlib import Path

import av
import numpy as np
import soundfile as sf
from mutagen.id3 import ID3, TALB, TCON, TIT2, TPE1
from mutagen.mp4 import MP4

FORMATS = ("mp3", "flac", "ogg", "opus", "m4a", "wav", "aiff")
MODEL_ID = "test-model@1"
SPACE = "test-space/1"


def _signal(seconds: float, sr: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * sr)) / sr
    tone = 0.3 * np.sin(2 * np.pi * (220 + 40 * seed) * t)
    return (tone + 0.05 * rng.standard_normal(t.size)).astype(np.float32)


def _encode_with_av(path: Path, signal: np.ndarray, sr: int, codec: str, fmt: str) -> None:
    with av.open(str(path), "w", format=fmt) as container:
        stream = container.add_stream(codec, rate=sr)
        stream.layout = "mono"
        frame_size = stream.codec_context.frame_size or 1024
        pcm = (signal * 32767).astype(np.int16)
        sample_fmt = stream.codec_context.format.name
        for start in range(0, pcm.size, frame_size):
            chunk = pcm[start : start + frame_size]
            frame = av.AudioFrame.from_ndarray(chunk[None, :], format="s16", layout="mono")
            frame.sample_rate = sr
            frame.pts = start
            if sample_fmt != "s16":
                frame = _resample(frame, sample_fmt, sr)
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)


_resamplers: dict = {}


def _resample(frame, sample_fmt: str, sr: int):
    key = (sample_fmt, sr)
    if key not in _resamplers:
        _resamplers[key] = av.AudioResampler(format=sample_fmt, layout="mono", rate=sr)
    out = _resamplers[key].resample(frame)
    return out[0]


def make_audio(path: str | os.PathLike, *, seconds: float = 1.0, seed: int = 0) -> Path:
    """Write an untagged synthetic file whose format follows the extension."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    ext = path.suffix.lower().lstrip(".")
    if ext in ("wav", "flac", "aiff", "ogg", "mp3"):
        sr = 22050 if ext != "mp3" else 44100
        sig = _signal(seconds, sr, seed)
        subtype = {"ogg": "VORBIS", "mp3": "MPEG_LAYER_III"}.get(ext, "PCM_16")
        fmt = {"aiff": "AIFF", "ogg": "OGG", "mp3": "MP3"}.get(ext)
        sf.write(str(path), sig, sr, subtype=subtype, format=fmt)
    elif ext == "opus":
        _resamplers.clear()
        _encode_with_av(path, _signal(seconds, 48000, seed), 48000, "libopus", "ogg")
    elif ext == "m4a":
        _resamplers.clear()
        _encode_with_av(path, _signal(seconds, 44100, seed), 44100, "aac", "mp4")
    else:
        raise ValueError(ext)
    return path


def add_id3(
    path: Path, *, version: int, genres: list[str], title="Song", artist="Band", album="LP"
) -> None:
    """Give an MP3 an ID3v2.<version> tag with the given genres (and title/artist/album)."""
    tags = ID3()
    tags.add(TIT2(encoding=3, text=[title]))
    tags.add(TPE1(encoding=3, text=[artist]))
    tags.add(TALB(encoding=3, text=[album]))
    if genres:
        tags.add(TCON(encoding=3, text=genres))
    tags.save(str(path), v2_version=version, v23_sep="/")


def add_id3v1(path: Path, *, genre_index: int = 17, title=b"Old Song", artist=b"Old Band") -> None:
    """Append an ID3v1.1 tag (genre 17 = Rock)."""
    tag = (
        b"TAG"
        + title.ljust(30, b"\0")
        + artist.ljust(30, b"\0")
        + b"Old LP".ljust(30, b"\0")
        + b"1999"
        + b"\0" * 28
        + b"\0\x01"
        + bytes([genre_index])
    )
    with path.open("ab") as fh:
        fh.write(tag)


def add_tags(path: Path, *, genres: list[str], title="Song", artist="Band", album="LP") -> None:
    """Generic tags for any of :data:`FORMATS` (ID3v2.4 for mp3/wav/aiff)."""
    import mutagen

    ext = path.suffix.lower().lstrip(".")
    if ext == "mp3":
        add_id3(path, version=4, genres=genres, title=title, artist=artist, album=album)
        return
    audio = mutagen.File(str(path))
    if audio.tags is None:
        audio.add_tags()
    if ext in ("wav", "aiff"):
        audio.tags.add(TIT2(encoding=3, text=[title]))
        audio.tags.add(TPE1(encoding=3, text=[artist]))
        audio.tags.add(TALB(encoding=3, text=[album]))
        if genres:
            audio.tags.add(TCON(encoding=3, text=genres))
    elif isinstance(audio, MP4):
        audio.tags["\xa9nam"] = [title]
        audio.tags["\xa9ART"] = [artist]
        audio.tags["\xa9alb"] = [album]
        if genres:
            audio.tags["\xa9gen"] = genres
    else:
        audio.tags["TITLE"] = [title]
        audio.tags["ARTIST"] = [artist]
        audio.tags["ALBUM"] = [album]
        if genres:
            audio.tags["GENRE"] = genres
    audio.save()


def make_library(
    root: Path, *, count: int = 10, tagged: bool = True, seconds: float = 1.0
) -> list[Path]:
    """``count`` files cycling through every format, half of them pre-tagged.

    ``seconds`` is the length of each file: the 1 s default keeps tag/organise tests
    fast; classify needs at least one 3 s patch (it rejects shorter files).
    """
    files = []
    for i in range(count):
        ext = FORMATS[i % len(FORMATS)]
        path = make_audio(
            root / f"album{i % 3}" / f"track {i:02d}.{ext}", seconds=seconds, seed=i
        )
        if tagged and i % 2 == 0:
            add_tags(
                path, genres=["Rock"] if i % 4 == 0 else ["Pop", "Dance"], artist=f"Artist {i % 3}"
            )
        files.append(path)
    return files


def register(
    conn,
    path: Path,
    *,
    genres: list[tuple[str, float]],
    model_id: str = MODEL_ID,
    run_id: int | None = None,
    decided: list[str] | None = None,
) -> str:
    """Record ``path`` as a classify run would have: files, track, analysis, vectors.

    ``model_id`` is registered as the library's default model, so that the commands'
    active model is this one. ``decided`` is the model's decision (None: it abstained),
    what ``tag``/``organise`` follow without ``--min-confidence``.
    """
    from music_reclass.audio.hashing import content_hash
    from music_reclass.store.analyses import AnalysisRecord
    from music_reclass.store.files import StoredOutcome, record_file
    from music_reclass.store.models import register_model
    from music_reclass.store.runs import finish_run, start_run

    chash = content_hash(path)
    st = path.stat()
    if run_id is None:
        run_id = start_run(conn, "classify", {})
        finish_run(conn, run_id)
    register_model(conn, model_id, name="default", kind="zero-shot", source="default")
    record_file(
        conn,
        StoredOutcome(str(path.resolve()), "ok", chash, st.st_size, st.st_mtime_ns,
                      inode=st.st_ino),
        run_id=run_id,
        analysis=AnalysisRecord(model_id, "ok", genres=genres, decided=decided),
        vectors={SPACE: {"penultimate": np.zeros(2, np.float32)}},
    )
    return chash


def snapshot(paths) -> dict[str, bytes]:
    """Every file's bytes by path (to prove byte-identity after undo)."""
    return {str(p): Path(p).read_bytes() for p in paths}


# ----------------------------------------------------------------------------- kill -9 trials

KILL_GENRES = [("jazz", 0.8), ("blues", 0.5), ("rock", 0.2)]
KILL_KINDS = ("tag", "organise", "organise-copy", "undo", "undo-copy")

#: The run kind each trial kind kills.
RUN_KIND = {"tag": "tag", "organise": "organise", "organise-copy": "organise",
            "undo": "undo", "undo-copy": "undo"}

#: Fault points (steps) every file passes in a full run of each kind (see
#: music_reclass.faults): a kill drawn among them lands mid-run. A change to the
#: steps shows up as trials whose kill did not land mid-run (they fail).
STEPS_PER_FILE = {"tag": 7, "organise": 5, "organise-copy": 5, "undo": 7, "undo-copy": 3}


def _reclass(args: list[str], env: dict | None = None, **kwargs):
    """``reclass ARGS`` in a subprocess through tests/fault_reclass.py (faults from env)."""
    import subprocess

    from fault_reclass import FAULT_RECLASS

    return subprocess.Popen(
        [*FAULT_RECLASS, *args],
        env={**os.environ, **(env or {})},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        **kwargs,
    )


def run_and_kill(args: list[str], *, rng, window: float, delay: float,
                 env: dict | None = None) -> bool:
    """Run ``reclass ARGS`` with a delay at every step; SIGKILL it at a random moment.

    Returns whether it was killed (False when it finished inside the drawn time).
    """
    import signal
    import subprocess

    proc = _reclass(args, env={"RECLASS_TEST_FAULT_DELAY": str(delay), **(env or {})})
    try:
        proc.wait(timeout=rng.uniform(0.0, window))
        killed = False
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        killed = True
    proc.stdout.close()
    return killed


def kill_at_step(args: list[str], *, step: int, after: float = 0.0) -> tuple[int, str]:
    """Run ``reclass ARGS`` and SIGKILL it at its ``step``-th fault point (or ``after``
    seconds later, before the next step). Returns the exit status and the output."""
    proc = _reclass(args, env={"RECLASS_TEST_KILL_AT": str(step),
                               "RECLASS_TEST_KILL_AFTER": str(after)})
    out, _ = proc.communicate(timeout=300)
    return proc.returncode, out.decode(errors="replace")


def _finish(args: list[str]) -> tuple[int, str]:
    proc = _reclass(args)
    out, _ = proc.communicate(timeout=300)
    return proc.returncode, out.decode(errors="replace")


def _temp_files(*roots: Path) -> list[Path]:
    from music_reclass.act.safe_write import TEMP_PREFIX

    return [p for root in roots if root.exists() for p in root.rglob(f"{TEMP_PREFIX}*")]


def _integrity(db: Path) -> str:
    import sqlite3

    conn = sqlite3.connect(db)
    try:
        return conn.execute("PRAGMA integrity_check").fetchone()[0]
    finally:
        conn.close()


def last_run_status(db: Path, kind: str) -> str | None:
    """Status of the newest run of ``kind`` (None: no such run)."""
    import sqlite3

    conn = sqlite3.connect(db)
    try:
        row = conn.execute(
            "SELECT status FROM runs WHERE kind = ? ORDER BY id DESC LIMIT 1", (kind,)
        ).fetchone()
        return None if row is None else row[0]
    finally:
        conn.close()


def journalled_paths(db: Path, states: tuple[str, ...] = ("done", "undone")) -> set[str]:
    """Every path named by a journal row in ``states`` (source or target)."""
    import sqlite3

    from music_reclass.store.db import path_from_db

    conn = sqlite3.connect(db)
    try:
        marks = ", ".join("?" * len(states))
        rows = conn.execute(
            f"SELECT path, new_path FROM journal WHERE state IN ({marks})", states
        ).fetchall()
    finally:
        conn.close()
    return {path_from_db(p) for row in rows for p in row if p is not None}


def make_kill_library(workdir: Path, *, count: int) -> tuple[list[Path], Path, Path, Path]:
    """``(files, root, into, db)``: a synthetic library of every format, registered."""
    from music_reclass.store.db import connect

    root, into, db = workdir / "music", workdir / "sorted", workdir / "lib.sqlite"
    files = make_library(root, count=count)
    conn = connect(db)
    for path in files:
        register(conn, path, genres=KILL_GENRES)
    conn.close()
    return files, root, into, db


def command_args(kind: str, root: Path, into: Path, db: Path) -> tuple[list[str], list[str] | None]:
    """``(the command a trial of kind runs, the set-up command run first or None)``."""
    tag_args = ["tag", str(root), "--db", str(db), "--min-confidence", "0.4"]
    base = ["organise", str(root), "--into", str(into), "--db", str(db),
            "--min-confidence", "0.4"]
    org_args, copy_args = [*base, "--move"], [*base, "--copy"]
    undo_args = ["undo", "--db", str(db)]
    args = {"tag": tag_args, "organise": org_args, "organise-copy": copy_args,
            "undo": undo_args, "undo-copy": undo_args}[kind]
    return args, {"undo": tag_args, "undo-copy": copy_args}.get(kind)


def check_library(files: list[Path], original: dict[str, bytes], digests: dict[str, str],
                  samples: dict[str, int], root: Path, into: Path, *, moved: bool) -> list[str]:
    """No file lost, no audio changed, every original decodes fully (after a fault)."""
    from music_reclass.act.payload import audio_digest, decoded_sample_count

    failures = []
    byte_sets: dict[bytes, list[Path]] = {}
    for other in [*root.rglob("*"), *into.rglob("*")]:
        if other.is_file() and not other.name.startswith(".reclass-tmp-"):
            byte_sets.setdefault(other.read_bytes(), []).append(other)
    for path in files:
        key = str(path)
        if moved:
            if original[key] not in byte_sets:
                failures.append(f"{path}: lost (no byte-complete copy anywhere)")
            continue
        if not path.exists():
            failures.append(f"{path}: missing")
            continue
        if audio_digest(path) != digests[key]:
            failures.append(f"{path}: audio digest changed")
        elif decoded_sample_count(path) != samples[key]:
            failures.append(f"{path}: no longer decodes fully")
    return failures


def check_journal_covers(files: list[Path], original: dict[str, bytes], into: Path,
                         db: Path, *, settled: bool = True) -> list[str]:
    """No change outside the journal: every changed or moved original, and every file in
    the organise folder, is named by a done (or undone) journal row; right after a fault
    (``settled`` False) a planned row, written ahead of the change, counts too."""
    states = ("done", "undone") if settled else ("done", "undone", "planned")
    named = journalled_paths(db, states)
    failures = [f"{path}: changed but not journalled" for path in files
                if (not path.exists() or path.read_bytes() != original[str(path)])
                and str(path) not in named]
    placed = [p for p in into.rglob("*") if p.is_file()] if into.exists() else []
    failures += [f"{path}: placed but not journalled" for path in placed
                 if str(path) not in named]
    return failures


def undo_everything(db: Path, files: list[Path], original: dict[str, bytes],
                    into: Path) -> list[str]:
    """Undo every run, newest first; every original must be back byte for byte."""
    failures = []
    for _ in range(8):
        rc, out = _finish(["undo", "--db", str(db)])
        if rc != 0:
            failures.append(f"undo exited {rc}: {out[-800:]}")
            break
        if "nothing to undo" in out:
            break
    if snapshot(files) != original:
        changed = [p for p in files if not p.exists() or p.read_bytes() != original[str(p)]]
        failures.append(f"not restored byte for byte: {changed}")
    leftovers = [p for p in into.rglob("*") if p.is_file()] if into.exists() else []
    if leftovers:
        failures.append(f"files left in the organise folder: {leftovers}")
    return failures


def kill_trial(workdir: Path, kind: str, *, seed: int, count: int = 10) -> dict:
    """One fault-injection trial: run ``reclass <kind>`` and SIGKILL it mid-run.

    ``kind`` is ``tag``, ``organise``, ``organise-copy`` (``organise --copy``),
    ``undo`` (a tag run is made first, then the undo is killed) or ``undo-copy``
    (an ``organise --copy`` run is made first, then its undo is killed). The kill
    lands at a random step of the run (a fault point, see music_reclass.faults), or a
    random few milliseconds after it while the work goes on. Then checks: the run is
    still marked running (the kill landed mid-run); DB integrity; no audio digest
    changed; every original file at its old or new path, byte-complete (organise) or
    decoding with its audio intact (tag); the next run completes; temp files are
    cleaned; no change outside the journal; undoing every run restores every original
    byte for byte at its original path.

    Returns
    -------
    dict
        ``killed`` (bool: the kill landed mid-run), ``step`` and ``failures`` (list of
        str; empty when every invariant held).
    """
    import random

    from music_reclass.act.payload import audio_digest, decoded_sample_count

    rng = random.Random(seed)
    files, root, into, db = make_kill_library(workdir, count=count)
    original = snapshot(files)
    digests = {str(p): audio_digest(p) for p in files}
    samples = {str(p): decoded_sample_count(p) for p in files}
    args, setup = command_args(kind, root, into, db)
    failures: list[str] = []
    if setup is not None:
        rc, out = _finish(setup)
        if rc != 0:
            failures.append(f"setup {setup[0]} run failed: {out[-500:]}")
    step = rng.randint(1, STEPS_PER_FILE[kind] * count - 1)
    after = rng.choice([0.0, rng.uniform(0.0, 0.03)])
    rc, out = kill_at_step(args, step=step, after=after)
    status = last_run_status(db, RUN_KIND[kind])
    killed = rc == -9 and status == "running"
    if not killed:
        failures.append(f"the kill at step {step} did not land mid-run (exit {rc}, run "
                        f"{status}): {out[-300:]}")

    # --- invariants right after the kill
    if (integrity := _integrity(db)) != "ok":
        failures.append(f"integrity_check after kill: {integrity}")
    failures += check_library(files, original, digests, samples, root, into,
                              moved=kind == "organise")

    # --- the next run completes, settles and cleans up
    rc, out = _finish(args)
    if rc != 0:
        failures.append(f"next {kind} run exited {rc}: {out[-800:]}")
    if temps := _temp_files(root, into):
        failures.append(f"stale temp files left: {temps}")
    failures += check_journal_covers(files, original, into, db)
    failures += undo_everything(db, files, original, into)
    if (integrity := _integrity(db)) != "ok":
        failures.append(f"integrity_check at the end: {integrity}")
    return {"killed": killed, "step": step, "failures": failures}


# ----------------------------------------------------------------------------- odd WAV/AIFF layouts

ODD_IFF_LAYOUTS = (
    "wav-trailing-nul-chunk",  # 8 zero bytes after data, inside the RIFF size (real-world)
    "wav-trailing-zeros-odd",  # 5 zero bytes after data
    "wav-trailing-junk",  # non-zero junk after data
    "wav-junk-outside-riff",  # junk after data, RIFF size excludes it
    "wav-odd-chunk-padded",  # odd-size LIST before data, with its pad byte
    "wav-odd-data-no-pad-at-end",  # 8-bit audio, odd data size, file ends without pad byte
    "wav-odd-chunk-no-pad-before-data",  # odd LIST without pad byte: data is misaligned
    "wav-odd-data-no-pad-then-list",  # odd data without pad byte, then a LIST chunk
    "wav-riff-size-larger",  # RIFF size claims 1000 bytes more than the file has
    "wav-riff-size-smaller",  # RIFF size ends after data; a LIST chunk lies outside it
    "wav-riff-size-inside-data",  # RIFF size ends inside the data chunk
    "wav-list-info",  # a LIST/INFO chunk after data
    "wav-id3-lowercase",  # an existing 'id3 ' chunk (genre Rock)
    "wav-id3-uppercase-and-nul",  # an existing 'ID3 ' chunk (genre Rock), then a NUL chunk
    "wav-truncated-data",  # data chunk claims more bytes than the file has
    "wav-id3-behind-junk",  # an 'id3 ' chunk after a NUL chunk: mutagen cannot reach it
    "aiff-trailing-junk",  # zero bytes and junk after SSND
    "aiff-odd-chunk-no-pad-before-ssnd",  # odd NAME chunk without pad byte before SSND
)


def iff_chunk(chunk_id: bytes, body: bytes, *, pad: bool = True, big_endian: bool = False) -> bytes:
    """One RIFF (little-endian) or AIFF (big-endian) chunk, with its pad byte if ``pad``."""
    size = len(body).to_bytes(4, "big" if big_endian else "little")
    return chunk_id + size + body + (b"\0" if pad and len(body) & 1 else b"")


def _id3_chunk_body(genre: str) -> bytes:
    """The bytes of an ID3v2.4 tag holding one genre (as mutagen writes them)."""
    import io

    buf = io.BytesIO()
    tags = ID3()
    tags.add(TCON(encoding=3, text=[genre]))
    tags.save(buf, v2_version=4, padding=lambda info: 0)
    return buf.getvalue()


def _pcm(samples: int, *, bits: int, seed: int = 0) -> bytes:
    sig = _signal(samples / 8000, 8000, seed)[:samples]
    if bits == 8:
        return ((sig * 100) + 128).astype(np.uint8).tobytes()
    return (sig * 20000).astype("<i2").tobytes()


def make_odd_iff(path: str | os.PathLike, layout: str) -> Path:
    """Write a small WAV or AIFF file with one of the :data:`ODD_IFF_LAYOUTS`."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if layout.startswith("aiff-"):
        return _make_odd_aiff(path, layout)

    def fmt_chunk(bits: int) -> bytes:
        block = bits // 8
        return iff_chunk(b"fmt ", struct.pack("<HHIIHH", 1, 1, 8000, 8000 * block, block, bits))

    info = b"INFO" + iff_chunk(b"INAM", b"Title\0") + iff_chunk(b"IART", b"Band\0")
    list_chunk = iff_chunk(b"LIST", info)
    odd_list = b"INFO" + iff_chunk(b"INAM", b"Name\0", pad=False)  # 17 bytes
    data = iff_chunk(b"data", _pcm(4000, bits=16))
    odd_data = _pcm(4001, bits=8)
    fmt16 = fmt_chunk(16)
    chunks, trailer, riff_delta = fmt16 + data, b"", 0
    if layout == "wav-trailing-nul-chunk":
        trailer = b"\0" * 8
    elif layout == "wav-trailing-zeros-odd":
        trailer = b"\0" * 5
    elif layout == "wav-trailing-junk":
        trailer = b"\xde\xad\xbe\xef junk \x01"
    elif layout == "wav-junk-outside-riff":
        trailer = b"\x07junk\xff\xfe"
        riff_delta = -len(trailer)
    elif layout == "wav-odd-chunk-padded":
        chunks = fmt16 + iff_chunk(b"LIST", odd_list) + data
    elif layout == "wav-odd-data-no-pad-at-end":
        chunks = fmt_chunk(8) + iff_chunk(b"data", odd_data, pad=False)
    elif layout == "wav-odd-chunk-no-pad-before-data":
        chunks = fmt16 + iff_chunk(b"LIST", odd_list, pad=False) + data
    elif layout == "wav-odd-data-no-pad-then-list":
        chunks = fmt_chunk(8) + iff_chunk(b"data", odd_data, pad=False) + list_chunk
    elif layout == "wav-riff-size-larger":
        riff_delta = 1000
    elif layout == "wav-riff-size-smaller":
        trailer = list_chunk
        riff_delta = -len(list_chunk)
    elif layout == "wav-riff-size-inside-data":
        riff_delta = -4000
    elif layout == "wav-list-info":
        chunks = fmt16 + data + list_chunk
    elif layout == "wav-id3-lowercase":
        chunks = fmt16 + data + iff_chunk(b"id3 ", _id3_chunk_body("Rock"))
    elif layout == "wav-id3-uppercase-and-nul":
        chunks = fmt16 + data + iff_chunk(b"ID3 ", _id3_chunk_body("Rock"))
        trailer = b"\0" * 8
    elif layout == "wav-truncated-data":
        chunks = fmt16 + data[:-3000]
    elif layout == "wav-id3-behind-junk":
        trailer = b"\0" * 8 + iff_chunk(b"id3 ", _id3_chunk_body("Rock"))
    else:
        raise ValueError(layout)
    riff = 4 + len(chunks) + len(trailer) + riff_delta
    path.write_bytes(b"RIFF" + struct.pack("<I", riff) + b"WAVE" + chunks + trailer)
    return path


def _make_odd_aiff(path: Path, layout: str) -> Path:
    make_audio(path, seconds=0.3)
    raw = path.read_bytes()
    chunks = _split_chunks(raw)
    trailer = b""
    if layout == "aiff-trailing-junk":
        trailer = b"\0" * 8 + b"junk\x01"
    elif layout == "aiff-odd-chunk-no-pad-before-ssnd":
        name = iff_chunk(b"NAME", b"odd", pad=False, big_endian=True)
        chunks = [c for c in chunks if c[:4] != b"SSND"] + [name]
        chunks += [c for c in _split_chunks(raw) if c[:4] == b"SSND"]
    else:
        raise ValueError(layout)
    body = raw[8:12] + b"".join(chunks) + trailer
    path.write_bytes(b"FORM" + len(body).to_bytes(4, "big") + body)
    return path


def _split_chunks(raw: bytes) -> list[bytes]:
    """The chunks of a well-formed AIFF file, pad bytes included."""
    chunks, offset = [], 12
    while offset + 8 <= len(raw):
        size = int.from_bytes(raw[offset + 4 : offset + 8], "big")
        chunks.append(raw[offset : offset + 8 + size + (size & 1)])
        offset += 8 + size + (size & 1)
    return chunks
