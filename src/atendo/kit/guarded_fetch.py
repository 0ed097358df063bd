"""GET a URL a tenant gave us (an attachment to send), within the SSRF guard.

The same connection guard as webhooks (``VettingBackend``): one lookup per connection, every
answer public unless the installation allows private networks, the socket to a vetted address,
TLS against the URL's host name. A few redirects are followed, since files often sit behind
one; each hop is a new URL whose connection is vetted again. The body is capped while it is
read, and the whole fetch has one deadline.
"""

from __future__ import annotations

import asyncio
import ssl
from dataclasses import dataclass

import httpcore
import httpx

from atendo.kit.netguard import Resolver, TargetRefused, system_resolver
from atendo.kit.signed_post import HTTP_ERRORS, VettingBackend, request_line

TIMEOUT = 10.0
MAX_REDIRECTS = 3
REDIRECTS = {301, 302, 303, 307, 308}
USER_AGENT = "Atendo/1"


class FetchFailed(Exception):
    """The URL could not be fetched; the message says why in plain words."""


class FetchTooLarge(FetchFailed):
    pass


@dataclass(frozen=True)
class Fetched:
    url: str  # after redirects
    content_type: str
    data: bytes


async def guarded_fetch(
    url: str,
    *,
    allow_private: bool,
    max_bytes: int,
    timeout: float = TIMEOUT,  # noqa: ASYNC109 - one deadline for the whole fetch
    resolve: Resolver = system_resolver,
    ssl_context: ssl.SSLContext | None = None,
    inner: httpcore.AsyncNetworkBackend | None = None,
) -> Fetched:
    """``resolve`` and ``inner`` (what opens the vetted sockets) are seams for tests."""
    backend = VettingBackend(allow_private=allow_private, resolve=resolve, inner=inner)
    pool = httpcore.AsyncConnectionPool(
        ssl_context=ssl_context or httpcore.default_ssl_context(), network_backend=backend
    )
    try:
        async with pool, asyncio.timeout(timeout):
            return await _follow(pool, url, max_bytes=max_bytes, step_seconds=timeout)
    except TimeoutError:
        raise FetchFailed(f"no answer within {timeout:g} s") from None
    except TargetRefused as exc:
        raise FetchFailed(f"refused: {exc.reason}") from None
    except httpx.InvalidURL as exc:
        raise FetchFailed(f"not a valid URL: {exc}") from None
    except HTTP_ERRORS as exc:
        raise FetchFailed(f"could not be downloaded: {exc or type(exc).__name__}") from None


async def _follow(
    pool: httpcore.AsyncConnectionPool, url: str, *, max_bytes: int, step_seconds: float
) -> Fetched:
    limits = {key: step_seconds for key in ("connect", "read", "write", "pool")}
    for _ in range(MAX_REDIRECTS + 1):
        target, headers = request_line(url)
        headers.append((b"user-agent", USER_AGENT.encode()))
        async with pool.stream(
            "GET", target, headers=headers, extensions={"timeout": limits}
        ) as response:
            found = {k.lower(): v.decode("latin-1") for k, v in response.headers}
            if response.status in REDIRECTS:
                location = found.get(b"location")
                if not location:
                    raise FetchFailed(f"the server answered {response.status} with no Location")
                url = str(httpx.URL(url).join(location))
                continue
            if response.status >= 400:
                raise FetchFailed(f"the server answered {response.status}")
            data = await _read_capped(response, max_bytes)
            content_type = found.get(b"content-type", "application/octet-stream")
            return Fetched(url=url, content_type=content_type.split(";")[0].strip(), data=data)
    raise FetchFailed(f"more than {MAX_REDIRECTS} redirects")


async def _read_capped(response: httpcore.Response, max_bytes: int) -> bytes:
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.aiter_stream():
        size += len(chunk)
        if size > max_bytes:
            raise FetchTooLarge(f"larger than {max_bytes} bytes")
        chunks.append(chunk)
    return b"".join(chunks)
