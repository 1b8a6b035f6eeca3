"""Every test gets a fresh plugin host holding only the test plugins (and what it adds)."""

import os

import pytest
from click.testing import CliRunner

import engine.cli
import engine.models
import engine.plugins
from tests import plugins_for_tests


@pytest.fixture(autouse=True)
def host(monkeypatch):
    """A plugin host with the built-ins (entry points) and the test plugins registered."""
    for variable in ("ARTENGINE_LOAD_PLUGINS", "ARTENGINE_PLUGINS_DIR", "ARTENGINE_STRICT_PLUGINS", "ARTENGINE_DEBUG"):
        monkeypatch.delenv(variable, raising=False)
    fresh = engine.plugins.PluginHost()
    fresh.add(plugins_for_tests, name="test-plugins")
    monkeypatch.setattr(engine.plugins, "host", fresh)
    monkeypatch.setattr(engine.cli.ArtengineGroup, "_printed", 0)
    monkeypatch.setitem(engine.cli.DEBUG, "on", False)
    engine.models.clear_cache()
    return fresh


@pytest.fixture
def cli(tmp_path, monkeypatch):
    """Invoke `artengine ARGS...` in a temporary working directory; returns the click Result."""
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()

    def invoke(*args, **kwargs):
        return runner.invoke(engine.cli.cli, [str(a) for a in args], catch_exceptions=False, **kwargs)

    return invoke
