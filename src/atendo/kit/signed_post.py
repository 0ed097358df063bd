"""One signed webhook POST to a vetted address, and what came of it.

Signature (Standard Webhooks): ``webhook-signature: v1,<base64 HMAC-SHA256(key,
"{id}.{timestamp}.{body}")>`` where the key is the base64-decoded part of the ``whsec_``
secret; ``webhook-id`` stays the same across retries (receivers deduplicate by it).

The connection pool (httpcore) gets a network backend that vets every connection it opens:
the host is resolved once, every answer must be public (``atendo.kit.netguard``) unless the
installation allows private networks, and the socket goes to one of those very addresses.
TLS still runs against the URL's host name (SNI and certificate check), and the Host header
is the URL's: only the lookup is ours. httpcore follows no redirects and reads no proxy from
the environment (a proxy would resolve the name itself, out of the guard's sight).
"""

from __future__ import annotations

import asyncio
import base64
import functools
import hashlib
import hmac
import json
import ssl
from collections.abc import Iterable
from dataclasses import dataclass
from types import TracebackType
from typing import Any

import httpcore
import httpx

from atendo.kit.clock import utcnow
from atendo.kit.netguard import (
    WEB_PORTS,
    PortSet,
    Resolver,
    TargetRefused,
    system_resolver,
    vetted_addresses,
)

TIMEOUT = 10.0
USER_AGENT = "Atendo-Webhooks/1"
# Enough of an answer to keep the connection for the next delivery; the rest is not ours.
MAX_ANSWER_BYTES = 64 * 1024

HTTP_ERRORS = (
    httpcore.NetworkError,
    httpcore.ProtocolError,
    httpcore.UnsupportedProtocol,
    httpcore.ProxyError,
    httpcore.ConnectionNotAvailable,
    OSError,
)


def secret_key(secret: str) -> bytes:
    """The HMAC key of a Standard Webhooks secret (``whsec_<base64>``)."""
    return base64.b64decode(secret.removeprefix("whsec_"))


def sign(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    signed = f"{msg_id}.{timestamp}.".encode() + body
    digest = hmac.new(secret_key(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def encode(payload: dict[str, Any]) -> bytes:
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()


@dataclass(frozen=True)
class Outcome:
    """``error`` is None when the receiver answered 2xx."""

    error: str | None
    status_code: int | None = None


class VettingBackend(httpcore.AsyncNetworkBackend):
    """Opens TCP connections only to addresses the guard let through, from one lookup."""

    def __init__(
        self,
        *,
        allow_private: bool,
        resolve: Resolver = system_resolver,
        inner: httpcore.AsyncNetworkBackend | None = None,
        ports: PortSet | None = None,
    ) -> None:
        self.allow_private = allow_private
        self.resolve = resolve
        self.ports = ports
        self.inner = inner or httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 (httpcore's interface)
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        addresses = await asyncio.to_thread(
            vetted_addresses,
            host,
            port,
            allow_private=self.allow_private,
            resolve=self.resolve,
            ports=self.ports,
        )
        connect = functools.partial(
            self.inner.connect_tcp,
            port=port,
            timeout=timeout,
            local_address=local_address,
            socket_options=socket_options,
        )
        for ip in addresses[:-1]:  # vetted_addresses never answers an empty list
            try:
                return await connect(ip)
            except (httpcore.ConnectError, httpcore.ConnectTimeout):
                continue  # the next answer may be reachable
        return await connect(addresses[-1])

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,  # noqa: ASYNC109 (httpcore's interface)
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise TargetRefused("unix sockets are not webhook targets")

    async def sleep(self, seconds: float) -> None:
        await self.inner.sleep(seconds)


def request_line(url: str) -> tuple[httpcore.URL, list[tuple[bytes, bytes]]]:
    """The httpcore URL and the Host (and Basic auth, from user:password@) headers.

    httpx.URL does the parsing: IDNA host names, bracketed IPv6, percent-encoding.
    """
    parsed = httpx.URL(url.strip())
    if parsed.scheme not in ("http", "https") or not parsed.host:
        raise TargetRefused("url must be an http or https URL")
    target = httpcore.URL(
        scheme=parsed.raw_scheme, host=parsed.raw_host, port=parsed.port, target=parsed.raw_path
    )
    headers = [(b"host", parsed.netloc)]
    if parsed.username or parsed.password:
        userinfo = f"{parsed.username}:{parsed.password}".encode()
        headers.append((b"authorization", b"Basic " + base64.b64encode(userinfo)))
    return target, headers


class SignedPoster:
    """Signs and POSTs webhook payloads; one instance (one connection pool) per worker loop.

    ``allow_private`` is the installation's ``webhooks_allow_private_networks``, ``ports``
    the ports a target may use (80 and 443 unless told otherwise: ``webhook_ports``); ``resolve``
    is the seam where tests answer DNS questions themselves; ``ssl_context`` defaults to the
    certifi trust store with host name checking.
    """

    def __init__(
        self,
        *,
        allow_private: bool,
        resolve: Resolver = system_resolver,
        timeout: float = TIMEOUT,
        ssl_context: ssl.SSLContext | None = None,
        ports: PortSet = PortSet(WEB_PORTS),
    ) -> None:
        self.timeout = timeout
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=ssl_context or httpcore.default_ssl_context(),
            max_connections=100,
            max_keepalive_connections=20,
            keepalive_expiry=5.0,
            network_backend=VettingBackend(
                allow_private=allow_private, resolve=resolve, ports=ports
            ),
        )

    async def __aenter__(self) -> SignedPoster:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._pool.aclose()

    async def post(self, url: str, *, secret: str, msg_id: str, payload: dict[str, Any]) -> Outcome:
        """One signed POST; never raises for what the network or the receiver did."""
        try:
            target, headers = request_line(url)
        except (httpx.InvalidURL, TargetRefused) as exc:
            return Outcome(f"refused: {exc}")
        body = encode(payload)
        ts = int(utcnow().timestamp())
        headers += [
            (b"content-type", b"application/json"),
            (b"user-agent", USER_AGENT.encode()),
            (b"webhook-id", msg_id.encode()),
            (b"webhook-timestamp", str(ts).encode()),
            (b"webhook-signature", sign(secret, msg_id, ts, body).encode()),
        ]
        try:
            async with asyncio.timeout(self.timeout):
                status = await self._send(target, headers, body)
        except TargetRefused as exc:
            return Outcome(f"refused: {exc.reason}")
        except (TimeoutError, httpcore.TimeoutException):
            return Outcome(f"timeout after {self.timeout:g} s")
        except HTTP_ERRORS as exc:
            return Outcome(f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__)
        if 200 <= status < 300:
            return Outcome(None, status)
        return Outcome(f"HTTP {status}", status)

    async def _send(
        self, target: httpcore.URL, headers: list[tuple[bytes, bytes]], body: bytes
    ) -> int:
        limit = {"connect": self.timeout, "read": self.timeout, "write": self.timeout}
        async with self._pool.stream(
            "POST", target, headers=headers, content=body, extensions={"timeout": limit}
        ) as response:
            read = 0
            async for chunk in response.aiter_stream():
                read += len(chunk)
                if read > MAX_ANSWER_BYTES:
                    break
            return response.status
