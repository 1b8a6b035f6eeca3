"""reproduce: re-run a PNG from its metadata, treated as untrusted data."""

import json
from pathlib import Path

from PIL import Image
from PIL.PngImagePlugin import PngInfo

from artengine.files import read_png_metadata


def make_image(cli, *args):
    result = cli("generate", "a blue square|red:-1", "-g", "solid", "-n", "3", "--seed", "40",
                 "--set", "generator.border=2", *args, "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)["images"]


def test_reproduces_one_image_identically(cli):
    third = make_image(cli)[2]
    result = cli("reproduce", third["path"], "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["identical"] is True and report["max_difference"] == 0
    again = read_png_metadata(report["reproduced"])
    assert again["seed"] == 42 and again["config"]["generator"]["border"] == 2


def test_says_when_the_image_differs(cli, tmp_path):
    path = Path(make_image(cli)[0]["path"])
    with Image.open(path) as image:
        tampered = image.copy()
        text = image.text
    tampered.putpixel((5, 5), (0, 0, 0))
    info = PngInfo()
    for key, value in text.items():
        info.add_itxt(key, value)
    tampered.save(tmp_path / "tampered.png", pnginfo=info)
    result = cli("reproduce", tmp_path / "tampered.png")
    assert result.exit_code == 1
    assert result.stdout.startswith("different (largest pixel difference")


def png_with_metadata(path, record):
    info = PngInfo()
    info.add_itxt("artengine", record if isinstance(record, str) else json.dumps(record))
    Image.new("RGB", (8, 8)).save(path, pnginfo=info)
    return path


def valid_record(**changes):
    record = {"prompt": "red", "seed": 1, "config": {"generator": {"name": "solid"}, "n": 1, "device": "cpu"}}
    record.update(changes)
    return record


def test_metadata_is_validated_like_command_line_input(cli, tmp_path):
    cases = {
        "no-json.png": ("not json", "not valid JSON"),
        "list.png": ("[1, 2]", "not a JSON object"),
        "no-seed.png": (valid_record(seed="1"), "lacks a valid config, prompt or seed"),
        "bad-key.png": (valid_record(config={"generator": "solid", "evil": 1}), "unknown key 'evil'"),
        "bad-option.png": (valid_record(config={"generator": {"name": "solid", "border": -3}}), "border: -3 is below the minimum 0"),
        "unknown-gen.png": (valid_record(config={"generator": "nope"}), "unknown generator 'nope'"),
        "bad-prompt.png": (valid_record(prompt="x:abc"), "bad weight"),
    }
    for name, (record, says) in cases.items():
        result = cli("reproduce", png_with_metadata(tmp_path / name, record))
        assert result.exit_code == 2, (name, result.output)
        assert says in result.stderr and len(result.stderr.strip().splitlines()) == 1, (name, result.stderr)
    assert not (tmp_path / "outputs").exists()


def test_metadata_cannot_choose_where_outputs_go(cli, tmp_path):
    record = valid_record(config={"generator": "solid", "out": str(tmp_path / "elsewhere")})
    result = cli("reproduce", png_with_metadata(tmp_path / "x.png", record), "--out", "mine", "--json")
    assert result.exit_code in (0, 1), result.output
    assert (tmp_path / "mine").is_dir() and not (tmp_path / "elsewhere").exists()


def test_a_png_without_metadata_or_not_a_png(cli, tmp_path):
    Image.new("RGB", (4, 4)).save(tmp_path / "plain.png")
    assert "has no artengine metadata" in cli("reproduce", tmp_path / "plain.png").stderr
    (tmp_path / "text.png").write_text("hello")
    assert "is not a readable PNG image" in cli("reproduce", tmp_path / "text.png").stderr
