"""Who may talk to the server: the token, the session cookie, and the browser guards.

- With a token, every request carries it: ``Authorization: Bearer T`` or
  ``X-Reclass-Token: T``, or the session cookie the login form sets (the browser UI).
  The token never travels in a URL, so it is never in an access log. Without it: 401.
- The ``Host`` header must name the server when it serves loopback only (a web page
  cannot reach the server through a DNS name it controls: DNS rebinding).
- A request that changes state (any method but GET/HEAD/OPTIONS) coming from another
  site (``Origin`` or ``Sec-Fetch-Site``) is refused (cross-site request forgery).
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from http.cookies import SimpleCookie
from typing import Any
from urllib.parse import urlsplit

__all__ = ["COOKIE", "Guard", "GuardMiddleware", "LOOPBACK_HOSTS", "session_value"]

COOKIE = "reclass_session"
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1", "[::1]"})
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
#: reachable without the token: the login form and the files its page needs
OPEN_PATHS = ("/login", "/static/")


def session_value(token: str) -> str:
    """The cookie value for ``token``: derived from it, so the cookie is not the token."""
    return hmac.new(token.encode(), b"music-reclass session v1", hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class Guard:
    """The server's access rules.

    Parameters
    ----------
    token : str, optional
        The secret every request must carry (None: no token, loopback only).
    allowed_hosts : iterable of str, optional
        Host names the ``Host`` header may carry (None: any).
    """

    token: str | None = None
    allowed_hosts: frozenset[str] | None = None

    @classmethod
    def make(cls, token: str | None, allowed_hosts: Iterable[str] | None) -> Guard:
        return cls(token or None, None if allowed_hosts is None else frozenset(allowed_hosts))

    def token_ok(self, headers: dict[str, str]) -> bool:
        """Whether the request's headers carry the token (or the session cookie)."""
        if self.token is None:
            return True
        given = headers.get("x-reclass-token")
        auth = headers.get("authorization", "")
        if auth[:7].lower() == "bearer ":
            given = auth[7:].strip()
        if given is not None and hmac.compare_digest(given.encode(), self.token.encode()):
            return True
        cookie = _cookie(headers.get("cookie", ""))
        return cookie is not None and hmac.compare_digest(
            cookie.encode(), session_value(self.token).encode())

    def host_ok(self, headers: dict[str, str]) -> bool:
        if self.allowed_hosts is None:
            return True
        return _host_name(headers.get("host", "")) in self.allowed_hosts

    @staticmethod
    def same_site(method: str, headers: dict[str, str]) -> bool:
        """False for a state-changing request sent by a page of another site."""
        if method in SAFE_METHODS:
            return True
        if headers.get("sec-fetch-site", "same-origin") not in ("same-origin", "none"):
            return False
        origin = headers.get("origin")
        if origin is None:  # not sent by a browser page (curl, scripts): the token decides
            return True
        return urlsplit(origin).netloc.lower() == headers.get("host", "").lower()


def _cookie(header: str) -> str | None:
    try:
        jar = SimpleCookie()
        jar.load(header)
    except Exception:  # noqa: BLE001 - a malformed cookie header is simply no cookie
        return None
    morsel = jar.get(COOKIE)
    return None if morsel is None else morsel.value


def _host_name(host: str) -> str:
    host = host.strip().lower()
    if host.startswith("["):
        return host[: host.find("]") + 1] if "]" in host else host
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


Send = Callable[[dict[str, Any]], Awaitable[None]]


class GuardMiddleware:
    """ASGI middleware applying a :class:`Guard` to every HTTP request.

    ``login_page`` renders the HTML answered (with status 401) to a browser asking for a
    page without the session cookie.
    """

    def __init__(self, app: Any, guard: Guard,
                 login_page: Callable[[str], bytes] | None = None) -> None:
        self.app = app
        self.guard = guard
        self.login_page = login_page

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1")
                   for k, v in scope.get("headers", [])}
        path = scope.get("path", "")
        if not self.guard.host_ok(headers):
            await _plain(send, 400, "this server answers on its own address only")
            return
        if not self.guard.same_site(scope["method"], headers):
            await _plain(send, 403, "cross-site requests are refused")
            return
        if not path.startswith(OPEN_PATHS) and not self.guard.token_ok(headers):
            await self._unauthorised(send, path, headers)
            return
        await self.app(scope, receive, send)

    async def _unauthorised(self, send: Send, path: str, headers: dict[str, str]) -> None:
        wants_html = "text/html" in headers.get("accept", "") and not path.startswith("/api/")
        if wants_html and self.login_page is not None:
            body = self.login_page(path)
            kind = b"text/html; charset=utf-8"
        else:
            body = json.dumps({"detail": "a valid token is required (Authorization: Bearer "
                               "TOKEN)"}).encode()
            kind = b"application/json"
        await send({"type": "http.response.start", "status": 401, "headers": [
            (b"content-type", kind), (b"www-authenticate", b'Bearer realm="reclass"'),
            (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})


async def _plain(send: Send, status: int, message: str) -> None:
    body = json.dumps({"detail": message}).encode()
    await send({"type": "http.response.start", "status": status, "headers": [
        (b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})
