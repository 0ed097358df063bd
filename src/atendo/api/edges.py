"""The edges of HTTP, before any route (and so before the token is checked).

:class:`RequestBodyGuard` reads a request's body once, before the app sees it, and:

* ends a body that is not complete within ``deadline`` seconds (a client dribbling a byte a
  second held its connection for good): ``408``;
* refuses a JSON body over ``max_json_bytes`` or nested deeper than ``max_json_depth``
  (Python's parser recurses: ten thousand ``[`` ended in a ``RecursionError``, a 500 with a
  traceback): ``400``, counted by a scan that never recurses;
* answers ``413`` when the size limit (:class:`atendo.api.app.BodyLimit`, outside this one)
  stops a chunked body while it is read.

The body is then handed to the app unchanged. Header timeouts belong to the server in front
(see the README's reverse proxy): uvicorn cannot bound the time a client takes to send them.
"""

from __future__ import annotations

import asyncio

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from atendo.api.envelope import error


def json_depth(body: bytes) -> int:
    """The deepest nesting of arrays and objects in ``body`` (strings skipped), no recursion."""
    depth = deepest = 0
    in_string = escaped = False
    for byte in body:
        if in_string:
            if escaped:
                escaped = False
            elif byte == 0x5C:  # backslash
                escaped = True
            elif byte == 0x22:  # quote
                in_string = False
        elif byte == 0x22:
            in_string = True
        elif byte in (0x5B, 0x7B):  # [ {
            depth += 1
            deepest = max(deepest, depth)
        elif byte in (0x5D, 0x7D):  # ] }
            depth -= 1
    return deepest


class RequestBodyGuard:
    def __init__(
        self, app: ASGIApp, *, deadline: float, max_json_bytes: int, max_json_depth: int
    ) -> None:
        self.app = app
        self.deadline = deadline
        self.max_json_bytes = max_json_bytes
        self.max_json_depth = max_json_depth

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not _has_body(scope):
            await self.app(scope, receive, send)
            return
        from atendo.api.app import BodyTooLarge

        chunks: list[bytes] = []
        try:
            async with asyncio.timeout(self.deadline):
                while True:
                    message = await receive()
                    if message["type"] == "http.disconnect":
                        return
                    chunks.append(message.get("body", b""))
                    if not message.get("more_body", False):
                        break
        except TimeoutError:
            response = error("The request body did not arrive in time", status_code=408)
            await response(scope, receive, send)
            return
        except BodyTooLarge:
            await error("Request body is too large", status_code=413)(scope, receive, send)
            return
        body = b"".join(chunks)
        if _is_json(scope) and (
            len(body) > self.max_json_bytes or json_depth(body) > self.max_json_depth
        ):
            response = error(
                "The JSON body is too large or too deeply nested",
                status_code=400,
                errors={"body": [f"at most {self.max_json_depth} levels of nesting"]},
            )
            await response(scope, receive, send)
            return

        sent = False

        async def replay() -> Message:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)


def _header(scope: Scope, name: bytes) -> bytes:
    for key, value in scope.get("headers", []):
        if key == name:
            return bytes(value)
    return b""


def _has_body(scope: Scope) -> bool:
    length = _header(scope, b"content-length")
    return (length.isdigit() and int(length) > 0) or bool(_header(scope, b"transfer-encoding"))


def _is_json(scope: Scope) -> bool:
    ctype = _header(scope, b"content-type").split(b";")[0].strip().lower()
    return ctype == b"application/json" or ctype.endswith(b"+json")
