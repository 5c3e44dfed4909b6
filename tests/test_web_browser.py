"""The web UI in a real headless browser (Debian's chromium driven by Playwright), against a
real uvicorn server on 127.0.0.1: library, filters, playing a track (206 responses),
the keyboard review queue, tag preview then apply, undo; screenshots of every page go to
a scratch folder, or to ``docs/screenshots/`` with ``RECLASS_SCREENSHOTS=docs/screenshots``.

Skips when chromium or Playwright is missing (``make test`` installs both).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest

pytest.importorskip("fastapi")
sync_api = pytest.importorskip("playwright.sync_api")

from music_reclass.audio.tags import read_tags  # noqa: E402
from music_reclass.web import create_app  # noqa: E402
from web_fixtures import ServerThread, build_library  # noqa: E402

CHROMIUM = os.environ.get("RECLASS_CHROMIUM", "/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--no-first-run"]
#: where the screenshots go: a scratch folder by default (a test run leaves the tree
#: clean); RECLASS_SCREENSHOTS=docs/screenshots refreshes the README's pictures
SHOTS = Path(os.environ.get("RECLASS_SCREENSHOTS")
             or Path(tempfile.gettempdir()) / "reclass-screenshots")

if not Path(CHROMIUM).exists():
    if os.environ.get("CI"):  # CI installs it (make browser): its absence is a failure there
        raise RuntimeError(f"CI has no chromium at {CHROMIUM}: `make browser` installs it")
    pytest.skip(f"no chromium at {CHROMIUM} (apt-get install chromium, or make browser)",
                allow_module_level=True)


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def site(tmp_path, browser):
    library, music = build_library(tmp_path)
    with ServerThread(create_app(library, classify_jobs=0)) as server:
        # the test's own probes (wait_for_function) are evaluated strings, which the
        # pages' Content-Security-Policy forbids; test_pages_under_csp runs without this
        context = browser.new_context(viewport={"width": 1280, "height": 860},
                                      bypass_csp=True)
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
        yield server.url, page, library, music, errors
        context.close()
    library.close()


def shot(page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def shown(page, fragment: str) -> None:
    """Wait until the library table shows a query holding ``fragment`` (and only it)."""
    page.wait_for_selector(f"#files[data-shown*='{fragment}']")


def rows(page) -> list[str]:
    return page.locator("#files tbody td.name a").all_inner_texts()


def test_library_filter_and_search(site):
    url, page, _, _, errors = site
    page.goto(url + "/")
    shown(page, "sort=path")
    assert len(rows(page)) == 7
    page.wait_for_selector("#count:has-text('7 file(s)')")  # the total follows the page
    shot(page, "library")
    page.select_option("select[name=genre]", "jazz")
    shown(page, "genre=jazz")
    assert sorted(rows(page)) == ["sure.wav", "unsure.wav"]
    page.select_option("select[name=genre]", "")
    page.check("input[name=disagree]")
    shown(page, "disagree=true")
    assert sorted(rows(page)) == ["sure.wav", "unsure.wav"]  # jazz/unsure, rock/sure
    page.uncheck("input[name=disagree]")
    page.fill("input[name=search]", "band of noise")
    shown(page, "search=band+of+noise")
    assert sorted(rows(page)) == ["sure.wav", "unsure.wav"]  # rock/sure, rock/unsure
    page.reload()  # the filters live in the URL: a reload keeps them
    shown(page, "search=band+of+noise")
    assert page.input_value("input[name=search]") == "band of noise"
    page.click("th[data-sort=confidence]")
    shown(page, "sort=confidence")
    shot(page, "library-filtered")
    assert errors == []


def test_track_page_plays_with_range_requests(site):
    url, page, library, _, errors = site
    (view,) = [v for v in library.files() if v.title == "Blue Hour"]
    statuses: list[int] = []
    page.on("response", lambda r: statuses.append(r.status) if "/audio" in r.url else None)
    page.goto(f"{url}/track/{view.id}")
    assert page.locator("h1").inner_text() == "Blue Hour"
    assert "jazz feel" in page.locator(".why").inner_text()  # the "why"
    page.evaluate("document.getElementById('player').play()")
    page.wait_for_function("document.getElementById('player').currentTime > 0.2",
                           timeout=15000)
    page.evaluate("document.getElementById('player').pause()")
    assert statuses and set(statuses) == {206}, statuses
    shot(page, "track")
    assert errors == []


def test_review_queue_by_keyboard(site):
    url, page, library, _, errors = site
    page.goto(url + "/review")
    page.wait_for_selector("#queue li")
    assert page.locator("#queue li").count() == 3
    assert page.locator("#r-title").inner_text() == "Maybe Rock"  # least confident first
    shot(page, "review")
    page.keyboard.press("a")  # accept "rock"
    page.wait_for_function("document.querySelectorAll('#queue li').length == 2")
    assert page.locator("#r-title").inner_text() == "Late Set"
    page.keyboard.press("s")  # skip to the next
    assert page.locator("#r-title").inner_text() == "<script>alert('x')</script>"
    page.keyboard.press("ArrowUp")  # and back
    assert page.locator("#r-title").inner_text() == "Late Set"
    page.keyboard.press("c")
    page.keyboard.type("Cool Jazz, bebop")
    page.keyboard.press("Enter")
    page.wait_for_function("document.querySelectorAll('#queue li').length == 1")
    labels = {c.path.rsplit("/music/", 1)[1]: c.labels for c in library.corrections()}
    assert labels == {"rock/unsure.wav": ["rock"], "jazz/unsure.wav": ["Cool Jazz", "bebop"]}
    page.fill("#bulk input[name=threshold]", "0.5")
    page.click("#bulk button")
    page.wait_for_selector("#empty:not([hidden])")
    assert "Accepted 1 track(s)" in page.locator("#bulk-result").inner_text()
    assert len(library.corrections()) == 3
    shot(page, "review-done")
    assert errors == []


def test_tag_preview_apply_then_undo(site):
    url, page, library, music, errors = site
    target = music / "rock" / "sure.wav"
    original = target.read_bytes()
    page.goto(url + "/tag")
    page.click("#preview-btn")
    page.wait_for_selector("#preview:not([hidden])")
    diff = page.locator("#diff tbody").inner_text()
    assert "Hip-Hop" in diff and "Rock" in diff
    assert target.read_bytes() == original  # a preview writes nothing
    shot(page, "tag-preview")
    page.click("#apply-btn")
    page.wait_for_selector("#apply-result .ok")
    assert read_tags(target).genres == ["Rock"]
    shot(page, "tag-applied")
    page.goto(url + "/runs")
    shot(page, "runs")
    page.click("#undo-latest")
    page.wait_for_function("document.getElementById('undo-result').textContent.includes('undone')")
    assert target.read_bytes() == original
    run = library.runs(kinds=("tag",))[0]
    page.goto(f"{url}/runs/{run.id}")
    assert "undone" in page.locator("table").inner_text()
    shot(page, "run")
    assert errors == []


def test_pages_under_csp(site, browser):
    """Every page works under its Content-Security-Policy (no inline script or style
    refused, no script error), and the charts and API docs pages render."""
    url, _, library, _, _ = site
    context = browser.new_context(viewport={"width": 1280, "height": 860})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    first = library.files()[0].id
    for name, path in (("charts", "/charts"), ("docs", "/docs"), (None, "/"),
                       (None, "/review"), (None, "/tag"), (None, "/runs"),
                       (None, f"/track/{first}")):
        page.goto(url + path)
        page.wait_for_load_state("networkidle")
        assert page.locator("h1").count() == 1, path
        if name:
            shot(page, name)
    page.goto(url + "/")
    page.wait_for_selector("#files tbody td.name a")
    assert errors == []
    context.close()


def test_readme_screenshot_of_the_demo(tmp_path, browser):
    """The README's picture: the demo clips classified by the real default model."""
    demo = Path(__file__).resolve().parents[1] / "demo"
    music = tmp_path / "demo"
    shutil.copytree(demo, music)
    from music_reclass.library import Library

    library = Library(tmp_path / "demo.sqlite")
    library.classify([music], jobs=0)
    with ServerThread(create_app(library, classify_jobs=0)) as server:
        context = browser.new_context(viewport={"width": 1280, "height": 720})
        page = context.new_page()
        page.goto(server.url + "/")
        page.wait_for_function("document.querySelectorAll('#files tbody td.name a').length == 5")
        page.screenshot(path=str(SHOTS / "demo-library.png"))
        first = library.files(sort="confidence", descending=True)[0]
        page.goto(f"{server.url}/track/{first.id}")
        assert page.locator("h1").inner_text() == (first.title or Path(first.path).name)
        assert page.locator(".bars li").count() >= 2
        page.screenshot(path=str(SHOTS / "demo-track.png"), full_page=True)
        context.close()
    library.close()


def test_login_once_with_a_token(tmp_path, browser):
    library, _ = build_library(tmp_path)
    token = "correct-horse-battery-staple"
    with ServerThread(create_app(library, token=token, classify_jobs=0)) as server:
        context = browser.new_context(viewport={"width": 1280, "height": 720})
        page = context.new_page()
        response = page.goto(server.url + "/review")
        assert response.status == 401 and page.locator("input[name=token]").count() == 1
        shot(page, "login")
        page.fill("input[name=token]", "wrong-token")
        page.click("button[type=submit]")
        assert "not the server's" in page.locator(".error").inner_text()
        page.fill("input[name=token]", token)
        page.click("button[type=submit]")
        page.wait_for_selector("#queue li")
        assert page.url.endswith("/review")
        assert token not in page.url and all(token not in c["value"]
                                             for c in context.cookies())
        context.close()
    library.close()
