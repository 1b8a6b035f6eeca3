"""docs/vqgan-clip.md and docs/clip-diffusion.md list every option of the generators and the losses as they are declared."""

import re
from pathlib import Path

import artengine.plugins.losses
import artengine.plugins.clip_guided
from artengine.cli_inspect import options_table

DOC = Path(__file__).parent.parent / "docs" / "vqgan-clip.md"


def generator_options() -> str:
    return options_table([option.describe() for option in artengine.plugins.clip_guided.OPTIONS])


def loss_options() -> str:
    parts = []
    for loss in artengine.plugins.losses.LOSSES:
        parts.append(f"**`{loss.name}`**: {loss.description}")
        if loss.options:
            parts.append(options_table([option.describe() for option in loss.options]))
    return "\n\n".join(parts)


def section(name: str) -> str:
    match = re.search(rf"<!-- {name} -->\n(.*?)\n<!-- /{name} -->", DOC.read_text(), re.S)
    assert match, f"docs/vqgan-clip.md lost its {name} markers"
    return match.group(1)


def test_the_generator_options_table_matches_the_declarations():
    assert section("vqgan-clip-options") == generator_options(), (
        "docs/vqgan-clip.md is out of date: paste tests.test_vqgan_clip_docs.generator_options()")


def test_the_loss_options_match_the_declarations():
    assert section("loss-options") == loss_options(), (
        "docs/vqgan-clip.md is out of date: paste tests.test_vqgan_clip_docs.loss_options()")


def test_the_documented_loss_plugin_works(cli, host, tmp_path):
    from tests.vqgan_clip_helpers import fast, run_json, use_tiny_models

    use_tiny_models(host)
    match = re.search(r"### Writing your own loss.*?```python\n(.*?)```", DOC.read_text(), re.S)
    assert match, "docs/vqgan-clip.md lost its loss example"
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "darkness.py").write_text(match.group(1))
    summary = run_json(cli("--plugins-dir", tmp_path / "mine", "generate", "a red circle", "-g", "vqgan-clip",
                           "--loss", "darkness:0.5", "--set", "losses.darkness.power=2", "--json", *fast()))
    assert summary["status"] == "complete"


def test_the_diffusion_loss_options_match_the_declarations():
    import artengine.plugins.diffusion

    table = options_table([option.describe() for option in artengine.plugins.diffusion.DiffusionLoss.options])
    assert section("diffusion-options") == table, "docs/vqgan-clip.md's diffusion loss table is out of date"


def test_the_clip_diffusion_options_table_matches_the_declarations():
    table = options_table([option.describe() for option in artengine.plugins.clip_guided.DIFFUSION_OPTIONS])
    match = re.search(r"<!-- clip-diffusion-options -->\n(.*?)\n<!-- /clip-diffusion-options -->",
                      (DOC.parent / "clip-diffusion.md").read_text(), re.S)
    assert match and match.group(1) == table, "docs/clip-diffusion.md's options table is out of date"
