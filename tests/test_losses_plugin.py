"""The loss plugin registers its terms, and they are chosen from the CLI or a config file."""

import json

import artengine.plugins.losses


def test_register_losses_registers_the_six_terms(host):
    host.add(artengine.plugins.losses, name="losses")
    assert host.registry.names("loss") == ["clip", "init", "palette", "saturation", "symmetry", "tv"]


def test_losses_are_listed_with_their_options(cli, host):
    host.add(artengine.plugins.losses, name="losses")
    listing = {item["name"]: item for item in json.loads(cli("list", "losses", "--json").stdout)}
    assert {o["name"] for o in listing["palette"]["options"]} == {"colours"}
    assert listing["symmetry"]["options"][0]["choices"] == ["vertical", "horizontal", "both"]


def test_a_bad_loss_option_is_a_one_line_error_before_any_work(cli, host):
    host.add(artengine.plugins.losses, name="losses")
    result = cli("generate", "red", "-g", "solid", "--set", 'losses.palette.colours=["rouge"]')
    assert result.exit_code == 2
    assert "'rouge' is not a colour" in result.output and "Traceback" not in result.output
