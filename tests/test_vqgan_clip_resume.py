"""Ctrl-C keeps the images and the state; resume_from continues exactly where the run stopped."""

import json
import os
import signal
from pathlib import Path

import pytest
import torch
from PIL import Image

import engine
from engine import Loss, Option
from tests.test_vqgan_clip_support import fast, run_json, use_tiny_models


class CtrlC(Loss):
    """Presses Ctrl-C (sends SIGINT to this process) during a chosen step; adds nothing."""

    name = "ctrl_c"
    description = "test: interrupt at a step"
    options = (Option("at_step", int, 0, "0-based step"),)

    def __call__(self, images, context):
        if context["step"] == self.settings["at_step"]:
            os.kill(os.getpid(), signal.SIGINT)
        return images.sum() * 0


class CtrlCPlugin:
    @engine.hookimpl
    def register_losses(self, register):
        register(CtrlC)


@pytest.fixture(autouse=True)
def tiny(host):
    use_tiny_models(host)
    host.add(CtrlCPlugin(), name="ctrl-c")
    torch.set_num_threads(1)


def pixels(path):
    with Image.open(path) as image:
        return image.tobytes()


def generate(cli, *extra):
    return cli("generate", "red", "-g", "vqgan-clip", "-n", "2", "--seed", "5", "--json",
               *fast("--set", 'generator.augment=["affine","noise"]', *extra, steps=6))


def test_ctrl_c_saves_the_images_marks_them_and_keeps_the_state(cli):
    result = generate(cli, "--loss", "ctrl_c:1", "--set", "losses.ctrl_c.at_step=2", "--set", "generator.work_dir=state")
    assert result.exit_code == 130
    summary = json.loads(result.stdout)
    assert summary["status"] == "interrupted" and len(summary["images"]) == 2
    run = json.loads((Path(summary["run_dir"]) / "run.json").read_text())
    assert all(image["metadata"]["interrupted"] and image["metadata"]["steps"] == 3 for image in run["images"])
    assert len(list(Path("state").glob("vqgan-clip-state-*.pt"))) == 1


def test_resuming_gives_the_image_an_uninterrupted_run_gives(cli):
    whole = run_json(generate(cli))["images"]
    stopped = generate(cli, "--loss", "ctrl_c:1", "--set", "losses.ctrl_c.at_step=2", "--set", "generator.work_dir=state")
    assert stopped.exit_code == 130
    Path("resume.toml").write_text('[generator]\nname = "vqgan-clip"\nresume_from = "state"\n')
    resumed = run_json(generate(cli, "--config", "resume.toml"))["images"]
    assert [pixels(i["path"]) for i in resumed] == [pixels(i["path"]) for i in whole]
    run = json.loads((Path(resumed[0]["path"]).parent / "run.json").read_text())
    assert run["images"][0]["metadata"]["resumed_at_step"] == 3 and run["images"][0]["metadata"]["steps"] == 6


def test_resuming_a_finished_request_returns_its_images_without_more_steps(cli):
    whole = run_json(generate(cli, "--set", "generator.work_dir=state"))["images"]
    again = run_json(generate(cli, "--set", "generator.resume_from=state"))["images"]
    assert [pixels(i["path"]) for i in again] == [pixels(i["path"]) for i in whole]


def test_a_request_the_state_folder_has_no_state_for_starts_afresh(cli):
    generate(cli, "--set", "generator.work_dir=state")
    result = cli("generate", "red", "-g", "vqgan-clip", "-n", "2", "--seed", "5", "--size", "32x32", "--json",
                 *fast("--set", "generator.resume_from=state", steps=6))
    run = json.loads((Path(run_json(result)["run_dir"]) / "run.json").read_text())
    assert "resumed_at_step" not in run["images"][0]["metadata"] and run["images"][0]["metadata"]["steps"] == 6


def test_a_damaged_state_file_is_refused_with_one_line(cli):
    generate(cli, "--set", "generator.work_dir=state")
    for path in Path("state").glob("*.pt"):
        path.write_bytes(b"not a state")
    result = generate(cli, "--set", "generator.resume_from=state")
    assert result.exit_code == 2 and "is not a readable state file" in result.output


def test_save_every_sends_previews_and_animate_writes_a_gif(cli):
    summary = run_json(generate(cli, "--set", "generator.save_every=2", "--set", "generator.animate=true",
                                "--set", "generator.work_dir=work"))
    previews = sorted((Path(summary["run_dir"]) / "previews").glob("*.png"))
    assert len(previews) == 3
    with Image.open(previews[0]) as preview:
        assert preview.size == (128, 64)  # the two candidates side by side
    gifs = list(Path("work").glob("*.gif"))
    assert len(gifs) == 1
    with Image.open(gifs[0]) as gif:
        assert gif.n_frames == 4  # every 2 of 6 steps, then the final images
