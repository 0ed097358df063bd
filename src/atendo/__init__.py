"""Atendo: an open-source omnichannel customer-service platform, e-mail first."""

__version__ = "0.1.0"
