"""No lost work in real processes: `kill -9` during training loses at most the steps since the
last checkpoint and never leaves a half-written one; SIGTERM / Ctrl-C during `train` and
`compare` save what exists, mark it interrupted and exit non-zero; `--resume` goes on."""

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

import artengine.plugins.vqgan
from artengine.checkpoints import read_checkpoint
from tests.dalle_helpers import plugin_dir, write_pairs
from tests.plugins_for_tests import artengine_script
from tests.vqgan_helpers import TINY, square

ROOT = Path(__file__).parent.parent
ENVIRONMENT = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}


@pytest.fixture(autouse=True)
def vqgan_plugin(host):
    host.add(artengine.plugins.vqgan, name="vqgan")


def squares(folder: Path, count: int = 6) -> Path:
    folder.mkdir()
    for index in range(count):
        square(index).save(folder / f"{index}.png")
        (folder / f"{index}.txt").write_text("a coloured square\n")
    return folder


def start(args, cwd) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "artengine", *map(str, args)], cwd=cwd, env=ENVIRONMENT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def wait_for(path: Path, process: subprocess.Popen, seconds: float = 60) -> None:
    deadline = time.time() + seconds
    while not path.exists():
        assert process.poll() is None, process.communicate()
        assert time.time() < deadline, f"{path} never appeared"
        time.sleep(0.02)


def wait_for_change(read, process: subprocess.Popen, seconds: float = 60) -> None:
    """Wait until `read()` gives something new (and not None): the process has made progress."""
    before = read()
    deadline = time.time() + seconds
    while read() in (before, None):
        assert process.poll() is None, process.communicate()
        assert time.time() < deadline, "no progress"
        time.sleep(0.02)


def mtime(path: Path):
    return path.stat().st_mtime_ns if path.exists() else None


def kill_hard(process: subprocess.Popen) -> None:
    process.kill()  # SIGKILL: nothing of the process's own runs any more
    process.communicate(timeout=30)


def kill_at_random_moments(command, progress, checkpoint_step, rounds: int, longest_pause: float, cwd) -> int:
    """Start `command(resume)` `rounds` times, each SIGKILLed at a random moment after `progress()`
    changed; `checkpoint_step()` checks what is on disk after each kill. Returns the last step."""
    chance = random.Random(int(os.environ.get("KILL_SEED", time.time())))
    steps = []
    for _ in range(rounds):
        process = start(command(resume=bool(checkpoint_step())), cwd)
        try:
            wait_for_change(progress, process)
            time.sleep(chance.uniform(0.0, longest_pause))  # checkpoints come every few ms: any moment may be mid-write
        finally:
            kill_hard(process)
        steps.append(checkpoint_step())
    assert steps[-1] is not None and steps == sorted(steps), steps  # each resumed run went on
    return steps[-1]


def run_to_the_end(args, cwd) -> subprocess.CompletedProcess:
    result = subprocess.run([sys.executable, "-m", "artengine", *map(str, args)], cwd=cwd, env=ENVIRONMENT,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    return result


# -- train vqgan ---------------------------------------------------------------------------


def vqgan_checkpoint_step(run: Path) -> int | None:
    """The step `--resume` would continue from, after checking that nothing is half-written:
    every file present reads whole, and a folder with weights is a loadable model."""
    import artengine
    from safetensors import safe_open

    state_path, weights_path, config_path = run / "training_state.pt", run / "model.safetensors", run / "config.json"
    if weights_path.exists():
        assert state_path.exists() and config_path.exists(), "weights without their config and state"
        model = artengine.load_model(f"vqgan:{run}", "cpu")
        assert model.factor == 2
        artengine.models.clear_cache()
        with safe_open(str(weights_path), "pt") as handle:
            weights_step = int(handle.metadata()["step"])
    if config_path.exists():
        json.loads(config_path.read_text())
    if not state_path.exists():
        assert not weights_path.exists()
        return None
    state = read_checkpoint(state_path)
    assert set(state["model"]) and isinstance(state["step"], int)
    if weights_path.exists():
        assert weights_step <= state["step"]  # written after the state: at most one checkpoint behind
    return state["step"] if config_path.exists() else None


def test_kill_9_during_vqgan_training_never_leaves_a_half_written_checkpoint(tmp_path):
    data, run = squares(tmp_path / "pairs"), tmp_path / "run"
    train = ["train", "vqgan", "--data", data, "--out", run, "--steps", 100_000, "--checkpoint-every", 2, *TINY]
    last = kill_at_random_moments(lambda resume: train + (["--resume"] if resume else []),
                                  lambda: mtime(run / "training_state.pt"), lambda: vqgan_checkpoint_step(run),
                                  rounds=4, longest_pause=1.0, cwd=tmp_path)
    run_to_the_end(["train", "vqgan", "--out", run, "--resume", "--steps", last + 2, "--threads", 1], tmp_path)
    assert json.loads((run / "config.json").read_text())["training"]["step"] == last + 2


def test_sigterm_during_vqgan_training_saves_a_checkpoint_and_exits_non_zero(tmp_path):
    data, run = squares(tmp_path / "pairs"), tmp_path / "run"
    process = start(["train", "vqgan", "--data", data, "--out", run, "--steps", 100_000, "--checkpoint-every", 5,
                     *TINY], tmp_path)
    try:
        wait_for(run / "model.safetensors", process)
        time.sleep(0.3)
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=60)
    finally:
        process.kill()
    assert process.returncode == 130, err
    assert "Traceback" not in err and "continue with --resume" in err
    step = vqgan_checkpoint_step(run)
    assert json.loads((run / "config.json").read_text())["training"]["step"] == step  # saved where it stopped
    from safetensors import safe_open

    with safe_open(str(run / "model.safetensors"), "pt") as handle:
        assert int(handle.metadata()["step"]) == step


# -- train dalle ---------------------------------------------------------------------------

DALLE_TINY = ("--vqgan", "tinyvq:16", "--layers", "1", "--width", "16", "--heads", "2", "--batch-size", "4",
              "--sample-every", "0", "--log-every", "1", "--threads", "1")


def dalle_checkpoint_step(model: Path) -> int | None:
    """The newest complete checkpoint's step, after checking every checkpoint folder reads whole."""
    from safetensors.torch import load_file

    folders = sorted((model / "checkpoints").glob("step-*[0-9]")) if (model / "checkpoints").exists() else []
    for folder in folders:
        state = json.loads((folder / "state.json").read_text())
        assert state["step"] == int(folder.name.split("-")[1])
        assert load_file(str(folder / "model.safetensors"))
        torch.load(folder / "optimizer.pt", weights_only=True)
    if (model / "model.safetensors").exists():
        assert load_file(str(model / "model.safetensors"))
        json.loads((model / "artengine_dalle.json").read_text())
        json.loads((model / "config.json").read_text())
    return json.loads((folders[-1] / "state.json").read_text())["step"] if folders else None


def dalle_newest(model: Path):
    found = sorted((model / "checkpoints").glob("step-*")) if (model / "checkpoints").exists() else []
    return found[-1].name if found else None


def dalle_command(tmp_path, data, model, *extra):
    return ["--plugins-dir", plugin_dir(tmp_path), "train", "dalle", *DALLE_TINY, "--data", data, "--out", model,
            "--device", "cpu", *extra]


def test_kill_9_during_dalle_training_never_leaves_a_half_written_checkpoint(tmp_path):
    data, model = write_pairs(tmp_path / "pairs"), tmp_path / "model"
    last = kill_at_random_moments(
        lambda resume: dalle_command(tmp_path, data, model, "--steps", 100_000, "--checkpoint-every", 2,
                                     *(["--resume"] if resume else [])),
        lambda: dalle_newest(model), lambda: dalle_checkpoint_step(model), rounds=3, longest_pause=0.6, cwd=tmp_path)
    result = run_to_the_end(dalle_command(tmp_path, data, model, "--steps", last + 2, "--resume"), tmp_path)
    assert f"resuming from {model / 'checkpoints'}" in result.stderr
    assert json.loads((model / "artengine_dalle.json").read_text())["training"]["step"] == last + 2


def test_ctrl_c_during_dalle_training_saves_a_checkpoint_and_exits_130(tmp_path):
    data, model = write_pairs(tmp_path / "pairs"), tmp_path / "model"
    process = start(dalle_command(tmp_path, data, model, "--steps", 100_000, "--checkpoint-every", 3), tmp_path)
    try:
        wait_for(model / "checkpoints", process)
        time.sleep(0.3)
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=60)
    finally:
        process.kill()
    assert process.returncode == 130, err
    assert "Traceback" not in err and "continue with the same command and --resume" in err
    step = dalle_checkpoint_step(model)
    assert step and json.loads((model / "artengine_dalle.json").read_text())["training"]["step"] == step


# -- train clip ----------------------------------------------------------------------------

CLIP_TINY = ["--width", 32, "--layers", 1, "--text-width", 32, "--text-layers", 1, "--embed-dim", 16,
             "--context-length", 16, "--image-size", 32, "--patch-size", 8, "--batch-size", 4, "--warmup", 1,
             "--threads", 1, "--device", "cpu"]


def clip_checkpoint_step(run: Path) -> int | None:
    """The state's step, after checking the files present read whole and the weights load."""
    from safetensors import safe_open
    from safetensors.torch import load_file

    state_path, weights_path = run / "training_state.safetensors", run / "open_clip_model.safetensors"
    if (run / "open_clip_config.json").exists():
        json.loads((run / "open_clip_config.json").read_text())
    if weights_path.exists():
        assert state_path.exists() and load_file(str(weights_path))
    if not state_path.exists():
        return None
    with safe_open(str(state_path), framework="pt") as handle:
        state = json.loads(handle.metadata()["state"])
        assert all(handle.get_tensor(key) is not None for key in handle.keys())
    return state["step"]


def test_kill_9_during_clip_training_never_leaves_a_half_written_checkpoint(tmp_path):
    data, run = squares(tmp_path / "pairs"), tmp_path / "run"
    train = ["train", "clip", "--data", data, "--out", run, "--steps", 100_000, "--checkpoint-every", 2, *CLIP_TINY]
    last = kill_at_random_moments(lambda resume: train + (["--resume"] if resume else []),
                                  lambda: mtime(run / "training_state.safetensors"), lambda: clip_checkpoint_step(run),
                                  rounds=3, longest_pause=0.6, cwd=tmp_path)
    run_to_the_end(["train", "clip", "--out", run, "--resume", "--steps", last + 2, "--threads", 1], tmp_path)
    assert clip_checkpoint_step(run) == last + 2


# -- compare -------------------------------------------------------------------------------

COMPARE = artengine_script("""
open("c.toml", "w").write('prompt = "red"\\nseed = 1\\n[configurations.solid]\\ngenerator = "solid"\\n'
                         '[configurations.slow]\\ngenerator = { name = "slow", steps = 100000000 }\\n')
sys.argv = ["artengine", "compare", "--config", "c.toml", "--scorer", "none", "--json"]
main()
""")


def test_sigterm_during_compare_saves_the_grid_so_far_and_the_state_to_resume(tmp_path, cli):
    process = subprocess.Popen([sys.executable, "-c", COMPARE], cwd=tmp_path,
                               env=ENVIRONMENT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.time() + 60
        while not list(tmp_path.glob("outputs/*/0000-*.png")):  # the solid configuration is saved
            assert process.poll() is None and time.time() < deadline, process.communicate()
            time.sleep(0.05)
        time.sleep(0.2)
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=60)
    finally:
        process.kill()
    assert process.returncode == 130, err
    assert "Traceback" not in err
    summary = json.loads(out)
    run_dir = Path(summary["run_dir"])
    assert summary["status"] == "interrupted"
    assert json.loads((run_dir / "run.json").read_text())["status"] == "interrupted"
    assert (run_dir / "grid.png").is_file() and (run_dir / "index.html").is_file()
    assert {i["configuration"] for i in summary["images"]} >= {"solid"}
    assert (run_dir / "state").is_dir()  # the slow generator's step, for --resume



# -- generate: several processes, one --out ------------------------------------------------

GENERATE = artengine_script("""
sys.argv = ["artengine", "generate", "red", "-g", "solid", "-n", "3", "--seed", "1", "--out", "shared", "--json"]
main()
""")


def test_generate_processes_sharing_an_out_folder_never_collide(tmp_path):
    processes = [subprocess.Popen([sys.executable, "-c", GENERATE], cwd=tmp_path,
                                  env=ENVIRONMENT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                 for _ in range(3)]
    summaries = []
    for process in processes:
        out, err = process.communicate(timeout=120)
        assert process.returncode == 0, err
        summaries.append(json.loads(out))
    folders = {summary["run_dir"] for summary in summaries}
    assert len(folders) == 3  # same prompt, same moment: each got its own folder
    for summary in summaries:
        run = json.loads((Path(summary["run_dir"]) / "run.json").read_text())
        assert run["status"] == "complete" and len(run["images"]) == 3
        assert all(Path(image["path"]).parent == Path(summary["run_dir"]) for image in summary["images"])
    assert len(list((tmp_path / "shared").glob("*/*.png"))) == 9
