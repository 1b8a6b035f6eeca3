"""Prompt syntax: `text:weight|other text:-1`."""

import pytest

from artengine.config import read_prompt_file
from artengine.errors import UsageError
from artengine.prompts import parse_prompt, split_weight


def parts(text):
    return [(p.text, p.weight) for p in parse_prompt(text).parts]


@pytest.mark.parametrize(
    "text, expected",
    [
        ("a red circle", [("a red circle", 1.0)]),
        ("a red circle:2", [("a red circle", 2.0)]),
        ("a red circle:0.5|blurry:-1", [("a red circle", 0.5), ("blurry", -1.0)]),
        ("  spaced out :1.5 |  other  ", [("spaced out", 1.5), ("other", 1.0)]),
        ("a portrait: watercolor", [("a portrait: watercolor", 1.0)]),
        ("style: oil: thick:3", [("style: oil: thick", 3.0)]),
        ("x:1e-1", [("x", 0.1)]),
    ],
)
def test_parts_and_weights(text, expected):
    assert parts(text) == expected


def test_text_is_kept_as_written_and_negatives_are_split_out():
    prompt = parse_prompt("a cat|a dog:-0.5")
    assert prompt.text == "a cat|a dog:-0.5"
    assert [p.text for p in prompt.positive] == ["a cat"]
    assert [p.text for p in prompt.negative] == ["a dog"]


@pytest.mark.parametrize(
    "text, says",
    [
        ("", "empty"),
        ("   ", "empty"),
        ("text:abc", "bad weight 'abc'"),
        ("text:", "bad weight ''"),
        (":1", "has a weight but nothing before it"),
        ("a||b", "part 2 is empty"),
        ("a|", "part 2 is empty"),
        ("a:0", "bad weight '0'"),
        ("a:nan", "bad weight 'nan'"),
        ("a:inf", "bad weight 'inf'"),
        ("a:-1", "at least one part with a positive weight"),
    ],
)
def test_malformed_prompts_say_what_is_wrong(text, says):
    with pytest.raises(UsageError, match=f"(?s){__import__('re').escape(says)}"):
        parse_prompt(text)


def test_prompt_file_skips_blank_lines_and_comments(tmp_path):
    path = tmp_path / "p.txt"
    path.write_text("# a comment\n\na red circle\n  # indented comment\nblue:2|red:-1\n")
    assert [p.text for p in read_prompt_file(path)] == ["a red circle", "blue:2|red:-1"]


def test_prompt_file_errors_name_the_line(tmp_path):
    path = tmp_path / "p.txt"
    path.write_text("fine\nbroken:abc\n")
    with pytest.raises(UsageError, match=r"p.txt:2"):
        read_prompt_file(path)


def test_missing_or_empty_prompt_file(tmp_path):
    with pytest.raises(UsageError, match="does not exist"):
        read_prompt_file(tmp_path / "nope.txt")
    (tmp_path / "empty.txt").write_text("# nothing\n\n")
    with pytest.raises(UsageError, match="has no prompts"):
        read_prompt_file(tmp_path / "empty.txt")


# One NAME:WEIGHT parser reads prompts, `--loss tv:0.1` and plugins' weighted specs.


@pytest.mark.parametrize(
    "text, colons_in_name, expected",
    [
        ("tv", False, ("tv", None)),
        ("tv:0.1", False, ("tv", 0.1)),
        ("blurry:-1", False, ("blurry", -1.0)),
        ("a:b:0.5", False, ("a:b", 0.5)),
        ("a portrait: watercolor", False, ("a portrait: watercolor", None)),
        ("clip:shapes", True, ("clip:shapes", None)),
        ("clip:shapes:0.5", True, ("clip:shapes", 0.5)),
        ("clip:ViT-B-32@laion", True, ("clip:ViT-B-32@laion", None)),
        ("clip:ViT-B-32@laion:-2", True, ("clip:ViT-B-32@laion", -2.0)),
        ("C:\\x.png", True, ("C:\\x.png", None)),
        ("C:\\x.png:0.5", True, ("C:\\x.png", 0.5)),
        ("https://host:8080/a.png:2", True, ("https://host:8080/a.png", 2.0)),
    ],
)
def test_split_weight_takes_the_number_after_the_last_colon(text, colons_in_name, expected):
    assert split_weight(text, "here", colons_in_name=colons_in_name) == expected


@pytest.mark.parametrize(
    "text, colons_in_name, says",
    [
        ("tv:abc", False, "here: bad weight 'abc' in 'tv:abc'; a weight is a non-zero number, e.g. 'x:1'"
                          " (to keep a colon in the text, follow it with a space)"),
        ("tv:", False, "bad weight ''"),
        ("C:\\x", False, "bad weight '\\\\x'"),
        ("tv:0", False, "bad weight '0'"),
        ("clip:shapes:0", True, "here: bad weight '0' in 'clip:shapes:0'; a weight is a non-zero number, e.g. 'x:1'"),
        ("tv:nan", False, "bad weight 'nan'"),
        ("clip:inf", True, "bad weight 'inf'"),
        (":0.5", False, "here: ':0.5' has a weight but nothing before it; write NAME:WEIGHT, e.g. 'x:1'"),
    ],
)
def test_split_weight_errors_say_what_where_and_how(text, colons_in_name, says):
    with pytest.raises(UsageError) as error:
        split_weight(text, "here", example="'x:1'", colons_in_name=colons_in_name)
    assert says in str(error.value)
    assert "\n" not in str(error.value)
