"""Ctrl-C keeps the images and the state; `--resume RUN_DIR` continues exactly where it stopped."""

import json
from pathlib import Path

import pytest
import torch
from PIL import Image

from tests.vqgan_clip_helpers import CtrlCPlugin, fast, run_json, use_tiny_models


@pytest.fixture(autouse=True)
def tiny(host):
    use_tiny_models(host)
    host.add(CtrlCPlugin(), name="ctrl-c")
    torch.set_num_threads(1)


def pixels(path):
    with Image.open(path) as image:
        return image.tobytes()


def generate(cli, *extra, steps=6):
    return cli("generate", "-g", "vqgan-clip", "-n", "2", "--seed", "5", "--json", "--loss", "ctrl_c:1",
               *fast("--set", 'generator.augment=["affine","noise"]', *extra, steps=steps))


def stop_at(step, prompt=""):
    return ["--set", f"losses.ctrl_c.at_step={step}", "--set", f"losses.ctrl_c.prompt={prompt}"]


def test_ctrl_c_saves_the_images_marks_them_and_keeps_the_state(cli):
    result = generate(cli, "red", *stop_at(2))
    assert result.exit_code == 130
    summary = json.loads(result.stdout)
    assert summary["status"] == "interrupted" and len(summary["images"]) == 2
    run_dir = Path(summary["run_dir"])
    run = json.loads((run_dir / "run.json").read_text())
    assert all(image["metadata"]["interrupted"] and image["metadata"]["steps"] == 3 for image in run["images"])
    assert len(list((run_dir / "state").glob("*/vqgan-clip.pt"))) == 1


def test_resume_gives_the_images_an_uninterrupted_run_gives(cli):
    whole = run_json(generate(cli, "red", *stop_at(-1)))["images"]
    stopped = generate(cli, "red", *stop_at(2))
    assert stopped.exit_code == 130
    run_dir = json.loads(stopped.stdout)["run_dir"]
    resumed = run_json(cli("generate", "--resume", run_dir, "--json"))
    assert resumed["status"] == "complete" and resumed["run_dir"] == run_dir
    assert [pixels(i["path"]) for i in resumed["images"]] == [pixels(i["path"]) for i in whole]
    run = json.loads((Path(run_dir) / "run.json").read_text())
    assert [i["metadata"]["resumed_at_step"] for i in run["images"]] == [3, 3]
    assert not (Path(run_dir) / "state").exists()  # the core removes the state once the run is complete


def test_a_run_of_several_prompts_resumes_the_stopped_one_and_starts_the_next(cli, tmp_path):
    prompts = tmp_path / "prompts.txt"
    prompts.write_text("red\nblue\ngreen\n")
    whole = run_json(generate(cli, "--prompts", prompts, *stop_at(-1)))["images"]
    stopped = generate(cli, "--prompts", prompts, *stop_at(4, "blue"))
    assert stopped.exit_code == 130
    resumed = run_json(cli("generate", "--resume", json.loads(stopped.stdout)["run_dir"], "--json"))["images"]
    assert [(i["prompt"], pixels(i["path"])) for i in resumed] == [(i["prompt"], pixels(i["path"])) for i in whole]


def test_a_state_from_another_request_or_a_damaged_one_is_refused(cli):
    stopped = generate(cli, "red", *stop_at(2))
    run_dir = Path(json.loads(stopped.stdout)["run_dir"])
    (state,) = (run_dir / "state").glob("*/vqgan-clip.pt")
    saved = torch.load(state, weights_only=True)
    saved["identity"]["prompt"] = "blue"
    torch.save(saved, state)
    result = cli("generate", "--resume", run_dir)
    assert result.exit_code == 2 and "belongs to another request" in result.output
    state.write_bytes(b"not a state")
    result = cli("generate", "--resume", run_dir)
    assert result.exit_code == 2 and "is not a readable generator state" in result.output


def duration(animation):
    """Total milliseconds (Pillow merges identical consecutive frames, adding their durations)."""
    total = 0
    for frame in range(animation.n_frames):
        animation.seek(frame)
        total += animation.info["duration"]
    return total


def test_save_every_sends_previews_and_animate_saves_a_gif_beside_each_image(cli):
    summary = run_json(generate(cli, "red", *stop_at(-1), "--set", "generator.save_every=2",
                                "--set", "generator.animate=true"))
    run_dir = Path(summary["run_dir"])
    previews = sorted((run_dir / "previews").glob("*.png"))
    assert len(previews) == 3
    with Image.open(previews[0]) as preview:
        assert preview.size == (128, 64)  # the two candidates side by side
    for image in summary["images"]:
        gif = Path(image["path"]).with_name(Path(image["path"]).stem + "-progress.gif")
        with Image.open(gif) as animation:
            assert duration(animation) == 3 * 100 + 1500  # every 2 of 6 steps, then the final image held longer
            animation.seek(animation.n_frames - 1)
            last, final = animation.convert("RGB").tobytes(), pixels(image["path"])
            assert sum(abs(a - b) for a, b in zip(last, final)) / len(final) < 4  # up to the GIF's 256 colours


def test_an_animation_survives_an_interruption(cli):
    stopped = generate(cli, "red", *stop_at(1), "--set", "generator.animate=true", "--set", "generator.save_every=1")
    resumed = run_json(cli("generate", "--resume", json.loads(stopped.stdout)["run_dir"], "--json"))
    gif = Path(resumed["images"][0]["path"])
    with Image.open(gif.with_name(gif.stem + "-progress.gif")) as animation:
        assert duration(animation) == 6 * 100 + 1500  # the frames before the stop are kept
