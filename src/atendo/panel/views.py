"""View models: what the templates show, read from the services in one unit of work.

Visibility is decided here, on the server: an operator sees the dialogs assigned to them and
the unassigned ones (``visible_to_operator_id``); supervisors and admins see all. Opening a
dialog the operator may not see answers 404, the same as another company's dialog.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from datetime import date, datetime, time, timedelta
from functools import cache
from typing import Any

from sqlalchemy import BindParameter, Select, bindparam, func, select
from sqlalchemy.orm import Session

from atendo.core.channels.models import Channel
from atendo.core.channels.service import get_channel, list_channels
from atendo.core.channels.signatures import render_signature
from atendo.core.clients.models import Client, ClientIdentity
from atendo.core.clients.service import get_client, identities, is_blocked
from atendo.core.companies.service import list_audit
from atendo.core.dialogs.models import Dialog
from atendo.core.dialogs.service import (
    count_dialogs,
    current_request,
    get_dialog,
    list_dialogs,
    unread_for,
)
from atendo.core.enums import ChannelStatus, DeliveryStatus, MessageType
from atendo.core.errors import NotFound
from atendo.core.messages.limits import held_by_limit, too_large
from atendo.core.messages.models import Attachment, Message
from atendo.core.messages.service import attachments_of, list_messages
from atendo.core.operators.models import Operator, OperatorGroup
from atendo.kit.clock import utcnow
from atendo.kit.db import get_scoped
from atendo.kit.html import allow_remote_images, sanitize_html, text_to_html
from atendo.kit.pagination import Page
from atendo.panel.auth import PanelUser
from atendo.panel.i18n import zone
from atendo.transports import registry

PAGE_SIZE = 25


WHO = ("mine", "queue", "unassigned", "all")


@dataclass(frozen=True)
class ListFilters:
    who: str = "all"  # mine | queue (Novos chats) | unassigned | all
    state: str = "open"  # open | closed | "" (both)
    channel_id: int | None = None
    q: str = ""
    sort: str = ""  # "" (newest first) | waiting (the client waiting longest first)
    operator_id: int | None = None
    group_id: int | None = None
    tag_id: int | None = None
    since: date | None = None  # last activity on or after this day (operator's zone)
    until: date | None = None  # ... on or before this day

    def query(self) -> str:
        from urllib.parse import urlencode

        return urlencode(
            {
                "who": self.who,
                "state": self.state,
                "channel": self.channel_id or "",
                "q": self.q,
                "sort": self.sort,
                "operator": self.operator_id or "",
                "group": self.group_id or "",
                "tag": self.tag_id or "",
                "since": self.since.isoformat() if self.since else "",
                "until": self.until.isoformat() if self.until else "",
            }
        )

    @property
    def extra(self) -> int:
        """How many of the "more filters" are set (shown on their toggle)."""
        return sum(
            1
            for v in (self.operator_id, self.group_id, self.tag_id, self.since, self.until)
            if v is not None
        )


@dataclass
class DialogRow:
    id: int
    client_name: str
    address: str
    subject: str
    preview: str
    unread: int
    at: datetime | None
    state: str
    operator: str
    channel: str
    mine: bool = False
    queued: bool = False
    waiting_since: datetime | None = None  # the client's last message waits for an answer


def visible_dialog(session: Session, user: PanelUser, dialog_id: int) -> Dialog:
    """The dialog if this operator may see it: supervisors and admins all; an operator theirs
    and the unassigned ones (only theirs when marked "new chats unavailable")."""
    dialog = get_dialog(session, company_id=user.company_id, dialog_id=dialog_id)
    if user.sees_all_dialogs or dialog.operator_id == user.id:
        return dialog
    if dialog.operator_id is None and not user.new_chats_unavailable:
        return dialog
    raise NotFound()


def view_counts(session: Session, user: PanelUser, filters: ListFilters) -> dict[str, int]:
    """The live counts beside Mine / New chats / Unassigned / All (with the list's other
    filters)."""
    counts = _counts(session, user, filters)
    return {who: counts[("who", who)] for who in WHO}


# The filters that tell the tabs (and the list's own total) apart; the rest are shared.
_BUCKET_KEYS = ("operator_id", "unassigned", "queued", "state")
_ORDER_KEYS = ("own_first_for", "order")


def _counts(session: Session, user: PanelUser, filters: ListFilters) -> dict[tuple[str, str], int]:
    """Every count the chat list shows — each tab's, each state's — in one grouped query,
    kept for the rest of the unit of work (the list, its tabs and its summary ask in turn)."""
    key = ("panel-counts", user.id, filters)
    cached: dict[tuple[str, str], int] | None = session.info.get(key)
    if cached is not None:
        return cached
    kwargs = _list_kwargs(user, filters)
    common = {k: v for k, v in kwargs.items() if k not in _BUCKET_KEYS + _ORDER_KEYS}
    buckets: dict[str, dict[str, Any]] = {}
    for who in WHO:
        tab = _list_kwargs(user, replace(filters, who=who))
        buckets[f"who:{who}"] = {k: tab[k] for k in _BUCKET_KEYS[:3]} | {
            "state": filters.state or None
        }
    for state in ("open", "closed"):
        buckets[f"state:{state}"] = {k: kwargs[k] for k in _BUCKET_KEYS[:3]} | {"state": state}
    found = count_dialogs(session, buckets=buckets, **common)
    counts = {tuple(name.split(":", 1)): n for name, n in found.items()}
    counts[("state", "")] = counts[("state", "open")] + counts[("state", "closed")]
    session.info[key] = counts
    return counts  # type: ignore[return-value]


def _list_kwargs(user: PanelUser, filters: ListFilters) -> dict[str, Any]:
    tz = zone(user.timezone)
    return {
        "company_id": user.company_id,
        "operator_id": user.id if filters.who == "mine" else filters.operator_id,
        "unassigned": filters.who == "unassigned",
        "queued": filters.who == "queue",
        "visible_to_operator_id": None if user.sees_all_dialogs else user.id,
        "only_own": user.new_chats_unavailable and not user.sees_all_dialogs,
        "own_first_for": user.id if filters.who == "all" else None,
        "order": "waiting" if filters.sort == "waiting" else "desc",
        "channel_id": filters.channel_id,
        "group_id": filters.group_id,
        "tag_id": filters.tag_id,
        "since": datetime.combine(filters.since, time(0), tzinfo=tz) if filters.since else None,
        "until": (
            datetime.combine(filters.until + timedelta(days=1), time(0), tzinfo=tz)
            if filters.until
            else None
        ),
        "search": filters.q or None,
    }


def state_counts(session: Session, user: PanelUser, filters: ListFilters) -> dict[str, int]:
    """How many dialogs the other filters find, per state ("open", "closed", "" for both)."""
    counts = _counts(session, user, filters)
    return {state: counts[("state", state)] for state in ("open", "closed", "")}


def matching_dialog_ids(
    session: Session, user: PanelUser, filters: ListFilters, *, limit: int = 5000
) -> list[int]:
    """Every dialog the list's filters find ("select all matching"), up to ``limit``."""
    dialogs, _total = list_dialogs(
        session,
        page=Page(limit=limit, offset=0),
        state=filters.state or None,
        **_list_kwargs(user, filters),
    )
    return [d.id for d in dialogs]


_PREVIEW_TYPES = (MessageType.FROM_CLIENT, MessageType.TO_CLIENT, MessageType.AUTOREPLY)


# The statements of a page of the chat list, built once (their values bound at each execution:
# see :func:`atendo.kit.db.records`); ``ids``: the page's.
_COMPANY: BindParameter[int] = bindparam("company_id")
_IDS: BindParameter[list[int]] = bindparam("ids", expanding=True)


@cache
def _latest_words() -> Select[int | None, int]:
    """(dialog id, id of its latest message of the conversation itself)."""
    return (
        select(Message.dialog_id, func.max(Message.id))
        .where(
            Message.company_id == _COMPANY,
            Message.dialog_id.in_(_IDS),
            Message.type.in_(_PREVIEW_TYPES),
        )
        .group_by(Message.dialog_id)
    )


@cache
def _texts_by_id() -> Select[int, str]:
    return select(Message.id, Message.text).where(
        Message.company_id == _COMPANY, Message.id.in_(_IDS)
    )


@cache
def _clients_by_id() -> Select[Client]:
    return select(Client).where(Client.company_id == _COMPANY, Client.id.in_(_IDS))


@cache
def _addresses_of_clients() -> Select[int, str]:
    return (
        select(ClientIdentity.client_id, ClientIdentity.address)
        .where(ClientIdentity.company_id == _COMPANY, ClientIdentity.client_id.in_(_IDS))
        .order_by(ClientIdentity.id)
    )


@cache
def _client_messages_by_id() -> Select[int, datetime]:
    """(id, created) of those of these messages that are the client's."""
    return select(Message.id, Message.created).where(
        Message.company_id == _COMPANY,
        Message.id.in_(_IDS),
        Message.type == MessageType.FROM_CLIENT,
    )


@cache
def _channel_names() -> Select[int, str]:
    return select(Channel.id, Channel.name).where(
        Channel.company_id == _COMPANY, Channel.id.in_(_IDS)
    )


@cache
def _operators_by_id() -> Select[Operator]:
    return select(Operator).where(Operator.company_id == _COMPANY, Operator.id.in_(_IDS))


def _previews(session: Session, company_id: int, dialog_ids: set[int]) -> dict[int, str]:
    """The latest words of each conversation itself (internal notes and system lines are
    never the preview), in two queries whatever the page's size."""
    if not dialog_ids:
        return {}
    params = {"company_id": company_id, "ids": list(dialog_ids)}
    latest: dict[int, int] = dict(session.execute(_latest_words(), params).all())  # type: ignore[arg-type]
    if not latest:
        return {}
    params = {"company_id": company_id, "ids": list(set(latest.values()))}
    texts: dict[int, str] = dict(session.execute(_texts_by_id(), params).all())
    return {
        dialog_id: (texts.get(mid) or "").strip().replace("\n", " ")[:140]
        for dialog_id, mid in latest.items()
    }


def dialog_rows(
    session: Session, user: PanelUser, filters: ListFilters, *, offset: int, limit: int
) -> tuple[list[DialogRow], int]:
    """A page of the chat list and how many dialogs the list holds (counted with the tabs'
    and the states' counts, one query)."""
    dialogs = _dialogs(session, user, filters, offset=offset, limit=limit)
    total = _counts(session, user, filters)[("who", filters.who)]
    return _rows_of(session, user, dialogs), total


def list_page(
    session: Session, user: PanelUser, filters: ListFilters, *, offset: int, limit: int
) -> tuple[list[DialogRow], bool]:
    """A page of the chat list and whether more follow, without counting anything: one dialog
    past the page is read instead (a page whose counts are not shown: "load more", a
    refresh of the list alone)."""
    dialogs = _dialogs(session, user, filters, offset=offset, limit=limit + 1)
    return _rows_of(session, user, dialogs[:limit]), len(dialogs) > limit


def _dialogs(
    session: Session, user: PanelUser, filters: ListFilters, *, offset: int, limit: int
) -> list[Dialog]:
    dialogs, _none = list_dialogs(
        session,
        page=Page(limit=limit, offset=offset),
        state=filters.state or None,
        with_total=False,
        **_list_kwargs(user, filters),
    )
    return dialogs


def _rows_of(session: Session, user: PanelUser, dialogs: list[Dialog]) -> list[DialogRow]:
    """What the list shows of each dialog: its client, address, channel, operator, unread
    count, waiting time and preview, each read for the whole page at once."""
    unread = unread_for(session, operator_id=user.id, dialogs=dialogs)
    rows = []
    cid = user.company_id
    client_ids = {"company_id": cid, "ids": list({d.client_id for d in dialogs})}
    clients = {c.id: c for c in session.scalars(_clients_by_id(), client_ids)}
    addresses: dict[int, str] = {}
    for client_id, address in session.execute(_addresses_of_clients(), client_ids):
        addresses.setdefault(client_id, address)
    last_ids = {d.last_message_id for d in dialogs if d.last_message_id}
    waiting: dict[int, datetime] = dict(
        session.execute(_client_messages_by_id(), {"company_id": cid, "ids": list(last_ids)}).all()
    )
    channels: dict[int, str] = dict(
        session.execute(
            _channel_names(), {"company_id": cid, "ids": list({d.channel_id for d in dialogs})}
        ).all()
    )
    operator_ids = {d.operator_id for d in dialogs if d.operator_id}
    operators = (
        {
            op.id: op.full_name
            for op in session.scalars(
                _operators_by_id(), {"company_id": cid, "ids": list(operator_ids)}
            )
        }
        if operator_ids
        else {}
    )
    previews = _previews(session, cid, {d.id for d in dialogs})
    for d in dialogs:
        client = clients.get(d.client_id)
        address = addresses.get(d.client_id, "") if client else ""
        preview = previews.get(d.id, "")
        rows.append(
            DialogRow(
                id=d.id,
                client_name=(client.display_name if client else "") or address,
                address=address,
                subject=d.subject,
                preview=preview,
                unread=unread.get(d.id, 0),
                at=d.last_message_at or d.begin,
                state=d.state,
                operator=operators.get(d.operator_id or 0, ""),
                channel=channels.get(d.channel_id, ""),
                mine=d.operator_id == user.id,
                queued=d.queued_at is not None and d.operator_id is None,
                waiting_since=(waiting.get(d.last_message_id or 0) if d.state == "open" else None),
            )
        )
    return rows


# Characters of a message body sent with the dialog (and each of its live refreshes).
BODY_PREVIEW_CHARS = 20_000


@dataclass
class MessageView:
    m: Message
    kind: str  # in | out | comment | system
    author: str
    body_html: str | None
    body_text: str
    has_remote_images: bool
    attachments: list[Attachment]
    seconds_left: int | None = None
    held: bool = False  # overdue in the queue: the channel's sending limit holds it
    truncated: bool = False  # body_text is the start of a longer text ("show all" loads it)
    html_deferred: bool = False  # an HTML body too big to send on every refresh
    too_large: tuple[int, int] | None = None  # (size, limit): kept raw, its body not read
    extra: dict[str, Any] = field(default_factory=dict)


_CID = re.compile(r"""src=(["'])cid:([^"']+)\1""", re.IGNORECASE)


def email_html(message: Message, attachments: list[Attachment], *, images: bool) -> str:
    """The message's HTML, sanitised again on the way out (defence in depth), with inline
    ``cid:`` images pointing at the panel's attachment route and remote images held back
    unless the operator asked for them."""
    # Stored HTML is already sanitiser output; cleaning it once more (with its remote images
    # first restored, so that the sanitiser can hold them back again) costs little and keeps
    # the panel safe even if a row was written by something else.
    html = sanitize_html(allow_remote_images(message.html or ""))
    by_cid = {a.content_id.strip("<>"): a.id for a in attachments if a.content_id}

    def resolve(match: re.Match[str]) -> str:
        att_id = by_cid.get(match.group(2).strip("<>"))
        return f'src="/panel/attachments/{att_id}"' if att_id else 'src=""'

    html = _CID.sub(resolve, html)
    return allow_remote_images(html) if images else html


def message_views(session: Session, dialog: Dialog, *, images_for: set[int]) -> list[MessageView]:
    messages, _total = list_messages(
        session, company_id=dialog.company_id, page=Page(200, 0), dialog_id=dialog.id, order="asc"
    )
    atts = attachments_of(session, [m.id for m in messages], company_id=dialog.company_id)
    names: dict[int, str] = {}
    now = utcnow()
    out = []
    for m in messages:
        files = atts.get(m.id, [])
        if m.type == MessageType.COMMENT:
            kind = "comment"
        elif m.type == MessageType.FROM_CLIENT:
            kind = "in"
        elif m.type == MessageType.SYSTEM:
            kind = "system"
        else:
            kind = "out"
        if m.operator_id and m.operator_id not in names:
            op = get_scoped(session, Operator, m.operator_id, company_id=dialog.company_id)
            names[m.operator_id] = op.full_name if op else ""
        author = names.get(m.operator_id or 0) or m.from_name or (m.from_email or "")
        html = None
        remote = False
        if m.html and kind == "in" and not m.parse_error:
            html = email_html(m, files, images=m.id in images_for)
            remote = "data-remote-src" in html
        # A long body is sent once, on the operator's click, never with every live refresh.
        body_text = m.text or ""
        truncated = len(body_text) > BODY_PREVIEW_CHARS
        deferred = html is not None and len(html) > BODY_PREVIEW_CHARS
        seconds = None
        if m.delivery_status == DeliveryStatus.QUEUED and m.send_at is not None:
            seconds = max(0, int((m.send_at - now).total_seconds()))
        out.append(
            MessageView(
                m=m,
                kind=kind,
                author=author,
                body_html=None if deferred else html,
                body_text=body_text[:BODY_PREVIEW_CHARS],
                has_remote_images=remote,
                attachments=[a for a in files if not (a.inline and a.content_id and html)],
                seconds_left=seconds,
                held=held_by_limit(m, now),
                truncated=truncated,
                html_deferred=deferred,
                too_large=too_large(m.parse_error),
            )
        )
    return out


@dataclass
class TimelineEntry:
    """A line of the dialog's timeline: who assigned, transferred, closed, reopened, tagged."""

    id: int
    kind: str
    created: datetime
    by: str  # the operator's name; "" for the API, "routing" for the router
    to: str = ""
    group: str = ""
    comment: str = ""
    label: str = ""
    self_assigned: bool = False


def timeline(session: Session, dialog: Dialog) -> list[TimelineEntry]:
    entries, _total = list_audit(session, company_id=dialog.company_id, dialog_id=dialog.id)
    names: dict[int, str] = {}
    groups: dict[int, str] = {}

    def name(op_id: Any) -> str:
        if not isinstance(op_id, int):
            return ""
        if op_id not in names:
            op = get_scoped(session, Operator, op_id, company_id=dialog.company_id)
            names[op_id] = op.full_name if op else ""
        return names[op_id]

    def group_name(group_id: Any) -> str:
        if not isinstance(group_id, int):
            return ""
        if group_id not in groups:
            group = get_scoped(session, OperatorGroup, group_id, company_id=dialog.company_id)
            groups[group_id] = group.name if group else ""
        return groups[group_id]

    out = []
    for e in entries:
        d = e.details or {}
        by = "routing" if e.actor == "routing" else name(e.operator_id)
        out.append(
            TimelineEntry(
                id=e.id,
                kind=e.kind,
                created=e.created,
                by=by,
                to=name(d.get("operator_id")),
                group=group_name(d.get("group_id")),
                comment=str(d.get("comment") or ""),
                label=str(d.get("label") or ""),
                self_assigned=e.operator_id is not None and d.get("operator_id") == e.operator_id,
            )
        )
    return out


def conversation(
    messages: list[MessageView], entries: list[TimelineEntry]
) -> list[tuple[str, MessageView | TimelineEntry]]:
    """Messages and timeline lines in the order they happened."""
    items: list[tuple[datetime, int, str, MessageView | TimelineEntry]] = [
        (v.m.created, 0, "message", v) for v in messages
    ]
    items += [(e.created, 1, "event", e) for e in entries]
    items.sort(key=lambda t: (t[0], t[1]))
    return [(kind, item) for _at, _order, kind, item in items]


def pending_outbound(views: list[MessageView]) -> bool:
    return any(
        v.m.delivery_status in (DeliveryStatus.QUEUED, DeliveryStatus.SENDING) for v in views
    )


def signature_preview(session: Session, channel: Channel, operator_id: int, client: Client) -> str:
    return render_signature(session, channel=channel, operator_id=operator_id, client=client)


def client_card(session: Session, user: PanelUser, client_id: int) -> dict[str, Any]:
    client = get_client(session, company_id=user.company_id, client_id=client_id)
    dialogs, _total = list_dialogs(
        session,
        company_id=user.company_id,
        page=Page(50, 0),
        client_id=client.id,
        visible_to_operator_id=None if user.sees_all_dialogs else user.id,
    )
    return {
        "client": client,
        "addresses": identities(session, company_id=client.company_id, client_id=client.id),
        "dialogs": dialogs,
        "blocked": is_blocked(
            session, company_id=user.company_id, address=None, client_id=client.id
        ),
    }


def chat_starting_channels(session: Session, user: PanelUser) -> list[Channel]:
    """The company's channels that can start a chat ("Novo ativo"): a transport that can, the
    channel allowed to write first, and not disabled."""
    rows, _total = list_channels(session, company_id=user.company_id)
    return [
        c
        for c in rows
        if (t := registry.find(c.transport)) is not None
        and t.can_start_chats
        and c.write_first
        and c.status != ChannelStatus.DISABLED
    ]


def composer_fields(channel: Channel) -> tuple[str, ...]:
    """The composer inputs the dialog's transport offers (``subject``, ``files``, …)."""
    transport = registry.find(channel.transport)
    return transport.composer_fields if transport is not None else ()


__all__ = [
    "ListFilters",
    "chat_starting_channels",
    "client_card",
    "composer_fields",
    "current_request",
    "dialog_rows",
    "get_channel",
    "message_views",
    "text_to_html",
    "visible_dialog",
]
