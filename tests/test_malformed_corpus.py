"""Every malformed or edge input gives its expected outcome, never a crash or a hang."""

from __future__ import annotations

import collections

import pytest

from malformed_corpus import CorpusItem, Outcome, build_corpus, run_corpus
from music_reclass.errors import AudioError


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory
           ) -> tuple[list[CorpusItem], dict]:
    root = tmp_path_factory.mktemp("malformed") / "corpus"
    items = build_corpus(root)
    # any exception other than AudioError escapes run_corpus and fails every test here
    outcomes = run_corpus(root, items)
    return items, outcomes


def test_corpus_is_large_and_varied(corpus):
    items, _ = corpus
    counts = collections.Counter(item.expected for item in items)
    assert len(items) >= 200
    assert counts["ok"] >= 50 and counts["error"] >= 50 and counts["ignored"] >= 20
    assert len({item.path for item in items}) == len(items)


def test_every_expectation_holds(corpus):
    items, outcomes = corpus
    failures = []
    for item in items:
        outcome: Outcome = outcomes[item.path]
        if outcome.kind != item.expected or item.reason_substring not in outcome.message:
            failures.append(f"{item.label}: expected {item.expected} "
                            f"{item.reason_substring!r}, got {outcome.kind} {outcome.message!r}")
    assert not failures, "\n".join(failures)


def test_errors_are_one_line_audio_errors_with_a_code(corpus):
    items, outcomes = corpus
    for item in items:
        outcome = outcomes[item.path]
        if outcome.kind == "error":
            assert outcome.message, item.label
            assert "\n" not in outcome.message and "\r" not in outcome.message, item.label
            assert len(outcome.message) <= 200, item.label
        if outcome.error is not None:
            assert isinstance(outcome.error, AudioError)
            assert type(outcome.error).code != AudioError.code, item.label


def test_error_messages_do_not_leak_file_names(corpus):
    # names may hold newlines; the message is printed next to the path anyway
    items, outcomes = corpus
    for item in items:
        outcome = outcomes[item.path]
        if outcome.kind == "error":
            assert item.path.name not in outcome.message or len(item.path.name) < 4, item.label


def test_build_refuses_a_non_empty_folder(tmp_path):
    (tmp_path / "something").write_text("x")
    with pytest.raises(ValueError):
        build_corpus(tmp_path)


@pytest.mark.slow
def test_random_mutations_never_crash(tmp_path):
    """Seeded fuzzing: byte flips, overwritten runs and cut-outs in every format."""
    import numpy as np

    from audio_fixtures import FORMATS, write_clip
    from music_reclass.audio.discover import iter_candidates
    from music_reclass.audio.excerpt import load_excerpt
    from music_reclass.models.musicnn import MUSICNN_INPUT

    rng = np.random.default_rng(42)
    bases = {}
    for fmt, spec in FORMATS.items():
        rate = 22050 if not spec.rates or 22050 in spec.rates else 48000
        bases[fmt] = write_clip(tmp_path / f"base_{fmt}{spec.extension}", fmt, kind="chord",
                                seconds=4.0, sr=rate, channels=2).read_bytes()
    codes = collections.Counter()
    for index in range(600):
        fmt = list(FORMATS)[index % len(FORMATS)]
        data = bytearray(bases[fmt])
        mode = index % 3
        if mode == 0:
            for _ in range(int(rng.integers(1, 20))):
                data[int(rng.integers(0, len(data)))] = int(rng.integers(0, 256))
        elif mode == 1:
            at = int(rng.integers(0, min(len(data), 2000)))
            data[at: at + 32] = rng.integers(0, 256, 32, dtype=np.uint8).tobytes()
        else:
            at = int(rng.integers(0, len(data)))
            del data[at: at + int(rng.integers(1, 5000))]
        path = tmp_path / f"mutant_{index}{FORMATS[fmt].extension}"
        path.write_bytes(bytes(data))
        list(iter_candidates(path))
        try:
            load_excerpt(path, MUSICNN_INPUT)
            codes["ok"] += 1
        except AudioError as exc:
            assert "\n" not in str(exc) and str(exc)
            codes[exc.code] += 1
    assert codes["ok"] > 0
