"""The visitor-facing endpoints of the widget (mounted by the composition root through
``Transport.web_router``): the loader, the chat frame, the visitor's session, its WebSocket
(with an SSE + POST fallback), uploads, downloads and the offline form.

Trust: a visitor is anonymous. Their token (signed, bound to one channel) opens only their
own conversation. The site's page may call only ``config`` (CORS for the channel's allowed
origins); everything else is called by the frame, which is served from Atendo's origin and
may only be embedded by those origins (``frame-ancestors``). A WebSocket or POST whose
``Origin`` is neither Atendo's own nor an allowed site is refused.
"""

from __future__ import annotations

import asyncio
import contextlib
import html
import json
import re
import time
from collections.abc import AsyncIterator
from functools import partial
from pathlib import Path
from typing import Any
from urllib.parse import quote

from email_validator import EmailNotValidError, validate_email
from fastapi import APIRouter, Request, WebSocket, WebSocketDisconnect
from fastapi.responses import JSONResponse, Response, StreamingResponse
from sqlalchemy.orm import Session
from starlette.datastructures import UploadFile

from atendo.core.channels.models import Channel
from atendo.core.channels.service import channel_secrets, get_channel
from atendo.core.clients.models import Client
from atendo.core.clients.service import add_identity, update_client
from atendo.core.errors import DomainError
from atendo.core.events.service import last_event_id
from atendo.core.messages.inbound import Sender, receive_client_message
from atendo.core.messages.models import Attachment, Message
from atendo.core.messages.outgoing import OutgoingAttachment
from atendo.kit.db import get_scoped
from atendo.runtime import Runtime
from atendo.transports.widget.hub import Hub, Note, changed, hub_for
from atendo.transports.widget.i18n import language_of, texts
from atendo.transports.widget.limits import Limits
from atendo.transports.widget.settings import WidgetSettings, normalise_origin
from atendo.transports.widget.threads import in_thread
from atendo.transports.widget.visitors import (
    MAX_TEXT,
    TokenRefused,
    Visitor,
    assigned_operator,
    channel_by_public_id,
    followed_events,
    identity_hash_ok,
    issue_token,
    link_verified_identity,
    messages_out,
    operators_online,
    read_token,
    receive_visitor_message,
    shown_messages,
    visible_messages,
    visitor_client,
    visitor_typing,
)
from atendo.transports.widget.whereabouts import updated, whereabouts
from atendo.transports.widget.writer import writer_for

STATIC = Path(__file__).parent / "static"
MAX_FRAME = 16 * 1024
MAX_FIELD = 200
TYPING_EVERY = 2.5  # seconds between two typing signals of one visitor
PING = 25.0
INLINE_TYPES = ("image/png", "image/jpeg", "image/gif", "image/webp")
_PHONE = re.compile(r"^\+?[0-9 ()\-.]{6,25}$")


def runtime_of(request: Request | WebSocket) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


def _limits(request: Request | WebSocket) -> Limits:
    state = request.app.state
    found = getattr(state, "widget_limits", None)
    if found is None:
        settings = runtime_of(request).settings
        found = state.widget_limits = Limits(
            visitor_per_minute=settings.widget_visitor_messages_per_minute,
            ip_per_minute=settings.widget_ip_messages_per_minute,
            chats_per_hour=settings.widget_ip_chats_per_hour,
        )
    assert isinstance(found, Limits)
    return found


def _ip(request: Request | WebSocket) -> str:
    return request.client.host if request.client else "?"


def _own_origin(request: Request | WebSocket) -> str:
    scheme = "https" if request.url.scheme in ("https", "wss") else "http"
    host = request.headers.get("host", "")
    try:
        return normalise_origin(f"{scheme}://{host}")
    except ValueError:
        return ""


def _origin_ok(request: Request | WebSocket, cfg: WidgetSettings, *, own: bool = True) -> bool:
    origin = request.headers.get("origin")
    if not origin:
        # Browsers leave Origin out of same-origin GETs (the demo page): their fetch metadata
        # says where the request comes from.
        return own and request.headers.get("sec-fetch-site") == "same-origin"
    try:
        origin = normalise_origin(origin)
    except ValueError:
        return False
    return origin in cfg.allowed_origins or (own and origin == _own_origin(request))


def _error(code: str, status: int, language: str = "pt-BR") -> JSONResponse:
    words = texts(language)
    return JSONResponse(
        {"error": code, "message": words.get(code, words["failed"])},
        status_code=status,
        headers={"Cache-Control": "no-store"},
    )


_CACHE: dict[tuple[int, str], tuple[float, tuple[Channel, WidgetSettings] | None]] = {}
CACHE_SECONDS = 5.0


def _channel(runtime: Runtime, public_id: str) -> tuple[Channel, WidgetSettings] | None:
    """The channel behind a public id and its settings, read at most every ``CACHE_SECONDS``
    per process (a change of the allowed origins applies within that time)."""
    key = (id(runtime), public_id[:40])
    now = time.monotonic()
    hit = _CACHE.get(key)
    if hit is not None and hit[0] > now:
        return hit[1]
    found = _read_channel(runtime, public_id)
    if len(_CACHE) > 10_000:
        _CACHE.clear()
    _CACHE[key] = (now + CACHE_SECONDS, found)
    return found


def _read_channel(runtime: Runtime, public_id: str) -> tuple[Channel, WidgetSettings] | None:
    with runtime.db.reading() as session:
        channel = channel_by_public_id(session, public_id)
        if channel is None or channel.status == "disabled":
            return None
        session.expunge(channel)
    data = {k: v for k, v in (channel.settings or {}).items() if k in WidgetSettings.model_fields}
    return channel, WidgetSettings.model_validate(data)


def _texts(cfg: WidgetSettings, language: str) -> dict[str, str]:
    words = texts(language)
    for key in ("title", "greeting"):
        own = getattr(cfg, key).get(language)
        if own:
            words[key] = own
    words["away"] = cfg.away_text.get(language) or words["offline"]
    words["consent_text"] = cfg.consent_text.get(language, "")
    return words


def _static(name: str, media: str) -> Response:
    return Response(
        (STATIC / name).read_bytes(),
        media_type=media,
        headers={"Cache-Control": "public, max-age=300", "X-Content-Type-Options": "nosniff"},
    )


def build_router() -> APIRouter:
    router = APIRouter(prefix="/widget", include_in_schema=False)

    @router.get("/loader.js")
    def loader() -> Response:
        return _static("loader.js", "text/javascript; charset=utf-8")

    @router.get("/static/frame.js")
    def frame_js() -> Response:
        return _static("frame.js", "text/javascript; charset=utf-8")

    @router.get("/static/frame.css")
    def frame_css() -> Response:
        return _static("frame.css", "text/css; charset=utf-8")

    @router.get("/demo")
    def demo(request: Request, channel: str = "") -> Response:
        """The widget on the installation's own page (its origin is always allowed)."""
        found = _channel(runtime_of(request), channel) if channel else None
        language = language_of(request.headers.get("accept-language", ""))
        words = texts(language)
        if found is None:
            body = f"<p>{html.escape(words['refused'])}</p>"
        else:
            body = (
                f'<script src="/widget/loader.js" data-channel="{html.escape(channel)}" '
                "async></script>"
            )
        page = (
            f'<!doctype html><html lang="{language}"><head><meta charset="utf-8">'
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{html.escape(words['title'])}</title></head>"
            '<body style="font-family:system-ui,sans-serif;margin:2rem">'
            f"<h1>{html.escape(found[0].name if found else words['title'])}</h1>{body}"
            "</body></html>"
        )
        return Response(
            page,
            media_type="text/html; charset=utf-8",
            headers={
                "Content-Security-Policy": (
                    "default-src 'none'; script-src 'self'; connect-src 'self'; "
                    "frame-src 'self'; style-src 'unsafe-inline'"
                )
            },
        )

    @router.get("/{public_id}/config")
    def config(request: Request, public_id: str, lang: str = "") -> Response:
        """What the loader needs to draw the launcher: for allowed sites only (CORS)."""
        found = _channel(runtime_of(request), public_id)
        language = language_of(lang or request.headers.get("accept-language", ""))
        if found is None:
            return _error("refused", 404, language)
        _channel_row, cfg = found
        if not _origin_ok(request, cfg):
            return _error("refused", 403, language)
        words = _texts(cfg, language)
        origin = normalise_origin(request.headers.get("origin") or _own_origin(request))
        return JSONResponse(
            {
                "color": cfg.color,
                "position": cfg.position,
                "launcher": words["launcher"],
                "title": words["title"],
                "close": words["close"],
                "lang": language,
            },
            headers={
                "Access-Control-Allow-Origin": origin,
                "Vary": "Origin",
                "Cache-Control": "no-store",
            },
        )

    @router.get("/{public_id}/frame")
    def frame(request: Request, public_id: str, lang: str = "", site: str = "") -> Response:
        runtime = runtime_of(request)
        found = _channel(runtime, public_id)
        language = language_of(lang or request.headers.get("accept-language", ""))
        if found is None:
            return _error("refused", 404, language)
        _row, cfg = found
        own = _own_origin(request)
        ancestors = " ".join(["'self'", *cfg.allowed_origins])
        words = _texts(cfg, language)
        config = {
            "id": public_id,
            "lang": language,
            "color": cfg.color,
            "position": cfg.position,
            "prechat": cfg.prechat.model_dump(),
            "uploads": cfg.uploads,
            "maxUpload": cfg.max_upload_bytes,
            "maxText": MAX_TEXT,
            "texts": words,
        }
        page = (
            f'<!doctype html><html lang="{language}"><head><meta charset="utf-8">'
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{html.escape(words['title'])}</title>"
            '<link rel="stylesheet" href="/widget/static/frame.css">'
            '<script src="/widget/static/frame.js" defer></script></head>'
            f'<body data-config="{html.escape(json.dumps(config))}"></body></html>'
        )
        ws_origin = own.replace("http", "ws", 1) if own else ""
        csp = (
            "default-src 'none'; script-src 'self'; style-src 'self'; "
            f"img-src 'self' data: blob:; connect-src 'self' {ws_origin}; "
            f"frame-ancestors {ancestors}; base-uri 'none'; form-action 'none'"
        )
        return Response(
            page,
            media_type="text/html; charset=utf-8",
            headers={
                "Content-Security-Policy": csp,
                "X-Content-Type-Options": "nosniff",
                "Referrer-Policy": "no-referrer",
                "Cache-Control": "no-store",
            },
        )

    @router.post("/{public_id}/session")
    async def start_session(request: Request, public_id: str) -> Response:
        """The visitor's token (a new one, or theirs again), their conversation so far and
        whether someone can answer now. ``identify`` links a verified site user."""
        runtime = runtime_of(request)
        admitted = await _admit_json(request, runtime, public_id)
        if isinstance(admitted, Response):
            return admitted
        channel, _cfg, body, _language = admitted
        token = str(body.get("token") or "")
        try:
            visitor = read_token(runtime.box, token, channel_id=channel.id) if token else None
        except TokenRefused:
            visitor = None
        if visitor is None:
            token = issue_token(runtime.box, channel.id)
            visitor = read_token(runtime.box, token, channel_id=channel.id)
        identify = body.get("identify")
        verified: bool | None = None
        if isinstance(identify, dict) and identify.get("id"):
            verified = await in_thread(_identify, runtime, channel, visitor, identify)
        state = await in_thread(_snapshot, runtime, channel, visitor)
        return JSONResponse(
            {"token": token, "verified": verified, **state},
            headers={"Cache-Control": "no-store"},
        )

    @router.websocket("/{public_id}/ws")
    async def socket(websocket: WebSocket, public_id: str) -> None:
        runtime = runtime_of(websocket)
        found = _channel(runtime, public_id)
        if found is None or not _origin_ok(websocket, found[1]):
            await websocket.close(code=4403)
            return
        channel, cfg = found
        try:
            visitor = read_token(
                runtime.box, websocket.query_params.get("token", ""), channel_id=channel.id
            )
        except TokenRefused:
            await websocket.close(code=4401)
            return
        after = _int(websocket.query_params.get("after"))
        await websocket.accept()
        conn = Connection(runtime, hub_for(runtime), channel, cfg, visitor, _limits(websocket))
        conn.ip = _ip(websocket)
        conn.language = language_of(websocket.query_params.get("lang", ""))

        async def send(frame: dict[str, Any]) -> None:
            await websocket.send_text(json.dumps(frame))

        async def receive() -> None:
            while True:
                raw = await websocket.receive_text()
                if len(raw) > MAX_FRAME:
                    await send(conn.problem("too_long"))
                    continue
                try:
                    frame = json.loads(raw)
                except ValueError:
                    continue
                if isinstance(frame, dict):
                    for out in await conn.handle(frame):
                        await send(out)

        with contextlib.suppress(WebSocketDisconnect, RuntimeError):
            await conn.run(after, send, receive)

    @router.get("/{public_id}/events")
    async def events(request: Request, public_id: str) -> Response:
        """The SSE fallback of the WebSocket: the same frames, one per ``data:`` line."""
        runtime = runtime_of(request)
        found = _channel(runtime, public_id)
        if found is None:
            return _error("refused", 404)
        channel, cfg = found
        try:
            visitor = read_token(
                runtime.box, request.query_params.get("token", ""), channel_id=channel.id
            )
        except TokenRefused:
            return _error("refused", 401)
        after = _int(request.headers.get("last-event-id") or request.query_params.get("after"))
        conn = Connection(runtime, hub_for(runtime), channel, cfg, visitor, _limits(request))
        queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()

        async def send(frame: dict[str, Any]) -> None:
            await queue.put(frame)

        async def until_gone() -> None:
            while True:
                if await request.is_disconnected():
                    return
                await asyncio.sleep(1.0)

        async def stream() -> AsyncIterator[str]:
            task = asyncio.create_task(conn.run(after, send, until_gone))
            try:
                yield "retry: 2000\n\n"
                while not task.done():
                    try:
                        frame = await asyncio.wait_for(queue.get(), PING)
                    except TimeoutError:
                        yield ": keep-alive\n\n"
                        continue
                    event_id = frame.get("e")
                    prefix = f"id: {event_id}\n" if event_id else ""
                    yield f"{prefix}data: {json.dumps(frame)}\n\n"
            finally:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task

        return StreamingResponse(
            stream(),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
        )

    @router.post("/{public_id}/messages")
    async def post_message(request: Request, public_id: str) -> Response:
        """A message by POST (the fallback's way, and the way files come: multipart)."""
        runtime = runtime_of(request)
        found = _channel(runtime, public_id)
        if found is None:
            return _error("refused", 404)
        channel, cfg = found
        if not _origin_ok(request, cfg):
            return _error("refused", 403)
        form = await request.form()
        language = language_of(str(form.get("lang") or ""))
        try:
            visitor = read_token(runtime.box, str(form.get("token") or ""), channel_id=channel.id)
        except TokenRefused:
            return _error("refused", 401, language)
        files = [f for f in form.getlist("file") if isinstance(f, UploadFile)]
        uploads: list[OutgoingAttachment] = []
        if files and not cfg.uploads:
            return _error("no_uploads", 422, language)
        for upload in files[:5]:
            data = await upload.read(cfg.max_upload_bytes + 1)
            if len(data) > cfg.max_upload_bytes:
                return JSONResponse(
                    {
                        "error": "too_big",
                        "message": texts(language)["too_big"]
                        % {"size": _size(cfg.max_upload_bytes)},
                    },
                    status_code=413,
                )
            uploads.append(
                OutgoingAttachment(
                    filename=(upload.filename or "file")[:200],
                    content_type=(upload.content_type or "application/octet-stream")[:100],
                    data=data,
                )
            )
        conn = Connection(runtime, hub_for(runtime), channel, cfg, visitor, _limits(request))
        conn.ip, conn.language = _ip(request), language
        frames = await conn.handle(
            {
                "t": "msg",
                "text": str(form.get("text") or ""),
                "key": str(form.get("key") or ""),
                "meta": _meta(form),
            },
            uploads,
        )
        bad = next((f for f in frames if f.get("t") == "error"), None)
        if bad is not None:
            status = 429 if str(bad["code"]).startswith("rate") else 422
            return JSONResponse({"error": bad["code"], "message": bad["text"]}, status_code=status)
        return JSONResponse({"frames": frames}, headers={"Cache-Control": "no-store"})

    @router.post("/{public_id}/offline")
    async def offline(request: Request, public_id: str) -> Response:
        """A message left while nobody is online, with the address to answer by e-mail."""
        runtime = runtime_of(request)
        admitted = await _admit_json(request, runtime, public_id)
        if isinstance(admitted, Response):
            return admitted
        channel, cfg, body, language = admitted
        try:
            visitor = read_token(runtime.box, str(body.get("token") or ""), channel_id=channel.id)
        except TokenRefused:
            return _error("refused", 401, language)
        text = str(body.get("text") or "").strip()
        name = str(body.get("name") or "").strip()[:MAX_FIELD]
        try:
            email = validate_email(
                str(body.get("email") or "")[:320], check_deliverability=False
            ).normalized
        except EmailNotValidError:
            return _error("bad_email", 422, language)
        if not text:
            return _error("required", 422, language)
        if len(text) > MAX_TEXT:
            return _error("too_long", 422, language)
        limits = _limits(request)
        if not limits.new_chat(ip=_ip(request)):
            return _error("rate_chats", 429, language)
        await in_thread(_leave_message, runtime, channel, cfg, visitor, email, name, text)
        return JSONResponse(
            {"ok": True, "message": texts(language)["offline_done"] % {"email": email}}
        )

    @router.get("/{public_id}/files/{attachment_id}")
    def download(request: Request, public_id: str, attachment_id: int, token: str = "") -> Response:
        """A file of the visitor's own conversation (the token in the query: an <img>)."""
        runtime = runtime_of(request)
        found = _channel(runtime, public_id)
        if found is None:
            return _error("refused", 404)
        channel, _cfg = found
        try:
            visitor = read_token(runtime.box, token, channel_id=channel.id)
        except TokenRefused:
            return _error("refused", 404)
        with runtime.db.reading() as session:
            client = visitor_client(session, channel, visitor)
            cid = channel.company_id
            att = get_scoped(session, Attachment, attachment_id, company_id=cid)
            message = (
                get_scoped(session, Message, att.message_id, company_id=cid)
                if att is not None
                else None
            )
            if (
                client is None
                or att is None
                or message is None
                or message.channel_id != channel.id
                or message.client_id != client.id
                or message.type == "comment"
            ):
                return _error("refused", 404)
            sha, name, ctype = att.blob_sha, att.filename, att.content_type
        data = runtime.blobs.get(sha)
        inline = ctype in INLINE_TYPES
        safe = name.replace('"', "").replace("\r", "").replace("\n", "")
        return Response(
            data,
            media_type=ctype if inline else "application/octet-stream",
            headers={
                "Content-Disposition": (
                    f"{'inline' if inline else 'attachment'}; filename*=UTF-8''{quote(safe)}"
                ),
                "X-Content-Type-Options": "nosniff",
                "Content-Security-Policy": "sandbox; default-src 'none'",
                "Cache-Control": "private, max-age=3600",
            },
        )

    return router


# --- the live connection -------------------------------------------------------------------


class Connection:
    """One visitor's live connection (a WebSocket or an SSE stream): catch-up, then the hub's
    notes; and what the visitor sends."""

    def __init__(
        self,
        runtime: Runtime,
        hub: Hub,
        channel: Channel,
        cfg: WidgetSettings,
        visitor: Visitor,
        limits: Limits,
    ) -> None:
        self.runtime = runtime
        self.hub = hub
        self.channel = channel
        self.cfg = cfg
        self.visitor = visitor
        self.limits = limits
        self.public_id = str((channel.settings or {}).get("public_id", ""))
        self.ip = "?"
        self.language = "pt-BR"
        self.client_id: int | None = None
        self.sent: set[int] = set()  # message ids already shown
        self.typed = 0.0  # when the visitor's last typing signal was written
        self.sub: Any = None

    def problem(self, code: str, **values: Any) -> dict[str, Any]:
        words = texts(self.language)
        text = words.get(code, words["failed"])
        return {"t": "error", "code": code, "text": text % values if values else text}

    async def run(self, after: int, send: Any, receive: Any) -> None:
        self.client_id = await in_thread(self._client_id)
        self.sub = await self.hub.subscribe(
            self.channel.id, self.client_id, self.visitor.visitor_id
        )
        try:
            for frame in await in_thread(self._catch_up, after):
                await send(frame)
            reader = asyncio.create_task(receive())
            try:
                while not reader.done():
                    getter = asyncio.ensure_future(self.sub.queue.get())
                    done, _ = await asyncio.wait(
                        {getter, reader}, return_when=asyncio.FIRST_COMPLETED
                    )
                    if getter not in done:
                        getter.cancel()
                        continue
                    for frame in await self._frames_for(getter.result()):
                        await send(frame)
                if reader.done() and reader.exception() is not None:
                    raise reader.exception()  # type: ignore[misc]
            finally:
                reader.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await reader
        finally:
            self.hub.unsubscribe(self.sub)

    # --- reads (in a thread) ----------------------------------------------------------------

    def _client_id(self) -> int | None:
        with self.runtime.db.reading() as session:
            client = visitor_client(session, self.channel, self.visitor)
            return client.id if client is not None else None

    def _catch_up(self, after: int) -> list[dict[str, Any]]:
        with self.runtime.db.reading() as session:
            cursor = last_event_id(session, company_id=self.channel.company_id)
            frames: list[dict[str, Any]] = []
            online = operators_online(session, company_id=self.channel.company_id)
            operator = ""
            if self.client_id is not None:
                operator = assigned_operator(
                    session, channel=self.channel, client_id=self.client_id
                )
                if after > 0:
                    for event in followed_events(
                        session, channel=self.channel, client_id=self.client_id, after=after
                    ):
                        frames.extend(self._event_frames(session, event.id, event.payload))
                    cursor = max([after, *(f.get("e", 0) for f in frames)])
                else:
                    rows = visible_messages(session, channel=self.channel, client_id=self.client_id)
                    frames.extend(self._message_frames(session, rows, cursor))
            hello = {"t": "hello", "e": cursor, "online": online, "operator": operator}
            return [hello, *frames]

    def _message_frames(
        self, session: Any, rows: list[Message], event_id: int
    ) -> list[dict[str, Any]]:
        fresh = [m for m in rows if m.id not in self.sent]
        return self._item_frames(messages_out(session, fresh, public_id=self.public_id), event_id)

    def _item_frames(self, items: list[dict[str, Any]], event_id: int) -> list[dict[str, Any]]:
        """``msg`` frames for messages as the widget shows them, each once per connection."""
        out = []
        for item in items:
            if int(item["id"]) in self.sent:
                continue
            self.sent.add(int(item["id"]))
            if item["author"] == "visitor" and not item["read"] and self.sub is not None:
                self.sub.unread.add(int(item["id"]))
            out.append({"t": "msg", "e": event_id, "m": item})
        return out

    def _event_frames(
        self, session: Any, event_id: int, payload: dict[str, Any]
    ) -> list[dict[str, Any]]:
        if "operator_id" in payload and "message_id" not in payload:  # dialog_transferred
            assert self.client_id is not None
            name = assigned_operator(session, channel=self.channel, client_id=self.client_id)
            return [{"t": "status", "e": event_id, "operator": name}]
        message_id = payload.get("message_id")
        if not isinstance(message_id, int):
            return []
        shown = shown_messages(session, company_id=self.channel.company_id, ids=[message_id])
        mine = [
            m for m in shown if (m.channel_id, m.client_id) == (self.channel.id, self.client_id)
        ]
        return self._message_frames(session, mine, event_id)

    async def _frames_for(self, note: Note | dict[str, Any]) -> list[dict[str, Any]]:
        if isinstance(note, dict):
            return [note]
        if note.type == "typing":
            if note.payload.get("by") != "operator":
                return []
            return [{"t": "typing", "on": True, "name": str(note.payload.get("name") or "")}]
        if self.client_id is None:  # the hub learnt this visitor's client (another tab wrote)
            self.client_id = note.client_id
        if "message_id" in note.payload:  # the hub read the message for every connection
            mine = note.owner == (self.channel.id, self.client_id) and note.item is not None
            return self._item_frames([note.item] if mine and note.item else [], note.id)
        return await in_thread(self._note_frames, note)

    def _note_frames(self, note: Note) -> list[dict[str, Any]]:
        with self.runtime.db.reading() as session:
            return self._event_frames(session, note.id, note.payload)

    # --- what the visitor sends --------------------------------------------------------------

    async def handle(
        self, frame: dict[str, Any], uploads: list[OutgoingAttachment] | None = None
    ) -> list[dict[str, Any]]:
        kind = frame.get("t")
        if kind == "typing":
            now = time.monotonic()
            if self.client_id is not None and now - self.typed > TYPING_EVERY:
                self.typed = now
                client_id = self.client_id
                await in_thread(self._typing, client_id)
            return []
        if kind != "msg":
            return []
        text = str(frame.get("text") or "").strip()
        if not text and not uploads:
            return [self.problem("required")]
        if len(text) > MAX_TEXT:
            return [self.problem("too_long")]
        if not self.limits.message(visitor=self.visitor.visitor_id, ip=self.ip):
            return [self.problem("rate_messages")]
        if self.client_id is None and not self.limits.new_chat(ip=self.ip):
            return [self.problem("rate_chats")]
        meta = frame.get("meta") if isinstance(frame.get("meta"), dict) else {}
        store = partial(
            self._store, text, str(frame.get("key") or "")[:60], meta or {}, uploads or []
        )
        try:
            message_id, client_id = await writer_for(self.runtime).run(store)
        except DomainError:
            return [self.problem("failed")]
        if self.client_id is None:
            self.client_id = client_id
            if self.sub is not None:
                self.hub.set_client(self.sub, client_id)
        return [{"t": "ack", "key": frame.get("key"), "id": message_id}]

    def _typing(self, client_id: int) -> None:
        with self.runtime.db.transaction() as session:
            visitor_typing(session, channel=self.channel, client_id=client_id)

    def _store(
        self,
        text: str,
        key: str,
        meta: dict[str, Any],
        uploads: list[OutgoingAttachment],
        session: Session,
    ) -> tuple[int, int]:
        """The visitor's message in the writer's transaction (see :mod:`.writer`): only
        flushes, and may run again in a transaction of its own."""
        prechat, seen = _prechat(meta), whereabouts(meta)
        # The channel read once for the batch's messages on it: held for the transaction (a
        # session keeps a row only while something refers to it, and would SELECT it anew).
        held: dict[int, Channel] = session.info.setdefault("atendo_widget_channels", {})
        channel = held.get(self.channel.id) or get_channel(
            session, company_id=self.channel.company_id, channel_id=self.channel.id
        )
        held[channel.id] = channel
        message, arrival = (
            receive_visitor_message(
                session, channel, self.visitor, text=text, key=key, name=prechat.get("name", "")
            )
            if not uploads
            else _with_files(
                session, channel, self.visitor, text, key, prechat, uploads, self.runtime
            )
        )
        if arrival is not None and message.client_id is not None:
            _apply_prechat(session, channel, message.client_id, prechat, seen)
        assert message.client_id is not None
        changed(session)  # the visitor's other tabs, in any process
        return message.id, message.client_id


def _with_files(
    session: Any,
    channel: Channel,
    visitor: Visitor,
    text: str,
    key: str,
    prechat: dict[str, str],
    uploads: list[OutgoingAttachment],
    runtime: Runtime,
) -> tuple[Message, Any]:
    client = visitor_client(session, channel, visitor)
    sender = (
        Sender(client_id=client.id)
        if client is not None
        else Sender(kind="widget", address=visitor.visitor_id, name=prechat.get("name", ""))
    )
    arrival = receive_client_message(
        session,
        channel=channel,
        sender=sender,
        text=text,
        attachments=uploads,
        blobs=runtime.blobs,
        external_id=f"widget:{key}" if key else None,
    )
    return arrival.message, arrival


PRECHAT = ("name", "email", "phone")
META = (*PRECHAT, "page", "title", "referrer", "browser", "language", "timezone")


def _prechat(meta: dict[str, Any]) -> dict[str, str]:
    """The pre-chat answers the widget sent (a bad e-mail or phone left out)."""
    out: dict[str, str] = {}
    for key in PRECHAT:
        value = meta.get(key)
        if isinstance(value, str) and value.strip():
            out[key] = value.strip()[:MAX_FIELD]
    if "email" in out:
        try:
            out["email"] = validate_email(out["email"], check_deliverability=False).normalized
        except EmailNotValidError:
            del out["email"]
    if "phone" in out and not _PHONE.match(out["phone"]):
        del out["phone"]
    return out


def _apply_prechat(
    session: Any,
    channel: Channel,
    client_id: int,
    prechat: dict[str, str],
    seen: dict[str, str] | None = None,
) -> None:
    """The pre-chat answers on the client (name, phone, e-mail) and where the visitor is
    (``Client.visitor``, see :mod:`.whereabouts`), for the operator; written only when they
    change (most messages change nothing)."""
    client = get_scoped(session, Client, client_id, company_id=channel.company_id)
    if client is None:
        return
    fields: dict[str, Any] = {}
    if prechat.get("name") and prechat["name"] != client.name:
        fields["name"] = prechat["name"]
    if prechat.get("phone") and prechat["phone"] != client.phone:
        fields["phone"] = prechat["phone"]
    visitor = updated(client.visitor, seen or {})
    if visitor is not None:
        fields["visitor"] = visitor
    if fields:
        with contextlib.suppress(DomainError):
            update_client(
                session, company_id=channel.company_id, client_id=client_id, changes=fields
            )
    if prechat.get("email"):
        with contextlib.suppress(DomainError):
            add_identity(
                session,
                company_id=channel.company_id,
                client_id=client_id,
                transport="email",
                address=prechat["email"],
            )


def _identify(runtime: Runtime, channel: Channel, visitor: Visitor, data: dict[str, Any]) -> bool:
    external_id = str(data.get("id") or "")[:MAX_FIELD]
    given = str(data.get("hash") or "")[:128]
    secret = channel_secrets(channel, runtime.box).get("identity_secret", "")
    if not identity_hash_ok(secret, external_id, given):
        return False
    with runtime.db.transaction() as session:
        link_verified_identity(
            session,
            channel,
            visitor,
            external_id=external_id,
            name=str(data.get("name") or "")[:MAX_FIELD],
        )
    return True


def _snapshot(runtime: Runtime, channel: Channel, visitor: Visitor) -> dict[str, Any]:
    with runtime.db.reading() as session:
        client = visitor_client(session, channel, visitor)
        online = operators_online(session, company_id=channel.company_id)
        operator = (
            assigned_operator(session, channel=channel, client_id=client.id) if client else ""
        )
        return {"online": online, "operator": operator, "known": client is not None}


def _leave_message(
    runtime: Runtime,
    channel: Channel,
    cfg: WidgetSettings,
    visitor: Visitor,
    email: str,
    name: str,
    text: str,
) -> None:
    """Offline: the message goes to the chosen e-mail channel as if the visitor had written
    there (so the answer is an e-mail and the conversation continues by e-mail); without one,
    it stays in the widget conversation with the address on the client."""
    with runtime.db.transaction() as session:
        target: Channel | None = None
        if cfg.offline_email_channel_id:
            with contextlib.suppress(DomainError):
                target = get_channel(
                    session,
                    company_id=channel.company_id,
                    channel_id=cfg.offline_email_channel_id,
                )
        if target is not None and target.transport == "email":
            receive_client_message(
                session,
                channel=target,
                sender=Sender(kind="email", address=email, name=name),
                text=text,
                subject=channel.name[:200],
                from_email=email,
                from_name=name,
            )
            return
        message, _arrival = receive_visitor_message(session, channel, visitor, text=text, name=name)
        changed(session)
        if message.client_id is not None:
            _apply_prechat(session, channel, message.client_id, {"email": email, "name": name})


# --- small helpers --------------------------------------------------------------------------


async def _admit_json(
    request: Request, runtime: Runtime, public_id: str
) -> tuple[Channel, WidgetSettings, dict[str, Any], str] | Response:
    """A visitor's JSON POST: the channel, its settings, the body and the visitor's language;
    or the refusal (404 unknown channel, 403 a site not allowed), in that language."""
    found = _channel(runtime, public_id)
    body = await _json(request)
    language = language_of(str(body.get("lang") or ""))
    if found is None:
        return _error("refused", 404, language)
    channel, cfg = found
    if not _origin_ok(request, cfg):
        return _error("refused", 403, language)
    return channel, cfg, body, language


async def _json(request: Request) -> dict[str, Any]:
    raw = await request.body()
    if len(raw) > 64 * 1024:
        return {}
    try:
        data = json.loads(raw or b"{}")
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def _int(value: str | None) -> int:
    return int(value) if value and value.isdigit() and len(value) < 19 else 0


def _meta(form: Any) -> dict[str, str]:
    return {k: str(form.get(k)) for k in META if form.get(k)}


def _size(n: int) -> str:
    return f"{n // (1024 * 1024)} MB" if n >= 1024 * 1024 else f"{max(1, n // 1024)} KB"
