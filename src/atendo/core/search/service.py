"""Finding chats: accent- and case-insensitive search over client name, addresses, phone,
subject, message text and tags, on SQLite and PostgreSQL alike.

Message text is looked up in ``message_search`` (folded by :func:`atendo.kit.fold.fold`; on
SQLite an FTS5 trigram table, on PostgreSQL a ``pg_trgm`` GIN-indexed table), filled lazily:
:func:`catch_up` indexes what was written since its last run and is called by the edge (in a
writing unit of work) before a search. The small tables (clients, addresses, tags) are matched
with ``atendo_fold()`` in SQL. :func:`dialog_condition` is the one function every edge uses.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    Column,
    ColumnElement,
    Integer,
    MetaData,
    Table,
    Text,
    event,
    func,
    insert,
    or_,
    select,
    update,
)
from sqlalchemy.orm import Session

from atendo.core.clients.models import Client, ClientIdentity
from atendo.core.dialogs.models import Dialog, Request
from atendo.core.messages.models import Message
from atendo.core.tags.models import Tag, TagAssignment
from atendo.kit.fold import fold

_meta = MetaData()
# Not ORM models: on SQLite ``message_search`` is a virtual table (its key is the rowid).
progress = Table(
    "search_progress",
    _meta,
    Column("company_id", Integer, primary_key=True),
    Column("last_message_id", Integer),
    Column("last_client_id", Integer),
)
_SQLITE_CLIENTS = Table(
    "client_search",
    MetaData(),
    Column("rowid", Integer, primary_key=True),
    Column("body", Text),
    Column("company_id", Integer),
)
_PG_CLIENTS = Table(
    "client_search",
    MetaData(),
    Column("client_id", Integer, primary_key=True),
    Column("company_id", Integer),
    Column("body", Text),
)
BATCH = 5000
# PostgreSQL hands out ids before commit: a message committed late can have a lower id than
# one already indexed. Each catch-up looks again this far behind its watermark.
LOOK_BACK = 500


def _is_sqlite(session: Session) -> bool:
    return session.get_bind().dialect.name == "sqlite"


_SQLITE_SEARCH = Table(
    "message_search",
    MetaData(),
    Column("rowid", Integer, primary_key=True),
    Column("body", Text),
    Column("company_id", Integer),
    Column("dialog_id", Integer),
)
_PG_SEARCH = Table(
    "message_search",
    MetaData(),
    Column("message_id", Integer, primary_key=True),
    Column("company_id", Integer),
    Column("dialog_id", Integer),
    Column("body", Text),
)


def _search_table(session: Session) -> Table:
    return _SQLITE_SEARCH if _is_sqlite(session) else _PG_SEARCH


def _client_table(session: Session) -> Table:
    return _SQLITE_CLIENTS if _is_sqlite(session) else _PG_CLIENTS


def _id_column(table: Table) -> ColumnElement[int]:
    if "rowid" in table.c:
        return table.c.rowid
    return table.c.message_id if "message_id" in table.c else table.c.client_id


def client_docs(
    session: Session, company_id: int, client_ids: list[int]
) -> dict[int, tuple[int, str]]:
    """client id -> (company id, folded name, phone and addresses), for the company's clients."""
    docs: dict[int, tuple[int, list[str]]] = {}
    for cid, company, name, assigned, phone in session.execute(
        select(Client.id, Client.company_id, Client.name, Client.assigned_name, Client.phone).where(
            Client.company_id == company_id, Client.id.in_(client_ids)
        )
    ):
        digits = "".join(c for c in phone or "" if c.isdigit())
        docs[cid] = (company, [name or "", assigned or "", phone or "", digits])
    for cid, address, display in session.execute(
        select(ClientIdentity.client_id, ClientIdentity.address, ClientIdentity.display_name).where(
            ClientIdentity.company_id == company_id, ClientIdentity.client_id.in_(client_ids)
        )
    ):
        if cid in docs:
            docs[cid][1].extend((address or "", display or ""))
    return {cid: (company, fold(" | ".join(parts))) for cid, (company, parts) in docs.items()}


def reindex_clients(session: Session, company_id: int, client_ids: list[int]) -> None:
    """Write the search rows of these clients again (after a change to their name, phone or
    addresses). Called at flush for ORM changes (see :func:`_after_flush`)."""
    ids = sorted(set(client_ids))
    if not ids:
        return
    table = _client_table(session)
    key = _id_column(table)
    docs = client_docs(session, company_id, ids)
    session.execute(table.delete().where(key.in_(ids)))
    if docs:
        session.execute(
            insert(table),
            [
                {key.name: cid, "company_id": company, "body": body}
                for cid, (company, body) in docs.items()
            ],
        )


def _catch_up_clients(session: Session, company_id: int, last: int) -> int:
    table = _client_table(session)
    key = _id_column(table)
    top = last
    while True:
        ids = list(
            session.scalars(
                select(Client.id)
                .where(
                    Client.company_id == company_id,
                    Client.id > top,
                    Client.id.not_in(select(key).where(key > top)),
                )
                .order_by(Client.id)
                .limit(BATCH)
            )
        )
        if not ids:
            return top
        reindex_clients(session, company_id, ids)
        top = ids[-1]


@event.listens_for(Session, "after_flush")
def _after_flush(session: Session, _context: object) -> None:
    """Clients whose name, phone or addresses changed through the ORM are re-indexed in the
    same transaction (new clients are picked up by :func:`catch_up`)."""
    touched: dict[int, set[int]] = {}  # company id -> client ids
    for obj in (*session.new, *session.dirty):
        if isinstance(obj, Client) and obj.id is not None and obj not in session.new:
            touched.setdefault(obj.company_id, set()).add(obj.id)
        elif isinstance(obj, ClientIdentity) and obj.client_id is not None:
            touched.setdefault(obj.company_id, set()).add(obj.client_id)
    if not touched:
        return
    table = _client_table(session)
    key = _id_column(table)
    for company_id, ids in touched.items():
        indexed = set(session.scalars(select(key).where(key.in_(sorted(ids)))))
        known = session.scalar(
            select(progress.c.last_client_id).where(progress.c.company_id == company_id)
        )
        stale = [cid for cid in ids if cid in indexed or (known and cid <= known)]
        reindex_clients(session, company_id, stale)


def catch_up(session: Session, *, company_id: int) -> int:
    """Index the company's messages written since the last catch-up; returns how many."""
    table = _search_table(session)
    key = _id_column(table)
    row = session.execute(
        select(progress.c.last_message_id, progress.c.last_client_id).where(
            progress.c.company_id == company_id
        )
    ).first()
    if row is None:
        session.execute(
            insert(progress).values(company_id=company_id, last_message_id=0, last_client_id=0)
        )
        last, last_client = 0, 0
    else:
        last, last_client = row[0] or 0, row[1] or 0
    top_client = _catch_up_clients(session, company_id, last_client)
    if top_client != last_client:
        session.execute(
            update(progress)
            .where(progress.c.company_id == company_id)
            .values(last_client_id=top_client)
        )
    done = 0
    low = max(0, last - LOOK_BACK)
    while True:
        already = select(key).where(key > low)
        rows = session.execute(
            select(Message.id, Message.dialog_id, Message.subject, Message.text)
            .where(
                Message.company_id == company_id,
                Message.id > low,
                Message.dialog_id.is_not(None),
                Message.id.not_in(already),
            )
            .order_by(Message.id)
            .limit(BATCH)
        ).all()
        if not rows:
            break
        session.execute(
            insert(table),
            [
                {
                    key.name: r.id,
                    "company_id": company_id,
                    "dialog_id": r.dialog_id,
                    "body": fold(f"{r.subject or ''} {r.text or ''}"),
                }
                for r in rows
            ],
        )
        done += len(rows)
        low = rows[-1].id
        last = max(last, low)
        if len(rows) < BATCH:
            break
    if done:
        session.execute(
            update(progress).where(progress.c.company_id == company_id).values(last_message_id=last)
        )
        session.flush()
    return done


def pattern(query: str) -> str | None:
    """The folded ``LIKE`` pattern of a query (``%`` and ``_`` dropped: FTS5's trigram index
    serves ``LIKE`` only without an ``ESCAPE``); None for an empty query."""
    words = fold(query.replace("%", " ").replace("_", " "))
    return f"%{words}%" if words else None


def _folded(column: Any) -> ColumnElement[str]:
    return func.atendo_fold(column)


def dialog_condition(session: Session, *, company_id: int, query: str) -> ColumnElement[bool]:
    """A WHERE condition on ``Dialog``: the dialogs the query finds."""
    branches = dialog_branches(session, company_id=company_id, query=query)
    return Dialog.id.is_not(None) if branches is None else or_(*branches)


def dialog_branches(
    session: Session, *, company_id: int, query: str
) -> list[ColumnElement[bool]] | None:
    """The conditions :func:`dialog_condition` is the ``OR`` of (by the client, by a message's
    text or subject, by a request's tag), each served by an index of its own; None when the
    query finds everything."""
    like = pattern(query)
    if like is None:
        return None
    table = _search_table(session)
    by_text = select(table.c.dialog_id).where(
        table.c.body.like(like), table.c.company_id == company_id
    )
    client_ids = client_ids_matching(session, company_id=company_id, like=like, query=query)
    by_request_tag = select(Request.dialog_id).where(
        Request.company_id == company_id,
        Request.id.in_(
            select(TagAssignment.assignee_id).where(
                TagAssignment.company_id == company_id,
                TagAssignment.assignee_type == "request",
                TagAssignment.tag_id.in_(_tags(company_id, like)),
            )
        ),
    )
    # the subject is searched where it was written: in the messages (their index has it)
    return [
        Dialog.client_id.in_(client_ids),
        Dialog.id.in_(by_text),
        Dialog.id.in_(by_request_tag),
    ]


def _tags(company_id: int, like: str) -> ColumnElement[int]:
    return (
        select(Tag.id)
        .where(Tag.company_id == company_id, _folded(Tag.label).like(like))
        .scalar_subquery()
    )


def client_ids_matching(
    session: Session, *, company_id: int, like: str, query: str
) -> ColumnElement[int]:
    """The ids of the clients found by name, address, phone or client tag."""
    table = _client_table(session)
    key = _id_column(table)
    by_doc = select(key).where(table.c.body.like(like), table.c.company_id == company_id)
    by_tag = select(TagAssignment.assignee_id).where(
        TagAssignment.company_id == company_id,
        TagAssignment.assignee_type == "client",
        TagAssignment.tag_id.in_(_tags(company_id, like)),
    )
    return by_doc.union(by_tag).scalar_subquery()


def client_condition(session: Session, *, company_id: int, query: str) -> ColumnElement[bool]:
    """A WHERE condition on ``Client`` for ``GET /v1/clients?q=``."""
    like = pattern(query)
    if like is None:
        return Client.id.is_not(None)
    return Client.id.in_(
        client_ids_matching(session, company_id=company_id, like=like, query=query)
    )


def message_condition(session: Session, *, company_id: int, query: str) -> ColumnElement[bool]:
    """A WHERE condition on ``Message`` for ``GET /v1/messages?q=`` (text and subject)."""
    like = pattern(query)
    if like is None:
        return Message.id.is_not(None)
    table = _search_table(session)
    key = _id_column(table)
    return Message.id.in_(
        select(key).where(table.c.body.like(like), table.c.company_id == company_id)
    )
