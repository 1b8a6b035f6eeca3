"""Every test gets a fresh plugin host holding only the test plugins (and what it adds)."""

import os

import pytest
from click.testing import CliRunner

import artengine.cli
import artengine.cli_group
import artengine.models
import artengine.discovery
from tests import plugins_for_tests

# Fixtures shared by several test modules live in helper modules (never named test_*.py) and are
# registered here, so no test module imports a fixture from another.
pytest_plugins = ("tests.dalle_helpers",)


@pytest.fixture(autouse=True)
def host(monkeypatch, tmp_path):
    """A fresh plugin host holding only the test plugins, and an empty user config folder.

    Installed plugins (the built-ins included) stay out, so that tests do not depend on what
    else is installed; use the `builtin_plugins` fixture to let them in. Nor does the config
    file of whoever runs the tests reach them.
    """
    for variable in ("ARTENGINE_LOAD_PLUGINS", "ARTENGINE_PLUGINS_DIR", "ARTENGINE_STRICT_PLUGINS",
                     "ARTENGINE_DEBUG", "ARTENGINE_TRUST_CHECKPOINTS", "ARTENGINE_PROGRESS"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("ARTENGINE_CONFIG_DIR", str(tmp_path / "user-config"))
    return use_host(monkeypatch, artengine.discovery.PluginHost(entry_points=False))


@pytest.fixture
def builtin_plugins(monkeypatch):
    """A fresh plugin host that also loads installed plugins (the built-ins among them)."""
    return use_host(monkeypatch, artengine.discovery.PluginHost())


def use_host(monkeypatch, fresh):
    fresh.add(plugins_for_tests, name="test-plugins")
    monkeypatch.setattr(artengine.discovery, "host", fresh)
    monkeypatch.setattr(artengine.cli_group.ArtengineGroup, "_printed", 0)
    monkeypatch.setitem(artengine.cli_group.DEBUG, "on", False)
    artengine.models.clear_cache()
    return fresh


@pytest.fixture
def cli(tmp_path, monkeypatch):
    """Invoke `artengine ARGS...` in a temporary working directory; returns the click Result."""
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()

    def invoke(*args, **kwargs):
        return runner.invoke(artengine.cli.cli, [str(a) for a in args], catch_exceptions=False, **kwargs)

    return invoke


@pytest.fixture(scope="module")
def one_thread():
    """torch on one thread for a module's tests: small models run faster so, above all on a
    shared machine where a second thread waits for a busy core."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture
def watchdog():
    """For tests of hostile input: a regression would block (a FIFO) or run away (/dev/zero),
    so the test fails after 60 s instead (`pytestmark = pytest.mark.usefixtures("watchdog")`)."""
    import signal

    def expire(signum, frame):
        raise TimeoutError("hung on hostile input")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.alarm(60)
    yield
    signal.alarm(0)
    signal.signal(signal.SIGALRM, previous)
