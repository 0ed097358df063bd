"""Every field of a parsed mail cut to its column before it reaches the database.

SQLite stores a 5,000-character name in a ``VARCHAR(300)`` without a word; PostgreSQL refuses
the whole INSERT, and the mail was lost on one database and kept on the other (issue 18). So
the parsed mail is bounded once, right after parsing and before any lookup or row: the columns
get shortened values, the raw message in the blob store keeps them whole (and the panel offers
it for download).

* names 300, addresses 320, subjects 1000, Message-IDs 998 characters (the columns);
* ``References``: the first :data:`REFERENCES_HEAD` and the last :data:`REFERENCES_TAIL` ids
  (the thread's root and its newest messages: what threading needs), so that a mail with
  40,000 ids cannot become one query with more parameters than PostgreSQL allows (65,535);
* at most :data:`MAX_ADDRESSES` To and Cc addresses each;
* a mail without a usable From (no headers at all, random bytes) gets a recognisable unknown
  sender, so it opens a dialog the operators can see (one whose parse failed is shown as
  "could not be read" with the original to download, as any unreadable mail);
* a mail over the stored message size (``ATENDO_MAX_MESSAGE_BYTES``) is read for its headers
  only (:func:`headers_only`): it threads and shows who sent it, its body and attachments stay
  in the raw message, and its ``parse_error`` says how big it was (``too_large``).
"""

from __future__ import annotations

from atendo.core.messages.limits import too_large_note
from atendo.transports.email.parse import Address, ParsedMail, parse_message

NAME = 300
ADDRESS = 320
SUBJECT = 1000
MESSAGE_ID = 998
REFERENCES_HEAD = 10
REFERENCES_TAIL = 40
MAX_ADDRESSES = 500
UNKNOWN_SENDER = "unknown-sender@atendo.invalid"  # RFC 2606: .invalid never resolves
# The headers of a mail too large to read are looked for in its first bytes only.
HEADER_SCAN = 256 * 1024


def _address(a: Address) -> Address:
    return Address(name=a.name[:NAME], email=a.email[:ADDRESS])


def bounded_id(value: str | None) -> str | None:
    return value[:MESSAGE_ID] if value else value


def bound_for_columns(parsed: ParsedMail) -> ParsedMail:
    """Cut ``parsed`` in place (and return it)."""
    if parsed.from_ is not None and parsed.from_.email:
        parsed.from_ = _address(parsed.from_)
    elif not parsed.is_bounce:
        parsed.from_ = Address(name="", email=UNKNOWN_SENDER)
    parsed.to = [_address(a) for a in parsed.to[:MAX_ADDRESSES]]
    parsed.cc = [_address(a) for a in parsed.cc[:MAX_ADDRESSES]]
    parsed.reply_to = [_address(a) for a in parsed.reply_to[:MAX_ADDRESSES]]
    parsed.subject = parsed.subject[:SUBJECT]
    parsed.message_id = bounded_id(parsed.message_id)
    parsed.in_reply_to = bounded_id(parsed.in_reply_to)
    refs = [r[:MESSAGE_ID] for r in parsed.references if r]
    if len(refs) > REFERENCES_HEAD + REFERENCES_TAIL:
        refs = refs[:REFERENCES_HEAD] + refs[-REFERENCES_TAIL:]
    parsed.references = refs
    parsed.bounce_original_message_id = bounded_id(parsed.bounce_original_message_id)
    parsed.bounce_recipients = [r[:ADDRESS] for r in parsed.bounce_recipients[:MAX_ADDRESSES]]
    return parsed


def headers_only(raw: bytes, *, limit: int) -> ParsedMail:
    """A mail of more than ``limit`` bytes, read for its header section only (at most
    :data:`HEADER_SCAN` bytes of it): sender, recipients, subject and threading, no body, no
    attachments, and a ``parse_error`` that says how big it was."""
    head = raw[:HEADER_SCAN]
    ends = [at for at in (head.find(b"\r\n\r\n"), head.find(b"\n\n")) if at >= 0]
    head = head[: min(ends)] if ends else head[: head.rfind(b"\n") + 1]
    parsed = parse_message(head + b"\r\n\r\n")
    parsed.text = parsed.full_text = parsed.quoted_text = parsed.signature = ""
    parsed.html = None
    parsed.attachments = []
    parsed.is_bounce = False  # its report, if it is one, is in the part not read
    parsed.parse_error = too_large_note(len(raw), limit)
    return parsed
