"""MIME for an outgoing e-mail, built from the stored message row (RFC 5322 / 2045-2049).

The bytes are a pure function of the row and its attachments: the Date comes from the row, the
MIME boundaries are derived from the Message-ID, nothing random or clock-dependent goes in. A
resend after a crash or a 4xx therefore carries the very same Message-ID (receivers
deduplicate by it) and the same body.

Shape::

    multipart/mixed                      (only with file attachments)
      multipart/alternative
        text/plain                       text + "-- " + signature
        multipart/related                (only with inline images)
          text/html                      HTML + signature
          image/...  Content-ID: <cid>
      application/...                    attachments

Headers: From "Sender Name" <channel address>, To, Cc, Subject, Date, Message-ID,
In-Reply-To, References (folded; at most ``MAX_REFERENCES`` ids, keeping the first, the
thread's root, and the latest ones, as RFC 5322 §3.6.4 suggests), Reply-To when set,
``Auto-Submitted: auto-replied`` on automatic messages (RFC 3834), MIME-Version.
"""

from __future__ import annotations

import hashlib
import html as html_lib
from collections.abc import Sequence
from email import policy
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime

from atendo.channels.email.sanitize import text_to_html
from atendo.core.channels.models import Channel
from atendo.core.enums import MessageType
from atendo.core.messages.models import Attachment, Message

MAX_REFERENCES = 20
MAX_REFERENCES_CHARS = 900
SMTP_POLICY = policy.SMTP.clone(max_line_length=78)


def _bracket(mid: str) -> str:
    mid = mid.strip().strip("<>").strip()
    return f"<{mid}>"


def trim_references(ids: Sequence[str]) -> list[str]:
    """At most ``MAX_REFERENCES`` ids (and ~900 characters): the first plus the latest."""
    refs = [_bracket(r) for r in dict.fromkeys(i for i in ids if i and i.strip("<> "))]
    if len(refs) > MAX_REFERENCES:
        refs = refs[:1] + refs[-(MAX_REFERENCES - 1) :]
    while len(refs) > 2 and sum(len(r) + 1 for r in refs) > MAX_REFERENCES_CHARS:
        del refs[1]
    return refs


def _address(raw: str, name: str = "") -> Address:
    local, _, domain = raw.strip().rpartition("@")
    return Address(display_name=name, username=local, domain=domain)


def body_text(message: Message) -> str:
    text = message.text or ""
    if message.signature:
        text = f"{text.rstrip()}\n\n-- \n{message.signature}" if text.strip() else message.signature
    return text


def body_html(message: Message) -> str:
    html = message.html or text_to_html(message.text or "")
    if message.signature:
        html += (
            '\n<div class="atendo-signature"><br>-- <br>\n'
            + text_to_html(message.signature)
            + "</div>"
        )
    return (
        '<!DOCTYPE html>\n<html><head><meta charset="utf-8"><title>'
        + html_lib.escape(message.subject or "")
        + "</title></head><body>\n"
        + html
        + "\n</body></html>\n"
    )


def _split_type(content_type: str) -> tuple[str, str]:
    main, _, sub = (content_type or "").partition(";")[0].strip().lower().partition("/")
    if not main or not sub:
        return "application", "octet-stream"
    return main, sub


def build_mime(
    message: Message,
    *,
    channel: Channel,
    attachments: Sequence[tuple[Attachment, bytes]] = (),
) -> bytes:
    """The exact bytes to send for ``message`` (deterministic: same row, same bytes)."""
    settings = channel.settings or {}
    mid = message.email_message_id or ""
    msg = EmailMessage(policy=SMTP_POLICY)
    sender = message.from_email or str(settings.get("email") or "")
    msg["From"] = _address(sender, message.from_name or str(settings.get("sender_name") or ""))
    if message.to:
        msg["To"] = ", ".join(message.to)
    if message.cc:
        msg["Cc"] = ", ".join(message.cc)
    msg["Subject"] = message.subject or ""
    msg["Date"] = format_datetime(message.created)
    msg["Message-ID"] = _bracket(mid)
    if message.in_reply_to:
        msg["In-Reply-To"] = _bracket(message.in_reply_to)
    refs = trim_references(message.references or [])
    if refs:
        msg["References"] = " ".join(refs)
    reply_to = settings.get("reply_to")
    if reply_to:
        msg["Reply-To"] = str(reply_to)
    if message.type == MessageType.AUTOREPLY:
        msg["Auto-Submitted"] = "auto-replied"
    msg["X-Mailer"] = "Atendo"

    msg.set_content(body_text(message), subtype="plain", charset="utf-8")
    msg.add_alternative(body_html(message), subtype="html", charset="utf-8")
    inline = [(a, d) for a, d in attachments if a.inline and a.content_id]
    files = [(a, d) for a, d in attachments if not (a.inline and a.content_id)]
    if inline:
        html_part = next(p for p in msg.iter_parts() if p.get_content_type() == "text/html")
        assert isinstance(html_part, EmailMessage)
        for att, data in inline:
            main, sub = _split_type(att.content_type)
            html_part.add_related(
                data,
                maintype=main,
                subtype=sub,
                cid=_bracket(att.content_id or ""),
                filename=att.filename,
            )
    for att, data in files:
        main, sub = _split_type(att.content_type)
        if main == "text":
            msg.add_attachment(
                data, maintype="application", subtype="octet-stream", filename=att.filename
            )
        else:
            msg.add_attachment(data, maintype=main, subtype=sub, filename=att.filename)

    # Boundaries derived from the Message-ID: the bytes do not change between attempts.
    seed = hashlib.sha256(mid.encode()).hexdigest()[:24]
    for n, part in enumerate(msg.walk()):
        if part.is_multipart():
            part.set_boundary(f"=_atendo_{seed}_{n}")
    return msg.as_bytes(policy=SMTP_POLICY)
