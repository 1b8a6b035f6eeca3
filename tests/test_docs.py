"""Meta-tests: every hook is documented with its signature and tested; the docs' example runs."""

import inspect
import json
import re
from pathlib import Path

import pytest

import artengine.hookspecs

ROOT = Path(__file__).parent.parent
PLUGINS_DOC = (ROOT / "docs" / "plugins.md").read_text()
HOOKS = sorted(name for name, value in vars(artengine.hookspecs).items() if hasattr(value, "artengine_spec"))


def test_there_are_hooks():
    assert {"register_generators", "register_scorers", "register_losses", "register_model_loaders",
            "register_commands"} <= set(HOOKS)


@pytest.mark.parametrize("hook", HOOKS)
def test_every_hook_is_documented_with_its_exact_signature(hook):
    signature = f"def {hook}{inspect.signature(getattr(artengine.hookspecs, hook))}".replace("'", "")
    assert f"### {hook}\n" in PLUGINS_DOC, f"docs/plugins.md has no section for {hook}"
    assert signature in PLUGINS_DOC, f"docs/plugins.md lacks the signature: {signature}"


@pytest.mark.parametrize("hook", HOOKS)
def test_every_hook_has_a_test(hook):
    tests = "\n".join(path.read_text() for path in (ROOT / "tests").glob("test_*.py") if path.name != "test_docs.py")
    assert re.search(rf"def test_{hook}\w*\(", tests), f"no test named test_{hook}..."


def example_plugin() -> str:
    match = re.search(r"<!-- example: one-file plugin -->\n```python\n(.*?)```", PLUGINS_DOC, re.S)
    assert match, "docs/plugins.md lost its example"
    return match.group(1)


def test_the_documented_one_file_plugin_works(cli, tmp_path):
    folder = tmp_path / "my-plugins"
    folder.mkdir()
    (folder / "my_art.py").write_text(example_plugin())
    plugins = {p["name"]: p for p in json.loads(cli("--plugins-dir", folder, "plugins", "--json").stdout)}
    assert plugins["my_art"]["registered"] == {"generators": ["stripes"], "losses": ["brightness"]}
    assert plugins["my_art"]["version"] == "1.0"

    result = cli("--plugins-dir", folder, "generate", "red and blue", "-g", "stripes", "-n", "2", "--seed", "1", "--json")
    assert result.exit_code == 0, result.output
    images = json.loads(result.stdout)["images"]
    from PIL import Image

    with Image.open(images[0]["path"]) as image:
        assert {colour for _, colour in image.getcolors()} <= {(220, 40, 40), (40, 90, 220)}

    result = cli("--plugins-dir", folder, "compare", "red and yellow", "-g", "stripes", "--axis", "generator.bands=3,12",
                 "--seed", "2", "--json")
    assert result.exit_code == 0, result.output
    run_dir = Path(json.loads(result.stdout)["run_dir"])
    assert (run_dir / "grid.png").is_file() and (run_dir / "index.html").is_file()

    bad = cli("--plugins-dir", folder, "generate", "red", "-g", "stripes", "--set", "generator.direction=diagonal")
    assert bad.exit_code == 2 and "'diagonal' is not one of 'horizontal', 'vertical'" in bad.stderr


def test_the_documented_loss_is_differentiable(host, tmp_path):
    import torch
    namespace = {}
    exec(compile(example_plugin(), "my_art.py", "exec"), namespace)
    loss = namespace["Brightness"]({"weight": 0.5, "target": 0.2}, "cpu")
    images = torch.full((2, 3, 8, 8), 0.7, requires_grad=True)
    value = loss(images, {})
    value.backward()
    assert value.item() == pytest.approx(0.25) and images.grad is not None


def test_every_command_is_in_the_readme_or_docs():
    import artengine.cli

    text = (ROOT / "README.md").read_text() + "".join(p.read_text() for p in (ROOT / "docs").glob("*.md"))
    for name in artengine.cli.cli.commands:
        assert f"artengine {name}" in text, f"`artengine {name}` is not documented"


def test_every_core_setting_is_documented():
    from artengine.config import CORE_OPTIONS

    text = (ROOT / "docs" / "configuration.md").read_text()
    for option in CORE_OPTIONS:
        assert f"`{option.name}`" in text, f"docs/configuration.md does not document `{option.name}`"


def test_core_settings_table_matches_the_declarations():
    from artengine.cli_inspect import options_table
    from artengine.config import CORE_OPTIONS

    text = (ROOT / "docs" / "configuration.md").read_text()
    table = re.search(r"<!-- core-options -->\n(.*?)\n<!-- /core-options -->", text, re.S).group(1)
    assert table == options_table([o.describe() for o in CORE_OPTIONS]), (
        "docs/configuration.md is out of date: paste the table `python -c 'from artengine.cli_inspect import "
        "options_table; from artengine.config import CORE_OPTIONS; print(options_table([o.describe() for o in CORE_OPTIONS]))'` prints"
    )


def test_the_example_file_is_the_documented_example():
    assert (ROOT / "docs" / "examples" / "my_art.py").read_text() == example_plugin()


@pytest.mark.parametrize("config", sorted((ROOT / "configs").glob("*example*.toml")), ids=lambda p: p.name)
def test_example_configs_run(cli, config):
    command = "compare" if "compare" in config.name else "generate"
    result = cli("--plugins-dir", ROOT / "docs" / "examples", command, "--config", config, "--json")
    assert result.exit_code == 0, result.output
