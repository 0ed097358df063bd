"""The domain: one folder per context (models, service functions). No web, no transports.

Importing it installs the check of text lengths against the columns on every row written
(:mod:`atendo.core.lengths`): SQLite and PostgreSQL refuse the same values."""

from atendo.core import lengths

__all__ = ["lengths"]
