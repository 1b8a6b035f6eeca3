"""`generate --prompts` on several processes (torchrun, accelerate launch): one run folder,
the same images as one process makes with the same seeds, run.json merged by rank 0."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from artengine.sharding import Shard

ROOT = Path(__file__).parent.parent
PLUGIN = "from tests.plugins_for_tests import register_generators, register_scorers  # noqa: F401\n"


def test_each_process_takes_every_nth_prompt():
    prompts = list("abcdefg")
    shares = [Shard(rank, 3).mine(prompts) for rank in range(3)]
    assert shares == [["a", "d", "g"], ["b", "e"], ["c", "f"]]


def pixels(path) -> bytes:
    with Image.open(path) as image:
        return image.convert("RGB").tobytes()


@pytest.mark.slow
def test_two_processes_make_the_images_one_process_makes_into_one_run_folder(tmp_path):
    (tmp_path / "plugins").mkdir()
    (tmp_path / "plugins" / "test_plugin.py").write_text(PLUGIN)
    (tmp_path / "prompts.txt").write_text("a red square\na blue circle\na green thing\n")
    environment = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT), "ARTENGINE_LOAD_PLUGINS": "test_plugin"}
    command = ["--plugins-dir", "plugins", "generate", "--prompts", "prompts.txt", "-g", "solid", "-n", "3",
               "--keep", "2", "--scorer", "redness", "--seed", "5", "--json"]
    launch = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", "--master_port=29535", "-m", "artengine"]
    runs = {}
    for name, prefix in (("one", [sys.executable, "-m", "artengine"]), ("two", launch)):
        done = subprocess.run([*prefix, *command, "--out", name], capture_output=True, text=True, timeout=300,
                              env=environment, cwd=tmp_path)
        assert done.returncode == 0, done.stderr[-3000:]
        runs[name] = json.loads(done.stdout)  # rank 0 alone prints the summary
    assert len(list((tmp_path / "two").iterdir())) == 1
    document = json.loads((Path(runs["two"]["run_dir"]) / "run.json").read_text())
    assert document["status"] == "complete" and document["processes"] == 2
    assert len(document["discarded"]) == 3  # one per prompt, from both processes

    def described(images):
        return [(i["prompt"], i["seed"], i["rank"], i["score"]) for i in images]

    one, two = runs["one"]["images"], runs["two"]["images"]
    assert described(two) == described(one) and len(two) == 6  # prompt order, best first
    assert all(pixels(a["path"]) == pixels(b["path"]) for a, b in zip(one, two))
