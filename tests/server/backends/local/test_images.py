"""Loading images for a vision model: data URLs, http(s) URLs under a size cap and a timeout, none offline."""

from __future__ import annotations

import asyncio
import base64
import io
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from PIL import Image

from server.backends.local.images import ImageLoader
from server.core.errors import InvalidRequest
from server.core.request import ImagePart


def png(width: int = 8, height: int = 4, color: str = "red") -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), color).save(out, format="PNG")
    return out.getvalue()


def data_url(data: bytes, media_type: str = "image/png") -> ImagePart:
    return ImagePart.inline(media_type, base64.b64encode(data).decode())


@pytest.fixture
def site() -> Iterator[tuple[str, list[str]]]:
    """A real HTTP server: /a.png an image, /big 3 MiB, /slow answers after 3 s, anything else 404."""
    hits: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            hits.append(self.path)
            if self.path == "/slow":
                time.sleep(3)
            body = {"/a.png": png(16, 16, "blue"), "/big": b"x" * (3 * 2**20), "/slow": png()}.get(self.path)
            if body is None:
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", hits
    finally:
        server.shutdown()
        server.server_close()


def load(loader: ImageLoader, *parts: ImagePart) -> list[Image.Image]:
    return asyncio.run(loader.load(parts))


LOADER = ImageLoader(max_bytes=2**20, timeout=1.0, offline=False)


def test_data_urls_and_urls_load_in_order(site: tuple[str, list[str]]) -> None:
    base, hits = site
    images = load(LOADER, data_url(png(8, 4)), ImagePart(base + "/a.png"))
    assert [i.size for i in images] == [(8, 4), (16, 16)]
    assert images[1].getpixel((0, 0)) == (0, 0, 255) and images[0].mode == "RGB"
    assert hits == ["/a.png"]


@pytest.mark.parametrize(
    ("part", "says"),
    [
        (ImagePart("data:image/png,rawbytes"), "must be base64"),
        (ImagePart("data:image/png;base64,@@@"), "not valid base64"),
        (data_url(b"GIF89a but not really"), "not a readable PNG, JPEG"),
        (data_url(b"\0" * (2**20 + 10)), "larger than 1 MiB"),
        (ImagePart("file:///etc/passwd"), r"a data: URL or an http\(s\) URL"),
    ],
)
def test_bad_images_are_clear_400s(part: ImagePart, says: str) -> None:
    with pytest.raises(InvalidRequest, match=says) as info:
        load(LOADER, part)
    assert info.value.status == 400


def test_urls_are_held_to_the_cap_the_timeout_and_their_status(site: tuple[str, list[str]]) -> None:
    base, _ = site
    for path, says in (
        ("/big", "larger than 1 MiB"),
        ("/missing", "answered HTTP 404"),
        ("/slow", "within 1 s"),
    ):
        with pytest.raises(InvalidRequest, match=says):
            load(LOADER, ImagePart(base + path))


def test_offline_fetches_nothing(site: tuple[str, list[str]]) -> None:
    base, hits = site
    offline = ImageLoader(max_bytes=2**20, timeout=1.0, offline=True)
    with pytest.raises(InvalidRequest, match="offline mode fetches nothing") as info:
        load(offline, ImagePart(base + "/a.png"))
    assert "data: URL" in str(info.value) and hits == []
    assert load(offline, data_url(png()))[0].size == (8, 4)  # inline images still work
