"""Plugin discovery: entry points, --plugins-dir, restriction, broken plugins, strict mode, conflicts."""

import json
import sys
import textwrap

import pytest

GENERATOR_PLUGIN = '''
from PIL import Image
import artengine

__version__ = "{version}"

class {cls}(artengine.Generator):
    name = "{name}"
    description = "Paints grey."

    def generate(self, request, progress):
        return [artengine.Candidate(Image.new("RGB", request.size, (128, 128, 128)), s) for s in request.seeds]

@artengine.hookimpl
def register_generators(register):
    register({cls})
'''


def plugin_file(folder, stem, name="grey", version="0.3", cls="Grey", body=None):
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{stem}.py"
    path.write_text(body if body is not None else GENERATOR_PLUGIN.format(name=name, version=version, cls=cls))
    return path


def installed_distribution(tmp_path, monkeypatch, module="ext_plugin", dist="artengine-ext", version="2.0"):
    """A package installed the way pip installs one: a module plus dist-info with entry points."""
    site = tmp_path / "site"
    plugin_file(site, module, name="ext", cls="Ext")
    info = site / f"{dist.replace('-', '_')}-{version}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\n")
    (info / "entry_points.txt").write_text(f"[artengine]\next = {module}\n")
    monkeypatch.syspath_prepend(str(site))
    return site


def plugins_json(cli, *args):
    result = cli(*args, "plugins", "--json")
    assert result.exit_code == 0, result.output
    return {p["name"]: p for p in json.loads(result.stdout)}, result


def test_entry_point_plugins_are_found(cli, builtin_plugins, tmp_path, monkeypatch):
    installed_distribution(tmp_path, monkeypatch)
    plugins, _ = plugins_json(cli)
    assert plugins["ext"]["source"] == "entry point"
    assert plugins["ext"]["version"] == "0.3"  # the module's __version__ wins over the dist's
    assert plugins["ext"]["hooks"] == ["register_generators"]
    assert plugins["ext"]["registered"] == {"generators": ["ext"]}


def test_a_one_file_plugin_in_a_directory_is_loaded(cli, tmp_path):
    plugin_file(tmp_path / "mine", "grey_plugin")
    plugins, _ = plugins_json(cli, "--plugins-dir", tmp_path / "mine")
    assert plugins["grey_plugin"]["source"] == "directory"
    assert plugins["grey_plugin"]["location"].endswith("grey_plugin.py")
    result = cli("--plugins-dir", tmp_path / "mine", "generate", "x", "-g", "grey", "--seed", "1", "--json")
    assert result.exit_code == 0, result.output


def test_plugins_dir_from_environment(cli, tmp_path, monkeypatch):
    plugin_file(tmp_path / "a", "from_env")
    monkeypatch.setenv("ARTENGINE_PLUGINS_DIR", str(tmp_path / "a"))
    plugins, _ = plugins_json(cli)
    assert "from_env" in plugins


def test_plugin_directories_load_only_when_named(cli, tmp_path):
    plugin_file(tmp_path, "lying_around")  # in the working directory, but not named
    plugins, _ = plugins_json(cli)
    assert "lying_around" not in plugins


def test_broken_plugin_gives_one_warning_and_the_rest_works(cli, tmp_path):
    folder = tmp_path / "plugins"
    plugin_file(folder, "broken", body="import does_not_exist_anywhere\n")
    plugin_file(folder, "good")
    result = cli("--plugins-dir", folder, "generate", "x", "-g", "grey", "--seed", "1")
    assert result.exit_code == 0, result.output
    warnings = [line for line in result.stderr.splitlines() if "warning" in line]
    assert warnings == [
        "artengine: warning: plugin 'broken' (directory) failed to load: "
        "ModuleNotFoundError: No module named 'does_not_exist_anywhere'"
    ]
    plugins, listing = plugins_json(cli, "--plugins-dir", folder)
    assert plugins["broken"]["error"] and plugins["good"]["error"] is None


def test_plugin_raising_inside_a_register_hook_is_isolated(cli, tmp_path):
    body = "import artengine\n@artengine.hookimpl\ndef register_generators(register):\n    raise ValueError('oops')\n"
    plugin_file(tmp_path / "p", "raises", body=body)
    result = cli("--plugins-dir", tmp_path / "p", "list", "generators")
    assert result.exit_code == 0
    assert "plugin 'raises' failed to register: ValueError: oops" in result.stderr
    assert "solid" in result.stdout


def test_strict_mode_turns_a_broken_plugin_into_an_error(cli, tmp_path, monkeypatch):
    plugin_file(tmp_path / "p", "broken", body="raise RuntimeError('nope')\n")
    monkeypatch.setenv("ARTENGINE_STRICT_PLUGINS", "1")
    result = cli("--plugins-dir", tmp_path / "p", "plugins")
    assert result.exit_code == 1
    assert result.stderr.strip() == (
        "artengine: error: plugin 'broken' (directory) failed to load: RuntimeError: nope "
        "(ARTENGINE_STRICT_PLUGINS is set)"
    )


def test_load_plugins_restricts_to_named_plugins(cli, tmp_path, monkeypatch):
    plugin_file(tmp_path / "p", "one", name="one", cls="One")
    plugin_file(tmp_path / "p", "two", name="two", cls="Two")
    monkeypatch.setenv("ARTENGINE_LOAD_PLUGINS", "two")
    plugins, _ = plugins_json(cli, "--plugins-dir", tmp_path / "p")
    assert "two" in plugins and "one" not in plugins


def test_registering_a_taken_name_is_an_error_naming_both_plugins(cli, tmp_path):
    plugin_file(tmp_path / "p", "impostor", name="solid", cls="Impostor")
    result = cli("--plugins-dir", tmp_path / "p", "list", "generators", "--json")
    assert result.exit_code == 0
    assert (
        "plugin 'impostor' failed to register: PluginError: plugin 'impostor' registered generator "
        "'solid', which plugin 'test-plugins' already registered"
    ) in result.stderr
    [solid] = [g for g in json.loads(result.stdout) if g["name"] == "solid"]
    assert solid["plugin"] == "test-plugins"


def test_registering_something_that_is_not_a_generator_is_refused(cli, tmp_path):
    body = "import artengine\n@artengine.hookimpl\ndef register_generators(register):\n    register(object)\n"
    plugin_file(tmp_path / "p", "wrong", body=body)
    result = cli("--plugins-dir", tmp_path / "p", "plugins")
    assert "must be a subclass of Generator" in result.stderr


def test_missing_plugins_dir_is_reported(cli, tmp_path):
    result = cli("--plugins-dir", tmp_path / "nope", "plugins")
    assert result.exit_code == 0
    assert "plugins directory" in result.stderr and "does not exist" in result.stderr


def test_plugins_text_listing(cli, tmp_path):
    plugin_file(tmp_path / "p", "grey_plugin")
    result = cli("--plugins-dir", tmp_path / "p", "plugins")
    assert "grey_plugin 0.3 (directory:" in result.stdout
    assert "  hooks: register_generators" in result.stdout
    assert "  generators: grey" in result.stdout
