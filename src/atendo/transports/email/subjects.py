"""Subjects of outgoing e-mail: given, or derived from the thread.

A reply's subject is ``Re: `` + the *base* subject of the thread's last message that a person
wrote — ours, or the client's, but never an automatic reply ("Resposta automática: …",
out-of-office) nor a bounce ("Undelivered Mail Returned to Sender"): those carry the
machine's subject, not the conversation's. The base is the subject without the reply and
forward prefixes mail clients add in any language (``Re:``, ``RES:``, ``AW:``, ``SV:``,
``Antw:``, ``R:``, ``Enc:``, ``Fwd:``, ``TR:``, ``WG:`` …, with ``[2]`` counters and
full-width colons), so prefixes are normalised and never stacked (RFC 5322 §3.6.5 suggests
"Re: " once).

A dialog with nothing to derive from (a chat created without a message or a subject) has no
subject: :func:`derive_subject` answers ``""`` and the caller refuses to send without one.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

# Reply and forward prefixes: English, Portuguese, Spanish, German, Nordic, Dutch, Italian,
# French, Polish, Turkish, Finnish, Greek, Chinese… Longer words first so the alternation
# never stops at a shorter one ("res" before "re").
_PREFIX_WORDS = (
    "antwort", "antw", "odp", "rif", "réf", "ref", "res", "resp", "rv", "re", "aw", "sv", "vs",
    "ynt", "vá", "r", "enc", "fwd", "fw", "tr", "wg", "doorst", "továbbítás",
    "απ", "σχετ", "πρθ", "回复", "回覆", "转发", "轉寄",
)  # fmt: skip
_PREFIX = re.compile(
    r"^\s*(?:\[[^\]]{0,40}\]\s*)?"  # a list tag ("[suporte] Re: …") goes with the prefix
    r"(?:" + "|".join(sorted(map(re.escape, _PREFIX_WORDS), key=len, reverse=True)) + r")"
    r"\s*(?:\[\d+\]|\(\d+\))?\s*[:：]\s*",
    re.IGNORECASE,
)


def base_subject(subject: str) -> str:
    """The subject without any leading reply/forward prefixes, whitespace collapsed."""
    text = " ".join((subject or "").split())
    while True:
        stripped = _PREFIX.sub("", text, count=1)
        if stripped == text:
            return text
        text = stripped


def reply_subject(subject: str) -> str:
    """``Re: `` + the base subject; ``""`` when there is none."""
    base = base_subject(subject)
    return f"Re: {base}" if base else ""


def forward_subject(subject: str) -> str:
    base = base_subject(subject)
    return f"Fwd: {base}" if base else "Fwd:"


@dataclass(frozen=True)
class SubjectSource:
    """What the derivation needs of one message of the thread."""

    type: str  # MessageType value
    subject: str
    is_auto_reply: bool = False
    is_bounce: bool = False


_PERSON_WRITTEN = ("from_client", "to_client")


def derive_subject(thread: Iterable[SubjectSource], *, dialog_subject: str = "") -> str:
    """The subject for the next message: ``Re: `` + the last subject a person wrote; with no
    such message, the dialog's own subject as it is (the first mail of a chat created with
    one); ``""`` when there is nothing to derive from."""
    last = ""
    for m in thread:
        if m.type not in _PERSON_WRITTEN or m.is_auto_reply or m.is_bounce:
            continue
        if base_subject(m.subject):
            last = m.subject
    if last:
        return reply_subject(last)
    return " ".join((dialog_subject or "").split())
