"""The engine is built in layers: a module imports only from its own layer and the ones below,
never in a circle, never a plugin, and at the top of the module, where a reader sees it.

The table is the one docs/architecture.md draws; a new module gets its row here.
"""

import ast
from pathlib import Path

import pytest

ENGINE = Path(__file__).parent.parent / "engine"

LAYERS = {
    "contract": ("errors", "options", "prompts", "interfaces", "hookspecs", "trainers", "invocation", "devices",
                 "memory", "launcher", "progress"),
    "files": ("safe_io", "outputs", "images", "checkpoints", "run_record", "training_checkpoints", "grid", "report"),
    "host": ("registry", "discovery", "models", "datasets"),
    "config": ("config", "defaults", "infotext"),
    "api": ("__init__", "files"),
    "jobs": ("run", "compare", "jobs", "sharding", "training"),
    "cli": ("cli_group", "cli_train", "cli_config", "cli_inspect", "cli_rerank", "cli_run", "cli", "__main__"),
}
"""Lowest first. api is the package itself, `artengine`, and `artengine.files`: they re-export
names of the layers below, and the layers above take only `__version__` from the package. The
other public modules are where their names live: `artengine.devices` (contract) and
`artengine.jobs` (jobs)."""

LAYER = {module: rank for rank, modules in enumerate(LAYERS.values()) for module in modules}
NAMES = list(LAYERS)


def engine_imports(source: str, modules: set[str]) -> list[tuple[str, int, bool]]:
    """(engine module, line, inside a function) for each import of an engine module in
    `source`: '__init__' for the package itself, 'plugins' for anything of artengine.plugins."""
    found = []

    def target(dotted: str) -> str | None:
        parts = dotted.split(".")
        if parts[0] != "artengine":
            return None
        if len(parts) == 1:
            return "__init__"
        return parts[1] if parts[1] in modules or parts[1] == "plugins" else "__init__"

    def visit(node: ast.AST, inside: bool) -> None:
        for child in ast.iter_child_nodes(node):
            names = []
            if isinstance(child, ast.Import):
                names = [alias.name for alias in child.names]
            elif isinstance(child, ast.ImportFrom):
                base = ".".join(["artengine"] * (child.level == 1) + [child.module] * bool(child.module))
                names = [f"{base}.{alias.name}" for alias in child.names] if base == "artengine" else [base]
            for name in names:
                module = target(name)
                if module is not None:
                    found.append((module, child.lineno, inside))
            visit(child, inside or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)))

    visit(ast.parse(source), False)
    return found


def problems(sources: dict[str, str], layer: dict[str, int]) -> list[str]:
    """What in `sources` (module name -> source) breaks the layering, one line each."""
    modules = set(sources)
    found = [f"{name}.py: not in the layer table" for name in sorted(modules - set(layer))]
    found += [f"{name}: in the layer table but no module" for name in sorted(set(layer) - modules)]
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, source in sorted(sources.items()):
        for target, line, inside in engine_imports(source, modules):
            where = f"{name}.py:{line}"
            if target == "plugins":
                found.append(f"{where}: imports artengine.plugins (the engine knows no plugin)")
                continue
            if inside:
                found.append(f"{where}: imports {target} inside a function (import engine modules at the top)")
            if name in layer and target in layer and layer[target] > layer[name]:
                found.append(f"{where}: imports {target} ({NAMES[layer[target]]}) from below ({NAMES[layer[name]]})")
            if target != name:
                graph[name].add(target)
    found += [f"modules importing each other: {', '.join(group)}" for group in circles(graph)]
    return found


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The groups of two or more modules that import each other, directly or through the
    others (strongly connected components, Tarjan's algorithm), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for target in sorted(graph.get(node, ())):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            group = stack[stack.index(node):]
            del stack[stack.index(node):]
            if len(group) > 1:
                found.append(sorted(group))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return sorted(found)


def engine_sources() -> dict[str, str]:
    return {path.stem: path.read_text(encoding="utf-8") for path in sorted(ENGINE.glob("*.py"))}


def test_every_engine_module_imports_only_its_own_layer_and_below_at_its_top_without_circles():
    found = problems(engine_sources(), LAYER)
    assert not found, "the engine's layering is broken:\n" + "\n".join(found)


TOY = {"low": 0, "high": 1}


@pytest.mark.parametrize("sources, expected", [
    ({"low": "from .high import x", "high": ""}, ["low.py:1: imports high (files) from below (contract)"]),
    ({"low": "def f():\n    from . import high", "high": ""},
     ["low.py:2: imports high inside a function (import engine modules at the top)",
      "low.py:2: imports high (files) from below (contract)"]),
    ({"low": "", "high": "import artengine.plugins.clip"}, ["high.py:1: imports artengine.plugins (the engine knows no plugin)"]),
    ({"low": "", "high": "from artengine import plugins"}, ["high.py:1: imports artengine.plugins (the engine knows no plugin)"]),
    ({"low": "", "high": "from artengine.plugins.clip import model"},
     ["high.py:1: imports artengine.plugins (the engine knows no plugin)"]),
    ({"low": "from . import x", "high": "", "x": ""}, ["x.py: not in the layer table"]),
    ({"low": ""}, ["high: in the layer table but no module"]),
    ({"low": "from .high import x", "high": "from artengine.low import y"},
     ["low.py:1: imports high (files) from below (contract)", "modules importing each other: high, low"]),
])
def test_the_check_finds_each_way_to_break_the_layers(sources, expected):
    assert problems(sources, TOY) == expected


@pytest.mark.parametrize("sources", [
    {"low": "import os\nfrom .errors import x", "high": "from .low import y\nfrom . import low\nimport artengine.low"},
    {"low": "def f():\n    import torch  # heavy: only when it runs", "high": "from artengine import low"},
])
def test_the_check_lets_downward_imports_at_the_top_and_lazy_libraries_through(sources):
    assert problems(sources, TOY | {"errors": 0}) == ["errors: in the layer table but no module"]


def test_the_package_itself_is_what_from_dot_import_version_names():
    assert engine_imports("from . import __version__, low", {"low"}) == [("__init__", 1, False), ("low", 1, False)]


def test_circles_are_found_however_long():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a", "d"}, "d": {"e"}, "e": {"d"}, "f": {"a"}}
    assert circles(graph) == [["a", "b", "c"], ["d", "e"]]


def test_docs_architecture_draws_the_same_layers_and_says_what_each_module_does():
    """docs/architecture.md's diagram: a line naming a layer, then its modules (a line of module
    names alone continues the layer above); its table names every module."""
    text = (ENGINE.parent / "docs" / "architecture.md").read_text(encoding="utf-8")
    diagram = text.split("```text\n", 1)[1].split("```", 1)[0]
    drawn, layer = {}, None
    for line in diagram.splitlines():
        words = line.split()
        if words and words[0] in LAYERS:
            layer, words = words[0], words[1:]
        if words and all(word in LAYER for word in words):
            drawn.update({word: layer for word in words})
    assert drawn == {module: name for name, modules in LAYERS.items() for module in modules}
    assert [name for name in LAYER if f"`{name}.py`" not in text] == []
