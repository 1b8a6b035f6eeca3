"""`artengine train dalle`: sources, the code cache, checkpoints, resume, torchrun."""

import json
import os
import signal
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

import artengine
from tests.dalle_helpers import TRAIN_TINY as TINY, plugin_dir, train, write_pairs


def state_of(folder: Path):
    from safetensors.torch import load_file

    return load_file(str(folder / "model.safetensors"))


def test_training_on_a_folder_writes_a_checkpoint_that_generates(dalle_host, cli, tmp_path):
    data = write_pairs(tmp_path / "pairs")
    result = train(cli, "--data", data, "--out", "model", "--steps", "3", "--checkpoint-every", "2",
                   "--sample-every", "3")
    assert result.exit_code == 0, result.output
    assert "train dalle: 3/3 100%  text loss " in result.output
    model = tmp_path / "model"
    config = json.loads((model / "artengine_dalle.json").read_text())
    assert config["training"]["step"] == 3 and config["training"]["data"]["images"] == 12
    assert config["layout"]["rows"] == 8 and config["vqgan"]["spec"] == "tinyvq:16"
    assert sorted(p.name for p in (model / "checkpoints").iterdir()) == ["step-00000002", "step-00000003"]
    assert (model / "samples" / "step-00000003.png").is_file()
    made = cli("generate", "a red square", "-g", "dalle", "--set", f"generator.model=dalle:{model}", "-n", "2")
    assert made.exit_code == 0, made.output


def test_bf16_autocast_trains_on_the_cpu(dalle_host, cli, tmp_path):
    data = write_pairs(tmp_path / "pairs", count=4)
    result = train(cli, "--data", data, "--out", "model", "--steps", "2", "--precision", "bf16", "--device", "cpu")
    assert result.exit_code == 0, result.output
    losses = json.loads((tmp_path / "model" / "artengine_dalle.json").read_text())["training"]["losses"]
    assert 0 < losses["image"] < 10 and 0 < losses["text"] < 10


def test_data_options_reach_a_registered_dataset_typed_as_it_declares(dalle_host, cli, tmp_path):
    import artengine.plugins.shapes

    dalle_host.add(artengine.plugins.shapes, name="shapes")
    result = train(cli, "--data", "shapes", "--data-count", "4", "--data-option", "one_object_share=0.75",
                   "--data-option", "omit=false", "--out", "model", "--steps", "1")
    assert result.exit_code == 0, result.output
    data = json.loads((tmp_path / "model" / "artengine_dalle.json").read_text())["training"]["data"]
    assert data["options"] == {"one_object_share": 0.75, "omit": False}


def test_the_code_cache_is_built_once_and_rebuilt_when_the_data_changes(dalle_host, cli, tmp_path):
    data = write_pairs(tmp_path / "pairs", count=8)
    args = ("--data", data, "--cache", tmp_path / "cache", "--steps", "1")
    assert "tokenising the images" in train(cli, *args, "--out", "a").output
    assert "tokenising the images" not in train(cli, *args, "--out", "b").output
    assert "tokenising the images" in train(cli, *args, "--out", "c", "--data-count", "5").output
    assert json.loads((tmp_path / "c" / "artengine_dalle.json").read_text())["training"]["data"]["images"] == 5


def test_an_interrupted_run_resumes_to_the_same_weights(dalle_host, cli, tmp_path, monkeypatch):
    data = write_pairs(tmp_path / "pairs")
    common = ("--data", data, "--steps", "5", "--checkpoint-every", "2", "--null-caption", "0.3")
    assert train(cli, *common, "--out", "straight").exit_code == 0

    from artengine.plugins.dalle.train import DalleTrainer

    def ctrl_c_after_step_3(self, step):  # Ctrl-C while the third step runs
        if step == 3:
            signal.raise_signal(signal.SIGINT)

    monkeypatch.setattr(DalleTrainer, "after_step", ctrl_c_after_step_3, raising=False)
    stopped = train(cli, *common, "--out", "resumed")
    assert stopped.exit_code == 130 and "--resume" in stopped.output
    assert json.loads((tmp_path / "resumed" / "artengine_dalle.json").read_text())["training"]["step"] == 3
    monkeypatch.delattr(DalleTrainer, "after_step")  # back to the inherited one
    again = train(cli, *common, "--out", "resumed", "--resume")
    assert again.exit_code == 0, again.output
    assert "resuming from" in again.output
    straight, resumed = state_of(tmp_path / "straight"), state_of(tmp_path / "resumed")
    assert all((straight[name] - resumed[name]).abs().max() < 1e-6 for name in straight)


def test_webdataset_shards_are_streamed_into_the_cache(dalle_host, cli, tmp_path):
    pairs = write_pairs(tmp_path / "pairs", count=6)
    for number, names in enumerate([("000", "001", "002"), ("003", "004", "005")]):
        with tarfile.open(tmp_path / f"shard-{number}.tar", "w") as shard:
            for name in names:
                for suffix in (".png", ".txt"):
                    shard.add(pairs / f"{name}{suffix}", arcname=f"sample{name}{suffix}")
    result = train(cli, "--data", str(tmp_path / "shard-*.tar"), "--out", "model", "--steps", "1")
    assert result.exit_code == 0, result.output
    assert json.loads((tmp_path / "model" / "artengine_dalle.json").read_text())["training"]["data"]["images"] == 6


def test_a_relative_vqgan_path_is_recorded_absolute_but_a_served_name_is_kept(dalle_host, tmp_path, monkeypatch):
    from artengine import portable_spec

    monkeypatch.chdir(tmp_path)
    (tmp_path / "my-vq").mkdir()
    (tmp_path / "16").mkdir()  # a folder that happens to share a served name
    assert portable_spec("tinyvq:my-vq") == f"tinyvq:{tmp_path / 'my-vq'}"
    assert portable_spec("tinyvq:16") == "tinyvq:16"
    assert portable_spec("tinyvq:absent") == "tinyvq:absent"


@pytest.mark.parametrize("args, message", [
    (("--data", "nowhere"), "is not a folder, a .tar shard"),
    (("--data", "{pairs}", "--loss-weights", "7"), "write TEXT:IMAGE"),
    (("--data", "{pairs}", "--width", "30", "--heads", "4"), "must be a multiple of --heads"),
    (("--data", "{pairs}", "--resume"), "holds no checkpoint yet"),
    (("--data", "{pairs}", "--precision", "fp16", "--device", "cpu"), "fp16 needs CUDA"),
])
def test_mistakes_are_one_line_usage_errors(dalle_host, cli, tmp_path, args, message):
    pairs = write_pairs(tmp_path / "pairs", count=4)
    result = cli("train", "dalle", *TINY, "--out", "model", *(a.format(pairs=pairs) for a in args))
    assert result.exit_code == 2, result.output
    assert message in result.output and "Traceback" not in result.output


def test_training_again_into_a_finished_checkpoint_asks_for_resume(dalle_host, cli, tmp_path):
    data = write_pairs(tmp_path / "pairs", count=4)
    assert train(cli, "--data", data, "--out", "model", "--steps", "1").exit_code == 0
    result = train(cli, "--data", data, "--out", "model", "--steps", "1")
    assert result.exit_code == 2 and "pass --resume" in result.output


@pytest.mark.slow
def test_torchrun_with_two_cpu_processes_trains_one_checkpoint(tmp_path):
    data = write_pairs(tmp_path / "pairs")
    artengine = Path(sys.executable).parent / "artengine"
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", "--master_port=29531",
               str(artengine), "--plugins-dir", str(plugin_dir(tmp_path)), "train", "dalle", *TINY,
               "--data", str(data), "--out", str(tmp_path / "model"), "--steps", "3", "--checkpoint-every", "2",
               "--device", "cpu"]
    environment = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(command, capture_output=True, text=True, timeout=600, env=environment, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    config = json.loads((tmp_path / "model" / "artengine_dalle.json").read_text())
    assert config["training"]["world_size"] == 2 and config["training"]["step"] == 3
    assert done.stderr.count("training a 1-layer GPT-2") == 1  # rank 0 alone reports


def test_a_model_the_trainer_cannot_load_leaves_no_out_folder_behind(dalle_host, cli, tmp_path):
    out = tmp_path / "new" / "run"
    result = cli("train", "dalle", "--data", "shapes", "--vqgan", "vqgan:nope", "--out", out, "--steps", "1")
    assert result.exit_code == 2 and "vqgan" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert not (tmp_path / "new").exists()
