"""Where further routers are plugged into the app (one line each)."""

from __future__ import annotations

from fastapi import FastAPI


def register(app: FastAPI) -> None:
    """Include the routers of the subsystems built beside the core API."""
