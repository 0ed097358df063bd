"""A real OAuth 2.0 authorization server on loopback, for the OAuth mailbox tests.

It speaks HTTP on a free 127.0.0.1 port (``ThreadingHTTPServer`` in its own thread) and does
what Google's and Microsoft's endpoints do for a mail client, by the RFCs:

- ``GET /authorize`` (RFC 6749 §4.1.1, PKCE RFC 7636): checks the client, the redirect URI and
  the S256 code challenge, and shows a consent page (the account's address in a field and an
  "Allow" button); ``POST /authorize`` sends the browser back to the redirect URI with a
  one-time ``code`` and the ``state`` it was given (or ``error=access_denied``);
- ``POST /token``: ``authorization_code`` (client secret, redirect URI and ``code_verifier``
  checked; the code works once) and ``refresh_token`` grants; ``invalid_grant`` for a revoked
  or unknown refresh token. Answers carry ``expires_in`` and an OpenID ``id_token`` (a JWT,
  HS256) with the account's ``email``;
- ``POST /introspect`` (RFC 7662): ``{"active": true, "email": …}`` for a live access token,
  ``{"active": false}`` otherwise. Dovecot's ``oauth2`` passdb (``introspection_mode = post``)
  and the XOAUTH2 SMTP server below ask it for every login.

Tokens are opaque random strings kept in memory. Time is the server's own clock, and a test
moves it without waiting: :meth:`OAuthServer.expire_access_tokens` ends every access token now,
:meth:`OAuthServer.revoke` ends a user's grant (refresh tokens too).

:class:`OAuthDovecot` is a Dovecot of its own with the ``oauth2`` passdb pointing at this
server, and :class:`XOAuth2SmtpServer` an aiosmtpd server whose AUTH XOAUTH2 introspects the
token at the same server.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import html
import json
import secrets
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from aiosmtpd.smtp import SMTP, AuthResult

from tests.servers.dovecot import DovecotServer, dovecot_available
from tests.servers.require import unavailable
from tests.servers.smtp import SmtpServer

__all__ = ["OAuthDovecot", "OAuthServer", "XOAuth2SmtpServer", "oauth_dovecot"]

HOST = "127.0.0.1"
ID_TOKEN_KEY = b"atendo-test-id-token-key"


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@dataclass
class _Grant:
    email: str
    client_id: str
    scope: str
    revoked: bool = False


@dataclass
class _Code:
    grant: _Grant
    redirect_uri: str
    challenge: str
    used: bool = False


@dataclass
class _Access:
    grant: _Grant
    expires: float


@dataclass
class OAuthServer:
    """The authorization server. ``clients``: client id → (secret, allowed redirect URIs);
    ``consent_as``: the address the consent page offers (the test's mailbox)."""

    clients: dict[str, tuple[str, tuple[str, ...]]] = field(default_factory=dict)
    access_seconds: int = 3600
    consent_as: str = ""
    # What happened, for the tests' assertions.
    grants_by_type: dict[str, int] = field(default_factory=dict)
    introspections: list[tuple[str, bool]] = field(default_factory=list)
    _codes: dict[str, _Code] = field(default_factory=dict)
    _access: dict[str, _Access] = field(default_factory=dict)
    _refresh: dict[str, _Grant] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _httpd: ThreadingHTTPServer | None = None
    _skew: float = 0.0

    # ---- lifecycle ----------------------------------------------------------------------

    def start(self) -> OAuthServer:
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                outer._dispatch(self, "GET")

            def do_POST(self) -> None:
                outer._dispatch(self, "POST")

            def log_message(self, *args: Any) -> None:
                pass

        self._httpd = ThreadingHTTPServer((HOST, 0), Handler)
        self._httpd.daemon_threads = True
        threading.Thread(target=self._httpd.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    @property
    def port(self) -> int:
        assert self._httpd is not None
        return int(self._httpd.server_address[1])

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    # ---- what tests do --------------------------------------------------------------------

    def add_client(self, client_id: str, secret: str, *redirect_uris: str) -> None:
        with self._lock:
            self.clients[client_id] = (secret, redirect_uris)

    def expire_access_tokens(self) -> None:
        """Every access token issued so far is past its expiry from now on."""
        with self._lock:
            for access in self._access.values():
                access.expires = min(access.expires, self._now() - 1)

    def revoke(self, email: str) -> None:
        """The user withdrew the app's access: its refresh and access tokens stop working."""
        with self._lock:
            for grant in self._refresh.values():
                if grant.email == email:
                    grant.revoked = True

    def issue(self, email: str, client_id: str, scope: str = "mail") -> dict[str, Any]:
        """Tokens for ``email`` without the browser (what a finished flow would hold)."""
        with self._lock:
            return self._tokens(_Grant(email, client_id, scope), with_refresh=True)

    def refreshes(self) -> int:
        return self.grants_by_type.get("refresh_token", 0)

    # ---- the protocol -------------------------------------------------------------------

    def _now(self) -> float:
        return time.time() + self._skew

    def _tokens(self, grant: _Grant, *, with_refresh: bool) -> dict[str, Any]:
        access = secrets.token_urlsafe(24)
        self._access[access] = _Access(grant, self._now() + self.access_seconds)
        answer: dict[str, Any] = {
            "access_token": access,
            "token_type": "Bearer",
            "expires_in": self.access_seconds,
            "scope": grant.scope,
            "id_token": self._id_token(grant),
        }
        if with_refresh:
            refresh = secrets.token_urlsafe(24)
            self._refresh[refresh] = grant
            answer["refresh_token"] = refresh
        return answer

    def _id_token(self, grant: _Grant) -> str:
        now = int(self._now())
        header = _b64url(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
        claims = {
            "iss": self.url,
            "aud": grant.client_id,
            "sub": hashlib.sha256(grant.email.encode()).hexdigest()[:20],
            "email": grant.email,
            "email_verified": True,
            "iat": now,
            "exp": now + 3600,
        }
        payload = _b64url(json.dumps(claims).encode())
        signature = hmac.new(ID_TOKEN_KEY, f"{header}.{payload}".encode(), hashlib.sha256)
        return f"{header}.{payload}.{_b64url(signature.digest())}"

    def active(self, token: str) -> str | None:
        """The address a live access token belongs to, or None."""
        with self._lock:
            access = self._access.get(token)
            ok = access is not None and access.expires > self._now() and not access.grant.revoked
            self.introspections.append((token[:6], ok))
            return access.grant.email if ok and access is not None else None

    def _dispatch(self, req: BaseHTTPRequestHandler, method: str) -> None:
        parsed = urllib.parse.urlsplit(req.path)
        query = dict(urllib.parse.parse_qsl(parsed.query))
        form: dict[str, str] = {}
        if method == "POST":
            length = int(req.headers.get("content-length") or 0)
            form = dict(urllib.parse.parse_qsl(req.rfile.read(length).decode()))
        route = (method, parsed.path)
        if route == ("GET", "/authorize"):
            self._consent_page(req, query)
        elif route == ("POST", "/authorize"):
            self._decide(req, form)
        elif route == ("POST", "/token"):
            self._token(req, form)
        elif route == ("POST", "/introspect"):
            email = self.active(form.get("token", ""))
            body = {"active": True, "email": email} if email else {"active": False}
            self._json(req, 200, body)
        else:
            self._json(req, 404, {"error": "not_found"})

    def _bad_authorize(self, query: dict[str, str]) -> str | None:
        client = self.clients.get(query.get("client_id", ""))
        if client is None:
            return "unknown client"
        if query.get("redirect_uri") not in client[1]:
            return "redirect_uri not registered"
        if query.get("response_type") != "code":
            return "response_type must be code"
        if query.get("code_challenge_method") != "S256" or not query.get("code_challenge"):
            return "PKCE (S256) is required"
        if not query.get("state"):
            return "state is required"
        return None

    def _consent_page(self, req: BaseHTTPRequestHandler, query: dict[str, str]) -> None:
        problem = self._bad_authorize(query)
        if problem:
            self._html(req, 400, f"<h1>{html.escape(problem)}</h1>")
            return
        hidden = "".join(
            f'<input type="hidden" name="{html.escape(k)}" value="{html.escape(v)}">'
            for k, v in query.items()
        )
        self._html(
            req,
            200,
            "<!doctype html><title>Local provider — consent</title>"
            f"<h1>Allow {html.escape(query['client_id'])} to read and send your mail?</h1>"
            f"<p>Scope: {html.escape(query.get('scope', ''))}</p>"
            f'<form method="post" action="/authorize">{hidden}'
            f'<label>Account <input name="account" value="{html.escape(self.consent_as)}">'
            "</label> "
            '<button name="decision" value="allow" data-testid="consent-allow">Allow</button> '
            '<button name="decision" value="deny" data-testid="consent-deny">Deny</button>'
            "</form>",
        )

    def _decide(self, req: BaseHTTPRequestHandler, form: dict[str, str]) -> None:
        problem = self._bad_authorize(form)
        if problem:
            self._html(req, 400, f"<h1>{html.escape(problem)}</h1>")
            return
        back = {"state": form["state"]}
        if form.get("decision") != "allow":
            back["error"] = "access_denied"
        else:
            code = secrets.token_urlsafe(16)
            grant = _Grant(form["account"], form["client_id"], form.get("scope", ""))
            with self._lock:
                self._codes[code] = _Code(grant, form["redirect_uri"], form["code_challenge"])
            back["code"] = code
        req.send_response(302)
        req.send_header("location", f"{form['redirect_uri']}?{urllib.parse.urlencode(back)}")
        req.send_header("content-length", "0")
        req.end_headers()

    def _client_ok(self, req: BaseHTTPRequestHandler, form: dict[str, str]) -> str | None:
        client_id, secret = form.get("client_id", ""), form.get("client_secret", "")
        basic = req.headers.get("authorization", "")
        if basic.startswith("Basic "):
            pair = base64.b64decode(basic[6:]).decode()
            client_id, _, secret = pair.partition(":")
            client_id, secret = urllib.parse.unquote(client_id), urllib.parse.unquote(secret)
        known = self.clients.get(client_id)
        if known is None or not hmac.compare_digest(known[0], secret):
            return None
        return client_id

    def _token(self, req: BaseHTTPRequestHandler, form: dict[str, str]) -> None:
        client_id = self._client_ok(req, form)
        if client_id is None:
            self._json(req, 401, {"error": "invalid_client"})
            return
        kind = form.get("grant_type", "")
        with self._lock:
            self.grants_by_type[kind] = self.grants_by_type.get(kind, 0) + 1
            if kind == "authorization_code":
                code = self._codes.get(form.get("code", ""))
                verifier = form.get("code_verifier", "")
                challenge = _b64url(hashlib.sha256(verifier.encode()).digest())
                if (
                    code is None
                    or code.used
                    or code.grant.client_id != client_id
                    or code.redirect_uri != form.get("redirect_uri")
                    or not hmac.compare_digest(code.challenge, challenge)
                ):
                    self._json(req, 400, {"error": "invalid_grant"})
                    return
                code.used = True
                self._json(req, 200, self._tokens(code.grant, with_refresh=True))
            elif kind == "refresh_token":
                grant = self._refresh.get(form.get("refresh_token", ""))
                if grant is None or grant.revoked or grant.client_id != client_id:
                    self._json(
                        req,
                        400,
                        {"error": "invalid_grant", "error_description": "Token has been revoked"},
                    )
                    return
                self._json(req, 200, self._tokens(grant, with_refresh=False))
            else:
                self._json(req, 400, {"error": "unsupported_grant_type"})

    @staticmethod
    def _json(req: BaseHTTPRequestHandler, status: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        req.send_response(status)
        req.send_header("content-type", "application/json")
        req.send_header("content-length", str(len(data)))
        req.end_headers()
        req.wfile.write(data)

    @staticmethod
    def _html(req: BaseHTTPRequestHandler, status: int, body: str) -> None:
        data = body.encode()
        req.send_response(status)
        req.send_header("content-type", "text/html; charset=utf-8")
        req.send_header("content-length", str(len(data)))
        req.end_headers()
        req.wfile.write(data)


def introspect(url: str, token: str) -> str | None:
    """Ask the server's introspection endpoint, as a resource server does (RFC 7662)."""
    data = urllib.parse.urlencode({"token": token}).encode()
    with urllib.request.urlopen(f"{url}/introspect", data=data, timeout=5) as answer:
        body = json.loads(answer.read())
    return str(body["email"]) if body.get("active") else None


OAUTH2_CONF = """# Dovecot's oauth2 passdb: every XOAUTH2/OAUTHBEARER login is introspected
# at the test authorization server (RFC 7662, POST token=...);
# the token's email must be the user name.
introspection_mode = post
introspection_url = {url}/introspect
username_attribute = email
active_attribute = active
active_value = true
"""


class OAuthDovecot(DovecotServer):
    """A Dovecot of its own whose logins are XOAUTH2/OAUTHBEARER against ``oauth_url``.

    The test bed's configuration with the passwd-file passdb replaced by the ``oauth2`` one
    (users need no passwd-file: any address the token's ``email`` names is a user)."""

    def __init__(self, oauth_url: str, mechanisms: str = "xoauth2 oauthbearer") -> None:
        super().__init__()
        self.oauth_url = oauth_url
        self.mechanisms = mechanisms

    def _render_config(self) -> None:
        super()._render_config()
        text = self.config_path.read_text()
        oauth_conf = self.run_dir / "dovecot-oauth2.conf.ext"
        oauth_conf.write_text(OAUTH2_CONF.format(url=self.oauth_url))
        oauth_conf.chmod(0o644)
        start = text.index("passdb {")
        end = text.index("}", start) + 1
        passdb = (
            f"passdb {{\n  driver = oauth2\n  mechanisms = {self.mechanisms}\n"
            f"  args = {oauth_conf}\n}}\n"
            # the test bed's own users (add_user / deliver's checks) still log in with PLAIN
            "passdb {\n  driver = passwd-file\n"
            f"  args = scheme=PLAIN username_format=%Lu {self.users_dir}/%Lu\n}}"
        )
        text = text[:start] + passdb + text[end:]
        text = text.replace(
            "auth_mechanisms = plain login", f"auth_mechanisms = plain login {self.mechanisms}"
        )
        text = text.replace(
            "args = uid=mail gid=mail home=", "args = allow_all_users=yes uid=mail gid=mail home="
        )
        self.config_path.write_text(text)


@contextmanager
def oauth_dovecot(
    oauth_url: str, mechanisms: str = "xoauth2 oauthbearer"
) -> Iterator[OAuthDovecot]:
    """A started :class:`OAuthDovecot`, stopped after (skips, or fails in CI, where Dovecot
    cannot run)."""
    reason = dovecot_available()
    if reason:
        unavailable(reason)
    server = OAuthDovecot(oauth_url, mechanisms)
    try:
        server.start()
        yield server
    finally:
        server.close()


class XOAuth2SmtpServer(SmtpServer):
    """The test bed's SMTP server whose AUTH is XOAUTH2 only, each token introspected at the
    authorization server (the Google/Microsoft format: ``user=…^Aauth=Bearer …^A^A``; a refused
    token gets the JSON error challenge, then 535 after the client's empty line)."""

    def __init__(self, oauth_url: str, **kwargs: Any) -> None:
        super().__init__(auth=("-", "-"), **kwargs)  # AUTH required; PLAIN/LOGIN never match
        self.oauth_url = oauth_url
        self.xoauth2: list[tuple[str, bool]] = []
        handler = self._controller.handler

        async def auth_XOAUTH2(server: SMTP, args: list[str]) -> AuthResult:
            blob = args[1] if len(args) > 1 else ""  # ["XOAUTH2", initial response]
            if not blob:
                blob_bytes = await server.challenge_auth("", encode_to_b64=False)
                blob = blob_bytes.decode() if isinstance(blob_bytes, bytes) else ""
            try:
                text = base64.b64decode(blob).decode()
                fields = dict(p.split("=", 1) for p in text.split("\x01") if "=" in p)
                user, bearer = fields["user"], fields["auth"].removeprefix("Bearer ")
            except (ValueError, KeyError):
                return AuthResult(success=False, handled=False)
            email = introspect(self.oauth_url, bearer)
            ok = email is not None and email.lower() == user.lower()
            with self._lock:
                self.xoauth2.append((user, ok))
            if ok:
                return AuthResult(success=True, auth_data=user)
            error = json.dumps({"status": "401", "schemes": "bearer", "scope": "mail"})
            await server.challenge_auth(error)  # the client answers with an empty line
            return AuthResult(success=False, handled=False)

        handler.auth_XOAUTH2 = auth_XOAUTH2
