"""The wheel installs artengine under its own name only, carries the shipped weights, and works installed."""

import json
import os
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).parent.parent
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
BUILT_IN = sorted(p.parent.name for p in (ROOT / "plugins").glob("*/__init__.py"))


@pytest.fixture(scope="module")
def build(tmp_path_factory) -> tuple[Path, str]:
    """The wheel, and what the build printed (not quieted: setuptools' warnings are in it)."""
    out = tmp_path_factory.mktemp("wheel")
    done = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", str(ROOT),
                           "-w", str(out)], check=True, capture_output=True, text=True)
    (found,) = out.glob("artengine-*.whl")
    return found, done.stdout + done.stderr


@pytest.fixture(scope="module")
def wheel(build) -> Path:
    return build[0]


def test_the_build_declares_every_folder_it_ships(build):
    """setuptools warns, and means to stop shipping, files of a folder Python could import that
    `packages` does not list."""
    output = build[1]
    assert "would be ignored" not in output and "absent from the `packages` configuration" not in output, output[-3000:]


def test_the_wheel_installs_no_top_level_name_but_artengine(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    assert {name.split("/")[0] for name in names} == {"artengine", wheel.name.split("-py3")[0] + ".dist-info"}
    assert {name.split("/")[0] for name in names if name.endswith(".py")} == {"artengine"}


def test_every_built_in_plugin_is_packaged_and_declared(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    declared = PYPROJECT["project"]["entry-points"]["artengine"]
    for plugin in BUILT_IN:
        assert f"artengine/plugins/{plugin}/__init__.py" in names, f"plugins/{plugin} is missing from the wheel"
        assert declared.get(plugin) == f"artengine.plugins.{plugin}", f"plugins/{plugin} has no entry point"


def test_the_wheel_carries_every_shipped_file(wheel):
    """Every file of engine/ and plugins/ (weights, model cards, the UI's page, the defaults) is
    installed under artengine/."""
    names = set(zipfile.ZipFile(wheel).namelist())
    shipped = [path for folder in ("engine", "plugins") for path in (ROOT / folder).rglob("*")
               if path.is_file() and "__pycache__" not in path.parts]
    missing = [str(path.relative_to(ROOT)) for path in shipped if installed_name(path) not in names]
    assert not missing, f"not in the wheel: {missing}"
    assert any(name.endswith(".safetensors") for name in names)  # the walk above found the weights


def installed_name(path: Path) -> str:
    relative = path.relative_to(ROOT).as_posix()
    return "artengine/" + relative.removeprefix("engine/") if relative.startswith("engine/") else f"artengine/{relative}"


@pytest.mark.slow
def test_the_installed_wheel_generates_with_dalle_and_knows_no_bare_names(wheel, tmp_path):
    target = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(target), str(wheel)],
                   check=True, capture_output=True, text=True)
    env = {**os.environ, "PYTHONPATH": str(target)}  # found before the editable checkout on sys.path
    run = lambda *args: subprocess.run([sys.executable, *args], cwd=tmp_path, env=env, capture_output=True, text=True)

    where = run("-c", "import artengine, artengine.plugins.dalle as d; print(artengine.__file__); print(d.__file__)")
    assert where.returncode == 0, where.stderr
    assert all(line.startswith(str(target)) for line in where.stdout.split()), where.stdout
    for bare in ("engine", "plugins"):
        assert run("-c", f"import {bare}").returncode != 0, f"the wheel made `import {bare}` work"

    result = run("-m", "artengine", "generate", "a red circle", "-g", "dalle", "-n", "1", "--seed", "1",
                 "--out", str(tmp_path / "out"), "--json")
    assert result.returncode == 0, result.stderr[-2000:]
    summary = json.loads(result.stdout)
    assert summary["status"] == "complete" and len(summary["images"]) == 1
    assert Path(summary["images"][0]["path"]).is_file()
