"""`--help`, `plugins` and `list` import neither torch nor transformers nor open_clip."""

import subprocess
import sys

import pytest

HEAVY = ("torch", "transformers", "open_clip", "taming", "numpy", "starlette", "uvicorn", "gradio", "fastapi")


@pytest.mark.parametrize("args", [["--help"], ["plugins"], ["list", "generators"], ["list", "models"], ["generate", "--help"],
                                  ["config", "path"], ["ui", "--help"]])
def test_fast_commands_import_no_heavy_module(args):
    result = subprocess.run([sys.executable, "-X", "importtime", "-m", "artengine", *args], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-2000:]
    imported = {line.split("|")[-1].strip().split(".")[0] for line in result.stderr.splitlines() if line.startswith("import time:")}
    assert not imported & set(HEAVY), f"heavy imports during `artengine {' '.join(args)}`: {imported & set(HEAVY)}"
