"""Fetching a tenant's attachment URL against a REAL HTTP server on loopback: the SSRF guard
on every hop of a redirect, the size cap, failures in words. DNS answers and the "internet"
come from the seams the webhook tests use (tests/kit/test_signed_post.py); no database."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from tests.kit.test_signed_post import Dns, Nat

from atendo.kit.guarded_fetch import MAX_REDIRECTS, FetchFailed, FetchTooLarge, guarded_fetch

pytestmark = pytest.mark.dbless

PDF = b"%PDF-1.4 " + bytes(range(256)) * 4


class FileServer:
    """GET /file.pdf answers the file; /to/<path> redirects there; /to-url?<url> redirects to
    that absolute URL; anything else is a 404. Records every path asked for."""

    def __init__(self) -> None:
        self.paths: list[str] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                server.paths.append(self.path)
                if self.path == "/file.pdf":
                    self._answer(200, PDF, ("content-type", "application/pdf; name=x"))
                elif self.path.startswith("/to/"):
                    self._answer(302, b"", ("location", self.path[3:]))
                elif self.path.startswith("/to-url?"):
                    self._answer(302, b"", ("location", self.path.split("?", 1)[1]))
                else:
                    self._answer(404, b"no such file")

            def _answer(self, status: int, body: bytes, *headers: tuple[str, str]) -> None:
                self.send_response(status)
                for name, value in headers:
                    self.send_header(name, value)
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.http = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.http.server_address[1]
        threading.Thread(target=self.http.serve_forever, args=(0.05,), daemon=True).start()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def stop(self) -> None:
        self.http.shutdown()
        self.http.server_close()


@pytest.fixture
def files() -> Iterator[FileServer]:
    server = FileServer()
    yield server
    server.stop()


async def test_a_file_is_fetched_with_its_type(files: FileServer) -> None:
    got = await guarded_fetch(files.url("/file.pdf"), allow_private=True, max_bytes=10_000)
    assert got.data == PDF and got.content_type == "application/pdf"


async def test_loopback_is_refused_when_private_networks_are_off(files: FileServer) -> None:
    with pytest.raises(FetchFailed, match="refused"):
        await guarded_fetch(files.url("/file.pdf"), allow_private=False, max_bytes=10_000)
    dns = Dns(files_test=[["127.0.0.1"]])
    with pytest.raises(FetchFailed, match="refused"):
        await guarded_fetch(
            f"http://files.test:{files.port}/file.pdf",
            allow_private=False,
            max_bytes=10_000,
            resolve=dns,
        )
    assert files.paths == []


async def test_redirects_are_followed_a_few_times(files: FileServer) -> None:
    got = await guarded_fetch(files.url("/to/to/file.pdf"), allow_private=True, max_bytes=10_000)
    assert got.data == PDF and got.url.endswith("/file.pdf")
    too_many = "/to" * (MAX_REDIRECTS + 1) + "/file.pdf"
    with pytest.raises(FetchFailed, match="redirects"):
        await guarded_fetch(files.url(too_many), allow_private=True, max_bytes=10_000)


async def test_a_redirect_to_a_private_address_is_refused(files: FileServer) -> None:
    # A public name (the Nat carries its connection to the loopback server) redirects to
    # 127.0.0.1: the second hop is vetted on its own and refused before any connection.
    dns = Dns(cdn_test=[["93.184.215.14"]])
    nat = Nat(files.port)
    with pytest.raises(FetchFailed, match=r"refused.*127\.0\.0\.1"):
        await guarded_fetch(
            f"http://cdn.test/to-url?{files.url('/file.pdf')}",
            allow_private=False,
            max_bytes=10_000,
            resolve=dns,
            inner=nat,
        )
    assert nat.opened == ["93.184.215.14"]
    assert files.paths == [f"/to-url?{files.url('/file.pdf')}"]


async def test_the_size_cap_stops_the_download(files: FileServer) -> None:
    with pytest.raises(FetchTooLarge):
        await guarded_fetch(files.url("/file.pdf"), allow_private=True, max_bytes=100)


async def test_failures_say_why(files: FileServer) -> None:
    with pytest.raises(FetchFailed, match="answered 404"):
        await guarded_fetch(files.url("/gone"), allow_private=True, max_bytes=100)
    files.stop()
    with pytest.raises(FetchFailed, match="could not be downloaded"):
        await guarded_fetch(files.url("/file.pdf"), allow_private=True, max_bytes=100)
    with pytest.raises(FetchFailed, match="URL"):
        await guarded_fetch("http://[::1/x", allow_private=True, max_bytes=100)
