"""/v1/webhooks and the legacy single hook /v1/companies/web_hook."""

from __future__ import annotations

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse

from atendo.api.context import ApiContext, api_context
from atendo.api.envelope import ok
from atendo.api.params import Params
from atendo.api.routes.apidoc import Param, doc
from atendo.api.routes.shapes import DELETED, WEBHOOK, extend, obj
from atendo.core.lengths import column_length
from atendo.core.webhooks.models import Webhook
from atendo.core.webhooks.service import (
    LEGACY_NAME,
    WEBHOOK_EVENTS,
    create_webhook,
    delete_webhook,
    get_webhook,
    list_webhooks,
    update_webhook,
    webhook_by_name,
    webhook_payload,
)

router = APIRouter(tags=["webhooks"])

URL = Param(
    "url", "string", "http(s) URL receiving signed POSTs", max_length=column_length(Webhook.url)
)
EVENTS = Param(
    "events", "string[]", "events to receive (all when empty): " + ", ".join(WEBHOOK_EVENTS)
)
FIELDS = [
    Param("name", "string", "a name", max_length=column_length(Webhook.name)),
    EVENTS,
    Param("channels", "integer[]", "only events of these channels (all when empty)"),
]
WITH_SECRET = extend(WEBHOOK, {"secret": "string"})
LEGACY = obj({"url": "string?", "webhook": WEBHOOK}, optional=("webhook",))
LEGACY_SET = obj(
    {"url": "string?", "webhook": WEBHOOK, "secret": "string"}, optional=("webhook", "secret")
)


def _list_or_none(p: Params, key: str) -> list[str] | None:
    return [str(v) for v in p.items(key)] if p.has(key) else None


def _ints_or_none(p: Params, key: str) -> list[int] | None:
    return p.integers(key) if p.has(key) else None


@router.get("/v1/webhooks", **doc("The company's webhooks", data=WEBHOOK, listing=True))
def webhooks(ctx: ApiContext = Depends(api_context)) -> JSONResponse:
    with ctx.read() as session:
        data = [webhook_payload(h) for h in list_webhooks(session, company_id=ctx.company_id)]
    return ok(data, meta={"total": len(data), "limit": len(data), "offset": 0})


@router.post(
    "/v1/webhooks",
    **doc(
        "Create a webhook (at most 20); the answer carries its signing secret, shown once",
        [URL._replace(required=True), *FIELDS],
        body=True,
        data=WITH_SECRET,
        status=201,
    ),
)
def create(ctx: ApiContext = Depends(api_context)) -> JSONResponse:
    p = ctx.params
    with ctx.write() as session:
        hook, secret = create_webhook(
            session,
            company_id=ctx.company_id,
            url=p.text("url") or "",
            box=ctx.runtime.box,
            allow_private=ctx.runtime.settings.webhooks_allow_private_networks,
            ports=ctx.runtime.settings.webhook_ports,
            name=p.text("name") or "",
            events=p.items("events"),
            channels=p.integers("channels"),
        )
        return ok({**webhook_payload(hook), "secret": secret}, status_code=201)


@router.get("/v1/webhooks/{webhook_id}", **doc("One webhook, with its last errors", data=WEBHOOK))
def one(webhook_id: int, ctx: ApiContext = Depends(api_context)) -> JSONResponse:
    with ctx.read() as session:
        return ok(
            webhook_payload(get_webhook(session, company_id=ctx.company_id, webhook_id=webhook_id))
        )


@router.put(
    "/v1/webhooks/{webhook_id}",
    **doc(
        "Change a webhook; status=enabled switches a disabled one back on",
        [
            URL,
            *FIELDS,
            Param("status", "string", "enabled or disabled", choices=("enabled", "disabled")),
        ],
        body=True,
        data=WEBHOOK,
    ),
)
def change(webhook_id: int, ctx: ApiContext = Depends(api_context)) -> JSONResponse:
    p = ctx.params
    with ctx.write() as session:
        hook = update_webhook(
            session,
            company_id=ctx.company_id,
            webhook_id=webhook_id,
            allow_private=ctx.runtime.settings.webhooks_allow_private_networks,
            ports=ctx.runtime.settings.webhook_ports,
            url=p.text("url"),
            name=p.text("name"),
            events=_list_or_none(p, "events"),
            channels=_ints_or_none(p, "channels"),
            status=p.text("status"),
        )
        return ok(webhook_payload(hook))


@router.delete("/v1/webhooks/{webhook_id}", **doc("Delete a webhook", data=DELETED))
def delete(webhook_id: int, ctx: ApiContext = Depends(api_context)) -> JSONResponse:
    with ctx.write() as session:
        delete_webhook(session, company_id=ctx.company_id, webhook_id=webhook_id)
    return ok({"deleted": webhook_id})


@router.get(
    "/v1/companies/web_hook",
    **doc(
        'The legacy single webhook (the webhook named "default")',
        data=LEGACY,
    ),
)
def legacy_get(ctx: ApiContext = Depends(api_context)) -> JSONResponse:
    with ctx.read() as session:
        hook = webhook_by_name(session, company_id=ctx.company_id, name=LEGACY_NAME)
        return ok(
            {
                "url": hook.url if hook else None,
                **({"webhook": webhook_payload(hook)} if hook else {}),
            }
        )


@router.post(
    "/v1/companies/web_hook",
    **doc(
        "Set the legacy single webhook (an empty url removes it)",
        [URL._replace(text="the URL (an empty one removes the hook)"), EVENTS],
        body=True,
        data=LEGACY_SET,
    ),
)
def legacy_set(ctx: ApiContext = Depends(api_context)) -> JSONResponse:
    p = ctx.params
    url = (p.text("url") or "").strip()
    allow = ctx.runtime.settings.webhooks_allow_private_networks
    with ctx.write() as session:
        hook = webhook_by_name(session, company_id=ctx.company_id, name=LEGACY_NAME)
        if not url:
            if hook is not None:
                delete_webhook(session, company_id=ctx.company_id, webhook_id=hook.id)
            return ok({"url": None})
        secret = None
        if hook is None:
            hook, secret = create_webhook(
                session,
                company_id=ctx.company_id,
                url=url,
                box=ctx.runtime.box,
                allow_private=allow,
                ports=ctx.runtime.settings.webhook_ports,
                name=LEGACY_NAME,
                events=p.items("events"),
            )
        else:
            hook = update_webhook(
                session,
                company_id=ctx.company_id,
                webhook_id=hook.id,
                allow_private=allow,
                ports=ctx.runtime.settings.webhook_ports,
                url=url,
                events=_list_or_none(p, "events"),
                status="enabled",
            )
        data = {"url": hook.url, "webhook": webhook_payload(hook)}
        if secret:
            data["secret"] = secret
        return ok(data)
