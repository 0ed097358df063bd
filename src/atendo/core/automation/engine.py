"""The automation engine: what happens after a client message arrives or a dialog closes,
and the timed work (auto-close, menu timeout).

Triggers are the ``inbox`` and ``close_dialog`` rows of the events table, written in the
transaction of the change itself (``Event.automation_due`` is set for those two types). A
worker handles each in a transaction of its own::

    pending_events ──▶ claim_event (UPDATE … SET automation_due = NULL
                                    WHERE id = ? AND automation_due IS NOT NULL)
                   ──▶ react (greeting, menu, survey) ──▶ commit

The claim and the replies commit together, so a trigger is handled EXACTLY ONCE even with two
workers (the loser's UPDATE matches no row, or its transaction fails and is retried, and
finds the row claimed). Timed work is the same shape on ``DialogAutomation.close_due`` and
``.menu_due``: due → NULL by a conditional UPDATE, then act, in one transaction.

The engine knows no transport: it answers through ``say(dialog, text)``, which the worker
binds to the transport seam (``queue_reply`` with an ``autoreply`` message).

On a client message (not imported, not automatic or bulk mail):
1. auto-close: ``close_due`` = the message's time + the channel's ``after_hours``;
2. a pending survey: an answer on the scale is stored (thanks, tag) and the request the
   answer opened is closed again; anything else drops the survey and goes on;
3. a menu in progress (same request, no operator has written): the command is followed;
4. the first message of a request: the greeting (new/returning × in/out of hours, at most
   once per client per ``min_interval_hours``), then the menu's invitation and first level.
On a close: the menu stops; the survey is asked if an operator answered in the request.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from atendo.core.automation.models import DialogAutomation, MenuItem, Rating, RequestRating
from atendo.core.automation.service import automation_settings, list_menu_items, normalise
from atendo.core.automation.settings import AutomationSettings
from atendo.core.channels.models import Channel
from atendo.core.clients.models import Client
from atendo.core.dialogs.models import Dialog, Request
from atendo.core.dialogs.service import assign_dialog, close_dialog
from atendo.core.enums import DialogState, EventType, MessageType
from atendo.core.events.models import Event
from atendo.core.events.service import emit
from atendo.core.messages.models import Message
from atendo.core.messages.outgoing import OutgoingAttachment
from atendo.core.tags.models import TagAssignment
from atendo.core.tags.service import assign_tags
from atendo.kit.clock import utcnow


class Say(Protocol):
    """Queue an automatic message in a dialog (bound by the worker to the transport seam);
    ``buttons``: the choices a transport with buttons (the widget) offers with it."""

    def __call__(
        self,
        to: Dialog,
        text: str,
        buttons: Sequence[str] = (),
        files: Sequence[OutgoingAttachment] = (),
        /,
    ) -> None: ...


TRIGGERS = (EventType.INBOX.value, EventType.CLOSE_DIALOG.value)
SURVEY_VALID = timedelta(hours=24)
RETRY_AFTER = timedelta(minutes=1)
GIVE_UP_AFTER = timedelta(hours=1)
HOME = "00"
BACK = "000"
_PUNCTUATION = ".,;:!?¡¿…\"' "
_NOREPLY = ("noreply", "no-reply", "no_reply", "donotreply", "do-not-reply", "mailer-daemon")


# --- claiming --------------------------------------------------------------------------------


def pending_events(session: Session, *, limit: int = 50) -> list[int]:
    """Ids of triggers not yet handled, oldest first."""
    stmt = (
        select(Event.id)
        .where(Event.automation_due.is_not(None), Event.automation_due <= utcnow())
        .order_by(Event.id)
        .limit(limit)
    )
    return list(session.scalars(stmt))


def claim_event(session: Session, *, event_id: int) -> Event | None:
    """Take one trigger for this transaction; None when another worker has it."""
    claimed = session.execute(
        update(Event)
        .where(Event.id == event_id, Event.automation_due.is_not(None))
        .values(automation_due=None)
        .execution_options(synchronize_session=False)
    )
    if claimed.rowcount != 1:  # type: ignore[attr-defined]
        return None
    return session.get(Event, event_id)


def postpone_event(session: Session, *, event_id: int) -> bool:
    """A trigger whose handling failed is tried again ``RETRY_AFTER`` later; after failing for
    ``GIVE_UP_AFTER`` it is dropped (False), so one bad trigger never holds its dialog's
    automation for ever (later triggers of the dialog wait for it: ``earlier_pending``)."""
    event = session.get(Event, event_id)
    if event is None or event.automation_due is None:
        return True
    now = utcnow()
    if now - event.created > GIVE_UP_AFTER:
        event.automation_due = None
        return False
    event.automation_due = now + RETRY_AFTER
    return True


def earlier_pending(session: Session, *, event: Event) -> bool:
    """A trigger of the same dialog before this one is still waiting: keep their order."""
    if event.dialog_id is None:
        return False
    found = session.scalar(
        select(Event.id)
        .where(
            Event.dialog_id == event.dialog_id,
            Event.id < event.id,
            Event.automation_due.is_not(None),
        )
        .limit(1)
    )
    return found is not None


def _claim_due(session: Session, column: Any, now: datetime, limit: int) -> list[DialogAutomation]:
    ids = list(
        session.scalars(
            select(DialogAutomation.id)
            .where(column.is_not(None), column <= now)
            .order_by(column)
            .limit(limit)
        )
    )
    won: list[DialogAutomation] = []
    for state_id in ids:
        claimed = session.execute(
            update(DialogAutomation)
            .where(DialogAutomation.id == state_id, column.is_not(None), column <= now)
            .values({column.key: None})
            .execution_options(synchronize_session=False)
        )
        if claimed.rowcount == 1:  # type: ignore[attr-defined]
            state = session.get(DialogAutomation, state_id)
            if state is not None:
                session.refresh(state)
                won.append(state)
    return won


# --- reacting to a trigger -------------------------------------------------------------------


@dataclass(frozen=True)
class Fetched:
    """What the worker read before the transaction for the menu item a trigger chooses: its
    text from its URL, its reply file from its image URL (menu item id → each)."""

    texts: dict[int, str] = field(default_factory=dict)
    files: dict[int, OutgoingAttachment] = field(default_factory=dict)


NOTHING = Fetched()


@dataclass(frozen=True)
class Context:
    event: Event
    dialog: Dialog
    channel: Channel
    client: Client
    state: DialogAutomation
    settings: AutomationSettings


def _context(session: Session, event: Event) -> Context | None:
    if event.dialog_id is None:
        return None
    dialog = session.get(Dialog, event.dialog_id)
    if dialog is None:
        return None
    channel = session.get(Channel, dialog.channel_id)
    client = session.get(Client, dialog.client_id)
    if channel is None or client is None:
        return None
    state = dialog_state(session, dialog=dialog)
    settings = automation_settings(session, company_id=dialog.company_id, channel_id=channel.id)
    return Context(event, dialog, channel, client, state, settings)


def dialog_state(session: Session, *, dialog: Dialog) -> DialogAutomation:
    state = session.scalar(
        select(DialogAutomation)
        .where(
            DialogAutomation.company_id == dialog.company_id,
            DialogAutomation.dialog_id == dialog.id,
        )
        .with_for_update()
    )
    if state is None:
        state = DialogAutomation(
            company_id=dialog.company_id,
            dialog_id=dialog.id,
            client_id=dialog.client_id,
            channel_id=dialog.channel_id,
            menu_active=False,
        )
        session.add(state)
        session.flush()
    return state


def react(session: Session, *, event: Event, say: Say, fetched: Fetched = NOTHING) -> None:
    """Handle one claimed trigger; ``fetched``: what the worker read for a menu item."""
    ctx = _context(session, event)
    if ctx is None:
        return
    if event.type == EventType.INBOX:
        _on_client_message(session, ctx, say, fetched)
    elif event.type == EventType.CLOSE_DIALOG:
        _on_close(session, ctx, say)


def is_automatic(message: Message) -> bool:
    """Mail that is itself automatic or bulk, a bounce, or from a no-reply sender: never
    answered automatically (RFC 3834 §2; no loops, even between two installations)."""
    if message.is_auto_reply or message.is_bounce or message.no_autoreply:
        return True
    local = (message.from_email or "").split("@", 1)[0].lower()
    return any(local.startswith(p) for p in _NOREPLY)


def _client_message(session: Session, event: Event) -> Message | None:
    message_id = (event.payload or {}).get("message_id")
    message = session.get(Message, message_id) if message_id is not None else None
    if message is None or message.type != MessageType.FROM_CLIENT or message.imported:
        return None
    return message


def _on_client_message(session: Session, ctx: Context, say: Say, fetched: Fetched) -> None:
    message = _client_message(session, ctx.event)
    if message is None:
        return
    state, settings = ctx.state, ctx.settings
    hours = settings.auto_close.after_hours
    state.close_due = message.created + timedelta(hours=hours) if hours else None
    if is_automatic(message):
        return
    now = utcnow()
    if state.survey_rating_id is not None and _survey_answer(session, ctx, message, say, now):
        return
    # Written before our latest automatic message (a menu sent by the API meanwhile): not
    # an answer to it.
    stale = _answered_later(session, message)
    if state.menu_active and state.menu_request_id == message.request_id and not stale:
        if _operator_answered(session, message.request_id):
            _stop_menu(state)
        else:
            _follow_menu(session, ctx, message, say, fetched, now)
            return
    if bool((ctx.event.payload or {}).get("is_new_request")):
        _greet(session, ctx, message, say, now)
        if not stale:
            _start_menu(session, ctx, message, say, now)


def _answered_later(session: Session, message: Message) -> bool:
    found = session.scalar(
        select(Message.id)
        .where(
            Message.dialog_id == message.dialog_id,
            Message.id > message.id,
            Message.type == MessageType.AUTOREPLY,
        )
        .limit(1)
    )
    return found is not None


def _render(text: str, ctx: Context) -> str:
    names = {
        "{cliente.nome}": ctx.client.name or ctx.client.assigned_name,
        "{client.name}": ctx.client.name or ctx.client.assigned_name,
        "{canal.nome}": ctx.channel.name,
        "{channel.name}": ctx.channel.name,
    }
    for key, value in names.items():
        text = text.replace(key, value or "")
    return text


def _greet(session: Session, ctx: Context, message: Message, say: Say, now: datetime) -> None:
    greetings = ctx.settings.greetings
    returning = (
        session.scalar(
            select(func.count(Request.id)).where(
                Request.client_id == ctx.client.id, Request.id != message.request_id
            )
        )
        or 0
    ) > 0
    in_hours = ctx.settings.working_hours.in_hours(message.created)
    text = {
        (False, True): greetings.new_in_hours,
        (False, False): greetings.new_out_of_hours,
        (True, True): greetings.returning_in_hours,
        (True, False): greetings.returning_out_of_hours,
    }[(returning, in_hours)]
    if not text.strip():
        return
    last = session.scalar(
        select(func.max(DialogAutomation.greeted_at)).where(
            DialogAutomation.client_id == ctx.client.id
        )
    )
    if last is not None and now - last < timedelta(hours=greetings.min_interval_hours):
        return
    say(ctx.dialog, _render(text, ctx))
    ctx.state.greeted_at = now


# --- the menu --------------------------------------------------------------------------------


def level_items(session: Session, *, dialog: Dialog, parent_id: int | None) -> list[MenuItem]:
    return list_menu_items(
        session, company_id=dialog.company_id, channel_id=dialog.channel_id,
        parent_id=parent_id, only_parent=True,
    )  # fmt: skip


def listing(items: list[MenuItem]) -> str:
    return "\n".join(f"{i.command} - {i.name}" for i in items)


def names(items: list[MenuItem]) -> list[str]:
    """The buttons of a level: the items' names (what a button sends matches by name)."""
    return [i.name for i in items]


def _join(*parts: str) -> str:
    return "\n\n".join(p.strip() for p in parts if p and p.strip())


def _start_menu(session: Session, ctx: Context, message: Message, say: Say, now: datetime) -> None:
    menu = ctx.settings.menu
    if not menu.enabled:
        return
    items = level_items(session, dialog=ctx.dialog, parent_id=None)
    if not items:
        return
    say(ctx.dialog, _join(_render(menu.invitation, ctx), listing(items)), names(items))
    state = ctx.state
    state.menu_active = True
    state.menu_parent_id = None
    state.menu_request_id = message.request_id
    state.menu_due = now + timedelta(minutes=menu.timeout_minutes)


def _stop_menu(state: DialogAutomation) -> None:
    state.menu_active = False
    state.menu_parent_id = None
    state.menu_due = None


def menu_choice(
    session: Session, *, state: DialogAutomation, dialog: Dialog, text: str
) -> MenuItem | None:
    """The item of the current level the client's text names (its command, or its name)."""
    wanted = normalise(text)
    items = level_items(session, dialog=dialog, parent_id=state.menu_parent_id)
    for item in items:
        if normalise(item.command) == wanted:
            return item
    for item in items:
        if normalise(item.name) == wanted:
            return item
    return None


def item_to_fetch(session: Session, *, event_id: int) -> MenuItem | None:
    """Read-only preview for the worker: the menu item this trigger would choose when it has
    a URL to read (its text, its reply file), so that is fetched before the transaction that
    answers (never during it)."""
    event = session.get(Event, event_id)
    if event is None or event.type != EventType.INBOX or event.dialog_id is None:
        return None
    state = session.scalar(
        select(DialogAutomation).where(DialogAutomation.dialog_id == event.dialog_id)
    )
    dialog = session.get(Dialog, event.dialog_id)
    message = _client_message(session, event)
    if state is None or dialog is None or message is None or not state.menu_active:
        return None
    item = menu_choice(session, state=state, dialog=dialog, text=message.text or "")
    if item is None or not ((item.url_enabled and item.url) or item.image):
        return None
    return item


def _follow_menu(
    session: Session,
    ctx: Context,
    message: Message,
    say: Say,
    fetched: Fetched,
    now: datetime,
) -> None:
    state, menu, dialog = ctx.state, ctx.settings.menu, ctx.dialog
    typed = normalise(message.text or "")
    state.menu_due = now + timedelta(minutes=menu.timeout_minutes)
    if typed == HOME:
        state.menu_parent_id = None
        items = level_items(session, dialog=dialog, parent_id=None)
        say(dialog, _join(_render(menu.invitation, ctx), listing(items)), names(items))
        return
    if typed == BACK:
        parent = session.get(MenuItem, state.menu_parent_id) if state.menu_parent_id else None
        state.menu_parent_id = parent.parent_id if parent is not None else None
        _show_level(session, ctx, say)
        return
    if menu.end_word and typed == normalise(menu.end_word):
        _stop_menu(state)
        close_dialog(session, company_id=dialog.company_id, dialog_id=dialog.id)
        return
    item = menu_choice(session, state=state, dialog=dialog, text=message.text or "")
    if item is None:
        items = level_items(session, dialog=dialog, parent_id=state.menu_parent_id)
        say(dialog, _join(menu.unknown_text, listing(items)), names(items))
        return
    enter_item(session, dialog=dialog, state=state, item=item, say=say, fetched=fetched, ctx=ctx)


def _show_level(session: Session, ctx: Context, say: Say) -> None:
    state, dialog = ctx.state, ctx.dialog
    items = level_items(session, dialog=dialog, parent_id=state.menu_parent_id)
    if state.menu_parent_id is None:
        say(dialog, _join(_render(ctx.settings.menu.invitation, ctx), listing(items)), names(items))
        return
    parent = session.get(MenuItem, state.menu_parent_id)
    say(dialog, _join(parent.name if parent else "", listing(items)), names(items))


def enter_item(
    session: Session,
    *,
    dialog: Dialog,
    state: DialogAutomation,
    item: MenuItem,
    say: Say,
    fetched: Fetched = NOTHING,
    ctx: Context | None = None,
) -> None:
    """The client chose ``item`` (or the API sent it): its reply, its actions, and its level
    when it has items below it."""
    text = fetched.texts.get(item.id) or item.text or ""
    if ctx is not None:
        text = _render(text, ctx)
    children = level_items(session, dialog=dialog, parent_id=item.id)
    body = _join(text, listing(children))
    file = fetched.files.get(item.id)
    if body or file is not None:
        say(dialog, body, names(children), (file,) if file is not None else ())
    request = session.scalar(
        select(Request)
        .where(
            Request.company_id == dialog.company_id,
            Request.dialog_id == dialog.id,
            Request.state == DialogState.OPEN,
        )
        .order_by(Request.id.desc())
        .limit(1)
    )
    if item.tag_id is not None and request is not None:
        assign_tags(
            session, company_id=dialog.company_id, tag_ids=[item.tag_id],
            assignee_type="request", assignee_id=request.id,
        )  # fmt: skip
    if children:
        state.menu_parent_id = item.id
        state.menu_active = True
        state.menu_request_id = request.id if request is not None else state.menu_request_id
    if item.assign_group_id is not None:
        _stop_menu(state)
        assign_dialog(
            session, company_id=dialog.company_id, dialog_id=dialog.id,
            operator_id=dialog.operator_id, group_id=item.assign_group_id,
        )  # fmt: skip
    if item.close:
        _stop_menu(state)
        if dialog.state == DialogState.OPEN:
            close_dialog(session, company_id=dialog.company_id, dialog_id=dialog.id)


def _operator_answered(session: Session, request_id: int | None) -> bool:
    if request_id is None:
        return False
    found = session.scalar(
        select(Message.id)
        .where(
            Message.request_id == request_id,
            Message.type == MessageType.TO_CLIENT,
            Message.operator_id.is_not(None),
        )
        .limit(1)
    )
    return found is not None


# --- the survey ------------------------------------------------------------------------------


def _on_close(session: Session, ctx: Context, say: Say) -> None:
    state = ctx.state
    _stop_menu(state)
    state.close_due = None
    payload = ctx.event.payload or {}
    request_id = payload.get("request_id")
    if request_id is None or not _operator_answered(session, request_id):
        return
    rating = _survey_for(session, ctx, request_id)
    if rating is None:
        return
    now = utcnow()
    last = session.scalar(
        select(func.max(DialogAutomation.surveyed_at)).where(
            DialogAutomation.client_id == ctx.client.id
        )
    )
    if last is not None and now - last < timedelta(hours=rating.min_interval_hours):
        return
    say(ctx.dialog, _render(rating.question, ctx), scale_buttons(rating))
    state.surveyed_at = now
    state.survey_rating_id = rating.id
    state.survey_request_id = request_id
    state.survey_operator_id = payload.get("operator_id")
    state.survey_until = now + SURVEY_VALID


def _survey_for(session: Session, ctx: Context, request_id: int) -> Rating | None:
    tags = set(
        session.scalars(
            select(TagAssignment.tag_id).where(
                TagAssignment.assignee_type == "request", TagAssignment.assignee_id == request_id
            )
        )
    )
    ratings = session.scalars(
        select(Rating)
        .where(Rating.company_id == ctx.dialog.company_id, Rating.enabled.is_(True))
        .order_by(Rating.id)
    )
    for rating in ratings:
        if rating.channel_ids and ctx.channel.id not in rating.channel_ids:
            continue
        if rating.tag_ids and not tags & set(rating.tag_ids):
            continue
        if rating.scale:
            return rating
    return None


def scale_buttons(rating: Rating) -> list[str]:
    """The survey's buttons: each score's first answer (what the button sends)."""
    return [str((e.get("answers") or [e.get("value")])[0]) for e in rating.scale or []]


def score_of(rating: Rating, text: str) -> dict[str, Any] | None:
    """The scale entry the client's answer counts as: the whole answer, else its first word."""
    typed = normalise(text).strip(_PUNCTUATION)
    if not typed:
        return None
    first = typed.split(" ", 1)[0].strip(_PUNCTUATION)
    for candidate in (typed, first):
        for entry in rating.scale or []:
            answers = [normalise(a) for a in entry.get("answers") or []]
            if candidate in answers or candidate == str(entry.get("value")):
                return entry
    return None


def _survey_answer(
    session: Session, ctx: Context, message: Message, say: Say, now: datetime
) -> bool:
    """True when the message was the survey's answer (stored, thanked)."""
    state = ctx.state
    rating = session.get(Rating, state.survey_rating_id) if state.survey_rating_id else None
    request_id = state.survey_request_id
    valid = state.survey_until is not None and now <= state.survey_until
    state.survey_rating_id = None
    state.survey_request_id = None
    state.survey_until = None
    if rating is None or request_id is None or not valid:
        return False
    entry = score_of(rating, message.text or "")
    if entry is None:
        return False
    already = session.scalar(select(RequestRating.id).where(RequestRating.request_id == request_id))
    if already is None:
        record_rating(
            session, ctx=ctx, rating=rating, request_id=request_id,
            operator_id=state.survey_operator_id, entry=entry, answer=message.text or "",
        )  # fmt: skip
    if entry.get("thanks"):
        say(ctx.dialog, _render(str(entry["thanks"]), ctx))
    # The answer opened a request of its own: it was only the answer, close it again.
    if bool((ctx.event.payload or {}).get("is_new_request")) and ctx.dialog.state == "open":
        close_dialog(session, company_id=ctx.dialog.company_id, dialog_id=ctx.dialog.id)
    return True


def record_rating(
    session: Session,
    *,
    ctx: Context,
    rating: Rating,
    request_id: int,
    operator_id: int | None,
    entry: dict[str, Any],
    answer: str,
) -> RequestRating:
    row = RequestRating(
        company_id=ctx.dialog.company_id,
        rating_id=rating.id,
        request_id=request_id,
        dialog_id=ctx.dialog.id,
        client_id=ctx.client.id,
        channel_id=ctx.channel.id,
        operator_id=operator_id,
        score=int(entry["value"]),
        answer=answer[:500],
        created=utcnow(),
    )
    session.add(row)
    session.flush()
    if entry.get("tag_id") is not None:
        assign_tags(
            session, company_id=ctx.dialog.company_id, tag_ids=[int(entry["tag_id"])],
            assignee_type="request", assignee_id=request_id,
        )  # fmt: skip
    emit(
        session,
        company_id=ctx.dialog.company_id,
        type=EventType.NEW_RATING,
        payload={
            "request_id": request_id,
            "dialog_id": ctx.dialog.id,
            "client_id": ctx.client.id,
            "channel_id": ctx.channel.id,
            "operator_id": operator_id,
            "rating_id": rating.id,
            "score_value": row.score,
        },
        channel_id=ctx.channel.id,
        dialog_id=ctx.dialog.id,
    )
    return row


# --- timed work ------------------------------------------------------------------------------


def run_due_closes(session: Session, *, say: Say, limit: int = 50) -> int:
    """Close the dialogs whose client has been silent for the channel's ``after_hours``."""
    now = utcnow()
    done = 0
    for state in _claim_due(session, DialogAutomation.close_due, now, limit):
        dialog = session.get(Dialog, state.dialog_id)
        if dialog is None or dialog.state != DialogState.OPEN:
            continue
        settings = automation_settings(
            session, company_id=dialog.company_id, channel_id=dialog.channel_id
        )
        hours = settings.auto_close.after_hours
        if not hours:
            continue
        last = session.scalar(
            select(func.max(Message.created)).where(
                Message.dialog_id == dialog.id, Message.type == MessageType.FROM_CLIENT
            )
        )
        if last is not None and last + timedelta(hours=hours) > now:
            state.close_due = last + timedelta(hours=hours)  # a newer message: later
            continue
        if settings.auto_close.message.strip():
            say(dialog, settings.auto_close.message)
        _stop_menu(state)
        close_dialog(session, company_id=dialog.company_id, dialog_id=dialog.id)
        done += 1
    session.flush()
    return done


def run_due_menus(session: Session, *, limit: int = 50) -> int:
    """Menus left unanswered past their timeout stop; the request goes to the default group."""
    now = utcnow()
    done = 0
    for state in _claim_due(session, DialogAutomation.menu_due, now, limit):
        if not state.menu_active:
            continue
        _stop_menu(state)
        dialog = session.get(Dialog, state.dialog_id)
        if dialog is None or dialog.state != DialogState.OPEN:
            continue
        settings = automation_settings(
            session, company_id=dialog.company_id, channel_id=dialog.channel_id
        )
        group_id = settings.menu.default_group_id
        if group_id is not None and dialog.group_id is None:
            assign_dialog(
                session, company_id=dialog.company_id, dialog_id=dialog.id,
                operator_id=dialog.operator_id, group_id=group_id,
            )  # fmt: skip
        done += 1
    session.flush()
    return done
