"""Which servers an address uses (transports/email/discovery.py): provider presets, the
autoconfig file fetched from a REAL HTTP server on loopback through the SSRF guard, SRV and MX
answers from an injected DNS, and the API's ``GET /v1/channels/discover``.

"The internet" is the seams the webhook tests use: a resolver answering from a script and a
``Nat`` carrying a connection to a public address to the loopback server; nothing leaves the
machine. No test asks the system's DNS."""

from __future__ import annotations

import functools
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from fastapi.testclient import TestClient

from atendo.kit.guarded_fetch import guarded_fetch
from atendo.transports.email.discovery import (
    Dns,
    MailServers,
    MxRecord,
    Network,
    NotAnAddress,
    SrvRecord,
    discover,
    parse_autoconfig,
)
from tests.conftest import CompanyFixture
from tests.kit.test_signed_post import Dns as Resolver
from tests.kit.test_signed_post import Nat

CONFIG = b"""<?xml version="1.0" encoding="UTF-8"?>
<clientConfig version="1.1">
  <emailProvider id="acme.test">
    <domain>acme.test</domain>
    <incomingServer type="pop3">
      <hostname>pop.acme.test</hostname><port>995</port><socketType>SSL</socketType>
    </incomingServer>
    <incomingServer type="imap">
      <hostname>imap.%EMAILDOMAIN%</hostname><port>143</port><socketType>STARTTLS</socketType>
      <username>%EMAILADDRESS%</username>
    </incomingServer>
    <outgoingServer type="smtp">
      <hostname>smtp.acme.test</hostname><port>465</port><socketType>SSL</socketType>
    </outgoingServer>
  </emailProvider>
</clientConfig>
"""


class ConfigServer:
    """Answers the autoconfig file at the paths Thunderbird asks, for the hosts listed in
    ``serves`` (by the Host header); records each (host, path) asked."""

    def __init__(self, serves: dict[str, bytes]) -> None:
        self.asked: list[tuple[str, str]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                host = (self.headers.get("host") or "").split(":")[0]
                outer.asked.append((host, self.path))
                body = serves.get(host)
                if body is None or "config-v1.1.xml" not in self.path:
                    self._answer(404, b"not here")
                else:
                    self._answer(200, body)

            def _answer(self, status: int, body: bytes) -> None:
                self.send_response(status)
                self.send_header("content-type", "text/xml")
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.http = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.http.server_address[1]
        threading.Thread(target=self.http.serve_forever, args=(0.05,), daemon=True).start()

    def stop(self) -> None:
        self.http.shutdown()
        self.http.server_close()


@pytest.fixture
def web() -> Iterator[ConfigServer]:
    server = ConfigServer({"autoconfig.acme.test": CONFIG, "wk.test": CONFIG})
    yield server
    server.stop()


def dns(
    srv: dict[str, list[SrvRecord]] | None = None, mx: dict[str, list[MxRecord]] | None = None
) -> tuple[Dns, list[str]]:
    """DNS answers from a script; the list records every question (type and name)."""
    asked: list[str] = []

    async def srv_answer(name: str) -> list[SrvRecord]:
        asked.append(f"SRV {name}")
        return list((srv or {}).get(name, []))

    async def mx_answer(name: str) -> list[MxRecord]:
        asked.append(f"MX {name}")
        return list((mx or {}).get(name, []))

    return Dns(srv=srv_answer, mx=mx_answer), asked


def network(
    web: ConfigServer | None = None, *, resolve: Resolver | None = None, **kw: Any
) -> Network:
    fetch = functools.partial(guarded_fetch, inner=Nat(web.port)) if web else None
    return Network(resolve=resolve or Resolver(), fetch=fetch, timeout=3.0, **kw)


async def test_a_big_providers_address_is_its_preset_without_asking_anyone() -> None:
    quiet, asked = dns()
    found = await discover("Ana@Gmail.com", network=network(dns=quiet))
    assert found == MailServers(
        "imap.gmail.com", 993, "ssl", "smtp.gmail.com", 465, "ssl", "google", "preset", "google"
    )
    found = await discover("ana@hotmail.com", network=network(dns=quiet))
    assert found is not None
    assert (found.imap_host, found.smtp_host, found.smtp_port, found.smtp_security) == (
        "outlook.office365.com",
        "smtp.office365.com",
        587,
        "starttls",
    )
    assert found.oauth == "microsoft" and found.source == "preset"
    assert asked == []


async def test_the_domains_autoconfig_file_is_fetched_through_the_guard(
    web: ConfigServer,
) -> None:
    quiet, asked = dns()
    public = Resolver(autoconfig_acme_test=[["93.184.215.14"]])
    found = await discover("ana@acme.test", network=network(web, resolve=public, dns=quiet))
    assert found == MailServers(
        "imap.acme.test", 143, "starttls", "smtp.acme.test", 465, "ssl", None, "autoconfig"
    )
    # HTTPS first (the loopback server speaks plain HTTP: that attempt fails), then HTTP.
    assert web.asked == [
        ("autoconfig.acme.test", "/mail/config-v1.1.xml?emailaddress=ana@acme.test")
    ]
    assert asked == []


async def test_the_well_known_path_is_the_second_place(web: ConfigServer) -> None:
    quiet, _ = dns()
    public = Resolver(wk_test=[["93.184.215.14"]])
    found = await discover("ana@wk.test", network=network(web, resolve=public, dns=quiet))
    assert found is not None and found.source == "autoconfig"
    assert found.imap_host == "imap.wk.test"
    assert web.asked == [("wk.test", "/.well-known/autoconfig/mail/config-v1.1.xml")]


async def test_an_autoconfig_host_on_a_private_address_is_never_asked(web: ConfigServer) -> None:
    quiet, asked = dns()
    inside = Resolver(autoconfig_acme_test=[["10.0.0.7"]], acme_test=[["127.0.0.1"]])
    found = await discover("ana@acme.test", network=network(web, resolve=inside, dns=quiet))
    assert found is None
    assert web.asked == []
    assert asked == [
        "SRV _imaps._tcp.acme.test",
        "SRV _imap._tcp.acme.test",
        "SRV _submissions._tcp.acme.test",
        "SRV _submission._tcp.acme.test",
        "MX acme.test",
    ]
    # The installation that allows private networks for its mail servers asks them.
    found = await discover(
        "ana@acme.test", network=network(web, resolve=inside, dns=quiet, allow_private=True)
    )
    assert found is not None and found.imap_host == "imap.acme.test"


async def test_srv_records_of_rfc_6186() -> None:
    answers, _ = dns(
        srv={
            "_imaps._tcp.corp.test": [
                (10, 0, 993, "imap-b.corp.test"),
                (5, 0, 993, "imap.corp.test"),
            ],
            "_submission._tcp.corp.test": [(0, 1, 587, "smtp.corp.test.")],
        }
    )
    found = await discover("ana@corp.test", network=network(dns=answers))
    assert found == MailServers(
        "imap.corp.test", 993, "ssl", "smtp.corp.test", 587, "starttls", None, "srv"
    )


async def test_a_dot_target_says_the_service_is_not_offered() -> None:
    answers, _ = dns(
        srv={
            "_imaps._tcp.corp.test": [(0, 0, 0, ".")],
            "_imap._tcp.corp.test": [(0, 0, 143, "imap.corp.test")],
            "_submissions._tcp.corp.test": [(0, 0, 465, "smtp.corp.test")],
        }
    )
    found = await discover("ana@corp.test", network=network(dns=answers))
    assert found is not None
    assert (found.imap_host, found.imap_port, found.imap_security) == (
        "imap.corp.test",
        143,
        "starttls",
    )
    assert (found.smtp_port, found.smtp_security) == (465, "ssl")


async def test_the_mx_host_names_the_provider() -> None:
    answers, _ = dns(
        mx={
            "loja.com.br": [(10, "mx.a.locaweb.com.br"), (20, "mx.b.locaweb.com.br")],
            "acme.com.br": [(1, "aspmx.l.google.com."), (5, "alt1.aspmx.l.google.com")],
            "corp.com.br": [(0, "corp-com-br.mail.protection.outlook.com")],
            "own.com.br": [(0, "mail.own.com.br")],
        }
    )
    net = network(dns=answers)
    locaweb = await discover("ana@loja.com.br", network=net)
    assert locaweb is not None and (locaweb.provider, locaweb.source) == ("locaweb", "mx")
    assert (locaweb.imap_host, locaweb.imap_port) == ("email-ssl.com.br", 993)
    workspace = await discover("ana@acme.com.br", network=net)
    assert workspace is not None
    assert (workspace.imap_host, workspace.oauth, workspace.source) == (
        "imap.gmail.com",
        "google",
        "mx",
    )
    office = await discover("ana@corp.com.br", network=net)
    assert office is not None and office.oauth == "microsoft"
    assert await discover("ana@own.com.br", network=net) is None


def test_an_autoconfig_file_with_a_dtd_or_missing_parts_is_not_used() -> None:
    assert parse_autoconfig(CONFIG, address="a@acme.test") is not None
    evil = b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e "imap.evil.test">]>' + CONFIG[38:]
    assert parse_autoconfig(evil, address="a@acme.test") is None
    assert parse_autoconfig(CONFIG.replace(b'type="smtp"', b'type="ews"')) is None
    assert parse_autoconfig(CONFIG.replace(b"<port>465</port>", b"<port>x</port>")) is None
    assert parse_autoconfig(b"not xml") is None


async def test_not_an_address_is_refused() -> None:
    for address in ("", "ana", "ana@", "@acme.test", "ana@localhost", "ana@10.0.0.1"):
        with pytest.raises(NotAnAddress):
            await discover(address, network=network())


def test_the_api_answers_a_preset_and_refuses_bad_input(
    app_client: TestClient, company: CompanyFixture
) -> None:
    h = company.headers
    r = app_client.get("/v1/channels/discover", params={"email": "ana@gmail.com"}, headers=h)
    assert r.status_code == 200, r.text
    assert r.json()["data"] == {
        "imap_host": "imap.gmail.com",
        "imap_port": 993,
        "imap_security": "ssl",
        "smtp_host": "smtp.gmail.com",
        "smtp_port": 465,
        "smtp_security": "ssl",
        "oauth": "google",
        "source": "preset",
        "provider": "google",
    }
    bad = app_client.get("/v1/channels/discover", params={"email": "ana@"}, headers=h)
    assert bad.status_code == 422 and "email" in bad.text
    missing = app_client.get("/v1/channels/discover", headers=h)
    assert missing.status_code == 422
    other = app_client.get(
        "/v1/channels/discover", params={"email": "a@gmail.com", "transport": "fax"}, headers=h
    )
    assert other.status_code == 422 and "transport" in other.text
    nobody = app_client.get("/v1/channels/discover", params={"email": "ana@gmail.com"})
    assert nobody.status_code == 401
