"""Domain errors. Each carries the HTTP status the edges should answer with."""

from __future__ import annotations


class DomainError(Exception):
    status_code = 400

    def __init__(self, message: str, errors: dict[str, list[str]] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.errors = errors or {}


class NotFound(DomainError):
    status_code = 404

    def __init__(self, message: str = "Page not found") -> None:
        super().__init__(message)


class Invalid(DomainError):
    status_code = 422


class Conflict(DomainError):
    status_code = 409


class Forbidden(DomainError):
    status_code = 403
