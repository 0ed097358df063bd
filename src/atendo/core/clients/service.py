"""Clients, their identities per transport, and the block list."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Select, func, or_, select, union, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from atendo.core.clients.models import BlockEntry, Client, ClientIdentity
from atendo.core.enums import EventType
from atendo.core.errors import Invalid, NotFound
from atendo.core.events.service import emit, event_row
from atendo.core.tags.models import TagAssignment
from atendo.kit.clock import utcnow
from atendo.kit.db import Record, entities, flush_new, get_scoped, table_rows
from atendo.kit.pagination import Page, among_found, read_page

EMAIL = "email"


def normalise_address(transport: str, address: str) -> str:
    address = address.strip()
    return address.lower() if transport == EMAIL else address


def get_client(session: Session, *, company_id: int, client_id: int) -> Client:
    """The client; a merged one's id answers with the client it was merged into."""
    client = get_scoped(session, Client, client_id, company_id=company_id)
    for _hop in range(10):
        if client is None or client.merged_into_id is None:
            break
        client = get_scoped(session, Client, client.merged_into_id, company_id=company_id)
    if client is None:
        raise NotFound()
    return client


def merge_clients(
    session: Session, *, company_id: int, survivor_id: int, merged_id: int, actor: str
) -> Client:
    """One person, two client records: the merged one's addresses, dialogs, requests,
    messages, tags and blocks move to the survivor; its id keeps answering with the survivor
    (``get_client``). One audit entry."""
    from atendo.core.companies.service import record_audit
    from atendo.core.dialogs.models import Dialog, Request
    from atendo.core.messages.models import Message

    survivor = get_client(session, company_id=company_id, client_id=survivor_id)
    merged = get_client(session, company_id=company_id, client_id=merged_id)
    if survivor.id == merged.id:
        raise Invalid(
            "A client cannot be merged into itself",
            {"client_id": ["same client"]},
            code="client.merge_self",
        )
    for model in (ClientIdentity, Dialog, Request, Message, BlockEntry):
        session.execute(
            update(model)
            .where(model.company_id == company_id, model.client_id == merged.id)
            .values(client_id=survivor.id)
        )
    have = set(
        session.scalars(
            select(TagAssignment.tag_id).where(
                TagAssignment.company_id == company_id,
                TagAssignment.assignee_type == "client",
                TagAssignment.assignee_id == survivor.id,
            )
        )
    )
    for row in session.scalars(
        select(TagAssignment).where(
            TagAssignment.company_id == company_id,
            TagAssignment.assignee_type == "client",
            TagAssignment.assignee_id == merged.id,
        )
    ):
        if row.tag_id in have:
            session.delete(row)
        else:
            row.assignee_id = survivor.id
    for key in ("name", "phone", "comment", "assigned_name"):
        if not getattr(survivor, key) and getattr(merged, key):
            setattr(survivor, key, getattr(merged, key))
    survivor.custom_fields = {**(merged.custom_fields or {}), **(survivor.custom_fields or {})}
    merged.merged_into_id = survivor.id
    session.flush()
    from atendo.core.search.service import reindex_clients

    reindex_clients(session, company_id, [survivor.id, merged.id])
    record_audit(
        session,
        company_id=company_id,
        actor=actor,
        action=f"client {merged.id} merged into client {survivor.id}",
    )
    emit(
        session,
        company_id=company_id,
        type=EventType.CLIENT_UPDATED,
        payload={"client": client_payload(session, survivor), "merged_client_id": merged.id},
    )
    return survivor


def find_by_identity(
    session: Session, *, company_id: int, transport: str, address: str
) -> Client | None:
    stmt = (
        select(Client)
        .join(ClientIdentity, ClientIdentity.client_id == Client.id)
        .where(
            Client.company_id == company_id,
            ClientIdentity.company_id == company_id,
            ClientIdentity.transport == transport,
            ClientIdentity.address == normalise_address(transport, address),
        )
    )
    return session.scalar(stmt)


def find_or_create_client(
    session: Session,
    *,
    company_id: int,
    transport: str,
    address: str,
    name: str = "",
    events: list[dict[str, Any]] | None = None,
) -> tuple[Client, bool]:
    """The client with this identity, created when new; returns (client, created).

    A concurrent creator may win the unique (company, transport, address) key: we then
    re-read inside a savepoint instead of failing the caller's transaction. The
    ``new_client`` event is written now, or appended to ``events`` (rows of
    :func:`~atendo.core.events.service.event_row`) for the caller to write with its others.
    """
    found = find_by_identity(session, company_id=company_id, transport=transport, address=address)
    if found is not None:
        if name and not found.name:
            found.name = name
        return found, False
    try:
        with session.begin_nested():
            (client,), (payload,) = create_clients(
                session, company_id=company_id, transport=transport, named=[(address, name)]
            )
            session.flush()
    except IntegrityError:
        again = find_by_identity(
            session, company_id=company_id, transport=transport, address=address
        )
        if again is None:
            raise
        return again, False
    if events is None:
        emit(session, company_id=company_id, type=EventType.NEW_CLIENT, payload=payload)
    else:
        events.append(event_row(company_id=company_id, type=EventType.NEW_CLIENT, payload=payload))
    return client, True


def create_clients(
    session: Session, *, company_id: int, transport: str, named: Sequence[tuple[str, str]]
) -> tuple[list[Client], list[dict[str, Any]]]:
    """New clients for (address, name) pairs known to have no identity yet, with two INSERTs
    for all of them; returns them and their ``new_client`` event payloads, for the caller to
    emit. No savepoint: a concurrent creator's unique key fails the caller's transaction."""
    clients = [Client(company_id=company_id, name=name or "") for _address, name in named]
    for client, (address, _name) in zip(clients, named, strict=True):
        if transport == "phone":
            client.phone = normalise_address(transport, address)
    session.add_all(clients)
    flush_new(session)
    session.add_all(
        ClientIdentity(
            company_id=company_id,
            client_id=client.id,
            transport=transport,
            address=normalise_address(transport, address),
            display_name=name,
        )
        for client, (address, name) in zip(clients, named, strict=True)
    )
    payloads = [
        {
            "client": {
                "id": client.id,
                "name": client.name,
                "assigned_name": client.assigned_name,
                "email": normalise_address(transport, address) if transport == EMAIL else None,
                "phone": client.phone,
            }
        }
        for client, (address, _name) in zip(clients, named, strict=True)
    ]
    return clients, payloads


def identities(
    session: Session, *, company_id: int, client_id: int, transport: str | None = None
) -> list[str]:
    stmt = select(ClientIdentity.address).where(
        ClientIdentity.company_id == company_id, ClientIdentity.client_id == client_id
    )
    if transport:
        stmt = stmt.where(ClientIdentity.transport == transport)
    return list(session.scalars(stmt.order_by(ClientIdentity.id)))


def client_identities(session: Session, *, company_id: int, client_id: int) -> list[ClientIdentity]:
    return list(
        session.scalars(
            select(ClientIdentity)
            .where(ClientIdentity.company_id == company_id, ClientIdentity.client_id == client_id)
            .order_by(ClientIdentity.id)
        )
    )


def add_identity(
    session: Session, *, company_id: int, client_id: int, transport: str, address: str
) -> None:
    client = get_client(session, company_id=company_id, client_id=client_id)
    normal = normalise_address(transport, address)
    owner = find_by_identity(session, company_id=company_id, transport=transport, address=normal)
    if owner is not None:
        if owner.id != client.id:
            raise Invalid(
                "This address belongs to another client",
                {"address": ["taken"]},
                code="client.address_taken",
            )
        return
    session.add(
        ClientIdentity(
            company_id=company_id, client_id=client.id, transport=transport, address=normal
        )
    )
    session.flush()


def list_clients(
    session: Session,
    *,
    company_id: int,
    page: Page,
    order: str = "asc",
    capped: bool = False,
    **filters: Any,
) -> tuple[list[Client], int]:
    """The company's clients (merged ones left out) by the filters of :func:`clients_select`,
    oldest first, and how many there are (``capped``: counted by
    :func:`atendo.kit.pagination.count_capped`, the API's lists)."""
    stmt = clients_select(session, company_id=company_id, **filters)
    ordering = Client.id.desc() if order == "desc" else Client.id.asc()
    return read_page(session, stmt, page, ordering=ordering, capped=capped, fetch=entities)


def list_client_rows(
    session: Session,
    *,
    company_id: int,
    page: Page,
    order: str = "asc",
    capped: bool = False,
    **filters: Any,
) -> tuple[list[Record], int]:
    """:func:`list_clients` as plain rows of the ``clients`` columns, for a list that is only
    serialised (the API's): a fraction of the CPU of building ORM objects."""
    stmt = clients_select(session, company_id=company_id, **filters)
    ordering = Client.id.desc() if order == "desc" else Client.id.asc()
    searched = bool(filters.get("search") or filters.get("q"))
    if capped and searched and session.get_bind().dialect.name == "postgresql":
        # A search: its trigram scans run once (for the ids), not once more for a COUNT.
        base = select(Client).where(Client.company_id == company_id)
        stmt, total = among_found(session, stmt, page, key=Client.id, base=base)
        return read_page(
            session, stmt, page, ordering=ordering, capped=capped, fetch=table_rows, total=total
        )
    # Counted in id order: read from ``ix_clients_company_unmerged`` alone (migration 0014).
    return read_page(
        session, stmt, page, ordering=ordering, capped=capped, fetch=table_rows, count_in_order=True
    )


def clients_select(
    session: Session,
    *,
    company_id: int,
    phone: str | None = None,
    email: str | None = None,
    tag_ids: list[int] | None = None,
    search: str | None = None,
    q: str | None = None,
) -> Select[Client]:
    """The company's clients (merged ones left out) by any combination of these filters.
    ``q``: accent- and case-insensitive over name, addresses, phone and tags
    (:mod:`atendo.core.search.service`)."""
    stmt = select(Client).where(Client.company_id == company_id, Client.merged_into_id.is_(None))
    if q and q.strip():
        from atendo.core.search.service import client_condition

        stmt = stmt.where(client_condition(session, company_id=company_id, query=q))
    if phone:
        stmt = stmt.where(Client.phone == phone.strip())
    if email:
        sub = select(ClientIdentity.client_id).where(
            ClientIdentity.company_id == company_id,
            ClientIdentity.transport == EMAIL,
            ClientIdentity.address == email.strip().lower(),
        )
        stmt = stmt.where(Client.id.in_(sub))
    if tag_ids:
        sub = select(TagAssignment.assignee_id).where(
            TagAssignment.company_id == company_id,
            TagAssignment.assignee_type == "client",
            TagAssignment.tag_id.in_(tag_ids),
        )
        stmt = stmt.where(Client.id.in_(sub))
    if search:
        like = f"%{search.strip().lower()}%"
        # One id list per column (a union, not an OR over a join): on PostgreSQL each is a
        # bitmap scan of its trigram index (migration 0013).
        found = union(
            select(Client.id).where(
                Client.company_id == company_id, func.lower(Client.name).like(like)
            ),
            select(Client.id).where(
                Client.company_id == company_id, func.lower(Client.assigned_name).like(like)
            ),
            select(ClientIdentity.client_id).where(
                ClientIdentity.company_id == company_id,
                func.lower(ClientIdentity.address).like(like),
            ),
        )
        stmt = stmt.where(Client.id.in_(found.scalar_subquery()))
    return stmt


UPDATABLE = (
    "name",
    "assigned_name",
    "comment",
    "extra_comment_1",
    "extra_comment_2",
    "extra_comment_3",
    "external_id",
    "phone",
)


def update_client(
    session: Session,
    *,
    company_id: int,
    client_id: int,
    changes: dict[str, Any],
) -> Client:
    client = get_client(session, company_id=company_id, client_id=client_id)
    for key in UPDATABLE:
        if key in changes and changes[key] is not None:
            setattr(client, key, str(changes[key]))
    if isinstance(changes.get("custom_fields"), dict):
        client.custom_fields = {**client.custom_fields, **changes["custom_fields"]}
    if isinstance(changes.get("visitor"), dict):  # written by a live-chat transport only
        client.visitor = changes["visitor"]
    session.flush()
    emit(
        session,
        company_id=company_id,
        type=EventType.CLIENT_UPDATED,
        payload={"client": client_payload(session, client)},
    )
    return client


def client_payload(session: Session, client: Client) -> dict[str, Any]:
    return client_payloads(session, [client])[client.id]


def client_payloads(session: Session, clients: Sequence[Client]) -> dict[int, dict[str, Any]]:
    """:func:`client_payload` for many clients with one query for their e-mail addresses."""
    first_email: dict[int, str] = {}
    if clients:
        rows = session.execute(
            select(ClientIdentity.client_id, ClientIdentity.address)
            .where(
                ClientIdentity.company_id.in_({c.company_id for c in clients}),
                ClientIdentity.client_id.in_({c.id for c in clients}),
                ClientIdentity.transport == EMAIL,
            )
            .order_by(ClientIdentity.id)
        )
        for client_id, address in rows:
            first_email.setdefault(client_id, address)
    return {
        c.id: {
            "id": c.id,
            "name": c.name,
            "assigned_name": c.assigned_name,
            "email": first_email.get(c.id),
            "phone": c.phone,
        }
        for c in clients
    }


# --- block list ------------------------------------------------------------------------


def block(
    session: Session,
    *,
    company_id: int,
    kind: str,
    value: str = "",
    client_id: int | None = None,
    reason: str = "",
    expires_at: datetime | None = None,
) -> BlockEntry:
    if kind not in ("email", "domain", "client"):
        raise Invalid("kind must be email, domain or client", code="block.invalid_kind")
    if kind == "client":
        if client_id is None:
            raise Invalid("client_id is required", code="block.client_required")
        get_client(session, company_id=company_id, client_id=client_id)
    elif not value.strip():
        raise Invalid("value is required", code="block.value_required")
    entry = BlockEntry(
        company_id=company_id,
        kind=kind,
        value=value.strip().lower().lstrip("@"),
        client_id=client_id,
        reason=reason,
        expires_at=expires_at,
    )
    session.add(entry)
    session.flush()
    if client_id is not None:
        emit(
            session,
            company_id=company_id,
            type=EventType.CLIENT_ADDED_TO_BLACKLIST,
            payload={"client_id": client_id, "reason": reason},
        )
    return entry


def unblock(session: Session, *, company_id: int, entry_id: int) -> None:
    entry = get_scoped(session, BlockEntry, entry_id, company_id=company_id)
    if entry is None:
        raise NotFound()
    session.delete(entry)
    session.flush()


def list_blocks(session: Session, *, company_id: int) -> list[BlockEntry]:
    return list(
        session.scalars(
            select(BlockEntry).where(BlockEntry.company_id == company_id).order_by(BlockEntry.id)
        )
    )


def is_blocked(
    session: Session, *, company_id: int, address: str | None, client_id: int | None
) -> bool:
    """True when an unexpired entry blocks this address, its domain, or the client."""
    conds = []
    if address:
        address = address.strip().lower()
        conds.append((BlockEntry.kind == "email") & (BlockEntry.value == address))
        domain = address.rpartition("@")[2]
        if domain:
            conds.append((BlockEntry.kind == "domain") & (BlockEntry.value == domain))
    if client_id is not None:
        conds.append((BlockEntry.kind == "client") & (BlockEntry.client_id == client_id))
    if not conds:
        return False
    now = utcnow()
    stmt = select(BlockEntry.id).where(
        BlockEntry.company_id == company_id,
        or_(*conds),
        or_(BlockEntry.expires_at.is_(None), BlockEntry.expires_at > now),
    )
    return session.scalar(stmt.limit(1)) is not None


# --- API: create-or-return by identity, custom field names (issue 5) --------------------


def create_or_get_client(
    session: Session,
    *,
    company_id: int,
    phone: str | None = None,
    email: str | None = None,
    nickname: str = "",
) -> tuple[Client, bool]:
    """The client identified by ``email`` (transport e-mail) or ``phone``; created when new."""
    if email and email.strip():
        if "@" not in email:
            raise Invalid(
                "Invalid e-mail address",
                {"email": ["invalid e-mail address"]},
                code="client.invalid_email",
            )
        return find_or_create_client(
            session, company_id=company_id, transport=EMAIL, address=email, name=nickname
        )
    if phone and phone.strip():
        return find_or_create_client(
            session, company_id=company_id, transport="phone", address=phone, name=nickname
        )
    raise Invalid(
        "phone or email is required",
        {"phone": ["phone or email is required"]},
        code="client.contact_required",
    )


def custom_client_fields(session: Session, *, company_id: int) -> list[str]:
    """The custom field names in use by the company's clients, sorted."""
    names: set[str] = set()
    stmt = select(Client.custom_fields).where(Client.company_id == company_id)
    for fields in session.scalars(stmt):
        if isinstance(fields, dict):
            names.update(str(k) for k in fields)
    return sorted(names)
