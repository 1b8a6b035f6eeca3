"""`artengine train clip`: from scratch on a folder of pairs, checkpoints, interrupt and resume."""

import json
import signal

import pytest
import torch
from PIL import Image, ImageDraw
from safetensors.torch import load_file

import artengine
import artengine.plugins.clip
from artengine.plugins.clip.train import ClipTrainer

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
    assert sorted(p.name for p in out.iterdir()) == [".artengine-folder", "checkpoints", "open_clip_config.json", "open_clip_model.safetensors"]
    config = json.loads((out / "open_clip_config.json").read_text())
    assert config["model_cfg"]["vision_cfg"]["width"] == 32 and "mean" in config["preprocess_cfg"]
    model = artengine.load_model(f"clip:{out}")
    assert model.encode_image(torch.rand(2, 3, 48, 48)).shape == (2, 16)
    assert model.encode_text(["a red square"]).shape == (1, 16)


def test_a_run_stopped_by_ctrl_c_resumes_to_the_same_weights_as_an_unbroken_run(cli, pairs_folder, tmp_path, monkeypatch):
    args = ["--data", pairs_folder, "--steps", 4, "--checkpoint-every", 10, "--seed", 3, *TINY]
    assert cli("train", "clip", "--out", tmp_path / "unbroken", *args).exit_code == 0

    original = ClipTrainer.after_step

    def ctrl_c_during_step_two(self, step):
        if step == 2:
            signal.raise_signal(signal.SIGINT)
        return original(self, step)

    monkeypatch.setattr(ClipTrainer, "after_step", ctrl_c_during_step_two)
    stopped = cli("train", "clip", "--out", tmp_path / "broken", *args)
    assert stopped.exit_code == 130
    assert "stopped at step 2 of 4" in stopped.output and "--resume" in stopped.output
    assert weights(tmp_path / "broken") != {}  # the checkpoint of step 2 is there
    monkeypatch.setattr(ClipTrainer, "after_step", original)

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
    (["--resume", "--steps", 2], "already trained to step 2"),
    (["--resume", "--steps", 4, "--lr", "0.1"], "--lr 0.1 differs from the checkpoint's 0.001"),
    (["--steps", 4], "pass --resume"),
])
def test_mistakes_around_resuming_are_explained(cli, pairs_folder, tmp_path, args, message):
    out = tmp_path / "run"
    assert cli("train", "clip", "--data", pairs_folder, "--out", out, "--steps", 2, *TINY).exit_code == 0

    result = cli("train", "clip", "--data", pairs_folder, "--out", out, *args)

    assert result.exit_code == 2
    assert message in result.output


def test_resume_without_a_checkpoint_is_refused(cli, tmp_path):
    result = cli("train", "clip", "--out", tmp_path / "empty", "--resume")
    assert result.exit_code == 2 and "holds no checkpoint yet" in result.output


def test_unknown_data_is_refused(cli, tmp_path):
    result = cli("train", "clip", "--data", "no-such-data", "--out", tmp_path / "run", *TINY)
    assert result.exit_code == 2 and "neither a folder nor a registered dataset" in result.output


def test_the_training_state_is_plain_tensors_and_json(cli, pairs_folder, tmp_path):
    out = tmp_path / "run"
    assert cli("train", "clip", "--data", pairs_folder, "--out", out, "--steps", 2, *TINY).exit_code == 0

    checkpoint = out / "checkpoints" / "step-00000002"
    saved = json.loads((checkpoint / "state.json").read_text())
    assert saved["step"] == 2 and saved["settings"]["batch_size"] == 4
    optimizer = torch.load(checkpoint / "optimizer.pt", weights_only=True)  # refuses anything but tensors and data
    assert all("exp_avg" in state for state in optimizer["state"].values())


def test_half_precision_weights_are_written_on_request(cli, pairs_folder, tmp_path):
    out = tmp_path / "run"
    args = ["--data", pairs_folder, "--out", out, "--steps", 1, "--weights-dtype", "float16", *TINY]
    assert cli("train", "clip", *args).exit_code == 0
    assert weights(out)["visual.conv1.weight"].dtype == torch.float16
    assert artengine.load_model(f"clip:{out}").encode_text(["a red square"]).dtype == torch.float32


def test_init_fine_tunes_from_a_model_and_keeps_its_architecture(cli, pairs_folder, tmp_path):
    start = tmp_path / "start"
    assert cli("train", "clip", "--data", pairs_folder, "--out", start, "--steps", 1, *TINY).exit_code == 0
    tuned = tmp_path / "tuned"
    result = cli("train", "clip", "--data", pairs_folder, "--out", tuned, "--init", start, "--steps", 1,
                 "--lr", 1e-9, "--batch-size", 4, "--warmup", 1)

    assert result.exit_code == 0, result.output
    config = json.loads((tuned / "open_clip_config.json").read_text())
    assert config["model_cfg"] == json.loads((start / "open_clip_config.json").read_text())["model_cfg"]
    assert config["training"]["settings"]["init"] == str(start) and config["training"]["step"] == 1
    before, after = weights(start), weights(tuned)
    assert before.keys() == after.keys()
    assert all(torch.allclose(before[k].float(), after[k].float(), atol=1e-5) for k in before)  # a step of lr 1e-9


def test_fine_tuning_leaves_the_loaded_starting_model_as_it_was(cli, pairs_folder, tmp_path):
    start = tmp_path / "start"
    assert cli("train", "clip", "--data", pairs_folder, "--out", start, "--steps", 1, *TINY).exit_code == 0
    loaded = artengine.load_model(f"clip:{start}")  # the cached model --init reaches too
    before = {k: v.clone() for k, v in loaded.network.state_dict().items()}
    args = ["--data", pairs_folder, "--out", tmp_path / "tuned", "--init", start, "--steps", 2, "--lr", 0.1]
    assert cli("train", "clip", *args).exit_code == 0

    assert artengine.load_model(f"clip:{start}") is loaded
    assert all(torch.equal(before[k], v) for k, v in loaded.network.state_dict().items())
    assert not any(p.requires_grad for p in loaded.network.parameters())


def test_init_refuses_an_architecture_option_it_does_not_have(cli, pairs_folder, tmp_path):
    start = tmp_path / "start"
    assert cli("train", "clip", "--data", pairs_folder, "--out", start, "--steps", 1, *TINY).exit_code == 0
    result = cli("train", "clip", "--data", pairs_folder, "--out", tmp_path / "b", "--init", start, "--width", 64)
    assert result.exit_code == 2 and "--width 64" in result.output and "has 32" in result.output

    missing = cli("train", "clip", "--data", pairs_folder, "--out", tmp_path / "c", "--init", tmp_path / "nowhere")
    assert missing.exit_code == 2 and "--init" in missing.output and "nowhere" in missing.output


def test_data_options_are_refused_for_a_folder_and_without_a_value(cli, pairs_folder, tmp_path):
    bad = cli("train", "clip", "--data", pairs_folder, "--out", tmp_path / "a", "--data-option", "objects=1", *TINY)
    assert bad.exit_code == 2 and "folder" in bad.output and "objects" in bad.output
    assert cli("train", "clip", "--data", pairs_folder, "--out", tmp_path / "b", "--data-option", "objects", *TINY).exit_code == 2


def test_shapes_data_options_are_typed_as_the_dataset_declares(builtin_plugins):
    from artengine import parse_data_options

    assert parse_data_options("shapes", ["objects=1", "one_object_share=0.75", "omit=false"]) == {
        "objects": "1", "one_object_share": 0.75, "omit": False}


def test_captions_with_fewer_hard_negatives_than_asked_leave_every_gradient_finite():
    from open_clip.loss import ClipLoss

    from artengine.plugins.clip.batches import Batch
    from artengine.plugins.clip.model import build_network, tokenizer_for
    from artengine.plugins.clip.train import LossComputer
    from tests.clip_helpers import TINY_CFG

    torch.manual_seed(0)
    network = build_network(TINY_CFG)
    batch = Batch(torch.rand(2, 3, 32, 32), ["a red circle", "a blue square"], [["a green circle", "a red square"], ["a blue circle"]])
    loss = LossComputer(network, tokenizer_for(TINY_CFG), ClipLoss(), "cpu")(network, batch)
    loss.backward()
    assert torch.isfinite(loss)
    assert all(torch.isfinite(p.grad).all() for p in network.parameters() if p.grad is not None)
    assert torch.isfinite(network.logit_scale.grad)
