"""The widget's own small catalog: every word a visitor reads, in pt-BR, en and es.

The texts live in ``locale/<lang>/LC_MESSAGES/widget.po`` (source strings are English); the
frame gets the ones of its language as JSON. The language is the site page's ``lang``, else
the browser's, else pt-BR.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

from babel.messages.pofile import read_po

LOCALE_DIR = Path(__file__).parent / "locale"
# Widget language (BCP 47, as sites write it) → catalog folder.
FOLDERS = {"pt-BR": "pt_BR", "en": "en", "es": "es"}
DEFAULT = "pt-BR"

KEYS: dict[str, str] = {
    "launcher": "Chat with us",
    "title": "Chat",
    "greeting": "Hello! How can we help you?",
    "waiting": "Waiting for an agent…",
    "assigned": "%(name)s is answering you",
    "placeholder": "Type a message…",
    "send": "Send",
    "attach": "Attach a file",
    "close": "Close the chat",
    "you": "You",
    "agent": "Agent",
    "name": "Your name",
    "email": "Your e-mail",
    "phone": "Your phone",
    "optional": "optional",
    "start": "Start the chat",
    "required": "Please fill this in.",
    "bad_email": "This e-mail address does not look right.",
    "bad_phone": "This phone number does not look right.",
    "offline": "No one is online right now. Leave a message and we will answer by e-mail.",
    "offline_send": "Leave a message",
    "offline_done": "Thank you! We will answer at %(email)s.",
    "message": "Your message",
    "typing": "%(name)s is typing…",
    "typing_anon": "Typing…",
    "delivered": "Delivered",
    "read": "Read",
    "sending": "Sending…",
    "reconnecting": "Connection lost. Reconnecting…",
    "rate_messages": "You are sending messages too fast. Wait a minute and try again.",
    "rate_chats": "Too many new conversations from your network. Try again later.",
    "too_long": "The message is too long.",
    "too_big": "The file is too large (at most %(size)s).",
    "no_uploads": "Files cannot be sent in this chat.",
    "upload_failed": "The file could not be sent.",
    "drop": "Drop the file to send it",
    "refused": "This chat cannot be used on this site.",
    "failed": "Something went wrong. Please try again.",
    "identity_refused": "We could not confirm who you are; you are chatting as a guest.",
    "consent": "I agree",
}


def language_of(wanted: str) -> str:
    """The widget language for a page ``lang`` or an Accept-Language value."""
    for part in (wanted or "").replace(";", ",").split(","):
        tag = part.strip().lower()
        if not tag or tag.startswith("q="):
            continue
        if tag.startswith("pt"):
            return "pt-BR"
        if tag.startswith("en"):
            return "en"
        if tag.startswith("es"):
            return "es"
    return DEFAULT


@cache
def catalog(language: str) -> dict[str, str]:
    folder = FOLDERS.get(language, FOLDERS[DEFAULT])
    with (LOCALE_DIR / folder / "LC_MESSAGES" / "widget.po").open("rb") as fp:
        found = {str(m.id): str(m.string) for m in read_po(fp) if m.id and m.string}
    return found


def texts(language: str) -> dict[str, str]:
    """Every key's text in ``language`` (the English source when a catalog misses one)."""
    tr = catalog(language)
    return {key: tr.get(source, source) for key, source in KEYS.items()}
