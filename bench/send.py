"""Send-queue benchmark: 5,000 queued e-mails (delay 0) drained by the sender into a real
aiosmtpd server, beside two raw rates of aiosmtplib sending the same bytes to the same server
in the same run, with the sender's concurrency (sessions at once per channel):

- one session per message (connect, EHLO, MAIL/RCPT/DATA, QUIT), and
- reused sessions (each of the concurrent sessions carries messages one after another, as
  the sender does since it keeps a channel's SMTP sessions open) -- the like-for-like one.

    .venv/bin/python bench/send.py [--messages 5000] [--dialogs 50]

The sender's figure includes everything the product does per message: the claim, building
the MIME from the row, the SMTP transaction, and recording ``sent`` with its history line and
``outbox_status`` event. It also prints how many SMTP sessions the server saw.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path

import aiosmtplib

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.servers.smtp import SmtpServer

from atendo.core.channels.models import Channel
from atendo.core.channels.service import create_channel
from atendo.core.clients.service import find_or_create_client
from atendo.core.companies.service import create_company
from atendo.core.dialogs.service import open_dialog
from atendo.core.enums import DeliveryStatus
from atendo.core.messages.models import Message
from atendo.migrations import upgrade
from atendo.runtime import Runtime
from atendo.settings import Settings
from atendo.transports.email.compose import build_mime
from atendo.transports.email.outbound import queue_email_reply
from atendo.transports.email.smtp_delivery import SmtpDelivery, SmtpDeliveryConfig


def setup(runtime: Runtime, port: int, dialogs: int) -> tuple[int, list[int]]:
    with runtime.db.transaction() as session:
        new = create_company(
            session, name="Bench", admin_email="bench@bench.example", admin_password="x" * 12
        )
        channel = create_channel(
            session,
            company_id=new.company.id,
            transport="email",
            name="Bench",
            settings={
                "email": "support@bench.example",
                "sender_name": "Bench Support",
                "smtp_host": "127.0.0.1",
                "smtp_port": port,
                "smtp_security": "none",
                "send_delay": 0,
                "copy_to_sent": False,
            },
            secrets={},
            box=runtime.box,
        )
        ids = []
        for i in range(dialogs):
            client, _ = find_or_create_client(
                session, company_id=new.company.id, transport="email", address=f"c{i}@ex.org"
            )
            dialog = open_dialog(
                session,
                company_id=new.company.id,
                client_id=client.id,
                channel_id=channel.id,
                recipients=[f"c{i}@ex.org"],
                subject=f"Order {i}",
            )
            ids.append(dialog.id)
        return new.company.id, ids


def queue(runtime: Runtime, company_id: int, dialog_ids: list[int], count: int) -> float:
    start = time.perf_counter()
    with runtime.db.transaction() as session:
        for n in range(count):
            queue_email_reply(
                session,
                runtime=runtime,
                company_id=company_id,
                dialog_id=dialog_ids[n % len(dialog_ids)],
                operator_id=None,
                text=f"Reply number {n}.\n\nYour order ships today.",
            )
    return time.perf_counter() - start


def raw_messages(runtime: Runtime) -> list[tuple[str, list[str], bytes]]:
    with runtime.db.reading() as session:
        rows = list(session.query(Message).filter(Message.delivery_status == "queued"))
        channel = session.get(Channel, rows[0].channel_id)
        assert channel is not None
        return [(m.from_email or "", list(m.to), build_mime(m, channel=channel)) for m in rows]


async def raw_send(port: int, mails: list[tuple[str, list[str], bytes]], concurrency: int) -> float:
    """aiosmtplib, one session per message."""
    gate = asyncio.Semaphore(concurrency)

    async def one(sender: str, rcpts: list[str], raw: bytes) -> None:
        async with gate:
            await aiosmtplib.send(
                raw, sender=sender, recipients=rcpts, hostname="127.0.0.1", port=port,
                start_tls=False, local_hostname="localhost",
            )  # fmt: skip

    start = time.perf_counter()
    await asyncio.gather(*(one(*m) for m in mails))
    return time.perf_counter() - start


async def raw_send_reused(
    port: int, mails: list[tuple[str, list[str], bytes]], concurrency: int
) -> float:
    """aiosmtplib, ``concurrency`` sessions each sending its share one message after another."""
    todo = iter(mails)

    async def session() -> None:
        async with aiosmtplib.SMTP(
            hostname="127.0.0.1", port=port, start_tls=False, local_hostname="localhost"
        ) as client:
            for sender, rcpts, raw in todo:
                await client.sendmail(sender, rcpts, raw)

    start = time.perf_counter()
    await asyncio.gather(*(session() for _ in range(concurrency)))
    return time.perf_counter() - start


async def drain(
    runtime: Runtime, config: SmtpDeliveryConfig, server: SmtpServer, count: int
) -> tuple[float, int]:
    """The production loop (``SmtpDelivery.run``), timed until every message is recorded ``sent``
    (the server holding them all is not enough: the last outcomes may still be written)."""
    stop = asyncio.Event()
    sender = SmtpDelivery(runtime, config)
    start = time.perf_counter()
    loop = asyncio.create_task(sender.run(stop))
    await server.async_wait_for(count, timeout=3600)
    while await asyncio.to_thread(count_sent, runtime) < count:  # noqa: ASYNC110 - polls the DB
        await asyncio.sleep(0.01)
    elapsed = time.perf_counter() - start
    stop.set()
    await loop
    return elapsed, sender.smtp_sessions


def count_sent(runtime: Runtime) -> int:
    with runtime.db.reading() as session:
        query = session.query(Message).filter(Message.delivery_status == DeliveryStatus.SENT)
        return query.count()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=5000)
    parser.add_argument("--dialogs", type=int, default=50)
    parser.add_argument("--batch", type=int, default=SmtpDeliveryConfig.batch)
    args = parser.parse_args()
    data = Path(tempfile.mkdtemp(prefix="atendo-bench-send-"))
    settings = Settings(data_dir=data, secret_key="bench")
    upgrade(settings.resolved_database_url)
    runtime = Runtime.from_settings(settings)
    config = SmtpDeliveryConfig(batch=args.batch)
    with SmtpServer() as server:
        company_id, dialogs = setup(runtime, server.port, args.dialogs)
        queued_in = queue(runtime, company_id, dialogs, args.messages)
        mails = raw_messages(runtime)
        raw_s = asyncio.run(raw_send(server.port, mails, config.per_channel))
        assert len(server) == args.messages
        server.reset()
        reused_s = asyncio.run(raw_send_reused(server.port, mails, config.per_channel))
        assert len(server) == args.messages
        server.reset()
        ours_s, sessions = asyncio.run(drain(runtime, config, server, args.messages))
        sent_count = count_sent(runtime)
    n = args.messages
    print(f"messages: {n}, SQLite, one channel, concurrency {config.per_channel} per channel")
    print(f"queue_email_reply:       {n / queued_in:8.0f} msg/s ({queued_in:.2f} s, one txn)")
    print(f"raw aiosmtplib, a session per message: {n / raw_s:6.0f} msg/s ({raw_s:.2f} s)")
    print(f"raw aiosmtplib, {config.per_channel} reused sessions: {n / reused_s:8.0f} msg/s "
          f"({reused_s:.2f} s)")  # fmt: skip
    print(f"atendo sender (queue→sent): {n / ours_s:5.0f} msg/s ({ours_s:.2f} s), "
          f"{sent_count} recorded sent over {sessions} SMTP sessions; "
          f"{raw_s / ours_s:.0%} of a session per message, "
          f"{reused_s / ours_s:.0%} of reused sessions")  # fmt: skip
    runtime.close()


if __name__ == "__main__":
    main()
