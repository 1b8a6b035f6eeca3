"""One constructor for every item kind: the engine builds each registered generator, scorer,
loss, dataset and trainer as `cls(options, device)`, its declared options resolved and the
resolved device; whatever else a kind needs arrives with each use. A class whose constructor
cannot take that is refused when registered, in one line naming the plugin."""

import json
import types

import pytest

import artengine
from artengine import Candidate, Dataset, Generator, Loss, Option, Scorer, Trainer
from artengine.datasets import open_dataset
from artengine.errors import PluginError
from artengine.registry import Registry
from tests.plugins_for_tests import Line

BUILT = []
"""(class name, settings, device) of each item built, in order."""


class Recorded:
    """Records how the engine built it."""

    def __init__(self, options, device):
        super().__init__(options, device)
        BUILT.append((type(self).__name__, self.settings, self.device))


class Painter(Recorded, Generator):
    name = "painter"
    description = "Paints black."
    options = (Option("shade", int, 0, "Grey level."),)

    def generate(self, request, progress):
        from PIL import Image

        return [Candidate(Image.new("RGB", request.size, (self.settings["shade"],) * 3), s) for s in request.seeds]


class Judge(Recorded, Scorer):
    name = "judge"
    description = "Scores everything 1."

    def score(self, images, prompt):
        return [1.0] * len(images)


class Mark(Recorded, Loss):
    name = "mark"
    description = "A loss no one computes."
    options = (Option("power", float, 1.0, "Exponent."),)

    def __call__(self, images, context):
        return images.mean()


class Pairs(Recorded, Dataset):
    name = "pairs"
    description = "Grey pairs."

    def pairs(self, count, seed):
        from PIL import Image

        return [(Image.new("RGB", (4, 4)), ["grey"])] * count


class RecordedLine(Recorded, Line):
    name = "recorded-line"


def register_all(host):
    module = types.ModuleType("recorded")
    module.register_generators = artengine.hookimpl(lambda register: register(Painter))
    module.register_scorers = artengine.hookimpl(lambda register: register(Judge))
    module.register_losses = artengine.hookimpl(lambda register: register(Mark))
    module.register_datasets = artengine.hookimpl(lambda register: register(Pairs))
    module.register_trainers = artengine.hookimpl(lambda register: register(RecordedLine))
    host.add(module, name="recorded")


def test_the_engine_builds_every_kind_of_item_from_its_options_and_device(cli, host, tmp_path):
    BUILT.clear()
    register_all(host)
    result = cli("generate", "x", "-g", "painter", "--set", "generator.shade=9", "--loss", "mark:0.3", "--scorer", "judge",
                 "--device", "cpu", "--seed", "1", "--json")
    assert result.exit_code == 0, result.output
    open_dataset("pairs", count=1)
    assert cli("train", "recorded-line", "--out", tmp_path / "run", "--steps", 1, "--device", "cpu").exit_code == 0
    kinds = {name: (settings, device) for name, settings, device in BUILT}
    assert kinds["Painter"] == ({"shade": 9}, "cpu")
    assert kinds["Mark"] == ({"weight": 0.3, "power": 1.0}, "cpu")  # a loss's weight is one of its settings
    assert kinds["Judge"] == ({}, "cpu")
    assert kinds["Pairs"] == ({}, "cpu")  # a dataset's pairs are PIL images: made on the CPU
    settings, device = kinds["RecordedLine"]
    assert device == "cpu" and settings["steps"] == 1 and settings["points"] == 24  # the engine's options and its own


def test_a_loss_weighs_what_its_options_say():
    assert Mark({"weight": 0.3}, "cpu").weight == 0.3
    assert Mark({}, "cpu").weight == 1.0


def constructor(parameters):
    """An `__init__` taking `parameters` after `self`."""
    namespace = {}
    exec(f"def __init__({', '.join(('self', *parameters))}):\n    pass", namespace)
    return namespace["__init__"]


@pytest.mark.parametrize("base", [Generator, Scorer, Loss, Dataset, Trainer])
@pytest.mark.parametrize("parameters, fitting", [
    (None, True),  # inherited: Item's (options, device)
    (("options", "device"), True),
    (("options", "device", "extra=1"), True),
    (("*args", "**kwargs"), True),
    ((), False),  # an old Generator
    (("weight", "options"), False),  # an old Loss: it would take the options for its weight
    (("settings", "run"), False),  # an old Trainer
    (("options",), False),
])
def test_registering_an_item_whose_constructor_does_not_fit_is_refused_in_one_line(base, parameters, fitting):
    attributes = {"name": "mine", "description": "Mine."}
    if parameters is not None:
        attributes["__init__"] = constructor(parameters)
    cls = type("Mine", (base,), attributes)
    kind = {Generator: "generator", Scorer: "scorer", Loss: "loss", Dataset: "dataset", Trainer: "trainer"}[base]
    if fitting:
        assert Registry().add(kind, cls, "plug") == "mine"
        return
    with pytest.raises(PluginError) as error:
        Registry().add(kind, cls, "plug")
    assert str(error.value).startswith(f"plugin 'plug' registered {kind} 'mine', whose constructor takes Mine(")
    assert str(error.value).endswith("the engine builds every item as Mine(options, device): take those two, "
                                     "or define no __init__")


def test_a_plugin_with_an_old_constructor_is_dropped_with_a_warning_naming_it(cli, tmp_path):
    (tmp_path / "p").mkdir()
    (tmp_path / "p" / "old.py").write_text(
        "import artengine\n"
        "class Old(artengine.Loss):\n    name = 'old'\n    description = 'Old.'\n"
        "    def __init__(self, weight, options):\n        super().__init__(options, 'cpu')\n"
        "    def __call__(self, images, context):\n        return images.mean()\n"
        "@artengine.hookimpl\ndef register_losses(register):\n    register(Old)\n")
    result = cli("--plugins-dir", tmp_path / "p", "list", "losses", "--json")
    assert result.exit_code == 0 and "old" not in [loss["name"] for loss in json.loads(result.stdout)]
    assert "plugin 'old' failed to register: PluginError: plugin 'old' registered loss 'old', whose constructor takes " \
           "Old(weight, options)" in result.stderr


def test_every_built_in_item_fits(cli, builtin_plugins, monkeypatch):
    monkeypatch.setenv("ARTENGINE_STRICT_PLUGINS", "1")  # a refused item would be an error
    result = cli("plugins", "--json")
    assert result.exit_code == 0, result.stderr
