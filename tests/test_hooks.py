"""One behaviour test per hook: what a plugin registers through it is usable from the CLI."""

import json
import types

import click
import pytest

import artengine
from artengine import Dataset, Loss, ModelInfo, ModelLoader, Option, Scorer
from artengine.datasets import open_dataset


def plugin(name, **hooks):
    module = types.ModuleType(name)
    for hook, function in hooks.items():
        setattr(module, hook, artengine.hookimpl(function))
    return module


def test_register_generators_makes_a_generator_usable(cli, host):
    result = cli("list", "generators", "--json")
    solid = next(item for item in json.loads(result.stdout) if item["name"] == "solid")
    assert solid["plugin"] == "test-plugins"
    assert solid["options"][0] == {"name": "brightness", "type": "float", "default": 1.0,
                                   "help": "Multiplies every channel.", "min": 0.0, "max": 2.0}
    assert cli("generate", "red", "-g", "solid", "--seed", "1").exit_code == 0


class Constant(Scorer):
    name = "constant"
    description = "Scores everything the same."
    options = (Option("value", float, 0.25, "The score."),)

    def score(self, images, prompt):
        return [self.settings["value"]] * len(images)


def test_register_scorers_makes_a_scorer_usable(cli, host):
    host.add(plugin("scorers", register_scorers=lambda register: register(Constant)), name="scorers")
    result = cli("generate", "red", "-g", "solid", "-n", "2", "--keep", "1", "--scorer", "constant",
                 "--set", "scorer.value=0.5", "--seed", "1", "--json")
    assert result.exit_code == 0, result.output
    assert [image["score"] for image in json.loads(result.stdout)["images"]] == [0.5]


class Darkness(Loss):
    name = "darkness"
    description = "Prefers dark images."
    options = (Option("power", float, 1.0, "Exponent."),)

    def __call__(self, images, context):
        return images.mean() ** self.settings["power"]


def test_register_losses_reach_the_generator_through_the_request(cli, host):
    seen = []

    class Recorder(artengine.Generator):
        name = "recorder"
        description = "Records the losses it was given."

        def generate(self, request, progress):
            from PIL import Image

            seen.extend((loss.name, loss.weight, loss.settings) for loss in request.losses)
            return [artengine.Candidate(Image.new("RGB", request.size), s) for s in request.seeds]

    host.add(plugin("losses", register_losses=lambda register: register(Darkness),
                    register_generators=lambda register: register(Recorder)), name="losses")
    result = cli("generate", "x", "-g", "recorder", "--loss", "darkness:0.3", "--set", "losses.darkness.power=2.0", "--seed", "1")
    assert result.exit_code == 0, result.output
    assert seen == [("darkness", 0.3, {"weight": 0.3, "power": 2.0})]
    assert "darkness" in cli("list", "losses").stdout


class EchoLoader(ModelLoader):
    kind = "echo"
    description = "Returns what it was asked for."
    spec_forms = ("echo:ANYTHING",)
    loads = 0

    def available(self):
        return [ModelInfo("echo:hello", "A greeting.", {"size": "0 MB"})]

    def load(self, name, device):
        EchoLoader.loads += 1
        return (name, device)


def test_register_model_loaders_serve_load_model_and_list_models(cli, host):
    host.add(plugin("echo", register_model_loaders=lambda register: register(EchoLoader())), name="echo")
    assert artengine.load_model("echo:hi there", device="cpu") == ("hi there", "cpu")
    artengine.load_model("echo:hi there", device="cpu")
    assert EchoLoader.loads == 1  # cached per process
    listing = json.loads(cli("list", "models", "--json").stdout)
    assert listing[0]["spec_forms"] == ["echo:ANYTHING"]
    assert listing[0]["available"] == [{"spec": "echo:hello", "description": "A greeting.", "details": {"size": "0 MB"}}]
    with pytest.raises(artengine.UsageError, match="unknown model loader 'ehco' \\(did you mean 'echo'\\?\\)"):
        artengine.load_model("ehco:x")
    with pytest.raises(artengine.UsageError, match="must look like KIND:NAME"):
        artengine.load_model("no-colon")


class Numbers(Dataset):
    name = "numbers"
    description = "Grey images captioned with their index."
    options = (Option("shade", int, 100, "Grey level.", min=0, max=255),)

    def pairs(self, count, seed):
        from PIL import Image

        return [(Image.new("RGB", (4, 4), (self.settings["shade"],) * 3), [f"number {seed + i}"]) for i in range(count)]


def test_register_datasets_serve_open_dataset(host, tmp_path):
    host.add(plugin("numbers", register_datasets=lambda register: register(Numbers)), name="numbers")
    pairs = open_dataset("numbers", count=3, seed=10, options={"shade": 7})
    assert [captions for _, captions in pairs] == [["number 10"], ["number 11"], ["number 12"]]
    assert pairs[0][0].getpixel((0, 0)) == (7, 7, 7)
    with pytest.raises(artengine.UsageError, match="neither a folder nor a registered dataset"):
        open_dataset("nope")


def test_folder_datasets_pair_images_with_captions(host, tmp_path):
    from PIL import Image

    Image.new("RGB", (4, 4), "red").save(tmp_path / "a.png")
    (tmp_path / "a.txt").write_text("a red square\nred\n")
    Image.new("RGB", (4, 4), "blue").save(tmp_path / "b.png")  # no caption: skipped
    pairs = open_dataset(str(tmp_path))
    assert len(pairs) == 1 and pairs[0][1] == ["a red square", "red"]


def test_register_commands_adds_top_level_and_shared_group_commands(cli, host):
    def register_commands(cli):
        @cli.command()
        def hello():
            """Say hello."""
            click.echo("hello from a plugin")

        @cli.commands["train"].command("toy")
        def train_toy():
            """Train a toy."""
            click.echo("training")

    host.add(plugin("cmds", register_commands=register_commands), name="cmds")
    assert cli("hello").stdout == "hello from a plugin\n"
    assert cli("train", "toy").stdout == "training\n"
    plugins = {p["name"]: p for p in json.loads(cli("plugins", "--json").stdout)}
    assert plugins["cmds"]["registered"]["commands"] == ["hello", "train toy"]


def test_register_commands_cannot_replace_a_command(cli, host):
    def register_commands(cli):
        @cli.command(name="generate")
        def fake():
            click.echo("hijacked")

    host.add(plugin("hijack", register_commands=register_commands), name="hijack")
    result = cli("generate", "red", "-g", "solid", "--seed", "1")
    assert "hijacked" not in result.stdout and result.exit_code == 0
    assert "plugin 'hijack' failed to add commands: PluginError: command 'generate' is already taken" in result.stderr
