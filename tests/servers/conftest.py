"""Make the test-bed fixtures available to the self-tests in this folder.

The root ``tests/conftest.py`` registers ``tests.servers.fixtures`` as a plugin
(``pytest_plugins`` is only allowed in the root conftest). Importing the fixture functions here
by name as well would define them a second time -- and start a second session Dovecot. Instead
this registers the same plugin module, which pytest ignores when it is already registered, so
these tests also work without the root conftest.
"""

import pytest


def pytest_configure(config: pytest.Config) -> None:
    config.pluginmanager.import_plugin("tests.servers.fixtures")
