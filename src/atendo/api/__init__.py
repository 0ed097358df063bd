"""The REST API, compatible with Chat2Desk's public API v1: thin routers over core services."""
