"""What the automation pages share: the translated names of the fields a refusal may name,
the refusal as a sentence, reading a form's values, the redirect after a save."""

from __future__ import annotations

from typing import Any

from fastapi.responses import RedirectResponse, Response

from atendo.core.errors import DomainError
from atendo.panel.auth import PanelUser
from atendo.panel.i18n import translations

DAYS = (1, 2, 3, 4, 5, 6, 7)


def day_names(user: PanelUser) -> dict[int, str]:
    _ = translations(user.language).gettext
    return {1: _("Monday"), 2: _("Tuesday"), 3: _("Wednesday"), 4: _("Thursday"),
            5: _("Friday"), 6: _("Saturday"), 7: _("Sunday")}  # fmt: skip


def labels(user: PanelUser) -> dict[str, str]:
    """The translated name of every field a refusal may name."""
    _ = translations(user.language).gettext
    return {
        "working_hours": _("Working hours"),
        "timezone": _("Time zone"),
        "week": _("Weekly schedule"),
        "holidays": _("Holidays"),
        "greetings": _("Greetings"),
        "min_interval_hours": _("At most one per client every (hours)"),
        "menu": _("Self-service menu"),
        "end_word": _("End word"),
        "timeout_minutes": _("Timeout (minutes)"),
        "default_group_id": _("Default group"),
        "auto_close": _("Auto-close"),
        "after_hours": _("Close after (hours without a client message)"),
        "command": _("Command"),
        "name": _("Name"),
        "parent_id": _("Under"),
        "url": _("URL"),
        "image": _("Reply file (its URL)"),
        "assign_group_id": _("Assign to group"),
        "tag_id": _("Tag"),
        "question": _("Question"),
        "scale": _("Scale"),
        "channel_ids": _("Channels"),
        "tag_ids": _("Trigger tags"),
    }


def field_names(user: PanelUser, exc: DomainError) -> list[str]:
    """The translated names of the fields a refusal names, the most precise part of each."""
    names_by_key = labels(user)
    names: list[str] = []
    for key in exc.errors or {}:  # "greetings.x" → "x"
        label = next((names_by_key[p] for p in reversed(key.split(".")) if p in names_by_key), None)
        if label and label not in names:
            names.append(label)
    return names


def refusal(user: PanelUser, exc: DomainError) -> str:
    """'The change was not saved. Check: …' naming the fields."""
    _ = translations(user.language).gettext
    names = field_names(user, exc)
    if not names:
        return _("The change was not saved: a value is not valid.")
    return _("The change was not saved. Check: %(fields)s.") % {"fields": ", ".join(names)}


def refusals(user: PanelUser, sentences: list[str], exc: DomainError | None) -> list[str]:
    """Sentences about precise problems, headed by 'not saved', with the other fields named."""
    _ = translations(user.language).gettext
    if not sentences:
        return [refusal(user, exc)] if exc is not None else []
    out = [_("The change was not saved."), *sentences]
    names = field_names(user, exc) if exc is not None else []
    if names:
        out.append(_("Check also: %(fields)s.") % {"fields": ", ".join(names)})
    return out


def text(form: Any, key: str) -> str:
    value = form.get(key)
    return value.strip() if isinstance(value, str) else ""


def texts(form: Any, key: str) -> list[str]:
    return [v.strip() if isinstance(v, str) else "" for v in form.getlist(key)]


def redirect(url: str) -> Response:
    return RedirectResponse(url, status_code=303)
