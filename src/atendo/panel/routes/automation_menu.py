"""The channel's self-service menu in the panel (tab *Menu de AutoAtendimento*): the tree,
and an item added, edited (its text, actions, or the item it goes under), moved up or down
among its siblings, or deleted with the items below it. Admins only.

A refusal is told as sentences in the operator's language, one for each problem the core
found; the form comes back as sent."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from atendo.core.automation.models import MenuItem
from atendo.core.automation.service import (
    MAX_NAME,
    automation_settings,
    create_menu_item,
    delete_menu_item,
    get_menu_item,
    list_menu_items,
    move_menu_item,
    update_menu_item,
)
from atendo.core.channels.service import get_channel
from atendo.core.errors import DomainError, NotFound
from atendo.core.operators.service import list_groups
from atendo.core.tags.service import list_tags
from atendo.kit.pagination import Page
from atendo.panel.auth import PanelUser, admin_user, runtime_of, write
from atendo.panel.i18n import translations
from atendo.panel.render import render
from atendo.panel.routes.automation_common import redirect, refusal, text

router = APIRouter()
Admin = Annotated[PanelUser, Depends(admin_user)]


def tree(items: list[MenuItem]) -> list[tuple[int, MenuItem]]:
    """(depth, item) in reading order: each item followed by the items below it."""
    children: dict[int | None, list[MenuItem]] = {}
    for item in items:
        children.setdefault(item.parent_id, []).append(item)
    out: list[tuple[int, MenuItem]] = []

    def walk(parent: int | None, depth: int) -> None:
        for item in children.get(parent, []):
            out.append((depth, item))
            walk(item.id, depth + 1)

    walk(None, 0)
    return out


def _below(rows: list[tuple[int, MenuItem]], item_id: int) -> set[int]:
    """The item and every item below it: where it cannot go."""
    out: set[int] = set()
    inside_depth: int | None = None
    for depth, item in rows:
        if inside_depth is not None and depth <= inside_depth:
            inside_depth = None
        if item.id == item_id:
            inside_depth = depth
        if inside_depth is not None:
            out.add(item.id)
    return out


def sentences(user: PanelUser, exc: DomainError, data: dict[str, Any]) -> list[str]:
    """What is wrong with a menu item, a sentence per problem the core named."""
    _ = translations(user.language).gettext
    out: list[str] = []
    for key, problems in (exc.errors or {}).items():
        for problem in problems:
            said = {
                ("command", "required"): _(
                    "Give the item a command: what the client types to choose it, e.g. 1."
                ),
                ("command", "at most 40 characters"): _("A command has at most 40 characters."),
                ("command", "00 and 000 are reserved"): _(
                    "00 and 000 are reserved: 00 goes back to the start, 000 one level back."
                ),
                ("command", "already used on this level"): _(
                    "The command “%(command)s” is already used on this level."
                )
                % {"command": data.get("command", "")},
                ("name", "required"): _("Give the item a name."),
                ("name", f"at most {MAX_NAME} characters"): _(
                    "The name has %(count)s characters; at most %(max)s fit."
                )
                % {"count": len(str(data.get("name") or "")), "max": MAX_NAME},
                ("url", "an http(s) URL"): _("The URL must start with http:// or https://."),
                ("url", "required when url_enabled"): _(
                    "To fetch the reply text from a URL, give the URL."
                ),
                ("image", "an http(s) URL"): _(
                    "The reply file's URL must start with http:// or https://."
                ),
                ("parent_id", "an item cannot go below itself"): _(
                    "An item cannot go under itself or under an item below it."
                ),
                ("parent_id", "no such menu item on this channel"): _(
                    "The item it goes under no longer exists."
                ),
                ("assign_group_id", "no such group"): _("The chosen group no longer exists."),
                ("tag_id", "no such tag"): _("The chosen tag no longer exists."),
            }.get((key, problem))
            if said is None:
                said = refusal(user, DomainError(exc.message, {key: [problem]}))
            if said not in out:
                out.append(said)
    return out or [refusal(user, exc)]


def _menu_page(
    request: Request,
    user: PanelUser,
    channel_id: int,
    *,
    editing: int | None = None,
    errors: list[str] | None = None,
    values: dict[str, Any] | None = None,
) -> Response:
    with runtime_of(request).db.reading() as session:
        channel = get_channel(session, company_id=user.company_id, channel_id=channel_id)
        items = list_menu_items(session, company_id=user.company_id, channel_id=channel_id)
        groups = [g for g, _members in list_groups(session, company_id=user.company_id)]
        tags, _n = list_tags(session, company_id=user.company_id, page=Page(200, 0))
        menu = automation_settings(session, company_id=user.company_id, channel_id=channel_id).menu
    rows = tree(items)
    if editing is not None and values is None:
        item = next((i for _d, i in rows if i.id == editing), None)
        if item is None or item.channel_id != channel_id:
            raise NotFound("Menu item not found")
        values = {key: getattr(item, key) for key in _FIELDS}
    siblings: dict[int | None, list[int]] = {}
    for _depth, item in rows:
        siblings.setdefault(item.parent_id, []).append(item.id)
    return render(
        request,
        "settings/menu.html",
        {
            "channel": channel,
            "tree": rows,
            "first": {ids[0] for ids in siblings.values()},
            "last": {ids[-1] for ids in siblings.values()},
            "cannot_go_under": _below(rows, editing) if editing is not None else set(),
            "groups": {g.id: g.name for g in groups},
            "tags": {t.id: t.label for t in tags},
            "menu": menu,
            "values": values or {},
            "editing": editing,
            "section": "channels",
            "tab": "menu",
            "errors": errors or [],
        },
        status_code=422 if errors else 200,
    )


_FIELDS = ("parent_id", "command", "name", "text", "assign_group_id", "tag_id", "url", "image",
           "url_enabled", "close")  # fmt: skip


def _item_data(form: Any) -> dict[str, Any]:
    def number(key: str) -> int | None:
        value = text(form, key)
        return int(value) if value.isdigit() else None

    return {
        "parent_id": number("parent_id"),
        "command": text(form, "command"),
        "name": text(form, "name"),
        "text": str(form.get("text") or "").strip(),
        "assign_group_id": number("assign_group_id"),
        "tag_id": number("tag_id"),
        "url": text(form, "url") or None,
        "image": text(form, "image") or None,
        "url_enabled": form.get("url_enabled") == "on",
        "close": form.get("close") == "on",
    }


@router.get("/settings/channels/{channel_id}/menu")
def menu_page(request: Request, channel_id: int, user: Admin) -> Response:
    return _menu_page(request, user, channel_id)


@router.post("/settings/channels/{channel_id}/menu")
async def menu_add(request: Request, channel_id: int, user: Admin) -> Response:
    data = _item_data(await request.form())
    try:
        with write(request, user) as session:
            siblings = list_menu_items(
                session, company_id=user.company_id, channel_id=channel_id,
                parent_id=data["parent_id"], only_parent=True,
            )  # fmt: skip
            data["position"] = max((s.position for s in siblings), default=-1) + 1  # the last
            create_menu_item(session, company_id=user.company_id, channel_id=channel_id, data=data)
    except DomainError as exc:
        errors = sentences(user, exc, data)
        return _menu_page(request, user, channel_id, errors=errors, values=data)
    return redirect(f"/settings/channels/{channel_id}/menu")


@router.get("/settings/channels/{channel_id}/menu/{item_id}")
def menu_edit_page(request: Request, channel_id: int, item_id: int, user: Admin) -> Response:
    return _menu_page(request, user, channel_id, editing=item_id)


def _own_item(request: Request, user: PanelUser, channel_id: int, item_id: int) -> None:
    """404 unless the item is on this channel (of the user's company)."""
    with runtime_of(request).db.reading() as session:
        item = get_menu_item(session, company_id=user.company_id, item_id=item_id)
        if item.channel_id != channel_id:
            raise NotFound("Menu item not found")


@router.post("/settings/channels/{channel_id}/menu/{item_id}")
async def menu_edit(request: Request, channel_id: int, item_id: int, user: Admin) -> Response:
    _own_item(request, user, channel_id, item_id)
    data = _item_data(await request.form())
    try:
        with write(request, user) as session:
            update_menu_item(session, company_id=user.company_id, item_id=item_id, data=data)
    except DomainError as exc:
        errors = sentences(user, exc, data)
        return _menu_page(request, user, channel_id, editing=item_id, errors=errors, values=data)
    return redirect(f"/settings/channels/{channel_id}/menu#item-{item_id}")


@router.post("/settings/channels/{channel_id}/menu/{item_id}/move")
async def menu_move(request: Request, channel_id: int, item_id: int, user: Admin) -> Response:
    _own_item(request, user, channel_id, item_id)
    offset = -1 if text(await request.form(), "direction") == "up" else 1
    with write(request, user) as session:
        move_menu_item(session, company_id=user.company_id, item_id=item_id, offset=offset)
    return redirect(f"/settings/channels/{channel_id}/menu#item-{item_id}")


@router.post("/settings/channels/{channel_id}/menu/{item_id}/delete")
def menu_delete(request: Request, channel_id: int, item_id: int, user: Admin) -> Response:
    _own_item(request, user, channel_id, item_id)
    with write(request, user) as session:
        delete_menu_item(session, company_id=user.company_id, item_id=item_id)
    return redirect(f"/settings/channels/{channel_id}/menu")
