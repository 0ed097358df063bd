"""The panel's signed-in clients, for the settings pages' tests."""

from tests.panel.conftest import panel_app, signin  # noqa: F401 (fixtures)
