"""The test suite itself: every test module holds tests, none borrows from another, none skips
itself because what it checks is missing (that would pass a packaging mistake unseen)."""

import ast
from pathlib import Path

TESTS = Path(__file__).parent
MODULES = sorted(TESTS.glob("test_*.py"))
# The only conditions a test may skip on: the hardware or operating system this machine has or lacks.
HARDWARE = ("cuda", "/proc/cpuinfo")


def tree(path: Path) -> ast.Module:
    return ast.parse(path.read_text(), filename=str(path))


def test_every_test_module_defines_tests():
    empty = [p.name for p in MODULES
             if not any(isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name.startswith("test_")
                        for node in ast.walk(tree(p)))]
    assert not empty, f"helper modules must not be named test_*.py (conftest.py or tests/*_helpers.py): {empty}"


def test_no_test_module_imports_another():
    borrowed = []
    for path in MODULES:
        for node in ast.walk(tree(path)):
            names = ([node.module or ""] if isinstance(node, ast.ImportFrom)
                     else [alias.name for alias in node.names] if isinstance(node, ast.Import) else [])
            borrowed += [f"{path.name}: {name}" for name in names if name.startswith("tests.test_")]
    assert not borrowed, f"shared fixtures and helpers belong in conftest.py or helper modules: {borrowed}"


def test_no_test_skips_itself_for_want_of_what_it_checks():
    skips = []
    for path in MODULES:
        source = path.read_text()
        for node in ast.walk(tree(path)):
            if isinstance(node, ast.Call) and ast.unparse(node.func) in ("pytest.skip", "pytest.importorskip",
                                                                          "pytest.mark.skipif"):
                text = ast.get_source_segment(source, node) or ""
                if not any(word in text.lower() for word in HARDWARE):
                    skips.append(f"{path.name}:{node.lineno}: {text[:80]}")
    assert not skips, f"a test that skips when what it checks is missing passes a broken build: {skips}"
