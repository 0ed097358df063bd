"""POST /v1/messages/inbox: client messages injected into a channel whose transport takes them
(``accepts_inbox``: the external transport), through the core verb ``receive_client_message``."""

from __future__ import annotations

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse

from atendo.api.context import ApiContext, api_context
from atendo.api.envelope import ok
from atendo.api.params import to_integer
from atendo.api.routes.apidoc import Param, doc
from atendo.api.routes.shapes import MESSAGE, extend
from atendo.api.serializers import messages_out
from atendo.core.channels.service import get_channel
from atendo.core.clients.models import Client
from atendo.core.errors import Invalid
from atendo.core.lengths import column_length
from atendo.core.messages.inbound import Sender, receive_client_message
from atendo.core.messages.limits import check_message_size
from atendo.core.messages.models import Message
from atendo.transports import registry

router = APIRouter(tags=["messages"])

PHONE_MAX, NICKNAME_MAX = column_length(Client.phone), column_length(Client.name)
PHONE = "phone"  # the identity kind of an injected client
INJECTED = extend(MESSAGE, {"message_id": "integer"})


@router.post(
    "/v1/messages/inbox",
    **doc(
        "Inject a client message into an external channel",
        [
            Param("channel_id", "integer", "an external channel", required=True),
            Param("body", "string", "the message text", required=True),
            Param(
                "from_client",
                "object",
                "{id} or {phone, nickname}: exactly one of id or phone",
                required=True,
            ),
            Param(
                "external_id",
                "string",
                "the message's id in your system",
                max_length=column_length(Message.external_id),
            ),
        ],
        body=True,
        data=INJECTED,
        status=201,
    ),
)
def inbox(ctx: ApiContext = Depends(api_context)) -> JSONResponse:
    p = ctx.params
    channel_id = p.integer("channel_id")
    if channel_id is None:
        raise Invalid("channel_id is required", {"channel_id": ["required"]})
    sender = p.mapping("from_client")
    if sender is None:
        raise Invalid("from_client is required", {"from_client": ["required"]})
    raw_id = sender.get("id")
    client_id = to_integer("from_client.id", raw_id) if raw_id not in (None, "") else None
    phone = sender.get("phone")
    nickname = str(sender.get("nickname") or "")
    if len(str(phone or "")) > PHONE_MAX or len(nickname) > NICKNAME_MAX:
        reason = f"phone: at most {PHONE_MAX}, nickname: at most {NICKNAME_MAX} characters"
        raise Invalid("from_client is too long", {"from_client": [reason]})
    phone_text = str(phone).strip() if phone not in (None, "") else ""
    text = p.text("body") or p.text("text") or ""
    check_message_size(text=text, limit=ctx.runtime.settings.max_message_bytes)
    with ctx.write() as session:
        channel = get_channel(session, company_id=ctx.company_id, channel_id=channel_id)
        if not registry.get(channel.transport).accepts_inbox:
            raise Invalid(
                "channel_id must be an external channel",
                {"channel_id": ["not an external channel"]},
            )
        if (client_id is None) == (not phone_text):
            raise Invalid(
                "from_client needs exactly one of id or phone",
                {"from_client": ["exactly one of id or phone"]},
            )
        if not text.strip():
            raise Invalid("body is required", {"body": ["required"]})
        who = (
            Sender(client_id=client_id)
            if client_id is not None
            else Sender(kind=PHONE, address=phone_text, name=nickname)
        )
        message = receive_client_message(
            session, channel=channel, sender=who, text=text, external_id=p.text("external_id")
        ).message
        out = messages_out(session, [message])[0]
        return ok({"message_id": message.id, **out}, status_code=201)
