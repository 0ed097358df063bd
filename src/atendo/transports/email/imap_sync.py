"""One mailbox's IMAP session: bring every new message of INBOX in, once.

State machine of a session (the worker restarts it with backoff when it raises)::

    connect+login ─▶ SELECT INBOX ─▶ reconcile UIDVALIDITY ─▶ fetch new UIDs ─▶ wait ─┐
                                                                   ▲                │
                                                                   └── IDLE push / ─┘
                                                                       poll timeout

Per folder we keep ``MailboxFolder(uidvalidity, last_uid)`` (RFC 3501 §2.3.1.1):

* first connection (no UIDVALIDITY stored): ``UID SEARCH SINCE <today - import_days>`` is
  fetched as imported history (``imported=True``: nothing automatic answers it), then
  ``last_uid`` becomes UIDNEXT-1 as seen at SELECT time — older mail is not imported.
* UIDVALIDITY changed: every remembered UID is meaningless. A bounded window — the last
  ``RESYNC_WINDOW`` UIDs plus everything since ``import_days`` — is fetched again; the
  per-channel dedup key (Message-ID, else SHA-256) skips what we already hold.
* steady state: ``UID SEARCH UID n:*`` (filtered to ``>= n``: ``n:*`` always matches the
  last message even when its UID is below n), then ``UID FETCH`` in batches with
  ``BODY.PEEK[]`` — ``\\Seen`` is never read nor changed. A batch is at most ``FETCH_BATCH``
  mails and ``FETCH_BATCH_BYTES`` bytes (their ``RFC822.SIZE``, asked first in one command).

Each fetched batch is committed in one transaction together with ``last_uid`` (see
:mod:`atendo.transports.email.ingest`), so a kill -9 at any instant loses and doubles nothing;
that transaction first checks the worker's lease on the mailbox (``fence``: same owner, same
fencing token, the channel row locked), and a lost lease ends the session (:class:`LeaseLost`)
without committing;
a batch that fails is rolled back and retried one message per transaction. The next batches
are fetched, stored and parsed (:mod:`atendo.transports.email.parse_pool`) while batch k
commits (``MailboxSync._fetch``).

IDLE ends at once on ``* BYE`` or a closed socket (aioimaplib's connection-lost callback):
:class:`MailError` is raised and the worker reconnects with its usual backoff.
Only INBOX is synced: our own sent mail lives in the database, never imported from Sent.

No late mail: after each fetch the sync searches again for UIDs above the last one stored,
until a search finds none, before going back to IDLE — mail that arrived during a fetch was
announced (``EXISTS``) while the FETCH ran and would not be announced again. A search that
finds none but was followed by an ``EXISTS`` (mail that came in just before it, which its
answer could not include yet: :mod:`.imap_protocol`) is run once more.

New mail: IMAP IDLE (RFC 2177) when offered, re-issued every ``imap_poll_interval`` (well
under the 29-minute limit) which also proves the connection is alive; otherwise NOOP polling.
aioimaplib was chosen over imapclient: asyncio-native (hundreds of mailboxes in one process)
and measured ~1.6x faster at fetching here. Its pitfalls: after EXAMINE, SEARCH/FETCH fail
(use SELECT); literals arrive as ``bytearray``.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import functools
import itertools
import logging
import random
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import aioimaplib
from sqlalchemy import select
from sqlalchemy.orm import Session

from atendo.core.channels.models import Channel, MailboxFolder
from atendo.kit.clock import utcnow
from atendo.runtime import Runtime
from atendo.transports.base import SessionEnded
from atendo.transports.email.connection import MailError, close_imap, open_imap, plain_reason
from atendo.transports.email.imap_protocol import announced
from atendo.transports.email.ingest import (
    Incoming,
    advance_folder,
    ingest_batch,
    ingest_prepared,
)
from atendo.transports.email.network import MailNetwork
from atendo.transports.email.oauth_sasl import Secret
from atendo.transports.email.parse_pool import HELPERS, prepare_all, prepare_batch
from atendo.transports.email.settings import EmailChannelSettings

log = logging.getLogger("atendo.email.imap")

FOLDER = "INBOX"
FETCH_BATCH = 100
FIRST_BATCH = 25
# A batch also holds at most this many bytes of mail (RFC822.SIZE): a hundred 20 MB mails are
# never on the wire, in the parser and in memory at once. A larger mail goes in a batch alone.
FETCH_BATCH_BYTES = 8 * 1024 * 1024
SIZES_PER_COMMAND = 200
# Batches prepared (or being prepared) ahead of the one committing: one per parsing helper, at
# least two, so a helper never waits for the commit before it can start on the next batch.
PREPARE_AHEAD = max(2, HELPERS)
RESYNC_WINDOW = 500
_UIDVALIDITY = re.compile(rb"UIDVALIDITY (\d+)")
_UIDNEXT = re.compile(rb"UIDNEXT (\d+)")
_FETCH_UID = re.compile(rb"UID (\d+)")
_FETCH_SIZE = re.compile(rb"RFC822\.SIZE (\d+)")
_LITERAL = re.compile(rb"\{(\d+)\}$")
_MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]


class LeaseLost(SessionEnded):
    """This worker no longer holds the mailbox's lease: the session stops, nothing commits."""


def honour_cancel() -> None:
    """Raise ``CancelledError`` when this task was cancelled and went on anyway.

    aioimaplib runs every command under ``asyncio.wait_for``, which on Python 3.11 returns the
    command's answer and drops the ``cancel()`` when both arrive in the same loop iteration:
    the session would go on (into IDLE, for as long as the poll interval) after the worker let
    its mailbox go. The task still counts the request (``Task.cancelling``); it is honoured at
    each step of the session."""
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError


Fence = Callable[[Session], bool]


class Pushes:
    """What IDLE pushed, in place of aioimaplib's ``protocol.idle_queue``, and the session's
    one waiter.

    aioimaplib's queue is an ``asyncio.Queue`` (four deques and an event: ~3 KB per
    connection) read through ``wait_server_push``, which wraps every read in a task and a
    timeout; racing it against a dropped connection took one more task and a future. Here a
    push (``put_nowait``, called by aioimaplib's IDLE command; ``put`` by its renewal timer),
    the connection's loss, the IDLE command's end or a poll's timer all wake the same single
    future, and the session reads the pushes itself."""

    __slots__ = ("_waiter", "items")

    def __init__(self) -> None:
        self.items: list[object] = []  # a list: a deque alone is ~600 bytes
        self._waiter: asyncio.Future[None] | None = None

    def put_nowait(self, item: object) -> None:
        self.items.append(item)
        self.wake()

    async def put(self, item: object) -> None:
        self.put_nowait(item)

    def empty(self) -> bool:
        return not self.items

    def qsize(self) -> int:
        return len(self.items)

    def wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def wake_on(self, _: object) -> None:
        self.wake()

    async def wait(self) -> None:
        """Until the next :meth:`wake` (one waiter at a time: the session's)."""
        waiter = asyncio.get_running_loop().create_future()
        self._waiter = waiter
        try:
            await waiter
        finally:
            self._waiter = None


@dataclass
class FolderState:
    id: int
    uidvalidity: int | None
    last_uid: int


def _lines(resp: aioimaplib.Response) -> list[bytes]:
    return [bytes(x) for x in resp.lines]


def _check(resp: aioimaplib.Response, what: str) -> None:
    if resp.result != "OK":
        detail = b" ".join(_lines(resp)).decode("utf-8", "replace")
        raise MailError(f"{what} failed: {detail}")


def parse_fetch(lines: list[bytes | bytearray]) -> list[tuple[int, bytes]]:
    """(uid, raw) pairs from a ``UID FETCH (UID BODY.PEEK[])`` response."""
    out: list[tuple[int, bytes]] = []
    pending_uid: int | None = None
    pending_raw: bytes | None = None
    expect_literal = False
    for item in lines:
        if expect_literal:
            pending_raw = bytes(item)
            expect_literal = False
            continue
        line = bytes(item)
        if b" FETCH (" in line:
            if pending_uid is not None and pending_raw is not None:
                out.append((pending_uid, pending_raw))
            pending_uid, pending_raw = None, None
        match = _FETCH_UID.search(line)
        if match and (b"FETCH" in line or pending_uid is None):
            pending_uid = int(match.group(1))
        if _LITERAL.search(line):
            expect_literal = True
    if pending_uid is not None and pending_raw is not None:
        out.append((pending_uid, pending_raw))
    return out


def parse_sizes(lines: list[bytes | bytearray]) -> dict[int, int]:
    """UID → size from a ``UID FETCH (UID RFC822.SIZE)`` response."""
    sizes: dict[int, int] = {}
    for item in lines:
        line = bytes(item)
        uid, size = _FETCH_UID.search(line), _FETCH_SIZE.search(line)
        if uid and size:
            sizes[int(uid.group(1))] = int(size.group(1))
    return sizes


def uid_set(uids: list[int]) -> str:
    """An IMAP sequence set of exactly ``uids`` (sorted), runs written as ranges: 1:3,7,9:10."""
    parts: list[str] = []
    for _, run in itertools.groupby(enumerate(uids), key=lambda pair: pair[1] - pair[0]):
        numbers = [uid for _, uid in run]
        parts.append(str(numbers[0]) if len(numbers) == 1 else f"{numbers[0]}:{numbers[-1]}")
    return ",".join(parts)


def fetch_batches(
    uids: list[int],
    sizes: dict[int, int],
    *,
    first: int | None = None,
    count: int | None = None,
    max_bytes: int | None = None,
) -> list[list[int]]:
    """``uids`` cut into batches of at most ``count`` mails (``first`` for the first: a new
    mailbox's first mail is visible sooner) and at most ``max_bytes`` of mail; a mail larger
    than ``max_bytes`` is a batch of its own. A size not known counts as 0. Defaults: the
    module's ``FIRST_BATCH``, ``FETCH_BATCH`` and ``FETCH_BATCH_BYTES`` at the time of the
    call."""
    count = FETCH_BATCH if count is None else count
    max_bytes = FETCH_BATCH_BYTES if max_bytes is None else max_bytes
    limit = FIRST_BATCH if first is None else first
    batches: list[list[int]] = []
    batch: list[int] = []
    total = 0
    for uid in uids:
        size = sizes.get(uid, 0)
        if batch and (len(batch) >= limit or total + size > max_bytes):
            batches.append(batch)
            batch, total, limit = [], 0, count
        batch.append(uid)
        total += size
    if batch:
        batches.append(batch)
    return batches


def _search_uids(resp: aioimaplib.Response) -> list[int]:
    uids: list[int] = []
    for line in _lines(resp):
        if line.upper().endswith((b" EXISTS", b" RECENT", b" EXPUNGE")):
            continue  # sequence numbers of an announcement, not UIDs
        if line.upper().startswith(b"SEARCH") or line[:1].isdigit():
            uids.extend(int(t) for t in line.split() if t.isdigit())
    return sorted(set(uids))


class MailboxSync:
    """The IMAP session of one channel; ``run`` returns only when cancelled or on error."""

    def __init__(
        self,
        runtime: Runtime,
        *,
        channel_id: int,
        cfg: EmailChannelSettings,
        password: Secret,  # or an OAuth mailbox's access token (XOAUTH2)
        on_synced: Callable[[], Awaitable[None]] | None = None,
        fence: Fence | None = None,
        connect_gate: asyncio.Semaphore | None = None,
    ) -> None:
        self.runtime = runtime
        self.channel_id = channel_id
        # Needed to connect; ``run`` lets them go once connected (a reconnection is a new
        # session): an idle mailbox keeps only what it reads again.
        self.cfg: EmailChannelSettings | None = cfg
        self.password: Secret | None = password
        self.import_days = cfg.import_days
        self.on_synced = on_synced
        self.fence = fence
        self.connect_gate = connect_gate
        self.client: aioimaplib.IMAP4 | None = None
        self._lost: str | None = None  # the reason, once the socket has closed
        self._pushes = Pushes()
        self._folder: FolderState | None = None
        self.imported = 0

    # ---- database side (sync SQLAlchemy, run in a thread so IMAP I/O keeps flowing) ------

    def _load_folder(self) -> FolderState:
        with self.runtime.db.transaction() as session:
            channel = session.get(Channel, self.channel_id)
            if channel is None:
                raise MailError("the channel no longer exists")
            row = session.scalar(
                select(MailboxFolder).where(
                    MailboxFolder.channel_id == self.channel_id, MailboxFolder.name == FOLDER
                )
            )
            if row is None:
                row = MailboxFolder(
                    company_id=channel.company_id, channel_id=channel.id, name=FOLDER, last_uid=0
                )
                session.add(row)
                session.flush()
            return FolderState(row.id, row.uidvalidity, row.last_uid)

    def _check_fence(self, session: Session) -> None:
        """In the transaction that commits progress: stop unless the lease is still ours."""
        if self.fence is not None and not self.fence(session):
            raise LeaseLost(f"channel {self.channel_id}: the mailbox lease was lost")

    def _set_folder(self, folder_id: int, *, uidvalidity: int, last_uid: int) -> None:
        with self.runtime.db.transaction() as session:
            self._check_fence(session)
            row = session.get(MailboxFolder, folder_id)
            assert row is not None
            row.uidvalidity = uidvalidity
            row.last_uid = last_uid
            row.initial_done = True

    def _ingest_batch(
        self, items: list[tuple[int, bytes]], *, folder_id: int | None, imported: bool
    ) -> int:
        """Store, parse and commit fetched mail: one transaction for the batch.

        Raw bytes and attachments are written and fsync-ed before the transaction starts (so
        parsing never holds SQLite's write lock). Any error rolls the batch back and the same
        prepared mails go in one by one, so one bad message never holds up the others.
        """
        prepared = prepare_all(str(self.runtime.blobs.root), items)
        return self._commit_batch(prepared, folder_id=folder_id, imported=imported)

    def _commit_batch(
        self,
        prepared: list[Incoming],
        *,
        folder_id: int | None,
        imported: bool,
        synced: bool = False,
    ) -> int:
        """Commit prepared mail; ``synced``: its blobs are already durable (``_prepare``)."""
        if not synced:
            self.runtime.blobs.sync(sha for incoming in prepared for sha in incoming.blob_shas)
        try:
            with self.runtime.db.transaction() as session:
                self._check_fence(session)
                channel = self._channel(session)
                new = ingest_batch(
                    session,
                    box=self.runtime.box,
                    channel=channel,
                    items=prepared,
                    imported=imported,
                    folder_id=folder_id,
                )
                stored = len(new)
        except (MailError, LeaseLost):
            raise
        except Exception:
            log.warning(
                "channel %s: a batch of %d failed; retrying one by one",
                self.channel_id, len(prepared), exc_info=True,
            )  # fmt: skip
            stored = self._ingest_one_by_one(prepared, folder_id=folder_id, imported=imported)
        self.imported += stored
        return stored

    def _channel(self, session: Session) -> Channel:
        channel = session.get(Channel, self.channel_id)
        if channel is None:
            raise MailError("the channel no longer exists")
        return channel

    def _ingest_one_by_one(
        self, prepared: list[Incoming], *, folder_id: int | None, imported: bool
    ) -> int:
        stored = 0
        for incoming in prepared:
            try:
                with self.runtime.db.transaction() as session:
                    self._check_fence(session)
                    message = ingest_prepared(
                        session, box=self.runtime.box, channel=self._channel(session),
                        incoming=incoming, imported=imported, folder_id=folder_id,
                    )  # fmt: skip
                    stored += message is not None
            except (MailError, LeaseLost):
                raise
            except Exception:
                # Its raw bytes are in the blob store; log it and move past its UID.
                log.exception("channel %s: ingesting UID %s failed", self.channel_id, incoming.uid)
                with self.runtime.db.transaction() as session:
                    self._check_fence(session)
                    advance_folder(session, folder_id=folder_id, uid=incoming.uid)
        return stored

    # ---- IMAP side -------------------------------------------------------------------------

    async def connect(self) -> tuple[int, int | None]:
        timeout = self.runtime.settings.connect_timeout
        network = MailNetwork.from_settings(self.runtime.settings)
        async with self.connect_gate or contextlib.nullcontext():
            if self.cfg is None or self.password is None:
                raise MailError("this session has already connected once")
            self.client = await open_imap(self.cfg, self.password, timeout=timeout, network=network)
        honour_cancel()
        # aioimaplib reports a closed socket only through this callback; it wakes the wait.
        self.client.protocol.conn_lost_cb = self._connection_lost
        # IDLE's pushes come to our box, read by the wait itself (see Pushes).
        self.client.protocol.idle_queue = self._pushes
        resp = await self.client.select(FOLDER)  # never EXAMINE: aioimaplib then fails SEARCH
        _check(resp, "SELECT INBOX")
        text = b" ".join(_lines(resp))
        validity = _UIDVALIDITY.search(text)
        if validity is None:
            raise MailError("the server did not report UIDVALIDITY")
        uidnext = _UIDNEXT.search(text)
        return int(validity.group(1)), int(uidnext.group(1)) if uidnext else None

    def _connection_lost(self, exc: Exception | None) -> None:
        if self._lost is None:
            self._lost = plain_reason(exc) if exc is not None else "connection closed by the server"
            self._pushes.wake()

    async def close(self) -> None:
        client, self.client = self.client, None
        if client is None:
            return
        if self._lost is not None:
            # Nothing to log out from: LOGOUT would only wait for its timeout.
            transport = client.protocol.transport
            if transport is not None:
                transport.close()
            return
        await close_imap(client)

    async def _uid_search(self, *criteria: str) -> list[int]:
        assert self.client is not None
        resp = await self.client.uid_search(*criteria, charset=None)
        _check(resp, "UID SEARCH")
        return _search_uids(resp)

    async def _prepare(self, items: list[tuple[int, bytes]]) -> list[Incoming]:
        """A fetched batch's raw bytes and attachments stored and made durable, and parsed."""
        prepared = await prepare_batch(self.runtime.blobs, items)
        shas = [sha for incoming in prepared for sha in incoming.blob_shas]
        await asyncio.to_thread(self.runtime.blobs.sync, shas)
        return prepared

    async def _fetch(self, uids: list[int], *, folder_id: int | None, imported: bool) -> None:
        """Fetch and ingest ``uids`` in batches, a pipeline: one batch on the wire, up to
        ``PREPARE_AHEAD`` batches being prepared (stored raw, parsed, fsync-ed: in the parsing
        helpers, side by side), one committing.

        Each stage moves as soon as it can (the first batch commits while the next ones are
        still on the wire or in the parser). Commits stay strictly one after another in UID
        order (``last_uid`` only moves forward), each after its batch's blobs are durable; on
        any error every fetch, preparation and commit in flight is awaited before the error
        propagates, so a reconnect never races them.
        """
        if not uids:
            return
        # Batches bounded in count and in bytes (one mail needs no sizes: one batch).
        sizes = await self._sizes(uids) if len(uids) > 1 else {}
        chunks = iter(fetch_batches(uids, sizes))

        def fetch_next() -> asyncio.Future[list[tuple[int, bytes]]] | None:
            chunk = next(chunks, None)
            return None if chunk is None else asyncio.ensure_future(self._fetch_chunk(chunk))

        def commit(prepared: list[Incoming]) -> asyncio.Future[int]:
            work = functools.partial(
                self._commit_batch, prepared, folder_id=folder_id, imported=imported, synced=True
            )
            return asyncio.ensure_future(asyncio.to_thread(work))

        fetching = fetch_next()
        preparing: collections.deque[asyncio.Future[list[Incoming]]] = collections.deque()
        committing: asyncio.Future[int] | None = None
        try:
            while fetching is not None or preparing or committing is not None:
                waits: set[asyncio.Future[Any]] = set()
                if fetching is not None and len(preparing) < PREPARE_AHEAD:
                    waits.add(fetching)
                if committing is not None:
                    waits.add(committing)
                elif preparing:
                    waits.add(preparing[0])
                assert waits
                await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
                if committing is not None and committing.done():
                    committing.result()  # an error ends the whole fetch here
                    committing = None
                if fetching is not None and fetching.done() and len(preparing) < PREPARE_AHEAD:
                    items = fetching.result()
                    fetching = fetch_next()
                    preparing.append(asyncio.ensure_future(self._prepare(items)))
                if committing is None and preparing and preparing[0].done():
                    committing = commit(preparing.popleft().result())
        finally:
            for pending in (fetching, *preparing, committing):
                if pending is not None and not pending.done():
                    await asyncio.wait({pending})
                if pending is not None and pending.done() and not pending.cancelled():
                    pending.exception()  # the error already propagating is the one to report

    async def _sizes(self, uids: list[int]) -> dict[int, int]:
        """The sizes of ``uids``, asked ``SIZES_PER_COMMAND`` UIDs at a time: aioimaplib
        parses the lines of one read recursively, one frame per line, and thousands of
        one-line answers in one read exceed Python's recursion limit."""
        assert self.client is not None
        sizes: dict[int, int] = {}
        for start in range(0, len(uids), SIZES_PER_COMMAND):
            part = uids[start : start + SIZES_PER_COMMAND]
            resp = await self.client.uid("fetch", uid_set(part), "(UID RFC822.SIZE)")
            _check(resp, "UID FETCH RFC822.SIZE")
            sizes.update(parse_sizes(resp.lines))
        return sizes

    async def _fetch_chunk(self, chunk: list[int]) -> list[tuple[int, bytes]]:
        assert self.client is not None
        resp = await self.client.uid(
            "fetch", ",".join(str(u) for u in chunk), "(UID BODY.PEEK[] INTERNALDATE)"
        )
        _check(resp, "UID FETCH")
        wanted = set(chunk)
        return sorted((u, r) for u, r in parse_fetch(resp.lines) if u in wanted)

    def _since(self, days: int) -> str:
        day = (utcnow() - timedelta(days=max(days, 0))).date()
        return f"{day.day}-{_MONTHS[day.month - 1]}-{day.year}"

    async def sync_once(self, uidvalidity: int, uidnext: int | None) -> None:
        # Read once per connection: afterwards only this session (it holds the lease) moves
        # the folder's position, so the next sync starts from what it last stored.
        folder = self._folder
        if folder is None:
            folder = await asyncio.to_thread(self._load_folder)
        if folder.uidvalidity != uidvalidity:
            first = folder.uidvalidity is None
            window = set(await self._uid_search("SINCE", self._since(self.import_days)))
            if not first:
                every = await self._uid_search("ALL")
                window.update(every[-RESYNC_WINDOW:])
            elif self.import_days <= 0:
                window = set()
            # Window messages commit without moving last_uid (it belongs to the OLD
            # UIDVALIDITY); a crash here just redoes the window, deduplicated.
            await self._fetch(sorted(window), folder_id=None, imported=first)
            last = (uidnext - 1) if uidnext else max(window, default=0)
            await asyncio.to_thread(
                self._set_folder, folder.id, uidvalidity=uidvalidity, last_uid=last
            )
            folder = FolderState(folder.id, uidvalidity, last)
        start = folder.last_uid + 1
        quiet = 0
        while True:  # again after each fetch: what arrived meanwhile is not announced again
            before = announced(self.client)
            new = [u for u in await self._uid_search("UID", f"{start}:*") if u >= start]
            if not new:
                # Mail that arrived before the search but after the view's last update is not
                # in its answer: it is announced (EXISTS) at the search's end, never again, and
                # not in IDLE: search once more before idling (imap_protocol).
                quiet += 1
                if announced(self.client) != before and quiet < 3:
                    continue
                break
            await self._fetch(new, folder_id=folder.id, imported=False)
            honour_cancel()
            start = max(new) + 1
        self._folder = FolderState(folder.id, uidvalidity, start - 1)
        if self.on_synced is not None:
            await self.on_synced()

    async def wait_for_news(self) -> None:
        """Return when the server pushes news, or after the poll interval (liveness check).

        Raises :class:`MailError` at once when the server says ``* BYE`` or the connection
        drops, so the worker reconnects with its usual backoff instead of waiting out the poll
        interval and a command timeout.

        While idling a mailbox holds aioimaplib's IDLE command task, its renewal timer and one
        future (:class:`Pushes`): a thousand idle mailboxes are a thousand of each, nothing
        more (no task nor timer per wait).
        """
        assert self.client is not None
        interval = self.runtime.settings.imap_poll_interval
        # Staggered: a thousand mailboxes that started together do not renew IDLE together.
        idle_limit = min(interval, self.runtime.settings.imap_idle_timeout)
        idle_limit *= random.uniform(0.85, 1.0)
        honour_cancel()
        if not self.client.has_capability("IDLE"):
            await self._sleep_unless_lost(interval)
            _check(await self.client.noop(), "NOOP")
            return
        # aioimaplib's timer pushes STOP_WAIT_SERVER_PUSH once ``idle_limit`` has passed.
        idle = await self.client.idle_start(timeout=idle_limit)
        idle.add_done_callback(self._pushes.wake_on)  # the server ended IDLE by itself
        try:
            while True:
                push = await self._next_push(idle)
                if push == aioimaplib.STOP_WAIT_SERVER_PUSH:
                    break
                lines = [bytes(x) for x in push] if isinstance(push, list) else []
                bye = next((line for line in lines if line.upper().startswith(b"BYE")), None)
                if bye is not None:
                    detail = bye[3:].decode("utf-8", "replace").strip()
                    raise MailError(f"the server closed the connection ({detail or 'BYE'})")
                text = b" ".join(lines)
                if b"EXISTS" in text or b"RECENT" in text:
                    break
        except BaseException:
            idle.cancel()  # the server will never answer it now
            raise
        finally:
            idle.remove_done_callback(self._pushes.wake_on)
            if self.client.has_pending_idle() and self._lost is None:
                self.client.idle_done()
        resp = await asyncio.wait_for(idle, self.runtime.settings.connect_timeout)
        _check(resp, "IDLE")

    async def _next_push(self, idle: asyncio.Future[Any]) -> object:
        """The next IDLE push (pushes already received first: a ``* BYE`` line arrives before
        the close is seen); raises :class:`MailError` once the connection is lost. Ends
        with ``STOP_WAIT_SERVER_PUSH`` when the IDLE command has ended without one."""
        while not self._pushes.items:
            if self._lost is not None:
                raise MailError(self._lost)
            if idle.done():
                return aioimaplib.STOP_WAIT_SERVER_PUSH
            await self._pushes.wait()
        return self._pushes.items.pop(0)

    async def _sleep_unless_lost(self, seconds: float) -> None:
        if self._lost is None:
            timer = asyncio.get_running_loop().call_later(seconds, self._pushes.wake)
            try:
                await self._pushes.wait()
            finally:
                timer.cancel()
        if self._lost is not None:
            raise MailError(self._lost)

    async def run(self) -> None:
        try:
            uidvalidity, uidnext = await self.connect()
            self.cfg = self.password = None
            await self.sync_once(uidvalidity, uidnext)
            while True:
                await self.wait_for_news()
                honour_cancel()
                await self.sync_once(uidvalidity, None)
        finally:
            await self.close()
