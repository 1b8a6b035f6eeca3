"""A PNG's `parameters` text reads in stable-diffusion-webui as webui's own infotexts do.

`webui_parse` and `webui_attention` re-implement, from its regexes, the code webui runs on a
pasted infotext: modules/infotext_utils.py (`re_param`, `re_imagesize`,
`parse_generation_parameters`, whose errors it prints and which are collected here) and
modules/prompt_parser.py (`re_attention`, `parse_prompt_attention`), in
AUTOMATIC1111/stable-diffusion-webui.
"""

import json
import re
from pathlib import Path

import pytest
from PIL import Image
from PIL.PngImagePlugin import PngInfo

from artengine import Option, parse_prompt
from artengine.infotext import format_parameters, prompt_from_parameters, read_parameters

RE_PARAM = re.compile(r'\s*(\w[\w \-/]+):\s*("(?:\\.|[^\\"])+"|[^,]*)(?:,|$)')
RE_IMAGESIZE = re.compile(r"^(\d+)x(\d+)$")
RE_ATTENTION = re.compile(r"""\\\(|\\\)|\\\[|\\]|\\\\|\\|\(|\[|:\s*([+-]?[.\d]+)\s*\)|\)|]|[^\\()\[\]:]+|:""")


def webui_parse(text):
    """(fields, errors) as webui's parse_generation_parameters finds them."""
    res, errors, prompt, negative, done = {}, [], "", "", False
    *lines, lastline = text.strip().split("\n")
    if len(RE_PARAM.findall(lastline)) < 3:
        lines.append(lastline)
        lastline = ""
    for line in lines:
        line = line.strip()
        if line.startswith("Negative prompt:"):
            done = True
            line = line[16:].strip()
        if done:
            negative += ("" if negative == "" else "\n") + line
        else:
            prompt += ("" if prompt == "" else "\n") + line
    res["Prompt"], res["Negative prompt"] = prompt, negative
    for k, v in RE_PARAM.findall(lastline):
        try:
            if v[0] == '"' and v[-1] == '"':
                v = json.loads(v)
            m = RE_IMAGESIZE.match(v)
            if m is not None:
                res[f"{k}-1"], res[f"{k}-2"] = m.group(1), m.group(2)
            else:
                res[k] = v
        except Exception:
            errors.append(f'Error parsing "{k}: {v}"')
    return res, errors


def webui_attention(text):
    """[(text, weight)] as webui's parse_prompt_attention weighs a prompt."""
    res, round_brackets, square_brackets = [], [], []

    def multiply_range(start, multiplier):
        for p in range(start, len(res)):
            res[p][1] *= multiplier

    for m in RE_ATTENTION.finditer(text):
        token, weight = m.group(0), m.group(1)
        if token.startswith("\\"):
            res.append([token[1:], 1.0])
        elif token == "(":
            round_brackets.append(len(res))
        elif token == "[":
            square_brackets.append(len(res))
        elif weight is not None and round_brackets:
            multiply_range(round_brackets.pop(), float(weight))
        elif token == ")" and round_brackets:
            multiply_range(round_brackets.pop(), 1.1)
        elif token == "]" and square_brackets:
            multiply_range(square_brackets.pop(), 1 / 1.1)
        else:
            res.append([token, 1.0])
    merged = []
    for chunk, weight in res:
        if merged and merged[-1][1] == weight:
            merged[-1][0] += chunk
        else:
            merged.append([chunk, weight])
    return [(chunk, weight) for chunk, weight in merged]


def test_the_parser_here_fails_as_webui_does_on_an_empty_value():
    _, errors = webui_parse("a cat\nSeed: 1, init_image: , Size: 64x64")
    assert errors == ['Error parsing "init_image: "']


def test_generated_png_parameters_parse_in_webui_without_errors(cli):
    result = cli("generate", "a red circle|blue:-0.5|big (bold):1.5", "-g", "solid", "--seed", "3", "--size",
                 "32x16", "--set", "generator.border=2", "--json")
    assert result.exit_code == 0, result.output
    with Image.open(json.loads(result.stdout)["images"][0]["path"]) as image:
        fields, errors = webui_parse(image.text["parameters"])
    assert errors == []
    assert fields == {
        "Prompt": r"a red circle, (big \(bold\):1.5)",
        "Negative prompt": "(blue:0.5)",
        "Seed": "3", "Size-1": "32", "Size-2": "16", "Generator": "solid",
        "Brightness": "1.0", "Border": "2", "Version": "artengine 0.1.0",
    }
    assert webui_attention(fields["Prompt"]) == [("a red circle, ", 1.0), ("big (bold)", 1.5)]
    assert webui_attention(fields["Negative prompt"]) == [("blue", 0.5)]


def test_webui_keys_quoting_and_no_empty_values():
    declared = (Option("guidance", float, 1.0, "", infotext="CFG scale"),)
    record = {
        "prompt": "a cat|dog:-1|tiny:0.00001", "seed": 7, "size": "64x64", "generator": "dalle",
        "configuration": "dalle top_k=64", "score": 0.25, "artengine": "0.1.0",
        "config": {"generator": {"name": "dalle", "model": "dalle:shapes", "steps": 20, "guidance": 3.0,
                                 "top_k": 64, "init_image": "", "clip": ["clip:a", "clip:b"], "augment": []},
                   "scorer": {"name": "clip"}, "losses": {"tv": {"weight": 0.1}}},
    }
    text = format_parameters(record, declared)
    fields, errors = webui_parse(text)
    assert errors == [] and "init_image" not in text and "Init image" not in text and "Augment" not in fields
    assert text.splitlines()[-1].startswith("Seed: 7, Size: 64x64, Generator: dalle, ")
    assert {k: fields[k] for k in ("Model", "Steps", "CFG scale", "Top k", "Clip", "Configuration", "Losses",
                                   "Score", "Scorer")} == {
        "Model": "dalle:shapes", "Steps": "20", "CFG scale": "3.0", "Top k": "64", "Clip": "clip:a, clip:b",
        "Configuration": "dalle top_k=64", "Losses": "tv:0.1", "Score": "0.2500", "Scorer": "clip",
    }
    assert webui_attention(fields["Prompt"]) == [("a cat, ", 1.0), ("tiny", 0.00001)]
    assert fields["Negative prompt"] == "dog"


# (prompt, then what webui conditions on as the prompt and as the negative prompt: [(text, weight)])
NEWLINES = [
    ("a cat\nb", [("a cat\nb", 1.0)], []),
    ("a cat\nNegative prompt: dog", [("a cat\nNegative prompt: dog", 1.0)], []),
    ("Negative prompt: dog", [("Negative prompt: dog", 1.0)], []),
    ("a cat\n  Negative prompt: dog:1.5", [("a cat\nNegative prompt: dog", 1.5)], []),  # webui strips each line
    ("red|blue\nNegative prompt: green:-1", [("red", 1.0)], [("blue\nNegative prompt: green", 1.0)]),
    ("Negative prompt: a|Negative prompt: b:-0.5", [("Negative prompt: a", 1.0)], [("Negative prompt: b", 0.5)]),
]


@pytest.mark.parametrize("prompt, positive, negative", NEWLINES, ids=[repr(row[0]) for row in NEWLINES])
def test_a_line_that_starts_like_the_negative_prompt_stays_in_its_prompt(prompt, positive, negative):
    record = {"prompt": prompt, "seed": 1, "size": "64x64", "generator": "solid", "artengine": "0.1.0",
              "config": {"generator": {"name": "solid"}}}
    text = format_parameters(record)
    fields, errors = webui_parse(text)
    assert errors == [] and fields["Seed"] == "1"
    assert webui_attention(fields["Prompt"]) == positive
    assert (webui_attention(fields["Negative prompt"]) if fields["Negative prompt"] else []) == negative
    read = parse_prompt(prompt_from_parameters(*read_parameters(text)[:2]))  # what `reproduce` reads back
    assert [(part.text, part.weight) for part in read.parts] == positive + [(text, -weight) for text, weight in negative]


def reproduce_from(cli, tmp_path, parameters):
    """A PNG from `generate` rewritten as a tool that keeps only the `parameters` text would."""
    result = cli("generate", "a blue square|red:-1", "-g", "solid", "--seed", "40", "--set", "generator.border=2",
                 "--json")
    assert result.exit_code == 0, result.output
    source = Path(json.loads(result.stdout)["images"][0]["path"])
    with Image.open(source) as image:
        info = PngInfo()
        info.add_text("parameters", parameters or image.text["parameters"])
        image.save(tmp_path / "only-parameters.png", pnginfo=info)
    return cli("reproduce", tmp_path / "only-parameters.png", "--json")


def test_reproduce_reads_a_png_that_kept_only_the_webui_parameters(cli, tmp_path):
    result = reproduce_from(cli, tmp_path, None)
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["identical"] is True


def test_reproduce_checks_parameters_like_any_input(cli, tmp_path):
    result = reproduce_from(cli, tmp_path, "a cat\nSeed: 1, Size: 64x64, Generator: solid, Border: -3, Version: x")
    assert result.exit_code == 2 and "border: -3 is below the minimum 0" in result.stderr
    result = reproduce_from(cli, tmp_path, "a cat\nSteps: 20, Size: 64x64, Sampler: Euler a")
    assert result.exit_code == 2 and "names no Generator and Seed" in result.stderr
