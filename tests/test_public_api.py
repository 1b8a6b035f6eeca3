"""Plugins meet the engine through its public API only (`artengine.__all__`, and the public
modules `artengine.files`, `artengine.devices` and `artengine.jobs`, each with its own
`__all__`), and each other only through the registry; every public name is importable and
documented where its module is."""

import ast
import re
import subprocess
import sys
from pathlib import Path

import pytest

import artengine
import artengine.devices
import artengine.files
import artengine.jobs

ROOT = Path(__file__).parent.parent
PLUGINS = ROOT / "plugins"
PLUGINS_DOC = (ROOT / "docs" / "plugins.md").read_text()
PUBLIC = set(artengine.__all__) | {"__version__"}
MODULES = {"files": artengine.files, "devices": artengine.devices, "jobs": artengine.jobs}
"""The public modules, by their name in `artengine`."""
AUTHORING_LIMIT = 40
"""The most names `artengine.__all__`, what every plugin author reads, may hold."""


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
                         for item in imported if item not in PUBLIC and item not in MODULES)
        elif parts[1] in MODULES and len(parts) == 2:
            public = MODULES[parts[1]].__all__
            found.extend(f"{line}: from {name} import {item} (not in {name}.__all__)"
                         for item in imported if item not in public)
        elif parts[1] != "plugins":
            found.append(f"{line}: {name} (an engine internal; use artengine.__all__)")
        elif len(parts) == 2:
            found.extend(f"{line}: artengine.plugins.{item} (another plugin's module)"
                         for item in imported if item != plugin)
        elif parts[2] != plugin:
            found.append(f"{line}: {name} (another plugin's module; reach it through the registry)")

    def attribute(node: ast.Attribute) -> None:
        """`artengine.NAME`, and `artengine.MODULE.NAME` for a public module."""
        if isinstance(node.value, ast.Name) and node.value.id == "artengine":
            if node.attr not in PUBLIC and node.attr not in MODULES and node.attr != "plugins":
                found.append(f"{node.lineno}: artengine.{node.attr} (not in artengine.__all__)")
        elif (isinstance(node.value, ast.Attribute) and isinstance(node.value.value, ast.Name)
              and node.value.value.id == "artengine" and node.value.attr in MODULES
              and node.attr not in MODULES[node.value.attr].__all__):
            found.append(f"{node.lineno}: artengine.{node.value.attr}.{node.attr} "
                         f"(not in artengine.{node.value.attr}.__all__)")

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
        elif isinstance(node, ast.Attribute):
            attribute(node)
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
    ("from artengine import run_job", "from artengine import run_job (not in artengine.__all__)"),
    ("from artengine.jobs import finish", "from artengine.jobs import finish (not in artengine.jobs.__all__)"),
    ("import artengine.files\nartengine.files.check_path('x')", "artengine.files.check_path (not in"),
    ("from artengine.files.outputs import write_new", "artengine.files.outputs (an engine internal"),
    ("from artengine.plugins.shapes.world import caption", "artengine.plugins.shapes.world (another plugin's"),
    ("from artengine.plugins import shapes", "artengine.plugins.shapes (another plugin's"),
    ("from ..shapes.world import caption", "artengine.plugins.shapes.world (another plugin's"),
    ("from ...config import resolve", "artengine.config (an engine internal"),
])
def test_the_check_finds_each_way_past_the_api(source, expected):
    found = problems(source, "clip", "evaluation")
    assert len(found) == 1 and expected in found[0], found


@pytest.mark.parametrize("source", ["import artengine\nartengine.UsageError", "from artengine import Option, hookimpl",
                                    "from artengine.jobs import Settings, run_job", "from artengine import files",
                                    "import artengine.devices\nartengine.devices.resolve_device('cpu')",
                                    "from .model import CLIP", "from artengine.plugins.clip.model import CLIP",
                                    "from ..clip import model"])
def test_the_check_lets_the_api_and_the_plugins_own_modules_through(source):
    assert problems(source, "clip", "evaluation") == []


def documented(section: str) -> str:
    """The text of docs/plugins.md that documents `section` ("artengine" or a public module's
    name): 'The engine API' up to its first subsection, or the subsection of that module."""
    api = PLUGINS_DOC.partition("## The engine API")[2].partition("\n## ")[0]
    if section == "artengine":
        return api.partition("\n### ")[0]
    return api.partition(f"\n### `artengine.{section}`")[2].partition("\n### ")[0]


PUBLIC_NAMES = {"artengine": artengine.__all__} | {name: module.__all__ for name, module in MODULES.items()}


@pytest.mark.parametrize("section, name", [(section, name) for section, names in PUBLIC_NAMES.items() for name in names])
def test_every_public_name_is_importable_and_documented_with_its_module(section, name):
    module = artengine if section == "artengine" else MODULES[section]
    assert getattr(module, name) is not None
    assert re.search(rf"`{re.escape(name)}[`(]", documented(section)), \
        f"docs/plugins.md's 'The engine API' does not list {name} under {section}"


@pytest.mark.parametrize("section", PUBLIC_NAMES)
def test_no_section_of_the_docs_lists_another_modules_names(section):
    """A name documented under another module than its own would send a reader to the wrong
    import; a module's section may mention the authoring names (`Interrupted`, say), which
    every plugin has."""
    every = {name for names in PUBLIC_NAMES.values() for name in names}
    listed = {name for name in every if re.search(rf"`{re.escape(name)}[`(]", documented(section))}
    assert listed - set(PUBLIC_NAMES[section]) - set(artengine.__all__) == set()


def test_the_public_api_names_each_item_once_and_keeps_the_authoring_door_small():
    names = [name for names in PUBLIC_NAMES.values() for name in names]
    assert len(names) == len(set(names))
    assert len(artengine.__all__) <= AUTHORING_LIMIT


def test_importing_artengine_and_its_public_modules_stays_light():
    """`import artengine` loads no run machinery; the public modules load none of the heavy libraries."""
    heavy = ("torch", "numpy", "PIL", "artengine.run", "artengine.jobs", "artengine.cli")
    code = f"import artengine, sys; print(sorted(m for m in {heavy!r} if m in sys.modules))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"
    code = ("import artengine.files, artengine.devices, artengine.jobs, sys; "
            f"print(sorted(m for m in {heavy[:3]!r} if m in sys.modules))")
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip() == "[]"
