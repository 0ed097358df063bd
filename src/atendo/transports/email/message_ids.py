"""Our own Message-IDs: unforgeable and recognisable (RFC 5322 §3.6.4).

Shape: ``<{token}.{mac}@{domain}>`` where ``token`` is 24 random hex digits and ``mac`` is
``SecretBox.mac(token)`` (a keyed HMAC of this installation). Only we can make an id that
verifies, so a reply that references one is a reply to our mail even when every other header
was lost, and mail *carrying* one as its own Message-ID is ours coming back (a loop).
"""

from __future__ import annotations

import hmac
import re
import secrets

from atendo.kit.crypto import SecretBox

_OURS = re.compile(r"^<?([0-9a-f]{24})\.([0-9a-f]+)@[^<>@\s]+>?$")


def make_message_id(box: SecretBox, domain: str) -> str:
    """A new Message-ID of ours, with angle brackets, e.g. ``<3f…a1.9c…04@example.com>``."""
    token = secrets.token_hex(12)
    return f"<{token}.{box.mac(token)}@{domain}>"


def is_our_message_id(box: SecretBox, mid: str | None) -> bool:
    """True when ``mid`` (with or without angle brackets) was made by :func:`make_message_id`."""
    if not mid:
        return False
    match = _OURS.match(mid.strip().lower())
    if match is None:
        return False
    token, mac = match.groups()
    return hmac.compare_digest(box.mac(token, length=len(mac)), mac) and len(mac) >= 16
