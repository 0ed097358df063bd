"""The signed POST against REAL receivers on loopback (HTTP and HTTPS): the SSRF guard at
connect time, DNS rebinding, the vetted address really being the one connected to, TLS
against the URL's host name, no redirects, the timeout. DNS answers come from a resolver
function handed to the sender (its seam); no database."""

from __future__ import annotations

import base64
import hashlib
import hmac
import ssl
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpcore
import pytest
from tests.servers.tls import client_ssl_context, server_ssl_context, write_self_signed_cert

from atendo.kit.netguard import WEB_PORTS, PortSet, TargetRefused
from atendo.kit.signed_post import Outcome, SignedPoster, VettingBackend

pytestmark = pytest.mark.dbless

SECRET = "whsec_" + base64.b64encode(b"k" * 24).decode()
PAYLOAD = {"hook_type": "inbox", "text": "olá"}


@dataclass
class Hit:
    headers: dict[str, str]
    body: bytes
    sni: str | None


@dataclass
class HookReceiver:
    """A real HTTP(S) server on 127.0.0.1: records every POST with the TLS server name the
    client sent; answers ``status`` (and ``location``), or holds the answer until released."""

    port: int = 0
    hits: list[Hit] = field(default_factory=list)
    status: int = 200
    location: str | None = None
    hold: threading.Event | None = None
    sni: list[str | None] = field(default_factory=list)


def start_receiver(tls: ssl.SSLContext | None = None) -> tuple[HookReceiver, ThreadingHTTPServer]:
    state = HookReceiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length", "0")))
            headers = {k.lower(): v for k, v in self.headers.items()}
            state.hits.append(Hit(headers, body, state.sni[-1] if state.sni else None))
            if state.hold is not None:
                state.hold.wait()
            self.send_response(state.status)
            if state.location:
                self.send_header("location", state.location)
            self.send_header("content-length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    if tls is not None:
        tls.sni_callback = lambda _sock, name, _ctx: state.sni.append(name)
        server.socket = tls.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    state.port = server.server_address[1]
    return state, server


def stop(server: ThreadingHTTPServer) -> None:
    server.shutdown()
    server.server_close()


@pytest.fixture
def receiver() -> Iterator[HookReceiver]:
    state, server = start_receiver()
    yield state
    if state.hold is not None:
        state.hold.set()
    stop(server)


@pytest.fixture
def tls_files(tmp_path: Path) -> tuple[Path, Path]:
    return write_self_signed_cert(tmp_path / "tls")  # names localhost and 127.0.0.1


class Dns:
    """The resolver seam: each host answers from its script, one entry per lookup (the last
    one repeats); every question is recorded."""

    def __init__(self, **script: list[list[str]]) -> None:
        self.script = {host.replace("_", "."): answers for host, answers in script.items()}
        self.asked: list[str] = []

    def __call__(self, host: str, port: int) -> list[str]:
        self.asked.append(host)
        answers = self.script.get(host)
        if not answers:
            raise OSError(-2, "Name or service not known")
        n = sum(1 for h in self.asked if h == host) - 1
        return answers[min(n, len(answers) - 1)]


# The receivers listen on ports the system picks; 80 and 443 stay allowed as in production.
TEST_PORTS = PortSet.parse(WEB_PORTS, "1024-65535")


def verify(headers: dict[str, str], body: bytes) -> bool:
    key = base64.b64decode(SECRET.removeprefix("whsec_"))
    signed = f"{headers['webhook-id']}.{headers['webhook-timestamp']}.".encode() + body
    expected = "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    return hmac.compare_digest(headers["webhook-signature"], expected)


async def post(url: str, *, allow_private: bool, dns: Dns | None = None, **kw: Any) -> Outcome:
    resolve = dns if dns is not None else Dns()
    kw.setdefault("ports", TEST_PORTS)
    async with SignedPoster(allow_private=allow_private, resolve=resolve, **kw) as poster:
        return await poster.post(url, secret=SECRET, msg_id="evt_1", payload=PAYLOAD)


async def test_a_name_that_resolves_to_loopback_is_refused_before_any_connection(
    receiver: HookReceiver,
) -> None:
    dns = Dns(hooks_test=[["127.0.0.1"]])
    out = await post(f"http://hooks.test:{receiver.port}/hook", allow_private=False, dns=dns)
    assert out.error is not None and out.error.startswith("refused: ")
    assert out.error == "refused: hooks.test resolves to a private, loopback or link-local address"
    assert receiver.hits == [] and dns.asked == ["hooks.test"]


async def test_allowed_private_target_is_reached_at_the_vetted_address_with_its_host_name(
    receiver: HookReceiver,
) -> None:
    # hooks.test exists nowhere but in the seam: reaching the receiver proves the socket went
    # to the address the guard saw.
    dns = Dns(hooks_test=[["127.0.0.1"]])
    out = await post(f"http://hooks.test:{receiver.port}/hook", allow_private=True, dns=dns)
    assert out == Outcome(None, 200)
    [hit] = receiver.hits
    assert hit.headers["host"] == f"hooks.test:{receiver.port}"
    assert hit.headers["webhook-id"] == "evt_1" and verify(hit.headers, hit.body)
    assert hit.headers["content-type"] == "application/json"
    assert hit.body.decode() == '{"hook_type":"inbox","text":"olá"}'
    assert dns.asked == ["hooks.test"]


async def test_rebinding_the_second_answer_is_never_used(receiver: HookReceiver) -> None:
    # First lookup: the receiver. Any later lookup: 127.0.0.2, where nothing listens. Had the
    # connection looked the name up again (as httpx does after a separate check), it would fail.
    dns = Dns(hooks_test=[["127.0.0.1"], ["127.0.0.2"]])
    out = await post(f"http://hooks.test:{receiver.port}/hook", allow_private=True, dns=dns)
    assert out.error is None and len(receiver.hits) == 1
    assert dns.asked == ["hooks.test"]
    # With the guard on, a private first answer refuses, whatever a second lookup would say.
    dns = Dns(hooks_test=[["127.0.0.1"], ["8.8.8.8"]])
    out = await post(f"http://hooks.test:{receiver.port}/hook", allow_private=False, dns=dns)
    assert out.error is not None and out.error.startswith(
        "refused: hooks.test resolves to a private"
    )
    assert "127.0.0.1" not in out.error
    assert len(receiver.hits) == 1 and dns.asked == ["hooks.test"]


class Nat(httpcore.AnyIOBackend):
    """Stands in for the internet: records the address each connection is opened to and
    carries it to the loopback receiver, over a real socket (no test reaches the outside)."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.opened: list[str] = []

    async def connect_tcp(
        self, host: str, port: int, *args: Any, **kwargs: Any
    ) -> httpcore.AsyncNetworkStream:
        self.opened.append(host)
        return await super().connect_tcp("127.0.0.1", self.port, *args, **kwargs)


async def test_rebinding_a_public_first_answer_is_the_address_connected_to(
    receiver: HookReceiver,
) -> None:
    # The classic attack with the guard on: public at the check, loopback at the connect.
    dns = Dns(hooks_test=[["93.184.215.14"], ["127.0.0.1"]])
    nat = Nat(receiver.port)
    backend = VettingBackend(allow_private=False, resolve=dns, inner=nat)
    async with httpcore.AsyncConnectionPool(network_backend=backend) as pool:
        response = await pool.request("POST", "http://hooks.test/hook", content=b"{}")
        assert response.status == 200
        assert nat.opened == ["93.184.215.14"] and dns.asked == ["hooks.test"]
        assert receiver.hits[0].headers["host"] == "hooks.test"
        # The receiver closes after each answer (HTTP/1.0): the next connection is vetted
        # on its own lookup, which now says loopback.
        with pytest.raises(TargetRefused, match=r"^hooks\.test resolves to a private"):
            await pool.request("POST", "http://hooks.test/hook", content=b"{}")
    assert nat.opened == ["93.184.215.14"] and len(receiver.hits) == 1


async def test_one_private_answer_among_public_ones_refuses(receiver: HookReceiver) -> None:
    dns = Dns(hooks_test=[["8.8.8.8", "127.0.0.1"]])
    out = await post(f"http://hooks.test:{receiver.port}/", allow_private=False, dns=dns)
    assert out.error is not None and out.error.startswith(
        "refused: hooks.test resolves to a private"
    )
    assert "127.0.0.1" not in out.error
    assert receiver.hits == []


PRIVATE_LITERALS = [
    "127.0.0.1",
    "0.0.0.0",  # reaches the local host on Linux
    "[::ffff:127.0.0.1]",  # IPv4-mapped IPv6
    "[::1]",
    "169.254.169.254",
    "10.0.0.1",
    "172.16.0.1",
    "192.168.0.1",
    "100.64.0.1",
    "[fc00::1]",
    "[fd00::1]",
]


@pytest.mark.parametrize("host", PRIVATE_LITERALS)
async def test_private_address_literals_are_refused(receiver: HookReceiver, host: str) -> None:
    dns = Dns()
    out = await post(f"http://{host}:{receiver.port}/hook", allow_private=False, dns=dns)
    assert out.error is not None and out.error.startswith("refused: "), out
    assert receiver.hits == [] and dns.asked == []  # literals need no lookup


@pytest.mark.parametrize("ip", [h.strip("[]") for h in PRIVATE_LITERALS])
async def test_names_resolving_to_private_addresses_are_refused(
    receiver: HookReceiver, ip: str
) -> None:
    dns = Dns(hooks_test=[[ip]])
    out = await post(f"http://hooks.test:{receiver.port}/hook", allow_private=False, dns=dns)
    assert out.error == "refused: hooks.test resolves to a private, loopback or link-local address"
    assert ip not in out.error and receiver.hits == []


async def test_localhost_through_the_system_resolver(receiver: HookReceiver) -> None:
    url = f"http://localhost:{receiver.port}/hook"
    async with SignedPoster(allow_private=False, ports=TEST_PORTS) as poster:
        out = await poster.post(url, secret=SECRET, msg_id="evt_1", payload=PAYLOAD)
    assert out.error is not None and "localhost resolves to a private" in out.error
    assert receiver.hits == []
    async with SignedPoster(allow_private=True, ports=TEST_PORTS) as poster:
        out = await poster.post(url, secret=SECRET, msg_id="evt_1", payload=PAYLOAD)
    assert out.error is None and receiver.hits[0].headers["host"] == f"localhost:{receiver.port}"


async def test_the_next_vetted_answer_is_tried_when_one_refuses_the_connection(
    receiver: HookReceiver,
) -> None:
    dns = Dns(hooks_test=[["127.0.0.2", "127.0.0.1"]])  # nothing listens on 127.0.0.2
    out = await post(f"http://hooks.test:{receiver.port}/", allow_private=True, dns=dns)
    assert out.error is None and len(receiver.hits) == 1
    dns = Dns(hooks_test=[["127.0.0.2"]])
    out = await post(f"http://hooks.test:{receiver.port}/", allow_private=True, dns=dns)
    assert out.error is not None and out.error.startswith("ConnectError")


async def test_tls_runs_against_the_url_host_name_not_the_vetted_ip(
    tls_files: tuple[Path, Path],
) -> None:
    cert, key = tls_files
    state, server = start_receiver(server_ssl_context(cert, key))
    trust = client_ssl_context(cert)
    dns = Dns(localhost=[["127.0.0.1"]], hooks_test=[["127.0.0.1"]])
    try:
        out = await post(
            f"https://localhost:{state.port}/hook", allow_private=True, dns=dns, ssl_context=trust
        )
        assert out == Outcome(None, 200)
        [hit] = state.hits
        assert hit.sni == "localhost" and hit.headers["host"] == f"localhost:{state.port}"
        # Same vetted address, whose IP the certificate names too; but the URL says
        # hooks.test, which the certificate does not name: refused.
        out = await post(
            f"https://hooks.test:{state.port}/hook", allow_private=True, dns=dns, ssl_context=trust
        )
        assert out.error is not None and "CERTIFICATE_VERIFY_FAILED" in out.error
        assert "hooks.test" in out.error and len(state.hits) == 1
    finally:
        stop(server)


async def test_redirects_are_not_followed(receiver: HookReceiver) -> None:
    receiver.status = 302
    receiver.location = f"http://127.0.0.1:{receiver.port}/elsewhere"
    out = await post(f"http://127.0.0.1:{receiver.port}/hook", allow_private=True)
    assert out == Outcome("HTTP 302", 302) and len(receiver.hits) == 1


async def test_a_receiver_that_does_not_answer_times_out(receiver: HookReceiver) -> None:
    receiver.hold = threading.Event()
    out = await post(f"http://127.0.0.1:{receiver.port}/hook", allow_private=True, timeout=0.2)
    assert out == Outcome("timeout after 0.2 s") and len(receiver.hits) == 1


async def test_credentials_in_the_url_become_basic_auth(receiver: HookReceiver) -> None:
    dns = Dns(hooks_test=[["127.0.0.1"]])
    url = f"http://crm:p%40ss@hooks.test:{receiver.port}/hook?x=1"
    out = await post(url, allow_private=True, dns=dns)
    assert out.error is None
    [hit] = receiver.hits
    assert hit.headers["authorization"] == "Basic " + base64.b64encode(b"crm:p@ss").decode()
    assert hit.headers["host"] == f"hooks.test:{receiver.port}"


@pytest.mark.parametrize("url", ["ftp://example.com/x", "http://", "not a url", "http://[::1"])
async def test_urls_that_are_not_http_targets_are_refused(url: str) -> None:
    out = await post(url, allow_private=True)
    assert out.error is not None and out.error.startswith("refused: ")


async def test_a_non_2xx_answer_is_an_error_with_its_status(receiver: HookReceiver) -> None:
    receiver.status = 503
    out = await post(f"http://127.0.0.1:{receiver.port}/hook", allow_private=True)
    assert out == Outcome("HTTP 503", 503)
