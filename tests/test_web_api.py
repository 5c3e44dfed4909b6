"""The REST API of ``reclass serve`` through an in-process client: listings and their
filters, one file, audio ranges, the review queue, corrections, jobs over SSE, runs."""

from __future__ import annotations

import json
import time

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("httpx")

from fastapi.testclient import TestClient  # noqa: E402

from music_reclass.audio.tags import read_tags  # noqa: E402
from music_reclass.web import create_app  # noqa: E402
from test_scan import FAKE_DELAY_ENV  # noqa: E402
from web_fixtures import build_library  # noqa: E402


@pytest.fixture
def setup(tmp_path):
    library, music = build_library(tmp_path)
    client = TestClient(create_app(library, classify_jobs=0))
    yield client, library, music
    client.close()
    library.close()


def _ids(page):
    return {item["path"].split("/music/")[1] for item in page["items"]}


def _wait(client, job, timeout=60.0):
    deadline = time.monotonic() + timeout
    while True:
        snap = client.get(f"/api/jobs/{job['id']}").json()
        if snap["state"] in ("done", "failed", "cancelled"):
            return snap
        assert time.monotonic() < deadline, snap
        time.sleep(0.05)


def test_files_page_sorted_and_paged(setup):
    client, _, _ = setup
    page = client.get("/api/files", params={"limit": 3, "sort": "confidence",
                                            "order": "desc"}).json()
    assert page["total"] == 7 and len(page["items"]) == 3
    confidences = [i["top_confidence"] for i in page["items"]]
    assert confidences == sorted(confidences, reverse=True) and confidences[0] == 0.89
    rest = client.get("/api/files", params={"limit": 3, "offset": 6, "sort": "confidence",
                                            "order": "desc"}).json()
    assert len(rest["items"]) == 1 and rest["items"][0]["status"] == "error"


@pytest.mark.parametrize(("params", "expected"), [
    ({"genre": "JAZZ"}, {"jazz/sure.wav", "jazz/unsure.wav"}),
    ({"status": "review"}, {"jazz/unsure.wav", "rock/unsure.wav", "classical/unsure.wav"}),
    ({"status": "error"}, {"rock/broken.mp3"}),
    ({"decided": "true"}, {"jazz/sure.wav", "rock/sure.wav", "classical/sure.wav"}),
    ({"decided": "false", "genre": "rock"}, {"rock/unsure.wav"}),
    ({"min_confidence": 0.5, "max_confidence": 0.75}, {"classical/sure.wav",
                                                       "classical/unsure.wav"}),
    ({"disagree": "true"}, {"jazz/unsure.wav", "rock/sure.wav"}),
    ({"search": "quartet"}, {"jazz/sure.wav", "jazz/unsure.wav"}),
    ({"search": "adagio"}, {"classical/sure.wav"}),
    ({"search": "rock/"}, {"rock/sure.wav", "rock/unsure.wav", "rock/broken.mp3"}),
    ({"search": "%"}, set()),  # a literal percent sign, not a wildcard
])
def test_files_filters(setup, params, expected):
    client, _, _ = setup
    page = client.get("/api/files", params=params).json()
    assert _ids(page) == expected and page["total"] == len(expected)


def test_one_file_has_genres_the_why_and_history(setup):
    client, library, music = setup
    (item,) = client.get("/api/files", params={"search": "Blue Hour"}).json()["items"]
    client.post("/api/corrections", json={"file_ids": [item["id"]], "genres": ["Bebop"]})
    detail = client.get(f"/api/files/{item['id']}").json()
    assert detail["genres"][0] == {"label": "jazz", "confidence": 0.89}
    assert detail["tags"][0]["label"] == "jazz feel"  # the "why"
    assert detail["genre_tags"] == ["Jazz"] and detail["track"]["title"] == "Blue Hour"
    assert detail["correction"] == ["Bebop"]
    assert detail["corrections"][0]["labels"] == ["Bebop"]
    assert detail["corrections"][0]["replaced"]["genres"][0]["label"] == "jazz"
    assert client.get("/api/files/999").status_code == 404


def test_audio_streams_ranges_by_id(setup):
    client, _, music = setup
    (item,) = client.get("/api/files", params={"search": "Adagio"}).json()["items"]
    raw = (music / "classical" / "sure.wav").read_bytes()
    whole = client.get(f"/api/files/{item['id']}/audio")
    assert whole.status_code == 200 and whole.content == raw
    assert whole.headers["content-type"] == "audio/wav"
    assert whole.headers["accept-ranges"] == "bytes"
    part = client.get(f"/api/files/{item['id']}/audio", headers={"Range": "bytes=100-199"})
    assert part.status_code == 206 and part.content == raw[100:200]
    assert part.headers["content-range"] == f"bytes 100-199/{len(raw)}"
    tail = client.get(f"/api/files/{item['id']}/audio", headers={"Range": "bytes=-10"})
    assert tail.status_code == 206 and tail.content == raw[-10:]
    beyond = client.get(f"/api/files/{item['id']}/audio",
                        headers={"Range": f"bytes={len(raw) + 5}-"})
    assert beyond.status_code == 416
    broken = client.get("/api/files", params={"status": "error"}).json()["items"][0]
    assert client.get(f"/api/files/{broken['id']}/audio").status_code == 404


def test_review_queue_accept_correct_and_bulk(setup):
    client, library, _ = setup
    queue = client.get("/api/review").json()
    assert [i["top_confidence"] for i in queue["items"]] == [0.41, 0.47, 0.53]
    assert all(i["abstain_reason"] == "low confidence" for i in queue["items"])
    first, second, third = queue["items"]
    report = client.post("/api/accept", json={"file_ids": [first["id"]]}).json()
    assert report["corrected"][0]["genres"] == ["rock"] and report["run_id"]
    report = client.post("/api/corrections", json={"file_ids": [second["id"]],
                                                   "genres": [" Hard  Bop ", "jazz"]}).json()
    assert report["corrected"][0]["genres"] == ["Hard Bop", "jazz"]
    labels = {c.path.split("/music/")[1]: c.labels for c in library.corrections()}
    assert labels == {"rock/unsure.wav": ["rock"], "jazz/unsure.wav": ["Hard Bop", "jazz"]}
    assert [i["id"] for i in client.get("/api/review").json()["items"]] == [third["id"]]
    nothing = client.post("/api/accept", json={"min_confidence": 0.6})
    assert nothing.status_code == 400 and "no track" in nothing.json()["detail"]
    bulk = client.post("/api/accept", json={"min_confidence": 0.5}).json()
    assert [c["genres"] for c in bulk["corrected"]] == [["classical"]]
    assert client.get("/api/review").json()["total"] == 0
    assert client.post("/api/accept", json={}).status_code == 400
    assert client.post("/api/corrections", json={"file_ids": [1], "genres": []}
                       ).status_code == 422
    refused = client.post("/api/corrections", json={"file_ids": [424242], "genres": ["x"]})
    assert refused.status_code == 200 and refused.json()["refused"]


def test_bulk_correction_is_one_run_and_undo_withdraws_it(setup):
    client, library, _ = setup
    ids = [i["id"] for i in client.get("/api/files", params={"status": "ok"}).json()["items"]]
    report = client.post("/api/corrections", json={"file_ids": ids, "genres": ["Ska"]}).json()
    assert len(report["corrected"]) == 6
    journal = client.get(f"/api/runs/{report['run_id']}/journal").json()
    assert journal["run"]["kind"] == "correct" and journal["total"] == 6
    job = client.post("/api/jobs/undo", json={"run_id": report["run_id"]})
    assert job.status_code == 202
    assert _wait(client, job.json())["state"] == "done"
    assert library.corrections() == []


def test_tag_preview_apply_and_undo(setup):
    client, library, music = setup
    target = music / "rock" / "sure.wav"
    before = target.read_bytes()
    preview = _wait(client, client.post("/api/jobs/tag", json={"dry_run": True}).json())
    assert preview["state"] == "done", preview
    result = preview["result"]
    changes = {c["path"].split("/music/")[1]: c for c in result["changes"]["items"]}
    assert changes["rock/sure.wav"]["before"] == ["Hip-Hop"]
    assert changes["rock/sure.wav"]["after"] == ["Rock"]
    assert {o["code"] for o in result["skipped"]["items"]} == {"abstained"}
    assert target.read_bytes() == before and result["run_id"] is None
    applied = _wait(client, client.post("/api/jobs/tag", json={"dry_run": False}).json())
    assert applied["state"] == "done" and applied["result"]["run_id"]
    assert read_tags(target).genres == ["Rock"]
    assert applied["done"] == applied["total"] == 6  # progress: every analysed file
    runs = client.get("/api/runs", params={"kind": "tag"}).json()
    assert runs[0]["id"] == applied["result"]["run_id"]
    journal = client.get(f"/api/runs/{runs[0]['id']}/journal").json()
    assert journal["total"] == len(changes)
    undone = _wait(client, client.post("/api/jobs/undo", json={}).json())
    assert undone["result"]["run_id"] == applied["result"]["run_id"], undone
    assert target.read_bytes() == before


def test_job_events_stream_progress_then_end(setup):
    client, _, _ = setup
    job = client.post("/api/jobs/classify", json={"force": True}).json()
    with client.stream("GET", f"/api/jobs/{job['id']}/events") as stream:
        text = "".join(stream.iter_text())
    events = [block for block in text.split("\n\n") if block.startswith("event:")]
    kinds = [block.split("\n")[0] for block in events]
    assert kinds[-1] == "event: end" and "event: progress" in kinds
    last = json.loads(events[-1].split("data: ", 1)[1])
    assert last["state"] == "done" and last["done"] == last["total"] > 0
    assert last["result"]["summary"]["failed"] == 1  # the broken file


def test_one_job_at_a_time_and_cancel(setup, monkeypatch):
    client, library, _ = setup
    monkeypatch.setenv(FAKE_DELAY_ENV, "0.3")  # each file takes a while
    first = client.post("/api/jobs/classify", json={"force": True})
    assert first.status_code == 202
    second = client.post("/api/jobs/tag", json={})
    assert second.status_code == 409 and f"job {first.json()['id']}" in second.json()["detail"]
    cancelled = client.post(f"/api/jobs/{first.json()['id']}/cancel").json()
    assert cancelled["cancel_requested"]
    final = _wait(client, first.json())
    assert final["state"] == "cancelled"
    assert client.post("/api/jobs/999/cancel").status_code == 404


def test_organise_preview_stays_inside_the_library(setup):
    client, _, music = setup
    job = client.post("/api/jobs/organise", json={"into": "Sorted", "copy": True})
    assert job.status_code == 202
    result = _wait(client, job.json())["result"]
    assert result["placed"]["count"] == 6 and not (music / "Sorted").exists()
    assert all(p["to"].startswith(str(music.resolve() / "Sorted")) for p in
               result["placed"]["items"])
    outside = client.post("/api/jobs/organise", json={"into": "../../elsewhere"})
    assert outside.status_code == 400 and "not inside" in outside.json()["detail"]
    elsewhere = client.post("/api/jobs/tag", json={"paths": ["/etc"]})
    assert elsewhere.status_code == 400 and "not under a folder" in elsewhere.json()["detail"]


class _Learning:
    """A library whose learn job records its calls (until the real one lands)."""

    calls: list = []

    def learn(self, *, min_tracks: int = 5, on_progress=None, cancel=None):  # noqa: ANN001
        for done in range(3):
            on_progress(done + 1, 3)
        self.calls.append(min_tracks)
        return {"genres": 2, "min_tracks": min_tracks}


def test_learn_job_only_when_the_library_can_learn(tmp_path):
    from music_reclass.library import Library

    library, _ = build_library(tmp_path)
    if not hasattr(Library, "learn"):
        plain = TestClient(create_app(library, classify_jobs=0))
        assert plain.post("/api/jobs/learn", json={}).status_code in (404, 405)
        assert "/api/jobs/learn" not in plain.get("/openapi.json").json()["paths"]
    learning = type("LearningLibrary", (_Learning, Library), {})(library.path)
    client = TestClient(create_app(learning, classify_jobs=0))
    job = client.post("/api/jobs/learn", json={"options": {"min_tracks": 3}})
    assert job.status_code == 202
    final = _wait(client, job.json())
    assert final["state"] == "done" and final["result"]["outcome"]["min_tracks"] == 3
    assert final["done"] == final["total"] == 3
    bad = client.post("/api/jobs/learn", json={"options": {"nope": 1}})
    assert bad.status_code == 400 and "nope" in bad.json()["detail"]
    # where the model goes, or which config is read, names server paths: never remote
    for option in ({"out": str(tmp_path / "victim.txt")}, {"config": "/etc/passwd"},
                   {"on_progress": 1}):
        refused = client.post("/api/jobs/learn", json={"options": option})
        assert refused.status_code == 400, option
    assert not (tmp_path / "victim.txt").exists()
    real = TestClient(create_app(library, classify_jobs=0))  # Library.learn takes out=, config=
    for option in ({"out": str(tmp_path / "victim.txt")}, {"config": "/etc/passwd"}):
        refused = real.post("/api/jobs/learn", json={"options": option})
        assert refused.status_code == 400 and "unknown learn option" in refused.json()["detail"]


def test_models_stats_charts(setup):
    client, _, _ = setup
    (model,) = client.get("/api/models").json()
    assert model["active"] and model["model_id"] == "fake-genres/1"
    charts = client.get("/api/charts").json()
    assert {g["genre"]: g["files"] for g in charts["genres"]} == {
        "jazz": 2, "rock": 2, "classical": 2}
    assert sum(b["decided"] for b in charts["confidence"]) == 3
    assert sum(b["abstained"] for b in charts["confidence"]) == 3
    assert {g["genre"]: g["files"] for g in charts["tags_before"]} == {
        "Jazz": 1, "Rock": 1, "Hip-Hop": 1, "classical": 1}
    assert {g["genre"]: g["files"] for g in charts["decided_after"]} == {
        "jazz": 1, "rock": 1, "classical": 1}
    assert client.post("/api/models/active", json={"model": "nope"}).status_code == 400
    assert client.post("/api/models/active", json={"model": model["name"]}).json() == {
        "active": model["name"]}


def test_pages_render(setup):
    client, _, _ = setup
    first = client.get("/api/files").json()["items"][0]["id"]
    for path in ("/", "/review", "/tag", "/runs", "/charts", "/docs", f"/track/{first}",
                 "/runs/1"):
        page = client.get(path)
        assert page.status_code == 200 and page.text.startswith("<!doctype html>"), path
        assert "<script>alert" not in page.text  # titles are escaped
    assert client.get("/openapi.json").json()["info"]["title"] == "Music ReClass"
