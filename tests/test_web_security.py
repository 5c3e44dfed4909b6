"""Security of ``reclass serve``: path-traversal and injection payloads against every
parameter that names a file or reaches a query (no leak, no server error), the token,
the host and cross-site guards, no state-changing GET, and the CLI's refusal to serve a
network address without a token."""

from __future__ import annotations

import hashlib
import time
from pathlib import Path
from urllib.parse import quote

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("httpx")

from fastapi.testclient import TestClient  # noqa: E402
from typer.testing import CliRunner  # noqa: E402

from music_reclass.cli.main import app as cli_app  # noqa: E402
from music_reclass.web import create_app  # noqa: E402
from web_fixtures import build_library  # noqa: E402

SECRET = "TOP-SECRET-MARKER-8d1f"
LEAKS = (SECRET, "root:x:0:0", "[fonts]", "PRIVATE KEY", "/bin/bash")

TRAVERSAL = [
    "../../../../../../etc/passwd", "..%2f..%2f..%2f..%2fetc%2fpasswd",
    "%2e%2e%2f%2e%2e%2f%2e%2e%2fetc%2fpasswd", "....//....//....//etc/passwd",
    "..%252f..%252f..%252fetc%252fpasswd", "%c0%ae%c0%ae/%c0%ae%c0%ae/etc/passwd",
    "/etc/passwd", "//etc/passwd", "file:///etc/passwd", "/proc/self/environ",
    "/dev/zero", "/dev/urandom", "..\\..\\..\\windows\\win.ini", "C:\\Windows\\win.ini",
    "\\\\server\\share\\x", "~/.ssh/id_rsa", "$HOME/.bashrc", "../secret.txt",
    "../../secret.txt", "jazz/../../secret.txt", "./../secret.txt", "..", "/", ".",
    "a\x00b", "..%00/etc/passwd", "/etc/passwd\x00.wav", "{secret}", "{secret_rel}",
    "{music}/../secret.txt",
]
INJECTION = [
    "' OR '1'='1", "' OR 1=1 --", '" OR ""="', "1; DROP TABLE files; --",
    "'); DROP TABLE files; --", "1 UNION SELECT path FROM files --",
    "' UNION SELECT sql, 1, 1 FROM sqlite_master --", "%", "_", "%%", "\\", "\\%", "[a-z]*",
    "*/ /*", "<script>alert(1)</script>", '"><img src=x onerror=alert(1)>', "{{7*7}}",
    "${7*7}", "{% print 1 %}", "{0.__class__}", "$(id)", "`id`", "; ls -la", "| cat /etc/passwd",
    "\r\nSet-Cookie: evil=1", "%0d%0aSet-Cookie:evil=1", "A" * 5000, "😀" * 60, "-1", "0",
    "99999999999999999999999", "1e308", "NaN", "inf", "-0", "0x10", "true", "null", "[]", "{}",
    "json_each(", "lower(", ")", "'", '"', "--", "/*", "ORDER BY 1", "\t\n", " ",
]
PAYLOADS = TRAVERSAL + INJECTION
FILE_QUERY_PARAMS = ("genre", "search", "status", "sort", "order", "model", "min_confidence",
                     "max_confidence", "decided", "disagree", "corrected", "offset", "limit")


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    root = tmp_path_factory.mktemp("web-security")
    (root / "secret.txt").write_text(SECRET)
    library, music = build_library(root)
    client = TestClient(create_app(library, classify_jobs=0))
    yield client, library, music, root
    client.app.state.jobs.cancel_all()
    _settle(client)
    client.close()
    library.close()


def _expand(payload: str, music: Path, root: Path) -> str:
    return (payload.replace("{secret}", str(root / "secret.txt"))
            .replace("{secret_rel}", "../" * 12 + str(root / "secret.txt").lstrip("/"))
            .replace("{music}", str(music)))


def _settle(client) -> None:
    """Wait for a job a payload may have started (so the next one is not refused 409)."""
    deadline = time.monotonic() + 60
    while any(j["state"] not in ("done", "failed", "cancelled")
              for j in client.get("/api/jobs").json()):
        assert time.monotonic() < deadline
        time.sleep(0.05)


def _safe(response) -> None:
    assert response.status_code < 500, (response.request.url, response.text[:300])
    text = response.text
    for leak in LEAKS:
        assert leak not in text, (response.request.url, leak)


def _db_digest(library) -> str:
    conn = library.connection()
    return hashlib.sha256("\n".join(conn.iterdump()).encode()).hexdigest()


def test_payload_count():
    assert len(TRAVERSAL) >= 25 and len(PAYLOADS) >= 50


def test_query_parameters(world):
    client, library, music, root = world
    before = _db_digest(library)
    for name in FILE_QUERY_PARAMS:
        for payload in PAYLOADS:
            response = client.get("/api/files", params={name: _expand(payload, music, root)})
            _safe(response)
            if response.status_code == 200 and name == "search":
                for item in response.json()["items"]:  # only literal matches
                    hay = " ".join(str(item[k] or "") for k in ("path", "artist", "title",
                                                                  "album")).lower()
                    assert _expand(payload, music, root).lower() in hay
    for path in ("/api/review", "/api/corrections", "/api/runs", "/api/stats",
                 "/api/charts"):
        for name in ("offset", "limit", "min_confidence", "model", "kind"):
            for payload in PAYLOADS:
                _safe(client.get(path, params={name: _expand(payload, music, root)}))
    assert _db_digest(library) == before
    assert library.count_files() == 7


@pytest.mark.parametrize("template", [
    "/api/files/{}", "/api/files/{}/audio", "/api/runs/{}", "/api/runs/{}/journal",
    "/api/jobs/{}", "/api/jobs/{}/events", "/track/{}", "/runs/{}", "/static/{}", "/{}",
])
def test_path_parameters(world, template):
    client, _, music, root = world
    for payload in PAYLOADS:
        raw = _expand(payload, music, root)
        for encoded in (quote(raw, safe=""), quote(raw, safe="/")):
            response = client.get(template.format(encoded))
            _safe(response)
            if "audio" in template or template.startswith("/static"):
                assert response.status_code != 200 or not response.content.startswith(b"RIFF")


def test_body_parameters(world):
    client, library, music, root = world
    bodies = []
    for payload in PAYLOADS:
        value = _expand(payload, music, root)
        bodies += [
            ("/api/jobs/tag", {"paths": [value]}),
            ("/api/jobs/classify", {"paths": [value]}),
            ("/api/jobs/organise", {"into": value}),
            ("/api/jobs/organise", {"into": "Sorted", "paths": [value]}),
            ("/api/jobs/organise", {"into": "Sorted", "pattern": value}),
            ("/api/models/active", {"model": value}),
            ("/api/corrections", {"file_ids": [value], "genres": ["x"]}),
            ("/api/accept", {"file_ids": [value]}),
            ("/api/accept", {"min_confidence": value}),
            ("/api/jobs/undo", {"run_id": value}),
        ]
    for url, body in bodies:
        response = client.post(url, json=body)
        _safe(response)
        if response.status_code == 202:  # a harmless job (a dry run): every path stays inside
            _settle(client)
            job = client.get(f"/api/jobs/{response.json()['id']}").json()
            for placed in (job.get("result") or {}).get("placed", {}).get("items", []):
                assert placed["to"].startswith(str(music.resolve()) + "/")
    assert not (root / "Sorted").exists()
    assert library.count_files() == 7


def test_stored_payloads_are_escaped_in_pages(world):
    client, library, music, root = world
    (item,) = client.get("/api/files", params={"search": "Adagio"}).json()["items"]
    genres = ["<script>alert(1)</script>", '"><img src=x onerror=alert(1)>', "{{7*7}}"]
    assert client.post("/api/corrections", json={"file_ids": [item["id"]],
                                                 "genres": genres}).status_code == 200
    for page in (f"/track/{item['id']}", "/charts", "/runs"):
        text = client.get(page).text
        assert "<script>alert(1)" not in text and "<img src=x" not in text
        assert "49" not in text.split("{{7*7}}")[0][-5:]  # not evaluated as a template
    assert library.file_story(item["id"])["view"].correction == genres


def test_login_parameters(world):
    client, _, music, root = world
    for payload in PAYLOADS:
        value = _expand(payload, music, root)
        response = client.post("/login", data={"token": value, "next": value},
                               follow_redirects=False)
        _safe(response)
        location = response.headers.get("location", "/")
        assert location.startswith("/") and not location.startswith("//")


def _routes(app) -> list:
    """Every route of the app, those of the included routers too."""
    out = []
    for route in app.routes:
        inner = getattr(route, "original_router", None)
        out += list(inner.routes) if inner is not None else [route]
    return out


def test_no_get_changes_state(tmp_path):
    library, music = build_library(tmp_path)
    client = TestClient(create_app(library, classify_jobs=0))
    client.post("/api/corrections", json={"file_ids": [2], "genres": ["Ska"]})
    files = {p: p.read_bytes() for p in music.rglob("*") if p.is_file()}
    before = _db_digest(library)
    gets = [r for r in _routes(client.app) if "GET" in (getattr(r, "methods", None) or ())]
    assert len(gets) >= 20
    for route in gets:
        path = route.path.replace("{file_id}", "2").replace("{run_id}", "1")
        path = path.replace("{job_id}", "1").replace("{path:path}", "style.css")
        response = client.get(path)
        assert response.status_code < 500, path
    assert _db_digest(library) == before
    assert {p: p.read_bytes() for p in music.rglob("*") if p.is_file()} == files
    # and every state-changing route refuses GET
    methods: dict[str, set] = {}
    for route in _routes(client.app):
        methods.setdefault(route.path, set()).update(getattr(route, "methods", None) or ())
    posts = [path for path, verbs in methods.items() if "POST" in verbs and "GET" not in verbs]
    assert len(posts) >= 8
    for path in posts:
        concrete = path.replace("{job_id}", "1")
        # 405, or 422 where the path also reads as GET /api/jobs/{job_id}: never done
        assert client.get(concrete).status_code in (405, 422), path
    assert _db_digest(library) == before
    library.close()


TOKEN = "correct-horse-battery-staple"


@pytest.fixture
def guarded(tmp_path):
    library, _ = build_library(tmp_path)
    client = TestClient(create_app(library, token=TOKEN, classify_jobs=0))
    yield client
    library.close()


def test_token_required_everywhere(guarded):
    client = guarded
    routes = ["/api/files", "/api/files/2", "/api/files/2/audio", "/api/review", "/api/runs",
              "/api/jobs", "/api/charts", "/api/models", "/openapi.json", "/docs", "/",
              "/review", "/track/2", "/charts"]
    for path in routes:
        assert client.get(path).status_code == 401, path
        assert client.get(path, headers={"Authorization": "Bearer wrong-token"}
                          ).status_code == 401, path
        assert client.get(path, headers={"X-Reclass-Token": TOKEN[:-1]}).status_code == 401
        assert client.get(path, headers={"Cookie": "reclass_session=forged"}
                          ).status_code == 401, path
        assert client.get(path, headers={"Authorization": f"Bearer {TOKEN}"}
                          ).status_code == 200, path
    assert client.get("/api/files", headers={"X-Reclass-Token": TOKEN}).status_code == 200
    for post in ("/api/corrections", "/api/accept", "/api/jobs/tag", "/api/jobs/undo",
                 "/api/models/active", "/api/jobs/1/cancel"):
        assert client.post(post, json={}).status_code == 401, post
    assert client.get("/api/files").headers["www-authenticate"].startswith("Bearer")


def test_browser_logs_in_once_with_a_form(guarded):
    client = guarded
    page = client.get("/review", headers={"Accept": "text/html"})
    assert page.status_code == 401 and 'name="token"' in page.text
    assert 'value="/review"' in page.text
    wrong = client.post("/login", data={"token": "nope", "next": "/review"},
                        follow_redirects=False)
    assert wrong.status_code == 401 and "reclass_session" not in wrong.headers.get(
        "set-cookie", "")
    ok = client.post("/login", data={"token": TOKEN, "next": "//evil.example/x"},
                     follow_redirects=False)
    assert ok.status_code == 303 and ok.headers["location"] == "/"
    cookie = ok.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and TOKEN not in cookie
    assert client.get("/api/files").status_code == 200  # the client keeps the cookie
    client.post("/logout")
    assert client.get("/api/files").status_code == 401


def test_host_and_cross_site_guards(tmp_path):
    library, _ = build_library(tmp_path)
    client = TestClient(create_app(library, allowed_hosts={"127.0.0.1", "localhost"},
                                   classify_jobs=0), base_url="http://127.0.0.1:8750")
    assert client.get("/api/files").status_code == 200
    rebinding = client.get("/api/files", headers={"Host": "evil.example:8750"})
    assert rebinding.status_code == 400
    body = {"file_ids": [2], "genres": ["Ska"]}
    forged = client.post("/api/corrections", json=body,
                         headers={"Origin": "http://evil.example"})
    assert forged.status_code == 403
    forged = client.post("/api/corrections", json=body, headers={"Sec-Fetch-Site": "cross-site"})
    assert forged.status_code == 403
    assert library.corrections() == []
    same = client.post("/api/corrections", json=body,
                       headers={"Origin": "http://127.0.0.1:8750", "Sec-Fetch-Site": "same-origin"})
    assert same.status_code == 200 and len(library.corrections()) == 1
    library.close()


def test_serve_refuses_a_network_address_without_a_token(tmp_path, monkeypatch):
    monkeypatch.delenv("RECLASS_TOKEN", raising=False)
    monkeypatch.setenv("RECLASS_CONFIG", str(tmp_path / "none.toml"))
    runner = CliRunner()
    result = runner.invoke(cli_app, ["serve", "--host", "0.0.0.0", "--db", str(tmp_path / "x")])
    assert result.exit_code == 2 and "without a token" in result.stderr
    result = runner.invoke(cli_app, ["serve", "--host", "192.168.1.5", "--token", "short"])
    assert result.exit_code == 2 and "at least 8" in result.stderr
    result = runner.invoke(cli_app, ["serve", "--db", str(tmp_path / "missing.sqlite"),
                                     "--port", "0"])
    assert result.exit_code == 2 and "no library database" in result.stderr
    (tmp_path / "bad.toml").write_text("[serve\ntoken=")
    monkeypatch.setenv("RECLASS_CONFIG", str(tmp_path / "bad.toml"))
    result = runner.invoke(cli_app, ["serve", "--host", "0.0.0.0"])
    assert result.exit_code == 2 and "config file" in result.stderr
