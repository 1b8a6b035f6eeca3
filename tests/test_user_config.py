"""Defaults a user can set: the shipped defaults file, the user's config file, `artengine config`."""

import json
import tomllib
from pathlib import Path

from artengine.files import read_png_metadata


def user_config(tmp_path) -> Path:
    return tmp_path / "user-config" / "config.toml"


def generated(result):
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_config_path_is_in_the_platform_config_folder_or_the_variable(cli, tmp_path, monkeypatch):
    assert cli("config", "path").stdout.strip() == str(user_config(tmp_path))
    monkeypatch.delenv("ARTENGINE_CONFIG_DIR")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    assert cli("config", "path").stdout.strip() == str(tmp_path / "xdg" / "artengine" / "config.toml")


def test_out_of_the_box_generate_needs_no_generator(cli, builtin_plugins):
    document = generated(cli("generate", "a red circle on the left on a black background", "--seed", "1", "--json"))
    assert [image["generator"] for image in document["images"]] == ["dalle"]
    assert read_png_metadata(document["images"][0]["path"])["config"]["generator"]["model"] == "dalle:shapes"


def test_without_the_shipped_generator_installed_the_error_says_how_to_choose(cli):
    result = cli("generate", "red")
    assert result.exit_code == 2
    assert "no generator chosen: pass -g NAME, or set a default with `artengine config set generator NAME`" in result.stderr


def test_user_defaults_apply_to_generate_and_compare(cli, tmp_path):
    assert cli("config", "set", "generator", "solid").exit_code == 0
    assert cli("config", "set", "generator.border", "2").exit_code == 0
    assert cli("config", "set", "n", "2").exit_code == 0
    document = generated(cli("generate", "red", "--seed", "1", "--json"))
    assert len(document["images"]) == 2
    assert read_png_metadata(document["images"][0]["path"])["config"]["generator"] == {
        "name": "solid", "brightness": 1.0, "border": 2}
    document = generated(cli("compare", "red", "-g", "solid", "-g", "slow", "--seed", "1", "--json"))
    assert len(document["images"]) == 4


def test_precedence_user_file_then_config_file_then_flags_then_set(cli, tmp_path):
    user_config(tmp_path).parent.mkdir()
    user_config(tmp_path).write_text('n = 4\nkeep = 0\nseed = 5\ngenerator = "solid"\n')
    (tmp_path / "run.toml").write_text("n = 3\nseed = 6\n")
    document = generated(cli("generate", "red", "--config", "run.toml", "-n", "2", "--set", "seed=7", "--json"))
    assert [image["seed"] for image in document["images"]] == [7, 8]
    document = generated(cli("generate", "red", "--config", "run.toml", "--json"))
    assert [image["seed"] for image in document["images"]] == [6, 7, 8]
    document = generated(cli("generate", "red", "--json"))
    assert [image["seed"] for image in document["images"]] == [5, 6, 7, 8]


def test_a_mistake_in_the_user_file_names_the_file(cli, tmp_path):
    user_config(tmp_path).parent.mkdir()
    user_config(tmp_path).write_text('generator = "solid"\nnn = 3\n')
    result = cli("generate", "red")
    assert result.exit_code == 2
    assert f"user config '{user_config(tmp_path)}': unknown key 'nn' (did you mean 'n'?)" in result.stderr
    user_config(tmp_path).write_text("n = \n")
    result = cli("generate", "red", "-g", "solid")
    assert result.exit_code == 2 and f"config file '{user_config(tmp_path)}' is not valid TOML" in result.stderr


def test_config_set_checks_the_value_and_keeps_the_rest_of_the_file(cli, tmp_path):
    user_config(tmp_path).parent.mkdir()
    user_config(tmp_path).write_text("# my settings\nn = 2 # two at a time\n")
    assert cli("config", "set", "generator", "solid").exit_code == 0
    result = cli("config", "set", "generator.bordr", "3")
    assert result.exit_code == 2 and "unknown option 'generator.bordr' (did you mean 'generator.border'?)" in result.stderr
    assert cli("config", "set", "generator.border", "3").exit_code == 0
    text = user_config(tmp_path).read_text()
    assert "# my settings\nn = 2 # two at a time\n" in text
    assert tomllib.loads(text) == {"n": 2, "generator": {"name": "solid", "border": 3}}
    assert cli("config", "unset", "generator.border").exit_code == 0
    assert tomllib.loads(user_config(tmp_path).read_text()) == {"n": 2, "generator": {"name": "solid"}}
    shown = json.loads(cli("config", "show", "--json").stdout)
    assert shown["settings"] == {"n": 2, "generator": {"name": "solid"}}
