"""Settings: the order the places they come from apply in (`defaults.layered`), one declared default
each, and errors that name the key and the file."""

import itertools
import json
import re
from pathlib import Path

import pytest

from artengine.config import apply_set, merge, resolve
from artengine.errors import UsageError
from artengine.discovery import host as _unused  # noqa: F401


def registry(host):
    return host.registry


def test_defaults(host):
    config = resolve({"generator": "solid", "prompt": "red"}, host.registry)
    assert (config.n, config.keep, config.seed, config.size, config.device, config.out) == (1, 0, -1, None, "auto", "outputs")
    assert config.generator_options == {"brightness": 1.0, "border": 0}
    assert config.scorer is None  # the default scorer (clip) is not installed here and keep is 0


def test_set_reaches_into_tables_and_converts_by_declared_type(host):
    raw = {"generator": "solid"}
    apply_set(raw, "generator.border=4")
    apply_set(raw, "n=3")
    config = resolve(raw, host.registry)
    assert config.generator_options["border"] == 4 and config.n == 3


def test_merge_override_wins_and_changing_generator_drops_its_options():
    base = {"n": 2, "generator": {"name": "solid", "border": 2}}
    assert merge(base, {"generator": {"border": 3}})["generator"] == {"name": "solid", "border": 3}
    assert merge(base, {"generator": "slow"})["generator"] == {"name": "slow"}
    assert merge(base, {"n": 5})["n"] == 5 and base["n"] == 2


def write(tmp_path, text, name="run.toml"):
    path = tmp_path / name
    path.write_text(text)
    return path


def run_json(result):
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_flags_override_the_file_and_set_overrides_flags(cli, tmp_path):
    config = write(tmp_path, 'prompt = "a red thing"\nn = 2\nseed = 7\n[generator]\nname = "solid"\nborder = 2\n')
    document = run_json(cli("generate", "--config", config, "-n", "3", "--set", "n=4", "--json"))
    assert len(document["images"]) == 4
    assert {image["seed"] for image in document["images"]} == {7, 8, 9, 10}
    record = json.loads((tmp_path / document["images"][0]["path"]).read_bytes() and _png_json(document["images"][0]["path"]))
    assert record["config"]["generator"] == {"name": "solid", "brightness": 1.0, "border": 2}


def _png_json(path):
    from artengine.files import read_png_metadata

    return json.dumps(read_png_metadata(path))


def test_prompt_argument_replaces_the_files_prompts(cli, tmp_path):
    config = write(tmp_path, 'prompts = ["green one", "blue one"]\ngenerator = "solid"\nseed = 1\n')
    document = run_json(cli("generate", "a red one", "--config", config, "--json"))
    assert [image["prompt"] for image in document["images"]] == ["a red one"]


def test_prompts_file_in_config_is_relative_to_the_config(cli, tmp_path):
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "prompts.txt").write_text("red\n# skip\nblue\n")
    config = write(tmp_path / "sub", 'prompts_file = "prompts.txt"\ngenerator = "solid"\nseed = 1\n')
    document = run_json(cli("generate", "--config", config, "--json"))
    assert [image["prompt"] for image in document["images"]] == ["red", "blue"]


@pytest.mark.parametrize(
    "text, says",
    [
        ("n = 2\nstpes = 3\n", "config file '{path}': unknown key 'stpes'"),
        ("n = 'two'\n", "config file '{path}': n: expected int, got str 'two'"),
        ("n = 0\n", "config file '{path}': n: 0 is below the minimum 1"),
        ("[generator]\nname = 'solid'\nbordr = 1\n", "unknown option 'generator.bordr' (did you mean 'generator.border'?)"),
        ("[generator]\nname = 'solid'\nborder = 'wide'\n", "config file '{path}': generator.border: expected int, got str 'wide'"),
        ("generator = 'sloid'\n", "unknown generator 'sloid' (did you mean 'solid'?)"),
        ("n = [\n", "is not valid TOML"),
        ("generator = 3\n", "'generator' must be a name or a table"),
        ("[losses]\ntv = 1\n", "unknown loss 'tv'"),
    ],
)
def test_bad_config_files_name_the_key_and_the_file(cli, tmp_path, text, says):
    path = write(tmp_path, text)
    result = cli("generate", "red", "-g", "solid", "--config", path) if "generator" not in text else cli("generate", "red", "--config", path)
    assert result.exit_code == 2
    assert says.format(path=path) in result.stderr
    assert "Traceback" not in result.output
    assert len(result.stderr.strip().splitlines()) == 1


def test_keep_greater_than_n_is_refused(host):
    with pytest.raises(UsageError, match="keep=3 is greater than n=2"):
        resolve({"generator": "solid", "n": 2, "keep": 3, "scorer": "redness"}, host.registry)


def test_keep_needs_a_scorer(host):
    with pytest.raises(UsageError, match="ranks candidates with a scorer"):
        resolve({"generator": "solid", "n": 2, "keep": 1}, host.registry)


@pytest.mark.parametrize("assignment", ["novalue", "=3", "a..b=1", ".x=1"])
def test_bad_set_syntax(assignment):
    with pytest.raises(UsageError, match="expected KEY=VALUE"):
        apply_set({}, assignment)


def test_only_one_generator_installed_is_picked_without_g(host):
    import artengine
    from tests import plugins_for_tests

    fresh = type(host)()
    mod = type(plugins_for_tests)("only_solid")
    mod.register_generators = artengine.hookimpl(lambda register: register(plugins_for_tests.Solid))
    fresh.add(mod, name="only-solid")
    assert resolve({}, fresh.registry).generator == "solid"
    with pytest.raises(UsageError, match="no generator chosen: pass -g NAME"):
        resolve({}, host.registry)


@pytest.mark.parametrize(
    "assignment, key, value",
    [("n=4", "n", 4), ("generator.brightness=0.5", "generator", {"brightness": 0.5}),
     ("generator.name=solid", "generator", {"name": "solid"}), ("device=cpu", "device", "cpu"),
     ('prompts=["a", "b"]', "prompts", ["a", "b"])],
)
def test_set_values_are_toml_literals_or_strings(assignment, key, value):
    raw = {}
    apply_set(raw, assignment)
    assert raw[key] == value


def test_set_with_a_wrong_type_names_the_key(cli):
    result = cli("generate", "red", "-g", "solid", "--set", "generator.border=wide")
    assert result.exit_code == 2
    assert "generator.border: expected int, got str 'wide'" in result.stderr


LAYERS = ("shipped", "user", "file", "flags", "set")


@pytest.mark.parametrize("given", [c for r in range(1, 6) for c in itertools.combinations(LAYERS, r)],
                         ids=lambda given: "<".join(given))
def test_of_the_places_that_give_a_key_the_latest_in_the_order_wins(host, tmp_path, monkeypatch, given):
    from artengine import defaults

    value = {layer: number for number, layer in enumerate(LAYERS, start=2)}  # each place its own n

    def layer(name):
        return {"n": value[name]} if name in given else {}

    monkeypatch.setattr(defaults, "shipped_defaults", lambda registry: layer("shipped"))
    if "user" in given:
        (tmp_path / "user-config").mkdir()
        (tmp_path / "user-config" / "config.toml").write_text(f"n = {value['user']}\n")
    sets = [f"n={value['set']}"] if "set" in given else []
    assert defaults.layered(host.registry, layer("file"), layer("flags"), sets=sets)["n"] == value[given[-1]]


@pytest.mark.parametrize("file, flags, losses, sets, expected", [
    ({"losses": {"tv": {"weight": 0.5, "size": 2}}}, {}, ["tv:0.2"], [], {"tv": {"weight": 0.2, "size": 2}}),
    ({}, {}, ["tv:0.2"], ["losses.tv.weight=0.3"], {"tv": {"weight": 0.3}}),
], ids=["--loss over the file", "--set over --loss"])
def test_losses_come_between_flags_and_set(host, file, flags, losses, sets, expected):
    from artengine.defaults import layered

    assert layered(host.registry, file, flags, losses, sets)["losses"] == expected


@pytest.mark.parametrize("file, flags, prompts", [
    ({"prompts": ["a", "b"]}, {"prompt": "c"}, {"prompt": "c"}),
    ({"prompt": "a"}, {"prompts_file": "p.txt"}, {"prompts_file": "p.txt"}),
    ({"prompts_file": "p.txt"}, {}, {"prompts_file": "p.txt"}),
])
def test_a_prompt_given_in_a_place_replaces_every_prompt_below_it(host, monkeypatch, file, flags, prompts):
    from artengine import defaults

    monkeypatch.setattr(defaults, "shipped_defaults", lambda registry: {"prompt": "shipped", "n": 2})
    raw = defaults.layered(host.registry, file, flags)
    assert {key: raw[key] for key in defaults.PROMPT_KEYS if key in raw} == prompts and raw["n"] == 2


def core_flags():
    """(command, flag, core setting) for every flag that stands for a core setting."""
    import artengine.cli_run as run
    from artengine.plugins.shapes.eval_command import eval_shapes
    from artengine.plugins.ui.command import ui

    for command in (run.generate, run.compare):
        yield from ((command, flag, name) for flag, name in (("-n", "n"), ("--device", "device"), ("--out", "out")))
    yield from [(run.reproduce, "--out", "out"), (ui, "--out", "out"), (eval_shapes, "-n", "n"),
                (eval_shapes, "--device", "device")]


@pytest.mark.parametrize("command, flag, name", list(core_flags()), ids=lambda v: getattr(v, "name", v))
def test_a_flag_for_a_core_setting_shows_its_declared_default_and_choices(command, flag, name):
    from artengine.config import core_option

    declared = core_option(name)
    param = next(param for param in command.params if flag in param.opts)
    shown = param.default if param.show_default else re.search(r"\[default: ([^]]+)\]", param.help).group(1)
    assert str(shown) == str(declared.default)
    assert declared.choices is None or tuple(param.type.choices) == declared.choices


def test_reproduce_without_out_writes_where_generate_does(cli, tmp_path):
    from artengine.config import core_option

    made = run_json(cli("generate", "red", "-g", "solid", "--seed", "1", "--json"))["images"][0]["path"]
    reproduced = json.loads(cli("reproduce", made, "--json").stdout)["reproduced"]
    assert Path(reproduced).parent.parent == tmp_path / core_option("out").default == Path(made).parent.parent
