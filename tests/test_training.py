"""`artengine train NAME`: the engine's loop, driven through the tiny `line` trainer.

Options come from declarations; checkpoints are complete or absent and read back safely;
Ctrl-C checkpoints and exits 130; `--resume` continues to the same weights as an unbroken run,
also on another number of processes."""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from artengine.training import Sampler, learning_rate_factor

ROOT = Path(__file__).parent.parent
QUIET = ("--threads", "1", "--device", "cpu")


def newest(run: Path) -> Path:
    return sorted((run / "checkpoints").glob("step-*[0-9]"))[-1]


def facts(run: Path) -> dict:
    return json.loads((newest(run) / "state.json").read_text())


def weights(run: Path) -> dict:
    return load_file(str(newest(run) / "model.safetensors"))


def same(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[key], b[key]) for key in a)


def test_help_shows_the_engine_options_with_the_trainer_defaults_and_its_own(cli):
    result = cli("train", "line", "--help")
    assert result.exit_code == 0
    for text in ("--steps", "[default: 12]", "--grad-accum", "--precision", "--resume", "--set KEY=VALUE",
                 "--points", "Points to fit.", "--dropout"):
        assert text in result.output
    assert "line" in cli("list", "trainers").output


def test_a_run_writes_checkpoints_the_model_and_samples_and_learns(cli, tmp_path):
    result = cli("train", "line", "--out", "run", "--steps", 12, "--sample-every", 6, "--log-every", 3, *QUIET)
    assert result.exit_code == 0, result.output
    assert "trained line to step 12" in result.stdout
    lines = re.findall(r"^train line: \d+/12 .*$", result.stderr, re.MULTILINE)
    assert [line.split()[2] for line in lines] == ["1/12", "3/12", "6/12", "9/12", "12/12"]  # a pipe: every --log-every
    assert lines[1].startswith("train line: 3/12 25%  loss ")
    run = tmp_path / "run"
    assert [p.name for p in sorted((run / "checkpoints").iterdir())] == ["step-00000008", "step-00000012"]
    assert sorted(p.name for p in newest(run).iterdir()) == [
        "model.safetensors", "optimizer.pt", "rng-0.pt", "state.json", "trainer.pt"]
    state = facts(run)
    assert state["step"] == 12 and state["position"] == 12 * 4 and state["settings"]["points"] == 24
    saved = json.loads((run / "line.json").read_text())
    assert saved["step"] == 12 and sum(saved["seen"]) == 12 * 4
    training = saved["training"]  # what a trainer records of how its model was trained
    assert training["step"] == 12 and training["world_size"] == 1 and training["settings"]["steps"] == 12
    assert training["command"].startswith("artengine train line --out run --steps 12 ")
    assert re.fullmatch(r"CPU \S+ \(.+\), \d+ threads", training["hardware"])
    assert sorted(p.name for p in (run / "samples").iterdir()) == ["step-12.json", "step-6.json"]
    first, last = (float(line.split("loss ")[1].split()[0]) for line in
                   (result.stderr.splitlines()[1], result.stderr.splitlines()[-1]))
    assert last < first / 4


@pytest.mark.skipif(not Path("/proc/cpuinfo").exists(), reason="reads Linux's /proc/cpuinfo")
def test_the_hardware_a_record_names_is_the_cpu_model_and_its_threads():
    from artengine.devices import hardware

    described = hardware("cpu", threads=2)
    assert described.endswith("2 threads") and "(?)" not in described
    assert hardware("cpu", processes=2, threads=2) == f"2 x {described}"


def test_gradient_accumulation_reads_that_many_micro_batches_per_step(cli, tmp_path):
    assert cli("train", "line", "--out", "run", "--steps", 3, "--grad-accum", 3, *QUIET).exit_code == 0
    assert facts(tmp_path / "run")["position"] == 3 * 4 * 3


def test_ctrl_c_checkpoints_exits_130_and_resume_reaches_the_unbroken_weights(cli, tmp_path, monkeypatch):
    common = ("--steps", 10, "--dropout", 0.2, "--checkpoint-every", 100, *QUIET)
    assert cli("train", "line", "--out", "straight", *common).exit_code == 0
    monkeypatch.setenv("TEST_TRAIN_STOP_AT", "6")
    stopped = cli("train", "line", "--out", "cut", *common)
    assert stopped.exit_code == 130
    assert "stopped at step 6 of 10" in stopped.stderr and "--resume" in stopped.stderr
    assert "Traceback" not in stopped.output and facts(tmp_path / "cut")["step"] == 6
    monkeypatch.delenv("TEST_TRAIN_STOP_AT")
    resumed = cli("train", "line", "--out", "cut", "--resume", *QUIET)
    assert resumed.exit_code == 0, resumed.output
    assert "resuming from cut/checkpoints/step-00000006 (step 6)" in resumed.stderr
    assert same(weights(tmp_path / "cut"), weights(tmp_path / "straight"))
    straight, cut = (json.loads((tmp_path / name / "line.json").read_text()) for name in ("straight", "cut"))
    assert straight["seen"] == cut["seen"]  # the trainer's own state came back too


def test_settings_come_from_config_file_then_flags_then_set(cli, tmp_path):
    (tmp_path / "line.toml").write_text('steps = 5\nhidden = 4\nlr = 0.01\n')
    result = cli("train", "line", "--out", "run", "--config", "line.toml", "--lr", 0.02, "--set", "hidden=3", *QUIET)
    assert result.exit_code == 0, result.output
    settings = facts(tmp_path / "run")["settings"]
    assert (settings["steps"], settings["lr"], settings["hidden"]) == (5, 0.02, 3)


@pytest.mark.parametrize("args, message", [
    (("--set", "hiden=3"), "unknown option 'hiden' (did you mean 'hidden'?)"),
    (("--set", "steps=many"), "steps: expected int"),
    (("--points", 0), "0 is not in the range x>=1"),
    (("--precision", "fp16"), "fp16 needs CUDA"),
    (("--resume",), "holds no checkpoint yet"),
])
def test_mistakes_are_one_line_usage_errors(cli, args, message):
    result = cli("train", "line", "--out", "run", *QUIET, *args)
    assert result.exit_code == 2 and message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_out_is_required_unless_the_trainer_gives_one(cli):
    result = cli("train", "line", *QUIET)
    assert result.exit_code == 2 and "train line needs --out" in result.stderr


def test_a_finished_run_is_kept_and_a_resumed_one_keeps_its_fixed_options(cli, tmp_path):
    assert cli("train", "line", "--out", "run", "--steps", 2, "--hidden", 4, *QUIET).exit_code == 0
    again = cli("train", "line", "--out", "run", "--steps", 2, *QUIET)
    assert again.exit_code == 2 and "already holds a training run (step 2); pass --resume" in again.stderr
    wider = cli("train", "line", "--out", "run", "--resume", "--steps", 3, "--hidden", 5, *QUIET)
    assert wider.exit_code == 2 and "--hidden 5 differs from the checkpoint's 4" in wider.stderr
    done = cli("train", "line", "--out", "run", "--resume", *QUIET)
    assert done.exit_code == 2 and "already trained to step 2" in done.stderr
    longer = cli("train", "line", "--out", "run", "--resume", "--steps", 3, *QUIET)
    assert longer.exit_code == 0, longer.output
    assert facts(tmp_path / "run")["settings"]["hidden"] == 4 and facts(tmp_path / "run")["step"] == 3


def test_a_checkpoint_that_would_run_code_is_refused_and_a_partial_one_ignored(cli, tmp_path):
    assert cli("train", "line", "--out", "run", "--steps", 4, "--checkpoint-every", 2, *QUIET).exit_code == 0
    run = tmp_path / "run"
    (run / "checkpoints" / "step-00000006.partial").mkdir()  # killed while writing: not a checkpoint
    marker = tmp_path / "pwned"

    class Payload:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    torch.save({"state": Payload()}, newest(run) / "optimizer.pt")
    result = cli("train", "line", "--out", "run", "--resume", "--steps", 6, *QUIET)
    assert result.exit_code == 2 and "can run code" in result.stderr and "step-00000004" in result.stderr
    assert not marker.exists()


def test_the_schedule_warms_up_then_decays_to_the_final_rate():
    settings = {"warmup": 10, "steps": 200, "lr_schedule": "cosine", "final_lr": 0.1}
    factors = [learning_rate_factor(step, settings) for step in range(200)]
    assert factors[0] == pytest.approx(0.1) and factors[9] == pytest.approx(1.0)
    assert all(a >= b for a, b in zip(factors[9:], factors[10:]))
    assert factors[-1] == pytest.approx(0.1, abs=1e-3)
    assert learning_rate_factor(150, {**settings, "lr_schedule": "constant"}) == 1.0
    assert learning_rate_factor(0, {**settings, "warmup": 0}) == 1.0


def test_the_sampler_visits_every_example_once_an_epoch_whatever_the_sharding():
    sampler = Sampler(10, seed=3)
    assert sorted(sampler.indices(0, 10)) == list(range(10)) and sorted(sampler.indices(10, 10)) == list(range(10))
    assert sampler.indices(0, 10) != sampler.indices(10, 10)
    two_ranks = [sampler.indices(start, 2) for start in range(0, 10, 2)]
    assert sorted(i for shard in two_ranks for i in shard) == list(range(10))
    assert Sampler(10, seed=3).indices(7, 5) == sampler.indices(0, 20)[7:12]  # a position resumes the stream


def test_register_trainers_serves_the_documented_one_file_trainer(cli, tmp_path):
    example = re.search(r"<!-- example: one-file trainer -->\n```python\n(.*?)```",
                        (ROOT / "docs" / "plugins.md").read_text(), re.S)
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "wave.py").write_text(example.group(1))
    assert "--hidden" in cli("--plugins-dir", "mine", "train", "wave", "--help").output
    result = cli("--plugins-dir", "mine", "train", "wave", "--out", "w", "--steps", 6, "--checkpoint-every", 3, *QUIET)
    assert result.exit_code == 0, result.output
    assert json.loads((tmp_path / "w" / "wave.json").read_text())["step"] == 6
    resumed = cli("--plugins-dir", "mine", "train", "wave", "--out", "w", "--resume", "--steps", 8, *QUIET)
    assert resumed.exit_code == 0, resumed.output
    assert facts(tmp_path / "w")["step"] == 8


PLUGIN = "from tests.plugins_for_tests import register_trainers  # noqa: F401\n"


@pytest.mark.slow
def test_two_gloo_processes_train_one_checkpoint_that_one_process_resumes(tmp_path):
    (tmp_path / "plugins").mkdir()
    (tmp_path / "plugins" / "line_plugin.py").write_text(PLUGIN)
    environment = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT), "ARTENGINE_LOAD_PLUGINS": "line_plugin"}
    command = ["--plugins-dir", "plugins", "train", "line", "--out", "run", "--steps", 4, *QUIET]
    launch = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2",
              "--main_process_port", "29533", "-m", "artengine"]  # `accelerate launch`; --device cpu: gloo
    done = subprocess.run([*launch, *map(str, command)], capture_output=True, text=True, timeout=300,
                          env=environment, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stderr.count("train line: 0.00M parameters") == 1  # rank 0 alone reports
    assert done.stdout.count("trained line to step 4") == 1
    state = facts(tmp_path / "run")
    assert state["world_size"] == 2 and state["position"] == 4 * 4 * 2
    assert sorted(p.name for p in newest(tmp_path / "run").glob("rng-*")) == ["rng-0.pt", "rng-1.pt"]
    saved = json.loads((tmp_path / "run" / "line.json").read_text())
    assert sum(saved["seen"]) == 4 * 4  # rank 0's shard: half of what both read

    alone = subprocess.run([sys.executable, "-m", "artengine", *map(str, command), "--resume", "--steps", "6"],
                           capture_output=True, text=True, timeout=300, env=environment, cwd=tmp_path)
    assert alone.returncode == 0, alone.stderr[-3000:]
    state = facts(tmp_path / "run")
    assert state["world_size"] == 1 and state["step"] == 6 and state["position"] == 4 * 4 * 2 + 2 * 4


@pytest.mark.slow
def test_a_stop_on_two_processes_checkpoints_once_and_is_reported_once(tmp_path):
    (tmp_path / "plugins").mkdir()
    (tmp_path / "plugins" / "line_plugin.py").write_text(PLUGIN)
    environment = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT), "ARTENGINE_LOAD_PLUGINS": "line_plugin",
                   "TEST_TRAIN_STOP_AT": "2"}  # each process sends itself Ctrl-C after step 2, as a terminal does
    command = ["--plugins-dir", "plugins", "train", "line", "--out", "run", "--steps", 6, *QUIET]
    launch = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", "--master_port=29534", "-m", "artengine"]
    done = subprocess.run([*launch, *map(str, command)], capture_output=True, text=True, timeout=300,
                          env=environment, cwd=tmp_path)
    assert done.returncode != 0
    assert done.stderr.count("artengine: error: stopped at step 2 of 6") == 1, done.stderr[-3000:]
    assert done.stderr.count("stopping after this step") == 1  # every process got the signal; one says so
    assert facts(tmp_path / "run")["step"] == 2
