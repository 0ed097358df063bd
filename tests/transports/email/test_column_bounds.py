"""Issue 18: no inbound mail is lost on PostgreSQL that SQLite keeps.

The three losses of the review (a From name over 300 characters, a From address over 320, a
mail with 40,000 ``References`` ids), mail without headers and random bytes: each is stored,
visible in a dialog, its long values shortened in the columns and whole in the raw message.
Then a property test feeds the same generated mail to SQLite and PostgreSQL side by side and
compares what each stored.
"""

from __future__ import annotations

import os
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from atendo.core.channels.models import Channel
from atendo.core.clients.models import ClientIdentity
from atendo.core.messages.models import Message
from atendo.migrations import upgrade
from atendo.runtime import Runtime
from atendo.settings import Settings
from atendo.transports.email.bounds import UNKNOWN_SENDER
from atendo.transports.email.ingest import ingest_raw
from tests.conftest import CompanyFixture, make_company
from tests.factories import email_channel
from tests.servers.postgres import ENV_VAR, TemporaryDatabase, postgres_available
from tests.servers.require import unavailable

PG_DEFAULT = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"


def _mail(
    *, name: str, address: str, subject: str = "Hi", refs: list[str] | None = None, mid: str = ""
) -> bytes:
    mid = mid or f"{uuid.uuid4().hex}@client.example"
    lines = [
        f'From: "{name}" <{address}>',
        "To: support@acme.example",
        f"Subject: {subject}",
        f"Message-ID: <{mid}>",
    ]
    if refs:
        lines.append("References: " + "\r\n ".join(f"<{r}>" for r in refs))
    lines += ["Date: Mon, 07 Dec 2026 10:00:00 -0300", "Content-Type: text/plain; charset=utf-8"]
    return ("\r\n".join(lines) + "\r\n\r\nOlá!\r\n").encode()


def _ingest(runtime: Runtime, channel_id: int, raw: bytes) -> Message:
    with runtime.db.transaction() as session:
        channel = session.get(Channel, channel_id)
        assert channel is not None
        message = ingest_raw(
            session, blobs=runtime.blobs, box=runtime.box, channel=channel, raw=raw
        )
        assert message is not None
        session.expunge(message)
        return message


def _address_of(runtime: Runtime, client_id: int | None) -> list[str]:
    with runtime.db.reading() as session:
        return list(
            session.scalars(
                select(ClientIdentity.address).where(ClientIdentity.client_id == client_id)
            )
        )


def test_long_names_and_addresses_are_shortened_in_columns_kept_in_the_raw(
    runtime: Runtime, company: CompanyFixture
) -> None:
    channel = email_channel(runtime, company.id)
    name = "N" * 5000
    address = "a" * 400 + "@client.example"
    message = _ingest(runtime, channel, _mail(name=name, address=address))
    assert message.dialog_id is not None and not message.hidden
    assert message.from_name == "N" * 300
    assert message.from_email == address[:320]
    assert _address_of(runtime, message.client_id) == [address[:320]]
    assert message.raw_sha is not None
    raw = runtime.blobs.get(message.raw_sha)
    assert name.encode() in raw and address.encode() in raw


def test_forty_thousand_references_thread_by_the_first_and_last_ids(
    runtime: Runtime, company: CompanyFixture
) -> None:
    channel = email_channel(runtime, company.id)
    first = _ingest(runtime, channel, _mail(name="Ana", address="ana@client.example"))
    root = f"{uuid.uuid4().hex}@client.example"
    # The root stored first; then a reply whose References run from it through 40,000 ids.
    rooted = _ingest(runtime, channel, _mail(name="Ana", address="ana@client.example", mid=root))
    refs = [root, *(f"{i}.{uuid.uuid4().hex[:8]}@x.example" for i in range(40_000))]
    reply = _ingest(runtime, channel, _mail(name="Ana", address="ana@client.example", refs=refs))
    assert reply.dialog_id == rooted.dialog_id == first.dialog_id
    assert len(reply.references) == 50
    assert reply.references[0] == root and reply.references[-1] == refs[-1]


@pytest.mark.parametrize(
    "raw",
    [b"", b"\r\n\r\nonly a body, no header at all\r\n", os.urandom(2048)],
    ids=["empty", "headerless", "random-bytes"],
)
def test_mail_without_a_sender_is_visible_under_an_unknown_sender(
    runtime: Runtime, company: CompanyFixture, raw: bytes
) -> None:
    channel = email_channel(runtime, company.id)
    message = _ingest(runtime, channel, raw)
    assert message.dialog_id is not None and not message.hidden
    assert message.from_email == UNKNOWN_SENDER
    assert message.text.strip() != ""  # its text, or "could not be read"
    assert message.raw_sha is not None and runtime.blobs.get(message.raw_sha) == raw


# --- the same mail on both databases ---------------------------------------------------------


def _runtime(url: str, data: Path) -> Runtime:
    upgrade(url)
    return Runtime.from_settings(
        Settings(data_dir=data, database_url=url, secret_key="bounds-test-key")
    )


@pytest.fixture(scope="module")
def both() -> Iterator[list[tuple[Runtime, int]]]:
    base = os.environ.get(ENV_VAR) or PG_DEFAULT
    if not postgres_available():
        unavailable("PostgreSQL on 127.0.0.1:5432 (the property test compares it with SQLite)")
    folder = Path(tempfile.mkdtemp(prefix="atendo-bounds-"))
    pg_db = TemporaryDatabase(base, prefix="atendo_bounds")
    runtimes = [
        _runtime(f"sqlite:///{folder / 'a.db'}", folder / "sqlite"),
        _runtime(pg_db.create(), folder / "pg"),
    ]
    try:
        pairs = []
        for rt in runtimes:
            company = make_company(rt)
            pairs.append((rt, email_channel(rt, company.id)))
        yield pairs
    finally:
        for rt in runtimes:
            rt.close()
        pg_db.drop()


_chars = st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters='"<>\\')
# Short values and values around and over the columns' sizes, about as often.
header_text = st.one_of(
    st.text(alphabet=_chars, max_size=30), st.text(alphabet=_chars, min_size=280, max_size=1200)
)
local_part = st.one_of(
    st.text(alphabet="abcdefghijklmnop0123456789", min_size=1, max_size=30),
    st.text(alphabet="abcdefghijklmnop0123456789", min_size=300, max_size=700),
)


@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    name=header_text,
    local=local_part,
    subject=header_text,
    refs=st.lists(st.text(alphabet="abcdef0123456789", min_size=1, max_size=1200), max_size=120),
)
def test_the_same_mail_is_stored_alike_on_sqlite_and_postgresql(
    both: list[tuple[Runtime, int]], name: str, local: str, subject: str, refs: list[str]
) -> None:
    raw = _mail(
        name=name,
        address=f"{local}@client.example",
        subject=subject,
        refs=[f"{r}@ref.example" for r in refs],
    )
    outcomes = []
    for rt, channel in both:
        m = _ingest(rt, channel, raw)
        outcomes.append(
            (m.dialog_id is not None, m.hidden, m.from_name, m.from_email, m.subject, m.references)
        )
    assert outcomes[0] == outcomes[1]
    assert outcomes[0][0] is True
