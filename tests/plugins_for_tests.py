"""Small plugins the tests register (never shipped as built-ins).

`solid` paints the whole canvas in one colour: the first colour word of the prompt, nudged
by the seed. `redness` scores images by how red they are. `slow` takes steps and can be
stopped; `crashing` raises inside generate. The trainer `line` fits a line with a tiny
network, for the engine's training loop.
"""

import json
import os
import random
import signal
from pathlib import Path

from PIL import Image

import artengine
from artengine import Candidate, Generator, Option, Scorer, Trainer

__version__ = "1.2.3"

COLOURS = {"red": (220, 40, 40), "green": (40, 170, 60), "blue": (40, 90, 220), "white": (255, 255, 255)}


def colour_for(prompt, seed):
    base = next((COLOURS[w] for part in prompt.positive for w in part.text.split() if w in COLOURS), (128, 128, 128))
    jitter = random.Random(seed).randint(-20, 20)
    return tuple(max(0, min(255, c + jitter)) for c in base)


class Solid(Generator):
    name = "solid"
    description = "Paints the canvas in the prompt's colour."
    options = (
        Option("brightness", float, 1.0, "Multiplies every channel.", min=0.0, max=2.0),
        Option("border", int, 0, "Width of a black border in pixels.", min=0),
    )

    def check(self, request):
        if request.size[0] % 8 or request.size[1] % 8:
            raise artengine.UsageError(f"size {request.size[0]}x{request.size[1]}: solid needs multiples of 8")

    def generate(self, request, progress):
        out = []
        for index, seed in enumerate(request.seeds):
            colour = tuple(min(255, int(c * request.options["brightness"])) for c in colour_for(request.prompt, seed))
            image = Image.new("RGB", request.size, colour)
            if request.options["border"]:
                b = request.options["border"]
                inner = Image.new("RGB", (request.size[0] - 2 * b, request.size[1] - 2 * b), colour)
                image = Image.new("RGB", request.size, (0, 0, 0))
                image.paste(inner, (b, b))
            progress(index + 1, request.count, image)
            out.append(Candidate(image, seed, {"colour": list(colour)}, files={"colour.txt": str(colour).encode()}))
        return out


class Slow(Generator):
    """Counts steps; when stopped it saves the step reached in `request.state_dir`, and a
    resumed request starts from there. TEST_STOP_AT_STEP=K stops it at step K."""

    name = "slow"
    description = "Takes `steps` steps per candidate; returns partial work when stopped."
    options = (Option("steps", int, 5, "Steps per image.", min=1),)

    def generate(self, request, progress):
        import json

        state = request.state_dir / "state.json" if request.state_dir else None
        start = json.loads(state.read_text())["step"] if state and state.exists() else 0
        step = start
        total = request.options["steps"]
        try:
            while step < total:
                step += 1
                if step == int(os.environ.get("TEST_STOP_AT_STEP", 0)):  # as if Ctrl-C were pressed
                    progress.request_stop()
                progress(step, total)
        except artengine.StopRequested:
            if state:
                state.parent.mkdir(parents=True, exist_ok=True)
                state.write_text(json.dumps({"step": step}))
        interrupted = step < total
        return [Candidate(Image.new("RGB", request.size, (seed % 256, step % 256, 0)), seed,
                          {"interrupted": interrupted, "started_at": start}) for seed in request.seeds]


class Crashing(Generator):
    name = "crashing"
    description = "Raises inside generate."

    def generate(self, request, progress):
        raise RuntimeError("boom")


class Redness(Scorer):
    name = "redness"
    description = "Scores by the mean red minus the mean of green and blue."
    options = (Option("scale", float, 1.0, "Multiplies the score."),)

    def score(self, images, prompt):
        scores = []
        for image in images:
            from PIL import ImageStat

            r, g, b = ImageStat.Stat(image.convert("RGB")).mean
            scores.append(self.settings["scale"] * (r - (g + b) / 2) / 255)
        return scores


@artengine.hookimpl
def register_generators(register):
    register(Solid)
    register(Slow)
    register(Crashing)


@artengine.hookimpl
def register_scorers(register):
    register(Redness)


class Line(Trainer):
    """Fits y = 3x - 1 on noisy points. TEST_TRAIN_STOP_AT=K sends itself Ctrl-C after step K."""

    name = "line"
    description = "Fits a line with a tiny network (for the training loop's tests)."
    defaults = {"steps": 12, "batch_size": 4, "lr": 0.05, "warmup": 2, "checkpoint_every": 4, "grad_clip": 0.0}
    fixed = ("points", "hidden")
    checkpointed = ("seen",)  # how often each point was drawn: the trainer's own state
    options = (
        Option("points", int, 24, "Points to fit.", min=1),
        Option("hidden", int, 8, "Hidden units.", min=1),
        Option("dropout", float, 0.0, "Dropout between the layers.", min=0.0, max=1.0),
    )

    def setup(self):
        import torch

        points = torch.linspace(-1, 1, self.settings["points"])[:, None]
        self.points, self.targets = points, 3 * points - 1
        self.seen = torch.zeros(len(points))
        self.model = torch.nn.Sequential(torch.nn.Linear(1, self.settings["hidden"]), torch.nn.Tanh(),
                                         torch.nn.Dropout(self.settings["dropout"]),
                                         torch.nn.Linear(self.settings["hidden"], 1)).to(self.run.device)
        return self.model

    def optimizer(self, model):
        import torch

        return torch.optim.AdamW(model.parameters(), lr=self.settings["lr"])

    def examples(self):
        return len(self.points)

    def batch(self, indices, seed):
        import torch

        self.seen[indices] += 1
        noise = 0.01 * torch.randn(len(indices), 1, generator=torch.Generator().manual_seed(seed))
        return self.points[indices].to(self.run.device), (self.targets[indices] + noise).to(self.run.device)

    def loss(self, model, batch):
        points, targets = batch
        loss = (model(points).float() - targets).pow(2).mean()
        return loss, {"loss": float(loss.detach())}

    def after_step(self, step):
        if os.environ.get("TEST_TRAIN_STOP_AT") == str(step):
            signal.raise_signal(signal.SIGINT)

    def save(self, step, figures):
        self.run.out.mkdir(parents=True, exist_ok=True)
        record = {"step": step, "figures": figures, "seen": self.seen.tolist(), "training": self.run.record(step)}
        (self.run.out / "line.json").write_text(json.dumps(record))

    def sample(self, step):
        folder = self.run.out / "samples"
        folder.mkdir(parents=True, exist_ok=True)
        prediction = self.model(self.points.to(self.run.device)).detach().flatten().tolist()
        (folder / f"step-{step}.json").write_text(json.dumps(prediction))


@artengine.hookimpl
def register_trainers(register):
    register(Line)
def artengine_script(body: str) -> str:
    """Python source for `python -c`: artengine with the test plugins, then `body` (which calls `main()`)."""
    root = str(Path(__file__).parent.parent)
    return f"""
import sys, artengine.discovery
sys.path.insert(0, {root!r})
from tests import plugins_for_tests
artengine.discovery.host.add(plugins_for_tests, name="test-plugins")
from artengine.cli import main
""" + body
