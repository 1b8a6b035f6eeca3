"""Plugins meet the engine through its public API only (`artengine.__all__`), and each other only
through the registry; every public name is importable and documented."""

import ast
import re
import subprocess
import sys
from pathlib import Path

import pytest

import artengine

ROOT = Path(__file__).parent.parent
PLUGINS = ROOT / "plugins"
PLUGINS_DOC = (ROOT / "docs" / "plugins.md").read_text()
PUBLIC = set(artengine.__all__) | {"__version__"}


def problems(source: str, plugin: str, module: str) -> list[str]:
    """What in `source` (the module `module` of the built-in plugin `plugin`, dotted from
    `artengine.plugins`) reaches past the public API or into another plugin, one line each."""
    found = []

    def check(name: str, line: int, imported: list[str] = ()) -> None:
        parts = name.split(".")
        if parts[0] != "artengine":
            return
        if len(parts) == 1:
            found.extend(f"{line}: from artengine import {item} (not in artengine.__all__)"
                         for item in imported if item not in PUBLIC)
        elif parts[1] != "plugins":
            found.append(f"{line}: {name} (an engine internal; use artengine.__all__)")
        elif len(parts) == 2:
            found.extend(f"{line}: artengine.plugins.{item} (another plugin's module)"
                         for item in imported if item != plugin)
        elif parts[2] != plugin:
            found.append(f"{line}: {name} (another plugin's module; reach it through the registry)")

    package = ["artengine", "plugins", plugin, *module.split(".")[:-1]]
    tree = ast.parse(source)
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                check(alias.name, node.lineno)
        elif isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            name = ".".join(base + ([node.module] if node.module else []))
            check(name, node.lineno, [alias.name for alias in node.names])
        elif (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "artengine"
              and node.attr not in PUBLIC and node.attr != "plugins"):
            found.append(f"{node.lineno}: artengine.{node.attr} (not in artengine.__all__)")
    return found


def plugin_files():
    for path in sorted(PLUGINS.rglob("*.py")):
        relative = path.relative_to(PLUGINS)
        if len(relative.parts) > 1:  # plugins/__init__.py is the package, not a plugin
            yield path, relative.parts[0], ".".join(relative.with_suffix("").parts[1:])


def test_no_plugin_imports_engine_internals_or_another_plugin():
    found = [f"{path.relative_to(ROOT)}:{problem}"
             for path, plugin, module in plugin_files()
             for problem in problems(path.read_text(encoding="utf-8"), plugin, module)]
    assert not found, "plugins reaching past artengine.__all__:\n" + "\n".join(found)


@pytest.mark.parametrize("source, expected", [
    ("from artengine.cli_run import finish", "artengine.cli_run (an engine internal"),
    ("import artengine.run", "artengine.run (an engine internal"),
    ("from artengine import discovery", "from artengine import discovery (not in"),
    ("import artengine\nartengine.discovery.host.registry", "artengine.discovery (not in"),
    ("from artengine.plugins.shapes.world import caption", "artengine.plugins.shapes.world (another plugin's"),
    ("from artengine.plugins import shapes", "artengine.plugins.shapes (another plugin's"),
    ("from ..shapes.world import caption", "artengine.plugins.shapes.world (another plugin's"),
    ("from ...config import resolve", "artengine.config (an engine internal"),
])
def test_the_check_finds_each_way_past_the_api(source, expected):
    found = problems(source, "clip", "evaluation")
    assert len(found) == 1 and expected in found[0], found


@pytest.mark.parametrize("source", ["import artengine\nartengine.UsageError", "from artengine import Option, hookimpl",
                                    "from .model import CLIP", "from artengine.plugins.clip.model import CLIP",
                                    "from ..clip import model"])
def test_the_check_lets_the_api_and_the_plugins_own_modules_through(source):
    assert problems(source, "clip", "evaluation") == []


@pytest.mark.parametrize("name", artengine.__all__)
def test_every_public_name_is_importable_and_documented(name):
    assert getattr(artengine, name) is not None
    section = PLUGINS_DOC.partition("## The engine API")[2].partition("\n## ")[0]
    assert re.search(rf"`{re.escape(name)}[`(]", section), f"docs/plugins.md's 'The engine API' does not list {name}"


def test_the_public_api_names_each_item_once():
    assert len(artengine.__all__) == len(set(artengine.__all__))


def test_importing_artengine_stays_light():
    """The job-level names load the run machinery on first use, not when a plugin imports artengine."""
    heavy = ("torch", "numpy", "PIL", "artengine.run", "artengine.jobs", "artengine.cli")
    code = f"import artengine, sys; print(sorted(m for m in {heavy!r} if m in sys.modules))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"
    code = "import artengine, sys; artengine.run_job; print('artengine.jobs' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip() == "True"
