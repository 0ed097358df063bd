"""Automation through the API: a channel's settings [ext], the self-service menu
(Chat2Desk's ``/v1/scenarios``) and the quality-survey definitions [ext] (``/v1/ratings``)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse
from sqlalchemy import select

from atendo.api.context import ApiContext, api_context
from atendo.api.envelope import ok
from atendo.api.routes.apidoc import Param, doc
from atendo.api.routes.shapes import array, obj
from atendo.core.automation.engine import dialog_state, enter_item
from atendo.core.automation.models import MenuItem, Rating
from atendo.core.automation.service import (
    automation_settings,
    create_menu_item,
    delete_menu_item,
    delete_rating,
    get_menu_item,
    get_rating,
    list_menu_items,
    list_ratings,
    rating_out,
    save_automation_settings,
    save_rating,
    update_menu_item,
)
from atendo.core.channels.service import get_channel, list_channels
from atendo.core.clients.service import get_client
from atendo.core.dialogs.models import Dialog
from atendo.core.enums import MessageType
from atendo.core.errors import Invalid, NotFound
from atendo.core.lengths import column_length
from atendo.kit.pagination import Page
from atendo.transports import registry
from atendo.transports.base import Reply

router = APIRouter()

SECTIONS = ("working_hours", "greetings", "menu", "auto_close")
AUTOMATION = obj(
    {
        "working_hours": obj(
            {
                "timezone": "string",
                "week": array(obj({"day": "integer", "start": "string", "end": "string"})),
                "holidays": "string[]",
            }
        ),
        "greetings": obj(
            {
                "new_in_hours": "string",
                "new_out_of_hours": "string",
                "returning_in_hours": "string",
                "returning_out_of_hours": "string",
                "min_interval_hours": "integer",
            }
        ),
        "menu": obj(
            {
                "enabled": "boolean",
                "invitation": "string",
                "end_word": "string",
                "unknown_text": "string",
                "timeout_minutes": "integer",
                "default_group_id": "integer?",
            }
        ),
        "auto_close": obj({"after_hours": {"type": ["number", "null"]}, "message": "string"}),
    }
)
MENU_ITEM = obj(
    {
        "id": "integer",
        "channel_id": "integer",
        "parent_id": "integer?",
        "command": "string",
        "name": "string",
        "text": "string",
        "assign_id": "integer?",
        "assign_subject": "string?",
        "tag_id": "integer?",
        "url": "string?",
        "url_enabled": "boolean",
        "close": "boolean",
        "position": "integer",
        "level": "integer",
        "image": "string?",
    }
)
RATING = obj(
    {
        "id": "integer",
        "name": "string",
        "question": "string",
        "channel_ids": "integer[]",
        "tag_ids": "integer[]",
        "scale": array({"type": "object"}),
        "min_interval_hours": "integer",
        "hide_scores": "boolean",
        "enabled": "boolean",
    }
)


def menu_item_out(item: MenuItem) -> dict[str, Any]:
    return {
        "id": item.id,
        "channel_id": item.channel_id,
        "parent_id": item.parent_id,
        "command": item.command,
        "name": item.name,
        "text": item.text,
        "assign_id": item.assign_group_id,
        "assign_subject": "group" if item.assign_group_id is not None else None,
        "tag_id": item.tag_id,
        "url": item.url,
        "url_enabled": item.url_enabled,
        "close": item.close,
        "position": item.position,
        "level": item.level,
        "image": item.image,
    }


# --- a channel's automation settings [ext] ---------------------------------------------------


@router.get(
    "/v1/channels/{channel_id}/automation",
    tags=["automation"],
    **doc("A channel's automation settings", ext=True, data=AUTOMATION),
)
def get_automation(channel_id: int, ctx: ApiContext = Depends(api_context)) -> JSONResponse:
    with ctx.read() as session:
        settings = automation_settings(session, company_id=ctx.company_id, channel_id=channel_id)
        return ok(settings.model_dump(mode="json"))


@router.put(
    "/v1/channels/{channel_id}/automation",
    tags=["automation"],
    **doc(
        "Change a channel's automation settings (the sections given; their fields merged)",
        [Param(s, "object", f"the {s} section") for s in SECTIONS],
        body=True,
        ext=True,
        data=AUTOMATION,
    ),
)
def put_automation(channel_id: int, ctx: ApiContext = Depends(api_context)) -> JSONResponse:
    data: dict[str, Any] = {}
    for name in ctx.params.names():
        if name in ("limit", "offset"):
            continue
        data[name] = ctx.params.mapping(name) if name in SECTIONS else ctx.params.raw(name)
    with ctx.write() as session:
        settings = save_automation_settings(
            session, company_id=ctx.company_id, channel_id=channel_id, data=data
        )
        return ok(settings.model_dump(mode="json"))


# --- the self-service menu (Chat2Desk scenarios) ---------------------------------------------


@router.get(
    "/v1/scenarios",
    tags=["scenarios"],
    **doc(
        "The self-service menu of each channel",
        data=obj(
            {
                "channel_id": "integer",
                "enabled": "boolean",
                "invitation": "string",
                "items": "integer",
            }
        ),
        listing=True,
    ),
)
def scenarios(ctx: ApiContext = Depends(api_context)) -> JSONResponse:
    with ctx.read() as session:
        channels, _ = list_channels(session, company_id=ctx.company_id, page=Page.of(200, 0))
        rows = []
        for channel in channels:
            menu = automation_settings(
                session, company_id=ctx.company_id, channel_id=channel.id
            ).menu
            count = len(list_menu_items(session, company_id=ctx.company_id, channel_id=channel.id))
            rows.append(
                {
                    "channel_id": channel.id,
                    "enabled": menu.enabled,
                    "invitation": menu.invitation,
                    "items": count,
                }
            )
    return ok(rows, meta={"total": len(rows), "limit": len(rows), "offset": 0})


@router.get(
    "/v1/scenarios/menu_items",
    tags=["scenarios"],
    **doc(
        "Self-service menu items",
        [
            Param("channel_id", "integer", "only this channel's"),
            Param("level", "integer", "only this level (1: the first)"),
            Param("limit", "integer", "page size (default 20, max 200)"),
            Param("offset", "integer", "rows to skip"),
        ],
        data=MENU_ITEM,
        listing=True,
    ),
)
def menu_items(ctx: ApiContext = Depends(api_context)) -> JSONResponse:
    channel_id = ctx.params.integer("channel_id")
    level = ctx.params.integer("level")
    p = ctx.page
    with ctx.read() as session:
        if channel_id is not None:
            get_channel(session, company_id=ctx.company_id, channel_id=channel_id)
        rows = list_menu_items(
            session, company_id=ctx.company_id, channel_id=channel_id, level=level
        )
        out = [menu_item_out(i) for i in rows[p.offset : p.offset + p.limit]]
    return ok(out, meta={"total": len(rows), "limit": p.limit, "offset": p.offset})


MENU_PARAMS = [
    Param("parent_id", "integer", "the item above (none: the first level)"),
    Param(
        "command",
        "string",
        "what the client types (unique among siblings)",
        max_length=column_length(MenuItem.command),
    ),
    Param(
        "name",
        "string",
        "the item's name (at most 20 characters)",
        max_length=column_length(MenuItem.name),
    ),
    Param("text", "string", "the reply text"),
    Param("assign_id", "integer", "assign the request to this group"),
    Param("tag_id", "integer", "put this tag on the request"),
    Param(
        "url",
        "string",
        "fetch the reply text from this URL",
        max_length=column_length(MenuItem.url),
    ),
    Param("url_enabled", "boolean", "use the URL"),
    Param("close", "boolean", "close the request", ext=True),
    Param("position", "integer", "order among siblings"),
    Param("image", "string", "a picture's URL", max_length=column_length(MenuItem.image)),
]


def _menu_data(ctx: ApiContext) -> dict[str, Any]:
    p = ctx.params
    data: dict[str, Any] = {}
    for key in ("command", "name", "text", "url", "image"):
        if p.has(key):
            data[key] = p.text(key) or ""
    for key, column in (("parent_id", "parent_id"), ("assign_id", "assign_group_id"),
                        ("tag_id", "tag_id"), ("position", "position")):  # fmt: skip
        if p.has(key):
            data[column] = p.integer(key)
    if data.get("position") is None:
        data.pop("position", None)
    for key in ("url_enabled", "close"):
        if p.has(key):
            data[key] = bool(p.boolean(key))
    return data


@router.post(
    "/v1/scenarios/menu_items",
    tags=["scenarios"],
    **doc(
        "Add a menu item",
        [Param("channel_id", "integer", "the channel", required=True), *MENU_PARAMS],
        body=True,
        ext=True,
        data=MENU_ITEM,
        status=201,
    ),
)
def add_menu_item(ctx: ApiContext = Depends(api_context)) -> JSONResponse:
    channel_id = ctx.params.integer("channel_id")
    if channel_id is None:
        raise Invalid("channel_id is required", {"channel_id": ["required"]})
    with ctx.write() as session:
        item = create_menu_item(
            session, company_id=ctx.company_id, channel_id=channel_id, data=_menu_data(ctx)
        )
        return ok(menu_item_out(item), status_code=201)


@router.put(
    "/v1/scenarios/menu_items/{item_id}",
    tags=["scenarios"],
    **doc("Change a menu item", MENU_PARAMS, body=True, ext=True, data=MENU_ITEM),
)
def change_menu_item(item_id: int, ctx: ApiContext = Depends(api_context)) -> JSONResponse:
    with ctx.write() as session:
        item = update_menu_item(
            session, company_id=ctx.company_id, item_id=item_id, data=_menu_data(ctx)
        )
        return ok(menu_item_out(item))


@router.delete(
    "/v1/scenarios/menu_items/{item_id}",
    tags=["scenarios"],
    **doc("Delete a menu item and the items below it", ext=True),
)
def remove_menu_item(item_id: int, ctx: ApiContext = Depends(api_context)) -> JSONResponse:
    with ctx.write() as session:
        delete_menu_item(session, company_id=ctx.company_id, item_id=item_id)
    return ok({})


@router.post(
    "/v1/scenarios/send_menu_item",
    tags=["scenarios"],
    **doc(
        "Send a menu item to a client (its text and the items below it), in the client's "
        "dialog on the item's channel; the menu goes on from there",
        [
            Param("menu_item_id", "integer", "the menu item", required=True),
            Param("client_id", "integer", "the client", required=True),
        ],
        body=True,
        data=obj({"menu_item_id": "integer", "client_id": "integer", "dialog_id": "integer"}),
    ),
)
def send_menu_item(ctx: ApiContext = Depends(api_context)) -> JSONResponse:
    item_id = ctx.params.integer("menu_item_id")
    client_id = ctx.params.integer("client_id")
    errors = {k: ["required"] for k, v in (("menu_item_id", item_id), ("client_id", client_id))
              if v is None}  # fmt: skip
    if errors:
        raise Invalid(f"{', '.join(errors)} required", errors)
    assert item_id is not None and client_id is not None
    with ctx.write() as session:
        item = get_menu_item(session, company_id=ctx.company_id, item_id=item_id)
        get_client(session, company_id=ctx.company_id, client_id=client_id)
        dialog = session.scalar(
            select(Dialog)
            .where(
                Dialog.company_id == ctx.company_id,
                Dialog.client_id == client_id,
                Dialog.channel_id == item.channel_id,
            )
            .order_by(Dialog.id.desc())
            .limit(1)
        )
        if dialog is None:
            raise NotFound("The client has no dialog on the menu item's channel")
        channel = get_channel(session, company_id=ctx.company_id, channel_id=dialog.channel_id)
        transport = registry.get(channel.transport)
        runtime = ctx.runtime

        def say(
            to: Dialog, text: str, buttons: Sequence[str] = (), files: Sequence[Any] = ()
        ) -> None:
            transport.queue_reply(
                session,
                runtime=runtime,
                company_id=to.company_id,
                dialog_id=to.id,
                reply=Reply(
                    text=text, operator_id=None, type=MessageType.AUTOREPLY,
                    buttons=tuple(buttons),
                ),
            )  # fmt: skip

        state = dialog_state(session, dialog=dialog)
        enter_item(session, dialog=dialog, state=state, item=item, say=say)
        return ok({"menu_item_id": item.id, "client_id": client_id, "dialog_id": dialog.id})


# --- quality-survey definitions [ext] --------------------------------------------------------

RATING_PARAMS = [
    Param("name", "string", "the survey's name", max_length=column_length(Rating.name)),
    Param("question", "string", "the question sent on close"),
    Param("channel_ids", "integer[]", "its channels (empty: all)"),
    Param("tag_ids", "integer[]", "trigger tags (empty: every request)"),
    Param("scale", "object", "[{value, answers[], thanks, tag_id}]"),
    Param("min_interval_hours", "integer", "at most one invitation per client in this time"),
    Param("hide_scores", "boolean", "hide the scores from operators"),
    Param("enabled", "boolean", "on or off"),
]


def _rating_data(ctx: ApiContext) -> dict[str, Any]:
    p = ctx.params
    data: dict[str, Any] = {}
    for key in ("name", "question"):
        if p.has(key):
            data[key] = p.text(key) or ""
    for key in ("channel_ids", "tag_ids"):
        if p.has(key):
            data[key] = p.integers(key)
    if p.has("scale"):
        data["scale"] = p.items("scale")
    if p.has("min_interval_hours"):
        data["min_interval_hours"] = p.integer("min_interval_hours")
    for key in ("hide_scores", "enabled"):
        if p.has(key):
            data[key] = p.boolean(key)
    return data


@router.get(
    "/v1/ratings", tags=["ratings"], **doc("Quality surveys", ext=True, data=RATING, listing=True)
)
def ratings(ctx: ApiContext = Depends(api_context)) -> JSONResponse:
    with ctx.read() as session:
        rows = [rating_out(r) for r in list_ratings(session, company_id=ctx.company_id)]
    return ok(rows, meta={"total": len(rows), "limit": len(rows), "offset": 0})


@router.get("/v1/ratings/{rating_id}", tags=["ratings"], **doc("One survey", ext=True, data=RATING))
def rating(rating_id: int, ctx: ApiContext = Depends(api_context)) -> JSONResponse:
    with ctx.read() as session:
        return ok(rating_out(get_rating(session, company_id=ctx.company_id, rating_id=rating_id)))


@router.post(
    "/v1/ratings",
    tags=["ratings"],
    **doc("Define a survey", RATING_PARAMS, body=True, ext=True, data=RATING, status=201),
)
def add_rating(ctx: ApiContext = Depends(api_context)) -> JSONResponse:
    with ctx.write() as session:
        row = save_rating(session, company_id=ctx.company_id, data=_rating_data(ctx))
        return ok(rating_out(row), status_code=201)


@router.put(
    "/v1/ratings/{rating_id}",
    tags=["ratings"],
    **doc("Change a survey", RATING_PARAMS, body=True, ext=True, data=RATING),
)
def change_rating(rating_id: int, ctx: ApiContext = Depends(api_context)) -> JSONResponse:
    with ctx.write() as session:
        row = save_rating(
            session, company_id=ctx.company_id, data=_rating_data(ctx), rating_id=rating_id
        )
        return ok(rating_out(row))


@router.delete("/v1/ratings/{rating_id}", tags=["ratings"], **doc("Delete a survey", ext=True))
def remove_rating(rating_id: int, ctx: ApiContext = Depends(api_context)) -> JSONResponse:
    with ctx.write() as session:
        delete_rating(session, company_id=ctx.company_id, rating_id=rating_id)
    return ok({})
