"""Settings: Contas e Canais (connect, configure, signatures, reconnect), operators and
groups, tags, reply templates, the block list, API token and webhooks.

Admins see everything; supervisors may manage tags, templates and the block list; operators
get 403 on every page here.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from sqlalchemy import func, select

from atendo.core.channels.service import (
    delete_channel,
    disable_channel,
    enable_channel,
    get_channel,
    get_signatures,
    list_channels,
    request_reconnect,
)
from atendo.core.channels.signatures import save_signatures
from atendo.core.clients.service import block, list_blocks, unblock
from atendo.core.companies.service import regenerate_token
from atendo.core.dialogs.models import Dialog
from atendo.core.enums import Role
from atendo.core.errors import DomainError, Invalid
from atendo.core.messages.service import list_messages
from atendo.core.operators.service import (
    create_group,
    create_operator,
    delete_group,
    list_groups,
    list_operators,
    remove_group_member,
    set_group_member,
    update_group,
    update_operator,
)
from atendo.core.tags.service import (
    create_tag,
    delete_tag,
    group_names,
    list_tags,
    tag_uses,
    update_tag,
)
from atendo.core.templates.service import (
    create_template,
    delete_template,
    fill_template,
    list_templates,
    update_template,
)
from atendo.core.webhooks.models import Webhook
from atendo.kit.db import get_scoped
from atendo.kit.pagination import Page
from atendo.panel.auth import PanelUser, admin_user, runtime_of, supervisor_user, write
from atendo.panel.model_form import LANGUAGES as MODEL_LANGUAGES
from atendo.panel.model_form import form_data, form_fields, form_values, model_defaults
from atendo.panel.render import _t, render, say
from atendo.panel.routes.oauth import oauth_notice
from atendo.transports import registry
from atendo.transports.base import Transport

router = APIRouter()
Admin = Annotated[PanelUser, Depends(admin_user)]
Supervisor = Annotated[PanelUser, Depends(supervisor_user)]


def _form_transport(name: str | None = None) -> Transport:
    """The transport whose settings form is shown: the channel's (or the one chosen under
    "New channel"), else the first registered one with a template of its own (e-mail). A
    transport without a template gets a form built from its settings model."""
    if name:
        return registry.get(name)
    return next(t for t in registry.all_transports() if t.settings_template)


def _hx_redirect(request: Request, url: str) -> Response:
    if request.headers.get("hx-request"):
        return Response(status_code=204, headers={"HX-Redirect": url})
    return RedirectResponse(url, status_code=303)


@router.get("/settings")
def settings_home(request: Request, user: Supervisor) -> Response:
    return RedirectResponse(
        "/settings/channels" if user.is_admin else "/settings/tags", status_code=303
    )


# --- Contas e Canais -----------------------------------------------------------------------


@router.get("/settings/channels")
def channels_page(request: Request, user: Admin) -> Response:
    with runtime_of(request).db.reading() as session:
        channels, _total = list_channels(session, company_id=user.company_id)
    groups: dict[str, list[Any]] = {}
    for channel in channels:
        groups.setdefault(channel.transport, []).append(channel)
    kinds = [t.name for t in registry.all_transports() if not t.settings_template]
    return render(
        request,
        "settings/channels.html",
        {
            "groups": groups,
            "section": "channels",
            "kinds": kinds,
            "oauth": oauth_notice(request),  # a Google/Microsoft sign-in that came back
        },
    )


async def _channel_data(request: Request, transport: Transport) -> dict[str, Any]:
    """The transport's fields from the form: switches (its boolean settings, and
    ``write_first``) are on or off; other fields count when filled in."""
    form = await request.form()
    if not transport.settings_template:
        built = form_data(transport.settings_model, form, transport.secret_fields)
        name = form.get("name")
        if isinstance(name, str) and name.strip():
            built["name"] = name.strip()
        return built
    model = transport.settings_model.model_fields
    switches = {"write_first"} | {k for k, f in model.items() if f.annotation in (bool, "bool")}
    data: dict[str, Any] = {}
    for key in sorted(transport.accepted_fields() - {"transport"}):
        if key in switches:
            data[key] = form.get(key) == "on"
            continue
        value = form.get(key)
        if isinstance(value, str) and value.strip():
            data[key] = value if key in transport.secret_fields else value.strip()
    return data


def _channel_form(
    request: Request,
    *,
    channel: Any = None,
    values: dict[str, Any] | None = None,
    errors: dict[str, list[str]] | None = None,
    message: str = "",
    status: int = 200,
    transport_name: str | None = None,
) -> Response:
    if values is None and transport_name and channel is None:
        values = {
            **model_defaults(registry.get(transport_name).settings_model),
            "write_first": True,
        }
    if values is None:
        values = dict(channel.settings) if channel is not None else {
            "imap_security": "ssl", "smtp_security": "starttls", "send_delay": 15,
            "import_days": 3, "write_first": True, "copy_to_sent": True, "tls_verify": True,
        }  # fmt: skip
        if channel is not None:
            values["name"] = channel.name
            values["write_first"] = channel.write_first
    transport = _form_transport(channel.transport if channel is not None else transport_name)
    # secrets are never shown back
    values = {k: v for k, v in values.items() if k not in transport.secret_fields}
    if not transport.settings_template:
        return _model_form(
            request, transport, channel=channel, values=values, errors=errors or {},
            message=message, status=status,
        )  # fmt: skip
    return render(
        request,
        transport.settings_template or "settings/channel_form.html",
        {
            "channel": channel,
            "values": values,
            "errors": errors or {},
            "message": message,
            "section": "channels",
            "tab": "config",
            "oauth_setup": transport.oauth_setup(runtime_of(request)),
        },
        status_code=status,
    )


def _model_form(
    request: Request,
    transport: Transport,
    *,
    channel: Any,
    values: dict[str, Any],
    errors: dict[str, list[str]],
    message: str,
    status: int,
) -> Response:
    """The form built from the transport's settings model (see :mod:`atendo.panel.model_form`)."""
    user: PanelUser = request.state.user
    with runtime_of(request).db.reading() as session:
        channels, _total = list_channels(session, company_id=user.company_id)
    fields = form_fields(transport.settings_model)
    wanted = {f.transport for f in fields if f.kind == "channel"}
    options = {name: [(c.id, c.name) for c in channels if c.transport == name] for name in wanted}
    shown = form_values(values)
    details = transport.channel_fields(channel) if channel is not None else {}
    return render(
        request,
        "settings/channel_model_form.html",
        {
            "channel": channel,
            "transport": transport,
            "fields": fields,
            "values": shown,
            "options": options,
            "model_languages": MODEL_LANGUAGES,
            "snippet": details.get("snippet", ""),
            "errors": errors,
            "message": message,
            "section": "channels",
            "tab": "config",
        },
        status_code=status,
    )


@router.get("/settings/channels/new")
def channel_new(request: Request, user: Admin, transport: str = "") -> Response:
    if transport and registry.find(transport) is None:
        transport = ""
    return _channel_form(request, transport_name=transport or None)


@router.get("/settings/channels/discover")
async def channel_discover(
    request: Request, user: Admin, email: str = "", transport: str = "email"
) -> Response:
    """The servers the address likely uses, for the form to fill in (JSON; 204 when none)."""
    found = None
    chosen = registry.find(transport)
    if chosen is not None and 3 <= len(email) <= 320:
        try:
            found = await chosen.discover(runtime_of(request), email)
        except DomainError:
            found = None
    if found is None:
        return Response(status_code=204)
    return JSONResponse(found)


@router.post("/settings/channels/new")
async def channel_create(request: Request, user: Admin) -> Response:
    chosen = (await request.form()).get("transport")
    name = chosen if isinstance(chosen, str) and registry.find(chosen) is not None else None
    transport = _form_transport(name)
    data = await _channel_data(request, transport)
    try:
        channel = await transport.connect(
            runtime_of(request), company_id=user.company_id, data=data
        )
    except DomainError as exc:
        return _channel_form(
            request,
            values=data,
            errors=exc.errors or {},
            message=say(request, exc),
            status=422,
            transport_name=name,
        )
    if not transport.settings_template:  # its page shows what to do next (the snippet)
        return _hx_redirect(request, f"/settings/channels/{channel.id}?created=1")
    return _hx_redirect(request, f"/settings/channels?connected={channel.id}")


@router.get("/settings/channels/{channel_id}")
def channel_edit(request: Request, channel_id: int, user: Admin) -> Response:
    with runtime_of(request).db.reading() as session:
        channel = get_channel(session, company_id=user.company_id, channel_id=channel_id)
    return _channel_form(request, channel=channel)


@router.post("/settings/channels/{channel_id}")
async def channel_update(request: Request, channel_id: int, user: Admin) -> Response:
    runtime = runtime_of(request)
    with runtime.db.reading() as session:
        channel = get_channel(session, company_id=user.company_id, channel_id=channel_id)
    transport = _form_transport(channel.transport)
    data = await _channel_data(request, transport)
    try:
        channel = await transport.update(
            runtime, company_id=user.company_id, channel_id=channel_id, data=data
        )
    except DomainError as exc:
        return _channel_form(
            request,
            channel=channel,
            values=data,
            errors=exc.errors or {},
            message=say(request, exc),
            status=422,
        )
    return _hx_redirect(request, f"/settings/channels?connected={channel.id}")


@router.post("/settings/channels/{channel_id}/disable")
def channel_disable(request: Request, channel_id: int, user: Admin) -> Response:
    with write(request, user) as session:
        disable_channel(session, company_id=user.company_id, channel_id=channel_id)
    return _hx_redirect(request, "/settings/channels")


@router.post("/settings/channels/{channel_id}/enable")
def channel_enable(request: Request, channel_id: int, user: Admin) -> Response:
    with write(request, user) as session:
        enable_channel(session, company_id=user.company_id, channel_id=channel_id)
    return _hx_redirect(request, "/settings/channels")


@router.post("/settings/channels/{channel_id}/delete")
def channel_delete(request: Request, channel_id: int, user: Admin) -> Response:
    with write(request, user) as session:
        delete_channel(session, company_id=user.company_id, channel_id=channel_id)
    return _hx_redirect(request, "/settings/channels")


@router.post("/settings/channels/{channel_id}/reconnect")
def channel_reconnect(request: Request, channel_id: int, user: Admin) -> Response:
    with write(request, user) as session:
        request_reconnect(session, company_id=user.company_id, channel_id=channel_id)
    return _hx_redirect(request, "/settings/channels")


@router.get("/settings/channels/{channel_id}/signatures")
def signatures_page(
    request: Request, channel_id: int, user: Admin, saved: bool = False
) -> Response:
    operator_param = request.query_params.get("operator_id", "")
    with runtime_of(request).db.reading() as session:
        channel = get_channel(session, company_id=user.company_id, channel_id=channel_id)
        signatures = get_signatures(session, channel=channel)
        operators, _n = list_operators(session, company_id=user.company_id, page=Page(200, 0))
    selected = int(operator_param) if operator_param.isdigit() else user.id
    return render(
        request,
        "settings/signatures.html",
        {
            "channel": channel,
            "signatures": signatures,
            "operators": operators,
            "selected": selected,
            "operator_text": signatures["operators"].get(str(selected), ""),
            "section": "channels",
            "tab": "signatures",
            "saved": saved,
            "errors": {},
        },
    )


@router.post("/settings/channels/{channel_id}/signatures")
def signatures_save(
    request: Request,
    channel_id: int,
    user: Admin,
    operator_id: Annotated[int, Form()],
    operator_text: Annotated[str, Form()] = "",
    general: Annotated[str, Form()] = "",
    operators_enabled: Annotated[str, Form()] = "",
    general_enabled: Annotated[str, Form()] = "",
) -> Response:
    with write(request, user) as session:
        channel = get_channel(session, company_id=user.company_id, channel_id=channel_id)
        save_signatures(
            session,
            channel=channel,
            operators_enabled=operators_enabled == "on",
            general_enabled=general_enabled == "on",
            general=general,
            operators={str(operator_id): operator_text},
        )
    return RedirectResponse(
        f"/settings/channels/{channel_id}/signatures?operator_id={operator_id}&saved=1",
        status_code=303,
    )


# --- Operadores e grupos -------------------------------------------------------------------


def _operators_page(
    request: Request,
    user: PanelUser,
    error: str = "",
    values: dict[str, str] | None = None,
    status: int = 422,
) -> Response:
    with runtime_of(request).db.reading() as session:
        operators, _n = list_operators(session, company_id=user.company_id, page=Page(200, 0))
        groups = list_groups(session, company_id=user.company_id)
        in_group = {
            g.id: session.scalar(
                select(func.count())
                .select_from(Dialog)
                .where(Dialog.company_id == user.company_id, Dialog.group_id == g.id)
            )
            or 0
            for g, _members in groups
        }
    names = {o.id: o.full_name for o in operators}
    return render(
        request,
        "settings/operators.html",
        {
            "operators": operators,
            "groups": groups,
            "in_group": in_group,
            "names": names,
            "roles": [r.value for r in Role],
            "error": error,
            "values": values or {},
            "section": "operators",
        },
        status_code=status if error else 200,
    )


@router.get("/settings/operators")
def operators_page(request: Request, user: Admin) -> Response:
    return _operators_page(request, user)


@router.post("/settings/operators")
def operator_create(
    request: Request,
    user: Admin,
    email: Annotated[str, Form()] = "",
    password: Annotated[str, Form()] = "",
    name: Annotated[str, Form()] = "",
    role: Annotated[str, Form()] = "operator",
) -> Response:
    first, _sep, last = name.strip().partition(" ")
    try:
        with write(request, user) as session:
            create_operator(
                session,
                company_id=user.company_id,
                email=email,
                password=password,
                role=Role(role) if role in Role.__members__.values() else Role.OPERATOR,
                first_name=first,
                last_name=last,
            )
    except DomainError as exc:
        values = {"name": name, "email": email, "role": role}
        return _operators_page(request, user, say(request, exc), values, status=exc.status_code)
    return RedirectResponse("/settings/operators", status_code=303)


@router.post("/settings/operators/{operator_id}/role")
def operator_role(
    request: Request, operator_id: int, user: Admin, role: Annotated[str, Form()] = ""
) -> Response:
    if role in [r.value for r in Role] and operator_id != user.id:
        try:
            with write(request, user) as session:
                update_operator(
                    session, company_id=user.company_id, operator_id=operator_id, role=Role(role)
                )
        except DomainError as exc:
            return _operators_page(request, user, say(request, exc), status=exc.status_code)
    return RedirectResponse("/settings/operators", status_code=303)


@router.post("/settings/operators/{operator_id}")
def operator_update(
    request: Request,
    operator_id: int,
    user: Admin,
    name: Annotated[str, Form()] = "",
    password: Annotated[str, Form()] = "",
) -> Response:
    """Rename, and with a password filled in, reset it (their sessions end)."""
    first, _sep, last = name.strip().partition(" ")
    try:
        with write(request, user) as session:
            update_operator(
                session,
                company_id=user.company_id,
                operator_id=operator_id,
                first_name=first if name.strip() else None,
                last_name=last if name.strip() else None,
                password=password or None,
            )
    except DomainError as exc:
        return _operators_page(request, user, say(request, exc), status=exc.status_code)
    return RedirectResponse("/settings/operators", status_code=303)


@router.post("/settings/groups")
def group_create(request: Request, user: Admin, name: Annotated[str, Form()] = "") -> Response:
    try:
        with write(request, user) as session:
            create_group(session, company_id=user.company_id, name=name)
    except DomainError as exc:
        return _operators_page(
            request, user, say(request, exc), {"group": name}, status=exc.status_code
        )
    return RedirectResponse("/settings/operators", status_code=303)


@router.post("/settings/groups/{group_id}")
def group_rename(
    request: Request, group_id: int, user: Admin, name: Annotated[str, Form()] = ""
) -> Response:
    try:
        with write(request, user) as session:
            update_group(session, company_id=user.company_id, group_id=group_id, name=name)
    except DomainError as exc:
        return _operators_page(request, user, say(request, exc), status=exc.status_code)
    return RedirectResponse("/settings/operators", status_code=303)


@router.post("/settings/groups/{group_id}/delete")
def group_delete(request: Request, group_id: int, user: Admin) -> Response:
    with write(request, user) as session:
        delete_group(session, company_id=user.company_id, group_id=group_id)
    return RedirectResponse("/settings/operators", status_code=303)


@router.post("/settings/groups/{group_id}/members")
def group_member(
    request: Request,
    group_id: int,
    user: Admin,
    operator_id: Annotated[str, Form()] = "",
    skill: Annotated[str, Form()] = "50",
) -> Response:
    try:
        if not operator_id.isdigit() or not skill.strip().isdigit():
            raise Invalid("Skill must be between 1 and 100", code="operator.invalid_skill")
        with write(request, user) as session:
            set_group_member(
                session,
                company_id=user.company_id,
                group_id=group_id,
                operator_id=int(operator_id),
                skill=int(skill),
            )
    except DomainError as exc:
        return _operators_page(request, user, say(request, exc), status=exc.status_code)
    return RedirectResponse("/settings/operators", status_code=303)


@router.post("/settings/groups/{group_id}/members/{operator_id}/delete")
def group_member_remove(request: Request, group_id: int, operator_id: int, user: Admin) -> Response:
    with write(request, user) as session:
        remove_group_member(
            session, company_id=user.company_id, group_id=group_id, operator_id=operator_id
        )
    return RedirectResponse("/settings/operators", status_code=303)


# --- Tags, Modelos de respostas, Lista de bloqueios -------------------------------------------


def _tags_page(
    request: Request,
    user: PanelUser,
    error: str = "",
    values: dict[str, str] | None = None,
    status: int = 422,
) -> Response:
    with runtime_of(request).db.reading() as session:
        tags, _n = list_tags(session, company_id=user.company_id, page=Page(500, 0))
        uses = {t.id: tag_uses(session, company_id=user.company_id, tag_id=t.id) for t in tags}
        groups = group_names(session, company_id=user.company_id)
    return render(
        request,
        "settings/tags.html",
        {
            "tags": tags,
            "uses": uses,
            "tag_groups": groups,
            "section": "tags",
            "error": error,
            "values": values or {},
        },
        status_code=status if error else 200,
    )


@router.get("/settings/tags")
def tags_page(request: Request, user: Supervisor) -> Response:
    return _tags_page(request, user)


@router.post("/settings/tags")
def tag_create(
    request: Request,
    user: Supervisor,
    label: Annotated[str, Form()] = "",
    bg_color: Annotated[str, Form()] = "#e0e7ff",
    text_color: Annotated[str, Form()] = "#1e1b4b",
) -> Response:
    try:
        with write(request, user) as session:
            create_tag(
                session,
                company_id=user.company_id,
                label=label,
                bg_color=_colour(bg_color, "#e0e7ff"),
                text_color=_colour(text_color, "#1e1b4b"),
            )
    except DomainError as exc:
        return _tags_page(
            request, user, say(request, exc), {"label": label}, status=exc.status_code
        )
    return RedirectResponse("/settings/tags", status_code=303)


def _colour(value: str, default: str) -> str:
    """The form's colour as given (the tags service refuses anything but a colour, with a
    sentence), the default when none was given."""
    return value.strip() or default


@router.post("/settings/tags/{tag_id}")
def tag_update(
    request: Request,
    tag_id: int,
    user: Supervisor,
    label: Annotated[str, Form()] = "",
    bg_color: Annotated[str, Form()] = "",
    text_color: Annotated[str, Form()] = "",
) -> Response:
    try:
        with write(request, user) as session:
            update_tag(
                session,
                company_id=user.company_id,
                tag_id=tag_id,
                label=label,
                bg_color=_colour(bg_color, "") or None,
                text_color=_colour(text_color, "") or None,
            )
    except DomainError as exc:
        return _tags_page(request, user, say(request, exc), status=exc.status_code)
    return RedirectResponse("/settings/tags", status_code=303)


@router.post("/settings/tags/{tag_id}/delete")
def tag_delete(request: Request, tag_id: int, user: Supervisor) -> Response:
    with write(request, user) as session:
        delete_tag(session, company_id=user.company_id, tag_id=tag_id)
    return RedirectResponse("/settings/tags", status_code=303)


def _templates_page(
    request: Request,
    user: PanelUser,
    error: str = "",
    values: dict[str, str] | None = None,
    status: int = 422,
) -> Response:
    with runtime_of(request).db.reading() as session:
        rows, _n = list_templates(session, company_id=user.company_id, page=Page(500, 0))
    sample = _t(request, "Maria Silva")
    previews = {
        t.id: fill_template(t.text, client_name=sample, operator_name=user.name) for t in rows
    }
    return render(
        request,
        "settings/templates.html",
        {
            "rows": rows,
            "previews": previews,
            "section": "templates",
            "error": error,
            "values": values or {},
        },
        status_code=status if error else 200,
    )


@router.get("/settings/templates")
def templates_page(request: Request, user: Supervisor) -> Response:
    return _templates_page(request, user)


@router.post("/settings/templates")
def template_create(
    request: Request,
    user: Supervisor,
    name: Annotated[str, Form()] = "",
    text: Annotated[str, Form()] = "",
    command: Annotated[str, Form()] = "",
) -> Response:
    try:
        with write(request, user) as session:
            create_template(
                session, company_id=user.company_id, name=name, text=text, command=command
            )
    except DomainError as exc:
        values = {"name": name, "text": text, "command": command}
        return _templates_page(request, user, say(request, exc), values, status=exc.status_code)
    return RedirectResponse("/settings/templates", status_code=303)


@router.post("/settings/templates/{template_id}")
def template_update(
    request: Request,
    template_id: int,
    user: Supervisor,
    name: Annotated[str, Form()] = "",
    text: Annotated[str, Form()] = "",
    command: Annotated[str, Form()] = "",
) -> Response:
    try:
        with write(request, user) as session:
            update_template(
                session,
                company_id=user.company_id,
                template_id=template_id,
                name=name,
                text=text,
                command=command,
            )
    except DomainError as exc:
        return _templates_page(request, user, say(request, exc), status=exc.status_code)
    return RedirectResponse("/settings/templates", status_code=303)


@router.post("/settings/templates/{template_id}/delete")
def template_delete(request: Request, template_id: int, user: Supervisor) -> Response:
    with write(request, user) as session:
        delete_template(session, company_id=user.company_id, template_id=template_id)
    return RedirectResponse("/settings/templates", status_code=303)


def _blocks_page(
    request: Request,
    user: PanelUser,
    error: str = "",
    values: dict[str, str] | None = None,
    status: int = 422,
) -> Response:
    from atendo.core.clients.models import Client

    with runtime_of(request).db.reading() as session:
        rows = list_blocks(session, company_id=user.company_id)
        names = {}
        for b in rows:
            if b.client_id is not None:
                client = get_scoped(session, Client, b.client_id, company_id=user.company_id)
                names[b.client_id] = (client.display_name if client else "") or f"#{b.client_id}"
    return render(
        request,
        "settings/blocks.html",
        {
            "rows": rows,
            "names": names,
            "section": "blocks",
            "error": error,
            "values": values or {},
        },
        status_code=status if error else 200,
    )


@router.get("/settings/blocks")
def blocks_page(request: Request, user: Supervisor) -> Response:
    return _blocks_page(request, user)


@router.post("/settings/blocks")
def block_add(
    request: Request,
    user: Supervisor,
    value: Annotated[str, Form()] = "",
    kind: Annotated[str, Form()] = "email",
    reason: Annotated[str, Form()] = "",
    until: Annotated[str, Form()] = "",
) -> Response:
    from atendo.panel.routes.clients import end_of_day

    values = {"value": value, "kind": kind, "reason": reason, "until": until}
    expires = end_of_day(until, user.timezone)
    if until and expires is None:
        return _blocks_page(request, user, _t(request, "Pick a valid date."), values)
    try:
        with write(request, user) as session:
            block(
                session,
                company_id=user.company_id,
                kind=kind if kind in ("email", "domain") else "email",
                value=value,
                reason=reason,
                expires_at=expires,
            )
    except DomainError as exc:
        return _blocks_page(request, user, say(request, exc), values, status=exc.status_code)
    return RedirectResponse("/settings/blocks", status_code=303)


@router.post("/settings/blocks/{entry_id}/delete")
def block_remove(request: Request, entry_id: int, user: Supervisor) -> Response:
    with write(request, user) as session:
        unblock(session, company_id=user.company_id, entry_id=entry_id)
    return RedirectResponse("/settings/blocks", status_code=303)


# --- API e webhooks ---------------------------------------------------------------------


def _api_page(request: Request, user: PanelUser, token: str = "") -> Response:
    with runtime_of(request).db.reading() as session:
        hooks = list(
            session.scalars(
                select(Webhook).where(Webhook.company_id == user.company_id).order_by(Webhook.id)
            )
        )
    return render(request, "settings/api.html", {"hooks": hooks, "token": token, "section": "api"})


@router.get("/settings/api")
def api_page(request: Request, user: Admin) -> Response:
    return _api_page(request, user)


@router.post("/settings/api/token")
def api_token(request: Request, user: Admin) -> Response:
    with write(request, user) as session:
        token = regenerate_token(session, company_id=user.company_id)
    return _api_page(request, user, token)  # shown once, never stored in clear


# --- hidden mail (admins) ---------------------------------------------------------------------

HIDDEN_PAGE = 50


@router.get("/settings/hidden")
def hidden_page(request: Request, user: Admin) -> Response:
    """Mail kept out of the chats (our own copies, blocked senders, unplaced bounces): each
    with why, and its original to download. Nothing stored is out of an admin's reach."""
    raw = request.query_params.get("offset", "")
    offset = int(raw) if raw.isdigit() else 0
    with runtime_of(request).db.reading() as session:
        rows, total = list_messages(
            session,
            company_id=user.company_id,
            page=Page(HIDDEN_PAGE, offset),
            only_hidden=True,
            order="desc",
        )
        channels = {c.id: c.name for c in list_channels(session, company_id=user.company_id)[0]}
    return render(
        request,
        "settings/hidden.html",
        {
            "rows": rows,
            "total": total,
            "offset": offset,
            "next_offset": offset + HIDDEN_PAGE if offset + HIDDEN_PAGE < total else None,
            "channels": channels,
            "section": "hidden",
        },
    )
