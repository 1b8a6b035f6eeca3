"""`artengine train vqgan`: trains from scratch, checkpoints, survives an interrupt, resumes exactly."""

import json
import os
import signal

import pytest
import torch

import artengine
import artengine.plugins.vqgan
from artengine import Dataset
from tests.vqgan_helpers import TINY, square



class TinySquares(Dataset):
    name = "tinysquares"
    description = "Coloured squares, 16x16, for the training tests."

    def pairs(self, count, seed):
        return [(square(seed + i), ["a square"]) for i in range(count)]


class TinySquaresPlugin:
    @artengine.hookimpl
    def register_datasets(self, register):
        register(TinySquares)


@pytest.fixture(autouse=True)
def plugins_used(host):
    host.add(artengine.plugins.vqgan, name="vqgan")
    host.add(TinySquaresPlugin(), name="tinysquares")


@pytest.fixture
def pairs(tmp_path):
    folder = tmp_path / "pairs"
    folder.mkdir()
    for index in range(6):
        square(index).save(folder / f"{index}.png")
        (folder / f"{index}.txt").write_text("a coloured square\n")
    return folder


def weights(folder):
    from safetensors.torch import load_file

    return load_file(str(folder / "model.safetensors"))


def training(folder):
    return json.loads((folder / "config.json").read_text())["training"]


def newest_checkpoint(folder):
    return sorted((folder / "checkpoints").glob("step-*[0-9]"))[-1]


def same(a, b):
    return a.keys() == b.keys() and all(torch.equal(a[key], b[key]) for key in a)


def test_training_from_scratch_on_a_folder_writes_a_loadable_model(cli, pairs, tmp_path):
    result = cli("train", "vqgan", "--data", pairs, "--out", tmp_path / "run", "--steps", 3, *TINY)

    assert result.exit_code == 0, result.output
    assert f"load it as vqgan:{tmp_path / 'run'}" in result.stdout
    assert "train vqgan: 3/3 100%  loss " in result.stderr
    assert sorted(p.name for p in (tmp_path / "run").iterdir()) == [".artengine-folder", "checkpoints", "config.json", "model.safetensors"]
    assert training(tmp_path / "run")["step"] == 3
    model = artengine.load_model(f"vqgan:{tmp_path / 'run'}")
    assert model.factor == 2 and model.n_embed == 8
    assert model.encode(torch.rand(1, 3, 16, 16)).shape == (1, 8, 8)


def test_training_lowers_the_reconstruction_error(cli, tmp_path):
    from artengine.plugins.vqgan.evaluation import reconstruction_errors

    common = ["--data", "tinysquares", "--data-count", 8, "--lr", "2e-3", "--lr-schedule", "constant", *TINY]
    assert cli("train", "vqgan", "--out", tmp_path / "short", "--steps", 1, *common).exit_code == 0
    assert cli("train", "vqgan", "--out", tmp_path / "long", "--steps", 40, *common).exit_code == 0
    data = TinySquares({}, "cpu").pairs(8, 0)
    before = reconstruction_errors(artengine.load_model(f"vqgan:{tmp_path / 'short'}"), data, 16)[0].mean()
    after = reconstruction_errors(artengine.load_model(f"vqgan:{tmp_path / 'long'}"), data, 16)[0].mean()
    assert after < before / 2


def test_resuming_continues_from_the_checkpoint_exactly(cli, tmp_path):
    common = ["--data", "tinysquares", "--data-count", 8, "--lr-schedule", "constant", *TINY]
    assert cli("train", "vqgan", "--out", tmp_path / "straight", "--steps", 6, *common).exit_code == 0

    first = cli("train", "vqgan", "--out", tmp_path / "resumed", "--steps", 4, "--checkpoint-every", 2, *common)
    assert first.exit_code == 0 and training(tmp_path / "resumed")["step"] == 4
    at_four = weights(tmp_path / "resumed")
    second = cli("train", "vqgan", "--out", tmp_path / "resumed", "--resume", "--threads", 1, "--steps", 6)

    assert second.exit_code == 0, second.output
    assert "train vqgan: 5/6 " in second.stderr and "train vqgan: 1/" not in second.stderr
    assert training(tmp_path / "resumed")["step"] == 6
    assert not same(weights(tmp_path / "resumed"), at_four)
    assert same(weights(tmp_path / "resumed"), weights(tmp_path / "straight"))


def test_an_interrupted_run_saves_its_step_and_resumes_to_the_same_weights(cli, tmp_path, monkeypatch):
    from artengine.plugins.vqgan.train import VQGANTrainer

    common = ["--data", "tinysquares", "--data-count", 8, "--checkpoint-every", 100, *TINY]
    assert cli("train", "vqgan", "--out", tmp_path / "straight", "--steps", 6, *common).exit_code == 0

    after_step = VQGANTrainer.after_step

    def ctrl_c_at_step_3(self, step):
        if step == 3:
            signal.raise_signal(signal.SIGINT)
        return after_step(self, step)

    monkeypatch.setattr(VQGANTrainer, "after_step", ctrl_c_at_step_3)
    interrupted = cli("train", "vqgan", "--out", tmp_path / "cut", "--steps", 6, *common)
    assert interrupted.exit_code == 130
    assert "stopped at step 3 of 6: checkpoint saved" in interrupted.stderr
    assert training(tmp_path / "cut")["step"] == 3

    monkeypatch.setattr(VQGANTrainer, "after_step", after_step)
    resumed = cli("train", "vqgan", "--out", tmp_path / "cut", "--resume", "--threads", 1)
    assert resumed.exit_code == 0, resumed.output
    assert same(weights(tmp_path / "cut"), weights(tmp_path / "straight"))


def test_the_discriminator_trains_after_its_start_step_and_resumes(cli, tmp_path):
    common = ["--data", "tinysquares", "--data-count", 8, "--discriminator", "--disc-start", 1, *TINY]
    result = cli("train", "vqgan", "--out", tmp_path / "gan", "--steps", 3, *common)
    assert result.exit_code == 0, result.output
    assert " d " in result.stderr.splitlines()[-1]  # the discriminator's hinge loss is reported
    checkpoint = newest_checkpoint(tmp_path / "gan")
    state = torch.load(checkpoint / "trainer.pt", weights_only=True)
    assert "discriminator" in state and "disc_optimizer" in state and checkpoint.name == "step-00000003"
    assert cli("train", "vqgan", "--out", tmp_path / "gan", "--resume", "--threads", 1, "--steps", 4).exit_code == 0


@pytest.mark.parametrize(
    "arguments, expected",
    [
        (["--out", "run", "--steps", 1], "needs --data"),
        (["--data", "nowhere", "--out", "run"], "neither a folder nor a registered dataset"),
        (["--data", "tinysquares", "--out", "run", "--ch-mult", "1,x"], "comma-separated list of integers"),
        (["--data", "tinysquares", "--out", "run", "--ch", "48"], "multiple of 32"),
        (["--data", "tinysquares", "--out", "run", "--image-size", "18", "--ch-mult", "1,1,1"], "multiple of the factor 4"),
        (["--data", "tinysquares", "--out", "run", "--codebook-size", "2048"], "2048 is not in the range"),
        (["--out", "run", "--resume", "--threads", "1"], "holds no checkpoint"),
    ],
)
def test_bad_training_requests_get_one_clear_line(cli, arguments, expected):
    result = cli("train", "vqgan", *arguments)
    assert result.exit_code == 2
    assert expected in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_a_finished_run_is_not_overwritten_and_the_architecture_cannot_change_on_resume(cli, tmp_path):
    common = ["--data", "tinysquares", "--data-count", 4, "--steps", 1, *TINY]
    assert cli("train", "vqgan", "--out", tmp_path / "run", *common).exit_code == 0
    again = cli("train", "vqgan", "--out", tmp_path / "run", *common)
    assert again.exit_code == 2 and "pass --resume" in again.stderr
    wider = cli("train", "vqgan", "--out", tmp_path / "run", "--resume", "--threads", 1, "--steps", 2, "--ch", 64)
    assert wider.exit_code == 2 and "--ch 64 differs from the checkpoint's 32" in wider.stderr
    done = cli("train", "vqgan", "--out", tmp_path / "run", "--resume", "--threads", 1)
    assert done.exit_code == 2 and "already trained to step 1" in done.stderr


def test_the_training_state_is_read_safely_on_resume(cli, tmp_path):
    common = ["--data", "tinysquares", "--data-count", 4, "--steps", 1, *TINY]
    assert cli("train", "vqgan", "--out", tmp_path / "run", *common).exit_code == 0
    marker = tmp_path / "pwned"

    class Payload:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    torch.save({"step": 1, "payload": Payload()}, newest_checkpoint(tmp_path / "run") / "optimizer.pt")
    result = cli("train", "vqgan", "--out", tmp_path / "run", "--resume", "--threads", 1, "--steps", 2)
    assert result.exit_code == 2 and "can run code" in result.stderr
    assert not marker.exists()


def test_eval_reports_psnr_of_fresh_images(cli, tmp_path):
    common = ["--data", "tinysquares", "--data-count", 8, "--steps", 2, *TINY]
    assert cli("train", "vqgan", "--out", tmp_path / "run", *common).exit_code == 0
    result = cli("eval", "vqgan", tmp_path / "run", "--data", "tinysquares", "--n", 5, "--size", 16, "--device", "cpu", "--json")
    assert result.exit_code == 0, result.output
    figures = json.loads(result.stdout)
    assert figures["images"] == 5 and figures["codebook_size"] == 8
    assert figures["psnr_min"] <= figures["psnr_mean"] and 0 < figures["psnr_overall"] < 60
    text = cli("eval", "vqgan", f"vqgan:{tmp_path / 'run'}", "--data", "tinysquares", "--n", 5, "--size", 16, "--device", "cpu")
    assert f"PSNR {figures['psnr_mean']} dB per image" in text.stdout


def test_bf16_autocast_trains_on_the_cpu_too(cli, tmp_path):
    result = cli("train", "vqgan", "--data", "tinysquares", "--data-count", 4, "--out", tmp_path / "run", "--steps", 2,
                 "--precision", "bf16", *TINY)
    assert result.exit_code == 0, result.output
    assert training(tmp_path / "run")["settings"]["precision"] == "bf16"
    assert all(value.dtype == torch.float32 for value in weights(tmp_path / "run").values())


def test_a_decoder_without_group_norm_is_written_under_artengines_own_target(cli, tmp_path):
    common = ["--data", "tinysquares", "--data-count", 4, "--decoder-norm", "none", *TINY]
    assert cli("train", "vqgan", "--out", tmp_path / "run", "--steps", 1, *common).exit_code == 0
    config_path = tmp_path / "run" / "config.json"
    model = json.loads(config_path.read_text())["model"]
    assert model["target"] == "artengine.plugins.vqgan.model.VQGAN" and model["params"]["ddconfig"]["decoder_norm"] == "none"

    older = json.loads(config_path.read_text())
    older["model"]["target"] = "taming.models.vqgan.VQModel"  # taming's class, which builds a GroupNorm decoder
    config_path.write_text(json.dumps(older))
    resumed = cli("train", "vqgan", "--out", tmp_path / "run", "--resume", "--steps", 2)
    assert resumed.exit_code == 0, resumed.output
    assert json.loads(config_path.read_text())["model"]["target"] == "artengine.plugins.vqgan.model.VQGAN"


def test_a_decoder_with_group_norm_is_written_as_plain_taming(cli, tmp_path):
    assert cli("train", "vqgan", "--data", "tinysquares", "--data-count", 4, "--out", tmp_path / "run",
               "--steps", 1, *TINY).exit_code == 0
    model = json.loads((tmp_path / "run" / "config.json").read_text())["model"]
    assert model["target"] == "taming.models.vqgan.VQModel" and "decoder_norm" not in model["params"]["ddconfig"]
