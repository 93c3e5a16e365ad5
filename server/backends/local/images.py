"""ImageLoader: a request's image parts as decoded pictures for vLLM (data: URLs; http(s) with limits)."""

from __future__ import annotations

import asyncio
import base64
import binascii
import io
from collections.abc import Sequence
from typing import TYPE_CHECKING

import aiohttp

from ...core.errors import InvalidRequest
from ...core.request import ImagePart

if TYPE_CHECKING:
    from PIL.Image import Image

# What PIL opens here; anything else is refused by name rather than by a decoder's stack trace.
FORMATS = ("PNG", "JPEG", "GIF", "WEBP", "BMP")


class ImageLoader:
    """Loads images with a size cap and, for URLs, a timeout; never touches the network offline."""

    def __init__(self, *, max_bytes: int, timeout: float, offline: bool) -> None:
        self.max_bytes = max_bytes
        self.timeout = timeout
        self.offline = offline

    async def load(self, parts: Sequence[ImagePart]) -> list[Image]:
        return list(await asyncio.gather(*(self._one(p, i) for i, p in enumerate(parts))))

    async def _one(self, part: ImagePart, index: int) -> Image:
        url = part.url
        if url.startswith("data:"):
            data = self._decode(url, index)
        elif url.startswith(("http://", "https://")):
            data = await self._fetch(url, index)
        else:
            raise InvalidRequest(
                f"image {index + 1}: an image URL is a data: URL or an http(s) URL, not {url[:40]!r}",
                param="messages",
            )
        # Decoding is CPU work of a few milliseconds per megapixel: off the event loop.
        return await asyncio.to_thread(_open, data, index)

    def _decode(self, url: str, index: int) -> bytes:
        head, sep, payload = url.partition(",")
        if not sep or not head.endswith(";base64"):
            raise InvalidRequest(
                f"image {index + 1}: a data URL must be base64 (data:image/png;base64,…)", param="messages"
            )
        if len(payload) * 3 // 4 > self.max_bytes:
            raise self._too_big(index)
        try:
            return base64.b64decode(payload, validate=True)
        except (binascii.Error, ValueError):
            raise InvalidRequest(
                f"image {index + 1}: the data URL is not valid base64", param="messages"
            ) from None

    async def _fetch(self, url: str, index: int) -> bytes:
        if self.offline:
            raise InvalidRequest(
                f"image {index + 1}: offline mode fetches nothing from the network; send the image "
                f"inline as a data: URL (base64) instead of {url[:60]!r}",
                param="messages",
            )
        timeout = aiohttp.ClientTimeout(total=self.timeout)
        try:
            async with aiohttp.ClientSession(timeout=timeout) as session, session.get(url) as resp:
                if resp.status != 200:
                    raise InvalidRequest(
                        f"image {index + 1}: {url[:80]} answered HTTP {resp.status}", param="messages"
                    )
                if (resp.content_length or 0) > self.max_bytes:
                    raise self._too_big(index)
                body = bytearray()
                async for chunk in resp.content.iter_chunked(65536):
                    body += chunk
                    if len(body) > self.max_bytes:
                        raise self._too_big(index)
                return bytes(body)
        except TimeoutError:
            raise InvalidRequest(
                f"image {index + 1}: {url[:80]} did not answer within {self.timeout:g} s", param="messages"
            ) from None
        except aiohttp.ClientError as exc:
            raise InvalidRequest(
                f"image {index + 1}: could not fetch {url[:80]}: {exc}", param="messages"
            ) from None

    def _too_big(self, index: int) -> InvalidRequest:
        return InvalidRequest(
            f"image {index + 1} is larger than {self.max_bytes // 2**20} MiB (--image-max-mib)",
            param="messages",
        )


def _open(data: bytes, index: int) -> Image:
    from PIL import Image, UnidentifiedImageError

    try:
        image = Image.open(io.BytesIO(data), formats=FORMATS)
        image.load()
    except (UnidentifiedImageError, OSError, Image.DecompressionBombError) as exc:
        raise InvalidRequest(
            f"image {index + 1} is not a readable {', '.join(FORMATS)} image ({exc})", param="messages"
        ) from None
    return image.convert("RGB")
