"""E-mail ingest benchmark: 10,000 realistic messages from a real Dovecot into Atendo.

Everything runs in this process's own sandbox: a private Dovecot (tests.servers.dovecot), a
temporary data folder with a migrated SQLite database, and — when 127.0.0.1:5432 answers — a
throw-away PostgreSQL database. The same messages are measured four ways in the same run:

(a) baseline: raw IMAP fetch with aioimaplib (``UID FETCH … (UID BODY.PEEK[] INTERNALDATE)``
    in batches of ``imap_sync.FETCH_BATCH``, exactly what the sync sends);
(b) baseline: raw parse, Atendo's ``parse_message`` and bare stdlib ``message_from_bytes``
    with ``policy=compat32``;
(c) Atendo end to end: ``MailboxSync`` (the worker's code path: connect, SELECT, first-sync
    window, fetch, store raw, parse — in the parsing helper process when there are two CPUs —
    thread, commit per fetched batch) until every message is stored, into SQLite and
    PostgreSQL;
(d) latency from LMTP delivery of one message to its appearance in ``GET /v1/messages``,
    served by a real ``atendo serve`` subprocess (workers in-process, IMAP IDLE); median of 20;
(e) measured from outside: a mailbox already holding 2,000 of these messages, from
    ``POST /v1/channels`` (connection test included) until ``GET /v1/messages`` counts them
    all, against a real ``atendo serve`` (SQLite; and PostgreSQL when it answers), beside the
    raw path on the same mailbox in the same run, measured right before and right after each
    database's run (the load of a shared machine drifts): aioimaplib ``UID FETCH`` + stdlib
    ``message_from_bytes(compat32)``. Goal: at least half the raw path's rate (both of its
    runs together). The load average is printed beside each figure, and the CPU-seconds
    spent meanwhile by ``atendo serve`` and by its helper processes (the parsing helper)
    beside the raw path's own.

    .venv/bin/python bench/ingest.py            # -n 500 (or BENCH_INGEST_N=500) for a quick try
"""

from __future__ import annotations

import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))  # so that ``tests.servers`` imports

import argparse  # noqa: E402
import asyncio  # noqa: E402
import email  # noqa: E402
import email.header  # noqa: E402
import os  # noqa: E402
import random  # noqa: E402
import shutil  # noqa: E402
import socket  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable, Iterator  # noqa: E402
from contextlib import contextmanager  # noqa: E402
from dataclasses import dataclass  # noqa: E402
from datetime import UTC, datetime, timedelta  # noqa: E402
from email.mime.application import MIMEApplication  # noqa: E402
from email.mime.multipart import MIMEMultipart  # noqa: E402
from email.mime.text import MIMEText  # noqa: E402
from email.policy import compat32  # noqa: E402
from email.utils import format_datetime, formataddr  # noqa: E402

import aioimaplib  # noqa: E402
import httpx  # noqa: E402
from sqlalchemy import func, select  # noqa: E402
from tests.servers.dovecot import DovecotServer, dovecot_available  # noqa: E402
from tests.servers.postgres import TemporaryDatabase, postgres_available  # noqa: E402
from tests.servers.processes import family, process_table  # noqa: E402
from tests.servers.smtp import SmtpServer  # noqa: E402

import atendo.core.models  # noqa: E402,F401 - every mapper, as in a bare worker
from atendo.core.channels.models import Channel  # noqa: E402
from atendo.core.channels.service import create_channel  # noqa: E402
from atendo.core.companies.service import create_company  # noqa: E402
from atendo.core.messages.models import Message  # noqa: E402
from atendo.migrations import upgrade  # noqa: E402
from atendo.runtime import Runtime  # noqa: E402
from atendo.settings import Settings  # noqa: E402
from atendo.transports.email.imap_sync import FETCH_BATCH, MailboxSync, parse_fetch  # noqa: E402
from atendo.transports.email.parse import parse_message  # noqa: E402
from atendo.transports.email.settings import parse_settings  # noqa: E402

N = int(os.environ.get("BENCH_INGEST_N", "10000"))
PG_BASE = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
SECRET = "bench-ingest-secret"
LATENCY_SAMPLES = 20
FRESH_N = int(os.environ.get("BENCH_INGEST_FRESH_N", "2000"))
WAIT_LIMIT = 900.0  # seconds: a bound on any single wait, never reached on a healthy run

# ---------------------------------------------------------------------------------------------
# Deterministic, realistic mail
# ---------------------------------------------------------------------------------------------

PT_FIRST = "Ana Bruno Camila Diego Eduarda Felipe Gabriela Heitor Isabela João Júlia Lucas "
PT_FIRST += "Mariana Mateus Natália Otávio Patrícia Rafael Sofia Thiago Valéria Vinícius Conceição"
EN_FIRST = "Alice Ben Chloe Daniel Emily Frank Grace Henry Isla Jack Kate Liam Mia Noah Olivia"
PT_LAST = (
    "Silva Santos Oliveira Souza Lima Pereira Ferreira Costa Rodrigues Almeida Araújo Gonçalves"
)
EN_LAST = "Smith Johnson Brown Taylor Wilson Davies Evans Thomas Roberts Walker Wright Hughes"
DOMAINS = [
    "gmail.com",
    "hotmail.com",
    "outlook.com",
    "yahoo.com.br",
    "uol.com.br",
    "bol.com.br",
    "terra.com.br",
    "empresa.com.br",
    "acme.example",
    "loja-exemplo.com.br",
    "example.org",
    "icloud.com",
]
PT_WORDS = (  # noqa: SIM905 - prose reads better than a list of 100 words
    "olá bom dia boa tarde gostaria de saber sobre o meu pedido que ainda não chegou a entrega "
    "estava prevista para ontem já faz uma semana preciso trocar o produto veio com defeito a "
    "nota fiscal não foi enviada por favor me ajudem com urgência o boleto venceu e não consigo "
    "pagar pelo aplicativo a senha não funciona quero cancelar a assinatura cobrança em dobro no "
    "cartão de crédito obrigado pela atenção aguardo retorno atenciosamente número do pedido "
    "endereço de entrega São Paulo Belo Horizonte Curitiba Recife Porto Alegre ação informação "
    "situação devolução reembolso promoção código cupom não é possível também você está"
).split()
EN_WORDS = (  # noqa: SIM905
    "hello good morning I would like to know about my order which has not arrived yet the "
    "delivery was expected yesterday it has been a week I need to exchange the product it came "
    "damaged the invoice was not sent please help me urgently the payment failed and I cannot "
    "log in to the app my password does not work I want to cancel the subscription I was "
    "charged twice on my credit card thank you for your help looking forward to your reply "
    "kind regards order number shipping address refund return coupon code account settings"
).split()
PT_SUBJECTS = [
    "Pedido não entregue",
    "Troca de produto",
    "Dúvida sobre cobrança",
    "Cancelamento da assinatura",
    "Nota fiscal do pedido",
    "Problema com o aplicativo",
    "Solicitação de reembolso",
    "Endereço de entrega errado",
]
EN_SUBJECTS = [
    "Order not delivered",
    "Product exchange",
    "Question about my bill",
    "Cancel my subscription",
    "Invoice for my order",
    "Problem with the app",
    "Refund request",
    "Wrong shipping address",
]
CHARSETS = ["utf-8", "iso-8859-1", "windows-1252"]
ATTACHMENTS = [
    ("application", "pdf", "nota_fiscal_{n}.pdf"),
    ("image", "png", "foto_do_produto_{n}.png"),
    ("image", "jpeg", "IMG_{n}.jpg"),
    (
        "application",
        "vnd.openxmlformats-officedocument.wordprocessingml.document",
        "relatório_{n}.docx",
    ),
    ("text", "csv", "extrato_{n}.csv"),
]


@dataclass(frozen=True)
class Sender:
    name: str
    address: str
    portuguese: bool


def _senders(rng: random.Random, count: int = 500) -> list[Sender]:
    out: list[Sender] = []
    seen: set[str] = set()
    while len(out) < count:
        pt = rng.random() < 0.7
        first = rng.choice((PT_FIRST if pt else EN_FIRST).split())
        last = rng.choice((PT_LAST if pt else EN_LAST).split())
        local = f"{first}.{last}".lower()
        local = local.encode("ascii", "ignore").decode() + str(rng.randint(1, 999))
        address = f"{local}@{rng.choice(DOMAINS)}"
        if address not in seen:
            seen.add(address)
            out.append(Sender(f"{first} {last}", address, pt))
    return out


def _sentences(rng: random.Random, words: list[str], count: int = 3000) -> list[str]:
    """A pool of sentences to draw bodies from (drawing word by word is slow for 10k mails)."""
    return [
        " ".join(rng.choice(words) for _ in range(rng.randint(6, 16))).capitalize() + "."
        for _ in range(count)
    ]


def _text(rng: random.Random, pool: list[str], size: int) -> str:
    """About ``size`` characters of text in paragraphs of 1–5 sentences."""
    paragraphs: list[str] = []
    total = 0
    while total < size:
        paragraph = " ".join(rng.choices(pool, k=rng.randint(1, 5)))
        paragraphs.append(paragraph)
        total += len(paragraph) + 2
    return "\n\n".join(paragraphs)


def _html(text: str) -> str:
    paras = "".join(f"<p>{p}</p>" for p in text.split("\n") if p)
    return f'<html><body><div style="font-family:Arial">{paras}</div></body></html>'


@dataclass
class Sent:
    message_id: str
    subject: str
    sender: Sender
    date: datetime
    text: str


def _log_uniform(rng: random.Random, low: int, high: int) -> int:
    return int(low * (high / low) ** rng.random())


# Encoded size per character of text: MIMEText picks base64 for utf-8 and windows-1252 and
# quoted-printable for iso-8859-1.
_GROWTH = {"utf-8": 1.37, "iso-8859-1": 1.06, "windows-1252": 1.37}


def generate(n: int, seed: int = 42) -> list[bytes]:
    """``n`` messages, deterministic for a given seed.

    Sizes 1–200 KB: text-only mail log-uniform 1–50 KB, mail with an attachment (~20%)
    log-uniform 8–200 KB (0.5–6 KB of text, the rest a binary attachment). Charsets utf-8,
    iso-8859-1 and windows-1252; text/plain or multipart/alternative (half each); pt-BR (70%)
    or English; ~30% replies (In-Reply-To, References and a quoted "Em … escreveu:" / "On …
    wrote:" history) to an earlier message, mostly from its sender; 500 senders.
    """
    rng = random.Random(seed)
    senders = _senders(rng)
    pools = {True: _sentences(rng, PT_WORDS), False: _sentences(rng, EN_WORDS)}
    start = datetime(2026, 10, 1, 8, 0, tzinfo=UTC)
    linesep = compat32.clone(linesep="\r\n")
    history: list[Sent] = []
    out: list[bytes] = []
    for i in range(n):
        date = start + timedelta(seconds=i * 240 + rng.randint(0, 200))
        has_attachment = rng.random() < 0.2
        size = _log_uniform(rng, 8 * 1024, 200 * 1024) if has_attachment else 0
        size = size or _log_uniform(rng, 1536, 50 * 1024)
        reply_to = rng.choice(history) if history and rng.random() < 0.3 else None
        sender = reply_to.sender if reply_to and rng.random() < 0.85 else rng.choice(senders)
        pt = sender.portuguese
        if reply_to is not None:
            subject = ("Re: " if pt or rng.random() < 0.5 else "RE: ") + reply_to.subject
        else:
            topic = rng.choice(PT_SUBJECTS if pt else EN_SUBJECTS)
            subject = f"{topic} #{rng.randint(1000, 99999)}"
        charset = rng.choice(CHARSETS)
        alternative = rng.random() < 0.5
        budget = rng.randint(512, 6 * 1024) if has_attachment else size - 700  # headers
        text_chars = int(budget / _GROWTH[charset] / (2.1 if alternative else 1.0))
        quoted = ""
        if reply_to is not None:
            when = format_datetime(reply_to.date)
            who = f"{reply_to.sender.name} <{reply_to.sender.address}>"
            header = f"Em {when}, {who} escreveu:" if pt else f"On {when}, {who} wrote:"
            lines = reply_to.text.split("\n")[:20]
            quoted = f"\n\n{header}\n" + "\n".join("> " + line for line in lines) + "\n"
            quoted = quoted[: max(0, text_chars - 200)]
        text = _text(rng, pools[pt], max(100, text_chars - len(quoted))) + quoted
        text = text.encode(charset, "replace").decode(charset)
        body: MIMEText | MIMEMultipart
        if alternative:
            body = MIMEMultipart("alternative")
            body.attach(MIMEText(text, "plain", charset))
            body.attach(MIMEText(_html(text), "html", charset))
        else:
            body = MIMEText(text, "plain", charset)
        msg: MIMEText | MIMEMultipart = body
        if has_attachment:
            msg = MIMEMultipart("mixed")
            msg.attach(body)
            maintype, subtype, pattern = rng.choice(ATTACHMENTS)
            blob_size = max(512, (size - budget - 1000) * 3 // 4)  # base64: 4 bytes per 3
            part = MIMEApplication(rng.randbytes(blob_size), _subtype=subtype)
            part.replace_header("Content-Type", f"{maintype}/{subtype}")
            name = pattern.format(n=i)
            if name.isascii():
                part.add_header("Content-Disposition", "attachment", filename=name)
            else:  # RFC 2231
                part.add_header("Content-Disposition", "attachment", filename=("utf-8", "", name))
            msg.attach(part)
        domain = sender.address.rpartition("@")[2]
        message_id = f"<{i}.{rng.getrandbits(48):012x}@{domain}>"
        msg["From"] = formataddr((sender.name, sender.address), charset="utf-8")
        msg["To"] = formataddr(("Atendimento", "atendimento@bench.example"))
        msg["Subject"] = str(email.header.Header(subject, "utf-8"))
        msg["Date"] = format_datetime(date)
        msg["Message-ID"] = message_id
        if reply_to is not None:
            msg["In-Reply-To"] = reply_to.message_id
            msg["References"] = reply_to.message_id
        out.append(msg.as_bytes(policy=linesep))
        base_subject = subject.removeprefix("Re: ").removeprefix("RE: ")
        history.append(Sent(message_id, base_subject, sender, date, text[:1500]))
    return out


# ---------------------------------------------------------------------------------------------
# Measurements
# ---------------------------------------------------------------------------------------------


@dataclass
class Figure:
    label: str
    count: int
    seconds: float
    cpu: float | None = None  # CPU-seconds of this process, where measured

    @property
    def rate(self) -> float:
        return self.count / self.seconds if self.seconds else float("inf")


async def raw_fetch(host: str, port: int, login: str, password: str) -> tuple[Figure, list[bytes]]:
    """Baseline (a): the same library and the same FETCH the sync sends, nothing else."""
    t0 = time.perf_counter()
    client = aioimaplib.IMAP4(host=host, port=port, timeout=60)
    await client.wait_hello_from_server()
    await client.login(login, password)
    await client.select("INBOX")
    resp = await client.uid_search("ALL", charset=None)
    uids = sorted(int(t) for line in resp.lines for t in bytes(line).split() if t.isdigit())
    raws: list[bytes] = []
    for start in range(0, len(uids), FETCH_BATCH):
        chunk = uids[start : start + FETCH_BATCH]
        resp = await client.uid(
            "fetch", ",".join(str(u) for u in chunk), "(UID BODY.PEEK[] INTERNALDATE)"
        )
        raws.extend(raw for _, raw in parse_fetch(resp.lines))
    seconds = time.perf_counter() - t0
    await client.logout()
    return Figure("(a) raw IMAP fetch, aioimaplib", len(raws), seconds), raws


def raw_parse(raws: list[bytes]) -> tuple[Figure, Figure]:
    """Baseline (b): Atendo's parser, and the bare stdlib parser it builds on."""
    t0 = time.perf_counter()
    for raw in raws:
        email.message_from_bytes(raw, policy=compat32)
    stdlib = Figure("(b) stdlib message_from_bytes(compat32)", len(raws), time.perf_counter() - t0)
    t0 = time.perf_counter()
    for raw in raws:
        parse_message(raw)
    ours = Figure("(b) parse_message (Atendo parser)", len(raws), time.perf_counter() - t0)
    return ours, stdlib


def _new_company(runtime: Runtime, tag: str) -> tuple[int, str]:
    with runtime.db.transaction() as session:
        new = create_company(
            session, name=f"Bench {tag}", admin_email=f"bench-{tag}@bench.example",
            admin_password="bench-password-1",
        )  # fmt: skip
        return new.company.id, new.api_token


def _new_channel(
    runtime: Runtime, company_id: int, server: DovecotServer, user: str, password: str, days: int
) -> int:
    cfg = parse_settings(
        {
            "email": user,
            "imap_host": server.host,
            "imap_port": server.imap_port,
            "imap_security": "none",
            "smtp_host": server.host,
            "smtp_security": "none",
            "import_days": days,
        }
    )
    with runtime.db.transaction() as session:
        channel = create_channel(
            session, company_id=company_id, transport="email", name=user,
            settings=cfg.public(), secrets={"password": password}, box=runtime.box,
        )  # fmt: skip
        return channel.id


def _stored(runtime: Runtime, channel_id: int) -> int:
    with runtime.db.reading() as session:
        return session.scalar(select(func.count()).where(Message.channel_id == channel_id)) or 0


async def end_to_end(
    label: str, database_url: str, server: DovecotServer, user: str, password: str, n: int
) -> Figure:
    """(c): the worker's code path (MailboxSync: connect + first sync) on a fresh database."""
    upgrade(database_url)
    data_dir = Path(tempfile.mkdtemp(prefix="atendo-bench-ingest-"))
    # The bench's Dovecot listens on loopback at a port the system picks, which the
    # installation's defaults refuse (the network guard, issue 18): as in atendo_serve.
    settings = Settings(
        data_dir=data_dir,
        database_url=database_url,
        secret_key=SECRET,
        mail_allow_private_networks=True,
        mail_extra_ports="1024-65535",
    )
    runtime = Runtime.from_settings(settings)
    try:
        company_id, _ = _new_company(runtime, label.split()[0].lower())
        # Seeded mail has today's INTERNALDATE; a long window imports all of it.
        channel_id = _new_channel(runtime, company_id, server, user, password, days=3650)
        with runtime.db.reading() as session:
            channel = session.get(Channel, channel_id)
            assert channel is not None
            cfg = parse_settings(dict(channel.settings or {}))
        sync = MailboxSync(runtime, channel_id=channel_id, cfg=cfg, password=password)
        t0 = time.perf_counter()
        try:
            uidvalidity, uidnext = await sync.connect()
            await sync.sync_once(uidvalidity, uidnext)
        finally:
            await sync.close()
        seconds = time.perf_counter() - t0
        stored = await asyncio.to_thread(_stored, runtime, channel_id)
        if stored != n:
            raise SystemExit(f"{label}: {stored} messages stored, expected {n}")
        return Figure(f"(c) Atendo end to end, {label}", stored, seconds)
    finally:
        runtime.close()
        shutil.rmtree(data_dir, ignore_errors=True)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _wait(what: str, predicate: Callable[[], bool], limit: float = 60.0, step: float = 0.1) -> None:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(step)
    raise SystemExit(f"timed out waiting for {what}")


def _probe(i: int) -> bytes:
    return (
        f"From: Latência Probe <probe{i}@example.org>\r\nTo: atendimento@bench.example\r\n"
        f"Subject: latency probe {i}\r\nDate: {format_datetime(datetime.now(UTC))}\r\n"
        f"Message-ID: <probe-{i}-{time.time_ns()}@example.org>\r\n"
        "Content-Type: text/plain; charset=utf-8\r\n\r\nOlá, isto é um teste de latência.\r\n"
    ).encode()


def tree_cpu(pid: int) -> tuple[float, float]:
    """CPU-seconds (user + system) used so far by process ``pid`` and by its descendants
    still alive (the parsing helper, the fork server)."""
    table = process_table()
    own = table[pid].cpu if pid in table else 0.0
    return own, sum(table[p].cpu for p in family(table, pid) if p != pid and p in table)


@dataclass
class Served:
    base: str
    pid: int


@contextmanager
def atendo_serve(data_dir: Path, database_url: str) -> Iterator[Served]:
    port = _free_port()
    env = {
        **os.environ,
        "ATENDO_DATA_DIR": str(data_dir),
        "ATENDO_DATABASE_URL": database_url,
        "ATENDO_SECRET_KEY": SECRET,
        "ATENDO_API_RATE_LIMIT_PER_MINUTE": "1000000",
        "ATENDO_LOG_LEVEL": "WARNING",
        # The bench's Dovecot and SMTP server listen on loopback at ports the system picks,
        # which the installation's defaults refuse (the network guard, issue 18).
        "ATENDO_MAIL_ALLOW_PRIVATE_NETWORKS": "true",
        "ATENDO_MAIL_EXTRA_PORTS": "1024-65535",
    }
    cmd = [sys.executable, "-m", "atendo", "serve", "--host", "127.0.0.1", "--port", str(port)]
    log = open(data_dir / "serve.log", "wb")  # noqa: SIM115 - closed below
    proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=REPO)
    base = f"http://127.0.0.1:{port}"
    try:

        def up() -> bool:
            try:
                return httpx.get(f"{base}/healthz", timeout=1).status_code == 200
            except httpx.HTTPError:
                return False

        _wait("atendo serve to answer /healthz", up, 60)
        yield Served(base, proc.pid)
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


def latency(server: DovecotServer) -> list[float]:
    """(d): LMTP delivery → visible through the API, against a real ``atendo serve``."""
    data_dir = Path(tempfile.mkdtemp(prefix="atendo-bench-latency-"))
    settings = Settings(data_dir=data_dir, secret_key=SECRET)
    database_url = settings.resolved_database_url
    upgrade(database_url)
    runtime = Runtime.from_settings(settings)
    user, password = "latency@bench.example", "bench-pw-latency"
    server.add_user(user, password)
    try:
        company_id, token = _new_company(runtime, "latency")
        channel_id = _new_channel(runtime, company_id, server, user, password, days=0)
    finally:
        runtime.close()
    samples: list[float] = []
    try:
        with (
            atendo_serve(data_dir, database_url) as served,
            httpx.Client(base_url=served.base, headers={"Authorization": token}, timeout=10) as api,
        ):

            def connected() -> bool:
                r = api.get(f"/v1/channels/{channel_id}")
                return r.status_code == 200 and r.json()["data"]["status"] == "connected"

            _wait("the latency channel to connect", connected, 60)
            time.sleep(1.0)  # let the session settle into IDLE
            for i in range(LATENCY_SAMPLES):
                subject = f"latency probe {i}"
                t0 = time.perf_counter()
                server.deliver(user, _probe(i))

                def visible(subject: str = subject) -> bool:
                    data = api.get("/v1/messages", params={"limit": 1}).json()["data"]
                    return bool(data) and data[0]["subject"] == subject

                _wait(f"probe {i} through the API", visible, 60, step=0.01)
                samples.append(time.perf_counter() - t0)
                time.sleep(0.2)
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)
    return samples


async def raw_path(server: DovecotServer, user: str, password: str) -> Figure:
    """(e)'s baseline: UID FETCH with aioimaplib and the stdlib parse, nothing stored."""
    cpu0 = time.process_time()
    fetch, raws = await raw_fetch(server.host, server.imap_port, user, password)
    t0 = time.perf_counter()
    for raw in raws:
        email.message_from_bytes(raw, policy=compat32)
    seconds = fetch.seconds + time.perf_counter() - t0
    cpu = time.process_time() - cpu0
    return Figure("(e) raw path: UID FETCH + compat32 parse", len(raws), seconds, cpu)


def channel_to_api(
    label: str, database_url: str, server: DovecotServer, user: str, password: str, n: int
) -> tuple[Figure, float, tuple[float, float]]:
    """(e): POST /v1/channels → GET /v1/messages counts ``n``; returns the figure, the
    seconds until the first 100 were visible and the CPU-seconds used meanwhile by the
    ``atendo serve`` process and by its helpers (the parsing helper)."""
    data_dir = Path(tempfile.mkdtemp(prefix="atendo-bench-fresh-"))
    upgrade(database_url)
    runtime = Runtime.from_settings(
        Settings(data_dir=data_dir, database_url=database_url, secret_key=SECRET)
    )
    try:
        _, token = _new_company(runtime, f"fresh-{label.lower()}")
    finally:
        runtime.close()
    smtp = SmtpServer().start()
    try:
        with (
            atendo_serve(data_dir, database_url) as served,
            httpx.Client(base_url=served.base, headers={"Authorization": token}, timeout=30) as api,
        ):
            body = {
                "transport": "email", "email": user, "password": password,
                "imap_host": server.host, "imap_port": server.imap_port, "imap_security": "none",
                "smtp_host": smtp.host, "smtp_port": smtp.port, "smtp_security": "none",
                "import_days": 3650,
            }  # fmt: skip
            first_100 = 0.0
            cpu0 = tree_cpu(served.pid)
            t0 = time.perf_counter()
            created = api.post("/v1/channels", json=body)
            if created.status_code not in (200, 201):
                raise SystemExit(f"POST /v1/channels: {created.status_code} {created.text}")
            count = 0
            deadline = time.monotonic() + WAIT_LIMIT
            while count < n:
                meta = api.get("/v1/messages", params={"limit": 1}).json()["meta"]
                count = int(meta["total"])
                if count >= 100 and not first_100:
                    first_100 = time.perf_counter() - t0
                if time.monotonic() > deadline:
                    raise SystemExit(f"{label}: {count} of {n} visible after {WAIT_LIMIT:.0f} s")
                time.sleep(0.05)
            seconds = time.perf_counter() - t0
            cpu1 = tree_cpu(served.pid)
    finally:
        smtp.stop()
        shutil.rmtree(data_dir, ignore_errors=True)
    cpu = (cpu1[0] - cpu0[0], cpu1[1] - cpu0[1])
    figure = Figure(f"(e) POST /v1/channels -> API counts all, {label}", count, seconds)
    return figure, first_100, cpu


# ---------------------------------------------------------------------------------------------


@dataclass
class Fresh:
    """(e) on one database, between two measurements of its raw path (machine load drifts)."""

    raw_before: Figure
    figure: Figure
    first_100: float
    raw_after: Figure
    load: tuple[float, float, float]  # os.getloadavg() right after the Atendo run
    cpu: tuple[float, float]  # CPU-seconds of atendo serve and of its helpers in the run

    @property
    def raw_rate(self) -> float:
        """The raw path's rate over both of its runs (total messages / total seconds)."""
        count = self.raw_before.count + self.raw_after.count
        return count / (self.raw_before.seconds + self.raw_after.seconds)


def new_channel(server: DovecotServer) -> list[Fresh]:
    """(e) on its own mailbox, into SQLite and (when it answers) PostgreSQL; the raw path is
    measured right before and right after each, on the same mailbox."""
    fresh_user, fresh_password = "fresh@bench.example", "bench-pw-fresh"
    server.add_user(fresh_user, fresh_password)
    server.seed_maildir(fresh_user, generate(FRESH_N, seed=7))

    def measured(label: str, url: str) -> Fresh:
        before = asyncio.run(raw_path(server, fresh_user, fresh_password))
        fig, first_100, cpu = channel_to_api(
            label, url, server, fresh_user, fresh_password, FRESH_N
        )
        load = os.getloadavg()
        after = asyncio.run(raw_path(server, fresh_user, fresh_password))
        return Fresh(before, fig, first_100, after, load, cpu)

    fresh: list[Fresh] = []
    fresh_dir = Path(tempfile.mkdtemp(prefix="atendo-bench-fresh-db-"))
    try:
        fresh.append(measured("SQLite", f"sqlite:///{fresh_dir / 'atendo.db'}"))
    finally:
        shutil.rmtree(fresh_dir, ignore_errors=True)
    if postgres_available():
        with TemporaryDatabase(PG_BASE, prefix="atendo_bench") as pg_url:
            fresh.append(measured("PostgreSQL", pg_url))
    return fresh


def print_new_channel(fresh: list[Fresh]) -> None:
    for run in fresh:
        for raw in (run.raw_before, run.raw_after):
            print(
                f"{raw.label:<46} {raw.count:>9,} {raw.seconds:>8.2f} {raw.rate:>9,.0f}"
                f"  CPU-seconds {raw.cpu or 0:.2f}"
            )
        fig = run.figure
        ratio = fig.rate / run.raw_rate
        print(
            f"{fig.label:<46} {fig.count:>9,} {fig.seconds:>8.2f} {fig.rate:>9,.0f}  "
            f"{ratio:.2f} of the raw path ({run.raw_rate:,.0f} msg/s before+after) — goal >= 0.5 "
            f"{'OK' if ratio >= 0.5 else 'MISSED'}; first 100 visible after {run.first_100:.2f} s"
            f"; load average {run.load[0]:.2f} {run.load[1]:.2f} {run.load[2]:.2f}"
            f"; CPU-seconds: atendo serve {run.cpu[0]:.2f}, its helpers {run.cpu[1]:.2f}"
        )


def new_channel_only() -> int:
    reason = dovecot_available()
    if reason:
        print(f"skipped: {reason}", file=sys.stderr)
        return 1
    print(f"bench/ingest.py (e) only: {FRESH_N:,} messages, {os.cpu_count()} CPUs")
    server = DovecotServer()
    try:
        server.start()
        fresh = new_channel(server)
    finally:
        server.close()
    print()
    print(f"{'measurement':<46} {'messages':>9} {'seconds':>8} {'msg/s':>9}  ratio")
    print_new_channel(fresh)
    return 0


def main() -> int:
    global N
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "-n", "--messages", type=int, default=N, help=f"messages to generate (default {N:,})"
    )
    parser.add_argument(
        "--new-channel-only",
        action="store_true",
        help="measure (e) alone: POST /v1/channels until the API counts them, beside its raw path",
    )
    args = parser.parse_args()
    N = args.messages
    if args.new_channel_only:
        return new_channel_only()
    reason = dovecot_available()
    if reason:
        print(f"skipped: {reason}", file=sys.stderr)
        return 1
    print(
        f"bench/ingest.py: {N:,} messages, {os.cpu_count()} CPUs, Python {sys.version.split()[0]}"
    )
    t0 = time.perf_counter()
    raws = generate(N)
    total = sum(len(r) for r in raws)
    with_att = sum(1 for r in raws if b"Content-Disposition: attachment" in r)
    replies = sum(1 for r in raws if b"\r\nIn-Reply-To: " in r)
    print(
        f"generated {N:,} messages ({total / 2**20:.0f} MiB, {min(map(len, raws)) / 1024:.1f}–"
        f"{max(map(len, raws)) / 1024:.0f} KB, {with_att / N:.0%} with attachments, "
        f"{replies / N:.0%} replies) in {time.perf_counter() - t0:.1f} s",
        flush=True,
    )
    server = DovecotServer()
    try:
        server.start()
        user, password = "bench@bench.example", "bench-pw"
        server.add_user(user, password)
        t0 = time.perf_counter()
        seeded = server.seed_maildir(user, raws)
        print(f"seeded {seeded:,} into Dovecot's Maildir in {time.perf_counter() - t0:.1f} s")
        del raws

        fetch, fetched = asyncio.run(raw_fetch(server.host, server.imap_port, user, password))
        if fetch.count != N:
            raise SystemExit(f"raw fetch returned {fetch.count} messages, expected {N}")
        ours, stdlib = raw_parse(fetched)
        del fetched
        print("baselines measured; now Atendo end to end", flush=True)
        results: list[Figure] = []
        sqlite_dir = Path(tempfile.mkdtemp(prefix="atendo-bench-sqlite-"))
        try:
            sqlite_url = f"sqlite:///{sqlite_dir / 'atendo.db'}"
            results.append(asyncio.run(end_to_end("SQLite", sqlite_url, server, user, password, N)))
        finally:
            shutil.rmtree(sqlite_dir, ignore_errors=True)
        if postgres_available():
            with TemporaryDatabase(PG_BASE, prefix="atendo_bench") as pg_url:
                results.append(
                    asyncio.run(end_to_end("PostgreSQL", pg_url, server, user, password, N))
                )
        else:
            print("PostgreSQL: nothing answers on 127.0.0.1:5432; skipped")
        samples = latency(server)
        fresh = new_channel(server)
    finally:
        server.close()

    slower = min(fetch, ours, key=lambda f: f.rate)
    print()
    print(f"{'measurement':<46} {'messages':>9} {'seconds':>8} {'msg/s':>9}  ratio")
    for fig in (fetch, ours, stdlib):
        print(f"{fig.label:<46} {fig.count:>9,} {fig.seconds:>8.2f} {fig.rate:>9,.0f}")
    for fig in results:
        ratio = fig.rate / slower.rate
        print(
            f"{fig.label:<46} {fig.count:>9,} {fig.seconds:>8.2f} {fig.rate:>9,.0f}  "
            f"{ratio:.2f} of the slower baseline ({slower.label[:3]}) — goal >= 0.5"
            f" {'OK' if ratio >= 0.5 else 'MISSED'}"
        )
    print_new_channel(fresh)
    med = statistics.median(samples)
    print(
        f"(d) LMTP delivery -> GET /v1/messages (atendo serve, IDLE): median {med * 1000:.0f} ms, "
        f"min {min(samples) * 1000:.0f} ms, max {max(samples) * 1000:.0f} ms over {len(samples)}"
        f" — goal < 2 s {'OK' if med < 2 else 'MISSED'}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
