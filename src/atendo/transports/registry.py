"""The transports Atendo knows, by name: the only way the edges reach an adapter.

The built-in transports (e-mail, external, widget) register on first use; a plug-in or a test
registers its own with :func:`register`. ``get`` answers 422 for a name nobody registered
(an API caller's ``transport`` is user input).
"""

from __future__ import annotations

from atendo.core.errors import Invalid
from atendo.transports.base import Transport

_TRANSPORTS: dict[str, Transport] = {}
_builtins_loaded = False


def _load_builtins() -> None:
    global _builtins_loaded
    if _builtins_loaded:
        return
    _builtins_loaded = True
    from atendo.transports.email.transport import EmailTransport
    from atendo.transports.external import ExternalTransport
    from atendo.transports.widget.transport import WidgetTransport

    for transport in (EmailTransport(), ExternalTransport(), WidgetTransport()):
        _TRANSPORTS.setdefault(transport.name, transport)


def register(transport: Transport) -> Transport:
    """Add (or replace) the transport under its name; returns it."""
    _load_builtins()
    if not transport.name:
        raise ValueError("a transport needs a name")
    _TRANSPORTS[transport.name] = transport
    return transport


def unregister(name: str) -> None:
    _TRANSPORTS.pop(name, None)


def get(name: str) -> Transport:
    _load_builtins()
    found = _TRANSPORTS.get(name)
    if found is None:
        raise Invalid(
            "unsupported transport",
            {"transport": ["unsupported transport"]},
            code="channel.unsupported_transport",
        )
    return found


def find(name: str) -> Transport | None:
    _load_builtins()
    return _TRANSPORTS.get(name)


def all_transports() -> list[Transport]:
    _load_builtins()
    return list(_TRANSPORTS.values())


def names() -> list[str]:
    return [t.name for t in all_transports()]
