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
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", str(ROOT),
                    "-w", str(out)], check=True, capture_output=True, text=True)
    (found,) = out.glob("artengine-*.whl")
    return found


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


def test_the_wheel_carries_the_shipped_weights(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    for model in ("clip", "dalle", "vqgan"):
        shipped = [n for n in names if n.startswith(f"artengine/plugins/{model}/weights/shapes/")]
        assert any(n.endswith(".safetensors") for n in shipped), f"{model}:shapes weights are not in the wheel"


def test_the_wheel_carries_the_web_uis_page(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    assert {f"artengine/plugins/ui/static/{name}" for name in ("index.html", "app.js", "style.css")} <= names


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
