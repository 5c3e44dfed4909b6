"""The malformed/edge corpus through the real ``reclass classify``: no crash, every file a reason.

``tests/malformed_corpus.py`` builds ~390 inputs (truncated, corrupted and mislabelled
audio of every format, text and images named .mp3, empty files, one sample, silence,
NaN/inf floats, 8 channels, 192 kHz, a 3-hour sparse WAV, unicode, non-UTF-8 and very
long names, no read permission, broken symlinks, symlink loops, fifos, companions).
One real ``reclass classify CORPUS --json`` run (the default model, in a subprocess,
as a user runs it) must exit 1 without a traceback and report every file exactly once
with the expected status and, for failures, a one-line reason and an error code; a
second run must give the same outcomes from the database.

How the report names the files (what the checks below rely on):

- paths are absolute, and compared byte for byte: no NFC/NFD normalisation, since
  the reported path must open the file (names with newlines, surrogates from
  non-UTF-8 bytes and so on come back unchanged through JSON);
- a file found as audio is reported under its *resolved* path: a symlink to a good
  file is reported as its target. When the target is under the walked folder too,
  the target's path is reported twice: once with its outcome and once as
  ``skipped`` with ``duplicate_of`` = that same path (the same file met twice);
- what discovery rejects (broken links, symlink loops, fifos, unreadable folders) is
  reported under the link's own path, not resolved (there is nothing to resolve to);
- a file whose content was already analysed in the same run (the corpus holds many
  byte-identical copies under other names) is reported as ``skipped`` with
  ``duplicate_of`` and carries the first copy's outcome (``error_code`` set when it
  failed); the DB records it with that outcome.
"""

from __future__ import annotations

import collections
import json
import os
import sqlite3
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from malformed_corpus import CorpusItem, build_corpus, run_corpus
from music_reclass.store.db import path_from_db


@dataclass(frozen=True)
class Run:
    """One ``reclass classify --json`` run: exit status, JSON records, stderr."""

    returncode: int
    records: list[dict]
    stderr: str


@dataclass(frozen=True)
class CorpusRuns:
    root: Path
    items: list[CorpusItem]
    db: Path
    first: Run
    second: Run


def _classify(root: Path, db: Path, state: Path) -> Run:
    env = {**os.environ, "RECLASS_DATA_DIR": str(state / "data"),
           "RECLASS_CACHE_DIR": str(state / "cache")}
    env.pop("RECLASS_DB", None)
    done = subprocess.run(
        [sys.executable, "-m", "music_reclass.cli.main", "classify", str(root), "--db", str(db),
         "--json"],
        env=env, capture_output=True, timeout=900,
    )
    # undecodable name bytes come back as \udcxx escapes in JSON; keep them as surrogates
    stdout = done.stdout.decode("utf-8", "surrogateescape")
    records = [json.loads(line) for line in stdout.splitlines() if line.strip()]
    return Run(done.returncode, records, done.stderr.decode("utf-8", "replace"))


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> CorpusRuns:
    # resolved once, so that "absolute" and "resolved" only differ at the corpus's links
    base = tmp_path_factory.mktemp("classify_corpus").resolve()
    items = build_corpus(base / "corpus", short=True)
    db = base / "library.sqlite"
    first = _classify(base / "corpus", db, base)
    second = _classify(base / "corpus", db, base)
    return CorpusRuns(base / "corpus", items, db, first, second)


def reported_path(item: CorpusItem) -> str:
    """The path classify reports an item under (see the module docstring)."""
    if item.expected == "ok" and item.path.is_symlink():
        return os.path.realpath(item.path)
    return str(item.path)


def _by_path(records: list[dict]) -> dict[str, list[dict]]:
    grouped: dict[str, list[dict]] = collections.defaultdict(list)
    for record in records:
        grouped[record["path"]].append(record)
    return grouped


def effective_status(record: dict, same_path: list[dict]) -> str:
    """"ok" or "error": a skipped duplicate carries the outcome of what it duplicates."""
    if record["status"] in ("ok", "error"):
        return record["status"]
    assert record["status"] == "skipped", record
    if record.get("duplicate_of") == record["path"]:  # the same file met twice
        others = [r for r in same_path if r is not record and r.get("duplicate_of") != r["path"]]
        assert others, record
        return effective_status(others[0], same_path)
    return "error" if record["error_code"] else "ok"


def _outcomes(run: Run) -> dict[str, list[str]]:
    grouped = _by_path(run.records)
    return {path: sorted(effective_status(r, records) for r in records)
            for path, records in grouped.items()}


def _reported_items(items: list[CorpusItem]) -> dict[str, list[CorpusItem]]:
    expected: dict[str, list[CorpusItem]] = collections.defaultdict(list)
    for item in items:
        if item.expected != "ignored":
            expected[reported_path(item)].append(item)
    return expected


def test_short_corpus_keeps_every_expectation_in_the_audio_layer(runs: CorpusRuns):
    # the reference run (discovery + load_excerpt, no model): a failure here is the
    # corpus's or the audio layer's, one only in the tests below is classify's own
    outcomes = run_corpus(runs.root, runs.items)
    wrong = [f"{item.label}: expected {item.expected} {item.reason_substring!r}, "
             f"got {outcomes[item.path]}" for item in runs.items
             if outcomes[item.path].kind != item.expected
             or item.reason_substring not in outcomes[item.path].message]
    assert not wrong, "\n".join(wrong)


def test_classify_exits_1_without_a_crash(runs: CorpusRuns):
    for run in (runs.first, runs.second):
        assert "Traceback" not in run.stderr, run.stderr[-3000:]
        assert run.returncode == 1, run.stderr[-3000:]
    counts = collections.Counter(item.expected for item in runs.items)
    assert len(runs.items) >= 200 and counts["ok"] >= 50 and counts["error"] >= 50


def test_every_item_reported_once_with_its_expected_status(runs: CorpusRuns):
    grouped = _by_path(runs.first.records)
    failures = []
    for path, items in _reported_items(runs.items).items():
        records = grouped.get(path, [])
        if len(records) != len(items):
            failures.append(f"{[i.label for i in items]}: {len(records)} records for {path!r}")
            continue
        got = sorted(effective_status(r, records) for r in records)
        want = sorted(item.expected for item in items)
        if got != want:
            failures.append(f"{[i.label for i in items]}: expected {want}, got {got} "
                            f"({[r['error'] for r in records]})")
    assert not failures, "\n".join(failures)


def test_nothing_reported_that_is_not_an_item(runs: CorpusRuns):
    expected = _reported_items(runs.items)
    strays = [r["path"] for r in runs.first.records if r["path"] not in expected]
    assert not strays


def test_ignored_items_are_not_reported(runs: CorpusRuns):
    paths = [record["path"] for record in runs.first.records]
    for item in runs.items:
        if item.expected == "ignored":
            inside = str(item.path) + os.sep
            assert not [p for p in paths if p == str(item.path) or p.startswith(inside)], \
                item.label


def test_errors_carry_a_one_line_reason_and_a_code(runs: CorpusRuns):
    grouped = _by_path(runs.first.records)
    failures = []
    for path, items in _reported_items(runs.items).items():
        for item, record in zip(items, grouped.get(path, []), strict=False):
            if effective_status(record, grouped[path]) != "error":
                continue
            if record.get("duplicate_of") == record["path"]:
                record = next(r for r in grouped[path] if r is not record)
            reason, code = record["error"], record["error_code"]
            if not reason or not code or "\n" in reason or "\r" in reason:
                failures.append(f"{item.label}: error {reason!r} code {code!r}")
            elif item.reason_substring not in reason:
                failures.append(f"{item.label}: {item.reason_substring!r} not in {reason!r}")
    assert not failures, "\n".join(failures)


def _files_table(db: Path) -> dict[str, tuple[str, str | None]]:
    conn = sqlite3.connect(db)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        rows = conn.execute("SELECT path, status, error_code FROM files").fetchall()
    finally:
        conn.close()
    # a name that is not UTF-8 is stored as its raw bytes (a BLOB): db.path_from_db
    return {path_from_db(path): (status, code) for path, status, code in rows}


def test_database_holds_every_reported_file_with_its_status(runs: CorpusRuns):
    table = _files_table(runs.db)
    outcomes = _outcomes(runs.first)
    failures = []
    for path, statuses in outcomes.items():
        if path not in table:
            failures.append(f"{path!r}: no files row")
            continue
        status, code = table[path]
        if status != statuses[0] or len(set(statuses)) != 1:
            failures.append(f"{path!r}: reported {statuses}, recorded {status}")
        if status == "error" and not code:
            failures.append(f"{path!r}: error recorded without a code")
    assert not failures, "\n".join(failures)


def test_second_run_gives_the_same_outcomes_from_the_database(runs: CorpusRuns):
    assert _outcomes(runs.second) == _outcomes(runs.first)
    analysed_again = [r["path"] for r in runs.second.records
                      if r["status"] == "ok" and not r["cached"]]
    assert not analysed_again
