"""The operator panel: server-rendered Jinja2 + HTMX over the same services as the API.

Map:

* :func:`mount` (here) and :mod:`.app` mount the routers, the static files and the panel's
  error pages onto the FastAPI app (called from the composition root, ``atendo.server``).
* :mod:`.auth` -- the signed session cookie, the per-session CSRF token (checked on every
  unsafe request: form field ``csrf`` or header ``X-CSRF-Token`` set by ``hx-headers`` on
  ``<body>``), login throttling, and the ``current operator`` dependency with role checks.
* :mod:`.i18n` -- Babel catalogs (pt-BR default, English), compiled in memory at import;
  dates in the operator's own time zone.
* :mod:`.render` -- the Jinja2 environment and ``render()``.
* :mod:`.live` -- Server-Sent Events: polls the ``events`` table for the operator's company
  (so it works across processes) and tells the page to refresh the list and the dialog.
* ``routes/`` -- one module per screen: sign-in, chats, the dialog, new chat, client card,
  settings, attachments.

The edge owns the transaction: each view opens ``runtime.db.transaction()`` (or ``reading()``)
and calls named services; nothing here writes a model attribute by hand.
"""

from __future__ import annotations

from fastapi import FastAPI


def mount(app: FastAPI) -> None:
    """Include the panel in the whole app (called by the composition root, atendo.server)."""
    from atendo.panel.app import install_panel

    install_panel(app)
