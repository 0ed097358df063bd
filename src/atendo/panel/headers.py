"""Browser-facing safety headers on every response of the web process.

* Every response: ``X-Content-Type-Options: nosniff`` and ``Referrer-Policy: no-referrer``
  (a link clicked inside a mail must not tell the outside site which dialog it came from).
* HTML pages that set no policy of their own get the panel's Content-Security-Policy: scripts
  only from the panel's own files (no inline script, no ``eval``: behaviour lives in
  ``static/app.js``), no framing (``frame-ancestors 'none'``, plus ``X-Frame-Options`` for old
  browsers), forms only to the panel. Styles may be inline: the mail iframe (``srcdoc``)
  inherits this policy and mail HTML is styled inline; the iframe is sandboxed without scripts
  and the mail's own ``<meta>`` policy narrows images further. Remote images (``https:``/
  ``http:``) are allowed by this outer policy only so that "show images" can work inside that
  iframe; the sanitiser keeps them out of the HTML until the operator asks.
* Other responses (JSON, files) without a policy get ``default-src 'none'``: nothing they
  could load or run if a browser rendered them.

Responses that bring their own policy (raw mail and attachment downloads use a ``sandbox``
policy) keep it. The API's interactive docs (``/docs``, ``/redoc``) load their scripts from a
CDN and are left without the panel policy.
"""

from __future__ import annotations

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

PANEL_CSP = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self' 'unsafe-inline'",
        "img-src 'self' data: https: http:",
        "connect-src 'self'",
        "font-src 'self'",
        "object-src 'none'",
        "base-uri 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)
OTHER_CSP = "default-src 'none'; frame-ancestors 'none'"
# The raw mail (.eml) and downloads: shown as a document at most, never run, never framed.
DOWNLOAD_CSP = "sandbox; default-src 'none'; img-src 'self'; frame-ancestors 'none'"

_DOCS_PREFIXES = ("/docs", "/redoc")


class SecurityHeaders:
    """Pure ASGI middleware (streams such as ``/live`` pass through untouched)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope.get("path", "")
        docs = path.startswith(_DOCS_PREFIXES)

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers.setdefault("X-Content-Type-Options", "nosniff")
                headers.setdefault("Referrer-Policy", "no-referrer")
                if not docs:
                    headers.setdefault("X-Frame-Options", "DENY")
                    html = headers.get("content-type", "").startswith("text/html")
                    headers.setdefault("Content-Security-Policy", PANEL_CSP if html else OTHER_CSP)
            await send(message)

        await self.app(scope, receive, send_with_headers)
