"""`generate --prompts` on several processes (torchrun, accelerate launch): one run folder,
the same images as one process makes with the same seeds, run.json merged by rank 0."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from artengine.devices import Shard
from tests.ports import free_port

ROOT = Path(__file__).parent.parent
PLUGIN = "from tests.plugins_for_tests import register_generators, register_scorers  # noqa: F401\n"


def test_each_process_takes_every_nth_prompt():
    prompts = list("abcdefg")
    shares = [Shard(rank, 3).mine(prompts) for rank in range(3)]
    assert shares == [["a", "d", "g"], ["b", "e"], ["c", "f"]]


def pixels(path) -> bytes:
    with Image.open(path) as image:
        return image.convert("RGB").tobytes()


def launched(tmp_path, processes: int, *command, env=()):
    """`artengine COMMAND` in `tmp_path`, on one process or under torchrun on several."""
    if not (tmp_path / "plugins").exists():
        (tmp_path / "plugins").mkdir()
        (tmp_path / "plugins" / "test_plugin.py").write_text(PLUGIN)
        (tmp_path / "prompts.txt").write_text("a red square\na blue circle\na green thing\n")
    environment = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT), "ARTENGINE_LOAD_PLUGINS": "test_plugin",
                   **dict(env)}
    launch = [sys.executable, "-m", "torch.distributed.run", f"--nproc_per_node={processes}", f"--master_port={free_port()}"]
    prefix = [*launch, "-m", "artengine"] if processes > 1 else [sys.executable, "-m", "artengine"]
    return subprocess.run([*prefix, "--plugins-dir", "plugins", *command], capture_output=True, text=True, timeout=300,
                          env=environment, cwd=tmp_path)


@pytest.mark.slow
def test_two_processes_make_the_images_one_process_makes_into_one_run_folder(tmp_path):
    command = ["generate", "--prompts", "prompts.txt", "-g", "solid", "-n", "3",
               "--keep", "2", "--scorer", "redness", "--seed", "5", "--json"]
    runs = {}
    for name, processes in (("one", 1), ("two", 2)):
        done = launched(tmp_path, processes, *command, "--out", name)
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


@pytest.mark.slow
def test_compare_on_two_processes_makes_the_grid_and_images_of_one_process(tmp_path):
    command = ["compare", "--prompts", "prompts.txt", "-g", "solid", "--axis", "generator.border=0,2", "-n", "2",
               "--seed", "3", "--json"]
    runs = {}
    for name, processes in (("one", 1), ("two", 2)):
        done = launched(tmp_path, processes, *command, "--out", name)
        assert done.returncode == 0, done.stderr[-3000:]
        runs[name] = json.loads(done.stdout)
    folder = Path(runs["two"]["run_dir"])
    assert len(list((tmp_path / "two").iterdir())) == 1
    assert (folder / "grid.png").is_file() and (folder / "index.html").is_file()
    document = json.loads((folder / "run.json").read_text())
    assert document["status"] == "complete" and document["processes"] == 2
    assert sorted(document["configurations"]) == ["solid border=0", "solid border=2"]

    def described(images):
        return [(i["configuration"], i["prompt"], i["seed"], i["rank"]) for i in images]

    one, two = runs["one"]["images"], runs["two"]["images"]
    assert described(two) == described(one) and len(two) == 2 * 3 * 2  # configurations x prompts x n
    assert all(pixels(a["path"]) == pixels(b["path"]) for a, b in zip(one, two))
    assert pixels(Path(runs["one"]["run_dir"]) / "grid.png") == pixels(folder / "grid.png")


@pytest.mark.slow
def test_a_stop_on_two_processes_saves_both_shares_and_is_reported_once(tmp_path):
    done = launched(tmp_path, 2, "generate", "--prompts", "prompts.txt", "-g", "slow", "--set", "generator.steps=5",
                    "-n", "1", "--seed", "1", "--out", "out", env={"TEST_STOP_AT_STEP": "3"})
    assert done.returncode != 0
    assert done.stderr.count("artengine: error: stopped by the user") == 1, done.stderr[-3000:]
    assert "stopped by the user; 2 image(s) saved in" in done.stderr  # the first prompt of each process
    [folder] = (tmp_path / "out").iterdir()
    document = json.loads((folder / "run.json").read_text())
    assert document["status"] == "interrupted" and len(document["images"]) == 2


@pytest.mark.slow
def test_eval_shapes_on_two_processes_grades_what_one_process_grades(tmp_path):
    command = ["eval", "shapes", "-g", "solid", "--n-prompts", "5", "--seed", "0", "--device", "cpu", "--json"]
    plugins = {"ARTENGINE_LOAD_PLUGINS": "test_plugin,shapes"}
    one, two = (launched(tmp_path, processes, *command, env=plugins) for processes in (1, 2))
    assert one.returncode == 0 and two.returncode == 0, two.stderr[-3000:]
    summary = json.loads(two.stdout)  # rank 0 alone reports
    assert summary == json.loads(one.stdout) and summary["prompts"] == 5


@pytest.mark.slow
def test_without_a_seed_every_process_uses_the_one_rank_0_draws(tmp_path):
    done = launched(tmp_path, 2, "generate", "--prompts", "prompts.txt", "-g", "solid", "-n", "2", "--json",
                    "--out", "out")
    assert done.returncode == 0, done.stderr[-3000:]
    images = json.loads(done.stdout)["images"]
    seeds = {prompt: sorted(i["seed"] for i in images if i["prompt"] == prompt) for prompt in {i["prompt"] for i in images}}
    assert len(seeds) == 3 and len({tuple(s) for s in seeds.values()}) == 1  # the same seeds for every prompt
