"""`artengine train clip`: from scratch on a folder of pairs, checkpoints, interrupt and resume."""

import json
import signal

import pytest
import torch
from PIL import Image, ImageDraw
from safetensors.torch import load_file

import artengine
import artengine.plugins.clip
from artengine.plugins.clip import batches as batches_module

TINY = ["--width", 32, "--layers", 1, "--text-width", 32, "--text-layers", 1, "--embed-dim", 16,
        "--context-length", 16, "--image-size", 32, "--patch-size", 8, "--batch-size", 4, "--warmup", 1]
COLOURS = {"red": (220, 40, 40), "green": (40, 170, 60), "blue": (40, 90, 220), "yellow": (240, 220, 40)}


@pytest.fixture(autouse=True)
def clip_plugin(host):
    host.add(artengine.plugins.clip, name="clip")


@pytest.fixture
def pairs_folder(tmp_path):
    """Image + caption pairs as a user would have them: squares of four colours, 48x48."""
    folder = tmp_path / "pairs"
    folder.mkdir()
    for index, (word, rgb) in enumerate(COLOURS.items()):
        for left in (4, 20):
            image = Image.new("RGB", (48, 48), (0, 0, 0))
            ImageDraw.Draw(image).rectangle([left, 10, left + 20, 30], fill=rgb)
            stem = folder / f"{word}-{left}"
            image.save(stem.with_suffix(".png"))
            side = "left" if left == 4 else "right"
            stem.with_suffix(".txt").write_text(f"a {word} square on the {side}\na {word} square\n")
    return folder


def weights(folder):
    return load_file(str(folder / "open_clip_model.safetensors"))


def test_training_from_scratch_writes_a_loadable_model(cli, pairs_folder, tmp_path):
    out = tmp_path / "run"
    result = cli("train", "clip", "--data", pairs_folder, "--out", out, "--steps", 3, "--checkpoint-every", 2, *TINY)

    assert result.exit_code == 0, result.output
    assert f"load it as clip:{out}" in result.output
    assert sorted(p.name for p in out.iterdir()) == ["open_clip_config.json", "open_clip_model.safetensors", "training_state.safetensors"]
    config = json.loads((out / "open_clip_config.json").read_text())
    assert config["model_cfg"]["vision_cfg"]["width"] == 32 and "mean" in config["preprocess_cfg"]
    model = artengine.load_model(f"clip:{out}")
    assert model.encode_image(torch.rand(2, 3, 48, 48)).shape == (2, 16)
    assert model.encode_text(["a red square"]).shape == (1, 16)


def test_a_run_stopped_by_ctrl_c_resumes_to_the_same_weights_as_an_unbroken_run(cli, pairs_folder, tmp_path, monkeypatch):
    args = ["--data", pairs_folder, "--steps", 4, "--checkpoint-every", 10, "--seed", 3, *TINY]
    assert cli("train", "clip", "--out", tmp_path / "unbroken", *args).exit_code == 0

    original = batches_module.BatchMaker.batch

    def ctrl_c_during_step_two(self, step):
        if step == 1:
            signal.raise_signal(signal.SIGINT)
        return original(self, step)

    monkeypatch.setattr(batches_module.BatchMaker, "batch", ctrl_c_during_step_two)
    stopped = cli("train", "clip", "--out", tmp_path / "broken", *args)
    assert stopped.exit_code == 130
    assert "stopped at step 2 of 4" in stopped.output and "--resume" in stopped.output
    assert weights(tmp_path / "broken") != {}  # the checkpoint of step 2 is there
    monkeypatch.setattr(batches_module.BatchMaker, "batch", original)

    resumed = cli("train", "clip", "--out", tmp_path / "broken", "--resume", "--steps", 4)
    assert resumed.exit_code == 0, resumed.output
    unbroken, broken = weights(tmp_path / "unbroken"), weights(tmp_path / "broken")
    assert unbroken.keys() == broken.keys()
    assert all(torch.equal(unbroken[k], broken[k]) for k in unbroken)
    assert not list((tmp_path / "broken").glob(".*tmp"))  # atomic writes leave no temporaries


def test_resume_grows_the_step_count_and_keeps_the_settings(cli, pairs_folder, tmp_path):
    out = tmp_path / "run"
    assert cli("train", "clip", "--data", pairs_folder, "--out", out, "--steps", 2, *TINY).exit_code == 0
    before = weights(out)

    result = cli("train", "clip", "--out", out, "--resume", "--steps", 3)

    assert result.exit_code == 0, result.output
    assert "step 3" in result.output
    after = weights(out)
    assert any(not torch.equal(before[k], after[k]) for k in before)


@pytest.mark.parametrize("args, message", [
    (["--resume", "--steps", 2], "already reached step 2"),
    (["--resume", "--steps", 4, "--lr", "0.1"], "drop --lr"),
    (["--steps", 4], "add --resume"),
])
def test_mistakes_around_resuming_are_explained(cli, pairs_folder, tmp_path, args, message):
    out = tmp_path / "run"
    assert cli("train", "clip", "--data", pairs_folder, "--out", out, "--steps", 2, *TINY).exit_code == 0

    result = cli("train", "clip", "--data", pairs_folder, "--out", out, *args)

    assert result.exit_code == 2
    assert message in result.output


def test_resume_without_a_checkpoint_is_refused(cli, tmp_path):
    result = cli("train", "clip", "--out", tmp_path / "empty", "--resume")
    assert result.exit_code == 2 and "no training_state.safetensors" in result.output


def test_unknown_data_is_refused(cli, tmp_path):
    result = cli("train", "clip", "--data", "no-such-data", "--out", tmp_path / "run", *TINY)
    assert result.exit_code == 2 and "neither a folder nor a registered dataset" in result.output


def test_the_training_state_is_plain_tensors_and_json(cli, pairs_folder, tmp_path):
    from safetensors import safe_open

    out = tmp_path / "run"
    assert cli("train", "clip", "--data", pairs_folder, "--out", out, "--steps", 2, *TINY).exit_code == 0

    with safe_open(str(out / "training_state.safetensors"), framework="pt") as state:
        saved = json.loads(state.metadata()["state"])
        keys = list(state.keys())
    assert saved["step"] == 2 and saved["settings"]["batch_size"] == 4
    assert any(k.startswith("optimizer/") and k.endswith("/exp_avg") for k in keys)


def test_half_precision_weights_are_written_on_request(cli, pairs_folder, tmp_path):
    out = tmp_path / "run"
    args = ["--data", pairs_folder, "--out", out, "--steps", 1, "--weights-dtype", "float16", *TINY]
    assert cli("train", "clip", *args).exit_code == 0
    assert weights(out)["visual.conv1.weight"].dtype == torch.float16
    assert artengine.load_model(f"clip:{out}").encode_text(["a red square"]).dtype == torch.float32


def test_the_progress_bar_shows_step_and_loss_on_a_terminal_only():
    import io

    from artengine.plugins.clip.training import ProgressBar

    class Terminal(io.StringIO):
        def isatty(self):
            return True

    terminal, pipe = Terminal(), io.StringIO()
    for stream in (terminal, pipe):
        bar = ProgressBar(total=10, initial=0, stream=stream)
        bar.update(10, 1.23456)
        bar.close()
    assert "10/10 loss 1.2346" in terminal.getvalue() and "[" + "#" * 30 + "]" in terminal.getvalue()
    assert pipe.getvalue() == ""
