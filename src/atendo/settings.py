"""Configuration from ``ATENDO_*`` environment variables (pydantic-settings).

Everything the service writes lives under ``data_dir``: the SQLite database, the blob store
(raw mail and attachments) and the generated secret key. That folder is the whole installation.
"""

from __future__ import annotations

import secrets
from functools import cached_property
from pathlib import Path

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from atendo.kit.netguard import WEB_PORTS, PortSet


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="ATENDO_", extra="ignore")

    data_dir: Path = Path("./var")
    database_url: str | None = None
    secret_key: str | None = None
    host: str = "127.0.0.1"
    port: int = 8000
    # Seconds between IMAP polls when the server lacks IDLE (and the IDLE re-issue safety net).
    imap_poll_interval: float = 60.0
    imap_idle_timeout: float = 25 * 60  # re-issue IDLE before the RFC 2177 29-minute limit
    connect_timeout: float = 10.0
    max_attachment_bytes: int = 20 * 1024 * 1024
    # The largest message stored whole: a bigger incoming mail is kept raw (the original to
    # download) and shown as too large, its body and attachments not read; a bigger outgoing
    # message (text, HTML and attachments) is refused with a 413.
    max_message_bytes: int = Field(default=50 * 1024 * 1024, ge=1024)
    api_rate_limit_per_minute: int = 600
    # PostgreSQL connections per process: processes × db_pool_size ≤ max_connections − margin
    # (see atendo.kit.db; the default fits four processes on a default PostgreSQL).
    db_pool_size: int = Field(default=15, ge=1)
    # Requests a web process runs at once (the threads of its synchronous handlers; anyio's
    # default is 40). Fewer: requests wait their turn in arrival order instead of sharing the
    # GIL, which cuts the tail under load (docs/scaling.md, "Threads per web process"), but
    # one slow request (a mail server's connection test) then holds up the others.
    web_threads: int = Field(default=40, ge=1)
    # Events and webhook deliveries are kept this many days once done, then pruned.
    event_retention_days: float = Field(default=7.0, gt=0)
    max_request_bytes: int = 30 * 1024 * 1024
    # A request body must arrive whole within this many seconds (else 408); a JSON body may be
    # at most this big and this deeply nested (else 400), checked before the token.
    request_body_seconds: float = Field(default=30.0, gt=0)
    max_json_bytes: int = Field(default=2 * 1024 * 1024, ge=1024)
    max_json_depth: int = Field(default=32, ge=2)
    webhooks_allow_private_networks: bool = False
    # Webhook (and external channel) targets may use ports 80 and 443 plus these
    # ("8443, 9000-9100").
    webhook_extra_ports: str = ""
    # Mail servers of e-mail channels: loopback, private and link-local addresses are refused
    # unless this is true (an installation with its own mail server on the LAN); then, on
    # those addresses only, SMTP without a login is accepted too.
    mail_allow_private_networks: bool = False
    # Mail servers may use 25, 143, 465, 587, 993, 2525 plus these ("2526, 10143").
    mail_extra_ports: str = ""
    session_cookie_secure: bool = False
    # Addresses (or networks, "10.0.0.0/8") of the reverse proxies in front of `atendo serve`:
    # only a request from one of them may name the client in X-Forwarded-For.
    trusted_proxies: str = ""
    # Sending limits: recipients (To + Cc) of one message, and messages per channel per
    # minute and per hour (over them messages wait in the queue, they do not fail).
    max_recipients_per_message: int = Field(default=50, ge=1)
    channel_send_per_minute: int = Field(default=60, ge=1)
    channel_send_per_hour: int = Field(default=1000, ge=1)
    workers_enabled: bool = True
    log_level: str = "INFO"
    # The address visitors' browsers reach Atendo at (the widget's snippet); by default
    # http://<host>:<port>.
    public_url: str = ""
    # Anonymous widget visitors: messages per minute per visitor and per IP address, and new
    # conversations per hour per IP address (more get a clear refusal).
    widget_visitor_messages_per_minute: int = 20
    widget_ip_messages_per_minute: int = 60
    widget_ip_chats_per_hour: int = 10
    # The widget's live hub and delivery loop wake on every change (LISTEN/NOTIFY on
    # PostgreSQL); without a wake-up they look anyway every so many seconds.
    widget_hub_tick: float = Field(default=1.0, gt=0)
    widget_delivery_poll: float = Field(default=1.0, gt=0)
    # The panel tells the server at once when its operator opens a chat, starts or stops
    # typing, or leaves; otherwise it only says "still here" every so many seconds, and an
    # operator not heard of for two and a half of them (a closed laptop) is no longer shown.
    panel_presence_keepalive: float = Field(default=10.0, gt=0)
    # A panel's live stream reads the events table when an event of its company is committed
    # (LISTEN/NOTIFY on PostgreSQL, in-process on SQLite); without a wake-up, after this many
    # seconds anyway (a notify missed while the listener reconnected).
    panel_live_fallback: float = Field(default=10.0, gt=0)
    # OAuth 2.0 mailboxes (Gmail / Google Workspace, Outlook / Microsoft 365): the client id
    # and secret this installation registered at each provider (README, "OAuth mailboxes").
    # The endpoints are settings too, so that a test (or a proxy) can stand in for them.
    oauth_google_client_id: str = ""
    oauth_google_client_secret: str = ""
    oauth_google_authorize_url: str = "https://accounts.google.com/o/oauth2/v2/auth"
    oauth_google_token_url: str = "https://oauth2.googleapis.com/token"
    oauth_microsoft_client_id: str = ""
    oauth_microsoft_client_secret: str = ""
    # "common" (any work or personal account), "organizations", "consumers" or a tenant id.
    oauth_microsoft_tenant: str = "common"
    oauth_microsoft_authorize_url: str = ""  # default: from the tenant
    oauth_microsoft_token_url: str = ""  # default: from the tenant
    worker_tick: float = Field(default=1.0, description="Seconds between send-queue scans.")
    # A worker holds a mailbox for this long and renews the lease (and its heartbeat) every
    # quarter of it; a worker silent for three renewals is dead: its claims go back to queued.
    worker_lease_seconds: float = 20.0
    # Mailbox connections opened at once by one worker (no storm at start or after an outage).
    worker_connect_concurrency: int = 16

    @field_validator("webhook_extra_ports", "mail_extra_ports")
    @classmethod
    def _ports(cls, value: str) -> str:
        PortSet.parse(frozenset(), value)  # ValueError names the bad item
        return value

    @property
    def webhook_ports(self) -> PortSet:
        return PortSet.parse(WEB_PORTS, self.webhook_extra_ports)

    @cached_property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'atendo.db').resolve()}"

    @cached_property
    def resolved_secret_key(self) -> str:
        """The key that encrypts mailbox secrets: from the environment, else generated once
        into the data folder (mode 0600) so that a restart can still decrypt what it stored."""
        if self.secret_key:
            return self.secret_key
        path = self.data_dir / "secret.key"
        if path.exists():
            return path.read_text().strip()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        key = secrets.token_urlsafe(48)
        path.touch(mode=0o600)
        path.write_text(key)
        return key

    @property
    def blob_dir(self) -> Path:
        return self.data_dir / "blobs"


_settings: Settings | None = None


def get_settings() -> Settings:
    global _settings
    if _settings is None:
        _settings = Settings()
    return _settings
