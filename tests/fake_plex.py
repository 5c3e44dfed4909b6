"""A fake Plex Media Server on 127.0.0.1, for driving the real python-plexapi client.

It answers, at the HTTP level, the endpoints that plexapi calls for what
``music_reclass.plex`` does, with XML shaped like real Plex Media Server
responses (attribute names and nesting modelled on recorded responses such as
Home Assistant's Plex test fixtures):

- ``GET /`` (server root: ``version``, ``machineIdentifier``, ``friendlyName``)
  and ``GET /identity``;
- ``GET /library`` and ``GET /library/sections`` (``Directory`` per section,
  ``type="artist"`` for music);
- ``GET /library/sections/N/all?type=8|9|10`` (artists, albums, tracks), paged
  by ``X-Plex-Container-Start``/``-Size`` (headers or query); the listing
  holds no ``Genre`` or ``Field`` elements: those are on the item itself;
- ``GET /library/metadata/K[,K2,...]`` (full items: ``Genre`` tags and
  ``<Field locked="1" name="genre"/>`` when the field is locked);
- ``PUT /library/sections/N/all?type=T&id=K[,K2]&genre[0].tag.tag=...&genre.locked=1
  &genre[].tag.tag-=A,B`` (the edit endpoint: indexed tags replace the list,
  ``genre[].tag.tag-`` removes comma-separated, percent-encoded names,
  ``genre.locked`` sets the lock).

Every request is recorded (method, path, decoded query pairs, token). A
request without the right ``X-Plex-Token`` (header or query) gets 401, as
Plex answers. ``version`` decides whether tracks have their own genres: before
1.40 a track's full item carries no ``Genre`` and edits of track genres are
accepted but ignored (the server has nowhere to keep them).
"""

from __future__ import annotations

import threading
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, unquote, urlsplit

NEW_VERSION = "1.40.2.8395-c67dce28e"
OLD_VERSION = "1.32.8.7639-fb6452ebf"
TOKEN = "fake-plex-token-0123456789"
MACHINE_ID = "c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00"
LIBRARY_ATTRS = {
    "identifier": "com.plexapp.plugins.library",
    "mediaTagPrefix": "/system/bundle/media/flags/",
    "mediaTagVersion": "1712345678",
}
TYPE_NUMBERS = {"artist": 8, "album": 9, "track": 10}
UNAUTHORIZED_BODY = (
    "<html><head><title>Unauthorized</title></head><body><h1>401 Unauthorized</h1></body></html>"
)


def _version_tuple(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in version.split("-")[0].split(".") if part.isdigit())


@dataclass
class Item:
    """One artist, album or track of the fake library."""

    rating_key: int
    type: str
    title: str
    section: int
    genres: list[str] = field(default_factory=list)
    locked: set[str] = field(default_factory=set)
    parent: Item | None = None
    original_title: str | None = None
    duration_ms: int | None = None
    file: str | None = None
    index: int = 1


@dataclass(frozen=True)
class Request:
    """One request as the server saw it (query pairs decoded once, as Plex decodes them)."""

    method: str
    path: str
    query: tuple[tuple[str, str], ...]
    token: str | None
    status: int

    def param(self, name: str) -> str | None:
        return next((value for key, value in self.query if key == name), None)


@dataclass
class Section:
    key: int
    title: str
    type: str
    location: str


class FakePlex:
    """The server state, its HTTP server thread and the record of requests.

    Use as a context manager; ``url`` is ``http://127.0.0.1:<port>``.
    """

    def __init__(
        self,
        *,
        version: str = NEW_VERSION,
        token: str = TOKEN,
        name: str = "Living Room Server",
        music: bool = True,
    ) -> None:
        self.version = version
        self.token = token
        self.name = name
        self.sections: list[Section] = [Section(1, "Movies", "movie", "/data/movies")]
        if music:
            self.sections.append(Section(3, "Music", "artist", "/data/music"))
        self.items: dict[int, Item] = {}
        self.requests: list[Request] = []
        self.reject_edits: set[int] = set()  # rating keys whose edits answer 400
        self._next_key = 100
        self._tag_ids: dict[str, int] = {}
        self._lock = threading.Lock()
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------------ building the library

    @property
    def track_genres(self) -> bool:
        return _version_tuple(self.version) >= (1, 40)

    def _new(self, **kwargs) -> Item:
        self._next_key += 1
        item = Item(rating_key=self._next_key, **kwargs)
        self.items[item.rating_key] = item
        return item

    def add_artist(self, title: str, *, genres=(), section: int = 3) -> Item:
        return self._new(type="artist", title=title, section=section, genres=list(genres))

    def add_album(self, artist: Item, title: str, *, genres=()) -> Item:
        return self._new(
            type="album", title=title, section=artist.section, genres=list(genres), parent=artist
        )

    def add_track(
        self,
        album: Item,
        title: str,
        *,
        file: str,
        seconds: float,
        genres=(),
        locked: bool = False,
        original_title: str | None = None,
    ) -> Item:
        index = 1 + sum(1 for i in self.items.values() if i.parent is album)
        return self._new(
            type="track",
            title=title,
            section=album.section,
            genres=list(genres),
            locked={"genre"} if locked else set(),
            parent=album,
            original_title=original_title,
            duration_ms=round(seconds * 1000),
            file=file,
            index=index,
        )

    def edits(self) -> list[Request]:
        """The PUT requests received, in order."""
        return [r for r in self.requests if r.method == "PUT"]

    # ------------------------------------------------------------------ serving

    def __enter__(self) -> FakePlex:
        handler = type("Handler", (_Handler,), {"fake": self})
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        assert self._httpd is not None and self._thread is not None
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)

    @property
    def url(self) -> str:
        assert self._httpd is not None, "start the server first (with FakePlex(...) as plex)"
        return f"http://127.0.0.1:{self._httpd.server_address[1]}"

    # ------------------------------------------------------------------ XML

    def _container(self, **attrs) -> ET.Element:
        return ET.Element("MediaContainer", {k: str(v) for k, v in attrs.items()})

    def root(self) -> ET.Element:
        # The attributes of a real server's root (Home Assistant's plex_server_base.xml).
        root = self._container(
            size=3, allowCameraUpload=1, allowMediaDeletion=1, allowSharing=1, allowSync=1,
            backgroundProcessing=1, certificate=1, companionProxy=1, countryCode="usa",
            diagnostics="logs,databases,streaminglogs", eventStream=1, friendlyName=self.name,
            hubSearch=1, machineIdentifier=MACHINE_ID, multiuser=1, myPlex=1,
            myPlexMappingState="mapped", myPlexSigninState="ok", myPlexSubscription=1,
            myPlexUsername="owner@example.com", platform="Linux",
            platformVersion="22.04.4 LTS (Jammy Jellyfish)", pluginHost=1, readOnlyLibraries=0,
            requestParametersInCookie=1, streamingBrainVersion=2, sync=1,
            transcoderActiveVideoSessions=0, transcoderAudio=1, updatedAt=1712345678,
            version=self.version,
        )  # fmt: skip
        for key in ("library", "hubs", "status"):
            ET.SubElement(root, "Directory", count="1", key=key, title=key)
        return root

    def identity(self) -> ET.Element:
        return self._container(
            size=0, claimed=1, machineIdentifier=MACHINE_ID, version=self.version
        )

    def library(self) -> ET.Element:
        root = self._container(
            size=3, allowSync=0, art="/:/resources/library-art.png", content="",
            title1="Plex Library", title2="", **LIBRARY_ATTRS,
        )  # fmt: skip
        ET.SubElement(root, "Directory", key="sections", title="Library Sections")
        ET.SubElement(root, "Directory", key="recentlyAdded", title="Recently Added Content")
        ET.SubElement(root, "Directory", key="onDeck", title="On Deck Content")
        return root

    def library_sections(self) -> ET.Element:
        root = self._container(
            size=len(self.sections), allowSync=0, title1="Plex Library", **LIBRARY_ATTRS
        )
        agents = {"movie": ("tv.plex.agents.movie", "Plex Movie"),
                  "artist": ("tv.plex.agents.music", "Plex Music")}  # fmt: skip
        for section in self.sections:
            agent, scanner = agents.get(section.type, ("tv.plex.agents.none", "Plex Scanner"))
            directory = ET.SubElement(
                root, "Directory",
                allowSync=1, art=f"/:/resources/{section.type}-fanart.jpg",
                composite=f"/library/sections/{section.key}/composite/1712345678", filters=1,
                refreshing=0, thumb=f"/:/resources/{section.type}.png", key=str(section.key),
                type=section.type, title=section.title, agent=agent, scanner=scanner,
                language="en-US", uuid=f"0e71027d-88bc-4413-9927-5aad992d3d{section.key:02d}",
                updatedAt=1712345678, createdAt=1600000000, scannedAt=1712345678,
                content=1, directory=1, contentChangedAt=123456, hidden=0,
            )  # fmt: skip
            ET.SubElement(directory, "Location", id=str(section.key), path=section.location)
        return root

    def _item_element(self, item: Item, *, full: bool) -> ET.Element:
        """An item as listed (``full=False``) or as ``/library/metadata/K`` shows it."""
        section = next(s for s in self.sections if s.key == item.section)
        common = {
            "ratingKey": str(item.rating_key),
            "key": f"/library/metadata/{item.rating_key}"
            + ("/children" if item.type != "track" else ""),
            "guid": f"plex://{item.type}/5d07bd{item.rating_key:018x}",
            "type": item.type,
            "title": item.title,
            "librarySectionID": str(section.key),
            "librarySectionKey": f"/library/sections/{section.key}",
            "librarySectionTitle": section.title,
            "summary": "",
            "index": str(item.index),
            "thumb": f"/library/metadata/{item.rating_key}/thumb/1712345678",
            "addedAt": "1600999261",
            "updatedAt": "1712345678",
        }
        if item.type == "artist":
            element = ET.Element("Directory", common)
        elif item.type == "album":
            artist = item.parent
            assert artist is not None
            element = ET.Element(
                "Directory",
                {**common, "parentRatingKey": str(artist.rating_key),
                 "parentKey": f"/library/metadata/{artist.rating_key}",
                 "parentTitle": artist.title, "year": "2019",
                 "originallyAvailableAt": "2019-01-01"},
            )  # fmt: skip
        else:
            element = self._track_element(item, common)
        if full and (item.type != "track" or self.track_genres):
            for genre in item.genres:
                tag_id = self._tag_ids.setdefault(genre.casefold(), 1000 + len(self._tag_ids))
                ET.SubElement(element, "Genre", id=str(tag_id), filter=f"genre={tag_id}", tag=genre)
        if full:
            for name in sorted(item.locked):
                ET.SubElement(element, "Field", locked="1", name=name)
        return element

    def _track_element(self, item: Item, common: dict[str, str]) -> ET.Element:
        album = item.parent
        assert album is not None and album.parent is not None
        artist = album.parent
        attrs = {
            **common,
            "parentRatingKey": str(album.rating_key),
            "grandparentRatingKey": str(artist.rating_key),
            "parentGuid": f"plex://album/5d07bd{album.rating_key:018x}",
            "grandparentGuid": f"plex://artist/5d07bd{artist.rating_key:018x}",
            "parentKey": f"/library/metadata/{album.rating_key}",
            "grandparentKey": f"/library/metadata/{artist.rating_key}",
            "parentTitle": album.title,
            "grandparentTitle": artist.title,
            "parentIndex": "1",
            "parentYear": "2019",
            "duration": str(item.duration_ms),
            "viewCount": "1",
        }
        if item.original_title:
            attrs["originalTitle"] = item.original_title
        element = ET.Element("Track", attrs)
        ext = (item.file or "x.mp3").rsplit(".", 1)[-1]
        media = ET.SubElement(
            element, "Media", id=str(item.rating_key + 50000), duration=str(item.duration_ms),
            bitrate="256", audioChannels="2", audioCodec=ext, container=ext,
        )  # fmt: skip
        ET.SubElement(
            media, "Part", id=str(item.rating_key + 90000),
            key=f"/library/parts/{item.rating_key + 90000}/1602996958/file.{ext}",
            duration=str(item.duration_ms), file=item.file or "", size="5000000", container=ext,
        )  # fmt: skip
        return element

    def listing(self, section: Section, type_number: int, start: int, size: int) -> ET.Element:
        kind = next(k for k, v in TYPE_NUMBERS.items() if v == type_number)
        items = [i for i in self.items.values() if i.section == section.key and i.type == kind]
        page = items[start : start + size]
        root = self._container(
            size=len(page), totalSize=len(items), offset=start, allowSync=1,
            art=f"/:/resources/{section.type}-fanart.jpg", librarySectionID=section.key,
            librarySectionTitle=section.title, librarySectionUUID="ba0c2140-c6ef-448a-9d1b-31020741d014",
            nocache=1, thumb="/:/resources/artist.png", title1=section.title,
            title2=f"All {kind.title()}s", viewGroup=kind, **LIBRARY_ATTRS,
        )  # fmt: skip
        for item in page:
            root.append(self._item_element(item, full=False))
        return root

    def metadata(self, keys: list[int]) -> ET.Element | None:
        found = [self.items[k] for k in keys if k in self.items]
        if not found:
            return None
        section = next(s for s in self.sections if s.key == found[0].section)
        root = self._container(
            size=len(found), allowSync=1, librarySectionID=section.key,
            librarySectionTitle=section.title, librarySectionUUID="ba0c2140-c6ef-448a-9d1b-31020741d014",
            **LIBRARY_ATTRS,
        )  # fmt: skip
        for item in found:
            root.append(self._item_element(item, full=True))
        return root

    # ------------------------------------------------------------------ edits

    def apply_edit(self, section_key: int, query: list[tuple[str, str]]) -> int:
        """Apply a PUT to ``/library/sections/N/all``; returns the HTTP status."""
        params = dict(query)
        try:
            keys = [int(k) for k in params.get("id", "").split(",") if k]
            type_number = int(params.get("type", "0"))
        except ValueError:
            return 400
        if not keys:
            return 400
        if self.reject_edits & set(keys):
            return 400
        items = [self.items.get(k) for k in keys]
        for item in items:
            if item is None or item.section != section_key:
                return 404 if item is None else 400
            if TYPE_NUMBERS[item.type] != type_number:
                return 400
        indexed = sorted(
            (int(key[len("genre[") : key.index("]")]), value)
            for key, value in query
            if key.startswith("genre[") and key.endswith("].tag.tag") and key[6:7].isdigit()
        )
        removed = params.get("genre[].tag.tag-")
        for item in items:
            assert item is not None
            if item.type == "track" and not self.track_genres:
                continue  # an old server keeps no genres on tracks: accepted, ignored
            if indexed:
                item.genres = [value for _, value in indexed]
            if removed:
                gone = {unquote(name).casefold() for name in removed.split(",")}
                item.genres = [g for g in item.genres if g.casefold() not in gone]
            if "genre.locked" in params:
                if params["genre.locked"] == "1":
                    item.locked.add("genre")
                else:
                    item.locked.discard("genre")
        return 200


class _Handler(BaseHTTPRequestHandler):
    fake: FakePlex
    protocol_version = "HTTP/1.1"
    server_version = "PlexMediaServer/fake"

    def log_message(self, format: str, *args) -> None:  # noqa: A002 - the stdlib's name
        pass

    def do_GET(self) -> None:
        self._serve("GET")

    def do_PUT(self) -> None:
        self._serve("PUT")

    def _serve(self, method: str) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        split = urlsplit(self.path)
        query = parse_qsl(split.query, keep_blank_values=True)
        token = self.headers.get("X-Plex-Token") or dict(query).get("X-Plex-Token")
        with self.fake._lock:
            try:
                status, body = self._route(method, split.path, query, token)
            except Exception as exc:  # noqa: BLE001 - a bug in the fake must answer, not hang up
                status, body = 500, f"fake server error: {type(exc).__name__}: {exc}"
            self.fake.requests.append(Request(method, split.path, tuple(query), token, status))
        self._reply(status, body)

    def _route(self, method, path, query, token) -> tuple[int, ET.Element | str | None]:
        fake = self.fake
        if path == "/identity" and method == "GET":
            return 200, fake.identity()  # public on a real server, like here
        if token != fake.token:
            return 401, UNAUTHORIZED_BODY
        parts = [p for p in path.split("/") if p]
        if method == "PUT":
            if len(parts) == 4 and parts[:2] == ["library", "sections"] and parts[3] == "all":
                section = self._section(parts[2])
                if section is None:
                    return 404, None
                return fake.apply_edit(section.key, query), None
            return 404, None
        if not parts:
            return 200, fake.root()
        if parts == ["library"]:
            return 200, fake.library()
        if parts == ["library", "sections"]:
            return 200, fake.library_sections()
        if len(parts) == 4 and parts[:2] == ["library", "sections"] and parts[3] == "all":
            section = self._section(parts[2])
            if section is None:
                return 404, None
            params = dict(query)
            start = int(self.headers.get("X-Plex-Container-Start")
                        or params.get("X-Plex-Container-Start") or 0)  # fmt: skip
            size = int(self.headers.get("X-Plex-Container-Size")
                       or params.get("X-Plex-Container-Size") or 50)  # fmt: skip
            type_number = int(params.get("type", "8"))
            return 200, fake.listing(section, type_number, start, size)
        if len(parts) == 3 and parts[:2] == ["library", "metadata"]:
            try:
                keys = [int(k) for k in parts[2].split(",")]
            except ValueError:
                return 400, None
            root = fake.metadata(keys)
            return (404, None) if root is None else (200, root)
        return 404, None

    def _section(self, key: str) -> Section | None:
        return next((s for s in self.fake.sections if str(s.key) == key), None)

    def _reply(self, status: int, body: ET.Element | str | None) -> None:
        if isinstance(body, ET.Element):
            for element in body.iter():  # attributes were given as int or str
                element.attrib.update({k: str(v) for k, v in element.attrib.items()})
            data = (
                b'<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(body, "unicode").encode()
            )
            content_type = "text/xml;charset=utf-8"
        else:
            data = (body or "").encode("utf-8")
            content_type = "text/html" if body else "text/plain"
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("X-Plex-Protocol", "1.0")
        self.end_headers()
        self.wfile.write(data)
