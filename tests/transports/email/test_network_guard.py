"""Issue 18: the e-mail channel's servers go through the network guard.

The probes of the review, against a local listener that greets with an SSH banner: with the
installation's defaults nothing connects at all (a non-mail port, then a loopback address);
where the installation allows its own network, the answer is a fixed sentence that never
repeats the banner. SMTP must authenticate unless the server is on a private network.
"""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest
from fastapi.testclient import TestClient

from atendo.core.messages.outbox import PermanentFailure
from atendo.kit.netguard import PortSet
from atendo.server import create_app
from atendo.transports.email import network as net
from atendo.transports.email.connection import check_connection
from atendo.transports.email.network import (
    MAIL_PORTS,
    MailNetwork,
    MailTarget,
    MailTargetRefused,
    require_smtp_auth,
)
from atendo.transports.email.settings import parse_settings
from atendo.transports.email.smtp_send import SmtpAccount, SmtpPool
from tests.conftest import TemplateDatabase, fresh_runtime, make_company
from tests.servers.smtp import SmtpServer

BANNER = b"SSH-2.0-OpenSSH_9.6p1 Debian-secret-build\r\n"


@dataclass
class BannerListener:
    """A TCP service on loopback that sends a banner and then says nothing."""

    port: int = 0
    connections: int = 0
    sock: socket.socket = field(default_factory=socket.socket)

    def serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.connections += 1
            conn.sendall(BANNER)
            threading.Timer(5, conn.close).start()


@pytest.fixture
def banner() -> Iterator[BannerListener]:
    listener = BannerListener()
    listener.sock.bind(("127.0.0.1", 0))
    listener.sock.listen()
    listener.port = listener.sock.getsockname()[1]
    threading.Thread(target=listener.serve, daemon=True).start()
    try:
        yield listener
    finally:
        listener.sock.close()


def _cfg(host: str, port: int) -> object:
    return parse_settings(
        {
            "email": "probe@acme.example",
            "imap_host": host,
            "imap_port": port,
            "imap_security": "none",
            "smtp_host": host,
            "smtp_port": port,
            "smtp_security": "none",
        }
    )


def _check(cfg: object, network: MailNetwork) -> tuple[str | None, str | None]:
    report = asyncio.run(check_connection(cfg, "pw", None, 1, network))  # type: ignore[arg-type]
    return report.imap_error, report.smtp_error


def test_default_rules_refuse_other_ports_and_private_addresses_before_connecting(
    banner: BannerListener,
) -> None:
    strict = MailNetwork()
    assert _check(_cfg("127.0.0.1", banner.port), strict) == (net.NOT_A_MAIL_PORT,) * 2
    assert _check(_cfg("127.0.0.1", 22), strict) == (net.NOT_A_MAIL_PORT,) * 2
    # the port is allowed, the address is not: one sentence that names the setting
    ports_ok = MailNetwork(ports=PortSet.parse(MAIL_PORTS, str(banner.port)))
    assert _check(_cfg("127.0.0.1", banner.port), ports_ok) == (net.PRIVATE_NETWORK,) * 2
    assert "ATENDO_MAIL_ALLOW_PRIVATE_NETWORKS" in net.PRIVATE_NETWORK
    assert banner.connections == 0


def test_a_name_is_resolved_once_and_a_private_answer_refused() -> None:
    asked: list[str] = []

    def resolve(host: str, port: int) -> list[str]:
        asked.append(host)
        return ["93.184.215.14", "10.0.0.7"]  # one private answer among public ones

    network = MailNetwork(resolve=resolve)
    assert _check(_cfg("mail.rebind.test", 993), network) == (net.PRIVATE_NETWORK,) * 2
    assert asked == ["mail.rebind.test", "mail.rebind.test"]  # once per side
    assert all("10.0.0.7" not in sentence for sentence in net.SENTENCES)


def test_where_private_networks_are_allowed_the_banner_is_never_echoed(
    banner: BannerListener,
) -> None:
    lan = MailNetwork(allow_private=True, ports=PortSet.parse(MAIL_PORTS, str(banner.port)))
    imap, smtp = _check(_cfg("127.0.0.1", banner.port), lan)
    assert banner.connections == 2
    assert imap in net.SENTENCES and smtp in net.SENTENCES
    assert (imap, smtp) == (net.TIMED_OUT, net.NOT_A_MAIL_SERVER)


def test_smtp_must_authenticate_except_on_a_private_network() -> None:
    public = MailTarget(host="smtp.example.com", address="93.184.215.14", port=25)
    lan = MailTarget(host="relay.lan", address="192.168.1.10", port=25)
    with pytest.raises(MailTargetRefused, match="does not ask for a login"):
        require_smtp_auth(public, offers_auth=False, has_login=True)
    with pytest.raises(MailTargetRefused):
        require_smtp_auth(public, offers_auth=True, has_login=False)
    require_smtp_auth(public, offers_auth=True, has_login=True)
    require_smtp_auth(lan, offers_auth=False, has_login=True)


async def test_the_sender_vets_the_server_too(smtp_server: SmtpServer) -> None:
    account = SmtpAccount(host=smtp_server.host, port=smtp_server.port, security="none")
    pool = SmtpPool()
    try:
        outcome = await pool.send(
            account, mail_from="a@example.org", recipients=["b@example.org"], raw=b"Hi\r\n"
        )
    finally:
        await pool.close()
    assert outcome == PermanentFailure(net.NOT_A_MAIL_PORT)
    assert smtp_server.sessions == 0


def test_the_api_connection_test_answers_with_the_fixed_sentences(
    template_database: TemplateDatabase, banner: BannerListener
) -> None:
    # The installation's defaults, whatever the test environment allows elsewhere.
    with fresh_runtime(
        template_database, mail_allow_private_networks=False, mail_extra_ports=str(banner.port)
    ) as runtime:
        company = make_company(runtime)
        with TestClient(create_app(runtime, workers=False)) as http:
            for port in (banner.port, 22):
                r = http.post(
                    "/v1/channels",
                    headers=company.headers,
                    json={
                        "transport": "email",
                        "email": "probe@acme.example",
                        "password": "x",
                        "imap_host": "127.0.0.1",
                        "imap_port": port,
                        "imap_security": "none",
                        "smtp_host": "localhost",
                        "smtp_port": port,
                        "smtp_security": "none",
                    },
                )
                assert r.status_code == 422, r.text
                errors = r.json()["errors"]
                expected = net.PRIVATE_NETWORK if port == banner.port else net.NOT_A_MAIL_PORT
                assert errors == {"imap": [expected], "smtp": [expected]}
                assert "OpenSSH" not in r.text and "127.0.0.1" not in r.text
    assert banner.connections == 0
